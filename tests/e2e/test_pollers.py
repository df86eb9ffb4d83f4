"""The pollers end to end: cursors, versions, de-duplication, per-entity
errors, bad list items, paging, stock fingerprints and the one-poller lease,
each against the simulators over HTTP, real Redis and real Kafka.

The tests named test_issue<N>_<item>_... are the regression tests of issue 6
(pollers) and issue 7 (leases, stock) items; each failed before its fix."""

import json
import os
import signal

from harness import (TENANT, check, dlq_messages, env_for, eq, map_order, request_body,
                     wait_until)
from seedgen import make_seed


def clock(env, local=None, utc=None):
    """Fixes the Mystore simulator's clock (shop-local or UTC); its Date header follows."""
    body = {"now_utc": utc} if utc else {"now": local}
    return env.mystore.post("/_sim/clock", body)


def change_address(env, oid, address):
    """Changes one order's shipping address in the shop; the simulator stamps
    updated_at with its clock.  Returns the new updated_at."""
    o = env.mystore.get("/_sim/orders/%s" % oid)
    o["attributes"]["shipping_address_address"] = address
    o["attributes"].pop("updated_at", None)
    env.mystore.put("/_sim/orders/%s" % oid, o)
    return env.mystore.get("/_sim/orders/%s" % oid)["attributes"]["updated_at"]


def check_order_in_ongoing(env, oid):
    """The order in Ongoing equals the golden mapping of what Mystore serves now."""
    expected = map_order(env, env.mystore.snapshot(oid))
    eq(expected["action"], "upsert", "mapping action of %s" % oid)
    eq(request_body(env.ongoing.order(oid)), expected["order"], "Ongoing order %s" % oid)


def cursor(env, stream="mystore-orders"):
    return env.redis.get_json("cursor:%s" % stream)


def seen(env, stream="mystore-orders"):
    """The poller's seen map: entity id (or "#<hash>" of a bad item) -> entry."""
    flat = env.redis.cmd("HGETALL", "mosync:{%s}:seen:%s" % (TENANT, stream)) or []
    return dict(zip(flat[::2], flat[1::2]))


def text_of(path):
    with open(path, errors="replace") as f:
        return f.read()


# ---- issue 6, item 1 (and the Must show): a scan longer than the overlap ------

def test_issue6_01_long_first_scan_loses_no_change():
    """A first run over 4,000 orders whose scan lasts 3 hours of shop time:
    orders on pages already read change 30 minutes into the scan, one not yet
    read changes 3 hours in.  After the scan and one more cycle, Ongoing holds
    every change."""
    seed = make_seed(orders=4000, products=40, seed=61, base_time="2026-11-27 09:00:00")
    with env_for("long-scan", seed) as env:
        clock(env, local="2026-11-27 10:00:00")
        scan_order = [o["id"] for o in env.mystore.api_all("orders")]
        eq(len(scan_order), 4000, "orders listed")
        p = env.spawn(["poll", "mystore-orders", "--once"])

        def read_so_far():
            ids = set(seen(env))
            return len(ids) >= 1000 and ids
        read = wait_until(read_so_far, 90, "1,000 orders read")
        check(len(read) < 3900, "the scan was still running (%d read)" % len(read))

        clock(env, local="2026-11-27 10:30:00")
        changed = sorted(read)[:20]
        for oid in changed:
            eq(change_address(env, oid, "Endret gate %s" % oid), "2026-11-27 10:30:00",
               "updated_at of %s" % oid)
        clock(env, local="2026-11-27 13:00:00")
        late = [oid for oid in scan_order if oid not in read][-1]  # the last page
        eq(change_address(env, late, "Sen gate 3"), "2026-11-27 13:00:00", "updated_at of late")

        eq(p.wait(120), 0, "the first poll's exit status")
        poll1 = json.loads([l for l in p.stdout.read().decode().splitlines()
                            if l.startswith("{")][-1])
        check(late not in read, "the late order was read after its change")
        _, poll2, _ = env.poll_orders()
        _, apply, _ = env.apply_orders(timeout=240)
        eq(apply["dead_lettered"], 0, "dead letters")
        eq(len(env.ongoing.orders()), 4000, "orders in Ongoing")
        for oid in changed + [late]:
            check_order_in_ongoing(env, oid)
        # The 20 changes to orders already read are emitted by the first
        # cycle's confirming pass or by the second cycle, on top of the
        # 4,000 (the late order was first read with its change).
        check(poll1["orders_emitted"] + poll2["orders_emitted"] >= 4020,
              "the 20 changes were emitted: %r %r" % (poll1, poll2))


# ---- issue 6, item 2: the autumn DST fold -------------------------------------

def test_issue6_02_dst_fold_second_change_reaches_ongoing():
    """Europe/Oslo, 2026-10-25: 03:00 CEST becomes 02:00 CET.  An order changed
    at 02:50 CEST and again 40 minutes later at 02:10 CET ends with the second
    change in Ongoing."""
    seed = make_seed(orders=3, products=10, seed=62, base_time="2026-10-24 12:00:00")
    with env_for("dst-fold", seed) as env:
        clock(env, utc="2026-10-25T00:40:00Z")  # 02:40 CEST
        env.poll_orders()
        env.apply_orders()

        clock(env, utc="2026-10-25T00:50:00Z")  # 02:50 CEST
        eq(change_address(env, "10002", "Første gate 1"), "2026-10-25 02:50:00", "first stamp")
        env.poll_orders()
        env.apply_orders()
        eq(env.ongoing.order("10002")["consignee"]["address1"], "Første gate 1", "first change")

        clock(env, utc="2026-10-25T01:10:00Z")  # 02:10 CET, 40 minutes later
        eq(change_address(env, "10002", "Andre gate 2"), "2026-10-25 02:10:00", "second stamp")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "orders emitted after the second change")
        _, apply, _ = env.apply_orders()
        eq(apply["stale"], 0, "events judged stale")
        eq(env.ongoing.order("10002")["consignee"]["address1"], "Andre gate 2", "second change")
        check_order_in_ongoing(env, "10002")


# ---- issue 6, item 3: one future-dated updated_at -----------------------------

def test_issue6_03_future_dated_order_does_not_stall_the_stream():
    seed = make_seed(orders=5, products=10, seed=63, base_time="2026-11-27 09:00:00")
    seed["orders"][2]["attributes"]["updated_at"] = "2031-01-01 00:00:00"
    future = seed["orders"][2]["id"]
    with env_for("future-dated", seed) as env:
        clock(env, local="2026-11-27 10:00:00")
        _, poll, stderr = env.poll_orders()
        eq(poll["orders_emitted"], 5, "orders emitted by the first poll")
        clock(env, local="2026-11-27 10:05:00")
        change_address(env, "10001", "Ny gate 5")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "orders emitted after a change")
        env.apply_orders()
        eq(env.ongoing.order("10001")["consignee"]["address1"], "Ny gate 5", "the change")
        check(future in stderr and "2031-01-01 00:00:00" in stderr,
              "the future-dated order is logged")


# ---- issue 6, item 4: a second change within the same second -----------------

def test_issue6_04_second_change_within_a_second_is_emitted():
    seed = make_seed(orders=3, products=10, seed=64, base_time="2026-11-27 09:00:00")
    with env_for("same-second", seed) as env:
        clock(env, local="2026-11-27 10:00:00")
        env.poll_orders()
        eq(change_address(env, "10001", "Første gate 1"), "2026-11-27 10:00:00", "first stamp")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "orders emitted after the first change")
        eq(change_address(env, "10001", "Andre gate 2"), "2026-11-27 10:00:00", "second stamp")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "orders emitted after the second change")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 0, "orders emitted with nothing changed")
        env.apply_orders()
        eq(env.ongoing.order("10001")["consignee"]["address1"], "Andre gate 2", "the last change")


def test_pollers_cursor_of_mosync_0_1_is_read():
    """A cursor written by mosync 0.1 ({"ts": newest updated_at, "seen": {id:
    updated_at}}, here carried to 2031 by a future-dated order) keeps working
    after the upgrade: its time bounds the first window (never later than
    Mystore's clock), the overlap is emitted once more and the consumer writes
    none of it again, and the next change is emitted."""
    seed = make_seed(orders=6, products=10, seed=72, base_time="2026-11-27 09:00:00")
    seed["orders"][5]["attributes"]["updated_at"] = "2031-01-01 00:00:00"
    with env_for("cursor-0.1", seed) as env:
        clock(env, local="2026-11-27 10:00:00")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 6, "orders emitted by the first poll")
        env.apply_orders()
        writes = len(env.ongoing.order_writes())
        old = {"ts": "2031-01-01 00:00:00",
               "seen": {o["id"]: o["attributes"]["updated_at"] for o in seed["orders"]}}
        env.redis.cmd("DEL", "mosync:{%s}:seen:mystore-orders" % TENANT)
        env.redis.cmd("SET", "mosync:{%s}:cursor:mystore-orders" % TENANT, json.dumps(old))
        _, poll, _ = env.poll_orders()
        eq(poll["failed_cycles"], 0, "failed cycles after the upgrade")
        _, apply, _ = env.apply_orders()
        eq(len(env.ongoing.order_writes()), writes, "Ongoing writes after the upgrade")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 0, "orders emitted once the new cursor is written")
        clock(env, local="2026-11-27 10:05:00")
        change_address(env, "10002", "Ny gate 2")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "orders emitted after a change")
        # 10:05 in Oslo (CET) is 09:05Z: the scan's start on Mystore's clock.
        eq(cursor(env)["ts"], 1795770300, "the cursor is the scan's start (UTC)")
        env.apply_orders()
        eq(env.ongoing.order("10002")["consignee"]["address1"], "Ny gate 2", "the change")


# ---- issue 6, item 5: one entity's persistent error ---------------------------

def test_issue6_05_entity_error_is_dead_lettered_and_the_stream_moves_on():
    """10007's totals keep answering 500 (while Mystore answers everything
    else), 10009's lines answer 404.  10009 is dead-lettered at once, 10007
    after MAX_ATTEMPTS cycles; the other orders flow from the first cycle, and
    after that the stream moves on."""
    seed = make_seed(orders=20, products=10, seed=65, base_time="2026-11-27 09:00:00")
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("entity-error", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        env.env["MAX_ATTEMPTS"] = "2"
        clock(env, local="2026-11-27 10:00:00")
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 100000, "status": 500,
                                         "path": "/shops/demo/orders/10007/order-totals"})
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 100000, "status": 404,
                                         "path": "/shops/demo/orders/10009/order-products"})
        rc1, poll1, _ = env.poll_orders(expect_rc=None)
        eq((rc1, poll1["orders_emitted"], poll1["dead_lettered"]), (0, 18, 1),
           "first cycle: exit status, emitted, dead-lettered")
        rc2, poll2, _ = env.poll_orders(expect_rc=None)
        eq((rc2, poll2["orders_emitted"], poll2["dead_lettered"]), (0, 0, 1),
           "second cycle: exit status, emitted, dead-lettered")
        dl = {m["key"]: m for m in dlq_messages(env)}
        eq(sorted(dl), [TENANT + ":10007", TENANT + ":10009"], "dead letters")
        eq(dl[TENANT + ":10007"]["headers"]["mosync.attempts"], "2", "10007 attempts")
        check("order-totals" in dl[TENANT + ":10007"]["headers"]["mosync.error"],
              "10007's error names the failing resource")
        check("404" in dl[TENANT + ":10009"]["headers"]["mosync.error"], "10009's error")

        clock(env, local="2026-11-27 10:05:00")
        change_address(env, "10003", "Ny gate 3")
        _, poll3, _ = env.poll_orders()
        eq((poll3["orders_emitted"], poll3["dead_lettered"]), (1, 0), "after a change")
        _, apply, _ = env.apply_orders()
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()),
           [i for i in ids if i not in ("10007", "10009")], "orders in Ongoing")


def test_pollers_forbidden_sub_resource_ends_the_cycle_and_counts_against_no_order():
    """A 403 means the token is unusable, not that one order is bad: the cycle
    ends, nothing is dead-lettered however often it happens."""
    seed = make_seed(orders=10, products=10, seed=66, base_time="2026-11-27 09:00:00")
    with env_for("forbidden-sub", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        env.env["MAX_ATTEMPTS"] = "1"
        clock(env, local="2026-11-27 10:00:00")
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 100000, "status": 403,
                                         "path": "/shops/demo/orders/10004/order-totals"})
        for _ in range(2):
            env.poll_orders(expect_rc=1)
        eq(dlq_messages(env), [], "dead letters")
        env.mystore.call("DELETE", "/_sim/fault")
        _, poll, _ = env.poll_orders()
        eq(poll["dead_lettered"], 0, "dead letters once the token works")
        check("10004" not in cursor(env).get("failing", {}), "no attempt counted against 10004")
        env.apply_orders()
        eq(len(env.ongoing.orders()), 10, "orders in Ongoing")


# ---- issue 6, item 6: bad list items, null updated_at, Ongoing paging --------

def test_issue6_06_bad_list_items_are_dead_lettered_once():
    seed = make_seed(orders=10, products=10, seed=67, base_time="2026-11-27 09:00:00")
    seed["orders"][3]["attributes"]["updated_at"] = "i går"
    bad = seed["orders"][3]["id"]
    with env_for("bad-items-once", seed) as env:
        clock(env, local="2026-11-27 10:00:00")
        total = 0
        for n in range(3):
            _, poll, _ = env.poll_orders()
            total += poll["orders_emitted"]
            clock(env, local="2026-11-27 10:0%d:00" % (n + 1))
        eq(total, 9, "orders emitted over three cycles")
        dl = dlq_messages(env)
        eq([m["key"] for m in dl], [TENANT + ":" + bad], "dead letters over three cycles")


def test_issue6_06_product_with_null_updated_at_is_synced():
    seed = make_seed(orders=0, products=12, seed=68, base_time="2026-11-27 09:00:00")
    pid = seed["products"][4]["id"]
    seed["products"][4]["attributes"]["updated_at"] = None
    with env_for("null-updated-at", seed) as env:
        clock(env, local="2026-11-27 10:00:00")
        _, poll, _ = env.run(["poll", "mystore-products", "--once"])
        eq((poll["products_emitted"], poll["dead_lettered"]), (12, 0), "emitted, dead-lettered")
        _, poll, _ = env.run(["poll", "mystore-products", "--once"])
        eq((poll["products_emitted"], poll["dead_lettered"]), (0, 0), "second poll")
        _, s, _ = env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        eq(s["dead_lettered"], 0, "articles dead-lettered")
        p = seed["products"][4]
        skus = [v["attributes"]["sku"] for v in p.get("variants") or []] or [p["attributes"]["sku"]]
        stored = {a["articleNumber"] for a in env.ongoing.get("/_sim/articles")}
        for sku in skus:
            check(sku in stored, "article %s of product %s (updated_at null) in Ongoing"
                  % (sku, pid))


def og_article_seed(n):
    return {"articles": [{"articleNumber": "ART-%d" % i, "articleName": "Vare %d" % i,
                          "inventoryInfo": {"numberOfItems": 10 + i,
                                            "sellableNumberOfItems": 5 + i}}
                         for i in range(1, n + 1)]}


def test_issue6_06_ongoing_paging_ends_on_a_full_page_without_ids():
    """A full page of orders (and of articles) without integer ids: each
    poller dead-letters the bad items once, ends the scan with an error that
    keeps its cursor, and never loops."""
    with env_for("og-paging", make_seed(orders=0, products=10, seed=69),
                 ongoing_seed=og_article_seed(3)) as env:
        env.ongoing.post("/_sim/raw-items", {"list": "orders", "items": [
            {"orderInfo": {"orderId": "o-%d" % i, "orderNumber": "X%d" % i}} for i in range(200)]})
        env.ongoing.post("/_sim/raw-items", {"list": "articles", "items": [
            {"articleSystemId": None, "articleNumber": "BAD-%d" % i} for i in range(200)]})
        on = {"STOCK_SYNC": "on"}
        for stream, extra in (("ongoing-shipments", None), ("ongoing-stock", on)):
            for n in range(2):
                rc, s, stderr = env.run(["poll", stream, "--once"], extra_env=extra,
                                        expect_rc=None, timeout=60)
                eq(rc, 1, "%s run %d: exit status" % (stream, n + 1))
                eq(s["dead_lettered"], 200 if n == 0 else 0,
                   "%s run %d: dead letters" % (stream, n + 1))
                check("paging cannot go on" in stderr, "the paging error is logged")
        eq(cursor(env, "ongoing-stock").get("ts"), None, "the stock cursor did not move")
        eq(len(dlq_messages(env)), 400, "dead letters in mosync.dlq")


# ---- issue 7, item 3: unchanged stock is not emitted again -------------------

def test_issue7_03_unchanged_stock_is_not_emitted_again():
    on = {"STOCK_SYNC": "on"}
    with env_for("stock-fp", make_seed(orders=0, products=10, seed=70),
                 ongoing_seed=og_article_seed(5)) as env:
        _, s, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq(s["emitted"], 5, "first poll")
        for n in range(3):
            _, s, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
            eq((s["full_walks"], s["emitted"]), (0, 0), "poll %d over unchanged stock" % (n + 2))
        env.ongoing.post("/_sim/articles/ART-2/stock",
                         {"numberOfItems": 30, "sellableNumberOfItems": 25})
        _, s, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq(s["emitted"], 1, "poll after one change")
        _, s, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq(s["emitted"], 0, "poll after that")
        # Only the consumer's fields count: a change of the total that leaves
        # the sellable number as it is emits nothing.
        env.ongoing.post("/_sim/articles/ART-3/stock",
                         {"numberOfItems": 99, "sellableNumberOfItems": 8})
        _, s, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        eq(s["emitted"], 0, "poll after a change the consumer does not read")
        fps = seen(env, "ongoing-stock")
        check(0 < len(fps) <= 5, "fingerprints kept for recent changes only: %d" % len(fps))


# ---- issue 7, item 2: one active poller per stream ---------------------------

def agent_counts(env, procs):
    """Requests the Mystore simulator saw from each process, by pid."""
    by_agent = env.mystore.stats()["by_agent"]
    out = {}
    for p in procs:
        out[p.pid] = sum(n for a, n in by_agent.items() if a.endswith(":%d)" % p.pid))
    return out


def test_issue7_02_one_poller_per_stream_and_takeover_after_kill9():
    ttl = 3
    seed = make_seed(orders=30, products=10, seed=71)
    with env_for("lease", seed) as env:
        env.env["LEASE_TTL_S"] = str(ttl)
        a = env.spawn(["poll", "mystore-orders"])
        wait_until(lambda: agent_counts(env, [a])[a.pid] > 0, 30, "the first poller polls")
        b = env.spawn(["poll", "mystore-orders"])
        b_log = env.logs[-1]
        wait_until(lambda: "standing by" in text_of(b_log), 30,
                   "the second poller stands by")
        start = agent_counts(env, [a])[a.pid]
        wait_until(lambda: agent_counts(env, [a])[a.pid] >= start + 6, 30, "three more cycles")
        eq(agent_counts(env, [b])[b.pid], 0, "requests of the standby")
        eq(len(env.mystore.stats()["by_agent"]), 1, "agents the simulator saw")

        a.kill()
        a.wait()
        dead = agent_counts(env, [a])[a.pid]
        wait_until(lambda: agent_counts(env, [b])[b.pid] > 0, ttl + 2,
                   "the standby takes over within one TTL")
        wait_until(lambda: agent_counts(env, [b])[b.pid] >= 6, 30, "the new holder polls on")
        eq(agent_counts(env, [a])[a.pid], dead, "requests of the dead poller after the kill")
        eq(b.poll(), None, "the new holder still runs")

        # A holder paused longer than the TTL (SIGSTOP) loses the lease; once
        # resumed it notices, and stands by instead of polling.
        c = env.spawn(["poll", "mystore-orders"])
        c_log = env.logs[-1]
        wait_until(lambda: "standing by" in text_of(c_log), 30, "the third poller stands by")
        os.kill(b.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: agent_counts(env, [c])[c.pid] > 0, ttl + 2,
                       "the standby takes over from the paused holder")
        finally:
            os.kill(b.pid, signal.SIGCONT)
        wait_until(lambda: "lost the lease" in text_of(b_log), 2 * ttl,
                   "the resumed holder notices it lost the lease")
        paused = agent_counts(env, [b])[b.pid]
        held = env.redis.cmd("GET", "mosync:{%s}:lease:mystore-orders" % TENANT)
        check(held and ":%d)" % c.pid in held, "the lease names the third poller: %r" % held)
        c_now = agent_counts(env, [c])[c.pid]
        wait_until(lambda: agent_counts(env, [c])[c.pid] >= c_now + 6, 30, "three more cycles")
        eq(agent_counts(env, [b])[b.pid], paused, "requests of the resumed old holder")
        for p in (b, c):
            p.send_signal(signal.SIGTERM)
            eq(p.wait(30), 0, "clean exit on SIGTERM")
