/* The Ongoing pollers.
 *
 * `mosync poll ongoing-shipments` → ongoing.shipments: Ongoing orders shipped
 * or whose status changed since the cursor (shippedTimeFrom and
 * orderStatusChangedTimeFrom, each paged by orderIdFrom), one event per order
 * keyed {tenant}:{orderNumber}; the consumer decides what counts as shipped
 * (O5).  Cursor mosync:{T}:cursor:ongoing-shipments =
 *   {"ts": <UTC seconds of the last complete scan's start>,
 *    "seen": {"<orderId>": {"fp": "<hash of the order>", "at": <UTC seconds>}}}
 * Each scan re-reads a few minutes of overlap; `seen` keeps unchanged orders
 * from being emitted twice.  Without a cursor it starts
 * ONGOING_INITIAL_LOOKBACK_H hours back (O6).
 *
 * `mosync poll ongoing-stock` → ongoing.stock: articles whose stock changed
 * (stockInfoChangedFrom, paged by articleSystemIdFrom), one event per article
 * keyed {tenant}:{articleNumber}.  Ongoing refuses stockInfoChangedFrom older
 * than 24 hours, so without a cursor (O6) or with one older than that, the
 * scan walks every article instead.  Off unless STOCK_SYNC=on.
 *
 * Both advance the cursor only after every event of the scan was delivered;
 * the event's source version is the scan's start time, so a replayed older
 * event never overwrites a newer value (the consumers' version guard). */
#include "dlq.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "ongoing.h"
#include "poll.h"
#include "sha256.h"
#include "stop.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PO_OVERLAP_S   300 /* re-read 5 minutes: Ongoing's clock and ours may differ */
#define PO_PAGE        200 /* maxOrdersToGet / maxArticlesToGet */
#define PO_STOCK_MAX_S (24 * 3600 - 600) /* stockInfoChangedFrom must stay within 24 h */

typedef struct pg_ctx {
    const mo_config *cfg;
    const char *name;
    char component[64];
    char cursor_key[96];
    char topic[256];
    rs_store *rs;
    og_client *og;
    kq_producer *kp;
    unsigned long cycles, failed_cycles, listed, emitted, dead_lettered, full_walks;
} pg_ctx;

static mo_err pg_dead_letter(pg_ctx *c, const json_t *item, const char *source, const char *why)
{
    mo_err err = dlq_send_item(c->kp, c->cfg, c->component, source, NULL, item, why);
    if (!err)
        c->dead_lettered++;
    return err;
}

/* Produces one event; entity is the key's entity id. */
static mo_err pg_emit(pg_ctx *c, kq_batch *batch, const char *type, const char *entity,
                      const char *version, json_t *data, char *errstr, size_t errstr_size)
{
    char key[512];
    json_t *ev = ev_new(type, c->cfg->tenant, entity, version, data);
    char *bytes = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!bytes)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mo_err err =
        kq_produce(c->kp, batch, c->topic, ev_key(c->cfg->tenant, entity, key, sizeof(key)), bytes,
                   strlen(bytes), NULL, errstr, errstr_size);
    free(bytes);
    return err;
}

static mo_err pg_wait(pg_ctx *c, kq_batch *batch, mo_err err, char *errstr, size_t errstr_size)
{
    char why[256];
    mo_err werr = kq_batch_wait(c->kp, batch, 60000, why, sizeof(why));
    if (!err && werr) {
        snprintf(errstr, errstr_size, "%s", why);
        return werr;
    }
    if (!err)
        c->emitted += (unsigned long)batch->delivered;
    return err;
}

/* ---- shipments ---------------------------------------------------------- */

/* One scan of GET /orders with one time filter, every page. */
static mo_err pg_orders_scan(pg_ctx *c, const char *filter, const char *from, const char *version,
                             json_t *seen, long long now, char *errstr, size_t errstr_size)
{
    long long id_from = 0;
    for (;;) {
        char query[512];
        json_t *items;
        kq_batch batch;
        mo_err err = MO_OK;
        snprintf(query, sizeof(query), "%s=%s&orderIdFrom=%lld&maxOrdersToGet=%d", filter, from,
                 id_from, PO_PAGE);
        if ((err = og_list(c->og, "orders", query, &items, errstr, errstr_size)))
            return err;
        kq_batch_begin(&batch);
        json_t *page_seen = json_object();
        size_t i;
        json_t *o;
        json_array_foreach(items, i, o)
        {
            json_t *info = json_object_get(o, "orderInfo");
            json_t *jid = json_object_get(info, "orderId");
            const char *number = json_string_value(json_object_get(info, "orderNumber"));
            c->listed++;
            if (!json_is_integer(jid) || !number || !*number) {
                if ((err = pg_dead_letter(c, o, "GET orders",
                                          "order without orderId or orderNumber")))
                    break;
                continue;
            }
            long long oid = json_integer_value(jid);
            if (oid >= id_from)
                id_from = oid + 1;
            char sid[32], fp[65];
            char *canon = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            if (!canon) {
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
                break;
            }
            sha256_hex(canon, strlen(canon), fp);
            free(canon);
            snprintf(sid, sizeof(sid), "%lld", oid);
            const char *prev = json_string_value(json_object_get(json_object_get(seen, sid), "fp"));
            if ((prev && !strcmp(prev, fp)) || json_object_get(page_seen, sid))
                continue;
            if ((err = pg_emit(c, &batch, "ongoing.order", number, version, json_incref(o), errstr,
                               errstr_size)))
                break;
            json_object_set_new(page_seen, sid,
                                json_pack("{s:s, s:I}", "fp", fp, "at", (json_int_t)now));
        }
        size_t n = json_array_size(items);
        json_decref(items);
        err = pg_wait(c, &batch, err, errstr, errstr_size);
        if (!err) {
            mo_crash_point("poll-after-produce");
            json_object_update(seen, page_seen);
        }
        json_decref(page_seen);
        if (err)
            return err;
        if (n < PO_PAGE)
            return MO_OK;
    }
}

static mo_err pg_shipments_cycle(void *ctx, char *errstr, size_t errstr_size)
{
    pg_ctx *c = ctx;
    json_t *cursor = NULL, *seen = NULL;
    long long now = (long long)time(NULL), ts;
    char from[40], version[40];
    mo_err err;

    c->cycles++;
    if ((err = rs_get_json(c->rs, c->cursor_key, &cursor, errstr, errstr_size)))
        return err;
    if (cursor && (!json_is_integer(json_object_get(cursor, "ts")) ||
                   !json_is_object(json_object_get(cursor, "seen")))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    }
    ts = cursor ? json_integer_value(json_object_get(cursor, "ts"))
                : now - (long long)c->cfg->ongoing_lookback_h * 3600; /* O6 */
    seen = cursor ? json_copy(json_object_get(cursor, "seen")) : json_object();
    json_decref(cursor);
    og_time(ts - PO_OVERLAP_S, from, sizeof(from));
    /* Ongoing wants the time URL-encoded: ':' as %3A. */
    char enc[64];
    hc_escape(from, enc, sizeof(enc));
    og_time(now, version, sizeof(version));

    if (!(err =
              pg_orders_scan(c, "shippedTimeFrom", enc, version, seen, now, errstr, errstr_size)) &&
        !(err = pg_orders_scan(c, "orderStatusChangedTimeFrom", enc, version, seen, now, errstr,
                               errstr_size))) {
        /* Forget what fell out of the overlap window, then move the cursor. */
        const char *k;
        json_t *v, *tmp;
        json_object_foreach_safe(seen, tmp, k, v)
        {
            if (json_integer_value(json_object_get(v, "at")) < now - 2 * PO_OVERLAP_S)
                json_object_del(seen, k);
        }
        json_t *cur = json_pack("{s:I, s:O}", "ts", (json_int_t)now, "seen", seen);
        err = rs_set_json(c->rs, c->cursor_key, cur, 0, errstr, errstr_size);
        json_decref(cur);
    }
    json_decref(seen);
    return err;
}

/* ---- stock -------------------------------------------------------------- */

static mo_err pg_stock_cycle(void *ctx, char *errstr, size_t errstr_size)
{
    pg_ctx *c = ctx;
    json_t *cursor = NULL;
    long long now = (long long)time(NULL), id_from = 0;
    char version[40], filter[128] = "";
    mo_err err;

    c->cycles++;
    if ((err = rs_get_json(c->rs, c->cursor_key, &cursor, errstr, errstr_size)))
        return err;
    if (cursor && !json_is_integer(json_object_get(cursor, "ts"))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    }
    int have_cursor = cursor != NULL;
    long long ts = have_cursor ? json_integer_value(json_object_get(cursor, "ts")) : 0;
    json_decref(cursor);
    if (have_cursor && now - (ts - PO_OVERLAP_S) < PO_STOCK_MAX_S) {
        char from[40], enc[64];
        og_time(ts - PO_OVERLAP_S, from, sizeof(from));
        hc_escape(from, enc, sizeof(enc));
        snprintf(filter, sizeof(filter), "stockInfoChangedFrom=%s&", enc);
    } else {
        c->full_walks++;
        lg_info(c->component, c->cfg->tenant, "%s; walking every article",
                have_cursor ? "cursor older than 24 hours" : "no cursor yet");
    }
    og_time(now, version, sizeof(version));

    for (;;) {
        char query[512];
        json_t *items;
        kq_batch batch;
        snprintf(query, sizeof(query), "%sarticleSystemIdFrom=%lld&maxArticlesToGet=%d", filter,
                 id_from, PO_PAGE);
        if ((err = og_list(c->og, "articles", query, &items, errstr, errstr_size)))
            return err;
        kq_batch_begin(&batch);
        size_t i;
        json_t *a;
        json_array_foreach(items, i, a)
        {
            json_t *jid = json_object_get(a, "articleSystemId");
            const char *number = json_string_value(json_object_get(a, "articleNumber"));
            c->listed++;
            if (!json_is_integer(jid) || !number || !*number) {
                if ((err = pg_dead_letter(c, a, "GET articles",
                                          "article without articleSystemId or articleNumber")))
                    break;
                continue;
            }
            if (json_integer_value(jid) >= id_from)
                id_from = json_integer_value(jid) + 1;
            if ((err = pg_emit(c, &batch, "ongoing.article", number, version, json_incref(a),
                               errstr, errstr_size)))
                break;
        }
        size_t n = json_array_size(items);
        json_decref(items);
        if ((err = pg_wait(c, &batch, err, errstr, errstr_size)))
            return err;
        mo_crash_point("poll-after-produce");
        if (n < PO_PAGE)
            break;
    }
    json_t *cur = json_pack("{s:I}", "ts", (json_int_t)now);
    err = rs_set_json(c->rs, c->cursor_key, cur, 0, errstr, errstr_size);
    json_decref(cur);
    return err;
}

/* ---- the loop ----------------------------------------------------------- */

static int pg_run(const mo_config *cfg, const char *name, const char *topic_base, poll_cycle_fn fn,
                  const poll_opts *opts)
{
    char errstr[512], client_id[96];
    pg_ctx c = {.cfg = cfg, .name = name};
    int rc = 0;

    snprintf(c.component, sizeof(c.component), "poll.%s", name);
    snprintf(c.cursor_key, sizeof(c.cursor_key), "cursor:%s", name);
    snprintf(client_id, sizeof(client_id), "mosync-poll-%s", name);
    cfg_topic(cfg, topic_base, c.topic, sizeof(c.topic));
    c.rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!c.rs) {
        lg_error(c.component, cfg->tenant, "%s", errstr);
        return 2;
    }
    c.kp = kq_producer_new(cfg, client_id, errstr, sizeof(errstr));
    c.og = og_new(cfg, c.rs, 6);
    if (!c.kp || !c.og) {
        lg_error(c.component, cfg->tenant, "cannot start: %s", c.kp ? "out of memory" : errstr);
        rc = 1;
        goto out;
    }
    lg_info(c.component, cfg->tenant, "polling Ongoing goods owner %ld every %d s",
            cfg->ongoing_goods_owner, cfg_poll_interval(cfg, name));
    rc = poll_loop(cfg, name, opts, fn, &c, &c.failed_cycles);
    printf("{\"command\":\"poll %s\",\"cycles\":%lu,\"failed_cycles\":%lu,\"listed\":%lu,"
           "\"emitted\":%lu,\"dead_lettered\":%lu,\"full_walks\":%lu,\"ongoing_requests\":%lu}\n",
           name, c.cycles, c.failed_cycles, c.listed, c.emitted, c.dead_lettered, c.full_walks,
           og_requests(c.og));
    fflush(stdout);
out:
    og_free(c.og);
    kq_producer_free(c.kp);
    rs_close(c.rs);
    return rc;
}

int poll_ongoing_shipments(const mo_config *cfg, const poll_opts *opts)
{
    return pg_run(cfg, "ongoing-shipments", KQ_TOPIC_SHIPMENTS, pg_shipments_cycle, opts);
}

int poll_ongoing_stock(const mo_config *cfg, const poll_opts *opts)
{
    if (!cfg->stock_sync) {
        lg_info("poll.ongoing-stock", cfg->tenant,
                "stock sync is off (STOCK_SYNC is not 'on'); not polling Ongoing stock");
        return 0;
    }
    return pg_run(cfg, "ongoing-stock", KQ_TOPIC_STOCK, pg_stock_cycle, opts);
}
