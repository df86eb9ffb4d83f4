"""What `mosync admin`'s Fine-tune and Activate read and write on the
simulators (issue 14, tests/sim/README.md): Ongoing's ways of delivery per
goods owner (GET /api/v1/orders/wayOfDeliveryTypes and the test hook
/_sim/ways-of-delivery), and Mystore's webhooks resource (POST, GET, DELETE
/shops/{shop}/webhooks, M20): scopes read:webhooks / write:webhooks, the
secret never answered back, and every registered webhook receives the
changes of its topic signed with its own secret until it is deleted.
Simulators only: no mosync, Redis or Kafka."""

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import shutil
import tempfile
import threading
import urllib.parse

from harness import (OG_PASSWORD, OG_USER, SHOP, TOKEN, MystoreSim, OngoingSim, check, eq,
                     wait_until)
from seedgen import make_seed

HERE = os.path.dirname(os.path.abspath(__file__))
CONTRACT = os.path.join(HERE, "..", "..", "..", "shared", "contracts",
                        "ongoing-rest-v1.openapi.json")

DEFAULT_WAYS = [{"id": 1, "code": "PNSP", "name": "PostNord service point"},
                {"id": 2, "code": "BRINGHOME", "name": "Bring home delivery"},
                {"id": 3, "code": "PICKUP", "name": "Pick-up at the warehouse"}]


@contextlib.contextmanager
def workdir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    ok = False
    try:
        yield path
        ok = True
    finally:
        if ok:
            shutil.rmtree(path, ignore_errors=True)
        else:
            print("(simulator logs kept in %s)" % path)


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


# ---------------------------------------------------------------- Ongoing

def test_ways_of_delivery_per_goods_owner_and_the_hook():
    with workdir("mosync-e2e-sim-ways-") as wd:
        sim = OngoingSim(wd)
        try:
            o7 = sim.add_goods_owner(7, "u7", "p7")

            def ways(gid, user, password, query=None):
                q = "?goodsOwnerId=%d" % gid if query is None else query
                return sim.call("GET", "/wh/api/v1/orders/wayOfDeliveryTypes" + q, None,
                                basic(user, password))

            # Each owner starts with the fixed list, in the contract's shape.
            for gid, user, password in ((1, OG_USER, OG_PASSWORD), (7, "u7", "p7")):
                status, got = ways(gid, user, password)
                eq(status, 200, "GET wayOfDeliveryTypes of owner %d: %r" % (gid, got))
                eq(got, {"wayOfDeliveryTypes": DEFAULT_WAYS}, "owner %d's ways" % gid)
            if os.path.exists(CONTRACT):
                with open(CONTRACT) as f:
                    schemas = json.load(f)["components"]["schemas"]
                eq(set(got), set(schemas["GetWayOfDeliveryTypesModel"]["properties"]),
                   "members of GetWayOfDeliveryTypesModel")
                for way in got["wayOfDeliveryTypes"]:
                    eq(set(way), set(schemas["GetWayOfDeliveryTypeModel"]["properties"]),
                       "members of GetWayOfDeliveryTypeModel")

            # goodsOwnerId as GET /orders takes it: required, and the user's own.
            status, got = ways(7, "u7", "p7", "")
            eq(status, 400, "without goodsOwnerId: %r" % (got,))
            check("goodsOwnerId" in got["message"], "the 400 names goodsOwnerId: %r" % (got,))
            status, got = ways(1, "u7", "p7")
            eq(status, 400, "owner 7's user asking for owner 1's: %r" % (got,))
            status, got = ways(7, "u7", "wrong")
            eq(status, 401, "a wrong password")
            status, _ = sim.call("PUT", "/wh/api/v1/orders/wayOfDeliveryTypes",
                                 {"goodsOwnerId": 7, "code": "X", "name": "X"},
                                 basic("u7", "p7"))
            eq(status, 405, "PUT on the list is not served")

            # The hook replaces one owner's list (ids 1..n), the others keep theirs.
            mine = [{"code": "HELTHJEM", "name": "Helthjem"},
                    {"code": "PNSP", "name": "PostNord - Hentested"}]
            answer = o7.put("/_sim/ways-of-delivery", mine)
            want = [{"id": 1, "code": "HELTHJEM", "name": "Helthjem"},
                    {"id": 2, "code": "PNSP", "name": "PostNord - Hentested"}]
            eq(answer, {"wayOfDeliveryTypes": want}, "the hook's answer")
            eq(ways(7, "u7", "p7"), (200, {"wayOfDeliveryTypes": want}), "owner 7's new list")
            eq(ways(1, OG_USER, OG_PASSWORD), (200, {"wayOfDeliveryTypes": DEFAULT_WAYS}),
               "owner 1 keeps the fixed list")
            eq(o7.get("/_sim/ways-of-delivery"), {"wayOfDeliveryTypes": want}, "GET of the hook")

            # Unprefixed, the hook is owner #0's; an empty list is a list.
            sim.put("/_sim/ways-of-delivery", [])
            eq(ways(1, OG_USER, OG_PASSWORD), (200, {"wayOfDeliveryTypes": []}),
               "owner #0 emptied")
            eq(ways(7, "u7", "p7"), (200, {"wayOfDeliveryTypes": want}), "owner 7 untouched")

            # A bad body is refused whole: the list stays as it was.
            for bad in ({"code": "A", "name": "A"}, [{"code": "A"}], [{"code": "", "name": "x"}],
                        [{"code": "A", "name": "a"}, {"code": "A", "name": "b"}],
                        [{"code": "A", "name": "a", "id": 9}], [{"code": 1, "name": "a"}]):
                status, got = o7.call("PUT", "/_sim/ways-of-delivery", bad)
                eq(status, 400, "hook body %r: %r" % (bad, got))
            eq(ways(7, "u7", "p7"), (200, {"wayOfDeliveryTypes": want}),
               "owner 7's list after refused hooks")
            status, _ = sim.call("PUT", "/_sim/goods-owners/9/ways-of-delivery", mine)
            eq(status, 404, "the hook of an unknown owner")

            # Reading is no write; the stats name the route.
            eq([w["path"] for w in sim.writes()], ["/wh/api/v1/orders/wayOfDeliveryTypes"],
               "the write log has the refused PUT only")
            check(sim.stats()["by_route"].get("GET /api/v1/orders/wayOfDeliveryTypes", 0) >= 5,
                  "stats count the route: %r" % sim.stats()["by_route"])
        finally:
            sim.stop()


# ---------------------------------------------------------------- Mystore

CLIENT, CLIENT_SECRET = "admin-s7", "sec-admin-s7"
CALLBACK = "http://127.0.0.1:9/admin/callback"


class Receiver:
    """A local HTTP server that keeps every POST: (path, headers, body)."""

    def __init__(self):
        got = self.got = []
        lock = self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    got.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path):
        with self.lock:
            return [(h, b) for p, h, b in self.got if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def drained(sim):
    """Waits until the simulator's webhook sender has posted everything it
    queued (sent or failed), so what a receiver lacks was never sent."""
    def done():
        s = sim.get("/_sim/webhooks")
        return s["pending"] == 0 and s["sent"] + s["failed"] == s["queued"]
    wait_until(done, 30, "the webhook sender drained")
    eq(sim.get("/_sim/webhooks")["failed"], 0, "webhooks failed")


def sign(secret, body):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def token_with(s7, scopes):
    """An access token of s7's client granted exactly scopes, through the
    consent page and the token endpoint as the admin app gets one."""
    location = s7.consent(CLIENT, CALLBACK, scopes, state="st")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    status, answer = s7.sim.token({"grant_type": "authorization_code", "client_id": CLIENT,
                                   "client_secret": CLIENT_SECRET, "code": code,
                                   "redirect_uri": CALLBACK})
    eq(status, 200, "token exchange: %r" % (answer,))
    eq(answer["scope"].split(), list(scopes), "scopes granted")
    return answer["access_token"]


def webhooks_call(sim, shop, method, path="", body=None, token=TOKEN):
    return sim.call(method, "/shops/%s/webhooks%s" % (shop, path), body,
                    {"Authorization": "Bearer " + token, "Accept": "application/vnd.api+json"})


def new_hook(topic, address, secret):
    attrs = {"topic": topic, "address": address, "secret": secret}
    attrs = {k: v for k, v in attrs.items() if v is not None}
    return {"data": {"type": "webhooks", "attributes": attrs}}


@contextlib.contextmanager
def mystore_with_s7():
    with workdir("mosync-e2e-sim-webhooks-") as wd:
        sim = MystoreSim(wd, make_seed(orders=2, products=2, seed=141))
        try:
            s7 = sim.add_shop("s7", "tok-s7")
            s7.post("/oauth/clients", {"client_id": CLIENT, "client_secret": CLIENT_SECRET})
            yield sim, s7
        finally:
            sim.stop()


def test_webhook_scopes_on_the_consent_page_and_the_api():
    with mystore_with_s7() as (sim, s7):
        status, _, page = sim.authorize_page(CLIENT, CALLBACK,
                                             ["read:webhooks", "write:webhooks"], "st")
        eq(status, 200, "the consent page")
        for scope, words in (("read:webhooks", "See webhooks"),
                             ("write:webhooks", "Change webhooks")):
            check("%s <code>%s</code>" % (words, scope) in page,
                  "the page describes %s: %s" % (scope, page))

        full = token_with(s7, ["read:orders", "read:webhooks", "write:webhooks"])
        read_only = token_with(s7, ["read:orders", "read:webhooks"])
        neither = token_with(s7, ["read:orders", "write:orders"])

        # The token without webhook scopes still reads orders (it is valid).
        eq(s7.api_call("orders", neither)[0], 200, "the scope-less token reads orders")
        hook = new_hook("orders/create", "https://hooks.example/x", "s3cr3t-never-echoed")
        for token, method, path, body, want in (
                (neither, "GET", "", None, 403), (neither, "POST", "", hook, 403),
                (read_only, "POST", "", hook, 403), (read_only, "GET", "", None, 200)):
            status, got = webhooks_call(sim, "s7", method, path, body, token)
            eq(status, want, "%s webhooks with %s" % (method, "no scope" if token == neither
                                                      else "read:webhooks only"))
            if want == 403:
                check(isinstance(got.get("errors"), list) and got["errors"][0]["status"] == "403",
                      "a JSON:API errors array: %r" % (got,))
                check("webhooks" in got["errors"][0]["detail"],
                      "the 403 names the scope: %r" % (got,))
        eq(s7.get("/webhooks")["registered"], [], "nothing registered by refused requests")

        status, got = webhooks_call(sim, "s7", "POST", "", hook, full)
        eq(status, 201, "POST webhooks with write:webhooks: %r" % (got,))
        hid = got["data"]["id"]
        for token in (neither, read_only):
            status, _ = webhooks_call(sim, "s7", "DELETE", "/" + hid, None, token)
            eq(status, 403, "DELETE without write:webhooks")
        eq(webhooks_call(sim, "s7", "GET", "/" + hid, None, neither)[0], 403,
           "GET one without read:webhooks")
        eq(len(s7.get("/webhooks")["registered"]), 1, "still registered")
        status, got = webhooks_call(sim, "s7", "DELETE", "/" + hid, None, full)
        eq((status, got), (204, None), "DELETE with write:webhooks")

        # A code of /_sim/oauth/codes grants "*": everything.
        code = s7.post("/oauth/codes", {"client_id": CLIENT})["code"]
        status, answer = sim.token({"grant_type": "authorization_code", "client_id": CLIENT,
                                    "client_secret": CLIENT_SECRET, "code": code})
        eq(status, 200, "token of a test code")
        eq(webhooks_call(sim, "s7", "GET", "", None, answer["access_token"])[0], 200,
           "a \"*\" token reads webhooks")


def test_registered_webhooks_get_their_topics_signed_until_deleted():
    receiver = Receiver()
    try:
        with mystore_with_s7() as (sim, s7):
            secrets = {"/created": "sec-created-1", "/updated": "sec-updated-2",
                       "/products": "sec-products-3"}
            ids = {}
            # The shop's own token (a personal access token) may register.
            for path, topic in (("/created", "orders/create"), ("/updated", "orders/update"),
                                ("/products", "products/update")):
                status, got = webhooks_call(sim, "s7", "POST", "",
                                            new_hook(topic, receiver.url + path, secrets[path]),
                                            "tok-s7")
                eq(status, 201, "register %s: %r" % (topic, got))
                eq(got["data"]["type"], "webhooks", "type")
                eq(got["data"]["attributes"], {"topic": topic, "address": receiver.url + path},
                   "attributes answered (no secret)")
                ids[path] = got["data"]["id"]
            eq(len(set(ids.values())), 3, "three ids")

            # The secret is never answered back: not by the list, nor one.
            status, listed = webhooks_call(sim, "s7", "GET", "", None, "tok-s7")
            eq(status, 200, "GET webhooks")
            eq(sorted(h["id"] for h in listed["data"]), sorted(ids.values()), "listed ids")
            check("links" in listed and "next" not in listed["links"], "one page: %r" % listed)
            status, one = webhooks_call(sim, "s7", "GET", "/" + ids["/updated"], None, "tok-s7")
            eq((status, one["data"]["attributes"]["topic"]), (200, "orders/update"), "GET one")
            for text in (json.dumps(listed), json.dumps(one), json.dumps(s7.get("/webhooks"))):
                for secret in secrets.values():
                    check(secret not in text, "a secret answered back: %s" % text)

            # Shop #0 has none of them; its own list is empty.
            status, got = webhooks_call(sim, SHOP, "GET")
            eq((status, got["data"]), (200, []), "shop #0's webhooks")

            # Changes of each topic reach its webhook only, signed with its secret.
            order = {"id": "40001", "status_id": "1", "attributes": {"reference": "40001"}}
            s7.put("/orders/40001", order)                       # orders/create
            s7.post("/orders/40001/status", {"status_id": "1"})  # orders/update
            product = s7.get("/products/%s" % s7.api("products")["data"][0]["id"])
            s7.put("/products/%s" % product["id"], product)      # products/update
            sim.shop(SHOP).put("/orders/40002", dict(order, id="40002"))  # shop #0: none
            drained(sim)
            for path, topic, oid in (("/created", "orders/create", "40001"),
                                     ("/updated", "orders/update", "40001"),
                                     ("/products", "products/update", product["id"])):
                got = receiver.at(path)
                eq(len(got), 1, "webhooks at %s" % path)
                headers, body = got[0]
                eq(headers.get("X-No-Mystore-Topic"), topic, "topic at %s" % path)
                eq(headers.get("X-No-Mystore-Host"), "s7", "host at %s" % path)
                eq(json.loads(body)["data"]["id"], oid, "entity at %s" % path)
                eq(headers.get("X-No-Mystore-Hmac-Sha256"), sign(secrets[path], body),
                   "%s signed with its own secret" % path)
            eq(len(receiver.got), 3, "nothing else was sent")

            # The test target of /_sim/webhooks keeps working beside them.
            s7.post("/webhooks", {"url": receiver.url + "/legacy", "secret": "sec-legacy"})
            s7.post("/orders/40001/status", {"status_id": "1"})
            drained(sim)
            eq(len(receiver.at("/updated")), 2, "the registered orders/update webhook")
            legacy = receiver.at("/legacy")
            eq(len(legacy), 1, "the /_sim/webhooks target")
            eq(legacy[0][0].get("X-No-Mystore-Hmac-Sha256"), sign("sec-legacy", legacy[0][1]),
               "the target's own secret")
            s7.post("/webhooks", {"url": None})

            # DELETE stops delivery to that webhook only.
            status, got = webhooks_call(sim, "s7", "DELETE", "/" + ids["/updated"], None,
                                        "tok-s7")
            eq((status, got), (204, None), "DELETE webhooks/{id}")
            eq(webhooks_call(sim, "s7", "DELETE", "/" + ids["/updated"], None, "tok-s7")[0],
               404, "DELETE again")
            eq(webhooks_call(sim, "s7", "GET", "/" + ids["/updated"], None, "tok-s7")[0], 404,
               "GET the deleted one")
            s7.post("/orders/40001/status", {"status_id": "1"})
            s7.put("/orders/40003", dict(order, id="40003"))
            drained(sim)
            eq(len(receiver.at("/updated")), 2, "no orders/update after the DELETE")
            eq(len(receiver.at("/created")), 2, "orders/create still delivered")
            eq(sorted(h["topic"] for h in s7.get("/webhooks")["registered"]),
               ["orders/create", "products/update"], "registered after the DELETE")
    finally:
        receiver.close()


def test_webhook_bodies_refused():
    with mystore_with_s7() as (sim, s7):
        ok = new_hook("orders/update", "https://hooks.example/mosync/s7", "sec-1")

        def post(body):
            return webhooks_call(sim, "s7", "POST", "", body, "tok-s7")

        for body, pointer in (
                (new_hook("orders/explode", "https://hooks.example/a", "s"), "topic"),
                (new_hook(None, "https://hooks.example/a", "s"), "topic"),
                (new_hook("orders/update", None, "s"), "address"),
                (new_hook("orders/update", "ftp://hooks.example/a", "s"), "address"),
                (new_hook("orders/update", "not a url", "s"), "address"),
                (new_hook("orders/update", "https://", "s"), "address"),
                (new_hook("orders/update", 7, "s"), "address"),
                (new_hook("orders/update", "https://hooks.example/a", None), "secret"),
                (new_hook("orders/update", "https://hooks.example/a", ""), "secret")):
            status, got = post(body)
            eq(status, 422, "POST %r: %r" % (body, got))
            eq([e["source"]["pointer"] for e in got["errors"]], ["/data/attributes/" + pointer],
               "the 422 points at %s: %r" % (pointer, got))
            eq(got["errors"][0]["status"], "422", "error status")

        for body in ({"data": {"type": "orders", "attributes": ok["data"]["attributes"]}},
                     {"data": dict(ok["data"], id="9")},
                     {"data": {"type": "webhooks", "attributes": dict(
                         ok["data"]["attributes"], fields="id")}}):
            status, got = post(body)
            eq(status, 400, "POST %r: %r" % (body, got))
        eq(s7.get("/webhooks")["registered"], [], "nothing registered by refused bodies")

        eq(post(ok)[0], 201, "the good body")
        status, got = post(ok)
        eq(status, 422, "the same topic and address again: %r" % (got,))
        eq(got["errors"][0]["source"]["pointer"], "/data/attributes/address", "pointer")
        other = new_hook("orders/create", ok["data"]["attributes"]["address"], "sec-1")
        eq(post(other)[0], 201, "the same address for another topic")
        eq(webhooks_call(sim, "s7", "PATCH", "/1", ok, "tok-s7")[0], 405, "PATCH")
        eq(webhooks_call(sim, "s7", "DELETE", "", None, "tok-s7")[0], 405, "DELETE the list")
        eq(webhooks_call(sim, "s7", "DELETE", "/999", None, "tok-s7")[0], 404, "unknown id")
        # Another shop's token is refused as any invalid token is.
        eq(webhooks_call(sim, "s7", "GET", "", None, TOKEN)[0], 403, "shop #0's token on s7")
        # Writes are logged, refused or not.
        posts = [w for w in sim.writes()
                 if w["method"] == "POST" and w["path"] == "/shops/s7/webhooks"]
        eq(len(posts), 15, "POST webhooks in the write log")
