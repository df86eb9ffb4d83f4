"""Mystore OAuth (common/oauth.c): access tokens that live a few seconds,
refreshed through the token store in Redis by one process of the tenant at a
time, rotating refresh tokens, a refused refresh token ("needs reconnect")
and Redis emptied mid-run.  The simulator is the authorization server
(POST /oauth/token, /_sim/oauth/*, tests/sim/README.md): it refuses a spent
refresh token (400 invalid_grant, counted as "reused") and answers 403
"token expired" to an expired access token (counted as expired_403).

The promises:
- every refresh spends a refresh token exactly once: the simulator counts no
  reuse and no refused grant while the chain is healthy, and each refresh
  happens when the previous access token was due (less than half its life
  left), never a second refresh of one generation;
- an access token expires under a request rarely: at most one 403 "token
  expired" per refresh (the race of a request sent within the last second),
  and each is followed by the new token, so every order and product lands;
- a revoked refresh token: the tenant needs reconnect (`mosync status` says
  so and exits 1, mosync_tenant_needs_reconnect 1), no dead letter, no more
  than one refused grant per configured refresh token (no storm), the
  Ongoing-side poller goes on; a new MYSTORE_REFRESH_TOKEN and a restart
  bring it back;
- FLUSHALL: the chain starts again from MYSTORE_REFRESH_TOKEN.  While it is
  unspent (the first access token came with it in MYSTORE_TOKEN) that just
  works; once a refresh spent it (rotation), the tenant needs reconnect.
"""

import base64
import json
import os
import signal
import time
import urllib.parse
import urllib.request

from harness import (SHOP, TENANT, check, dlq_messages, env_for, eq, free_port,
                     topic_messages, wait_until)
from seedgen import make_seed

CLIENT = "mosync-e2e"
CLIENT_SECRET = "cs-9f2Kq7Lm3Xw8Zt1Vb"
KEY = base64.b64encode(bytes(range(32))).decode()
TTL = 5


def token_post(env, form, sim=None):
    """POST /oauth/token form-encoded, as an authorization's callback does
    (to sim, by default the env's Mystore simulator)."""
    data = urllib.parse.urlencode(form).encode()
    sim = sim or env.mystore
    req = urllib.request.Request(sim.base + "/oauth/token", data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def authorize(env, client_secret=CLIENT_SECRET, client=CLIENT, sim=None):
    """An authorization of client on sim (by default the env's Mystore
    simulator): a code exchanged for the first tokens."""
    sim = sim or env.mystore
    code = sim.post("/_sim/oauth/codes", {"client_id": client})["code"]
    status, t = token_post(env, {"grant_type": "authorization_code", "client_id": client,
                                 "client_secret": client_secret, "code": code,
                                 "redirect_uri": "https://example.invalid/cb"}, sim)
    eq(status, 200, "the code exchange")
    return t


def setup(env, ttl=TTL, client_secret=CLIENT_SECRET, key=KEY):
    """Registers the client, sets the access tokens' life, authorizes, and
    configures mosync with the client and the refresh token (no
    MYSTORE_TOKEN); returns the authorization's tokens."""
    env.mystore.post("/_sim/oauth/clients", {"client_id": CLIENT, "client_secret": client_secret})
    env.mystore.post("/_sim/oauth/config", {"access_ttl_s": ttl})
    t = authorize(env, client_secret)
    env.env.update({"MYSTORE_AUTH_URL": env.mystore.base, "MYSTORE_CLIENT_ID": CLIENT,
                    "MYSTORE_CLIENT_SECRET": client_secret,
                    "MYSTORE_REFRESH_TOKEN": t["refresh_token"], "MOSYNC_SECRET_KEY": key})
    env.env.pop("MYSTORE_TOKEN", None)
    return t


def oauth(env):
    return env.mystore.get("/_sim/oauth")



def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return None


def stop(p):
    p.send_signal(signal.SIGTERM)
    eq(p.wait(30), 0, "exit status on SIGTERM")


def keys_on(env, topic):
    return {m["key"].split(":", 1)[1] for m in topic_messages(env, topic)}


def add_order(env, seed, n):
    """A new order in the shop, a copy of the seed's first with another id."""
    o = json.loads(json.dumps(seed["orders"][0]))
    o["id"] = str(20000 + n)
    o["attributes"].pop("updated_at", None)
    o["attributes"]["reference"] = o["id"]
    env.mystore.put("/_sim/orders/%s" % o["id"], o)
    return o["id"]


def token_id(refresh_token):
    """The simulator's number of a refresh token ("rt-<n>-<random>")."""
    return int(refresh_token.split("-")[1])


def check_chain_healthy(o, start):
    """start: the authorization's refresh token, whose first refresh may come
    while the access token it came with is fresh (mosync never had it)."""
    eq(o["refused"], {"invalid_grant": 0, "invalid_client": 0, "reused": 0, "revoked": 0},
       "refused grants (a reused refresh token is a double spend)")
    for r in o["log"]:
        if r["token_id"] == token_id(start):
            continue
        check(r["prev_access_left_ms"] * 2 < r["prev_access_life_ms"],
              "a refresh of a generation that had more than half its life left (a second "
              "refresh of one generation): %r" % r)
    ids = [r["token_id"] for r in o["log"]]
    eq(len(ids), len(set(ids)), "refresh tokens each spent once")


def test_oauth_two_pollers_share_one_refresh_per_generation():
    seed = make_seed(orders=30, products=12, seed=4101)
    with env_for("oauth-share", seed) as env:
        t = setup(env)
        orders = env.spawn(["poll", "mystore-orders"])
        products = env.spawn(["poll", "mystore-products"])
        ids = {o["id"] for o in seed["orders"]}
        n = 0
        start = time.time()
        # New orders keep coming while tokens expire and are refreshed.
        while oauth(env)["refreshes"] < 6:
            check(time.time() - start < 120, "six refreshes within 120 s: %r" % oauth(env))
            check(orders.poll() is None and products.poll() is None, "the pollers run")
            n += 1
            ids.add(add_order(env, seed, n))
            time.sleep(1)
        # The server's clock runs ahead: every access token is expired to it
        # but not to mosync's clock.  Its "token expired" is believed: one
        # refresh, and the next orders land.
        before = oauth(env)
        env.mystore.post("/_sim/oauth/expire", {"client_id": CLIENT})
        ids.add(add_order(env, seed, n + 1))
        wait_until(lambda: ids <= keys_on(env, "mystore.orders"), 60, "every order on the topic")
        after = oauth(env)
        check(after["expired_403"] > before["expired_403"],
              "no request met the token the server expired")
        check(after["refreshes"] > before["refreshes"], "no refresh after the server expired it")
        pids = {p["id"] for p in seed["products"]}
        wait_until(lambda: pids <= keys_on(env, "mystore.products"), 60,
                   "every product on the topic")
        stop(orders)
        stop(products)
        o = oauth(env)
        eq(len(o["chains"]), 1, "chains")
        chain = list(o["chains"].values())[0]
        eq(chain["refreshes"], o["refreshes"], "the chain's refreshes")
        check_chain_healthy(o, t["refresh_token"])
        # The race: a request sent in the token's last second may reach the
        # API after it expired; at most once per refresh (plus the two
        # pollers' requests with the token the server expired early), and
        # the request is asked again with the new token (every entity
        # landed above).
        check(o["expired_403"] <= o["refreshes"] + 2,
              "403 'token expired' %d times for %d refreshes" % (o["expired_403"], o["refreshes"]))
        # Refreshes: about one per token life, not one per process.
        elapsed = time.time() - start
        check(o["refreshes"] <= elapsed / (TTL - 2) + 2,
              "%d refreshes in %.0f s of %d-s tokens" % (o["refreshes"], elapsed, TTL))
        rc, st = env.status()[:2]
        eq(rc, 0, "status exit")
        check(st["oauth"]["generation"] >= 6 and st["oauth"]["needs_reconnect_since"] is None,
              "status: %r" % st["oauth"])
        eq(dlq_messages(env), [], "dead letters")
        with open(os.path.join(env.workdir, "oauth.json"), "w") as f:
            json.dump({k: o[k] for k in ("refreshes", "expired_403", "token_requests")}, f)
        print("    refreshes %d, expired_403 %d, token requests %d, in %.0f s"
              % (o["refreshes"], o["expired_403"], o["token_requests"], elapsed))


def test_oauth_revoked_refresh_token_needs_reconnect_then_a_new_one_fixes_it():
    seed = make_seed(orders=6, products=4, seed=4102)
    with env_for("oauth-revoke", seed) as env:
        setup(env)
        port = free_port()
        orders = env.spawn(["poll", "mystore-orders"], {"METRICS_PORT": str(port)})
        shipments = env.spawn(["poll", "ongoing-shipments"])
        ids = {o["id"] for o in seed["orders"]}
        wait_until(lambda: ids <= keys_on(env, "mystore.orders"), 60, "the orders on the topic")
        wait_until(lambda: oauth(env)["refreshes"] >= 1, 60, "a first refresh")
        revoked = env.mystore.post("/_sim/oauth/revoke", {"client_id": CLIENT})["revoked"]
        check(revoked >= 1, "a live refresh token revoked")
        wait_until(lambda: oauth(env)["refused"]["revoked"] >= 1, 60,
                   "the revoked refresh token tried")

        def needs_reconnect():
            rc, text = env.status(human=True)[:2]
            return rc != 0 and "Mystore: needs reconnect since" in text and \
                "refresh token refused" in text
        wait_until(needs_reconnect, 30, "status to say needs reconnect")
        wait_until(lambda: metric(port, "mosync_tenant_needs_reconnect") == 1, 30,
                   "mosync_tenant_needs_reconnect 1")
        rc, st = env.status()[:2]
        check(rc != 0 and st["oauth"]["needs_reconnect_since"]
              and "invalid_grant" in st["oauth"]["reason"], "status --json: %r" % st["oauth"])
        # No storm: the poller keeps cycling (every second), the token
        # endpoint hears nothing more of this refresh token.
        before = oauth(env)["token_requests"]
        api_before = env.mystore.stats()["requests"]
        new_id = add_order(env, seed, 1)
        time.sleep(8)  # eight poll cycles: a window to see requests that must not come
        eq(oauth(env)["token_requests"], before, "token endpoint requests while it needs reconnect")
        check(env.mystore.stats()["requests"] == api_before,
              "Mystore API requests without an access token")
        check(orders.poll() is None and shipments.poll() is None, "the pollers run")
        check(new_id not in keys_on(env, "mystore.orders"), "an order polled without a token")
        eq(dlq_messages(env), [], "dead letters")
        stop(orders)
        stop(shipments)

        # A new authorization, set in the environment, and a restart.
        t = authorize(env)
        env.env["MYSTORE_REFRESH_TOKEN"] = t["refresh_token"]
        orders = env.spawn(["poll", "mystore-orders"], {"METRICS_PORT": str(port)})
        wait_until(lambda: new_id in keys_on(env, "mystore.orders"), 60,
                   "the new order polled after the reconnect")
        wait_until(lambda: metric(port, "mosync_tenant_needs_reconnect") == 0, 30,
                   "mosync_tenant_needs_reconnect 0")
        rc, st = env.status()[:2]
        eq((rc, st["oauth"]["needs_reconnect_since"]), (0, None), "status after the reconnect")
        stop(orders)
        eq(dlq_messages(env), [], "dead letters")


def test_oauth_ongoing_side_goes_on_while_mystore_needs_reconnect():
    seed = make_seed(orders=4, products=4, seed=4104)
    with env_for("oauth-ongoing-side", seed) as env:
        setup(env)
        env.mystore.post("/_sim/oauth/revoke", {"client_id": CLIENT})
        rc, _, err = env.run(["poll", "mystore-orders", "--once"], expect_rc=None)
        check(rc != 0, "a Mystore poll with a revoked refresh token exits non-zero")
        rc, text = env.status(human=True)[:2]
        check(rc != 0 and "Mystore: needs reconnect since" in text, "status:\n%s" % text)
        # Ongoing's poller needs no Mystore token.
        rc, s, _ = env.run(["poll", "ongoing-shipments", "--once"])
        eq(rc, 0, "the Ongoing poller")
        eq(oauth(env)["refused"]["revoked"], 1, "the revoked refresh token tried once")
        env.run(["poll", "mystore-orders", "--once"], expect_rc=None)
        eq(oauth(env)["refused"]["revoked"], 1, "tried again without a new refresh token")


def test_oauth_flushall_restarts_the_chain_from_the_configured_refresh_token():
    seed = make_seed(orders=5, products=4, seed=4103)
    with env_for("oauth-flushall", seed) as env:
        t = setup(env, ttl=3600)
        # The first access token comes with the refresh token: nothing spent.
        env.env["MYSTORE_TOKEN"] = t["access_token"]
        env.poll_orders()
        eq(oauth(env)["refreshes"], 0, "refreshes with a fresh first access token")
        env.redis.cmd("FLUSHALL")
        env.poll_orders()
        eq(oauth(env)["refreshes"], 0, "refreshes after FLUSHALL, the env tokens unspent")
        # Short tokens: the first refresh spends MYSTORE_REFRESH_TOKEN.
        env.mystore.post("/_sim/oauth/config", {"access_ttl_s": 2})
        env.env.pop("MYSTORE_TOKEN")
        env.redis.cmd("FLUSHALL")
        env.poll_orders()  # starts the chain: spends the configured refresh token
        wait_until(lambda: (env.poll_orders(), oauth(env)["refreshes"] >= 2)[1], 60,
                   "a refresh of the stored chain")
        check_chain_healthy(oauth(env), t["refresh_token"])
        env.redis.cmd("FLUSHALL")
        rc, _, _ = env.poll_orders(expect_rc=None)
        check(rc != 0, "a poll after FLUSHALL with the configured refresh token spent")
        eq(oauth(env)["refused"]["reused"], 1, "the spent configured refresh token tried once")
        rc, text = env.status(human=True)[:2]
        check(rc != 0 and "Mystore: needs reconnect since" in text, "status:\n%s" % text)
        eq(dlq_messages(env), [], "dead letters")
