"""Issue 8: `mosync dlq list|show|redrive|purge` and the automatic
resolution of dead letters.

Orders dead-lettered during an Ongoing outage are re-driven after it and
applied once; an entity's dead letter is marked resolved when a later event
for it is applied; the states live on Kafka (mosync.dlq.state), so they and
the resolution survive an emptied Redis.  Real processes, real Redis, the
embedded broker, the simulators over HTTP."""

import json
import os
import subprocess

from harness import MOSYNC, SHOP, TENANT, WRAPPER, check, env_for, eq, wait_until
from seedgen import make_seed
from test_ops_status import status

ORDER_PUT = {"method": "PUT", "path": "/wh/api/v1/orders"}


def dlq(env, args, expect_rc=0):
    """Runs `mosync dlq <args>`; returns (rc, stdout, stderr) as text."""
    p = subprocess.run(WRAPPER + [MOSYNC, "dlq"] + args, env=env.env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=180)
    out, err = p.stdout.decode(), p.stderr.decode()
    with open(os.path.join(env.workdir, "dlq-%s.log" % "-".join(args[:1])), "a") as f:
        f.write("$ mosync dlq %s\n%s%s" % (" ".join(args), out, err))
    if expect_rc is not None:
        eq(p.returncode, expect_rc, "exit status of mosync dlq %s (stderr: %s)" % (
            " ".join(args), err[-1500:]))
    return p.returncode, out, err


def letters(env, *args):
    """`mosync dlq list --json <args>` as a list of dicts."""
    _, out, _ = dlq(env, ["list", "--json"] + list(args))
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def successful_puts(env, since=0):
    """orderNumber -> number of order PUTs Ongoing answered with success."""
    n = {}
    for w in env.ongoing.order_writes(since):
        if w["method"] == "PUT" and 200 <= w["status"] < 300:
            n[w["body"]["orderNumber"]] = n.get(w["body"]["orderNumber"], 0) + 1
    return n


def last_seq(env):
    return max([w["seq"] for w in env.ongoing.writes()] or [0])


def refuse_order(env, order_id, status=400):
    env.ongoing.post("/_sim/fault", dict(ORDER_PUT, match='"orderNumber":"%s"' % order_id,
                                         status=status, count=100000))


def touch_order(env, order_id):
    """Changes the order in the shop, so the poller emits a new event."""
    o = env.mystore.get("/_sim/orders/%s" % order_id)
    o["attributes"]["shipping_address_address"] = "Ny gate 7"
    o["attributes"].pop("updated_at", None)
    env.mystore.put("/_sim/orders/%s" % order_id, o)


def ongoing_address(env, order_id):
    """The order's consignee address in Ongoing, None while Ongoing has no such order."""
    status, body = env.ongoing.call("GET", "/_sim/orders/%s" % order_id)
    return body["consignee"]["address1"] if status == 200 else None


def test_dlq_redrive_after_outage():
    """Ongoing refuses every order write with 503 while it answers its status
    probe, so each order is dead-lettered after MAX_ATTEMPTS (2).  After the
    outage the letters are open; `dlq redrive --flow orders` puts them back;
    the applier applies each exactly once and resolves its letter; a second
    re-drive finds nothing open and sends nothing."""
    seed = make_seed(orders=6, products=8, seed=81)
    ids = sorted(o["id"] for o in seed["orders"])
    with env_for("dlq-redrive", seed) as env:
        env.ongoing.post("/_sim/fault", dict(ORDER_PUT, status=503, count=100000))
        env.poll_orders()
        _, s, _ = env.apply_orders(extra_env={"MAX_ATTEMPTS": "2"}, timeout=240)
        eq(s["dead_lettered"], len(ids), "orders dead-lettered during the outage")
        eq(successful_puts(env), {}, "orders Ongoing took during the outage")
        env.ongoing.call("DELETE", "/_sim/fault")

        open_ = letters(env)
        eq(sorted(l["key"] for l in open_), [TENANT + ":" + i for i in ids], "open letters")
        eq({(l["state"], l["flow"], l["error_class"]) for l in open_},
           {("open", "orders", "transient")}, "state, flow and class of the letters")
        eq(letters(env, "--flow", "articles"), [], "letters of another flow")
        eq(letters(env, "--class", "permanent"), [], "letters of another class")
        eq(letters(env, "--since", "2099-01-01T00:00:00Z"), [], "letters since a later time")
        eq(len(letters(env, "--until", "2099-01-01T00:00:00Z", "--entity", ids[0])), 1,
           "one order's letter before a later time")

        mark = last_seq(env)
        _, out, _ = dlq(env, ["redrive", "--flow", "orders"])
        check("%d re-driven, 0 failed" % len(ids) in out, "redrive summary: %r" % out)
        eq({l["state"] for l in letters(env, "--all")}, {"redriven"}, "states after redrive")
        eq(letters(env), [], "open letters after redrive")

        _, s, _ = env.apply_orders()
        eq(successful_puts(env, mark), {i: 1 for i in ids}, "each order applied once")
        eq(s["dead_lettered"], 0, "dead letters of the re-driven copies")
        after = letters(env, "--all")
        eq({(l["state"], l["state_by"]) for l in after}, {("resolved", "apply.orders")},
           "letters resolved by the applier")
        eq(len(after), len(ids), "letters")

        mark = last_seq(env)
        _, out, _ = dlq(env, ["redrive", "--flow", "orders"])
        check("no open dead letter matches" in out, "second redrive: %r" % out)
        env.apply_orders()
        eq(successful_puts(env, mark), {}, "writes after the second redrive")


def test_dlq_resolved_by_later_event():
    """An order Ongoing refuses for good (400) is dead-lettered at once; the
    shop changes it, the poller emits the new event, the applier applies it:
    its letter is "resolved" with no operator action; the other order's
    letter stays open."""
    seed = make_seed(orders=4, products=6, seed=82)
    ids = sorted(o["id"] for o in seed["orders"])
    fixed, stuck = ids[0], ids[1]
    with env_for("dlq-resolve", seed) as env:
        refuse_order(env, fixed)
        refuse_order(env, stuck)
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq(s["dead_lettered"], 2, "dead letters")
        eq({l["key"]: (l["state"], l["error_class"]) for l in letters(env)},
           {TENANT + ":" + fixed: ("open", "permanent"), TENANT + ":" + stuck: ("open", "permanent")},
           "open letters")
        env.ongoing.call("DELETE", "/_sim/fault")
        refuse_order(env, stuck)
        touch_order(env, fixed)
        env.poll_orders()
        env.apply_orders()
        eq(successful_puts(env).get(fixed), 1, "the changed order applied")
        states = {l["key"]: l for l in letters(env, "--all")}
        eq(states[TENANT + ":" + fixed]["state"], "resolved", "the changed order's letter")
        eq(states[TENANT + ":" + fixed]["state_by"], "apply.orders", "resolved by")
        eq(states[TENANT + ":" + stuck]["state"], "open", "the other order's letter")
        # The same through `dlq show --once`, which keeps its old lines.
        _, out, _ = dlq(env, ["show", "--once", "--entity", fixed])
        shown = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        eq([(m["key"], m["state"]) for m in shown], [(TENANT + ":" + fixed, "resolved")],
           "dlq show --once --entity")
        check("value_base64" in shown[0] and "mosync.error" in shown[0]["headers"],
              "dlq show keeps headers and value")


def test_dlq_state_survives_lost_redis():
    """Two letters, one purged; Redis is emptied (FLUSHALL).  `dlq list`
    still shows the states (they are on Kafka); a later success of the open
    letter's entity still resolves it (the applier rebuilds its index from
    Kafka), and the purged one stays purged."""
    seed = make_seed(orders=4, products=6, seed=83)
    ids = sorted(o["id"] for o in seed["orders"])
    gone, kept = ids[0], ids[1]
    with env_for("dlq-redis", seed) as env:
        refuse_order(env, gone)
        refuse_order(env, kept)
        env.poll_orders()
        env.apply_orders()
        by_key = {l["key"]: l["id"] for l in letters(env)}
        eq(sorted(by_key), sorted(TENANT + ":" + i for i in (gone, kept)), "open letters")
        _, out, _ = dlq(env, ["purge", "--id", by_key[TENANT + ":" + gone]])
        check("1 purged, 0 failed" in out, "purge summary: %r" % out)

        env.redis.cmd("FLUSHALL")
        eq({l["key"]: l["state"] for l in letters(env, "--all")},
           {TENANT + ":" + gone: "purged", TENANT + ":" + kept: "open"}, "states after FLUSHALL")

        env.ongoing.call("DELETE", "/_sim/fault")
        touch_order(env, kept)
        env.poll_orders()
        env.apply_orders()
        eq({l["key"]: l["state"] for l in letters(env, "--all")},
           {TENANT + ":" + gone: "purged", TENANT + ":" + kept: "resolved"},
           "states after the later success")
        eq(env.redis.cmd("EXISTS", "mosync:{%s}:dlq:index:v2" % TENANT), 1, "index rebuilt")


def test_dlq_redrive_refuses_without_filter_and_bad_input():
    """redrive and purge with no filter and no --id are refused (an operator
    should not re-drive everything by a typo); bad option values exit 2
    naming the option; a letter that does not exist is named."""
    seed = make_seed(orders=1, products=2, seed=84)
    with env_for("dlq-usage", seed) as env:
        for sub in ("redrive", "purge"):
            _, _, err = dlq(env, [sub], expect_rc=2)
            check("needs a filter" in err and "--all" in err, "%s refusal: %r" % (sub, err))
        cases = [(["list", "--class", "fatal"], "--class"),
                 (["redrive", "--class", "fatal"], "--class"),
                 (["list", "--since", "yesterday"], "--since"),
                 (["purge", "--until", "2026-13-01T00:00:00Z"], "--until"),
                 (["redrive", "--id", "3"], "--id"),
                 (["purge", "--id", "a:1"], "--id"),
                 (["list", "--flow", "order"], "--flow"),
                 (["list", "--state", "closed"], "--state"),
                 (["list", "--since", "2026-11-28T10:00:00Z", "--until",
                   "2026-11-28T09:00:00Z"], "--until"),
                 (["show", "--entity", "1"], "--once"),
                 (["list", "--bogus"], "--bogus"),
                 (["frob"], "list, show, redrive or purge")]
        for args, named in cases:
            _, _, err = dlq(env, args, expect_rc=2)
            check(named in err, "mosync dlq %s: message names %s: %r" % (" ".join(args), named,
                                                                          err))
        _, out, err = dlq(env, ["redrive", "--id", "0:99"], expect_rc=1)
        check("0:99" in err and "no such dead letter" in err, "unknown id: %r" % err)
        _, out, _ = dlq(env, ["redrive", "--all"])
        check("no open dead letter matches" in out, "nothing to re-drive: %r" % out)


def test_dlq_poller_letter_is_not_redriven_but_resolved():
    """A poller's letter (Mystore answered 404 for the order's lines) has no
    topic to go back to: `dlq redrive` says so for that letter, re-drives
    the applier's letter beside it, and exits 1.  Once the shop answers and
    the order changes, its new event is applied and resolves the poller's
    letter too (same flow, same key)."""
    seed = make_seed(orders=4, products=6, seed=85)
    ids = sorted(o["id"] for o in seed["orders"])
    polled, applied = ids[0], ids[1]
    with env_for("dlq-poller", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        env.mystore.post("/_sim/fault", {"method": "GET", "count": 100000, "status": 404,
                                         "path": "/shops/%s/orders/%s/order-products" % (
                                             SHOP, polled)})
        refuse_order(env, applied)
        _, s, _ = env.poll_orders()
        eq(s["dead_lettered"], 1, "the poller's dead letters")
        _, s, _ = env.apply_orders()
        eq(s["dead_lettered"], 1, "the applier's dead letters")
        by_key = {l["key"]: l for l in letters(env)}
        eq({k: l["component"] for k, l in by_key.items()},
           {TENANT + ":" + polled: "poll.mystore-orders", TENANT + ":" + applied: "apply.orders"},
           "open letters and their components")
        env.ongoing.call("DELETE", "/_sim/fault")

        _, out, err = dlq(env, ["redrive", "--flow", "orders"], expect_rc=1)
        poller_id = by_key[TENANT + ":" + polled]["id"]
        check("cannot re-drive %s" % poller_id in err and "came from the API" in err,
              "the poller's letter is named as not re-drivable: %r" % err)
        check("1 re-driven, 1 failed" in out, "redrive summary: %r" % out)
        eq({l["key"]: l["state"] for l in letters(env, "--all")},
           {TENANT + ":" + polled: "open", TENANT + ":" + applied: "redriven"},
           "states after the redrive")

        env.mystore.call("DELETE", "/_sim/fault")
        touch_order(env, polled)
        env.poll_orders()
        env.apply_orders()
        eq({l["key"]: l["state"] for l in letters(env, "--all")},
           {TENANT + ":" + polled: "resolved", TENANT + ":" + applied: "resolved"},
           "states once both orders are applied")
        eq(successful_puts(env).get(applied), 1, "the re-driven order applied once")


def test_dlq_redrive_of_a_cut_letter_reads_the_source():
    """A letter whose value was cut to fit Kafka (the applier's producer
    allows 2000 bytes here) is re-driven with the whole value read from its
    source topic, and the order is applied from it."""
    seed = make_seed(orders=2, products=6, seed=86)
    order = sorted(o["id"] for o in seed["orders"])[0]
    with env_for("dlq-cut", seed) as env:
        refuse_order(env, order)
        env.poll_orders()
        _, s, _ = env.apply_orders(extra_env={"KAFKA_PROP_message_max_bytes": "2000"})
        eq(s["dead_lettered"], 1, "dead letters")
        (letter,) = letters(env)
        eq(letter["truncated"], True, "the letter holds its value cut")
        env.ongoing.call("DELETE", "/_sim/fault")
        _, out, _ = dlq(env, ["redrive", "--entity", order])
        check("1 re-driven, 0 failed" in out, "redrive summary: %r" % out)
        mark = last_seq(env)
        env.apply_orders()
        eq(successful_puts(env, mark), {order: 1}, "the order applied from the whole value")
        eq([l["state"] for l in letters(env, "--all")], ["resolved"], "the letter's state")


def test_dlq_redrive_starts_attempts_from_zero():
    """The re-driven copy has a new offset, so its attempt count starts again:
    re-driven while Ongoing still refuses it, it gets MAX_ATTEMPTS (2) new
    attempts before its new letter, not one."""
    seed = make_seed(orders=2, products=6, seed=87)
    order = sorted(o["id"] for o in seed["orders"])[0]
    attempts2 = {"MAX_ATTEMPTS": "2"}
    with env_for("dlq-attempts", seed) as env:
        refuse_order(env, order, status=503)
        env.poll_orders()
        env.apply_orders(extra_env=attempts2)
        (first,) = letters(env)
        eq(first["attempts"], 2, "attempts of the first letter")
        dlq(env, ["redrive", "--entity", order])
        mark = last_seq(env)
        _, s, _ = env.apply_orders(extra_env=attempts2)
        eq(s["dead_lettered"], 1, "the re-driven copy dead-lettered again")
        eq(len([w for w in env.ongoing.order_writes(mark) if w["method"] == "PUT"]), 2,
           "requests for the re-driven copy")
        states = {l["id"]: (l["state"], l["attempts"]) for l in letters(env, "--all")}
        second = [i for i in states if i != first["id"]]
        eq(len(second), 1, "a second letter")
        eq((states[first["id"]], states[second[0]]), (("redriven", 2), ("open", 2)),
           "state and attempts of both letters")


def test_issue12_12_redrive_of_older_letter_leaves_newer_open():
    """Issue 12 item 12.  Two versions of one order are both refused (two
    letters).  Re-driving letter 1 applies version 1 and resolves letter 1
    only: letter 2 (a newer version) stays open, although the re-driven copy
    sits at a later offset than both.  Re-driving letter 2 then applies
    version 2 and resolves it, and Ongoing ends with version 2's address."""
    seed = make_seed(orders=2, products=6, seed=121)
    order = sorted(o["id"] for o in seed["orders"])[0]
    with env_for("issue12-12", seed) as env:
        refuse_order(env, order)
        env.poll_orders()
        touch_order(env, order)
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq(s["dead_lettered"], 2, "both versions dead-lettered")
        both = letters(env)
        eq(len(both), 2, "open letters of the order")
        first, second = sorted(both, key=lambda l: l["source_offset"])
        eq(first["source_partition"], second["source_partition"], "one partition per order")
        env.ongoing.call("DELETE", "/_sim/fault")

        _, out, _ = dlq(env, ["redrive", "--id", first["id"]])
        check("1 re-driven, 0 failed" in out, "redrive summary: %r" % out)
        env.apply_orders()
        eq({l["id"]: l["state"] for l in letters(env, "--all")},
           {first["id"]: "resolved", second["id"]: "open"},
           "re-driving letter 1 resolves letter 1 only")
        check(env.ongoing.order(order)["consignee"]["address1"] != "Ny gate 7",
              "Ongoing holds version 1 after its re-drive")

        _, out, _ = dlq(env, ["redrive", "--id", second["id"]])
        check("1 re-driven, 0 failed" in out, "redrive summary: %r" % out)
        env.apply_orders()
        eq({l["id"]: l["state"] for l in letters(env, "--all")},
           {first["id"]: "resolved", second["id"]: "resolved"},
           "re-driving letter 2 resolves it")
        eq(env.ongoing.order(order)["consignee"]["address1"], "Ny gate 7",
           "Ongoing ends with version 2's address")


def test_issue12_14_applier_does_not_wait_for_index_rebuild():
    """Issue 12 item 14.  40,000 letters of other orders lie on mosync.dlq
    and Redis is emptied (the index marker is gone).  The applier still
    applies the next events at once: the topics are read in the
    background, never on the message path (before, the first success waited
    for a full read of both topics, the messages behind it with it, and an
    order with letters for another read).  The marker gets set, expiring no
    later than the index it vouches for; the changed order's letter, applied
    meanwhile, is resolved; the 40,000 others stay open."""
    seed = make_seed(orders=4, products=6, seed=141)
    ids = sorted(o["id"] for o in seed["orders"])
    fixed = ids[0]
    marker = "mosync:{%s}:dlq:index:v2" % TENANT
    index = "mosync:{%s}:dlq:open:orders" % TENANT
    with env_for("issue12-14", seed, partitions=12) as env:
        refuse_order(env, fixed)
        env.poll_orders()
        _, s, _ = env.apply_orders()
        eq(s["dead_lettered"], 1, "the refused order's letter")
        env.run(["dlq", "dev-fill", "40000", "--pad", "100"])
        env.ongoing.call("DELETE", "/_sim/fault")
        for oid in ids[:3]:
            touch_order(env, oid)
        env.poll_orders()
        env.redis.cmd("FLUSHALL")

        env.spawn(["apply", "orders"])
        wait_until(lambda: all(ongoing_address(env, oid) == "Ny gate 7" for oid in ids[:3]), 30,
                   "the three changed orders applied while the index is rebuilt")
        wait_until(lambda: env.redis.cmd("EXISTS", marker) == 1, 60, "the index marker set")
        ttls = env.redis.cmd("EVAL", "return {redis.call('PTTL', KEYS[1]), "
                             "redis.call('PTTL', KEYS[2])}", 2, marker, index)  # one instant
        check(0 < ttls[0] <= ttls[1], "the marker expires no later than the index: %r" % ttls)
        wait_until(lambda: [l["state"] for l in letters(env, "--all", "--entity", fixed)] ==
                   ["resolved"], 30, "the changed order's letter resolved")
        eq(env.redis.cmd("HLEN", index), 40000, "keys with open letters in the index")
        _, st, _ = status(env, expect_rc=None)
        eq(st["dead_letters"]["by_component"], {"apply.orders": {"permanent": 40000}},
           "open letters in mosync status")
