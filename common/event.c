#include "event.h"
#include "sha256.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void ev_utc_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *ev_new(const char *type, const char *tenant, const char *entity_id,
               const char *source_version, json_t *data)
{
    char id[65], observed[32];
    sha256_ctx ctx;
    uint8_t digest[32];
    static const char hex[] = "0123456789abcdef";

    /* NUL separators keep ("a", "bc") and ("ab", "c") apart. */
    sha256_init(&ctx);
    sha256_update(&ctx, type, strlen(type) + 1);
    sha256_update(&ctx, tenant, strlen(tenant) + 1);
    sha256_update(&ctx, entity_id, strlen(entity_id) + 1);
    sha256_update(&ctx, source_version, strlen(source_version) + 1);
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
