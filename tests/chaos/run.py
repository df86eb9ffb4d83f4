#!/usr/bin/env python3
"""The chaos suite (`make chaos`): every flow under crashes, outages and bad input.

    tests/chaos/run.py [--kafka real|mock] [--seed N]

5,000 orders, 2,000 article changes, 500 shipments and stock sync flow through two
replicas of every poller and every consumer (16 processes) while:
  - processes are killed with SIGKILL at random moments and restarted (at least 20 kills);
  - Redis is restarted twice and emptied once (FLUSHALL);
  - the Kafka broker is restarted once: by default a real Apache Kafka 3.9.1 broker
    (tests/kafka/stop, then start on the same data directory and port); with --kafka
    mock the embedded one is taken down and up (SIGUSR1 / SIGUSR2 to `mosync dev-broker`);
  - the poller holding the mystore-orders lease is stopped (SIGSTOP) for three times
    LEASE_TTL_S, so the standby takes over, then continued (SIGCONT);
  - the appliers run with a wrong ONGOING_PASSWORD for 60 s, then are restarted with the
    right one;
  - Redis is restarted with its data on disk loaded slowly (redis-server's key-load-delay),
    so it answers LOADING for about 10 s; the suite checks that it saw LOADING;
  - both simulators answer 5% of requests with 500, 2% with 429 and Retry-After,
    1% too late (the effect applied, the answer after the client gave up) and 0.5%
    with a malformed body (the effect applied).
If the broker, Redis or a simulator the suite started dies on its own (librdkafka's mock
cluster can die on an assertion when consumers rejoin it), the suite stops at once and
says which, how, and the tail of its log, instead of waiting without it.
Then the faults stop and the suite waits (bounded) for the system to settle, and checks:
  - the Ongoing simulator holds exactly the expected orders and articles, each equal to
    what the golden mapping makes of Mystore's final data;
  - every shipped order is "levert" in Mystore with its tracking number, and has exactly
    one status-history row (no customer notice twice);
  - no older stock value was ever written over a newer one, and the last value landed;
  - exactly the planted bad entities are in mosync.dlq.
It prints one line
  lost=0 duplicated_effects=0 dead_letters=N kills=N redis_restarts=N broker_restarts=N faults=N
and "N passed, N failed" (each check one), and exits 1 when anything was lost or doubled.
Loopback only; bounded in time (MOSYNC_CHAOS_SETTLE_S, default 600, for the settling).

Knobs to shrink it (a quick check of the mechanics, not the suite): MOSYNC_CHAOS_ORDERS
(5000), MOSYNC_CHAOS_ARTICLE_CHANGES (2000), MOSYNC_CHAOS_SHIPMENTS (500),
MOSYNC_CHAOS_MIN_KILLS (20), MOSYNC_CHAOS_GAP_S (40, seconds between two disruptions),
MOSYNC_CHAOS_BAD_PASSWORD_S (60).
"""
import argparse
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
from harness import MOSYNC, TENANT, TestFailure, dlq_messages  # noqa: E402
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
# Three orders that cannot be mapped, spread over the list (ids 10001...): with
# 5,000 orders these are 10777, 12345 and 14999.
BAD_ORDERS = tuple(str(10001 + min(ORDERS - 1, n * ORDERS // 5000))
                   for n in (776, 2344, 4998)) if ORDERS >= 3 else ()
FAULTS = {"error": 0.05, "rate_limited": 0.02, "timeout": 0.01, "malformed": 0.005}
ROLES = [("poll", "mystore-orders"), ("poll", "mystore-products"),
         ("poll", "ongoing-shipments"), ("poll", "ongoing-stock"),
         ("apply", "orders"), ("apply", "articles"), ("apply", "deliveries"),
         ("apply", "stock")]


def log(msg):
    print("# %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


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


class Fleet:
    """Two replicas of every role, each restarted whenever it dies."""

    started = []   # every process any fleet started, for the cleanup
    halted = False  # set by the cleanup: no more restarts

    def __init__(self, env, workdir):
        self.env = env
        self.workdir = workdir
        self.lock = threading.Lock()
        self.slots = {}   # name -> [command words, process, extra environment]
        self.paused = {}  # name -> the process stopped with SIGSTOP
        self.stopping = False
        self.kills = 0
        self.restarts = 0
        for role in ROLES:
            for replica in (1, 2):
                self.slots["%s-%s-%d" % (role[0], role[1], replica)] = [list(role), None, {}]
        for name in self.slots:
            self._start(name)
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _start(self, name):
        with open(os.path.join(self.workdir, name + ".log"), "ab") as logf:
            self.slots[name][1] = subprocess.Popen([MOSYNC] + self.slots[name][0],
                                                   env=dict(self.env, **self.slots[name][2]),
                                                   stdout=subprocess.DEVNULL, stderr=logf)
        Fleet.started.append(self.slots[name][1])

    def restart_with(self, prefix, extra_env):
        """Restarts every process whose slot name starts with prefix ("apply-") with
        extra_env over the suite's environment (SIGTERM, as an operator's restart);
        returns the names.  Kills and the watcher's restarts keep that environment."""
        with self.lock:
            names = [n for n in sorted(self.slots) if n.startswith(prefix)]
            procs = [self.slots[n][1] for n in names]
            for n in names:
                self.slots[n][2] = dict(extra_env)
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for n in names:
                self._start(n)
        return names

    def pid_of(self, pid):
        """The slot name of a running process, or None."""
        with self.lock:
            for name, (_, p, _) in self.slots.items():
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
                for name, (_, p, _) in self.slots.items():
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
            procs = [p for _, p, _ in self.slots.values()]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def plant_bad(seed):
    """Three orders that cannot be mapped and one product whose weight is not a number:
    the only entities that may end in mosync.dlq."""
    for o in seed["orders"]:
        if o["id"] in BAD_ORDERS:
            o["lines"][0]["attributes"]["quantity"] = "abc"
    bad_product = seed["products"][7]
    bad_product["attributes"]["weight"] = "tung"
    return {TENANT + ":" + oid for oid in BAD_ORDERS} | {TENANT + ":" + bad_product["id"]}


class Workload:
    """What the shop and the warehouse do meanwhile: product edits, shipments, stock."""

    def __init__(self, env, seed, rng):
        self.env = env
        self.rng = rng
        self.products = [p["id"] for p in seed["products"]]
        self.bad_product = seed["products"][7]["id"]
        self.changes = 0
        self.shipped = {}       # order number -> tracking number
        self.stock = {}         # article number -> list of sellable values set, in order
        self.done = threading.Event()

    def run(self):
        ms, og = self.env.mystore, self.env.ongoing
        rounds = {}
        next_change = 0
        while not self.done.is_set():
            # Article changes: product edits, a few per tick.
            for _ in range(8):
                if self.changes >= ARTICLE_CHANGES:
                    break
                pid = self.products[next_change % len(self.products)]
                next_change += 1
                if pid == self.bad_product:
                    continue
                p = ms.get("/_sim/products/%s" % pid)
                p["attributes"]["price"] = "%d.00" % (100 + self.changes % 900)
                p["attributes"].pop("updated_at", None)
                ms.put("/_sim/products/%s" % pid, p)
                self.changes += 1
            # Shipments: orders that reached the warehouse, shipped with a tracking number.
            if len(self.shipped) < SHIPMENTS:
                for o in og.orders():
                    n = o["orderNumber"]
                    if n in self.shipped or o.get("status") != 200:
                        continue
                    waybill = "CHAOS%s" % n
                    og.post("/_sim/orders/%s/ship" % n,
                            {"tracking": [{"waybill": waybill, "trackingUrl": "https://t/" + n}]})
                    self.shipped[n] = waybill
                    if len(self.shipped) >= SHIPMENTS or len(self.shipped) % 25 == 0:
                        break
            # Stock: rising sellable values on articles the warehouse knows.
            arts = [a["articleNumber"] for a in og.get("/_sim/articles")]
            for no in arts[:STOCK_ARTICLES]:
                r = rounds.get(no, 0)
                if r >= STOCK_ROUNDS or self.rng.random() > 0.1:
                    continue
                rounds[no] = r + 1
                value = 5 * (r + 1) + self.rng.random()
                og.post("/_sim/articles/%s/stock" % no,
                        {"numberOfItems": int(value) + 2, "sellableNumberOfItems": value})
                self.stock.setdefault(no, []).append(value)
            if (self.changes >= ARTICLE_CHANGES and len(self.shipped) >= SHIPMENTS and
                    len(rounds) >= STOCK_ARTICLES and
                    all(r >= STOCK_ROUNDS for r in rounds.values())):
                return
            time.sleep(0.5)


def mapped(kind, docs):
    """The golden mapping of many snapshots (`mosync map <kind>`, one process each)."""
    out = []
    for d in docs:
        p = subprocess.run([MOSYNC, "map", kind], input=json.dumps(d).encode(),
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

    seed = make_seed(orders=ORDERS, products=PRODUCTS, seed=args.seed)
    planted = plant_bad(seed)
    workdir = tempfile.mkdtemp(prefix="mosync-chaos-")
    log("work directory %s (kafka: %s, seed %d)" % (workdir, args.kafka, args.seed))
    prefix = "chaos."
    redis = harness.Redis(workdir)
    broker = Broker(args.kafka, workdir, prefix)
    mystore = harness.MystoreSim(workdir, seed, rate_limit=0)
    ongoing = harness.OngoingSim(workdir)

    class E:  # what harness.dlq_messages and the workload need of an Env
        pass
    env = E()
    env.mystore, env.ongoing, env.redis, env.broker = mystore, ongoing, redis, broker
    env.env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_BROKERS": broker.bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": "6",
        "REDIS_URL": "redis://127.0.0.1:%d/0" % redis.port,
        "MOSYNC_TENANT": TENANT,
        "MYSTORE_API_URL": mystore.base,
        "MYSTORE_SHOP": harness.SHOP,
        "MYSTORE_TOKEN": harness.TOKEN,
        "MYSTORE_RATE_LIMIT_PER_MIN": "1000000",
        "MYSTORE_INITIAL_LOOKBACK_H": "87600",
        "ONGOING_API_URL": ongoing.base + "/wh",
        "ONGOING_USER": harness.OG_USER,
        "ONGOING_PASSWORD": harness.OG_PASSWORD,
        "ONGOING_GOODS_OWNER_ID": "1",
        "STOCK_SYNC": "on",
        "POLL_INTERVAL_S": "1",
        "HTTP_TIMEOUT_MS": "1500",
        "LEASE_TTL_S": str(LEASE_TTL_S),
        "MAX_ATTEMPTS": "10",
        "LOG_LEVEL": "info",
    }
    env.prefix = prefix
    if args.kafka == "real":
        subprocess.run([MOSYNC, "topics"], env=env.env, check=True)

    rc = 1
    try:
        rc = run(args, rng, seed, planted, workdir, env, redis, settle_s, t0)
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
        for sim in (mystore, ongoing):
            sim.stop()
        broker.stop()
        redis.close()
        if rc == 0:  # a failed run keeps its logs (and says where)
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, rng, seed, planted, workdir, env, redis, settle_s, t0):
    """The chaos run proper (see the module comment); returns the exit status."""
    mystore, ongoing, broker = env.mystore, env.ongoing, env.broker
    for sim in (mystore, ongoing):
        sim.post("/_sim/chaos", dict(FAULTS, seed=args.seed, timeout_ms=2500))
    fleet = Fleet(env.env, workdir)
    work = Workload(env, seed, rng)
    wt = threading.Thread(target=work.run, daemon=True)
    wt.start()

    # The disruptions, spread over the run; kills in between until the workload is done.
    # Each entry is (seconds after the start, what); a disruption with an end plans it.
    redis_restarts = broker_restarts = 0
    plan = [(n * GAP_S + GAP_S * 0.75, what) for n, what in enumerate(
        ("redis-restart", "broker", "flushall", "redis-restart", "sigstop-poller",
         "wrong-password", "redis-loading"))]
    disrupted = {}  # what was seen of the new disruptions, for the checks
    start = time.time()
    while plan or wt.is_alive() or fleet.kills < MIN_KILLS:
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
            elif what == "flushall":
                log("emptying Redis (FLUSHALL)")
                redis.cmd("FLUSHALL")
            elif what == "broker":
                log("restarting the Kafka broker")
                broker.restart()
                broker_restarts += 1
            elif what == "sigstop-poller":
                nxt = pause_lease_holder(fleet, redis, disrupted)
                if nxt:
                    plan.append((now + nxt[1], nxt[0]))
            elif what == "sigcont-poller":
                name = disrupted["paused"]
                holder = redis.cmd("GET", "mosync:{%s}:lease:mystore-orders" % TENANT)
                disrupted["taken_over"] = holder is not None and disrupted["holder"] != holder
                log("SIGCONT %s; the lease meanwhile: %r" % (name, holder))
                fleet.resume(name)
            elif what == "wrong-password":
                names = fleet.restart_with("apply-", {"ONGOING_PASSWORD": "wrong-chaos-password"})
                log("restarted %d appliers with a wrong ONGOING_PASSWORD for %.0f s"
                    % (len(names), BAD_PASSWORD_S))
                plan.append((now + BAD_PASSWORD_S, "password-fixed"))
            elif what == "password-fixed":
                names = fleet.restart_with("apply-", {})
                log("restarted %d appliers with the right ONGOING_PASSWORD" % len(names))
                disrupted["password"] = True
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
    work.done.set()
    faults = 0
    for sim in (mystore, ongoing):
        faults += sum(sim.stats()["chaos"].values())
        sim.call("DELETE", "/_sim/chaos")
    log("chaos over after %.0f s: %d kills, %d faults; settling" % (time.time() - start,
                                                                    fleet.kills, faults))

    checks = Checks(env, seed, work, planted)
    deadline = time.time() + settle_s
    while time.time() < deadline and not checks.settled():
        harness.check_infra()
        time.sleep(5)
    fleet.stop()
    result = checks.run(disrupted)
    print("lost=%d duplicated_effects=%d dead_letters=%d kills=%d redis_restarts=%d "
          "broker_restarts=%d faults=%d" % (result["lost"], result["duplicated"],
                                            result["dead_letters"], fleet.kills,
                                            redis_restarts, broker_restarts, faults), flush=True)
    log("took %.0f s" % (time.time() - t0))
    print("%d passed, %d failed" % (result["passed"], result["failed"]), flush=True)
    if result["failed"]:
        log("logs kept in %s" % workdir)
        return 1
    return 0


def pause_lease_holder(fleet, redis, disrupted):
    """SIGSTOPs the poller that holds the mystore-orders lease (its value names the
    holder as host:pid), for three lease TTLs.  Returns what to plan next and in how
    many seconds: its SIGCONT, or, when no poller of ours holds the lease just now
    (Redis emptied, a holder just killed), this disruption again 2 s later; None
    after 30 tries (the check on the disruption then fails)."""
    key = "mosync:{%s}:lease:mystore-orders" % TENANT
    holder = redis.cmd("GET", key)
    pids = [int(w) for w in re.findall(r"[0-9]+", holder or "")]
    name = next((fleet.pid_of(p) for p in pids if fleet.pid_of(p)), None)
    if name is None or not name.startswith("poll-mystore-orders"):
        disrupted["sigstop_tries"] = disrupted.get("sigstop_tries", 0) + 1
        log("no poller of ours holds %s (%r); trying again" % (key, holder))
        return ("sigstop-poller", 2) if disrupted["sigstop_tries"] < 30 else None
    fleet.pause(name)
    disrupted.update(paused=name, holder=holder)
    log("SIGSTOP %s, the holder of %s (%r), for %d s (LEASE_TTL_S=%d)"
        % (name, key, holder, 3 * LEASE_TTL_S, LEASE_TTL_S))
    return ("sigcont-poller", 3 * LEASE_TTL_S)


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


class Checks:
    """The end state against what Mystore and the workload say it must be."""

    def __init__(self, env, seed, work, planted):
        self.env = env
        self.seed = seed
        self.work = work
        self.planted = planted
        self.order_ids = [o["id"] for o in seed["orders"] if o["id"] not in BAD_ORDERS]

    def settled(self):
        """Cheap progress test while waiting: every expected order in Ongoing, every
        shipment levert, the last stock value of every article landed."""
        stored = {o["orderNumber"] for o in self.env.ongoing.orders()}
        if not set(self.order_ids) <= stored:
            return False
        for n in self.work.shipped:
            if self.env.mystore.get("/_sim/orders/%s" % n)["status_id"] != "3":
                return False
        return not self._stock_problems()[0]

    def _stock_problems(self):
        """(missing, regressions): articles whose last value did not land in Mystore, and
        targets that were ever written a lower value after a higher one."""
        ms = self.env.mystore
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
            if w["path"] in last and q < last[w["path"]]:
                regressions.append((w["path"], last[w["path"]], q))
            last[w["path"]] = q
        return missing, regressions

    def run(self, disrupted):
        env, passed, failed = self.env, 0, 0
        lost = duplicated = 0
        out = []

        def check(ok, what):
            nonlocal passed, failed
            if ok:
                passed += 1
                out.append("ok   %s" % what)
            else:
                failed += 1
                out.append("FAIL %s" % what)

        # Orders: exactly the expected ones, each as the golden mapping says.
        stored = {o["orderNumber"]: o for o in env.ongoing.orders()}
        missing = [i for i in self.order_ids if i not in stored]
        extra = [n for n in stored if n not in self.order_ids]
        lost += len(missing)
        snaps = [env.mystore.snapshot(i) for i in self.order_ids if i in stored]
        wrong = []
        for snap, exp in zip(snaps, mapped("order", snaps)):
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
        arts = {a["articleNumber"]: a for a in env.ongoing.get("/_sim/articles")}
        expected = {}
        products = [p for p in self.seed["products"]]
        from test_flows import product_snapshot  # noqa: E402
        snaps = [product_snapshot(env, p["id"]) for p in products]
        for snap, exp in zip(snaps, mapped("article", snaps)):
            for a in (exp or {}).get("articles", []):
                expected[a["articleNumber"]] = a
        keys = ("articleSystemId", "inventoryInfo", "stock", "numberOfItems",
                "sellableNumberOfItems")
        # The planted bad product is dead-lettered by the article flow, but
        # orders that sell its variants still create those articles from their
        # order lines (O4): they are expected too, with the order line's data.
        bad = self.work.bad_product
        o4 = {line["attributes"]["sku"] for o in self.seed["orders"] if o["id"] not in BAD_ORDERS
              for line in o["lines"] if line["product_id"] == bad}
        miss_art = [n for n in expected if n not in arts] + [n for n in o4 if n not in arts]
        extra_art = [n for n in arts if n not in expected and n not in o4]
        diff_art = [n for n, a in expected.items() if n in arts and
                    {k: v for k, v in arts[n].items() if k not in keys} != a]
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
            o = env.mystore.get("/_sim/orders/%s" % n)
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

        # The disruptions happened as planned (else the run proves less than it says).
        check(disrupted.get("paused") and disrupted.get("taken_over"),
              "the lease holder was SIGSTOPped past its TTL and the standby took over (%s)"
              % {k: disrupted.get(k) for k in ("paused", "holder", "taken_over")})
        check(disrupted.get("password"), "the appliers ran with a wrong ONGOING_PASSWORD, "
              "then the right one")
        check(disrupted.get("loading"), "Redis answered LOADING after its restart with data on disk")

        # Dead letters: exactly the planted bad entities.
        keys = {m["key"] for m in dlq_messages(env)}
        check(keys == self.planted, "dead letters are exactly the planted %s (got %s)"
              % (sorted(self.planted), sorted(keys)))
        for line in out:
            print(line, flush=True)
        return {"lost": lost, "duplicated": duplicated, "dead_letters": len(keys),
                "passed": passed, "failed": failed}


if __name__ == "__main__":
    sys.exit(main())
