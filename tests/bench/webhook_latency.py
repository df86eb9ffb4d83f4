#!/usr/bin/env python3
"""Benchmark of the webhook path: from an order created in the Mystore
simulator to the Ongoing simulator receiving its PUT /orders, with webhooks
on and a poll interval of 600 s (so every order rides on its webhook's
trigger).  Orders are created one at a time, spaced; the time of creation is
taken just before the simulator is asked, the time of arrival is the Ongoing
simulator's own (at_ms of its write log), both on this host's wall clock.
A benchmark, not a test: it measures and prints, and asserts nothing.

    python3 tests/bench/webhook_latency.py [--orders 200] [--every-ms 200] [--kafka mock|real]

The path measured: the simulator's webhook (its own thread) -> mosync
webhooks (HMAC check, a trigger in Redis) -> the poller's BLPOP wakes -> a
poll cycle (list, snapshot: ~4 Mystore requests) -> Kafka -> apply orders
-> PUT /orders.  The Mystore budget is not the limit here
(MYSTORE_RATE_LIMIT_PER_MIN is unlimited in the harness): in production 120
requests a minute allow about 30 orders a minute.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import ROOT, TENANT, Env, free_port, wait_until  # noqa: E402
from seedgen import make_seed  # noqa: E402

SECRET = "bench-webhook-secret-0c1d"


def metric_total(port, name, **labels):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def serve(env, args, extra):
    port = free_port()
    proc = env.spawn(args, dict(extra, METRICS_PORT=str(port)))

    def up():
        if proc.poll() is not None:
            raise SystemExit("mosync %s exited %s" % (" ".join(args), proc.returncode))
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=2):
                return True
        except OSError:
            return False
    wait_until(up, 30, "/healthz of mosync %s" % " ".join(args))
    return port


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--every-ms", type=int, default=200)
    ap.add_argument("--kafka", default=os.environ.get("MOSYNC_TEST_KAFKA", "mock"))
    a = ap.parse_args()
    os.environ["MOSYNC_TEST_KAFKA"] = a.kafka
    broker = None
    if a.kafka == "real" and "MOSYNC_TEST_BOOTSTRAP" not in os.environ:
        broker = tempfile.mkdtemp(prefix="mosync-bench-kafka-")
        out = subprocess.run([os.path.join(ROOT, "tests", "kafka", "start"), broker],
                             stdout=subprocess.PIPE, check=True).stdout.decode().split()
        os.environ["MOSYNC_TEST_BOOTSTRAP"] = out[-1].split("=", 1)[1]

    warm = 20
    seed = make_seed(orders=warm + a.orders, products=40, seed=71)
    new = seed["orders"][warm:]
    seed["orders"] = seed["orders"][:warm]
    env = Env("bench-webhooks", seed)
    try:
        env.env["LOG_LEVEL"] = "warn"
        env.env["POLL_INTERVAL_S"] = "600"
        wport = serve(env, ["webhooks"], {"MYSTORE_WEBHOOK_SECRET": SECRET})
        env.mystore.post("/_sim/webhooks", {
            "url": "http://127.0.0.1:%d/webhooks/mystore/%s" % (wport, TENANT), "secret": SECRET})
        pport = serve(env, ["poll", "mystore-orders"], {})
        env.spawn(["apply", "orders"])
        wait_until(lambda: len(env.ongoing.orders()) == warm, 120, "the warm-up orders applied")
        cycles0 = metric_total(pport, "mosync_poll_cycles_total")
        requests0 = env.mystore.stats()["requests"]
        print("kafka: %s; %d orders created one every %d ms, webhooks on, POLL_INTERVAL_S=600" % (
            env.kafka.kind, a.orders, a.every_ms))

        created = {}
        start = time.time()
        for i, order in enumerate(new):
            order = json.loads(json.dumps(order))
            order.get("attributes", {}).pop("updated_at", None)
            due = start + i * a.every_ms / 1000.0
            if due > time.time():
                time.sleep(due - time.time())
            created[order["id"]] = time.time() * 1000.0
            env.mystore.put("/_sim/orders/%s" % order["id"], order)

        arrived = {}

        def all_arrived():
            for w in env.ongoing.writes():
                if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders"):
                    number = str((w.get("body") or {}).get("orderNumber"))
                    if number in created and number not in arrived:
                        arrived[number] = w["at_ms"]
            return len(arrived) == len(created)
        wait_until(all_arrived, 300, "every order's PUT /orders")
        lat = [(arrived[k] - created[k]) / 1000.0 for k in created]
        cycles = metric_total(pport, "mosync_poll_cycles_total") - cycles0
        requests = env.mystore.stats()["requests"] - requests0
        print("creation -> PUT /orders in Ongoing: p50 %.3f s, p90 %.3f s, p99 %.3f s, max %.3f s "
              "(min %.3f s)" % (pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat), min(lat)))
        print("poll cycles: %d for %d orders (webhooks coalesce while a cycle runs); "
              "%.2f Mystore requests per order" % (cycles, a.orders, requests / a.orders))
        print("goal: p50 < 1 s, p99 < 3 s on loopback")
    finally:
        env.close()
        if broker:
            subprocess.run([os.path.join(ROOT, "tests", "kafka", "stop"), broker])


if __name__ == "__main__":
    main()
