"""The Ongoing simulator serves many goods owners in one process, as one
Ongoing warehouse system does (tests/sim/README.md, "Many goods owners"):
each owner its own articles, orders, API user and webhook; the Basic
credential picks the owner.  No mosync process: these test the simulator the
multi-tenant tests stand on."""

import base64
import http.server
import json
import shutil
import tempfile
import threading

from harness import OG_PASSWORD, OG_USER, OngoingSim, check, eq, wait_until


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


def article(number, name, price):
    return {"articleNumber": number, "articleName": name, "customerPrice": price}


def order(number, article_number, items=1):
    return {"orderNumber": number, "deliveryDate": "2026-11-20",
            "consignee": {"name": "Kari Nordmann", "address1": "Storgata 1", "postCode": "0155",
                          "city": "Oslo", "countryCode": "NO"},
            "orderLines": [{"rowNumber": "1", "articleNumber": article_number,
                            "numberOfItems": items}]}


class sim_with_owners:
    """An OngoingSim (owner #0: goods owner 1, OG_USER) plus goods owners 7
    and 8, each seeded with article "SAME" under its own name and price."""

    def __enter__(self):
        self.workdir = tempfile.mkdtemp(prefix="mosync-e2e-sim-owners-")
        self.sim = OngoingSim(self.workdir, {"articles": [article("SAME", "Owner one", 10.0)]})
        self.o7 = self.sim.add_goods_owner(7, "u7", "p7", {
            "articles": [article("SAME", "Owner seven", 70.0)],
            "orders": [order("A-1", "SAME", 7)]})
        self.o8 = self.sim.add_goods_owner(8, "u8", "p8", {
            "articles": [article("SAME", "Owner eight", 80.0)]})
        return self

    def api(self, method, path, user, password, body=None):
        return self.sim.call(method, "/wh/api/v1" + path, body, basic(user, password))

    def __exit__(self, *exc):
        self.sim.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def test_goods_owners_have_their_own_articles_and_orders():
    with sim_with_owners() as t:
        eq(t.sim.get("/_sim/goods-owners"), [1, 7, 8], "goods owner ids")
        names = {}
        for gid, user, password in ((1, OG_USER, OG_PASSWORD), (7, "u7", "p7"), (8, "u8", "p8")):
            status, got = t.api("GET", "/articles?goodsOwnerId=%d&articleNumber=SAME" % gid,
                                user, password)
            eq(status, 200, "GET /articles of goods owner %d" % gid)
            eq(len(got), 1, "articles SAME of goods owner %d" % gid)
            eq(got[0]["goodsOwner"]["id"], gid, "goodsOwner.id answered to owner %d" % gid)
            names[gid] = (got[0]["articleName"], got[0]["customerPrice"])
        eq(names, {1: ("Owner one", 10.0), 7: ("Owner seven", 70.0), 8: ("Owner eight", 80.0)},
           "each owner's article SAME")
        # articleSystemId is system-wide: three owners, three ids.
        ids = {a["articleSystemId"] for o in (t.sim, t.o7, t.o8) for a in o.get("/_sim/articles")}
        eq(len(ids), 3, "distinct articleSystemIds")

        # An order written by owner 8's user lands with owner 8 only; the
        # same order number at owner 7 is another order.
        status, got = t.api("PUT", "/orders", "u8", "p8", dict(order("A-1", "SAME", 2),
                                                               goodsOwnerId=8))
        eq(status, 201, "PUT /orders by owner 8: %r" % (got,))
        eq([o["orderNumber"] for o in t.o8.orders()], ["A-1"], "owner 8's orders")
        eq(t.o8.order("A-1")["orderLines"][0]["numberOfItems"], 2, "owner 8's A-1")
        eq(t.o7.order("A-1")["orderLines"][0]["numberOfItems"], 7, "owner 7's A-1 untouched")
        eq(t.sim.orders(), [], "owner #0's orders")
        status, got = t.api("GET", "/orders?goodsOwnerId=7", "u7", "p7")
        eq([o["orderInfo"]["orderNumber"] for o in got], ["A-1"], "owner 7's API order list")
        eq(got[0]["orderLines"][0]["article"]["articleName"], "Owner seven",
           "order line's article from the owner's own registry")

        # Write log and stats say whose request it was.
        eq([(w["goods_owner"], w["status"]) for w in t.sim.order_writes()], [(8, 201)],
           "write log goods_owner")
        eq(len(t.o8.order_writes()), 1, "owner 8's order writes")
        eq(t.o7.order_writes(), [], "owner 7's order writes")
        eq(t.sim.stats()["by_goods_owner"], {"1": 1, "7": 2, "8": 2}, "API requests per owner")


def test_goods_owner_id_of_another_owner_is_refused():
    with sim_with_owners() as t:
        status, got = t.api("GET", "/orders?goodsOwnerId=8", "u7", "p7")
        eq(status, 400, "user of owner 7 asking for goodsOwnerId 8")
        check("goodsOwnerId" in got["message"], "message names goodsOwnerId: %r" % got)
        status, got = t.api("PUT", "/articles", "u7", "p7",
                            dict(article("NEW", "x", 1.0), goodsOwnerId=8))
        eq(status, 400, "PUT /articles with goodsOwnerId 8 by owner 7's user")
        check("goodsOwnerId" in got["message"], "message names goodsOwnerId: %r" % got)
        eq([a["articleNumber"] for a in t.o8.get("/_sim/articles")], ["SAME"],
           "nothing written at owner 8")
        # A password of another owner does not open this user.
        status, _ = t.api("GET", "/orders?goodsOwnerId=7", "u7", "p8")
        eq(status, 401, "u7 with owner 8's password")
        eq(t.sim.writes()[-1]["goods_owner"], 7, "the refused write is logged for owner 7")


def test_order_by_id_of_another_owner_is_not_found():
    with sim_with_owners() as t:
        order_id = t.o7.order("A-1")["orderId"]
        status, got = t.api("GET", "/orders/%d" % order_id, "u7", "p7")
        eq(status, 200, "owner 7's own order by id")
        eq(got["orderInfo"]["orderNumber"], "A-1", "order answered")
        status, _ = t.api("GET", "/orders/%d" % order_id, "u8", "p8")
        eq(status, 404, "owner 7's order asked by owner 8's user")
        status, _ = t.api("GET", "/orders/%d" % order_id, OG_USER, OG_PASSWORD)
        eq(status, 404, "owner 7's order asked by owner #0's user")
        status, got = t.api("GET", "/orders/statuses", "u8", "p8")
        eq(status, 200, "statuses for owner 8")
        check(len(got["orderStatuses"]) > 0, "statuses answered")


class Receiver:
    """A webhook receiver on loopback: every POST's path, token and body."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, self.headers.get("X-Auth-Token"), json.loads(body)))
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


def test_webhooks_per_goods_owner_with_their_own_token():
    receiver = Receiver()
    try:
        with sim_with_owners() as t:
            t.o7.post("/_sim/webhooks", {"url": receiver.url + "/seven", "token": "tok7"})
            t.o8.post("/_sim/webhooks", {"url": receiver.url + "/eight", "token": "tok8"})
            for user, password, gid, number in (("u8", "p8", 8, "B-1"),
                                                (OG_USER, OG_PASSWORD, 1, "Z-1")):
                status, _ = t.api("PUT", "/orders", user, password,
                                  dict(order(number, "SAME"), goodsOwnerId=gid))
                eq(status, 201, "order %s of owner %d" % (number, gid))
            t.o7.post("/_sim/orders/A-1/ship", {"wayBill": "WB7"})
            t.o8.post("/_sim/orders/B-1/status", {"status": 300})
            # Owner #0 has no webhook: its status change queues nothing.
            t.sim.post("/_sim/orders/Z-1/status", {"status": 300})
            wait_until(lambda: len(receiver.received) >= 2, 30, "two webhooks received")
            eq(t.sim.get("/_sim/webhooks")["queued"], 2, "webhooks queued in all")
            got = sorted(receiver.received, key=lambda r: r[0])
            eq([(p, tok, b["goodsOwnerId"], b["orderNumber"], b["orderStatus"]["number"])
                for p, tok, b in got],
               [("/eight", "tok8", 8, "B-1", 300), ("/seven", "tok7", 7, "A-1", 450)],
               "webhooks (path, token, goodsOwnerId, orderNumber, status)")
            eq(t.o7.get("/_sim/webhooks")["url"], receiver.url + "/seven", "owner 7's url")
            eq(t.sim.get("/_sim/webhooks")["url"], "", "owner #0 has none")
    finally:
        receiver.close()


def test_unprefixed_endpoints_still_address_owner_zero():
    with sim_with_owners() as t:
        eq([a["articleName"] for a in t.sim.get("/_sim/articles")], ["Owner one"],
           "/_sim/articles is owner #0's")
        eq(t.sim.get("/_sim/goods-owners/1/articles"), t.sim.get("/_sim/articles"),
           "owner #0 also under its prefix")
        # Test writes through the unprefixed endpoints change owner #0 only.
        t.sim.post("/_sim/articles/SAME/stock", {"numberOfItems": 4})
        eq(t.sim.get("/_sim/articles/SAME")["inventoryInfo"]["numberOfItems"], 4.0,
           "owner #0's stock")
        eq(t.o7.get("/_sim/articles/SAME")["inventoryInfo"]["numberOfItems"], 0.0,
           "owner 7's stock untouched")
        status, _ = t.sim.call("GET", "/_sim/orders/A-1")
        eq(status, 404, "owner 7's order is not at /_sim/orders")
        # /_sim/credentials unprefixed re-keys owner #0, leaving the others be.
        t.sim.post("/_sim/credentials", {"password": "new-pw"})
        status, _ = t.api("GET", "/orders?goodsOwnerId=1", OG_USER, OG_PASSWORD)
        eq(status, 401, "owner #0's old password")
        status, _ = t.api("GET", "/orders?goodsOwnerId=1", OG_USER, "new-pw")
        eq(status, 200, "owner #0's new password")
        status, _ = t.api("GET", "/orders?goodsOwnerId=7", "u7", "p7")
        eq(status, 200, "owner 7's credential unchanged")
        # A user name another owner has is refused.
        status, _ = t.sim.call("POST", "/_sim/goods-owners/7/credentials", {"user": OG_USER})
        eq(status, 409, "owner 7 taking owner #0's user")
        # Raw items per owner.
        t.o7.post("/_sim/raw-items", {"list": "orders", "items": [{"broken": True}]})
        status, got = t.api("GET", "/orders?goodsOwnerId=7", "u7", "p7")
        eq(got[-1], {"broken": True}, "owner 7's raw item")
        status, got = t.api("GET", "/orders?goodsOwnerId=1", OG_USER, "new-pw")
        eq(got, [], "owner #0's list without it")


def test_add_goods_owner_refuses_bad_and_taken():
    with sim_with_owners() as t:
        for body, status, word in (
                ({"id": 7, "user": "new", "password": "p"}, 409, "7"),
                ({"id": 9, "user": "u8", "password": "p"}, 409, "u8"),
                ({"id": 0, "user": "new", "password": "p"}, 400, "id"),
                ({"id": "9", "user": "new", "password": "p"}, 400, "id"),
                ({"id": 9, "password": "p"}, 400, "user"),
                ({"id": 9, "user": "new"}, 400, "password"),
                ({"id": 9, "user": "new", "password": "p", "seed": []}, 400, "seed"),
                ({"id": 9, "user": "new", "password": "p", "owner": 1}, 400, "owner"),
                ({"id": 9, "user": "new", "password": "p",
                  "seed": {"orders": [order("C-1", "NOPE")]}}, 400, "orders[0]")):
            got_status, got = t.sim.call("POST", "/_sim/goods-owners", body)
            eq(got_status, status, "POST /_sim/goods-owners %r" % (body,))
            check(word in got["message"], "message of %r names %s: %r" % (body, word, got))
        eq(t.sim.get("/_sim/goods-owners"), [1, 7, 8], "nothing added")
        # The refused seed gave its ids back: the next article gets the next id.
        before = max(a["articleSystemId"] for o in (t.sim, t.o7, t.o8)
                     for a in o.get("/_sim/articles"))
        o9 = t.sim.add_goods_owner(9, "u9", "p9")
        eq(o9.orders(), [], "a new owner without seed has no orders")
        status, got = t.api("PUT", "/articles", "u9", "p9", dict(article("N", "n", 1.0),
                                                               goodsOwnerId=9))
        eq((status, got["articleSystemId"]), (200, before + 1), "next articleSystemId")
