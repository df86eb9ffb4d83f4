/* Poller leases (see lease.h). */
#include "lease.h"
#include "http.h"
#include "log.h"
#include "stop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ls_lease {
    rs_store *rs; /* used by the acquiring thread, or by the keeper while it runs */
    char tenant[72];
    char suffix[128];       /* "lease:<stream>" */
    char fence_suffix[160]; /* "lease:<stream>:fence" */
    char me[LS_TOKEN_MAX / 2];
    char token[LS_TOKEN_MAX];
    long long fence;
    long ttl_ms;
    pthread_t keeper;
    int keeper_running;
    atomic_int stop;    /* asks the keeper to end */
    pthread_mutex_t mu; /* with wake: the keeper's wait ends at once on a stop */
    pthread_cond_t wake;
    atomic_int lost;              /* Redis named another holder, or renewal failed too long */
    atomic_llong renewed_sent_ms; /* when the last successful renewal was sent (monotonic) */
};

/* KEYS: lease, fence counter.  ARGV: "<nonce> <holder>", ttl ms, our token or "".
 * Returns {1, token} when ours, {0, their token, pttl} when another holds it.
 * A new holder's fence is the counter plus one, but never less than Redis's
 * clock in ms: the fences stay increasing when Redis lost the counter (a
 * restart without persistence, a FLUSHALL), since events carry the fence and
 * consumers drop an equal-version event of a lower one (poll.c). */
static const char ls_acquire_lua[] = "local v = redis.call('GET', KEYS[1])\n"
                                     "if v then\n"
                                     "  if v == ARGV[3] then\n"
                                     "    redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                     "    return {1, v}\n"
                                     "  end\n"
                                     "  return {0, v, redis.call('PTTL', KEYS[1])}\n"
                                     "end\n"
                                     "local f = redis.call('INCR', KEYS[2])\n"
                                     "local t = redis.call('TIME')\n"
                                     "local ms = tonumber(t[1]) * 1000 + "
                                     "math.floor(tonumber(t[2]) / 1000)\n"
                                     "if f < ms then\n"
                                     "  f = ms\n"
                                     "  redis.call('SET', KEYS[2], string.format('%.0f', f))\n"
                                     "end\n"
                                     "local tok = string.format('%.0f', f) .. ' ' .. ARGV[1]\n"
                                     "redis.call('SET', KEYS[1], tok, 'PX', ARGV[2])\n"
                                     "return {1, tok}\n";

/* KEYS: lease.  ARGV: token, ttl ms.  1 when renewed, 0 when not ours. */
static const char ls_renew_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                   "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                   "  return 1\n"
                                   "end\n"
                                   "return 0\n";

/* KEYS: lease.  ARGV: token.  Deletes the lease when it is still ours. */
static const char ls_release_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                     "  return redis.call('DEL', KEYS[1])\n"
                                     "end\n"
                                     "return 0\n";

/* Eight random hex digits: the token stays unique even when two processes
 * share a host name and pid (containers) and Redis lost the fence counter. */
static void ls_nonce(char out[9])
{
    unsigned int v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (unsigned int)ts.tv_nsec ^ (unsigned int)getpid() << 16;
    }
    if (fd >= 0)
        close(fd);
    snprintf(out, 9, "%08x", v);
}

ls_lease *ls_new(const char *redis_url, const char *tenant, const char *stream, int ttl_s,
                 char *errstr, size_t errstr_size)
{
    char nonce[9];
    ls_lease *ls = calloc(1, sizeof(*ls));
    if (!ls) {
        mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    ls->rs = rs_open(redis_url, tenant, errstr, errstr_size);
    if (!ls->rs) {
        free(ls);
        return NULL;
    }
    ls->ttl_ms = ttl_s * 1000L;
    /* One renewal must not block longer than a quarter of the TTL. */
    rs_set_retry_ms(ls->rs, ls->ttl_ms / 4);
    snprintf(ls->tenant, sizeof(ls->tenant), "%s", tenant);
    snprintf(ls->suffix, sizeof(ls->suffix), "lease:%s", stream);
    snprintf(ls->fence_suffix, sizeof(ls->fence_suffix), "lease:%s:fence", stream);
    ls_nonce(nonce);
    snprintf(ls->me, sizeof(ls->me), "%s %s", nonce, hc_user_agent());
    atomic_init(&ls->stop, 0);
    pthread_mutex_init(&ls->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ls->wake, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&ls->lost, 1);
    atomic_init(&ls->renewed_sent_ms, 0);
    return ls;
}

/* The keeper: renews the lease every third of the TTL until asked to stop,
 * or until the lease is lost (another holder, or no renewal for a TTL). */
static void *ls_keeper(void *arg)
{
    ls_lease *ls = arg;
    char errstr[256], ttl[32];
    snprintf(ttl, sizeof(ttl), "%ld", ls->ttl_ms);
    const char *keys[1] = {ls->suffix};
    const char *args[2] = {ls->token, ttl};
    while (!atomic_load(&ls->stop)) {
        /* A third of the TTL, or until a stop (a cycle of
         * `poll --all-tenants` releases its lease at once when it ends). */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long long ns = until.tv_nsec + (ls->ttl_ms / 3) * 1000000LL;
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        pthread_mutex_lock(&ls->mu);
        while (!atomic_load(&ls->stop) &&
               pthread_cond_timedwait(&ls->wake, &ls->mu, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&ls->mu);
        if (atomic_load(&ls->stop))
            break;
        long long sent = mo_now_ms();
        json_t *r = NULL;
        mo_err err = rs_eval(ls->rs, ls_renew_lua, 1, keys, 2, args, &r, errstr, sizeof(errstr));
        if (!err && json_integer_value(r) == 1) {
            atomic_store(&ls->renewed_sent_ms, sent);
        } else if (!err) {
            atomic_store(&ls->lost, 1); /* another process holds it now */
        } else if (mo_now_ms() - atomic_load(&ls->renewed_sent_ms) >= ls->ttl_ms) {
            atomic_store(&ls->lost, 1); /* it has expired in Redis by now */
        }
        json_decref(r);
        if (atomic_load(&ls->lost))
            break;
    }
    return NULL;
}

/* Stops and joins the keeper when it runs. */
static void ls_stop_keeper(ls_lease *ls)
{
    if (!ls->keeper_running)
        return;
    pthread_mutex_lock(&ls->mu);
    atomic_store(&ls->stop, 1);
    pthread_cond_signal(&ls->wake);
    pthread_mutex_unlock(&ls->mu);
    pthread_join(ls->keeper, NULL);
    ls->keeper_running = 0;
    atomic_store(&ls->stop, 0);
}

void ls_token_parse(const char *tok, long long *fence, char *holder, size_t holder_size)
{
    char *end;
    errno = 0;
    long long f = strtoll(tok, &end, 10);
    *fence = end != tok && !errno ? f : 0;
    const char *sp = strchr(tok, ' ');
    const char *name = sp ? strchr(sp + 1, ' ') : NULL;
    if (!name || !name[1]) {
        snprintf(holder, holder_size, "?");
        return;
    }
    name++;
    char *clean = lg_utf8_escape(name, strlen(name));
    const char *shown = clean ? clean : "?";
    size_t keep = lg_utf8_cut(shown, strlen(shown), holder_size - 1);
    memcpy(holder, shown, keep);
    holder[keep] = '\0';
    free(clean);
}

mo_err ls_acquire(ls_lease *ls, int *held, char *holder, size_t holder_size, long *wait_ms,
                  char *errstr, size_t errstr_size)
{
    char ttl[32];
    json_t *r = NULL;
    *held = 0;
    *wait_ms = 0;
    if (holder && holder_size)
        holder[0] = '\0';
    if (ls_held(ls)) {
        *held = 1;
        return MO_OK;
    }
    ls_stop_keeper(ls); /* lost: the keeper has ended or ends now */
    snprintf(ttl, sizeof(ttl), "%ld", ls->ttl_ms);
    const char *keys[2] = {ls->suffix, ls->fence_suffix};
    const char *args[3] = {ls->me, ttl, ls->token};
    long long sent = mo_now_ms();
    mo_err err = rs_eval(ls->rs, ls_acquire_lua, 2, keys, 3, args, &r, errstr, errstr_size);
    if (err)
        return err;
    const char *tok = json_string_value(json_array_get(r, 1));
    if (!json_is_array(r) || !tok) {
        json_decref(r);
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "unexpected lease answer");
    }
    if (json_integer_value(json_array_get(r, 0)) != 1) {
        long long their_fence;
        if (holder && holder_size)
            ls_token_parse(tok, &their_fence, holder, holder_size);
        json_int_t pttl = json_integer_value(json_array_get(r, 2));
        *wait_ms = pttl > 0 ? (long)pttl : 0;
        json_decref(r);
        return MO_OK;
    }
    snprintf(ls->token, sizeof(ls->token), "%s", tok);
    ls->fence = strtoll(tok, NULL, 10);
    json_decref(r);
    atomic_store(&ls->renewed_sent_ms, sent);
    atomic_store(&ls->lost, 0);
    if (pthread_create(&ls->keeper, NULL, ls_keeper, ls)) {
        atomic_store(&ls->lost, 1);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "cannot start the lease keeper");
    }
    ls->keeper_running = 1;
    *held = 1;
    return MO_OK;
}

int ls_held(ls_lease *ls)
{
    /* Counted from when the last renewal was sent, less a tenth for the
     * clocks of Redis and of this host running at slightly different rates. */
    return !atomic_load(&ls->lost) &&
           mo_now_ms() - atomic_load(&ls->renewed_sent_ms) < ls->ttl_ms - ls->ttl_ms / 10;
}

void ls_lost(ls_lease *ls)
{
    atomic_store(&ls->lost, 1);
}

const char *ls_token(const ls_lease *ls)
{
    return ls->token;
}

const char *ls_suffix(const ls_lease *ls)
{
    return ls->suffix;
}

long long ls_fence(const ls_lease *ls)
{
    return ls->fence;
}

/* Stops the keeper and deletes the lease when it is still ours; logs it
 * when asked.  The handle is then as new (not held). */
static void ls_let_go(ls_lease *ls, int log)
{
    ls_stop_keeper(ls);
    if (ls->token[0]) {
        char errstr[256];
        json_t *r = NULL;
        const char *keys[1] = {ls->suffix};
        const char *args[1] = {ls->token};
        if (!rs_eval(ls->rs, ls_release_lua, 1, keys, 1, args, &r, errstr, sizeof(errstr)) &&
            json_integer_value(r) == 1 && log)
            lg_info("lease", ls->tenant, "released %s", ls->suffix);
        json_decref(r);
    }
    ls->token[0] = '\0';
    ls->fence = 0;
    atomic_store(&ls->lost, 1);
    atomic_store(&ls->renewed_sent_ms, 0);
}

void ls_free(ls_lease *ls)
{
    if (!ls)
        return;
    ls_let_go(ls, 1);
    rs_close(ls->rs);
    pthread_cond_destroy(&ls->wake);
    pthread_mutex_destroy(&ls->mu);
    free(ls);
}

void ls_release(ls_lease *ls)
{
    if (ls)
        ls_let_go(ls, 0);
}

void ls_rebind(ls_lease *ls, const char *tenant)
{
    ls_let_go(ls, 0);
    snprintf(ls->tenant, sizeof(ls->tenant), "%s", tenant);
    rs_set_tenant(ls->rs, tenant);
}
