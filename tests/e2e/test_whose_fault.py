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
import datetime
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

from harness import (MOSYNC, TestFailure, check, dlq_messages, env_for, eq, free_port, wait_until)
from seedgen import make_seed


# ---------------------------------------------------------------- helpers

def log_text(p):
    with open(p._mosync_log.name, "rb") as f:
        return f.read().decode(errors="replace")


def stop(p):
    p.send_signal(signal.SIGTERM)
    eq(p.wait(30), 0, "exit status on SIGTERM")



def run_out(env, args, extra_env=None):
    """Runs mosync to its end; (exit status, stdout).  Exit 0 expected."""
    p = subprocess.run([MOSYNC] + args, env=dict(env.env, **(extra_env or {})),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
    with open(os.path.join(env.workdir, "%s-%d.log" % (args[0], len(env.logs))), "wb") as f:
        f.write(p.stderr)  # kept with the logs of a failed test
    eq(p.returncode, 0, "exit status of mosync %s" % " ".join(args))
    return p.returncode, p.stdout.decode()


def lag_total(env, flow):
    """The flow's lag as `mosync status` reads it from Kafka: the messages
    after the group's committed offsets."""
    _, st = env.status()[:2]
    lag = st["flows"][flow]["lag"]
    check(lag is not None, "lag of %s unknown: %s" % (flow, st["flows"][flow].get("lag_why")))
    return lag["total"]


def order_puts(env):
    return collections.Counter(w["body"]["orderNumber"] for w in env.ongoing.writes()
                               if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders"))


def dead_letter_keys(env):
    return [m["key"] for m in dlq_messages(env)]


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
    eq(dead_letter_keys(env), [], "dead letters")
    eq(lag_total(env, "orders"), 0, "lag once all is applied")


def test_issue12_10_orders_wait_while_redis_is_loading():
    """Redis restarted with data on disk answers -LOADING for longer than
    MAX_ATTEMPTS attempts take, while Ongoing answers: the applier waits
    (nothing dead-lettered, no offset moved, no write), and every order
    lands once when Redis has loaded."""
    seed = make_seed(orders=6, products=6, seed=1210)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("issue12-10-loading", seed) as env:
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 6, "orders emitted")
        restart_redis_loading(env)
        applier = env.spawn(["apply", "orders"], SHORT_ATTEMPTS)
        wait_until(lambda: met_max_attempts(applier), 60, "MAX_ATTEMPTS while Redis loads")
        check("LOADING" in log_text(applier), "the applier met LOADING")
        eq(applier.poll(), None, "the applier runs")
        eq(env.ongoing.writes(), [], "Ongoing writes while Redis loads")
        eq(lag_total(env, "orders"), 6, "lag while Redis loads (no offset moved)")
        eq(dead_letter_keys(env), [], "dead letters while Redis loads")
        finish_loading(env)
        check_all_applied_once(env, ids, applier)


# A message gets 5 s (AL_BUDGET_MIN_MS: max.poll.interval.ms leaves no more),
# so an attempt gives up on Redis within 5 s, and its first failure is
# already MAX_ATTEMPTS: the applier decides at once whether to dead-letter.
SHORT_ATTEMPTS = {"MAX_ATTEMPTS": "1", "KAFKA_PROP_session_timeout_ms": "6000",
                  "KAFKA_PROP_max_poll_interval_ms": "10000"}


def met_max_attempts(applier):
    """The applier has failed a message MAX_ATTEMPTS times (and waits, or
    dead-lettered it), or has exited."""
    text = log_text(applier)
    return "Redis is down: waiting" in text or "dead-lettered" in text or applier.poll() is not None


def test_issue12_10_orders_wait_while_redis_is_out_of_memory():
    """Redis at maxmemory under noeviction (the compose setting) refuses
    writes with -OOM for longer than MAX_ATTEMPTS attempts take, while
    Ongoing answers: the applier waits (nothing dead-lettered, no offset
    moved, no write to Ongoing), and every order lands once Redis has room."""
    seed = make_seed(orders=6, products=6, seed=1211)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("issue12-10-oom", seed) as env:
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 6, "orders emitted")
        env.redis.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
        env.redis.cmd("CONFIG", "SET", "maxmemory", "1")
        check("OOM" in (redis_error(env, "SET", "probe", "1") or ""), "Redis refuses writes")
        applier = env.spawn(["apply", "orders"], SHORT_ATTEMPTS)
        wait_until(lambda: met_max_attempts(applier), 60, "MAX_ATTEMPTS under OOM")
        check("OOM" in log_text(applier), "the applier met OOM")
        eq(applier.poll(), None, "the applier runs")
        eq(env.ongoing.writes(), [], "Ongoing writes while Redis is full")
        eq(lag_total(env, "orders"), 6, "lag while Redis is full (no offset moved)")
        eq(dead_letter_keys(env), [], "dead letters while Redis is full")
        env.redis.cmd("CONFIG", "SET", "maxmemory", "0")
        check_all_applied_once(env, ids, applier)


# ---------------------------------------------------------------- item 11

def http_get(port, path):
    """(status, body text) of GET http://127.0.0.1:port/path; (None, why) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def log_records(p):
    return [json.loads(l) for l in log_text(p).splitlines() if l.startswith("{")]


def check_refusal_logged_once_a_minute(p, refused):
    """The error lines about the refused credential: at least one, and at most
    one a minute by the process's own clock (its log times), while the API
    refused `refused` requests (more than that)."""
    lines = [r for r in log_records(p)
             if r["level"] == "error" and "refused the credential" in r["msg"]]
    check(lines, "no error line about the refused credential")
    first = lines[0]["ts"][:19]
    last = log_records(p)[-1]["ts"][:19]
    span = (datetime.datetime.fromisoformat(last) - datetime.datetime.fromisoformat(first)).seconds
    check(len(lines) <= 1 + span // 60, "%d error lines about the refusal in %d s" % (len(lines), span))
    check(refused > len(lines), "%d refused requests, %d error lines" % (refused, len(lines)))


def credential_line(text, api):
    return [l for l in text.splitlines() if l.startswith("%s refused the credential since" % api)]


def test_issue12_11_refused_ongoing_password_pauses_then_applies_all():
    """20 orders, and Ongoing refuses ONGOING_PASSWORD (401): nothing is
    dead-lettered, no offset moves, /readyz names Ongoing down, `mosync
    status` says since when and exits non-zero, one error line a minute.
    Once the warehouse accepts the password, the same applier applies all
    20 once by itself, and the refusal is gone from status and /readyz."""
    seed = make_seed(orders=20, products=10, seed=1220)
    ids = sorted(o["id"] for o in seed["orders"])
    wrong = "wrong-og-password-77x"
    with env_for("issue12-11-ongoing", seed) as env:
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 20, "orders emitted")
        port = free_port()
        applier = env.spawn(["apply", "orders"], {"ONGOING_PASSWORD": wrong,
                                                  "METRICS_PORT": str(port)})
        # Each partition's head met the refusal, and was tried again.
        wait_until(lambda: env.ongoing.stats()["requests"] >= 12 or applier.poll() is not None,
                   60, "Ongoing to refuse a dozen requests")
        eq(applier.poll(), None, "the applier runs")
        eq(dead_letter_keys(env), [], "dead letters")
        eq(env.ongoing.orders(), [], "orders in Ongoing")

        code, body = http_get(port, "/readyz")
        eq(code, 503, "/readyz while the password is refused: %s" % body)
        ongoing = json.loads(body)["checks"]["ongoing"]
        check(ongoing.startswith("down") and "401" in ongoing, "ongoing check: %r" % ongoing)

        rc, st = env.status()[:2]
        check(rc != 0, "status exit while Ongoing refuses the credential: %d" % rc)
        eq(st["flows"]["orders"]["lag"]["total"], 20, "lag (no offset moved)")
        refusal = st["credentials"]["ongoing"]
        check(refusal and refusal["refused_since"] and refusal["by"] == "apply.orders"
              and "401" in refusal["error"], "status credentials: %r" % st["credentials"])
        eq(st["credentials"]["mystore"], None, "Mystore is not refused")
        rc, text = env.status(human=True)[:2]
        check(rc != 0 and len(credential_line(text, "Ongoing")) == 1,
              "status says Ongoing refused the credential:\n%s" % text)
        check_refusal_logged_once_a_minute(applier, env.ongoing.stats()["requests"])

        # The warehouse accepts the password: the backlog applies by itself,
        # once, with no restart and no re-drive.
        env.ongoing.post("/_sim/credentials", {"password": wrong})
        wait_until(lambda: len(env.ongoing.orders()) == 20, 60, "every order in Ongoing")
        wait_until(lambda: http_get(port, "/readyz")[0] == 200, 30, "/readyz ready again")
        stop(applier)
        check("Ongoing accepts the credential again" in log_text(applier), "the end is logged")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ids, "orders in Ongoing")
        eq(order_puts(env), collections.Counter({i: 1 for i in ids}), "PUT /orders per order")
        eq(dead_letter_keys(env), [], "dead letters")
        rc, st = env.status()[:2]
        eq((rc, st["credentials"], st["flows"]["orders"]["lag"]["total"]),
           (0, {"mystore": None, "ongoing": None}, 0), "status once the password is accepted")
        check(wrong not in env.all_logs() + json.dumps(st) + text, "the password is shown")


def test_issue12_11_refused_mystore_token_pauses_deliveries_and_polls():
    """Mystore refuses the token (403 "Token has expired or is invalid"):
    a poller's cycle and the deliveries applier stop for it, status says so,
    nothing is dead-lettered; with the right token every order turns
    "levert" once and the refusal is gone."""
    seed = make_seed(orders=4, products=5, seed=1221)
    ids = sorted(o["id"] for o in seed["orders"])
    wrong = "refused-token-5x9q"
    key = "mosync:{t1}:refused:mystore"
    with env_for("issue12-11-mystore", seed, ongoing_seed=shipped_in_ongoing(seed)) as env:
        env.run(["poll", "ongoing-shipments", "--once"])

        # A poller records the refusal too, and an accepted cycle ends it.
        env.poll_orders(extra_env={"MYSTORE_TOKEN": wrong}, expect_rc=1)
        eq(env.redis.cmd("HGET", key, "by"), "poll.mystore-orders", "refused by")
        env.poll_orders()
        eq(env.redis.cmd("EXISTS", key), 0, "the refusal after an accepted poll")

        before = env.mystore.stats()["requests"]
        applier = env.spawn(["apply", "deliveries"], {"MYSTORE_TOKEN": wrong})
        wait_until(lambda: env.mystore.stats()["requests"] >= before + 4 or applier.poll() is not None,
                   60, "Mystore to refuse four requests")
        eq(applier.poll(), None, "the applier runs")
        eq(dead_letter_keys(env), [], "dead letters")
        rc, text = env.status(human=True)[:2]
        check(rc != 0 and len(credential_line(text, "Mystore")) == 1
              and "apply.deliveries" in credential_line(text, "Mystore")[0]
              and "403" in credential_line(text, "Mystore")[0],
              "status says Mystore refused the credential:\n%s" % text)
        check_refusal_logged_once_a_minute(applier, env.mystore.stats()["requests"] - before)
        stop(applier)
        check(all(env.mystore.get("/_sim/orders/%s" % oid)["status_id"] == "1" for oid in ids),
              "no order marked with a refused token")

        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq((s["delivered"], s["dead_lettered"]), (4, 0), "delivered, dead-lettered")
        for oid in ids:
            eq(env.mystore.get("/_sim/orders/%s" % oid)["status_id"], "3", "order %s levert" % oid)
        eq(dead_letter_keys(env), [], "dead letters")
        rc, st = env.status()[:2]
        eq((rc, st["credentials"]["mystore"], st["flows"]["deliveries"]["lag"]["total"]),
           (0, None, 0), "status once the token is accepted")
        check(wrong not in env.all_logs() + text, "the token is shown")


# ---------------------------------------------------------------- item 13

def levert_rows(env, oid):
    """The order's status-history rows with the "levert" status (id 3 in the seed)."""
    rows = env.mystore.api_all("orders/%s/order-status-history" % oid)
    return [r for r in rows
            if ((r.get("relationships") or {}).get("order-status") or {}).get("data", {}).get("id") == "3"]


def shipped_in_ongoing(seed):
    """An Ongoing seed holding the shop's orders, each shipped with a waybill
    (as the order flow, or the integration mosync replaces, put them there)."""
    orders = seed["orders"]
    skus = sorted({l["attributes"]["sku"] for o in orders for l in o["lines"]})
    return {"articles": [{"articleNumber": sku, "articleName": "Vare %s" % sku} for sku in skus],
            "orders": [{"orderNumber": o["id"], "referenceNumber": o["attributes"]["reference"],
                        "deliveryDate": "2026-11-27T10:00:00Z", "consignee": {"name": "Kunde"},
                        "orderLines": [{"rowNumber": str(n + 1), "articleNumber": l["attributes"]["sku"],
                                        "numberOfItems": 1} for n, l in enumerate(o["lines"])],
                        "status": 450, "wayBill": "WB%s" % o["id"]} for o in orders]}


def mystore_writes(env):
    return [w for w in env.mystore.writes() if w["method"] != "GET"]


def test_issue12_13_levert_never_twice_after_the_shop_moved_the_order_on():
    """Orders delivered ("levert"), then set to "Returnert" by the shop: a
    forced replay of the deliveries, and a FLUSHALL with a new poll and
    apply, find the "levert" row in each order's status history and write
    nothing; a dry run reports them as already sent."""
    seed = make_seed(orders=3, products=5, seed=1213)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("issue12-13-levert", seed, ongoing_seed=shipped_in_ongoing(seed)) as env:
        env.run(["poll", "ongoing-shipments", "--once"])
        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq(s["delivered"], 3, "delivered")
        for oid in ids:
            eq(len(levert_rows(env, oid)), 1, "levert rows of %s after the delivery" % oid)
            env.mystore.post("/_sim/orders/%s/status" % oid, {"status_id": "6"})  # Returnert
        writes = len(mystore_writes(env))

        _, out = run_out(env, ["replay", "deliveries", "--from-offset", "0", "--force"])
        flow = [json.loads(l) for l in out.splitlines() if l.startswith("{")][-2]
        eq((flow["delivered"], flow["already_sent"]), (0, 3), "forced replay: %r" % flow)
        eq(mystore_writes(env)[writes:], [], "Mystore writes of the forced replay")

        # Redis lost every record: a dry run, then the real run, read each
        # order's history.
        eq(env.redis.cmd("FLUSHALL"), "OK", "FLUSHALL")
        env.run(["poll", "ongoing-shipments", "--once"])
        _, out = run_out(env, ["apply", "deliveries", "--once", "--idle-ms", "2500"],
                         {"DRY_RUN": "on"})
        reports = collections.defaultdict(set)
        for l in out.splitlines():
            if l.startswith("{") and "dry_run" in l:
                r = json.loads(l)
                reports[r["entity"]].add(r["outcome"])
        eq(dict(reports), {oid: {"already_sent"} for oid in ids}, "dry-run outcomes")
        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq((s["delivered"], s["already_sent"], s["dead_lettered"]), (0, 3, 0),
           "after FLUSHALL: delivered, already sent, dead-lettered")
        for oid in ids:
            eq(len(levert_rows(env, oid)), 1, "levert rows of %s" % oid)
            eq(env.mystore.get("/_sim/orders/%s" % oid)["status_id"], "6", "%s stays Returnert" % oid)
        eq(mystore_writes(env)[writes:], [], "Mystore writes in all")
