"""Hostile input at mosync's edges (issue 12 items 17 and 19): a flood of
half-sent requests on METRICS_PORT, an API asking for a day's wait.

Each test names the issue item it proves; each was seen failing on the code
before its fix."""

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from harness import (MOSYNC, TENANT, TestFailure, check, env_for, eq, free_port, topic_messages,
                     wait_until)
from seedgen import make_seed


def http_get(port, path, host="127.0.0.1", timeout=5):
    """(status, body) of GET http://host:port/path; (None, why) when nothing answers in time."""
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (host, port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def spawn_with_nofile(env, args, extra_env, nofile):
    """Starts mosync in the background with RLIMIT_NOFILE = nofile (the
    common default of 1,024 open files), its stderr in the test's logs."""
    logpath = env._log(args[0] + "-" + args[1] + "-nofile")
    err = open(logpath, "wb")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    p = subprocess.Popen([MOSYNC] + args, env=dict(env.env, **extra_env), stdout=subprocess.PIPE,
                         stderr=err, preexec_fn=limit)
    p._mosync_log = err
    env.procs.append(p)
    return p


class HalfSentFlood:
    """Holds `count` connections to port from source address `source`, each
    with a request that never ends: the request line and a header, then one
    more header line every second (a server whose idle timeout restarts on
    every byte never closes them).  A connection the server closes is opened
    again on the next pass, so the flood holds whatever the server lets it."""

    def __init__(self, source, port, count):
        self.source, self.port, self.count = source, port, count
        self.socks = [None] * count
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _open(self):
        s = socket.socket()
        s.settimeout(2)
        s.bind((self.source, 0))
        s.connect(("127.0.0.1", self.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: flood\r\n")
        self.opened += 1
        return s

    def run(self):
        while not self.stop.is_set():
            for i in range(self.count):
                if self.stop.is_set():
                    break
                s = self.socks[i]
                try:
                    if s is None:
                        self.socks[i] = self._open()
                    else:
                        s.sendall(b"X-Trickle: 1\r\n")
                except OSError:
                    if s is not None:
                        s.close()
                    self.socks[i] = None
            self.stop.wait(1.0)
        for s in self.socks:
            if s is not None:
                s.close()

    def __enter__(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < self.count + 512:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, self.count + 4096), hard))
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        return False


def test_issue12_17_metrics_port_survives_a_flood_of_half_sent_requests():
    """An applier serving METRICS_PORT under the common limit of 1,024 open
    files, while one client holds 1,100 connections with requests it never
    finishes (and trickles a byte into each every second): /healthz still
    answers from another address within seconds, and every order is applied.
    Before the fix every connection got a thread and a descriptor until the
    process ran out of them: /healthz hung and Ongoing got no request."""
    seed = make_seed(orders=5, products=3, seed=1217)
    with env_for("metrics-flood", seed) as env:
        port = free_port()
        proc = spawn_with_nofile(env, ["apply", "orders"], {"METRICS_PORT": str(port)}, 1024)

        def up():
            if proc.poll() is not None:
                raise TestFailure("mosync apply orders exited %s" % proc.returncode)
            return http_get(port, "/healthz", timeout=2)[0] == 200
        wait_until(up, 30, "/healthz of mosync apply orders")

        with HalfSentFlood("127.0.0.2", port, 1100) as flood:
            wait_until(lambda: flood.opened >= 1100, 60, "1,100 half-sent connections opened")
            env.poll_orders()
            for _ in range(3):
                status, body = http_get(port, "/healthz", timeout=5)
                eq(status, 200, "/healthz during the flood (%s)" % body)
            wanted = {str(o["id"]) for o in seed["orders"]}
            wait_until(lambda: wanted <= {o["orderNumber"] for o in env.ongoing.orders()},
                       60, "every order applied during the flood")
            status, body = http_get(port, "/healthz", timeout=5)
            eq(status, 200, "/healthz at the end of the flood (%s)" % body)
        eq(proc.poll(), None, "the applier still runs")


def test_issue12_19_poller_waits_at_most_retry_after_max_s():
    """Mystore answers one list request with `Retry-After: 86400`: the poller
    logs an error naming RETRY_AFTER_MAX_S, waits that long (2 s here) instead
    of a day holding its lease, and then polls and emits every order.  Before
    the fix it slept the whole day."""
    seed = make_seed(orders=3, products=3, seed=1219)
    with env_for("retry-after-cap", seed) as env:
        env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/orders",
                                         "count": 1, "status": 429, "retry_after": 86400})
        env.spawn(["poll", "mystore-orders"], {"RETRY_AFTER_MAX_S": "2"})
        wait_until(lambda: env.mystore.stats()["faults_served"] == 1, 30, "the 429 answered")
        wanted = {"%s:%s" % (TENANT, o["id"]) for o in seed["orders"]}
        wait_until(lambda: wanted <= {m.get("key") for m in topic_messages(env, "mystore.orders")},
                   30, "every order emitted after the capped wait")
        logs = env.all_logs()
        check('"level":"error"' in logs and "86400" in logs and "RETRY_AFTER_MAX_S=2" in logs,
              "an error names the asked wait and the setting")


def _compose_check():
    """tests/compose-check as a module: its readers of config.c and README.md."""
    import importlib.machinery
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "compose-check")
    loader = importlib.machinery.SourceFileLoader("compose_check", path)
    spec = importlib.util.spec_from_loader("compose_check", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_issue12_19_config_prints_every_setting():
    """`mosync config` prints every variable common/config.c reads and every
    one of README.md's configuration table, by name, and nothing else; the
    secrets only as set or unset.  Before the fix it left out DRY_RUN,
    LOG_LEVEL, the weight unit, the status names, SHIPPING_METHOD_MAP, the
    editable statuses, the lookbacks and intervals."""
    cc = _compose_check()
    read = cc.config_variables()
    documented = cc.readme_variables(cc.README)
    secret = "cfg-secret-value-91f3"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "MYSTORE_TOKEN": secret + "a", "ONGOING_PASSWORD": secret + "b",
           "REDIS_URL": "redis://:%sc@127.0.0.1:6390/2" % secret,
           "KAFKA_PROP_sasl_password": secret + "d", "KAFKA_PROP_client_id": "cfg-client",
           "SHIPPING_METHOD_MAP": '{"Posten": "P1"}', "DRY_RUN": "on"}
    p = subprocess.run([MOSYNC, "config"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    eq(p.returncode, 0, "mosync config exit (%s)" % p.stderr.decode())
    shown = json.loads(p.stdout)
    keys = set(shown)
    prefixes = {n for n in read | documented if n.endswith("_")}
    plain = lambda names: {n for n in names if not n.endswith("_")}
    missing = sorted(plain(read | documented) - keys)
    check(not missing, "mosync config leaves out %s" % ", ".join(missing))
    unknown = sorted(k for k in keys if k not in documented
                     and not any(k.startswith(pre) for pre in prefixes))
    check(not unknown, "mosync config prints what README.md's table does not have: %s" % unknown)
    eq(shown["KAFKA_PROP_client_id"], "cfg-client", "a Kafka property's value")
    eq(shown["KAFKA_PROP_sasl_password"], "(set)", "a secret Kafka property")
    eq(shown["MYSTORE_TOKEN"], "(set)", "the token")
    eq(shown["ONGOING_PASSWORD"], "(set)", "the password")
    eq(shown["DRY_RUN"], True, "DRY_RUN")
    eq(shown["SHIPPING_METHOD_MAP"], {"Posten": "P1"}, "SHIPPING_METHOD_MAP")
    check(secret not in p.stdout.decode() and secret not in p.stderr.decode(),
          "a secret in mosync config's output")


def test_issue12_19_compose_ships_no_password_and_keeps_secrets_in_files():
    """The compose files as tests/compose-check reads them: grafana.env.example
    ships no admin password and Grafana refuses to start without a real one;
    the mosync secrets are Docker secrets read through <NAME>_FILE, given to
    every mosync service; every service has a memory limit; .dockerignore
    keeps builds, .git, env files and secrets out of the image's context.
    Before the fix the example shipped "change-me", the secrets lived in
    mosync.env and there was no .dockerignore."""
    script = os.path.join(os.path.dirname(__file__), "..", "compose-check")
    p = subprocess.run([sys.executable, script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    out = p.stdout.decode()
    eq(p.returncode, 0, "tests/compose-check:\n" + "\n".join(
        l for l in out.splitlines() if not l.startswith("ok ")))
    for line in ("ok   grafana: grafana.env.example exists and ships no admin password",
                 "ok   grafana: the admin password comes from a secret",
                 "ok   grafana: the entrypoint refuses to start without an admin password",
                 "ok   MYSTORE_TOKEN_FILE names a declared secret",
                 "ok   ONGOING_PASSWORD_FILE names a declared secret",
                 "ok   every mosync service gets the secret mystore_token",
                 "ok   .dockerignore leaves out build/",
                 "ok   poll-shipments: has a memory limit"):
        check(line in out, "compose-check did not pass: %r" % line)
