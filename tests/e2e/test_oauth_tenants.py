"""Mystore OAuth for registry tenants served by `mosync poll mystore-orders
--all-tenants` (issue 13: "Tokens that expire during the run are refreshed
once each, across two poller processes; a refresh that fails marks the
tenant 'needs reconnect' and stops only it").

Each tenant has a Mystore simulator of its own, with its own OAuth client
and its own token chain (the simulator is the authorization server,
tests/sim/README.md), so what happened to each tenant's tokens can be told
apart.  Two `--all-tenants` processes serve all of them.

The promises:
- each tenant's chain is refreshed once per access-token generation across
  the two processes: its simulator counts no reused or refused refresh
  token, each refresh spends a refresh token once, and the tenant's token
  store holds as many generations as the chain had refreshes; every order
  lands under its own tenant;
- a tenant whose refresh token is revoked needs reconnect (`mosync status
  --tenant T` says so and exits 1; mosync_tenant_needs_reconnect 1 for it)
  and stops alone: its token endpoint and its API hear nothing more, the
  other tenants' new orders land; a new MYSTORE_REFRESH_TOKEN given with
  `mosync tenant set T` brings it back without a restart;
- no client secret, access or refresh token is in the pollers' logs or
  output or on the topics.
"""
import base64
import json
import os
import signal
import time

import test_oauth
from harness import (MOSYNC, MystoreSim, check, dlq_messages, env_for, eq, free_port, run_checked,
                     topic_messages, wait_until)
from seedgen import make_seed
from test_metrics import family, scrape
from test_poll_sched import _new_order, _orders_by_tenant, _spawn_all, _stop_sims, _wait_emitted
from test_secrets import leaks
from test_tenants import KEY, TENANT_VARS, _process_env, _tenant

TTL = 5  # seconds an access token lives
NAMES = ["o1", "o2", "o3", "o4"]


def _client(name):
    return "client-%s" % name, "cs-%s-9f2Kq7Lm3Xw8Zt1Vb" % name


def _add_oauth_tenants(env, names):
    """A Mystore simulator per name with its own OAuth client and TTL-second
    access tokens, authorized once; a registry tenant with that client and
    refresh token (no MYSTORE_TOKEN) and a 1-s interval.  Tenant i has
    3 + i orders.  Returns {name: sim}."""
    sims = {}
    for i, name in enumerate(names):
        d = os.path.join(env.workdir, name)
        os.makedirs(d)
        cid, secret = _client(name)
        sim = MystoreSim(d, make_seed(orders=3 + i, products=5, seed=700 + i),
                         extra=["--oauth-client", "%s:%s" % (cid, secret),
                                "--access-ttl", str(TTL)])
        env.procs_sims = getattr(env, "procs_sims", []) + [sim]
        sims[name] = sim
        t = test_oauth.authorize(env, secret, cid, sim)
        s = {k: env.env[k] for k in TENANT_VARS if k != "MYSTORE_TOKEN"}
        s.update({"MYSTORE_API_URL": sim.base, "POLL_INTERVAL_S": "1",
                  "MYSTORE_AUTH_URL": sim.base, "MYSTORE_CLIENT_ID": cid,
                  "MYSTORE_CLIENT_SECRET": secret, "MYSTORE_REFRESH_TOKEN": t["refresh_token"]})
        _tenant(env, ["add", name], stdin="".join("%s=%s\n" % kv for kv in s.items()))
        sim.start_token = t["refresh_token"]
    return sims


def _spawn_two(env):
    """Two `poll mystore-orders --all-tenants` processes with metrics;
    returns [(proc, metrics port)]."""
    out = []
    for _ in range(2):
        port = free_port()
        out.append((_spawn_all(env, {"METRICS_PORT": str(port)}), port))
    return out


def _stop(p):
    """SIGTERM; the exit status must be 0.  Returns its stdout (the summary)."""
    p.send_signal(signal.SIGTERM)
    out = p.communicate(timeout=30)[0]
    eq(p.returncode, 0, "exit status on SIGTERM")
    return out.decode(errors="replace")


def _status(env, tenant, as_json=False):
    """(exit status, stdout) of `mosync status --tenant T` (--json parsed)."""
    rc, out, err = run_checked([MOSYNC, "status", "--tenant", tenant] +
                               (["--json"] if as_json else []), _process_env(env), 120,
                               "mosync status --tenant " + tenant)
    text = out.decode()
    with open(os.path.join(env.workdir, "status-%s-%d.out" % (tenant, time.time_ns())), "w") as f:
        f.write(text + err.decode())
    return rc, (json.loads(text) if as_json else text)


def _needs_reconnect_gauge(port, tenant):
    return family(scrape(port), "mosync_tenant_needs_reconnect").value(tenant=tenant)


def _failed_cycles(ports, tenant):
    """The failed mystore-orders cycles of tenant in both processes."""
    return sum(family(scrape(p), "mosync_poll_cycles_total").value(
        result="failed", stream="mystore-orders", tenant=tenant) or 0 for p in ports)


def _leaks(text, secret):
    """leaks(), with 12-character pieces for a secret of hex digits: the events
    hold many hashes (64 hex digits each), in which a given 6-digit piece of a
    hex refresh token turns up by chance (about 1 in 16^6 per position), while
    a 12-digit one does not (1 in 16^12)."""
    if not all(c in "0123456789abcdefABCDEF" for c in secret):
        return leaks(text, secret)
    return sorted({secret[i:i + 12] for i in range(len(secret) - 11) if secret[i:i + 12] in text})


def _check_no_secrets(env, sims, outputs):
    """No 6-character piece (12 of a hex one: _leaks) of a client secret,
    MOSYNC_SECRET_KEY or any
    token a simulator issued in outputs ([(where, text)]), the pollers' logs
    or the messages of mystore.orders and mosync.dlq."""
    for path in env.logs:
        with open(path, "rb") as f:
            outputs.append((os.path.basename(path), f.read().decode(errors="replace")))
    for topic in ("mystore.orders", "mosync.dlq"):
        for m in topic_messages(env, topic):
            for k in ("value_base64", "key_base64"):
                if k in m:
                    outputs.append(("%s %s" % (topic, k),
                                    base64.b64decode(m[k]).decode(errors="replace")))
            for name, v in (m.get("headers_base64") or {}).items():
                outputs.append(("%s header %s" % (topic, name),
                                base64.b64decode(v).decode(errors="replace")))
    planted = {"secret_key": KEY}
    for name, sim in sims.items():
        planted["client_secret of %s" % name] = _client(name)[1]
        issued = sim.get("/_sim/oauth/issued")
        check(len(issued) >= 2, "%s: only %d token pairs issued" % (name, len(issued)))
        for i, t in enumerate(issued):
            planted["%s access_token %d" % (name, i)] = t["access_token"].split(".", 1)[1]
            planted["%s refresh_token %d" % (name, i)] = t["refresh_token"]
    found = []
    for where, text in outputs:
        for what, secret in planted.items():
            pieces = _leaks(text, secret)
            if pieces:
                at = text.find(pieces[0])
                found.append("%s: %d pieces of %s, e.g. ...%s..." % (
                    where, len(pieces), what, text[max(0, at - 40):at + 40].replace("\n", " ")))
    check(not found, "secrets found:\n" + "\n".join(found))


def test_oauth_registry_tenants_refreshed_once_each_across_two_pollers():
    with env_for("oauth-tenants", make_seed(orders=1, products=5)) as env:
        try:
            sims = _add_oauth_tenants(env, NAMES)
            procs = _spawn_two(env)
            _wait_emitted(env, {n: 3 + i for i, n in enumerate(NAMES)})
            # New orders keep coming while every tenant's tokens expire and
            # are refreshed (each chain at least 4 times).
            start, n = time.time(), 0
            while min(s.get("/_sim/oauth")["refreshes"] for s in sims.values()) < 4:
                check(time.time() - start < 150, "four refreshes of each chain within 150 s: %r"
                      % {k: s.get("/_sim/oauth")["refreshes"] for k, s in sims.items()})
                check(all(p.poll() is None for p, _ in procs), "the pollers run")
                n += 1
                for i, name in enumerate(NAMES):
                    _new_order(sims[name], str(20000 + n), 900 + i)
                time.sleep(1)
            # The servers' clocks run ahead: every access token is expired
            # to them, not to mosync.  Their "token expired" is believed,
            # one refresh each, and the next orders land.
            before = {k: s.get("/_sim/oauth") for k, s in sims.items()}
            for name, sim in sims.items():
                # Again until a request meets it: mosync may have refreshed
                # the token by its own clock before its next request.
                def met(sim=sim, name=name):
                    sim.post("/_sim/oauth/expire", {"client_id": _client(name)[0]})
                    return sim.get("/_sim/oauth")["expired_403"] > before[name]["expired_403"]
                wait_until(met, 60, "a request of %s with the token its server expired" % name,
                           interval=0.5)
                _new_order(sim, str(20000 + n + 1), 950)
            want = {name: 3 + i + n + 1 for i, name in enumerate(NAMES)}
            got = _wait_emitted(env, want, timeout=90)
            for i, name in enumerate(NAMES):
                eq(sorted(set(got[name])), sorted(got[name]), "each order of %s once" % name)
                check(str(20000 + n + 1) in got[name], "the last order of %s" % name)
            eq(sorted(got), NAMES, "tenants in the events")
            for name, sim in sims.items():
                after = sim.get("/_sim/oauth")
                check(after["refreshes"] > before[name]["refreshes"],
                      "%s: no refresh after the server expired its token" % name)
            outputs = [("stdout of poller %d" % i, _stop(p)) for i, (p, _) in enumerate(procs)]
            elapsed = time.time() - start
            for name, sim in sims.items():
                o = sim.get("/_sim/oauth")
                eq(len(o["chains"]), 1, "%s: chains" % name)
                chain = list(o["chains"].values())[0]
                eq(chain["refreshes"], o["refreshes"], "%s: the chain's refreshes" % name)
                # No double spend: nothing refused, each refresh token spent
                # once, no refresh of a generation with half its life left.
                test_oauth.check_chain_healthy(o, sim.start_token)
                # One refresh per generation: the tenant's token store
                # counted as many generations as the server refreshes.
                rc, st = _status(env, name, as_json=True)
                eq(rc, 0, "%s: status exit" % name)
                eq(st["oauth"]["needs_reconnect_since"], None, "%s: needs reconnect" % name)
                eq(st["oauth"]["generation"], o["refreshes"],
                   "%s: token generations in the store vs refreshes at the server" % name)
                check(o["expired_403"] <= o["refreshes"] + 2,
                      "%s: 403 'token expired' %d times for %d refreshes"
                      % (name, o["expired_403"], o["refreshes"]))
                check(o["refreshes"] <= elapsed / (TTL - 2) + 2,
                      "%s: %d refreshes in %.0f s of %d-s tokens"
                      % (name, o["refreshes"], elapsed, TTL))
                print("    %s: refreshes %d, expired_403 %d, token requests %d"
                      % (name, o["refreshes"], o["expired_403"], o["token_requests"]))
            eq(dlq_messages(env), [], "dead letters")
            _check_no_secrets(env, sims, outputs)
        finally:
            _stop_sims(env)


def test_oauth_registry_tenant_refused_refresh_needs_reconnect_only_it():
    with env_for("oauth-tenants-revoke", make_seed(orders=1, products=5)) as env:
        try:
            sims = _add_oauth_tenants(env, NAMES)
            procs = _spawn_two(env)
            ports = [port for _, port in procs]
            _wait_emitted(env, {n: 3 + i for i, n in enumerate(NAMES)})
            victim, others = "o2", [n for n in NAMES if n != "o2"]
            vsim, vclient = sims[victim], _client(victim)[0]
            # The authorization's refresh token spent: the chain lives in
            # the token store only.
            wait_until(lambda: vsim.get("/_sim/oauth")["refreshes"] >= 1, 60, "a first refresh")
            check(vsim.post("/_sim/oauth/revoke", {"client_id": vclient})["revoked"] >= 1,
                  "a live refresh token revoked")
            vsim.post("/_sim/oauth/expire", {"client_id": vclient})
            wait_until(lambda: vsim.get("/_sim/oauth")["refused"]["revoked"] >= 1, 60,
                       "the revoked refresh token tried")

            def needs_reconnect():
                rc, text = _status(env, victim)
                return rc == 1 and "Mystore: needs reconnect since" in text and \
                    "refresh token refused" in text
            wait_until(needs_reconnect, 30, "status --tenant %s to say needs reconnect" % victim)
            rc, st = _status(env, victim, as_json=True)
            check(rc == 1 and st["oauth"]["needs_reconnect_since"] and
                  "invalid_grant" in st["oauth"]["reason"], "status --json: %r" % st["oauth"])
            wait_until(lambda: any(_needs_reconnect_gauge(p, victim) == 1 for p in ports), 30,
                       "mosync_tenant_needs_reconnect{tenant=%s} 1" % victim)
            for name in others:
                eq(_status(env, name)[0], 0, "status of %s" % name)

            # Only it stops: over several cycles of every tenant its token
            # endpoint and its API hear nothing, the others' orders land.
            tokens_before = vsim.get("/_sim/oauth")["token_requests"]
            api_before = vsim.stats()["requests"]
            for i, name in enumerate(NAMES):
                _new_order(sims[name], "30001", 960 + i)
            got = _wait_emitted(env, {n: 4 + NAMES.index(n) for n in others}, timeout=60)
            start = {n: sims[n].stats()["by_route"].get("GET /shops/{shop}/orders", 0)
                     for n in others}
            failed = _failed_cycles(ports, victim)
            wait_until(lambda: all(sims[n].stats()["by_route"].get("GET /shops/{shop}/orders", 0)
                                   >= start[n] + 5 for n in others), 60,
                       "five more cycles of each other tenant")
            # Its cycles go on (and fail at once, asking nobody).
            wait_until(lambda: _failed_cycles(ports, victim) >= failed + 3, 60,
                       "three more (failed) cycles of %s" % victim)
            eq(vsim.get("/_sim/oauth")["token_requests"], tokens_before,
               "token endpoint requests of %s while it needs reconnect" % victim)
            eq(vsim.stats()["requests"], api_before, "Mystore API requests of %s" % victim)
            eq(vsim.get("/_sim/oauth")["refused"]["revoked"], 1,
               "the revoked refresh token tried once across the two processes")
            check("30001" not in _orders_by_tenant(env).get(victim, []),
                  "an order of %s polled without a token" % victim)
            check(all(p.poll() is None for p, _ in procs), "the pollers run")

            # A new authorization given to the registry: served again, no restart.
            cid, secret = _client(victim)
            t = test_oauth.authorize(env, secret, cid, vsim)
            _tenant(env, ["set", victim], stdin="MYSTORE_REFRESH_TOKEN=%s\n" % t["refresh_token"])
            got = _wait_emitted(env, {victim: 3 + NAMES.index(victim) + 1}, timeout=60)
            check("30001" in got[victim], "the new order of %s after the reconnect" % victim)
            rc, st = _status(env, victim, as_json=True)
            eq((rc, st["oauth"]["needs_reconnect_since"]), (0, None), "status after the reconnect")
            wait_until(lambda: any(_needs_reconnect_gauge(p, victim) == 0 for p in ports), 30,
                       "mosync_tenant_needs_reconnect{tenant=%s} 0" % victim)
            outputs = [("stdout of poller %d" % i, _stop(p)) for i, (p, _) in enumerate(procs)]
            for name in NAMES:
                got = _orders_by_tenant(env)[name]
                eq(len(got), len(set(got)), "each order of %s once" % name)
            eq(dlq_messages(env), [], "dead letters")
            _check_no_secrets(env, sims, outputs)
        finally:
            _stop_sims(env)
