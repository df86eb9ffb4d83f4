"""Issue 12, items 10, 11 and 13: whose fault is a failure?  (ARCHITECTURE.md)

- The service's (Redis LOADING after a restart with data on disk, Redis OOM
  under maxmemory with noeviction): the flow pauses and retries, nothing is
  dead-lettered, no offset moves past an order not applied.
- The tenant's (a credential the API refuses): the flow stops for the
  tenant, /readyz and `mosync status` say so, nothing is dead-lettered, and
  fixing the credential is all it takes.
- "levert" is never set twice, also when the shop has moved the order on
  since (its status history says it was delivered).

Real processes, a real redis-server, Kafka, the simulators over HTTP."""

import collections
import json
import os
import signal
import subprocess

from harness import (MOSYNC, TENANT, TestFailure, check, dlq_messages, eq, env_for, wait_until)
from seedgen import make_seed


# ---------------------------------------------------------------- helpers

def log_text(p):
    with open(p._mosync_log.name, "rb") as f:
        return f.read().decode(errors="replace")


def stop(p):
    p.send_signal(signal.SIGTERM)
    eq(p.wait(30), 0, "exit status on SIGTERM")


def status(env, extra_env=None, human=False):
    """`mosync status` (--json unless human): (exit status, parsed JSON or text)."""
    args = [MOSYNC, "status"] + ([] if human else ["--json"])
    p = subprocess.run(args, env=dict(env.env, **(extra_env or {})), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode()
    with open(os.path.join(env.workdir, "status-%d.out" % len(env.logs)), "w") as f:
        f.write(out + p.stderr.decode())  # kept with the logs of a failed test
    return p.returncode, (out if human else json.loads(out))


def lag_total(env, flow):
    """The flow's lag as `mosync status` reads it from Kafka: the messages
    after the group's committed offsets."""
    _, st = status(env)
    lag = st["flows"][flow]["lag"]
    check(lag is not None, "lag of %s unknown: %s" % (flow, st["flows"][flow].get("lag_why")))
    return lag["total"]


def order_puts(env):
    return collections.Counter(w["body"]["orderNumber"] for w in env.ongoing.writes()
                               if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders"))


def redis_error(env, *args):
    """The error reply of a command, or None when it answered normally."""
    try:
        env.redis.cmd(*args)
        return None
    except TestFailure as e:
        return str(e)


# ---------------------------------------------------------------- item 10

def restart_redis_loading(env, filler_keys=200000):
    """Restarts the test's Redis on its own directory (AOF) with a data set
    that it loads slowly: filler keys in the AOF's RDB base, loaded with
    key-load-delay (a debug setting of Redis 7: microseconds per key; events
    served every KiB, so clients get -LOADING instead of hanging).  Loading
    lasts over 20 s unless finish_loading() ends it; returns once Redis
    answers -LOADING."""
    env.redis.cmd("EVAL", "for i = 1, %d do redis.call('SET', 'filler:' .. i, 'x') end "
                  "return 1" % filler_keys, 0)
    env.redis.cmd("BGREWRITEAOF")

    def rewritten():
        info = env.redis.cmd("INFO", "persistence")
        return ("aof_rewrite_in_progress:0" in info and "aof_rewrite_scheduled:0" in info
                and "aof_last_bgrewrite_status:ok" in info)
    wait_until(rewritten, 60, "the AOF rewrite")
    r = env.redis
    r.stop()
    r.proc = subprocess.Popen(
        ["redis-server", "--port", str(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
         "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
         "--logfile", os.path.join(r.dir, "redis.log"), "--key-load-delay", "100",
         "--loading-process-events-interval-bytes", "1024"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def loading():
        try:
            return "LOADING" in (redis_error(env, "PING") or "")
        except OSError:
            return False
    wait_until(loading, 20, "Redis to answer LOADING")


def finish_loading(env):
    env.redis.cmd("CONFIG", "SET", "key-load-delay", "0")  # allowed while loading
    wait_until(env.redis.ping, 60, "Redis to finish loading")
    eq(env.redis.cmd("GET", "filler:1"), "x", "the data on disk was loaded")


def check_all_applied_once(env, ids, applier):
    wait_until(lambda: len(env.ongoing.orders()) == len(ids), 90, "every order in Ongoing")
    stop(applier)
    eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ids, "orders in Ongoing")
    eq(order_puts(env), collections.Counter({i: 1 for i in ids}), "PUT /orders per order")
    eq(dlq_messages(env), [], "dead letters")
    eq(lag_total(env, "orders"), 0, "lag once all is applied")


def test_issue12_10_orders_wait_while_redis_is_loading():
    """Redis restarted with data on disk answers -LOADING for a while: the
    applier waits (nothing dead-lettered, no offset moved, no write), and
    every order lands once when Redis has loaded."""
    seed = make_seed(orders=6, products=6, seed=1210)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("issue12-10-loading", seed) as env:
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 6, "orders emitted")
        restart_redis_loading(env)
        applier = env.spawn(["apply", "orders"])
        wait_until(lambda: "LOADING" in log_text(applier) or applier.poll() is not None, 60,
                   "the applier to meet LOADING")
        eq(applier.poll(), None, "the applier runs")
        eq(env.ongoing.writes(), [], "Ongoing writes while Redis loads")
        eq(lag_total(env, "orders"), 6, "lag while Redis loads (no offset moved)")
        eq(dlq_messages(env), [], "dead letters while Redis loads")
        finish_loading(env)
        check_all_applied_once(env, ids, applier)


def test_issue12_10_orders_wait_while_redis_is_out_of_memory():
    """Redis at maxmemory under noeviction (the compose setting) refuses
    writes with -OOM: the applier waits (nothing dead-lettered, no offset
    moved, no write to Ongoing), and every order lands once Redis has room."""
    seed = make_seed(orders=6, products=6, seed=1211)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("issue12-10-oom", seed) as env:
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 6, "orders emitted")
        env.redis.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
        env.redis.cmd("CONFIG", "SET", "maxmemory", "1")
        check("OOM" in (redis_error(env, "SET", "probe", "1") or ""), "Redis refuses writes")
        applier = env.spawn(["apply", "orders"])
        wait_until(lambda: "OOM" in log_text(applier) or applier.poll() is not None, 60,
                   "the applier to meet OOM")
        eq(applier.poll(), None, "the applier runs")
        eq(env.ongoing.writes(), [], "Ongoing writes while Redis is full")
        eq(lag_total(env, "orders"), 6, "lag while Redis is full (no offset moved)")
        eq(dlq_messages(env), [], "dead letters while Redis is full")
        env.redis.cmd("CONFIG", "SET", "maxmemory", "0")
        check_all_applied_once(env, ids, applier)
