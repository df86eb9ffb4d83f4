/* The pure mapping of one Ongoing order to the delivery it calls for in
 * Mystore (MODEL.md: the Deliveries paragraph, O5, M9).  No I/O: the delivery
 * consumer does the HTTP (PATCH orders/{id}, POST order-status-history) and
 * remembers what it has delivered; this only decides what to do.
 *
 * The input is one element of Ongoing's GET /orders answer, as served
 * (absent members may be null):
 *   {"orderInfo": {"orderId", "orderNumber", "shippedTime", "wayBill",
 *                  "orderStatus": {"number", "text"}, ...},
 *    "tracking": [{"waybill", "trackingUrl", "isReturn"?}, ...],
 *    "parcels":  [{"parcelNumber", "isReturnParcel",
 *                  "tracking": {"waybill", "trackingUrl"}}, ...], ...} */
#ifndef MP_MAP_DELIVERY_H
#define MP_MAP_DELIVERY_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* Ongoing's standard order statuses the rules below use. */
#define MP_ONGOING_STATUS_SENT      450
#define MP_ONGOING_STATUS_CANCELLED 1000

/* Maps one Ongoing order.  On success *out is a new reference:
 *   {"action": "deliver", "order_id": "10001", "tracking_number": "70712345678901234",
 *    "reference_number": "10001"}
 *     ("tracking_number" left out when the order has none: then only the
 *      "levert" status is set and Mystore's tracking_number is left as is;
 *      "reference_number", orderInfo.referenceNumber, left out when absent,
 *      null or "": see mp_delivery_same_reference)
 *   {"action": "skip", "reason": "not a Mystore order" | "cancelled in Ongoing"
 *                                | "not shipped"}
 * Rules, in this order: an orderNumber that is not 1 to 20 digits is not a
 * Mystore order; status 1000 is cancelled; O5: shipped when
 * orderInfo.shippedTime is set or the status is >= 450 and < 1000.  The
 * tracking number is the first outbound tracking[].waybill, else
 * orderInfo.wayBill, else, from the first outbound parcel that has one, its
 * tracking.waybill or else its parcelNumber.  Return entries and
 * orderInfo.returnWayBill never give it.
 *
 * ongoing_order: borrowed; out: not NULL, *out is set to NULL on failure;
 * errstr: caller's buffer, may be NULL.
 * Returns MO_ERR_INVALID for an order of the wrong shape, with a one-line
 * reason naming the order and field ("Ongoing order 50163: orderStatus.number
 * 'x' is not a number"), or MO_ERR_NOMEM. */
mo_err mp_delivery_map(const json_t *ongoing_order, json_t **out, char *errstr, size_t errstr_size);

/* Can the Ongoing order whose orderNumber is a Mystore order id be that
 * Mystore order, judged by the references?  The order flow sends the Mystore
 * `reference` as referenceNumber, so an order typed into the warehouse by hand
 * whose number happens to be a Mystore id shows itself by a referenceNumber
 * that differs.  Returns 0 only when both are set and differ (compared
 * exactly, after trimming surrounding ASCII white space); 1 when they are
 * equal or either is unset, since orders the replaced integration sent may
 * carry no reference.
 *
 * ongoing_reference: the mapping's "reference_number" (NULL or "" = unset);
 * mystore_reference: the Mystore order's attributes.reference, a string or a
 * whole number (NULL, null, "" and any other type = unset).  Both borrowed. */
int mp_delivery_same_reference(const char *ongoing_reference, const json_t *mystore_reference);

/* M8 for a status named by id: does Mystore order status `status_id` match
 * `wanted` (MYSTORE_STATUS_SENT or _CANCELLED: a name or an id)?  The name is
 * read from the status's row in `statuses` (the order-status resources as GET
 * order-status lists them, an array; may be NULL); an id that statuses does
 * not name matches only a `wanted` given as that id.  All borrowed; NULL
 * status_id or wanted matches nothing. */
int mp_delivery_status_is(const json_t *statuses, const char *status_id, const char *wanted);

/* Was the Mystore order ever given the "sent" status?  A shop may move a
 * delivered order on ("Returnert"), so its current status does not tell;
 * its status history does (M9: every status set is a row of GET
 * orders/{id}/order-status-history, naming its status in the relationship
 * "order-status").  One "levert" row means the order was delivered, and
 * mosync never marks it "levert" again (issue 12 items 13 and 23: the
 * delivery applier and `mosync reconcile deliveries` both ask this).
 * history: the rows (an array; NULL or any other value: none); statuses and
 * sent as for mp_delivery_status_is.  Returns 1 or 0. */
int mp_delivery_sent_before(const json_t *history, const json_t *statuses, const char *sent);

#endif
