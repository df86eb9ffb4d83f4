#include "store.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"
#include "stop.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct rs_store {
    rs_url url;
    char tenant[72];
    long retry_ms;
    long timeout_ms; /* the socket timeout set on c */
    redisContext *c;
};

#define RS_IO_TIMEOUT_MS 2000 /* connect and one command, when no deadline is nearer */

/* When any store of this process last met Redis away or unable to serve
 * (monotonic ms; 0 = never): see rs_outage_since. */
static atomic_llong rs_outage_at;

int rs_outage_since(long long since_ms)
{
    return atomic_load(&rs_outage_at) >= since_ms && atomic_load(&rs_outage_at) > 0;
}

static int rs_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes in[0..len) into out; -1 on a bad escape, %00, or no room. */
static int rs_decode(const char *in, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = rs_hex(in[i + 1]), lo = rs_hex(in[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

#define RS_URL_FORM "REDIS_URL must look like redis://[[user]:password@]host[:port][/db]: "

mo_err rs_url_parse(const char *url, rs_url *out, char *errstr, size_t errstr_size)
{
    const char *p = url, *at, *colon, *end;
    char *num_end;
    long n;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!strncmp(p, "rediss://", 9))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "REDIS_URL: rediss:// (TLS) is not supported by this build (hiredis %d.%d "
                         "without TLS); use redis:// on a trusted network, or a TLS tunnel",
                         HIREDIS_MAJOR, HIREDIS_MINOR);
    if (strncmp(p, "redis://", 8))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         RS_URL_FORM "it must start with "
                                     "redis://");
    p += 8;
    if (strpbrk(p, "?#"))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         RS_URL_FORM "a query or fragment is not supported");
    /* The last '@' ends the credentials: a password may hold '@' itself. */
    at = strrchr(p, '@');
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             RS_URL_FORM "the part before '@' must be [user]:password");
        if (rs_decode(p, (size_t)(colon - p), out->user, sizeof(out->user)) ||
            rs_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password)))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             RS_URL_FORM "bad percent-encoding in the user or password (or too "
                                         "long)");
        if (!*out->password)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             RS_URL_FORM "the password after ':' is empty");
        p = at + 1;
    }
    /* host: a name, an IPv4 address or [an IPv6 address] */
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end || end == p + 1 || (size_t)(end - p - 1) >= sizeof(out->host))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, RS_URL_FORM "bad [IPv6] host");
        memcpy(out->host, p + 1, (size_t)(end - p - 1));
        p = end + 1;
    } else {
        size_t hlen = strcspn(p, ":/");
        if (hlen >= sizeof(out->host))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, RS_URL_FORM "host too long");
        memcpy(out->host, p, hlen);
        p += hlen;
    }
    if (!*out->host)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, RS_URL_FORM "no host");
    if (*p == ':') {
        p++;
        errno = 0;
        n = strtol(p, &num_end, 10);
        if (num_end == p || (*num_end && *num_end != '/') || errno || n <= 0 || n > 65535)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             RS_URL_FORM "the port must be a number from 1 to 65535");
        out->port = (int)n;
        p = num_end;
    }
    if (*p == '/' && p[1]) {
        p++;
        errno = 0;
        n = strtol(p, &num_end, 10);
        if (num_end == p || *num_end || errno || n < 0 || n > 100000)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             RS_URL_FORM "the database after '/' must be a number");
        out->db = (int)n;
    } else if (*p && strcmp(p, "/")) {
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         RS_URL_FORM "unexpected text after "
                                     "the host");
    }
    return MO_OK;
}

rs_store *rs_open(const char *url, const char *tenant, char *errstr, size_t errstr_size)
{
    rs_store *rs = calloc(1, sizeof(*rs));
    if (!rs) {
        mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (rs_url_parse(url, &rs->url, errstr, errstr_size)) {
        free(rs);
        return NULL;
    }
    /* The whole password, decoded and as written (the configuration refuses
     * one too short to mask). */
    lg_add_secret(rs->url.password);
    const char *at = strrchr(url, '@'), *colon = at ? strchr(url + 8, ':') : NULL;
    if (colon && colon < at) {
        char raw[sizeof(rs->url.password) * 3];
        snprintf(raw, sizeof(raw), "%.*s", (int)(at - colon - 1), colon + 1);
        lg_add_secret(raw);
    }
    rs->retry_ms = 60000;
    snprintf(rs->tenant, sizeof(rs->tenant), "%s", tenant);
    return rs;
}

void rs_set_tenant(rs_store *rs, const char *tenant)
{
    snprintf(rs->tenant, sizeof(rs->tenant), "%s", tenant);
}

const char *rs_tenant(const rs_store *rs)
{
    return rs->tenant;
}

void rs_close(rs_store *rs)
{
    if (!rs)
        return;
    if (rs->c)
        redisFree(rs->c);
    free(rs);
}

void rs_set_retry_ms(rs_store *rs, long retry_ms)
{
    rs->retry_ms = retry_ms;
}

const char *rs_key_tenant(const char *tenant, const char *suffix, char *buf, size_t size)
{
    int n = snprintf(buf, size, "mosync:{%s}:%s", tenant, suffix);
    if (n >= 0 && (size_t)n < RS_KEY_SIZE && (size_t)n < size)
        return buf;
    /* Too long to keep whole: never cut (two names sharing a prefix would
     * share a record); keep a readable head and hash the whole suffix. */
    char hex[65];
    size_t len = strlen(suffix);
    sha256_hex(suffix, len, hex);
    snprintf(buf, size, "mosync:{%s}:%.*s~%s", tenant, (int)lg_utf8_cut(suffix, len, 200), suffix,
             hex);
    return buf;
}

const char *rs_key(const rs_store *rs, const char *suffix, char *buf, size_t size)
{
    return rs_key_tenant(rs->tenant, suffix, buf, size);
}

/* The socket timeout for the next connect or command: RS_IO_TIMEOUT_MS, cut
 * to the thread's deadline (never below 50 ms, so a command on a live
 * connection can still answer). */
static long rs_io_timeout_ms(void)
{
    long left = mo_deadline_left_ms();
    if (left > RS_IO_TIMEOUT_MS)
        return RS_IO_TIMEOUT_MS;
    return left < 50 ? 50 : left;
}

static struct timeval rs_tv(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Runs one setup command (AUTH, SELECT) on a fresh connection; 0 when Redis
 * accepted it, else why (Redis's error text, never the arguments). */
static int rs_setup(rs_store *rs, int argc, const char **argv, char *why, size_t why_size)
{
    redisReply *r = redisCommandArgv(rs->c, argc, argv, NULL);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(why, why_size, "%s refused: %s", argv[0],
                 r && r->type == REDIS_REPLY_ERROR ? r->str
                 : rs->c->err                      ? rs->c->errstr
                                                   : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Connects, authenticates (AUTH user password with a user: Redis 6 ACL) and
 * selects the database; 0 on success. */
static int rs_connect(rs_store *rs, char *why, size_t why_size)
{
    char db[16];
    if (rs->c) {
        redisFree(rs->c);
        rs->c = NULL;
    }
    rs->timeout_ms = rs_io_timeout_ms();
    rs->c = redisConnectWithTimeout(rs->url.host, rs->url.port, rs_tv(rs->timeout_ms));
    if (!rs->c || rs->c->err) {
        snprintf(why, why_size, "connect %s:%d: %s", rs->url.host, rs->url.port,
                 rs->c ? rs->c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(rs->c, rs_tv(rs->timeout_ms));
    if (*rs->url.user) {
        const char *argv[3] = {"AUTH", rs->url.user, rs->url.password};
        if (rs_setup(rs, 3, argv, why, why_size))
            goto fail;
    } else if (*rs->url.password) {
        const char *argv[2] = {"AUTH", rs->url.password};
        if (rs_setup(rs, 2, argv, why, why_size))
            goto fail;
    }
    if (rs->url.db) {
        snprintf(db, sizeof(db), "%d", rs->url.db);
        const char *argv[2] = {"SELECT", db};
        if (rs_setup(rs, 2, argv, why, why_size))
            goto fail;
    }
    return 0;
fail:
    if (rs->c) {
        redisFree(rs->c);
        rs->c = NULL;
    }
    return -1;
}

/* Error replies that say the server cannot serve now, not that the record
 * is bad.  Each is an outage of the service, or our own configuration
 * (NOAUTH, WRONGPASS: the password), never the fault of the entity in hand.
 * Matched on the reply's first word, which Redis 7 also passes through from
 * a command a script called (test_redis_errors.c: OOM from EVAL). */
static const char *const rs_outage_codes[] = {
    "LOADING",     /* restarted with data on disk, still reading it */
    "OOM",         /* maxmemory reached under noeviction */
    "READONLY",    /* a replica: failover, or the wrong host */
    "MASTERDOWN",  /* a replica that lost its master */
    "BUSY",        /* a script or module runs too long */
    "TRYAGAIN",    /* cluster: slot being migrated */
    "CLUSTERDOWN", /* cluster: not all slots served */
    "MISCONF",     /* cannot persist (stop-writes-on-bgsave-error) */
    "NOREPLICAS",  /* min-replicas-to-write not met */
    "NOAUTH",      /* a password is needed and none was sent */
    "WRONGPASS",   /* the password (or ACL user) is refused */
};

mo_err rs_error_class(const char *reply)
{
    size_t n = reply ? strcspn(reply, " ") : 0;
    for (size_t i = 0; i < sizeof(rs_outage_codes) / sizeof(rs_outage_codes[0]); i++)
        if (n == strlen(rs_outage_codes[i]) && !strncmp(reply, rs_outage_codes[i], n))
            return MO_ERR_TRANSIENT;
    return MO_ERR_PERMANENT;
}

/* Runs one command, reconnecting with a capped backoff while Redis is away
 * or answers with an outage (rs_error_class), within retry_ms and the
 * thread's deadline; then MO_ERR_TRANSIENT.  *out is a reply to free with
 * freeReplyObject().  Any other error reply (WRONGTYPE: the record itself is
 * bad) is MO_ERR_PERMANENT at once. */
static mo_err rs_cmd(rs_store *rs, redisReply **out, int argc, const char **argv,
                     const size_t *argvlen, char *errstr, size_t errstr_size)
{
    long left = mo_deadline_left_ms();
    long long deadline = mo_now_ms() + (rs->retry_ms < left ? rs->retry_ms : left);
    long backoff = 100;
    char why[256] = "";
    int warned = 0;

    *out = NULL;
    for (;;) {
        if (!rs->c && mo_now_ms() >= deadline)
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "redis unavailable: %s",
                             *why ? why : "no time left before the deadline");
        if (rs->c || rs_connect(rs, why, sizeof(why)) == 0) {
            long timeout = rs_io_timeout_ms();
            if (timeout != rs->timeout_ms) { /* cut to the deadline, or back to normal */
                redisSetTimeout(rs->c, rs_tv(timeout));
                rs->timeout_ms = timeout;
            }
            redisReply *r = redisCommandArgv(rs->c, argc, argv, argvlen);
            if (r && r->type == REDIS_REPLY_ERROR && rs_error_class(r->str) != MO_ERR_TRANSIENT) {
                mo_err e = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size, "redis %s: %s", argv[0],
                                     r->str);
                freeReplyObject(r);
                return e;
            }
            if (r && r->type != REDIS_REPLY_ERROR) {
                if (warned)
                    lg_info("redis", rs->tenant, "redis is back");
                *out = r;
                return MO_OK;
            }
            /* No answer, or an outage answer: the next attempt connects
             * afresh (after a failover the name may lead elsewhere). */
            if (r)
                snprintf(why, sizeof(why), "%s: %s", argv[0], r->str);
            else
                snprintf(why, sizeof(why), "%s", rs->c->errstr);
            if (r)
                freeReplyObject(r);
            redisFree(rs->c);
            rs->c = NULL;
        }
        atomic_store(&rs_outage_at, mo_now_ms());
        if (!warned) {
            lg_warn("redis", rs->tenant, "redis unavailable (%s); retrying", why);
            warned = 1;
        }
        if (mo_now_ms() + backoff > deadline || mo_stop_sleep_ms(backoff))
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "redis unavailable: %s", why);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

mo_err rs_get_json(rs_store *rs, const char *suffix, json_t **out, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    const char *argv[2] = {"GET", rs_key(rs, suffix, key, sizeof(key))};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, 2, argv, NULL, errstr, errstr_size);
    *out = NULL;
    if (err)
        return err;
    if (r->type == REDIS_REPLY_STRING) {
        json_error_t jerr;
        *out = json_loadb(r->str, r->len, JSON_DECODE_ANY, &jerr);
        if (!*out)
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "redis key %s is not JSON: %s",
                            key, jerr.text);
    }
    freeReplyObject(r);
    return err;
}

mo_err rs_set_json(rs_store *rs, const char *suffix, const json_t *value, long ttl_s, char *errstr,
                   size_t errstr_size)
{
    char key[RS_KEY_SIZE], ttl[32];
    char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
    const char *argv[5] = {"SET", rs_key(rs, suffix, key, sizeof(key)), s, "EX", ttl};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, ttl_s > 0 ? 5 : 3, argv, NULL, errstr, errstr_size);
    if (!err)
        freeReplyObject(r);
    free(s);
    return err;
}

mo_err rs_del(rs_store *rs, const char *suffix, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    const char *argv[2] = {"DEL", rs_key(rs, suffix, key, sizeof(key))};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, 2, argv, NULL, errstr, errstr_size);
    if (!err)
        freeReplyObject(r);
    return err;
}

/* Sliding-window budget: a sorted set of request times (ms) of the last
 * window.  No 60-second span then holds more than the budget, so neither does
 * the API's fixed one-minute window wherever it starts (M12); the window is a
 * second longer than a minute because a request is counted here slightly
 * before the API sees it.  Server time (TIME) is used so processes on
 * different clocks agree.  Returns 0 when a request was taken, else the ms to
 * wait until the oldest one leaves the window. */
/* The sliding window (a sorted set of the requests' times), and for work
 * first (rs_budget_class) the time of the last work request taken:
 * ARGV = limit, class (0 work, 1 idle), RS_BUDGET_YIELD_MS. */
static const char rs_budget_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local limit = tonumber(ARGV[1])\n"
    "local idle = ARGV[2] == '1'\n"
    "local yield = tonumber(ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 61000)\n"
    "local used = redis.call('ZCARD', KEYS[1])\n"
    "local room = limit\n"
    "if idle then\n"
    "  room = limit - math.floor(limit / 10)\n"
    "  local last = tonumber(redis.call('GET', KEYS[1] .. ':work') or '0')\n"
    "  if used * 2 >= limit and now - last < yield then\n"
    "    return yield - (now - last)\n"
    "  end\n"
    "end\n"
    "if used < room then\n"
    "  local seq = redis.call('INCR', KEYS[1] .. ':seq')\n"
    "  redis.call('ZADD', KEYS[1], now, now .. '-' .. seq)\n"
    "  redis.call('PEXPIRE', KEYS[1], 62000)\n"
    "  redis.call('PEXPIRE', KEYS[1] .. ':seq', 62000)\n"
    "  if not idle then redis.call('SET', KEYS[1] .. ':work', now, 'PX', 62000) end\n"
    "  return 0\n"
    "end\n"
    "local oldest = redis.call('ZRANGE', KEYS[1], used - room, used - room, 'WITHSCORES')\n"
    "local wait = tonumber(oldest[2]) + 61000 - now\n"
    "if wait < 1 then wait = 1 end\n"
    "return wait\n";

mo_err rs_budget_take_as(rs_store *rs, const char *api, int per_min, rs_budget_class cls,
                         long *wait_ms, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE], suffix[128], limit[32], yield[32];
    snprintf(suffix, sizeof(suffix), "ratelimit:%s", api);
    snprintf(limit, sizeof(limit), "%d", per_min);
    snprintf(yield, sizeof(yield), "%d", RS_BUDGET_YIELD_MS);
    const char *argv[7] = {"EVAL", rs_budget_lua,
                           "1",    rs_key(rs, suffix, key, sizeof(key)),
                           limit,  cls == RS_BUDGET_IDLE ? "1" : "0",
                           yield};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, 7, argv, NULL, errstr, errstr_size);
    if (err)
        return err;
    *wait_ms = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 1000;
    freeReplyObject(r);
    return MO_OK;
}

mo_err rs_budget_take(rs_store *rs, const char *api, int per_min, long *wait_ms, char *errstr,
                      size_t errstr_size)
{
    return rs_budget_take_as(rs, api, per_min, RS_BUDGET_WORK, wait_ms, errstr, errstr_size);
}

/* Counts one request that found the budget spent, and the time it slept
 * for it (metrics: how close the tenant runs to its limit). */
static void rs_budget_count(const rs_store *rs, const char *api, long long slept_ms)
{
    mt_add("mosync_rate_limit_waits_total", 1, "api", api, "tenant", rs->tenant, NULL);
    mt_add("mosync_rate_limit_wait_seconds_total", (double)slept_ms / 1000.0, "api", api, "tenant",
           rs->tenant, NULL);
}

mo_err rs_budget_wait_as(rs_store *rs, const char *api, int per_min, rs_budget_class cls,
                         char *errstr, size_t errstr_size)
{
    long long waited_since = 0; /* set once the budget was found spent */
    mo_err err;
    for (;;) {
        long wait_ms;
        /* Idle waits for work at most RS_BUDGET_IDLE_MAX_MS: then it is work. */
        if (cls == RS_BUDGET_IDLE && waited_since &&
            mo_now_ms() - waited_since >= RS_BUDGET_IDLE_MAX_MS)
            cls = RS_BUDGET_WORK;
        err = rs_budget_take_as(rs, api, per_min, cls, &wait_ms, errstr, errstr_size);
        if (err || !wait_ms)
            break;
        if (!waited_since)
            waited_since = mo_now_ms();
        if (wait_ms >= mo_deadline_left_ms()) {
            /* The caller's loop waits instead (a consumer pauses the partition). */
            mo_retry_hint_set(wait_ms);
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                            "the %s request budget is spent for the next %ld ms, past the deadline",
                            api, wait_ms);
            break;
        }
        if (mo_stop_sleep_ms(wait_ms)) {
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "stopping");
            break;
        }
    }
    if (waited_since)
        rs_budget_count(rs, api, mo_now_ms() - waited_since);
    return err;
}

mo_err rs_budget_wait(rs_store *rs, const char *api, int per_min, char *errstr, size_t errstr_size)
{
    return rs_budget_wait_as(rs, api, per_min, RS_BUDGET_WORK, errstr, errstr_size);
}

mo_err rs_ping(rs_store *rs, char *errstr, size_t errstr_size)
{
    const char *argv[1] = {"PING"};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, 1, argv, NULL, errstr, errstr_size);
    if (!err)
        freeReplyObject(r);
    return err;
}

/* 32 hex digits of kernel randomness into token (>= 33 bytes).  Should the
 * kernel refuse, the pid, the thread, the clock and a counter still make
 * the token unique to this holder. */
static void rs_token(char *token)
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) == (ssize_t)sizeof(b)) {
        for (int i = 0; i < 16; i++)
            snprintf(token + 2 * i, 3, "%02x", b[i]);
        return;
    }
    static atomic_uint counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(token, 33, "%08x%08x%08x%08x", (unsigned)getpid(),
             (unsigned)(uintptr_t)pthread_self() ^ atomic_fetch_add(&counter, 1),
             (unsigned)ts.tv_sec, (unsigned)ts.tv_nsec);
}

mo_err rs_lock(rs_store *rs, const char *name, long ttl_ms, long wait_ms, char *token, char *errstr,
               size_t errstr_size)
{
    char key[RS_KEY_SIZE], suffix[256], ttl[32];
    long left = mo_deadline_left_ms();
    long long deadline = mo_now_ms() + (wait_ms < left ? wait_ms : left);
    long backoff = 2;
    snprintf(suffix, sizeof(suffix), "lock:%s", name);
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    rs_token(token);
    const char *argv[6] = {"SET", rs_key(rs, suffix, key, sizeof(key)), token, "PX", ttl, "NX"};
    for (;;) {
        redisReply *r;
        mo_err err = rs_cmd(rs, &r, 6, argv, NULL, errstr, errstr_size);
        if (err)
            return err;
        int taken = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (taken)
            return MO_OK;
        long long now = mo_now_ms();
        if (now >= deadline)
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "lock %s is busy", name);
        if (mo_stop_sleep_ms(now + backoff > deadline ? (long)(deadline - now) : backoff))
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "lock %s: stopping", name);
        backoff = backoff * 2 > 50 ? 50 : backoff * 2;
    }
}

mo_err rs_unlock(rs_store *rs, const char *name, const char *token, char *errstr,
                 size_t errstr_size)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                              "  return redis.call('DEL', KEYS[1])\n"
                              "end\n"
                              "return 0\n";
    char key[RS_KEY_SIZE], suffix[256];
    snprintf(suffix, sizeof(suffix), "lock:%s", name);
    const char *argv[5] = {"EVAL", lua, "1", rs_key(rs, suffix, key, sizeof(key)), token};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, 5, argv, NULL, errstr, errstr_size);
    if (!err)
        freeReplyObject(r);
    return err;
}

/* ---- added for the pollers' leases (common/lease.c) ---------------------- */

#define RS_EVAL_MAX_ARGS 16

/* The JSON form of a reply (see rs_eval); NULL on allocation failure. */
static json_t *rs_reply_json(const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        return json_integer((json_int_t)r->integer);
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        return json_stringn_nocheck(r->str, r->len);
    case REDIS_REPLY_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < r->elements; i++) {
            json_t *e = rs_reply_json(r->element[i]);
            if (!e || json_array_append_new(a, e)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    default:
        return json_null();
    }
}

/* Runs argv (argc entries, argv[0] the command) and returns the reply as JSON
 * (rs_reply_json) in *out (new reference). */
static mo_err rs_cmd_json(rs_store *rs, int argc, const char **argv, json_t **out, char *errstr,
                          size_t errstr_size)
{
    redisReply *r;
    *out = NULL;
    mo_err err = rs_cmd(rs, &r, argc, argv, NULL, errstr, errstr_size);
    if (err)
        return err;
    *out = rs_reply_json(r);
    freeReplyObject(r);
    return *out ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

mo_err rs_call(rs_store *rs, int argc, const char **argv, json_t **out, char *errstr,
               size_t errstr_size)
{
    return rs_cmd_json(rs, argc, argv, out, errstr, errstr_size);
}

mo_err rs_eval(rs_store *rs, const char *script, int nkeys, const char *const *key_suffixes,
               int nargs, const char *const *args, json_t **out, char *errstr, size_t errstr_size)
{
    char keys[RS_EVAL_MAX_ARGS][512], nk[16];
    const char *argv[RS_EVAL_MAX_ARGS + 3];
    int argc = 0;
    *out = NULL;
    if (nkeys < 0 || nargs < 0 || nkeys + nargs > RS_EVAL_MAX_ARGS)
        return mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size, "too many script arguments");
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = rs_key(rs, key_suffixes[i], keys[i], sizeof(keys[i]));
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    return rs_cmd_json(rs, argc, argv, out, errstr, errstr_size);
}

mo_err rs_set_json_fenced(rs_store *rs, const char *suffix, const json_t *value,
                          const char *lease_suffix, const char *token, int *written, char *errstr,
                          size_t errstr_size)
{
    /* The check and the write in one script: nothing can take the lease in
     * between. */
    static const char lua[] = "if redis.call('GET', KEYS[2]) ~= ARGV[2] then\n"
                              "  return 0\n"
                              "end\n"
                              "redis.call('SET', KEYS[1], ARGV[1])\n"
                              "return 1\n";
    *written = 0;
    char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    const char *keys[2] = {suffix, lease_suffix};
    const char *args[2] = {s, token};
    json_t *r = NULL;
    mo_err err = rs_eval(rs, lua, 2, keys, 2, args, &r, errstr, errstr_size);
    free(s);
    if (!err)
        *written = json_integer_value(r) == 1;
    json_decref(r);
    return err;
}

/* ---- hashes, for the pollers' seen maps ---------------------------------- */

mo_err rs_hmget(rs_store *rs, const char *suffix, const char *const *fields, int n, json_t **values,
                char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    *values = NULL;
    if (n <= 0) {
        *values = json_array();
        return *values ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    const char **argv = calloc((size_t)n + 2, sizeof(*argv));
    if (!argv)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    argv[0] = "HMGET";
    argv[1] = rs_key(rs, suffix, key, sizeof(key));
    for (int i = 0; i < n; i++)
        argv[i + 2] = fields[i];
    mo_err err = rs_cmd_json(rs, n + 2, argv, values, errstr, errstr_size);
    free(argv);
    if (!err && (!json_is_array(*values) || json_array_size(*values) != (size_t)n)) {
        json_decref(*values);
        *values = NULL;
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "redis HMGET: unexpected reply");
    }
    return err;
}

/* A fenced hash command: KEYS = hash, lease; ARGV = token, ttl, then the
 * command's own arguments. */
static mo_err rs_hash_fenced(rs_store *rs, const char *script, const char *suffix,
                             const char *const *args, int nargs, long ttl_s,
                             const char *lease_suffix, const char *token, int *written,
                             long long *len, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE], lease_key[RS_KEY_SIZE], ttl[32];
    *written = 0;
    const char **argv = calloc((size_t)nargs + 7, sizeof(*argv));
    if (!argv)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "2";
    argv[3] = rs_key(rs, suffix, key, sizeof(key));
    argv[4] = rs_key(rs, lease_suffix, lease_key, sizeof(lease_key));
    argv[5] = token;
    argv[6] = ttl;
    for (int i = 0; i < nargs; i++)
        argv[i + 7] = args[i];
    json_t *r = NULL;
    mo_err err = rs_cmd_json(rs, nargs + 7, argv, &r, errstr, errstr_size);
    free(argv);
    if (!err) {
        *written = json_integer_value(json_array_get(r, 0)) == 1;
        if (len)
            *len = json_integer_value(json_array_get(r, 1));
    }
    json_decref(r);
    return err;
}

mo_err rs_hset_fenced(rs_store *rs, const char *suffix, const char *const *fields,
                      const char *const *values, int n, long long max_fields, long ttl_s,
                      const char *lease_suffix, const char *token, int *written, long long *len,
                      char *errstr, size_t errstr_size)
{
    /* The check and the write in one script: nothing can take the lease in
     * between (see rs_set_json_fenced).  ARGV[3] is the cap. */
    static const char lua[] = "if redis.call('GET', KEYS[2]) ~= ARGV[1] then\n"
                              "  return {0, 0}\n"
                              "end\n"
                              "local max = tonumber(ARGV[3])\n"
                              "local n = redis.call('HLEN', KEYS[1])\n"
                              "for i = 4, #ARGV, 2 do\n"
                              "  if max <= 0 or redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then\n"
                              "    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])\n"
                              "  elseif n < max then\n"
                              "    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])\n"
                              "    n = n + 1\n"
                              "  end\n"
                              "end\n"
                              "if tonumber(ARGV[2]) > 0 then\n"
                              "  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
                              "end\n"
                              "return {1, redis.call('HLEN', KEYS[1])}\n";
    char max[32];
    const char **args = calloc((size_t)(2 * n) + 2, sizeof(*args));
    if (!args)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(max, sizeof(max), "%lld", max_fields);
    args[0] = max;
    for (int i = 0; i < n; i++) {
        args[2 * i + 1] = fields[i];
        args[2 * i + 2] = values[i];
    }
    mo_err err = rs_hash_fenced(rs, lua, suffix, args, 2 * n + 1, ttl_s, lease_suffix, token,
                                written, len, errstr, errstr_size);
    free(args);
    return err;
}

mo_err rs_hdel_fenced(rs_store *rs, const char *suffix, const char *const *fields, int n,
                      const char *lease_suffix, const char *token, int *written, char *errstr,
                      size_t errstr_size)
{
    static const char lua[] = "if redis.call('GET', KEYS[2]) ~= ARGV[1] then\n"
                              "  return {0, 0}\n"
                              "end\n"
                              "for i = 3, #ARGV do\n"
                              "  redis.call('HDEL', KEYS[1], ARGV[i])\n"
                              "end\n"
                              "return {1, redis.call('HLEN', KEYS[1])}\n";
    return rs_hash_fenced(rs, lua, suffix, fields, n, 0, lease_suffix, token, written, NULL, errstr,
                          errstr_size);
}

mo_err rs_hscan(rs_store *rs, const char *suffix, const char *cursor, int count, char *next,
                json_t **page, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE], cnt[32];
    json_t *r = NULL;
    *page = NULL;
    snprintf(next, 32, "0");
    snprintf(cnt, sizeof(cnt), "%d", count);
    const char *argv[5] = {"HSCAN", rs_key(rs, suffix, key, sizeof(key)), cursor, "COUNT", cnt};
    mo_err err = rs_cmd_json(rs, 5, argv, &r, errstr, errstr_size);
    if (err)
        return err;
    const char *nc = json_string_value(json_array_get(r, 0));
    json_t *flat = json_array_get(r, 1);
    if (!nc || strlen(nc) >= 32 || !json_is_array(flat) || json_array_size(flat) % 2) {
        json_decref(r);
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "redis HSCAN: unexpected reply");
    }
    snprintf(next, 32, "%s", nc);
    *page = json_object();
    for (size_t i = 0; *page && i + 1 < json_array_size(flat); i += 2) {
        const char *f = json_string_value(json_array_get(flat, i));
        json_t *v = json_array_get(flat, i + 1);
        if (f && json_is_string(v))
            json_object_set(*page, f, v);
    }
    json_decref(r);
    return *page ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

mo_err rs_hlen(rs_store *rs, const char *suffix, long long *len, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    json_t *r = NULL;
    const char *argv[2] = {"HLEN", rs_key(rs, suffix, key, sizeof(key))};
    mo_err err = rs_cmd_json(rs, 2, argv, &r, errstr, errstr_size);
    *len = err ? 0 : (long long)json_integer_value(r);
    json_decref(r);
    return err;
}

/* ---- webhook triggers --------------------------------------------------- */

/* One command, one attempt: connects when needed, never sleeps or retries
 * (a poller waiting between cycles falls back to its own sleep instead).
 * timeout_ms is the socket timeout for this command.  *out as rs_cmd. */
static mo_err rs_cmd_once(rs_store *rs, redisReply **out, int argc, const char **argv,
                          long timeout_ms, char *errstr, size_t errstr_size)
{
    char why[256] = "";
    *out = NULL;
    if (!rs->c && rs_connect(rs, why, sizeof(why))) {
        atomic_store(&rs_outage_at, mo_now_ms());
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "redis unavailable: %s", why);
    }
    if (timeout_ms != rs->timeout_ms) {
        redisSetTimeout(rs->c, rs_tv(timeout_ms));
        rs->timeout_ms = timeout_ms;
    }
    redisReply *r = redisCommandArgv(rs->c, argc, argv, NULL);
    if (r && r->type != REDIS_REPLY_ERROR) {
        *out = r;
        return MO_OK;
    }
    mo_err klass =
        r && rs_error_class(r->str) != MO_ERR_TRANSIENT ? MO_ERR_PERMANENT : MO_ERR_TRANSIENT;
    mo_seterr(klass, errstr, errstr_size, "redis %s: %s", argv[0], r ? r->str : rs->c->errstr);
    if (r)
        freeReplyObject(r);
    redisFree(rs->c); /* the next call connects afresh */
    rs->c = NULL;
    if (klass == MO_ERR_TRANSIENT)
        atomic_store(&rs_outage_at, mo_now_ms());
    return klass;
}

mo_err rs_trigger_push(rs_store *rs, const char *stream, char *errstr, size_t errstr_size)
{
    /* One element at most: a burst of webhooks is one cycle. */
    static const char lua[] = "redis.call('LPUSH', KEYS[1], ARGV[1])\n"
                              "redis.call('LTRIM', KEYS[1], 0, 0)\n"
                              "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
                              "return 1\n";
    char suffix[128], at[32], ttl[16];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(suffix, sizeof(suffix), "trigger:%s", stream);
    snprintf(at, sizeof(at), "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    snprintf(ttl, sizeof(ttl), "%d", RS_TRIGGER_TTL_S);
    const char *keys[1] = {suffix}, *args[2] = {at, ttl};
    json_t *out = NULL;
    mo_err err = rs_eval(rs, lua, 1, keys, 2, args, &out, errstr, errstr_size);
    json_decref(out);
    return err;
}

mo_err rs_trigger_wait(rs_store *rs, const char *stream, int timeout_s, int *got, char *errstr,
                       size_t errstr_size)
{
    char suffix[128], key[RS_KEY_SIZE], secs[16];
    *got = 0;
    if (timeout_s < 1)
        timeout_s = 1;
    snprintf(suffix, sizeof(suffix), "trigger:%s", stream);
    snprintf(secs, sizeof(secs), "%d", timeout_s);
    const char *argv[3] = {"BLPOP", rs_key(rs, suffix, key, sizeof(key)), secs};
    redisReply *r;
    /* hiredis 0.14 has one socket timeout for everything: it must outlast
     * the BLPOP, or every quiet second would read as a lost connection. */
    mo_err err =
        rs_cmd_once(rs, &r, 3, argv, timeout_s * 1000L + RS_IO_TIMEOUT_MS, errstr, errstr_size);
    if (err)
        return err;
    *got = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    freeReplyObject(r);
    return MO_OK;
}

mo_err rs_trigger_clear(rs_store *rs, const char *stream, char *errstr, size_t errstr_size)
{
    char suffix[128], key[RS_KEY_SIZE];
    snprintf(suffix, sizeof(suffix), "trigger:%s", stream);
    const char *argv[2] = {"DEL", rs_key(rs, suffix, key, sizeof(key))};
    redisReply *r;
    mo_err err = rs_cmd_once(rs, &r, 2, argv, RS_IO_TIMEOUT_MS, errstr, errstr_size);
    if (!err)
        freeReplyObject(r);
    return err;
}
