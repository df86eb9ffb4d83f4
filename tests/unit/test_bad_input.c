/* Bad input at mosync's edges (issue 12 item 19): an API asking for a day's
 * wait, answers far larger than what a call asked for, a readiness reason cut
 * inside a character, a time zone that is not one, settings `mosync config`
 * forgot, secrets from files.  Each test names the item it proves and was
 * seen failing before its fix. */
#include "unit.h"
#include "ut_net.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mystore.h"
#include "common/stop.h"
#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Mystore client of cfg (loaded from the environment) against a loopback
 * server and a private Redis (the request budget). */
typedef struct ms_call {
    mo_config cfg;
    rs_store *rs;
    ms_client *ms;
    char path[256];
    mo_err err;
    long status, hint_ms;
    char errstr[512];
} ms_call;

static ms_call *ms_call_new(const ut_redis *r, int http_port, const char *tenant)
{
    char url[128], errstr[256];
    ms_call *c = calloc(1, sizeof(*c));
    if (cfg_load(&c->cfg, 0, errstr, sizeof(errstr)) != MO_OK) {
        ut_fail(__FILE__, __LINE__, "configuration: %s", errstr);
        free(c);
        return NULL;
    }
    snprintf(c->cfg.tenant, sizeof(c->cfg.tenant), "%s", tenant);
    snprintf(c->cfg.mystore_url, sizeof(c->cfg.mystore_url), "http://127.0.0.1:%d", http_port);
    snprintf(c->cfg.mystore_shop, sizeof(c->cfg.mystore_shop), "demo");
    snprintf(c->cfg.mystore_token, sizeof(c->cfg.mystore_token), "bad-input-token-1");
    c->cfg.mystore_rate_per_min = 100000000;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r->port);
    c->rs = rs_open(url, tenant, errstr, sizeof(errstr));
    c->ms = ms_new(&c->cfg, c->rs, 1);
    snprintf(c->path, sizeof(c->path), "orders/1");
    return c;
}

static void ms_call_free(ms_call *c)
{
    if (!c)
        return;
    ms_free(c->ms);
    rs_close(c->rs);
    cfg_free(&c->cfg);
    free(c);
}

static void ms_call_run(void *arg)
{
    ms_call *c = arg;
    json_t *doc = NULL;
    mo_retry_hint_take();
    c->err = ms_get(c->ms, c->path, &doc, &c->status, c->errstr, sizeof(c->errstr));
    c->hint_ms = mo_retry_hint_take();
    json_decref(doc);
}

static const char a429_day[] =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
    "Retry-After: 86400\r\nContent-Length: 2\r\n\r\n{}";

UT_TEST(issue12_19_retry_after_of_a_day_is_capped)
{
    ut_redis r;
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    ut_http *s = ut_http_start(a429_day);

    /* The setting: a day asked, RETRY_AFTER_MAX_S=60 waited at most; an
     * error logged naming the API and the setting, and counted. */
    setenv("RETRY_AFTER_MAX_S", "60", 1);
    ms_call *c = ms_call_new(&r, ut_http_port(s), "ut-ra-1");
    unsetenv("RETRY_AFTER_MAX_S");
    if (!c)
        goto out;
    ut_capture_start(2);
    int done = ut_run_bounded(ms_call_run, c, 30000);
    char *log = ut_capture_end(2);
    UT_CHECK(done, "a Retry-After of a day was slept inside the call");
    if (!done)
        goto out;
    UT_CHECK(c->err == MO_ERR_TRANSIENT, "429: %s (%s)", mo_err_name(c->err), c->errstr);
    UT_CHECK(c->hint_ms == 60000, "wait handed to the caller %ld ms, expected 60000 (the cap)",
             c->hint_ms);
    UT_CHECK(log && strstr(log, "\"level\":\"error\"") && strstr(log, "86400") &&
                 strstr(log, "RETRY_AFTER_MAX_S"),
             "no error log naming the asked wait and the setting: %s", log ? log : "");
    double capped =
        mt_value("mosync_retry_after_capped_total", "api", "mystore", "tenant", "ut-ra-1", NULL);
    UT_CHECK(capped == 1, "mosync_retry_after_capped_total %g, expected 1", capped);
    UT_CHECK(mt_misuse() == 0, "metrics misuse: %lu", mt_misuse());
    free(log);
    ms_call_free(c);

    /* Unset: 15 minutes. */
    c = ms_call_new(&r, ut_http_port(s), "ut-ra-2");
    if (!c)
        goto out;
    ut_capture_start(2);
    done = ut_run_bounded(ms_call_run, c, 30000);
    free(ut_capture_end(2));
    UT_CHECK(done && c->hint_ms == 900000, "default cap: hint %ld ms, expected 900000",
             done ? c->hint_ms : -1);
    if (done)
        ms_call_free(c);
out:
    ut_http_stop(s);
    ut_redis_stop(&r);
}
