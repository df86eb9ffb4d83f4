"""Issue 8: `mosync status [--json]` and scaling the order applier.

Status reads only Kafka and Redis: its lag is checked against what the test
itself counts on the topic (`mosync tail`), never against status's own
figures.  Scaling: three, then four, then three `mosync apply orders` share
the partitions, and every order reaches the Ongoing simulator exactly once.
Real processes, real Redis and Kafka, the simulators over HTTP."""

import collections
import copy
import json
import re
import signal
import subprocess

from harness import (MOSYNC, OG_PASSWORD, TOKEN, check, dlq_messages, env_for, eq,
                     only_on_mock, topic_messages, wait_until)
from seedgen import make_seed


def status(env, expect_rc=0, extra_env=None, human=False):
    """`mosync status` through the harness, exit 0 expected unless told."""
    return env.status(extra_env=extra_env, human=human, expect_rc=expect_rc)


def per_partition(messages):
    return collections.Counter(m["partition"] for m in messages)


def lag_by_partition(st, flow="orders"):
    lag = st["flows"][flow]["lag"]
    check(lag is not None, "lag of %s unknown: %s" % (flow, st["flows"][flow].get("lag_why")))
    return {p["partition"]: p["lag"] for p in lag["partitions"]}, lag


def add_orders(env, orders):
    """Puts orders (seed form) into the Mystore simulator, stamped now."""
    for o in orders:
        o = copy.deepcopy(o)
        o["attributes"].pop("updated_at", None)
        env.mystore.put("/_sim/orders/%s" % o["id"], o)


def split_seed(total, later, seed_no):
    seed = make_seed(orders=total, products=8, seed=seed_no)
    held_back = seed["orders"][total - later:]
    seed["orders"] = seed["orders"][:total - later]
    return seed, held_back


# ---------------------------------------------------------------- tests

def test_status_lag_equals_produced_minus_consumed():
    """Lag per partition = events the poller produced there (counted with
    `mosync tail`) minus what `apply orders` consumed: all of them before the
    first apply, none after it, the new ones after a second poll."""
    seed, later = split_seed(26, 6, 61)
    with env_for("status_lag", seed) as env:
        env.poll_orders()
        produced = topic_messages(env, "mystore.orders")
        eq(len(produced), 20, "events produced by the first poll")
        _, st, _ = status(env)
        by_part, lag = lag_by_partition(st)
        eq(lag["total"], len(produced), "lag before any apply = events produced")
        eq(by_part, {p: per_partition(produced).get(p, 0) for p in range(4)},
           "lag per partition = events in it")
        check(all(p["committed"] is None for p in lag["partitions"]),
              "never committed before the first apply")
        eq(st["flows"]["orders"]["last"]["ok_at"], None, "no apply success yet")

        env.apply_orders()
        eq(len(env.ongoing.orders()), 20, "orders in Ongoing")
        _, st, _ = status(env)
        by_part, lag = lag_by_partition(st)
        eq(lag["total"], 0, "lag after everything was applied")
        eq(set(by_part.values()), {0}, "every partition consumed")
        for p in lag["partitions"]:
            eq(p["committed"], p["high"], "committed = high watermark, partition %d" % p["partition"])
        check(st["flows"]["orders"]["last"]["ok_at"] is not None, "last success of apply.orders")
        check(0 <= st["flows"]["orders"]["last"]["ok_age_s"] < 300, "its age")

        add_orders(env, later)
        env.poll_orders()
        seen = {(m["partition"], m["offset"]) for m in produced}
        new = [m for m in topic_messages(env, "mystore.orders")
               if (m["partition"], m["offset"]) not in seen]
        eq(sorted(m["key"].split(":", 1)[1] for m in new), sorted(o["id"] for o in later),
           "the second poll produced exactly the new orders")
        _, st, _ = status(env)
        by_part, lag = lag_by_partition(st)
        eq(lag["total"], len(later), "lag = the new events")
        eq(by_part, {p: per_partition(new).get(p, 0) for p in range(4)},
           "lag per partition = new events in it")
        # The other flows were never consumed: their lag is what their topic
        # holds (nothing), not an error.
        eq(st["flows"]["articles"]["lag"]["total"], 0, "articles lag")
        eq(st["redis"]["reachable"], True, "redis reachable")
        eq(st["kafka"]["reachable"], True, "kafka reachable")


def test_status_reports_cursor_lease_budget_and_errors():
    """After a poll: the cursor (shop-local, with its age) and the budget use;
    while a poller runs: its lease holder; after applies failing with 5xx:
    apply.orders' last error with its class, and no secret anywhere."""
    seed = make_seed(orders=6, products=5, seed=62)
    with env_for("status_misc", seed) as env:
        env.run(["poll", "mystore-orders", "--once"], extra_env={"MYSTORE_RATE_LIMIT_PER_MIN": "500"})
        _, st, _ = status(env, extra_env={"MYSTORE_RATE_LIMIT_PER_MIN": "500"})
        cur = st["streams"]["mystore-orders"]["cursor"]
        check(cur is not None and isinstance(cur["position"], str), "cursor position: %r" % cur)
        check(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Europe/Oslo$", cur["position"]),
              "shop-local time with its zone: %r" % cur["position"])
        check(cur["position_utc"].endswith("Z"), "its UTC instant")
        # The cursor is the scan's start minus nothing: a few seconds old at most.
        check(0 <= cur["age_s"] < 120, "cursor age %r" % cur["age_s"])
        check(st["streams"]["mystore-orders"]["last"]["ok_at"] is not None, "poller last success")
        eq(st["streams"]["ongoing-stock"]["cursor"]["position"], None, "no stock cursor yet")
        budget = st["budget"]["mystore"]
        eq(budget["limit_per_min"], 500, "the configured limit")
        requests = sum(n for agent, n in env.mystore.stats()["by_agent"].items()
                       if agent.startswith("mosync/"))
        check(0 < budget["used_last_minute"] <= 500, "budget used: %r" % budget)
        eq(budget["used_last_minute"], requests, "budget used = requests the simulator saw")
        eq(st["budget"]["ongoing"], None, "Ongoing has no request budget")
        check(st["budget"]["ongoing_why"], "and says why")

        poller = env.spawn(["poll", "mystore-orders"])
        wait_until(lambda: status(env)[1]["streams"]["mystore-orders"]["lease"] is not None, 60,
                   "the running poller's lease")
        lease = status(env)[1]["streams"]["mystore-orders"]["lease"]
        check(("%d)" % poller.pid) in lease["holder"], "holder names the poller's pid: %r" % lease)
        check(lease["fence"] >= 1 and lease["expires_in_ms"] > 0, "fence and expiry: %r" % lease)

        env.ongoing.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/", "status": 503,
                                         "count": 100000})
        applier = env.spawn(["apply", "orders"])
        wait_until(lambda: status(env)[1]["flows"]["orders"]["last"]["error_at"] is not None, 90,
                   "apply.orders' last error")
        _, st, out = status(env)
        last = st["flows"]["orders"]["last"]
        eq(last["error_class"], "transient", "error class of a 503")
        check("503" in last["error"], "the error names the status: %r" % last["error"])
        eq(last["ok_at"], None, "no success")
        check(len(last["error"].encode()) <= 300, "error cut")
        _, text, _ = status(env, human=True)
        check("transient" in text and "mystore-orders" in text, "the table shows it:\n" + text)
        applier.send_signal(signal.SIGTERM)
        poller.send_signal(signal.SIGTERM)
        eq(applier.wait(30), 0, "applier exit")
        eq(poller.wait(30), 0, "poller exit")
        for secret in (TOKEN, OG_PASSWORD):
            check(secret not in out and secret not in text, "a secret in the status output")
            for k in env.redis.cmd("KEYS", "*lastrun*"):
                check(secret not in json.dumps(env.redis.cmd("HGETALL", k)), "a secret in %s" % k)


def test_status_without_redis():
    """Redis stopped: exit 1, the lag still reported, the Redis parts null
    with the reason."""
    seed = make_seed(orders=5, products=5, seed=63)
    with env_for("status_noredis", seed) as env:
        env.poll_orders()
        produced = len(topic_messages(env, "mystore.orders"))
        env.redis.stop()
        rc, st, _ = status(env, expect_rc=1)
        eq(st["redis"]["reachable"], False, "redis unreachable")
        check("redis" in st["redis"]["why"], "says why: %r" % st["redis"]["why"])
        eq(st["kafka"]["reachable"], True, "kafka reachable")
        eq(st["flows"]["orders"]["lag"]["total"], produced, "lag still reported")
        eq(st["streams"]["mystore-orders"]["cursor"], None, "cursor unknown")
        check("redis unreachable" in st["streams"]["mystore-orders"]["cursor_why"], "cursor_why")
        eq(st["flows"]["orders"]["last"], None, "last run unknown")
        eq(st["budget"]["mystore"], None, "budget unknown")
        rc, text, _ = status(env, expect_rc=1, human=True)
        check("redis unreachable" in text, "the table says so:\n" + text)


def test_status_dead_letters_and_without_kafka():
    """Dead letters by component and class equal what `mosync dlq show`
    lists; with the broker down: exit 1, the Redis parts still there, the
    Kafka parts null with the reason."""
    only_on_mock("takes the broker down")
    seed = make_seed(orders=6, products=5, seed=65)
    with env_for("status_nokafka", seed) as env:
        env.poll_orders()
        env.ongoing.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                         "status": 400, "count": 2})
        env.apply_orders()
        want = collections.Counter((m["headers"]["mosync.component"],
                                    m["headers"]["mosync.error.class"]) for m in dlq_messages(env))
        eq(sum(want.values()), 2, "dead letters listed by dlq show")
        _, st, _ = status(env)
        got = collections.Counter({(c, k): n for c, by in st["dead_letters"]["by_component"].items()
                                   for k, n in by.items()})
        eq(got, want, "dead letters by component and class")
        eq(st["flows"]["orders"]["last"]["error_class"], "permanent", "the last error's class")

        # Only open letters count: one purged, one left.
        letter = dlq_messages(env)[0]
        env.run(["dlq", "purge", "--id", "%d:%d" % (letter["partition"], letter["offset"])])
        _, st, _ = status(env)
        got = collections.Counter({(c, k): n for c, by in st["dead_letters"]["by_component"].items()
                                   for k, n in by.items()})
        eq(sum(got.values()), 1, "open dead letters after a purge")

        env.kafka.stop()
        rc, st, _ = status(env, expect_rc=1)
        eq(st["kafka"]["reachable"], False, "kafka unreachable")
        check("kafka unreachable" in st["flows"]["orders"]["lag_why"], "lag_why: %r" % st["flows"])
        eq(st["dead_letters"], None, "dead letters unknown")
        eq(st["redis"]["reachable"], True, "redis reachable")
        check(st["streams"]["mystore-orders"]["cursor"]["age_s"] is not None, "cursor still shown")
        check(st["flows"]["orders"]["last"]["ok_at"] is not None, "last success still shown")


def assigned_counts(proc):
    """The partition count this instance logged last (kafka.c: "... N in total")."""
    with open(proc._mosync_log.name, "rb") as f:
        text = f.read().decode(errors="replace")
    totals = re.findall(r'(?:assigned|revoked) \d+ partitions: (\d+) in total \(pid (\d+)', text)
    return int(totals[-1][0]) if totals else None


def test_scaling_three_four_three():
    """Three `apply orders` share 12 partitions; a fourth joins, one of the
    first three leaves (SIGTERM) while orders keep arriving; each logs its
    partition count (they add up to 12 whenever the group has settled), and
    every order is created in Ongoing exactly once, none missing."""
    seed, later = split_seed(60, 40, 64)
    with env_for("status_scaling", seed, partitions=12) as env:
        env.poll_orders()
        procs = [env.spawn(["apply", "orders"]) for _ in range(3)]

        def settled(ps):
            counts = [assigned_counts(p) for p in ps]
            return None not in counts and sum(counts) == 12 and all(c > 0 for c in counts)

        wait_until(lambda: settled(procs), 120, "three instances sharing 12 partitions")
        for i in range(0, 20, 5):
            add_orders(env, later[i:i + 5])
            env.poll_orders()
        procs.append(env.spawn(["apply", "orders"]))
        wait_until(lambda: settled(procs), 120, "four instances sharing 12 partitions")
        for i in range(20, 30, 5):
            add_orders(env, later[i:i + 5])
            env.poll_orders()
        leaving = procs.pop(0)
        leaving.send_signal(signal.SIGTERM)
        eq(leaving.wait(30), 0, "the leaving instance's exit")
        wait_until(lambda: settled(procs), 120, "three instances sharing 12 partitions again")
        for i in range(30, 40, 5):
            add_orders(env, later[i:i + 5])
            env.poll_orders()
        numbers = sorted(o["id"] for o in seed["orders"] + later)
        wait_until(lambda: sorted(o["orderNumber"] for o in env.ongoing.orders()) == numbers, 180,
                   "every order in Ongoing")
        wait_until(lambda: status(env)[1]["flows"]["orders"]["lag"]["total"] == 0, 60,
                   "lag 0 once everything is applied")
        created = collections.Counter(
            w["body"]["orderNumber"] for w in env.ongoing.order_writes()
            if w["method"] == "PUT" and 200 <= w["status"] < 300)
        eq(sorted(created), numbers, "every order created")
        eq([n for n, c in created.items() if c != 1], [], "orders created more than once")


# ---- issue 12 item 20: what a first-time operator trips on ----------------------

# A date and time as status prints one, and the zone right after it: "Z", or a
# space and a zone name ("Europe/Oslo", "UTC").
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?"
                  r"(?P<zone>Z|[+-]\d\d:?\d\d| UTC| [A-Za-z_]+/[A-Za-z0-9_+/-]+)?")


def times_without_zone(text):
    return [m.group(0) for m in TIME.finditer(text) if not m.group("zone")]


def json_strings(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from json_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from json_strings(x)
    elif isinstance(v, str):
        yield v


def test_issue12_20_status_shows_every_time_with_its_zone():
    """Every time `mosync status` prints, in the table and in JSON, carries
    its zone: UTC with Z, the Mystore cursor (shop time) with the zone's
    name; and that shop time is the instant status gives in UTC."""
    import datetime
    import zoneinfo
    seed = make_seed(orders=3, products=3, seed=66)
    with env_for("i12-20-zones", seed) as env:
        env.poll_orders()
        env.run(["poll", "ongoing-shipments", "--once"])
        _, text, _ = status(env, human=True)
        eq(times_without_zone(text), [], "times without a zone in the table:\n" + text)
        line = [l for l in text.splitlines() if l.strip().startswith("mystore-orders")][0]
        check("Europe/Oslo" in line, "the shop-local cursor names its zone: %r" % line)
        _, st, out = status(env)
        bare = [s for s in json_strings(st) if TIME.match(s) and not TIME.match(s).group("zone")]
        eq(bare, [], "times without a zone in the JSON")
        cur = st["streams"]["mystore-orders"]["cursor"]
        m = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+)$", cur["position"])
        check(m and m.group(2) == "Europe/Oslo", "position with its zone: %r" % cur)
        local = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=zoneinfo.ZoneInfo(m.group(2)))
        eq(local.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           cur["position_utc"], "the shop time and the UTC instant agree")
        check(st["streams"]["ongoing-shipments"]["cursor"]["position_utc"].endswith("Z"),
              "the Ongoing cursor in UTC: %r" % st["streams"]["ongoing-shipments"])


def test_issue12_20_status_without_kafka_says_so_once():
    """With the broker stopped: one clear line names Kafka, where it was
    looked for and why it did not answer; the flow rows and dead letters
    say unknown without repeating that error; none of librdkafka's own log
    lines reach stdout or stderr; exit 1.  In JSON too."""
    only_on_mock("takes the broker down")
    seed = make_seed(orders=3, products=3, seed=67)
    with env_for("i12-20-nokafka", seed) as env:
        env.poll_orders()
        env.kafka.stop()
        brokers = env.env["KAFKA_BROKERS"]
        for human in (True, False):
            e = dict(env.env)
            p = subprocess.run([MOSYNC, "status"] + ([] if human else ["--json"]), env=e,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            out, err = p.stdout.decode(), p.stderr.decode()
            what = "status%s" % ("" if human else " --json")
            eq(p.returncode, 1, "%s exit status" % what)
            rd = [l for l in (out + err).splitlines()
                  if '"component":"kafka"' in l or l.startswith("%")]
            eq(rd, [], "%s: librdkafka's own lines on the terminal" % what)
            if human:
                named = [l for l in out.splitlines() if brokers in l]
                eq(len(named), 1, "lines naming the brokers:\n" + out)
                check(re.match(r"^kafka\s+kafka unreachable at %s: \S" % re.escape(brokers),
                               named[0]), "the Kafka line: %r" % named[0])
                reason = named[0].split(brokers + ": ", 1)[1]
                eq([l for l in out.splitlines() if reason in l], named,
                   "the reason once, not on every flow:\n" + out)
                for flow in ("orders", "articles", "deliveries", "stock"):
                    row = [l for l in out.splitlines() if l.strip().startswith(flow + " ")][0]
                    check("lag unknown" in row, "%s row: %r" % (flow, row))
            else:
                st = json.loads(out)
                check(st["kafka"]["why"].startswith("kafka unreachable at %s: " % brokers),
                      "kafka.why: %r" % st["kafka"]["why"])
                for flow, f in st["flows"].items():
                    check(f["lag"] is None and "kafka unreachable" in f["lag_why"] and
                          st["kafka"]["why"] not in f["lag_why"], "%s: %r" % (flow, f))
