#!/usr/bin/env python3
"""Benchmark of the order flow on the embedded broker (or a real one with
MOSYNC_TEST_KAFKA=real and MOSYNC_TEST_BOOTSTRAP): seeds N orders in the
Mystore simulator, runs `poll mystore-orders --once` and `apply orders --once`
and prints what it measured.  A benchmark, not a test: it asserts nothing.

    python3 tests/bench/orders.py [--orders N]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import Env  # noqa: E402
from seedgen import make_seed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    a = ap.parse_args()
    seed = make_seed(orders=a.orders, products=60, seed=42)
    lines = sum(len(o["lines"]) for o in seed["orders"])
    env = Env("bench", seed)
    try:
        env.env["LOG_LEVEL"] = "warn"
        t0 = time.time()
        _, poll, _ = env.poll_orders()
        t1 = time.time()
        _, apply, _ = env.apply_orders(extra=["--idle-ms", "1000"])
        t2 = time.time()
        idle = 1.0  # apply --once waits this long on an idle topic before it exits
        n = a.orders
        print("orders: %d (%d lines, %.2f lines per order), kafka: %s" % (
            n, lines, lines / n, env.kafka.kind))
        print("poll mystore-orders: %.2f s, %.0f orders/s, %d Mystore requests, %.2f per order" % (
            t1 - t0, n / (t1 - t0), poll["mystore_requests"], poll["mystore_requests"] / n))
        print("apply orders:        %.2f s (incl. %.1f s idle wait and the group join), "
              "%.0f orders/s, %d Ongoing requests, %.2f per order (%d articles created)" % (
                  t2 - t1, idle, n / max(t2 - t1 - idle, 0.001), apply["ongoing_requests"],
                  apply["ongoing_requests"] / n, apply["articles_created"]))
        print("flow end to end:     %.2f s, %.0f orders/s, %.2f API calls per order" % (
            t2 - t0 - idle, n / (t2 - t0 - idle),
            (poll["mystore_requests"] + apply["ongoing_requests"]) / n))
        print("the seed integration: one run every 15 minutes (900 s) at best")
    finally:
        env.close()


if __name__ == "__main__":
    main()
