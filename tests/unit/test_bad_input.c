/* Bad input at mosync's edges (issue 12 item 19): an API asking for a day's
 * wait, answers far larger than what a call asked for, a readiness reason cut
 * inside a character, a time zone that is not one, settings `mosync config`
 * forgot, secrets from files.  Each test names the item it proves and was
 * seen failing before its fix. */
#include "unit.h"
#include "ut_net.h"
#include "cli/health.h"
#include "common/config.h"
#include "common/lastrun.h"
#include "common/lease.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mystore.h"
#include "common/ongoing.h"
#include "common/stop.h"
#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A whole HTTP 200 answer whose JSON body is head, then count copies of item
 * joined by commas, then tail. */
static char *repeated_answer(const char *head, const char *item, size_t count, const char *tail)
{
    size_t ilen = strlen(item), blen = strlen(head) + count * (ilen + 1) + strlen(tail);
    char *a = malloc(blen + 256);
    if (!a)
        return NULL;
    int n = snprintf(
        a, 256,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
        blen - (count ? 1 : 0), head);
    char *p = a + n;
    for (size_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, item, ilen);
        p += ilen;
    }
    memcpy(p, tail, strlen(tail) + 1);
    return a;
}

/* An item of about n bytes: {"id":"..","v":"xxxx"}. */
static char *item_of(size_t n)
{
    char *s = malloc(n + 32);
    int k = snprintf(s, 32, "{\"id\":\"1\",\"v\":\"");
    memset(s + k, 'x', n);
    snprintf(s + k + n, 32, "\"}");
    return s;
}

typedef struct og_call_t {
    mo_config cfg;
    rs_store *rs;
    og_client *og;
    const char *path, *query, *number;
    mo_err err;
    size_t items;
    char errstr[512];
} og_call_t;

static void og_call_run(void *arg)
{
    og_call_t *c = arg;
    json_t *doc = NULL;
    if (c->number) {
        c->err = og_order_get(c->og, c->number, &doc, c->errstr, sizeof(c->errstr));
    } else {
        c->err = og_list(c->og, c->path, c->query, &doc, c->errstr, sizeof(c->errstr));
        c->items = json_array_size(doc);
    }
    json_decref(doc);
}

typedef struct page_call {
    ms_client *ms;
    mo_err err;
    size_t items;
    char errstr[512];
} page_call;

static void page_call_run(void *arg)
{
    page_call *c = arg;
    json_t *items = NULL;
    int has_next;
    c->err =
        ms_list_page(c->ms, "orders", NULL, 1, &items, &has_next, c->errstr, sizeof(c->errstr));
    c->items = json_array_size(items);
    json_decref(items);
}

UT_TEST(issue12_19_answer_cap_by_what_the_call_asks)
{
    ut_redis r;
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    ut_http *s = ut_http_start(NULL);
    ms_call *c = ms_call_new(&r, ut_http_port(s), "ut-cap");
    if (!c)
        goto out;

    /* A page of 50 asked; 3 MiB of empty objects came (jansson would build
     * ~80 bytes for each 3): refused, naming the call. */
    char *flood = repeated_answer("{\"data\":[", "{}", (3u << 20) / 3, "]}");
    ut_http_set_response(s, flood);
    free(flood);
    page_call *pc = calloc(1, sizeof(*pc));
    pc->ms = c->ms;
    UT_CHECK(ut_run_bounded(page_call_run, pc, 60000), "page call did not return");
    UT_CHECK(pc->err == MO_ERR_TOO_LARGE && strstr(pc->errstr, "orders"),
             "3 MiB for a page of 50: %s with %zu items (%s)", mo_err_name(pc->err), pc->items,
             pc->errstr);

    /* A big real page still passes: 50 orders of 24 KiB each. */
    char *item = item_of(24 * 1024);
    char *big = repeated_answer("{\"data\":[", item, 50, "],\"links\":{}}");
    ut_http_set_response(s, big);
    free(big);
    free(item);
    memset(pc, 0, sizeof(*pc));
    pc->ms = c->ms;
    UT_CHECK(ut_run_bounded(page_call_run, pc, 60000), "page call did not return");
    UT_CHECK(pc->err == MO_OK && pc->items == 50, "a page of 50 items of 24 KiB: %s (%s)",
             mo_err_name(pc->err), pc->errstr);
    free(pc);

    /* One resource asked; 1 MiB came. */
    item = item_of(1u << 20);
    char *one = repeated_answer("{\"data\":", item, 1, "}");
    ut_http_set_response(s, one);
    free(one);
    free(item);
    snprintf(c->path, sizeof(c->path), "products/7");
    UT_CHECK(ut_run_bounded(ms_call_run, c, 60000), "resource call did not return");
    UT_CHECK(c->err == MO_ERR_TOO_LARGE && strstr(c->errstr, "products/7"),
             "1 MiB for one product: %s (%s)", mo_err_name(c->err), c->errstr);

    /* Ongoing: a look-up of one order answered with 3 MiB; a page of 200
     * asked and 6 MiB (200 orders of 30 KiB) came, then 9 MiB. */
    og_call_t *oc = calloc(1, sizeof(*oc));
    char url[128], errstr[256];
    oc->cfg = c->cfg;
    oc->cfg.shipping_methods = NULL;
    snprintf(oc->cfg.ongoing_url, sizeof(oc->cfg.ongoing_url), "http://127.0.0.1:%d/wh",
             ut_http_port(s));
    snprintf(oc->cfg.ongoing_user, sizeof(oc->cfg.ongoing_user), "u");
    snprintf(oc->cfg.ongoing_password, sizeof(oc->cfg.ongoing_password), "cap-password-1");
    oc->cfg.ongoing_goods_owner = 1;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    oc->rs = rs_open(url, "ut-cap", errstr, sizeof(errstr));
    oc->og = og_new(&oc->cfg, oc->rs, 1);
    item = item_of(3u << 20);
    char *lookup = repeated_answer("[", item, 1, "]");
    ut_http_set_response(s, lookup);
    free(lookup);
    free(item);
    oc->number = "10001";
    UT_CHECK(ut_run_bounded(og_call_run, oc, 60000), "look-up did not return");
    UT_CHECK(oc->err == MO_ERR_TOO_LARGE && strstr(oc->errstr, "orders"),
             "3 MiB for one order: %s (%s)", mo_err_name(oc->err), oc->errstr);
    oc->number = NULL;
    oc->path = "orders";
    oc->query = "orderIdFrom=1&maxOrdersToGet=200";
    static const struct {
        size_t item_kib;
        mo_err want;
    } pages[] = {{30, MO_OK}, {45, MO_ERR_TOO_LARGE}};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        item = item_of(pages[i].item_kib * 1024);
        char *page = repeated_answer("[", item, 200, "]");
        ut_http_set_response(s, page);
        free(page);
        free(item);
        UT_CHECK(ut_run_bounded(og_call_run, oc, 60000), "page did not return");
        UT_CHECK(oc->err == pages[i].want, "a page of 200 orders of %zu KiB: %s (%s)",
                 pages[i].item_kib, mo_err_name(oc->err), oc->errstr);
    }
    og_free(oc->og);
    rs_close(oc->rs);
    free(oc);
    ms_call_free(c);
out:
    ut_http_stop(s);
    ut_redis_stop(&r);
}

UT_TEST(issue12_19_answer_caps_read_the_page_size_asked)
{
    static const struct {
        const char *path;
        size_t cap;
    } ms[] = {
        {"orders?page%5Bnumber%5D=2&page%5Bsize%5D=50", MS_ANSWER_BASE + 50 * MS_ANSWER_ITEM},
        {"orders?page%5Bsize%5D=100&page%5Bnumber%5D=1", MS_ANSWER_BASE + 100 * MS_ANSWER_ITEM},
        {"order-status?page[size]=1", MS_ANSWER_BASE + MS_ANSWER_ITEM},
        {"orders?xpage%5Bsize%5D=50", MS_ANSWER_ONE},
        {"orders?page%5Bsize%5D=abc", MS_ANSWER_ONE},
        {"orders?page%5Bsize%5D=99999999999", MS_ANSWER_BASE + 1000 * MS_ANSWER_ITEM},
        {"products/7", MS_ANSWER_ONE},
        {"orders/1/order-products", MS_ANSWER_ONE},
    };
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
        UT_CHECK(ms_answer_cap(ms[i].path) == ms[i].cap, "ms_answer_cap(%s) = %zu, expected %zu",
                 ms[i].path, ms_answer_cap(ms[i].path), ms[i].cap);
    static const struct {
        const char *path;
        size_t cap;
    } og[] = {
        {"orders?goodsOwnerId=1&orderIdFrom=5&maxOrdersToGet=200",
         OG_ANSWER_BASE + 200 * OG_ANSWER_ITEM},
        {"articles?goodsOwnerId=1&maxArticlesToGet=1", OG_ANSWER_BASE + OG_ANSWER_ITEM},
        {"orders?goodsOwnerId=1&orderNumber=10001", OG_ANSWER_ONE},
        {"orders?goodsOwnerId=1&xmaxOrdersToGet=200", OG_ANSWER_ONE},
        {"orders/statuses", OG_ANSWER_ONE},
    };
    for (size_t i = 0; i < sizeof(og) / sizeof(og[0]); i++)
        UT_CHECK(og_answer_cap(og[i].path) == og[i].cap, "og_answer_cap(%s) = %zu, expected %zu",
                 og[i].path, og_answer_cap(og[i].path), og[i].cap);
    /* The pollers' pages stay well under what a process can afford: at
     * worst ~80 bytes of jansson per byte of answer. */
    UT_CHECK(ms_answer_cap("orders?page%5Bsize%5D=50") <= (3u << 20) &&
                 og_answer_cap("orders?maxOrdersToGet=200") <= (8u << 20),
             "page caps grew past 3 MiB (Mystore) or 8 MiB (Ongoing)");
}

UT_TEST(issue12_19_readyz_reason_cut_inside_a_character_keeps_the_check)
{
    /* A reason of Norwegian text whose HEALTH_WHY_MAX-byte cut falls inside
     * "ø" (two bytes): the check must still be there, down, in valid UTF-8. */
    for (int shift = 0; shift < 3; shift++) {
        char why[512];
        size_t n = 0;
        for (int i = 0; i < shift; i++)
            why[n++] = 'x';
        while (n + 2 < sizeof(why) - 1) {
            why[n++] = (char)0xc3; /* ø */
            why[n++] = (char)0xb8;
        }
        why[n] = '\0';
        json_t *checks = json_object();
        health_check_set(checks, "ongoing", 0, why);
        const char *v = json_string_value(json_object_get(checks, "ongoing"));
        UT_CHECK(v && !strncmp(v, "down: ", 6), "shift %d: the failing check was dropped: %s",
                 shift, v ? v : "(none)");
        UT_CHECK(v && lg_utf8_valid(v, strlen(v)) && strlen(v) <= 6 + HEALTH_WHY_MAX,
                 "shift %d: %zu bytes", shift, v ? strlen(v) : 0);
        health_check_set(checks, "kafka", 1, NULL);
        UT_CHECK(json_is_string(json_object_get(checks, "kafka")), "an ok check");
        json_decref(checks);
    }
    /* Not UTF-8 at all (a reason quoting raw bytes): still a failing check. */
    json_t *checks = json_object();
    health_check_set(checks, "mystore", 0, "HTTP 400 \xff\xfe");
    const char *v = json_string_value(json_object_get(checks, "mystore"));
    UT_CHECK(v && !strncmp(v, "down: ", 6), "a reason that is not UTF-8 dropped the check");
    json_decref(checks);
}

/* Writes text to a new temporary file; its path into path (size 64). */
static void secret_file(char *path, const char *text)
{
    snprintf(path, 64, "/tmp/mosync-ut-secret-XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            path[0] = '\0';
        close(fd);
    }
}

UT_TEST(issue12_19_secrets_from_files)
{
    static const char *const vars[] = {"MYSTORE_TOKEN",
                                       "MYSTORE_TOKEN_FILE",
                                       "ONGOING_PASSWORD",
                                       "ONGOING_PASSWORD_FILE",
                                       "REDIS_URL",
                                       "REDIS_URL_FILE",
                                       "KAFKA_PROP_sasl_password",
                                       "KAFKA_PROP_sasl_password_FILE"};
    char token[64], password[64], url[64], kafka[64], errstr[512];
    mo_config cfg;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    /* Docker secrets end with a newline more often than not. */
    secret_file(token, "file-token-5c1e\n");
    secret_file(password, "file-password-77ab\r\n");
    secret_file(url, "redis://:file-redis-9d0f@127.0.0.1:6399/3\n");
    secret_file(kafka, "file-kafka-4e2a");
    setenv("MYSTORE_TOKEN_FILE", token, 1);
    setenv("ONGOING_PASSWORD_FILE", password, 1);
    setenv("REDIS_URL_FILE", url, 1);
    setenv("KAFKA_PROP_sasl_password_FILE", kafka, 1);
    mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_OK, "secrets from files: %s", errstr);
    if (err == MO_OK) {
        UT_CHECK(!strcmp(cfg.mystore_token, "file-token-5c1e"), "MYSTORE_TOKEN_FILE: '%s'",
                 cfg.mystore_token);
        UT_CHECK(!strcmp(cfg.ongoing_password, "file-password-77ab"), "ONGOING_PASSWORD_FILE: '%s'",
                 cfg.ongoing_password);
        UT_CHECK(!strcmp(cfg.redis_url, "redis://:file-redis-9d0f@127.0.0.1:6399/3"),
                 "REDIS_URL_FILE: '%s'", cfg.redis_url);
        int found = 0;
        for (int i = 0; i < cfg.n_kafka_props; i++)
            found |= !strcmp(cfg.kafka_props[i].name, "sasl.password") &&
                     !strcmp(cfg.kafka_props[i].value, "file-kafka-4e2a");
        UT_CHECK(found, "KAFKA_PROP_sasl_password_FILE did not set sasl.password");
        /* Secrets from files are masked like any other. */
        char line[] = "file-token-5c1e file-password-77ab file-redis-9d0f file-kafka-4e2a";
        lg_mask_secrets(line, sizeof(line));
        UT_CHECK(!strstr(line, "file-"), "a secret from a file is not masked: %s", line);
        cfg_free(&cfg);
    }

    /* Both the variable and its file: refused, naming both. */
    setenv("MYSTORE_TOKEN", "env-token-12345", 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "MYSTORE_TOKEN_FILE") && strstr(errstr, "both"),
             "MYSTORE_TOKEN and MYSTORE_TOKEN_FILE: %s", err ? errstr : "accepted");
    unsetenv("MYSTORE_TOKEN");
    setenv("KAFKA_PROP_sasl_password", "env-kafka-12345", 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "KAFKA_PROP_sasl_password"),
             "KAFKA_PROP_sasl_password and its _FILE: %s", err ? errstr : "accepted");
    unsetenv("KAFKA_PROP_sasl_password");

    /* A file that cannot be read, or is empty: refused, naming the variable
     * and the path, never showing a secret. */
    setenv("ONGOING_PASSWORD_FILE", "/nonexistent/mosync-secret", 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "ONGOING_PASSWORD_FILE") &&
                 strstr(errstr, "/nonexistent/mosync-secret"),
             "unreadable ONGOING_PASSWORD_FILE: %s", err ? errstr : "accepted");
    char empty[64];
    secret_file(empty, "");
    setenv("ONGOING_PASSWORD_FILE", empty, 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "ONGOING_PASSWORD_FILE"),
             "empty ONGOING_PASSWORD_FILE: %s", err ? errstr : "accepted");
    setenv("ONGOING_PASSWORD_FILE", "/tmp", 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "ONGOING_PASSWORD_FILE"),
             "a directory as ONGOING_PASSWORD_FILE: %s", err ? errstr : "accepted");
    UT_CHECK(!strstr(errstr, "file-"), "an error shows a secret: %s", errstr);
    if (err == MO_OK)
        cfg_free(&cfg);

    /* Required and given only as a file: enough for a poller. */
    setenv("ONGOING_PASSWORD_FILE", password, 1);
    setenv("MYSTORE_SHOP", "demo", 1);
    err = cfg_load(&cfg, CFG_NEED_MYSTORE, errstr, sizeof(errstr));
    UT_CHECK(err == MO_OK, "MYSTORE_TOKEN_FILE for a poller: %s", errstr);
    if (err == MO_OK)
        cfg_free(&cfg);
    unsetenv("MYSTORE_SHOP");
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    unlink(token);
    unlink(password);
    unlink(url);
    unlink(kafka);
    unlink(empty);
}

/* The webhook secrets: from their files like every secret, masked, each
 * refused when shorter than a secret may be (naming it, never the value),
 * and both a variable and its file refused. */
UT_TEST(webhook_secrets_from_files)
{
    static const char *const vars[] = {"MYSTORE_WEBHOOK_SECRET", "MYSTORE_WEBHOOK_SECRET_FILE",
                                       "ONGOING_WEBHOOK_TOKEN", "ONGOING_WEBHOOK_TOKEN_FILE"};
    char secret[64], token[64], errstr[512];
    mo_config cfg;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    secret_file(secret, "file-whsecret-3f9a\n");
    secret_file(token, "file-whtoken-81c4");
    setenv("MYSTORE_WEBHOOK_SECRET_FILE", secret, 1);
    setenv("ONGOING_WEBHOOK_TOKEN_FILE", token, 1);
    mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_OK, "webhook secrets from files: %s", errstr);
    if (err == MO_OK) {
        UT_CHECK(!strcmp(cfg.mystore_webhook_secret, "file-whsecret-3f9a"),
                 "MYSTORE_WEBHOOK_SECRET_FILE: '%s'", cfg.mystore_webhook_secret);
        UT_CHECK(!strcmp(cfg.ongoing_webhook_token, "file-whtoken-81c4"),
                 "ONGOING_WEBHOOK_TOKEN_FILE: '%s'", cfg.ongoing_webhook_token);
        char line[] = "file-whsecret-3f9a file-whtoken-81c4";
        lg_mask_secrets(line, sizeof(line));
        UT_CHECK(!strstr(line, "file-"), "a webhook secret is not masked: %s", line);
        json_t *d = cfg_describe(&cfg);
        char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
        UT_CHECK(text && !strstr(text, "file-wh") &&
                     strstr(text, "\"MYSTORE_WEBHOOK_SECRET\":\"(set)\"") &&
                     strstr(text, "\"ONGOING_WEBHOOK_TOKEN\":\"(set)\""),
                 "mosync config: %s", text ? text : "NULL");
        free(text);
        json_decref(d);
        cfg_free(&cfg);
    }
    setenv("ONGOING_WEBHOOK_TOKEN", "env-whtoken-5555", 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "ONGOING_WEBHOOK_TOKEN_FILE") &&
                 strstr(errstr, "both"),
             "ONGOING_WEBHOOK_TOKEN and its _FILE: %s", err ? errstr : "accepted");
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("MYSTORE_WEBHOOK_SECRET", "k3y9z", 1);
    err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "MYSTORE_WEBHOOK_SECRET") &&
                 !strstr(errstr, "k3y9z"),
             "a 5-character MYSTORE_WEBHOOK_SECRET: %s", err ? errstr : "accepted");
    if (err == MO_OK)
        cfg_free(&cfg);
    unsetenv("MYSTORE_WEBHOOK_SECRET");
    unlink(secret);
    unlink(token);
}

/* What mosync reads back from Redis is outside input too (a cache that
 * anyone with access can write): the lease token and the last-run record
 * are shown by `mosync status` whatever bytes they hold. */
UT_TEST(issue12_19_redis_read_backs_lease_token_and_lastrun)
{
    char holder[64];
    long long fence;
    ls_token_parse("17 3fa9c2e1 mosync/0.1.0 (host:4711)", &fence, holder, sizeof(holder));
    UT_CHECK(fence == 17 && !strcmp(holder, "mosync/0.1.0 (host:4711)"), "token: %lld '%s'", fence,
             holder);
    ls_token_parse("garbage", &fence, holder, sizeof(holder));
    UT_CHECK(fence == 0 && !strcmp(holder, "?"), "garbage token: %lld '%s'", fence, holder);
    ls_token_parse("99999999999999999999999 x y", &fence, holder, sizeof(holder));
    UT_CHECK(fence == 0, "a fence out of range read as %lld", fence);
    ls_token_parse("1 n \xff\xfe host", &fence, holder, sizeof(holder));
    UT_CHECK(lg_utf8_valid(holder, strlen(holder)) && strstr(holder, "host"),
             "a holder that is not UTF-8: '%s'", holder);
    char tok[600];
    int n = snprintf(tok, sizeof(tok), "2 n ");
    while (n + 2 < (int)sizeof(tok) - 1) {
        tok[n++] = (char)0xc3;
        tok[n++] = (char)0xb8;
    }
    tok[n] = '\0';
    ls_token_parse(tok, &fence, holder, 8);
    UT_CHECK(lg_utf8_valid(holder, strlen(holder)) && strlen(holder) <= 7,
             "a long holder cut inside a character: %zu bytes", strlen(holder));

    /* A last-run record whose error is cut inside a character, and fields
     * that are not what lr_note writes. */
    char err[800];
    n = snprintf(err, sizeof(err), "x"); /* so the 300-byte cut falls inside a character */
    while (n + 2 < (int)sizeof(err) - 1) {
        err[n++] = (char)0xc3;
        err[n++] = (char)0xb8;
    }
    err[n] = '\0';
    json_t *fields =
        json_pack("[s, s, s, s, s, s, s, i, s, s]", "error", err, "ok_at", "2026-11-28T12:00:00Z",
                  "error_at", "2026-13-45T99:99:99Z", "error_class", 7, "ok_age_s", "5");
    json_t *v = lr_view(fields, 1795867200LL + 42); /* 42 s after 2026-11-28T12:00:00Z */
    const char *shown = json_string_value(json_object_get(v, "error"));
    UT_CHECK(shown && strlen(shown) <= LR_ERROR_MAX && lg_utf8_valid(shown, strlen(shown)),
             "the error cut inside a character was dropped or not cut");
    UT_CHECK(json_integer_value(json_object_get(v, "ok_age_s")) == 42, "ok_age_s: %lld",
             (long long)json_integer_value(json_object_get(v, "ok_age_s")));
    UT_CHECK(json_is_null(json_object_get(v, "error_age_s")), "an impossible date has an age");
    UT_CHECK(json_is_null(json_object_get(v, "error_class")), "a number as error_class shown");
    json_decref(v);
    json_decref(fields);
}
