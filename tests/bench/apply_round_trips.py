#!/usr/bin/env python3
"""What `mosync apply orders` spends per order, for profiling (issue 15): a
seeded shop's N orders polled once, then `apply orders --once` over them
with Redis's INFO commandstats read before and after.  Prints the applier's
busy time, orders/s, Redis commands per order (the round trips: commands a
script runs inside it are listed apart, they cost no round trip) and the
Ongoing requests per order.  A measurement, not a test: it asserts nothing.

    python3 tests/bench/apply_round_trips.py [--orders N] [--perf]

--perf records the applier with `perf record -g` into build/apply.perf.data
(perf report -i build/apply.perf.data) to see where its CPU time goes.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import BUILD, MOSYNC, Env  # noqa: E402
from seedgen import make_seed  # noqa: E402
from test_flows import catalogue  # noqa: E402

# Commands mosync runs only inside its Lua scripts (counted by Redis, but
# no round trip of their own).
IN_SCRIPTS = {"hincrby", "expire", "lpush", "ltrim", "del", "exists", "hget", "pexpire",
              "zadd", "zcard", "zremrangebyscore", "incr", "zrange", "time"}


def commandstats(env):
    out = {}
    for line in env.redis.cmd("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line.split(":", 1)
            out[name[8:]] = int(rest.split("calls=")[1].split(",")[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--perf", action="store_true")
    a = ap.parse_args()
    seed = make_seed(orders=a.orders, products=60, seed=42)
    seed["products"], seed["product_options"], seed["product_option_values"] = catalogue()
    env = Env("apply-round-trips", seed)
    try:
        env.env["LOG_LEVEL"] = "warn"
        env.run(["poll", "mystore-orders", "--once"])
        before = commandstats(env)
        cmd = [MOSYNC, "apply", "orders", "--once", "--idle-ms", "1000"]
        if a.perf:
            cmd = ["perf", "record", "-g", "-o", os.path.join(BUILD, "apply.perf.data"), "--"] + cmd
        t0 = time.time()
        p = subprocess.run(cmd, env=dict(os.environ, **env.env), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, check=True)
        wall = time.time() - t0
        summary = [json.loads(l) for l in p.stdout.decode().splitlines() if l.startswith("{")][-1]
        after = commandstats(env)
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
        n = summary["messages"]
        trips = sum(v for k, v in delta.items() if k not in IN_SCRIPTS and k != "info")
        busy = max(summary["busy_ms"], 1) / 1000.0
        print("apply orders: %d orders, %.2f s busy (%.2f s wall), %.0f orders/s" % (
            n, busy, wall, n / busy))
        print("Redis round trips per order: %.2f (%s)" % (trips / n, ", ".join(
            "%s %.2f" % (k, v / n) for k, v in sorted(delta.items()) if k not in IN_SCRIPTS
            and k != "info")))
        print("inside scripts per order: %s" % ", ".join(
            "%s %.2f" % (k, v / n) for k, v in sorted(delta.items()) if k in IN_SCRIPTS))
        print("Ongoing requests per order: %.2f (%d articles created from order lines first)" % (
            summary["ongoing_requests"] / n, summary["articles_created"]))
        print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    finally:
        env.close()


if __name__ == "__main__":
    main()
