"""Issue 8: `mosync replay <flow>` applies a range of a flow's topic again,
through today's mapping, in the flow's own consumer group (which must be
inactive).  Unchanged requests are skipped by their hash; --force sends them
again.  Real processes, real Redis and Kafka, the simulators over HTTP."""

import datetime
import json
import os
import subprocess
import time

from harness import MOSYNC, TestFailure, check, env_for, eq, wait_until
from seedgen import make_seed
from test_flows import catalogue, shop
from test_consumer import log_text

HH, BRING = "Helthjem", "Bring - Pakke i postkassen"
NEW_MAP = {"SHIPPING_METHOD_MAP": json.dumps({HH: {"code": "HH-NY", "name": "Helthjem ny"}})}


def seed_two_methods(n):
    """n orders, even ones shipped with Helthjem, odd ones with Bring."""
    seed = make_seed(orders=n, products=8, seed=88)
    for i, o in enumerate(seed["orders"]):
        o["attributes"]["shipping_method"] = HH if i % 2 == 0 else BRING
    return seed


def utc_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def touch(env, oid, address):
    """A change in Mystore the next poll turns into a new event."""
    order = env.mystore.get("/_sim/orders/%s" % oid)
    order["attributes"]["shipping_address_address"] = address
    order["attributes"].pop("updated_at", None)
    env.mystore.put("/_sim/orders/%s" % oid, order)


def written(env, since):
    """Order numbers written to Ongoing after write seq `since`, in order."""
    return [w["body"]["orderNumber"] for w in env.ongoing.order_writes(since)]


def last_seq(env):
    w = env.ongoing.writes()
    return w[-1]["seq"] if w else 0


def run_stdout(env, args, extra_env=None):
    """Runs mosync to completion; returns (rc, all of its stdout): the flow's
    summary, dry-run lines and the replay's summary."""
    p = subprocess.run([MOSYNC] + args, env=dict(env.env, **(extra_env or {})),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    log = os.path.join(env.workdir, "%02d-run-stdout.log" % len(env.logs))
    env.logs.append(log)
    with open(log, "wb") as f:
        f.write(p.stderr)
    if p.returncode != 0:
        raise TestFailure("mosync %s exited %s: %s" % (" ".join(args), p.returncode,
                                                        p.stderr.decode()[-3000:]))
    return p.returncode, p.stdout.decode()


def replay(env, args, extra_env=None, expect_rc=0):
    rc, summary, stderr = env.run(["replay", "orders"] + args, extra_env, expect_rc=expect_rc)
    return summary, stderr


def total(summary, outcome):
    return sum(p.get(outcome, 0) for p in summary["partitions"])


def test_replay_after_mapping_change():
    """Orders applied, a time T, some orders changed and applied, then the
    shipping-method mapping changes for Helthjem: a replay from T writes
    exactly the changed Helthjem orders again (with the new wayOfDelivery),
    skips the changed Bring orders as unchanged, and leaves every order from
    before T alone.  The same replay again writes nothing.  A dry run before
    it reports the differences, writes nothing and moves no offset of the
    real group."""
    seed = seed_two_methods(12)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("replay-mapping", seed) as env:
        env.poll_orders()
        env.apply_orders()
        eq(len(env.ongoing.orders()), 12, "orders in Ongoing")
        time.sleep(0.05)  # broker timestamps are ms: T is strictly after every event so far
        t = utc_now()
        time.sleep(0.05)
        later = ids[:6]  # three Helthjem (even), three Bring (odd)
        for oid in later:
            touch(env, oid, "Ny gate %s" % oid)
        env.poll_orders()
        seq = last_seq(env)
        env.apply_orders()
        eq(sorted(written(env, seq)), sorted(later), "the changed orders applied")
        affected = [oid for i, oid in enumerate(ids) if i < 6 and i % 2 == 0]

        # Dry run: the differences, no write, the real group untouched.
        seq = last_seq(env)
        rc, out = run_stdout(env, ["replay", "orders", "--from-time", t, "--dry-run"], NEW_MAP)
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        dry = {l["entity"]: l for l in lines if l.get("dry_run") == "orders"}
        eq(sorted(dry), sorted(later), "entities the dry run looked at")
        for oid in later:
            if oid in affected:
                check(any("wayOfDelivery" in d["field"] for d in dry[oid]["differences"]),
                      "dry run names wayOfDelivery for %s: %r" % (oid, dry[oid]))
            else:
                eq(dry[oid]["outcome"], "duplicate", "dry-run outcome of unaffected %s" % oid)
        eq(written(env, seq), [], "writes by the dry run")
        _, s, _ = env.apply_orders()
        eq(s["messages"], 0, "messages a regular applier finds after the dry run")

        # The real replay: exactly the affected orders.
        seq = last_seq(env)
        summary, _ = replay(env, ["--from-time", t], NEW_MAP)
        eq(sorted(written(env, seq)), sorted(affected), "orders the replay wrote")
        for oid in affected:
            eq(env.ongoing.order(oid)["wayOfDelivery"]["code"], "HH-NY",
               "wayOfDelivery of %s" % oid)
        for oid in ids[6:]:
            check(env.ongoing.order(oid)["wayOfDelivery"]["code"] != "HH-NY",
                  "order %s from before T untouched" % oid)
        eq(total(summary, "applied"), 3, "applied in the summary: %r" % summary)
        eq(total(summary, "unchanged"), 3, "unchanged in the summary: %r" % summary)
        eq(sum(p["to"] - p["from"] for p in summary["partitions"]), 6, "range of the replay")

        # Again, no change since: nothing is sent.
        seq = last_seq(env)
        summary, _ = replay(env, ["--from-time", t], NEW_MAP)
        eq(written(env, seq), [], "writes of the second replay")
        eq(total(summary, "unchanged"), 6, "unchanged in the second replay: %r" % summary)
        # The group is back where it was: a regular applier has nothing to do.
        _, s, _ = env.apply_orders(extra_env=NEW_MAP)
        eq(s["messages"], 0, "messages a regular applier finds after the replays")


def test_replay_refused_while_group_active():
    """While `apply orders` runs in the group, replay refuses, saying the
    group is active, and commits nothing; once it stops, the replay runs."""
    seed = seed_two_methods(6)
    with env_for("replay-active", seed) as env:
        env.poll_orders()
        env.apply_orders()
        p = env.spawn(["apply", "orders"])
        wait_until(lambda: "assigned " in log_text(p) or p.poll() is not None, 90,
                   "the applier to get its partitions")
        eq(p.poll(), None, "the applier running")
        _, stderr = replay(env, ["--from-offset", "0"], expect_rc=1)
        check("consumer group" in stderr and "is active" in stderr and
              "stop its appliers first" in stderr, "the refusal says why: %s" % stderr[-2000:])
        p.terminate()
        p.wait(30)
        # Nothing was rewound: a regular applier finds no message.
        _, s, _ = env.apply_orders()
        eq(s["messages"], 0, "messages after the refused replay")
        summary, _ = replay(env, ["--from-offset", "0"])
        eq(total(summary, "unchanged"), 6, "the replay after the applier stopped: %r" % summary)


def test_replay_from_offset_and_force():
    """--from-offset 0 --partition P replays only that partition; unchanged
    orders send nothing; with --force they are sent again (a PUT of the same
    order is idempotent in Ongoing)."""
    seed = seed_two_methods(12)
    with env_for("replay-offset", seed) as env:
        env.poll_orders()
        env.apply_orders()
        seq = last_seq(env)
        summary, _ = replay(env, ["--from-offset", "0"])
        eq(written(env, seq), [], "writes of an unforced replay with no change")
        parts = {p["partition"]: p for p in summary["partitions"]}
        eq(sum(p["to"] - p["from"] for p in parts.values()), 12, "events replayed")
        eq(total(summary, "unchanged"), 12, "unchanged: %r" % summary)
        big = max(parts.values(), key=lambda p: p["to"] - p["from"])
        check(big["to"] - big["from"] < 12, "the orders spread over partitions")

        seq = last_seq(env)
        summary, _ = replay(env, ["--from-offset", "0", "--partition", str(big["partition"]),
                                  "--force"])
        eq([p["partition"] for p in summary["partitions"]], [big["partition"]],
           "partitions replayed")
        w = written(env, seq)
        eq(len(w), big["to"] - big["from"], "orders forced again: %r" % w)
        eq(len(set(w)), len(w), "each order once")
        eq(total(summary, "applied"), len(w), "applied in the summary")
        eq(len(env.ongoing.orders()), 12, "orders in Ongoing (no duplicate)")
        _, s, _ = env.apply_orders()
        eq(s["messages"], 0, "messages a regular applier finds after the replay")


def test_replay_bad_input():
    """Bad input exits 2 with a message naming the option."""
    seed = make_seed(orders=2, products=4, seed=89)
    with env_for("replay-bad", seed) as env:
        env.poll_orders()
        cases = [
            (["replay", "parcels", "--from-offset", "0"], "unknown flow"),
            (["replay", "orders"], "--from-time or --from-offset"),
            (["replay", "orders", "--from-time", "2026-01-01T00:00:00Z", "--from-offset", "0"],
             "--from-time and --from-offset"),
            (["replay", "orders", "--from-time", "yesterday"], "--from-time 'yesterday'"),
            (["replay", "orders", "--from-time", "2026-01-02T00:00:00Z",
              "--to-time", "2026-01-01T00:00:00Z"], "--to-time must be after --from-time"),
            (["replay", "orders", "--from-offset", "-3"], "--from-offset '-3'"),
            (["replay", "orders", "--from-offset", "0", "--partition", "4"],
             "--partition 4 is out of range"),
            (["replay", "orders", "--from-time", "2026-01-01T00:00:00Z", "--partition", "1"],
             "--partition goes with --from-offset"),
        ]
        for args, want in cases:
            rc, _, stderr = env.run(args, expect_rc=None)
            eq(rc, 2, "exit status of %s" % " ".join(args))
            check(want in stderr, "%s names the problem (%r): %s" % (" ".join(args), want, stderr))


def test_replay_to_time_stops_there_and_keeps_the_group_ahead():
    """--to-time ends the range: of the orders changed between T1 and T2 and
    after T2, all Helthjem, only the first are written again after the
    mapping change; the group's offsets stay where the regular appliers
    left them (past T2), so they have nothing to do afterwards."""
    seed = seed_two_methods(8)
    ids = [o["id"] for o in seed["orders"]]
    hh = [oid for i, oid in enumerate(ids) if i % 2 == 0]  # four Helthjem orders
    with env_for("replay-to-time", seed) as env:
        env.poll_orders()
        env.apply_orders()
        time.sleep(0.05)
        t1 = utc_now()
        time.sleep(0.05)
        for oid in hh[:2]:
            touch(env, oid, "Mellom %s" % oid)
        env.poll_orders()
        time.sleep(0.05)
        t2 = utc_now()
        time.sleep(0.05)
        for oid in hh[2:]:
            touch(env, oid, "Etter %s" % oid)
        env.poll_orders()
        env.apply_orders()

        seq = last_seq(env)
        summary, _ = replay(env, ["--from-time", t1, "--to-time", t2], NEW_MAP)
        eq(sorted(written(env, seq)), sorted(hh[:2]), "orders written by the replay")
        eq(total(summary, "applied"), 2, "applied: %r" % summary)
        check(all(p["committed"] >= p["to"] for p in summary["partitions"]),
              "offsets not behind the range: %r" % summary)
        _, s, _ = env.apply_orders()
        eq(s["messages"], 0, "messages a regular applier finds after the replay")


def test_replay_force_of_deliveries_marks_nothing_twice():
    """A forced replay of ongoing.shipments re-derives each delivery from
    Mystore (the applied record is not trusted), finds the orders already
    levert, and writes nothing: no second status row, no second tracking."""
    seed = make_seed(orders=4, products=5, seed=90)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("replay-deliveries", seed) as env:
        env.poll_orders()
        env.apply_orders()
        for oid in ids:
            env.ongoing.post("/_sim/orders/%s/ship" % oid, {"wayBill": "WB%s" % oid})
        env.run(["poll", "ongoing-shipments", "--once"])
        _, s, _ = env.run(["apply", "deliveries", "--once", "--idle-ms", "2500"])
        eq(s["delivered"], 4, "delivered")
        n = len([w for w in env.mystore.writes() if w["method"] != "GET"])
        _, out = run_stdout(env, ["replay", "deliveries", "--from-offset", "0", "--force"])
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        flow, summary = lines[-2], lines[-1]
        eq(sum(p["to"] - p["from"] for p in summary["partitions"]), 4, "events replayed")
        eq(total(summary, "unchanged"), 4, "already levert: %r" % summary)
        # Forced: found so in Mystore, not taken from the applied record.
        eq((flow["already_sent"], flow["duplicates"]), (4, 0), "how it knew: %r" % flow)
        eq(len([w for w in env.mystore.writes() if w["method"] != "GET"]), n,
           "Mystore writes of the forced replay")


# ---- issue 12 ------------------------------------------------------------------

STOCK_ON = {"STOCK_SYNC": "on"}
DRY = {"DRY_RUN": "on"}


def pause():
    """Broker timestamps are milliseconds: a time taken between two pauses is
    strictly after every event before it and before every event after it."""
    time.sleep(0.05)


def replay_summary(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith('{"replay"')][-1]


def test_issue12_15_bounded_replay_after_flushall_leaves_the_newest_order():
    """Orders applied, then one changed and applied again; Redis loses every
    record (FLUSHALL); a replay bounded by --to-time to the first events
    sends the older version again, and must not leave it there: the order
    ends with its newest address in Ongoing, and the regular applier has
    nothing left to do."""
    seed = seed_two_methods(4)
    ids = [o["id"] for o in seed["orders"]]
    with env_for("i12-15-orders", seed) as env:
        pause()
        a = utc_now()
        pause()
        env.poll_orders()
        env.apply_orders()
        pause()
        b = utc_now()
        pause()
        touch(env, ids[0], "Nyeste gate 1")
        env.poll_orders()
        env.apply_orders()
        eq(env.ongoing.order(ids[0])["consignee"]["address1"], "Nyeste gate 1", "applied")
        env.redis.cmd("FLUSHALL")
        seq = last_seq(env)
        summary, _ = replay(env, ["--from-time", a, "--to-time", b])
        eq(sum(p["to"] - p["from"] for p in summary["partitions"]), 4, "range: the first events")
        eq(env.ongoing.order(ids[0])["consignee"]["address1"], "Nyeste gate 1",
           "order %s after the bounded replay (summary %r)" % (ids[0], summary))
        for oid in ids[1:]:
            eq(env.ongoing.order(oid)["consignee"]["address1"],
               seed["orders"][ids.index(oid)]["attributes"]["shipping_address_address"],
               "order %s" % oid)
        # Other partitions' orders may be written in between: what counts is
        # that this order's last write carries its newest version.
        mine = [w for w in env.ongoing.order_writes(seq) if w["body"]["orderNumber"] == ids[0]]
        check(len(mine) >= 2, "the older version was sent again, then the newest: %r" % mine)
        eq(mine[-1]["body"]["consignee"]["address1"], "Nyeste gate 1",
           "the newest version written last for %s" % ids[0])
        eq(sum(p.get("latest", {}).get("applied", 0) for p in summary["partitions"]), 1,
           "latest events applied: %r" % summary)
        _, s, _ = env.apply_orders()
        eq(s["messages"], 0, "messages a regular applier finds after the replay")


def test_issue12_15_bounded_replay_after_flushall_leaves_the_newest_stock():
    """Stock 10 applied, then 3 for one article; FLUSHALL; a replay bounded
    by --to-time to the first stock events writes 10 again, and must not
    leave it there: Mystore ends with 3, what Ongoing sells, and the other
    article keeps its 10."""
    prods, options, values = catalogue(plain=2, sized=0, coloured=0)
    skus = [p["attributes"]["sku"] for p in prods]
    articles = [{"articleNumber": sku, "articleName": "Vare %s" % sku,
                 "inventoryInfo": {"numberOfItems": 20, "sellableNumberOfItems": 10}}
                for sku in skus]

    def quantity(env, n):
        return env.mystore.get("/_sim/products/%s" % prods[n]["id"])["attributes"]["quantity"]

    with env_for("i12-15-stock", shop(products=(prods, options, values)),
                 ongoing_seed={"articles": articles}) as env:
        pause()
        a = utc_now()
        pause()
        env.run(["poll", "ongoing-stock", "--once"], extra_env=STOCK_ON)
        env.run(["apply", "stock", "--once", "--idle-ms", "2500"], extra_env=STOCK_ON)
        eq([quantity(env, 0), quantity(env, 1)], [10, 10], "stock applied")
        pause()
        b = utc_now()
        pause()
        env.ongoing.post("/_sim/articles/%s/stock" % skus[0],
                         {"numberOfItems": 20, "sellableNumberOfItems": 3})
        _, p, _ = env.run(["poll", "ongoing-stock", "--once"], extra_env=STOCK_ON)
        eq(p["emitted"], 1, "the change emitted")
        env.run(["apply", "stock", "--once", "--idle-ms", "2500"], extra_env=STOCK_ON)
        eq(quantity(env, 0), 3, "the new stock applied")
        env.redis.cmd("FLUSHALL")
        _, summary, _ = env.run(["replay", "stock", "--from-time", a, "--to-time", b],
                                extra_env=STOCK_ON)
        eq(sum(p["to"] - p["from"] for p in summary["partitions"]), 2, "range: the first events")
        eq([quantity(env, 0), quantity(env, 1)], [3, 10],
           "Mystore stock after the bounded replay (summary %r)" % summary)
        eq(sum(p.get("latest", {}).get("events", 0) for p in summary["partitions"]), 1,
           "latest events: the one change: %r" % summary)


def test_issue12_16_dry_run_replay_restores_a_group_that_had_no_offsets():
    """`replay --dry-run` in a dry-run group that never consumed (no offsets)
    leaves it as it found it: a later `DRY_RUN=on mosync apply orders` still
    sees every order, and nothing is written."""
    seed = seed_two_methods(6)
    with env_for("i12-16-restore", seed) as env:
        env.poll_orders()
        env.apply_orders()
        seq = last_seq(env)
        _, out = run_stdout(env, ["replay", "orders", "--from-offset", "0", "--dry-run"], NEW_MAP)
        summary = replay_summary(out)
        eq(summary["dry_run"], True, "the summary says dry run")
        eq(sum(p["to"] - p["from"] for p in summary["partitions"]), 6, "events replayed")
        _, s, _ = env.apply_orders(extra_env=DRY)
        eq(s["messages"], 6, "orders a later dry run sees")
        eq(written(env, seq), [], "writes")


def test_issue12_16_dry_run_from_the_environment_says_so():
    """DRY_RUN=on in the environment and no --dry-run: the replay runs dry
    and says so ("dry_run": true), writes nothing although the mapping
    changed, and leaves both the dry-run group and the real group where
    they were."""
    seed = seed_two_methods(6)
    with env_for("i12-16-env", seed) as env:
        env.poll_orders()
        env.apply_orders()
        _, s, _ = env.apply_orders(extra_env=DRY)
        eq(s["messages"], 6, "the dry run before")
        seq = last_seq(env)
        summary, _ = replay(env, ["--from-offset", "0"], dict(NEW_MAP, **DRY))
        eq(summary["dry_run"], True, "the summary says dry run: %r" % summary)
        eq(summary["group"], env.prefix + "mosync-dryrun-orders", "the group it ran in")
        eq(written(env, seq), [], "writes")
        _, s, _ = env.apply_orders(extra_env=DRY)
        eq(s["messages"], 0, "the dry-run group where it was")
        _, s, _ = env.apply_orders()
        eq(s["messages"], 0, "the real group where it was")
