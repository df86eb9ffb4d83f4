/* The pure comparison behind the dry run (DRY_RUN=on): what a request would
 * change against what the target system holds now, field by field.  No I/O:
 * the appliers read the target (GET) and call these; the tables saying where
 * each request field lives in the target's answer are here, in one place.
 *
 * Every result is a JSON array (new reference) of differences, in request
 * order then target-only entries:
 *   [{"field": "consignee.city", "would_send": "Bergen", "target_has": "Oslo"}, ...]
 * "would_send" is the request's value (null when the request leaves the field
 * out), "target_has" the target's (null when it has none).  An empty array
 * means the request would change nothing that mosync sends.
 *
 * Rules shared by all: a missing member, JSON null and "" count as absent,
 * and two absent values are equal; false counts as absent for booleans;
 * numbers compare by value within 1e-9 relative (Ongoing answers 2.0 for 2);
 * times compare as instants ("2026-11-20T09:15:00Z" equals
 * "2026-11-20T09:15:00.000Z" and "2026-11-20T10:15:00+01:00"; a date alone
 * is midnight UTC); strings compare exactly.  When the target has nothing
 * (NULL: the entity does not exist there) every field the request sends is a
 * difference.
 *
 * All arguments are borrowed for the call; out must not be NULL and *out is
 * NULL on failure; errstr may be NULL.  Failures: MO_ERR_INVALID when the
 * request is not of the expected shape (not an object, lines without a
 * rowNumber), MO_ERR_NOMEM. */
#ifndef MP_MAP_DIFF_H
#define MP_MAP_DIFF_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* A PUT /orders body (mp_order_map's "order") against the Ongoing order as
 * GET /orders answers it (orderInfo, consignee, orderLines[].article...), or
 * NULL when Ongoing has no such order.  Lines are matched by rowNumber and
 * named "orderLines[<rowNumber>].<field>"; a line only one side has is one
 * difference named "orderLines[<rowNumber>]" whose values are the line
 * ({"rowNumber", "articleNumber", "numberOfItems"} on the target side). */
mo_err mp_diff_order(const json_t *request, const json_t *target, json_t **out, char *errstr,
                     size_t errstr_size);

/* A PUT /articles body against the article as GET /articles answers it, or
 * NULL when Ongoing has no article of that number. */
mo_err mp_diff_article(const json_t *request, const json_t *target, json_t **out, char *errstr,
                       size_t errstr_size);

/* The delivery writes of M9 against the Mystore order (the "data" resource of
 * GET orders/{id}): "tracking_number" when tracking is not NULL (without one
 * mosync leaves Mystore's as it is), and "order_status", the "levert" status
 * sent_status_id against the order's status relationship.  Status values are
 * {"id": "3", "name": "Levert"}, the name picked in `language` from the
 * order-status resources in statuses (may be NULL: names are then null). */
mo_err mp_diff_delivery(const char *tracking, const char *sent_status_id,
                        const json_t *mystore_order, const json_t *statuses, const char *language,
                        json_t **out, char *errstr, size_t errstr_size);

/* The stock write of mp_stock_map ({"target", "id", "quantity"}) against the
 * Mystore product-variants or products resource it targets (the "data" of
 * GET product-variants/{id} or products/{id}; NULL when it has none):
 * "quantity", read as Mystore may send it (a number or a numeric string). */
mo_err mp_diff_stock(const json_t *mapped, const json_t *mystore_resource, json_t **out,
                     char *errstr, size_t errstr_size);

/* A cancel (DELETE /orders) against the Ongoing order (GET shape; NULL when
 * Ongoing has none): "orderInfo.orderStatus.number", 1000 (Cancelled) against
 * the order's status number.  Empty when it is cancelled already. */
mo_err mp_diff_cancel(const json_t *target, json_t **out, char *errstr, size_t errstr_size);

#endif
