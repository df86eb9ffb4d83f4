/* A refused credential per tenant and API (see credential.h).
 *
 * One slot per API in the process, each with its own Redis connection and
 * lock: in `mosync run` the order and article flows share Ongoing's slot, so
 * the process logs a refusal of Ongoing once a minute, not once per flow. */
#include "credential.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "stop.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One Redis attempt (and a retry) when Redis is away, no more: the record is
 * for people to read, the flow must not wait for it. */
#define CR_REDIS_RETRY_MS 200
/* The longest error text kept (bytes, before the NUL), as lastrun's. */
#define CR_ERROR_MAX 300

const char *const cr_apis[CR_NAPIS] = {"mystore", "ongoing"};

typedef struct cr_slot {
    pthread_mutex_t mu;
    rs_store *rs;
    long long refused_ms; /* monotonic: this process's first refusal of the spell; 0 = none */
    long long logged_ms, written_ms, cleared_try_ms;
    int cleared; /* the record was deleted since the last refusal */
    int fresh;   /* started afresh for another tenant (cr_switch): its gauge may still say 1 */
    char since[32];
} cr_slot;

static cr_slot cr_slots[CR_NAPIS] = {{.mu = PTHREAD_MUTEX_INITIALIZER},
                                     {.mu = PTHREAD_MUTEX_INITIALIZER}};

/* Each field sets itself only when absent (since), the others always; the
 * expiry is renewed by every refusal noted.  HMSET, not the variadic HSET:
 * Redis before 4.0 has none. */
static const char cr_write_lua[] =
    "redis.call('HSETNX', KEYS[1], 'since', ARGV[1])\n"
    "redis.call('HMSET', KEYS[1], 'at', ARGV[2], 'by', ARGV[3], 'error', ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "return 1\n";

static int cr_index(const char *api)
{
    for (int i = 0; api && i < CR_NAPIS; i++)
        if (!strcmp(cr_apis[i], api))
            return i;
    return -1;
}

const char *cr_api_title(const char *api)
{
    return !strcmp(api, "mystore") ? "Mystore" : !strcmp(api, "ongoing") ? "Ongoing" : api;
}

/* The setting to fix for api. */
static const char *cr_setting(const mo_config *cfg, const char *api)
{
    if (!strcmp(api, "mystore"))
        return cfg->mystore_oauth ? "MYSTORE_REFRESH_TOKEN (a new authorization)" : "MYSTORE_TOKEN";
    return "ONGOING_USER and ONGOING_PASSWORD";
}

static void cr_now_iso(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *cr_suffix(const char *api, char *buf, size_t size)
{
    snprintf(buf, size, "refused:%s", api);
    return buf;
}

/* The slot's store, opened on first use; NULL when the URL is bad. */
static rs_store *cr_store(const mo_config *cfg, cr_slot *s)
{
    char errstr[256];
    if (!s->rs && (s->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr))))
        rs_set_retry_ms(s->rs, CR_REDIS_RETRY_MS);
    return s->rs;
}

/* `poll --all-tenants` serves one tenant after another: when cfg's tenant is
 * not the slot's, the slot starts afresh for it (its record, its spell), so
 * one tenant's refusal is never written, shown or ended as another's.  Such
 * a process thus logs a refusal at each cycle of the tenant, as it logs
 * every failed cycle.  The slot's lock is held. */
static void cr_switch(const mo_config *cfg, cr_slot *s)
{
    if (!s->rs || !strcmp(rs_tenant(s->rs), cfg->tenant))
        return;
    rs_set_tenant(s->rs, cfg->tenant);
    s->refused_ms = s->logged_ms = s->written_ms = s->cleared_try_ms = 0;
    s->cleared = 0;
    s->fresh = 1;
    s->since[0] = '\0';
}

void cr_refused(const mo_config *cfg, const char *component, const char *api, const char *error)
{
    char text[CR_ERROR_MAX + 1], at[32], ttl[16], suffix[64], errstr[256];
    int i = cr_index(api);
    if (i < 0)
        return;
    cr_slot *s = &cr_slots[i];
    /* Masked before it is cut, so no head of a secret is left behind. */
    lg_quote(error ? error : "", error ? strlen(error) : 0, CR_ERROR_MAX, text, sizeof(text));
    pthread_mutex_lock(&s->mu);
    cr_switch(cfg, s);
    long long now = mo_now_ms();
    if (!s->refused_ms) {
        s->refused_ms = now;
        s->logged_ms = s->written_ms = 0;
        cr_now_iso(s->since, sizeof(s->since));
    }
    s->cleared = 0;
    if (!s->logged_ms || now - s->logged_ms >= CR_LOG_EVERY_MS) {
        lg_error(component, cfg->tenant,
                 "%s refused the credential since %s (%s); every flow with %s waits and retries, "
                 "nothing is dead-lettered: fix %s",
                 cr_api_title(api), s->since, text, cr_api_title(api), cr_setting(cfg, api));
        s->logged_ms = now;
    }
    mt_set("mosync_credential_refused", 1, "api", api, "tenant", cfg->tenant, NULL);
    if ((!s->written_ms || now - s->written_ms >= CR_WRITE_EVERY_MS) && cr_store(cfg, s)) {
        json_t *out = NULL;
        const char *keys[1] = {cr_suffix(api, suffix, sizeof(suffix))};
        snprintf(ttl, sizeof(ttl), "%d", CR_TTL_S);
        cr_now_iso(at, sizeof(at));
        const char *args[5] = {s->since, at, component, text, ttl};
        if (rs_eval(s->rs, cr_write_lua, 1, keys, 5, args, &out, errstr, sizeof(errstr)))
            lg_warn(component, cfg->tenant, "the refused credential is not recorded: %s", errstr);
        json_decref(out);
        s->written_ms = now; /* a failed write too: tried again after the interval */
    }
    pthread_mutex_unlock(&s->mu);
}

void cr_accepted(const mo_config *cfg, const char *component, const char *api)
{
    char suffix[64], errstr[256];
    int i = cr_index(api);
    if (i < 0)
        return;
    cr_slot *s = &cr_slots[i];
    long long up = hc_api_last_up_ms(api);
    pthread_mutex_lock(&s->mu);
    cr_switch(cfg, s);
    long long now = mo_now_ms();
    /* Only a 2xx after the last refusal proves the credential good; the
     * record (also one of another process) goes once per spell. */
    if (s->cleared || !up || (s->refused_ms && up <= s->refused_ms) ||
        (s->cleared_try_ms && now - s->cleared_try_ms < CR_WRITE_EVERY_MS) || !cr_store(cfg, s)) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->cleared_try_ms = now;
    if (rs_del(s->rs, cr_suffix(api, suffix, sizeof(suffix)), errstr, sizeof(errstr))) {
        lg_warn(component, cfg->tenant, "the refused credential record is not cleared: %s", errstr);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (s->refused_ms)
        lg_info(component, cfg->tenant, "%s accepts the credential again (refused since %s)",
                cr_api_title(api), s->since);
    if (s->refused_ms || s->fresh)
        mt_set("mosync_credential_refused", 0, "api", api, "tenant", cfg->tenant, NULL);
    s->refused_ms = 0;
    s->fresh = 0;
    s->cleared = 1;
    pthread_mutex_unlock(&s->mu);
}

const char *cr_since(const char *api, char *buf, size_t size)
{
    int i = cr_index(api);
    const char *out = NULL;
    if (i < 0)
        return NULL;
    pthread_mutex_lock(&cr_slots[i].mu);
    if (cr_slots[i].refused_ms && hc_api_last_up_ms(api) <= cr_slots[i].refused_ms) {
        snprintf(buf, size, "%s", cr_slots[i].since);
        out = buf;
    }
    pthread_mutex_unlock(&cr_slots[i].mu);
    return out;
}

mo_err cr_read(rs_store *rs, const char *api, json_t **out, char *errstr, size_t errstr_size)
{
    char suffix[64];
    json_t *reply = NULL;
    const char *keys[1] = {cr_suffix(api, suffix, sizeof(suffix))};
    *out = NULL;
    mo_err err = rs_eval(rs, "return redis.call('HMGET', KEYS[1], 'since', 'at', 'by', 'error')", 1,
                         keys, 0, NULL, &reply, errstr, errstr_size);
    if (err)
        return err;
    const char *since = json_string_value(json_array_get(reply, 0));
    if (since) {
        *out = json_pack("{s:s, s:O?, s:O?, s:O?}", "refused_since", since, "last_refused_at",
                         json_array_get(reply, 1), "by", json_array_get(reply, 2), "error",
                         json_array_get(reply, 3));
        if (!*out)
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    json_decref(reply);
    return err;
}
