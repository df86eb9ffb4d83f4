#!/usr/bin/env python3
"""Benchmark of the order and article flows: seeds N orders (and a catalogue
of 300 products with 1,000 variants) in the Mystore simulator, runs each
poller and consumer with --once and prints what it measured.  A benchmark, not
a test: it asserts nothing.

    python3 tests/bench/orders.py [--orders N] [--kafka mock|real] [--include on|off]

--include off makes the Mystore simulator ignore include= (as a shop without
it would), so the poller reads each order's lines, options and totals by
their URLs (M11's fallback); on (the default) it answers compound documents.

--kafka real starts an Apache Kafka broker (tests/kafka/start) for the run.
Consumer rates use the consumer's own busy time (first to last message), so
the group join and the idle wait of --once do not count; "end to end" is the
wall time of both commands, everything included.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import ROOT, Env  # noqa: E402
from seedgen import make_seed  # noqa: E402
from test_flows import catalogue  # noqa: E402


def timed(env, args):
    t0 = time.time()
    _, summary, _ = env.run(args)
    return time.time() - t0, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--kafka", default=os.environ.get("MOSYNC_TEST_KAFKA", "mock"))
    ap.add_argument("--include", choices=("on", "off"), default="on")
    a = ap.parse_args()
    os.environ["MOSYNC_TEST_KAFKA"] = a.kafka
    broker = None
    if a.kafka == "real" and "MOSYNC_TEST_BOOTSTRAP" not in os.environ:
        broker = tempfile.mkdtemp(prefix="mosync-bench-kafka-")
        out = subprocess.run([os.path.join(ROOT, "tests", "kafka", "start"), broker],
                             stdout=subprocess.PIPE, check=True).stdout.decode().split()
        os.environ["MOSYNC_TEST_BOOTSTRAP"] = out[-1].split("=", 1)[1]

    seed = make_seed(orders=a.orders, products=60, seed=42)
    seed["products"], seed["product_options"], seed["product_option_values"] = catalogue()
    lines = sum(len(o["lines"]) for o in seed["orders"])
    env = Env("bench", seed)
    try:
        env.env["LOG_LEVEL"] = "warn"
        env.mystore.post("/_sim/include", {"enabled": a.include == "on"})
        n = a.orders
        print("kafka: %s; %d orders (%d lines, %.2f per order); 300 products, 1000 variants; "
              "include= %s" % (env.kafka.kind, n, lines, lines / n, a.include))

        tp, poll = timed(env, ["poll", "mystore-orders", "--once"])
        ta, apply = timed(env, ["apply", "orders", "--once", "--idle-ms", "1000"])
        busy = max(apply["busy_ms"], 1) / 1000.0
        print("poll mystore-orders: %.2f s, %.0f orders/s, %.2f Mystore requests per order "
              "(include=: %s, %d snapshots from it, %d fell back)" % (
                  tp, n / tp, poll["mystore_requests"] / n, poll.get("include"),
                  poll.get("include_snapshots", 0), poll.get("include_fallbacks", 0)))
        print("apply orders:        %.2f s busy, %.0f orders/s, %.2f Ongoing requests per order "
              "(%d articles created from order lines first)" % (
                  busy, n / busy, apply["ongoing_requests"] / n, apply["articles_created"]))
        print("orders end to end:   %.2f s wall for both commands, %.0f orders/s, "
              "%.2f API calls per order" % (
                  tp + ta, n / (tp + ta),
                  (poll["mystore_requests"] + apply["ongoing_requests"]) / n))

        tp, pp = timed(env, ["poll", "mystore-products", "--once"])
        ta, aa = timed(env, ["apply", "articles", "--once", "--idle-ms", "1000"])
        busy = max(aa["busy_ms"], 1) / 1000.0
        print("poll mystore-products: %.2f s, %.0f products/s, %.2f Mystore requests per product"
              % (tp, 300 / tp, pp["mystore_requests"] / 300))
        print("apply articles:        %.2f s busy, %.0f articles/s, %.2f Ongoing requests per "
              "article" % (busy, aa["written"] / busy, aa["ongoing_requests"] / max(aa["written"], 1)))
        print("for scale: the seed integration runs once every 15 minutes (900 s)")
    finally:
        env.close()
        if broker:
            subprocess.run([os.path.join(ROOT, "tests", "kafka", "stop"), broker])


if __name__ == "__main__":
    main()
