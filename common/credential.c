/* A refused credential per tenant and API (see credential.h).
 *
 * One slot per (API, tenant) in the process, each with its own Redis
 * connection and lock: in `mosync run` the order and article flows share
 * Ongoing's slot, so the process logs a refusal of Ongoing once a minute, not
 * once per flow; a process of many tenants (--all-tenants) keeps each
 * tenant's refusal apart, under its own keys. */
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

/* The key (api, tenant) is written holding both cr_mu and the slot's mu, so
 * either lock is enough to read it; everything else is the slot's mu's. */
typedef struct cr_slot {
    int api; /* index in cr_apis */
    char tenant[sizeof(((mo_config *)0)->tenant)];
    unsigned long long used; /* cr_clock at the last lookup (cr_mu's): the LRU order */
    pthread_mutex_t mu;
    rs_store *rs;
    char url[sizeof(((mo_config *)0)->redis_url)]; /* the rs's */
    long long refused_ms; /* monotonic: this process's first refusal of the spell; 0 = none */
    long long logged_ms, written_ms, cleared_try_ms;
    int cleared; /* the record was deleted since the last refusal */
    char since[32];
} cr_slot;

static cr_slot cr_slots[CR_SLOTS];
static int cr_nslots;
static unsigned long long cr_clock;
static pthread_mutex_t cr_mu = PTHREAD_MUTEX_INITIALIZER;

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

/* The slot of (cr_apis[api], tenant), not locked: a new one while the table
 * has room, else the least recently used one re-keyed (its refusal state
 * forgotten; its store kept, bound to tenant at its next use).  NULL when the
 * tenant does not fit a slot.  The caller locks the slot's mu and checks the
 * key again (cr_slot_lock): another thread may take the slot over between. */
static cr_slot *cr_slot_get(int api, const char *tenant)
{
    cr_slot *s = NULL;
    if (strlen(tenant) >= sizeof(s->tenant))
        return NULL;
    pthread_mutex_lock(&cr_mu);
    for (int i = 0; i < cr_nslots && !s; i++)
        if (cr_slots[i].api == api && !strcmp(cr_slots[i].tenant, tenant))
            s = &cr_slots[i];
    if (!s) {
        if (cr_nslots < CR_SLOTS) {
            s = &cr_slots[cr_nslots++];
            pthread_mutex_init(&s->mu, NULL);
        } else {
            s = &cr_slots[0];
            for (int i = 1; i < CR_SLOTS; i++)
                if (cr_slots[i].used < s->used)
                    s = &cr_slots[i];
        }
        /* Lock order cr_mu, then a slot's mu (never the reverse); as in
         * lastrun.c, the least recently used slot is almost never busy. */
        pthread_mutex_lock(&s->mu);
        s->api = api;
        snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
        s->refused_ms = s->logged_ms = s->written_ms = s->cleared_try_ms = 0;
        s->cleared = 0;
        s->since[0] = '\0';
        pthread_mutex_unlock(&s->mu);
    }
    s->used = ++cr_clock;
    pthread_mutex_unlock(&cr_mu);
    return s;
}

/* The slot of (api, tenant), locked; NULL when api is none of cr_apis or
 * as cr_slot_get. */
static cr_slot *cr_slot_lock(const char *api, const char *tenant)
{
    int i = cr_index(api);
    for (;;) {
        cr_slot *s = i < 0 ? NULL : cr_slot_get(i, tenant);
        if (!s)
            return NULL;
        pthread_mutex_lock(&s->mu);
        if (s->api == i && !strcmp(s->tenant, tenant))
            return s;
        pthread_mutex_unlock(&s->mu); /* taken over meanwhile: look again */
    }
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

/* The slot's store, opened on first use and bound to cfg->tenant; NULL when
 * the URL is bad.  A slot taken over keeps its previous pair's store, as
 * lastrun.c's: rebound, and reopened only for another Redis. */
static rs_store *cr_store(const mo_config *cfg, cr_slot *s)
{
    char errstr[256];
    if (s->rs && strcmp(s->url, cfg->redis_url)) {
        rs_close(s->rs);
        s->rs = NULL;
    }
    if (!s->rs && (s->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr)))) {
        rs_set_retry_ms(s->rs, CR_REDIS_RETRY_MS);
        snprintf(s->url, sizeof(s->url), "%s", cfg->redis_url);
    }
    if (s->rs)
        rs_set_tenant(s->rs, cfg->tenant);
    return s->rs;
}

void cr_refused(const mo_config *cfg, const char *component, const char *api, const char *error)
{
    char text[CR_ERROR_MAX + 1], at[32], ttl[16], suffix[64], errstr[256];
    /* Masked before it is cut, so no head of a secret is left behind. */
    lg_quote(error ? error : "", error ? strlen(error) : 0, CR_ERROR_MAX, text, sizeof(text));
    cr_slot *s = cr_slot_lock(api, cfg->tenant);
    if (!s)
        return;
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
    cr_slot *s = cr_slot_lock(api, cfg->tenant);
    if (!s)
        return; /* api NULL (a flow without one) or none of cr_apis */
    /* Process-wide, not per tenant: in a process of many tenants a 2xx of
     * another tenant's client can end this tenant's refusal spell early (its
     * record deleted, the gauge 0) when this tenant's work succeeds without a
     * request of its own; its next refusal records it again. */
    long long up = hc_api_last_up_ms(api);
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
    if (s->refused_ms) {
        lg_info(component, cfg->tenant, "%s accepts the credential again (refused since %s)",
                cr_api_title(api), s->since);
        mt_set("mosync_credential_refused", 0, "api", api, "tenant", cfg->tenant, NULL);
    }
    s->refused_ms = 0;
    s->cleared = 1;
    pthread_mutex_unlock(&s->mu);
}

const char *cr_since(const char *api, char *buf, size_t size)
{
    int api_i = cr_index(api);
    long long first = 0;
    if (api_i < 0)
        return NULL;
    long long up = hc_api_last_up_ms(api);
    pthread_mutex_lock(&cr_mu);
    int n = cr_nslots; /* slots are never removed: those below n stay valid */
    pthread_mutex_unlock(&cr_mu);
    /* The earliest spell of any tenant still refused: the one to fix first. */
    for (int i = 0; i < n; i++) {
        cr_slot *s = &cr_slots[i];
        pthread_mutex_lock(&s->mu);
        if (s->api == api_i && s->refused_ms && up <= s->refused_ms &&
            (!first || s->refused_ms < first)) {
            first = s->refused_ms;
            snprintf(buf, size, "%s", s->since);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return first ? buf : NULL;
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
