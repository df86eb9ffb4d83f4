"""End-to-end test harness: real Redis, real Kafka (the embedded mock cluster
or a real Apache Kafka broker), the two simulators over real HTTP, and the
mosync binary as separate processes.  Python standard library, and
python3-jsonschema for the event schemas (eventschema.py).

It checks itself: a wait (wait_until), a mosync command (Env.run) or a topic
read fails at once with InfraDied when the broker, Redis or a simulator the
test started has died (not when the test stopped it), and every event read
from a pipeline topic, and every dead letter's headers, must match schemas/.

A test is a function `test_<name>(env)` in a tests/e2e/test_*.py module; `env`
is a fresh Env with its own Redis, simulators and topics (see run.py).
"""

import base64
import html.parser
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import eventschema

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
MOSYNC = os.path.join(BUILD, "mosync")
# MOSYNC_WRAPPER runs every mosync command of a test under a tool, e.g.
# "valgrind --error-exitcode=99 ..." (`make valgrind`).  Not the dev-broker.
WRAPPER = os.environ.get("MOSYNC_WRAPPER", "").split()

TOKEN = "ms-test-token-7f3a9c"
OG_USER = "og-user"
OG_PASSWORD = "og-secret-pw-51d2"
SHOP = "demo"
TENANT = "t1"


class TestFailure(Exception):
    pass


class Skip(Exception):
    """Raised by a test that cannot run on this Kafka kind: reported as a skip,
    never counted as passed."""


def only_on_mock(why):
    """Skips the calling test unless it runs on the embedded broker."""
    if os.environ.get("MOSYNC_TEST_KAFKA", "mock") != "mock":
        raise Skip(why)


class InfraDied(TestFailure):
    """A process of the test's infrastructure (the broker, Redis, a simulator)
    that the harness started is gone without being stopped on purpose."""


def _signal_name(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return "signal %d" % n


def _tail(path, lines=15, limit=3000):
    """The last lines of a log, for a failure message."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    text = "\n".join(text.rstrip("\n").splitlines()[-lines:])[-limit:]
    return text if text.strip() else "(empty)"


def died(what, pid, how, log):
    """The InfraDied for a process: which one, how it ended, the tail of its log."""
    return InfraDied("%s (pid %s) is gone: %s; last lines of %s:\n%s"
                     % (what, pid, how, log, _tail(log)))


def popen_died(what, proc, log):
    """InfraDied when the child proc has ended, else None."""
    rc = proc.poll()
    if rc is None:
        return None
    how = ("killed by %s" % _signal_name(-rc)) if rc < 0 else "exited with status %d" % rc
    return died(what, proc.pid, how, log)


def pid_alive(pid):
    """Is pid a running process (not a zombie)?  For processes that are not our
    children, such as the real broker tests/kafka/start leaves running."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# What the harness watches: each thread (one test) its own list, plus what all
# tests share (the real broker run.py started).  A watched thing has
# check_alive(), which raises InfraDied when it died without stop().
_watched = threading.local()
_shared = []


def watch(thing, shared=False):
    if shared:
        _shared.append(thing)
    else:
        if not hasattr(_watched, "things"):
            _watched.things = []
        _watched.things.append(thing)


def unwatch(thing):
    for lst in (_shared, getattr(_watched, "things", [])):
        if thing in lst:
            lst.remove(thing)


def forget_watched():
    """A new test starts on this thread: what an earlier one left is not its own."""
    _watched.things = []


def check_infra():
    """Raises InfraDied when the broker, a Redis or a simulator that this test
    (or the run) started is gone.  Cheap: called on every turn of a wait."""
    for thing in _shared + list(getattr(_watched, "things", [])):
        thing.check_alive()


class RealBroker:
    """The Apache Kafka broker tests/kafka/start runs in a work directory: not
    our child, so it is watched through its pid file and /proc."""

    def __init__(self, workdir):
        self.dir = workdir
        self.stopped = False

    def pid(self):
        try:
            with open(os.path.join(self.dir, "kafka.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def check_alive(self):
        if self.stopped:
            return
        pid = self.pid()
        if pid is None or not pid_alive(pid):
            raise died("the Apache Kafka broker of %s" % self.dir, pid,
                       "no longer running (not stopped by the suite)",
                       os.path.join(self.dir, "kafka.log"))


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what="value"):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, interval=0.1):
    """Waits for pred() to be true; a bound on waiting, never a measurement.
    Fails at once (InfraDied) when the broker, Redis or a simulator the test
    started died meanwhile, instead of waiting out the bound."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = pred()
        except Exception:
            check_infra()  # a dead process explains the error better
            raise
        if v:
            return v
        check_infra()
        time.sleep(interval)
    check_infra()
    raise TestFailure("timed out after %ss waiting for %s" % (timeout, what))


def run_checked(argv, env, timeout, what, stdin=None, stderr=None):
    """Runs argv to completion like subprocess.run (stdout captured; stderr to
    the file stderr or captured), checking the infrastructure while it runs: a
    command that waits for a dead broker or Redis is killed and InfraDied
    raised.  Returns (returncode, stdout bytes, stderr bytes or None)."""
    p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if stdin is not None else None,
                         stdout=subprocess.PIPE,
                         stderr=stderr if stderr is not None else subprocess.PIPE)
    end = time.time() + timeout
    data = stdin
    while True:
        try:
            out, err = p.communicate(input=data, timeout=0.5)
            return p.returncode, out, err
        except subprocess.TimeoutExpired:
            data = None  # communicate() keeps sending what it had started
        try:
            check_infra()
        except InfraDied as e:
            p.kill()
            p.communicate()
            raise InfraDied("%s\n(while `%s` ran; it was killed)" % (e, what))
        if time.time() > end:
            p.kill()
            p.communicate()
            raise subprocess.TimeoutExpired(argv, timeout)


def read_marker(proc, prefix, timeout, what):
    """Reads stdout lines of proc until one starts with prefix; returns the rest."""
    end = time.time() + timeout
    while time.time() < end:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise TestFailure("%s exited with %s before printing %s" % (what, proc.returncode, prefix))
            continue
        line = line.decode().strip()
        if line.startswith(prefix):
            return line[len(prefix):]
    raise TestFailure("%s did not print %s" % (what, prefix))


class Redis:
    """A private redis-server on a free port with AOF, in its own directory."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None
        self.log = os.path.join(self.dir, "redis.log")
        self.loading_seen = False  # a PING was answered LOADING (set by ping)
        watch(self)
        self.start()

    def start(self, extra_args=(), timeout=10):
        """Starts redis-server on its port and directory (its AOF is loaded
        again), with extra_args (e.g. a load delay), and waits until it answers."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", self.log] + list(extra_args),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, timeout, "redis to answer")

    def check_alive(self):
        if self.proc is not None:  # None: stopped on purpose
            e = popen_died("redis-server on port %d" % self.port, self.proc, self.log)
            if e:
                raise e

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except InfraDied:
            raise
        except (OSError, TestFailure) as e:  # not up yet, or still loading its AOF
            if "LOADING" in str(e):
                self.loading_seen = True
            return False

    def cmd(self, *args):
        """One command over RESP; returns the decoded reply (strings, ints, lists, None)."""
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            self.check_alive()  # refused because it died: say so
            raise
        with s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return self._reply(f)

    def _reply(self, f):
        line = f.readline().rstrip(b"\r\n")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise TestFailure("redis error: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(f) for _ in range(n)]
        raise TestFailure("bad redis reply %r" % line)

    def get_json(self, suffix, tenant=TENANT):
        v = self.cmd("GET", "mosync:{%s}:%s" % (tenant, suffix))
        return None if v is None else json.loads(v)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def close(self):
        """Stopped for good: no longer watched."""
        self.stop()
        unwatch(self)


class Sim:
    """One simulator process; HTTP helpers for its API and /_sim/ endpoints."""

    def __init__(self, binary, args, workdir, name):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.stopped = False
        self.proc = subprocess.Popen([os.path.join(BUILD, binary)] + args, stdout=subprocess.PIPE,
                                     stderr=self.log)
        self.port = int(read_marker(self.proc, "PORT=", 10, binary))
        self.base = "http://127.0.0.1:%d" % self.port
        watch(self)

    def check_alive(self):
        if not self.stopped:
            e = popen_died("the %s simulator" % self.name, self.proc, self.log_path)
            if e:
                raise e

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        path = urllib.parse.quote(path, safe="/?=&[]:%+,")
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=dict(headers or {}))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None
            except ValueError:
                return e.code, raw
        except OSError:
            # No answer: if it is dying, give it a moment to be gone, and say so.
            try:
                self.proc.wait(1)
            except subprocess.TimeoutExpired:
                pass
            self.check_alive()
            raise

    def get(self, path):
        status, body = self.call("GET", path)
        check(status == 200, "GET %s answered %s: %r" % (path, status, body))
        return body

    def post(self, path, body):
        status, answer = self.call("POST", path, body)
        check(200 <= status < 300, "POST %s answered %s: %r" % (path, status, answer))
        return answer

    def put(self, path, body):
        status, answer = self.call("PUT", path, body)
        check(200 <= status < 300, "PUT %s answered %s: %r" % (path, status, answer))
        return answer

    def writes(self, since=0):
        return self.get("/_sim/writes?since=%d" % since)

    def stats(self):
        return self.get("/_sim/stats")

    def stop(self):
        self.stopped = True
        unwatch(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class MystoreSim(Sim):
    def __init__(self, workdir, seed, rate_limit=0, extra=None):
        path = os.path.join(workdir, "mystore-seed.json")
        with open(path, "w") as f:
            json.dump(seed, f)
        super().__init__("mystore-sim", ["--seed", path, "--shop", SHOP, "--token", TOKEN,
                                         "--rate-limit", str(rate_limit)] + (extra or []),
                         workdir, "mystore-sim")
        # Shop #0 and its token as started (extra may name others; last wins).
        args = ["--shop", SHOP, "--token", TOKEN] + (extra or [])
        named = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--shop", "--token")}
        self._tokens = {named["--shop"]: named["--token"]}

    def api(self, path):
        """GET on the JSON:API as mosync sees it."""
        status, body = self.call("GET", "/shops/%s/%s" % (SHOP, path),
                                 headers={"Authorization": "Bearer " + TOKEN,
                                          "Accept": "application/vnd.api+json"})
        check(status == 200, "GET %s answered %s" % (path, status))
        return body

    def api_all(self, path):
        items, page = [], 1
        sep = "&" if "?" in path else "?"
        while True:
            doc = self.api("%s%spage[number]=%d&page[size]=50" % (path, sep, page))
            items += doc["data"]
            if "next" not in (doc.get("links") or {}):
                return items
            page += 1

    def related_urls_only(self):
        """Makes the shop ignore include= (M11's fallback): the order poller
        then reads each order's lines, options and totals by their URLs, where
        a test's faults on those URLs land."""
        self.post("/_sim/include", {"enabled": False})

    def snapshot(self, order_id):
        """The order snapshot as the poller builds it, read over HTTP (M6, M7, M11)."""
        order = self.api("orders/%s" % order_id)["data"]
        statuses = {s["id"]: s for s in self.api_all("order-status")}
        lines = []
        for line in self.api_all("orders/%s/order-products" % order_id):
            opts = self.api_all("order-products/%s/order-product-attributes" % line["id"])
            lines.append({"line": line, "options": opts})
        totals = self.api_all("orders/%s/order-totals" % order_id)
        sid = (((order.get("relationships") or {}).get("order_status") or {}).get("data") or {}).get("id")
        return {"order": order, "status": statuses.get(sid), "lines": lines, "totals": totals}

    def add_shop(self, name, token, seed=None):
        """Adds a shop to this simulator (POST /_sim/shops): its own orders,
        products, token, OAuth clients and webhook target; without seed it
        starts from a copy of the startup seed.  Returns its view (shop())."""
        body = {"shop": name, "token": token}
        if seed is not None:
            body["seed"] = seed
        status, answer = self.call("POST", "/_sim/shops", body)
        check(status == 201, "adding shop %s answered %s: %r" % (name, status, answer))
        self._tokens[name] = token
        return self.shop(name)

    def shop(self, name):
        """A view of one shop (shop #0 too, by its name): sim.shop("s7").put(
        "/orders/10001", {...})."""
        return ShopView(self, name, self._tokens.get(name))

    # ---- the OAuth authorization server's browser side (/oauth/authorize) ----

    def http(self, method, path, form=None):
        """(status, headers, text) of one request as a browser sends it:
        form (a dict) form-encoded, a redirect answered, not followed."""
        data = None if form is None else urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with _NO_REDIRECT.open(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def authorize_page(self, client_id, redirect_uri, scopes=(), state=None,
                       response_type="code"):
        """(status, headers, html) of GET /oauth/authorize; a None argument
        is left out of the query."""
        query = {"client_id": client_id, "redirect_uri": redirect_uri,
                 "response_type": response_type,
                 "scope": None if scopes is None else " ".join(scopes), "state": state}
        query = {k: v for k, v in query.items() if v is not None}
        return self.http("GET", "/oauth/authorize?" + urllib.parse.urlencode(query))

    def consent(self, client_id, redirect_uri, scopes, state=None, decision="allow"):
        """Does what a merchant's browser does: GET the consent page, then
        POST its form back with the button `decision` ("allow" or "deny").
        Returns the Location of the 302 (not followed)."""
        status, _, page = self.authorize_page(client_id, redirect_uri, scopes, state)
        check(status == 200, "the authorize page answered %s: %s" % (status, page[:300]))
        form = consent_form(page)
        check(form["action"] == "/oauth/authorize" and form["method"] == "post",
              "the consent form: %r" % form)
        check(decision in form["buttons"], "no %r button: %r" % (decision, form["buttons"]))
        fields = dict(form["fields"])
        fields[form["buttons"][decision]] = decision
        status, headers, text = self.http("POST", form["action"], fields)
        check(status == 302 and headers.get("Location"),
              "the consent's POST answered %s: %s" % (status, text[:300]))
        return headers["Location"]

    def token(self, form):
        """(status, answer) of POST /oauth/token with form form-encoded, as
        a client's callback sends it."""
        status, _, text = self.http("POST", "/oauth/token", form)
        return status, json.loads(text)


class ShopView:
    """One shop of a MystoreSim that serves many: .get/.post/.put/.call put
    /_sim/shops/<name> before a test path ("/orders/10001", or the same with
    its /_sim prefix), .api reads the shop's JSON:API with its token."""

    def __init__(self, sim, name, token):
        self.sim = sim
        self.name = name
        self.token = token

    def path(self, path):
        if path.startswith("/_sim/"):
            path = path[len("/_sim"):]
        return "/_sim/shops/%s%s" % (self.name, path)

    def call(self, method, path, body=None, headers=None):
        return self.sim.call(method, self.path(path), body, headers)

    def get(self, path):
        return self.sim.get(self.path(path))

    def post(self, path, body):
        return self.sim.post(self.path(path), body)

    def put(self, path, body):
        return self.sim.put(self.path(path), body)

    def api_call(self, path, token=None):
        """(status, body) of GET /shops/<name>/<path> with token (the shop's
        own when None)."""
        return self.sim.call("GET", "/shops/%s/%s" % (self.name, path.lstrip("/")),
                             headers={"Authorization": "Bearer " + (token or self.token),
                                      "Accept": "application/vnd.api+json"})

    def api(self, path):
        """GET on this shop's JSON:API with its token; must answer 200."""
        status, body = self.api_call(path)
        check(status == 200, "GET %s of shop %s answered %s" % (path, self.name, status))
        return body

    def grant(self, drop=(), add=()):
        """Later consents on this shop grant the scopes asked minus drop
        plus add (POST .../oauth/grant); no arguments: what is asked."""
        return self.post("/oauth/grant", {"drop": list(drop), "add": list(add)})

    def consent(self, client_id, redirect_uri, scopes, state=None, decision="allow"):
        """MystoreSim.consent: the client names the shop."""
        return self.sim.consent(client_id, redirect_uri, scopes, state, decision)


class _NoRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Hands a 3xx back as it is (an HTTPError) instead of following it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_NO_REDIRECT = urllib.request.build_opener(_NoRedirectHandler)


class _FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.form = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.form is None:
            self.form = {"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                         "fields": {}, "buttons": {}}
        elif tag == "input" and self.form is not None and a.get("name"):
            self.form["fields"][a["name"]] = a.get("value") or ""
        elif tag == "button" and self.form is not None and a.get("name"):
            self.form["buttons"][a.get("value")] = a["name"]


def consent_form(page):
    """The first form of an HTML page: {"action", "method", "fields": {name:
    value} of its inputs, "buttons": {value: name}}."""
    parser = _FormParser()
    parser.feed(page)
    check(parser.form is not None, "no form in the page: %s" % page[:300])
    return parser.form


class OngoingSim(Sim):
    def __init__(self, workdir, seed=None, extra=None):
        args = ["--user", OG_USER, "--password", OG_PASSWORD, "--goods-owner", "1"]
        if seed is not None:
            path = os.path.join(workdir, "ongoing-seed.json")
            with open(path, "w") as f:
                json.dump(seed, f)
            args += ["--seed", path]
        super().__init__("ongoing-sim", args + (extra or []), workdir, "ongoing-sim")

    def orders(self):
        return self.get("/_sim/orders")

    def order(self, number):
        return self.get("/_sim/orders/%s" % number)

    def order_writes(self, since=0):
        return [w for w in self.writes(since) if w["path"].endswith("/api/v1/orders")]

    def add_goods_owner(self, id, user, password, seed=None):
        """Adds goods owner `id` with its own API user (POST /_sim/goods-owners):
        empty, or loaded from `seed` (the --seed format).  Returns the owner's view."""
        body = {"id": id, "user": user, "password": password}
        if seed is not None:
            body["seed"] = seed
        self.post("/_sim/goods-owners", body)
        return self.owner(id)

    def owner(self, id):
        """The test endpoints of goods owner `id` (/_sim/goods-owners/<id>/...)."""
        return OngoingOwner(self, id)


class OngoingOwner:
    """One goods owner of an OngoingSim: its /_sim/ endpoints under
    /_sim/goods-owners/<id>/, so `.get("/_sim/orders")` is that owner's orders."""

    def __init__(self, sim, id):
        self.sim = sim
        self.id = id
        self.prefix = "/_sim/goods-owners/%d" % id

    def _path(self, path):
        # "/_sim/orders" -> "/_sim/goods-owners/<id>/orders"; "/orders" the same.
        if path.startswith("/_sim/"):
            path = path[len("/_sim"):]
        return self.prefix + path

    def call(self, method, path, body=None, headers=None):
        return self.sim.call(method, self._path(path), body, headers)

    def get(self, path):
        return self.sim.get(self._path(path))

    def post(self, path, body):
        return self.sim.post(self._path(path), body)

    def put(self, path, body):
        return self.sim.put(self._path(path), body)

    def orders(self):
        return self.get("/orders")

    def order(self, number):
        return self.get("/orders/%s" % number)

    def order_writes(self, since=0):
        """The order writes of the global write log made for this goods owner."""
        return [w for w in self.sim.order_writes(since) if w.get("goods_owner") == self.id]


class Kafka:
    """Where the events go.  mock: `mosync dev-broker` per test (librdkafka's
    mock cluster); real: the shared Apache Kafka broker run.py started."""

    def __init__(self, workdir, prefix, partitions=4):
        self.kind = os.environ.get("MOSYNC_TEST_KAFKA", "mock")
        self.proc = None
        self.stopped = False
        if self.kind == "real":
            self.bootstrap = os.environ["MOSYNC_TEST_BOOTSTRAP"]  # watched by run.py
        else:
            self.log_path = os.path.join(workdir, "dev-broker.log")
            self.log = open(self.log_path, "wb")
            env = dict(os.environ, KAFKA_TOPIC_PREFIX=prefix, LOG_LEVEL="warn")
            self.proc = subprocess.Popen([MOSYNC, "dev-broker", "--partitions", str(partitions)], env=env,
                                         stdout=subprocess.PIPE, stderr=self.log)
            self.bootstrap = read_marker(self.proc, "BOOTSTRAP=", 15, "dev-broker")
            watch(self)

    def check_alive(self):
        """librdkafka's mock cluster can die on its own assertion (issue 12
        item 21): a test must say so instead of waiting for a broker."""
        if self.proc is not None and not self.stopped:
            e = popen_died("the embedded Kafka broker (mosync dev-broker)", self.proc,
                           self.log_path)
            if e:
                raise e

    def stop(self):
        self.stopped = True
        unwatch(self)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()


class Env:
    """Everything one test needs, torn down afterwards."""

    counter = itertools.count(1)  # thread-safe: tests run in parallel

    def __init__(self, name, mystore_seed, ongoing_seed=None, mystore_rate=0, partitions=4):
        self.name = name
        self.workdir = tempfile.mkdtemp(prefix="mosync-e2e-%s-" % name)
        self.prefix = "e2e%d_%d." % (os.getpid(), next(Env.counter))
        self.procs = []
        self.logs = []
        self.redis = Redis(self.workdir)
        self.kafka = Kafka(self.workdir, self.prefix, partitions)
        self.mystore = MystoreSim(self.workdir, mystore_seed, rate_limit=mystore_rate)
        self.ongoing = OngoingSim(self.workdir, ongoing_seed)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KAFKA_BROKERS": self.kafka.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "KAFKA_TOPIC_PARTITIONS": str(partitions),
            "REDIS_URL": "redis://127.0.0.1:%d/0" % self.redis.port,
            "MOSYNC_TENANT": TENANT,
            "MYSTORE_API_URL": self.mystore.base,
            "MYSTORE_SHOP": SHOP,
            "MYSTORE_TOKEN": TOKEN,
            "MYSTORE_RATE_LIMIT_PER_MIN": "1000000",
            "MYSTORE_INITIAL_LOOKBACK_H": "87600",
            "ONGOING_API_URL": self.ongoing.base + "/wh",
            "ONGOING_USER": OG_USER,
            "ONGOING_PASSWORD": OG_PASSWORD,
            "ONGOING_GOODS_OWNER_ID": "1",
            "POLL_INTERVAL_S": "1",
            # A killed poller's lease frees within seconds, not the default 15 s.
            "LEASE_TTL_S": "4",
            "LOG_LEVEL": "info",
        }
        if self.kafka.kind == "real":
            self.run(["topics"])

    def _log(self, what):
        n = len(self.logs)
        path = os.path.join(self.workdir, "%02d-%s.log" % (n, what.replace(" ", "-")))
        self.logs.append(path)
        return path

    def run(self, args, extra_env=None, timeout=300, expect_rc=0):
        """Runs mosync to completion; returns (rc, summary dict or None, stderr text)."""
        env = dict(self.env, **(extra_env or {}))
        logpath = self._log(args[0] + "-" + (args[1] if len(args) > 1 else ""))
        with open(logpath, "wb") as err:
            rc, out, _ = run_checked(WRAPPER + [MOSYNC] + args, env, timeout,
                                     "mosync " + " ".join(args), stderr=err)
        with open(logpath, "rb") as f:
            stderr = f.read().decode(errors="replace")
        summary = None
        for line in out.decode().splitlines()[::-1]:
            if line.startswith("{"):
                summary = json.loads(line)
                break
        if expect_rc is not None and rc != expect_rc:
            raise TestFailure("mosync %s exited %s (expected %s); stderr tail:\n%s" % (
                " ".join(args), rc, expect_rc, stderr[-3000:]))
        return rc, summary, stderr

    def status(self, extra_env=None, human=False, expect_rc=None):
        """`mosync status --json` (or the human table): (exit status, parsed
        JSON or text, raw stdout).  expect_rc: the exit status it must have
        (None: any; 1 says a flow is unhealthy).  Its stderr and stdout are
        kept with the logs of a failed test."""
        log = self._log("status")
        args = [MOSYNC, "status"] + ([] if human else ["--json"])
        with open(log, "wb") as err:
            p = subprocess.run(args, env=dict(self.env, **(extra_env or {})),
                               stdout=subprocess.PIPE, stderr=err, timeout=120)
        out = p.stdout.decode()
        with open(log[:-4] + ".out", "w") as f:
            f.write(out)
        if expect_rc is not None and p.returncode != expect_rc:
            with open(log, "rb") as f:
                tail = f.read().decode(errors="replace")[-3000:]
            raise TestFailure("mosync status exited %s (expected %s); stderr:\n%s\nstdout:\n%s"
                              % (p.returncode, expect_rc, tail, out[-3000:]))
        return p.returncode, (out if human else json.loads(out)), out

    def spawn(self, args, extra_env=None):
        """Starts mosync in the background; returns the Popen (stdout piped)."""
        env = dict(self.env, **(extra_env or {}))
        logpath = self._log(args[0] + "-" + (args[1] if len(args) > 1 else "") + "-bg")
        err = open(logpath, "wb")
        p = subprocess.Popen(WRAPPER + [MOSYNC] + args, env=env, stdout=subprocess.PIPE, stderr=err)
        p._mosync_log = err
        self.procs.append(p)
        return p

    def poll_orders(self, **kw):
        return self.run(["poll", "mystore-orders", "--once"], **kw)

    def apply_orders(self, extra=None, **kw):
        return self.run(["apply", "orders", "--once", "--idle-ms", "2500"] + (extra or []), **kw)

    def all_logs(self):
        text = ""
        for path in self.logs + [os.path.join(self.workdir, n) for n in
                                 ("mystore-sim.log", "ongoing-sim.log")]:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    text += f.read().decode(errors="replace")
        return text

    def close(self, keep=False):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p._mosync_log.close()
        self.mystore.stop()
        self.ongoing.stop()
        self.kafka.stop()
        self.redis.close()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def check_event(topic, m, tenant=TENANT):
    """Checks one message of a pipeline topic (as `mosync tail` prints it)
    against schemas/ (issue 12 item 22): the envelope, the data of its type,
    the type its topic carries, and the key {tenant}:{entity_id}.  Raises
    TestFailure naming the message and the schema path; returns the event."""
    what = "event %s[%s]@%s (key %r)" % (topic, m.get("partition"), m.get("offset"), m.get("key"))
    try:
        event = json.loads(base64.b64decode(m.get("value_base64", "")))
    except ValueError as e:
        raise TestFailure("%s is not a JSON event: %s" % (what, e))
    if isinstance(event, dict):
        what += " id %s type %s" % (event.get("id"), event.get("type"))
    try:
        eventschema.validate_event(event, what, eventschema.TOPIC_TYPES[topic])
    except eventschema.SchemaError as e:
        raise TestFailure(str(e))
    if m.get("key") != "%s:%s" % (event["tenant"], event["entity_id"]):
        raise TestFailure("%s: the key is not {tenant}:{entity_id} (%s:%s)"
                          % (what, event["tenant"], event["entity_id"]))
    return event


def check_dead_letter(m):
    """Checks a dead letter's headers (as `mosync dlq show` prints them)
    against schemas/mosync.dlq.headers.schema.json."""
    what = "dead letter %s@%s (key %r)" % (m.get("partition"), m.get("offset"), m.get("key"))
    bad = [n for n in (m.get("headers_base64") or {}) if n.startswith("mosync.")]
    if bad:
        raise TestFailure("%s: headers %s are not UTF-8" % (what, bad))
    try:
        eventschema.validate(eventschema.DLQ_HEADERS, m.get("headers"), what)
    except eventschema.SchemaError as e:
        raise TestFailure(str(e))


def topic_messages(env, topic):
    """Every message of a pipeline topic, via `mosync tail <topic> --once`.
    Each event of mystore.* / ongoing.* is checked against its schema, and
    comes with "event" (the parsed value)."""
    rc, out, err = run_checked([MOSYNC, "tail", topic, "--once"], env.env, 120, "mosync tail " + topic)
    if rc != 0:
        raise TestFailure("mosync tail failed: %s" % err.decode()[-2000:])
    msgs = [json.loads(l) for l in out.decode().splitlines() if l.startswith("{")]
    if topic in eventschema.TOPIC_TYPES:
        for m in msgs:
            m["event"] = check_event(topic, m)
    return msgs


def dlq_messages(env):
    """Every dead letter of the test's topics, via `mosync dlq show --once`;
    the headers of each are checked against their schema."""
    rc, out, err = run_checked([MOSYNC, "dlq", "show", "--once"], dict(env.env), 120,
                               "mosync dlq show")
    if rc != 0:
        raise TestFailure("mosync dlq show failed: %s" % err.decode()[-2000:])
    res = []
    for line in out.decode().splitlines():
        if line.startswith("{"):
            m = json.loads(line)
            check_dead_letter(m)
            if "value_base64" in m:
                m["value"] = base64.b64decode(m["value_base64"])
            res.append(m)
    return res


class env_for:
    """`with env_for("name", seed) as env:` — a fresh Env, closed afterwards;
    a failing test keeps its work directory (logs) and names it."""

    def __init__(self, name, mystore_seed, **kw):
        self.args = (name, mystore_seed)
        self.kw = kw

    def __enter__(self):
        self.env = Env(*self.args, **self.kw)
        return self.env

    def __exit__(self, exc_type, exc, tb):
        keep = exc_type is not None and os.environ.get("MOSYNC_KEEP_FAILED", "1") == "1"
        self.env.close(keep=keep)
        if keep and isinstance(exc, TestFailure):
            exc.args = (str(exc) + "\n(logs kept in %s)" % self.env.workdir,)
        return False


def map_order(env, snapshot):
    """The golden mapping's answer for one snapshot (`mosync map order`)."""
    p = subprocess.run([MOSYNC, "map", "order"], env=env.env, input=json.dumps(snapshot).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise TestFailure("mosync map order failed: %s" % p.stderr.decode())
    return json.loads(p.stdout)


# Keys the Ongoing simulator adds to a stored order besides the request body.
SIM_ORDER_KEYS = ("orderId", "status", "shippedTime", "wayBill", "tracking", "parcels")


def request_body(stored):
    return {k: v for k, v in stored.items() if k not in SIM_ORDER_KEYS}
