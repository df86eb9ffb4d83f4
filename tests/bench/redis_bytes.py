#!/usr/bin/env python3
"""Redis memory per order and per article: runs every flow over a seeded shop
(every order created, shipped and marked "levert"; every article written and
its stock pushed back; some warehouse articles the shop does not have), then
sums MEMORY USAGE over the keys the run left and divides by the entities.
A measurement, not a test: it asserts nothing.

    python3 tests/bench/redis_bytes.py [--orders N] [--products N] [--unknown N]

Per order: applied:orders:<id> and applied:deliveries:<id>.  Per article:
applied:articles, applied:stock, map:article, known:article, and the product's
product:<id>:skus shared among its articles.  Per unknown article:
notfound:article.  Cursors and the request budget are a fixed cost per
tenant.  MEMORY USAGE (SAMPLES 0: exact) counts a key's name, value and object
overhead; it leaves out the expiry entry and the hash table slot, so the
growth of INFO used_memory over the run is printed beside it.  Every one of
these keys expires after APPLIED_TTL_DAYS, so Redis holds at most the
entities changed within that many days.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import TENANT, Env  # noqa: E402
from seedgen import make_seed  # noqa: E402

PER_ORDER = ("applied:orders:", "applied:deliveries:")
PER_ARTICLE = ("applied:articles:", "applied:stock:", "map:article:", "known:article:",
               "product:")
PER_UNKNOWN = ("notfound:article:",)


def used_memory(env):
    for line in env.redis.cmd("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    return 0


def measure(n_orders=1000, n_products=300, n_unknown=100, log=print):
    """Runs every flow over a seeded shop and sums MEMORY USAGE by kind of key
    (the method above).  Returns a dict: the summaries of the runs, sums and
    counts by kind, seen (MEMORY USAGE of each poller's seen map, by stream),
    per_order, per_article, per_unknown, total, grown, keys.  tests/bench/table.py
    uses it too."""
    seed = make_seed(orders=n_orders, products=n_products, seed=43)
    unknown = [{"articleNumber": "ANNEN-KANAL-%05d" % n, "articleName": "Annen kanal",
                "inventoryInfo": {"numberOfItems": 3, "sellableNumberOfItems": 3}}
               for n in range(n_unknown)]
    env = Env("redis-bytes", seed, ongoing_seed={"articles": unknown})
    on = {"STOCK_SYNC": "on"}
    try:
        env.env["LOG_LEVEL"] = "warn"
        base = used_memory(env)

        def flow(poll, apply, extra=None):
            env.run(["poll", poll, "--once"], extra_env=extra)
            return env.run(["apply", apply, "--once", "--idle-ms", "1500"], extra_env=extra)[1]

        arts = flow("mystore-products", "articles")
        orders = flow("mystore-orders", "orders")
        for o in seed["orders"]:
            env.ongoing.post("/_sim/orders/%s/ship" % o["id"], {"wayBill": "WB%s" % o["id"]})
        dels = flow("ongoing-shipments", "deliveries")
        for n, art in enumerate(env.ongoing.get("/_sim/articles")):
            env.ongoing.post("/_sim/articles/%s/stock" % art["articleNumber"],
                             {"numberOfItems": 10, "sellableNumberOfItems": n % 7})
        stock = flow("ongoing-stock", "stock", on)
        grown = used_memory(env) - base

        prefix = "mosync:{%s}:" % TENANT
        keys = env.redis.cmd("KEYS", prefix + "*") or []
        sums = {}
        counts = {}
        seen = {}
        for k in keys:
            suffix = k[len(prefix):]
            kind = next((p for p in PER_ORDER + PER_ARTICLE + PER_UNKNOWN
                         if suffix.startswith(p)), suffix.split(":")[0] + ":")
            size = env.redis.cmd("MEMORY", "USAGE", k, "SAMPLES", "0") or 0
            sums[kind] = sums.get(kind, 0) + size
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "seen:":
                seen[suffix[len("seen:"):]] = size
            if kind in PER_ORDER + PER_ARTICLE + PER_UNKNOWN:
                ttl = env.redis.cmd("TTL", k)
                if ttl <= 0:
                    log("warning: %s has no expiry (TTL %s)" % (k, ttl))
    finally:
        env.close()
    n_articles = counts.get("applied:articles:", 0)
    n_unk = counts.get("notfound:article:", 0)
    return {
        "orders": orders, "articles": arts, "deliveries": dels, "stock": stock,
        "n_orders": n_orders, "n_products": n_products, "n_articles": n_articles,
        "n_unknown": n_unk, "sums": sums, "counts": counts, "seen": seen,
        "per_order": sum(sums.get(k, 0) for k in PER_ORDER) / max(n_orders, 1),
        "per_article": sum(sums.get(k, 0) for k in PER_ARTICLE) / max(n_articles, 1),
        "per_unknown": sum(sums.get(k, 0) for k in PER_UNKNOWN) / max(n_unk, 1),
        "total": sum(sums.values()), "grown": grown, "keys": len(keys),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--unknown", type=int, default=100,
                    help="warehouse articles the shop does not have")
    a = ap.parse_args()

    m = measure(a.orders, a.products, a.unknown)
    sums, counts = m["sums"], m["counts"]
    per_order, per_article, per_unknown = m["per_order"], m["per_article"], m["per_unknown"]
    total, grown = m["total"], m["grown"]
    print("run: %d orders (created %d, delivered %d), %d products -> %d articles written, "
          "%d stock writes, %d unknown articles looked up" % (
              a.orders, m["orders"]["created"], m["deliveries"]["delivered"], a.products,
              m["articles"]["written"], m["stock"]["written"], m["stock"]["unknown"]))
    print("%-22s %7s %12s %10s" % ("key", "keys", "bytes", "per key"))
    for kind in sorted(sums):
        print("%-22s %7d %12d %10.0f" % (kind, counts[kind], sums[kind],
                                        sums[kind] / counts[kind]))
    print("Redis bytes per order (shipped and delivered): %.0f" % per_order)
    print("Redis bytes per article (with stock on): %.0f" % per_article)
    print("Redis bytes per unknown warehouse article: %.0f" % per_unknown)
    print("MEMORY USAGE of all %d keys: %d bytes; INFO used_memory grew by %d bytes "
          "(%.2f x, with expiry entries and hash table slots)" % (
              m["keys"], total, grown, grown / max(total, 1)))
    print("so 100,000 orders and 10,000 articles changed within APPLIED_TTL_DAYS need about "
          "%.0f MB (MEMORY USAGE) to %.0f MB (used_memory growth)" % (
              (100000 * per_order + 10000 * per_article) / 1e6,
              (100000 * per_order + 10000 * per_article) * grown / max(total, 1) / 1e6))


if __name__ == "__main__":
    main()
