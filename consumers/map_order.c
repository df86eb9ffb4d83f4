/* Mystore order snapshot → Ongoing PUT /orders (+ PUT /articles), DELETE, or
 * nothing.  See map_order.h; the field rules are MODEL.md's order table. */
#include "map_order.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mapping.h"

/* What one mapping call needs everywhere: settings with defaults filled in,
 * the order id for messages, and where reasons go. */
typedef struct om_ctx {
    long goods_owner_id;
    const char *timezone;
    const char *language;
    const char *status_sent;
    const char *status_cancelled;
    const json_t *order_statuses;
    const json_t *shipping_methods;
    const char *order_id; /* borrowed from the snapshot once known */
    char order_label[72]; /* order_id cleaned for messages */
    char *errstr;
    size_t errstr_size;
} om_ctx;

/* Formats who (the entity a message is about) into buf.  Truncation is fine
 * for a message, hence vsnprintf: gcc does not flag it there. */
__attribute__((format(printf, 3, 4))) static void om_who(char *buf, size_t size, const char *fmt,
                                                         ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static const char *om_or(const char *value, const char *fallback)
{
    return value != NULL && *value != '\0' ? value : fallback;
}

/* Member key of object, NULL when object is not an object. */
static const json_t *om_get(const json_t *object, const char *key)
{
    return json_is_object(object) ? json_object_get(object, key) : NULL;
}

/* Reads the optional string attribute key of who's attrs into *out (NULL when
 * absent or ""); MO_ERR_INVALID with a reason when it is not a string. */
static mo_err om_string(om_ctx *ctx, const char *who, const json_t *attrs, const char *key,
                        const char **out)
{
    char val[96];

    if (mp_string(attrs, key, out) == MO_OK)
        return MO_OK;
    return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not a string",
                     who, key, mp_describe(om_get(attrs, key), val, sizeof val));
}

/* Reads the amount attribute key (a JSON number or numeric string) of who's
 * attrs.  *present is 0 when it is absent (null or "").  A value that is not a
 * number, or is negative when non_negative is set, gives MO_ERR_INVALID. */
static mo_err om_amount(om_ctx *ctx, const char *who, const json_t *attrs, const char *key,
                        int non_negative, double *out, int *present)
{
    const json_t *value = om_get(attrs, key);
    char val[96];

    *present = 0;
    if (mp_absent(value))
        return MO_OK;
    if (mp_number(value, out) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is not a number",
                         who, key, mp_describe(value, val, sizeof val));
    if (non_negative && *out < 0)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s %s is negative",
                         who, key, mp_describe(value, val, sizeof val));
    if (*out == 0)
        *out = 0; /* "-0" would otherwise be sent as -0.0 */
    *present = 1;
    return MO_OK;
}

/* Sets key to a new string copy of value when value is not NULL.  Returns 0,
 * or -1 when jansson cannot allocate. */
static int om_set_string(json_t *object, const char *key, const char *value)
{
    if (value == NULL)
        return 0;
    return json_object_set_new(object, key, json_string(value));
}

/* A new "{a}{sep}{b}" string, caller frees; NULL when out of memory. */
static char *om_join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);

    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

/* M8/M15 order rules: "skip" when the status is the sent one, "cancel" when
 * it is the cancelled one, "wait" when MYSTORE_ORDER_STATUSES lists statuses
 * and this is none of them, else "upsert".  The status id comes from the
 * status resource, else from the order's order_status relationship, so an
 * override by id works even when the status row could not be fetched.
 * *status_id and *name (borrowed from the snapshot, may be NULL) say which
 * status it was. */
typedef enum { OM_UPSERT, OM_CANCEL, OM_SKIP, OM_WAIT } om_rule;

static om_rule om_action(const om_ctx *ctx, const json_t *order, const json_t *status,
                         const char **status_id, const json_t **name)
{
    size_t i;
    const json_t *listed;

    *status_id = NULL;
    *name = om_get(om_get(status, "attributes"), "name");
    if (mp_string(status, "id", status_id) != MO_OK || *status_id == NULL) {
        const json_t *data = om_get(om_get(om_get(order, "relationships"), "order_status"), "data");
        if (mp_string(data, "id", status_id) != MO_OK)
            *status_id = NULL;
    }
    if (mp_status_matches(*status_id, *name, ctx->status_sent))
        return OM_SKIP;
    if (mp_status_matches(*status_id, *name, ctx->status_cancelled))
        return OM_CANCEL;
    if (json_array_size(ctx->order_statuses) == 0)
        return OM_UPSERT;
    json_array_foreach(ctx->order_statuses, i, listed)
    {
        if (mp_status_matches(*status_id, *name, json_string_value(listed)))
            return OM_UPSERT;
    }
    return OM_WAIT;
}

/* The "wait" result: the order's status is not one MYSTORE_ORDER_STATUSES
 * lists; the reason names it (its name in the configured language and its
 * id, cleaned for a log line).  *out: new reference. */
static mo_err om_wait(const om_ctx *ctx, const char *status_id, const json_t *name, json_t **out)
{
    const char *text = mp_text(name, ctx->language);
    char shown_name[96], shown_id[32], reason[256];

    if (text != NULL && status_id != NULL)
        om_who(reason, sizeof reason, "status '%s' (%s) is not in MYSTORE_ORDER_STATUSES",
               mp_errval(text, shown_name, sizeof shown_name),
               mp_errval(status_id, shown_id, sizeof shown_id));
    else if (text != NULL || status_id != NULL)
        om_who(reason, sizeof reason, "status %s is not in MYSTORE_ORDER_STATUSES",
               text != NULL ? mp_errval(text, shown_name, sizeof shown_name)
                            : mp_errval(status_id, shown_id, sizeof shown_id));
    else
        om_who(reason, sizeof reason, "the status is unknown, so not in MYSTORE_ORDER_STATUSES");
    *out = json_pack("{s:s, s:s}", "action", "wait", "reason", reason);
    return *out ? MO_OK : MO_ERR_NOMEM;
}

/* wayOfDelivery from shipping_method through the configured table; which
 * entries are valid is cfg_way_of_delivery's one rule (the configuration
 * refuses the others at start).  *out: new reference. */
static mo_err om_way_of_delivery(const om_ctx *ctx, const char *method, json_t **out)
{
    const char *code, *name;

    *out = NULL;
    if (cfg_way_of_delivery(ctx->shipping_methods, method, &code, &name, ctx->errstr,
                            ctx->errstr_size) != MO_OK)
        return MO_ERR_INVALID;
    *out = json_pack("{s:s, s:s}", "code", code, "name", name);
    return *out ? MO_OK : MO_ERR_NOMEM;
}

/* M7: customerPrice from the first "ot_total" row of the totals; left out
 * when there is no such row or its value is absent. */
static mo_err om_customer_price(om_ctx *ctx, const json_t *totals, json_t *body)
{
    size_t i;
    const json_t *row;
    char who[128];
    char val[96];

    if (mp_absent(totals))
        return MO_OK;
    if (!json_is_array(totals))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "order %s: totals %s is not an array", ctx->order_label,
                         mp_describe(totals, val, sizeof val));
    json_array_foreach(totals, i, row)
    {
        const json_t *attrs = om_get(row, "attributes");
        const char *cls = NULL, *row_id = NULL;
        double value;
        int present;

        if (mp_string(attrs, "class", &cls) != MO_OK || cls == NULL || strcmp(cls, "ot_total") != 0)
            continue;
        if (mp_string(row, "id", &row_id) != MO_OK || row_id == NULL)
            row_id = "?";
        om_who(who, sizeof who, "order %s total %s", ctx->order_label,
               mp_errval(row_id, val, sizeof val));
        mo_err rc = om_amount(ctx, who, attrs, "value", 0, &value, &present);
        if (rc != MO_OK)
            return rc;
        if (present && json_object_set_new(body, "customerPrice", json_real(value)))
            return MO_ERR_NOMEM;
        return MO_OK;
    }
    return MO_OK;
}

/* consignee and the notifications, from the order's shipping and customer
 * address attributes.  The consignee object is always sent (the contract
 * requires it), possibly empty. */
static mo_err om_consignee(om_ctx *ctx, const json_t *attrs, json_t *body)
{
    const char *name, *company, *address, *zipcode, *city, *state, *country, *email, *phone;
    const struct {
        const char *key;
        const char **value;
    } fields[] = {
        {"shipping_address_name", &name},       {"shipping_address_company", &company},
        {"shipping_address_address", &address}, {"shipping_address_zipcode", &zipcode},
        {"shipping_address_city", &city},       {"shipping_address_state", &state},
        {"shipping_address_country", &country}, {"customer_address_email", &email},
        {"customer_address_phone", &phone},
    };
    const char *iso = NULL;
    char who[128];
    char reason[160];

    om_who(who, sizeof who, "order %s", ctx->order_label);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        mo_err rc = om_string(ctx, who, attrs, fields[i].key, fields[i].value);
        if (rc != MO_OK)
            return rc;
    }
    if (country != NULL && mp_country_iso(country, &iso, reason, sizeof reason) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: shipping_address_country: %s", who, reason);

    json_t *consignee = json_object();
    if (consignee == NULL || json_object_set_new(body, "consignee", consignee))
        return MO_ERR_NOMEM;
    if (company != NULL && name != NULL) {
        char *joined = om_join(company, ", ", name);
        int failed = joined == NULL || om_set_string(consignee, "name", joined);
        free(joined);
        if (failed)
            return MO_ERR_NOMEM;
    } else if (om_set_string(consignee, "name", company ? company : name)) {
        return MO_ERR_NOMEM;
    }
    if (om_set_string(consignee, "address1", address) ||
        om_set_string(consignee, "postCode", zipcode) || om_set_string(consignee, "city", city) ||
        om_set_string(consignee, "countryStateCode", state) ||
        om_set_string(consignee, "countryCode", iso))
        return MO_ERR_NOMEM;

    if (email != NULL &&
        json_object_set_new(body, "emailNotification",
                            json_pack("{s:s, s:b}", "value", email, "toBeNotified", 1)))
        return MO_ERR_NOMEM;
    if (phone != NULL &&
        json_object_set_new(body, "smsNotification",
                            json_pack("{s:s, s:b}", "value", phone, "toBeNotified", 1)))
        return MO_ERR_NOMEM;
    return MO_OK;
}

/* Reads a line's options into a new array *options of *n (caller frees;
 * NULL when there are none).  value_name is borrowed from the snapshot. */
static mo_err om_line_options(om_ctx *ctx, const char *who, const json_t *list, mp_option **options,
                              size_t *n)
{
    size_t i;
    const json_t *option;
    char val[96];
    char option_who[192];

    *options = NULL;
    *n = 0;
    if (mp_absent(list))
        return MO_OK;
    if (!json_is_array(list))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: options %s is not an array", who, mp_describe(list, val, sizeof val));
    if (json_array_size(list) == 0)
        return MO_OK;
    *options = calloc(json_array_size(list), sizeof **options);
    if (*options == NULL)
        return MO_ERR_NOMEM;

    json_array_foreach(list, i, option)
    {
        const json_t *attrs = om_get(option, "attributes");
        const char *option_id = NULL;
        mp_option *o = &(*options)[i];

        if (mp_string(option, "id", &option_id) != MO_OK || option_id == NULL)
            om_who(option_who, sizeof option_who, "%s option #%zu", who, i + 1);
        else
            om_who(option_who, sizeof option_who, "%s option %s", who,
                   mp_errval(option_id, val, sizeof val));
        if (mp_whole_number(om_get(attrs, "option_id"), &o->option_id) != MO_OK)
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                             "%s: option_id %s is not an id", option_who,
                             mp_describe(om_get(attrs, "option_id"), val, sizeof val));
        if (mp_whole_number(om_get(attrs, "value_id"), &o->value_id) != MO_OK)
            return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                             "%s: value_id %s is not an id", option_who,
                             mp_describe(om_get(attrs, "value_id"), val, sizeof val));
        o->value_name = mp_text(om_get(attrs, "value_name"), ctx->language);
        *n = i + 1;
    }
    return MO_OK;
}

/* Is there already an article body for sku in articles? */
static int om_has_article(const json_t *articles, const char *sku)
{
    size_t i;
    const json_t *article;

    json_array_foreach(articles, i, article)
    {
        if (strcmp(json_string_value(json_object_get(article, "articleNumber")), sku) == 0)
            return 1;
    }
    return 0;
}

/* O4: appends the PUT /articles body of a line's sku unless one is there:
 * articleName and productCode as in the article table (mapping.c). */
static mo_err om_line_article(om_ctx *ctx, const char *who, const char *sku, const json_t *line,
                              const json_t *entry, json_t *articles)
{
    const json_t *attrs = om_get(line, "attributes");
    const json_t *product = om_get(om_get(om_get(line, "relationships"), "product"), "data");
    const char *product_id = NULL;
    mp_option *options = NULL;
    size_t n = 0;
    char *name = NULL, *code = NULL;
    char val[96];
    mo_err rc;

    if (om_has_article(articles, sku))
        return MO_OK;
    if (mp_string(product, "id", &product_id) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "%s: product id %s is not a string", who,
                         mp_describe(om_get(product, "id"), val, sizeof val));
    rc = om_line_options(ctx, who, om_get(entry, "options"), &options, &n);
    if (rc != MO_OK)
        goto out;
    rc = mp_article_name(mp_text(om_get(attrs, "name"), ctx->language), options, n, &name);
    if (rc != MO_OK)
        goto out;
    if (product_id != NULL) {
        rc = mp_product_code(product_id, options, n, &code);
        if (rc == MO_ERR_INVALID)
            rc = mo_seterr(rc, ctx->errstr, ctx->errstr_size, "%s: product id '%s' is not numeric",
                           who, mp_errval(product_id, val, sizeof val));
        if (rc != MO_OK)
            goto out;
    }

    json_t *article = json_object();
    if (article == NULL || json_array_append_new(articles, article) ||
        json_object_set_new(article, "goodsOwnerId", json_integer(ctx->goods_owner_id)) ||
        om_set_string(article, "articleNumber", sku) ||
        om_set_string(article, "articleName", *name ? name : NULL) ||
        om_set_string(article, "productCode", code))
        rc = MO_ERR_NOMEM;
out:
    free(options);
    free(name);
    free(code);
    return rc;
}

/* One orderLines entry (and its article, O4) from one {"line", "options"}
 * element of the snapshot.  index is 0-based, for messages about lines
 * without an id. */
static mo_err om_line(om_ctx *ctx, size_t index, const json_t *entry, json_t *lines,
                      json_t *articles)
{
    const json_t *line = om_get(entry, "line");
    const json_t *attrs = om_get(line, "attributes");
    const char *line_id = NULL, *sku = NULL;
    char label[72];
    char who[192];
    double quantity, price, final_price;
    int has_quantity, has_price, has_final_price;
    mo_err rc;

    if (!json_is_object(line))
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "order %s line #%zu: no order-products resource", ctx->order_label,
                         index + 1);
    if (mp_string(line, "id", &line_id) != MO_OK || line_id == NULL)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                         "order %s line #%zu: id is missing", ctx->order_label, index + 1);
    om_who(who, sizeof who, "order %s line %s", ctx->order_label,
           mp_errval(line_id, label, sizeof label));
    rc = om_string(ctx, who, attrs, "sku", &sku);
    if (rc != MO_OK)
        return rc;
    if (sku == NULL)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: sku is missing", who);
    rc = om_amount(ctx, who, attrs, "quantity", 1, &quantity, &has_quantity);
    if (rc == MO_OK)
        rc = om_amount(ctx, who, attrs, "price", 1, &price, &has_price);
    if (rc == MO_OK)
        rc = om_amount(ctx, who, attrs, "final_price", 1, &final_price, &has_final_price);
    if (rc != MO_OK)
        return rc;
    if (!has_quantity)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: quantity is missing",
                         who);

    json_t *row = json_object();
    if (row == NULL || json_array_append_new(lines, row) ||
        om_set_string(row, "rowNumber", line_id) || om_set_string(row, "externalId", line_id) ||
        om_set_string(row, "articleNumber", sku) ||
        json_object_set_new(row, "numberOfItems", json_real(quantity)))
        return MO_ERR_NOMEM;
    if (has_price || has_final_price) {
        json_t *prices = json_object();
        if (prices == NULL || json_object_set_new(row, "prices", prices) ||
            (has_price && json_object_set_new(prices, "linePrice", json_real(price))) ||
            (has_final_price &&
             json_object_set_new(prices, "customerLinePrice", json_real(final_price))))
            return MO_ERR_NOMEM;
    }
    return om_line_article(ctx, who, sku, line, entry, articles);
}

/* The "upsert" result: the PUT /orders body and the PUT /articles bodies.
 * *out: new reference. */
static mo_err om_upsert(om_ctx *ctx, const json_t *snapshot, const json_t *order, json_t **out)
{
    const json_t *attrs = om_get(order, "attributes");
    const json_t *lines = om_get(snapshot, "lines");
    const char *reference, *created_at, *method;
    char who[128];
    char utc[MP_UTC_SIZE];
    char reason[160];
    size_t i;
    const json_t *entry;
    mo_err rc;

    om_who(who, sizeof who, "order %s", ctx->order_label);
    rc = om_string(ctx, who, attrs, "reference", &reference);
    if (rc == MO_OK)
        rc = om_string(ctx, who, attrs, "created_at", &created_at);
    if (rc == MO_OK)
        rc = om_string(ctx, who, attrs, "shipping_method", &method);
    if (rc != MO_OK)
        return rc;
    if (created_at == NULL)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: created_at is missing",
                         who);
    rc = mp_local_to_utc(created_at, ctx->timezone, utc, reason, sizeof reason);
    if (rc != MO_OK)
        return rc == MO_ERR_INVALID
                   ? mo_seterr(rc, ctx->errstr, ctx->errstr_size, "%s: created_at %s", who, reason)
                   : rc;
    if (!json_is_array(lines) || json_array_size(lines) == 0)
        return mo_seterr(MO_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: lines %s", who,
                         json_is_array(lines) ? "are empty" : "are missing");

    json_t *result = json_pack("{s:s, s:{}, s:[]}", "action", "upsert", "order", "articles");
    if (result == NULL)
        return MO_ERR_NOMEM;
    json_t *body = json_object_get(result, "order");
    json_t *articles = json_object_get(result, "articles");
    /* Attached first: json_object_set_new() takes it even when it fails. */
    json_t *order_lines = json_array();
    if (json_object_set_new(body, "orderLines", order_lines) ||
        json_object_set_new(body, "goodsOwnerId", json_integer(ctx->goods_owner_id)) ||
        om_set_string(body, "orderNumber", ctx->order_id) ||
        om_set_string(body, "referenceNumber", reference) ||
        om_set_string(body, "deliveryDate", utc)) {
        rc = MO_ERR_NOMEM;
        goto fail;
    }
    rc = om_customer_price(ctx, om_get(snapshot, "totals"), body);
    if (rc != MO_OK)
        goto fail;
    if (method != NULL) {
        json_t *way = NULL;
        rc = om_way_of_delivery(ctx, method, &way);
        if (rc == MO_OK && json_object_set_new(body, "wayOfDelivery", way))
            rc = MO_ERR_NOMEM;
        if (rc != MO_OK)
            goto fail;
    }
    rc = om_consignee(ctx, attrs, body);
    if (rc != MO_OK)
        goto fail;
    json_array_foreach(lines, i, entry)
    {
        rc = om_line(ctx, i, entry, order_lines, articles);
        if (rc != MO_OK)
            goto fail;
    }
    *out = result;
    return MO_OK;
fail:
    json_decref(result);
    return rc;
}

mo_err mp_order_map(const json_t *snapshot, const mp_order_conf *conf, json_t **out, char *errstr,
                    size_t errstr_size)
{
    assert(conf != NULL && out != NULL);
    om_ctx ctx = {
        .goods_owner_id = conf->goods_owner_id,
        .timezone = om_or(conf->timezone, MP_DEFAULT_TIMEZONE),
        .language = om_or(conf->language, MP_DEFAULT_LANGUAGE),
        .status_sent = om_or(conf->status_sent, MP_STATUS_SENT_DEFAULT),
        .status_cancelled = om_or(conf->status_cancelled, MP_STATUS_CANCELLED_DEFAULT),
        .order_statuses = json_is_array(conf->order_statuses) ? conf->order_statuses : NULL,
        .shipping_methods = conf->shipping_methods,
        .order_id = NULL,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    const json_t *order = om_get(snapshot, "order");
    const char *status_id;
    const json_t *status_name;
    char val[96];
    mo_err rc = MO_OK;

    *out = NULL;
    if (!json_is_object(snapshot))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "snapshot is not a JSON object");
    if (!json_is_object(order))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "snapshot: order is missing");
    if (mp_string(order, "id", &ctx.order_id) != MO_OK)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "snapshot: order id %s is not a string",
                         mp_describe(om_get(order, "id"), val, sizeof val));
    if (ctx.order_id == NULL)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "snapshot: order id is missing");
    mp_errval(ctx.order_id, ctx.order_label, sizeof ctx.order_label);

    switch (om_action(&ctx, order, om_get(snapshot, "status"), &status_id, &status_name)) {
    case OM_SKIP:
        *out = json_pack("{s:s, s:s}", "action", "skip", "reason", "sent in Mystore");
        break;
    case OM_CANCEL:
        *out = json_pack("{s:s, s:s}", "action", "cancel", "orderNumber", ctx.order_id);
        break;
    case OM_WAIT:
        rc = om_wait(&ctx, status_id, status_name, out);
        break;
    case OM_UPSERT:
        rc = om_upsert(&ctx, snapshot, order, out);
        break;
    }
    if (rc == MO_OK && *out == NULL)
        rc = MO_ERR_NOMEM;
    if (rc == MO_ERR_NOMEM)
        mo_seterr(rc, errstr, errstr_size, "order %s: out of memory", ctx.order_label);
    return rc;
}

size_t mp_order_status_count(const json_t *statuses, const char *listed)
{
    size_t i, n = 0;
    const json_t *status;
    const char *id;

    json_array_foreach(statuses, i, status)
    {
        if (mp_string(status, "id", &id) != MO_OK)
            id = NULL;
        if (mp_status_matches(id, om_get(om_get(status, "attributes"), "name"), listed))
            n++;
    }
    return n;
}
