/* Ongoing order → Mystore delivery (tracking number and "levert"), or
 * nothing.  See map_delivery.h; the rules are MODEL.md's Deliveries
 * paragraph and O5. */
#include "map_delivery.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "mapping.h"

/* The order for messages, and where reasons go. */
typedef struct md_ctx {
    char label[64]; /* "Ongoing order 50163" */
    char *errstr;
    size_t errstr_size;
} md_ctx;

/* Member key of object, NULL when object is not an object. */
static const json_t *md_get(const json_t *object, const char *key)
{
    return json_is_object(object) ? json_object_get(object, key) : NULL;
}

/* Reads the optional string member key of who's object into *out (NULL when
 * absent, null or ""); MO_ERR_INVALID with a reason when it is not a string. */
static mo_err md_string(md_ctx *ctx, const char *who, const json_t *object, const char *key,
                        const char **out)
{
    char val[96];

    if (mp_string(object, key, out) == MO_OK)
        return MO_OK;
    return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not a string",
                     who, key, mp_describe(md_get(object, key), val, sizeof val));
}

/* Reads the optional boolean member key of who's object: *out is 1 only for
 * true; absent and null are false; anything else is MO_ERR_INVALID, since a
 * return entry read as outbound would give the customer the wrong number. */
static mo_err md_flag(md_ctx *ctx, const char *who, const json_t *object, const char *key, int *out)
{
    const json_t *value = md_get(object, key);
    char val[96];

    *out = json_is_true(value);
    if (value == NULL || json_is_null(value) || json_is_boolean(value))
        return MO_OK;
    return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not a boolean",
                     who, key, mp_describe(value, val, sizeof val));
}

/* The member key of the order as an array; *out NULL when it is absent or
 * null, MO_ERR_INVALID when it is something else. */
static mo_err md_array(md_ctx *ctx, const json_t *order, const char *key, const json_t **out)
{
    const json_t *value = md_get(order, key);
    char val[96];

    *out = NULL;
    if (value == NULL || json_is_null(value))
        return MO_OK;
    if (!json_is_array(value))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not an array",
                         ctx->label, key, mp_describe(value, val, sizeof val));
    *out = value;
    return MO_OK;
}

/* The first outbound tracking[].waybill into *out (NULL when none).  An entry
 * is a return when it says so as "isReturn" (the brief's name) or
 * "isReturnTracking" (the name PUT /orders/{id}/orderTracking uses). */
static mo_err md_from_tracking(md_ctx *ctx, const json_t *order, const char **out)
{
    const json_t *list, *entry;
    char who[96];
    size_t i;
    mo_err rc = md_array(ctx, order, "tracking", &list);

    *out = NULL;
    if (rc != MO_OK)
        return rc;
    json_array_foreach(list, i, entry)
    {
        int is_return, is_return_tracking;

        snprintf(who, sizeof who, "%s tracking #%zu", ctx->label, i + 1);
        if (!json_is_object(entry))
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s is not an object",
                             who);
        if ((rc = md_flag(ctx, who, entry, "isReturn", &is_return)) != MO_OK ||
            (rc = md_flag(ctx, who, entry, "isReturnTracking", &is_return_tracking)) != MO_OK)
            return rc;
        if (is_return || is_return_tracking)
            continue;
        if ((rc = md_string(ctx, who, entry, "waybill", out)) != MO_OK || *out != NULL)
            return rc;
    }
    return MO_OK;
}

/* From the first outbound parcel that has either, its tracking.waybill, else
 * its parcelNumber, into *out (NULL when none).  Return parcels
 * (isReturnParcel true) are passed over. */
static mo_err md_from_parcels(md_ctx *ctx, const json_t *order, const char **out)
{
    const json_t *list, *parcel;
    char who[96], tracking_who[112], val[96];
    size_t i;
    mo_err rc = md_array(ctx, order, "parcels", &list);

    *out = NULL;
    if (rc != MO_OK)
        return rc;
    json_array_foreach(list, i, parcel)
    {
        const json_t *tracking = md_get(parcel, "tracking");
        int is_return;

        snprintf(who, sizeof who, "%s parcel #%zu", ctx->label, i + 1);
        if (!json_is_object(parcel))
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s is not an object",
                             who);
        if ((rc = md_flag(ctx, who, parcel, "isReturnParcel", &is_return)) != MO_OK)
            return rc;
        if (is_return)
            continue;
        if (tracking != NULL && !json_is_null(tracking) && !json_is_object(tracking))
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                             "%s: tracking %s is not an object", who,
                             mp_describe(tracking, val, sizeof val));
        snprintf(tracking_who, sizeof tracking_who, "%s tracking", who);
        if ((rc = md_string(ctx, tracking_who, tracking, "waybill", out)) != MO_OK || *out != NULL)
            return rc;
        if ((rc = md_string(ctx, who, parcel, "parcelNumber", out)) != MO_OK || *out != NULL)
            return rc;
    }
    return MO_OK;
}

/* The tracking number of a shipped order, by the Deliveries paragraph:
 * tracking[], then orderInfo.wayBill, then the parcels.  *out borrowed from
 * the order, NULL when there is none.  orderInfo.returnWayBill is never read. */
static mo_err md_tracking_number(md_ctx *ctx, const json_t *order, const json_t *info,
                                 const char **out)
{
    mo_err rc = md_from_tracking(ctx, order, out);

    if (rc == MO_OK && *out == NULL)
        rc = md_string(ctx, ctx->label, info, "wayBill", out);
    if (rc == MO_OK && *out == NULL)
        rc = md_from_parcels(ctx, order, out);
    return rc;
}

mo_err mp_delivery_map(const json_t *ongoing_order, json_t **out, char *errstr, size_t errstr_size)
{
    assert(out != NULL);
    md_ctx ctx = {.label = "Ongoing order", .errstr = errstr, .errstr_size = errstr_size};
    const json_t *info = md_get(ongoing_order, "orderInfo");
    const json_t *order_id = md_get(info, "orderId");
    const json_t *status_value = md_get(md_get(info, "orderStatus"), "number");
    const char *order_number = NULL, *shipped_time = NULL, *tracking = NULL, *reference = NULL;
    const char *skip = NULL;
    long status = 0;
    char val[96];
    mo_err rc;

    *out = NULL;
    if (!json_is_object(ongoing_order))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "Ongoing order is not a JSON object");
    if (!json_is_object(info))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "Ongoing order: orderInfo is missing");
    if (json_is_integer(order_id))
        snprintf(ctx.label, sizeof ctx.label, "Ongoing order %" JSON_INTEGER_FORMAT,
                 json_integer_value(order_id));

    rc = md_string(&ctx, ctx.label, info, "orderNumber", &order_number);
    if (rc != MO_OK)
        return rc;
    if (order_number == NULL)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s: orderNumber is missing",
                         ctx.label);
    if (!json_is_number(status_value) || mp_whole_number(status_value, &status) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "%s: orderStatus.number %s is not a status number", ctx.label,
                         mp_describe(status_value, val, sizeof val));
    rc = md_string(&ctx, ctx.label, info, "shippedTime", &shipped_time);
    if (rc != MO_OK)
        return rc;

    /* O5, with cancellation first: a cancelled order is never delivered. */
    if (!mp_is_id(order_number))
        skip = "not a Mystore order";
    else if (status == MP_ONGOING_STATUS_CANCELLED)
        skip = "cancelled in Ongoing";
    else if (shipped_time == NULL &&
             !(status >= MP_ONGOING_STATUS_SENT && status < MP_ONGOING_STATUS_CANCELLED))
        skip = "not shipped";
    if (skip != NULL) {
        *out = json_pack("{s:s, s:s}", "action", "skip", "reason", skip);
    } else {
        rc = md_tracking_number(&ctx, ongoing_order, info, &tracking);
        if (rc == MO_OK)
            rc = md_string(&ctx, ctx.label, info, "referenceNumber", &reference);
        if (rc != MO_OK)
            return rc;
        *out = json_pack("{s:s, s:s, s:s*, s:s*}", "action", "deliver", "order_id", order_number,
                         "tracking_number", tracking, "reference_number", reference);
    }
    if (*out == NULL)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", ctx.label);
    return MO_OK;
}

/* s without surrounding ASCII white space: *len bytes from the returned
 * pointer.  s: borrowed. */
static const char *md_trim(const char *s, size_t *len)
{
    size_t n = strlen(s);

    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    *len = n;
    return s;
}

int mp_delivery_same_reference(const char *ongoing_reference, const json_t *mystore_reference)
{
    char number[32];
    const char *mine = NULL, *theirs;
    size_t mine_len = 0, theirs_len = 0;

    if (json_is_string(mystore_reference)) {
        mine = json_string_value(mystore_reference);
    } else if (json_is_integer(mystore_reference)) {
        snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(mystore_reference));
        mine = number;
    }
    if (mine != NULL)
        mine = md_trim(mine, &mine_len);
    if (ongoing_reference == NULL || mine == NULL || mine_len == 0)
        return 1;
    theirs = md_trim(ongoing_reference, &theirs_len);
    if (theirs_len == 0)
        return 1;
    return mine_len == theirs_len && memcmp(mine, theirs, mine_len) == 0;
}

int mp_delivery_status_is(const json_t *statuses, const char *status_id, const char *wanted)
{
    size_t i;
    json_t *row;

    if (status_id == NULL)
        return 0;
    json_array_foreach(statuses, i, row)
    {
        const char *id = json_string_value(md_get(row, "id"));
        if (id != NULL && strcmp(id, status_id) == 0)
            return mp_status_matches(id, md_get(md_get(row, "attributes"), "name"), wanted);
    }
    return mp_status_matches(status_id, NULL, wanted);
}

int mp_delivery_sent_before(const json_t *history, const json_t *statuses, const char *sent)
{
    size_t i;
    json_t *row;

    json_array_foreach(history, i, row)
    {
        const json_t *data = md_get(md_get(md_get(row, "relationships"), "order-status"), "data");
        if (mp_delivery_status_is(statuses, json_string_value(md_get(data, "id")), sent))
            return 1;
    }
    return 0;
}
