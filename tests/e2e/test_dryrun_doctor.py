"""Issue 8: the dry run (DRY_RUN=on) and `mosync doctor`.

The dry run is how a merchant moves from the integration mosync replaces: run
mosync beside it, compare what mosync would send with what the other system
already holds, and send nothing.  `mosync doctor` probes every assumption of
the API model (MODEL.md M1-M15, O1-O6) against the configured APIs, read-only.
Real processes, real Redis and Kafka, the simulators over HTTP."""

import base64
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import (MOSYNC, OG_PASSWORD, OG_USER, SHOP, TENANT, MystoreSim, OngoingSim, Redis,
                     TestFailure, check, dlq_messages, env_for, eq, map_order)
from seedgen import make_seed
from test_flows import basic_auth, catalogue, mosync_map, product_snapshot, shop

DRY = {"DRY_RUN": "on"}


def run_out(env, args, extra_env=None, expect_rc=0, timeout=300):
    """Runs mosync to completion; returns (rc, its stdout as text)."""
    e = dict(env.env, **(extra_env or {}))
    log = os.path.join(env.workdir, "%02d-%s.log" % (len(env.logs), "-".join(args[:2])))
    env.logs.append(log)
    with open(log, "wb") as err:
        p = subprocess.run([MOSYNC] + args, env=e, stdout=subprocess.PIPE, stderr=err,
                           timeout=timeout)
    with open(log[:-4] + ".out", "wb") as out:  # kept with the logs of a failed test
        out.write(p.stdout)
    if expect_rc is not None and p.returncode != expect_rc:
        with open(log, "rb") as f:
            tail = f.read().decode(errors="replace")[-3000:]
        raise TestFailure("mosync %s exited %s (expected %s); stderr tail:\n%s\nstdout:\n%s" % (
            " ".join(args), p.returncode, expect_rc, tail, p.stdout.decode()[-3000:]))
    return p.returncode, p.stdout.decode()


def run_lines(env, args, extra_env=None, expect_rc=0, timeout=300):
    """Runs mosync to completion; returns (rc, the JSON lines it printed on stdout)."""
    rc, out = run_out(env, args, extra_env, expect_rc, timeout)
    return rc, [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def og_put(env, what, body):
    """A write to the Ongoing API as the integration mosync replaces makes it."""
    status, answer = env.ongoing.call("PUT", "/wh/api/v1/%s" % what, body, headers=basic_auth())
    check(status in (200, 201), "PUT %s answered %s: %r" % (what, status, answer))


def dry_lines(lines, flow):
    """The dry-run lines of one flow, by entity (each entity once)."""
    out = {}
    for l in lines:
        if l.get("dry_run") == flow:
            check(l["entity"] not in out, "entity %s reported twice" % l["entity"])
            out[l["entity"]] = l
    return out


def fields(line):
    return sorted(d["field"] for d in line["differences"])


def redis_keys(env):
    return sorted(env.redis.cmd("KEYS", "mosync:{t1}:*") or [])


# ---- dry run: orders ----------------------------------------------------------

def test_dry_run_lists_exactly_the_planted_differences_and_writes_nothing():
    """Ongoing already holds the shop's orders (put there by the integration
    mosync replaces), a few with planted differences.  A dry run of `apply
    orders` lists exactly those differences, field by field, with the outcome
    the real run would have (create, update, refused, cancel, skip), and
    writes nothing: no request to either API, no applied record, no article
    mark, no dead letter (an order it cannot map is reported instead).  A real
    run afterwards is not changed by it, and a second dry run then finds
    nothing left to change but the refused order."""
    seed = make_seed(orders=11, products=12, seed=81, bad_quantity_order=10011)
    ids = [o["id"] for o in seed["orders"]][:10]
    A, B, C, D, E, F, G, H, I, J = ids
    K = "10011"  # its quantity is "abc": the real run would dead-letter it
    with env_for("dryrun-orders", seed) as env:
        mapped = {oid: map_order(env, env.mystore.snapshot(oid)) for oid in ids}
        bodies = {oid: m["order"] for oid, m in mapped.items()}
        for oid in ids:
            if oid == F:
                continue  # never reached Ongoing: the dry run would create it
            for a in mapped[oid]["articles"]:
                og_put(env, "articles", a)
            body = copy.deepcopy(bodies[oid])
            row = body["orderLines"][0]["rowNumber"]
            if oid == A:
                body["consignee"]["city"] = "Plantet by"
            elif oid == B:
                body["orderLines"][0]["numberOfItems"] += 5
            elif oid == C:
                body["customerPrice"] += 10
                body["emailNotification"]["value"] = "gammel@example.no"
            elif oid == D:
                extra = copy.deepcopy(body["orderLines"][0])
                extra["rowNumber"] = extra["externalId"] = "99999"
                body["orderLines"].append(extra)
            elif oid == E:
                body["consignee"]["postCode"] = "9999"
            og_put(env, "orders", body)
        env.ongoing.post("/_sim/orders/%s/status" % E, {"status": 300})
        env.mystore.post("/_sim/orders/%s/status" % G, {"status_id": "5"})  # kansellert
        env.mystore.post("/_sim/orders/%s/status" % H, {"status_id": "3"})  # levert
        env.ongoing.post("/_sim/reset-counters", {})
        env.mystore.post("/_sim/reset-counters", {})

        env.poll_orders()
        _, lines = run_lines(env, ["apply", "orders", "--once", "--idle-ms", "2500"], DRY)
        got = dry_lines(lines, "orders")
        eq(sorted(got), sorted(ids + [K]), "one dry-run line per order")
        eq((got[K]["outcome"], got[K]["differences"]), ("dead_letter", []), "order %s" % K)
        check("quantity" in got[K]["error"], "the reason: %r" % got[K]["error"])
        eq(dlq_messages(env), [], "dead letters of the dry run")

        row = {oid: bodies[oid]["orderLines"][0]["rowNumber"] for oid in ids}
        want = {
            A: ("update", ["consignee.city"]),
            B: ("update", ["orderLines[%s].numberOfItems" % row[B]]),
            C: ("update", ["customerPrice", "emailNotification.value"]),
            D: ("update", ["orderLines[99999]"]),
            E: ("refused", ["consignee.postCode"]),
            G: ("cancel", ["orderInfo.orderStatus.number"]),
            H: ("skip", []),
            I: ("no_difference", []),
            J: ("no_difference", []),
        }
        for oid, (outcome, names) in want.items():
            eq((got[oid]["outcome"], fields(got[oid])), (outcome, names), "order %s" % oid)
        a = {d["field"]: d for d in got[A]["differences"]}
        eq((a["consignee.city"]["would_send"], a["consignee.city"]["target_has"]),
           (bodies[A]["consignee"]["city"], "Plantet by"), "order %s city" % A)
        b = got[B]["differences"][0]
        eq((b["would_send"], b["target_has"]),
           (bodies[B]["orderLines"][0]["numberOfItems"],
            bodies[B]["orderLines"][0]["numberOfItems"] + 5), "order %s quantity" % B)
        eq(got[D]["differences"][0]["target_has"]["rowNumber"], "99999", "the extra line")
        eq(got[G]["differences"][0]["would_send"], 1000, "cancel status")
        eq(got[G]["differences"][0]["target_has"], 200, "open in Ongoing")
        eq([r["method"] + " " + r["path"].split("?")[0] for r in got[G]["requests"]],
           ["DELETE orders"], "the cancel it would send")
        # The order Ongoing never got: every field it would send, and a create.
        eq(got[F]["outcome"], "create", "order %s" % F)
        check("orderNumber" in fields(got[F]) and
              all(d["target_has"] is None for d in got[F]["differences"]),
              "create lists what it would send: %r" % got[F]["differences"])
        eq(got[F]["requests"][-1], {"method": "PUT", "path": "orders"}, "the create")

        # Nothing was sent, nothing recorded as applied.
        eq(env.ongoing.writes(), [], "writes to Ongoing")
        eq([w for w in env.mystore.writes() if w["method"] != "GET"], [], "writes to Mystore")
        keys = redis_keys(env)
        check(not [k for k in keys if ":applied:" in k or ":known:" in k or ":map:" in k],
              "the dry run left records behind: %r" % keys)
        dry_keys = [k for k in keys if ":dryrun:orders:" in k]
        eq(len(dry_keys), len(ids) + 1, "dry-run records")
        for k in dry_keys:
            ttl = env.redis.cmd("TTL", k)
            check(0 < ttl <= 7 * 86400, "%s expires (TTL %s)" % (k, ttl))
        rec = env.redis.get_json("dryrun:orders:%s" % A)
        eq((rec["outcome"], rec["requests"][-1]["body"]), ("update", bodies[A]),
           "the record keeps the request it would send")

        # The real run is untouched by the dry run: it sends the updates now...
        _, summary, _ = env.apply_orders()
        eq((summary["created"], summary["refused"], summary["cancelled"], summary["skipped_sent"],
            summary["dead_lettered"]), (7, 1, 1, 1, 1), "the real run after the dry run")
        # ...and a second dry run (its own group) finds only the refused order
        # different.  The applied records go first: with them every order is a
        # "duplicate" (the real run would send nothing), without them the dry
        # run compares each request with what Ongoing now holds.
        for k in redis_keys(env):
            if ":applied:orders:" in k:
                env.redis.cmd("DEL", k)
        _, lines = run_lines(env, ["apply", "orders", "--once", "--idle-ms", "2500",
                                   "--group", "dryrun-again"], DRY)
        again = dry_lines(lines, "orders")
        eq({oid: (l["outcome"], fields(l)) for oid, l in again.items()},
           dict({oid: ("no_difference", []) for oid in (A, B, C, D, F, I, J)},
                **{E: ("refused", ["consignee.postCode"]), G: ("already_cancelled", []),
                   H: ("skip", []), K: ("dead_letter", [])}),
           "after the real run")


# ---- dry run: articles, deliveries, stock -------------------------------------

def test_dry_run_of_articles_deliveries_and_stock_compares_and_sends_nothing():
    """The other three appliers in dry run: articles against Ongoing's
    articles, deliveries against the Mystore order, stock against the Mystore
    variant or product quantity.  Each lists exactly what differs, and neither
    API gets a write, nor Redis a record, map entry or look-up cache."""
    prods = catalogue(plain=2, sized=2, coloured=0)
    seed = shop(orders=3, products=prods, seed=82)
    oids = [o["id"] for o in seed["orders"]]
    with env_for("dryrun-others", seed) as env:
        articles = []
        for p in prods[0]:
            articles += mosync_map(env, "article", product_snapshot(env, p["id"]))["articles"]
        by_no = {a["articleNumber"]: a for a in articles}
        plain = [p["attributes"]["sku"] for p in prods[0] if not p["variants"]]
        variants = [a["articleNumber"] for a in articles if a["articleNumber"] not in plain]
        heavy, renamed, missing = variants[0], variants[1], variants[2]
        for a in articles:
            a = copy.deepcopy(a)
            if a["articleNumber"] == missing:
                continue
            if a["articleNumber"] == heavy:
                a["weight"] = 9.99
            if a["articleNumber"] == renamed:
                a["articleName"] = "Gammelt navn"
            og_put(env, "articles", a)
        # Three warehouse orders of Mystore orders: shipped with tracking,
        # shipped without, and one Mystore already has as "levert".
        for n, oid in enumerate(oids):
            og_put(env, "orders", {"goodsOwnerId": 1, "orderNumber": oid,
                                   "deliveryDate": "2026-11-27T10:00:00Z",
                                   "consignee": {"name": "Kunde %s" % oid},
                                   "orderLines": [{"rowNumber": "1", "articleNumber": plain[0],
                                                   "numberOfItems": 1}]})
            env.ongoing.post("/_sim/orders/%s/ship" % oid,
                             {"tracking": [{"waybill": "TRK%s" % oid}]} if n != 1 else {})
        env.mystore.post("/_sim/orders/%s/status" % oids[2], {"status_id": "3"})
        # Stock: one variant changes, one matches Mystore (3), a plain product changes.
        stock = {variants[3]: 8, variants[4]: 3, plain[0]: 5}
        for no, sellable in stock.items():
            env.ongoing.post("/_sim/articles/%s/stock" % no,
                             {"numberOfItems": sellable, "sellableNumberOfItems": sellable})
        env.ongoing.post("/_sim/reset-counters", {})
        env.mystore.post("/_sim/reset-counters", {})

        on = dict(DRY, STOCK_SYNC="on")
        env.run(["poll", "mystore-products", "--once"])
        env.run(["poll", "ongoing-shipments", "--once"])
        env.run(["poll", "ongoing-stock", "--once"], extra_env=on)
        lines = []
        for flow in ("articles", "deliveries", "stock"):
            lines += run_lines(env, ["apply", flow, "--once", "--idle-ms", "2500"], on)[1]

        got = dry_lines(lines, "articles")
        eq(sorted(got), sorted(by_no), "one line per article")
        for no, l in got.items():
            want = (("update", ["weight"]) if no == heavy else
                    ("update", ["articleName"]) if no == renamed else
                    ("create", fields(l)) if no == missing else ("no_difference", []))
            eq((l["outcome"], fields(l)), want, "article %s" % no)
        check("articleNumber" in fields(got[missing]), "a create lists what it sends")
        w = got[heavy]["differences"][0]
        eq((w["would_send"], w["target_has"]), (by_no[heavy]["weight"], 9.99), "weight values")

        got = dry_lines(lines, "deliveries")
        eq({k: (l["outcome"], fields(l)) for k, l in got.items()},
           {oids[0]: ("deliver", ["order_status", "tracking_number"]),
            oids[1]: ("deliver", ["order_status"]),
            oids[2]: ("already_sent", [])}, "deliveries")
        d = {x["field"]: x for x in got[oids[0]]["differences"]}
        eq(d["tracking_number"]["would_send"], "TRK%s" % oids[0], "tracking number")
        eq((d["order_status"]["would_send"], d["order_status"]["target_has"]),
           ({"id": "3", "name": "Levert"}, {"id": "1", "name": "Ubehandlet"}), "status")
        eq([r["method"] + " " + r["path"] for r in got[oids[0]]["requests"]],
           ["PATCH orders/%s" % oids[0], "POST order-status-history"], "the M9 writes")

        got = dry_lines(lines, "stock")
        want = {}
        for no in by_no:
            if no == missing:
                continue
            sellable = stock.get(no, 0)
            in_mystore = 0 if no in plain else 3  # the catalogue's quantities
            want[no] = ("write", ["quantity"]) if sellable != in_mystore else ("no_difference", [])
        eq({no: (l["outcome"], fields(l)) for no, l in got.items()}, want, "stock")
        q = got[variants[3]]["differences"][0]
        eq((q["would_send"], q["target_has"]), (8, 3), "variant quantity")

        eq(env.ongoing.writes(), [], "writes to Ongoing")
        eq([w for w in env.mystore.writes() if w["method"] != "GET"], [], "writes to Mystore")
        left = [k for k in redis_keys(env)
                if any(":%s:" % p in k for p in ("applied", "map", "known", "notfound", "product"))]
        eq(left, [], "records and caches a dry run must not write")


# ---- mosync doctor --------------------------------------------------------------

ALL_CHECKS = ["A1", "A2", "A3"] + ["M%d" % n for n in range(1, 18)] + ["M11i"] + \
    ["O%d" % n for n in range(1, 7)]


def b64url(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(scopes):
    """A token shaped like Mystore's (a Laravel Passport JWT); only the
    payload matters here, nothing checks the signature."""
    return "%s.%s.%s" % (b64url({"alg": "RS256", "typ": "JWT"}),
                         b64url({"aud": "7", "sub": "demo_1", "scopes": scopes,
                                 "no_mystore_hosts": [SHOP]}), "c2lnbmF0dXJl")


SCOPES = ["read:orders", "read:order-products", "read:order-product-attributes",
          "read:order-totals", "read:order-status", "read:order-status-history", "read:products",
          "read:product-variants", "read:product-options", "write:orders",
          "write:order-status-history", "write:product-variants", "write:products"]


def number(v):
    return None if v in (None, "") else float(v)


def doctor_seed(seed=5):
    """A shop for the doctor: 12 orders (the first sent, with the history that
    set it), 8 products whose variants say when they changed; and the
    warehouse as the integration mosync replaces left it: every SKU an article
    (weight in kg, the cost as stockValuationPrice), two orders of it, one
    shipped an hour ago."""
    shop_seed = make_seed(orders=12, products=8, seed=seed)
    first = shop_seed["orders"][0]
    first["status_id"] = "3"
    first["history"] = [
        {"id": "901", "status_id": "1", "comments": None, "customer_notified": 0,
         "created_at": first["attributes"]["created_at"]},
        {"id": "902", "status_id": "3", "comments": "Sendt", "customer_notified": 1,
         "created_at": first["attributes"]["updated_at"]}]
    articles = []
    for p in shop_seed["products"]:
        a = p["attributes"]
        for v in p["variants"]:
            v["attributes"]["updated_at"] = a["updated_at"]
        for sku, cost in ([(v["attributes"]["sku"], v["attributes"]["cost"]) for v in p["variants"]]
                          or [(a["sku"], a["cost"])]):
            art = {"articleNumber": sku, "articleName": "Vare %s" % sku,
                   "weight": number(a["weight"]) / 1000}
            if number(cost) is not None:
                art["stockValuationPrice"] = art["purchasePrice"] = number(cost)
            articles.append(art)
    shipped = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    og_orders = [{"orderNumber": o["id"], "deliveryDate": "2026-11-27T10:00:00Z",
                  "consignee": {"name": "Kunde %s" % o["id"]},
                  "orderLines": [{"rowNumber": "1", "articleNumber": articles[n]["articleNumber"],
                                  "numberOfItems": 1}]}
                 for n, o in enumerate(shop_seed["orders"][:2])]
    og_orders[0].update({"status": 450, "shippedTime": shipped,
                         "tracking": [{"waybill": "70712345678901234"}]})
    return shop_seed, {"articles": articles, "orders": og_orders}


class doctor_shop:
    """`with doctor_shop("name") as s:` Redis and the two simulators (the
    doctor needs no Kafka), started with extra flags; s.doctor(...) runs it."""

    def __init__(self, name, ms_extra=(), og_extra=(), mutate=None, token=None):
        self.name, self.ms_extra, self.og_extra = name, list(ms_extra), list(og_extra)
        self.mutate, self.token = mutate, token or jwt(SCOPES)

    def __enter__(self):
        self.workdir = tempfile.mkdtemp(prefix="mosync-e2e-%s-" % self.name)
        self.logs = []
        shop_seed, og_seed = doctor_seed()
        if self.mutate:
            self.mutate(shop_seed, og_seed)
        self.redis = Redis(self.workdir)
        self.mystore = MystoreSim(self.workdir, shop_seed, rate_limit=120,
                                  extra=["--token", self.token] + self.ms_extra)
        self.ongoing = OngoingSim(self.workdir, og_seed, extra=self.og_extra)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "REDIS_URL": "redis://127.0.0.1:%d/0" % self.redis.port,
                    "MOSYNC_TENANT": TENANT, "MYSTORE_API_URL": self.mystore.base,
                    "MYSTORE_SHOP": SHOP, "MYSTORE_TOKEN": self.token,
                    "ONGOING_API_URL": self.ongoing.base + "/wh", "ONGOING_USER": OG_USER,
                    "ONGOING_PASSWORD": OG_PASSWORD, "ONGOING_GOODS_OWNER_ID": "1",
                    "LOG_LEVEL": "info"}
        return self

    def doctor(self, args=(), extra_env=None, expect_rc=None):
        """Runs `mosync doctor --json`; returns (rc, {id: check}, the report)."""
        rc, out = run_out(self, ["doctor", "--json"] + list(args), extra_env, expect_rc=expect_rc)
        try:
            report = json.loads(out)
        except ValueError:
            raise TestFailure("doctor printed no JSON report: %r" % out[-2000:])
        return rc, {c["id"]: c for c in report["checks"]}, report

    def __exit__(self, exc_type, exc, tb):
        for s in (self.mystore, self.ongoing):
            s.stop()
        self.redis.stop()
        if exc_type is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif isinstance(exc, TestFailure):
            exc.args = (str(exc) + "\n(logs kept in %s)" % self.workdir,)
        return False


def contradicted(checks):
    return sorted(i for i, c in checks.items() if c["status"] == "contradicted")


def statuses(checks):
    return {i: c["status"] for i, c in checks.items()}


def test_doctor_confirms_every_assumption_against_the_simulators():
    """Against the simulators, which follow the API model, the doctor confirms
    every assumption (M1-M17, O1-O6) and access (A1-A3), exits 0, and never
    writes: both simulators' write logs stay empty."""
    with doctor_shop("doctor-ok") as s:
        rc, checks, report = s.doctor(expect_rc=0)
        eq(sorted(checks), sorted(ALL_CHECKS), "the checks reported")
        eq({i: c["status"] for i, c in checks.items() if c["status"] != "confirmed"}, {},
           "checks not confirmed (evidence: %s)" % json.dumps(
               {i: c["evidence"] for i, c in checks.items() if c["status"] != "confirmed"}))
        eq((report["confirmed"], report["contradicted"], report["unknown"]),
           (len(ALL_CHECKS), 0, 0), "summary")
        for i, c in checks.items():
            check(c["evidence"] and c["assumption"], "%s has evidence and a title" % i)
        check("120" in checks["M12"]["evidence"], "M12 names the limit: %s" % checks["M12"])
        check("exactly" in checks["M16"]["evidence"], "M16: %s" % checks["M16"]["evidence"])
        eq(s.mystore.writes(), [], "writes to Mystore")
        eq(s.ongoing.writes(), [], "writes to Ongoing")
        check(s.token not in json.dumps(report), "the token is never printed")
        # The human report says the same.
        p = subprocess.run([MOSYNC, "doctor"], env=s.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        eq(p.returncode, 0, "exit status of the human report")
        check("%d confirmed, 0 contradicted, 0 unknown" % len(ALL_CHECKS) in p.stdout.decode(),
              "human summary: %s" % p.stdout.decode()[-400:])


def test_doctor_names_weight_in_kg():
    """A shop that answers weights in kilograms while MYSTORE_WEIGHT_UNIT says
    grams: the doctor names M4 and nothing else as contradicted, from the
    warehouse's weights alone, and with one product's known weight it also
    confirms Ongoing's kilograms (O3)."""
    with doctor_shop("doctor-kg", ms_extra=["--weight-unit", "kg"]) as s:
        rc, checks, _ = s.doctor(expect_rc=1)
        eq(contradicted(checks), ["M4"], "contradicted")
        check("kg" in checks["M4"]["evidence"], "M4 evidence: %s" % checks["M4"]["evidence"])
        eq(checks["O3"]["status"], "unknown", "O3 without a known weight")
        eq([i for i, c in checks.items() if c["status"] == "unknown"], ["O3"], "unknown")
        sku = s.ongoing.get("/_sim/articles")[0]["articleNumber"]
        grams = [number(p["attributes"]["weight"]) for p in doctor_seed()[0]["products"]
                 if p["attributes"]["sku"] == sku or
                 sku in [v["attributes"]["sku"] for v in p["variants"]]][0]
        rc, checks, _ = s.doctor(["--known-weight", "%s=%gg" % (sku, grams)], expect_rc=1)
        eq(contradicted(checks), ["M4"], "contradicted with a known weight")
        eq((checks["M4"]["status"], checks["O3"]["status"]), ("contradicted", "confirmed"),
           "M4 and O3 with a known weight")
        # Configured for kilograms, the same shop is fine.
        rc, checks, _ = s.doctor(extra_env={"MYSTORE_WEIGHT_UNIT": "kg"}, expect_rc=0)
        eq(checks["M4"]["status"], "confirmed", "M4 with MYSTORE_WEIGHT_UNIT=kg")


def later(ts, hours):
    t = time.mktime(time.strptime(ts, "%Y-%m-%d %H:%M:%S")) + hours * 3600
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def test_doctor_names_each_broken_assumption():
    """One shop or setting at a time that contradicts one assumption: the
    doctor names exactly that one (or the ones that rest on the same fact),
    and exits 1."""
    def variant_after_product(shop_seed, og_seed):
        p = [p for p in shop_seed["products"] if p["variants"]][0]
        p["variants"][0]["attributes"]["updated_at"] = later(p["attributes"]["updated_at"], 1)

    def history_not_status(shop_seed, og_seed):
        shop_seed["orders"][0]["history"][1]["status_id"] = "2"

    def unknown_country(shop_seed, og_seed):
        shop_seed["orders"][3]["attributes"]["shipping_address_country"] = "Utopia"

    cases = [
        ("updated-at-filter-ignored", dict(ms_extra=["--ignore-filter", "updated_at"]), {},
         ["M14"]),
        ("sku-filter-ignored", dict(ms_extra=["--ignore-filter", "sku"]), {}, ["M16", "M17"]),
        ("pages-of-100", dict(ms_extra=["--page-max", "100"]), {}, ["M13"]),
        ("cost-hidden", dict(ms_extra=["--hide", "cost"]), {}, ["A3"]),
        ("hide-scope", dict(token=jwt(SCOPES + ["hide:cost"])), {}, ["A3"]),
        ("rate-limit-60", dict(ms_extra=["--rate-limit", "60"]), {}, ["M12"]),
        ("stock-window-12h", dict(og_extra=["--stock-window-h", "12"]), {}, ["O6"]),
        ("variant-after-product", dict(mutate=variant_after_product), {}, ["M3"]),
        ("history-not-status", dict(mutate=history_not_status), {}, ["M9"]),
        ("unknown-country", dict(mutate=unknown_country), {}, ["M5"]),
        ("sent-status-name", {}, {"MYSTORE_STATUS_SENT": "Sendt"}, ["M8"]),
        ("editable-status", {}, {"ONGOING_EDITABLE_STATUSES": "150,200,250"}, ["O1"]),
        ("wrong-token", dict(token=jwt(SCOPES)), {"MYSTORE_TOKEN": jwt(["read:orders"])}, ["A1"]),
        ("wrong-goods-owner", {}, {"ONGOING_GOODS_OWNER_ID": "2"}, ["A2"]),
    ]
    failures = []
    for name, kw, extra_env, want in cases:
        with doctor_shop("doctor-" + name, **kw) as s:
            rc, checks, _ = s.doctor(extra_env=extra_env)
            got = contradicted(checks)
            if (rc, got) != (1, want):
                failures.append("%s: exit %s, contradicted %s, want %s: %s" % (
                    name, rc, got, want, json.dumps({i: checks[i]["evidence"] for i in got})))
    check(not failures, "\n".join(failures))


def test_doctor_says_whether_include_is_supported():
    """M11i: a shop that answers include= with the same lines, options and
    totals as their URLs is "confirmed"; one that ignores it or refuses it
    (HTTP 400) is "unknown", saying it is not supported and that the poller
    reads the related URLs, with exit 0 (nothing is wrong); one whose
    compound answer leaves a related resource out says so.  Each answer is
    cached for the pollers in Redis (include:mystore-orders), yes only when
    confirmed."""
    cases = [("include-on", [], "confirmed", "supported: include=", True),
             ("include-off", ["--include", "off"], "unknown", "not supported: include= is "
              "ignored", False),
             ("include-refused", ["--include", "refuse"], "unknown", "include= refused", False)]
    failures = []
    for name, extra, status, words, cached in cases:
        with doctor_shop("doctor-" + name, ms_extra=extra) as s:
            rc, checks, _ = s.doctor()
            c = checks["M11i"]
            if (rc, c["status"]) != (0, status) or words not in c["evidence"]:
                failures.append("%s: exit %s, M11i %s: %s" % (name, rc, c["status"],
                                                              c["evidence"]))
            if status != "confirmed" and "reads each order's related URLs" not in c["evidence"]:
                failures.append("%s: the fallback is not named: %s" % (name, c["evidence"]))
            got = (s.redis.get_json("include:mystore-orders") or {}).get("supported")
            if got is not cached:
                failures.append("%s: cached %r, want %r" % (name, got, cached))
            if checks["M11"]["status"] != "confirmed":
                failures.append("%s: M11 %s" % (name, checks["M11"]))
    with doctor_shop("doctor-include-incomplete") as s:
        # Every order's totals rows named in the compound answer but left out.
        totals = [t["id"] for o in doctor_seed()[0]["orders"] for t in o["totals"]]
        s.mystore.post("/_sim/include", {"drop": [{"type": "order-totals", "id": t}
                                                  for t in totals]})
        rc, checks, _ = s.doctor()
        c = checks["M11i"]
        if (rc, c["status"]) != (0, "unknown") or "incomplete" not in c["evidence"]:
            failures.append("incomplete: exit %s, M11i %s: %s" % (rc, c["status"], c["evidence"]))
        if (s.redis.get_json("include:mystore-orders") or {}).get("supported") is not False:
            failures.append("incomplete: not cached as no")
    check(not failures, "\n".join(failures))


def test_doctor_names_timestamps_in_another_zone():
    """M1: a shop whose clock runs in another zone (Tokyo) than
    MYSTORE_TIMEZONE (Oslo) stamps a change hours ahead of the server's clock
    read in Oslo time."""
    with doctor_shop("doctor-zone", ms_extra=["--timezone", "Asia/Tokyo"]) as s:
        s.mystore.post("/_sim/orders/10005/status", {"status_id": "2"})  # stamped now, Tokyo
        rc, checks, _ = s.doctor(expect_rc=1)
        eq(contradicted(checks), ["M1"], "contradicted")
        check("ahead" in checks["M1"]["evidence"], "M1: %s" % checks["M1"]["evidence"])


# Which checks need which Mystore list: a check whose list could not be read
# cannot be confirmed (nor contradicted) by what it did not read.
NEEDS_PRODUCTS = ["A3", "M1", "M3", "M4", "M10", "M11", "M16", "M17", "O2", "O3"]
NEEDS_ORDERS = ["M1", "M2", "M5", "M6", "M7", "M9", "M11", "M11i", "M13", "M14"]


def test_issue12_18_doctor_says_unknown_when_it_could_not_read():
    """Products answering 403 or 500, or orders answering 500 (every request
    of that list, as a simulator fault): the checks that need that list are
    "unknown", their evidence naming the HTTP status and what was asked;
    nothing of that list is "confirmed"; the doctor exits non-zero (3 when
    nothing is contradicted, 1 when the 403 refuses the token access, A1);
    the human report says it too."""
    cases = [("products", 403, NEEDS_PRODUCTS, "contradicted", 1),
             ("products", 500, NEEDS_PRODUCTS, "unknown", 3),
             ("orders", 500, NEEDS_ORDERS, "unknown", 3)]
    failures = []
    for what, status, needs, a1, want_rc in cases:
        with doctor_shop("doctor-%s-%d" % (what, status)) as s:
            s.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/%s/%s" % (SHOP, what),
                                           "status": status, "count": 100000})
            rc, checks, report = s.doctor()
            name = "%s %d" % (what, status)
            if rc != want_rc:
                failures.append("%s: exit %s, want %s" % (name, rc, want_rc))
            if checks["A1"]["status"] != a1 or str(status) not in checks["A1"]["evidence"]:
                failures.append("%s: A1 %s: %s" % (name, checks["A1"]["status"],
                                                   checks["A1"]["evidence"]))
            for i in needs:
                c = checks[i]
                if c["status"] != "unknown" or str(status) not in c["evidence"] or \
                        what not in c["evidence"]:
                    failures.append("%s: %s %s: %s" % (name, i, c["status"], c["evidence"]))
            others = [i for i in ALL_CHECKS if i not in needs + ["A1"]]
            if any(checks[i]["status"] != "confirmed" for i in others):
                failures.append("%s: checks that do not need %s are still confirmed: %s" % (
                    name, what, json.dumps({i: checks[i] for i in others
                                            if checks[i]["status"] != "confirmed"})))
            if report["unknown"] != len(needs) + (a1 == "unknown"):
                failures.append("%s: %d unknown" % (name, report["unknown"]))
            p = subprocess.run([MOSYNC, "doctor"], env=s.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120)
            out = p.stdout.decode()
            if p.returncode != want_rc or "HTTP %d" % status not in out:
                failures.append("%s: human report exit %s: %s" % (name, p.returncode, out[-1500:]))
    check(not failures, "\n".join(failures))
