/* Events applied per hour (see hourly.h). */
#include "hourly.h"
#include "event.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* The key suffix of flow's hour that holds t. */
static void hs_suffix(const char *flow, time_t t, char *buf, size_t size)
{
    struct tm tm;
    char hour[16];
    gmtime_r(&t, &tm);
    strftime(hour, sizeof(hour), "%Y%m%d%H", &tm);
    snprintf(buf, size, "stats:%s:%s", flow, hour);
}

mo_err hs_read(rs_store *rs, const char *flow, time_t now, int hours, long long *counts,
               long long *lag_ms, char *errstr, size_t errstr_size)
{
    char suffixes[HS_HOURS_MAX][96];
    const char *keys[HS_HOURS_MAX];
    json_t *reply = NULL;
    if (hours < 1 || hours > HS_HOURS_MAX)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "hours must be 1..%d", HS_HOURS_MAX);
    /* rs_eval takes at most 16 keys and arguments: the hours go in chunks. */
    for (int first = 0; first < hours; first += 16) {
        int n = hours - first < 16 ? hours - first : 16;
        for (int i = 0; i < n; i++) {
            hs_suffix(flow, now - (time_t)(hours - 1 - first - i) * 3600, suffixes[first + i],
                      sizeof(suffixes[0]));
            keys[i] = suffixes[first + i];
        }
        mo_err err = rs_eval(rs,
                             "local out = {}\n"
                             "for i, k in ipairs(KEYS) do\n"
                             "  local v = redis.call('HMGET', k, 'applied', 'lag_ms', 'lag_n')\n"
                             "  out[3 * i - 2] = tonumber(v[1] or '0') or 0\n"
                             "  out[3 * i - 1] = tonumber(v[2] or '0') or 0\n"
                             "  out[3 * i] = tonumber(v[3] or '0') or 0\n"
                             "end\n"
                             "return out\n",
                             n, keys, 0, NULL, &reply, errstr, errstr_size);
        if (err)
            return err;
        for (int i = 0; i < n; i++) {
            size_t at = 3 * (size_t)i;
            counts[first + i] = (long long)json_integer_value(json_array_get(reply, at));
            long long sum = (long long)json_integer_value(json_array_get(reply, at + 1));
            long long num = (long long)json_integer_value(json_array_get(reply, at + 2));
            if (lag_ms)
                lag_ms[first + i] = num > 0 ? sum / num : -1;
        }
        json_decref(reply);
        reply = NULL;
    }
    return MO_OK;
}

mo_err hs_applied(rs_store *rs, const char *flow, const char *id, const char *outcome, time_t at,
                  long long lag_ms, char *errstr, size_t errstr_size)
{
    char hour[96], recent[96], ttl[16], keep[16], lag[24], when[32];
    struct tm tm;
    json_t *reply = NULL;
    gmtime_r(&at, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *entry = json_pack("{s:s, s:s, s:s}", "id", id, "outcome", outcome, "at", when);
    char *text = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
    json_decref(entry);
    if (!text)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    hs_suffix(flow, at, hour, sizeof(hour));
    snprintf(recent, sizeof(recent), "recent:%s", flow);
    snprintf(ttl, sizeof(ttl), "%d", HS_KEEP_S);
    snprintf(keep, sizeof(keep), "%d", HS_RECENT - 1);
    snprintf(lag, sizeof(lag), "%lld", lag_ms);
    /* One round trip for both: the applier pays it per applied event. */
    const char *keys[2] = {hour, recent}, *args[4] = {ttl, lag, text, keep};
    mo_err err = rs_eval(rs,
                         "redis.call('HINCRBY', KEYS[1], 'applied', 1)\n"
                         "local lag = tonumber(ARGV[2])\n"
                         "if lag and lag >= 0 then\n"
                         "  redis.call('HINCRBY', KEYS[1], 'lag_ms', lag)\n"
                         "  redis.call('HINCRBY', KEYS[1], 'lag_n', 1)\n"
                         "end\n"
                         "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                         "redis.call('LPUSH', KEYS[2], ARGV[3])\n"
                         "redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]))\n"
                         "return redis.call('EXPIRE', KEYS[2], ARGV[1])\n",
                         2, keys, 4, args, &reply, errstr, errstr_size);
    json_decref(reply);
    free(text);
    return err;
}

mo_err hs_recent(rs_store *rs, const char *flow, int n, json_t **list, char *errstr,
                 size_t errstr_size)
{
    char suffix[96], last[16];
    json_t *reply = NULL;
    *list = NULL;
    snprintf(suffix, sizeof(suffix), "recent:%s", flow);
    snprintf(last, sizeof(last), "%d", n > 0 ? n - 1 : 0);
    const char *keys[1] = {suffix}, *args[1] = {last};
    mo_err err = rs_eval(rs, "return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]))\n", 1,
                         keys, 1, args, &reply, errstr, errstr_size);
    if (err)
        return err;
    json_t *out = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(reply, i, item)
    {
        const char *text = json_string_value(item);
        json_t *entry = text ? json_loads(text, 0, NULL) : NULL;
        if (json_is_object(entry) && json_is_string(json_object_get(entry, "id")))
            json_array_append(out, entry);
        json_decref(entry);
    }
    json_decref(reply);
    if (!out)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    *list = out;
    return MO_OK;
}

long long hs_lag_ms(const char *observed_at, long long now_ms)
{
    long long ms;
    if (ev_utc_parse(observed_at, &ms))
        return -1;
    return now_ms >= ms ? now_ms - ms : 0;
}
