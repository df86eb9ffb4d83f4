"""Fifty shops from one deployment (issue 13): 50 registry tenants, each its own
Mystore shop and token and its own Ongoing goods owner and WMS user, served by
ONE process per stream and per flow (4 pollers and 4 appliers, all
`--all-tenants`), against one Mystore simulator serving every shop and one
Ongoing simulator serving every goods owner.

It shows that every tenant's orders, articles, deliveries and stock land with
its own goods owner or shop and none cross over; that pausing one tenant stops
only it; that a tenant whose shop answers 500 for a minute does not hold up
the others; and that a tenant added while everything runs is served.

Each tenant's data is marked: its order ids are 10001 + 100 k ... and every SKU
starts with "T<k>-", so a cross-over shows as a foreign id or SKU.  Nothing is
timed: the test waits for conditions with bounds and compares what the
simulators hold."""
import copy
import os
import time

from harness import MystoreSim, OngoingSim, check, env_for, eq, wait_until
from seedgen import make_seed
from test_apply_tenants import _spawn
from test_tenants import _tenant

# Its own suite, `make tenants` (it waits out a minute of a failing shop):
# tests/e2e/run.py runs it only when named.
BY_NAME_ONLY = True

N = 50
STREAMS = ("mystore-orders", "mystore-products", "ongoing-shipments", "ongoing-stock")
FLOWS = ("orders", "articles", "deliveries", "stock")


def _name(k):
    return "s%02d" % k


def _owner(k):
    return 1000 + k


def _order_id(k, i):
    return str(10001 + 100 * k + i)


def _mark(seed, k):
    """Tenant k's copy of seed: order ids 10001 + 100 k + i, SKUs prefixed "T<k>-"."""
    s = copy.deepcopy(seed)
    pre = "T%d-" % k
    for p in s["products"]:
        p["attributes"]["sku"] = pre + (p["attributes"].get("sku") or "")
        for v in p.get("variants", []):
            v["attributes"]["sku"] = pre + (v["attributes"].get("sku") or "")
    for i, o in enumerate(s["orders"]):
        o["id"] = _order_id(k, i)
        o["attributes"]["reference"] = o["id"]
        for line in o.get("lines", []):
            line["attributes"]["sku"] = pre + (line["attributes"].get("sku") or "")
    return s


def _add(env, ms, og, k):
    """Shop s<k> (2 orders, 3 products), goods owner 1000 + k and the tenant."""
    name = _name(k)
    seed = _mark(make_seed(orders=2, products=3, seed=500 + k), k)
    ms.add_shop(name, "tok-" + name, seed=seed)
    og.add_goods_owner(_owner(k), "u" + name, "pw-" + name)
    settings = {
        "MYSTORE_API_URL": ms.base, "MYSTORE_SHOP": name, "MYSTORE_TOKEN": "tok-" + name,
        "MYSTORE_RATE_LIMIT_PER_MIN": "1000000", "MYSTORE_INITIAL_LOOKBACK_H": "87600",
        "ONGOING_API_URL": og.base + "/wh", "ONGOING_USER": "u" + name,
        "ONGOING_PASSWORD": "pw-" + name, "ONGOING_GOODS_OWNER_ID": str(_owner(k)),
        "POLL_INTERVAL_S": "2", "STOCK_SYNC": "on",
    }
    _tenant(env, ["add", name], stdin="".join("%s=%s\n" % kv for kv in settings.items()))
    return seed


def _skus(seed):
    out = set()
    for p in seed["products"]:
        vs = p.get("variants") or []
        out |= {v["attributes"]["sku"] for v in vs} if vs else {p["attributes"]["sku"]}
    return out


def _numbers(og, k):
    return sorted(o["orderNumber"] for o in og.owner(_owner(k)).orders())


def _new_order(ms, k, i, seed):
    """Order 10001 + 100 k + i in shop s<k>, a copy of its first with a new id, stamped now."""
    o = copy.deepcopy(seed["orders"][0])
    o["id"] = _order_id(k, i)
    o["attributes"]["reference"] = o["id"]
    o["attributes"].pop("updated_at", None)
    ms.shop(_name(k)).put("/orders/%s" % o["id"], o)
    return o["id"]


def _wait(pred, timeout, what):
    wait_until(pred, timeout, what, interval=1)


def test_fifty_tenants_one_process_per_stream():
    with env_for("fifty-tenants", make_seed(orders=1, products=3)) as env:
        d = os.path.join(env.workdir, "shared")
        os.makedirs(d)
        ms = MystoreSim(d, make_seed(orders=1, products=3))
        og = OngoingSim(d)
        try:
            seeds = {k: _add(env, ms, og, k) for k in range(1, N + 1)}
            procs = [_spawn(env, ["poll", s, "--all-tenants"]) for s in STREAMS]
            procs += [_spawn(env, ["apply", f, "--all-tenants"]) for f in FLOWS]

            # Every tenant's orders and articles, in its own warehouse.
            def all_landed():
                return all(_numbers(og, k) == [_order_id(k, 0), _order_id(k, 1)]
                           for k in seeds)
            _wait(all_landed, 300, "every tenant's 2 orders in its own goods owner")

            def articles_landed():
                return all(_skus(seed) <= {a["articleNumber"] for a in
                                           og.owner(_owner(k)).get("/_sim/articles")}
                           for k, seed in seeds.items())
            _wait(articles_landed, 300, "every tenant's articles in its own goods owner")

            # Pause s05; s06 gets a new order too.  The order is made once the
            # order poller and applier have seen the pause, and a cycle of s05
            # that was in flight has ended (at most one interval, 2 s).
            seen = _registry_reads(procs[0], procs[4])
            _tenant(env, ["pause", _name(5)])
            _wait(lambda: _registry_reads(procs[0], procs[4]) > seen, 30,
                  "the pause seen by the order poller and applier")
            time.sleep(2)
            p5 = _new_order(ms, 5, 50, seeds[5])
            p6 = _new_order(ms, 6, 50, seeds[6])
            _wait(lambda: p6 in _numbers(og, 6), 60, "s06's new order while s05 is paused")

            # s07's shop answers 500 to everything for a minute; the others go on.
            ms.post("/_sim/fault", {"method": "*", "path": "/shops/%s/" % _name(7),
                                    "count": 1000000, "status": 500})
            fault_at = time.monotonic()
            f7 = _new_order(ms, 7, 50, seeds[7])
            others = [(k, _new_order(ms, k, 51, seeds[k])) for k in (8, 20, 33, 49)]
            _wait(lambda: all(oid in _numbers(og, k) for k, oid in others), 60,
                  "the other tenants' new orders while s07's shop fails")
            check(time.monotonic() - fault_at < 60,
                  "the others landed only after the minute of 500s")
            check(f7 not in _numbers(og, 7), "s07's order landed although its shop failed")
            check(p5 not in _numbers(og, 5), "the paused tenant's order landed")

            # Added while everything runs: served.
            seeds[N + 1] = _add(env, ms, og, N + 1)
            _wait(lambda: _numbers(og, N + 1) == [_order_id(N + 1, 0), _order_id(N + 1, 1)],
                  60, "the tenant added while running")

            # The minute ends; s05 resumes: both catch up.
            time.sleep(max(0, 60 - (time.monotonic() - fault_at)))
            ms.call("DELETE", "/_sim/fault")
            _tenant(env, ["resume", _name(5)])
            _wait(lambda: f7 in _numbers(og, 7) and p5 in _numbers(og, 5), 90,
                  "s07 after its minute of 500s, and s05 after its resume")

            # Deliveries and stock, every tenant: ship its first order, set the
            # stock of one of its articles.
            for k, seed in seeds.items():
                og.owner(_owner(k)).post("/_sim/orders/%s/ship" % _order_id(k, 0),
                                         {"wayBill": "WB-%d" % k})
                sku = sorted(_skus(seed))[0]
                og.owner(_owner(k)).post("/_sim/articles/%s/stock" % sku,
                                         {"numberOfItems": 40 + k, "sellableNumberOfItems": 30 + k})

            def shipped_and_stocked():
                return all(ms.shop(_name(k)).get("/_sim/orders/%s" % _order_id(k, 0)).get(
                    "status_id") == "3" for k in seeds)
            _wait(shipped_and_stocked, 180, "every tenant's shipped order levert in its own shop")
            for k in seeds:
                o = ms.shop(_name(k)).get("/_sim/orders/%s" % _order_id(k, 0))
                eq(o["attributes"].get("tracking_number"), "WB-%d" % k,
                   "tracking number of s%02d's order" % k)

            def stocked():
                for k, seed in seeds.items():
                    sku = sorted(_skus(seed))[0]
                    qty = _quantity(ms.shop(_name(k)).get("/_sim/products/%s" % _product_of(
                        seed, sku)), sku)
                    if qty != 30 + k:
                        return False
                return True
            _wait(stocked, 180, "every tenant's stock in its own shop")

            # No cross-over, anywhere: every order and article a goods owner holds
            # is its tenant's, every write carries its user's goods owner, and every
            # order written in a shop is that shop's.
            for k in seeds:
                for o in og.owner(_owner(k)).orders():
                    eq(_tenant_of_order(o["orderNumber"]), k,
                       "tenant of order %s held by goods owner %d" % (o["orderNumber"], _owner(k)))
                    for line in o.get("orderLines") or []:
                        check(line["articleNumber"].startswith("T%d-" % k),
                              "goods owner %d holds a foreign line %r" % (_owner(k), line))
                for a in og.owner(_owner(k)).get("/_sim/articles"):
                    check(a["articleNumber"].startswith("T%d-" % k),
                          "goods owner %d holds a foreign article %s" % (_owner(k),
                                                                          a["articleNumber"]))
            for w in og.writes():
                body = w.get("body") if isinstance(w.get("body"), dict) else {}
                if w.get("goods_owner") is not None and "goodsOwnerId" in body:
                    eq(body["goodsOwnerId"], w["goods_owner"], "goods owner of a write")
            for w in ms.writes():
                k = int(w["path"].split("/")[2][1:])
                parts = w["path"].split("/")
                oid = parts[4] if len(parts) > 4 and parts[3] == "orders" else None
                if parts[3] == "order-status-history":
                    oid = w["body"]["data"]["relationships"]["order"]["data"]["id"]
                if oid is not None:
                    eq(_tenant_of_order(oid), k, "tenant of order %s written in shop %s" % (
                        oid, parts[2]))
            for p in procs:
                check(p.poll() is None, "a process died")
        finally:
            ms.stop()
            og.stop()


def _registry_reads(*procs):
    """How many registry changes each process logged (the fewest of them)."""
    counts = []
    for p in procs:
        with open(p._mosync_log.name, "rb") as f:
            counts.append(f.read().count(b"registry generation"))
    return min(counts)


def _tenant_of_order(oid):
    return (int(oid) - 10001) // 100


def _product_of(seed, sku):
    for p in seed["products"]:
        if p["attributes"]["sku"] == sku or any(v["attributes"]["sku"] == sku
                                                for v in p.get("variants") or []):
            return p["id"]
    raise AssertionError("no product has SKU %s" % sku)


def _quantity(product, sku):
    for v in product.get("variants") or []:
        if v["attributes"]["sku"] == sku:
            return v["attributes"].get("quantity")
    return product["attributes"].get("quantity")
