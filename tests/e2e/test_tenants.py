"""The tenant registry (issue 13): `mosync tenant ...` and `--tenant T`.

A tenant's settings live in Redis with its secrets sealed by MOSYNC_SECRET_KEY;
a process started with --tenant T serves T with T's settings only (the
environment keeps the process's own: Kafka, Redis, the key)."""
import base64
import json
import os

from harness import (OG_PASSWORD, TENANT, TOKEN, MOSYNC, OngoingSim, check, dlq_messages, env_for,
                     eq, run_checked, topic_messages)
from seedgen import make_seed

# The variables a tenant owns; the rest of Env.env belongs to the process.
TENANT_VARS = ("MYSTORE_API_URL", "MYSTORE_SHOP", "MYSTORE_TOKEN", "MYSTORE_RATE_LIMIT_PER_MIN",
               "MYSTORE_INITIAL_LOOKBACK_H", "ONGOING_API_URL", "ONGOING_USER",
               "ONGOING_PASSWORD", "ONGOING_GOODS_OWNER_ID", "POLL_INTERVAL_S")
KEY = base64.b64encode(bytes(range(32))).decode()


def _process_env(env, key=KEY):
    """The environment of a process that serves registry tenants: no tenant settings."""
    e = {k: v for k, v in env.env.items() if k not in TENANT_VARS and k != "MOSYNC_TENANT"}
    e["MOSYNC_SECRET_KEY"] = key
    return e


def _tenant(env, args, stdin=None, key=KEY, expect=0):
    rc, out, err = run_checked([MOSYNC, "tenant"] + args, _process_env(env, key), 60,
                               "mosync tenant " + " ".join(args),
                               stdin=stdin.encode() if stdin is not None else None)
    eq(rc, expect, "mosync tenant %s exit status (stderr: %s)" % (" ".join(args),
                                                                  err.decode()[-500:]))
    return out.decode(), err.decode()


def _settings(env, **over):
    s = {k: env.env[k] for k in TENANT_VARS}
    s.update(over)
    return "".join("%s=%s\n" % kv for kv in s.items())


def _run(env, args, expect_rc=0, key=KEY):
    e = _process_env(env, key)
    return env.run(args, extra_env=e, expect_rc=expect_rc)


def _keys(env, tenant):
    return sorted(env.redis.cmd("KEYS", "mosync:{%s}:*" % tenant) or [])


def test_registry_tenant_is_served_with_its_own_settings():
    seed = make_seed(orders=12, products=10, seed=31)
    with env_for("tenant-served", seed) as env:
        # Without the registry the environment tenant works as before.
        _, poll, _ = env.poll_orders()
        eq(poll["orders_emitted"], 12, "orders the environment tenant emitted")
        _, apply, _ = env.apply_orders()
        eq(apply["created"], 12, "orders created for the environment tenant")
        env_keys = _keys(env, TENANT)
        check(env_keys, "the environment tenant wrote its keys")

        # shop2: the same shop, but its own warehouse (another goods owner).
        os.mkdir(os.path.join(env.workdir, "og2"))
        og2 = OngoingSim(os.path.join(env.workdir, "og2"), extra=["--goods-owner", "42"])
        try:
            _tenant(env, ["add", "shop2"], stdin=_settings(
                env, ONGOING_GOODS_OWNER_ID="42", ONGOING_API_URL=og2.base + "/wh"))
            out, _ = _tenant(env, ["list"])
            eq(out.split(), ["shop2"], "tenants listed")

            # The process has no shop settings of its own: they come from the registry.
            _, poll, _ = _run(env, ["poll", "mystore-orders", "--once", "--tenant", "shop2"])
            eq(poll["orders_emitted"], 12, "orders emitted for shop2 (its own cursor)")
            _, apply, _ = _run(env, ["apply", "orders", "--once", "--idle-ms", "2500",
                                     "--tenant", "shop2"])
            eq(apply["created"], 12, "orders created for shop2")
            eq(apply["dead_lettered"], 0, "dead letters of shop2's applier")
            owners = {w["body"]["goodsOwnerId"] for w in og2.writes()
                      if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders")}
            eq(owners, {42}, "goods owners of the orders written to shop2's warehouse")
            # The environment tenant's applier skips shop2's events (a registry
            # tenant has appliers of its own): nothing crosses over.
            n = len(env.ongoing.writes())
            _, apply, _ = env.apply_orders()
            eq(apply["messages"], 12, "shop2's events the environment tenant's applier read")
            eq(apply["dead_lettered"], 0, "dead letters of the environment tenant's applier")
            eq(len(env.ongoing.writes()), n, "writes to the environment tenant's warehouse")
        finally:
            og2.stop()
        tenants = {m["event"]["tenant"] for m in topic_messages(env, "mystore.orders")}
        eq(tenants, {TENANT, "shop2"}, "tenants of the events on the topic")
        check(_keys(env, "shop2"), "shop2 has keys of its own")

        # Secrets: sealed in Redis, masked by show, never in a log.
        record = env.redis.cmd("GET", "mosync:{shop2}:tenant")
        for secret in (TOKEN, OG_PASSWORD):
            check(secret not in record, "a secret is in clear text in the registry record")
        shown, _ = _tenant(env, ["show", "shop2", "--json"])
        shown = json.loads(shown)
        eq(shown["settings"]["MYSTORE_TOKEN"], "(set)", "the token as show prints it")
        eq(shown["settings"]["ONGOING_GOODS_OWNER_ID"], "42", "the goods owner as show prints it")
        for secret in (TOKEN, OG_PASSWORD):
            check(secret not in json.dumps(shown), "show printed a secret")
            check(secret not in env.all_logs(), "a secret reached a log")

        # Another key opens nothing: the process stops before any request.
        other = base64.b64encode(bytes(range(1, 33))).decode()
        _, _, err = _run(env, ["poll", "mystore-orders", "--once", "--tenant", "shop2"],
                         expect_rc=1, key=other)
        check("do not open with MOSYNC_SECRET_KEY" in err, "the wrong key is named: " + err[-300:])

        # Paused: its long-running commands refuse to serve it; resumed: served again.
        _tenant(env, ["pause", "shop2"])
        _, _, err = _run(env, ["poll", "mystore-orders", "--once", "--tenant", "shop2"],
                         expect_rc=1)
        check("is paused" in err, "a paused tenant is refused: " + err[-300:])
        _tenant(env, ["resume", "shop2"])
        _, poll, _ = _run(env, ["poll", "mystore-orders", "--once", "--tenant", "shop2"])
        eq(poll["orders_emitted"], 0, "orders emitted again after resume (none changed)")

        # Removing deletes every key of shop2 and none of another tenant.
        _tenant(env, ["remove", "shop2"], expect=2)  # without --yes
        check(_keys(env, "shop2"), "remove without --yes deleted nothing")
        _tenant(env, ["remove", "shop2", "--yes"])
        eq(_keys(env, "shop2"), [], "shop2's keys after remove")
        check(set(env_keys) <= set(_keys(env, TENANT)), "the other tenant's keys are kept")
        out, _ = _tenant(env, ["list"])
        eq(out.split(), [], "tenants listed after remove")
        _, _, err = _run(env, ["poll", "mystore-orders", "--once", "--tenant", "shop2"],
                         expect_rc=2)
        check("no such tenant" in err, "a removed tenant is unknown: " + err[-300:])


def test_tenant_settings_are_validated_and_secrets_never_arguments():
    seed = make_seed(orders=1, products=2, seed=32)
    with env_for("tenant-validate", seed) as env:
        # A process setting is not a tenant's; a bad value is named; nothing is stored.
        _, err = _tenant(env, ["add", "bad"], stdin=_settings(env) + "KAFKA_BROKERS=x\n", expect=2)
        check("KAFKA_BROKERS is not a tenant's setting" in err, err)
        _, err = _tenant(env, ["add", "bad"], stdin=_settings(env, MYSTORE_WEIGHT_UNIT="lb"),
                         expect=2)
        check("MYSTORE_WEIGHT_UNIT must be g or kg" in err, err)
        s = _settings(env).replace("MYSTORE_SHOP=%s\n" % env.env["MYSTORE_SHOP"], "")
        _, err = _tenant(env, ["add", "bad"], stdin=s, expect=2)
        check("MYSTORE_SHOP is not set" in err, err)
        _, err = _tenant(env, ["add", "bad/name"], stdin=_settings(env), expect=2)
        check("tenant name" in err, err)
        _, err = _tenant(env, ["add", "nokey"], stdin=_settings(env), key="", expect=2)
        check("MOSYNC_SECRET_KEY is not set" in err, err)
        eq(env.redis.cmd("KEYS", "mosync:{bad}:*"), [], "keys of a refused tenant")
        eq(env.redis.cmd("KEYS", "mosync:{nokey}:*"), [], "keys of a tenant without a key")

        # set merges, KEY= unsets, and the whole result is validated again.
        _tenant(env, ["add", "ok"], stdin=_settings(env))
        _tenant(env, ["add", "ok"], stdin=_settings(env), expect=1)  # exists
        _tenant(env, ["set", "ok"], stdin="STOCK_SYNC=on\nPOLL_INTERVAL_S=\n")
        shown = json.loads(_tenant(env, ["show", "ok", "--json"])[0])
        eq(shown["settings"].get("STOCK_SYNC"), "on", "a setting set")
        check("POLL_INTERVAL_S" not in shown["settings"], "a setting unset with KEY=")
        eq(shown["rev"], 2, "revision after one change")
        _tenant(env, ["set", "ok"], stdin="ONGOING_GOODS_OWNER_ID=abc\n", expect=2)

        # mosync config --tenant shows the tenant's values, secrets masked.
        rc, out, err = run_checked([MOSYNC, "config", "--tenant", "ok"],
                                   dict(_process_env(env), MYSTORE_SHOP="not-this-one"), 60,
                                   "mosync config --tenant ok")
        eq(rc, 0, "config --tenant exit status: " + err.decode()[-300:])
        cfg = json.loads(out)
        eq(cfg["MOSYNC_TENANT"], "ok", "the tenant config prints")
        eq(cfg["MYSTORE_SHOP"], env.env["MYSTORE_SHOP"], "the shop comes from the registry")
        eq(cfg["STOCK_SYNC"], True, "the tenant's STOCK_SYNC")
        eq(cfg["MYSTORE_TOKEN"], "(set)", "the token, masked")


def test_import_env_moves_the_environment_tenant_into_the_registry():
    seed = make_seed(orders=5, products=5, seed=33)
    with env_for("tenant-import", seed) as env:
        tokfile = os.path.join(env.workdir, "token")
        with open(tokfile, "w") as f:
            f.write(TOKEN + "\n")
        e = dict(env.env, MOSYNC_SECRET_KEY=KEY, MYSTORE_TOKEN_FILE=tokfile)
        del e["MYSTORE_TOKEN"]
        rc, out, err = run_checked([MOSYNC, "tenant", "import-env"], e, 60, "import-env")
        eq(rc, 0, "import-env exit status: " + err.decode()[-300:])
        shown = json.loads(_tenant(env, ["show", TENANT, "--json"])[0])
        for k in TENANT_VARS:
            check(k in shown["settings"], "%s imported" % k)
        # The imported tenant is served by a process without the tenant's variables,
        # the token read from its file at import.
        _, poll, _ = _run(env, ["poll", "mystore-orders", "--once", "--tenant", TENANT])
        eq(poll["orders_emitted"], 5, "orders emitted for the imported tenant")
        # A second import refuses to overwrite.
        rc, _, err = run_checked([MOSYNC, "tenant", "import-env"], e, 60, "import-env again")
        eq(rc, 1, "a second import-env exit status")
        check(b"exists" in err, err.decode())


def test_event_of_a_tenant_nobody_serves_is_a_dead_letter():
    seed = make_seed(orders=3, products=3, seed=34)
    with env_for("tenant-unknown", seed) as env:
        # A poller whose MOSYNC_TENANT is misspelt: its events belong to nobody.
        _, poll, _ = env.poll_orders(extra_env={"MOSYNC_TENANT": "t1-typo"})
        eq(poll["orders_emitted"], 3, "orders emitted by the misnamed poller")
        _, apply, _ = env.apply_orders()
        eq(apply["dead_lettered"], 3, "events of an unknown tenant dead-lettered")
        eq(len(env.ongoing.order_writes()), 0, "orders written for an unknown tenant")
        eq(len(dlq_messages(env)), 3, "dead letters")
