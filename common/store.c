#include "store.h"
#include "log.h"
#include "stop.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rs_store {
    char host[256];
    int port;
    int db;
    char password[256];
    char tenant[72];
    long retry_ms;
    redisContext *c;
};

rs_store *rs_open(const char *url, const char *tenant, char *errstr, size_t errstr_size)
{
    rs_store *rs = calloc(1, sizeof(*rs));
    const char *p = url, *at, *colon, *slash;
    char port[16] = "6379";
    if (!rs) {
        mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    rs->retry_ms = 60000;
    snprintf(rs->tenant, sizeof(rs->tenant), "%s", tenant);
    if (strncmp(p, "redis://", 8))
        goto bad;
    p += 8;
    at = strchr(p, '@');
    if (at) { /* [user]:password@ */
        const char *pc = memchr(p, ':', (size_t)(at - p));
        const char *pw = pc ? pc + 1 : p;
        if ((size_t)(at - pw) >= sizeof(rs->password))
            goto bad;
        memcpy(rs->password, pw, (size_t)(at - pw));
        lg_add_secret(rs->password);
        p = at + 1;
    }
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon && slash && colon > slash)
        colon = NULL;
    size_t hlen = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    if (!hlen || hlen >= sizeof(rs->host))
        goto bad;
    memcpy(rs->host, p, hlen);
    if (colon) {
        size_t plen = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
        if (!plen || plen >= sizeof(port))
            goto bad;
        memcpy(port, colon + 1, plen);
        port[plen] = '\0';
    }
    char *end;
    long n = strtol(port, &end, 10);
    if (*end || n <= 0 || n > 65535)
        goto bad;
    rs->port = (int)n;
    if (slash && slash[1]) {
        n = strtol(slash + 1, &end, 10);
        if (*end || n < 0 || n > 1000)
            goto bad;
        rs->db = (int)n;
    }
    return rs;
bad:
    mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
              "REDIS_URL must look like redis://[:password@]host:port[/db]");
    free(rs);
    return NULL;
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

const char *rs_key(const rs_store *rs, const char *suffix, char *buf, size_t size)
{
    snprintf(buf, size, "mosync:{%s}:%s", rs->tenant, suffix);
    return buf;
}

/* Connects, authenticates and selects the database; 0 on success. */
static int rs_connect(rs_store *rs, char *why, size_t why_size)
{
    struct timeval tv = {2, 0};
    redisReply *r;
    if (rs->c) {
        redisFree(rs->c);
        rs->c = NULL;
    }
    rs->c = redisConnectWithTimeout(rs->host, rs->port, tv);
    if (!rs->c || rs->c->err) {
        snprintf(why, why_size, "connect %s:%d: %s", rs->host, rs->port,
                 rs->c ? rs->c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(rs->c, tv);
    if (*rs->password) {
        r = redisCommand(rs->c, "AUTH %s", rs->password);
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            snprintf(why, why_size, "AUTH refused");
            goto fail;
        }
    }
    if (rs->db) {
        r = redisCommand(rs->c, "SELECT %d", rs->db);
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            snprintf(why, why_size, "SELECT %d refused", rs->db);
            goto fail;
        }
    }
    return 0;
fail:
    if (rs->c) {
        redisFree(rs->c);
        rs->c = NULL;
    }
    return -1;
}

/* Runs one command, reconnecting with a capped backoff while Redis is away.
 * *out is a reply to free with freeReplyObject().  An error reply from Redis
 * (a bug or a wrong-type key, not an outage) is MO_ERR_PERMANENT. */
static mo_err rs_cmd(rs_store *rs, redisReply **out, int argc, const char **argv,
                     const size_t *argvlen, char *errstr, size_t errstr_size)
{
    long long deadline = mo_now_ms() + rs->retry_ms;
    long backoff = 100;
    char why[256] = "";
    int warned = 0;

    *out = NULL;
    for (;;) {
        if (rs->c || rs_connect(rs, why, sizeof(why)) == 0) {
            redisReply *r = redisCommandArgv(rs->c, argc, argv, argvlen);
            if (r) {
                if (r->type == REDIS_REPLY_ERROR) {
                    mo_err e = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size, "redis %s: %s",
                                         argv[0], r->str);
                    freeReplyObject(r);
                    return e;
                }
                if (warned)
                    lg_info("redis", rs->tenant, "redis is back");
                *out = r;
                return MO_OK;
            }
            snprintf(why, sizeof(why), "%s", rs->c->errstr);
            redisFree(rs->c);
            rs->c = NULL;
        }
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
    char key[512];
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
    char key[512], ttl[32];
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
    char key[512];
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
static const char rs_budget_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local limit = tonumber(ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 61000)\n"
    "if redis.call('ZCARD', KEYS[1]) < limit then\n"
    "  local seq = redis.call('INCR', KEYS[1] .. ':seq')\n"
    "  redis.call('ZADD', KEYS[1], now, now .. '-' .. seq)\n"
    "  redis.call('PEXPIRE', KEYS[1], 62000)\n"
    "  redis.call('PEXPIRE', KEYS[1] .. ':seq', 62000)\n"
    "  return 0\n"
    "end\n"
    "local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "local wait = tonumber(oldest[2]) + 61000 - now\n"
    "if wait < 1 then wait = 1 end\n"
    "return wait\n";

mo_err rs_budget_take(rs_store *rs, const char *api, int per_min, long *wait_ms, char *errstr,
                      size_t errstr_size)
{
    char key[512], suffix[128], limit[32];
    snprintf(suffix, sizeof(suffix), "ratelimit:%s", api);
    snprintf(limit, sizeof(limit), "%d", per_min);
    const char *argv[5] = {"EVAL", rs_budget_lua, "1", rs_key(rs, suffix, key, sizeof(key)), limit};
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, 5, argv, NULL, errstr, errstr_size);
    if (err)
        return err;
    *wait_ms = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 1000;
    freeReplyObject(r);
    return MO_OK;
}

mo_err rs_budget_wait(rs_store *rs, const char *api, int per_min, char *errstr, size_t errstr_size)
{
    for (;;) {
        long wait_ms;
        mo_err err = rs_budget_take(rs, api, per_min, &wait_ms, errstr, errstr_size);
        if (err || !wait_ms)
            return err;
        if (mo_stop_sleep_ms(wait_ms))
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "stopping");
    }
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

mo_err rs_lock(rs_store *rs, const char *name, long ttl_ms, long wait_ms, char *token, char *errstr,
               size_t errstr_size)
{
    char key[512], suffix[256], ttl[32];
    long long deadline = mo_now_ms() + wait_ms;
    long backoff = 2;
    snprintf(suffix, sizeof(suffix), "lock:%s", name);
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    snprintf(token, 33, "%08x%08x%08x%08x", (unsigned)rand(), (unsigned)rand(), (unsigned)rand(),
             (unsigned)mo_now_ms());
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
        if (mo_now_ms() >= deadline || mo_stop_sleep_ms(backoff))
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "lock %s is busy", name);
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
    char key[512], suffix[256];
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
    redisReply *r;
    mo_err err = rs_cmd(rs, &r, argc, argv, NULL, errstr, errstr_size);
    if (err)
        return err;
    *out = rs_reply_json(r);
    freeReplyObject(r);
    return *out ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
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
