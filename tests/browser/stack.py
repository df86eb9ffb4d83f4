#!/usr/bin/env python3
"""The stack the browser test drives (tests/browser/run.js starts it).

It reuses the end-to-end harness (tests/e2e/harness.py): Redis on a free port,
the embedded Kafka broker (`mosync dev-broker`), both simulators, and
`mosync admin` with ADMIN_PASSWORD, MOSYNC_SECRET_KEY and an OAuth client the
Mystore simulator knows (as tests/e2e/test_admin_connect.py sets it up).

Three tenants, each with its own Mystore shop and Ongoing goods owner, whose
order ids and SKUs do not collide (seedgen's first ids):
  shop1  in the registry from the start (`mosync tenant add`): shop #0 "demo",
         goods owner 1, orders 10001..; one open dead letter (an order the
         warehouse refused while the running applier applied it).
  oa1    connected in the browser by OAuth: shop "oashop" (orders 20001..),
         goods owner 2.  The admin's OAuth client is registered on oashop
         only: the simulator's authorize page serves the shop its client_id
         is registered on, so every OAuth connect of the run is oashop's.
  dry1   connected in the browser with a pasted personal access token (the
         shop's static token): shop "dryshop" (orders 30001..), goods owner 3.
Each shop's orders carry a shipping method (ORDER_METHODS), so the Fine-tune
page's way-of-delivery table has a method whose order the test can follow.

Long-lived, like a deployment: the 4 pollers and the 4 appliers, each one
process `--all-tenants`, so a tenant activated on the page is served (its
poll interval is the one the Fine-tune page stored).

Once everything is up it prints one JSON line on stdout:
    {"admin": "http://127.0.0.1:N", "password": "...", "tenant": "shop1",
     "letter": "<dead letter id>", "letter_order": "<its order id>",
     "workdir": "...", "ongoing": "<base>/wh",
     "mystore": "<base>", "oa": {...}, "dry": {...}}
("oa" and "dry": tenant, shop, goods_owner, user, password, orders {id:
method}; "dry" also token), then answers one request per stdin line, each
with one JSON line, so the test can check what the page says against the
registry and the simulators themselves:
    state <tenant>     {"state": "active"}
    letters <tenant>   {"letters": [{"id": ..., "state": ...}, ...]}
    tenant <tenant>    {"tenant": null, "pending": N} when it is not in the
                       registry; else {"tenant": {"state", "settings"}} (the
                       settings without a secret); pending: connections
                       waiting for Mystore's consent (Redis keys)
    writes <owner>     the Ongoing simulator's write log for goods owner
                       <owner>: {"writes": all its writes, "order_puts": PUTs
                       of /orders (refused ones too), "orders": [numbers of
                       the accepted PUTs], "ways": {number: wayOfDelivery of
                       its last accepted PUT}}
    order <shop>       creates one new order in that shop (a copy of its
                       first, stamped now): {"id": ..., "method": ...}
It tears everything down on end of input or on SIGTERM/SIGINT.
"""
import copy
import json
import os
import random
import signal
import string
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import SHOP, check, env_for, wait_until  # noqa: E402
from seedgen import make_seed  # noqa: E402
from test_admin import Admin, _letters, _state  # noqa: E402
from test_apply_tenants import _spawn  # noqa: E402
from test_ops_dlq import refuse_order  # noqa: E402
from test_tenants import _settings, _tenant  # noqa: E402

TENANT = "shop1"
STREAMS = ("mystore-orders", "mystore-products", "ongoing-shipments", "ongoing-stock")
FLOWS = ("orders", "articles", "deliveries", "stock")
CLIENT_ID = "mosync-browser"
# Each shop's orders in turn get one of these methods: two of them share
# the first, so a way of delivery chosen for it covers more than one order.
ORDER_METHODS = ("Bring - Pakke i postkassen", "Helthjem", "Bring - Pakke i postkassen")
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET")


class _Stop(Exception):
    pass


def _stop(signum, frame):
    # Unwinds to main(), then through env_for, which stops every process it
    # started (and removes its work directory: a stop is not a failure).
    raise _Stop()


def _secret(rng, prefix, n=18):
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _shop_seed(k, orders):
    """Shop k's seed: order ids k0001.., product and variant ids (and so
    SKUs) of their own; every order with a shipping method."""
    seed = make_seed(orders=orders, products=4, seed=140 + k, first_order_id=k * 10000 + 1,
                     first_product_id=800 + 1000 * (k - 1) + 1,
                     first_variant_id=116301 + 100000 * (k - 1))
    for i, o in enumerate(seed["orders"]):
        o["attributes"]["shipping_method"] = ORDER_METHODS[i % len(ORDER_METHODS)]
    return seed


def _dead_letter(env, first_order):
    """One of shop1's orders refused by the warehouse for good, by the
    running order applier (a dead letter applied by hand before would be
    applied again, and resolved, by the `--all-tenants` applier's own group)."""
    open_ = wait_until(lambda: [l for l in _letters(env, TENANT) if l["state"] == "open"], 60,
                       "the refused order dead-lettered", interval=0.5)
    check(len(open_) == 1, "one open dead letter: %r" % open_)
    # The warehouse takes it again: a re-drive from the page would succeed.
    env.ongoing.call("DELETE", "/_sim/fault")
    check(first_order not in [o["orderNumber"] for o in env.ongoing.orders()],
          "the refused order %s in the warehouse" % first_order)
    return open_[0]["id"]


class Stack:
    def __init__(self, env, rng):
        self.env = env
        self.rng = rng
        self.shops = {}  # shop name -> {"seed", "next"}

    def add_shop(self, name, token, k, owner, tenant):
        """A shop of its own (k: its id range) and a goods owner of its own."""
        seed = _shop_seed(k, 3)
        self.env.mystore.add_shop(name, token, seed=seed)
        user, password = "og-" + tenant, _secret(self.rng, "og-pw-")
        self.env.ongoing.add_goods_owner(owner, user, password)
        self.shops[name] = {"seed": seed, "next": k * 10000 + 501}
        return {"tenant": tenant, "shop": name, "goods_owner": owner, "user": user,
                "password": password,
                "orders": {o["id"]: o["attributes"]["shipping_method"] for o in seed["orders"]}}

    def tenant(self, name):
        pending = len(self.env.redis.cmd("KEYS", "mosync:{*}:admin:connect:*") or [])
        out, _ = _tenant(self.env, ["list", "--json"])
        if name not in json.loads(out):
            return {"tenant": None, "pending": pending}
        out, _ = _tenant(self.env, ["show", name, "--json"])
        rec = json.loads(out)
        settings = {k: v for k, v in (rec.get("settings") or {}).items()
                    if not any(w in k for w in SECRET_WORDS)}
        return {"tenant": {"state": rec.get("state"), "settings": settings}, "pending": pending}

    def writes(self, owner):
        mine = [w for w in self.env.ongoing.writes() if w.get("goods_owner") == owner]
        puts = [w for w in mine if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders")]
        ways = {}
        for w in puts:
            if not 200 <= w.get("status", 0) < 300:
                continue
            body = w.get("body") if isinstance(w.get("body"), dict) else {}
            if "orderNumber" in body:
                ways[body["orderNumber"]] = body.get("wayOfDelivery")
        return {"writes": len(mine), "order_puts": len(puts), "orders": sorted(ways), "ways": ways}

    def order(self, shop):
        s = self.shops[shop]
        o = copy.deepcopy(s["seed"]["orders"][0])
        o["id"] = str(s["next"])
        s["next"] += 1
        o["attributes"]["reference"] = o["id"]
        o["attributes"].pop("updated_at", None)
        self.env.mystore.shop(shop).put("/orders/%s" % o["id"], o)
        return {"id": o["id"], "method": o["attributes"]["shipping_method"]}

    def serve(self):
        for line in sys.stdin:
            words = line.split()
            try:
                if len(words) != 2:
                    raise KeyError(line.strip())
                verb, arg = words
                if verb == "state":
                    out = {"state": _state(self.env, arg)}
                elif verb == "letters":
                    out = {"letters": [{"id": l["id"], "state": l["state"]}
                                       for l in _letters(self.env, arg)]}
                elif verb == "tenant":
                    out = self.tenant(arg)
                elif verb == "writes":
                    out = self.writes(int(arg))
                elif verb == "order" and arg in self.shops:
                    out = self.order(arg)
                else:
                    raise KeyError(line.strip())
            except KeyError:
                out = {"error": "unknown request %r" % line.strip()}
            except Exception as e:  # the test sees why, the stack goes on
                out = {"error": "%s: %s" % (line.strip(), e)}
            print(json.dumps(out), flush=True)


def main():
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    rng = random.SystemRandom()
    password = _secret(rng, "PW")
    seed = _shop_seed(1, 4)
    with env_for("browser", seed) as env:
        t0 = time.monotonic()
        env.seed = seed
        stack = Stack(env, rng)
        stack.shops[SHOP] = {"seed": seed, "next": 10501}
        _tenant(env, ["add", TENANT], stdin=_settings(env))
        first_order = sorted(o["id"] for o in seed["orders"])[0]
        refuse_order(env, first_order)

        oa = stack.add_shop("oashop", _secret(rng, "tok-oa-"), 2, 2, "oa1")
        dry = stack.add_shop("dryshop", _secret(rng, "tok-dry-"), 3, 3, "dry1")
        dry["token"] = env.mystore._tokens["dryshop"]
        client_secret = _secret(rng, "cs-")
        env.mystore.shop("oashop").post("/oauth/clients", {"client_id": CLIENT_ID,
                                                          "client_secret": client_secret})
        env.env.update(MYSTORE_AUTH_URL=env.mystore.base, ADMIN_MYSTORE_CLIENT_ID=CLIENT_ID,
                       ADMIN_MYSTORE_CLIENT_SECRET=client_secret)

        quiet = {"LOG_LEVEL": "info"}
        for s in STREAMS:
            _spawn(env, ["poll", s, "--all-tenants"], quiet)
        for f in FLOWS:
            _spawn(env, ["apply", f, "--all-tenants"], quiet)
        letter = _dead_letter(env, first_order)
        admin = Admin(env, password)
        print("stack.py: up in %.1f s (%s)" % (time.monotonic() - t0, env.workdir),
              file=sys.stderr, flush=True)
        print(json.dumps({"admin": admin.base, "password": password, "tenant": TENANT,
                          "letter": letter, "letter_order": first_order, "workdir": env.workdir,
                          "ongoing": env.ongoing.base + "/wh", "mystore": env.mystore.base,
                          "oa": oa, "dry": dry}), flush=True)
        try:
            stack.serve()
        except _Stop:
            pass


if __name__ == "__main__":
    main()
