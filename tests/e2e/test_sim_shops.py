"""The Mystore simulator serving many shops in one process (POST /_sim/shops,
tests/sim/README.md): each shop has its own orders, products, token, OAuth
clients and webhook target; a token works on its own shop only; the
unprefixed test endpoints stay shop #0's.  Simulator only: no mosync, Redis
or Kafka."""

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import shutil
import tempfile
import threading

from harness import SHOP, TOKEN, MystoreSim, check, eq, wait_until
from seedgen import make_seed


@contextlib.contextmanager
def sim_with(seed, extra=None):
    """A Mystore simulator on seed, stopped afterwards (its log kept when the
    test fails)."""
    workdir = tempfile.mkdtemp(prefix="mosync-e2e-sim-shops-")
    sim = MystoreSim(workdir, seed, extra=extra)
    ok = False
    try:
        yield sim
        ok = True
    finally:
        sim.stop()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("(simulator log kept in %s)" % workdir)


def order_ids(view):
    return sorted(o["id"] for o in view.api("orders?page[size]=50")["data"])


def new_order(oid):
    """A one-line order in seed form (status 1 exists in make_seed's seeds)."""
    return {"id": oid, "status_id": "1", "attributes": {"reference": oid}}


def test_shops_keep_their_own_orders_and_products():
    with sim_with(make_seed(orders=3, products=4, seed=61)) as sim:
        own = make_seed(orders=5, products=2, seed=62)
        for o in own["orders"]:
            o["id"] = "2" + o["id"]  # 210001...: none of shop #0's ids
        s7 = sim.add_shop("s7", "tok-s7", seed=own)
        s8 = sim.add_shop("s8", "tok-s8")  # a fresh copy of the startup seed
        eq(sim.get("/_sim/shops"), {"shops": [SHOP, "s7", "s8"]}, "shops listed")

        demo = sim.shop(SHOP)
        eq(order_ids(s7), sorted(o["id"] for o in own["orders"]), "s7 serves its own seed")
        eq(order_ids(s8), order_ids(demo), "s8 starts as the startup seed")

        # A change in one shop is that shop's only: s8's copy is not shared.
        s7.put("/orders/30001", new_order("30001"))
        s8.post("/orders/10001/status", {"status_id": "5"})
        eq(s7.get("/orders/30001")["id"], "30001", "s7 has its new order")
        for view in (demo, s8):
            eq(view.call("GET", "/orders/30001")[0], 404, "order 30001 on %s" % view.name)
        eq(s8.get("/orders/10001")["status_id"], "5", "s8's order 10001 status")
        eq(demo.get("/orders/10001")["status_id"], "1", "shop #0's order 10001 status")

        pid = own["products"][0]["id"]
        product = dict(own["products"][0], id="p-s7-only")
        s7.put("/products/p-s7-only", product)
        eq(s7.api("products/p-s7-only")["data"]["id"], "p-s7-only", "s7 serves its product")
        eq(s8.api_call("products/p-s7-only")[0], 404, "s8 has no such product")
        eq(s7.api("products/%s" % pid)["data"]["id"], pid, "s7's seeded product")

        # The shop's creation refuses what it cannot take, naming it.
        status, body = sim.call("POST", "/_sim/shops", {"shop": "s7", "token": "other"})
        eq(status, 409, "adding s7 again")
        status, body = sim.call("POST", "/_sim/shops", {"shop": "s9", "token": "tok-s7"})
        eq(status, 409, "a token another shop has")
        status, body = sim.call("POST", "/_sim/shops", {"shop": "s9", "tokn": "t"})
        eq(status, 400, "an unknown member")
        check("tokn" in body["errors"][0]["detail"], "the 400 names the member: %r" % body)
        status, body = sim.call("POST", "/_sim/shops",
                                {"shop": "s9", "token": "t9",
                                 "seed": {"orders": [{"id": "1", "status_id": "77"}]}})
        eq(status, 400, "a bad seed")
        check("seed" in body["errors"][0]["detail"] and "77" in body["errors"][0]["detail"],
              "the 400 names the seed's problem: %r" % body)
        eq(sim.get("/_sim/shops")["shops"], [SHOP, "s7", "s8"], "no shop added by a refusal")


def test_a_shops_token_is_refused_by_another_shop():
    with sim_with(make_seed(orders=2, products=2, seed=63)) as sim:
        s7 = sim.add_shop("s7", "tok-s7")
        demo = sim.shop(SHOP)
        status, invalid = demo.api_call("orders", token="no-such-token")
        eq(status, 403, "an invalid token")
        for view, token in ((demo, "tok-s7"), (s7, TOKEN)):
            status, body = view.api_call("orders", token=token)
            eq(status, 403, "%s with another shop's token" % view.name)
            eq(body, invalid, "the answer is an invalid token's")
        eq(s7.api_call("orders")[0], 200, "s7 with its own token")
        eq(demo.api_call("orders")[0], 200, "shop #0 with its own token")
        status, _ = sim.call("GET", "/shops/nowhere/orders",
                             headers={"Authorization": "Bearer tok-s7"})
        eq(status, 404, "an unknown shop")
        by_shop = sim.stats()["by_shop"]
        eq(by_shop.get("s7"), 2, "API requests to s7")
        eq(by_shop.get(SHOP), 3, "API requests to shop #0")


def jwt_payload(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_an_oauth_clients_tokens_work_on_its_own_shop_only():
    with sim_with(make_seed(orders=2, products=2, seed=64)) as sim:
        s7 = sim.add_shop("s7", "tok-s7")
        demo = sim.shop(SHOP)
        eq(s7.post("/oauth/clients", {"client_id": "c7", "client_secret": "sec7"}),
           {"client_id": "c7"}, "client registered on s7")
        status, _ = demo.call("POST", "/oauth/clients",
                              {"client_id": "c7", "client_secret": "x"})
        eq(status, 409, "the same client id on another shop")
        status, _ = sim.call("POST", "/_sim/oauth/codes", {"client_id": "c7"})
        eq(status, 400, "shop #0 does not know s7's client")

        code = s7.post("/oauth/codes", {"client_id": "c7"})["code"]
        status, grant = sim.call("POST", "/oauth/token",
                                 {"grant_type": "authorization_code", "client_id": "c7",
                                  "client_secret": "sec7", "code": code})
        eq(status, 200, "code exchanged: %r" % grant)
        eq(jwt_payload(grant["access_token"])["no_mystore_hosts"], ["s7"], "the token's shop")
        eq(s7.api_call("orders", token=grant["access_token"])[0], 200, "s7 with its token")
        status, body = demo.api_call("orders", token=grant["access_token"])
        eq(status, 403, "shop #0 with s7's access token")
        eq(body["errors"][0]["detail"], "Token has expired or is invalid", "refused as invalid")

        status, again = sim.call("POST", "/oauth/token",
                                 {"grant_type": "refresh_token", "client_id": "c7",
                                  "client_secret": "sec7",
                                  "refresh_token": grant["refresh_token"]})
        eq(status, 200, "refreshed: %r" % again)
        eq(s7.api_call("orders", token=again["access_token"])[0], 200, "the refreshed token")
        eq(s7.get("/oauth")["codes_exchanged"], 1, "s7's codes exchanged")
        eq(s7.get("/oauth")["refreshes"], 1, "s7's refreshes")
        eq(sim.get("/_sim/oauth")["codes_exchanged"], 0, "shop #0's, unprefixed")
        eq(len(s7.get("/oauth/issued")), 2, "tokens s7 issued")
        eq(s7.post("/oauth/expire", {})["expired"], 2, "s7's live access tokens expired")
        status, body = s7.api_call("orders", token=again["access_token"])
        eq((status, body["errors"][0]["detail"]), (403, "token expired"), "expired on s7")


class Receiver:
    """A local HTTP server that keeps every POST: (path, headers, body)."""

    def __init__(self):
        got = self.got = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_each_shops_webhooks_go_to_its_own_target():
    receiver = Receiver()
    try:
        with sim_with(make_seed(orders=2, products=2, seed=65)) as sim:
            s7 = sim.add_shop("s7", "tok-s7")
            demo = sim.shop(SHOP)
            demo.post("/webhooks", {"url": receiver.url + "/demo-hook", "secret": "sec-demo"})
            s7.post("/webhooks", {"url": receiver.url + "/s7-hook", "secret": "sec-s7"})
            eq(s7.get("/webhooks")["url"], receiver.url + "/s7-hook", "s7's target")
            eq(demo.get("/webhooks")["url"], receiver.url + "/demo-hook", "shop #0's target")

            s7.put("/orders/30007", new_order("30007"))
            demo.put("/orders/30000", new_order("30000"))
            wait_until(lambda: len(receiver.got) >= 2, 30, "both webhooks received")
            by_path = {path: (headers, body) for path, headers, body in receiver.got}
            eq(sorted(by_path), ["/demo-hook", "/s7-hook"], "targets posted")
            for path, shop, oid, secret in (("/s7-hook", "s7", "30007", "sec-s7"),
                                            ("/demo-hook", SHOP, "30000", "sec-demo")):
                headers, body = by_path[path]
                eq(headers.get("X-No-Mystore-Host"), shop, "host header of %s" % path)
                eq(json.loads(body)["data"]["id"], oid, "order of %s" % path)
                mac = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
                eq(headers.get("X-No-Mystore-Hmac-Sha256"), mac.decode(),
                   "%s signed with its shop's secret" % path)
            eq(len(receiver.got), 2, "no webhook sent twice or to the other target")
    finally:
        receiver.close()


def test_unprefixed_test_endpoints_address_shop_zero():
    with sim_with(make_seed(orders=2, products=2, seed=66)) as sim:
        s7 = sim.add_shop("s7", "tok-s7")
        demo = sim.shop(SHOP)
        status, _ = sim.call("PUT", "/_sim/orders/40001", new_order("40001"))
        eq(status, 201, "order created unprefixed")
        eq(demo.get("/orders/40001")["id"], "40001", "it is shop #0's, prefixed by name")
        check("40001" in order_ids(demo), "shop #0's API lists it")
        check("40001" not in order_ids(s7), "s7's API does not")
        eq(s7.call("GET", "/orders/40001")[0], 404, "s7's test endpoint does not know it")
        # The clock is the process's: no shop has one of its own.
        eq(s7.call("POST", "/clock", {"now": None})[0], 404, "no per-shop clock")
        eq(sim.post("/_sim/clock", {"now": None})["fixed"], False, "the global clock")
        eq(sim.call("GET", "/_sim/shops/nowhere/orders/40001")[0], 404, "an unknown shop")
