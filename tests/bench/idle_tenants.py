#!/usr/bin/env python3
"""Benchmark of `mosync poll <stream> --all-tenants` with many idle registry
tenants (issue 13): writes N tenant records straight into Redis (the format
of tn_put, secrets sealed with AES-256-GCM as common/secretbox.c does), starts
one Mystore and one Ongoing simulator that answer for any shop and goods owner
(empty lists), and runs one `--all-tenants` process per stream (the four,
STOCK_SYNC=on) at the tenants' interval for a while.  Prints what it measured;
asserts nothing.

    python3 tests/bench/idle_tenants.py [--tenants N] [--seconds S] [--interval I]
                                        [--workers W]

Measured over the run after a warm-up of one interval (the first cycles of
every tenant, which read everything and write the first cursors):
  on time   the share of cycles started within a tenth of their interval of
            when they were due (the pollers' late_cycles against all started)
  CPU       utime + stime of the four pollers together from /proc/<pid>/stat,
            in cores (goal <= 1)
  RSS       the peak (VmHWM) of each poller
  requests  the simulators' API requests per tenant cycle, by stream
"""
import argparse
import base64
import json
import os
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import MOSYNC, OG_PASSWORD, OG_USER, TOKEN, Env, MystoreSim, OngoingSim  # noqa: E402
from seedgen import make_seed  # noqa: E402

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

KEY = bytes(range(32))
STREAMS = ("mystore-orders", "mystore-products", "ongoing-shipments", "ongoing-stock")


def seal(name, secrets):
    ctx = ("mosync:{%s}:tenant:secrets" % name).encode()
    nonce = os.urandom(12)
    ct = AESGCM(KEY).encrypt(nonce, json.dumps(secrets, sort_keys=True,
                                               separators=(",", ":")).encode(), ctx)
    return "v1:" + base64.b64encode(nonce + ct).decode()


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def write_registry(port, n, settings, secrets):
    """Pipelines the N records, the index and the generation."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    s = socket.create_connection(("127.0.0.1", port))
    buf, sent = b"", 0
    for i in range(n):
        name = "idle%05d" % i
        st = dict(settings, MYSTORE_SHOP="shop%05d" % i, ONGOING_GOODS_OWNER_ID=str(i + 1))
        rec = {"v": 1, "name": name, "state": "active", "state_at": now, "settings": st,
               "secrets": seal(name, secrets), "created_at": now, "updated_at": now, "rev": 1}
        buf += resp("SET", "mosync:{%s}:tenant" % name,
                    json.dumps(rec, sort_keys=True, separators=(",", ":")))
        buf += resp("SADD", "mosync:{*}:tenants", name)
        sent += 2
        if len(buf) > 1 << 20:
            s.sendall(buf)
            buf = b""
    buf += resp("INCR", "mosync:{*}:tenants:gen")
    sent += 1
    s.sendall(buf)
    got, data = 0, b""
    while got < sent:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
        got = data.count(b"\r\n")
    s.close()


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=240, help="measured time after the warm-up")
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()
    seed = make_seed(orders=0, products=1, seed=1)
    seed["products"] = []
    env = Env("bench-idle", seed)
    ms = og = None
    try:
        d = os.path.join(env.workdir, "any")
        os.makedirs(d)
        ms = MystoreSim(d, seed, extra=["--shop", "*"])
        og = OngoingSim(d, extra=["--goods-owner", "0"])
        settings = {"MYSTORE_API_URL": ms.base, "MYSTORE_RATE_LIMIT_PER_MIN": "1000000",
                    "ONGOING_API_URL": og.base + "/wh", "ONGOING_USER": OG_USER,
                    "POLL_INTERVAL_S": str(a.interval), "STOCK_SYNC": "on"}
        t0 = time.time()
        write_registry(env.redis.port, a.tenants, settings,
                       {"MYSTORE_TOKEN": TOKEN, "ONGOING_PASSWORD": OG_PASSWORD})
        print("registry: %d tenants written in %.1f s" % (a.tenants, time.time() - t0))
        penv = {k: v for k, v in env.env.items()
                if not k.startswith(("MYSTORE_", "ONGOING_", "POLL_INTERVAL", "MOSYNC_TENANT"))}
        penv.update({"MOSYNC_SECRET_KEY": base64.b64encode(KEY).decode(), "LOG_LEVEL": "warn",
                     "POLL_WORKERS": str(a.workers), "METRICS_TENANT_LABEL": "off"})
        env.env = penv
        procs = {st: env.spawn(["poll", st, "--all-tenants"]) for st in STREAMS}
        print("warm-up: %d s (every tenant's first cycle)" % a.interval)
        time.sleep(a.interval)
        for sim in (ms, og):
            sim.post("/_sim/reset-counters", {})
        c0 = {st: cpu_s(p.pid) for st, p in procs.items()}
        t0 = time.time()
        time.sleep(a.seconds)
        elapsed = time.time() - t0
        c1 = {st: cpu_s(p.pid) for st, p in procs.items()}
        rss = {st: hwm_mb(p.pid) for st, p in procs.items()}
        stats = {"mystore": ms.stats(), "ongoing": og.stats()}
        sums = {}
        for st, p in procs.items():
            p.send_signal(signal.SIGTERM)
            out, _ = p.communicate(timeout=120)
            for line in out.decode().splitlines()[::-1]:
                if line.startswith("{"):
                    sums[st] = json.loads(line)
                    break
        cores = sum(c1[s] - c0[s] for s in STREAMS) / elapsed
        print("tenants %d, interval %d s, %d workers per stream, measured %.0f s" % (
            a.tenants, a.interval, a.workers, elapsed))
        for st in STREAMS:
            s = sums.get(st, {})
            started = s.get("cycles", 0) + s.get("skipped_cycles", 0)
            late = s.get("late_cycles", 0)
            print("  %-18s cycles %7d (failed %d, skipped %d), late %d: %.2f %% on time "
                  "(whole run); CPU %.3f cores; peak RSS %.1f MB; %s requests" % (
                      st, s.get("cycles", 0), s.get("failed_cycles", 0),
                      s.get("skipped_cycles", 0), late,
                      100.0 * (started - late) / started if started else 0.0,
                      (c1[st] - c0[st]) / elapsed, rss[st], s.get("requests", 0)))
        print("  four pollers together: %.3f cores" % cores)
        for api, st in stats.items():
            print("  %s simulator over the measured time: %d requests, by route %s" % (
                api, st["requests"], json.dumps(st["by_route"], sort_keys=True)))
        per = a.tenants * elapsed / a.interval
        print("  expected cycles per stream over the measured time: %.0f" % per)
        print("  requests per tenant cycle, by route (lists, and what a cycle begins with):")
        for api, st in stats.items():
            for route, n in sorted(st["by_route"].items()):
                print("    %-8s %-40s %.3f" % (api, route, n / per))
    finally:
        for sim in (ms, og):
            if sim:
                sim.stop()
        env.close()


if __name__ == "__main__":
    main()
