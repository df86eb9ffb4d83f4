/* Last success and last error per component and tenant (see lastrun.h).
 *
 * The state lives in a table of slots, one per (component, tenant), each with
 * its own Redis connection and lock: `mosync run` runs several components in
 * threads, and a poller or applier of many tenants (--all-tenants) notes each
 * tenant's work from its worker threads; they must not share a connection,
 * and each tenant's record must go under its own keys. */
#include "lastrun.h"
#include "log.h"
#include "stop.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One connection attempt (and a retry) when Redis is away, no more. */
#define LR_REDIS_RETRY_MS 200

/* The key (component, tenant) is written holding both lr_mu and the slot's
 * mu, so either lock is enough to read it; everything else is the slot's mu's. */
typedef struct lr_slot {
    char component[64];
    char tenant[sizeof(((mo_config *)0)->tenant)];
    unsigned long long used; /* lr_clock at the last lookup (lr_mu's): the LRU order */
    pthread_mutex_t mu;
    rs_store *rs;
    char url[sizeof(((mo_config *)0)->redis_url)]; /* the rs's */
    long long written_ms, paused_until_ms;
    int last_kind;  /* 0 none written yet, 1 ok, 2 error */
    char ok_at[32]; /* "" until a success */
    char error_at[32];
    char error_class[32];
    char error[LR_ERROR_MAX + 1];
} lr_slot;

static lr_slot lr_slots[LR_SLOTS];
static int lr_nslots;
static unsigned long long lr_clock;
static pthread_mutex_t lr_mu = PTHREAD_MUTEX_INITIALIZER;

/* HMSET (not the variadic HSET: Redis before 4.0 has none) and the expiry. */
static const char lr_lua[] = "redis.call('HMSET', KEYS[1], unpack(ARGV, 2))\n"
                             "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                             "return 1\n";

const char *lr_suffix(const char *component, char *buf, size_t size)
{
    snprintf(buf, size, "lastrun:%s", component);
    return buf;
}

/* The slot of (component, tenant), not locked: a new one while the table has
 * room, else the least recently used one re-keyed (its remembered outcome
 * forgotten; its store kept, bound to tenant when it next writes).  NULL when
 * the names do not fit a slot.  The caller locks the slot's mu and checks the
 * key again (lr_slot_lock): another thread may take the slot over between. */
static lr_slot *lr_slot_get(const char *component, const char *tenant)
{
    lr_slot *s = NULL;
    if (strlen(component) >= sizeof(s->component) || strlen(tenant) >= sizeof(s->tenant))
        return NULL;
    pthread_mutex_lock(&lr_mu);
    for (int i = 0; i < lr_nslots && !s; i++)
        if (!strcmp(lr_slots[i].component, component) && !strcmp(lr_slots[i].tenant, tenant))
            s = &lr_slots[i];
    if (!s) {
        if (lr_nslots < LR_SLOTS) {
            s = &lr_slots[lr_nslots++];
            pthread_mutex_init(&s->mu, NULL);
        } else {
            s = &lr_slots[0];
            for (int i = 1; i < LR_SLOTS; i++)
                if (lr_slots[i].used < s->used)
                    s = &lr_slots[i];
        }
        /* Lock order lr_mu, then a slot's mu (never the reverse).  The least
         * recently used slot is almost never busy; if it is, its holder is
         * done within one short Redis attempt. */
        pthread_mutex_lock(&s->mu);
        snprintf(s->component, sizeof(s->component), "%s", component);
        snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
        s->written_ms = s->paused_until_ms = 0;
        s->last_kind = 0;
        s->ok_at[0] = s->error_at[0] = s->error_class[0] = s->error[0] = '\0';
        pthread_mutex_unlock(&s->mu);
    }
    s->used = ++lr_clock;
    pthread_mutex_unlock(&lr_mu);
    return s;
}

/* The slot of (component, tenant), locked; NULL as lr_slot_get. */
static lr_slot *lr_slot_lock(const char *component, const char *tenant)
{
    for (;;) {
        lr_slot *s = lr_slot_get(component, tenant);
        if (!s)
            return NULL;
        pthread_mutex_lock(&s->mu);
        if (!strcmp(s->component, component) && !strcmp(s->tenant, tenant))
            return s;
        pthread_mutex_unlock(&s->mu); /* taken over meanwhile: look again */
    }
}

static void lr_now_iso(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes what the slot knows.  0 when written. */
static int lr_write(const mo_config *cfg, lr_slot *s)
{
    char errstr[512], suffix[128], ttl[32];
    const char *args[9];
    int n = 0;
    /* A slot taken over keeps its previous pair's store: rebound to this
     * tenant, and reopened only for another Redis (a process has one
     * REDIS_URL; the unit tests start a Redis per test). */
    if (s->rs && strcmp(s->url, cfg->redis_url)) {
        rs_close(s->rs);
        s->rs = NULL;
    }
    if (!s->rs) {
        s->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
        if (!s->rs)
            return -1;
        rs_set_retry_ms(s->rs, LR_REDIS_RETRY_MS);
        snprintf(s->url, sizeof(s->url), "%s", cfg->redis_url);
    }
    rs_set_tenant(s->rs, cfg->tenant);
    snprintf(ttl, sizeof(ttl), "%ld", (long)cfg->applied_ttl_days * 86400L);
    args[n++] = ttl;
    if (s->ok_at[0]) {
        args[n++] = "ok_at";
        args[n++] = s->ok_at;
    }
    if (s->error_at[0]) {
        args[n++] = "error_at";
        args[n++] = s->error_at;
        args[n++] = "error_class";
        args[n++] = s->error_class;
        args[n++] = "error";
        args[n++] = s->error;
    }
    const char *keys[1] = {lr_suffix(s->component, suffix, sizeof(suffix))};
    json_t *out = NULL;
    mo_err err = rs_eval(s->rs, lr_lua, 1, keys, n, args, &out, errstr, sizeof(errstr));
    json_decref(out);
    if (err)
        lg_warn(s->component, cfg->tenant, "last run not recorded (%s); trying again in %d s",
                errstr, LR_PAUSE_MS / 1000);
    return err ? -1 : 0;
}

void lr_note(const mo_config *cfg, const char *component, mo_err err, const char *error)
{
    lr_slot *s = lr_slot_lock(component, cfg->tenant);
    if (!s)
        return; /* a name longer than a slot holds: status shows none for it */
    int kind = err == MO_OK ? 1 : 2;
    if (kind == 1) {
        lr_now_iso(s->ok_at, sizeof(s->ok_at));
    } else {
        lr_now_iso(s->error_at, sizeof(s->error_at));
        snprintf(s->error_class, sizeof(s->error_class), "%s", mo_err_name(err));
        /* Masked before it is cut, so no head of a secret is left behind. */
        lg_quote(error ? error : "", error ? strlen(error) : 0, LR_ERROR_MAX, s->error,
                 sizeof(s->error));
    }
    long long now = mo_now_ms();
    if (now >= s->paused_until_ms &&
        (kind != s->last_kind || now - s->written_ms >= LR_MIN_INTERVAL_MS)) {
        if (lr_write(cfg, s)) {
            s->paused_until_ms = mo_now_ms() + LR_PAUSE_MS;
            s->last_kind = 0; /* the next write after the pause goes through */
        } else {
            s->written_ms = now;
            s->last_kind = kind;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Seconds from an ISO time "YYYY-MM-DDTHH:MM:SSZ" (as lr_note writes it) to
 * now, or -1 when it is not one. */
static long long lr_age(const char *iso, long long now)
{
    struct tm tm = {0};
    char z = 0;
    int n = 0;
    if (!iso ||
        sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &n) != 7 ||
        z != 'Z' || iso[n] || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : now - (long long)t;
}

json_t *lr_view(const json_t *fields, long long now)
{
    json_t *o = json_pack("{s:n, s:n, s:n, s:n, s:n, s:n}", "ok_at", "ok_age_s", "error_at",
                          "error_age_s", "error_class", "error");
    for (size_t i = 0; o && i + 1 < json_array_size(fields); i += 2) {
        const char *k = json_string_value(json_array_get(fields, i));
        json_t *v = json_array_get(fields, i + 1);
        if (!k || !json_is_string(v) || !json_object_get(o, k) || strstr(k, "_age_s"))
            continue;
        if (!strcmp(k, "error")) {
            /* Masked when written; again here, with this process's secrets,
             * then cut where a character ends (json_string wants UTF-8). */
            char text[LR_ERROR_MAX + 1];
            const char *e = json_string_value(v);
            size_t keep = lg_utf8_cut(e, strlen(e), LR_ERROR_MAX);
            memcpy(text, e, keep);
            text[keep] = '\0';
            lg_mask_secrets(text, sizeof(text));
            json_object_set_new(o, k, json_string(text));
            continue;
        }
        json_object_set(o, k, v);
        if (!strcmp(k, "ok_at") || !strcmp(k, "error_at")) {
            char age[32];
            snprintf(age, sizeof(age), "%.*s_age_s", (int)(strlen(k) - 3), k);
            long long a = lr_age(json_string_value(v), now);
            json_object_set_new(o, age, a >= 0 ? json_integer(a) : json_null());
        }
    }
    return o;
}
