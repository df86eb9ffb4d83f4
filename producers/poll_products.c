/* `mosync poll mystore-products`: Mystore products changed since the cursor
 * (M1–M3; without a cursor, every product: M14) → mystore.products, one
 * snapshot per product:
 *   {"product": <products resource>,
 *    "variants": [{"variant": <product-variants resource>,
 *                  "stock_attributes": "7-3648,3-12"}],
 *    "options": {"7": <product-options resource>},
 *    "option_values": {"3648": <product-option-values resource>}}
 * Option and option-value names change rarely and are shared by many
 * products, so they come from a bounded in-process cache. */
#include "kafka.h"
#include "log.h"
#include "poll.h"
#include "stop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PP_CACHE_MAX    4096             /* entries; the cache is emptied when full */
#define PP_CACHE_TTL_MS (10 * 60 * 1000) /* names may change: re-read after 10 min */

typedef struct pp_state {
    json_t *cache; /* "product-options/7" → {"res": resource, "at": ms} */
    unsigned long hits, misses;
} pp_state;

/* One option or option value by path ("product-options/7"), from the cache
 * or from Mystore.  *res is borrowed from the cache. */
static mo_err pp_named(pp_state *s, ms_client *ms, const char *path, json_t **res, char *errstr,
                       size_t errstr_size)
{
    long long now = mo_now_ms();
    json_t *hit = json_object_get(s->cache, path);
    if (hit && now - json_integer_value(json_object_get(hit, "at")) < PP_CACHE_TTL_MS) {
        s->hits++;
        *res = json_object_get(hit, "res");
        return MO_OK;
    }
    s->misses++;
    json_t *doc;
    long status;
    mo_err err = ms_get(ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && status == 404)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s does not exist", path);
    if (err)
        return err;
    json_t *data = json_object_get(doc, "data");
    if (!json_is_object(data)) {
        json_decref(doc);
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "GET %s: no data object", path);
    }
    if (json_object_size(s->cache) >= PP_CACHE_MAX)
        json_object_clear(s->cache);
    json_object_set_new(s->cache, path,
                        json_pack("{s:O, s:I}", "res", data, "at", (json_int_t)now));
    json_decref(doc);
    *res = json_object_get(json_object_get(s->cache, path), "res");
    return MO_OK;
}

/* Adds the option and value resources named by "7-3648,3-12" to the snapshot.
 * Pairs that do not parse are left for the mapping to reject. */
static mo_err pp_options(pp_state *s, ms_client *ms, const char *attrs, json_t *options,
                         json_t *values, char *errstr, size_t errstr_size)
{
    const char *p = attrs;
    while (*p) {
        char *end;
        long opt = strtol(p, &end, 10);
        if (end == p || *end != '-' || opt <= 0)
            return MO_OK;
        long val = strtol(end + 1, &end, 10);
        if (val <= 0 || (*end && *end != ','))
            return MO_OK;
        char id[32], path[64];
        json_t *res;
        mo_err err;
        snprintf(id, sizeof(id), "%ld", opt);
        snprintf(path, sizeof(path), "product-options/%ld", opt);
        if (!json_object_get(options, id)) {
            if ((err = pp_named(s, ms, path, &res, errstr, errstr_size)))
                return err;
            json_object_set(options, id, res);
        }
        snprintf(id, sizeof(id), "%ld", val);
        snprintf(path, sizeof(path), "product-option-values/%ld", val);
        if (!json_object_get(values, id)) {
            if ((err = pp_named(s, ms, path, &res, errstr, errstr_size)))
                return err;
            json_object_set(values, id, res);
        }
        p = *end ? end + 1 : end;
    }
    return MO_OK;
}

static mo_err pp_snapshot(void *state, ms_client *ms, const char *id, json_t *product,
                          const json_t *linked, const json_t *included, json_t **snapshot,
                          char *errstr, size_t errstr_size)
{
    (void)linked; /* the products stream does not ask include= */
    (void)included;
    pp_state *s = state;
    char path[256];
    json_t *variants = NULL, *meta = NULL;
    json_t *out = json_array(), *options = json_object(), *values = json_object();
    mo_err err;

    *snapshot = NULL;
    snprintf(path, sizeof(path), "products/%s/product-variants", id);
    if ((err =
             ms_list_all_meta(ms, path, "product_variants", &variants, &meta, errstr, errstr_size)))
        goto out;
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "id"));
        const char *attrs = NULL;
        size_t j;
        json_t *m;
        if (!pm_id_ok(vid)) {
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                            "product %s: a variant has no usable id", id);
            goto out;
        }
        /* meta.product_variants pairs the variant id (a number) with its options. */
        json_array_foreach(meta, j, m)
        {
            json_t *sid = json_object_get(m, "products_stock_id");
            char buf[32];
            if (json_is_integer(sid))
                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(sid));
            else
                snprintf(buf, sizeof(buf), "%s", json_is_string(sid) ? json_string_value(sid) : "");
            if (!strcmp(buf, vid))
                attrs = json_string_value(json_object_get(m, "products_stock_attributes"));
        }
        if (attrs && (err = pp_options(s, ms, attrs, options, values, errstr, errstr_size)))
            goto out;
        json_array_append_new(out,
                              json_pack("{s:O, s:s?}", "variant", v, "stock_attributes", attrs));
    }
    *snapshot = json_pack("{s:O, s:O, s:O, s:O}", "product", product, "variants", out, "options",
                          options, "option_values", values);
    if (!*snapshot)
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
out:
    json_decref(variants);
    json_decref(meta);
    json_decref(out);
    json_decref(options);
    json_decref(values);
    return err;
}

static void pp_free(void *state)
{
    pp_state *s = state;
    if (!s)
        return;
    lg_debug("poll.mystore-products", NULL, "option name cache: %lu hits, %lu misses", s->hits,
             s->misses);
    json_decref(s->cache);
    free(s);
}

mo_err pm_products_stream(pm_stream *st)
{
    pp_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->cache = json_object())) {
        free(s);
        return MO_ERR_NOMEM;
    }
    *st = (pm_stream){.name = "mystore-products",
                      .flow = "articles",
                      .noun = "products",
                      .list_path = "products",
                      .event_type = "mystore.product",
                      .topic_base = KQ_TOPIC_PRODUCTS,
                      .all_without_cursor = 1,
                      .state = s,
                      .snapshot = pp_snapshot,
                      .free_state = pp_free};
    return MO_OK;
}
