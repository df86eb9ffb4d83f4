"""Secrets never leave mosync (issue 6 "Must show: a secrets test", issue 7 item 6).

Plants a Mystore token, an Ongoing password, a Redis password holding '@'
(the test's redis-server runs with requirepass; REDIS_URL spells it %40), a
Kafka password that is a substring of the token, the two webhook secrets
(`mosync webhooks` sent near misses of each), credentials and a key in API
URLs (refused), and a wrong Redis password.  Drives every error path it can:
4xx answers that echo the Authorization header (the simulators' "echo-auth"
fault) on reads and writes of both APIs, a connection refused, dead letters,
`mosync config`, refused configurations, a Redis AUTH failure, `mosync dlq
show`.  Then searches every log, stdout, the dead letters (headers, keys and
values), the events on every topic (`mosync tail`) and every Redis key and
value for ANY 6-character piece of each secret: there must be none.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import (MOSYNC, OG_USER, SHOP, TENANT, Env, Kafka, MystoreSim, OngoingSim, Redis,
                     TestFailure, free_port, wait_until)
from seedgen import make_seed

PIECE = 6  # the shortest piece of a secret that counts as a leak


def _random(rng, n):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


class AuthRedis(Redis):
    """The harness's private redis-server, with a password."""

    def __init__(self, workdir, password):
        self.password = password
        super().__init__(workdir)

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "no", "--save", "", "--daemonize", "no", "--requirepass",
             self.password, "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, 10, "redis to answer")

    def cmd(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b""
            for command in (("AUTH", self.password), args):
                out += b"*%d\r\n" % len(command)
                for a in command:
                    a = a if isinstance(a, bytes) else str(a).encode()
                    out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            self._reply(f)
            return self._reply(f)


class SecretEnv(Env):
    """Env (harness.py) with planted secrets instead of the harness's ones."""

    def __init__(self, name, seed, secrets):  # pylint: disable=super-init-not-called
        self.name = name
        self.workdir = tempfile.mkdtemp(prefix="mosync-e2e-%s-" % name)
        self.prefix = "e2e%d_%d." % (os.getpid(), next(Env.counter))
        self.procs = []
        self.logs = []
        self.redis = AuthRedis(self.workdir, secrets["redis"])
        self.kafka = Kafka(self.workdir, self.prefix)
        self.mystore = MystoreSim(self.workdir, seed, extra=["--token", secrets["token"]])
        self.ongoing = OngoingSim(self.workdir, extra=["--password", secrets["ongoing"]])
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KAFKA_BROKERS": self.kafka.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "KAFKA_TOPIC_PARTITIONS": "4",
            "KAFKA_PROP_sasl_password": secrets["kafka"],
            "REDIS_URL": "redis://:%s@127.0.0.1:%d/0" % (secrets["redis"].replace("@", "%40"),
                                                        self.redis.port),
            "MOSYNC_TENANT": TENANT,
            "MYSTORE_API_URL": self.mystore.base,
            "MYSTORE_SHOP": SHOP,
            "MYSTORE_TOKEN": secrets["token"],
            "MYSTORE_RATE_LIMIT_PER_MIN": "1000000",
            "MYSTORE_INITIAL_LOOKBACK_H": "87600",
            "ONGOING_API_URL": self.ongoing.base + "/wh",
            "ONGOING_USER": OG_USER,
            "ONGOING_PASSWORD": secrets["ongoing"],
            "ONGOING_GOODS_OWNER_ID": "1",
            "MYSTORE_WEBHOOK_SECRET": secrets["webhook_secret"],
            "ONGOING_WEBHOOK_TOKEN": secrets["webhook_token"],
            "POLL_INTERVAL_S": "1",
            "LOG_LEVEL": "debug",
        }
        if self.kafka.kind == "real":
            self.run(["topics"])


def leaks(text, secret):
    """The pieces of secret (PIECE characters or more) found in text."""
    return sorted({secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1)
                   if secret[i:i + PIECE] in text})


def test_issue6_secrets_never_leave_mosync():
    rng = random.Random()
    token = "Tk" + _random(rng, 38)                 # 40: echoed whole by the simulator
    secrets = {
        "token": token,
        "ongoing": "Og" + _random(rng, 22),
        "kafka": token[8:28],                       # a secret inside another
        "redis": "Rd" + _random(rng, 8) + "@" + _random(rng, 10),
        "webhook_secret": "Ws" + _random(rng, 30),
        "webhook_token": "Wt" + _random(rng, 30),
    }
    planted = dict(secrets)
    planted["redis_url_form"] = secrets["redis"].replace("@", "%40")
    planted["wrong_redis"] = "Wr" + _random(rng, 6) + "@" + _random(rng, 8)
    planted["url_password"] = "Up" + _random(rng, 16)
    planted["url_key"] = "Uk" + _random(rng, 16)
    planted["basic"] = base64.b64encode(("%s:%s" % (OG_USER, secrets["ongoing"])).encode()).decode()

    seed = make_seed(orders=4, products=5, seed=61)
    ids = [o["id"] for o in seed["orders"]]
    outputs = []   # (where, text) of everything mosync printed or stored
    problems = []  # steps that did not do what the test needs (reported with the leaks)
    env = SecretEnv("secrets", seed, secrets)
    failed = True
    try:
        def mosync(args, extra=None, timeout=120):
            """Runs mosync to its end (killed after timeout s: a problem, and
            what it printed is still searched); returns (rc, stdout, stderr)."""
            e = dict(env.env, **(extra or {}))
            try:
                p = subprocess.run([MOSYNC] + args, env=e, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=timeout)
                rc, out, err = p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired as t:
                problems.append("mosync %s did not end within %d s" % (" ".join(args), timeout))
                rc, out, err = None, t.stdout or b"", t.stderr or b""
            out, err = out.decode(errors="replace"), err.decode(errors="replace")
            outputs.append(("stdout of mosync %s" % " ".join(args), out))
            outputs.append(("stderr of mosync %s" % " ".join(args), err))
            return rc, out, err

        def sim(server, method, path, body=None):
            """A simulator request; a refusal is a problem, not the end of the search."""
            status, answer = server.call(method, path, body)
            if not 200 <= status < 300:
                problems.append("%s %s answered %s: %r" % (method, path, status, answer))

        # `mosync config` with every secret set.
        rc, _, _ = mosync(["config"])
        if rc != 0:
            problems.append("mosync config exited %s" % rc)

        # Credentials and keys in API URLs are refused, without printing them.
        for var, value in (
                ("MYSTORE_API_URL", "http://mosync:%s@127.0.0.1:%d" % (planted["url_password"],
                                                                       env.mystore.port)),
                ("MYSTORE_API_URL", "%s/?key=%s" % (env.mystore.base, planted["url_key"])),
                ("ONGOING_API_URL", "http://u:%s@127.0.0.1:%d/wh" % (planted["url_password"],
                                                                     env.ongoing.port))):
            rc, _, _ = mosync(["poll", "mystore-orders", "--once"], {var: value}, timeout=120)
            if rc != 2:
                problems.append("%s with credentials or a key: exit %s, expected 2" % (var, rc))

        # The order flow; one order's PUT answered 400 echoing the Basic credentials
        # becomes a dead letter.
        rc, _, _ = mosync(["poll", "mystore-orders", "--once"])
        if rc != 0:
            problems.append("poll mystore-orders exited %s" % rc)
        sim(env.ongoing, "POST", "/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                         "match": ids[0], "count": 1, "status": 400,
                                         "body": "echo-auth"})
        rc, out, _ = mosync(["apply", "orders", "--once", "--idle-ms", "2500"])
        summary = json.loads(out.strip().splitlines()[-1]) if out.strip().startswith("{") else {}
        if summary.get("dead_lettered") != 1:
            problems.append("apply orders: %r, expected one dead letter" % summary)

        # Deliveries: the "levert" POST answered 400 echoing the Bearer token.
        sim(env.ongoing, "POST", "/_sim/orders/%s/ship" % ids[1], {"wayBill": "WB1"})
        mosync(["poll", "ongoing-shipments", "--once"])
        sim(env.mystore, "POST", "/_sim/fault", {"method": "POST",
                                         "path": "/shops/%s/order-status-history" % SHOP,
                                         "count": 5, "status": 400, "body": "echo-auth"})
        rc, out, _ = mosync(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        summary = json.loads(out.strip().splitlines()[-1]) if out.strip().startswith("{") else {}
        if summary.get("dead_lettered") != 1:
            problems.append("apply deliveries: %r, expected one dead letter" % summary)
        sim(env.mystore, "DELETE", "/_sim/fault")

        # Mystore reads answered 400 and 403 echoing the token.
        for status in (400, 403):
            sim(env.mystore, "POST", "/_sim/fault", {"method": "GET", "path": "/shops/%s/orders" % SHOP,
                                             "count": 20, "status": status, "body": "echo-auth"})
            mosync(["poll", "mystore-orders", "--once"], timeout=120)
            sim(env.mystore, "DELETE", "/_sim/fault")
        # Ongoing reads answered 401 echoing the credentials.
        sim(env.ongoing, "POST", "/_sim/fault", {"method": "GET", "path": "/wh/api/v1/orders",
                                         "count": 20, "status": 401, "body": "echo-auth"})
        mosync(["poll", "ongoing-shipments", "--once"], timeout=120)
        sim(env.ongoing, "DELETE", "/_sim/fault")

        # A connection refused.
        mosync(["poll", "mystore-orders", "--once"],
               {"MYSTORE_API_URL": "http://127.0.0.1:%d" % free_port()}, timeout=120)

        # Redis refuses the password.
        wrong = "redis://:%s@127.0.0.1:%d/0" % (planted["wrong_redis"].replace("@", "%40"),
                                                 env.redis.port)
        log = os.path.join(env.workdir, "wrong-redis.log")
        with open(log, "wb") as err:
            p = subprocess.Popen([MOSYNC, "poll", "mystore-orders"], env=dict(env.env, REDIS_URL=wrong),
                                 stdout=subprocess.PIPE, stderr=err)
            try:
                wait_until(lambda: b"redis" in open(log, "rb").read(), 30,
                           "the Redis AUTH failure to be logged")
            except TestFailure as e:
                problems.append(str(e))
            finally:
                p.send_signal(signal.SIGTERM)
                out = p.communicate(timeout=30)[0]
        outputs.append(("stdout of poll with a wrong Redis password", out.decode(errors="replace")))

        # /metrics and /readyz of `mosync run` while Mystore refuses the token
        # echoing it (issue 7 item 6: metrics too).
        sim(env.mystore, "POST", "/_sim/fault", {"method": "GET", "path": "/shops/%s/" % SHOP,
                                                 "count": 50, "status": 403,
                                                 "body": "echo-auth"})
        port = free_port()
        runlog = os.path.join(env.workdir, "run-metrics.log")
        with open(runlog, "wb") as err:
            p = subprocess.Popen([MOSYNC, "run"], env=dict(env.env, METRICS_PORT=str(port)),
                                 stdout=subprocess.PIPE, stderr=err)
            try:
                def scrape(path):
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                                    timeout=10) as r:
                            return r.read().decode(errors="replace")
                    except urllib.error.HTTPError as e:  # /readyz answers 503 here
                        return e.read().decode(errors="replace")
                    except OSError:
                        return None
                wait_until(lambda: "mosync_api_requests_total" in (scrape("/metrics") or ""),
                           60, "/metrics to count requests")
                for path in ("/metrics", "/readyz", "/healthz"):
                    outputs.append(("GET %s of mosync run" % path, scrape(path) or ""))
            except TestFailure as e:
                problems.append(str(e))
            finally:
                p.send_signal(signal.SIGTERM)
                out = p.communicate(timeout=30)[0]
        outputs.append(("stdout of mosync run", out.decode(errors="replace")))
        env.logs.append(runlog)
        sim(env.mystore, "DELETE", "/_sim/fault")

        # `mosync webhooks`: webhooks refused for a near miss of each secret
        # (the secret cut by a character, as a signature or a token), a
        # signature made with the token, and accepted ones; then its
        # /metrics, /readyz and /healthz.  LOG_LEVEL=debug logs every webhook.
        port = free_port()
        whlog = os.path.join(env.workdir, "webhooks.log")
        with open(whlog, "wb") as err:
            p = subprocess.Popen([MOSYNC, "webhooks"], env=dict(env.env, METRICS_PORT=str(port)),
                                 stdout=subprocess.PIPE, stderr=err)
            try:
                def post(path, body, headers):
                    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                                 method="POST", headers=headers)
                    try:
                        with urllib.request.urlopen(req, timeout=10) as r:
                            return r.status
                    except urllib.error.HTTPError as e:
                        return e.code
                    except OSError:
                        return None

                def sig(body, key):
                    return base64.b64encode(hmac.new(key.encode(), body,
                                                     hashlib.sha256).digest()).decode()
                wait_until(lambda: post("/webhooks/ongoing/%s" % TENANT, b"{}", {}) == 401, 30,
                           "mosync webhooks to answer")
                body = json.dumps({"data": {"id": ids[0]}}).encode()
                ms_path, og_path = "/webhooks/mystore/%s" % TENANT, "/webhooks/ongoing/%s" % TENANT
                for path, b, headers, want in (
                        (ms_path, body, {"X-No-Mystore-Topic": "orders/update",
                                         "X-No-Mystore-Hmac-Sha256":
                                             secrets["webhook_secret"][:-1]}, 401),
                        (ms_path, body, {"X-No-Mystore-Topic": "orders/update",
                                         "X-No-Mystore-Hmac-Sha256":
                                             sig(body, secrets["webhook_token"])}, 401),
                        (ms_path, body, {"X-No-Mystore-Topic": "orders/update",
                                         "X-No-Mystore-Hmac-Sha256":
                                             sig(body, secrets["webhook_secret"])}, 200),
                        (ms_path, body, {"X-No-Mystore-Topic": secrets["webhook_secret"][:-1],
                                         "X-No-Mystore-Hmac-Sha256":
                                             sig(body, secrets["webhook_secret"])}, 200),
                        (og_path, b"{}", {"X-Auth-Token": secrets["webhook_token"][:-1]}, 401),
                        (og_path, b"{}", {"X-Auth-Token": secrets["webhook_token"]}, 200),
                        ("/webhooks/ongoing/other", b"{}",
                         {"X-Auth-Token": secrets["webhook_token"]}, 404)):
                    status = post(path, b, headers)
                    if status != want:
                        problems.append("webhook %s answered %s, expected %s" % (path, status, want))
                for path in ("/metrics", "/readyz", "/healthz"):
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                                    timeout=10) as r:
                            outputs.append(("GET %s of mosync webhooks" % path,
                                            r.read().decode(errors="replace")))
                    except (OSError, urllib.error.HTTPError) as e:
                        problems.append("GET %s of mosync webhooks: %s" % (path, e))
            except TestFailure as e:
                problems.append(str(e))
            finally:
                p.send_signal(signal.SIGTERM)
                out = p.communicate(timeout=30)[0]
        outputs.append(("stdout of mosync webhooks", out.decode(errors="replace")))
        env.logs.append(whlog)

        # Dead letters and every topic.
        rc, out, _ = mosync(["dlq", "show", "--once"])
        if rc != 0:
            problems.append("dlq show exited %s" % rc)
        dead = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if len(dead) != 2:
            problems.append("%d dead letters, expected 2" % len(dead))
        # The echoes did reach the dead letters, masked: the paths were driven.
        for m in dead:
            error = (m.get("headers") or {}).get("mosync.error", "")
            if "***" not in error:
                problems.append("dead letter %s: no masked echo in its error %r"
                                % (m.get("key"), error))
        for topic in ("mystore.orders", "mystore.products", "ongoing.shipments", "ongoing.stock",
                      "mosync.dlq"):
            rc, out, _ = mosync(["tail", topic, "--once"])
            if rc != 0:
                problems.append("mosync tail %s exited %s" % (topic, rc))
            for line in out.splitlines():
                if line.startswith("{"):
                    m = json.loads(line)
                    for k in ("value_base64", "key_base64"):
                        if k in m:
                            outputs.append(("%s %s of %s" % (topic, k, m.get("offset")),
                                            base64.b64decode(m[k]).decode(errors="replace")))
                    for name, v in (m.get("headers_base64") or {}).items():
                        outputs.append(("%s header %s" % (topic, name),
                                        base64.b64decode(v).decode(errors="replace")))

        # Every Redis key and value.
        for key in env.redis.cmd("KEYS", "*") or []:
            kind = env.redis.cmd("TYPE", key)
            if kind == "string":
                value = env.redis.cmd("GET", key)
            elif kind == "hash":
                value = env.redis.cmd("HGETALL", key)
            elif kind == "zset":
                value = env.redis.cmd("ZRANGE", key, 0, -1, "WITHSCORES")
            elif kind == "list":
                value = env.redis.cmd("LRANGE", key, 0, -1)
            elif kind == "set":
                value = env.redis.cmd("SMEMBERS", key)
            else:
                value = kind
            outputs.append(("redis %s" % key, "%s %s" % (key, json.dumps(value))))

        # Every log line of every mosync process the harness ran.
        for path in env.logs + [log]:
            with open(path, "rb") as f:
                outputs.append((os.path.basename(path), f.read().decode(errors="replace")))

        logged = "".join(text for where, text in outputs if where.startswith("stderr")
                         or where.endswith(".log"))
        for echo in ("Bearer ***", "Basic ***"):
            if echo not in logged:
                problems.append("no log line shows the masked echo %r" % echo)

        found = []
        for where, text in outputs:
            for name, secret in planted.items():
                pieces = leaks(text, secret)
                if pieces:
                    at = text.find(pieces[0])
                    found.append("%s: %d pieces of %s, e.g. ...%s..." % (
                        where, len(pieces), name, text[max(0, at - 40):at + 40].replace("\n", " ")))
        if found or problems:
            raise TestFailure("\n".join(["secrets found:"] + found + ["other problems:"] + problems
                                         + ["(logs kept in %s)" % env.workdir]))
        failed = False
    finally:
        keep = failed and os.environ.get("MOSYNC_KEEP_FAILED", "1") == "1"
        env.close(keep=keep)
