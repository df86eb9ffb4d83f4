/* The pure mapping of one Mystore product snapshot to the Ongoing articles it
 * calls for (MODEL.md: the article table, M4 O2 O3).  No I/O: the article
 * consumer does the HTTP and keeps the article number → variant map; this
 * only decides what to send.
 *
 * The snapshot is what the product poller captures, Mystore JSON:API resource
 * objects exactly as the API returns them (numbers may be strings, names
 * localised):
 *   {"product":  {products resource},
 *    "variants": [{"variant": {product-variants resource},
 *                  "stock_attributes": "7-3648,3-12"}, ...]
 *                (absent, null or [] for a product without variants),
 *    "options":  {"<option id>": {product-options resource}, ...},
 *    "option_values": {"<value id>": {product-option-values resource}, ...}}
 * "stock_attributes" is the variant's products_stock_attributes from the
 * variant list's meta: "optionId-valueId" pairs, comma-separated.  "options"
 * is not read: an article carries option value names, not option names. */
#ifndef MP_MAP_ARTICLE_H
#define MP_MAP_ARTICLE_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* Settings of the article mapping.  language is borrowed for the duration of
 * mp_article_map(); NULL or "" picks "no". */
typedef struct mp_article_conf {
    long goods_owner_id;
    const char *language; /* localised texts, default "no" */
    int weight_kg;        /* M4: 0 grams (default), 1 kilograms */
} mp_article_conf;

/* Maps one snapshot.  On success *out is a new reference:
 *   {"articles": [{PUT /articles body}, ...],
 *    "map": {"<articleNumber>": {"product_id": "812", "variant_id": "116301"}}}
 * with one article per variant in snapshot order, or one for a product
 * without variants (its map entry has "variant_id": null).  A body holds only
 * goodsOwnerId, articleNumber, articleName, productCode, barCodeInfo.barCode,
 * customerPrice, purchasePrice, stockValuationPrice, weight and
 * freeValues.freeDecimal2; absent values are left out, never sent as null.
 *
 * Duplicate SKUs across products cannot be seen from one snapshot; the
 * consumer checks them against its map.
 *
 * snapshot: borrowed; conf: borrowed, not NULL; out: not NULL, *out is set to
 * NULL on failure; errstr: caller's buffer, may be NULL.
 * Returns MO_ERR_INVALID for any snapshot it cannot map, with a one-line
 * reason naming the product, the variant and the field ("product 812 variant
 * 116301: lost its SKU"), or MO_ERR_NOMEM. */
mo_err mp_article_map(const json_t *snapshot, const mp_article_conf *conf, json_t **out,
                      char *errstr, size_t errstr_size);

#endif
