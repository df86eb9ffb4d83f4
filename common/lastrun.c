/* Last success and last error per component (see lastrun.h).
 *
 * The state lives in a small table of slots, one per component, each with its
 * own Redis connection and lock: a component runs in one thread, but `mosync
 * run` runs several components, and they must not share a connection. */
#include "lastrun.h"
#include "log.h"
#include "stop.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Components of one process (four pollers and four appliers in `mosync run`). */
#define LR_SLOTS 16
/* One connection attempt (and a retry) when Redis is away, no more. */
#define LR_REDIS_RETRY_MS 200

typedef struct lr_slot {
    char component[64];
    pthread_mutex_t mu;
    rs_store *rs;
    long long written_ms, paused_until_ms;
    int last_kind;  /* 0 none written yet, 1 ok, 2 error */
    char ok_at[32]; /* "" until a success */
    char error_at[32];
    char error_class[32];
    char error[LR_ERROR_MAX + 1];
} lr_slot;

static lr_slot lr_slots[LR_SLOTS];
static int lr_nslots;
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

static lr_slot *lr_slot_get(const char *component)
{
    lr_slot *s = NULL;
    pthread_mutex_lock(&lr_mu);
    for (int i = 0; i < lr_nslots && !s; i++)
        if (!strcmp(lr_slots[i].component, component))
            s = &lr_slots[i];
    if (!s && lr_nslots < LR_SLOTS && strlen(component) < sizeof(s->component)) {
        s = &lr_slots[lr_nslots++];
        snprintf(s->component, sizeof(s->component), "%s", component);
        pthread_mutex_init(&s->mu, NULL);
    }
    pthread_mutex_unlock(&lr_mu);
    return s;
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
    if (!s->rs) {
        s->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
        if (!s->rs)
            return -1;
        rs_set_retry_ms(s->rs, LR_REDIS_RETRY_MS);
    }
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
    lr_slot *s = lr_slot_get(component);
    if (!s)
        return; /* more components than slots: status shows none for it */
    pthread_mutex_lock(&s->mu);
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
