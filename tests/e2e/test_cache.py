"""Issue 7 item 1: Redis is a cache, not the truth.  Losing every Redis key
costs API calls, never an effect and never a second effect: deliveries are
derived from the Mystore order (not from what mosync remembers sending),
stock finds its product by SKU without the article flow, a cancel is never
sent twice, and every record and look-up cache expires."""

import json

from harness import check, env_for, eq, request_body
from seedgen import make_seed
from test_flows import basic_auth, catalogue, mystore_writes, ship, shop

STOCK_ON = {"STOCK_SYNC": "on"}


def apply_once(env, flow, extra_env=None):
    return env.run(["apply", flow, "--once", "--idle-ms", "2500"], extra_env=extra_env)


def poll_once(env, stream, extra_env=None):
    return env.run(["poll", stream, "--once"], extra_env=extra_env)


def ongoing_order(oid, reference, lines, **extra):
    """An Ongoing seed order (a PUT /orders body without goodsOwnerId)."""
    o = {"orderNumber": oid, "deliveryDate": "2026-11-27T10:00:00Z",
         "consignee": {"name": "Lager %s" % oid},
         "orderLines": [{"rowNumber": str(n + 1), "articleNumber": sku, "numberOfItems": 1}
                        for n, sku in enumerate(lines)]}
    if reference is not None:
        o["referenceNumber"] = reference
    o.update(extra)
    return o


def line_skus(order):
    return [line["attributes"]["sku"] for line in order["lines"]]


def route_count(env, route):
    return env.mystore.stats()["by_route"].get(route, 0)


def all_keys(env):
    return sorted(env.redis.cmd("KEYS", "mosync:{t1}:*") or [])


# ---- deliveries ----------------------------------------------------------------

def test_issue7_01_orders_shipped_before_mosync_are_marked_levert():
    """Orders the replaced integration put into Ongoing (seeded there, never
    seen by the order flow) are marked "levert" once shipped; a hand-made
    warehouse order whose number collides with a Mystore id but whose
    referenceNumber differs from the Mystore reference is left alone."""
    seed = make_seed(orders=8, products=10, seed=71)
    orders = seed["orders"]
    ids = [o["id"] for o in orders]
    skus = sorted({s for o in orders for s in line_skus(o)})
    og_seed = {"articles": [{"articleNumber": s, "articleName": "Vare %s" % s} for s in skus],
               "orders": []}
    for n in range(5):  # sent by the old integration, shipped by the warehouse since
        o = orders[n]
        og_seed["orders"].append(ongoing_order(
            o["id"], o["attributes"]["reference"], line_skus(o), status=450,
            tracking=[{"waybill": "PRE%s" % o["id"], "trackingUrl": "https://t/%s" % o["id"]}]))
    collide = ids[5]  # typed in by hand at the warehouse for another customer
    og_seed["orders"].append(ongoing_order(collide, "LAGER-5", skus[:1], status=450,
                                           wayBill="HAND5"))
    og_seed["orders"].append(ongoing_order("99999", "LAGER-9", skus[:1], status=450,
                                           wayBill="HAND9"))  # no such Mystore order
    og_seed["orders"].append(ongoing_order(ids[6], orders[6]["attributes"]["reference"],
                                           line_skus(orders[6])))  # not shipped yet
    with env_for("c01-preexisting", seed, ongoing_seed=og_seed) as env:
        _, poll, _ = poll_once(env, "ongoing-shipments")
        check(poll["emitted"] >= 7, "shipments emitted: %r" % poll)
        _, s, stderr = apply_once(env, "deliveries")
        for oid in ids[:5]:
            o = env.mystore.get("/_sim/orders/%s" % oid)
            eq((o["status_id"], o["attributes"]["tracking_number"]), ("3", "PRE%s" % oid),
               "order %s levert with its tracking number" % oid)
        eq((s["delivered"], s["reference_mismatch"], s["not_in_mystore"], s["dead_lettered"]),
           (5, 1, 1, 0), "delivered, reference mismatch, not in Mystore, dead letters")
        for oid in (collide, ids[6], ids[7]):
            o = env.mystore.get("/_sim/orders/%s" % oid)
            eq((o["status_id"], o["attributes"]["tracking_number"]), ("1", None),
               "order %s untouched" % oid)
        writes = mystore_writes(env)
        eq(sorted((w["method"], w["path"].rsplit("/", 1)[-1]) for w in writes),
           sorted([("PATCH", oid) for oid in ids[:5]] +
                  [("POST", "order-status-history")] * 5), "Mystore writes")
        check(not any(collide in json.dumps(w["body"]) or w["path"].endswith("/" + collide)
                      for w in writes), "no write for the colliding hand-made order")
        rec = env.redis.get_json("applied:deliveries:%s" % collide)
        eq(rec["state"], "reference_mismatch", "the collision is recorded")
        lines = [json.loads(l) for l in stderr.splitlines() if l.startswith("{")]
        check(any(collide in l["msg"] and "LAGER-5" in l["msg"] and l["level"] == "warn"
                  for l in lines), "the collision is logged as a warning naming both references")

        # Replaying the shipments writes nothing more.
        n = len(mystore_writes(env))
        _, r, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500",
                           "--group", "replay-c01"])
        eq(r["delivered"], 0, "delivered on replay")
        eq(len(mystore_writes(env)), n, "Mystore writes after the replay")


def test_issue7_02_shipments_after_flushall_write_nothing_to_mystore():
    """After FLUSHALL the shipments poller starts over and re-emits every
    shipment; the consumer reads each Mystore order, finds it "levert" and
    writes nothing.  A shipment after the FLUSHALL is still marked."""
    seed = make_seed(orders=12, products=10, seed=72)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("c02-flushall-deliveries", seed) as env:
        env.poll_orders()
        env.apply_orders()
        for oid in ids[:6]:
            ship(env, oid, {"wayBill": "WB%s" % oid})
        poll_once(env, "ongoing-shipments")
        _, s, _ = apply_once(env, "deliveries")
        eq(s["delivered"], 6, "delivered before the FLUSHALL")

        eq(env.redis.cmd("FLUSHALL"), "OK", "FLUSHALL")
        before = len(mystore_writes(env))
        _, poll, _ = poll_once(env, "ongoing-shipments")
        check(poll["emitted"] >= 6, "shipments emitted again after the FLUSHALL: %r" % poll)
        _, s2, _ = apply_once(env, "deliveries")
        eq((s2["delivered"], s2["already_sent"]), (0, 6),
           "after the FLUSHALL: delivered, already sent (read from Mystore)")
        eq(mystore_writes(env)[before:], [], "Mystore writes after the FLUSHALL")

        # An order shipped after the FLUSHALL is still marked, once.
        ship(env, ids[6], {"wayBill": "WB%s" % ids[6]})
        poll_once(env, "ongoing-shipments")
        _, s3, _ = apply_once(env, "deliveries")
        eq(s3["delivered"], 1, "the new shipment is delivered")
        o = env.mystore.get("/_sim/orders/%s" % ids[6])
        eq((o["status_id"], o["attributes"]["tracking_number"]), ("3", "WB%s" % ids[6]),
           "order shipped after the FLUSHALL")
        eq(len(mystore_writes(env)[before:]), 2, "one PATCH and one POST for it")


# ---- stock -----------------------------------------------------------------------

def test_issue7_03_stock_lands_without_the_article_flow():
    """Articles the article flow never saw (made by the old integration or by
    hand) get their stock: a product without variants is found by SKU in
    Mystore, a variant by free decimal 2 or by SKU; the SKU of a product that
    has variants is never written (M10); an unknown article writes nothing."""
    prods, options, values = catalogue(plain=4, sized=2, coloured=0)
    plain = prods[:4]
    with_variants = prods[4]              # its variants carry their id in free decimal 2
    hand_variant = prods[5]["variants"][1]  # a variant article without free decimal 2
    articles = []
    stock = {}
    for n, p in enumerate(plain):
        sku = p["attributes"]["sku"]
        articles.append({"articleNumber": sku, "articleName": "Vare %s" % sku,
                         "productCode": p["id"]})
        stock[sku] = [7, 0, 3.5, -2][n]
    for v in with_variants["variants"]:
        sku = v["attributes"]["sku"]
        articles.append({"articleNumber": sku, "articleName": "Vare %s" % sku,
                         "freeValues": {"freeDecimal2": int(v["id"])}})
        stock[sku] = 11
    articles.append({"articleNumber": hand_variant["attributes"]["sku"], "articleName": "Hånd"})
    stock[hand_variant["attributes"]["sku"]] = 4
    product_sku = with_variants["attributes"]["sku"]  # the product's own SKU as an article
    articles.append({"articleNumber": product_sku, "articleName": "Produktet selv"})
    stock[product_sku] = 9
    articles.append({"articleNumber": "UKJENT-1", "articleName": "Ikke i nettbutikken"})
    stock["UKJENT-1"] = 5
    for a in articles:
        a["inventoryInfo"] = {"numberOfItems": 20, "sellableNumberOfItems": stock[a["articleNumber"]]}
    with env_for("c03-stock-no-articles", shop(products=(prods, options, values)),
                 ongoing_seed={"articles": articles}) as env:
        _, p, _ = poll_once(env, "ongoing-stock", STOCK_ON)
        eq(p["emitted"], len(articles), "stock events")
        _, s, _ = apply_once(env, "stock", STOCK_ON)
        eq((s["written"], s["unknown"], s["dead_lettered"]), (4 + 5 + 1, 2, 0),
           "written, unknown, dead letters")
        for n, pr in enumerate(plain):
            got = env.mystore.get("/_sim/products/%s" % pr["id"])
            eq(got["attributes"]["quantity"], [7, 0, 3, 0][n], "product %s quantity" % pr["id"])
        got = env.mystore.get("/_sim/products/%s" % with_variants["id"])
        eq([v["attributes"]["quantity"] for v in got["variants"]], [11] * 5, "variants by decimal 2")
        eq(got["attributes"]["quantity"], 0, "the product that has variants is not written")
        got = env.mystore.get("/_sim/products/%s" % prods[5]["id"])
        eq({v["id"]: v["attributes"]["quantity"] for v in got["variants"]},
           {v["id"]: (4 if v["id"] == hand_variant["id"] else 3) for v in prods[5]["variants"]},
           "the hand-made variant article found by SKU")
        writes = mystore_writes(env)
        check(not any(w["path"].endswith("/products/%s" % with_variants["id"]) for w in writes),
              "no PATCH of the product that has variants")
        eq(len(writes), 10, "Mystore writes")
        # The answers fill the map (expiring), not-found is remembered for a while.
        eq(env.redis.get_json("map:article:%s" % plain[0]["attributes"]["sku"]),
           {"product_id": plain[0]["id"], "variant_id": None, "by": "lookup"}, "map entry filled")
        eq(env.redis.get_json("map:article:%s" % hand_variant["attributes"]["sku"]),
           {"product_id": prods[5]["id"], "variant_id": hand_variant["id"], "by": "lookup"},
           "map entry of the variant")
        nf = env.redis.get_json("notfound:article:UKJENT-1")
        eq(nf["reason"], "no product or variant has this SKU", "not-found entry")
        eq(env.redis.get_json("notfound:article:%s" % product_sku)["reason"],
           "the product has variants (M10)", "the product SKU is remembered as not writable")
        ttl = env.redis.cmd("TTL", "mosync:{t1}:notfound:article:UKJENT-1")
        check(0 < ttl <= 86400, "not-found entry expires within a day: %r" % ttl)


def test_issue7_04_an_unknown_article_is_looked_up_once_per_ttl():
    """An article Mystore does not have costs one look-up, then nothing until
    its not-found entry expires, so unknown articles do not eat the budget;
    a found product costs one look-up, then none."""
    prods, options, values = catalogue(plain=2, sized=0, coloured=0)
    articles = [{"articleNumber": "UKJENT-%d" % n, "articleName": "Ukjent",
                 "inventoryInfo": {"numberOfItems": 1, "sellableNumberOfItems": 1}}
                for n in range(3)]
    articles.append({"articleNumber": prods[0]["attributes"]["sku"], "articleName": "Kjent",
                     "inventoryInfo": {"numberOfItems": 1, "sellableNumberOfItems": 2}})
    with env_for("c04-lookup-once", shop(products=(prods, options, values)),
                 ongoing_seed={"articles": articles}) as env:
        products_route = "GET /shops/{shop}/products"
        variants_route = "GET /shops/{shop}/product-variants"
        poll_once(env, "ongoing-stock", STOCK_ON)
        apply_once(env, "stock", STOCK_ON)
        # One products look-up each; the unknown ones one variant look-up more.
        eq((route_count(env, products_route), route_count(env, variants_route)), (4, 3),
           "look-ups of the first stock events")
        eq(env.mystore.get("/_sim/products/%s" % prods[0]["id"])["attributes"]["quantity"], 2,
           "the known product's stock")
        for n, a in enumerate(articles):
            env.ongoing.post("/_sim/articles/%s/stock" % a["articleNumber"],
                             {"numberOfItems": 9, "sellableNumberOfItems": 6 + n})
        poll_once(env, "ongoing-stock", STOCK_ON)
        _, s, _ = apply_once(env, "stock", STOCK_ON)
        eq((s["written"], s["unknown"]), (1, 3), "written, unknown on the second change")
        eq((route_count(env, products_route), route_count(env, variants_route)), (4, 3),
           "no look-up for a remembered answer")
        eq(env.mystore.get("/_sim/products/%s" % prods[0]["id"])["attributes"]["quantity"], 9,
           "the known product's new stock")
        # Once the not-found entry is gone (expired), the article is asked again.
        env.redis.cmd("DEL", "mosync:{t1}:notfound:article:UKJENT-0")
        env.ongoing.post("/_sim/articles/UKJENT-0/stock",
                         {"numberOfItems": 9, "sellableNumberOfItems": 1})
        poll_once(env, "ongoing-stock", STOCK_ON)
        apply_once(env, "stock", STOCK_ON)
        eq((route_count(env, products_route), route_count(env, variants_route)), (5, 4),
           "asked again after the entry expired")


# ---- every flow after FLUSHALL -----------------------------------------------------

def test_issue7_05_every_flow_after_flushall_makes_no_second_effect():
    """Run every flow, FLUSHALL, run every flow again: an order may be sent
    again with the same content, but no cancel is sent twice, a refused
    update stays refused, no second "levert", and stock writes only the values
    Mystore already holds."""
    seed = make_seed(orders=10, products=8, seed=75)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("c05-flushall-all", seed) as env:
        def run_all():
            poll_once(env, "mystore-products")
            apply_once(env, "articles")
            env.poll_orders()
            env.apply_orders()
            poll_once(env, "ongoing-shipments")
            apply_once(env, "deliveries")
            poll_once(env, "ongoing-stock", STOCK_ON)
            apply_once(env, "stock", STOCK_ON)

        run_all()
        eq(len(env.ongoing.orders()), 10, "orders in Ongoing")
        cancelled, cancel_refused, refused = ids[0], ids[1], ids[2]
        shipped = ids[3:5]
        for oid in (cancel_refused, refused):
            env.ongoing.post("/_sim/orders/%s/status" % oid, {"status": 300})
        o = env.mystore.get("/_sim/orders/%s" % refused)
        o["attributes"]["shipping_address_address"] = "Ny gate 7"
        o["attributes"].pop("updated_at", None)
        env.mystore.put("/_sim/orders/%s" % refused, o)
        for oid in (cancelled, cancel_refused):
            env.mystore.post("/_sim/orders/%s/status" % oid, {"status_id": "5"})
        for oid in shipped:
            ship(env, oid, {"wayBill": "WB%s" % oid})
        for n, a in enumerate(env.ongoing.get("/_sim/articles")):
            env.ongoing.post("/_sim/articles/%s/stock" % a["articleNumber"],
                             {"numberOfItems": 10, "sellableNumberOfItems": n % 4})
        run_all()
        eq(env.redis.get_json("applied:orders:%s" % cancelled)["state"], "cancelled", "cancelled")
        eq(env.redis.get_json("applied:orders:%s" % cancel_refused)["state"], "cancel_refused",
           "cancel refused")
        eq(env.redis.get_json("applied:orders:%s" % refused)["state"], "refused", "refused")
        for oid in shipped:
            eq(env.mystore.get("/_sim/orders/%s" % oid)["status_id"], "3", "%s levert" % oid)
        og_orders = {o["orderNumber"]: o for o in env.ongoing.orders()}
        og_articles = {a["articleNumber"]: a for a in env.ongoing.get("/_sim/articles")}
        ms_products = {p["id"]: env.mystore.get("/_sim/products/%s" % p["id"])
                       for p in seed["products"]}
        og_seq = max([w["seq"] for w in env.ongoing.writes()] or [0])
        ms_seq = max([w["seq"] for w in env.mystore.writes()] or [0])

        eq(env.redis.cmd("FLUSHALL"), "OK", "FLUSHALL")
        run_all()

        og_new = env.ongoing.writes(og_seq)
        ms_new = env.mystore.writes(ms_seq)
        deletes = [w for w in og_new if w["method"] == "DELETE"]
        eq(deletes, [], "DELETE requests after the FLUSHALL (a cancel sent twice)")
        # The rerun did send things again (so the checks below saw them).
        order_puts = [w for w in og_new
                      if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders")]
        eq(sorted(w["body"]["orderNumber"] for w in order_puts), sorted(ids[2:3] + ids[5:]),
           "orders sent again: the open ones and the refused one")
        check(any(w["path"].endswith("/api/v1/articles") for w in og_new), "articles sent again")
        check(len(ms_new) > 0, "stock written again")
        for w in og_new:
            if w["path"].endswith("/api/v1/orders") and w["method"] == "PUT":
                num = w["body"]["orderNumber"]
                check(num not in (cancelled, cancel_refused) + tuple(shipped),
                      "no PUT for a cancelled or sent order: %s" % num)
                if num == refused:
                    eq(w["status"], 400, "the refused update is refused again")
                else:
                    eq(w["body"], request_body(og_orders[num]),
                       "order %s sent again with the same content" % num)
            elif w["path"].endswith("/api/v1/articles"):
                stored = {k: v for k, v in og_articles[w["body"]["articleNumber"]].items()
                          if k not in ("articleSystemId", "inventoryInfo", "stock",
                                       "numberOfItems", "sellableNumberOfItems")}
                eq(w["body"], stored, "article %s sent again with the same content"
                   % w["body"]["articleNumber"])
        eq(env.ongoing.order(refused)["consignee"]["address1"] != "Ny gate 7", True,
           "the refused update did not become an update")
        eq(env.redis.get_json("applied:orders:%s" % refused)["state"], "refused",
           "recorded as refused again")
        for oid, state in ((cancelled, "cancelled"), (cancel_refused, "cancel_refused")):
            eq(env.redis.get_json("applied:orders:%s" % oid)["state"], state,
               "order %s re-derived from Ongoing" % oid)
        for w in ms_new:
            check(w["method"] == "PATCH" and ("/product-variants/" in w["path"] or
                                               "/products/" in w["path"]),
                  "only stock writes in Mystore after the FLUSHALL: %s %s" % (w["method"],
                                                                             w["path"]))
            pid_or_vid = w["path"].rsplit("/", 1)[-1]
            if "/product-variants/" in w["path"]:
                before = [v["attributes"]["quantity"] for p in ms_products.values()
                          for v in p["variants"] if v["id"] == pid_or_vid]
            else:
                before = [ms_products[pid_or_vid]["attributes"]["quantity"]]
            eq([w["body"]["data"]["attributes"]["quantity"]], before,
               "stock write %s carries the value Mystore already had" % w["path"])
        for oid in shipped:
            eq(env.mystore.get("/_sim/orders/%s" % oid)["status_id"], "3", "%s still levert" % oid)


def test_issue7_06_every_record_and_cache_expires():
    """Nothing in Redis grows forever: every applied record and look-up cache
    has an expiry of APPLIED_TTL_DAYS (the not-found cache a shorter one);
    only the per-stream cursors, lease fence counters and the shared budget
    live without one."""
    seed = make_seed(orders=4, products=6, seed=76)
    ttl_env = {"APPLIED_TTL_DAYS": "3", "STOCK_SYNC": "on"}
    og_seed = {"articles": [{"articleNumber": "UKJENT-1", "articleName": "Ukjent",
                             "inventoryInfo": {"numberOfItems": 1, "sellableNumberOfItems": 1}}]}
    with env_for("c06-expiry", seed, ongoing_seed=og_seed) as env:
        env.env.update(ttl_env)
        poll_once(env, "mystore-products")
        apply_once(env, "articles")
        env.poll_orders()
        env.apply_orders()
        env.mystore.post("/_sim/orders/%s/status" % seed["orders"][0]["id"], {"status_id": "5"})
        ship(env, seed["orders"][1]["id"], {"wayBill": "WB1"})
        env.poll_orders()
        env.apply_orders()
        poll_once(env, "ongoing-shipments")
        apply_once(env, "deliveries")
        poll_once(env, "ongoing-stock")
        apply_once(env, "stock")
        keys = all_keys(env)
        limit = 3 * 86400
        for k in keys:
            kind = k.split(":")[2]
            ttl = env.redis.cmd("TTL", k)
            if kind in ("cursor", "ratelimit") or (kind == "lease" and k.endswith(":fence")):
                continue  # one per stream / per token: bounded without expiry
            check(0 < ttl <= limit, "%s expires within APPLIED_TTL_DAYS (TTL %r)" % (k, ttl))
            if kind in ("applied", "map", "known", "product"):
                check(ttl > limit - 600, "%s lives APPLIED_TTL_DAYS (TTL %r)" % (k, ttl))
        # The run did leave every kind of record and cache (the check above saw them).
        kinds = {k.split(":")[2] for k in keys}
        for kind in ("applied", "map", "known", "product", "notfound"):
            check(kind in kinds, "the run left %s: keys (%r)" % (kind, sorted(kinds)))
        for flow in ("orders", "articles", "deliveries", "stock"):
            check(any(k.startswith("mosync:{t1}:applied:%s:" % flow) for k in keys),
                  "an applied record of %s" % flow)


def test_issue7_07_a_looked_up_map_entry_gives_way_to_the_article_flow():
    """A map entry filled by a stock look-up is an old answer of Mystore, not a
    claim on the SKU: when the SKU has moved to another product since, the
    article flow maps it to that product instead of dead-lettering it as a
    duplicate; and a product the article flow mapped gets its stock even
    while Mystore was remembered as not having it."""
    prods, options, values = catalogue(plain=2, sized=0, coloured=0)
    first, second = prods
    sku = first["attributes"]["sku"]
    articles = [{"articleNumber": sku, "articleName": "Flyttet",
                 "inventoryInfo": {"numberOfItems": 1, "sellableNumberOfItems": 4}},
                {"articleNumber": "NY-1", "articleName": "Kommer senere",
                 "inventoryInfo": {"numberOfItems": 1, "sellableNumberOfItems": 2}}]
    with env_for("c07-lookup-gives-way", shop(products=(prods, options, values)),
                 ongoing_seed={"articles": articles}) as env:
        poll_once(env, "ongoing-stock", STOCK_ON)
        apply_once(env, "stock", STOCK_ON)
        eq(env.redis.get_json("map:article:%s" % sku)["product_id"], first["id"], "looked up")
        check(env.redis.get_json("notfound:article:NY-1") is not None, "NY-1 not found")
        # The SKU moves to the second product; a third product takes NY-1.
        for pid, new_sku in ((first["id"], sku + "-GAMMEL"), (second["id"], sku)):
            p = env.mystore.get("/_sim/products/%s" % pid)
            p["attributes"]["sku"] = new_sku
            p["attributes"].pop("updated_at", None)
            env.mystore.put("/_sim/products/%s" % pid, p)
        third = dict(first, id="899", variants=[])
        third["attributes"] = dict(first["attributes"], sku="NY-1")
        third["attributes"].pop("updated_at", None)
        env.mystore.put("/_sim/products/899", third)
        poll_once(env, "mystore-products")
        _, a, _ = apply_once(env, "articles")
        eq(a["dead_lettered"], 0, "no product dead-lettered as a duplicate SKU")
        eq(env.redis.get_json("map:article:%s" % sku),
           {"product_id": second["id"], "variant_id": None}, "the SKU now maps to its new product")
        for no, qty in ((sku, 6), ("NY-1", 5)):
            env.ongoing.post("/_sim/articles/%s/stock" % no,
                             {"numberOfItems": 9, "sellableNumberOfItems": qty})
        poll_once(env, "ongoing-stock", STOCK_ON)
        _, s, _ = apply_once(env, "stock", STOCK_ON)
        eq((s["written"], s["unknown"]), (2, 0), "written, unknown")
        eq(env.mystore.get("/_sim/products/%s" % second["id"])["attributes"]["quantity"], 6,
           "stock on the SKU's new product")
        eq(env.mystore.get("/_sim/products/899")["attributes"]["quantity"], 5,
           "stock on the product the article flow mapped")
