/* The last-run record (common/lastrun.c) against a real redis-server
 * (started here on a free port; skipped with a message when it cannot be). */
#include "lastrun.h"
#include "log.h"
#include "stop.h"
#include "store.h"
#include "unit.h"
#include "ut_net.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ut_lr_field(rs_store *rs, const char *component, const char *field, char *buf,
                               size_t size)
{
    char errstr[256], suffix[128];
    json_t *out = NULL;
    const char *keys[1] = {lr_suffix(component, suffix, sizeof(suffix))};
    const char *args[1] = {field};
    buf[0] = '\0';
    if (rs_eval(rs, "return redis.call('HGET', KEYS[1], ARGV[1])", 1, keys, 1, args, &out, errstr,
                sizeof(errstr)) == MO_OK &&
        json_is_string(out))
        snprintf(buf, size, "%s", json_string_value(out));
    json_decref(out);
    return buf;
}

/* Issue 8 (status): the error is masked before it is cut; a second outcome
 * of the same kind within a second is not written, one of the other kind is
 * at once; Redis away costs one short attempt, never an error. */
UT_TEST(issue8_lastrun_masks_rate_limits_and_survives_redis_away)
{
    char url[128], errstr[256] = "", buf[LR_ERROR_MAX + 64], text[LR_ERROR_MAX + 64];
    ut_redis redis;
    if (ut_redis_start(&redis, NULL)) {
        printf("    skipped: cannot start redis-server\n");
        return;
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis.port);
    mo_config cfg = {.applied_ttl_days = 1};
    snprintf(cfg.redis_url, sizeof(cfg.redis_url), "%s", url);
    snprintf(cfg.tenant, sizeof(cfg.tenant), "ut");
    rs_store *rs = rs_open(url, "ut", errstr, sizeof(errstr));
    long long t0 = mo_now_ms();
    while (rs && rs_ping(rs, errstr, sizeof(errstr)) && mo_now_ms() - t0 < 5000)
        mo_stop_sleep_ms(50);
    UT_CHECK(rs && rs_ping(rs, errstr, sizeof(errstr)) == MO_OK, "redis: %s", errstr);
    if (!rs)
        goto out;

    /* A secret straddling the cut: cut first, its head would remain. */
    UT_CHECK(lg_add_secret("lastrun-secret-0123456789") == 0, "secret registered");
    memset(text, 'a', LR_ERROR_MAX - 8);
    snprintf(text + LR_ERROR_MAX - 8, sizeof(text) - (LR_ERROR_MAX - 8), "%s",
             "lastrun-secret-0123456789 tail");
    lr_note(&cfg, "ut.mask", MO_ERR_TRANSIENT, text);
    ut_lr_field(rs, "ut.mask", "error", buf, sizeof(buf));
    UT_CHECK(buf[0] && !strstr(buf, "las") && strlen(buf) <= LR_ERROR_MAX,
             "error masked, then cut (%zu bytes): ...%s", strlen(buf),
             strlen(buf) > 40 ? buf + strlen(buf) - 40 : buf);
    UT_CHECK(!strcmp(ut_lr_field(rs, "ut.mask", "error_class", buf, sizeof(buf)), "transient"),
             "class '%s'", buf);

    /* Rate limit: the second success within a second is kept in memory. */
    lr_note(&cfg, "ut.rate", MO_OK, NULL);
    UT_CHECK(*ut_lr_field(rs, "ut.rate", "ok_at", buf, sizeof(buf)), "first success written");
    UT_CHECK(rs_del(rs, "lastrun:ut.rate", errstr, sizeof(errstr)) == MO_OK, "del: %s", errstr);
    lr_note(&cfg, "ut.rate", MO_OK, NULL);
    UT_CHECK(!*ut_lr_field(rs, "ut.rate", "ok_at", buf, sizeof(buf)),
             "a second success within a second was written");
    lr_note(&cfg, "ut.rate", MO_ERR_PERMANENT, "refused");
    UT_CHECK(!strcmp(ut_lr_field(rs, "ut.rate", "error", buf, sizeof(buf)), "refused") &&
                 *ut_lr_field(rs, "ut.rate", "ok_at", buf, sizeof(buf)),
             "an error after a success is written at once, with the success");

    /* Redis away: returns after one short attempt. */
    ut_redis_stop(&redis);
    long long t = mo_now_ms();
    lr_note(&cfg, "ut.rate", MO_OK, NULL);
    lr_note(&cfg, "ut.rate", MO_ERR_TRANSIENT, "x");
    UT_CHECK(mo_now_ms() - t < 2000, "lr_note blocked %lld ms with Redis away", mo_now_ms() - t);
out:
    rs_close(rs);
    ut_redis_stop(&redis);
}

/* ---- processes of many tenants (poll/apply --all-tenants) ---------------- */

typedef struct ut_lr_env {
    ut_redis redis;
    char url[128];
    rs_store *rs; /* rebound to each tenant read */
} ut_lr_env;

/* Starts redis-server and opens a store on it; 0 when ready. */
static int ut_lr_env_start(ut_lr_env *e)
{
    char errstr[256] = "";
    e->rs = NULL;
    if (ut_redis_start(&e->redis, NULL)) {
        printf("    skipped: cannot start redis-server\n");
        return -1;
    }
    snprintf(e->url, sizeof(e->url), "redis://127.0.0.1:%d/0", e->redis.port);
    e->rs = rs_open(e->url, "ut", errstr, sizeof(errstr));
    long long t0 = mo_now_ms();
    while (e->rs && rs_ping(e->rs, errstr, sizeof(errstr)) && mo_now_ms() - t0 < 5000)
        mo_stop_sleep_ms(50);
    if (!UT_CHECK(e->rs && rs_ping(e->rs, errstr, sizeof(errstr)) == MO_OK, "redis: %s", errstr)) {
        rs_close(e->rs);
        ut_redis_stop(&e->redis);
        return -1;
    }
    return 0;
}

static void ut_lr_env_stop(ut_lr_env *e)
{
    rs_close(e->rs);
    ut_redis_stop(&e->redis);
}

static void ut_lr_cfg(mo_config *cfg, const ut_lr_env *e, const char *tenant)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->applied_ttl_days = 1;
    snprintf(cfg->redis_url, sizeof(cfg->redis_url), "%s", e->url);
    snprintf(cfg->tenant, sizeof(cfg->tenant), "%s", tenant);
}

/* field of mosync:{tenant}:lastrun:<component>, "" when absent. */
static const char *ut_lr_tfield(ut_lr_env *e, const char *tenant, const char *component,
                                const char *field, char *buf, size_t size)
{
    rs_set_tenant(e->rs, tenant);
    return ut_lr_field(e->rs, component, field, buf, size);
}

/* One process notes two tenants' work of one component: each record goes
 * under its own tenant's key with its own outcome.  (The slot was the
 * component's alone, its store bound to the first tenant: b's error went
 * into a's record.) */
UT_TEST(mt_lastrun_two_tenants_own_keys)
{
    ut_lr_env e;
    char buf[LR_ERROR_MAX + 64];
    mo_config a, b;
    if (ut_lr_env_start(&e))
        return;
    ut_lr_cfg(&a, &e, "mt-a");
    ut_lr_cfg(&b, &e, "mt-b");
    lr_note(&a, "ut.mt", MO_OK, NULL);
    lr_note(&b, "ut.mt", MO_ERR_TRANSIENT, "b timed out");

    UT_CHECK(*ut_lr_tfield(&e, "mt-a", "ut.mt", "ok_at", buf, sizeof(buf)), "a: no ok_at");
    UT_CHECK(!*ut_lr_tfield(&e, "mt-a", "ut.mt", "error", buf, sizeof(buf)),
             "a's record has b's error '%s'", buf);
    UT_CHECK(!strcmp(ut_lr_tfield(&e, "mt-b", "ut.mt", "error", buf, sizeof(buf)), "b timed out"),
             "b: error '%s'", buf);
    UT_CHECK(!*ut_lr_tfield(&e, "mt-b", "ut.mt", "ok_at", buf, sizeof(buf)),
             "b's record has a's ok_at '%s'", buf);

    /* Each tenant's rate limit is its own: a's second success within the
     * second is kept in memory, b's first success is written at once. */
    lr_note(&b, "ut.mt", MO_OK, NULL);
    UT_CHECK(*ut_lr_tfield(&e, "mt-b", "ut.mt", "ok_at", buf, sizeof(buf)),
             "b's success not written");
    ut_lr_env_stop(&e);
}

/* More (component, tenant) pairs than slots: every note is still written
 * under its tenant's key, and a slot taken over forgets what its previous
 * tenant had (mt-0's error must not show in the record of the tenant that
 * takes mt-0's slot, the least recently used). */
UT_TEST(mt_lastrun_more_tenants_than_slots)
{
    enum { N = LR_SLOTS + 8 };
    ut_lr_env e;
    char buf[LR_ERROR_MAX + 64], tenant[16];
    mo_config cfg;
    int missing = 0, mixed = 0;
    if (ut_lr_env_start(&e))
        return;
    for (int i = 0; i < N; i++) {
        snprintf(tenant, sizeof(tenant), "mt-%d", i);
        ut_lr_cfg(&cfg, &e, tenant);
        if (i == 0)
            lr_note(&cfg, "ut.many", MO_ERR_PERMANENT, "mt-0 broke");
        else
            lr_note(&cfg, "ut.many", MO_OK, NULL);
    }
    for (int i = 1; i < N; i++) {
        snprintf(tenant, sizeof(tenant), "mt-%d", i);
        missing += !*ut_lr_tfield(&e, tenant, "ut.many", "ok_at", buf, sizeof(buf));
        mixed += !!*ut_lr_tfield(&e, tenant, "ut.many", "error", buf, sizeof(buf));
    }
    UT_CHECK(!missing, "%d of %d tenants have no record", missing, N - 1);
    UT_CHECK(!mixed, "%d tenants' records carry another tenant's error", mixed);
    UT_CHECK(!strcmp(ut_lr_tfield(&e, "mt-0", "ut.many", "error", buf, sizeof(buf)), "mt-0 broke"),
             "mt-0: error '%s'", buf);

    /* mt-0 comes back after its slot was taken: written again, at once. */
    ut_lr_cfg(&cfg, &e, "mt-0");
    lr_note(&cfg, "ut.many", MO_OK, NULL);
    UT_CHECK(*ut_lr_tfield(&e, "mt-0", "ut.many", "ok_at", buf, sizeof(buf)),
             "mt-0's success after its slot was reused not written");
    ut_lr_env_stop(&e);
}

typedef struct ut_lr_worker {
    ut_lr_env *e;
    int first; /* the tenant this worker starts at */
} ut_lr_worker;

/* Notes a success of every tenant mt-w-0 .. mt-w-(LR_SLOTS + 31), from first on. */
static void *ut_lr_work(void *arg)
{
    ut_lr_worker *w = arg;
    char tenant[16];
    mo_config cfg;
    for (int k = 0; k < LR_SLOTS + 32; k++) {
        snprintf(tenant, sizeof(tenant), "mt-w-%d", (w->first + k) % (LR_SLOTS + 32));
        ut_lr_cfg(&cfg, w->e, tenant);
        lr_note(&cfg, "ut.workers", MO_OK, NULL);
    }
    return NULL;
}

/* Worker threads of a poller, each with its own order of tenants, more than
 * the slots: slots are taken over under other threads' feet, and still every
 * tenant's record lands under its own key. */
UT_TEST(mt_lastrun_worker_threads_share_the_table)
{
    enum { THREADS = 4, N = LR_SLOTS + 32 };
    ut_lr_env e;
    pthread_t th[THREADS];
    ut_lr_worker w[THREADS];
    char buf[64], tenant[16];
    int missing = 0;
    if (ut_lr_env_start(&e))
        return;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (ut_lr_worker){.e = &e, .first = i * N / THREADS};
        UT_CHECK(pthread_create(&th[i], NULL, ut_lr_work, &w[i]) == 0, "thread %d", i);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        snprintf(tenant, sizeof(tenant), "mt-w-%d", i);
        missing += !*ut_lr_tfield(&e, tenant, "ut.workers", "ok_at", buf, sizeof(buf));
    }
    UT_CHECK(!missing, "%d of %d tenants have no record", missing, N);
    ut_lr_env_stop(&e);
}
