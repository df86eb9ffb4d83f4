/* The applied records mosync:{T}:applied:<flow>:<entity> (see apply.h):
 * what makes every effect happen once, and the request hash. */
#include "apply.h"
#include "event.h"
#include "sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mo_err apply_record_get(rs_store *rs, const char *flow, const char *entity, json_t **rec,
                        char *errstr, size_t errstr_size)
{
    char suffix[512];
    snprintf(suffix, sizeof(suffix), "applied:%s:%s", flow, entity);
    return rs_get_json(rs, suffix, rec, errstr, errstr_size);
}

mo_err apply_record_set(rs_store *rs, const char *flow, const char *entity, const char *version,
                        const char *hash, const char *state, const json_t *extra, long ttl_s,
                        char *errstr, size_t errstr_size)
{
    char suffix[512], now[32];
    ev_utc_now(now, sizeof(now));
    snprintf(suffix, sizeof(suffix), "applied:%s:%s", flow, entity);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "version", version, "hash", hash, "state",
                            state, "at", now);
    if (!rec)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (extra)
        json_object_update(rec, (json_t *)extra);
    mo_err err = rs_set_json(rs, suffix, rec, ttl_s, errstr, errstr_size);
    json_decref(rec);
    return err;
}

/* Set once by `mosync replay --force` before any applier runs. */
static int apply_force_on;

void apply_force_set(int on)
{
    apply_force_on = on;
}

int apply_forced(void)
{
    return apply_force_on;
}

int apply_same_request(const json_t *rec, const char *hash)
{
    const char *rec_hash = json_string_value(json_object_get(rec, "hash"));
    return !apply_force_on && rec_hash && !strcmp(rec_hash, hash);
}

mo_err apply_hash(const json_t *j, char hex[65])
{
    char *canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canon)
        return MO_ERR_NOMEM;
    sha256_hex(canon, strlen(canon), hex);
    free(canon);
    return MO_OK;
}
