/* The applied records mosync:{T}:applied:<flow>:<entity> (see apply.h):
 * what makes every effect happen once, and the request hash. */
#include "apply.h"
#include "event.h"
#include "sha256.h"
#include "tenant.h"

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
    return apply_record_set_fenced(rs, flow, entity, version, -1, hash, state, extra, ttl_s, errstr,
                                   errstr_size);
}

mo_err apply_record_set_fenced(rs_store *rs, const char *flow, const char *entity,
                               const char *version, long long fence, const char *hash,
                               const char *state, const json_t *extra, long ttl_s, char *errstr,
                               size_t errstr_size)
{
    char suffix[512], now[32];
    ev_utc_now(now, sizeof(now));
    snprintf(suffix, sizeof(suffix), "applied:%s:%s", flow, entity);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "version", version, "hash", hash, "state",
                            state, "at", now);
    if (!rec)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (fence >= 0)
        json_object_set_new(rec, "fence", json_integer((json_int_t)fence));
    if (extra)
        json_object_update(rec, (json_t *)extra);
    mo_err err = rs_set_json(rs, suffix, rec, ttl_s, errstr, errstr_size);
    json_decref(rec);
    return err;
}

int apply_stale(const json_t *ev, const json_t *rec)
{
    json_t *fence = json_object_get(rec, "fence");
    return ev_stale(ev, json_string_value(json_object_get(rec, "version")),
                    json_is_integer(fence) ? (long long)json_integer_value(fence) : -1);
}

/* Set once by `mosync replay --force` before any applier runs. */
static int apply_force_on;
/* Set by the loop for the message in hand (a resync); per thread. */
static _Thread_local int apply_force_msg;

void apply_force_set(int on)
{
    apply_force_on = on;
}

void apply_force_message(int on)
{
    apply_force_msg = on;
}

int apply_forced(void)
{
    return apply_force_on || apply_force_msg;
}

int apply_same_request(const json_t *rec, const char *hash)
{
    const char *rec_hash = json_string_value(json_object_get(rec, "hash"));
    return !apply_forced() && rec_hash && !strcmp(rec_hash, hash);
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

int apply_tenant_ours(const mo_config *cfg, rs_store *rs, const json_t *ev, mo_err *err,
                      char *errstr, size_t errstr_size)
{
    const char *tenant = json_string_value(json_object_get(ev, "tenant"));
    int known;
    if (!strcmp(tenant, cfg->tenant))
        return 1;
    if (cfg->registry)
        return 0;
    if ((*err = tn_exists(rs, tenant, &known, errstr, errstr_size)))
        return -1;
    if (known)
        return 0;
    *err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                     "event for tenant '%s', not '%s', and no tenant '%s' in the registry", tenant,
                     cfg->tenant, tenant);
    return -1;
}
