"""Issue 15 item 3: include= (M11).  The order poller takes each order's
lines, options and totals from the list page's compound document when the
shop answers include=, learnt from the first non-empty list answer and cached
per tenant in Redis; a shop that ignores or refuses include=, and an order
whose included set is incomplete, read them by their URLs as before.  Every
test is real HTTP to the Mystore simulator, whose request counts are what is
measured, and compares the events on the topic, not the poller's word."""

import json

from harness import TENANT, check, env_for, eq, topic_messages
from seedgen import make_seed

ORDERS = 150
PER_ORDER_ROUTES = ("GET /shops/{shop}/orders/{id}/order-products",
                    "GET /shops/{shop}/order-products/{id}/order-product-attributes",
                    "GET /shops/{shop}/orders/{id}/order-totals")


def seed(n=ORDERS):
    return make_seed(orders=n, products=30, seed=515, base_time="2026-11-27 09:00:00")


def events(env):
    """entity id -> the data of its (one) event on the orders topic."""
    out = {}
    for m in topic_messages(env, "mystore.orders"):
        ev = m["event"]
        check(ev["entity_id"] not in out, "order %s emitted twice" % ev["entity_id"])
        out[ev["entity_id"]] = ev["data"]
    return out


def requests(env):
    return env.mystore.stats()["requests"]


def routes(env):
    return env.mystore.stats()["by_route"]


def cached(env):
    """The tenant's cached answer (include:mystore-orders), None when none."""
    v = env.redis.get_json("include:mystore-orders")
    return None if v is None else v["supported"]


def touch(env, order, address="Endret gate 1"):
    """Changes an order (seed form) in the shop, stamped with the simulator's
    clock so the next window lists it.  Returns its id."""
    o = dict(order, attributes=dict(order["attributes"], shipping_address_address=address))
    o["attributes"].pop("updated_at", None)
    env.mystore.put("/_sim/orders/%s" % o["id"], o)
    return o["id"]


def poll(env):
    before = requests(env)
    summary = env.poll_orders()[1]
    return summary, requests(env) - before


def test_include_one_request_per_page_and_the_same_events():
    """150 orders with 1 to 3 lines each, most lines with options: with
    include= answered, a poll costs at most 1.2 Mystore requests per order
    (counted by the simulator) and reads no order's related URLs; a shop that
    ignores include= gets the URL reads; both emit the same data for every
    order, which is what the related URLs answer (the golden snapshot)."""
    s = seed()
    lines = sum(len(o["lines"]) for o in s["orders"])
    options = sum(len(line["options"]) for o in s["orders"] for line in o["lines"])
    check(lines >= 1.5 * ORDERS and options >= ORDERS, "a seed with several lines and options")
    with env_for("include-on", s) as on, env_for("include-off", s) as off:
        off.mystore.post("/_sim/include", {"enabled": False})
        sum_on, n_on = poll(on)
        sum_off, n_off = poll(off)
        eq(sum_on["include"], "yes", "include= as the poller found it (on)")
        eq(sum_off["include"], "no", "include= as the poller found it (off)")
        eq(sum_on["include_snapshots"], ORDERS, "snapshots from include=")
        eq(sum_on["include_fallbacks"], 0, "include= fallbacks")
        check(n_on <= 1.2 * ORDERS, "with include=: %d Mystore requests for %d orders (%.2f "
              "per order), goal <= 1.2" % (n_on, ORDERS, n_on / ORDERS))
        eq(sum_on["mystore_requests"], n_on, "the poller's count of its requests")
        for r in PER_ORDER_ROUTES:
            eq(routes(on).get(r, 0), 0, "with include=: %s" % r)
        # The fallback: one request per order for its lines and totals, one per line.
        eq(routes(off).get(PER_ORDER_ROUTES[0], 0), ORDERS, "without include=: lines lists")
        eq(routes(off).get(PER_ORDER_ROUTES[1], 0), lines, "without include=: options lists")
        check(n_off >= 2 * ORDERS + lines, "without include=: %d requests" % n_off)

        ev_on, ev_off = events(on), events(off)
        eq(sorted(ev_on), sorted(o["id"] for o in s["orders"]), "orders emitted with include=")
        eq(sorted(ev_off), sorted(ev_on), "orders emitted without include=")
        for oid in ev_on:
            eq(ev_on[oid], ev_off[oid], "order %s: the data with and without include=" % oid)
        for oid in sorted(ev_on)[:5]:
            eq(ev_on[oid], on.mystore.snapshot(oid), "order %s: the related URLs' snapshot" % oid)
        check(not any("order-products" in (d["order"].get("relationships") or {})
                      for d in ev_on.values()), "no linkage left in an emitted order")

        eq(cached(on), True, "the tenant's cached answer (on)")
        eq(cached(off), False, "the tenant's cached answer (off)")
        # The cached answer is used: while it says no, the shop is not asked
        # include= again, even once it would answer it.
        off.mystore.post("/_sim/include", {"enabled": True})
        oid = touch(off, s["orders"][7])
        before = routes(off).get(PER_ORDER_ROUTES[0], 0)
        summary, _ = poll(off)
        eq(summary["include"], "no", "the cached answer holds")
        eq(summary["include_snapshots"], 0, "snapshots from include= while cached no")
        eq(routes(off).get(PER_ORDER_ROUTES[0], 0) - before, 1,
           "order %s read by its URLs" % oid)


def test_include_cache_lost_or_stale_and_the_shop_changing():
    """The cached answer is a cache: lost, the next list page learns it
    again; a shop that stops answering include= while the cache says yes is
    found out from its first answer (the cache turns to no) and its orders
    still emitted whole; an empty shop decides nothing."""
    with env_for("include-empty", seed(0)) as env:
        summary, n = poll(env)
        eq(summary["include"], "unknown", "an empty shop: include= undecided")
        eq(cached(env), None, "nothing cached for an empty shop")
        orders = seed(3)["orders"]
        for o in orders:
            touch(env, o)
        summary, _ = poll(env)
        eq(summary["include"], "yes", "decided once there are orders")
        eq(summary["include_snapshots"], 3, "snapshots from include=")
        eq(cached(env), True, "cached")
        env.redis.cmd("DEL", "mosync:{%s}:include:mystore-orders" % TENANT)
        touch(env, orders[0], "Endret gate 2")
        summary, _ = poll(env)
        eq(summary["include_snapshots"], 1, "the changed order from include=")
        eq(cached(env), True, "learnt again after the key was lost")
        ttl = env.redis.cmd("TTL", "mosync:{%s}:include:mystore-orders" % TENANT)
        check(0 < ttl <= 86400, "the cached answer expires within a day (TTL %s)" % ttl)

        env.mystore.post("/_sim/include", {"enabled": False})
        oid = touch(env, orders[1], "Endret gate 3")
        summary, _ = poll(env)
        eq(summary["include"], "no", "the shop no longer answers include=")
        eq(cached(env), False, "the cache follows")
        eq(summary["include_fallbacks"], 0, "no compound answer to fall back from")
        evs = [m["event"] for m in topic_messages(env, "mystore.orders")
               if m["event"]["entity_id"] == oid]
        eq(evs[-1]["data"], env.mystore.snapshot(oid), "the changed order, read by its URLs")
        eq(evs[-1]["data"]["order"]["attributes"]["shipping_address_address"], "Endret gate 3",
           "the change")


def test_include_refused_with_400_reads_the_page_again_without_it():
    """A strict JSON:API shop answers include= it does not serve with 400:
    the page is asked again without it (one request more, once), the answer
    cached as no, and the orders emitted as the related URLs give them."""
    with env_for("include-400", seed(20)) as env:
        env.mystore.post("/_sim/include", {"refuse": True})
        summary, n = poll(env)
        eq(summary["include"], "no", "include= refused")
        eq(cached(env), False, "cached as no")
        evs = events(env)
        eq(len(evs), 20, "orders emitted")
        for oid in sorted(evs)[:3]:
            eq(evs[oid], env.mystore.snapshot(oid), "order %s" % oid)
        before = routes(env).get("GET /shops/{shop}/orders", 0)
        touch(env, seed(20)["orders"][4], "Endret gate 4")
        summary, _ = poll(env)
        eq(summary["include"], "no", "still no")
        eq(routes(env)["GET /shops/{shop}/orders"] - before, 1,
           "the next cycle does not ask include= again (one list request)")


def test_include_incomplete_set_falls_back_for_that_order_only():
    """The compound answer leaves out one line's option of one order and the
    totals row of another (the relationships still name them): those two
    orders read their related URLs, every other order comes from include=,
    and every event is complete: what the related URLs answer."""
    s = seed(40)
    with_options = [o for o in s["orders"] if any(line["options"] for line in o["lines"])]
    a, b = with_options[0], s["orders"][-1]
    check(a["id"] != b["id"], "two different orders")
    line = next(line for line in a["lines"] if line["options"])
    drop = [{"type": "order-product-attributes", "id": line["options"][0]["id"]},
            {"type": "order-totals", "id": b["totals"][0]["id"]}]
    with env_for("include-incomplete", s) as env:
        env.mystore.post("/_sim/include", {"drop": drop})
        summary, n = poll(env)
        eq(summary["include"], "yes", "include= answered")
        eq(summary["include_fallbacks"], 2, "orders that fell back")
        eq(summary["include_snapshots"], 38, "orders from include=")
        eq(routes(env).get(PER_ORDER_ROUTES[0], 0), 2, "lines lists read (the two orders)")
        eq(routes(env).get(PER_ORDER_ROUTES[2], 0), 2, "totals lists read (the two orders)")
        evs = events(env)
        eq(len(evs), 40, "orders emitted")
        for oid in (a["id"], b["id"]):
            eq(evs[oid], env.mystore.snapshot(oid), "order %s: complete" % oid)
        eq(len(evs[a["id"]]["lines"]), len(a["lines"]), "its lines")
        check(line["options"][0]["id"] in [o["id"] for ln in evs[a["id"]]["lines"]
                                           for o in ln["options"]], "the dropped option is there")
        eq([t["id"] for t in evs[b["id"]]["totals"]], [t["id"] for t in
                                                       env.mystore.snapshot(b["id"])["totals"]],
           "the totals")
        logs = env.all_logs()
        check("order %s: a line's options are not all included" % a["id"] in logs, "logged (a)")
        check("order %s: its totals are not all included" % b["id"] in logs, "logged (b)")


def test_include_page_over_the_answer_cap_is_read_without_it():
    """A compound page larger than the answer cap of a page of 50 (three
    orders of 300 long lines each, about 2.1 MB with their lines): that page
    is read again without include=, its orders by their URLs, and every
    order is emitted whole; the stream does not fail."""
    s = seed(3)
    for n, o in enumerate(s["orders"]):
        first = o["lines"][0]
        o["lines"] = []
        for i in range(300):
            line = json.loads(json.dumps(first))
            line["id"] = str(700000 + n * 1000 + i)
            line["attributes"]["name"] = "Vare %d %s" % (i, "x" * 2200)
            for j, opt in enumerate(line.get("options") or []):
                opt["id"] = str(900000 + n * 10000 + i * 5 + j)
            o["lines"].append(line)
    with env_for("include-too-large", s) as env:
        summary, n = poll(env)
        eq((summary["failed_cycles"], summary["emitted"]), (0, 3), "cycle ok, orders emitted")
        eq(summary["include_snapshots"], 0, "snapshots from include=")
        eq(routes(env).get(PER_ORDER_ROUTES[0], 0), 3 * 6, "lines pages read by their URLs")
        evs = events(env)
        for o in s["orders"]:
            eq([ln["line"]["id"] for ln in evs[o["id"]]["lines"]],
               [ln["id"] for ln in env.mystore.api_all("orders/%s/order-products" % o["id"])],
               "order %s: its 300 lines" % o["id"])
        check("without include=" in env.all_logs(), "the page read without include= is logged")
