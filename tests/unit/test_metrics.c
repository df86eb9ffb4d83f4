/* The metrics registry: Prometheus text, label escaping, histograms, series
 * removal and cap; what common/ counts into it (API requests, budget waits);
 * METRICS_PORT. */
#include "unit.h"
#include "ut_net.h"
#include "common/config.h"
#include "common/http.h"
#include "common/metrics.h"
#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

UT_TEST(metrics_render_counters_gauges_histograms)
{
    unsigned long misuse = mt_misuse();
    mt_add("mosync_messages_total", 2, "flow", "orders", "outcome", "applied", "tenant", "t1",
           NULL);
    mt_add("mosync_messages_total", 1, "flow", "orders", "outcome", "applied", "tenant", "t1",
           NULL);
    mt_set("mosync_consumer_lag", 7, "group", "g", "topic", "a\"b\\c\nd", "partition", "0", NULL);
    mt_observe("mosync_apply_latency_seconds", 0.3, "flow", "orders", NULL);
    mt_observe("mosync_apply_latency_seconds", 4000, "flow", "orders", NULL);
    UT_CHECK(mt_misuse() == misuse, "valid updates counted as misuse");
    UT_CHECK(mt_value("mosync_messages_total", "flow", "orders", "outcome", "applied", "tenant",
                      "t1", NULL) == 3,
             "counter value");
    char *t = mt_render();
    UT_CHECK(t != NULL, "render");
    UT_CHECK(strstr(t, "# TYPE mosync_messages_total counter\n") != NULL, "TYPE line: %s", t);
    UT_CHECK(strstr(t, "mosync_messages_total{flow=\"orders\",outcome=\"applied\",tenant=\"t1\"} "
                       "3\n") != NULL,
             "counter sample: %s", t);
    UT_CHECK(strstr(t, "topic=\"a\\\"b\\\\c\\nd\"") != NULL, "escaped label: %s", t);
    UT_CHECK(
        strstr(t, "mosync_apply_latency_seconds_bucket{flow=\"orders\",le=\"0.25\"} 0\n") &&
            strstr(t, "mosync_apply_latency_seconds_bucket{flow=\"orders\",le=\"0.5\"} 1\n") &&
            strstr(t, "mosync_apply_latency_seconds_bucket{flow=\"orders\",le=\"+Inf\"} 2\n") &&
            strstr(t, "mosync_apply_latency_seconds_count{flow=\"orders\"} 2\n"),
        "cumulative buckets: %s", t);
    free(t);
    mt_add("mosync_no_such_metric", 1, NULL);
    mt_set("mosync_messages_total", 1, NULL);
    UT_CHECK(mt_misuse() == misuse + 2, "unknown name and wrong kind are misuse");
}

/* A lag series of a partition that left is removed, not left at its last
 * value; a metric stops growing at MT_SERIES_MAX series (counted as misuse). */
UT_TEST(metrics_remove_and_series_cap)
{
    unsigned long misuse = mt_misuse();
    mt_set("mosync_consumer_lag", 5, "group", "ut-rm", "partition", "1", NULL);
    mt_set("mosync_consumer_lag", 6, "group", "ut-rm", "partition", "2", NULL);
    mt_remove("mosync_consumer_lag", "group", "ut-rm", "partition", "1", NULL);
    char *t = mt_render();
    UT_CHECK(t && !strstr(t, "group=\"ut-rm\",partition=\"1\"") &&
                 strstr(t, "mosync_consumer_lag{group=\"ut-rm\",partition=\"2\"} 6\n"),
             "removed series still rendered, or the other one lost: %s", t ? t : "(null)");
    free(t);
    mt_remove("mosync_consumer_lag", "group", "ut-rm", "partition", "2", NULL);
    mt_remove("mosync_consumer_lag", "group", "ut-rm", "partition", "9", NULL); /* absent: no-op */
    UT_CHECK(mt_misuse() == misuse, "valid removals counted as misuse");

    char v[16];
    for (int i = 0; i < MT_SERIES_MAX + 10; i++) {
        snprintf(v, sizeof(v), "%d", i);
        mt_set("mosync_lease_held", 1, "stream", v, NULL);
    }
    UT_CHECK(mt_misuse() == misuse + 10, "%lu misuses for 10 series past the cap",
             mt_misuse() - misuse);
    snprintf(v, sizeof(v), "%d", MT_SERIES_MAX + 5);
    UT_CHECK(mt_value("mosync_lease_held", "stream", v, NULL) == 0, "series past the cap stored");
    for (int i = 0; i < MT_SERIES_MAX + 10; i++) {
        snprintf(v, sizeof(v), "%d", i);
        mt_remove("mosync_lease_held", "stream", v, NULL);
    }
}

/* METRICS_PORT: unset means no server; a bad value names the variable.
 * KAFKA_TOPIC_PARTITIONS defaults to 12. */
UT_TEST(config_metrics_port_and_partitions_default)
{
    mo_config cfg;
    char errstr[256] = "";
    unsetenv("METRICS_PORT");
    unsetenv("KAFKA_TOPIC_PARTITIONS");
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "defaults: %s", errstr);
    UT_CHECK(cfg.metrics_port == 0, "METRICS_PORT unset gives port %d", cfg.metrics_port);
    UT_CHECK(cfg.topic_partitions == 12, "KAFKA_TOPIC_PARTITIONS default %d", cfg.topic_partitions);
    cfg_free(&cfg);
    setenv("METRICS_PORT", "9464", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK && cfg.metrics_port == 9464,
             "METRICS_PORT=9464: %s", errstr);
    cfg_free(&cfg);
    static const char *const bad[] = {"0", "65536", "80x", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("METRICS_PORT", bad[i], 1);
        errstr[0] = '\0';
        UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_ERR_CONFIG &&
                     strstr(errstr, "METRICS_PORT"),
                 "METRICS_PORT=%s: '%s'", bad[i], errstr);
    }
    unsetenv("METRICS_PORT");
}

/* A whole HTTP answer with this status line and a small JSON body. */
static char *ut_answer(const char *status)
{
    char *a = malloc(256);
    if (a)
        snprintf(a, 256,
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                 status);
    return a;
}

/* Every request of a client with an api name is counted by api, method and
 * status class (none: no answer), a client without one is not, and only a
 * 2xx answer marks the api up (readiness: a 401 or 404 answers too). */
UT_TEST(metrics_http_requests_by_api_method_status_class)
{
    char *a503 = ut_answer("503 Service Unavailable"), *a404 = ut_answer("404 Not Found");
    char *a200 = ut_answer("200 OK"), url[128], errstr[256];
    ut_http *srv = ut_http_start(a503);
    if (!UT_CHECK(srv && a503 && a404 && a200, "server did not start"))
        goto out;
    hc_opts opts = {.api = "ut-api", .tenant = "ut-tenant"};
    hc_client *hc = hc_new(&opts);
    hc_opts plain = {0};
    hc_client *other = hc_new(&plain);
    hc_resp resp;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ut_http_port(srv));

    hc_request(hc, "PUT", url, NULL, "{}", &resp, errstr, sizeof(errstr));
    hc_resp_free(&resp);
    UT_CHECK(hc_api_last_up_ms("ut-api") == 0, "a 503 marked the api up");
    ut_http_set_response(srv, a404);
    hc_request(hc, "GET", url, NULL, NULL, &resp, errstr, sizeof(errstr));
    hc_resp_free(&resp);
    UT_CHECK(hc_api_last_up_ms("ut-api") == 0, "a 404 marked the api up");
    ut_http_set_response(srv, a200);
    for (int i = 0; i < 2; i++) {
        hc_request(hc, "GET", url, NULL, NULL, &resp, errstr, sizeof(errstr));
        hc_resp_free(&resp);
    }
    UT_CHECK(hc_api_last_up_ms("ut-api") > 0, "a 200 did not mark the api up");
    hc_request(other, "GET", url, NULL, NULL, &resp, errstr, sizeof(errstr));
    hc_resp_free(&resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ut_closed_port());
    hc_request(hc, "DELETE", url, NULL, NULL, &resp, errstr, sizeof(errstr));
    hc_resp_free(&resp);

#define REQS(method, cls)                                                                          \
    mt_value("mosync_api_requests_total", "api", "ut-api", "method", method, "status_class", cls,  \
             "tenant", "ut-tenant", NULL)
    UT_CHECK(REQS("PUT", "5xx") == 1, "PUT 5xx: %g", REQS("PUT", "5xx"));
    UT_CHECK(REQS("GET", "4xx") == 1, "GET 4xx: %g", REQS("GET", "4xx"));
    UT_CHECK(REQS("GET", "2xx") == 2, "GET 2xx: %g (the client without api must not count)",
             REQS("GET", "2xx"));
    UT_CHECK(REQS("DELETE", "none") == 1, "DELETE with no answer: %g", REQS("DELETE", "none"));
#undef REQS
    UT_CHECK(ut_http_requests(srv) == 5, "the server saw %d requests", ut_http_requests(srv));
    UT_CHECK(!strcmp(hc_status_class(0), "none") && !strcmp(hc_status_class(302), "3xx") &&
                 !strcmp(hc_status_class(600), "none"),
             "status classes");
    hc_free(hc);
    hc_free(other);
out:
    ut_http_stop(srv);
    free(a503);
    free(a404);
    free(a200);
}

/* A request that finds the shared budget spent is counted once, with the
 * time it slept, whatever the number of times it asked again. */
UT_TEST(metrics_budget_wait_counted)
{
    ut_redis r;
    char url[64], errstr[256], score[32];
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    /* The one slot of a budget of 1 taken 60.6 s ago (Redis runs on this
     * clock): free again in about 0.4 s, when the 61-second window passes it. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(score, sizeof(score), "%lld",
             (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - 60600);
    const char *zadd[] = {"ZADD", "mosync:{ut-budget}:ratelimit:ut-api", score, "old-1", NULL};
    UT_CHECK(ut_redis_cmd(&r, NULL, zadd) == 0, "ZADD");
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    rs_store *rs = rs_open(url, "ut-budget", errstr, sizeof(errstr));
    double before =
        mt_value("mosync_rate_limit_waits_total", "api", "ut-api", "tenant", "ut-budget", NULL);
    UT_CHECK(before == 0, "waits before: %g", before);
    UT_CHECK(rs && rs_budget_wait(rs, "ut-api", 1, errstr, sizeof(errstr)) == MO_OK, "wait: %s",
             errstr);
    UT_CHECK(
        mt_value("mosync_rate_limit_waits_total", "api", "ut-api", "tenant", "ut-budget", NULL) ==
            1,
        "one request waited, counted %g",
        mt_value("mosync_rate_limit_waits_total", "api", "ut-api", "tenant", "ut-budget", NULL));
    UT_CHECK(mt_value("mosync_rate_limit_wait_seconds_total", "api", "ut-api", "tenant",
                      "ut-budget", NULL) > 0,
             "the wait's time not counted");
    rs_close(rs);
    ut_redis_stop(&r);
}
