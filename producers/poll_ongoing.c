/* The Ongoing sources of the poll engine (see poll.h and poll.c).
 *
 * ongoing-shipments → ongoing.shipments: Ongoing orders whose status changed
 * in the window (one list: orderStatusChangedTimeFrom), one event per order
 * keyed {tenant}:{orderNumber}; the consumer decides what counts as shipped
 * (O5).  Shipping an order sets its status (450 Sent, with shippedTime), so
 * an order shipped in the window is an order whose status changed in it, and
 * so is one that counts as shipped by its status alone (O5: 450 to 999
 * without shippedTime), which a shippedTimeFrom list would miss.  A second
 * list by shippedTimeFrom, as read before, therefore added no order and cost
 * every idle cycle a second request (issue 15).  What this rests on (every
 * order shipped in the last day is also listed by orderStatusChangedTimeFrom)
 * is what `mosync doctor` checks as O5.
 * Without a cursor it starts ONGOING_INITIAL_LOOKBACK_H hours back (O6).
 *
 * ongoing-stock → ongoing.stock: articles whose stock changed
 * (stockInfoChangedFrom), one event per article keyed
 * {tenant}:{articleNumber}.  Ongoing refuses stockInfoChangedFrom older than
 * 24 hours, so without a cursor (O6) or with one older than that the scan
 * walks every article.  An article is emitted only when what the stock
 * consumer reads of it (articleNumber, freeValues.freeDecimal2,
 * inventoryInfo.sellableNumberOfItems: consumers/map_stock.h) changed: that
 * is its fingerprint in the seen map.  Off unless STOCK_SYNC=on.
 *
 * Both page by id (orderIdFrom, articleSystemIdFrom): an item cannot be
 * skipped by others moving, so a pass needs no confirmation.  A full page
 * that does not move the id on (no usable ids, or ids the filter should not
 * have returned) ends the scan with an error instead of asking for the same
 * page forever.  Ongoing's lists carry no change time of the item, so an
 * event's version is when it was observed on Ongoing's clock (never going
 * backwards: poll.c). */
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "ongoing.h"
#include "poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_OVERLAP_S   300               /* re-read 5 minutes: changes stamped while a scan ran */
#define PG_PAGE        200               /* maxOrdersToGet / maxArticlesToGet */
#define PG_STOCK_MAX_S (24 * 3600 - 600) /* stockInfoChangedFrom must stay within 24 h */

typedef struct pg_state {
    const mo_config *cfg;
    og_client *og;
    int stock; /* 0: shipments, 1: stock */
    unsigned long full_walks;
} pg_state;

static long long pg_server_now(void *state)
{
    return og_server_now(((pg_state *)state)->og);
}

static struct hc_client *pg_http(void *state)
{
    return og_http(((pg_state *)state)->og);
}

/* Ongoing's clock: the cheapest request there is. */
static mo_err pg_probe_clock(void *state, char *errstr, size_t errstr_size)
{
    pg_state *s = state;
    json_t *doc = NULL;
    long status;
    mo_err err = og_get(s->og, "orders/statuses", &doc, &status, errstr, errstr_size);
    json_decref(doc);
    return err;
}

static long pg_lookback_s(void *state)
{
    pg_state *s = state;
    return s->stock ? -1 : (long)s->cfg->ongoing_lookback_h * 3600; /* O6 */
}

/* One page of a list paged by id: GET <path>?<filter>&<idparam>=pos->next&<max>=PG_PAGE.
 * id_member names the id inside each item (orderInfo.orderId, articleSystemId). */
static mo_err pg_page(pg_state *s, const char *path, const char *filter, const char *idparam,
                      const char *maxparam, pe_pos *pos, json_t **items, int *more, char *errstr,
                      size_t errstr_size)
{
    char query[512];
    long long from_id = pos->next, next = pos->next;
    snprintf(query, sizeof(query), "%s%s%s=%lld&%s=%d", filter, *filter ? "&" : "", idparam,
             from_id, maxparam, PG_PAGE);
    mo_err err = og_list(s->og, path, query, items, errstr, errstr_size);
    if (err)
        return err;
    size_t i, n = json_array_size(*items);
    json_t *it;
    json_array_foreach(*items, i, it)
    {
        json_t *jid = s->stock ? json_object_get(it, "articleSystemId")
                               : json_object_get(json_object_get(it, "orderInfo"), "orderId");
        if (json_is_integer(jid) && json_integer_value(jid) >= next)
            next = (long long)json_integer_value(jid) + 1;
    }
    *more = n >= PG_PAGE;
    if (*more && next == from_id) {
        /* Its items are still handled (bad ones dead-lettered); then the
         * scan ends with an error instead of asking for this page forever. */
        *more = 0;
        pos->stuck = 1;
    }
    pos->next = next;
    return MO_OK;
}

static mo_err pg_list_page(void *state, int which, long long from, long long now, pe_pos *pos,
                           json_t **items, int *more, char *errstr, size_t errstr_size)
{
    pg_state *s = state;
    char t[40], enc[64], filter[128] = "";
    (void)which;
    if (!s->stock) {
        /* Ongoing wants the time URL-encoded: ':' as %3A. */
        og_time(from, t, sizeof(t));
        hc_escape(t, enc, sizeof(enc));
        snprintf(filter, sizeof(filter), "orderStatusChangedTimeFrom=%s", enc);
        return pg_page(s, "orders", filter, "orderIdFrom", "maxOrdersToGet", pos, items, more,
                       errstr, errstr_size);
    }
    if (from >= 0 && now - from < PG_STOCK_MAX_S) {
        og_time(from, t, sizeof(t));
        hc_escape(t, enc, sizeof(enc));
        snprintf(filter, sizeof(filter), "stockInfoChangedFrom=%s", enc);
    } else if (!pos->next) {
        s->full_walks++;
        lg_info("poll.ongoing-stock", s->cfg->tenant, "%s; walking every article",
                from >= 0 ? "window older than 24 hours" : "no cursor yet");
    }
    return pg_page(s, "articles", filter, "articleSystemIdFrom", "maxArticlesToGet", pos, items,
                   more, errstr, errstr_size);
}

/* The fingerprint of what the stock consumer reads of an article
 * (consumers/map_stock.h): its number, the variant id in free decimal 2 and
 * the sellable number of items. */
static mo_err pg_stock_fp(const json_t *a, char out[PE_HASH_HEX + 1])
{
    json_t *need = json_pack(
        "{s:O?, s:O?, s:O?}", "articleNumber", json_object_get(a, "articleNumber"), "freeDecimal2",
        json_object_get(json_object_get(a, "freeValues"), "freeDecimal2"), "sellable",
        json_object_get(json_object_get(a, "inventoryInfo"), "sellableNumberOfItems"));
    if (!need)
        return MO_ERR_NOMEM;
    mo_err err = pe_fingerprint(need, out);
    json_decref(need);
    return err;
}

static mo_err pg_describe(void *state, const json_t *item, long long obs, pe_item *out, char *why,
                          size_t why_size)
{
    pg_state *s = state;
    (void)obs;
    memset(out, 0, sizeof(*out));
    out->updated = PE_NO_TIME;
    const char *number;
    if (s->stock) {
        number = json_string_value(json_object_get(item, "articleNumber"));
        if (!json_is_integer(json_object_get(item, "articleSystemId")) || !number || !*number)
            return mo_seterr(MO_ERR_INVALID, why, why_size,
                             "article without articleSystemId or articleNumber");
    } else {
        json_t *info = json_object_get(item, "orderInfo");
        number = json_string_value(json_object_get(info, "orderNumber"));
        if (!json_is_integer(json_object_get(info, "orderId")) || !number || !*number)
            return mo_seterr(MO_ERR_INVALID, why, why_size, "order without orderId or orderNumber");
    }
    if (strlen(number) >= sizeof(out->id))
        return mo_seterr(MO_ERR_INVALID, why, why_size, "number of %zu characters is too long",
                         strlen(number));
    snprintf(out->id, sizeof(out->id), "%s", number);
    mo_err err = s->stock ? pg_stock_fp(item, out->hash) : pe_fingerprint(item, out->hash);
    return err ? mo_seterr(err, why, why_size, "out of memory") : MO_OK;
}

/* The event's data is the listed item itself. */
static mo_err pg_snapshot(void *state, const char *id, json_t *item, json_t **snapshot,
                          char *errstr, size_t errstr_size)
{
    (void)state;
    (void)id;
    (void)errstr;
    (void)errstr_size;
    *snapshot = json_incref(item);
    return MO_OK;
}

static mo_err pg_fetch_one(void *state, const char *id, json_t **item, char *errstr,
                           size_t errstr_size)
{
    pg_state *s = state;
    return s->stock ? og_article_get(s->og, id, item, errstr, errstr_size)
                    : og_order_get(s->og, id, item, errstr, errstr_size);
}

static long pg_last_status(void *state)
{
    (void)state;
    return 0; /* a snapshot is the listed item: it never fails on a request */
}

static int pg_up_since(void *state, long long since_ms)
{
    return og_up_since(((pg_state *)state)->og, since_ms);
}

static unsigned long pg_requests(void *state)
{
    return og_requests(((pg_state *)state)->og);
}

static void pg_summary(void *state, json_t *sum)
{
    pg_state *s = state;
    if (s->stock)
        json_object_set_new(sum, "full_walks", json_integer((json_int_t)s->full_walks));
}

static void pg_close(void *state)
{
    pg_state *s = state;
    if (!s)
        return;
    og_free(s->og);
    free(s);
}

mo_err pg_source_open(const mo_config *cfg, const char *stream, rs_store *rs, pe_source *src,
                      char *errstr, size_t errstr_size)
{
    int stock = !strcmp(stream, "ongoing-stock");
    if (!stock && strcmp(stream, "ongoing-shipments"))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "unknown stream '%s'", stream);
    pg_state *s = calloc(1, sizeof(*s));
    if (s)
        s->og = og_new(cfg, rs, 6);
    if (!s || !s->og) {
        pg_close(s);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    s->cfg = cfg;
    s->stock = stock;
    *src = (pe_source){.stream = stock ? "ongoing-stock" : "ongoing-shipments",
                       .flow = stock ? "stock" : "deliveries",
                       .noun = stock ? "articles" : "orders",
                       .event_type = stock ? "ongoing.article" : "ongoing.order",
                       .topic_base = stock ? KQ_TOPIC_STOCK : KQ_TOPIC_SHIPMENTS,
                       .route = stock ? "GET articles" : "GET orders",
                       .api = "ongoing",
                       .overlap_s = PG_OVERLAP_S,
                       .stable_paging = 1,
                       .nlists = 1,
                       .state = s,
                       .server_now = pg_server_now,
                       .probe_clock = pg_probe_clock,
                       .http = pg_http,
                       .lookback_s = pg_lookback_s,
                       .list_page = pg_list_page,
                       .describe = pg_describe,
                       .snapshot = pg_snapshot,
                       .fetch_one = pg_fetch_one,
                       .last_status = pg_last_status,
                       .up_since = pg_up_since,
                       .requests = pg_requests,
                       .summary = pg_summary,
                       .close = pg_close};
    return MO_OK;
}
