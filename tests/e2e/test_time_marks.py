"""Issue 15: the two times `make bench` splits an order's latency with.
`mosync tail` prints each message's Kafka timestamp (timestamp_ms: when the
poller produced it), and the Mystore simulator stamps an order with
listed_at_ms when a GET orders page first answers it after it was stored.
Both on the host's wall clock, so the benchmark can compare them with its own
times and the Ongoing simulator's at_ms."""

import time

from harness import check, env_for, eq, topic_messages
from seedgen import make_seed


def now_ms():
    return int(time.time() * 1000)


def test_issue15_tail_timestamps_and_listed_at_fall_inside_the_poll():
    seed = make_seed(orders=3, products=5, seed=155)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("time-marks", seed) as env:
        for oid in ids:
            check("listed_at_ms" not in env.mystore.get("/_sim/orders/%s" % oid),
                  "order %s has no listed_at_ms before any list" % oid)
        t0 = now_ms()
        env.poll_orders()
        t1 = now_ms()
        msgs = topic_messages(env, "mystore.orders")
        eq(sorted(m["key"] for m in msgs), sorted("t1:%s" % i for i in ids), "messages")
        for m in msgs:
            check(t0 <= m.get("timestamp_ms", -1) <= t1,
                  "%s: timestamp_ms %r within the poll [%d, %d]"
                  % (m["key"], m.get("timestamp_ms"), t0, t1))
        listed = {}
        for oid in ids:
            listed[oid] = env.mystore.get("/_sim/orders/%s" % oid).get("listed_at_ms")
            check(listed[oid] is not None and t0 <= listed[oid] <= t1,
                  "order %s: listed_at_ms %r within the poll [%d, %d]"
                  % (oid, listed[oid], t0, t1))

        # A second list does not move it; storing the order again clears it,
        # and the next list that answers it stamps it again.
        env.poll_orders()
        eq(env.mystore.get("/_sim/orders/%s" % ids[1]).get("listed_at_ms"), listed[ids[1]],
           "listed_at_ms after a second poll of an unchanged order")
        order = env.mystore.get("/_sim/orders/%s" % ids[0])
        order.pop("listed_at_ms")
        order["attributes"].pop("updated_at")
        env.mystore.put("/_sim/orders/%s" % ids[0], order)
        check("listed_at_ms" not in env.mystore.get("/_sim/orders/%s" % ids[0]),
              "storing the order again clears listed_at_ms")
        t2 = now_ms()
        env.poll_orders()
        again = env.mystore.get("/_sim/orders/%s" % ids[0]).get("listed_at_ms")
        check(again is not None and again >= t2,
              "listed_at_ms %r set again by the poll after %d" % (again, t2))
