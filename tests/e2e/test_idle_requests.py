"""Issue 15: an idle poll cycle costs one request per stream.  Each stream's
poller runs as a long-running process (a 1 s interval) over a shop and a
warehouse where nothing changes, and the simulators count what it asked:
one list request per cycle, plus one request at the process's first cycle
(the order-status list for the order poller, the source's clock for the
others).  Then the hostile cases of the order-status list kept between
cycles: a status the shop adds mid-run reaches the snapshot of an order that
uses it, and a status renamed ("Levert" called "Sendt") works as before; and
an order shipped mid-run still reaches the shipments topic with one list.
Real processes, real Redis and Kafka, the simulators over HTTP."""

import base64
import json
import signal

from harness import check, env_for, eq, topic_messages, wait_until
from seedgen import make_seed
from test_cache import ongoing_order

STREAMS = {
    # stream: (simulator, the list route, the route of the first cycle's extra request)
    "mystore-orders": ("mystore", "GET /shops/{shop}/orders", "GET /shops/{shop}/order-status"),
    "mystore-products": ("mystore", "GET /shops/{shop}/products",
                         "GET /shops/{shop}/order-status"),
    "ongoing-shipments": ("ongoing", "GET /api/v1/orders", "GET /api/v1/orders/statuses"),
    "ongoing-stock": ("ongoing", "GET /api/v1/articles", "GET /api/v1/orders/statuses"),
}
IDLE_CYCLES = 5
READY = {"id": "9", "name": {"no": "Klar til henting", "en": "Ready for pickup"}}


def sim(env, which):
    return env.mystore if which == "mystore" else env.ongoing


def routes(env, which):
    return sim(env, which).stats()["by_route"]


def stop(p):
    """SIGTERM, then the poller's JSON summary."""
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=60)
    eq(p.returncode, 0, "poller exit status")
    lines = [l for l in out.decode().splitlines() if l.startswith("{")]
    check(lines, "the poller printed its summary")
    return json.loads(lines[-1])


def order_events(env):
    out = []
    for m in topic_messages(env, "mystore.orders"):
        out.append(json.loads(base64.b64decode(m["value_base64"])))
    return out


def shop_and_warehouse(seed_no):
    seed = make_seed(orders=3, products=3, seed=seed_no)
    skus = [v["attributes"]["sku"] for p in seed["products"] for v in p.get("variants", [])]
    skus += [p["attributes"]["sku"] for p in seed["products"] if not p.get("variants")]
    og = {"articles": [{"articleNumber": sku, "articleName": "Vare %s" % sku,
                        "inventoryInfo": {"numberOfItems": 5, "sellableNumberOfItems": 5}}
                       for sku in skus[:3]],
          "orders": [ongoing_order(o["id"], None, skus[:1]) for o in seed["orders"]]}
    return seed, og


def test_issue15_01_an_idle_cycle_costs_one_request_per_stream():
    """After each stream's first scan, a poller process runs IDLE_CYCLES
    cycles or more where nothing changed: its list route was asked exactly
    once per cycle, the first cycle's extra request exactly once, and no
    other route at all.  Before issue 15 the order poller read the
    order-status list every cycle and the shipments poller asked two lists:
    either makes this fail."""
    seed, og = shop_and_warehouse(151)
    with env_for("idle-requests", seed, ongoing_seed=og) as env:
        env.env["STOCK_SYNC"] = "on"
        for stream in STREAMS:  # the first scans: everything is emitted once
            env.run(["poll", stream, "--once"])
        for stream, (which, route, extra) in STREAMS.items():
            sim(env, which).post("/_sim/reset-counters", {})
            p = env.spawn(["poll", stream])
            wait_until(lambda: routes(env, which).get(route, 0) >= IDLE_CYCLES, 30,
                       "%d list requests of %s" % (IDLE_CYCLES, stream))
            summary = stop(p)
            got = routes(env, which)
            cycles = summary["cycles"]
            check(cycles >= IDLE_CYCLES, "%s ran %d cycles" % (stream, cycles))
            eq((summary["failed_cycles"], summary["emitted"]), (0, 0),
               "%s failed cycles and events (nothing changed)" % stream)
            eq(got, {route: cycles, extra: 1},
               "%s: requests by route over %d idle cycles" % (stream, cycles))


def test_issue15_02_a_status_added_mid_run_reaches_the_order_that_uses_it():
    """The order poller keeps the shop's statuses between cycles.  The shop
    adds "Klar til henting" (id 9) while the poller runs and moves an order
    into it: the poller reads the list again (once) and the order's snapshot
    carries the new status, so MYSTORE_ORDER_STATUSES naming it by name sends
    the order to the warehouse.  Kept and never read again, the snapshot's
    status would be null and the order would wait (matched only by id)."""
    seed, og = shop_and_warehouse(152)
    with env_for("status-added", seed, ongoing_seed=og) as env:
        env.env["MYSTORE_ORDER_STATUSES"] = "Ready for pickup"
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq((s["waiting"], s["created"]), (3, 0), "waiting and created before the status exists")
        statuses = "GET /shops/{shop}/order-status"
        env.mystore.post("/_sim/reset-counters", {})
        p = env.spawn(["poll", "mystore-orders"])
        wait_until(lambda: routes(env, "mystore").get("GET /shops/{shop}/orders", 0) >= 3, 30,
                   "three cycles of the order poller")
        eq(routes(env, "mystore").get(statuses), 1, "status list reads before the change")
        eq(env.mystore.put("/_sim/order-status/9", {"name": READY["name"]})["id"], "9",
           "the shop's new status")
        oid = seed["orders"][0]["id"]
        env.mystore.post("/_sim/orders/%s/status" % oid, {"status_id": "9"})
        wait_until(lambda: any(e["entity_id"] == oid and (e["data"]["status"] or {}).get("id")
                               == "9" for e in order_events(env)), 30,
                   "order %s emitted in status 9" % oid)
        summary = stop(p)
        eq(summary["emitted"], 1, "orders emitted by the running poller")
        eq(routes(env, "mystore").get(statuses), 2, "status list reads: the first, and one more")
        ev = [e for e in order_events(env) if e["entity_id"] == oid][-1]
        eq(ev["data"]["status"]["attributes"]["name"], READY["name"], "the status in the snapshot")
        _, s, _ = env.apply_orders()
        eq((s["created"], s["waiting"]), (1, 0), "created and waiting after the move")
        eq([o["orderNumber"] for o in env.ongoing.orders() if o["orderNumber"] == oid], [oid],
           "the order in the warehouse")


def test_issue15_03_a_status_renamed_works_as_before():
    """The shop renames "Levert" (id 3) to "Sendt" while the order poller
    runs: that poller keeps the name it read (at most PO_STATUS_TTL_MS, or
    until a setting naming statuses changes), so an order moved into status 3
    meanwhile carries "Levert", which the default MYSTORE_STATUS_SENT still
    matches.  The merchant sets MYSTORE_STATUS_SENT=Sendt with the rename: a
    poller started with it reads the list at its first cycle, and a new order
    in status 3 is recognised as sent and never reaches the warehouse, as
    when the list was read every cycle."""
    seed, og = shop_and_warehouse(153)
    og["orders"] = []
    with env_for("status-renamed", seed, ongoing_seed=og) as env:
        a = seed["orders"][0]["id"]
        p = env.spawn(["poll", "mystore-orders"])
        wait_until(lambda: "ts" in (env.redis.get_json("cursor:mystore-orders") or {}), 30,
                   "the first scan")
        env.mystore.put("/_sim/order-status/3", {"name": {"no": "Sendt", "en": "Shipped"}})
        env.mystore.post("/_sim/orders/%s/status" % a, {"status_id": "3"})
        wait_until(lambda: any(e["entity_id"] == a and (e["data"]["status"] or {}).get("id")
                               == "3" for e in order_events(env)), 30, "order %s emitted" % a)
        stop(p)
        ev = [e for e in order_events(env) if e["entity_id"] == a][-1]
        eq(ev["data"]["status"]["attributes"]["name"]["no"], "Levert",
           "the running poller's name for status 3 (read before the rename)")

        env.env["MYSTORE_STATUS_SENT"] = "Sendt"
        b = "19001"
        order = dict(seed["orders"][1], id=b, status_id="3")
        order["attributes"] = {k: v for k, v in order["attributes"].items() if k != "updated_at"}
        env.mystore.put("/_sim/orders/%s" % b, order)
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "order %s emitted by the new poller" % b)
        ev = [e for e in order_events(env) if e["entity_id"] == b][-1]
        eq(ev["data"]["status"]["attributes"]["name"]["no"], "Sendt", "the renamed status")
        env.apply_orders()
        eq(env.redis.get_json("applied:orders:%s" % b)["state"], "skipped",
           "the record of the sent order %s" % b)
        check(b not in [o["orderNumber"] for o in env.ongoing.orders()],
              "the sent order %s is not in the warehouse" % b)


def _event(m):
    return json.loads(base64.b64decode(m["value_base64"]))


def test_issue15_04_an_order_shipped_mid_run_is_listed_by_the_one_list():
    """The shipments poller asks one list (orderStatusChangedTimeFrom): an
    order the warehouse ships while it runs is emitted, shipped, once."""
    seed, og = shop_and_warehouse(154)
    with env_for("shipped-one-list", seed, ongoing_seed=og) as env:
        env.run(["poll", "ongoing-shipments", "--once"])
        # The events already there, by id: `mosync tail` reads the partitions
        # in no fixed order, so a position in its output names nothing.
        before = {_event(m)["id"] for m in topic_messages(env, "ongoing.shipments")}
        env.ongoing.post("/_sim/reset-counters", {})
        p = env.spawn(["poll", "ongoing-shipments"])
        wait_until(lambda: routes(env, "ongoing").get("GET /api/v1/orders", 0) >= 2, 30,
                   "two cycles")
        oid = seed["orders"][1]["id"]
        env.ongoing.post("/_sim/orders/%s/ship" % oid,
                         {"tracking": [{"waybill": "70700000001", "trackingUrl": "https://t/1"}]})

        def shipped():
            return [m for m in topic_messages(env, "ongoing.shipments")
                    if _event(m)["id"] not in before and _event(m)["entity_id"] == oid]
        wait_until(shipped, 30, "order %s emitted after its shipping" % oid)
        summary = stop(p)
        eq(summary["emitted"], 1, "events of the running poller")
        ev = json.loads(base64.b64decode(shipped()[0]["value_base64"]))
        check(ev["data"]["orderInfo"]["shippedTime"], "the event carries shippedTime")
        eq(ev["data"]["orderInfo"]["orderStatus"]["number"], 450, "the event's status")
        eq(routes(env, "ongoing").get("GET /api/v1/orders"), summary["cycles"],
           "list requests: one per cycle")
