/* Events applied per hour (see hourly.h). */
#include "hourly.h"

#include <jansson.h>
#include <stdio.h>

/* The key suffix of flow's hour that holds t. */
static void hs_suffix(const char *flow, time_t t, char *buf, size_t size)
{
    struct tm tm;
    char hour[16];
    gmtime_r(&t, &tm);
    strftime(hour, sizeof(hour), "%Y%m%d%H", &tm);
    snprintf(buf, size, "stats:%s:%s", flow, hour);
}

mo_err hs_count(rs_store *rs, const char *flow, time_t at, char *errstr, size_t errstr_size)
{
    char suffix[96], ttl[16];
    json_t *reply = NULL;
    hs_suffix(flow, at, suffix, sizeof(suffix));
    snprintf(ttl, sizeof(ttl), "%d", HS_KEEP_S);
    const char *keys[1] = {suffix}, *args[1] = {ttl};
    mo_err err = rs_eval(rs,
                         "redis.call('HINCRBY', KEYS[1], 'applied', 1)\n"
                         "return redis.call('EXPIRE', KEYS[1], ARGV[1])\n",
                         1, keys, 1, args, &reply, errstr, errstr_size);
    json_decref(reply);
    return err;
}

mo_err hs_read(rs_store *rs, const char *flow, time_t now, int hours, long long *counts,
               char *errstr, size_t errstr_size)
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
                             "  out[i] = tonumber(redis.call('HGET', k, 'applied') or '0')\n"
                             "end\n"
                             "return out\n",
                             n, keys, 0, NULL, &reply, errstr, errstr_size);
        if (err)
            return err;
        for (int i = 0; i < n; i++)
            counts[first + i] = (long long)json_integer_value(json_array_get(reply, (size_t)i));
        json_decref(reply);
        reply = NULL;
    }
    return MO_OK;
}
