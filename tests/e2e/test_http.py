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


def test_issue6_16_poller_waits_out_a_long_retry_after():
    """A Retry-After beyond what one call may sleep (120 s) gives up the call;
    the poller then waits it out before its next cycle instead of asking again
    every POLL_INTERVAL_S (1 s here)."""
    import time
    seed = make_seed(orders=2, products=3, seed=42)
    with env_for("retry-after-poller", seed) as env:
        env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/order",
                                         "count": 1, "status": 429, "retry_after": 300})
        p = env.spawn(["poll", "mystore-orders"])
        from harness import wait_until
        wait_until(lambda: env.mystore.stats()["faults_served"] == 1, 30, "the 429 answered")
        wait_until(lambda: "asked to wait" in env.all_logs(), 30, "the wait logged")
        before = env.mystore.stats()["requests"]
        time.sleep(5)  # five poll intervals: each would have asked again
        eq(env.mystore.stats()["requests"], before, "requests while waiting out Retry-After")
        eq(p.poll(), None, "poller still running")
