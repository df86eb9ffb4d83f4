#!/usr/bin/env python3
"""The chaos suite (`make chaos`): every flow of three tenants under crashes, outages and
bad input.

    tests/chaos/run.py [--kafka real|mock] [--seed N]

Three registry tenants (c1, c2, c3; `mosync tenant add`), each with a Mystore simulator
and an Ongoing simulator of its own (its own shop name and token, its own Ongoing user,
password and goods owner, its own seed data: order ids from 10001, 110001 and 210001,
product ids, and so SKUs, from 801, 10801 and 20801, so that whatever lands in the wrong
tenant's system is seen). 5,000 orders, 2,000 article changes, 500 shipments and stock
sync, split about a third per tenant, flow through two replicas of every
`mosync poll <stream> --all-tenants` and every `mosync apply <flow> --all-tenants`
(16 processes, each serving all three tenants) while:
  - processes are killed with SIGKILL at random moments and restarted (at least 20 kills);
  - Redis is restarted twice, and its cache emptied once: every key deleted except the
    tenant registry (mosync:{T}:tenant, mosync:{*}:tenants, mosync:{*}:tenants:gen) and
    the OAuth token stores, in one Lua script. That is "the cache is lost, the registry
    kept": the registry is not a cache (the README runs Redis with AOF for it), and a real
    FLUSHALL would leave no tenant to serve until an operator restored it, which would
    test the operator, not mosync;
  - the Kafka broker is restarted once: by default a real Apache Kafka 3.9.1 broker
    (tests/kafka/stop, then start on the same data directory and port); with --kafka
    mock the embedded one is taken down and up (SIGUSR1 / SIGUSR2 to `mosync dev-broker`);
  - a poller caught holding a tenant's mystore-orders lease (a lease is held only while
    a cycle runs) is stopped (SIGSTOP) for three times LEASE_TTL_S, then continued
    (SIGCONT); the other replica must take that tenant's lease meanwhile;
  - tenant c1's ONGOING_PASSWORD is set wrong in the registry (`mosync tenant set c1`)
    for BAD_PASSWORD_S (60 s), then set right again: no restart, the processes follow
    the registry;
  - tenant c2 is paused (`mosync tenant pause c2`) for GAP_S, then resumed;
  - Redis is restarted with its data on disk loaded slowly (redis-server's key-load-delay),
    so it answers LOADING for about 10 s; the suite checks that it saw LOADING;
  - all six simulators answer 5% of requests with 500, 2% with 429 and Retry-After,
    1% too late (the effect applied, the answer after the client gave up) and 0.5%
    with a malformed body (the effect applied).
If the broker, Redis or a simulator the suite started dies on its own (librdkafka's mock
cluster can die on an assertion when consumers rejoin it), the suite stops at once and
says which, how, and the tail of its log, instead of waiting without it.
Then the faults stop and the suite waits (bounded) for the system to settle, and checks,
for each tenant:
  - its Ongoing simulator holds exactly its expected orders and articles, each equal to
    what the golden mapping (with its goods owner) makes of its Mystore's final data;
  - every shipped order of it is "levert" in its Mystore with its tracking number, and has
    exactly one status-history row (no customer notice twice);
  - no older stock value was ever written over a newer one, and the last value landed;
  - exactly its planted bad entities (one order, one product) are in mosync.dlq, with
    mosync.tenant = it;
  - no cross-over: every write its Ongoing simulator received carries its goods owner and
    only its order numbers and SKUs, and every write its Mystore simulator received was
    for its shop and its own orders and products;
and that the disruptions happened as planned (the lease taken over, c1's refused password
seen, c2 paused and resumed, the registry intact after the cache was emptied, LOADING),
and that Redis, read every half second, never held a refused-credential record
(mosync:{T}:refused:<api>, what `mosync status` shows) of a tenant other than c1.
It prints one line
  lost=0 duplicated_effects=0 crossed=0 dead_letters=N kills=N redis_restarts=N
  broker_restarts=N faults=N pauses=N
and "N passed, N failed" (each check one), and exits 1 when anything failed.
Loopback only; bounded in time (MOSYNC_CHAOS_SETTLE_S, default 600, for the settling).

Knobs to shrink it (a quick check of the mechanics, not the suite): MOSYNC_CHAOS_ORDERS
(5000), MOSYNC_CHAOS_ARTICLE_CHANGES (2000), MOSYNC_CHAOS_SHIPMENTS (500),
MOSYNC_CHAOS_MIN_KILLS (20), MOSYNC_CHAOS_GAP_S (40, seconds between two disruptions),
MOSYNC_CHAOS_BAD_PASSWORD_S (60).
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402
from harness import MOSYNC, TestFailure, dlq_messages  # noqa: E402
from seedgen import make_seed  # noqa: E402

ORDERS = int(os.environ.get("MOSYNC_CHAOS_ORDERS", "5000"))
PRODUCTS = 300
ARTICLE_CHANGES = int(os.environ.get("MOSYNC_CHAOS_ARTICLE_CHANGES", "2000"))
SHIPMENTS = int(os.environ.get("MOSYNC_CHAOS_SHIPMENTS", "500"))
STOCK_ARTICLES = 150
STOCK_ROUNDS = 4
MIN_KILLS = int(os.environ.get("MOSYNC_CHAOS_MIN_KILLS", "20"))
GAP_S = float(os.environ.get("MOSYNC_CHAOS_GAP_S", "40"))
BAD_PASSWORD_S = float(os.environ.get("MOSYNC_CHAOS_BAD_PASSWORD_S", "60"))
LEASE_TTL_S = 5
TENANTS = ("c1", "c2", "c3")
WRONG_PASSWORD_TENANT = "c1"
PAUSED_TENANT = "c2"
SECRET_KEY = base64.b64encode(bytes(range(100, 132))).decode()
# Where in its order list each tenant's one unmappable order sits (of 5,000: with
# 5,000 orders in all these are c1's 10259, c2's 110782 and c3's 211666).
BAD_ORDER_AT = (776, 2344, 4998)
FAULTS = {"error": 0.05, "rate_limited": 0.02, "timeout": 0.01, "malformed": 0.005}
ROLES = [("poll", "mystore-orders"), ("poll", "mystore-products"),
         ("poll", "ongoing-shipments"), ("poll", "ongoing-stock"),
         ("apply", "orders"), ("apply", "articles"), ("apply", "deliveries"),
         ("apply", "stock")]
# Every key of Redis except the registry and the OAuth token stores (README, "Redis
# keys": those two are not caches).  Deleted in one script, as FLUSHALL is one command.
FLUSH_CACHE_LUA = """
local n = 0
for _, k in ipairs(redis.call('KEYS', '*')) do
  if not (string.match(k, '^mosync:{[^}]*}:tenant$') or k == 'mosync:{*}:tenants' or
          k == 'mosync:{*}:tenants:gen' or string.match(k, '^mosync:{[^}]*}:oauth:')) then
    redis.call('DEL', k)
    n = n + 1
  end
end
return n
"""


def log(msg):
    print("# %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def share(total, i):
    """Tenant i's part of total: a third, the remainder to the first ones."""
    return total // len(TENANTS) + (1 if i < total % len(TENANTS) else 0)


class Broker:
    """The suite's own Kafka: a real broker it can restart, or the embedded one it can
    take down and up (SIGUSR1 / SIGUSR2 to `mosync dev-broker`).  Watched by the
    harness (check_alive) except while the suite restarts it on purpose."""

    def __init__(self, kind, workdir, prefix):
        self.kind = kind
        self.dir = os.path.join(workdir, "kafka")
        self.prefix = prefix
        self.proc = None
        if kind == "real":
            self.real = harness.RealBroker(self.dir)
            out = subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "start"), self.dir],
                                 stdout=subprocess.PIPE, check=True).stdout.decode()
            self.bootstrap = out.strip().splitlines()[-1].split("=", 1)[1]
        else:
            self.log_path = os.path.join(workdir, "dev-broker.log")
            self.log = open(self.log_path, "wb")
            env = dict(os.environ, KAFKA_TOPIC_PREFIX=prefix, LOG_LEVEL="warn")
            self.proc = subprocess.Popen([MOSYNC, "dev-broker", "--partitions", "6"], env=env,
                                         stdout=subprocess.PIPE, stderr=self.log)
            self.bootstrap = harness.read_marker(self.proc, "BOOTSTRAP=", 15, "dev-broker")
        harness.watch(self)

    def check_alive(self):
        if self.kind == "real":
            self.real.check_alive()
        else:
            e = harness.popen_died("the embedded Kafka broker (mosync dev-broker)", self.proc,
                                   self.log_path)
            if e:
                raise e

    def restart(self):
        if self.kind == "real":
            # A real restart: the same data directory and port (tests/kafka/start keeps
            # both), so the running clients find the broker again where it was.
            self.real.stopped = True
            subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "stop"), self.dir],
                           check=True)
            time.sleep(5)
            subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "start"), self.dir],
                           stdout=subprocess.DEVNULL, check=True)
            self.real.stopped = False
            with open(os.path.join(self.dir, "bootstrap")) as f:
                again = f.read().strip()
            if again != self.bootstrap:
                raise harness.InfraDied("the restarted broker listens on %s, not %s: the clients "
                                        "cannot find it" % (again, self.bootstrap))
        else:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(10)
            self.proc.send_signal(signal.SIGUSR2)

    def stop(self):
        harness.unwatch(self)
        if self.kind == "real":
            self.real.stopped = True
            subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "stop"), self.dir])
        elif self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Shop(harness.MystoreSim):
    """A tenant's Mystore simulator: its own shop name and token (MystoreSim's api()
    and snapshot() use the harness's one shop, so api() is this shop's here)."""

    def __init__(self, workdir, seed, shop, token):
        super().__init__(workdir, seed, rate_limit=0, extra=["--shop", shop, "--token", token])
        self.shop = shop
        self.token = token

    def api(self, path):
        status, body = self.call("GET", "/shops/%s/%s" % (self.shop, path),
                                 headers={"Authorization": "Bearer " + self.token,
                                          "Accept": "application/vnd.api+json"})
        harness.check(status == 200, "GET %s of shop %s answered %s" % (path, self.shop, status))
        return body


class Tenant:
    """One registry tenant: its seed, its two simulators, its settings, what it planted."""

    def __init__(self, i, name, workdir, seed_no):
        self.i, self.name = i, name
        self.orders_n = share(ORDERS, i)
        self.changes_n = share(ARTICLE_CHANGES, i)
        self.shipments_n = share(SHIPMENTS, i)
        self.stock_n = share(STOCK_ARTICLES, i)
        self.owner = 101 + i
        self.shop = "shop-" + name
        self.token = "ms-token-%s-%d" % (name, 7919 * (i + 1))
        self.user = "og-user-" + name
        self.password = "og-password-%s-%d" % (name, 104729 * (i + 1))
        self.seed = make_seed(orders=self.orders_n, products=share(PRODUCTS, i),
                              seed=seed_no * 10 + i, first_order_id=10001 + 100000 * i,
                              first_product_id=801 + 10000 * i,
                              first_variant_id=116301 + 100000 * i)
        self.planted = self._plant_bad()
        self.order_ids = {o["id"] for o in self.seed["orders"]}
        self.product_ids = {p["id"] for p in self.seed["products"]}
        self.variant_ids = {v["id"] for p in self.seed["products"] for v in p["variants"]}
        self.skus = {p["attributes"]["sku"] for p in self.seed["products"]} | {
            v["attributes"]["sku"] for p in self.seed["products"] for v in p["variants"]}
        d = os.path.join(workdir, name)
        os.makedirs(d)
        self.ms = Shop(d, self.seed, self.shop, self.token)
        self.og = harness.OngoingSim(d, extra=["--user", self.user, "--password", self.password,
                                               "--goods-owner", str(self.owner)])
        self.work = None

    def _plant_bad(self):
        """One order that cannot be mapped and one product whose weight is not a
        number: the only entities of this tenant that may end in mosync.dlq."""
        self.bad_orders = ()
        if self.orders_n:
            bad = self.seed["orders"][min(self.orders_n - 1,
                                          BAD_ORDER_AT[self.i] * self.orders_n // 5000)]
            bad["lines"][0]["attributes"]["quantity"] = "abc"
            self.bad_orders = (bad["id"],)
        self.bad_product = self.seed["products"][7]
        self.bad_product["attributes"]["weight"] = "tung"
        return {self.name + ":" + oid for oid in self.bad_orders} | {
            self.name + ":" + self.bad_product["id"]}

    def settings(self, **over):
        """Its registry settings, KEY=VALUE lines for `mosync tenant add|set`."""
        s = {"MYSTORE_API_URL": self.ms.base, "MYSTORE_SHOP": self.shop,
             "MYSTORE_TOKEN": self.token, "MYSTORE_RATE_LIMIT_PER_MIN": "1000000",
             "MYSTORE_INITIAL_LOOKBACK_H": "87600", "ONGOING_API_URL": self.og.base + "/wh",
             "ONGOING_USER": self.user, "ONGOING_PASSWORD": self.password,
             "ONGOING_GOODS_OWNER_ID": str(self.owner), "STOCK_SYNC": "on",
             "POLL_INTERVAL_S": "1"}
        s.update(over)
        return "".join("%s=%s\n" % kv for kv in s.items())

    def sims(self):
        return (self.ms, self.og)


def tenant_cmd(env, args, stdin=None):
    """`mosync tenant <args>` as an operator runs it (MOSYNC_TENANT unset), tried
    again for a while if Redis is away just then."""
    for attempt in range(15):
        rc, out, err = harness.run_checked(
            [MOSYNC, "tenant"] + args, env, 60, "mosync tenant " + " ".join(args),
            stdin=stdin.encode() if stdin is not None else None)
        if rc == 0:
            return out.decode()
        log("mosync tenant %s failed (%d): %s" % (" ".join(args), rc, err.decode()[-300:]))
        time.sleep(2)
    raise TestFailure("mosync tenant %s kept failing" % " ".join(args))


class Fleet:
    """Two replicas of every role, each serving every tenant (--all-tenants), each
    restarted whenever it dies."""

    started = []   # every process any fleet started, for the cleanup
    halted = False  # set by the cleanup: no more restarts

    def __init__(self, env, workdir):
        self.env = env
        self.workdir = workdir
        self.lock = threading.Lock()
        self.slots = {}   # name -> [command words, process]
        self.paused = {}  # name -> the process stopped with SIGSTOP
        self.stopping = False
        self.kills = 0
        self.restarts = 0
        for role in ROLES:
            for replica in (1, 2):
                self.slots["%s-%s-%d" % (role[0], role[1], replica)] = [
                    list(role) + ["--all-tenants"], None]
        for name in self.slots:
            self._start(name)
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _start(self, name):
        with open(os.path.join(self.workdir, name + ".log"), "ab") as logf:
            self.slots[name][1] = subprocess.Popen([MOSYNC] + self.slots[name][0], env=self.env,
                                                   stdout=subprocess.DEVNULL, stderr=logf)
        Fleet.started.append(self.slots[name][1])

    def pid_of(self, pid):
        """The slot name of a running process, or None."""
        with self.lock:
            for name, (_, p) in self.slots.items():
                if p.pid == pid and p.poll() is None:
                    return name
        return None

    def pause(self, name):
        """SIGSTOP: the process keeps its place (and, as far as it knows, its lease)
        but does nothing, as a host paused by its hypervisor; never killed meanwhile."""
        with self.lock:
            p = self.slots[name][1]
            p.send_signal(signal.SIGSTOP)
            self.paused[name] = p

    def resume(self, name):
        with self.lock:
            p = self.paused.pop(name, None)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGCONT)

    def _watch(self):
        while True:
            time.sleep(0.5)
            with self.lock:
                if self.stopping or Fleet.halted:
                    return
                for name, (_, p) in self.slots.items():
                    if p.poll() is not None:
                        self.restarts += 1
                        self._start(name)

    def kill_one(self, rng):
        with self.lock:
            name = rng.choice(sorted(self.slots))
            p = self.slots[name][1]
            if p.poll() is None and name not in self.paused:
                p.kill()
                p.wait()
                self.kills += 1
                self._start(name)
                return name
        return None

    def stop(self):
        for name in list(self.paused):
            self.resume(name)
        with self.lock:
            self.stopping = True
            procs = [p for _, p in self.slots.values()]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Workload:
    """What one tenant's shop and warehouse do meanwhile: product edits, shipments,
    stock."""

    def __init__(self, tenant, rng):
        self.t = tenant
        self.rng = rng
        self.products = [p["id"] for p in tenant.seed["products"]]
        self.changes = 0
        self.shipped = {}       # order number -> tracking number
        self.stock = {}         # article number -> list of sellable values set, in order
        self.done = threading.Event()

    def run(self):
        t = self.t
        ms, og = t.ms, t.og
        rounds = {}
        next_change = 0
        while not self.done.is_set():
            # Article changes: product edits, a few per tick.
            for _ in range(8):
                if self.changes >= t.changes_n:
                    break
                pid = self.products[next_change % len(self.products)]
                next_change += 1
                if pid == t.bad_product["id"]:
                    continue
                p = ms.get("/_sim/products/%s" % pid)
                p["attributes"]["price"] = "%d.00" % (100 + self.changes % 900)
                p["attributes"].pop("updated_at", None)
                ms.put("/_sim/products/%s" % pid, p)
                self.changes += 1
            # Shipments: orders that reached the warehouse, shipped with a tracking number.
            if len(self.shipped) < t.shipments_n:
                for o in og.orders():
                    n = o["orderNumber"]
                    if n in self.shipped or o.get("status") != 200:
                        continue
                    waybill = "CHAOS%s" % n
                    og.post("/_sim/orders/%s/ship" % n,
                            {"tracking": [{"waybill": waybill, "trackingUrl": "https://t/" + n}]})
                    self.shipped[n] = waybill
                    if len(self.shipped) >= t.shipments_n or len(self.shipped) % 25 == 0:
                        break
            # Stock: rising sellable values on articles the warehouse knows.
            arts = [a["articleNumber"] for a in og.get("/_sim/articles")]
            for no in arts[:t.stock_n]:
                r = rounds.get(no, 0)
                if r >= STOCK_ROUNDS or self.rng.random() > 0.1:
                    continue
                rounds[no] = r + 1
                value = 5 * (r + 1) + self.rng.random()
                og.post("/_sim/articles/%s/stock" % no,
                        {"numberOfItems": int(value) + 2, "sellableNumberOfItems": value})
                self.stock.setdefault(no, []).append(value)
            if (self.changes >= t.changes_n and len(self.shipped) >= t.shipments_n and
                    len(rounds) >= t.stock_n and all(r >= STOCK_ROUNDS for r in rounds.values())):
                return
            time.sleep(0.5)


def mapped(kind, docs, owner):
    """The golden mapping of many snapshots (`mosync map <kind>`, one process each) for
    goods owner `owner`."""
    out = []
    env = dict(os.environ, ONGOING_GOODS_OWNER_ID=str(owner))
    for d in docs:
        p = subprocess.run([MOSYNC, "map", kind], input=json.dumps(d).encode(), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out.append(json.loads(p.stdout) if p.returncode == 0 else None)
    return out


def main():
    ap = argparse.ArgumentParser()
    # The real broker by default: the embedded mock cluster of Debian's librdkafka 2.0.2
    # can die on its own assertion when consumers rejoin it after it comes back.
    ap.add_argument("--kafka", choices=("real", "mock"),
                    default="real")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("MOSYNC_CHAOS_SEED", "7")))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    settle_s = int(os.environ.get("MOSYNC_CHAOS_SETTLE_S", "600"))
    t0 = time.time()

    workdir = tempfile.mkdtemp(prefix="mosync-chaos-")
    log("work directory %s (kafka: %s, seed %d)" % (workdir, args.kafka, args.seed))
    prefix = "chaos."
    redis = harness.Redis(workdir)
    broker = Broker(args.kafka, workdir, prefix)
    tenants = []

    class E:  # what harness.dlq_messages needs of an Env
        pass
    env = E()
    env.redis, env.broker, env.tenants = redis, broker, tenants
    # The processes' own environment: no tenant's settings and no MOSYNC_TENANT (the
    # registry holds the tenants), the key their secrets are sealed with.
    env.env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_BROKERS": broker.bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": "6",
        "REDIS_URL": "redis://127.0.0.1:%d/0" % redis.port,
        "MOSYNC_SECRET_KEY": SECRET_KEY,
        "HTTP_TIMEOUT_MS": "1500",
        "LEASE_TTL_S": str(LEASE_TTL_S),
        "MAX_ATTEMPTS": "10",
        "LOG_LEVEL": "info",
    }
    env.prefix = prefix
    rc = 1
    try:
        for i, name in enumerate(TENANTS):
            tenants.append(Tenant(i, name, workdir, args.seed))
            tenant_cmd(env.env, ["add", name], stdin=tenants[-1].settings())
        log("tenants %s: %s orders, %s products" % (
            ", ".join(TENANTS), "/".join(str(t.orders_n) for t in tenants),
            "/".join(str(len(t.seed["products"])) for t in tenants)))
        if args.kafka == "real":
            subprocess.run([MOSYNC, "topics"], env=env.env, check=True)
        rc = run(args, rng, workdir, env, redis, settle_s, t0)
        return rc
    except harness.InfraDied as e:
        # The suite's own infrastructure is gone: nothing after this would mean anything.
        print("infrastructure died: %s" % e, flush=True)
        log("logs kept in %s" % workdir)
        print("0 passed, 1 failed", flush=True)
        return 1
    finally:
        # Whatever happened, nothing the suite started outlives it.
        Fleet.halted = True
        time.sleep(1)  # the watcher sees it before the last kills
        for p in list(Fleet.started):
            if p.poll() is None:
                p.kill()
                p.wait()
        for t in tenants:
            for sim in t.sims():
                sim.stop()
        broker.stop()
        redis.close()
        if rc == 0:  # a failed run keeps its logs (and says where)
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, rng, workdir, env, redis, settle_s, t0):
    """The chaos run proper (see the module comment); returns the exit status."""
    broker, tenants = env.broker, env.tenants
    by_name = {t.name: t for t in tenants}
    for t in tenants:
        for sim in t.sims():
            sim.post("/_sim/chaos", dict(FAULTS, seed=args.seed * 10 + t.i, timeout_ms=2500))
    fleet = Fleet(env.env, workdir)
    refused = RefusedWatch(redis)
    threads = []
    for t in tenants:
        t.work = Workload(t, random.Random(rng.random()))
        threads.append(threading.Thread(target=t.work.run, daemon=True))
        threads[-1].start()

    # The disruptions, spread over the run; kills in between until the workload is done.
    # Each entry is (seconds after the start, what); a disruption with an end plans it.
    # The pause comes early, while the tenant still has events on their way.
    redis_restarts = broker_restarts = pauses = 0
    plan = [(n * GAP_S + GAP_S * 0.75, what) for n, what in enumerate(
        ("redis-restart", "pause-tenant", "broker", "flush-cache", "redis-restart",
         "sigstop-poller", "wrong-password", "redis-loading"))]
    disrupted = {}  # what was seen of the disruptions, for the checks
    start = time.time()
    while plan or any(th.is_alive() for th in threads) or fleet.kills < MIN_KILLS:
        harness.check_infra()
        now = time.time() - start
        if plan and now >= plan[0][0]:
            what = plan.pop(0)[1]
            if what == "redis-restart":
                log("restarting Redis")
                redis.stop()
                time.sleep(3)
                redis.start()
                redis_restarts += 1
            elif what == "flush-cache":
                n = redis.cmd("EVAL", FLUSH_CACHE_LUA, "0")
                names = sorted(redis.cmd("SMEMBERS", "mosync:{*}:tenants") or [])
                disrupted["registry_kept"] = names == sorted(TENANTS) and all(
                    redis.cmd("EXISTS", "mosync:{%s}:tenant" % n) for n in TENANTS)
                log("emptied Redis's cache: %d keys deleted, the registry kept (%s)" % (n, names))
            elif what == "broker":
                log("restarting the Kafka broker")
                broker.restart()
                broker_restarts += 1
            elif what == "sigstop-poller":
                nxt = pause_lease_holder(fleet, redis, disrupted)
                if nxt:
                    plan.append((now + nxt[1], nxt[0]))
            elif what == "sigcont-poller":
                name, tn = disrupted["paused"], disrupted["lease_tenant"]
                # The lease's fence counter is raised by each new holder only (lease.c):
                # past the stopped holder's fence, another process took the lease.
                key = "mosync:{%s}:lease:mystore-orders" % tn
                fence = int(redis.cmd("GET", key + ":fence") or 0)
                disrupted["taken_over"] = fence > int(disrupted["holder"].split()[0])
                log("SIGCONT %s; %s's lease fence is now %d, the lease %r"
                    % (name, tn, fence, redis.cmd("GET", key)))
                fleet.resume(name)
            elif what == "wrong-password":
                t = by_name[WRONG_PASSWORD_TENANT]
                tenant_cmd(env.env, ["set", t.name],
                           stdin="ONGOING_PASSWORD=wrong-chaos-password\n")
                disrupted["refused_before"] = refused_count(workdir, t.name)
                log("set %s's ONGOING_PASSWORD wrong in the registry for %.0f s"
                    % (t.name, BAD_PASSWORD_S))
                plan.append((now + BAD_PASSWORD_S, "password-fixed"))
            elif what == "password-fixed":
                t = by_name[WRONG_PASSWORD_TENANT]
                tenant_cmd(env.env, ["set", t.name], stdin="ONGOING_PASSWORD=%s\n" % t.password)
                disrupted["refused"] = (refused_count(workdir, t.name) -
                                        disrupted.get("refused_before", 0))
                log("set %s's ONGOING_PASSWORD right again; %d refusals logged meanwhile"
                    % (t.name, disrupted["refused"]))
            elif what == "pause-tenant":
                tenant_cmd(env.env, ["pause", PAUSED_TENANT])
                disrupted["pause_at_ms"] = int(time.time() * 1000)
                pauses += 1
                log("paused %s for %.0f s" % (PAUSED_TENANT, GAP_S))
                plan.append((now + GAP_S, "resume-tenant"))
            elif what == "resume-tenant":
                tenant_cmd(env.env, ["resume", PAUSED_TENANT])
                disrupted["resumed_at_ms"] = int(time.time() * 1000)
                log("resumed %s" % PAUSED_TENANT)
            elif what == "redis-loading":
                restart_redis_loading(redis, disrupted)
                redis_restarts += 1
            plan.sort()
        name = fleet.kill_one(rng)
        if name:
            log("kill -9 %s (%d)" % (name, fleet.kills))
        time.sleep(rng.uniform(2, 6))
        if now > 1800:
            log("the workload did not finish within 30 minutes")
            break
    faults = 0
    for t in tenants:
        t.work.done.set()
        for sim in t.sims():
            faults += sum(sim.stats()["chaos"].values())
            sim.call("DELETE", "/_sim/chaos")
    log("chaos over after %.0f s: %d kills, %d faults; settling" % (time.time() - start,
                                                                    fleet.kills, faults))

    checks = [Checks(env, t) for t in tenants]
    deadline = time.time() + settle_s
    while time.time() < deadline and not all(c.settled() for c in checks):
        harness.check_infra()
        time.sleep(5)
    fleet.stop()
    refused.done.set()
    disrupted["refused_records"] = refused.seen
    total = {"lost": 0, "duplicated": 0, "crossed": 0, "dead_letters": 0, "passed": 0,
             "failed": 0}
    for c in checks:
        for k, v in c.run().items():
            total[k] += v
    d = disruption_checks(disrupted, by_name[PAUSED_TENANT])
    total["passed"] += d["passed"]
    total["failed"] += d["failed"]
    print("lost=%d duplicated_effects=%d crossed=%d dead_letters=%d kills=%d redis_restarts=%d "
          "broker_restarts=%d faults=%d pauses=%d"
          % (total["lost"], total["duplicated"], total["crossed"], total["dead_letters"],
             fleet.kills, redis_restarts, broker_restarts, faults, pauses), flush=True)
    log("took %.0f s" % (time.time() - t0))
    print("%d passed, %d failed" % (total["passed"], total["failed"]), flush=True)
    if total["failed"]:
        log("logs kept in %s" % workdir)
        return 1
    return 0


class RefusedWatch:
    """Which tenants Redis held a refused-credential record for (mosync:{T}:refused:<api>,
    what `mosync status` shows), read every half second all run long: only the tenant
    whose password was set wrong may ever have one.  Redis away: that read is skipped."""

    def __init__(self, redis):
        self.redis = redis
        self.seen = {}  # tenant -> the first record seen of it
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.wait(0.5):
            try:
                for key in self.redis.cmd("KEYS", "mosync:{*}:refused:*") or []:
                    tenant = key.split("{", 1)[1].split("}", 1)[0]
                    if tenant not in self.seen:
                        self.seen[tenant] = (key, self.redis.cmd("HGETALL", key))
            except Exception:  # Redis restarting, loading: the next read
                pass


def refused_count(workdir, tenant):
    """How many log lines of the fleet say that tenant's Ongoing credential was refused."""
    n = 0
    for f in os.listdir(workdir):
        if f.endswith(".log") and (f.startswith("poll-ongoing") or f.startswith("apply-")):
            with open(os.path.join(workdir, f), errors="replace") as fh:
                n += sum(1 for line in fh if '"tenant":"%s"' % tenant in line and
                         "Ongoing refused the credential" in line)
    return n


def pause_lease_holder(fleet, redis, disrupted):
    """SIGSTOPs a poller caught holding a tenant's mystore-orders lease (its value names
    the holder as host:pid; `poll --all-tenants` holds it only while that tenant's cycle
    runs, so the keys are read every few ms for up to 3 s), for three lease TTLs.
    Returns what to plan next and in how many seconds: its SIGCONT, or, when no poller
    of ours was caught holding one, this disruption again 2 s later; None after 30
    tries (the check on the disruption then fails)."""
    keys = ["mosync:{%s}:lease:mystore-orders" % n for n in TENANTS]
    end = time.time() + 3
    while time.time() < end:
        for key, tn in zip(keys, TENANTS):
            holder = redis.cmd("GET", key)
            pids = [int(w) for w in re.findall(r"[0-9]+", holder or "")]
            name = next((fleet.pid_of(p) for p in pids if fleet.pid_of(p)), None)
            if name is None or not name.startswith("poll-mystore-orders"):
                continue
            fleet.pause(name)
            disrupted.update(paused=name, holder=holder, lease_tenant=tn)
            log("SIGSTOP %s, the holder of %s (%r), for %d s (LEASE_TTL_S=%d)"
                % (name, key, holder, 3 * LEASE_TTL_S, LEASE_TTL_S))
            return ("sigcont-poller", 3 * LEASE_TTL_S)
        time.sleep(0.005)
    disrupted["sigstop_tries"] = disrupted.get("sigstop_tries", 0) + 1
    log("no poller of ours caught holding a mystore-orders lease; trying again")
    return ("sigstop-poller", 2) if disrupted["sigstop_tries"] < 30 else None


def restart_redis_loading(redis, disrupted):
    """Restarts Redis so that it loads its data for about 10 s: the AOF rewritten
    first (its base is then an RDB, loaded key by key), and redis-server's
    key-load-delay (a debug setting, microseconds per key) slowing the load.
    Records whether a PING was answered LOADING meanwhile."""
    keys = redis.cmd("DBSIZE")
    redis.cmd("BGREWRITEAOF")
    harness.wait_until(lambda: "aof_rewrite_in_progress:0" in redis.cmd("INFO", "persistence") and
                       "aof_rewrite_scheduled:0" in redis.cmd("INFO", "persistence"),
                       120, "the AOF rewrite")
    delay_us = max(10, min(100000, 10000000 // max(1, keys)))
    log("restarting Redis with %d keys on disk, loaded at %d us per key" % (keys, delay_us))
    redis.stop()
    redis.loading_seen = False
    t0 = time.time()
    redis.start(["--key-load-delay", str(delay_us),
                 "--loading-process-events-interval-bytes", "1024"], timeout=300)
    redis.cmd("CONFIG", "SET", "key-load-delay", "0")
    disrupted["loading"] = redis.loading_seen
    log("Redis answered %s for %.0f s after its restart" % (
        "LOADING" if redis.loading_seen else "no LOADING (!)", time.time() - t0))


def report(out):
    """Prints check lines; returns (passed, failed)."""
    for line in out:
        print(line, flush=True)
    failed = sum(1 for line in out if line.startswith("FAIL"))
    return len(out) - failed, failed


def disruption_checks(disrupted, paused):
    """The disruptions happened as planned (else the run proves less than it says)."""
    out = []

    def check(ok, what):
        out.append("%s %s" % ("ok  " if ok else "FAIL", what))

    check(disrupted.get("paused") and disrupted.get("taken_over"),
          "a holder of a mystore-orders lease was SIGSTOPped past its TTL and the other "
          "replica took that tenant's lease meanwhile (%s)"
          % {k: disrupted.get(k) for k in ("paused", "lease_tenant", "holder", "taken_over")})
    check(disrupted.get("refused", 0) > 0,
          "%s's wrong ONGOING_PASSWORD was refused (%s log lines), then set right"
          % (WRONG_PASSWORD_TENANT, disrupted.get("refused")))
    others = {t: r for t, r in disrupted.get("refused_records", {}).items()
              if t != WRONG_PASSWORD_TENANT}
    check(not others, "no refused-credential record under a tenant whose credential was "
          "never refused (%s)" % others)
    check(disrupted.get("pause_at_ms") and disrupted.get("resumed_at_ms"),
          "%s was paused and resumed" % paused.name)
    check(disrupted.get("registry_kept"), "emptying the cache kept the registry")
    check(disrupted.get("loading"), "Redis answered LOADING after its restart with data on disk")
    # What the paused tenant's systems got while it was paused, for the log: the
    # events in hand when it was paused may still land, so it is no check.
    if disrupted.get("resumed_at_ms"):
        lo, hi = disrupted["pause_at_ms"] + 5000, disrupted["resumed_at_ms"]
        during = [w for sim in paused.sims() for w in sim.writes()
                  if lo <= w.get("at_ms", 0) < hi]
        log("%s got %d writes from 5 s after its pause to its resume" % (paused.name, len(during)))
    passed, failed = report(out)
    return {"passed": passed, "failed": failed}


class Checks:
    """One tenant's end state against what its Mystore and workload say it must be."""

    def __init__(self, env, tenant):
        self.env = env
        self.t = tenant
        self.work = tenant.work
        self.seed = tenant.seed
        self.order_ids = [o["id"] for o in self.seed["orders"] if o["id"] not in tenant.bad_orders]
        self.articles = None  # _expected_articles()

    def settled(self):
        """Progress test while waiting: every expected order in Ongoing, every
        article as its golden mapping, every shipment levert, the last stock value of
        every article landed."""
        stored = {o["orderNumber"] for o in self.t.og.orders()}
        if not set(self.order_ids) <= stored:
            return False
        if any(self._article_problems()):
            return False
        for n in self.work.shipped:
            if self.t.ms.get("/_sim/orders/%s" % n)["status_id"] != "3":
                return False
        return not self._stock_problems()[0]

    def _expected_articles(self):
        """(expected, o4): the golden mapping of every product's final state (the
        workload is over: computed once), articleNumber -> article, and the articles
        only order lines create."""
        if self.articles is None:
            t, expected = self.t, {}
            from test_flows import product_snapshot  # noqa: E402

            class ShopEnv:  # what product_snapshot needs of an Env
                mystore = t.ms
            snaps = [product_snapshot(ShopEnv, p["id"]) for p in self.seed["products"]]
            for snap, exp in zip(snaps, mapped("article", snaps, t.owner)):
                for a in (exp or {}).get("articles", []):
                    expected[a["articleNumber"]] = a
            # The planted bad product is dead-lettered by the article flow, but
            # orders that sell its variants still create those articles from their
            # order lines (O4): they are expected too, with the order line's data.
            bad = t.bad_product["id"]
            o4 = {line["attributes"]["sku"] for o in self.seed["orders"]
                  if o["id"] not in t.bad_orders
                  for line in o["lines"] if line["product_id"] == bad}
            self.articles = (expected, o4)
        return self.articles

    def _article_problems(self):
        """(missing, extra, differing) article numbers in Ongoing."""
        expected, o4 = self._expected_articles()
        arts = {a["articleNumber"]: a for a in self.t.og.get("/_sim/articles")}
        keys = ("articleSystemId", "inventoryInfo", "stock", "numberOfItems",
                "sellableNumberOfItems")
        missing = [n for n in expected if n not in arts] + [n for n in o4 if n not in arts]
        extra = [n for n in arts if n not in expected and n not in o4]
        differ = [n for n, a in expected.items() if n in arts and
                  {k: v for k, v in arts[n].items() if k not in keys} != a]
        return missing, extra, differ

    def _stock_problems(self):
        """(missing, regressions): articles whose last value did not land in Mystore, and
        targets that were ever written a lower value after a higher one."""
        ms = self.t.ms
        want = {}
        for no, values in self.work.stock.items():
            want[no] = max(0, int(values[-1] // 1))
        missing = []
        for no, q in want.items():
            entry = None
            for p in self.seed["products"]:
                if p["attributes"].get("sku") == no and not p["variants"]:
                    entry = ("product", p["id"])
                for v in p["variants"]:
                    if v["attributes"].get("sku") == no:
                        entry = ("variant", p["id"], v["id"])
            if entry is None:
                continue
            got = ms.get("/_sim/products/%s" % entry[1])
            if entry[0] == "product":
                have = got["attributes"].get("quantity")
            else:
                have = next(v["attributes"].get("quantity") for v in got["variants"]
                            if v["id"] == entry[2])
            if have != q:
                missing.append(no)
        regressions = []
        last = {}
        for w in ms.writes():
            if w["method"] != "PATCH" or "/product" not in w["path"] or w["status"] >= 300:
                continue
            q = ((w["body"] or {}).get("data") or {}).get("attributes", {}).get("quantity")
            if q is None:
                continue
            if w["path"] in last and q < last[w["path"]][0]:
                # When each landed (ms since the epoch), to lay beside the run's log.
                regressions.append((w["path"], last[w["path"]], (q, w.get("at_ms"))))
            last[w["path"]] = (q, w.get("at_ms"))
        return missing, regressions

    def _crossed(self):
        """Writes this tenant's simulators received that were not for it: an Ongoing write
        with another goods owner, order number or SKU; a Mystore write to another shop,
        or for an order or product that is not this shop's.  A list of (sim, seq, why)."""
        t, bad = self.t, []
        og_writes, ms_writes = t.og.writes(), t.ms.writes()
        self.writes_checked = (len(og_writes), len(ms_writes))
        for w in og_writes:
            found = {"goodsOwnerId": set(), "orderNumber": set(), "articleNumber": set()}
            walk(w.get("body"), found)
            why = ([("goods owner %s" % g) for g in found["goodsOwnerId"] if g != t.owner] +
                   [("order %s" % n) for n in found["orderNumber"] if n not in t.order_ids] +
                   [("article %s" % n) for n in found["articleNumber"] if n not in t.skus])
            if not found["goodsOwnerId"] and w["path"].startswith("/wh/api/v1/"):
                why.append("no goods owner")
            if why:
                bad.append(("ongoing", w["seq"], w["method"], w["path"], why[:3]))
        own = {"orders": t.order_ids, "products": t.product_ids,
               "product-variants": t.variant_ids, "variants": t.variant_ids}
        for w in ms_writes:
            parts = w["path"].strip("/").split("/")
            why = []
            if parts[:2] != ["shops", t.shop]:
                why.append("shop %s" % parts[1:2])
            for kind, ident in zip(parts[2:], parts[3:]):
                if kind in own and ident not in own[kind]:
                    why.append("%s %s" % (kind, ident))
            if why:
                bad.append(("mystore", w["seq"], w["method"], w["path"], why[:3]))
        return bad

    def run(self):
        t, out = self.t, []
        lost = duplicated = 0
        name = t.name

        def check(ok, what):
            out.append("%s %s: %s" % ("ok  " if ok else "FAIL", name, what))

        # Orders: exactly the expected ones, each as the golden mapping says.
        stored = {o["orderNumber"]: o for o in t.og.orders()}
        missing = [i for i in self.order_ids if i not in stored]
        extra = [n for n in stored if n not in self.order_ids]
        lost += len(missing)
        snaps = [t.ms.snapshot(i) for i in self.order_ids if i in stored]
        wrong = []
        for snap, exp in zip(snaps, mapped("order", snaps, t.owner)):
            oid = snap["order"]["id"]
            if exp is None or exp["action"] != "upsert":
                continue  # levert meanwhile: Ongoing keeps what it had
            if harness.request_body(stored[oid]) != exp["order"]:
                wrong.append(oid)
        check(not missing and not extra,
              "Ongoing holds exactly the %d expected orders (missing %s, extra %s)"
              % (len(self.order_ids), missing[:5], extra[:5]))
        check(not wrong, "every order in Ongoing equals its golden mapping (%d differ: %s)"
              % (len(wrong), wrong[:5]))

        # Articles: exactly the mapping of every product's final state.
        expected, o4 = self._expected_articles()
        miss_art, extra_art, diff_art = self._article_problems()
        lost += len(miss_art)
        check(not miss_art and not extra_art,
              "Ongoing holds exactly the %d expected articles, %d of them from order lines "
              "(missing %s, extra %s)" % (len(expected) + len(o4), len(o4), miss_art[:5],
                                          extra_art[:5]))
        check(not diff_art, "every article equals its golden mapping (%d differ: %s)"
              % (len(diff_art), diff_art[:5]))

        # Deliveries: levert once, with the tracking number; one history row each.
        not_sent, twice, bad_tracking = [], [], []
        for n, waybill in self.work.shipped.items():
            o = t.ms.get("/_sim/orders/%s" % n)
            if o["status_id"] != "3":
                not_sent.append(n)
            if o["attributes"].get("tracking_number") != waybill:
                bad_tracking.append(n)
            rows = [h for h in o.get("history") or [] if h.get("status_id") == "3"]
            if len(rows) > 1:
                twice.append(n)
        lost += len(not_sent)
        duplicated += len(twice)
        check(not not_sent and not bad_tracking,
              "all %d shipped orders levert with their tracking number (not: %s, wrong: %s)"
              % (len(self.work.shipped), not_sent[:5], bad_tracking[:5]))
        check(not twice, "no customer notified twice (%s)" % twice[:5])

        # Stock.
        miss_stock, regressions = self._stock_problems()
        lost += len(miss_stock)
        duplicated += len(regressions)
        check(not miss_stock, "the last stock value of every article landed (%s)" % miss_stock[:5])
        check(not regressions, "no older stock value overwrote a newer one (%s)" % regressions[:3])

        # Dead letters: exactly the planted bad entities, each under this tenant.
        env_t = type("TenantEnv", (), {})()
        env_t.env = dict(self.env.env, MOSYNC_TENANT=name)
        letters = dlq_messages(env_t)
        keys = {m["key"] for m in letters}
        others = sorted({(m.get("headers") or {}).get("mosync.tenant") for m in letters} - {name},
                        key=str)
        check(keys == t.planted and not others,
              "dead letters are exactly the planted %s, with mosync.tenant %s (got %s, other "
              "tenants %s)" % (sorted(t.planted), name, sorted(keys), others))

        # No cross-over.
        crossed = self._crossed()
        check(not crossed, "its simulators were written only with its goods owner, orders, "
              "articles and shop (of %d Ongoing and %d Mystore writes, %d not: %s)"
              % (self.writes_checked + (len(crossed), crossed[:3])))
        passed, failed = report(out)
        return {"lost": lost, "duplicated": duplicated, "crossed": len(crossed),
                "dead_letters": len(keys), "passed": passed, "failed": failed}


def walk(doc, found):
    """Collects into found (key -> set) every value of those keys anywhere in doc."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in found and isinstance(v, (str, int)):
                found[k].add(v)
            else:
                walk(v, found)
    elif isinstance(doc, list):
        for v in doc:
            walk(v, found)


if __name__ == "__main__":
    sys.exit(main())
