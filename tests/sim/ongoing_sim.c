/* ongoing-sim: a simulator of the Ongoing WMS Goods Owner REST API v1, as
 * tests/sim/README.md ("Ongoing simulator") and shared/api/MODEL.md describe
 * it.  The HTTP side (auth hook, rate limiting, faults, write log, /_sim/
 * common endpoints) is sim_http.c; this file holds the warehouse state and
 * the routes.  Request bodies are checked field by field against the tables
 * in sim_ongoing_fields.c.
 *
 * State is a table of goods owners (ogs_owner; owner #0 from the command
 * line, more from POST /_sim/goods-owners), the Basic credential of a request
 * picking one.  Each owner has two arrays kept in id order (ids only grow, so
 * appending keeps them sorted): articles (upserted by articleNumber) and
 * orders (upserted by orderNumber).  Each keeps the last accepted request body as sent, plus what
 * the warehouse adds (ids, status, stock, times, tracking); the GET answers
 * are built from those in Ongoing's GET shape.  Handlers run one at a time
 * (sim_http.c holds a lock), so there is no locking here.  Allocation failure
 * aborts: this is a test tool. */
#include "sim_http.h"
#include "sim_ongoing_fields.h"
#include "sim_webhook.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OG_MAX_EDITABLE    32
#define OG_ERR_SIZE        512
#define OG_TIME_SIZE       96
#define OG_STOCK_WINDOW_MS (24LL * 3600 * 1000)

/* How far back stockInfoChangedFrom may reach, in hours: 24 as Ongoing answers
 * (O6); --stock-window-h changes it, to show `mosync doctor` a warehouse that
 * contradicts O6. */
static long ogs_stock_window_h = OG_STOCK_WINDOW_MS / 3600000;
#define OG_FIRST_ARTICLE_ID 1001
#define OG_FIRST_ORDER_ID   5001
#define OG_FIRST_LINE_ID    70001
#define OG_FIRST_PARCEL_ID  90001
#define OG_STATUS_OPEN      200
#define OG_STATUS_SENT      450
#define OG_STATUS_CANCELLED 1000

typedef struct ogs_article {
    json_int_t system_id;
    json_t *body; /* last accepted PUT body; owned */
    double number_of_items;
    double sellable_number_of_items;
    int64_t data_changed_ms;
    int64_t stock_changed_ms; /* -1: stock never changed */
} ogs_article;

typedef struct ogs_order {
    json_int_t order_id;
    json_t *body; /* last accepted PUT body; owned */
    int status;
    int64_t created_ms;
    int64_t status_changed_ms;
    int64_t shipped_ms; /* -1: not shipped */
    json_t *line_ids;   /* {"<rowNumber>": line id}, stable across updates; owned */
    json_t *tracking;   /* GET shape [{waybill, trackingUrl, created}], NULL before any; owned */
    json_t *parcels;    /* GET shape [{id, parcelNumber, ...}], NULL before any; owned */
    char *way_bill;     /* orderInfo.wayBill, NULL when none; owned */
} ogs_order;

/* One goods owner, as one Ongoing warehouse system serves many: its articles,
 * orders, WMS user and webhook.  Owner #0 is the startup one (--goods-owner,
 * --user, --password, --seed); POST /_sim/goods-owners adds more (a test with
 * 50 tenants; 5,000 at 100x, each found through the indexes of ogs_state). */
typedef struct ogs_owner {
    json_int_t id;         /* goodsOwnerId; 0 (owner #0 only) accepts any id */
    char *user, *password; /* the Basic credential of its API user; owned */
    ogs_article *articles;
    size_t narticles, articles_cap;
    ogs_order *orders;
    size_t norders, orders_cap;
    /* Raw JSON items added to every GET /orders and GET /articles list answer
     * (POST /_sim/raw-items): malformed entries for the pollers' tests.
     * Owned arrays, NULL when none. */
    json_t *raw_orders, *raw_articles;
    /* Webhooks (POST /_sim/webhooks): "" = none sent. */
    char webhook_url[1024];
    char webhook_token[256];
    /* Its ways of delivery, GET /orders/wayOfDeliveryTypes: [{"id", "code",
     * "name"}] with ids 1..n; the fixed list of ogs_ways_default until PUT
     * /_sim/ways-of-delivery replaces it.  Owned. */
    json_t *ways;
} ogs_owner;

/* The warehouse system.  What a real WMS keeps system-wide stays here: the id
 * counters (articleSystemId, orderId, line and parcel ids are unique across
 * goods owners), the clock, the editable statuses, the webhook event ids. */
typedef struct ogs_state {
    const char *user0, *password0; /* --user, --password: owner #0's at startup */
    json_int_t goods_owner0;       /* --goods-owner */
    ogs_owner **owners;            /* owners[0] is owner #0; appended, never removed */
    size_t nowners, owners_cap;
    json_t *owner_by_id;   /* {"<goodsOwnerId>": index into owners} */
    json_t *owner_by_user; /* {"<user>": index into owners} */
    /* The goods owner of the API request being answered: set by ogs_auth
     * (NULL until a credential matched).  Handlers run one at a time under
     * sim_http.c's lock, so one pointer is enough. */
    ogs_owner *cur;
    int editable[OG_MAX_EDITABLE];
    size_t neditable;
    json_int_t next_article_id, next_order_id, next_line_id, next_parcel_id;
    int64_t clock_ms;  /* fixed clock (POST /_sim/clock), -1 = real time */
    int64_t offset_ms; /* a running clock this far from real time (POST /_sim/clock offset_s) */
    json_int_t webhook_event_id;
} ogs_state;

static const struct {
    int number;
    const char *text;
} ogs_statuses[] = {
    {150, "Error"}, {200, "Open"},      {300, "Released"}, {320, "Allocated"},  {400, "Picked"},
    {450, "Sent"},  {500, "Collected"}, {800, "Returned"}, {1000, "Cancelled"},
};

/* The ways of delivery every goods owner starts with (ids 1..n). */
static const struct {
    const char *code;
    const char *name;
} ogs_ways_default[] = {
    {"PNSP", "PostNord service point"},
    {"BRINGHOME", "Bring home delivery"},
    {"PICKUP", "Pick-up at the warehouse"},
};

/* ---- small helpers ---- */

static void *ogs_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size);
    if (!p) {
        fprintf(stderr, "ongoing-sim: out of memory\n");
        abort();
    }
    return p;
}

static char *ogs_xstrdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = ogs_xrealloc(NULL, len);
    memcpy(p, s, len);
    return p;
}

/* Answers `status` with {"message": <formatted text>}.  A multibyte character
 * cut at the end of the buffer is dropped and other bytes that would make the
 * message invalid UTF-8 (a raw query value) become '?', so the answer always
 * has its message. */
static void ogs_error(sim_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ogs_error(sim_resp *resp, int status, const char *fmt, ...)
{
    char msg[OG_ERR_SIZE];
    json_t *text;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    text = json_string(msg);
    for (size_t len = strlen(msg); !text && len > 0 && (unsigned char)msg[len - 1] >= 0x80;) {
        msg[--len] = '\0'; /* a multibyte character cut by the buffer's end */
        text = json_string(msg);
    }
    if (!text) {
        for (char *c = msg; *c; c++) {
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        }
        text = json_string(msg);
    }
    sim_resp_json(resp, status, json_pack("{s:o}", "message", text));
}

/* The current time in ms since the epoch: the fixed clock when set. */
static int64_t ogs_now_ms(const ogs_state *st)
{
    struct timespec ts;

    if (st->clock_ms >= 0)
        return st->clock_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + st->offset_ms;
}

/* sim_set_clock: the instant the Date header states while the clock is
 * fixed, 0 (the server's own Date) otherwise. */
static time_t ogs_clock(void *state)
{
    const ogs_state *st = state;
    return st->clock_ms >= 0 || st->offset_ms ? (time_t)(ogs_now_ms(st) / 1000) : 0;
}

/* Formats ms as "2026-11-27T10:00:00.000Z" into buf. */
static void ogs_time_format(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int millis = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

/* The time as a JSON string, or null when ms < 0 ("never").  New reference. */
static json_t *ogs_time_json(int64_t ms)
{
    char buf[OG_TIME_SIZE];

    if (ms < 0)
        return json_null();
    ogs_time_format(ms, buf, sizeof(buf));
    return json_string(buf);
}

static const char *ogs_status_text(int number)
{
    for (size_t i = 0; i < sizeof(ogs_statuses) / sizeof(ogs_statuses[0]); i++) {
        if (ogs_statuses[i].number == number)
            return ogs_statuses[i].text;
    }
    return "Unknown";
}

static int ogs_is_editable(const ogs_state *st, int status)
{
    for (size_t i = 0; i < st->neditable; i++) {
        if (st->editable[i] == status)
            return 1;
    }
    return 0;
}

/* A deep copy of obj[key], or JSON null when absent.  New reference. */
static json_t *ogs_copy_or_null(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v ? json_deep_copy(v) : json_null();
}

/* obj[key] as a JSON real (Ongoing answers quantities and prices as reals),
 * or null when absent or not a number.  New reference. */
static json_t *ogs_real_or_null(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_real(json_number_value(v)) : json_null();
}

/* Sets dst[key] = copy of src[key] (or null) for each key of the NULL-terminated list. */
static void ogs_copy_keys(json_t *dst, const json_t *src, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        json_object_set_new(dst, keys[i], ogs_copy_or_null(src, keys[i]));
}

/* Sets dst[key] = src[key] as a real (or null) for each key of the list. */
static void ogs_copy_reals(json_t *dst, const json_t *src, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        json_object_set_new(dst, keys[i], ogs_real_or_null(src, keys[i]));
}

/* Decodes standard base64 `in` into out (NUL-terminated).  Returns 0, or -1
 * on a character outside the alphabet or when out is too small. */
static int ogs_base64_decode(const char *in, char *out, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t len = 0;

    for (; *in && *in != '='; in++) {
        const char *pos = strchr(alphabet, *in);
        if (!pos)
            return -1;
        acc = (acc << 6) | (unsigned)(pos - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len + 1 >= size)
                return -1;
            out[len++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[len] = '\0';
    return 0;
}

/* ---- state ---- */

static ogs_article *ogs_article_find(ogs_owner *ow, const char *number)
{
    for (size_t i = 0; i < ow->narticles; i++) {
        const char *n = json_string_value(json_object_get(ow->articles[i].body, "articleNumber"));
        if (n && strcmp(n, number) == 0)
            return &ow->articles[i];
    }
    return NULL;
}

/* Appends a new article with the next articleSystemId and no stock.  The
 * pointer is valid until the next append. */
static ogs_article *ogs_article_add(ogs_state *st, ogs_owner *ow)
{
    ogs_article *a;

    if (ow->narticles == ow->articles_cap) {
        ow->articles_cap = ow->articles_cap ? ow->articles_cap * 2 : 16;
        ow->articles = ogs_xrealloc(ow->articles, ow->articles_cap * sizeof(*ow->articles));
    }
    a = &ow->articles[ow->narticles++];
    memset(a, 0, sizeof(*a));
    a->system_id = st->next_article_id++;
    a->stock_changed_ms = -1;
    return a;
}

static ogs_order *ogs_order_find(ogs_owner *ow, const char *number)
{
    for (size_t i = 0; i < ow->norders; i++) {
        const char *n = json_string_value(json_object_get(ow->orders[i].body, "orderNumber"));
        if (n && strcmp(n, number) == 0)
            return &ow->orders[i];
    }
    return NULL;
}

static ogs_order *ogs_order_find_id(ogs_owner *ow, json_int_t id)
{
    for (size_t i = 0; i < ow->norders; i++) {
        if (ow->orders[i].order_id == id)
            return &ow->orders[i];
    }
    return NULL;
}

/* Appends a new order with the next orderId, status 200 Open, created now.
 * The pointer is valid until the next append. */
static ogs_order *ogs_order_add(ogs_state *st, ogs_owner *ow)
{
    ogs_order *o;

    if (ow->norders == ow->orders_cap) {
        ow->orders_cap = ow->orders_cap ? ow->orders_cap * 2 : 16;
        ow->orders = ogs_xrealloc(ow->orders, ow->orders_cap * sizeof(*ow->orders));
    }
    o = &ow->orders[ow->norders++];
    memset(o, 0, sizeof(*o));
    o->order_id = st->next_order_id++;
    o->status = OG_STATUS_OPEN;
    o->created_ms = ogs_now_ms(st);
    o->status_changed_ms = o->created_ms;
    o->shipped_ms = -1;
    o->line_ids = json_object();
    return o;
}

/* Replaces the order's body (stolen) and gives every new rowNumber a line id. */
static void ogs_order_set_body(ogs_state *st, ogs_order *o, json_t *body)
{
    json_t *lines = json_object_get(body, "orderLines");

    for (size_t i = 0; i < json_array_size(lines); i++) {
        const char *row = json_string_value(json_object_get(json_array_get(lines, i), "rowNumber"));
        if (row && !json_object_get(o->line_ids, row))
            json_object_set_new(o->line_ids, row, json_integer(st->next_line_id++));
    }
    json_decref(o->body);
    o->body = body;
}

static void ogs_order_set_status(ogs_state *st, ogs_order *o, int status)
{
    o->status = status;
    o->status_changed_ms = ogs_now_ms(st);
}

/* Refuses an order body whose lines name an unknown article (O4) or repeat a
 * rowNumber.  Returns 0, or -1 with the message in err. */
static int ogs_order_check_lines(ogs_owner *ow, const json_t *body, char *err, size_t errsize)
{
    json_t *lines = json_object_get(body, "orderLines");
    json_t *rows = json_object();
    int rc = 0;

    for (size_t i = 0; i < json_array_size(lines) && rc == 0; i++) {
        json_t *line = json_array_get(lines, i);
        const char *number = json_string_value(json_object_get(line, "articleNumber"));
        const char *row = json_string_value(json_object_get(line, "rowNumber"));
        if (!ogs_article_find(ow, number)) {
            snprintf(err, errsize, "orderLines[%zu].articleNumber: article '%s' does not exist", i,
                     number);
            rc = -1;
        } else if (json_object_get(rows, row)) {
            snprintf(err, errsize, "orderLines[%zu].rowNumber: duplicate rowNumber '%s'", i, row);
            rc = -1;
        } else {
            json_object_set_new(rows, row, json_true());
        }
    }
    json_decref(rows);
    return rc;
}

/* Applies a ship body {"tracking": [{waybill, trackingUrl}], "parcels":
 * [{parcelNumber, isReturnParcel, waybill, trackingUrl}], "wayBill": ".."}
 * (every member optional): stores tracking and parcels in GET shape and the
 * way bill; tracking rows are stamped created_ms.  Does not touch status or
 * shippedTime.  Returns 0, or -1 with a message in err when a member has the
 * wrong type. */
static int ogs_order_apply_ship(ogs_state *st, ogs_order *o, const json_t *ship, int64_t created_ms,
                                char *err, size_t errsize)
{
    json_t *tracking = json_object_get(ship, "tracking");
    json_t *parcels = json_object_get(ship, "parcels");
    json_t *way_bill = json_object_get(ship, "wayBill");
    json_t *created = ogs_time_json(created_ms);
    json_t *new_tracking = json_array();
    json_t *new_parcels = json_array();
    int rc = -1;

    if ((tracking && !json_is_array(tracking)) || (parcels && !json_is_array(parcels)) ||
        (way_bill && !json_is_string(way_bill) && !json_is_null(way_bill))) {
        snprintf(err, errsize, "tracking and parcels must be arrays, wayBill a string");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(tracking); i++) {
        json_t *t = json_array_get(tracking, i);
        if (!json_is_object(t)) {
            snprintf(err, errsize, "tracking[%zu] must be an object", i);
            goto out;
        }
        json_array_append_new(new_tracking,
                              json_pack("{s:o, s:o, s:O}", "waybill",
                                        ogs_copy_or_null(t, "waybill"), "trackingUrl",
                                        ogs_copy_or_null(t, "trackingUrl"), "created", created));
    }
    for (size_t i = 0; i < json_array_size(parcels); i++) {
        json_t *p = json_array_get(parcels, i);
        if (!json_is_object(p)) {
            snprintf(err, errsize, "parcels[%zu] must be an object", i);
            goto out;
        }
        json_array_append_new(
            new_parcels,
            json_pack("{s:I, s:o, s:b, s:{s:o, s:o}, s:n}", "id", (json_int_t)st->next_parcel_id++,
                      "parcelNumber", ogs_copy_or_null(p, "parcelNumber"), "isReturnParcel",
                      json_is_true(json_object_get(p, "isReturnParcel")), "tracking", "waybill",
                      ogs_copy_or_null(p, "waybill"), "trackingUrl",
                      ogs_copy_or_null(p, "trackingUrl"), "advanced"));
    }
    if (tracking) {
        json_decref(o->tracking);
        o->tracking = json_incref(new_tracking);
    }
    if (parcels) {
        json_decref(o->parcels);
        o->parcels = json_incref(new_parcels);
    }
    if (way_bill) {
        free(o->way_bill);
        o->way_bill = json_is_string(way_bill) ? ogs_xstrdup(json_string_value(way_bill)) : NULL;
    }
    rc = 0;
out:
    json_decref(created);
    json_decref(new_tracking);
    json_decref(new_parcels);
    return rc;
}

/* A goods owner with no articles and no orders; the caller owns it (free
 * with ogs_owner_free) until ogs_owner_register takes it.  Copies user and
 * password. */
static ogs_owner *ogs_owner_new(json_int_t id, const char *user, const char *password)
{
    ogs_owner *ow = ogs_xrealloc(NULL, sizeof(*ow));

    memset(ow, 0, sizeof(*ow));
    ow->id = id;
    ow->user = ogs_xstrdup(user);
    ow->password = ogs_xstrdup(password);
    ow->ways = json_array();
    for (size_t i = 0; i < sizeof(ogs_ways_default) / sizeof(ogs_ways_default[0]); i++)
        json_array_append_new(ow->ways, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)(i + 1),
                                                  "code", ogs_ways_default[i].code, "name",
                                                  ogs_ways_default[i].name));
    return ow;
}

static void ogs_owner_free(ogs_owner *ow)
{
    if (!ow)
        return;
    for (size_t i = 0; i < ow->narticles; i++)
        json_decref(ow->articles[i].body);
    for (size_t i = 0; i < ow->norders; i++) {
        ogs_order *o = &ow->orders[i];
        json_decref(o->body);
        json_decref(o->line_ids);
        json_decref(o->tracking);
        json_decref(o->parcels);
        free(o->way_bill);
    }
    free(ow->articles);
    free(ow->orders);
    json_decref(ow->raw_orders);
    json_decref(ow->raw_articles);
    json_decref(ow->ways);
    free(ow->user);
    free(ow->password);
    free(ow);
}

/* The owner at index `slot` of the table (a value of owner_by_id or
 * owner_by_user), NULL when absent.  Borrowed, as the two below: owners live
 * as long as the state. */
static ogs_owner *ogs_owner_at(const ogs_state *st, const json_t *slot)
{
    json_int_t i = json_integer_value(slot);

    return json_is_integer(slot) && i >= 0 && (size_t)i < st->nowners ? st->owners[i] : NULL;
}

static ogs_owner *ogs_owner_by_id(const ogs_state *st, json_int_t id)
{
    char key[32];

    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, id);
    return ogs_owner_at(st, json_object_get(st->owner_by_id, key));
}

static ogs_owner *ogs_owner_by_user(const ogs_state *st, const char *user)
{
    return ogs_owner_at(st, json_object_get(st->owner_by_user, user));
}

/* Appends ow (stolen) to the table and indexes it by id and user; the
 * caller has checked that neither is taken. */
static void ogs_owner_register(ogs_state *st, ogs_owner *ow)
{
    char key[32];
    json_int_t slot = (json_int_t)st->nowners;

    if (st->nowners == st->owners_cap) {
        st->owners_cap = st->owners_cap ? st->owners_cap * 2 : 8;
        st->owners = ogs_xrealloc(st->owners, st->owners_cap * sizeof(*st->owners));
    }
    st->owners[st->nowners++] = ow;
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, ow->id);
    json_object_set_new(st->owner_by_id, key, json_integer(slot));
    json_object_set_new(st->owner_by_user, ow->user, json_integer(slot));
}

static void ogs_state_free(ogs_state *st)
{
    for (size_t i = 0; i < st->nowners; i++)
        ogs_owner_free(st->owners[i]);
    free(st->owners);
    json_decref(st->owner_by_id);
    json_decref(st->owner_by_user);
}

/* Removes order o (DELETE /_sim/orders/{n}): gone as if the warehouse
 * deleted it behind the integration's back.  Later orders keep their ids
 * and their order (the array stays sorted by id). */
static void ogs_order_remove(ogs_owner *ow, ogs_order *o)
{
    size_t i = (size_t)(o - ow->orders);

    json_decref(o->body);
    json_decref(o->line_ids);
    json_decref(o->tracking);
    json_decref(o->parcels);
    free(o->way_bill);
    memmove(o, o + 1, (ow->norders - i - 1) * sizeof(*o));
    ow->norders--;
}

/* Removes article a (DELETE /_sim/articles/{n}), as ogs_order_remove. */
static void ogs_article_remove(ogs_owner *ow, ogs_article *a)
{
    size_t i = (size_t)(a - ow->articles);

    json_decref(a->body);
    memmove(a, a + 1, (ow->narticles - i - 1) * sizeof(*a));
    ow->narticles--;
}

/* ---- answers in Ongoing's GET shape ---- */

/* The article as GET /api/v1/articles answers it.  New reference. */
static json_t *ogs_article_to_get(const ogs_owner *ow, const ogs_article *a)
{
    static const char *const head[] = {"articleNumber",      "articleName",       "productCode",
                                       "unitCode",           "description",       "isStockArticle",
                                       "isActive",           "supplierInfo",      "barCodeInfo",
                                       "quantityPerPackage", "quantityPerPallet", NULL};
    static const char *const reals[] = {"weight",
                                        "length",
                                        "width",
                                        "height",
                                        "volume",
                                        "purchasePrice",
                                        "stockValuationPrice",
                                        "customerPrice",
                                        NULL};
    static const char *const more[] = {"purcaseCurrencyCode", "countryOfOriginCode",
                                       "statisticsNumber",    "articleGroup",
                                       "articleCategory",     NULL};
    static const char *const rest[] = {"stockLimit",         "minimumReorderQuantity",
                                       "netWeight",          "freeValues",
                                       "subQuantityPerItem", "customsDescription",
                                       "taricNumbersInfo",   "linkToPicture",
                                       "storageProperties",  NULL};
    json_t *out = json_object();
    json_t *structure = json_object_get(a->body, "structureDefinition");

    json_object_set_new(out, "goodsOwner",
                        json_pack("{s:I, s:s}", "id", ow->id, "name", "Goods owner"));
    json_object_set_new(out, "articleSystemId", json_integer(a->system_id));
    ogs_copy_keys(out, a->body, head);
    ogs_copy_reals(out, a->body, reals);
    ogs_copy_keys(out, a->body, more);
    json_object_set_new(
        out, "inventoryInfo",
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:n, s:f, s:n}", "numberOfItems",
                  a->number_of_items, "numberOfBookedItems", 0.0, "numberOfLockedItems", 0.0,
                  "toReceiveNumberOfItems", 0.0, "allocatedNumberOfItems", 0.0,
                  "lockedForSaleNumberOfItems", 0.0, "pickedToBeCollectedNumberOfItems", 0.0,
                  "receivedToBeFinishedNumberOfItems", 0.0, "lastInDate", "sellableNumberOfItems",
                  a->sellable_number_of_items, "totalStockValue"));
    json_object_set_new(out, "articleDataLastUpdated", ogs_time_json(a->data_changed_ms));
    json_object_set_new(out, "articleKind", ogs_copy_or_null(structure, "articleKind"));
    ogs_copy_keys(out, a->body, rest);
    json_object_set_new(out, "classes", json_null());
    return out;
}

/* The order's consignee in GET shape.  New reference. */
static json_t *ogs_consignee_to_get(const json_t *consignee)
{
    static const char *const keys[] = {"customerNumber",   "name",     "address1", "address2",
                                       "address3",         "postCode", "city",     "countryCode",
                                       "countryStateCode", "remark",   "doorCode", "advanced",
                                       "invoiceAddress",   NULL};
    json_t *out = json_object();

    ogs_copy_keys(out, consignee, keys);
    return out;
}

/* A PostOrderTransporter as GetOrderTransporter, or null.  New reference. */
static json_t *ogs_transporter_to_get(const json_t *transporter)
{
    if (!json_is_object(transporter))
        return json_null();
    return json_pack("{s:n, s:n, s:o, s:o}", "transporterName", "name", "code",
                     ogs_copy_or_null(transporter, "transporterCode"), "serviceCode",
                     ogs_copy_or_null(transporter, "transporterServiceCode"));
}

/* One order line in GET shape; the article comes from the registry.  Items
 * count as allocated from status 320 and as picked from 400 (not cancelled). */
static json_t *ogs_line_to_get(ogs_owner *ow, const ogs_order *o, const json_t *line)
{
    int allocated = o->status >= 320 && o->status < OG_STATUS_CANCELLED;
    int picked = o->status >= 400 && o->status < OG_STATUS_CANCELLED;
    const char *number = json_string_value(json_object_get(line, "articleNumber"));
    const char *row = json_string_value(json_object_get(line, "rowNumber"));
    ogs_article *a = ogs_article_find(ow, number ? number : "");
    json_t *prices = json_object_get(line, "prices");
    json_t *count = ogs_real_or_null(line, "numberOfItems");
    double items = json_is_real(count) ? json_real_value(count) : 0.0;
    json_t *out = json_object();

    json_decref(count);
    json_object_set_new(out, "id", ogs_copy_or_null(o->line_ids, row ? row : ""));
    json_object_set_new(out, "rowNumber", ogs_copy_or_null(line, "rowNumber"));
    json_object_set_new(
        out, "article",
        json_pack("{s:o, s:o, s:o, s:o, s:n}", "articleSystemId",
                  a ? json_integer(a->system_id) : json_null(), "articleNumber",
                  ogs_copy_or_null(line, "articleNumber"), "articleName",
                  a ? ogs_copy_or_null(a->body, "articleName") : json_null(), "productCode",
                  a ? ogs_copy_or_null(a->body, "productCode") : json_null(), "articleKind"));
    json_object_set_new(out, "comment", ogs_copy_or_null(line, "comment"));
    json_object_set_new(out, "orderedNumberOfItems", json_real(items));
    json_object_set_new(out, "allocatedNumberOfItems", json_real(allocated ? items : 0.0));
    json_object_set_new(out, "pickedNumberOfItems", json_real(picked ? items : 0.0));
    json_object_set_new(out, "packedNumberOfItems", json_real(picked ? items : 0.0));
    json_object_set_new(out, "reportedNumberOfItems", json_null());
    json_object_set_new(out, "shouldBePicked", ogs_copy_or_null(line, "shouldBePicked"));
    json_object_set_new(out, "pickedArticleItems", json_array());
    json_object_set_new(out, "subOrderLines", json_null());
    json_object_set_new(out, "serialNumber", ogs_copy_or_null(line, "serialNumber"));
    json_object_set_new(out, "lineTotalCustomsValue",
                        ogs_real_or_null(line, "lineTotalCustomsValue"));
    json_object_set_new(out, "batchNumber", ogs_copy_or_null(line, "batchNumber"));
    json_object_set_new(out, "reportedReturnedNumberOfItems", json_null());
    json_object_set_new(out, "lineType", ogs_copy_or_null(line, "lineType"));
    if (json_is_object(prices)) {
        static const char *const reals[] = {"linePrice", "customerLinePrice", NULL};
        json_t *p = json_object();
        ogs_copy_reals(p, prices, reals);
        json_object_set_new(p, "currencyCode", ogs_copy_or_null(prices, "currencyCode"));
        json_object_set_new(p, "discountPercentage",
                            ogs_real_or_null(prices, "discountPercentage"));
        json_object_set_new(out, "prices", p);
    } else {
        json_object_set_new(out, "prices", json_null());
    }
    json_object_set_new(out, "customerArticleNumber",
                        ogs_copy_or_null(line, "customerArticleNumber"));
    json_object_set_new(out, "externalId", ogs_copy_or_null(line, "externalId"));
    json_object_set_new(out, "returnedNumberOfItems", json_null());
    json_object_set_new(out, "freeValues", ogs_copy_or_null(line, "lineFreeValues"));
    return out;
}

/* deliveryDate as answered: a date-only value stays as sent (as the real
 * server does), a time is answered in UTC.  New reference. */
static json_t *ogs_delivery_date_to_get(const json_t *body)
{
    const char *s = json_string_value(json_object_get(body, "deliveryDate"));
    int64_t ms;

    if (!s)
        return json_null();
    if (strlen(s) == 10 || ogs_time_parse(s, &ms) != 0)
        return json_string(s);
    return ogs_time_json(ms);
}

/* The order as GET /api/v1/orders answers it.  New reference. */
static json_t *ogs_order_to_get(ogs_owner *ow, const ogs_order *o)
{
    static const char *const head[] = {
        "goodsOwnerOrderId",   "referenceNumber",  "salesCode",     "orderRemark",
        "deliveryInstruction", "servicePointCode", "freeText1",     "freeText2",
        "freeText3",           "orderType",        "wayOfDelivery", NULL};
    static const char *const notifications[] = {"emailNotification", "smsNotification",
                                                "telephoneNotification", NULL};
    static const char *const tail[] = {"consigneeOrderNumber", "warehouseInstruction",
                                       "marketPlace",          "pickingPriority",
                                       "productionCode",       NULL};
    int allocated = o->status >= 320 && o->status < OG_STATUS_CANCELLED;
    int picked = o->status >= 400 && o->status < OG_STATUS_CANCELLED;
    json_t *lines = json_object_get(o->body, "orderLines");
    json_t *out_lines = json_array();
    json_t *info = json_object();
    double items = 0.0;

    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *line = ogs_line_to_get(ow, o, json_array_get(lines, i));
        items += json_real_value(json_object_get(line, "orderedNumberOfItems"));
        json_array_append_new(out_lines, line);
    }

    json_object_set_new(info, "orderId", json_integer(o->order_id));
    json_object_set_new(info, "orderNumber", ogs_copy_or_null(o->body, "orderNumber"));
    ogs_copy_keys(info, o->body, head);
    json_object_set_new(info, "deliveryDate", ogs_delivery_date_to_get(o->body));
    json_object_set_new(info, "createdDate", ogs_time_json(o->created_ms));
    json_object_set_new(info, "shippedTime", ogs_time_json(o->shipped_ms));
    json_object_set_new(info, "wayBill", o->way_bill ? json_string(o->way_bill) : json_null());
    json_object_set_new(info, "returnWayBill", json_null());
    json_object_set_new(
        info, "orderStatus",
        json_pack("{s:i, s:s}", "number", o->status, "text", ogs_status_text(o->status)));
    ogs_copy_keys(info, o->body, notifications);
    json_object_set_new(info, "orderedNumberOfItems", json_real(items));
    json_object_set_new(info, "allocatedNumberOfItems", json_real(allocated ? items : 0.0));
    json_object_set_new(info, "pickedNumberOfItems", json_real(picked ? items : 0.0));
    json_object_set_new(info, "customsInfo", ogs_copy_or_null(o->body, "customsInfo"));
    json_object_set_new(info, "preparedTransportDocumentId",
                        ogs_copy_or_null(o->body, "preparedTransportDocumentId"));
    json_object_set_new(info, "warehouse", json_null());
    json_object_set_new(info, "termsOfDeliveryType",
                        ogs_copy_or_null(o->body, "termsOfDeliveryType"));
    json_object_set_new(info, "customerPrice", ogs_real_or_null(o->body, "customerPrice"));
    ogs_copy_keys(info, o->body, tail);
    json_object_set_new(info, "advanced", json_null());

    return json_pack("{s:{s:I, s:s}, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:n}", "goodsOwner",
                     "id", ow->id, "name", "Goods owner", "orderInfo", info, "consignee",
                     ogs_consignee_to_get(json_object_get(o->body, "consignee")), "parcels",
                     o->parcels ? json_deep_copy(o->parcels) : json_null(), "orderLines", out_lines,
                     "transporter", ogs_transporter_to_get(json_object_get(o->body, "transporter")),
                     "returnTransporter",
                     ogs_transporter_to_get(json_object_get(o->body, "returnTransporter")),
                     "tracking", o->tracking ? json_deep_copy(o->tracking) : json_null(), "classes",
                     ogs_copy_or_null(o->body, "classes"), "shipmentInfo");
}

/* ---- answers in the simulator's own form (/_sim/) ---- */

/* The stored article: its last accepted body plus articleSystemId and stock. */
static json_t *ogs_article_to_sim(const ogs_article *a)
{
    json_t *out = json_deep_copy(a->body);

    json_object_set_new(out, "articleSystemId", json_integer(a->system_id));
    json_object_set_new(out, "inventoryInfo",
                        json_pack("{s:f, s:f}", "numberOfItems", a->number_of_items,
                                  "sellableNumberOfItems", a->sellable_number_of_items));
    return out;
}

/* The stored order: its last accepted body plus orderId, status, shippedTime,
 * wayBill, tracking and parcels (GET shape, [] when none). */
static json_t *ogs_order_to_sim(const ogs_order *o)
{
    json_t *out = json_deep_copy(o->body);

    json_object_set_new(out, "orderId", json_integer(o->order_id));
    json_object_set_new(out, "status", json_integer(o->status));
    json_object_set_new(out, "shippedTime", ogs_time_json(o->shipped_ms));
    json_object_set_new(out, "wayBill", o->way_bill ? json_string(o->way_bill) : json_null());
    json_object_set_new(out, "tracking", o->tracking ? json_deep_copy(o->tracking) : json_array());
    json_object_set_new(out, "parcels", o->parcels ? json_deep_copy(o->parcels) : json_array());
    return out;
}

/* ---- request checks ---- */

/* Query argument `name` as an integer.  Returns 1 and sets *out when present,
 * 0 when absent, -1 after answering 400 when it is not an integer. */
static int ogs_query_int(const sim_req *req, const char *name, json_int_t *out, sim_resp *resp)
{
    const char *s = sim_query(req, name);
    char *end;
    long long v;

    if (!s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE) {
        ogs_error(resp, 400, "The value '%s' is not valid for %s.", s, name);
        return -1;
    }
    *out = (json_int_t)v;
    return 1;
}

/* Query argument `name` as a time.  Returns 1 and sets *ms when present, 0
 * when absent, -1 after answering 400 when it is not a time. */
static int ogs_query_time(const sim_req *req, const char *name, int64_t *ms, sim_resp *resp)
{
    const char *s = sim_query(req, name);

    if (!s)
        return 0;
    if (ogs_time_parse(s, ms) != 0) {
        ogs_error(resp, 400, "The value '%s' is not valid for %s.", s, name);
        return -1;
    }
    return 1;
}

/* Checks a goodsOwnerId value against --goods-owner.  Returns 0, or -1 after
 * answering 400 naming it. */
static int ogs_check_goods_owner(const ogs_owner *ow, json_int_t id, sim_resp *resp)
{
    if (id == ow->id || ow->id == 0) /* 0: any (benchmarks) */
        return 0;
    ogs_error(resp, 400, "goodsOwnerId %" JSON_INTEGER_FORMAT " is not a goods owner of this user",
              id);
    return -1;
}

/* The goodsOwnerId query argument: when `required`, it must be there.
 * Returns 0, or -1 after answering 400. */
static int ogs_check_goods_owner_query(const ogs_owner *ow, const sim_req *req, int required,
                                       sim_resp *resp)
{
    json_int_t id;
    int rc = ogs_query_int(req, "goodsOwnerId", &id, resp);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (!required)
            return 0;
        ogs_error(resp, 400, "goodsOwnerId is required");
        return -1;
    }
    return ogs_check_goods_owner(ow, id, resp);
}

/* Parses the request body and checks it against `schema` and the goods
 * owner.  Returns the body (new reference), or NULL after answering 400. */
static json_t *ogs_parse_body(const ogs_owner *ow, const sim_req *req, const char *schema,
                              sim_resp *resp)
{
    char err[OG_ERR_SIZE];
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);

    if (!body) {
        ogs_error(resp, 400, "request body is not valid JSON: %s", jerr.text);
        return NULL;
    }
    if (ogs_fields_check(schema, body, err, sizeof(err)) != 0) {
        ogs_error(resp, 400, "%s", err);
        json_decref(body);
        return NULL;
    }
    if (ogs_check_goods_owner(ow, json_integer_value(json_object_get(body, "goodsOwnerId")),
                              resp) != 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* ---- API routes ---- */

/* PUT /api/v1/articles: upsert by articleNumber. */
static void ogs_put_article(ogs_state *st, ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    json_t *body = ogs_parse_body(ow, req, "PostArticleModel", resp);
    const char *number;
    ogs_article *a;
    int created;

    if (!body)
        return;
    number = json_string_value(json_object_get(body, "articleNumber"));
    if (number[0] == '\0') {
        ogs_error(resp, 400, "articleNumber must not be empty");
        json_decref(body);
        return;
    }
    a = ogs_article_find(ow, number);
    created = a == NULL;
    if (!a)
        a = ogs_article_add(st, ow);
    json_decref(a->body);
    a->body = body;
    a->data_changed_ms = ogs_now_ms(st);
    sim_resp_json(resp, 200,
                  json_pack("{s:I, s:s++}", "articleSystemId", a->system_id, "message", "Article ",
                            number, created ? " created" : " updated"));
}

/* Appends the raw items of /_sim/raw-items to a list answer, after the real
 * ones and up to the page size: every page of a scan ends with them, as a
 * list whose broken entries are not where a client expects them. */
static void ogs_add_raw(json_t *out, const json_t *raw, int has_max, json_int_t max)
{
    size_t i;
    json_t *item;

    json_array_foreach(raw, i, item)
    {
        if (has_max && (json_int_t)json_array_size(out) >= max)
            break;
        json_array_append(out, item);
    }
}

/* GET /api/v1/articles with its filters; a bare array by articleSystemId. */
static void ogs_get_articles(ogs_state *st, ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    const char *number = sim_query(req, "articleNumber");
    json_int_t from = 0, max = 0;
    int64_t stock_from = 0;
    int has_max, has_stock_from;
    json_t *out;

    if (ogs_check_goods_owner_query(ow, req, 1, resp) != 0 ||
        ogs_query_int(req, "articleSystemIdFrom", &from, resp) < 0)
        return;
    has_max = ogs_query_int(req, "maxArticlesToGet", &max, resp);
    if (has_max < 0)
        return;
    has_stock_from = ogs_query_time(req, "stockInfoChangedFrom", &stock_from, resp);
    if (has_stock_from < 0)
        return;
    if (has_stock_from && stock_from < ogs_now_ms(st) - ogs_stock_window_h * 3600LL * 1000) {
        ogs_error(resp, 400, "stockInfoChangedFrom must be within %ld hours of the current time",
                  ogs_stock_window_h);
        return;
    }
    if (has_max && max < 1) {
        ogs_error(resp, 400, "maxArticlesToGet must be at least 1");
        return;
    }

    out = json_array();
    for (size_t i = 0; i < ow->narticles; i++) {
        const ogs_article *a = &ow->articles[i];
        const char *n = json_string_value(json_object_get(a->body, "articleNumber"));
        if (has_max && (json_int_t)json_array_size(out) >= max)
            break;
        if (a->system_id < from || (number && strcmp(n, number) != 0))
            continue;
        if (has_stock_from && (a->stock_changed_ms < 0 || a->stock_changed_ms < stock_from))
            continue;
        json_array_append_new(out, ogs_article_to_get(ow, a));
    }
    if (!number)
        ogs_add_raw(out, ow->raw_articles, has_max, max);
    sim_resp_json(resp, 200, out);
}

/* PUT /api/v1/orders: upsert by orderNumber (201 created, 200 updated);
 * refused while the stored status is not editable (O1) or when a line names
 * an unknown article (O4). */
static void ogs_put_order(ogs_state *st, ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    json_t *body = ogs_parse_body(ow, req, "PostOrderModel", resp);
    char err[OG_ERR_SIZE];
    const char *number;
    ogs_order *o;
    int created;

    if (!body)
        return;
    number = json_string_value(json_object_get(body, "orderNumber"));
    if (number[0] == '\0') {
        ogs_error(resp, 400, "orderNumber must not be empty");
        goto fail;
    }
    o = ogs_order_find(ow, number);
    if (o && !ogs_is_editable(st, o->status)) {
        ogs_error(resp, 400, "Order %s cannot be updated: status %d", number, o->status);
        goto fail;
    }
    if (ogs_order_check_lines(ow, body, err, sizeof(err)) != 0) {
        ogs_error(resp, 400, "%s", err);
        goto fail;
    }
    created = o == NULL;
    if (!o)
        o = ogs_order_add(st, ow);
    ogs_order_set_body(st, o, body); /* number still points into body, now the order's */
    sim_resp_json(resp, created ? 201 : 200,
                  json_pack("{s:I, s:s++}", "orderId", o->order_id, "message", "Order number ",
                            number, created ? " created" : " updated"));
    return;
fail:
    json_decref(body);
}

/* GET /api/v1/orders with its filters; a bare array by orderId. */
static void ogs_get_orders(ogs_state *st, ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    const char *number = sim_query(req, "orderNumber");
    json_int_t from = 0, max = 0;
    int64_t shipped_from = 0, changed_from = 0;
    int has_max, has_shipped, has_changed;
    json_t *out;

    if (ogs_check_goods_owner_query(ow, req, 1, resp) != 0 ||
        ogs_query_int(req, "orderIdFrom", &from, resp) < 0)
        return;
    has_max = ogs_query_int(req, "maxOrdersToGet", &max, resp);
    if (has_max < 0)
        return;
    has_shipped = ogs_query_time(req, "shippedTimeFrom", &shipped_from, resp);
    if (has_shipped < 0)
        return;
    has_changed = ogs_query_time(req, "orderStatusChangedTimeFrom", &changed_from, resp);
    if (has_changed < 0)
        return;
    if (has_max && max < 1) {
        ogs_error(resp, 400, "maxOrdersToGet must be at least 1");
        return;
    }

    out = json_array();
    for (size_t i = 0; i < ow->norders; i++) {
        const ogs_order *o = &ow->orders[i];
        const char *n = json_string_value(json_object_get(o->body, "orderNumber"));
        if (has_max && (json_int_t)json_array_size(out) >= max)
            break;
        if (o->order_id < from || (number && strcmp(n, number) != 0))
            continue;
        if (has_shipped && (o->shipped_ms < 0 || o->shipped_ms < shipped_from))
            continue;
        if (has_changed && o->status_changed_ms < changed_from)
            continue;
        json_array_append_new(out, ogs_order_to_get(ow, o));
    }
    if (!number)
        ogs_add_raw(out, ow->raw_orders, has_max, max);
    sim_resp_json(resp, 200, out);
}

/* GET /api/v1/orders/{orderId}. */
static void ogs_get_order(ogs_state *st, ogs_owner *ow, const sim_req *req, const char *id_text,
                          sim_resp *resp)
{
    char *end;
    long long id = strtoll(id_text, &end, 10);
    ogs_order *o;

    if (ogs_check_goods_owner_query(ow, req, 0, resp) != 0)
        return;
    o = *end == '\0' ? ogs_order_find_id(ow, (json_int_t)id) : NULL;
    if (!o) {
        ogs_error(resp, 404, "Order %s not found", id_text);
        return;
    }
    sim_resp_json(resp, 200, ogs_order_to_get(ow, o));
}

/* DELETE /api/v1/orders?goodsOwnerId=&orderNumber=: cancel (status 1000)
 * while editable, else 400; unknown order 404. */
static void ogs_cancel_order(ogs_state *st, ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    const char *number = sim_query(req, "orderNumber");
    ogs_order *o;

    if (ogs_check_goods_owner_query(ow, req, 1, resp) != 0)
        return;
    if (!number || number[0] == '\0') {
        ogs_error(resp, 400, "orderNumber is required");
        return;
    }
    o = ogs_order_find(ow, number);
    if (!o) {
        ogs_error(resp, 404, "Order %s not found", number);
        return;
    }
    if (!ogs_is_editable(st, o->status)) {
        ogs_error(resp, 400, "Order %s cannot be cancelled: status %d", number, o->status);
        return;
    }
    ogs_order_set_status(st, o, OG_STATUS_CANCELLED);
    sim_resp_json(resp, 200,
                  json_pack("{s:I, s:s++}", "orderId", o->order_id, "message", "Order number ",
                            number, " cancelled"));
}

/* GET /api/v1/orders/statuses. */
static void ogs_get_statuses(sim_resp *resp)
{
    json_t *list = json_array();

    for (size_t i = 0; i < sizeof(ogs_statuses) / sizeof(ogs_statuses[0]); i++)
        json_array_append_new(list, json_pack("{s:i, s:s}", "number", ogs_statuses[i].number,
                                              "text", ogs_statuses[i].text));
    sim_resp_json(resp, 200, json_pack("{s:o}", "orderStatuses", list));
}

/* GET /api/v1/orders/wayOfDeliveryTypes?goodsOwnerId=: the owner's ways of
 * delivery (GetWayOfDeliveryTypesModel); goodsOwnerId as GET /orders takes it. */
static void ogs_get_ways(const ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    if (ogs_check_goods_owner_query(ow, req, 1, resp) != 0)
        return;
    sim_resp_json(resp, 200, json_pack("{s:O}", "wayOfDeliveryTypes", ow->ways));
}

/* The route after "/api/v1" ("/orders", "/orders/5001"), NULL when the path
 * is not under /api/v1/ (any prefix may come before it). */
static const char *ogs_api_route(const char *path)
{
    const char *api = strstr(path, "/api/v1/");
    return api ? api + strlen("/api/v1") : NULL;
}

static int ogs_is_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
    }
    return 1;
}

/* sim_app.handle: dispatches an API request. */
static void ogs_handle(void *state, const sim_req *req, sim_resp *resp)
{
    ogs_state *st = state;
    ogs_owner *ow = st->cur; /* set by ogs_auth, which let the request in */
    const char *route = ogs_api_route(req->path);
    const char *m = req->method;

    resp->is_write = strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
    if (!ow) {
        ogs_error(resp, 401, "Authorization has been denied");
    } else if (!route) {
        ogs_error(resp, 404, "No HTTP resource was found that matches the request URI '%s'.",
                  req->path);
    } else if (strcmp(route, "/articles") == 0) {
        if (strcmp(m, "PUT") == 0)
            ogs_put_article(st, ow, req, resp);
        else if (strcmp(m, "GET") == 0)
            ogs_get_articles(st, ow, req, resp);
        else
            ogs_error(resp, 405, "The requested resource does not support http method '%s'.", m);
    } else if (strcmp(route, "/orders") == 0) {
        if (strcmp(m, "PUT") == 0)
            ogs_put_order(st, ow, req, resp);
        else if (strcmp(m, "GET") == 0)
            ogs_get_orders(st, ow, req, resp);
        else if (strcmp(m, "DELETE") == 0)
            ogs_cancel_order(st, ow, req, resp);
        else
            ogs_error(resp, 405, "The requested resource does not support http method '%s'.", m);
    } else if (strcmp(route, "/orders/statuses") == 0 && strcmp(m, "GET") == 0) {
        ogs_get_statuses(resp);
    } else if (strcmp(route, "/orders/wayOfDeliveryTypes") == 0) {
        if (strcmp(m, "GET") == 0)
            ogs_get_ways(ow, req, resp);
        else
            ogs_error(resp, 405, "The requested resource does not support http method '%s'.", m);
    } else if (strncmp(route, "/orders/", 8) == 0 && ogs_is_digits(route + 8) &&
               strcmp(m, "GET") == 0) {
        ogs_get_order(st, ow, req, route + 8, resp);
    } else {
        ogs_error(resp, 404, "No HTTP resource was found that matches the request URI '%s'.",
                  req->path);
    }
}

/* sim_app.route_name: "GET /api/v1/orders/{id}" and the like. */
static void ogs_route_name(void *state, const sim_req *req, char *buf, size_t size)
{
    (void)state;
    const char *route = ogs_api_route(req->path);

    if (route && strncmp(route, "/orders/", 8) == 0 && ogs_is_digits(route + 8))
        snprintf(buf, size, "%s /api/v1/orders/{id}", req->method);
    else if (route)
        snprintf(buf, size, "%s /api/v1%s", req->method, route);
    else
        snprintf(buf, size, "%s %s", req->method, req->path);
}

/* sim_app.auth: HTTP Basic with the user and password of one goods owner,
 * else 401.  The user picks the goods owner the request is answered for
 * (st->cur) and is the rate-limit key. */
static int ogs_auth(void *state, const sim_req *req, char *key, size_t key_size, sim_resp *resp)
{
    ogs_state *st = state;
    const char *h = req->authorization;
    char decoded[512];
    char *colon;
    ogs_owner *ow;

    st->cur = NULL; /* a refused request has no goods owner */
    if (h && strncmp(h, "Basic ", 6) == 0) {
        for (h += 6; *h == ' '; h++)
            ;
        if (ogs_base64_decode(h, decoded, sizeof(decoded)) == 0) {
            colon = strchr(decoded, ':');
            if (colon) {
                *colon = '\0';
                ow = ogs_owner_by_user(st, decoded);
                if (ow && strcmp(colon + 1, ow->password) == 0) {
                    st->cur = ow;
                    snprintf(key, key_size, "basic:%s", ow->user);
                    return 0;
                }
            }
        }
    }
    ogs_error(resp, 401, "Authorization has been denied");
    return -1;
}

/* sim_app.tenant: the goods owner the current API request was answered for
 * (the authenticated user's), for the write log and the stats. */
static int ogs_tenant(void *state, json_int_t *id)
{
    const ogs_state *st = state;

    if (!st->cur)
        return 0;
    *id = st->cur->id;
    return 1;
}

/* ---- test endpoints (/_sim/) ---- */

/* Parses a test-endpoint body that must be a JSON object ("" counts as {}).
 * Returns a new reference, or NULL after answering 400. */
static json_t *ogs_parse_test_body(const sim_req *req, sim_resp *resp)
{
    json_error_t jerr;
    json_t *body;

    if (req->body_len == 0)
        return json_object();
    body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        ogs_error(resp, 400, "body must be a JSON object%s%s", body ? "" : ": ",
                  body ? "" : jerr.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Sends Ongoing's order webhook ("order status is changed") for o when
 * webhooks are configured, with the fixed X-Auth-Token; the thin payload of
 * Ongoing's order webhooks.  Queued: the answer never waits. */
static void ogs_webhook(ogs_state *st, const ogs_owner *ow, const ogs_order *o)
{
    char header[300];
    if (ow->webhook_url[0] == '\0')
        return;
    json_t *number = json_object_get(o->body, "orderNumber");
    json_t *payload =
        json_pack("{s:I, s:I, s:s, s:I, s:O, s:I, s:{s:i}}", "webhookOrdersId", (json_int_t)1,
                  "webhookEventId", ++st->webhook_event_id, "system", "sim", "orderId", o->order_id,
                  "orderNumber", number != NULL ? number : json_null(), "goodsOwnerId", ow->id,
                  "orderStatus", "number", o->status);
    char *body = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (body == NULL)
        return;
    snprintf(header, sizeof(header), "X-Auth-Token: %s", ow->webhook_token);
    const char *headers[1] = {header};
    sim_webhook_post(ow->webhook_url, headers, 1, body);
    free(body);
}

/* POST /_sim/webhooks {"url": "http://..", "token": ".."}: an order webhook
 * on every status change made here (/_sim/orders/{n}/status and /ship) from
 * then on; {"url": null} stops them.  GET: the sender's counts. */
static void ogs_test_webhooks(ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    if (strcmp(req->method, "GET") == 0) {
        json_t *o = sim_webhook_stats();
        json_object_set_new(o, "url", json_string(ow->webhook_url));
        sim_resp_json(resp, 200, o);
        return;
    }
    json_t *body = ogs_parse_test_body(req, resp);
    if (body == NULL)
        return;
    json_t *url = json_object_get(body, "url"), *token = json_object_get(body, "token");
    if (json_is_null(url)) {
        ow->webhook_url[0] = '\0';
    } else if (!json_is_string(url) || strncmp(json_string_value(url), "http", 4) != 0 ||
               json_string_length(url) >= sizeof(ow->webhook_url) || !json_is_string(token) ||
               json_string_length(token) == 0 ||
               json_string_length(token) >= sizeof(ow->webhook_token)) {
        ogs_error(resp, 400,
                  "webhooks: {\"url\": \"http..\", \"token\": \"..\"} or {\"url\": null}");
        json_decref(body);
        return;
    } else {
        snprintf(ow->webhook_url, sizeof(ow->webhook_url), "%s", json_string_value(url));
        snprintf(ow->webhook_token, sizeof(ow->webhook_token), "%s", json_string_value(token));
    }
    sim_resp_json(resp, 200, json_pack("{s:s}", "url", ow->webhook_url));
    json_decref(body);
}

/* POST /_sim/orders/{orderNumber}/status {"status": 300}. */
static void ogs_test_order_status(ogs_state *st, const ogs_owner *ow, ogs_order *o,
                                  const json_t *body, sim_resp *resp)
{
    json_t *status = json_object_get(body, "status");

    if (!json_is_integer(status)) {
        ogs_error(resp, 400, "status must be an integer");
        return;
    }
    ogs_order_set_status(st, o, (int)json_integer_value(status));
    ogs_webhook(st, ow, o);
    sim_resp_json(resp, 200, ogs_order_to_sim(o));
}

/* POST /_sim/orders/{orderNumber}/ship: status 450, shippedTime now, plus
 * the tracking, parcels and way bill of the body. */
static void ogs_test_order_ship(ogs_state *st, const ogs_owner *ow, ogs_order *o,
                                const json_t *body, sim_resp *resp)
{
    char err[OG_ERR_SIZE];

    if (ogs_order_apply_ship(st, o, body, ogs_now_ms(st), err, sizeof(err)) != 0) {
        ogs_error(resp, 400, "%s", err);
        return;
    }
    ogs_order_set_status(st, o, OG_STATUS_SENT);
    o->shipped_ms = o->status_changed_ms;
    ogs_webhook(st, ow, o);
    sim_resp_json(resp, 200, ogs_order_to_sim(o));
}

/* POST /_sim/articles/{articleNumber}/stock {"numberOfItems": 10,
 * "sellableNumberOfItems": 8}; sellable defaults to numberOfItems. */
static void ogs_test_article_stock(ogs_state *st, ogs_article *a, const json_t *body,
                                   sim_resp *resp)
{
    json_t *items = json_object_get(body, "numberOfItems");
    json_t *sellable = json_object_get(body, "sellableNumberOfItems");

    if ((items && !json_is_number(items)) || (sellable && !json_is_number(sellable)) ||
        (!items && !sellable)) {
        ogs_error(resp, 400, "numberOfItems and sellableNumberOfItems must be numbers");
        return;
    }
    if (items)
        a->number_of_items = json_number_value(items);
    a->sellable_number_of_items = json_number_value(sellable ? sellable : items);
    a->stock_changed_ms = ogs_now_ms(st);
    sim_resp_json(resp, 200, ogs_article_to_sim(a));
}

/* POST /_sim/clock {"now": "2026-11-27T10:00:00Z"} (fixed), {"offset_s": -600}
 * (running, that far from real time) or {"now": null} (real time). */
static void ogs_test_clock(ogs_state *st, const json_t *body, sim_resp *resp)
{
    json_t *now = json_object_get(body, "now"), *offset = json_object_get(body, "offset_s");
    int64_t ms;

    if (json_is_integer(offset) && !now) {
        st->clock_ms = -1;
        st->offset_ms = (int64_t)json_integer_value(offset) * 1000;
    } else if (json_is_null(now)) {
        st->clock_ms = -1;
        st->offset_ms = 0;
    } else if (json_is_string(now) && ogs_time_parse(json_string_value(now), &ms) == 0) {
        st->clock_ms = ms;
        st->offset_ms = 0;
    } else {
        ogs_error(resp, 400, "now must be a time or null, or offset_s an integer");
        return;
    }
    sim_resp_json(resp, 200, json_pack("{s:o}", "now", ogs_time_json(ogs_now_ms(st))));
}

/* POST /_sim/credentials {"user": "u", "password": "p"} (either or both):
 * the goods owner's Basic credentials accepted from now on, as when the
 * warehouse changes (or restores) the API user's password.  A user name
 * another goods owner has → 409.  The password is not echoed. */
static void ogs_test_credentials(ogs_state *st, ogs_owner *ow, const json_t *body, sim_resp *resp)
{
    json_t *user = json_object_get(body, "user"), *password = json_object_get(body, "password");
    ogs_owner *holder;

    if ((!user && !password) || (user && !json_is_string(user)) ||
        (password && !json_is_string(password)) || (user && !*json_string_value(user))) {
        ogs_error(resp, 400, "need {\"user\": non-empty string, \"password\": string}");
        return;
    }
    holder = user ? ogs_owner_by_user(st, json_string_value(user)) : NULL;
    if (holder && holder != ow) {
        ogs_error(resp, 409, "user '%s' is the user of goods owner %" JSON_INTEGER_FORMAT,
                  json_string_value(user), holder->id);
        return;
    }
    if (user) {
        json_t *slot = json_incref(json_object_get(st->owner_by_user, ow->user));
        json_object_del(st->owner_by_user, ow->user);
        free(ow->user);
        ow->user = ogs_xstrdup(json_string_value(user));
        json_object_set_new(st->owner_by_user, ow->user, slot);
    }
    if (password) {
        free(ow->password);
        ow->password = ogs_xstrdup(json_string_value(password));
    }
    sim_resp_json(resp, 200, json_pack("{s:s}", "user", ow->user));
}

/* POST /_sim/raw-items {"list": "orders"|"articles", "items": [...]} adds raw
 * items to every later list answer of GET /orders or GET /articles (those
 * without an orderNumber / articleNumber filter); DELETE clears both. */
static void ogs_test_raw_items(ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    if (strcmp(req->method, "DELETE") == 0) {
        json_decref(ow->raw_orders);
        json_decref(ow->raw_articles);
        ow->raw_orders = ow->raw_articles = NULL;
        sim_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    json_t *body = ogs_parse_test_body(req, resp);
    if (!body)
        return;
    const char *list = json_string_value(json_object_get(body, "list"));
    json_t *items = json_object_get(body, "items");
    json_t **raw = !list                           ? NULL
                   : strcmp(list, "orders") == 0   ? &ow->raw_orders
                   : strcmp(list, "articles") == 0 ? &ow->raw_articles
                                                   : NULL;
    if (!raw || !json_is_array(items)) {
        ogs_error(resp, 400, "need {\"list\": \"orders\" or \"articles\", \"items\": [...]}");
    } else {
        if (!*raw)
            *raw = json_array();
        json_array_extend(*raw, items);
        sim_resp_json(resp, 200, json_pack("{s:I}", "items", (json_int_t)json_array_size(*raw)));
    }
    json_decref(body);
}

/* GET /_sim/ways-of-delivery: the owner's ways of delivery as the API answers
 * them.  PUT with [{"code": "..", "name": ".."}, ...] replaces the list (ids
 * 1..n in the order given); 400 for anything else (a code empty or twice, a
 * name not a string, another member), and then the list is as it was. */
static void ogs_test_ways(ogs_owner *ow, const sim_req *req, sim_resp *resp)
{
    json_error_t jerr;
    json_t *list, *ways, *item;
    size_t i;

    if (strcmp(req->method, "GET") == 0) {
        sim_resp_json(resp, 200, json_pack("{s:O}", "wayOfDeliveryTypes", ow->ways));
        return;
    }
    list = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_array(list)) {
        ogs_error(resp, 400,
                  "ways-of-delivery: the body must be a JSON array of {\"code\", \"name\"}%s%s",
                  list ? "" : ": ", list ? "" : jerr.text);
        json_decref(list);
        return;
    }
    ways = json_array();
    json_array_foreach(list, i, item)
    {
        const char *code = json_string_value(json_object_get(item, "code"));
        json_t *name = json_object_get(item, "name");
        int dup = 0;
        size_t j;
        json_t *other;

        json_array_foreach(ways, j, other)
        {
            if (code && strcmp(json_string_value(json_object_get(other, "code")), code) == 0)
                dup = 1;
        }
        if (!json_is_object(item) || json_object_size(item) != 2 || !code || code[0] == '\0' ||
            !json_is_string(name) || dup) {
            ogs_error(resp, 400,
                      "ways-of-delivery[%zu]: need {\"code\": a non-empty string not given "
                      "before, \"name\": a string} and nothing else",
                      i);
            json_decref(ways);
            json_decref(list);
            return;
        }
        json_array_append_new(ways, json_pack("{s:I, s:s, s:O}", "id", (json_int_t)(i + 1), "code",
                                              code, "name", name));
    }
    json_decref(ow->ways);
    ow->ways = ways;
    json_decref(list);
    sim_resp_json(resp, 200, json_pack("{s:O}", "wayOfDeliveryTypes", ow->ways));
}

/* Splits "{key}/{action}" (rest of a /_sim/orders/ or /_sim/articles/ path)
 * when it ends in "/<action>" for one of the actions; copies the key into
 * buf.  Returns the action or "" for a plain key. */
static const char *ogs_split_action(const char *rest, const char *const *actions, char *buf,
                                    size_t size)
{
    size_t len = strlen(rest);

    for (size_t i = 0; actions[i]; i++) {
        size_t alen = strlen(actions[i]);
        if (len > alen + 1 && strcmp(rest + len - alen, actions[i]) == 0 &&
            rest[len - alen - 1] == '/') {
            snprintf(buf, size, "%.*s", (int)(len - alen - 1), rest);
            return actions[i];
        }
    }
    snprintf(buf, size, "%s", rest);
    return "";
}

/* /_sim/orders[/{orderNumber}[/status|/ship]]; DELETE /_sim/orders/{orderNumber}. */
static void ogs_test_orders(ogs_state *st, ogs_owner *ow, const sim_req *req, const char *rest,
                            sim_resp *resp)
{
    static const char *const actions[] = {"status", "ship", NULL};
    char number[256];
    const char *action;
    ogs_order *o;
    json_t *body;

    if (*rest == '\0' && strcmp(req->method, "GET") == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < ow->norders; i++)
            json_array_append_new(list, ogs_order_to_sim(&ow->orders[i]));
        sim_resp_json(resp, 200, list);
        return;
    }
    if (*rest != '/') {
        ogs_error(resp, 404, "no such test endpoint");
        return;
    }
    action = ogs_split_action(rest + 1, actions, number, sizeof(number));
    o = ogs_order_find(ow, number);
    if (!o) {
        ogs_error(resp, 404, "Order %s not found", number);
        return;
    }
    if (*action == '\0' && strcmp(req->method, "GET") == 0) {
        sim_resp_json(resp, 200, ogs_order_to_sim(o));
        return;
    }
    if (*action == '\0' && strcmp(req->method, "DELETE") == 0) {
        sim_resp_json(resp, 200, json_pack("{s:s}", "deleted", number));
        ogs_order_remove(ow, o);
        return;
    }
    if (*action == '\0' || strcmp(req->method, "POST") != 0) {
        ogs_error(resp, 404, "no such test endpoint");
        return;
    }
    body = ogs_parse_test_body(req, resp);
    if (!body)
        return;
    if (strcmp(action, "status") == 0)
        ogs_test_order_status(st, ow, o, body, resp);
    else
        ogs_test_order_ship(st, ow, o, body, resp);
    json_decref(body);
}

/* /_sim/articles[/{articleNumber}[/stock]]; DELETE /_sim/articles/{articleNumber}. */
static void ogs_test_articles(ogs_state *st, ogs_owner *ow, const sim_req *req, const char *rest,
                              sim_resp *resp)
{
    static const char *const actions[] = {"stock", NULL};
    char number[256];
    const char *action;
    ogs_article *a;
    json_t *body;

    if (*rest == '\0' && strcmp(req->method, "GET") == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < ow->narticles; i++)
            json_array_append_new(list, ogs_article_to_sim(&ow->articles[i]));
        sim_resp_json(resp, 200, list);
        return;
    }
    if (*rest != '/') {
        ogs_error(resp, 404, "no such test endpoint");
        return;
    }
    action = ogs_split_action(rest + 1, actions, number, sizeof(number));
    a = ogs_article_find(ow, number);
    if (!a) {
        ogs_error(resp, 404, "Article %s not found", number);
        return;
    }
    if (*action == '\0' && strcmp(req->method, "GET") == 0) {
        sim_resp_json(resp, 200, ogs_article_to_sim(a));
        return;
    }
    if (*action == '\0' && strcmp(req->method, "DELETE") == 0) {
        sim_resp_json(resp, 200, json_pack("{s:s}", "deleted", number));
        ogs_article_remove(ow, a);
        return;
    }
    if (*action == '\0' || strcmp(req->method, "POST") != 0) {
        ogs_error(resp, 404, "no such test endpoint");
        return;
    }
    body = ogs_parse_test_body(req, resp);
    if (!body)
        return;
    ogs_test_article_stock(st, a, body, resp);
    json_decref(body);
}

/* ---- seed and main ---- */

/* Loads one seed article (PUT body without goodsOwnerId, plus optional
 * inventoryInfo{numberOfItems, sellableNumberOfItems}).  Returns 0, or -1
 * with a message in err. */
static int ogs_seed_article(ogs_state *st, ogs_owner *ow, const json_t *seed, char *err,
                            size_t errsize)
{
    json_t *body = json_deep_copy(seed);
    json_t *inventory = json_object_get(body, "inventoryInfo");
    double items = 0.0, sellable = 0.0;
    int has_stock = inventory != NULL;
    ogs_article *a;

    if (!json_is_object(body)) {
        snprintf(err, errsize, "must be an object");
        json_decref(body);
        return -1;
    }
    if (inventory) {
        json_t *n = json_object_get(inventory, "numberOfItems");
        json_t *s = json_object_get(inventory, "sellableNumberOfItems");
        items = json_number_value(n);
        sellable = s ? json_number_value(s) : items;
        json_object_del(body, "inventoryInfo");
    }
    json_object_set_new(body, "goodsOwnerId", json_integer(ow->id));
    if (ogs_fields_check("PostArticleModel", body, err, errsize) != 0) {
        json_decref(body);
        return -1;
    }
    a = ogs_article_find(ow, json_string_value(json_object_get(body, "articleNumber")));
    if (!a)
        a = ogs_article_add(st, ow);
    json_decref(a->body);
    a->body = body;
    a->data_changed_ms = ogs_now_ms(st);
    if (has_stock) {
        a->number_of_items = items;
        a->sellable_number_of_items = sellable;
        a->stock_changed_ms = a->data_changed_ms;
    }
    return 0;
}

/* Loads one seed order (PUT body without goodsOwnerId, plus optional status,
 * shippedTime, statusChangedTime (default: when it was loaded), and the ship
 * members tracking, parcels, wayBill).  Returns 0,
 * or -1 with a message in err. */
static int ogs_seed_order(ogs_state *st, ogs_owner *ow, const json_t *seed, char *err,
                          size_t errsize)
{
    static const char *const extras[] = {"status",  "shippedTime",       "tracking", "parcels",
                                         "wayBill", "statusChangedTime", NULL};
    json_t *body = json_deep_copy(seed);
    json_t *status = json_object_get(seed, "status");
    json_t *shipped = json_object_get(seed, "shippedTime");
    json_t *changed = json_object_get(seed, "statusChangedTime");
    int64_t shipped_ms = -1, changed_ms = -1;
    ogs_order *o;

    if (!json_is_object(body)) {
        snprintf(err, errsize, "must be an object");
        json_decref(body);
        return -1;
    }
    if ((status && !json_is_integer(status)) ||
        (shipped && !json_is_null(shipped) &&
         (!json_is_string(shipped) || ogs_time_parse(json_string_value(shipped), &shipped_ms)))) {
        snprintf(err, errsize, "status must be an integer, shippedTime a time");
        json_decref(body);
        return -1;
    }
    if (changed &&
        (!json_is_string(changed) || ogs_time_parse(json_string_value(changed), &changed_ms))) {
        snprintf(err, errsize, "statusChangedTime must be a time");
        json_decref(body);
        return -1;
    }
    for (size_t i = 0; extras[i]; i++)
        json_object_del(body, extras[i]);
    json_object_set_new(body, "goodsOwnerId", json_integer(ow->id));
    if (ogs_fields_check("PostOrderModel", body, err, errsize) != 0 ||
        ogs_order_check_lines(ow, body, err, errsize) != 0) {
        json_decref(body);
        return -1;
    }
    o = ogs_order_find(ow, json_string_value(json_object_get(body, "orderNumber")));
    if (!o)
        o = ogs_order_add(st, ow);
    ogs_order_set_body(st, o, body);
    if (status)
        o->status = (int)json_integer_value(status);
    if (changed_ms >= 0)
        o->status_changed_ms = changed_ms;
    o->shipped_ms = shipped_ms;
    return ogs_order_apply_ship(st, o, seed, shipped_ms >= 0 ? shipped_ms : ogs_now_ms(st), err,
                                errsize);
}

/* Loads a seed document {"articles": [...], "orders": [...]} into goods
 * owner ow.  Returns 0, or -1 with a message in err naming the entry; what
 * came before the bad entry stays loaded. */
static int ogs_seed_apply(ogs_state *st, ogs_owner *ow, const json_t *seed, char *err,
                          size_t errsize)
{
    json_t *articles = json_object_get(seed, "articles");
    json_t *orders = json_object_get(seed, "orders");
    char msg[OG_ERR_SIZE];

    if (!json_is_object(seed) || (articles && !json_is_array(articles)) ||
        (orders && !json_is_array(orders))) {
        snprintf(err, errsize, "want {\"articles\": [...], \"orders\": [...]}");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(articles); i++) {
        if (ogs_seed_article(st, ow, json_array_get(articles, i), msg, sizeof(msg)) != 0) {
            snprintf(err, errsize, "articles[%zu]: %s", i, msg);
            return -1;
        }
    }
    for (size_t i = 0; i < json_array_size(orders); i++) {
        if (ogs_seed_order(st, ow, json_array_get(orders, i), msg, sizeof(msg)) != 0) {
            snprintf(err, errsize, "orders[%zu]: %s", i, msg);
            return -1;
        }
    }
    return 0;
}

/* Loads --seed FILE into owner #0; exits with status 2 and a message on any
 * error. */
static void ogs_load_seed(ogs_state *st, const char *path)
{
    json_t *seed = sim_load_json(path);
    char err[OG_ERR_SIZE + 64];

    if (ogs_seed_apply(st, st->owners[0], seed, err, sizeof(err)) != 0) {
        fprintf(stderr, "ongoing-sim: %s: %s\n", path, err);
        exit(2);
    }
    json_decref(seed);
}

/* ---- goods owners (/_sim/goods-owners) ---- */

/* The goods owner as GET /_sim/goods-owners/{id} answers it.  New reference. */
static json_t *ogs_owner_to_sim(const ogs_owner *ow)
{
    return json_pack("{s:I, s:s, s:I, s:I, s:s}", "id", ow->id, "user", ow->user, "articles",
                     (json_int_t)ow->narticles, "orders", (json_int_t)ow->norders, "webhook_url",
                     ow->webhook_url);
}

/* POST /_sim/goods-owners {"id": 7, "user": "u7", "password": "p7", "seed":
 * {...}}: a new goods owner with its own API user, empty or loaded from the
 * seed (the --seed format).  201; 409 when the id or the user is taken; 400
 * naming the bad member.  A refused seed leaves no trace: the owner is
 * dropped and the id counters it used are given back. */
static void ogs_test_add_owner(ogs_state *st, const json_t *body, sim_resp *resp)
{
    static const char *const members[] = {"id", "user", "password", "seed", NULL};
    json_t *id = json_object_get(body, "id"), *user = json_object_get(body, "user");
    json_t *password = json_object_get(body, "password"), *seed = json_object_get(body, "seed");
    json_int_t next_article = st->next_article_id, next_order = st->next_order_id;
    json_int_t next_line = st->next_line_id, next_parcel = st->next_parcel_id;
    char err[OG_ERR_SIZE + 64];
    const char *key;
    json_t *value;
    ogs_owner *ow;

    json_object_foreach((json_t *)body, key, value)
    {
        size_t i = 0;
        while (members[i] && strcmp(members[i], key) != 0)
            i++;
        if (!members[i]) {
            ogs_error(resp, 400, "unknown member '%s'", key);
            return;
        }
    }
    if (!json_is_integer(id) || json_integer_value(id) < 1) {
        ogs_error(resp, 400, "id must be a positive integer (the goodsOwnerId)");
        return;
    }
    if (!json_is_string(user) || json_string_length(user) == 0) {
        ogs_error(resp, 400, "user must be a non-empty string");
        return;
    }
    if (!json_is_string(password)) {
        ogs_error(resp, 400, "password must be a string");
        return;
    }
    if (seed && !json_is_object(seed)) {
        ogs_error(resp, 400, "seed must be an object {\"articles\": [...], \"orders\": [...]}");
        return;
    }
    if (ogs_owner_by_id(st, json_integer_value(id))) {
        ogs_error(resp, 409, "goods owner %" JSON_INTEGER_FORMAT " exists", json_integer_value(id));
        return;
    }
    if (ogs_owner_by_user(st, json_string_value(user))) {
        ogs_error(resp, 409, "user '%s' exists", json_string_value(user));
        return;
    }
    ow =
        ogs_owner_new(json_integer_value(id), json_string_value(user), json_string_value(password));
    if (seed && ogs_seed_apply(st, ow, seed, err, sizeof(err)) != 0) {
        ogs_error(resp, 400, "seed.%s", err);
        ogs_owner_free(ow);
        st->next_article_id = next_article;
        st->next_order_id = next_order;
        st->next_line_id = next_line;
        st->next_parcel_id = next_parcel;
        return;
    }
    ogs_owner_register(st, ow);
    sim_resp_json(resp, 201, ogs_owner_to_sim(ow));
}

/* The owner named by the id at the start of rest ("7" or "7/orders/..."),
 * with *tail set to what follows the id (pointing into rest).  Borrowed;
 * NULL after answering 404. */
static ogs_owner *ogs_owner_from_path(const ogs_state *st, const char *rest, const char **tail,
                                      sim_resp *resp)
{
    size_t len = strcspn(rest, "/");
    char id_text[24];
    ogs_owner *ow = NULL;

    if (len > 0 && len < sizeof(id_text)) {
        snprintf(id_text, sizeof(id_text), "%.*s", (int)len, rest);
        if (ogs_is_digits(id_text))
            ow = ogs_owner_by_id(st, (json_int_t)strtoll(id_text, NULL, 10));
    }
    if (!ow) {
        ogs_error(resp, 404, "goods owner %.*s not found", (int)(len < 64 ? len : 64), rest);
        return NULL;
    }
    *tail = rest + len;
    return ow;
}

/* The /_sim/ endpoints that hold one goods owner's data, for ow; path is
 * what follows "/_sim" (or "/_sim/goods-owners/{id}").  Returns 0 when it
 * answered, -1 when path is not one of them. */
static int ogs_test_owner_endpoint(ogs_state *st, ogs_owner *ow, const sim_req *req,
                                   const char *path, sim_resp *resp)
{
    const char *m = req->method;

    if (strncmp(path, "/orders", 7) == 0 && (path[7] == '\0' || path[7] == '/')) {
        ogs_test_orders(st, ow, req, path + 7, resp);
    } else if (strncmp(path, "/articles", 9) == 0 && (path[9] == '\0' || path[9] == '/')) {
        ogs_test_articles(st, ow, req, path + 9, resp);
    } else if (strcmp(path, "/webhooks") == 0 &&
               (strcmp(m, "POST") == 0 || strcmp(m, "GET") == 0)) {
        ogs_test_webhooks(ow, req, resp);
    } else if (strcmp(path, "/credentials") == 0 && strcmp(m, "POST") == 0) {
        json_t *body = ogs_parse_test_body(req, resp);
        if (body)
            ogs_test_credentials(st, ow, body, resp);
        json_decref(body);
    } else if (strcmp(path, "/raw-items") == 0 &&
               (strcmp(m, "POST") == 0 || strcmp(m, "DELETE") == 0)) {
        ogs_test_raw_items(ow, req, resp);
    } else if (strcmp(path, "/ways-of-delivery") == 0 &&
               (strcmp(m, "PUT") == 0 || strcmp(m, "GET") == 0)) {
        ogs_test_ways(ow, req, resp);
    } else {
        return -1;
    }
    return 0;
}

/* /_sim/goods-owners: GET lists the ids, POST adds one; /_sim/goods-owners/{id}
 * answers the owner; /_sim/goods-owners/{id}/<endpoint> is <endpoint> for
 * that owner.  rest is what follows "/_sim/goods-owners". */
static void ogs_test_goods_owners(ogs_state *st, const sim_req *req, const char *rest,
                                  sim_resp *resp)
{
    const char *tail;
    ogs_owner *ow;

    if ((*rest == '\0' || strcmp(rest, "/") == 0) && strcmp(req->method, "GET") == 0) {
        json_t *ids = json_array();
        for (size_t i = 0; i < st->nowners; i++)
            json_array_append_new(ids, json_integer(st->owners[i]->id));
        sim_resp_json(resp, 200, ids);
        return;
    }
    if ((*rest == '\0' || strcmp(rest, "/") == 0) && strcmp(req->method, "POST") == 0) {
        json_t *body = ogs_parse_test_body(req, resp);
        if (body)
            ogs_test_add_owner(st, body, resp);
        json_decref(body);
        return;
    }
    if (*rest != '/') {
        ogs_error(resp, 404, "no such test endpoint");
        return;
    }
    ow = ogs_owner_from_path(st, rest + 1, &tail, resp);
    if (!ow)
        return;
    if (*tail == '\0' && strcmp(req->method, "GET") == 0)
        sim_resp_json(resp, 200, ogs_owner_to_sim(ow));
    else if (ogs_test_owner_endpoint(st, ow, req, tail, resp) != 0)
        ogs_error(resp, 404, "no such test endpoint");
}

/* sim_app.handle_test: the Ongoing-specific /_sim/ endpoints.  Those holding
 * a goods owner's data answer for owner #0 unprefixed (as before there were
 * many) and for any owner under /_sim/goods-owners/{id}/: the prefix only
 * picks the owner, the handlers are the same. */
static void ogs_handle_test(void *state, const sim_req *req, sim_resp *resp)
{
    ogs_state *st = state;
    const char *path = req->path + strlen("/_sim");

    if (strncmp(path, "/goods-owners", 13) == 0 && (path[13] == '\0' || path[13] == '/')) {
        ogs_test_goods_owners(st, req, path + 13, resp);
    } else if (ogs_test_owner_endpoint(st, st->owners[0], req, path, resp) == 0) {
        /* answered for owner #0 */
    } else if (strcmp(path, "/clock") == 0 && strcmp(req->method, "POST") == 0) {
        json_t *body = ogs_parse_test_body(req, resp);
        if (body)
            ogs_test_clock(st, body, resp);
        json_decref(body);
    } else {
        ogs_error(resp, 404, "no such test endpoint");
    }
}

/* Parses a whole decimal number in [min, max]; returns 0, or -1. */
static int ogs_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses --editable "150,200" (empty = nothing editable).  Returns 0, or -1. */
static int ogs_parse_editable(ogs_state *st, const char *list)
{
    char buf[256];
    char *save = NULL;

    if ((size_t)snprintf(buf, sizeof(buf), "%s", list) >= sizeof(buf))
        return -1;
    st->neditable = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (st->neditable == OG_MAX_EDITABLE || ogs_parse_long(tok, 0, 100000, &v) != 0)
            return -1;
        st->editable[st->neditable++] = (int)v;
    }
    return 0;
}

/* Applies one "--name value" option.  Returns 0, or -1 when the option is
 * unknown or its value is bad. */
static int ogs_parse_option(ogs_state *st, sim_app *app, const char *arg, const char *val,
                            long *port, const char **seed)
{
    long n;

    if (strcmp(arg, "--port") == 0)
        return ogs_parse_long(val, 0, 65535, port);
    if (strcmp(arg, "--seed") == 0) {
        *seed = val;
        return 0;
    }
    if (strcmp(arg, "--rate-limit") == 0) {
        if (ogs_parse_long(val, 0, 1000000, &n) != 0)
            return -1;
        app->rate_limit = (int)n;
        return 0;
    }
    if (strcmp(arg, "--user") == 0) {
        st->user0 = val;
        return 0;
    }
    if (strcmp(arg, "--password") == 0) {
        st->password0 = val;
        return 0;
    }
    if (strcmp(arg, "--goods-owner") == 0) {
        if (ogs_parse_long(val, 0, 2147483647L, &n) != 0)
            return -1;
        st->goods_owner0 = n;
        return 0;
    }
    if (strcmp(arg, "--editable") == 0)
        return ogs_parse_editable(st, val);
    if (strcmp(arg, "--stock-window-h") == 0)
        return ogs_parse_long(val, 1, 24 * 366, &ogs_stock_window_h);
    return -1;
}

static void ogs_usage(void)
{
    fprintf(stderr, "usage: ongoing-sim [--port N] [--seed FILE] [--rate-limit N] [--user U]\n"
                    "                   [--password P] [--goods-owner N] [--editable 150,200]\n"
                    "                   [--stock-window-h 24]\n"
                    "       ongoing-sim --dump-fields\n");
}

int main(int argc, char **argv)
{
    ogs_state st = {.user0 = "test-user",
                    .password0 = "test-password",
                    .goods_owner0 = 1,
                    .editable = {150, 200},
                    .neditable = 2,
                    .next_article_id = OG_FIRST_ARTICLE_ID,
                    .next_order_id = OG_FIRST_ORDER_ID,
                    .next_line_id = OG_FIRST_LINE_ID,
                    .next_parcel_id = OG_FIRST_PARCEL_ID,
                    .clock_ms = -1};
    sim_app app = {.name = "ongoing-sim",
                   .state = &st,
                   .rate_limit = 0,
                   .auth = ogs_auth,
                   .handle = ogs_handle,
                   .handle_test = ogs_handle_test,
                   .route_name = ogs_route_name,
                   .tenant_name = "goods_owner",
                   .tenant = ogs_tenant};
    const char *seed = NULL;
    long port = 0;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--dump-fields") == 0) {
            json_t *dump = ogs_fields_dump();
            json_dumpf(dump, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(dump);
            return 0;
        }
        if (!val) {
            ogs_usage();
            return 2;
        }
        i++;
        if (ogs_parse_option(&st, &app, arg, val, &port, &seed) != 0) {
            fprintf(stderr, "ongoing-sim: bad option %s %s\n", arg, val);
            ogs_usage();
            return 2;
        }
    }
    st.owner_by_id = json_object();
    st.owner_by_user = json_object();
    ogs_owner_register(&st, ogs_owner_new(st.goods_owner0, st.user0, st.password0));
    if (seed)
        ogs_load_seed(&st, seed);
    sim_set_clock(ogs_clock, &st);
    rc = sim_serve(&app, (int)port);
    ogs_state_free(&st);
    return rc;
}
