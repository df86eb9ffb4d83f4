"""`mosync apply <flow> --all-tenants` (issue 13): one applier process per
flow serves every registry tenant with that tenant's own settings, and a
tenant whose warehouse fails, or who is paused, waits alone: the shared
partition goes on with the others' events.

Every test here runs with ONE partition per topic, so every tenant's events
share it: the case where pausing the partition, as the one-tenant applier
does, would hold up every tenant.  Nothing is timed: the tests wait for
conditions with bounds and compare what the simulators hold."""
import json
import os
import re
import signal
import subprocess

from harness import (MOSYNC, MystoreSim, OngoingSim, check, env_for, eq, topic_messages,
                     wait_until)
from seedgen import make_seed
from test_poll_sched import _wait_emitted
from test_tenants import _process_env, _settings, _tenant


def _add(env, names, first=0):
    """A Mystore and an Ongoing simulator and a registry tenant for each name;
    tenant i has 3 + i orders and goods owner 100 + i.  Returns {name: (ms, og, owner)}."""
    out = {}
    for i, name in enumerate(names, start=first):
        d = os.path.join(env.workdir, name)
        os.makedirs(d)
        ms = MystoreSim(d, make_seed(orders=3 + i, products=5, seed=300 + i))
        og = OngoingSim(d, extra=["--goods-owner", str(100 + i)])
        env.tenant_sims = getattr(env, "tenant_sims", []) + [ms, og]
        out[name] = (ms, og, 100 + i)
        _tenant(env, ["add", name], stdin=_settings(
            env, MYSTORE_API_URL=ms.base, ONGOING_API_URL=og.base + "/wh",
            ONGOING_GOODS_OWNER_ID=str(100 + i), POLL_INTERVAL_S="1"))
    return out


def _stop(env):
    for sim in getattr(env, "tenant_sims", []):
        sim.stop()


def _spawn(env, args, extra=None):
    e = _process_env(env)
    e["LOG_LEVEL"] = "debug"
    e.update(extra or {})
    saved = dict(env.env)
    env.env = {k: v for k, v in saved.items() if k != "MOSYNC_TENANT"}
    try:
        return env.spawn(args, extra_env=e)
    finally:
        env.env = saved


def _registry_reads(p):
    """How many registry changes process p logged."""
    with open(p._mosync_log.name, "rb") as f:
        return f.read().count(b"registry generation")


def _committed_through(p):
    """The highest n=<next> of the partition state p logged as committed."""
    with open(p._mosync_log.name, "rb") as f:
        found = re.findall(rb"partition state committed: \S+ \[0\] @(\d+) ?(?:n=(\d+))?",
                           f.read())
    return max([int(n or at) for at, n in found] or [-1])


def _numbers(og):
    return sorted(o["orderNumber"] for o in og.orders())


def _expected(n):
    return sorted(str(10001 + k) for k in range(n))


def _wait_landed(tenants, want, timeout=90):
    """Waits until each tenant of want ({name: n}) has exactly its n orders in its warehouse."""
    state = {}

    def done():
        state["got"] = {n: _numbers(tenants[n][1]) for n in want}
        return all(state["got"][n] == _expected(k) for n, k in want.items())
    try:
        wait_until(done, timeout, "orders in each tenant's warehouse", interval=0.5)
    except Exception:
        raise AssertionError("orders per warehouse: %r, want %r" % (state.get("got"), want))


def _owners(og):
    return {w["body"]["goodsOwnerId"] for w in og.writes()
            if w["method"] == "PUT" and isinstance(w.get("body"), dict)}


def test_apply_all_tenants_a_failing_and_a_paused_tenant_wait_alone():
    with env_for("apply-all-tenants", make_seed(orders=1, products=5), partitions=1) as env:
        try:
            names = ["t1", "t2", "t3", "t4"]
            tenants = _add(env, names)
            want = {n: 3 + i for i, n in enumerate(names)}
            _spawn(env, ["poll", "mystore-orders", "--all-tenants"])
            _wait_emitted(env, want)
            # t4 is paused with its events on the topic; t3's warehouse answers
            # 500 to every order written.
            _tenant(env, ["pause", "t4"])
            og3 = tenants["t3"][1]
            og3.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                     "count": 1000000, "status": 500})
            applier = _spawn(env, ["apply", "orders", "--all-tenants"])

            # The others land, in their own warehouses, with their own goods owner,
            # although t3's and t4's events sit before theirs in the one partition.
            _wait_landed(tenants, {"t1": 3, "t2": 4})
            wait_until(lambda: any(w["status"] == 500 for w in og3.writes()), 30,
                       "t3's failing writes tried")
            eq(_numbers(og3), [], "orders in t3's failing warehouse")
            # Each tenant's last run under its own key, with its own outcome
            # (once all under the key of the first tenant the process served).
            key = "mosync:{%s}:lastrun:apply.orders"
            wait_until(lambda: env.redis.cmd("HGET", key % "t3", "error_class"), 30,
                       "t3's failed apply recorded under t3")
            for n in ("t1", "t2"):
                check(env.redis.cmd("HGET", key % n, "ok_at"), "%s's success recorded" % n)
                eq(env.redis.cmd("HGET", key % n, "error_class"), None,
                   "an error in %s's record (its warehouse never failed)" % n)
            eq(tenants["t4"][1].writes(), [], "writes to the paused tenant's warehouse")
            for n in ("t1", "t2"):
                eq(_owners(tenants[n][1]), {tenants[n][2]}, "goods owners written for %s" % n)

            # Killed while t3's and t4's events are parked: their offsets were
            # never passed, so the next applier gets them again.
            applier.send_signal(signal.SIGKILL)
            applier.wait()
            og3.call("DELETE", "/_sim/fault")
            _tenant(env, ["resume", "t4"])
            _spawn(env, ["apply", "orders", "--all-tenants"])
            _wait_landed(tenants, want)
            for n in names:
                eq(_owners(tenants[n][1]), {tenants[n][2]}, "goods owners written for %s" % n)
                created = [w for w in tenants[n][1].writes()
                           if w["method"] == "PUT" and w["status"] == 201]
                eq(len(created), want[n], "orders created in %s's warehouse (each once)" % n)
        finally:
            _stop(env)


def test_apply_all_tenants_follows_the_registry_without_restart():
    with env_for("apply-all-registry", make_seed(orders=1, products=5), partitions=1) as env:
        try:
            tenants = _add(env, ["a1", "a2"])
            # MOSYNC_ALL_TENANTS=on: the plain commands (compose's services) serve
            # the registry as --all-tenants does; another value is refused.
            e = dict(_process_env(env), MOSYNC_ALL_TENANTS="yes")
            e.pop("MOSYNC_TENANT", None)
            p = subprocess.run([MOSYNC, "apply", "orders"], env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            eq(p.returncode, 2, "exit status of MOSYNC_ALL_TENANTS=yes")
            check(b"MOSYNC_ALL_TENANTS" in p.stderr, "the variable named: %r" % p.stderr[-300:])
            _spawn(env, ["poll", "mystore-orders"], extra={"MOSYNC_ALL_TENANTS": "on"})
            applier = _spawn(env, ["apply", "orders"], extra={"MOSYNC_ALL_TENANTS": "on"})
            _wait_landed(tenants, {"a1": 3, "a2": 4})
            # Added while both run: served within an interval, no restart.
            tenants.update(_add(env, ["a3"], first=2))
            _wait_landed(tenants, {"a3": 5})
            # A changed setting (another goods owner and warehouse) is used from
            # the next event on: the new warehouse gets a3's new order.
            os.makedirs(os.path.join(env.workdir, "a3-new"))
            og_new = OngoingSim(os.path.join(env.workdir, "a3-new"),
                                extra=["--goods-owner", "777"])
            env.tenant_sims.append(og_new)
            seen = _registry_reads(applier)
            _tenant(env, ["set", "a3"], stdin="ONGOING_API_URL=%s/wh\nONGOING_GOODS_OWNER_ID=777\n"
                    % og_new.base)
            # The applier reads the registry once a second: the new order is
            # made once it said it saw the change.
            wait_until(lambda: _registry_reads(applier) > seen, 30, "the change seen")
            o = make_seed(orders=1, products=5, seed=999)["orders"][0]
            o["id"] = "20001"
            o.get("attributes", o).pop("updated_at", None)
            o.get("attributes", o)["reference"] = "20001"
            tenants["a3"][0].put("/_sim/orders/20001", o)
            wait_until(lambda: "20001" in _numbers(og_new), 60, "a3's new order in its new warehouse")
            eq(_owners(og_new), {777}, "goods owner written to a3's new warehouse")
            check("20001" not in _numbers(tenants["a3"][1]), "the old warehouse got the new order")
            check(applier.poll() is None, "the applier still runs")

            # status --tenant shows the shared group's lag (a1 has no group of its own).
            def lag():
                e = dict(_process_env(env), LOG_LEVEL="warn")
                e.pop("MOSYNC_TENANT", None)
                p = subprocess.run([MOSYNC, "status", "--tenant", "a1", "--json"], env=e,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
                state["lag"] = json.loads(p.stdout.decode())["flows"]["orders"]["lag"]
                return state["lag"].get("total") == 0
            state = {}
            wait_until(lag, 60, "the shared group's lag down to 0 in status --tenant a1")
            check(state["lag"]["shared"] is True, "the lag is marked shared: %r" % state["lag"])
            check(state["lag"]["group"].endswith("mosync-apply-orders-all-tenants"),
                  "the group status reads: %r" % state["lag"]["group"])
        finally:
            _stop(env)


def test_apply_all_tenants_a_refused_credential_is_its_tenants_alone():
    """One tenant's warehouse refuses its credential (401): the refusal is
    recorded under that tenant's key only; the other tenant's orders land,
    also one written after the refusal, and its success does not end the
    refusal.  Once the warehouse accepts it, the tenant's orders land and its
    record goes.  (One process kept one refusal per API, under the first
    tenant's key, and any tenant's success deleted it.)"""
    with env_for("apply-all-refused", make_seed(orders=1, products=5), partitions=1) as env:
        try:
            tenants = _add(env, ["r1", "r2"])
            og2 = tenants["r2"][1]
            og2.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                     "count": 1000000, "status": 401})
            _spawn(env, ["poll", "mystore-orders", "--all-tenants"])
            _spawn(env, ["apply", "orders", "--all-tenants"])
            _wait_landed(tenants, {"r1": 3})
            key = "mosync:{%s}:refused:ongoing"
            wait_until(lambda: env.redis.cmd("HGET", key % "r2", "since"), 60,
                       "r2's refusal recorded under r2")
            eq(env.redis.cmd("EXISTS", key % "r1"), 0, "a refusal record under r1")

            # r1 succeeds after r2's refusal: r2's record stays.
            o = make_seed(orders=1, products=5, seed=998)["orders"][0]
            o["id"] = "20001"
            o.get("attributes", o).pop("updated_at", None)
            o.get("attributes", o)["reference"] = "20001"
            tenants["r1"][0].put("/_sim/orders/20001", o)
            wait_until(lambda: "20001" in _numbers(tenants["r1"][1]), 60,
                       "r1's new order in its warehouse")
            check(env.redis.cmd("HGET", key % "r2", "since"),
                  "r2's refusal record went with r1's success")
            eq(_numbers(og2), [], "orders in r2's refusing warehouse")

            # Accepted again: r2's orders land, its record goes.
            og2.call("DELETE", "/_sim/fault")
            _wait_landed(tenants, {"r2": 4})
            wait_until(lambda: env.redis.cmd("EXISTS", key % "r2") == 0, 30,
                       "r2's refusal record deleted once accepted")
        finally:
            _stop(env)


def test_apply_all_tenants_a_restart_behind_a_parked_message_never_applies_an_older_event():
    """The committed offset stays at x's parked order, but its metadata says
    what above it was settled: after a kill -9 and the loss of y's Redis keys
    (its applied records), the next applier does not apply y's older order
    event again over the newer one Ongoing already holds.  Without the
    metadata it would re-apply every event from x's mark, and with the
    applied records gone the older one would be written again."""
    with env_for("apply-all-restart", make_seed(orders=1, products=5), partitions=1) as env:
        try:
            tenants = _add(env, ["x", "y"])
            og_x, og_y = tenants["x"][1], tenants["y"][1]
            ms_y = tenants["y"][0]
            og_x.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                      "count": 1000000, "status": 500})
            poller = _spawn(env, ["poll", "mystore-orders", "--all-tenants"])
            applier = _spawn(env, ["apply", "orders", "--all-tenants"])
            _wait_landed(tenants, {"y": 4})
            # y's order 10001 changes: the newer content lands over the older.
            o = ms_y.get("/_sim/orders/10001")
            o["attributes"]["shipping_address_name"] = "Newer Name"
            o["attributes"].pop("updated_at", None)
            ms_y.put("/_sim/orders/10001", o)
            wait_until(lambda: og_y.order("10001")["consignee"]["name"] == "Newer Name", 60,
                       "y's newer order content in Ongoing")
            check(not _numbers(og_x), "x's orders landed although its warehouse fails")
            # Killed only after a commit covered every event on the topic (the
            # loop commits once a second): what no commit covers is applied
            # again after any crash, as with any consumer.
            events = len(topic_messages(env, "mystore.orders"))
            wait_until(lambda: _committed_through(applier) >= events, 30,
                       "a commit covering all %d events" % events)

            # Killed with x's orders parked; y's applied records are lost.
            for p in (poller, applier):
                p.send_signal(signal.SIGKILL)
                p.wait()
            for k in env.redis.cmd("KEYS", "mosync:{y}:*"):
                if k != "mosync:{y}:tenant":
                    env.redis.cmd("DEL", k)
            writes = len(og_y.writes())
            again = _spawn(env, ["apply", "orders", "--all-tenants"])
            wait_until(lambda: b"the previous owner settled" in open(
                again._mosync_log.name, "rb").read(), 60, "the previous owner's commit read")
            og_x.call("DELETE", "/_sim/fault")
            _wait_landed(tenants, {"x": 3})
            # What the last commit (once a second) did not cover is applied again,
            # as after any crash, but nothing older than what Ongoing holds.
            older = [w for w in og_y.writes()[writes:]
                     if (w.get("body") or {}).get("orderNumber") == "10001"
                     and w["body"]["consignee"]["name"] != "Newer Name"]
            eq(older, [], "older content of y's order written after the restart")
            eq(og_y.order("10001")["consignee"]["name"], "Newer Name", "y's order content")
        finally:
            _stop(env)
