/* Issue 12 item 11: a refused credential (401/403) is the tenant's fault,
 * its own error class, never retried inside a call nor taken as "the API is
 * up"; its record for `mosync status` keeps the first refusal's time, is
 * logged once a minute, expires, and goes at the first accepted request.
 * Against a loopback HTTP server and a real redis-server. */
#include "unit.h"
#include "ut_net.h"
#include "common/credential.h"
#include "common/http.h"
#include "common/log.h"
#include "common/stop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hc_retry ut_retry = {.max_attempts = 3, .base_ms = 10, .max_ms = 50};

static char *ut_answer(const char *status, const char *body)
{
    size_t n = strlen(status) + strlen(body) + 128;
    char *a = malloc(n);
    if (a)
        snprintf(a, n,
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 status, strlen(body), body);
    return a;
}

/* A JSON string member's value, "" when it is not one. */
static const char *ut_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* One GET through hc_call_json; returns its class. */
static mo_err ut_get(hc_client *hc, int port, char *errstr, size_t errstr_size)
{
    char url[64];
    long status;
    json_t *doc = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    mo_err err = hc_call_json(hc, &ut_retry, NULL, "GET", url, NULL, NULL, &status, &doc, NULL,
                              errstr, errstr_size);
    json_decref(doc);
    return err;
}

UT_TEST(issue12_11_refused_credential_is_its_own_class)
{
    static const long credential[] = {401, 403};
    static const long permanent[] = {400, 404, 409, 410, 422};
    static const long transient[] = {0, 408, 429, 500, 503};
    for (size_t i = 0; i < sizeof(credential) / sizeof(credential[0]); i++)
        UT_CHECK(hc_classify(credential[i]) == MO_ERR_CREDENTIAL, "%ld: %s", credential[i],
                 mo_err_name(hc_classify(credential[i])));
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
        UT_CHECK(hc_classify(permanent[i]) == MO_ERR_PERMANENT, "%ld", permanent[i]);
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        UT_CHECK(hc_classify(transient[i]) == MO_ERR_TRANSIENT, "%ld", transient[i]);
    UT_CHECK(!strcmp(mo_err_name(MO_ERR_CREDENTIAL), "credential"), "name %s",
             mo_err_name(MO_ERR_CREDENTIAL));

    /* Not retried within the call, not "up", and the answer's reason kept. */
    char errstr[512],
        *a = ut_answer("401 Unauthorized", "{\"message\":\"Authorization has been denied\"}");
    ut_http *s = ut_http_start(a);
    hc_client *hc = hc_new(&(hc_opts){.api = "ut-refusing", .tenant = "ut"});
    mo_err err = ut_get(hc, ut_http_port(s), errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CREDENTIAL && strstr(errstr, "401") && strstr(errstr, "denied"),
             "401: %s: %s", mo_err_name(err), errstr);
    UT_CHECK(ut_http_requests(s) == 1, "%d requests for a 401", ut_http_requests(s));
    UT_CHECK(hc_last_up_ms(hc) == 0, "a 401 counted as the API being up");
    long status = 0;
    UT_CHECK(hc_api_refused_ms("ut-refusing", &status) > 0 && status == 401,
             "refusal not noted: status %ld", status);
    UT_CHECK(hc_api_last_up_ms("ut-refusing") == 0, "a 401 counted as up process-wide");
    free(a);
    a = ut_answer("400 Bad Request", "{\"message\":\"no\"}");
    ut_http_set_response(s, a);
    err = ut_get(hc, ut_http_port(s), errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_PERMANENT && hc_last_up_ms(hc) > 0, "400: %s, up %lld", mo_err_name(err),
             hc_last_up_ms(hc));
    hc_free(hc);
    ut_http_stop(s);
    free(a);
}

/* The TTL of mosync:{ut}:refused:ongoing, -2 when absent. */
static long long ut_ttl(rs_store *rs)
{
    char errstr[256];
    json_t *out = NULL;
    const char *keys[1] = {"refused:ongoing"};
    long long ttl = -3;
    if (rs_eval(rs, "return redis.call('TTL', KEYS[1])", 1, keys, 0, NULL, &out, errstr,
                sizeof(errstr)) == MO_OK)
        ttl = (long long)json_integer_value(out);
    json_decref(out);
    return ttl;
}

/* How many times text holds needle. */
static int ut_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

UT_TEST(issue12_11_refusal_recorded_once_a_minute_and_cleared_by_acceptance)
{
    ut_redis redis;
    char url[128], errstr[512];
    static const char secret[] = "ut-cred-secret-Qx81Lm";
    if (!UT_CHECK(ut_redis_start(&redis, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis.port);
    mo_config cfg = {.applied_ttl_days = 1};
    snprintf(cfg.redis_url, sizeof(cfg.redis_url), "%s", url);
    snprintf(cfg.tenant, sizeof(cfg.tenant), "ut");
    rs_store *rs = rs_open(url, "ut", errstr, sizeof(errstr));
    lg_add_secret(secret);

    /* Ongoing refuses: two messages in a row, one error line, one record. */
    char *a = ut_answer("401 Unauthorized", "{\"message\":\"Authorization has been denied\"}");
    ut_http *s = ut_http_start(a);
    hc_client *hc = hc_new(&(hc_opts){.api = "ongoing", .tenant = "ut"});
    mo_err err = ut_get(hc, ut_http_port(s), errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CREDENTIAL, "401: %s", mo_err_name(err));
    ut_capture_start(2);
    cr_refused(&cfg, "apply.orders", "ongoing",
               "PUT orders: HTTP 401 (password ut-cred-secret-Qx81Lm)");
    cr_refused(&cfg, "apply.articles", "ongoing", "PUT articles: HTTP 401");
    char *logged = ut_capture_end(2);
    UT_CHECK(ut_count(logged, "Ongoing refused the credential since") == 1,
             "error lines for two refusals within a minute:\n%s", logged);
    UT_CHECK(!ut_leaks(logged, secret, 6), "the log shows the secret: %s", logged);
    free(logged);

    json_t *rec = NULL;
    char since[32], buf[32];
    UT_CHECK(cr_read(rs, "ongoing", &rec, errstr, sizeof(errstr)) == MO_OK && rec, "no record: %s",
             errstr);
    const char *error = json_string_value(json_object_get(rec, "error"));
    UT_CHECK(error && strstr(error, "HTTP 401") && !ut_leaks(error, secret, 6), "error %s", error);
    UT_CHECK(!strcmp(ut_str(rec, "by"), "apply.orders"),
             "by (the second refusal came within the write interval)");
    snprintf(since, sizeof(since), "%s", ut_str(rec, "refused_since"));
    UT_CHECK(since[0] && cr_since("ongoing", buf, sizeof(buf)) && !strcmp(buf, since),
             "since %s vs this process's %s", since, buf);
    json_decref(rec);
    long long ttl = ut_ttl(rs);
    UT_CHECK(ttl > 0 && ttl <= CR_TTL_S, "the record expires: TTL %lld", ttl);

    /* Work that made no accepted request proves nothing: the record stays. */
    cr_accepted(&cfg, "apply.orders", "ongoing");
    UT_CHECK(ut_ttl(rs) > 0, "cleared without an accepted request");

    /* Accepted: the record goes, and the process no longer says refused. */
    free(a);
    a = ut_answer("200 OK", "{}");
    ut_http_set_response(s, a);
    /* Answers and refusals are ordered by their millisecond: a 2xx in the
     * very millisecond of the refusal proves nothing (it may have come
     * first), and this test can get there within one.  Let the clock move. */
    for (long long t0 = mo_now_ms(); mo_now_ms() <= t0;)
        ;
    UT_CHECK(ut_get(hc, ut_http_port(s), errstr, sizeof(errstr)) == MO_OK, "200: %s", errstr);
    ut_capture_start(2);
    cr_accepted(&cfg, "apply.orders", "ongoing");
    logged = ut_capture_end(2);
    UT_CHECK(ut_ttl(rs) == -2, "the record stays after an accepted request");
    UT_CHECK(strstr(logged, "Ongoing accepts the credential again"), "not logged: %s", logged);
    UT_CHECK(!cr_since("ongoing", buf, sizeof(buf)), "still refused since %s", buf);
    free(logged);

    /* Another process's record of an earlier refusal: its since is kept. */
    const char *keys[1] = {"refused:ongoing"};
    json_t *out = NULL;
    UT_CHECK(rs_eval(rs, "return redis.call('HSET', KEYS[1], 'since', '2026-01-01T00:00:00Z')", 1,
                     keys, 0, NULL, &out, errstr, sizeof(errstr)) == MO_OK,
             "seed: %s", errstr);
    json_decref(out);
    free(a);
    a = ut_answer("403 Forbidden", "{}");
    ut_http_set_response(s, a);
    UT_CHECK(ut_get(hc, ut_http_port(s), errstr, sizeof(errstr)) == MO_ERR_CREDENTIAL, "403");
    cr_refused(&cfg, "apply.orders", "ongoing", "HTTP 403");
    UT_CHECK(cr_read(rs, "ongoing", &rec, errstr, sizeof(errstr)) == MO_OK && rec &&
                 !strcmp(ut_str(rec, "refused_since"), "2026-01-01T00:00:00Z"),
             "the first refusal's time was replaced");
    json_decref(rec);

    hc_free(hc);
    ut_http_stop(s);
    free(a);
    rs_close(rs);
    ut_redis_stop(&redis);
}

/* ---- processes of many tenants (poll/apply --all-tenants) ---------------- */

/* The record of mosync:{tenant}:refused:ongoing, NULL when none (new reference). */
static json_t *ut_record(rs_store *rs, const char *tenant)
{
    char errstr[256];
    json_t *rec = NULL;
    rs_set_tenant(rs, tenant);
    if (cr_read(rs, "ongoing", &rec, errstr, sizeof(errstr)) != MO_OK)
        printf("    cr_read %s: %s\n", tenant, errstr);
    return rec;
}

static void ut_cfg(mo_config *cfg, const char *url, const char *tenant)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->applied_ttl_days = 1;
    snprintf(cfg->redis_url, sizeof(cfg->redis_url), "%s", url);
    snprintf(cfg->tenant, sizeof(cfg->tenant), "%s", tenant);
}

/* One process refused by Ongoing for two tenants: each is logged and
 * recorded under its own key; then tenant b's work succeeds after a 2xx and
 * only b's refusal ends: a's record stays.  (The slot was the API's alone,
 * its store bound to the first tenant: b's refusal was neither logged nor
 * recorded apart, and b's success deleted a's record.) */
UT_TEST(mt_credential_tenants_refused_and_accepted_apart)
{
    ut_redis redis;
    char url[128], errstr[512], buf[32];
    mo_config a, b;
    if (!UT_CHECK(ut_redis_start(&redis, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis.port);
    ut_cfg(&a, url, "mt-a");
    ut_cfg(&b, url, "mt-b");
    rs_store *rs = rs_open(url, "mt-a", errstr, sizeof(errstr));

    ut_capture_start(2);
    cr_refused(&a, "poll.ongoing-orders", "ongoing", "a: HTTP 401");
    cr_refused(&b, "poll.ongoing-orders", "ongoing", "b: HTTP 403");
    char *logged = ut_capture_end(2);
    UT_CHECK(ut_count(logged, "Ongoing refused the credential since") == 2 &&
                 strstr(logged, "\"tenant\":\"mt-a\"") && strstr(logged, "\"tenant\":\"mt-b\""),
             "one error line per tenant:\n%s", logged);
    free(logged);
    json_t *ra = ut_record(rs, "mt-a"), *rb = ut_record(rs, "mt-b");
    UT_CHECK(ra && strstr(ut_str(ra, "error"), "a: HTTP 401"), "a's record: %s",
             ra ? ut_str(ra, "error") : "none");
    UT_CHECK(rb && strstr(ut_str(rb, "error"), "b: HTTP 403"), "b's record: %s",
             rb ? ut_str(rb, "error") : "none");
    json_decref(ra);
    json_decref(rb);
    UT_CHECK(cr_since("ongoing", buf, sizeof(buf)), "the process is not refused by Ongoing");

    /* b's credential accepted (a 2xx after both refusals, see the test
     * above for the millisecond), b's work done: b's refusal ends, a's not. */
    char *ok = ut_answer("200 OK", "{}");
    ut_http *s = ut_http_start(ok);
    hc_client *hc = hc_new(&(hc_opts){.api = "ongoing", .tenant = "mt-b"});
    for (long long t0 = mo_now_ms(); mo_now_ms() <= t0;)
        ;
    UT_CHECK(ut_get(hc, ut_http_port(s), errstr, sizeof(errstr)) == MO_OK, "200: %s", errstr);
    ut_capture_start(2);
    cr_accepted(&b, "poll.ongoing-orders", "ongoing");
    logged = ut_capture_end(2);
    UT_CHECK(strstr(logged, "accepts the credential again") &&
                 strstr(logged, "\"tenant\":\"mt-b\"") && !strstr(logged, "\"tenant\":\"mt-a\""),
             "b's refusal ended, not a's:\n%s", logged);
    free(logged);
    ra = ut_record(rs, "mt-a");
    rb = ut_record(rs, "mt-b");
    UT_CHECK(ra && strstr(ut_str(ra, "error"), "a: HTTP 401"), "a's record went with b's success");
    UT_CHECK(!rb, "b's record stays after b's success");
    json_decref(ra);
    json_decref(rb);

    /* A flow without an API (the unit tests' apply flows) ends nothing and
     * does not crash, also once an API is known to the process. */
    cr_accepted(&b, "apply.none", NULL);
    cr_refused(&b, "apply.none", NULL, "x");
    UT_CHECK(!cr_since(NULL, buf, sizeof(buf)), "refused by no API");

    hc_free(hc);
    ut_http_stop(s);
    free(ok);
    rs_close(rs);
    ut_redis_stop(&redis);
}

/* More (API, tenant) pairs than slots: every tenant's refusal is still
 * logged and recorded under its own key, also one whose slot was taken over
 * and that comes back. */
UT_TEST(mt_credential_more_tenants_than_slots)
{
    enum { N = CR_SLOTS + 8 };
    ut_redis redis;
    char url[128], errstr[512], tenant[16], error[32], needle[64];
    mo_config cfg;
    int missing = 0, unlogged = 0;
    if (!UT_CHECK(ut_redis_start(&redis, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis.port);
    rs_store *rs = rs_open(url, "mt-0", errstr, sizeof(errstr));
    ut_capture_start(2);
    for (int i = 0; i < N; i++) {
        snprintf(tenant, sizeof(tenant), "mt-%d", i);
        snprintf(error, sizeof(error), "%s: HTTP 401", tenant);
        ut_cfg(&cfg, url, tenant);
        cr_refused(&cfg, "apply.orders", "ongoing", error);
    }
    char *logged = ut_capture_end(2);
    for (int i = 0; i < N; i++) {
        snprintf(tenant, sizeof(tenant), "mt-%d", i);
        snprintf(error, sizeof(error), "%s: HTTP 401", tenant);
        snprintf(needle, sizeof(needle), "\"tenant\":\"%s\"", tenant);
        json_t *rec = ut_record(rs, tenant);
        missing += !rec || strcmp(ut_str(rec, "error"), error);
        unlogged += ut_count(logged, needle) != 1;
        json_decref(rec);
    }
    free(logged);
    UT_CHECK(!missing, "%d of %d tenants have no record of their own", missing, N);
    UT_CHECK(!unlogged, "%d of %d tenants not logged exactly once", unlogged, N);

    /* mt-0's slot was the least recently used, taken over: it comes back
     * with a new refusal, recorded again under its own key. */
    ut_cfg(&cfg, url, "mt-0");
    rs_set_tenant(rs, "mt-0");
    UT_CHECK(rs_del(rs, "refused:ongoing", errstr, sizeof(errstr)) == MO_OK, "del: %s", errstr);
    cr_refused(&cfg, "apply.orders", "ongoing", "mt-0 again");
    json_t *rec = ut_record(rs, "mt-0");
    UT_CHECK(rec && !strcmp(ut_str(rec, "error"), "mt-0 again"), "mt-0 back: %s",
             rec ? ut_str(rec, "error") : "no record");
    json_decref(rec);
    rs_close(rs);
    ut_redis_stop(&redis);
}
