/* The pure mapping of one Mystore order snapshot to the Ongoing requests it
 * calls for (MODEL.md: the order table, the order rules, M1 M5 M7 M8 M15 O4).
 * No I/O: the order consumer does the HTTP; this only decides what to send.
 *
 * The snapshot is what the order poller captures, Mystore JSON:API resource
 * objects exactly as the API returns them:
 *   {"order":  {orders resource},
 *    "status": {order-status resource} or null when unknown,
 *    "lines":  [{"line": {order-products resource},
 *                "options": [{order-product-attributes resource}, ...]}, ...],
 *    "totals": [{order-totals resource}, ...]} */
#ifndef MP_MAP_ORDER_H
#define MP_MAP_ORDER_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* Settings of the order mapping.  Every pointer is borrowed for the duration
 * of mp_order_map(); NULL or "" picks the default named beside it. */
typedef struct mp_order_conf {
    long goods_owner_id;
    const char *timezone;           /* MYSTORE_TIMEZONE (M1), default "Europe/Oslo" */
    const char *language;           /* localised texts, default "no" */
    const char *status_sent;        /* M8: name or id, default "levert" */
    const char *status_cancelled;   /* M8: name or id, default "kansellert" */
    const json_t *order_statuses;   /* MYSTORE_ORDER_STATUSES: borrowed, may be NULL: an
                                       array of names or ids; NULL or [] = every status */
    const json_t *shipping_methods; /* borrowed, may be NULL:
                                       {"<shipping_method>": {"code": "..", "name": ".."}} */
} mp_order_conf;

#define MP_STATUS_SENT_DEFAULT      "levert"
#define MP_STATUS_CANCELLED_DEFAULT "kansellert"

/* Maps one snapshot.  On success *out is a new reference:
 *   {"action": "upsert", "order": {PUT /orders body}, "articles": [{PUT /articles body}, ...]}
 *   {"action": "cancel", "orderNumber": "10001"}
 *   {"action": "skip",   "reason": "sent in Mystore"}
 *   {"action": "wait",   "reason": "status 'Ubehandlet' (1) is not in MYSTORE_ORDER_STATUSES"}
 * "articles" holds one body per distinct line sku, in line order (O4).
 * The rules, first match wins: the sent status skips, the cancelled status
 * cancels, a status that order_statuses (when not empty) does not list waits
 * (nothing is sent: a later event in a listed status sends the order), any
 * other upserts.  Statuses match by mp_status_matches().
 * Only the order id and status are read for "cancel", "skip" and "wait".
 *
 * snapshot: borrowed; conf: borrowed, not NULL; out: not NULL, *out is set to
 * NULL on failure; errstr: caller's buffer, may be NULL.
 * Returns MO_ERR_INVALID for any input it cannot map, with a one-line reason
 * naming the entity and field ("order 10001 line 55001: quantity 'abc' is not
 * a number"), or MO_ERR_NOMEM. */
mo_err mp_order_map(const json_t *snapshot, const mp_order_conf *conf, json_t **out, char *errstr,
                    size_t errstr_size);

/* How many of the shop's order statuses (statuses: borrowed array of
 * order-status resources, as GET order-status lists them) one listed value of
 * MYSTORE_ORDER_STATUSES (a name or an id; borrowed) matches, by the order
 * mapping's rule (mp_status_matches).  0 means no order can ever be in it:
 * the poller warns and `mosync doctor` says so. */
size_t mp_order_status_count(const json_t *statuses, const char *listed);

#endif
