#!/usr/bin/env python3
"""Generates a realistic Mystore simulator seed (tests/sim/README.md, "Seed format").

A Norwegian web shop: a catalogue of clothes, shoes, yarn, kitchen and home
goods (about 60 % of the products with variants), and orders from the last
three days with Norwegian (and a few Swedish) customers, one to three lines
each, and subtotal, shipping and total rows that add up.  Like a real shop it
mixes numbers and numeric strings, empty strings and nulls.

    from seedgen import make_seed
    seed = make_seed(orders=60, seed=7)

    python3 tests/e2e/seedgen.py --orders 60 --seed 7 > seed.json

The same seed number (and base time) gives the same document.  Python 3
standard library only.
"""

import argparse
import datetime
import json
import random
import sys
from decimal import ROUND_HALF_UP, Decimal

SHOP_TZ = "Europe/Oslo"
TIME_FMT = "%Y-%m-%d %H:%M:%S"

FIRST_ORDER_ID = 10001
FIRST_LINE_ID = 55001
FIRST_OPTION_ROW_ID = 7001
FIRST_TOTAL_ID = 90001
FIRST_PRODUCT_ID = 801
FIRST_VARIANT_ID = 116301

ORDER_STATUS = [
    {"id": "1", "name": {"no": "Ubehandlet", "en": "Unmanaged"}},
    {"id": "2", "name": {"no": "Under behandling", "en": "Processing"}},
    {"id": "3", "name": {"no": "Levert", "en": "Sent"}},
    {"id": "5", "name": {"no": "Kansellert", "en": "Cancelled"}},
    {"id": "6", "name": {"no": "Returnert", "en": "Returned"}},
    {"id": "7", "name": {"no": "Delvis levert", "en": "Partially sent"}},
]

# Options and their values: (id, Norwegian name, code used in variant SKUs).
OPT_SIZE = ("3", "Størrelse")
OPT_COLOUR = ("7", "Farge")
SIZES = [("11", "S"), ("12", "M"), ("13", "L"), ("14", "XL")]
SHOE_SIZES = [(str(100 + n), str(n)) for n in range(36, 47)]
COLOURS = [
    ("3648", "Rød", "ROD"),
    ("3650", "Blå", "BLA"),
    ("3651", "Svart", "SVA"),
    ("3652", "Hvit", "HVI"),
    ("3653", "Grønn", "GRO"),
    ("3654", "Grå", "GRA"),
    ("3655", "Gul", "GUL"),
    ("3656", "Marineblå", "MAR"),
    ("3657", "Lys grå", "LGR"),
    ("3658", "Brun", "BRU"),
]

# Product templates: (name, English name or None, SKU code, variant kind,
# prices, weight range in grams).  Variant kinds: "size" (Størrelse S-XL),
# "shoe" (Størrelse in shoe sizes), "colour_size" (Farge + Størrelse), None.
VARIANT_TEMPLATES = [
    ("Genser", "Sweater", "GENS", "colour_size", [499, 599, 799, 899], (350, 700)),
    ("Strikkejakke", "Cardigan", "STJA", "colour_size", [799, 999, 1299], (450, 800)),
    ("T-skjorte", "T-shirt", "TSKJ", "colour_size", [149, 199, 249.9, 299], (120, 220)),
    ("Regnjakke", "Rain jacket", "REGN", "colour_size", [899, 1299, 1499], (500, 900)),
    ("Fleecejakke", None, "FLEE", "colour_size", [599, 699, 799], (350, 600)),
    ("Ullundertrøye", "Wool base layer", "ULUT", "size", [399, 449, 549], (180, 300)),
    ("Ullbukse", None, "ULBU", "size", [449, 549], (200, 320)),
    ("Turbukse", "Hiking trousers", "TURB", "size", [699, 899, 1099], (400, 650)),
    ("Votter", "Mittens", "VOTT", "size", [199, 249, 299], (80, 140)),
    ("Joggesko", "Running shoes", "JOGG", "shoe", [899, 1199, 1499], (550, 800)),
    ("Fjellstøvler", "Hiking boots", "FJST", "shoe", [1599, 1999, 2499], (1100, 1600)),
    ("Tøfler", "Slippers", "TOFL", "shoe", [299, 349, 449], (250, 400)),
    ("Vinterstøvletter", None, "VIST", "shoe", [1299, 1599], (900, 1300)),
]
PLAIN_TEMPLATES = [
    ("Ullsokker", "Wool socks", "SOKK", None, [89, 129, 149], (80, 130)),
    ("Lue", "Beanie", "LUE", None, [199, 249, 299], (60, 120)),
    ("Skjerf", "Scarf", "SKJE", None, [299, 399, 449], (120, 250)),
    ("Alpakkagarn", "Alpaca yarn", "ALPA", None, [69.9, 79, 89.9], (50, 50)),
    ("Ullgarn tykk", None, "ULGA", None, [49.9, 59, 69], (100, 100)),
    ("Sokkegarn", "Sock yarn", "SOGA", None, [59, 79], (50, 100)),
    ("Strikkepinner 4 mm", None, "STPI", None, [49, 79, 129], (20, 40)),
    ("Stekepanne 28 cm", "Frying pan", "STPA", None, [599, 799, 999], (1200, 1900)),
    ("Kaffekjele", "Coffee kettle", "KAKJ", None, [399, 549], (700, 1100)),
    ("Brødfjøl", "Bread board", "BRFJ", None, [249, 349], (600, 1200)),
    ("Ostehøvel", "Cheese slicer", "OSTE", None, [129, 199, 249], (80, 150)),
    ("Vaffeljern", "Waffle iron", "VAFF", None, [699, 899], (1800, 2400)),
    ("Kakeform 24 cm", None, "KAKE", None, [149, 199], (300, 500)),
    ("Kjøkkenhåndkle", "Tea towel", "KJHA", None, [79, 99, 129], (60, 90)),
    ("Pledd i ull", "Wool throw", "PLED", None, [799, 999, 1299], (900, 1400)),
    ("Putetrekk", None, "PUTE", None, [199, 249], (150, 250)),
    ("Lysestake", "Candle holder", "LYST", None, [249, 349, 499], (300, 900)),
    ("Termokopp", None, "TERM", None, [199, 249], (250, 350)),
]
SERIES = ["Lofoten", "Røros", "Fjord", "Nordlys", "Hardanger", "Trysil", "Geiranger",
          "Senja", "Voss", "Ålesund", "Jotunheimen", "Finnmark", "Tromsø", "Hemsedal",
          "Bryggen", "Sørlandet", "Vesterålen", "Setesdal", "Rondane", "Dovre", "Øksendal",
          "Lillehammer", "Femund", "Valdres"]

FIRST_NAMES = ["Kari", "Ole", "Ola", "Åse", "Bjørn", "Ingrid", "Lars", "Sigrid", "Håkon",
               "Solveig", "Marit", "Per", "Nils", "Ragnhild", "Øystein", "Kjersti", "Tove",
               "Eirik", "Astrid", "Jørgen", "Liv", "Sindre", "Mette", "Torbjørn", "Hanne",
               "Ståle", "Gøril", "Anders", "Nora", "Emil"]
LAST_NAMES = ["Nordmann", "Hansen", "Ødegård", "Ærø", "Johansen", "Olsen", "Larsen",
              "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Berg", "Haugen", "Hagen",
              "Bakken", "Solberg", "Strøm", "Dahl", "Lie", "Sæther", "Bråten", "Løken",
              "Fjeld", "Nygård", "Moen", "Aas"]
COMPANIES = ["Nordmann AS", "Fjellstua Drift AS", "Bakeriet på hjørnet", "Kafé Sjøbua",
             "Strikkeklubben Maske", "Tromsø Turlag", "Havblikk Design AS", "Bergen Bok & Papir",
             "Sørlandets Hytteutleie AS", "Grønnsakshagen SA", "Frisør Åsa", "Møbelverkstedet AS"]
NO_STREETS = ["Storgata", "Kongens gate", "Øvre Slottsgate", "Dronningens gate", "Kirkegata",
              "Skolegata", "Strandgata", "Bryggen", "Parkveien", "Sjøgata", "Tollbugata",
              "Nedre Vollgate", "Fjellveien", "Bjørkeveien", "Granåsen", "Løkkeveien",
              "Åsveien", "Hovedgården", "Bakkegata", "Møllergata"]
# Real post codes with their places.
NO_PLACES = [("0155", "Oslo"), ("0159", "Oslo"), ("0250", "Oslo"), ("0368", "Oslo"),
             ("0557", "Oslo"), ("5003", "Bergen"), ("5015", "Bergen"), ("5055", "Bergen"),
             ("7011", "Trondheim"), ("7030", "Trondheim"), ("9008", "Tromsø"),
             ("4006", "Stavanger"), ("4010", "Stavanger"), ("4611", "Kristiansand"),
             ("3015", "Drammen"), ("1606", "Fredrikstad"), ("2609", "Lillehammer"),
             ("6002", "Ålesund"), ("8006", "Bodø"), ("3110", "Tønsberg"), ("2317", "Hamar"),
             ("1366", "Lysaker"), ("9510", "Alta"), ("4836", "Arendal"), ("8300", "Svolvær")]
SE_FIRST_NAMES = ["Anna", "Erik", "Karin", "Johan", "Maja", "Björn", "Åsa", "Lars"]
SE_LAST_NAMES = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Lindqvist", "Öberg",
                 "Sjöström", "Bergström"]
SE_STREETS = ["Drottninggatan", "Kungsgatan", "Storgatan", "Vasagatan", "Östra Hamngatan",
              "Järntorget", "Sveavägen"]
SE_PLACES = [("111 51", "Stockholm"), ("11352", "Stockholm"), ("411 05", "Göteborg"),
             ("21122", "Malmö"), ("753 20", "Uppsala"), ("652 24", "Karlstad")]

# Shipping methods with their price (None = no method, collected in store).
SHIPPING = [("Bring - Pakke i postkassen", 69), ("Bring - Pakke til hentested", 99),
            ("Posten - Hentes på postkontor", 99), ("PostNord - MyPack Collect", 89),
            ("Helthjem", 59), ("Bring - Pakke levert hjem", 149), (None, 0)]
SHIPPING_WEIGHTS = [30, 15, 12, 12, 12, 7, 12]
SE_SHIPPING = [("PostNord - MyPack Collect", 149), ("Bring - Pakke til hentested", 179)]
FREE_SHIPPING_FROM = Decimal(1500)

EMAIL_DOMAINS = ["example.no", "example.com", "example.net", "example.org"]
ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "é": "e",
                       "Æ": "Ae", "Ø": "O", "Å": "A", "Ä": "A", "Ö": "O"})

CENT = Decimal("0.01")


def _shop_tz():
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo(SHOP_TZ)
    except Exception:  # no zoneinfo module or no tz database: fall back to UTC
        return datetime.timezone.utc


def _base_time(base_time, tz):
    """The base time as an aware datetime in the shop's zone.

    None → now minus one hour; a string "YYYY-MM-DD HH:MM:SS" or a naive
    datetime is shop-local time; an aware datetime is converted."""
    if base_time is None:
        return datetime.datetime.now(tz) - datetime.timedelta(hours=1)
    if isinstance(base_time, str):
        base_time = datetime.datetime.strptime(base_time, TIME_FMT)
    if base_time.tzinfo is None:
        return base_time.replace(tzinfo=tz)
    return base_time.astimezone(tz)


def _local(instant, tz):
    """An aware instant as shop-local "YYYY-MM-DD HH:MM:SS" (M1)."""
    return instant.astimezone(tz).strftime(TIME_FMT)


def _money(value):
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _money_str(value):
    return str(_money(value))


def _mixed_number(rng, value, string_share=0.5):
    """A money amount as "299.00" or as a JSON number (299 or 249.9)."""
    d = _money(value)
    if rng.random() < string_share:
        return str(d)
    return int(d) if d == d.to_integral_value() else float(d)


def _ean(rng):
    """A 13-digit EAN with a Norwegian prefix and a valid check digit."""
    digits = [7, 0] + [rng.randrange(10) for _ in range(10)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def _unique_name(rng, base, used):
    series = SERIES[:]
    rng.shuffle(series)
    for s in series:
        name = "%s %s" % (base, s)
        if name not in used:
            used.add(name)
            return name
    n = 2
    while "%s %d" % (base, n) in used:
        n += 1
    used.add("%s %d" % (base, n))
    return "%s %d" % (base, n)


def _product_variants(rng, kind):
    """The option combinations of one product: a list of lists of
    (option, value id, value name, sku code), options in product order."""
    if kind == "size":
        sizes = SIZES[rng.randrange(0, 2):]
        return [[(OPT_SIZE, vid, name, name)] for vid, name in sizes]
    if kind == "shoe":
        start = rng.randrange(0, 4)
        sizes = SHOE_SIZES[start:start + rng.randrange(5, 8)]
        return [[(OPT_SIZE, vid, name, name)] for vid, name in sizes]
    colours = rng.sample(COLOURS, rng.randrange(2, 4))
    sizes = SIZES[rng.randrange(0, 2):]
    return [[(OPT_COLOUR, cid, cname, code), (OPT_SIZE, sid, sname, sname)]
            for cid, cname, code in colours for sid, sname in sizes]


def _make_products(rng, count, base, tz, options, values, first_product_id=FIRST_PRODUCT_ID,
                   first_variant_id=FIRST_VARIANT_ID):
    n_variant = round(count * 0.6)
    kinds = [True] * n_variant + [False] * (count - n_variant)
    rng.shuffle(kinds)
    used_names = set()
    products = []
    catalogue = []  # (product, variants with their option rows) for the orders
    variant_id = first_variant_id
    for i, with_variants in enumerate(kinds):
        pid = str(first_product_id + i)
        name, en, code, kind, prices, (wmin, wmax) = rng.choice(
            VARIANT_TEMPLATES if with_variants else PLAIN_TEMPLATES)
        full_name = _unique_name(rng, name, used_names)
        localised = {"no": full_name}
        if en is not None and rng.random() < 0.4:
            localised["en"] = "%s %s" % (en, full_name.split(" ")[-1])
        price = _money(rng.choice(prices))
        cost = (price * Decimal(rng.choice(["0.35", "0.4", "0.45", "0.5"]))).quantize(CENT)
        weight = rng.randrange(wmin, wmax + 1, 10) if wmax > wmin else wmin
        sku = "%s-%s" % (code, pid)
        created = base - datetime.timedelta(days=rng.randrange(30, 400),
                                            seconds=rng.randrange(86400))
        updated = created + datetime.timedelta(seconds=rng.randrange(
            1, int((base - created).total_seconds()) - 4 * 86400))
        attrs = {
            "name": localised,
            "sku": sku,
            "ean": "" if rng.random() < 0.25 else _ean(rng),
            "price": _mixed_number(rng, price, 0.6),
            "cost": _mixed_number(rng, cost, 0.5),
            "weight": str(weight) if rng.random() < 0.3 else weight,
            "quantity": 0,
            "created_at": _local(created, tz),
            "updated_at": _local(updated, tz),
        }
        variants = []
        if with_variants:
            for combo in _product_variants(rng, kind):
                vid = str(variant_id)
                variant_id += 1
                for (oid, oname), value_id, value_name, _ in combo:
                    options.setdefault(oid, oname)
                    values.setdefault(value_id, value_name)
                variants.append({
                    "id": vid,
                    "stock_attributes": ",".join("%s-%s" % (opt[0], value_id)
                                                 for opt, value_id, _, _ in combo),
                    "attributes": {
                        "sku": "-".join([sku] + [c for _, _, _, c in combo]),
                        "ean": "" if rng.random() < 0.15 else _ean(rng),
                        "cost": _mixed_number(rng, cost, 0.5),
                        "quantity": rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 35]),
                        "disabled": 0,
                    },
                    "_combo": combo,
                })
            attrs["quantity"] = sum(v["attributes"]["quantity"] for v in variants)
        else:
            attrs["quantity"] = rng.choice([0, 3, 7, 15, 24, 40, 60, 100])
        product = {"id": pid, "attributes": attrs, "variants": variants}
        products.append(product)
        catalogue.append((product, full_name, price))
    return products, catalogue


def _person(rng, sweden):
    first = rng.choice(SE_FIRST_NAMES if sweden else FIRST_NAMES)
    last = rng.choice(SE_LAST_NAMES if sweden else LAST_NAMES)
    return first, last


def _address(rng, sweden):
    if sweden:
        zipcode, city = rng.choice(SE_PLACES)
        street = rng.choice(SE_STREETS)
        country = rng.choice(["Sverige", "SE", "Sweden"])
    else:
        zipcode, city = rng.choice(NO_PLACES)
        street = rng.choice(NO_STREETS)
        country = rng.choice(["Norge", "Norge", "Norway", "NO"])
    number = str(rng.randrange(1, 60))
    if rng.random() < 0.2:
        number += rng.choice("ABC")
    address = "%s %s" % (street, number)
    if not sweden and rng.random() < 0.08:
        address += ", %s. etg" % rng.randrange(2, 6)
    return address, zipcode, city, country


def _email(rng, first, last):
    roll = rng.random()
    if roll < 0.05:
        return ""
    if roll < 0.08:
        return None
    local = "%s.%s" % (first.lower().translate(ASCII), last.lower().translate(ASCII))
    if rng.random() < 0.3:
        local += str(rng.randrange(1, 99))
    return "%s@%s" % (local, rng.choice(EMAIL_DOMAINS))


def _phone(rng, sweden):
    roll = rng.random()
    if roll < 0.06:
        return ""
    if roll < 0.1:
        return None
    if sweden:
        return "+467%d%07d" % (rng.choice([0, 2, 3, 6]), rng.randrange(10 ** 7))
    return "+47%d%07d" % (rng.choice([4, 9]), rng.randrange(10 ** 7))


def _order_times(rng, count, base):
    """Creation instants over the three days before base, oldest first, each
    with an update instant at or after it (and not after base)."""
    window = 3 * 86400
    offsets = sorted((rng.randrange(window) for _ in range(count)), reverse=True)
    times = []
    for off in offsets:
        created = base - datetime.timedelta(seconds=off + 1)
        delay = rng.choice([0, rng.randrange(5, 90), rng.randrange(60, 3600)])
        updated = min(created + datetime.timedelta(seconds=delay), base)
        times.append((created, updated))
    return times


def make_seed(orders=200, products=40, seed=1, base_time=None, bad_quantity_order=None,
              first_order_id=FIRST_ORDER_ID, first_product_id=FIRST_PRODUCT_ID,
              first_variant_id=FIRST_VARIANT_ID):
    """A Mystore simulator seed as a dict (tests/sim/README.md, "Seed format").

    orders: number of orders ("10001", "10002", ...), all status "1"
    products: size of the catalogue (about 60 % with variants)
    seed: random.Random seed; the same seed and base time give the same seed
    base_time: orders are created in the three days before it; None = now in
        Europe/Oslo minus one hour; a "YYYY-MM-DD HH:MM:SS" string or a naive
        datetime is shop-local, an aware datetime is converted
    bad_quantity_order: an order id whose first line gets quantity "abc"
    first_order_id, first_product_id, first_variant_id: where the ids start, so
        several shops' seeds (tests/chaos/run.py's tenants) share no order id,
        product id or SKU (a SKU holds its product id)
    """
    if orders < 0 or products < 1:
        raise ValueError("need orders >= 0 and products >= 1")
    rng = random.Random(seed)
    tz = _shop_tz()
    base = _base_time(base_time, tz)
    options, values = {}, {}
    product_list, catalogue = _make_products(rng, products, base, tz, options, values,
                                             first_product_id, first_variant_id)

    line_id, option_row_id, total_id = FIRST_LINE_ID, FIRST_OPTION_ROW_ID, FIRST_TOTAL_ID
    order_list = []
    for n, (created, updated) in enumerate(_order_times(rng, orders, base)):
        oid = str(first_order_id + n)
        sweden = rng.random() < 0.05
        first, last = _person(rng, sweden)
        address, zipcode, city, country = _address(rng, sweden)
        if sweden:
            method, shipping_price = rng.choice(SE_SHIPPING)
        else:
            method, shipping_price = rng.choices(SHIPPING, SHIPPING_WEIGHTS)[0]
        attrs = {
            "reference": oid,
            "created_at": _local(created, tz),
            "updated_at": _local(updated, tz),
            "currency": "NOK",
            "shipping_method": method,
            "tracking_number": None,
            "shipping_address_name": "%s %s" % (first, last),
            "shipping_address_company": rng.choice(COMPANIES) if rng.random() < 0.15 else "",
            "shipping_address_address": address,
            "shipping_address_zipcode": zipcode,
            "shipping_address_city": city,
            "shipping_address_state": "",
            "shipping_address_country": country,
            "customer_address_email": _email(rng, first, last),
            "customer_address_phone": _phone(rng, sweden),
        }

        lines = []
        subtotal = Decimal(0)
        picked = set()
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            product, name, price = rng.choice(catalogue)
            variant = rng.choice(product["variants"]) if product["variants"] else None
            key = (product["id"], variant["id"] if variant else None)
            if key in picked:
                continue
            picked.add(key)
            quantity = rng.choice([1, 1, 1, 2, 2, 3])
            final = price
            if rng.random() < 0.2:
                final = (price * Decimal(rng.choice(["0.7", "0.75", "0.8", "0.9"]))).quantize(
                    Decimal(1), rounding=ROUND_HALF_UP)
                if final >= price:
                    final = price - 1
            subtotal += quantity * _money(final)
            as_strings = rng.random() < 0.6
            line_attrs = {
                "name": name,
                "sku": variant["attributes"]["sku"] if variant else product["attributes"]["sku"],
                "quantity": str(quantity) if rng.random() < 0.35 else quantity,
                "price": _mixed_number(rng, price, 1.0 if as_strings else 0.0),
                "final_price": _mixed_number(rng, final, 1.0 if as_strings else 0.0),
            }
            opts = []
            for (opt_id, opt_name), value_id, value_name, _ in (variant["_combo"] if variant
                                                                else []):
                opts.append({"id": str(option_row_id),
                             "attributes": {"option_name": opt_name, "value_name": value_name,
                                            "option_id": int(opt_id), "value_id": int(value_id)}})
                option_row_id += 1
            lines.append({"id": str(line_id), "product_id": product["id"],
                          "variant_id": variant["id"] if variant else None,
                          "attributes": line_attrs, "options": opts})
            line_id += 1
        if bad_quantity_order is not None and oid == str(bad_quantity_order):
            lines[0]["attributes"]["quantity"] = "abc"

        shipping = Decimal(shipping_price)
        if method is not None and not sweden and subtotal >= FREE_SHIPPING_FROM:
            shipping = Decimal(0)
        shipping_title = "Frakt (%s)" % method if method else "Frakt"
        totals = []
        for cls, title, value in (("ot_subtotal", "Delsum", subtotal),
                                  ("ot_shipping", shipping_title, shipping),
                                  ("ot_total", "Totalt", subtotal + shipping)):
            totals.append({"id": str(total_id),
                           "attributes": {"class": cls, "title": title,
                                          "value": _money_str(value)}})
            total_id += 1
        order_list.append({"id": oid, "status_id": "1", "attributes": attrs, "lines": lines,
                           "totals": totals})

    for product in product_list:
        for variant in product["variants"]:
            del variant["_combo"]
    return {
        "order_status": [json.loads(json.dumps(s)) for s in ORDER_STATUS],
        "orders": order_list,
        "products": product_list,
        "product_options": [{"id": k, "name": {"no": v}}
                            for k, v in sorted(options.items(), key=lambda kv: int(kv[0]))],
        "product_option_values": [{"id": k, "name": {"no": v}}
                                  for k, v in sorted(values.items(), key=lambda kv: int(kv[0]))],
    }


def summary(doc):
    lines = sum(len(o["lines"]) for o in doc["orders"])
    variants = sum(len(p["variants"]) for p in doc["products"])
    with_variants = sum(1 for p in doc["products"] if p["variants"])
    times = [o["attributes"]["created_at"] for o in doc["orders"]]
    span = " from %s to %s" % (min(times), max(times)) if times else ""
    return ("seedgen: %d orders (%d lines)%s; %d products (%d with variants, %d variants), "
            "%d options, %d option values" % (len(doc["orders"]), lines, span,
                                              len(doc["products"]), with_variants, variants,
                                              len(doc["product_options"]),
                                              len(doc["product_option_values"])))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate a Mystore simulator seed (JSON on stdout).")
    ap.add_argument("--orders", type=int, default=200, help="number of orders (default 200)")
    ap.add_argument("--products", type=int, default=40, help="catalogue size (default 40)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--base-time", metavar="'YYYY-MM-DD HH:MM:SS'",
                    help="shop-local time the orders lead up to (default: now minus 1 hour)")
    ap.add_argument("--bad-quantity-order", metavar="ID",
                    help="order id whose first line gets quantity \"abc\"")
    args = ap.parse_args(argv)
    if args.orders < 0 or args.products < 1:
        ap.error("--orders must be >= 0 and --products >= 1")
    if args.base_time is not None:
        try:
            datetime.datetime.strptime(args.base_time, TIME_FMT)
        except ValueError:
            ap.error("--base-time must look like 'YYYY-MM-DD HH:MM:SS'")
    if args.bad_quantity_order is not None and not (
            args.bad_quantity_order.isdigit()
            and FIRST_ORDER_ID <= int(args.bad_quantity_order) < FIRST_ORDER_ID + args.orders):
        ap.error("--bad-quantity-order must be one of the generated order ids")
    doc = make_seed(orders=args.orders, products=args.products, seed=args.seed,
                    base_time=args.base_time, bad_quantity_order=args.bad_quantity_order)
    out = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    print(summary(doc), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
