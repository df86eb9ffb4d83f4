"""The articles, deliveries and stock flows end to end, and `mosync run` under
the Mystore rate limit: simulators over HTTP, real Redis, real Kafka."""

import json
import os
import subprocess
import time

from harness import (MOSYNC, TestFailure, check, dlq_messages, env_for, eq, wait_until)
from seedgen import make_seed

SIZES = [("11", "S"), ("12", "M"), ("13", "L"), ("14", "XL"), ("15", "XXL")]
COLOURS = [("3648", "Rød"), ("3649", "Blå"), ("3650", "Grønn"), ("3651", "Svart"),
           ("3652", "Hvit")]


def catalogue(plain=100, sized=100, coloured=100, first_id=801, first_variant=116301):
    """A shop of plain + sized + coloured products; the sized and coloured ones
    have 5 variants each (one option, or two options listed out of id order)."""
    products, vid = [], first_variant
    pid = first_id
    for n in range(plain + sized + coloured):
        kind = "plain" if n < plain else "sized" if n < plain + sized else "coloured"
        p = {"id": str(pid), "attributes": {
            "name": {"no": "Vare %d æøå" % pid}, "sku": "SKU-%d" % pid,
            "ean": "70450%08d" % pid if n % 3 else "", "price": "%d.00" % (100 + n),
            "cost": str(40 + n), "weight": 250 + n if n % 2 else "%d" % (300 + n), "quantity": 0,
            "created_at": "2026-01-01 10:00:00", "updated_at": "2026-11-20 09:00:00"},
            "variants": []}
        if kind != "plain":
            for k in range(5):
                if kind == "sized":
                    attrs = "3-%s" % SIZES[k][0]
                    sku = "SKU-%d-%s" % (pid, SIZES[k][1])
                else:  # colour option 7 listed before size option 3
                    attrs = "7-%s,3-%s" % (COLOURS[k][0], SIZES[k % 2][0])
                    sku = "SKU-%d-%s-%s" % (pid, COLOURS[k][1], SIZES[k % 2][1])
                p["variants"].append({"id": str(vid), "stock_attributes": attrs, "attributes": {
                    "sku": sku, "ean": "70451%08d" % vid if k % 2 else "",
                    "cost": "%d.50" % (30 + k) if k else None, "quantity": 3, "disabled": 0}})
                vid += 1
        products.append(p)
        pid += 1
    options = [{"id": "3", "name": {"no": "Størrelse"}}, {"id": "7", "name": {"no": "Farge"}}]
    values = [{"id": i, "name": {"no": n}} for i, n in SIZES + COLOURS]
    return products, options, values


def shop(orders=0, products=None, seed=1, **kw):
    s = make_seed(orders=orders, products=max(products and 1 or 10, 10), seed=seed, **kw)
    if products is not None:
        s["products"], s["product_options"], s["product_option_values"] = products
    return s


def product_snapshot(env, pid):
    """The product snapshot as the poller builds it, read over HTTP."""
    product = env.mystore.api("products/%s" % pid)["data"]
    variants, meta, page = [], [], 1
    while True:
        doc = env.mystore.api("products/%s/product-variants?page[number]=%d&page[size]=50"
                              % (pid, page))
        variants += doc["data"]
        meta += (doc.get("meta") or {}).get("product_variants") or []
        if "next" not in (doc.get("links") or {}):
            break
        page += 1
    attrs = {str(m["products_stock_id"]): m["products_stock_attributes"] for m in meta}
    options, values = {}, {}
    for v in variants:
        for pair in (attrs.get(v["id"]) or "").split(","):
            if pair:
                o, val = pair.split("-")
                options[o] = env.mystore.api("product-options/%s" % o)["data"]
                values[val] = env.mystore.api("product-option-values/%s" % val)["data"]
    return {"product": product,
            "variants": [{"variant": v, "stock_attributes": attrs.get(v["id"])} for v in variants],
            "options": options, "option_values": values}


def mosync_map(env, what, data):
    p = subprocess.run([MOSYNC, "map", what], env=env.env, input=json.dumps(data).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise TestFailure("mosync map %s failed: %s" % (what, p.stderr.decode()))
    return json.loads(p.stdout)


SIM_ARTICLE_KEYS = ("articleSystemId", "inventoryInfo", "stock", "numberOfItems",
                    "sellableNumberOfItems")


def articles_in_ongoing(env):
    return {a["articleNumber"]: {k: v for k, v in a.items() if k not in SIM_ARTICLE_KEYS}
            for a in env.ongoing.get("/_sim/articles")}


def mystore_writes(env, since=0):
    return [w for w in env.mystore.writes(since) if w["method"] != "GET"]


# ---- articles ---------------------------------------------------------------

def test_300_products_1000_variants_become_1100_articles():
    prods = catalogue(plain=100, sized=100, coloured=100)
    eq(sum(len(p["variants"]) for p in prods[0]), 1000, "variants in the seed")
    with env_for("articles1100", shop(products=prods)) as env:
        _, poll, _ = env.run(["poll", "mystore-products", "--once"])
        eq(poll["products_emitted"], 300, "products emitted")
        _, s, _ = env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        eq((s["written"], s["dead_lettered"]), (1100, 0), "articles written, dead letters")
        stored = articles_in_ongoing(env)
        eq(len(stored), 1100, "articles in Ongoing")
        expected = {}
        for p in prods[0]:
            out = mosync_map(env, "article", product_snapshot(env, p["id"]))
            for a in out["articles"]:
                expected[a["articleNumber"]] = a
        eq(sorted(stored), sorted(expected), "article numbers")
        for no, a in expected.items():
            eq(stored[no], a, "article %s" % no)
        # The stock flow's map: article number -> Mystore ids.
        eq(env.redis.get_json("map:article:SKU-901-M"),
           {"product_id": "901", "variant_id": "116302"}, "map entry of a variant")
        eq(env.redis.get_json("map:article:SKU-801"), {"product_id": "801", "variant_id": None},
           "map entry of a product without variants")

        n = len(env.ongoing.writes())
        _, poll2, _ = env.run(["poll", "mystore-products", "--once"])
        eq(poll2["products_emitted"], 0, "second poll")
        env.run(["apply", "articles", "--once", "--idle-ms", "2500", "--group", "replay-art"])
        eq(len(env.ongoing.writes()), n, "writes after a second run and a replay")


def test_bad_products_are_dead_letters():
    prods, options, values = catalogue(plain=4, sized=2, coloured=0)
    prods[4]["variants"][2]["attributes"]["sku"] = ""            # a variant lost its SKU
    prods[1]["attributes"]["weight"] = "tung"                      # weight not a number
    prods[3]["attributes"]["sku"] = prods[2]["attributes"]["sku"]  # duplicate SKU across products
    with env_for("article-dlq", shop(products=(prods, options, values))) as env:
        env.run(["poll", "mystore-products", "--once"])
        _, s, _ = env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        eq(s["dead_lettered"], 3, "dead letters")
        dl = {m["key"].split(":")[1]: m["headers"]["mosync.error"] for m in dlq_messages(env)}
        eq(len(dl), 3, "dead-lettered products")
        check(prods[4]["id"] in dl and prods[1]["id"] in dl, "bad products dead-lettered: %r" % dl)
        eq(sum(1 for p in (prods[2]["id"], prods[3]["id"]) if p in dl), 1,
           "exactly one of the two products sharing a SKU")
        check("SKU" in dl[prods[4]["id"]] or "sku" in dl[prods[4]["id"]],
              "lost SKU named: %r" % dl[prods[4]["id"]])
        check("weight" in dl[prods[1]["id"]], "weight named: %r" % dl[prods[1]["id"]])
        dup = [e for e in dl.values() if "duplicate" in e.lower()]
        eq(len(dup), 1, "one duplicate-SKU dead letter")
        check(prods[2]["attributes"]["sku"] in dup[0], "duplicate SKU named: %r" % dup[0])
        stored = articles_in_ongoing(env)
        # Good products flow: plain 801 and 803 (one of 803/804 holds the SKU), sized 806.
        check("SKU-801" in stored and "SKU-806-S" in stored, "good products flowed")
        check(not any(k.startswith("SKU-805") for k in stored), "nothing of the bad product 805")


# ---- deliveries --------------------------------------------------------------

def ship(env, oid, body):
    env.ongoing.post("/_sim/orders/%s/ship" % oid, body)


def test_100_shipped_orders_turn_levert_with_tracking_once():
    seed = make_seed(orders=110, products=30, seed=31)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("deliveries", seed) as env:
        env.poll_orders()
        env.apply_orders()
        eq(len(env.ongoing.orders()), 110, "orders in Ongoing")
        expected = {}
        for n, oid in enumerate(ids[:100]):
            if n == 0:    # only a return parcel: "levert" without a tracking number
                ship(env, oid, {"parcels": [{"parcelNumber": "RET%s" % oid, "isReturnParcel": True,
                                             "waybill": "RETW%s" % oid}]})
                expected[oid] = None
            elif n % 4 == 1:  # several parcels, the first a return parcel
                ship(env, oid, {"parcels": [
                    {"parcelNumber": "R%s" % oid, "isReturnParcel": True, "waybill": "RW%s" % oid},
                    {"parcelNumber": "P1%s" % oid, "isReturnParcel": False, "waybill": "W1%s" % oid},
                    {"parcelNumber": "P2%s" % oid, "isReturnParcel": False, "waybill": "W2%s" % oid}]})
                expected[oid] = "W1%s" % oid
            elif n % 4 == 2:  # shipment tracking beats parcels
                ship(env, oid, {"tracking": [{"waybill": "TRK%s" % oid, "trackingUrl": "https://t/%s" % oid}],
                                "parcels": [{"parcelNumber": "P%s" % oid, "isReturnParcel": False,
                                             "waybill": "PW%s" % oid}]})
                expected[oid] = "TRK%s" % oid
            elif n % 4 == 3:  # only the order's waybill
                ship(env, oid, {"wayBill": "WB%s" % oid})
                expected[oid] = "WB%s" % oid
            else:             # a parcel without its own waybill: its number
                ship(env, oid, {"parcels": [{"parcelNumber": "PN%s" % oid, "isReturnParcel": False}]})
                expected[oid] = "PN%s" % oid
        # One shipped order was cancelled in Mystore meanwhile.
        cancelled = ids[50]
        env.mystore.post("/_sim/orders/%s/status" % cancelled, {"status_id": "5"})
        before = len(mystore_writes(env))

        _, poll, _ = env.run(["poll", "ongoing-shipments", "--once"])
        check(poll["emitted"] >= 100, "shipments emitted: %r" % poll)
        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq((s["delivered"], s["cancelled_in_mystore"], s["dead_lettered"]), (99, 1, 0),
           "delivered, cancelled in Mystore, dead letters")
        for oid in ids:
            o = env.mystore.get("/_sim/orders/%s" % oid)
            if oid in expected and oid != cancelled:
                eq(o["status_id"], "3", "order %s levert" % oid)
                if expected[oid] is None:
                    eq(o["attributes"].get("tracking_number"), None, "order %s tracking" % oid)
                else:
                    eq(o["attributes"].get("tracking_number"), expected[oid],
                       "order %s tracking" % oid)
            elif oid == cancelled:
                eq(o["status_id"], "5", "cancelled order stays cancelled")
            else:
                eq(o["status_id"], "1", "unshipped order %s untouched" % oid)
        writes = mystore_writes(env, 0)[before:]
        eq(sum(1 for w in writes if w["method"] == "POST"), 99, "status writes")
        eq(sum(1 for w in writes if w["method"] == "PATCH"), 98, "tracking writes")
        check(all(w["status"] in (200, 201) for w in writes), "every Mystore write accepted")
        check(not any(cancelled in w["path"] or cancelled in json.dumps(w["body"])
                      for w in writes), "no write for the cancelled order")

        # Replaying ongoing.shipments from the beginning writes nothing.
        n = len(mystore_writes(env))
        _, r, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500",
                           "--group", "replay-deliveries"])
        eq(r["delivered"], 0, "delivered on replay")
        eq(len(mystore_writes(env)), n, "Mystore writes after the replay")
        # The order flow sees the "levert" orders and leaves Ongoing alone.
        w = len(env.ongoing.writes())
        env.poll_orders()
        _, ao, _ = env.apply_orders()
        check(ao["skipped_sent"] >= 99, "sent orders skipped by the order flow: %r" % ao)
        eq(len([x for x in env.ongoing.writes(0)][w:]), 1, "only the cancel attempt of the "
           "cancelled order reaches Ongoing")


def test_a_warehouse_order_whose_reference_differs_is_not_marked():
    """An order typed into the warehouse by hand whose number collides with a
    Mystore order id is told apart by its referenceNumber: when it and the
    Mystore order's reference are both set and differ, it is left alone (and
    recorded and logged); a real Mystore order is marked whoever sent it."""
    seed = make_seed(orders=3, products=5, seed=32)
    with env_for("not-ours", seed) as env:
        env.poll_orders()
        env.apply_orders()
        # A warehouse order for another customer that reuses the number 10002.
        art = env.ongoing.get("/_sim/articles")[0]["articleNumber"]
        status, _ = env.ongoing.call("PUT", "/wh/api/v1/orders", {
            "goodsOwnerId": 1, "orderNumber": "10002", "referenceNumber": "LAGER-77",
            "deliveryDate": "2026-11-27T10:00:00Z",
            "consignee": {"name": "X"}, "orderLines": [{"rowNumber": "1", "articleNumber": art,
                                                        "numberOfItems": 1}]},
            headers=basic_auth())
        check(status in (200, 201), "manual order accepted")
        ship(env, "10002", {"wayBill": "MAN1"})
        ship(env, "10001", {"wayBill": "OK1"})
        env.run(["poll", "ongoing-shipments", "--once"])
        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq(env.mystore.get("/_sim/orders/10002")["status_id"], "1", "manual order untouched")
        eq(env.redis.get_json("applied:deliveries:10002")["state"], "reference_mismatch",
           "the mismatch is recorded")
        eq((s["delivered"], s["reference_mismatch"]), (1, 1), "delivered, reference mismatch")
        eq(env.mystore.get("/_sim/orders/10001")["attributes"]["tracking_number"], "OK1",
           "our order marked")


def basic_auth():
    import base64
    from harness import OG_PASSWORD, OG_USER
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (OG_USER, OG_PASSWORD)).encode()).decode()}


# ---- stock ---------------------------------------------------------------------

def test_stock_is_off_unless_enabled():
    prods = catalogue(plain=3, sized=2, coloured=0)
    with env_for("stock-off", shop(products=prods)) as env:
        env.run(["poll", "mystore-products", "--once"])
        env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        for a in env.ongoing.get("/_sim/articles"):
            env.ongoing.post("/_sim/articles/%s/stock" % a["articleNumber"],
                             {"numberOfItems": 9, "sellableNumberOfItems": 7})
        og_before = env.ongoing.stats()["requests"]
        ms_before = len(mystore_writes(env))
        _, _, e1 = env.run(["poll", "ongoing-stock", "--once"])
        _, _, e2 = env.run(["apply", "stock", "--once"])
        eq(env.ongoing.stats()["requests"], og_before, "Ongoing requests with STOCK_SYNC unset")
        eq(len(mystore_writes(env)), ms_before, "Mystore writes with STOCK_SYNC unset")
        for text in (e1, e2):
            lines = [l for l in text.splitlines() if "stock sync is off" in l]
            eq(len(lines), 1, "one log line saying stock sync is off")


def test_stock_lands_on_variants_and_products():
    prods = catalogue(plain=5, sized=5, coloured=5)
    on = {"STOCK_SYNC": "on"}
    with env_for("stock-on", shop(products=prods)) as env:
        env.run(["poll", "mystore-products", "--once"])
        env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        arts = env.ongoing.get("/_sim/articles")
        eq(len(arts), 5 + 50, "articles")
        want = {}
        for n, a in enumerate(arts):
            sellable = [12, -3, 7.9, 0, 4][n % 5]
            env.ongoing.post("/_sim/articles/%s/stock" % a["articleNumber"],
                             {"numberOfItems": 20, "sellableNumberOfItems": sellable})
            want[a["articleNumber"]] = max(0, int(sellable // 1))
        _, p, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq(p["full_walks"], 1, "first poll walks every article")
        _, s, _ = env.run(["apply", "stock", "--once", "--idle-ms", "2500"], extra_env=on)
        # Values already equal in Mystore still get one write each the first time.
        eq((s["written"], s["dead_lettered"]), (55, 0), "stock writes, dead letters")
        for pr in prods[0]:
            got = env.mystore.get("/_sim/products/%s" % pr["id"])
            if pr["variants"]:
                for v in got["variants"]:
                    eq(v["attributes"]["quantity"], want[v["attributes"]["sku"]],
                       "variant %s quantity" % v["id"])
            else:
                eq(got["attributes"]["quantity"], want[pr["attributes"]["sku"]],
                   "product %s quantity" % pr["id"])

        # Unchanged stock writes nothing; a change writes one value.
        n = len(mystore_writes(env))
        env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        env.run(["apply", "stock", "--once", "--idle-ms", "2500"], extra_env=on)
        eq(len(mystore_writes(env)), n, "writes when nothing changed")
        one = arts[0]["articleNumber"]
        env.ongoing.post("/_sim/articles/%s/stock" % one,
                         {"numberOfItems": 30, "sellableNumberOfItems": 25})
        _, p2, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq(p2["full_walks"], 0, "a recent cursor reads only changes")
        _, s2, _ = env.run(["apply", "stock", "--once", "--idle-ms", "2500"], extra_env=on)
        eq(s2["written"], 1, "one changed value written")

        # A replay of every stock event never puts an older value back.
        n = len(mystore_writes(env))
        _, r, _ = env.run(["apply", "stock", "--once", "--idle-ms", "2500", "--group",
                           "replay-stock"], extra_env=on)
        eq(len(mystore_writes(env)), n, "writes on replay")
        check(r["stale"] >= 1, "older events skipped as stale: %r" % r)

        # A cursor older than 24 hours: a full walk, not an error.
        env.redis.cmd("SET", "mosync:{t1}:cursor:ongoing-stock",
                      json.dumps({"ts": int(time.time()) - 25 * 3600}))
        _, p3, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq((p3["full_walks"], p3["failed_cycles"]), (1, 0), "full walk after 25 h")


# ---- the whole system under the Mystore rate limit ---------------------------

def test_mosync_run_stays_within_the_mystore_rate_limit():
    limit = 90
    seed = make_seed(orders=25, products=25, seed=33)
    with env_for("ratelimit", seed, mystore_rate=limit) as env:
        # A backlog beyond one minute's budget: each order's related URLs (M11's
        # fallback) cost several requests.
        env.mystore.related_urls_only()
        env.env["MYSTORE_RATE_LIMIT_PER_MIN"] = str(limit)
        run = env.spawn(["run"], extra_env={"STOCK_SYNC": "on"})
        wait_until(lambda: len(env.ongoing.orders()) == 25, 420, "25 orders in Ongoing", 1)
        st = env.mystore.stats()
        eq(st["rate_limited"], 0, "Mystore 429 answers")
        check(st["requests"] > limit, "the backlog (%d requests) exceeded one minute's budget"
              % st["requests"])
        eq(run.poll(), None, "mosync run still running")
        run.send_signal(15)
        eq(run.wait(60), 0, "mosync run exits 0 on SIGTERM")


def test_two_processes_share_one_token_budget():
    limit = 60
    seed = make_seed(orders=20, products=25, seed=34)
    with env_for("ratelimit2", seed, mystore_rate=limit) as env:
        env.env["MYSTORE_RATE_LIMIT_PER_MIN"] = str(limit)
        a = env.spawn(["poll", "mystore-orders"])
        b = env.spawn(["poll", "mystore-products"])
        wait_until(lambda: env.mystore.stats()["requests"] >= 2 * limit, 300,
                   "two minutes' worth of requests", 1)
        st = env.mystore.stats()
        eq(st["rate_limited"], 0, "Mystore 429 answers")
        for p in (a, b):
            eq(p.poll(), None, "poller still running")
