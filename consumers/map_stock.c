/* Ongoing article stock → Mystore variant or product quantity, or nothing.
 * See map_stock.h; the rules are MODEL.md's Stock paragraph and M10. */
#include "map_stock.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>

#include "mapping.h"

/* The largest quantity written: a double holds every whole number up to it,
 * and no warehouse holds more. */
#define MS_QUANTITY_MAX 9007199254740992.0 /* 2^53 */

/* The article for messages, and where reasons go. */
typedef struct ms_ctx {
    char label[112]; /* "Ongoing article GENSER-R-M" */
    char *errstr;
    size_t errstr_size;
} ms_ctx;

/* Member key of object, NULL when object is not an object. */
static const json_t *ms_get(const json_t *object, const char *key)
{
    return json_is_object(object) ? json_object_get(object, key) : NULL;
}

/* M10 quantity: max(0, floor(sellableNumberOfItems)).  Sellable stock may be
 * negative in Ongoing (more allocated than in stock); Mystore gets 0. */
static mo_err ms_quantity(ms_ctx *ctx, const json_t *article, json_int_t *out)
{
    const json_t *value = ms_get(ms_get(article, "inventoryInfo"), "sellableNumberOfItems");
    char val[96];

    if (value == NULL || json_is_null(value))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: inventoryInfo.sellableNumberOfItems is missing", ctx->label);
    if (!json_is_number(value))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: inventoryInfo.sellableNumberOfItems %s is not a number", ctx->label,
                         mp_describe(value, val, sizeof val));

    double sellable = floor(json_number_value(value));
    if (!(sellable <= MS_QUANTITY_MAX)) /* also NaN */
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: inventoryInfo.sellableNumberOfItems %s is too large", ctx->label,
                         mp_describe(value, val, sizeof val));
    *out = sellable > 0 ? (json_int_t)sellable : 0;
    return MO_OK;
}

/* The variant id the article sync wrote into freeValues.freeDecimal2, as a
 * string in buf, or NULL.  Only a whole positive number can be a variant id;
 * anything else there (absent, null, the 0 Ongoing may show for an unset
 * decimal, a fraction, another integration's value of another type) counts as
 * unset, so the map decides. */
static const char *ms_free_variant(const json_t *article, char *buf, size_t size)
{
    const json_t *value = ms_get(ms_get(article, "freeValues"), "freeDecimal2");
    long id;

    if (!json_is_number(value) || mp_whole_number(value, &id) != MO_OK || id == 0)
        return NULL;
    snprintf(buf, size, "%ld", id);
    return buf;
}

/* Reads the optional id member key of the map entry into *out (NULL when
 * absent, null or ""); MO_ERR_INVALID when it is not a Mystore id. */
static mo_err ms_map_id(ms_ctx *ctx, const json_t *entry, const char *key, const char **out)
{
    char val[96];

    if (mp_string(entry, key, out) == MO_OK && (*out == NULL || mp_is_id(*out)))
        return MO_OK;
    return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                     "%s: map entry %s %s is not a Mystore id", ctx->label, key,
                     mp_describe(ms_get(entry, key), val, sizeof val));
}

mo_err mp_stock_map(const json_t *ongoing_article, const json_t *map_entry, json_t **out,
                    char *errstr, size_t errstr_size)
{
    assert(out != NULL);
    ms_ctx ctx = {.label = "Ongoing article", .errstr = errstr, .errstr_size = errstr_size};
    const char *number = NULL, *product_id = NULL, *variant_id = NULL;
    const char *target = NULL, *id = NULL;
    char free_id[24], val[96];
    json_int_t quantity = 0;
    mo_err rc;

    *out = NULL;
    if (!json_is_object(ongoing_article))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "Ongoing article is not a JSON object");
    if (mp_string(ongoing_article, "articleNumber", &number) == MO_OK && number != NULL)
        snprintf(ctx.label, sizeof ctx.label, "Ongoing article %s",
                 mp_errval(number, val, sizeof val));
    if (map_entry != NULL && !json_is_null(map_entry) && !json_is_object(map_entry))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s: map entry %s is not an object",
                         ctx.label, mp_describe(map_entry, val, sizeof val));
    rc = ms_quantity(&ctx, ongoing_article, &quantity);
    if (rc == MO_OK)
        rc = ms_map_id(&ctx, map_entry, "product_id", &product_id);
    if (rc == MO_OK)
        rc = ms_map_id(&ctx, map_entry, "variant_id", &variant_id);
    if (rc != MO_OK)
        return rc;

    /* M10: the variant when one is known, the product only when the map says
     * it has no variants. */
    if ((id = ms_free_variant(ongoing_article, free_id, sizeof free_id)) != NULL ||
        (id = variant_id) != NULL)
        target = "variant";
    else if ((id = product_id) != NULL)
        target = "product";

    if (target == NULL)
        *out = json_pack("{s:s, s:s}", "action", "skip", "reason", "unknown article");
    else
        *out = json_pack("{s:s, s:s, s:s, s:I}", "action", "write", "target", target, "id", id,
                         "quantity", quantity);
    if (*out == NULL)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", ctx.label);
    return MO_OK;
}
