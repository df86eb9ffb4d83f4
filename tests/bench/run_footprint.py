#!/usr/bin/env python3
"""Threads and memory of `mosync run` (issue 15: one Kafka producer shared by
all its flows, at most 24 MB).  Runs `mosync run` with every flow (stock on)
over a seeded shop on the simulators, the embedded broker and a private
Redis, with METRICS_PORT set and /readyz asked once (as a container health
check would); waits until every order is in the warehouse and shipped
orders are "levert" in the shop, then samples the process for a few seconds.
A measurement, not a test: it asserts nothing.

    python3 tests/bench/run_footprint.py [--orders N] [--products N]
                                         [--shipped N] [--mosync PATH]
                                         [--stock on|off]

Prints the thread count (ls /proc/<pid>/task), the threads by name
(librdkafka names its own: one rdk:main per Kafka handle, so producers plus
consumers), VmRSS and VmHWM.  --mosync measures another build (say, main's)
against the same harness and broker.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402
from harness import Env, free_port, wait_until  # noqa: E402
from seedgen import make_seed  # noqa: E402


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def threads(pid):
    names = collections.Counter()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names[f.read().strip()] += 1
        except OSError:
            pass  # a thread that ended meanwhile
    return names


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=15) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=40)
    ap.add_argument("--products", type=int, default=20)
    ap.add_argument("--shipped", type=int, default=10)
    ap.add_argument("--mosync", default=harness.MOSYNC, help="the binary to measure")
    ap.add_argument("--stock", default="on", choices=("on", "off"))
    ap.add_argument("--sample-s", type=float, default=5.0)
    a = ap.parse_args()

    seed = make_seed(orders=a.orders, products=a.products, seed=51)
    env = Env("run-footprint", seed)
    proc = None
    try:
        env.env["LOG_LEVEL"] = "warn"
        port = free_port()
        runenv = dict(env.env, STOCK_SYNC=a.stock, METRICS_PORT=str(port))
        log = open(os.path.join(env.workdir, "run.log"), "wb")
        proc = subprocess.Popen([a.mosync, "run"], env=runenv, stdout=subprocess.PIPE,
                                stderr=log)
        wait_until(lambda: http_get(port, "/healthz") == 200, 30, "/healthz")
        wait_until(lambda: len(env.ongoing.orders()) >= a.orders, 300,
                   "%d orders in the warehouse" % a.orders, 1)
        # The warehouse ships some; the deliveries flow marks them "levert".
        ids = [o["id"] for o in seed["orders"]][:a.shipped]
        for oid in ids:
            env.ongoing.post("/_sim/orders/%s/ship" % oid, {"wayBill": "WB%s" % oid})
        wait_until(lambda: all(env.mystore.get("/_sim/orders/%s" % oid)["status_id"] == "3"
                               for oid in ids), 120, "%d shipped orders levert" % len(ids), 1)
        ready = http_get(port, "/readyz")

        peak_threads, rss, names = 0, 0, collections.Counter()
        end = time.time() + a.sample_s
        while time.time() < end:
            n = threads(proc.pid)
            if sum(n.values()) > peak_threads:
                peak_threads, names = sum(n.values()), n
            rss = max(rss, status_kb(proc.pid, "VmRSS"))
            time.sleep(0.2)
        hwm = status_kb(proc.pid, "VmHWM")
        rdk_main = names.get("rdk:main", 0)
        out = {
            "binary": a.mosync,
            "stock_sync": a.stock,
            "orders": a.orders,
            "products": a.products,
            "readyz_status": ready,
            "shipped": a.shipped,
            "threads": peak_threads,
            "kafka_handles": rdk_main,
            "vm_rss_kb": rss,
            "vm_hwm_kb": hwm,
            "threads_by_name": dict(sorted(names.items())),
        }
        print(json.dumps(out, indent=1))
        print("mosync run: %d threads, %d Kafka handles (rdk:main), VmRSS %.1f MB, "
              "VmHWM %.1f MB" % (peak_threads, rdk_main, rss / 1024.0, hwm / 1024.0))
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        env.close()


if __name__ == "__main__":
    main()
