/* Mystore product snapshot → Ongoing PUT /articles bodies and the article
 * number → variant map.  See map_article.h; the field rules are MODEL.md's
 * article table. */
#include "map_article.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"

/* What one mapping call needs everywhere: settings with defaults filled in,
 * the product id for messages, and where reasons go. */
typedef struct ma_ctx {
    long goods_owner_id;
    const char *language;
    int weight_kg;
    const char *product_id; /* borrowed from the snapshot once known */
    char product_label[72]; /* product_id cleaned for messages */
    const json_t *values;   /* option_values, borrowed, may be NULL */
    char *errstr;
    size_t errstr_size;
} ma_ctx;

/* An amount read from Mystore; present is 0 when it is absent (null or ""). */
typedef struct ma_amount {
    double value;
    int present;
} ma_amount;

/* What every article of one product shares; strings borrowed from the
 * snapshot, NULL when absent. */
typedef struct ma_product {
    const char *sku;
    const char *ean;
    const char *name; /* in the configured language */
    ma_amount price, cost, weight;
} ma_product;

/* What sets one article apart: one variant, or the product itself when it has
 * no variants (variant_id NULL, no options). */
typedef struct ma_item {
    const char *sku; /* borrowed, not NULL */
    const char *ean; /* borrowed, NULL when absent */
    ma_amount cost;
    const char *variant_id; /* borrowed, NULL without variants */
    long variant_number;    /* variant_id as a number */
    mp_option *options;     /* owned, NULL when there are none */
    size_t n;
} ma_item;

/* Member key of object, NULL when object is not an object. */
static const json_t *ma_get(const json_t *object, const char *key)
{
    return json_is_object(object) ? json_object_get(object, key) : NULL;
}

/* Reads the optional string attribute key of who's attrs into *out (NULL when
 * absent or ""); MO_ERR_INVALID with a reason when it is not a string. */
static mo_err ma_string(ma_ctx *ctx, const char *who, const json_t *attrs, const char *key,
                        const char **out)
{
    char val[96];

    if (mp_string(attrs, key, out) == MO_OK)
        return MO_OK;
    return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not a string",
                     who, key, mp_describe(ma_get(attrs, key), val, sizeof val));
}

/* Reads the amount attribute key (a JSON number or numeric string) of who's
 * attrs.  Absent (null or "") leaves out->present 0; a value that is not a
 * number, or is negative, gives MO_ERR_INVALID.  Prices, costs and weights
 * are never negative in a shop, so a negative one is a data error. */
static mo_err ma_amount_of(ma_ctx *ctx, const char *who, const json_t *attrs, const char *key,
                           ma_amount *out)
{
    const json_t *value = ma_get(attrs, key);
    char val[96];

    out->present = 0;
    out->value = 0;
    if (mp_absent(value))
        return MO_OK;
    if (mp_number(value, &out->value) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not a number",
                         who, key, mp_describe(value, val, sizeof val));
    if (out->value < 0)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is negative",
                         who, key, mp_describe(value, val, sizeof val));
    if (out->value == 0)
        out->value = 0; /* "-0" would otherwise be sent as -0.0 */
    out->present = 1;
    return MO_OK;
}

/* Reads the product attributes every article shares into *p. */
static mo_err ma_read_product(ma_ctx *ctx, const json_t *product, ma_product *p)
{
    const json_t *attrs = ma_get(product, "attributes");
    char who[96];
    mo_err rc;

    snprintf(who, sizeof who, "product %s", ctx->product_label);
    p->name = mp_text(ma_get(attrs, "name"), ctx->language);
    rc = ma_string(ctx, who, attrs, "sku", &p->sku);
    if (rc == MO_OK)
        rc = ma_string(ctx, who, attrs, "ean", &p->ean);
    if (rc == MO_OK)
        rc = ma_amount_of(ctx, who, attrs, "price", &p->price);
    if (rc == MO_OK)
        rc = ma_amount_of(ctx, who, attrs, "cost", &p->cost);
    if (rc == MO_OK)
        rc = ma_amount_of(ctx, who, attrs, "weight", &p->weight);
    return rc;
}

/* Reads 1 to 18 digits at *p into *out and advances *p past them; -1 when
 * there are none or too many. */
static int ma_digits(const char **p, long *out)
{
    long v = 0;
    int n = 0;

    while (**p >= '0' && **p <= '9') {
        if (n == 18)
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n == 0)
        return -1;
    *out = v;
    return 0;
}

/* Parses a variant's stock_attributes ("7-3648,3-12": optionId-valueId
 * pairs, comma-separated, no blanks, each option once) into item->options,
 * and names each value from option_values in the configured language.  A
 * value without a name is an error rather than a silent gap: the article
 * name would be wrong, and two variants could end up with the same name. */
static mo_err ma_options(ma_ctx *ctx, const char *who, const json_t *entry, ma_item *item)
{
    const json_t *value = ma_get(entry, "stock_attributes");
    char val[96];
    size_t cap = 1;

    if (mp_absent(value))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: stock_attributes is missing", who);
    if (!json_is_string(value))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: stock_attributes %s is not a string", who,
                         mp_describe(value, val, sizeof val));

    const char *s = json_string_value(value);
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    item->options = calloc(cap, sizeof *item->options);
    if (item->options == NULL)
        return MO_ERR_NOMEM;
    const char *p = s;
    int ok = strlen(s) == json_string_length(value); /* no embedded NUL */
    while (ok) {
        mp_option *o = &item->options[item->n];
        ok = ma_digits(&p, &o->option_id) == 0 && *p == '-';
        if (ok) {
            p++;
            ok = ma_digits(&p, &o->value_id) == 0 && (*p == ',' || *p == '\0');
        }
        for (size_t i = 0; ok && i < item->n; i++)
            ok = item->options[i].option_id != o->option_id;
        if (!ok)
            break;
        item->n++;
        if (*p++ == '\0')
            break;
    }
    if (!ok)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: stock_attributes %s is malformed (want optionId-valueId pairs "
                         "such as '7-3648,3-12', each option once)",
                         who, mp_describe(value, val, sizeof val));

    for (size_t i = 0; i < item->n; i++) {
        mp_option *o = &item->options[i];
        char key[24];

        snprintf(key, sizeof key, "%ld", o->value_id);
        const json_t *row = ma_get(ctx->values, key);
        if (mp_absent(row))
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                             "%s: option value %ld (option %ld) is missing from option_values", who,
                             o->value_id, o->option_id);
        o->value_name = mp_text(ma_get(ma_get(row, "attributes"), "name"), ctx->language);
        if (o->value_name == NULL)
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                             "%s: option value %ld (option %ld) has no name", who, o->value_id,
                             o->option_id);
    }
    return MO_OK;
}

/* Appends the PUT /articles body of item to articles and its map entry to
 * map, by the article table: the variant's sku, ean and cost before the
 * product's, the name and product code with the options in ascending option
 * id (mapping.c), O2 cost as both purchase and valuation price, M4/O3 weight
 * in kilograms, and the variant id in freeDecimal2. */
static mo_err ma_article(ma_ctx *ctx, const ma_product *p, const ma_item *item, json_t *articles,
                         json_t *map)
{
    const char *ean = item->ean != NULL ? item->ean : p->ean;
    const ma_amount *cost = item->cost.present ? &item->cost : &p->cost;
    char *name = NULL, *code = NULL;
    json_t *body;
    mo_err rc;

    rc = mp_article_name(p->name, item->options, item->n, &name);
    if (rc == MO_OK)
        rc = mp_product_code(ctx->product_id, item->options, item->n, &code);
    if (rc != MO_OK)
        goto out; /* the product id was checked, so only MO_ERR_NOMEM is left */

    body = json_object();
    rc = MO_ERR_NOMEM;
    /* Attached first: json_array_append_new() takes it even when it fails. */
    if (body == NULL || json_array_append_new(articles, body) ||
        json_object_set_new(body, "goodsOwnerId", json_integer(ctx->goods_owner_id)) ||
        json_object_set_new(body, "articleNumber", json_string(item->sku)) ||
        (*name != '\0' && json_object_set_new(body, "articleName", json_string(name))) ||
        json_object_set_new(body, "productCode", json_string(code)) ||
        (ean != NULL &&
         json_object_set_new(body, "barCodeInfo", json_pack("{s:s}", "barCode", ean))) ||
        (p->price.present &&
         json_object_set_new(body, "customerPrice", json_real(p->price.value))) ||
        (cost->present && json_object_set_new(body, "purchasePrice", json_real(cost->value))) ||
        (cost->present &&
         json_object_set_new(body, "stockValuationPrice", json_real(cost->value))) ||
        (p->weight.present &&
         json_object_set_new(body, "weight",
                             json_real(mp_weight_kg(p->weight.value, ctx->weight_kg)))) ||
        (item->variant_id != NULL &&
         json_object_set_new(body, "freeValues",
                             json_pack("{s:I}", "freeDecimal2", (json_int_t)item->variant_number))))
        goto out;
    if (json_object_set_new(map, item->sku,
                            json_pack("{s:s, s:s?}", "product_id", ctx->product_id, "variant_id",
                                      item->variant_id)))
        goto out;
    rc = MO_OK;
out:
    free(name);
    free(code);
    return rc;
}

/* Fails when another article of this product already has item's sku; the
 * map entry of the first one names its variant. */
static mo_err ma_unique_sku(ma_ctx *ctx, const char *who, const ma_item *item, const json_t *map)
{
    const json_t *seen = json_object_get(map, item->sku);
    const char *other = json_string_value(ma_get(seen, "variant_id"));
    char val[96], other_val[72];

    if (seen == NULL)
        return MO_OK;
    return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                     "%s: sku '%s' is also the sku of variant %s", who,
                     mp_errval(item->sku, val, sizeof val),
                     mp_errval(other ? other : "?", other_val, sizeof other_val));
}

/* One article from the index-th (0-based) {"variant", "stock_attributes"}
 * element of the snapshot's variants. */
static mo_err ma_variant(ma_ctx *ctx, const ma_product *p, size_t index, const json_t *entry,
                         json_t *articles, json_t *map)
{
    const json_t *variant = ma_get(entry, "variant");
    const json_t *attrs = ma_get(variant, "attributes");
    ma_item item = {0};
    char val[96];
    char who[192];
    mo_err rc;

    if (!json_is_object(variant))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "product %s variant #%zu: no product-variants resource",
                         ctx->product_label, index + 1);
    if (mp_string(variant, "id", &item.variant_id) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "product %s variant #%zu: id %s is not a string", ctx->product_label,
                         index + 1, mp_describe(ma_get(variant, "id"), val, sizeof val));
    if (item.variant_id == NULL)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "product %s variant #%zu: id is missing", ctx->product_label, index + 1);
    snprintf(who, sizeof who, "product %s variant %s", ctx->product_label,
             mp_errval(item.variant_id, val, sizeof val));
    /* freeDecimal2 carries the id as a number, exact up to 2^53. */
    if (!mp_is_id(item.variant_id) ||
        mp_whole_number(ma_get(variant, "id"), &item.variant_number) != MO_OK ||
        item.variant_number == 0)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: id is not a positive whole number", who);

    rc = ma_string(ctx, who, attrs, "sku", &item.sku);
    if (rc != MO_OK)
        return rc;
    if (item.sku == NULL)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: lost its SKU", who);
    rc = ma_string(ctx, who, attrs, "ean", &item.ean);
    if (rc == MO_OK)
        rc = ma_amount_of(ctx, who, attrs, "cost", &item.cost);
    if (rc == MO_OK)
        rc = ma_options(ctx, who, entry, &item);
    if (rc == MO_OK)
        rc = ma_unique_sku(ctx, who, &item, map);
    if (rc == MO_OK)
        rc = ma_article(ctx, p, &item, articles, map);
    free(item.options);
    return rc;
}

/* The product's own article when it has no variants: its sku, ean and cost,
 * its name alone and its id alone as product code. */
static mo_err ma_plain_product(ma_ctx *ctx, const ma_product *p, json_t *articles, json_t *map)
{
    ma_item item = {.sku = p->sku, .ean = NULL, .cost = {0, 0}};

    if (p->sku == NULL)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "product %s: has no variants and no sku", ctx->product_label);
    return ma_article(ctx, p, &item, articles, map);
}

mo_err mp_article_map(const json_t *snapshot, const mp_article_conf *conf, json_t **out,
                      char *errstr, size_t errstr_size)
{
    assert(conf != NULL && out != NULL);
    ma_ctx ctx = {
        .goods_owner_id = conf->goods_owner_id,
        .language = conf->language != NULL && *conf->language != '\0' ? conf->language
                                                                      : MP_DEFAULT_LANGUAGE,
        .weight_kg = conf->weight_kg,
        .product_id = NULL,
        .values = NULL,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    const json_t *product = ma_get(snapshot, "product");
    const json_t *variants = ma_get(snapshot, "variants");
    const json_t *entry;
    ma_product p;
    char val[96];
    size_t i;
    mo_err rc;

    *out = NULL;
    if (!json_is_object(snapshot))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "snapshot is not a JSON object");
    if (!json_is_object(product))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "snapshot: product is missing");
    if (mp_string(product, "id", &ctx.product_id) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "snapshot: product id %s is not a string",
                         mp_describe(ma_get(product, "id"), val, sizeof val));
    if (ctx.product_id == NULL)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "snapshot: product id is missing");
    mp_errval(ctx.product_id, ctx.product_label, sizeof ctx.product_label);
    if (!mp_is_id(ctx.product_id))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "product %s: id is not numeric",
                         ctx.product_label);
    if (!mp_absent(variants) && !json_is_array(variants))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "product %s: variants %s is not an array", ctx.product_label,
                         mp_describe(variants, val, sizeof val));
    ctx.values = ma_get(snapshot, "option_values");
    if (!mp_absent(ctx.values) && !json_is_object(ctx.values))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "product %s: option_values %s is not an object", ctx.product_label,
                         mp_describe(ctx.values, val, sizeof val));
    rc = ma_read_product(&ctx, product, &p);
    if (rc != MO_OK)
        return rc;

    json_t *result = json_pack("{s:[], s:{}}", "articles", "map");
    if (result == NULL)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "product %s: out of memory",
                         ctx.product_label);
    json_t *articles = json_object_get(result, "articles");
    json_t *map = json_object_get(result, "map");
    if (json_array_size(variants) == 0) {
        rc = ma_plain_product(&ctx, &p, articles, map);
    } else {
        json_array_foreach(variants, i, entry)
        {
            rc = ma_variant(&ctx, &p, i, entry, articles, map);
            if (rc != MO_OK)
                break;
        }
    }
    if (rc != MO_OK)
        goto fail;
    *out = result;
    return MO_OK;
fail:
    json_decref(result);
    if (rc == MO_ERR_NOMEM)
        mo_seterr(rc, errstr, errstr_size, "product %s: out of memory", ctx.product_label);
    return rc;
}
