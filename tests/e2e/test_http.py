"""The HTTP client's retry rules end to end: the "levert" status history row
is a POST that creates a row and a customer notice, so it is never sent
blindly twice (issue 6 item 9)."""

from harness import check, env_for, eq
from seedgen import make_seed


def test_issue6_09_levert_posted_once_after_ambiguous_answer():
    seed = make_seed(orders=3, products=4, seed=41)
    oid = seed["orders"][0]["id"]
    with env_for("levert-once", seed) as env:
        env.poll_orders()
        env.apply_orders()
        env.ongoing.post("/_sim/orders/%s/ship" % oid, {"wayBill": "WB%s" % oid})
        _, poll, _ = env.run(["poll", "ongoing-shipments", "--once"])
        check(poll["emitted"] >= 1, "shipment emitted: %r" % poll)
        # Mystore stores the row (status 201, effect applied) but the answer
        # arrives malformed: did it work?  Only a read can tell.
        env.mystore.post("/_sim/fault", {"method": "POST",
                                         "path": "/shops/demo/order-status-history",
                                         "count": 1, "body": "malformed"})
        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq(s["dead_lettered"], 0, "dead letters")
        order = env.mystore.get("/_sim/orders/%s" % oid)
        eq(order["status_id"], "3", "order %s levert" % oid)
        eq(order["attributes"].get("tracking_number"), "WB%s" % oid, "tracking number")
        history = order.get("history") or []
        eq(len(history), 1, "history rows of order %s" % oid)
        eq(sum(1 for h in history if h.get("customer_notified") in (1, True)), 1,
           "customer notices of order %s" % oid)
