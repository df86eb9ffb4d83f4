"""MYSTORE_ORDER_STATUSES: which Mystore order statuses go to the warehouse
(the order "Filters" of the integration mosync replaces).  An order in a
status the list does not name is polled and applied, recorded as waiting, and
never reaches Ongoing; once the shop moves it into a listed status it lands,
once, with the content the mapping gives.  Sent and cancelled keep priority,
and an order already in Ongoing whose status leaves the list is left alone.
Real processes, real Redis and Kafka, the simulators over HTTP."""

import json
import subprocess

from harness import MOSYNC, check, dlq_messages, env_for, eq, map_order, request_body
from seedgen import make_seed
from test_dryrun_doctor import DRY, doctor_shop, dry_lines, run_lines
from test_reconcile import problems, reconcile

AWAITING_PAYMENT = {"id": "4", "name": {"no": "Venter på betaling", "en": "Awaiting payment"}}
NOT_LISTED = "is not in MYSTORE_ORDER_STATUSES"


def shop_with_statuses(orders, seed, statuses):
    """A seed shop whose orders start in the given status ids, with the shop's
    statuses plus "Venter på betaling" (id 4), which the seed lacks."""
    s = make_seed(orders=orders, products=10, seed=seed)
    s["order_status"].append(dict(AWAITING_PAYMENT))
    for o, sid in zip(s["orders"], statuses):
        o["status_id"] = sid
    return s


def set_status(env, oid, sid):
    env.mystore.post("/_sim/orders/%s/status" % oid, {"status_id": sid})


def puts_of(env, oid, since=0):
    return [w for w in env.ongoing.order_writes(since)
            if w["method"] == "PUT" and (w["body"] or {}).get("orderNumber") == oid]


def check_lands_as_mapped(env, oid):
    """Ongoing holds order oid equal, field by field, to what the mapping
    (with this environment's settings) makes of the snapshot Mystore serves."""
    expected = map_order(env, env.mystore.snapshot(oid))
    eq(expected["action"], "upsert", "mapping action of %s" % oid)
    eq(request_body(env.ongoing.order(oid)), expected["order"], "Ongoing order %s" % oid)


def test_order_filter_waits_then_lands_once():
    """With MYSTORE_ORDER_STATUSES set to the shop's "in progress" status:
    orders awaiting payment or untreated are applied as waiting, with no
    request to Ongoing at all (also in a dry run); moved to "Under behandling"
    they land once with the mapped content, and a poll and apply again sends
    nothing.  An order already in Ongoing whose status leaves the list is left
    there untouched (no request; reconcile finds nothing to repair), and a
    cancel still cancels it.  Sent and
    cancelled keep priority over the list."""
    ids = ["10001", "10002", "10003", "10004", "10005", "10006"]
    seed = shop_with_statuses(6, 41, ["4", "1", "4", "1", "4", "1"])
    with env_for("order-filter", seed) as env:
        env.env["MYSTORE_ORDER_STATUSES"] = "under behandling"
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 6, "orders emitted")

        # A dry run first: every order waits, nothing would be sent or asked.
        og_before = env.ongoing.stats()["requests"]
        _, lines = run_lines(env, ["apply", "orders", "--once", "--idle-ms", "2500"], DRY)
        got = dry_lines(lines, "orders")
        eq(sorted(got), ids, "orders in the dry run")
        for oid, l in got.items():
            eq((l["outcome"], l["requests"], l["differences"]), ("waiting", [], []),
               "dry run of %s" % oid)
            check(NOT_LISTED in l["reason"], "dry-run reason of %s: %r" % (oid, l))
        check("'Venter på betaling' (4)" in got["10001"]["reason"], got["10001"]["reason"])
        check("'Ubehandlet' (1)" in got["10002"]["reason"], got["10002"]["reason"])
        eq(env.ongoing.stats()["requests"], og_before, "requests to Ongoing during the dry run")

        # The real run: six waiting orders, no request to Ongoing.
        _, s, stderr = env.apply_orders()
        eq((s["messages"], s["waiting"], s["created"], s["dead_lettered"], s["ongoing_requests"]),
           (6, 6, 0, 0, 0), "messages, waiting, created, dead letters, Ongoing requests")
        eq(env.ongoing.stats()["requests"], og_before, "requests the Ongoing simulator saw")
        eq(env.ongoing.orders(), [], "orders in Ongoing")
        for oid in ids:
            eq(env.redis.get_json("applied:orders:%s" % oid)["state"], "waiting",
               "record of %s" % oid)
        eq(dlq_messages(env), [], "dead letters")
        check("order 10001: status 'Venter på betaling' (4) %s; waiting" % NOT_LISTED in stderr,
              "the waiting order is logged: %s" % stderr[-2000:])

        # The shop moves two orders into the listed status, one to sent
        # ("Levert") and one to cancelled: sent and cancelled win over the
        # list, the listed ones land.
        set_status(env, "10001", "2")
        set_status(env, "10002", "2")
        set_status(env, "10003", "3")
        set_status(env, "10004", "5")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 4, "changed orders emitted")
        _, s, _ = env.apply_orders()
        eq((s["created"], s["skipped_sent"], s["not_in_ongoing"], s["waiting"], s["dead_lettered"]),
           (2, 1, 1, 0, 0), "created, skipped_sent, not_in_ongoing, waiting, dead letters")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ["10001", "10002"],
           "orders in Ongoing")
        for oid in ("10001", "10002"):
            check_lands_as_mapped(env, oid)
            eq(len(puts_of(env, oid)), 1, "PUTs of order %s" % oid)
        eq(env.redis.get_json("applied:orders:10003")["state"], "skipped", "10003 (sent)")
        eq(env.redis.get_json("applied:orders:10004")["state"], "not_in_ongoing",
           "10004 (cancelled while waiting)")

        # Exactly once: a poll and apply again, and a replay of the topic in
        # a new group, send nothing.
        writes = len(env.ongoing.writes())
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 0, "orders emitted by the next poll")
        env.apply_orders()
        _, replay, _ = env.apply_orders(extra=["--group", "order-filter-replay"])
        eq(replay["messages"], 10, "replayed messages")
        eq(len(env.ongoing.writes()), writes, "Ongoing writes after a poll, apply and replay")

        # 10002 is in Ongoing; the shop moves it back to awaiting payment. The
        # warehouse order stays as it is: no request, logged, recorded.
        before = request_body(env.ongoing.order("10002"))
        og_before = env.ongoing.stats()["requests"]
        set_status(env, "10002", "4")
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 1, "orders emitted after 10002 left the list")
        _, s, stderr = env.apply_orders()
        eq((s["waiting"], s["cancelled"], s["ongoing_requests"]), (1, 0, 0),
           "waiting, cancelled, Ongoing requests")
        eq(env.ongoing.stats()["requests"], og_before, "requests the Ongoing simulator saw")
        eq(request_body(env.ongoing.order("10002")), before, "10002 unchanged in Ongoing")
        check(env.ongoing.order("10002")["status"] != 1000, "10002 not cancelled in Ongoing")
        rec = env.redis.get_json("applied:orders:10002")
        eq((rec["state"], rec.get("in_ongoing")), ("waiting", True), "10002 record")
        check("order 10002" in stderr and "left as it is" in stderr,
              "leaving the Ongoing order alone is logged: %s" % stderr[-2000:])
        # reconcile agrees: an order waiting in Ongoing is nothing to repair
        # (neither missing nor one to cancel).
        eq(problems(reconcile(env, "orders")), {}, "reconcile while 10002 waits in Ongoing")

        # A cancel in Mystore still cancels it (cancelled is not in the list).
        set_status(env, "10002", "5")
        since = len(env.ongoing.writes())
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq(s["cancelled"], 1, "cancelled")
        eq([(w["method"], w["status"]) for w in env.ongoing.order_writes(since)],
           [("DELETE", 200)], "Ongoing writes for the cancel")
        eq(env.ongoing.order("10002")["status"], 1000, "10002 cancelled in Ongoing")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ["10001", "10002"],
           "orders in Ongoing at the end (10005 and 10006 still wait)")
        eq(dlq_messages(env), [], "dead letters at the end")


def test_order_filter_by_id_and_name_lands_directly_and_unset_sends_all():
    """Listed by id ("2") and by name ("Venter på betaling"): orders in
    either status land at the first apply, an untreated one waits, and
    `mosync reconcile` does not take the waiting order for a missing one.
    With the setting unset (today's rule), reconcile names it missing, and a
    replay of the same events sends it."""
    seed = shop_with_statuses(4, 43, ["2", "4", "1", "2"])
    with env_for("order-filter-ids", seed) as env:
        env.env["MYSTORE_ORDER_STATUSES"] = "2, Venter på betaling"
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq((s["created"], s["waiting"], s["dead_lettered"]), (3, 1, 0),
           "created, waiting, dead letters")
        eq(sorted(o["orderNumber"] for o in env.ongoing.orders()), ["10001", "10002", "10004"],
           "orders in Ongoing")
        for oid in ("10001", "10002", "10004"):
            check_lands_as_mapped(env, oid)
        eq(puts_of(env, "10003"), [], "writes of the waiting order")
        doc = reconcile(env, "orders")
        eq((problems(doc), doc["checked"] >= 4), ({}, True), "reconcile with the list")

        del env.env["MYSTORE_ORDER_STATUSES"]
        eq(problems(reconcile(env, "orders", expect_rc=1)), {"10003": ("missing", [])},
           "reconcile without the list")
        _, s, _ = env.apply_orders(extra=["--group", "order-filter-unset"])
        eq((s["messages"], s["created"], s["duplicates"], s["waiting"]), (4, 1, 3, 0),
           "replay without the setting: messages, created, duplicates, waiting")
        check_lands_as_mapped(env, "10003")
        eq(len(puts_of(env, "10003")), 1, "PUTs of 10003")


def test_order_filter_setting_checked():
    """A bad list stops every command with exit 2 naming the variable; a good
    one is printed by `mosync config` as the mapping receives it; a status no
    order of the shop can have is named by the poller (once a process) and by
    `mosync doctor` (M8 contradicted, exit 1)."""
    base = {"PATH": "/usr/bin:/bin", "KAFKA_BROKERS": "127.0.0.1:9"}
    for bad, why in (("Levert,,2", "item 2 is empty"), ("a\tb", "control character"),
                     (",".join(str(n) for n in range(40)), "more than 32"),
                     ("x" * 200, "longer than 127")):
        p = subprocess.run([MOSYNC, "config"], env=dict(base, MYSTORE_ORDER_STATUSES=bad),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        eq(p.returncode, 2, "exit status for %r" % bad)
        check("MYSTORE_ORDER_STATUSES" in err and why in err, "message for %r: %s" % (bad, err))
    p = subprocess.run([MOSYNC, "config"],
                       env=dict(base, MYSTORE_ORDER_STATUSES=" Under behandling ,4"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    eq(p.returncode, 0, "mosync config with a good list")
    eq(json.loads(p.stdout)["MYSTORE_ORDER_STATUSES"], ["Under behandling", "4"],
       "mosync config shows the list")

    seed = shop_with_statuses(2, 45, ["2", "1"])
    with env_for("order-filter-unknown", seed) as env:
        env.env["MYSTORE_ORDER_STATUSES"] = "Under behandling,Betalt,17"
        _, _, stderr = env.run(["poll", "mystore-orders", "--once"])
        warns = [l for l in stderr.splitlines() if "match no order status of the shop" in l]
        eq(len(warns), 1, "warnings in one cycle")
        check("'Betalt', '17'" in warns[0] and '"level":"warn"' in warns[0].replace(" ", ""),
              "the warning names both: %s" % warns[0])
        check("Under behandling" not in warns[0], "a known status is not named: %s" % warns[0])
        env.env["MYSTORE_ORDER_STATUSES"] = "Under behandling,processing,4"
        _, _, stderr = env.run(["poll", "mystore-orders", "--once"])
        check("match no order status" not in stderr, "no warning when every status is known")

    def add_status(shop_seed, _og):
        shop_seed["order_status"].append(dict(AWAITING_PAYMENT))

    with doctor_shop("order-filter-doctor", mutate=add_status) as s:
        rc, checks, _ = s.doctor(extra_env={"MYSTORE_ORDER_STATUSES": "Under behandling,Betalt"},
                                 expect_rc=1)
        eq(checks["M8"]["status"], "contradicted", "M8 with an unknown listed status")
        check("'Betalt'" in checks["M8"]["evidence"] and
              "Under behandling'" not in checks["M8"]["evidence"].split("MYSTORE_ORDER_STATUSES")[-1],
              "M8 names the unknown one only: %s" % checks["M8"]["evidence"])
        eq([i for i, c in checks.items() if c["status"] == "contradicted"], ["M8"], "contradicted")
        rc, checks, _ = s.doctor(
            extra_env={"MYSTORE_ORDER_STATUSES": "Under behandling,Awaiting payment"}, expect_rc=0)
        eq(checks["M8"]["status"], "confirmed", "M8 with known listed statuses")
        check("'Awaiting payment' is 4" in checks["M8"]["evidence"],
              "M8 evidence names the match: %s" % checks["M8"]["evidence"])
