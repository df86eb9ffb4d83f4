"""Issue 12, poll side (items 1-8): lists that break or shift while they are
paged, an event too large for Kafka, a future-dated updated_at, Ongoing's
clock, a 429 on a sub-resource, a poller paused past its lease, and the seen
map's size.  Each test named test_issue12_NN_* failed before its fix; the
hostile-list and zombie tests are the issue's "Must show"."""

import base64
import json
import os
import signal
import time

from harness import (TENANT, TestFailure, check, dlq_messages, env_for, eq, map_order,
                     request_body, topic_messages, wait_until)
from seedgen import make_seed

ORDERS = "/shops/demo/orders"


def clock(env, local):
    env.mystore.post("/_sim/clock", {"now": local})


def events(env, topic="mystore.orders"):
    """The events of a pipeline topic, decoded, with their headers."""
    out = []
    for m in topic_messages(env, topic):
        ev = json.loads(base64.b64decode(m["value_base64"]))
        ev["_headers"] = m.get("headers") or {}
        out.append(ev)
    return out


def emitted_ids(env, topic="mystore.orders"):
    return {e["entity_id"] for e in events(env, topic)}


def existing_ids(env):
    return {o["id"] for o in env.mystore.api_all("orders")}


def cursor(env, stream="mystore-orders"):
    return env.redis.get_json("cursor:%s" % stream)


def poll_until_complete(env, stream="mystore-orders", runs=12, on_complete=None):
    """Runs `poll <stream> --once` until a cycle completes its scan (the
    cursor gets a time).  A scan may take several cycles (a 429 ends one);
    on_complete(env) is called right after the cycle that completed it, so a
    test can check nothing was left out at that moment."""
    for n in range(runs):
        env.run(["poll", stream, "--once"], expect_rc=None)
        c = cursor(env, stream)
        if c and "ts" in c:
            if on_complete:
                on_complete(env)
            return n + 1
    raise TestFailure("the scan of %s was not complete after %d cycles" % (stream, runs))


def many_lines(order, n):
    """Gives an order n lines (copies of its first, each its own id)."""
    first = order["lines"][0]
    lines = []
    for i in range(n):
        line = json.loads(json.dumps(first))
        line["id"] = str(600000 + int(order["id"]) * 1000 + i)
        line["attributes"]["quantity"] = 1 + i % 3
        for j, opt in enumerate(line.get("options") or []):
            opt["id"] = str(800000 + int(order["id"]) * 1000 + i * 5 + j)
        lines.append(line)
    order["lines"] = lines


def order_puts(env):
    """Accepted PUT /orders per order number."""
    counts = {}
    for w in env.ongoing.order_writes():
        if w["method"] == "PUT" and w["status"] < 300:
            n = w["body"]["orderNumber"]
            counts[n] = counts.get(n, 0) + 1
    return counts


# ---- item 1: a 404 past page 1 is not the end of the list ----------------------

def test_issue12_01_404_past_page_one_does_not_end_the_scan():
    """Page 2 of the order list answers 404 twice during a first scan: the
    scan does not count as complete with the orders of page 1 only."""
    seed = make_seed(orders=120, products=10, seed=121)
    with env_for("i12-01-list", seed) as env:
        env.mystore.post("/_sim/fault", {"method": "GET", "path": ORDERS, "count": 2,
                                         "status": 404, "match": "page%5Bnumber%5D=2&"})
        want = {o["id"] for o in seed["orders"]}

        def all_emitted(env):
            got = emitted_ids(env)
            eq(sorted(want - got), [], "orders missing from the topic when the scan completed")
        poll_until_complete(env, on_complete=all_emitted)


def test_issue12_01_404_on_a_later_page_of_lines_never_cuts_the_order():
    """An order's 60 lines span two pages; page 2 answers 404 twice.  The
    order reaches Ongoing with all 60 lines, never with the 50 of page 1."""
    seed = make_seed(orders=4, products=10, seed=122)
    many_lines(seed["orders"][1], 60)
    oid = seed["orders"][1]["id"]
    with env_for("i12-01-lines", seed) as env:
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 2, "status": 404,
                                         "path": "%s/%s/order-products" % (ORDERS, oid),
                                         "match": "page%5Bnumber%5D=2&"})
        poll_until_complete(env)
        for ev in events(env):
            if ev["entity_id"] == oid:
                eq(len(ev["data"]["lines"]), 60, "lines in an emitted snapshot of %s" % oid)
        env.apply_orders()
        eq(len(env.ongoing.order(oid)["orderLines"]), 60, "lines of %s in Ongoing" % oid)


# ---- item 2: a list that reorders or shrinks while it is paged ----------------

def test_issue12_02_list_reordered_and_shrunk_while_paged_loses_nothing():
    """A first scan of 300 orders (6 pages) while the list is reordered after
    each of the first 4 pages and 5 orders are deleted after page 2: when the
    scan counts as complete, every order that still exists was emitted."""
    seed = make_seed(orders=300, products=10, seed=123)
    gone = [o["id"] for o in seed["orders"][10:15]]
    with env_for("i12-02", seed) as env:
        env.mystore.post("/_sim/lists", {"reshuffle": 4, "seed": 7, "delete_orders": gone,
                                         "delete_after_pages": 2})

        def complete(env):
            missing = existing_ids(env) - emitted_ids(env)
            eq(sorted(missing), [], "existing orders not emitted when the scan completed")
        poll_until_complete(env, on_complete=complete)
        for g in gone:
            check(g not in existing_ids(env), "order %s was deleted" % g)


def test_issue12_02_failing_order_a_shifted_scan_did_not_list_is_not_dropped():
    """10004's totals fail once (it is counted as failing); the next complete
    scan does not list it (the list shifted: the simulator leaves it out).
    It is read by id and emitted, not dropped and lost: its updated_at is
    older than the next window."""
    seed = make_seed(orders=6, products=10, seed=134, base_time="2026-11-27 06:00:00")
    with env_for("i12-02-failing", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        clock(env, "2026-11-27 10:00:00")
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 6, "status": 500,
                                         "path": "%s/10004/order-totals" % ORDERS})
        env.poll_orders()
        check("10004" in cursor(env)["failing"], "10004 counted as failing")
        check("10004" not in emitted_ids(env), "10004 not emitted yet")
        env.mystore.post("/_sim/lists", {"hide_orders": ["10004"], "hide_pages": 4})
        clock(env, "2026-11-27 12:30:00")
        env.poll_orders()
        check("10004" in emitted_ids(env), "10004 emitted although the scan did not list it")
        check("10004" not in cursor(env)["failing"], "10004 no longer failing")
        env.apply_orders()
        eq(len(env.ongoing.orders()), 6, "orders in Ongoing")


# ---- item 3: one event over Kafka's size limit --------------------------------

def test_issue12_03_event_too_large_for_kafka_is_dead_lettered_alone():
    """One order is bigger than the producer's message.max.bytes: it becomes
    a dead letter (cut to fit, class too_large), the other orders are
    emitted, and the cursor moves on."""
    seed = make_seed(orders=20, products=10, seed=124)
    big = seed["orders"][3]
    big["lines"][0]["attributes"]["name"] = "Genser " + "x" * 200000
    small = {"KAFKA_PROP_message_max_bytes": "100000"}
    with env_for("i12-03", seed) as env:
        rc, p1, _ = env.run(["poll", "mystore-orders", "--once"], extra_env=small, expect_rc=None)
        eq((rc, p1["orders_emitted"], p1["dead_lettered"]), (0, 19, 1),
           "first cycle: exit status, emitted, dead-lettered")
        check("ts" in (cursor(env) or {}), "the cursor moved")
        rc, p2, _ = env.run(["poll", "mystore-orders", "--once"], extra_env=small, expect_rc=None)
        eq((rc, p2["orders_emitted"], p2["dead_lettered"]), (0, 0, 0), "second cycle")
        dl = dlq_messages(env)
        eq([m["key"] for m in dl], [TENANT + ":" + big["id"]], "dead letters")
        eq(dl[0]["headers"]["mosync.error.class"], "too_large", "error class")
        eq(dl[0]["headers"].get("mosync.value.truncated"), "true", "the letter is cut to fit")
        _, s, _ = env.apply_orders()
        eq(s["created"], 19, "orders created")


# ---- item 4: a future-dated updated_at is not the version ---------------------

def test_issue12_04_future_updated_at_does_not_become_the_version():
    """An order stamped 2031 is emitted with the time it was observed as its
    version; its next real change is applied, not judged stale."""
    seed = make_seed(orders=4, products=10, seed=125, base_time="2026-11-27 09:00:00")
    seed["orders"][1]["attributes"]["updated_at"] = "2031-01-01 00:00:00"
    oid = seed["orders"][1]["id"]
    with env_for("i12-04", seed) as env:
        clock(env, "2026-11-27 10:00:00")
        env.poll_orders()
        env.apply_orders()
        first = [e for e in events(env) if e["entity_id"] == oid][0]
        check(first["source_version"] <= "2026-11-27T09:00:00Z",
              "version %s is not later than the observation" % first["source_version"])
        clock(env, "2026-11-27 10:05:00")
        o = env.mystore.get("/_sim/orders/%s" % oid)
        o["attributes"]["shipping_address_address"] = "Ny gate 4"
        o["attributes"].pop("updated_at")
        env.mystore.put("/_sim/orders/%s" % oid, o)
        _, p, _ = env.poll_orders()
        eq(p["orders_emitted"], 1, "the change is emitted")
        _, s, _ = env.apply_orders()
        eq(s["stale"], 0, "events judged stale")
        eq(env.ongoing.order(oid)["consignee"]["address1"], "Ny gate 4", "the change in Ongoing")


# ---- item 5: Ongoing's clock, not the host's -----------------------------------

def test_issue12_05_shipments_window_on_ongoings_clock():
    """Ongoing's clock runs 10 minutes behind this host's.  An order shipped
    after the shipments poller's first run is emitted by its next run (each a
    new process) and turns "levert"."""
    seed = make_seed(orders=3, products=10, seed=126)
    with env_for("i12-05-ship", seed) as env:
        env.poll_orders()
        env.apply_orders()
        env.ongoing.post("/_sim/clock", {"offset_s": -600})
        env.run(["poll", "ongoing-shipments", "--once"])
        env.ongoing.post("/_sim/orders/10002/ship",
                         {"tracking": [{"waybill": "CLK1", "trackingUrl": "https://t/CLK1"}]})
        _, p, _ = env.run(["poll", "ongoing-shipments", "--once"])
        check(p["emitted"] >= 1, "the shipped order is emitted: %r" % p)
        env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        o = env.mystore.get("/_sim/orders/10002")
        eq((o["status_id"], o["attributes"]["tracking_number"]), ("3", "CLK1"), "levert in Mystore")


def test_issue12_05_stock_versions_never_go_backwards():
    """A long-running stock poller with Ongoing's clock 10 minutes behind:
    stock 10, then 3; Mystore ends with 3 (the second version is not older
    than the first)."""
    seed = make_seed(orders=0, products=3, seed=127)
    on = {"STOCK_SYNC": "on"}
    with env_for("i12-05-stock", seed) as env:
        env.run(["poll", "mystore-products", "--once"])
        env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        art = env.ongoing.get("/_sim/articles")[0]["articleNumber"]
        env.ongoing.post("/_sim/clock", {"offset_s": -600})
        env.ongoing.post("/_sim/articles/%s/stock" % art,
                         {"numberOfItems": 10, "sellableNumberOfItems": 10})
        poller = env.spawn(["poll", "ongoing-stock"], extra_env=on)

        def stock_events(n):
            return lambda: len([e for e in events(env, "ongoing.stock")
                                if e["entity_id"] == art]) >= n
        wait_until(stock_events(1), 60, "the first stock event")
        env.ongoing.post("/_sim/articles/%s/stock" % art,
                         {"numberOfItems": 3, "sellableNumberOfItems": 3})
        wait_until(stock_events(2), 60, "the second stock event")
        poller.send_signal(signal.SIGTERM)
        poller.wait(30)
        env.run(["apply", "stock", "--once", "--idle-ms", "2500"], extra_env=on)
        evs = [e for e in events(env, "ongoing.stock") if e["entity_id"] == art]
        check(evs[-1]["source_version"] >= evs[0]["source_version"],
              "versions went backwards: %s then %s" % (evs[0]["source_version"],
                                                       evs[-1]["source_version"]))
        eq(mystore_quantity(env, seed, art), 3, "Mystore's stock of %s" % art)


def mystore_quantity(env, seed, sku):
    """The quantity Mystore holds for a SKU (a variant's, or a product's)."""
    for pr in seed["products"]:
        got = env.mystore.get("/_sim/products/%s" % pr["id"])
        if got["attributes"].get("sku") == sku and not got["variants"]:
            return got["attributes"].get("quantity")
        for v in got["variants"]:
            if v["attributes"].get("sku") == sku:
                return v["attributes"].get("quantity")
    raise TestFailure("no product or variant has SKU %s" % sku)


# ---- item 6: a 429 on a sub-resource counts against no order; resync ----------

def test_issue12_06_rate_limited_sub_resource_counts_against_no_order():
    """10003's lines answer 429 for a while (more than one call retries):
    every cycle meanwhile ends, nothing is dead-lettered even past
    MAX_ATTEMPTS cycles, and once the 429s stop the order is emitted."""
    seed = make_seed(orders=6, products=10, seed=128)
    with env_for("i12-06", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        env.env["MAX_ATTEMPTS"] = "2"
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 1000, "status": 429,
                                         "retry_after": 0,
                                         "path": "%s/10003/order-products" % ORDERS})
        for n in range(3):
            rc, p, _ = env.poll_orders(expect_rc=None)
            eq((rc, p["dead_lettered"]), (1, 0), "cycle %d: exit status, dead letters" % (n + 1))
        eq(dlq_messages(env), [], "dead letters")
        check("10003" not in (cursor(env) or {}).get("failing", {}), "no failure counted")
        env.mystore.call("DELETE", "/_sim/fault")
        poll_until_complete(env)
        check("10003" in emitted_ids(env), "10003 emitted once the 429s stopped")
        env.apply_orders()
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()),
           sorted(o["id"] for o in seed["orders"]), "orders in Ongoing")


def test_issue12_06_resync_reads_one_order_again_and_it_is_sent():
    """`mosync resync orders 10002` emits 10002's current snapshot, marked as
    a resync, and the applier sends it although its record says it was
    applied; an unknown id is named and exits 1; a bad flow exits 2."""
    seed = make_seed(orders=4, products=10, seed=129)
    with env_for("i12-06-resync", seed) as env:
        env.poll_orders()
        env.apply_orders()
        before = order_puts(env).get("10002", 0)
        rc, s, _ = env.run(["resync", "orders", "10002"])
        eq((rc, s["emitted"]), (0, 1), "resync exit status and events")
        last = [e for e in events(env) if e["entity_id"] == "10002"][-1]
        eq(last["_headers"].get("mosync.resync"), "1", "the event is marked as a resync")
        env.apply_orders()
        eq(order_puts(env).get("10002", 0), before + 1, "10002 sent again to Ongoing")
        rc, s, err = env.run(["resync", "orders", "99999"], expect_rc=1)
        check("99999" in err and s["not_found"] == 1, "the unknown id is named")
        env.run(["resync", "parcels", "1"], expect_rc=2)


# ---- item 7: a poller that lost its lease must not win --------------------------

def stopped(p):
    """Whether process p is stopped (SIGSTOP): state T in /proc."""
    with open("/proc/%d/stat" % p.pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")


def set_address(env, oid, address, updated_at=None):
    o = env.mystore.get("/_sim/orders/%s" % oid)
    o["attributes"]["shipping_address_address"] = address
    if updated_at:
        o["attributes"]["updated_at"] = updated_at
    else:
        o["attributes"].pop("updated_at", None)
    env.mystore.put("/_sim/orders/%s" % oid, o)
    return env.mystore.get("/_sim/orders/%s" % oid)["attributes"]["updated_at"]


def zombie(env, oid, pause):
    """The zombie scenario: poller A emits, then is stopped while it works on
    oid's change to "Gammel gate 1" (pause(A) stops it); the shop changes oid
    again within the same second ("Ny gate 2", same updated_at); poller B takes
    the lease and emits that; A continues.  Returns after both are done."""
    a = env.spawn(["poll", "mystore-orders"], extra_env=pause.get("env"))
    wait_until(lambda: oid in emitted_ids(env), 60, "A's first cycle")
    if pause.get("arm"):
        pause["arm"](env)
    stamp = set_address(env, oid, "Gammel gate 1")
    if pause.get("stop"):
        pause["stop"](env, a)
    wait_until(lambda: stopped(a), 30, "poller A stopped mid-snapshot")
    set_address(env, oid, "Ny gate 2", updated_at=stamp)
    b = env.spawn(["poll", "mystore-orders"])
    wait_until(lambda: any(e["entity_id"] == oid and
                           e["data"]["order"]["attributes"]["shipping_address_address"] ==
                           "Ny gate 2" for e in events(env)), 60, "B emitting the newer content")
    env.apply_orders()
    eq(env.ongoing.order(oid)["consignee"]["address1"], "Ny gate 2", "the newer content applied")
    b.send_signal(signal.SIGTERM)
    b.wait(30)
    a.send_signal(signal.SIGCONT)
    # A goes on with its old snapshot: whatever it does, it must not win.
    wait_until(lambda: a.poll() is not None or "lost the lease" in open(a._mosync_log.name).read(),
               60, "poller A noticing it lost the lease")
    a.send_signal(signal.SIGTERM)
    a.wait(30)
    env.apply_orders()
    eq(env.ongoing.order(oid)["consignee"]["address1"], "Ny gate 2",
       "Ongoing keeps the newer content after the old holder continued")
    return a


def test_issue12_07_zombie_sigstopped_mid_snapshot_does_not_overwrite():
    """Must show: the lease holder is SIGSTOPped while it reads an order's
    sub-resources (an answer held back 5 s), the standby takes over and emits
    the newer content, the old holder is continued: Ongoing ends with the
    newer content, and the old snapshot was never emitted."""
    seed = make_seed(orders=3, products=10, seed=130, base_time="2026-11-27 09:00:00")
    with env_for("i12-07-zombie", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        env.env["LEASE_TTL_S"] = "3"
        clock(env, "2026-11-27 10:00:00")

        def arm(env):
            env.mystore.post("/_sim/fault", {"method": "GET", "count": 1, "delay_ms": 5000,
                                             "path": "%s/10002/order-totals" % ORDERS})

        def stop_in_snapshot(env, a):
            # A's next cycle asks for 10002's totals: the fault is taken.
            wait_until(lambda: not env.mystore.get("/_sim/fault"), 30, "A in 10002's snapshot")
            a.send_signal(signal.SIGSTOP)
        zombie(env, "10002", {"arm": arm, "stop": stop_in_snapshot})
        old = [e for e in events(env) if e["entity_id"] == "10002" and
               e["data"]["order"]["attributes"]["shipping_address_address"] == "Gammel gate 1"]
        eq(old, [], "events of the old snapshot emitted after the lease was lost")


def test_issue12_07_zombie_stopped_just_before_produce_is_fenced():
    """The holder is stopped after its lease check, right before it produces
    (MOSYNC_PAUSE_AT): it emits its old snapshot after the standby emitted the
    newer one with the same version, and the consumer drops it by its lower
    fence."""
    seed = make_seed(orders=3, products=10, seed=131, base_time="2026-11-27 09:00:00")
    with env_for("i12-07-fence", seed) as env:
        env.env["LEASE_TTL_S"] = "3"
        clock(env, "2026-11-27 10:00:00")
        # Produce #1-#3 are the first cycle's; #4 is 10002's change.
        pause = {"env": {"MOSYNC_PAUSE_AT": "poll-before-produce:4"}}
        zombie(env, "10002", pause)
        evs = [e for e in events(env) if e["entity_id"] == "10002"]
        old = [e for e in evs if
               e["data"]["order"]["attributes"]["shipping_address_address"] == "Gammel gate 1"]
        new = [e for e in evs if
               e["data"]["order"]["attributes"]["shipping_address_address"] == "Ny gate 2"]
        eq(len(old), 1, "the old holder emitted its snapshot")
        eq(old[0]["source_version"], new[0]["source_version"], "with the same version")
        check(old[0]["fence"] < new[0]["fence"], "under a lower fence")


# ---- item 8: the seen map is capped and written a page at a time -------------

def test_issue12_08_seen_map_capped_and_cursor_small():
    """300 products with POLL_SEEN_MAX=100: the seen map holds at most 100
    entries, the cursor stays a few hundred bytes, every product is emitted
    once, and a second cycle emits nothing (beyond the cap, an item is
    judged by its updated_at against the last complete scan)."""
    seed = make_seed(orders=0, products=300, seed=132)
    with env_for("i12-08", seed) as env:
        env.env["POLL_SEEN_MAX"] = "100"
        _, p1, _ = env.run(["poll", "mystore-products", "--once"])
        eq(p1["products_emitted"], 300, "products emitted by the first scan")
        n = env.redis.cmd("HLEN", "mosync:{%s}:seen:mystore-products" % TENANT)
        check(0 < n <= 100, "seen entries %d" % n)
        raw = env.redis.cmd("GET", "mosync:{%s}:cursor:mystore-products" % TENANT)
        check(raw and len(raw) < 512, "cursor of %d bytes" % len(raw or ""))
        _, p2, _ = env.run(["poll", "mystore-products", "--once"])
        eq(p2["products_emitted"], 0, "products emitted by the second scan")
        eq(len(emitted_ids(env, "mystore.products")), 300, "products on the topic")
        # Hours later, with nothing changed: the entries the next window
        # cannot list again are forgotten; Redis does not grow with the
        # catalogue.
        clock(env, "2030-01-01 12:00:00")
        env.run(["poll", "mystore-products", "--once"])
        env.run(["poll", "mystore-products", "--once"])
        eq(env.redis.cmd("HLEN", "mosync:{%s}:seen:mystore-products" % TENANT), 0,
           "seen entries after the window moved past every product")


# ---- Must show: the hostile first scan ---------------------------------------

def test_issue12_hostile_first_scan_of_2000_orders():
    """A first scan of 2,000 orders while the simulator reorders the list
    between pages, deletes orders, answers 404 to a page past the first and
    429 to sub-resources, and one order's lines span 3 pages: no cycle counts
    its scan complete before every existing order was emitted, and every
    order lands in Ongoing whole, exactly once.  The shop ignores include=,
    so the related URLs are read (M11's fallback)."""
    hostile_first_scan(include=False)


def test_issue12_hostile_first_scan_of_2000_orders_with_include():
    """The same scan where the shop answers include= (issue 15 item 3): the
    lines, options and totals come with the reordered list pages (the order
    of 120 lines in one compound answer), a page answers 429 until its
    retries are spent: the same guarantees, and no related URL is read."""
    hostile_first_scan(include=True)


def hostile_first_scan(include):
    seed = make_seed(orders=2000, products=40, seed=133)
    many_lines(seed["orders"][17], 120)
    big = seed["orders"][17]["id"]
    gone = [o["id"] for o in seed["orders"][500:510]]
    limited = [o["id"] for o in seed["orders"][100:103]]
    with env_for("i12-hostile", seed) as env:
        if not include:
            env.mystore.related_urls_only()
        env.mystore.post("/_sim/lists", {"reshuffle": 25, "seed": 11, "delete_orders": gone,
                                         "delete_after_pages": 5})
        env.mystore.post("/_sim/fault", {"method": "GET", "path": ORDERS, "count": 1,
                                         "status": 404, "match": "page%5Bnumber%5D=7&"})
        if include:
            # More 429s than the client's attempts: the cycle ends there.
            env.mystore.post("/_sim/fault", {"method": "GET", "count": 8, "status": 429,
                                             "retry_after": 0, "path": ORDERS,
                                             "match": "page%5Bnumber%5D=3&"})
        for oid in limited if not include else ():
            env.mystore.post("/_sim/fault", {"method": "GET", "count": 8, "status": 429,
                                             "retry_after": 0,
                                             "path": "%s/%s/order-products" % (ORDERS, oid)})

        def complete(env):
            missing = existing_ids(env) - emitted_ids(env)
            eq(sorted(missing)[:10], [], "existing orders not emitted when the scan completed")
        cycles = poll_until_complete(env, on_complete=complete)
        check(cycles >= 2, "a 429 ended at least one cycle (%d cycles)" % cycles)
        related = sorted(r for r in env.mystore.stats()["by_route"] if "{id}/order-" in r)
        if include:
            eq(related, [], "related URLs read although the shop answers include=")
        else:
            check(related, "the related URLs were read")
        _, s, _ = env.apply_orders(timeout=300)
        eq(s["dead_lettered"], 0, "dead letters")
        existing = existing_ids(env)
        puts = order_puts(env)
        eq(sorted(i for i in existing if puts.get(i) != 1)[:10], [],
           "existing orders not written to Ongoing exactly once")
        stored = {o["orderNumber"]: o for o in env.ongoing.orders()}
        lines = {o["id"]: len(o["lines"]) for o in seed["orders"]}
        eq(sorted(i for i in existing if len(stored[i]["orderLines"]) != lines[i])[:10], [],
           "orders with lines missing in Ongoing")
        # The simulator reorders every list, an order's lines too: compare
        # the lines by their row number.
        def by_row(order):
            order = dict(order)
            order["orderLines"] = sorted(order["orderLines"], key=lambda l: l["rowNumber"])
            return order
        for oid in [big] + limited + sorted(existing)[::250]:
            expected = map_order(env, env.mystore.snapshot(oid))
            eq(by_row(request_body(stored[oid])), by_row(expected["order"]),
               "Ongoing order %s" % oid)
