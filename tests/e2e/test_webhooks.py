"""Webhooks (`mosync webhooks`): a webhook of Mystore or Ongoing triggers an
immediate cycle of the matching poller, whose interval is long (600 s), so
any cycle past the first is the webhook's doing; a refused webhook triggers
nothing.  Cycles are counted on the pollers' own /metrics
(mosync_poll_cycles_total), list requests on the Mystore simulator."""

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import time

from harness import TENANT, check, env_for, eq, free_port, topic_messages, wait_until
from seedgen import make_seed
from test_metrics import family, http_get, scrape, serve

SECRET = "mwh-secret-4b7e91c2"
TOKEN = "owh-token-9d3f27a1"
LONG = {"POLL_INTERVAL_S": "600"}


# ---------------------------------------------------------------- helpers

def sign(body, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def start_webhooks(env, extra=None):
    """`mosync webhooks` with both secrets (or extra's); returns (proc, port)."""
    env_ = {"MYSTORE_WEBHOOK_SECRET": SECRET, "ONGOING_WEBHOOK_TOKEN": TOKEN}
    env_.update(extra or {})
    return serve(env, ["webhooks"], env_)


def send(port, method, path, body=None, headers=None, chunked=False):
    """One raw HTTP/1.1 request; returns the answer's status (None: no answer).
    chunked sends the body without a Content-Length."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    with s:
        head = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % (method, path)
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        if body is not None and not chunked:
            head += "Content-Length: %d\r\n" % len(body)
        if chunked:
            head += "Transfer-Encoding: chunked\r\n"
        s.sendall((head + "\r\n").encode())
        try:
            if body is not None and chunked:
                for i in range(0, len(body), 65536):
                    part = body[i:i + 65536]
                    s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
                s.sendall(b"0\r\n\r\n")
            elif body is not None:
                s.sendall(body)
        except OSError:
            pass  # answered and closed before the body was read: read the answer
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 else None


def claim(port, path, length, headers):
    """Sends only the headers of a request that announces length bytes, and
    reads the answer: a receiver must refuse it without the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    with s:
        head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % (path, length)
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        s.sendall((head + "\r\n").encode())
        data = s.recv(4096)
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 else None


def cycles(port, stream):
    """Poll cycles a poller finished (any result), from its /metrics."""
    return family(scrape(port), "mosync_poll_cycles_total").total(stream=stream)


def webhooks_count(port, source, result):
    return family(scrape(port), "mosync_webhooks_total").value(
        result=result, source=source, tenant=TENANT) or 0


def new_order(order):
    """A seed order to create now: without its seeded updated_at, so the
    simulator stamps the present (the poller's window is around now)."""
    order = json.loads(json.dumps(order))
    order.get("attributes", {}).pop("updated_at", None)
    return order


def in_ongoing(env, oid):
    return any(str(o.get("orderNumber")) == str(oid) for o in env.ongoing.orders())


def mystore_lists(env):
    return env.mystore.stats()["by_route"].get("GET /shops/{shop}/orders", 0)


def events_of(env, topic, entity):
    return [m for m in topic_messages(env, topic) if m["event"]["entity_id"] == str(entity)]


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- tests

def test_webhook_order_lands_without_waiting_for_the_interval():
    """An order created in the shop reaches Ongoing through the webhook's
    trigger (POLL_INTERVAL_S=600: no cycle would run otherwise), and an order
    created while a triggered cycle runs (its list already answered) gets one
    more cycle after it."""
    seed = make_seed(orders=5, products=6, seed=41)
    extra = [seed["orders"].pop(), seed["orders"].pop()]
    with env_for("wh-order", seed) as env:
        _, wport = start_webhooks(env)
        env.mystore.post("/_sim/webhooks", {
            "url": "http://127.0.0.1:%d/webhooks/mystore/%s" % (wport, TENANT), "secret": SECRET})
        _, pport = serve(env, ["poll", "mystore-orders"], LONG)
        env.spawn(["apply", "orders"])
        wait_until(lambda: cycles(pport, "mystore-orders") >= 1, 60, "the first cycle")
        wait_until(lambda: len(env.ongoing.orders()) == 3, 90, "the seeded orders in Ongoing")
        eq(cycles(pport, "mystore-orders"), 1, "cycles before any webhook")

        a = extra[0]
        env.mystore.put("/_sim/orders/%s" % a["id"], new_order(a))
        wait_until(lambda: in_ongoing(env, a["id"]), 60, "order %s in Ongoing" % a["id"])
        eq(cycles(pport, "mystore-orders"), 2, "cycles: the first and the webhook's")
        eq(webhooks_count(wport, "mystore", "triggered"), 1, "webhooks that triggered")

        # A trigger during a cycle: the next list answer waits 4 s; an order
        # changed triggers that cycle, and order b is created once its list
        # was answered (the fault is used), while the cycle still runs.
        env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/orders",
                                         "count": 1, "delay_ms": 4000})
        first = seed["orders"][0]
        changed = new_order(first)
        changed["attributes"]["shipping_address_city"] = "Tromsø"
        env.mystore.put("/_sim/orders/%s" % first["id"], changed)
        wait_until(lambda: not env.mystore.get("/_sim/fault"), 30, "the delayed list asked")
        b = extra[1]
        env.mystore.put("/_sim/orders/%s" % b["id"], new_order(b))
        check(cycles(pport, "mystore-orders") == 2, "order b was created while cycle 3 ran")
        wait_until(lambda: in_ongoing(env, b["id"]), 60, "order %s in Ongoing" % b["id"])
        wait_until(lambda: cycles(pport, "mystore-orders") >= 4, 30, "a 4th cycle")
        time.sleep(2)
        eq(cycles(pport, "mystore-orders"), 4,
           "cycles: the triggered one, and one more for the trigger that came during it")
        eq(webhooks_count(wport, "mystore", "triggered"), 3, "webhooks that triggered")


def test_refused_webhooks_trigger_nothing():
    """Each webhook mosync must refuse gets its status and triggers no
    cycle: a bad signature, the signature of another body, another secret's,
    none, an unknown tenant, GET, a body over 1 MiB (announced, or chunked),
    a wrong or missing Ongoing token, an unknown source; a topic that
    triggers nothing is answered 200 and triggers nothing.  Each kind is
    logged once (rate-limited), never with the secret or the body; the
    right signature of the same body then triggers a cycle at once."""
    seed = make_seed(orders=3, products=5, seed=43)
    extra = seed["orders"].pop()
    with env_for("wh-refused", seed) as env:
        _, wport = start_webhooks(env)
        _, pport = serve(env, ["poll", "mystore-orders"], LONG)
        _, sport = serve(env, ["poll", "ongoing-shipments"], LONG)
        wait_until(lambda: cycles(pport, "mystore-orders") >= 1, 60, "the orders' first cycle")
        wait_until(lambda: cycles(sport, "ongoing-shipments") >= 1, 60, "shipments' first cycle")
        # The simulator sends no webhooks here: the test sends them.
        env.mystore.put("/_sim/orders/%s" % extra["id"], new_order(extra))
        lists = mystore_lists(env)
        marker = "BODYMARKER-%s" % extra["id"]
        body = json.dumps({"data": {"type": "orders", "id": extra["id"]}, "m": marker}).encode()
        other = json.dumps({"data": {"type": "orders", "id": "99999"}}).encode()
        ms_path = "/webhooks/mystore/%s" % TENANT
        og_path = "/webhooks/ongoing/%s" % TENANT
        topic = {"X-No-Mystore-Topic": "orders/create", "X-No-Mystore-Host": "demo"}
        good = dict(topic, **{"X-No-Mystore-Hmac-Sha256": sign(body)})
        big = b"{" + b" " * (1024 * 1024) + b"}"
        cases = [
            ("a bad signature", "POST", ms_path, body,
             dict(topic, **{"X-No-Mystore-Hmac-Sha256": base64.b64encode(os.urandom(32)).decode()}),
             401),
            ("the signature of another body", "POST", ms_path, body,
             dict(topic, **{"X-No-Mystore-Hmac-Sha256": sign(other)}), 401),
            ("signed with another secret", "POST", ms_path, body,
             dict(topic, **{"X-No-Mystore-Hmac-Sha256": sign(body, "another-secret-77")}), 401),
            ("no signature", "POST", ms_path, body, topic, 401),
            ("an unknown tenant", "POST", "/webhooks/mystore/other-shop", body, good, 404),
            ("GET", "GET", ms_path, None, {}, 405),
            ("a chunked body over 1 MiB", "POST", ms_path, big,
             dict(topic, **{"X-No-Mystore-Hmac-Sha256": sign(big)}), 413),
            ("a topic that triggers nothing", "POST", ms_path, body,
             {"X-No-Mystore-Topic": "customers/create",
              "X-No-Mystore-Hmac-Sha256": sign(body)}, 200),
            ("a wrong Ongoing token", "POST", og_path, b"{}", {"X-Auth-Token": TOKEN + "x"}, 401),
            ("no Ongoing token", "POST", og_path, b"{}", {}, 401),
            ("Ongoing, an unknown tenant", "POST", "/webhooks/ongoing/zz", b"{}",
             {"X-Auth-Token": TOKEN}, 404),
            ("an unknown source", "POST", "/webhooks/shopify/%s" % TENANT, body, good, 404),
        ]
        for what, method, path, b, headers, want in cases:
            eq(send(wport, method, path, b, headers, chunked=(b is big)), want, what)
        eq(claim(wport, ms_path, 2 * 1024 * 1024, good), 413, "2 MiB announced, not sent")
        # A trigger runs its cycle within about a second; wait well past that.
        time.sleep(6)
        eq(cycles(pport, "mystore-orders"), 1, "order cycles after refused webhooks")
        eq(cycles(sport, "ongoing-shipments"), 1, "shipment cycles after refused webhooks")
        eq(mystore_lists(env), lists, "order lists asked of Mystore")
        for stream in ("mystore-orders", "ongoing-shipments", "mystore-products"):
            eq(env.redis.cmd("EXISTS", "mosync:{%s}:trigger:%s" % (TENANT, stream)), 0,
               "a trigger of %s" % stream)
        eq(len(events_of(env, "mystore.orders", extra["id"])), 0, "events of the new order")

        want = {("mystore", "unauthorized"): 4, ("mystore", "unknown_tenant"): 1,
                ("mystore", "method_not_allowed"): 1, ("mystore", "too_large"): 2,
                ("mystore", "ignored"): 1, ("ongoing", "unauthorized"): 2,
                ("ongoing", "unknown_tenant"): 1, ("other", "unknown_route"): 1,
                ("mystore", "triggered"): 0, ("ongoing", "triggered"): 0}
        for (source, result), n in want.items():
            eq(webhooks_count(wport, source, result), n, "webhooks %s %s" % (source, result))
        logs = env.all_logs()
        eq(logs.count("refused a mystore webhook"), 1, "log lines of refused Mystore webhooks")
        eq(logs.count("refused an ongoing webhook"), 1, "log lines of refused Ongoing webhooks")
        check("and 3 more" not in logs, "the later refusals wait for the next line")
        for secret in (SECRET, TOKEN, TOKEN + "x"):
            for i in range(len(secret) - 5):
                check(secret[i:i + 6] not in logs, "a piece of %r in the logs" % secret)
        check("BODYMARKER" not in logs, "the body in the logs")

        # The same body with its right signature: a cycle at once.
        eq(send(wport, "POST", ms_path, body, good), 200, "the signed webhook")
        wait_until(lambda: cycles(pport, "mystore-orders") == 2, 30, "the triggered cycle")
        wait_until(lambda: events_of(env, "mystore.orders", extra["id"]), 30, "the order's event")
        eq(send(wport, "POST", og_path, b"{}", {"X-Auth-Token": TOKEN}), 200, "Ongoing's webhook")
        wait_until(lambda: cycles(sport, "ongoing-shipments") == 2, 30, "shipments' cycle")


def test_a_route_without_its_secret_is_not_served():
    """With only MYSTORE_WEBHOOK_SECRET set, the Ongoing route answers 404
    (counted unconfigured) and triggers nothing; with neither secret mosync
    webhooks does not start (exit 2 naming both), nor without METRICS_PORT."""
    seed = make_seed(orders=1, products=2, seed=45)
    with env_for("wh-unconfigured", seed) as env:
        _, wport = serve(env, ["webhooks"], {"MYSTORE_WEBHOOK_SECRET": SECRET})
        eq(send(wport, "POST", "/webhooks/ongoing/%s" % TENANT, b"{}", {"X-Auth-Token": TOKEN}),
           404, "the Ongoing route without ONGOING_WEBHOOK_TOKEN")
        eq(webhooks_count(wport, "ongoing", "unconfigured"), 1, "counted unconfigured")
        eq(env.redis.cmd("EXISTS", "mosync:{%s}:trigger:ongoing-shipments" % TENANT), 0,
           "a trigger")
        _, _, err = env.run(["webhooks"], {"METRICS_PORT": str(free_port())}, expect_rc=2)
        check("MYSTORE_WEBHOOK_SECRET" in err and "ONGOING_WEBHOOK_TOKEN" in err, err)
        _, _, err = env.run(["webhooks"], {"MYSTORE_WEBHOOK_SECRET": SECRET}, expect_rc=2)
        check("METRICS_PORT" in err, err)
        _, _, err = env.run(["webhooks"], {"ONGOING_WEBHOOK_TOKEN": "ab1c2",
                                           "METRICS_PORT": str(free_port())}, expect_rc=2)
        check("ONGOING_WEBHOOK_TOKEN" in err and "ab1c2" not in err, err)


def test_ongoing_webhook_turns_an_order_levert_without_waiting():
    """A shipment in the warehouse sends Ongoing's webhook: the shipments
    poller (interval 600 s) runs at once and the order turns "levert" with
    its tracking number."""
    seed = make_seed(orders=3, products=5, seed=47)
    oid = seed["orders"][0]["id"]
    with env_for("wh-levert", seed) as env:
        env.poll_orders()
        env.apply_orders()
        check(in_ongoing(env, oid), "order %s in Ongoing" % oid)
        _, wport = start_webhooks(env)
        env.ongoing.post("/_sim/webhooks", {
            "url": "http://127.0.0.1:%d/webhooks/ongoing/%s" % (wport, TENANT), "token": TOKEN})
        _, sport = serve(env, ["poll", "ongoing-shipments"], LONG)
        env.spawn(["apply", "deliveries"])
        wait_until(lambda: cycles(sport, "ongoing-shipments") >= 1, 60, "the first cycle")
        eq(cycles(sport, "ongoing-shipments"), 1, "cycles before the shipment")
        env.ongoing.post("/_sim/orders/%s/ship" % oid, {"wayBill": "WB-%s" % oid})
        wait_until(lambda: env.mystore.get("/_sim/orders/%s" % oid)["status_id"] == "3", 60,
                   "order %s levert" % oid)
        eq(env.mystore.get("/_sim/orders/%s" % oid)["attributes"].get("tracking_number"),
           "WB-%s" % oid, "tracking number")
        eq(cycles(sport, "ongoing-shipments"), 2, "cycles: the first and the webhook's")
        eq(env.ongoing.get("/_sim/webhooks")["sent"], 1, "webhooks the warehouse sent")
        eq(webhooks_count(wport, "ongoing", "triggered"), 1, "webhooks that triggered")


def test_a_standby_poller_leaves_triggers_to_the_lease_holder():
    """Only the lease holder takes triggers: with the holder stopped
    (SIGSTOP, its lease still valid) a webhook comes; the standby runs no
    cycle, and the holder, continued, runs the triggered cycle (had the
    standby taken the trigger, the holder would wait its 600 s)."""
    seed = make_seed(orders=2, products=3, seed=49)
    with env_for("wh-standby", seed) as env:
        _, wport = start_webhooks(env)
        ttl = dict(LONG, LEASE_TTL_S="60")
        holder, hport = serve(env, ["poll", "mystore-orders"], ttl)
        wait_until(lambda: cycles(hport, "mystore-orders") >= 1, 60, "the holder's first cycle")
        _, sport = serve(env, ["poll", "mystore-orders"], ttl)
        wait_until(lambda: family(scrape(sport), "mosync_lease_held").value(
            stream="mystore-orders", tenant=TENANT) == 0, 30, "the second poller standing by")
        key = "mosync:{%s}:trigger:mystore-orders" % TENANT
        body = b'{"data":{"type":"orders","id":"1"}}'
        os.kill(holder.pid, signal.SIGSTOP)
        try:
            eq(send(wport, "POST", "/webhooks/mystore/%s" % TENANT, body,
                    {"X-No-Mystore-Topic": "orders/update",
                     "X-No-Mystore-Hmac-Sha256": sign(body)}), 200, "the webhook")
            time.sleep(4)
            eq(cycles(sport, "mystore-orders"), 0, "cycles of the standby")
            eq(family(scrape(sport), "mosync_lease_held").value(
                stream="mystore-orders", tenant=TENANT), 0, "the standby's lease")
        finally:
            os.kill(holder.pid, signal.SIGCONT)
        wait_until(lambda: cycles(hport, "mystore-orders") == 2, 30, "the holder's triggered cycle")
        eq(env.redis.cmd("LLEN", key), 0, "the trigger, taken")


def test_with_redis_away_the_poller_waits_without_spinning():
    """Redis stopped while a poller waits between cycles: it neither dies
    nor spins (CPU time), and once Redis is back it takes its lease again,
    and a webhook triggers a cycle as before."""
    seed = make_seed(orders=2, products=3, seed=51)
    with env_for("wh-redis-away", seed) as env:
        _, wport = start_webhooks(env)
        proc, pport = serve(env, ["poll", "mystore-orders"], LONG)
        wait_until(lambda: cycles(pport, "mystore-orders") >= 1, 60, "the first cycle")
        before = cpu_s(proc.pid)
        env.redis.stop()
        time.sleep(8)
        check(proc.poll() is None, "the poller died with Redis away")
        used = cpu_s(proc.pid) - before
        check(used < 1.0, "the poller spent %.2f s of CPU in 8 s with Redis away" % used)
        env.redis.start()
        # The lease is taken again within a TTL (4 s here), with a cycle.
        wait_until(lambda: family(scrape(pport), "mosync_poll_cycles_total").total(
            stream="mystore-orders", result="ok") >= 2, 60, "a cycle after Redis came back")
        n = cycles(pport, "mystore-orders")
        body = b'{"data":{"type":"orders","id":"1"}}'
        wait_until(lambda: send(wport, "POST", "/webhooks/mystore/%s" % TENANT, body,
                                {"X-No-Mystore-Topic": "orders/update",
                                 "X-No-Mystore-Hmac-Sha256": sign(body)}) == 200, 30,
                   "the webhook accepted")
        wait_until(lambda: cycles(pport, "mystore-orders") > n, 30, "the triggered cycle")
        check(http_get(wport, "/readyz")[0] == 200, "/readyz of mosync webhooks")
