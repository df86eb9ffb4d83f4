#include "tenant.h"
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TN_INDEX_TENANT "*" /* mosync:{*}:tenants: '*' is never a tenant's name */
#define TN_RECORD       "tenant"
#define TN_GEN          "tenants:gen" /* mosync:{*}:tenants:gen */
#define TN_MGET_CHUNK   500

static const char *const tn_states[] = {TN_CONNECTING, TN_ACTIVE, TN_PAUSED, TN_NEEDS_RECONNECT};

int tn_state_valid(const char *state)
{
    for (size_t i = 0; i < sizeof(tn_states) / sizeof(tn_states[0]); i++)
        if (!strcmp(state, tn_states[i]))
            return 1;
    return 0;
}

mo_err tn_check_name(const char *name, char *errstr, size_t errstr_size)
{
    size_t n = strlen(name);
    if (!n || n > 64)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "a tenant name has 1 to 64 characters");
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "a tenant name may hold only letters, digits, '-', '_' and '.'");
    return MO_OK;
}

static void tn_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

mo_err tn_validate(const char *name, const json_t *settings, char *errstr, size_t errstr_size)
{
    const char *k;
    json_t *v;
    int secret;
    mo_err err = tn_check_name(name, errstr, errstr_size);
    if (err)
        return err;
    if (!json_is_object(settings))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "a tenant's settings are an object");
    json_object_foreach((json_t *)settings, k, v)
    {
        if (!cfg_tenant_var(k, &secret))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "%s is not a tenant's setting (the process's own settings come "
                             "from its environment)",
                             k);
        if (!json_is_string(v))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s must be a string", k);
    }
    json_t *all = json_deep_copy(settings);
    if (!all || json_object_set_new(all, "MOSYNC_TENANT", json_string(name))) {
        json_decref(all);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    mo_config cfg;
    err = cfg_load_tenant(&cfg, CFG_NEED_MYSTORE | CFG_NEED_ONGOING, all, errstr, errstr_size);
    if (!err)
        cfg_free(&cfg);
    json_decref(all);
    return err;
}

static void tn_context(const char *name, char *buf, size_t size)
{
    char key[RS_KEY_SIZE];
    snprintf(buf, size, "%s:secrets", rs_key_tenant(name, TN_RECORD, key, sizeof(key)));
}

/* The record at mosync:{name}:tenant as stored (secrets sealed), or NULL. */
static mo_err tn_read(rs_store *rs, const char *name, json_t **record, char *errstr,
                      size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    const char *argv[2] = {"GET", rs_key_tenant(name, TN_RECORD, key, sizeof(key))};
    json_t *reply;
    json_error_t jerr;
    *record = NULL;
    mo_err err = rs_call(rs, 2, argv, &reply, errstr, errstr_size);
    if (err)
        return err;
    if (json_is_string(reply)) {
        *record = json_loads(json_string_value(reply), 0, &jerr);
        if (!json_is_object(*record) || !json_is_object(json_object_get(*record, "settings")) ||
            !json_is_string(json_object_get(*record, "state"))) {
            json_decref(*record);
            *record = NULL;
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                            "the registry record of tenant %s is not readable", name);
        }
    }
    json_decref(reply);
    return err;
}

mo_err tn_get(rs_store *rs, const sb_key *key, const char *name, json_t **record, char *errstr,
              size_t errstr_size)
{
    char ctx[RS_KEY_SIZE + 16];
    char *plain = NULL;
    size_t len;
    json_error_t jerr;
    mo_err err = tn_check_name(name, errstr, errstr_size);
    if (err || (err = tn_read(rs, name, record, errstr, errstr_size)) || !*record)
        return err;
    const char *sealed = json_string_value(json_object_get(*record, "secrets"));
    if (sealed) {
        tn_context(name, ctx, sizeof(ctx));
        if ((err = sb_open(key, ctx, sealed, &plain, &len, errstr, errstr_size))) {
            json_decref(*record);
            *record = NULL;
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                             "the secrets of tenant %s do not open with MOSYNC_SECRET_KEY (another "
                             "key, or a changed record)",
                             name);
        }
        json_t *secrets = json_loadb(plain, len, 0, &jerr);
        sb_free(plain);
        if (!json_is_object(secrets) ||
            json_object_update(json_object_get(*record, "settings"), secrets)) {
            json_decref(secrets);
            json_decref(*record);
            *record = NULL;
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                             "the secrets of tenant %s are not readable", name);
        }
        json_decref(secrets);
    }
    json_object_del(*record, "secrets");
    return MO_OK;
}

/* Raises the registry's generation (after every change). */
static mo_err tn_bump(rs_store *rs, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    json_t *reply = NULL;
    const char *argv[2] = {"INCR", rs_key_tenant(TN_INDEX_TENANT, TN_GEN, key, sizeof(key))};
    mo_err err = rs_call(rs, 2, argv, &reply, errstr, errstr_size);
    json_decref(reply);
    return err;
}

mo_err tn_gen(rs_store *rs, long long *gen, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE];
    json_t *reply = NULL;
    const char *argv[2] = {"GET", rs_key_tenant(TN_INDEX_TENANT, TN_GEN, key, sizeof(key))};
    *gen = 0;
    mo_err err = rs_call(rs, 2, argv, &reply, errstr, errstr_size);
    if (!err && json_is_string(reply))
        *gen = strtoll(json_string_value(reply), NULL, 10);
    json_decref(reply);
    return err;
}

mo_err tn_get_sealed(rs_store *rs, const json_t *names, json_t **records, char *errstr,
                     size_t errstr_size)
{
    size_t n = json_array_size(names);
    const char **argv = calloc(TN_MGET_CHUNK + 1, sizeof(*argv));
    char(*keys)[RS_KEY_SIZE] = calloc(TN_MGET_CHUNK, RS_KEY_SIZE);
    mo_err err = MO_OK;
    *records = json_array();
    if (!argv || !keys || !*records) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    argv[0] = "MGET";
    for (size_t at = 0; at < n && !err; at += TN_MGET_CHUNK) {
        size_t m = n - at < TN_MGET_CHUNK ? n - at : TN_MGET_CHUNK;
        for (size_t i = 0; i < m; i++) {
            const char *name = json_string_value(json_array_get(names, at + i));
            argv[1 + i] =
                rs_key_tenant(name ? name : TN_INDEX_TENANT, TN_RECORD, keys[i], RS_KEY_SIZE);
        }
        json_t *reply = NULL;
        if ((err = rs_call(rs, (int)m + 1, argv, &reply, errstr, errstr_size)))
            break;
        for (size_t i = 0; i < m; i++) {
            json_t *v = json_array_get(reply, i), *rec = NULL;
            if (json_is_string(v))
                rec = json_loads(json_string_value(v), 0, NULL);
            if (!json_is_object(rec)) {
                json_decref(rec); /* gone: null; there but not an object: {} */
                rec = json_is_string(v) ? json_object() : json_null();
            }
            json_array_append_new(*records, rec);
        }
        json_decref(reply);
    }
out:
    free(argv);
    free(keys);
    if (err) {
        json_decref(*records);
        *records = NULL;
    }
    return err;
}

/* Writes record (borrowed) and adds name to the index. */
static mo_err tn_write(rs_store *rs, const char *name, const json_t *record, char *errstr,
                       size_t errstr_size)
{
    char key[RS_KEY_SIZE], index[RS_KEY_SIZE];
    json_t *reply = NULL;
    char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    const char *set[3] = {"SET", rs_key_tenant(name, TN_RECORD, key, sizeof(key)), text};
    const char *add[3] = {"SADD", rs_key_tenant(TN_INDEX_TENANT, "tenants", index, sizeof(index)),
                          name};
    mo_err err = rs_call(rs, 3, set, &reply, errstr, errstr_size);
    json_decref(reply);
    reply = NULL;
    if (!err)
        err = rs_call(rs, 3, add, &reply, errstr, errstr_size);
    json_decref(reply);
    free(text);
    if (!err)
        err = tn_bump(rs, errstr, errstr_size);
    return err;
}

mo_err tn_put(rs_store *rs, const sb_key *key, const char *name, const json_t *settings,
              const char *state, int create, char *errstr, size_t errstr_size)
{
    char now[32], ctx[RS_KEY_SIZE + 16];
    json_t *old = NULL, *plain = NULL, *secrets = NULL, *record = NULL;
    char *sealed = NULL, *text = NULL;
    const char *k;
    json_t *v;
    int secret;
    mo_err err = tn_validate(name, settings, errstr, errstr_size);
    if (err)
        return err;
    if (!tn_state_valid(state))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "no tenant state '%s'", state);
    if ((err = tn_read(rs, name, &old, errstr, errstr_size)))
        return err;
    if (create && old) {
        json_decref(old);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "tenant %s exists (mosync tenant set changes it)", name);
    }
    if (!create && !old)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "no tenant %s", name);
    tn_now(now, sizeof(now));
    plain = json_object();
    secrets = json_object();
    if (!plain || !secrets)
        goto nomem;
    json_object_foreach((json_t *)settings, k, v)
    {
        cfg_tenant_var(k, &secret);
        if (json_object_set(secret ? secrets : plain, k, v))
            goto nomem;
    }
    text = json_dumps(secrets, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        goto nomem;
    tn_context(name, ctx, sizeof(ctx));
    if ((err = sb_seal(key, ctx, text, strlen(text), &sealed, errstr, errstr_size)))
        goto done;
    json_int_t rev = old ? json_integer_value(json_object_get(old, "rev")) + 1 : 1;
    const char *was = old ? json_string_value(json_object_get(old, "state")) : NULL;
    const char *created = old ? json_string_value(json_object_get(old, "created_at")) : NULL;
    const char *state_at =
        was && !strcmp(was, state) ? json_string_value(json_object_get(old, "state_at")) : NULL;
    record =
        json_pack("{s:i, s:s, s:s, s:s, s:O, s:s, s:s, s:s, s:I}", "v", 1, "name", name, "state",
                  state, "state_at", state_at ? state_at : now, "settings", plain, "secrets",
                  sealed, "created_at", created ? created : now, "updated_at", now, "rev", rev);
    if (!record)
        goto nomem;
    err = tn_write(rs, name, record, errstr, errstr_size);
    goto done;
nomem:
    err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
done:
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    free(sealed);
    json_decref(record);
    json_decref(plain);
    json_decref(secrets);
    json_decref(old);
    return err;
}

mo_err tn_set_state(rs_store *rs, const sb_key *key, const char *name, const char *state,
                    char *errstr, size_t errstr_size)
{
    json_t *record;
    mo_err err = tn_get(rs, key, name, &record, errstr, errstr_size);
    if (err)
        return err;
    if (!record)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "no tenant %s", name);
    err = tn_put(rs, key, name, json_object_get(record, "settings"), state, 0, errstr, errstr_size);
    json_decref(record);
    return err;
}

mo_err tn_exists(rs_store *rs, const char *name, int *exists, char *errstr, size_t errstr_size)
{
    char index[RS_KEY_SIZE];
    const char *argv[3] = {"SISMEMBER",
                           rs_key_tenant(TN_INDEX_TENANT, "tenants", index, sizeof(index)), name};
    json_t *reply;
    *exists = 0;
    mo_err err = rs_call(rs, 3, argv, &reply, errstr, errstr_size);
    if (!err)
        *exists = json_integer_value(reply) == 1;
    json_decref(reply);
    return err;
}

static int tn_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

mo_err tn_list(rs_store *rs, json_t **names, char *errstr, size_t errstr_size)
{
    char index[RS_KEY_SIZE];
    const char *argv[2] = {"SMEMBERS",
                           rs_key_tenant(TN_INDEX_TENANT, "tenants", index, sizeof(index))};
    json_t *reply;
    *names = NULL;
    mo_err err = rs_call(rs, 2, argv, &reply, errstr, errstr_size);
    if (err)
        return err;
    size_t n = json_array_size(reply);
    json_t **items = calloc(n ? n : 1, sizeof(*items));
    *names = json_array();
    if (!items || !*names) {
        free(items);
        json_decref(reply);
        json_decref(*names);
        *names = NULL;
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (json_is_string(json_array_get(reply, i)))
            items[m++] = json_array_get(reply, i);
    qsort(items, m, sizeof(*items), tn_cmp);
    for (size_t i = 0; i < m; i++)
        json_array_append(*names, items[i]);
    free(items);
    json_decref(reply);
    return MO_OK;
}

mo_err tn_remove(rs_store *rs, const char *name, long long *deleted, char *errstr,
                 size_t errstr_size)
{
    char pattern[RS_KEY_SIZE], index[RS_KEY_SIZE], cursor[32] = "0";
    json_t *reply = NULL;
    *deleted = 0;
    mo_err err = tn_check_name(name, errstr, errstr_size);
    if (err)
        return err;
    /* Out of the index first: no process picks the tenant up again. */
    const char *srem[3] = {"SREM", rs_key_tenant(TN_INDEX_TENANT, "tenants", index, sizeof(index)),
                           name};
    if ((err = rs_call(rs, 3, srem, &reply, errstr, errstr_size)))
        return err;
    json_decref(reply);
    if ((err = tn_bump(rs, errstr, errstr_size)))
        return err;
    /* Names hold no glob character (tn_check_name), so the pattern is exact. */
    rs_key_tenant(name, "*", pattern, sizeof(pattern));
    do {
        const char *scan[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        if ((err = rs_call(rs, 6, scan, &reply, errstr, errstr_size)))
            return err;
        json_t *next = json_array_get(reply, 0), *keys = json_array_get(reply, 1);
        if (!json_is_string(next) || !json_is_array(keys)) {
            json_decref(reply);
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "SCAN gave no cursor");
        }
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        size_t n = json_array_size(keys);
        for (size_t i = 0; i < n && !err; i++) {
            json_t *r;
            const char *del[2] = {"UNLINK", json_string_value(json_array_get(keys, i))};
            if (!del[1])
                continue;
            if (!(err = rs_call(rs, 2, del, &r, errstr, errstr_size)))
                *deleted += json_integer_value(r);
            json_decref(r);
        }
        json_decref(reply);
    } while (!err && strcmp(cursor, "0"));
    return err;
}
