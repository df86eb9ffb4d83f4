"""The order flow end to end: Mystore simulator -> poll mystore-orders ->
Kafka -> apply orders -> Ongoing simulator, on real Redis and real Kafka."""

import json
import os
import signal
import subprocess
import time

from harness import (OG_PASSWORD, TENANT, TOKEN, TestFailure, check, dlq_messages, env_for, eq,
                     map_order, request_body, wait_until)
from seedgen import make_seed


def order_puts(env):
    return [w for w in env.ongoing.writes()
            if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders")]


def check_orders_match_mapping(env, order_ids):
    """Ongoing holds exactly these orders, each equal field by field to what
    the golden mapping makes of the snapshot Mystore serves."""
    stored = {o["orderNumber"]: o for o in env.ongoing.orders()}
    eq(sorted(stored), sorted(order_ids), "order numbers in Ongoing")
    for oid in order_ids:
        expected = map_order(env, env.mystore.snapshot(oid))
        eq(expected["action"], "upsert", "mapping action of %s" % oid)
        eq(request_body(stored[oid]), expected["order"], "Ongoing order %s" % oid)


def test_200_orders_reach_ongoing_then_zero_writes():
    seed = make_seed(orders=200, products=40, seed=11)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("orders200", seed) as env:
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 200, "orders emitted")
        _, apply, _ = env.apply_orders()
        eq(apply["created"], 200, "orders created")
        eq(apply["dead_lettered"], 0, "dead letters")

        check_orders_match_mapping(env, ids)

        # Every article an order line names was created before that order (O4).
        writes = env.ongoing.writes()
        articles, puts = set(), 0
        for w in writes:
            if w["method"] == "PUT" and w["path"].endswith("/api/v1/articles"):
                eq(w["status"] in (200, 201), True, "article write accepted")
                articles.add(w["body"]["articleNumber"])
            elif w["method"] == "PUT" and w["path"].endswith("/api/v1/orders"):
                puts += 1
                eq(w["status"], 201, "order %s created" % w["body"]["orderNumber"])
                for line in w["body"]["orderLines"]:
                    check(line["articleNumber"] in articles,
                          "article %s of order %s was not created first"
                          % (line["articleNumber"], w["body"]["orderNumber"]))
        eq(puts, 200, "order writes")
        eq(len(articles), apply["articles_created"], "articles created")

        # A second run writes nothing.
        n = len(writes)
        _, poll2, _ = env.poll_orders()
        eq(poll2["orders_emitted"], 0, "orders emitted by the second poll")
        env.apply_orders()
        eq(len(env.ongoing.writes()), n, "Ongoing writes after the second run")

        # Replaying the whole topic in a new consumer group writes nothing either.
        _, replay, _ = env.apply_orders(extra=["--group", "replay-test"])
        eq(replay["messages"], 200, "replayed messages")
        eq(replay["duplicates"], 200, "replayed duplicates")
        eq(len(env.ongoing.writes()), n, "Ongoing writes after the replay")


def test_update_refuse_cancel_and_sent():
    seed = make_seed(orders=5, products=10, seed=3)
    with env_for("update-rules", seed) as env:
        env.poll_orders()
        env.apply_orders()
        eq(len(env.ongoing.orders()), 5, "orders in Ongoing")

        # Warehouse side: 10002 has been released (300), 10004 picked (400).
        env.ongoing.post("/_sim/orders/10002/status", {"status": 300})
        env.ongoing.post("/_sim/orders/10004/status", {"status": 400})
        # Shop side: 10001 and 10002 change address, 10003 and 10004 are
        # cancelled, 10005 is marked sent by hand.
        for oid in ("10001", "10002"):
            o = env.mystore.get("/_sim/orders/%s" % oid)
            o["attributes"]["shipping_address_address"] = "Ny gate %s" % oid[-1]
            o["attributes"].pop("updated_at", None)
            env.mystore.put("/_sim/orders/%s" % oid, o)
        env.mystore.post("/_sim/orders/10003/status", {"status_id": "5"})
        env.mystore.post("/_sim/orders/10004/status", {"status_id": "5"})
        env.mystore.post("/_sim/orders/10005/status", {"status_id": "3"})
        before = len(env.ongoing.writes())

        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 5, "changed orders emitted")
        _, s, stderr = env.apply_orders()
        eq((s["updated"], s["refused"], s["cancelled"], s["cancel_refused"], s["skipped_sent"]),
           (1, 1, 1, 1, 1), "updated, refused, cancelled, cancel_refused, skipped_sent")

        eq(env.ongoing.order("10001")["consignee"]["address1"], "Ny gate 1", "10001 updated")
        eq(env.ongoing.order("10002")["consignee"]["address1"] != "Ny gate 2", True,
           "10002 not changed in Ongoing")
        rec = env.redis.get_json("applied:orders:10002")
        eq((rec["state"], rec["ongoing_status"]), ("refused", 300), "10002 record")
        eq(env.ongoing.order("10003")["status"], 1000, "10003 cancelled in Ongoing")
        eq(env.redis.get_json("applied:orders:10003")["state"], "cancelled", "10003 record")
        eq(env.ongoing.order("10004")["status"], 400, "10004 untouched in Ongoing")
        eq(env.redis.get_json("applied:orders:10004")["state"], "cancel_refused", "10004 record")
        check("10004" in stderr and "could not cancel" in stderr, "10004 logged as an error")
        eq(env.redis.get_json("applied:orders:10005")["state"], "skipped", "10005 record")

        new = env.ongoing.writes(before)
        by_order = {}
        for w in new:
            num = (w["body"] or {}).get("orderNumber") or w["query"].split("orderNumber=")[-1]
            by_order.setdefault(num, []).append((w["method"], w["status"]))
        eq(by_order.get("10001"), [("PUT", 200)], "writes for 10001")
        eq(by_order.get("10002"), [("PUT", 400)], "writes for 10002 (refused by Ongoing)")
        eq(by_order.get("10003"), [("DELETE", 200)], "writes for 10003")
        eq(by_order.get("10004"), [("DELETE", 400)], "writes for 10004")
        eq(by_order.get("10005"), None, "writes for 10005")

        # The refusal is recorded, not retried: a replay writes nothing.
        n = len(env.ongoing.writes())
        env.poll_orders()
        env.apply_orders(extra=["--group", "replay-rules"])
        eq(len(env.ongoing.writes()), n, "writes after replay")


def test_consumer_killed_at_crash_points():
    """kill -9 of the consumer in the middle of 1,000 orders, at the two
    worst places: after the Ongoing write but before its record, and after
    the record but before the offset.  Every order ends in Ongoing once."""
    seed = make_seed(orders=1000, products=40, seed=21)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("kill-consumer", seed) as env:
        env.poll_orders()
        rc, _, _ = env.apply_orders(extra_env={"MOSYNC_CRASH_AT": "apply-after-effect:400"},
                                    expect_rc=None)
        eq(rc, -signal.SIGKILL, "consumer killed at the first crash point")
        rc, _, _ = env.apply_orders(extra_env={"MOSYNC_CRASH_AT": "apply-before-offset:300"},
                                    expect_rc=None)
        eq(rc, -signal.SIGKILL, "consumer killed at the second crash point")
        env.apply_orders()
        stored = env.ongoing.orders()
        eq(sorted(o["orderNumber"] for o in stored), ids, "every order in Ongoing once")
        puts = order_puts(env)
        # Only the order written but not recorded before the first kill is
        # written again (same body, an update); everything else is skipped.
        eq(len(puts), 1001, "order writes")
        eq(sum(1 for w in puts if w["status"] == 201), 1000, "orders created")
        again = [w for w in puts if w["status"] == 200]
        first = [w for w in puts if w["status"] == 201 and
                 w["body"]["orderNumber"] == again[0]["body"]["orderNumber"]]
        eq(again[0]["body"], first[0]["body"], "the repeated write is identical")


def test_consumer_killed_externally():
    seed = make_seed(orders=1000, products=40, seed=22)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("kill9-consumer", seed) as env:
        env.poll_orders()
        p = env.spawn(["apply", "orders"])
        wait_until(lambda: len(env.ongoing.orders()) >= 300, 120, "300 orders in Ongoing")
        p.kill()
        p.wait()
        env.apply_orders()
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ids, "every order once")
        puts = order_puts(env)
        check(1000 <= len(puts) <= 1001, "order writes %d not in 1000..1001" % len(puts))
        eq(sum(1 for w in puts if w["status"] == 201), 1000, "orders created")


def test_poller_killed_between_produce_and_cursor_save():
    seed = make_seed(orders=1000, products=40, seed=23)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("kill-poller", seed) as env:
        rc, _, _ = env.poll_orders(extra_env={"MOSYNC_CRASH_AT": "poll-after-produce:3"},
                                   expect_rc=None)
        eq(rc, -signal.SIGKILL, "poller killed after producing page 3")
        eq(env.redis.cmd("HLEN", "mosync:{%s}:seen:mystore-orders" % TENANT), 100,
           "orders in the seen map (pages 1 and 2)")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 900, "orders emitted after the restart")
        _, s, _ = env.apply_orders()
        eq(s["messages"], 1050, "events (page 3 twice)")
        eq(s["duplicates"], 50, "duplicates absorbed")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ids, "every order once")
        eq(len(order_puts(env)), 1000, "order writes")


def test_unmappable_order_is_dead_lettered_and_others_flow():
    seed = make_seed(orders=20, products=10, seed=5, bad_quantity_order="10007")
    with env_for("dlq", seed) as env:
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq((s["created"], s["dead_lettered"]), (19, 1), "created and dead-lettered")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()),
           sorted(o["id"] for o in seed["orders"] if o["id"] != "10007"), "other orders flow")
        dl = dlq_messages(env)
        eq(len(dl), 1, "dead letters")
        h = dl[0]["headers"]
        eq(dl[0]["key"], TENANT + ":10007", "dead letter key")
        eq(h["mosync.source"], env.prefix + "mystore.orders", "source header")
        eq(h["mosync.error.class"], "invalid", "error class header")
        check("quantity" in h["mosync.error"] and "10007" in h["mosync.error"],
              "error header names the field and order: %r" % h["mosync.error"])
        for name in ("mosync.partition", "mosync.offset", "mosync.attempts",
                     "mosync.first.failure", "mosync.last.failure", "mosync.component"):
            check(name in h, "header %s present" % name)
        original = json.loads(dl[0]["value"])
        eq(original["entity_id"], "10007", "original event kept")
        eq([l["line"]["attributes"]["quantity"] for l in original["data"]["lines"]].count("abc"),
           1, "original bytes kept (the line with quantity 'abc')")
        # Secrets never reach logs, topics or dead letters.
        logs = env.all_logs()
        for secret in (TOKEN, OG_PASSWORD):
            check(secret not in logs, "a secret appears in the logs")
            check(secret.encode() not in dl[0]["value"], "a secret appears in a dead letter")
            check(secret not in json.dumps(h), "a secret appears in dead-letter headers")


def test_malformed_and_truncated_list_pages_are_read_again():
    seed = make_seed(orders=120, products=20, seed=6)
    with env_for("bad-pages", seed) as env:
        for body in ("malformed", "truncated"):
            env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/orders",
                                             "count": 1, "body": body})
        env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/orders",
                                         "count": 1, "status": 503})
        _, poll, stderr = env.poll_orders()
        eq(poll["orders_emitted"], 120, "orders emitted")
        eq(env.mystore.stats()["faults_served"], 3, "faults served")
        env.apply_orders()
        eq(len(env.ongoing.orders()), 120, "orders in Ongoing")


def test_redis_outage_of_five_seconds():
    seed = make_seed(orders=300, products=20, seed=7)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("redis-outage", seed) as env:
        # Slow Mystore down a little so the outage falls in the middle of work.
        env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/orders/",
                                         "count": 100000, "delay_ms": 15})
        poller = env.spawn(["poll", "mystore-orders"])
        applier = env.spawn(["apply", "orders"])
        wait_until(lambda: len(env.ongoing.orders()) >= 30, 120, "30 orders in Ongoing")
        env.redis.stop()
        time.sleep(5)
        env.redis.start()
        wait_until(lambda: len(env.ongoing.orders()) >= 300, 180, "300 orders in Ongoing")
        eq(poller.poll(), None, "poller still running")
        eq(applier.poll(), None, "applier still running")
        for p in (poller, applier):
            p.send_signal(signal.SIGTERM)
            eq(p.wait(30), 0, "clean exit on SIGTERM")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ids, "every order once")
        check("redis unavailable" in env.all_logs(), "the outage was noticed")


def test_bad_token_stops_the_cycle_and_keeps_no_cursor():
    seed = make_seed(orders=3, products=5, seed=8)
    with env_for("bad-token", seed) as env:
        rc, _, stderr = env.poll_orders(extra_env={"MYSTORE_TOKEN": "wrong-token-123"},
                                        expect_rc=1)
        check("403" in stderr, "the 403 is logged")
        check("wrong-token-123" not in stderr, "the token is not logged")
        eq(env.redis.get_json("cursor:mystore-orders"), None, "no cursor saved")


BAD_ENV = [
    ("MYSTORE_RATE_LIMIT_PER_MIN", "abc"),
    ("MYSTORE_INITIAL_LOOKBACK_H", "-5"),
    ("MYSTORE_TIMEZONE", "Mars/Olympus"),
    ("MYSTORE_WEIGHT_UNIT", "lb"),
    ("MYSTORE_API_URL", "ftp://example"),
    ("MYSTORE_SHOP", "my shop"),
    ("MOSYNC_TENANT", "a:b"),
    ("REDIS_URL", "http://localhost"),
    ("POLL_INTERVAL_S", "0"),
    ("ONGOING_GOODS_OWNER_ID", "x1"),
    ("ONGOING_EDITABLE_STATUSES", "200,abc"),
    ("SHIPPING_METHOD_MAP", "{not json"),
    ("KAFKA_PROP_no_such_property", "1"),
    ("LOG_LEVEL", "loud"),
    # issue 6 items 12-14 and 18: credentials in URLs, clear text, too-short secrets, ...
    ("MYSTORE_API_URL", "https://user:pw-in-url-5x@api.mystore.no"),
    ("ONGOING_API_URL", "https://api.ongoingsystems.se/wh?key=k-in-query-5x"),
    ("MYSTORE_API_URL", "http://api.mystore.no"),
    ("MYSTORE_SHOP", ".."),
    ("MYSTORE_TOKEN", "abc"),
    ("ONGOING_PASSWORD", "abc"),
    ("REDIS_URL", "rediss://127.0.0.1:6379/0"),
    ("REDIS_URL", "redis://:pw%zz@127.0.0.1:6379/0"),
    ("SHIPPING_METHOD_MAP", '{"Posten": {"code": 5}}'),
]
MISSING_ENV = [("poll", "MYSTORE_TOKEN"), ("poll", "KAFKA_BROKERS"), ("apply", "ONGOING_API_URL"),
               ("apply", "ONGOING_GOODS_OWNER_ID")]


def test_bad_environment_exits_2_naming_the_variable():
    seed = make_seed(orders=1, products=2, seed=9)
    with env_for("bad-env", seed) as env:
        for var, value in BAD_ENV:
            for cmd in (["poll", "mystore-orders", "--once"], ["apply", "orders", "--once"]):
                rc, _, stderr = env.run(cmd, extra_env={var: value}, expect_rc=None)
                eq(rc, 2, "%s=%r exit status of %s" % (var, value, cmd[0]))
                check(var.split("_no_such")[0] in stderr,
                      "%s=%r: message does not name it: %r" % (var, value, stderr))
        for cmd, var in MISSING_ENV:
            full = ["poll", "mystore-orders", "--once"] if cmd == "poll" else ["apply", "orders", "--once"]
            e = dict(env.env)
            del e[var]
            p = subprocess.run([env.env and os.path.join(os.path.dirname(__file__), "..", "..",
                                                         os.environ.get("BUILD", "build"), "mosync")]
                               + full, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=30)
            eq(p.returncode, 2, "%s unset: exit status" % var)
            check(var in p.stderr.decode(), "%s unset: message names it" % var)
