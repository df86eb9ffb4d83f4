"""`mosync poll <stream> --all-tenants` (issue 13): one poller process per
stream serves every active registry tenant.

Each registry tenant here has a Mystore simulator of its own (its own shop
data, its own request counts), so what one tenant's events hold and how often
its shop was asked can be told apart.  Nothing is timed: the tests wait for
conditions with bounds and compare counts."""
import os
import signal
import time

from harness import (MystoreSim, TestFailure, check, env_for, eq, topic_messages, wait_until)
from seedgen import make_seed
from test_tenants import _process_env, _settings, _tenant

LIST = "GET /shops/{shop}/orders"
INTERVAL = 2


def _add_tenants(env, names, interval=INTERVAL, first=0):
    """A Mystore simulator and a registry tenant for each name; tenant i has
    3 + i orders.  Returns {name: sim}."""
    sims = {}
    for i, name in enumerate(names):
        d = os.path.join(env.workdir, name)
        os.makedirs(d)
        sim = MystoreSim(d, make_seed(orders=3 + first + i, products=5, seed=100 + first + i))
        env.procs_sims = getattr(env, "procs_sims", []) + [sim]
        sims[name] = sim
        _tenant(env, ["add", name], stdin=_settings(env, MYSTORE_API_URL=sim.base,
                                                    POLL_INTERVAL_S=str(interval)))
    return sims


def _stop_sims(env):
    for sim in getattr(env, "procs_sims", []):
        sim.stop()


def _lists(sim):
    return sim.stats()["by_route"].get(LIST, 0)


def _spawn_all(env, extra=None):
    e = _process_env(env)
    e.update({"LOG_LEVEL": "debug", "POLL_WORKERS": "3"})
    e.update(extra or {})
    # The process environment holds no tenant: MOSYNC_TENANT unset.
    env_vars = dict(env.env)
    env.env = {k: v for k, v in env_vars.items() if k != "MOSYNC_TENANT"}
    try:
        return env.spawn(["poll", "mystore-orders", "--all-tenants"], extra_env=e)
    finally:
        env.env = env_vars


def _new_order(sim, oid, seed):
    """Puts a new order oid on sim, stamped now by the simulator."""
    o = make_seed(orders=1, products=5, seed=seed)["orders"][0]
    o["id"] = oid
    attrs = o.get("attributes", o)
    attrs.pop("updated_at", None)
    attrs["reference"] = oid
    sim.put("/_sim/orders/%s" % oid, o)


def _orders_by_tenant(env):
    """{tenant: [entity ids]} of every order event so far."""
    out = {}
    for m in topic_messages(env, "mystore.orders"):
        ev = m["event"]
        check(m["key"] == "%s:%s" % (ev["tenant"], ev["entity_id"]), "key of %r" % m["key"])
        out.setdefault(ev["tenant"], []).append(ev["entity_id"])
    return out


def _expected(n):
    return sorted(str(10001 + k) for k in range(n))


def _wait_emitted(env, want, timeout=90):
    """Waits until every tenant of want ({tenant: n orders}) has its n orders."""
    state = {}

    def done():
        state["got"] = _orders_by_tenant(env)
        return all(len(set(state["got"].get(t, []))) >= n for t, n in want.items())
    try:
        wait_until(done, timeout, "every tenant's orders emitted", interval=1)
    except TestFailure:
        raise TestFailure("orders by tenant: %r, want %r" % (
            {t: len(v) for t, v in state.get("got", {}).items()}, want))
    return state["got"]


def _grows(sims, names, by, timeout, what):
    """Waits until each sim of names answered `by` more list requests."""
    start = {n: _lists(sims[n]) for n in names}
    wait_until(lambda: all(_lists(sims[n]) >= start[n] + by for n in names), timeout, what,
               interval=0.5)


def test_sched_one_process_serves_every_tenant_and_follows_the_registry():
    with env_for("sched-registry", make_seed(orders=1, products=5)) as env:
        try:
            names = ["t%d" % i for i in range(1, 6)]
            sims = _add_tenants(env, names)
            p = _spawn_all(env)
            got = _wait_emitted(env, {n: 3 + i for i, n in enumerate(names)})
            # Each tenant's events are its own shop's orders, each once, under its name.
            for i, n in enumerate(names):
                eq(sorted(got[n]), _expected(3 + i), "orders emitted for %s" % n)
            eq(sorted(got), names, "tenants in the events (the environment tenant is not served)")

            # Added while it runs: polled within an interval (bounded wait, not timed).
            sims.update(_add_tenants(env, ["t6"], first=5))
            _wait_emitted(env, {"t6": 8}, timeout=30)

            # Paused: no more list requests once the pause is seen; the others go on.
            _tenant(env, ["pause", "t2"])
            wait_until(lambda: _log_has(env, p, "1 paused"), 20, "the pause seen")
            time.sleep(0.5)  # a cycle of t2 in flight when the pause came may end
            before = _lists(sims["t2"])
            _grows(sims, ["t1", "t3"], 3, 30, "the other tenants' cycles go on")
            eq(_lists(sims["t2"]), before, "list requests of the paused tenant")
            # Resumed: polled again.
            _tenant(env, ["resume", "t2"])
            _grows(sims, ["t2"], 2, 30, "the resumed tenant polled again")

            # A tenant whose shop answers 500 and one whose shop hangs hold a
            # worker each; the others' cycles keep coming.
            sims["t3"].post("/_sim/fault", {"method": "GET", "path": "/shops/", "count": 100000,
                                            "status": 500})
            sims["t4"].post("/_sim/fault", {"method": "GET", "path": "/shops/", "count": 100000,
                                            "delay_ms": 20000})
            _grows(sims, ["t1", "t2", "t5", "t6"], 4, 60, "the healthy tenants' cycles go on")
            check(_lists(sims["t3"]) >= 1, "the failing tenant was asked")
            # Each tenant's last run under its own key, with its own outcome
            # (the record of a component was once written under the key of
            # the first tenant the process served, whoever's cycle it was).
            key = "mosync:{%s}:lastrun:poll.mystore-orders"
            wait_until(lambda: env.redis.cmd("HGET", key % "t3", "error_class"), 60,
                       "t3's failed cycle recorded under t3")
            check(env.redis.cmd("HGET", key % "t1", "ok_at"), "t1's success recorded under t1")
            eq(env.redis.cmd("HGET", key % "t1", "error_class"), None,
               "an error in t1's record (t1's shop never failed)")

            # A new order of a healthy tenant lands while two workers are stuck.
            _new_order(sims["t5"], "20001", 999)
            got = _wait_emitted(env, {"t5": 8}, timeout=30)
            check("20001" in got["t5"], "the new order of t5 emitted")
            check("20001" not in sum((v for k, v in got.items() if k != "t5"), []),
                  "t5's order under no other tenant")
        finally:
            _stop_sims(env)


def _log_has(env, p, text):
    with open(p._mosync_log.name, "rb") as f:
        return text.encode() in f.read()


def test_sched_trigger_wakes_a_tenant_within_its_long_interval():
    with env_for("sched-trigger", make_seed(orders=1, products=5)) as env:
        try:
            sims = _add_tenants(env, ["a1", "a2"], interval=600)
            # Hostile registry entries: a record that is not JSON, and one
            # whose secrets were sealed for another tenant (moved by hand).
            env.redis.cmd("SET", "mosync:{junk}:tenant", "not json")
            env.redis.cmd("SADD", "mosync:{*}:tenants", "junk")
            env.redis.cmd("SET", "mosync:{moved}:tenant", env.redis.cmd("GET", "mosync:{a2}:tenant"))
            env.redis.cmd("SADD", "mosync:{*}:tenants", "moved")
            # A long interval: the first cycles are spread over it.  One
            # process polls a1 at once when its name is on the trigger list.
            p = _spawn_all(env)
            wait_until(lambda: _log_has(env, p, "registry generation"), 20, "the registry read")
            check(_log_has(env, p, "3 tenants (3 active") or _log_has(env, p, "4 tenants (3 active"),
                  "the registry line counts the tenants")
            check(_log_has(env, p, "1 unreadable"), "the record that is not JSON counted unreadable")
            env.redis.cmd("RPUSH", "mosync:{*}:triggers:mystore-orders", "moved")
            wait_until(lambda: _log_has(env, p, "cannot read the tenant's record"), 20,
                       "the moved record's secrets refused")
            check(p.poll() is None, "the scheduler runs on")
            start = _lists(sims["a2"])
            env.redis.cmd("RPUSH", "mosync:{*}:triggers:mystore-orders", "a1")
            _wait_emitted(env, {"a1": 3}, timeout=20)
            # The other tenant was not woken by it (its first cycle may have
            # fallen in the window by its spread, at most once).
            check(_lists(sims["a2"]) <= start + 1, "the other tenant not woken")
        finally:
            _stop_sims(env)


def test_sched_two_processes_share_the_tenants_and_take_over_after_kill9():
    with env_for("sched-share", make_seed(orders=1, products=5)) as env:
        try:
            names = ["s%d" % i for i in range(1, 7)]
            sims = _add_tenants(env, names)
            a = _spawn_all(env)
            b = _spawn_all(env)
            got = _wait_emitted(env, {n: 3 + i for i, n in enumerate(names)})
            for i, n in enumerate(names):
                eq(sorted(got[n]), _expected(3 + i), "each order of %s emitted once" % n)
            # About one cycle per tenant per interval in all: over N intervals
            # at most N + 2 list requests each (a cycle in flight at each end).
            for s in sims.values():
                s.post("/_sim/reset-counters", {})
            n_int = 5
            t0 = time.monotonic()
            time.sleep(n_int * INTERVAL)
            elapsed = time.monotonic() - t0
            bound = int(elapsed / INTERVAL) + 2
            counts = {n: _lists(sims[n]) for n in names}
            for n in names:
                check(counts[n] <= bound, "list requests of %s over %.1f s: %d > %d (%r)"
                      % (n, elapsed, counts[n], bound, counts))
                check(counts[n] >= 1, "%s polled at all over %.1f s (%r)" % (n, elapsed, counts))
            # kill -9 of one: the other takes every tenant (leases expire
            # within LEASE_TTL_S); a new order of each lands once.
            a.kill()
            a.wait()
            for i, n in enumerate(names):
                _new_order(sims[n], "30001", 500 + i)
            got = _wait_emitted(env, {n: 4 + i for i, n in enumerate(names)}, timeout=60)
            for n in names:
                eq(got[n].count("30001"), 1, "the new order of %s emitted once" % n)
            check(b.poll() is None, "the survivor runs")
        finally:
            _stop_sims(env)


def test_sched_webhook_of_a_registry_tenant_polls_it_at_once():
    """`mosync webhooks --all-tenants` checks a registry tenant's webhook
    with that tenant's own secret and wakes its cycle in
    `poll mystore-orders --all-tenants` through a 600 s interval."""
    from test_metrics import family, scrape, serve
    from test_webhooks import send, sign
    with env_for("sched-webhook", make_seed(orders=1, products=5)) as env:
        try:
            names = ["w1", "w2"]
            sims = {}
            for i, name in enumerate(names):
                d = os.path.join(env.workdir, name)
                os.makedirs(d)
                sims[name] = MystoreSim(d, make_seed(orders=3, products=5, seed=300 + i))
                env.procs_sims = getattr(env, "procs_sims", []) + [sims[name]]
                _tenant(env, ["add", name], stdin=_settings(
                    env, MYSTORE_API_URL=sims[name].base, POLL_INTERVAL_S="600",
                    MYSTORE_WEBHOOK_SECRET="secret-of-%s-7f3a" % name))
            e = _process_env(env)
            env_vars = dict(env.env)
            env.env = {k: v for k, v in env_vars.items() if k != "MOSYNC_TENANT"}
            try:
                _, wport = serve(env, ["webhooks", "--all-tenants"], e)
                p, mport = serve(env, ["poll", "mystore-orders", "--all-tenants"],
                                 dict(e, METRICS_TENANT_LABEL="off"))
            finally:
                env.env = env_vars
            wait_until(lambda: _log_has(env, p, "registry generation"), 20, "the registry read")
            body = b'{"id": 1}'

            def hook(tenant, secret):
                return send(wport, "POST", "/webhooks/mystore/%s" % tenant, body,
                            {"X-No-Mystore-Topic": "orders/create",
                             "X-No-Mystore-Hmac-Sha256": sign(body, secret)})
            # Another tenant's secret, an unknown tenant: refused, nothing triggered.
            eq(hook("w1", "secret-of-w2-7f3a"), 401, "w1's webhook signed with w2's secret")
            eq(hook("nobody", "secret-of-w1-7f3a"), 404, "a tenant not in the registry")
            eq(env.redis.cmd("LLEN", "mosync:{*}:triggers:mystore-orders"), 0, "nothing triggered")
            start = _lists(sims["w2"])
            eq(hook("w1", "secret-of-w1-7f3a"), 200, "w1's webhook with its own secret")
            _wait_emitted(env, {"w1": 3}, timeout=20)
            check(_lists(sims["w2"]) <= start + 1, "w2 not woken by w1's webhook")
            # A paused tenant's webhooks are not served.
            _tenant(env, ["pause", "w2"])
            eq(hook("w2", "secret-of-w2-7f3a"), 404, "the webhook of a paused tenant")

            # The scheduler's figures: tenants by state follow the registry;
            # with METRICS_TENANT_LABEL=off no series names a tenant.
            def tenants(state):
                return family(scrape(mport), "mosync_poll_tenants").value(
                    state=state, stream="mystore-orders")
            wait_until(lambda: tenants("paused") == 1, 20, "the pause in mosync_poll_tenants")
            eq(tenants("active"), 1, "active tenants")
            fams = scrape(mport)
            named = sorted({lbl["tenant"] for f in fams.values() for _, lbl, _ in f.samples
                            if "tenant" in lbl} - {"*"})
            eq(named, [], "tenant labels other than * with METRICS_TENANT_LABEL=off")
            check(family(fams, "mosync_poll_cycles_total").value(
                result="ok", stream="mystore-orders", tenant="*") >= 1,
                "the cycles counted under tenant=\"*\"")
        finally:
            _stop_sims(env)
