"""Issue 12 item 23: `mosync reconcile <flow> [--since T] [--fix] [--json]`.

After an incident, or a migration from the integration mosync replaces, the
operator proves that nothing is missing: reconcile reads both systems through
the pipeline's own pieces (the pollers' sources and snapshots, the pure
mappings, the dry run's comparisons), lists what the target lacks or holds
differently, and with --fix emits those entities again as the pollers would
(a resync), so the appliers repair them.  Real processes, real Redis and
Kafka, the simulators over HTTP."""

from harness import TestFailure, check, env_for, eq, request_body
from seedgen import make_seed
from test_dryrun_doctor import og_put

FLOWS = ("articles", "orders", "deliveries", "stock")
IDLE = ["--once", "--idle-ms", "2000"]


def reconcile(env, flow, *opts, expect_rc=0):
    """Runs `mosync reconcile <flow> --json [opts]` (under MOSYNC_WRAPPER, as
    every command of the harness); returns its document."""
    _, doc, _ = env.run(["reconcile", flow, "--json"] + list(opts), expect_rc=expect_rc)
    check(doc is not None, "reconcile %s printed no JSON document" % flow)
    eq(doc["flow"], flow, "the document's flow")
    return doc


def problems(doc):
    """{entity: (reason, sorted differing fields)} of a reconcile document."""
    out = {}
    for p in doc["problems"]:
        check(p["entity"] not in out, "entity %s listed twice" % p["entity"])
        out[p["entity"]] = (p["reason"], sorted(d["field"] for d in p["differences"]))
    return out


def redis_state(env):
    """Every key of the tenant with its value, but the shared budget (the one
    write reconcile may make)."""
    state = {}
    for key in env.redis.cmd("KEYS", "mosync:{t1}:*") or []:
        if ":ratelimit:mystore" in key:  # the window and its sequence
            continue
        kind = env.redis.cmd("TYPE", key)
        if kind == "string":
            state[key] = env.redis.cmd("GET", key)
        elif kind == "hash":
            state[key] = sorted(env.redis.cmd("HGETALL", key))
        else:
            state[key] = kind
    return state


def apply_all(env):
    """Orders before articles: an order whose article is gone from Ongoing
    arrives before the article flow re-creates it (O4)."""
    for flow in ("orders", "articles", "deliveries", "stock"):
        env.run(["apply", flow] + IDLE)


def test_issue12_23_reconcile_finds_what_was_removed_behind_mosyncs_back_and_fix_repairs_it():
    """Every flow synced, reconcile finds nothing (an order the shop set to
    "Returnert" after it was delivered included).  Then, behind mosync's
    back: an order and the article of its first line deleted in Ongoing,
    another order's city changed there, an order cancelled in Mystore while
    Ongoing keeps it open, an article renamed in Ongoing, a delivered order's
    "levert" reset in Mystore, a variant's stock changed in Mystore.
    Reconcile lists exactly those with their reasons and exits 1, writing
    nothing (no API write, no Redis key); --fix emits them again, the appliers
    repair them, and reconcile then finds nothing.  An update Ongoing no
    longer allows (O1), and an open order the warehouse cancelled, are listed
    as such and --fix leaves them; `mosync resync`
    of an order cancelled in Mystore cancels it in Ongoing."""
    seed = make_seed(orders=8, products=10, seed=231)
    with env_for("i12-23", seed) as env:
        env.env["STOCK_SYNC"] = "on"
        env.run(["poll", "mystore-products", "--once"])
        env.run(["apply", "articles"] + IDLE)
        order1 = next(o for o in seed["orders"] if o["id"] == "10001")
        gone_article = order1["lines"][0]["attributes"]["sku"]
        arts = sorted(a["articleNumber"] for a in env.ongoing.get("/_sim/articles"))
        for n, no in enumerate(arts):
            # The article deleted below comes back without stock: it has none
            # from the start, so the stock case stays the one planted.
            env.ongoing.post("/_sim/articles/%s/stock" % no,
                             {"numberOfItems": 10,
                              "sellableNumberOfItems": 0 if no == gone_article else n % 4 + 1})
        env.poll_orders()
        env.run(["apply", "orders"] + IDLE)
        for oid in ("10005", "10006", "10007"):
            env.ongoing.post("/_sim/orders/%s/ship" % oid, {"wayBill": "WB" + oid})
        for stream in ("ongoing-shipments", "ongoing-stock"):
            env.run(["poll", stream, "--once"])
        env.run(["apply", "deliveries"] + IDLE)
        env.run(["apply", "stock"] + IDLE)
        eq(env.mystore.get("/_sim/orders/10006")["status_id"], "3", "10006 levert")
        # The shop moved 10006 on after it was delivered: its history holds
        # the "levert" row, and mosync never marks an order levert twice.
        env.mystore.post("/_sim/orders/10006/status", {"status_id": "6"})

        for flow in FLOWS:
            doc = reconcile(env, flow)
            eq(problems(doc), {}, "problems after a complete sync (%s)" % flow)
            check(doc["checked"] > 0, "%s: something was checked: %r" % (flow, doc))

        # ---- behind mosync's back ----
        env.ongoing.call("DELETE", "/_sim/orders/10001")
        env.ongoing.call("DELETE", "/_sim/articles/%s" % gone_article)
        body = request_body(env.ongoing.order("10002"))
        body["consignee"]["city"] = "Tromsø"
        og_put(env, "orders", body)
        env.mystore.post("/_sim/orders/10004/status", {"status_id": "5"})  # kansellert
        product_of = {}
        for p in seed["products"]:
            for v in p["variants"] or [{"attributes": p["attributes"]}]:
                product_of[v["attributes"]["sku"]] = p["id"]
        renamed = next(no for no in arts if product_of[no] != product_of[gone_article])
        body = next(a for a in env.ongoing.get("/_sim/articles") if a["articleNumber"] == renamed)
        body = {k: v for k, v in body.items()
                if k not in ("articleSystemId", "inventoryInfo", "stock", "numberOfItems",
                             "sellableNumberOfItems")}
        body["articleName"] = "Omdøpt av noen andre"
        og_put(env, "articles", body)
        reset = env.mystore.get("/_sim/orders/10005")
        reset.update({"status_id": "1", "history": []})
        reset["attributes"]["tracking_number"] = None
        del reset["attributes"]["updated_at"]
        env.mystore.put("/_sim/orders/10005", reset)
        product = next(p for p in seed["products"] if p["variants"])
        stored = env.mystore.get("/_sim/products/%s" % product["id"])
        changed_sku = stored["variants"][0]["attributes"]["sku"]
        stored["variants"][0]["attributes"]["quantity"] = 99
        del stored["attributes"]["updated_at"]
        env.mystore.put("/_sim/products/%s" % product["id"], stored)

        want = {
            "articles": {gone_article: ("missing", []),
                         renamed: ("different", ["articleName"])},
            "orders": {"10001": ("missing", []),
                       "10002": ("different", ["consignee.city"]),
                       "10004": ("not_cancelled", ["orderInfo.orderStatus.number"])},
            "deliveries": {"10005": ("not_levert", ["order_status", "tracking_number"])},
            "stock": {changed_sku: ("different", ["quantity"])},
        }
        og_writes, ms_writes = len(env.ongoing.writes()), len(env.mystore.writes())
        keys = redis_state(env)
        for flow in FLOWS:
            doc = reconcile(env, flow, expect_rc=1)
            eq(problems(doc), want[flow], "what reconcile %s found" % flow)
            eq(doc["fixed"], 0, "fixed without --fix")
        eq((len(env.ongoing.writes()), len(env.mystore.writes())), (og_writes, ms_writes),
           "writes to Ongoing and Mystore by reconcile without --fix")
        after = redis_state(env)
        eq(sorted(k for k in set(keys) | set(after) if keys.get(k) != after.get(k)), [],
           "Redis keys reconcile without --fix wrote (the budget aside)")

        for flow in FLOWS:
            doc = reconcile(env, flow, "--fix")
            eq(problems(doc), want[flow], "what reconcile %s --fix found" % flow)
            sources = {p["source"] for p in doc["problems"]}
            eq(doc["fixed"], len(sources), "entities re-emitted by reconcile %s --fix" % flow)
            eq({p["fix"] for p in doc["problems"]}, {"emitted"}, "each problem's fix")
        # `mosync resync` of an order cancelled in Mystore emits it with its
        # status, so the applier cancels it (it once came without: an upsert).
        env.mystore.post("/_sim/orders/10008/status", {"status_id": "5"})
        env.run(["resync", "orders", "10008"])
        apply_all(env)
        for flow in FLOWS:
            eq(problems(reconcile(env, flow)), {}, "problems after --fix and the appliers (%s)"
               % flow)
        eq(env.ongoing.order("10004")["status"], 1000, "10004 cancelled in Ongoing")
        eq(env.ongoing.order("10008")["status"], 1000, "10008 cancelled in Ongoing by a resync")
        eq(env.mystore.get("/_sim/orders/10005")["status_id"], "3", "10005 levert again")
        eq(env.mystore.get("/_sim/orders/10006")["status_id"], "6", "10006 left Returnert")

        # O1: an order Ongoing no longer lets be updated, and one the
        # warehouse cancelled while the shop keeps it open, are listed, not
        # fixed.
        body = request_body(env.ongoing.order("10003"))
        body["consignee"]["city"] = "Vardø"
        og_put(env, "orders", body)
        env.ongoing.post("/_sim/orders/10003/status", {"status": 300})
        env.ongoing.post("/_sim/orders/10002/status", {"status": 1000})
        doc = reconcile(env, "orders", "--fix", expect_rc=1)
        eq(problems(doc), {"10003": ("not_editable", ["consignee.city"]),
                           "10002": ("cancelled_in_ongoing", [])}, "not fixable (O1)")
        eq((doc["fixed"], {p["fix"] for p in doc["problems"]}), (0, {"not_fixable"}),
           "the fix of what mosync cannot change")



def test_issue12_23_reconcile_reads_a_list_that_shifts_while_paged_to_its_end():
    """Nothing synced yet, so every Mystore order is missing in Ongoing.  The
    order list (3 pages, M2: no order promised) is reordered after each of
    its first two pages and 3 orders are deleted after page 1: reconcile
    reads the list again until it holds still and lists every order that
    exists as missing, and calls its scan complete."""
    seed = make_seed(orders=130, products=10, seed=232)
    gone = [o["id"] for o in seed["orders"][40:43]]
    with env_for("i12-23-shift", seed) as env:
        env.mystore.post("/_sim/lists", {"reshuffle": 2, "seed": 5, "delete_orders": gone,
                                         "delete_after_pages": 1})
        doc = reconcile(env, "orders", expect_rc=1)
        exists = {o["id"] for o in seed["orders"]} - set(gone)
        found = problems(doc)
        eq(sorted(exists - set(found)), [], "existing orders not listed")
        eq({found[i][0] for i in exists}, {"missing"}, "what is listed of them")
        check(set(found) <= exists | set(gone), "only orders of the shop: %r" % sorted(found))
        eq(doc["complete"], True, "the scan is complete")


def test_issue12_23_reconcile_bad_usage_exits_2_naming_the_option():
    """Bad flows and options exit 2 with a message naming them, before any
    configuration or connection is needed."""
    import subprocess
    from harness import MOSYNC
    cases = [
        (["reconcile"], "flow"),
        (["reconcile", "parcels"], "parcels"),
        (["reconcile", "orders", "--since"], "--since"),
        (["reconcile", "orders", "--since", "yesterday"], "--since"),
        (["reconcile", "orders", "--since", "2026-11-20 10:00:00"], "--since"),
        (["reconcile", "orders", "--bogus"], "--bogus"),
        (["reconcile", "--fix"], "flow"),
    ]
    for args, named in cases:
        p = subprocess.run([MOSYNC] + args, env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        eq(p.returncode, 2, "exit status of mosync %s" % " ".join(args))
        check(named in err, "mosync %s names %s: %r" % (" ".join(args), named, err))
        eq(p.stdout, b"", "stdout of mosync %s" % " ".join(args))
    # stock needs STOCK_SYNC=on, as the stock flow does (checked before connecting)
    env = {"PATH": "/usr/bin:/bin", "MYSTORE_API_URL": "http://127.0.0.1:9",
           "MYSTORE_SHOP": "demo", "MYSTORE_TOKEN": "not-a-real-token",
           "ONGOING_API_URL": "http://127.0.0.1:9/wh", "ONGOING_USER": "u",
           "ONGOING_PASSWORD": "not-a-real-password", "ONGOING_GOODS_OWNER_ID": "1"}
    p = subprocess.run([MOSYNC, "reconcile", "stock"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 2 or b"STOCK_SYNC" not in p.stderr:
        raise TestFailure("reconcile stock without STOCK_SYNC: %s %r" % (p.returncode, p.stderr))
