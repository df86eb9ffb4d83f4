/* The pure mapping of one Ongoing article's stock to the Mystore stock write
 * it calls for (MODEL.md: the Stock paragraph, M10).  No I/O: the stock
 * consumer looks the article number up in the map kept by the article sync
 * and does the HTTP (PATCH product-variants/{id} or products/{id}); this only
 * decides what to write where.
 *
 * The inputs are one element of Ongoing's GET /articles answer, as served
 * (absent members may be null):
 *   {"articleNumber", "freeValues": {"freeDecimal2"},
 *    "inventoryInfo": {"sellableNumberOfItems", "numberOfItems", ...}, ...}
 * and the article sync's map entry for its article number (see
 * map_article.h): {"product_id": "812", "variant_id": "116301" or null}. */
#ifndef MP_MAP_STOCK_H
#define MP_MAP_STOCK_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* Maps one article.  On success *out is a new reference:
 *   {"action": "write", "target": "variant", "id": "116301", "quantity": 8}
 *   {"action": "write", "target": "product", "id": "812", "quantity": 8}
 *   {"action": "skip", "reason": "unknown article"}
 * quantity is max(0, floor(sellableNumberOfItems)) as a JSON integer.  The
 * variant is freeValues.freeDecimal2 when that is a whole positive number
 * (the article sync writes the variant id there), else the map entry's
 * variant_id; the product only when the map entry has a product and no
 * variant (M10: a product that has variants is never written).
 *
 * ongoing_article: borrowed; map_entry: borrowed, NULL or JSON null when the
 * article number is not in the map; out: not NULL, *out is set to NULL on
 * failure; errstr: caller's buffer, may be NULL.
 * Returns MO_ERR_INVALID for an article or map entry of the wrong shape (also
 * a missing or non-numeric sellableNumberOfItems, and ids that are not Mystore
 * ids), with a one-line reason naming the article and field, or
 * MO_ERR_NOMEM. */
mo_err mp_stock_map(const json_t *ongoing_article, const json_t *map_entry, json_t **out,
                    char *errstr, size_t errstr_size);

#endif
