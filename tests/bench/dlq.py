#!/usr/bin/env python3
"""Benchmark of the dead letters at scale (issue 12 item 14): fills
mosync.dlq with N letters of made-up orders (`mosync dlq dev-fill`, the
real headers, a 1 KB event each), then measures `mosync dlq list` and
`mosync status` (time and peak RSS), the rebuild of the appliers' index
from the topics, and what applying an order costs with those letters on the
topic against with none.  A benchmark, not a test: it asserts nothing.

    python3 tests/bench/dlq.py [--letters N] [--orders M] [--kafka mock|real]

The embedded broker (librdkafka's mock cluster) keeps at most 5 MB per
partition, so the topics get 48 partitions here (100,000 letters of about
1.6 KB need 32).  Apply cost is the consumer's busy time (first to last
message) divided by the orders, so the group join and the idle wait of
--once do not count.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import MOSYNC, ROOT, TENANT, Env  # noqa: E402
from seedgen import make_seed  # noqa: E402


def measured(env, args, name):
    """Runs mosync to completion: (seconds, peak RSS in MB, stdout, stderr, exit
    status).  The RSS comes from GNU time when there is one: a child's
    ru_maxrss on Linux starts from its parent's at the fork, and this script
    holds whole listings."""
    err_path = os.path.join(env.workdir, "bench-%s.log" % name)
    rss_path = os.path.join(env.workdir, "bench-%s.rss" % name)
    gnu_time = ["/usr/bin/time", "-f", "%M", "-o", rss_path] if os.path.exists("/usr/bin/time") else []
    out_path = os.path.join(env.workdir, "bench-%s.out" % name)
    with open(err_path, "wb") as err, open(out_path, "wb") as out:
        t0 = time.time()
        p = subprocess.run(gnu_time + [MOSYNC] + args, env=env.env, stdout=out, stderr=err)
        seconds = time.time() - t0
    rss = 0.0
    if gnu_time:
        with open(rss_path) as f:
            rss = int(f.read().split()[-1]) / 1024.0
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace")
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace")
    return seconds, rss, stdout, stderr, p.returncode


def touch_all(env, ids, address):
    """A change of every order in the shop: the next poll emits each again."""
    for oid in ids:
        o = env.mystore.get("/_sim/orders/%s" % oid)
        o["attributes"]["shipping_address_address"] = address
        o["attributes"].pop("updated_at", None)
        env.mystore.put("/_sim/orders/%s" % oid, o)


def apply_round(env, name):
    """Polls and applies: (busy ms per order, orders, peak RSS MB, stderr)."""
    env.run(["poll", "mystore-orders", "--once"])
    s, rss, out, err, rc = measured(env, ["apply", "orders", "--once", "--idle-ms", "1500"], name)
    summary = [l for l in out.splitlines() if l.startswith("{")]
    busy = json.loads(summary[-1]) if summary else {}
    n = max(busy.get("messages", 0), 1)
    return busy.get("busy_ms", 0) / n, busy.get("messages", 0), rss, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--letters", type=int, default=100000)
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--kafka", default=os.environ.get("MOSYNC_TEST_KAFKA", "mock"))
    a = ap.parse_args()
    os.environ["MOSYNC_TEST_KAFKA"] = a.kafka
    broker = None
    if a.kafka == "real" and "MOSYNC_TEST_BOOTSTRAP" not in os.environ:
        broker = tempfile.mkdtemp(prefix="mosync-bench-kafka-")
        out = subprocess.run([os.path.join(ROOT, "tests", "kafka", "start"), broker],
                             stdout=subprocess.PIPE, check=True).stdout.decode().split()
        os.environ["MOSYNC_TEST_BOOTSTRAP"] = out[-1].split("=", 1)[1]

    seed = make_seed(orders=a.orders, products=20, seed=43)
    ids = [o["id"] for o in seed["orders"]]
    env = Env("bench-dlq", seed, partitions=48)
    try:
        env.env["LOG_LEVEL"] = "info"
        print("kafka: %s, 48 partitions; %d orders per round; %d letters" % (
            env.kafka.kind, a.orders, a.letters))

        per, n, rss, _ = apply_round(env, "apply-none")
        print("apply orders, no letters:              %.2f ms per order (%d orders), %.0f MB"
              % (per, n, rss))

        s, _, out, err, rc = measured(env, ["dlq", "dev-fill", str(a.letters)], "fill")
        print("dlq dev-fill %d:                   %.1f s (exit %d)" % (a.letters, s, rc))
        s, rss, out, err, rc = measured(env, ["dlq", "list"], "list")
        lines = max(len(out.splitlines()) - 1, 0)
        print("mosync dlq list:                       %.1f s, %.0f MB, %d letters listed (exit %d)"
              % (s, rss, lines, rc))
        s, rss, out, err, rc = measured(env, ["dlq", "list", "--json"], "list-json")
        print("mosync dlq list --json:                %.1f s, %.0f MB, %d lines (exit %d)"
              % (s, rss, len(out.splitlines()), rc))
        s, rss, out, err, rc = measured(env, ["dlq", "list", "--entity", "bench-7"], "list-one")
        print("mosync dlq list --entity (one of them): %.1f s, %.0f MB (exit %d)" % (s, rss, rc))
        s, rss, out, err, rc = measured(env, ["status", "--json"], "status")
        print("mosync status --json:                  %.1f s, %.0f MB (exit %d)" % (s, rss, rc))

        # The appliers' index: its marker gone (as in a new Redis), the
        # next applier rebuilds it from the topics in the background.
        env.redis.cmd("DEL", "mosync:{%s}:dlq:index:v2" % TENANT)
        touch_all(env, ids, "Ny gate 1")
        per, n, rss, err = apply_round(env, "apply-rebuild")
        m = re.search(r"index rebuilt from Kafka: (\d+) open letter\(s\) of (\d+), in (\d+) ms", err)
        print("apply orders, index rebuilt meanwhile: %.2f ms per order (%d orders), %.0f MB"
              % (per, n, rss))
        if m:
            print("  index rebuild (background thread):   %d open letters of %d in %.1f s"
                  % (int(m.group(1)), int(m.group(2)), int(m.group(3)) / 1000.0))
        else:
            print("  index rebuild: not seen in the applier's log")

        touch_all(env, ids, "Ny gate 2")
        per, n, rss, _ = apply_round(env, "apply-letters")
        print("apply orders, %d letters of others:  %.2f ms per order (%d orders), %.0f MB"
              % (a.letters, per, n, rss))
    finally:
        env.close()
        if broker:
            subprocess.run([os.path.join(ROOT, "tests", "kafka", "stop"), broker])


if __name__ == "__main__":
    main()
