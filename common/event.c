#include "event.h"
#include "sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ev_utc_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

mo_err ev_utc_parse(const char *s, long long *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    struct tm tm;
    long frac = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return MO_ERR_INVALID;
    const char *p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (!digits)
            return MO_ERR_INVALID;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (strcmp(p, "Z") || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return MO_ERR_INVALID;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (long long)timegm(&tm) * 1000 + frac;
    return MO_OK;
}

/* Is s a shop-local "YYYY-MM-DD HH:MM:SS" (the form versions of Mystore events
 * had before they became UTC instants)? */
static int ev_is_local(const char *s)
{
    return s && strlen(s) == 19 && s[4] == '-' && s[10] == ' ' && s[13] == ':';
}

int ev_version_older(const char *version, const char *applied)
{
    long long v, a;
    if (!ev_utc_parse(version, &v) && !ev_utc_parse(applied, &a))
        return v < a;
    /* Two shop-local times (events and records of an older mosync): by text,
     * as that mosync compared them. */
    if (ev_is_local(version) && ev_is_local(applied))
        return strcmp(version, applied) < 0;
    return 0;
}

json_t *ev_new(const char *type, const char *tenant, const char *entity_id,
               const char *source_version, json_t *data)
{
    char id[65], observed[32], content[65];
    sha256_ctx ctx;
    uint8_t digest[32];
    static const char hex[] = "0123456789abcdef";

    /* The content is part of the id: two changes within one second of the
     * source's clock have one source version but are different events. */
    char *canon = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canon) {
        json_decref(data);
        return NULL;
    }
    sha256_hex(canon, strlen(canon), content);
    free(canon);

    /* NUL separators keep ("a", "bc") and ("ab", "c") apart. */
    sha256_init(&ctx);
    sha256_update(&ctx, type, strlen(type) + 1);
    sha256_update(&ctx, tenant, strlen(tenant) + 1);
    sha256_update(&ctx, entity_id, strlen(entity_id) + 1);
    sha256_update(&ctx, source_version, strlen(source_version) + 1);
    sha256_update(&ctx, content, strlen(content) + 1);
    sha256_final(&ctx, digest);
    for (int i = 0; i < 32; i++) {
        id[2 * i] = hex[digest[i] >> 4];
        id[2 * i + 1] = hex[digest[i] & 15];
    }
    id[64] = '\0';
    ev_utc_now(observed, sizeof(observed));
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:o}", "type", type, "version",
                     EV_VERSION, "id", id, "tenant", tenant, "entity_id", entity_id,
                     "source_version", source_version, "observed_at", observed, "data", data);
}

void ev_set_fence(json_t *ev, long long fence)
{
    json_object_set_new(ev, "fence", json_integer((json_int_t)(fence < 0 ? 0 : fence)));
}

long long ev_fence(const json_t *ev)
{
    json_t *f = json_object_get(ev, "fence");
    return json_is_integer(f) ? (long long)json_integer_value(f) : -1;
}

int ev_stale(const json_t *ev, const char *applied_version, long long applied_fence)
{
    const char *version = json_string_value(json_object_get(ev, "source_version"));
    if (!applied_version || !version)
        return 0;
    if (ev_version_older(version, applied_version))
        return 1;
    long long fence = ev_fence(ev);
    /* Neither older: the same version. */
    return !ev_version_older(applied_version, version) && fence >= 0 && applied_fence >= 0 &&
           fence < applied_fence;
}

mo_err ev_parse(const void *buf, size_t len, const char *expect_type, json_t **out, char *errstr,
                size_t errstr_size)
{
    json_error_t jerr;
    json_t *ev;
    static const char *strings[] = {"type",           "id",         "tenant", "entity_id",
                                    "source_version", "observed_at"};

    *out = NULL;
    if (len > EV_MAX_BYTES)
        return mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size, "event of %zu bytes is too large",
                         len);
    ev = json_loadb(buf, len, 0, &jerr);
    if (!ev)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "event is not JSON: %s (at %d)",
                         jerr.text, jerr.position);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "event is not a JSON object");
    }
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        json_t *v = json_object_get(ev, strings[i]);
        if (!json_is_string(v) || !json_string_length(v)) {
            json_decref(ev);
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                             "event field '%s' is missing or not a non-empty string", strings[i]);
        }
    }
    if (json_integer_value(json_object_get(ev, "version")) != EV_VERSION) {
        json_decref(ev);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "event version is not %d",
                         EV_VERSION);
    }
    if (!json_is_object(json_object_get(ev, "data"))) {
        json_decref(ev);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "event field 'data' is not an object");
    }
    json_t *fence = json_object_get(ev, "fence");
    if (fence && (!json_is_integer(fence) || json_integer_value(fence) < 0)) {
        json_decref(ev);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "event field 'fence' is not an integer >= 0");
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (expect_type && strcmp(type, expect_type)) {
        mo_err e = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                             "event type is '%s', expected '%s'", type, expect_type);
        json_decref(ev);
        return e;
    }
    *out = ev;
    return MO_OK;
}

const char *ev_key(const char *tenant, const char *entity_id, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%s", tenant, entity_id);
    return buf;
}
