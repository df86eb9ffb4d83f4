"""/metrics, /healthz and /readyz of the long-running commands (METRICS_PORT),
and `mosync healthcheck`.

/metrics is read with promtext.parse (a strict parser of the text format, not
grep), and its counters are compared with what the simulators counted over
HTTP (/_sim/stats, by User-Agent: each mosync process sends its own) and with
what Kafka and the Ongoing write log hold."""

import base64
import json
import signal
import subprocess
import urllib.error
import urllib.request

import promtext
from harness import (MOSYNC, OG_PASSWORD, OG_USER, TENANT, TOKEN, TestFailure, check, dlq_messages,
                     env_for, eq, free_port, topic_messages, wait_until)
from seedgen import make_seed


# ---------------------------------------------------------------- helpers

def http_get(port, path, timeout=30):
    """(status, body text) of GET http://127.0.0.1:port/path; (None, why) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def scrape(port):
    """/metrics parsed (promtext raises on anything the format does not allow)."""
    status, text = http_get(port, "/metrics")
    eq(status, 200, "GET /metrics status")
    return promtext.parse(text)


def family(fams, name):
    return fams.get(name) or promtext.Family(name)


def serve(env, args, extra_env=None):
    """Starts a long-running mosync command with METRICS_PORT; returns (proc, port)
    once /healthz answers."""
    port = free_port()
    proc = env.spawn(args, dict(extra_env or {}, METRICS_PORT=str(port)))

    def up():
        if proc.poll() is not None:
            raise TestFailure("mosync %s exited %s" % (" ".join(args), proc.returncode))
        return http_get(port, "/healthz", timeout=2)[0] == 200
    wait_until(up, 30, "/healthz of mosync %s" % " ".join(args))
    return proc, port


def user_agent(fams, proc):
    """The User-Agent of the process, from mosync_info, checked against its pid."""
    samples = family(fams, "mosync_info").samples
    eq(len(samples), 1, "mosync_info series")
    ua = samples[0][1]["user_agent"]
    check(ua.endswith(":%d)" % proc.pid), "user_agent %r is not process %d's" % (ua, proc.pid))
    eq(samples[0][1]["tenant"], TENANT, "mosync_info tenant")
    return ua


def quiet_snapshot(port, sims, timeout=30):
    """/metrics and the simulators' stats at one quiet moment: /metrics read
    before and after the stats must agree on mosync_api_requests_total, so no
    request of the process fell between the readings."""
    def attempt():
        before = scrape(port)
        stats = [s.stats() for s in sims]
        after = scrape(port)
        reqs = lambda f: sorted(family(f, "mosync_api_requests_total").samples,
                                key=lambda s: sorted(s[1].items()))
        return (after, stats) if reqs(before) == reqs(after) else None
    return wait_until(attempt, timeout, "a quiet moment to compare /metrics with the simulators",
                      interval=0.5)


def check_requests_equal_sim(fams, api, ua, stats, only_client=True):
    """mosync_api_requests_total of one API equals what its simulator counted
    for this process (by User-Agent); when the process is the simulator's only
    client, also per method against the simulator's routes."""
    f = family(fams, "mosync_api_requests_total")
    total = f.total(api=api, tenant=TENANT)
    eq(total, stats["by_agent"].get(ua, 0), "%s requests in /metrics vs the simulator's count "
       "for %s" % (api, ua))
    if not only_client:
        return total
    eq(stats["requests"], stats["by_agent"].get(ua, 0), "%s simulator: only this process called" % api)
    methods = {lbl["method"] for _, lbl, _ in f.samples if lbl["api"] == api}
    by_route = stats["by_route"]
    for m in methods | {r.split(" ", 1)[0] for r in by_route}:
        eq(f.total(api=api, method=m), sum(v for r, v in by_route.items() if r.split(" ", 1)[0] == m),
           "%s %s requests vs the simulator's routes" % (api, m))
    return total


def check_tenant_everywhere(fams):
    """Every series carries the tenant."""
    for f in fams.values():
        for name, lbl, _ in f.samples:
            eq(lbl.get("tenant"), TENANT, "tenant label of %s%s" % (name, lbl))


def check_no_secrets(port):
    """No secret in the metrics text (nor any part of the Basic credentials)."""
    text = http_get(port, "/metrics")[1] + http_get(port, "/readyz")[1]
    basic = base64.b64encode(("%s:%s" % (OG_USER, OG_PASSWORD)).encode()).decode()
    for secret in (TOKEN, OG_PASSWORD, basic):
        check(secret not in text, "a secret appears in /metrics or /readyz")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    eq(proc.wait(30), 0, "exit status on SIGTERM")


# ---------------------------------------------------------------- tests

def test_poller_metrics_equal_the_mystore_simulator():
    """A poller's /metrics: requests by method and status class equal the
    Mystore simulator's own counts for its User-Agent, events produced equal
    the topic's messages, one budget wait is counted, one cycle, the lease."""
    seed = make_seed(orders=30, products=10, seed=5)
    with env_for("metrics_poller", seed) as env:
        # Faults on the related URLs: the fallback path (M11).
        env.mystore.related_urls_only()
        # Two 503s on one order's totals: retried by the client, both counted as 5xx.
        env.mystore.post("/_sim/fault", {"method": "GET", "path": "/shops/demo/orders/10004/order-totals",
                                         "count": 2, "status": 503})
        # The whole budget of 1000 taken 50 s ago (on Redis's clock): the
        # first request waits until those leave the 61-second window, about
        # 11 s from now (room for a slow start, under valgrind), the rest not.
        sec, usec = (int(x) for x in env.redis.cmd("TIME"))
        score = str(sec * 1000 + usec // 1000 - 50000)
        args = ["ZADD", "mosync:{%s}:ratelimit:mystore" % TENANT]
        for i in range(1000):
            args += [score, "prefill-%d" % i]
        eq(env.redis.cmd(*args), 1000, "budget prefilled")

        proc, port = serve(env, ["poll", "mystore-orders"],
                           {"POLL_INTERVAL_S": "3600", "MYSTORE_RATE_LIMIT_PER_MIN": "1000"})
        wait_until(lambda: family(scrape(port), "mosync_poll_cycles_total").total(
            stream="mystore-orders") >= 1, 60, "the first poll cycle")
        fams, (ms_stats,) = quiet_snapshot(port, [env.mystore])

        ua = user_agent(fams, proc)
        eq(family(fams, "mosync_info").samples[0][1]["command"], "poll mystore-orders", "command label")
        total = check_requests_equal_sim(fams, "mystore", ua, ms_stats)
        check(total > 30, "the cycle read the orders (%s requests)" % total)
        reqs = family(fams, "mosync_api_requests_total")
        eq(reqs.total(api="mystore", status_class="5xx"), 2.0, "5xx answers")
        eq(ms_stats["faults_served"], 2, "faults the simulator served")
        eq(reqs.total(api="mystore", status_class="2xx"), total - 2, "2xx answers")
        eq(reqs.total(api="ongoing"), 0, "no Ongoing requests from the order poller")

        produced = family(fams, "mosync_events_produced_total").value(stream="mystore-orders",
                                                                         tenant=TENANT)
        eq(produced, 30.0, "events produced")
        eq(len(topic_messages(env, "mystore.orders")), 30, "messages in mystore.orders")

        eq(family(fams, "mosync_poll_cycles_total").value(result="ok", stream="mystore-orders",
                                                          tenant=TENANT), 1.0, "cycles ok")
        cyc = family(fams, "mosync_poll_cycle_seconds")
        check(cyc.type == "histogram", "poll cycle duration is a histogram")
        eq([v for n, l, v in cyc.samples if n.endswith("_count")], [1.0], "cycle durations observed")
        eq(family(fams, "mosync_lease_held").value(stream="mystore-orders", tenant=TENANT), 1.0,
           "lease held")
        eq(family(fams, "mosync_rate_limit_waits_total").value(api="mystore", tenant=TENANT), 1.0,
           "requests that waited for the budget")
        check(family(fams, "mosync_rate_limit_wait_seconds_total").value(api="mystore",
                                                                         tenant=TENANT) > 0,
              "time waited for the budget")
        check(family(fams, "mosync_last_success_timestamp_seconds").value(
            stream="mystore-orders", tenant=TENANT) is not None, "last success of the stream")
        check_tenant_everywhere(fams)
        check_no_secrets(port)
        stop(proc)


def test_consumer_metrics_equal_ongoing_writes_and_requests():
    """An applier's /metrics: messages by outcome equal the Ongoing write log
    and the dead letters, requests equal the Ongoing simulator's counts for its
    User-Agent, one retry, latency observed per applied order, lag 0 on every
    partition.  A second group replaying the topic counts everything
    unchanged and sends nothing."""
    seed = make_seed(orders=24, products=10, seed=6, bad_quantity_order="10005")
    seed["orders"][6]["status_id"] = "3"  # 10007 is sent ("Levert") in Mystore: skipped
    with env_for("metrics_consumer", seed) as env:
        env.poll_orders()
        env.ongoing.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                         "match": "10003", "count": 1, "status": 503})
        proc, port = serve(env, ["apply", "orders"])
        msgs = lambda f: family(f, "mosync_messages_total").total(flow="orders", tenant=TENANT)
        wait_until(lambda: msgs(scrape(port)) == 24, 90, "24 messages settled")
        fams, (og_stats,) = quiet_snapshot(port, [env.ongoing])

        ua = user_agent(fams, proc)
        check_requests_equal_sim(fams, "ongoing", ua, og_stats)
        reqs = family(fams, "mosync_api_requests_total")
        eq(reqs.total(api="ongoing", status_class="5xx"), 1.0, "the injected 503")
        eq(og_stats["faults_served"], 1, "faults the simulator served")
        eq(reqs.total(api="mystore"), 0, "no Mystore requests from the order applier")

        m = family(fams, "mosync_messages_total")
        created = [w for w in env.ongoing.writes()
                   if w["method"] == "PUT" and w["path"].endswith("/api/v1/orders") and w["status"] == 201]
        eq(m.value(flow="orders", outcome="applied", tenant=TENANT), float(len(created)),
           "applied vs orders Ongoing created")
        eq(len(created), 22, "orders created")
        eq(m.value(flow="orders", outcome="skipped", tenant=TENANT), 1.0, "skipped (sent in Mystore)")
        eq(m.value(flow="orders", outcome="dead_lettered", tenant=TENANT), 1.0, "dead-lettered")
        eq(sorted(l["outcome"] for _, l, _ in m.samples), ["applied", "dead_lettered", "skipped"],
           "outcomes (none unreported)")
        eq(len(dlq_messages(env)), 1, "dead letters in mosync.dlq")
        eq(family(fams, "mosync_dead_letters_total").value(component="apply.orders",
                                                           error_class="invalid", tenant=TENANT),
           1.0, "dead letters by class")
        eq(family(fams, "mosync_message_retries_total").value(flow="orders", tenant=TENANT), 1.0,
           "retries")
        lat = family(fams, "mosync_apply_latency_seconds")
        eq([v for n, l, v in lat.samples if n.endswith("_count")], [22.0], "latencies observed")
        check_tenant_everywhere(fams)
        check_no_secrets(port)

        # Lag: every partition of the topic, each at 0 once all is applied.
        group = env.prefix + "mosync-apply-orders"

        def lag_zero():
            f = family(scrape(port), "mosync_consumer_lag")
            parts = {l["partition"]: v for _, l, v in f.samples
                     if l["group"] == group and l["topic"] == env.prefix + "mystore.orders"}
            return parts if len(parts) == 4 and all(v == 0 for v in parts.values()) else None
        wait_until(lag_zero, 30, "lag 0 on the 4 partitions")
        stop(proc)

        # A replay in a new group: 23 unchanged (records hold their hashes),
        # the unmappable one dead-lettered again, no request at all.
        proc2, port2 = serve(env, ["apply", "orders", "--group", "metrics-replay"])
        wait_until(lambda: msgs(scrape(port2)) == 24, 90, "24 messages replayed")
        fams2, (og_stats2,) = quiet_snapshot(port2, [env.ongoing])
        m2 = family(fams2, "mosync_messages_total")
        eq(m2.value(flow="orders", outcome="unchanged", tenant=TENANT), 23.0, "unchanged on replay")
        eq(m2.value(flow="orders", outcome="dead_lettered", tenant=TENANT), 1.0, "dead on replay")
        ua2 = user_agent(fams2, proc2)
        eq(family(fams2, "mosync_api_requests_total").total(api="ongoing"), 0.0, "replay requests")
        eq(og_stats2["by_agent"].get(ua2, 0), 0, "the simulator saw no request of the replay")
        stop(proc2)


def test_lag_counts_the_messages_behind_a_stuck_one():
    """A message that keeps failing holds its partition: that partition's lag
    is the messages from it to the end (read back from Kafka), the others 0."""
    seed = make_seed(orders=16, products=6, seed=8)
    with env_for("metrics_lag", seed) as env:
        env.poll_orders()
        msgs = topic_messages(env, "mystore.orders")
        stuck = [m for m in msgs if m["key"] == TENANT + ":10002"][0]
        end = {}
        for m in msgs:
            end[m["partition"]] = max(end.get(m["partition"], 0), m["offset"] + 1)
        env.ongoing.post("/_sim/fault", {"method": "PUT", "path": "/wh/api/v1/orders",
                                         "match": "10002", "count": 100000, "status": 503})
        proc, port = serve(env, ["apply", "orders"], {"MAX_ATTEMPTS": "1000"})
        group = env.prefix + "mosync-apply-orders"
        want = {str(p): float(e - stuck["offset"] if p == stuck["partition"] else 0)
                for p, e in end.items()}
        check(want[str(stuck["partition"])] >= 1, "the stuck message counts")

        def lag():
            f = family(scrape(port), "mosync_consumer_lag")
            got = {l["partition"]: v for _, l, v in f.samples if l["group"] == group}
            return got == {p: want.get(p, 0.0) for p in got} and set(want) <= set(got)
        wait_until(lag, 60, "lag %r" % want)
        check(family(scrape(port), "mosync_message_retries_total").value(
            flow="orders", tenant=TENANT) >= 1, "the stuck message's retries are counted")
        stop(proc)


def test_readyz_healthz_and_healthcheck():
    """/healthz answers while the process runs; /readyz and `mosync
    healthcheck` say ready while Kafka, Redis and both APIs answer and not
    when Kafka or Redis is gone or an API refuses the credentials; the
    readiness of two processes costs each API one request in all."""
    seed = make_seed(orders=3, products=3, seed=9)
    with env_for("metrics_ready", seed) as env:
        proc1, p1 = serve(env, ["apply", "orders"])
        proc2, p2 = serve(env, ["apply", "articles"])
        status, body = http_get(p1, "/healthz")
        eq((status, json.loads(body)), (200, {"status": "ok"}), "/healthz")

        status, body = http_get(p1, "/readyz")
        eq(status, 200, "/readyz: %s" % body)
        eq(json.loads(body), {"ready": True, "checks": {"kafka": "ok", "redis": "ok",
                                                        "mystore": "ok", "ongoing": "ok"}},
           "/readyz answer")
        for _ in range(5):
            eq(http_get(p1, "/readyz")[0], 200, "/readyz again")
        eq(http_get(p2, "/readyz")[0], 200, "/readyz of the second process")
        # Neither process works with Mystore, neither had an Ongoing answer:
        # one probe each, by the first, shared with the second through Redis.
        eq(env.mystore.stats()["requests"], 1, "Mystore requests for readiness")
        eq(env.ongoing.stats()["requests"], 1, "Ongoing requests for readiness")

        hc_env = dict(env.env, METRICS_PORT=str(p1))
        hc = subprocess.run([MOSYNC, "healthcheck"], env=hc_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
        eq(hc.returncode, 0, "healthcheck exit while ready: %s" % hc.stderr.decode())
        eq(json.loads(hc.stdout)["ready"], True, "healthcheck prints /readyz")
        no_port = dict(env.env)
        no_port.pop("METRICS_PORT", None)
        hc = subprocess.run([MOSYNC, "healthcheck"], env=no_port, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
        eq(hc.returncode, 2, "healthcheck without METRICS_PORT")
        check(b"METRICS_PORT" in hc.stderr, "the message names METRICS_PORT")

        # The port taken: the next process says so and exits 2.
        taken = subprocess.run([MOSYNC, "apply", "deliveries"], env=dict(env.env, METRICS_PORT=str(p1)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        eq(taken.returncode, 2, "a second process on the same METRICS_PORT")
        check(b"METRICS_PORT" in taken.stderr, "the message names METRICS_PORT: %r" % taken.stderr)

        if env.kafka.kind == "mock":
            env.kafka.proc.send_signal(signal.SIGUSR1)  # every broker down
            wait_until(lambda: http_get(p1, "/readyz")[0] == 503, 40, "/readyz 503 without Kafka")
            checks = json.loads(http_get(p1, "/readyz")[1])["checks"]
            check(checks["kafka"].startswith("down"), "kafka check: %r" % checks)
            eq(checks["redis"], "ok", "redis still ok")
            hc = subprocess.run([MOSYNC, "healthcheck"], env=hc_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=60)
            eq(hc.returncode, 1, "healthcheck exit without Kafka")
            env.kafka.proc.send_signal(signal.SIGUSR2)
            wait_until(lambda: http_get(p1, "/readyz")[0] == 200, 60, "/readyz 200 with Kafka back")

        env.redis.stop()
        wait_until(lambda: http_get(p1, "/readyz")[0] == 503, 40, "/readyz 503 without Redis")
        checks = json.loads(http_get(p1, "/readyz")[1])["checks"]
        check(checks["redis"].startswith("down"), "redis check: %r" % checks)
        eq(http_get(p1, "/healthz")[0], 200, "/healthz while not ready")
        env.redis.start()
        wait_until(lambda: http_get(p1, "/readyz")[0] == 200, 60, "/readyz 200 with Redis back")

        # A token Mystore refuses: not ready, and the reason says so (another
        # tenant, so nothing shared by the processes above stands for it).
        proc3, p3 = serve(env, ["apply", "articles"], {"MYSTORE_TOKEN": "refused-token-123",
                                                       "MOSYNC_TENANT": "t2"})
        status, body = http_get(p3, "/readyz")
        eq(status, 503, "/readyz with a refused token: %s" % body)
        checks = json.loads(body)["checks"]
        check(checks["mystore"].startswith("down") and "403" in checks["mystore"],
              "mystore check names the refusal: %r" % checks)
        check("refused-token-123" not in body, "the token is not shown")
        for p in (proc1, proc2, proc3):
            stop(p)


def test_run_serves_every_flow_on_one_port():
    """`mosync run`: one server for every role; requests to each API equal
    the simulators' counts for the process, events produced equal messages
    applied, every series carries the tenant."""
    seed = make_seed(orders=12, products=5, seed=10)
    with env_for("metrics_run", seed) as env:
        proc, port = serve(env, ["run"], {"POLL_INTERVAL_S": "3600"})

        def settled():
            f = scrape(port)
            cycles = family(f, "mosync_poll_cycles_total")
            done = all(cycles.value(result="ok", stream=s, tenant=TENANT) == 1
                       for s in ("mystore-orders", "mystore-products", "ongoing-shipments"))
            produced = family(f, "mosync_events_produced_total")
            m = family(f, "mosync_messages_total")
            return done and all(
                m.total(flow=flow) == (produced.value(stream=stream, tenant=TENANT) or 0)
                for flow, stream in (("orders", "mystore-orders"), ("articles", "mystore-products"),
                                     ("deliveries", "ongoing-shipments")))
        wait_until(settled, 120, "every poller's first cycle applied")
        fams, (ms_stats, og_stats) = quiet_snapshot(port, [env.mystore, env.ongoing])
        ua = user_agent(fams, proc)
        eq(family(fams, "mosync_info").samples[0][1]["command"], "run", "command label")
        check_requests_equal_sim(fams, "mystore", ua, ms_stats)
        check_requests_equal_sim(fams, "ongoing", ua, og_stats)
        produced = family(fams, "mosync_events_produced_total")
        eq(produced.value(stream="mystore-orders", tenant=TENANT), 12.0, "orders produced")
        eq(produced.value(stream="mystore-products", tenant=TENANT), 5.0, "products produced")
        m = family(fams, "mosync_messages_total")
        eq(m.value(flow="orders", outcome="applied", tenant=TENANT), 12.0, "orders applied")
        eq(m.value(flow="articles", outcome="applied", tenant=TENANT), 5.0, "products applied")
        check(family(fams, "mosync_poll_cycles_total").total(stream="ongoing-stock") == 0,
              "stock is off: no stock cycles")
        check_tenant_everywhere(fams)
        check_no_secrets(port)
        stop(proc)
