/* The Ongoing pollers.
 *
 * `mosync poll ongoing-shipments` → ongoing.shipments: Ongoing orders shipped
 * or whose status changed since the cursor (shippedTimeFrom and
 * orderStatusChangedTimeFrom, each paged by orderIdFrom), one event per order
 * keyed {tenant}:{orderNumber}; the consumer decides what counts as shipped
 * (O5).  Cursor mosync:{T}:cursor:ongoing-shipments =
 *   {"ts": <UTC seconds of the last complete scan's start>,
 *    "seen": {"<orderId>": {"fp": "<hash of the order>", "at": <UTC seconds>}},
 *    "bad": {"<hash of a bad item>": <UTC seconds last listed>}}
 * Each scan re-reads a few minutes of overlap; `seen` keeps unchanged orders
 * from being emitted twice.  Without a cursor it starts
 * ONGOING_INITIAL_LOOKBACK_H hours back (O6).
 *
 * `mosync poll ongoing-stock` → ongoing.stock: articles whose stock changed
 * (stockInfoChangedFrom, paged by articleSystemIdFrom), one event per article
 * keyed {tenant}:{articleNumber}.  Ongoing refuses stockInfoChangedFrom older
 * than 24 hours, so without a cursor (O6) or with one older than that, the
 * scan walks every article instead.  Off unless STOCK_SYNC=on.  Cursor
 * mosync:{T}:cursor:ongoing-stock =
 *   {"ts": <UTC seconds of the last complete scan's start>,
 *    "fp": {"<articleNumber>": {"fp": "<hash>", "at": <UTC seconds last listed>}},
 *    "bad": {"<hash of a bad item>": <UTC seconds last listed>}}
 * An article is emitted only when what the stock consumer reads of it
 * (articleNumber, freeValues.freeDecimal2, inventoryInfo.sellableNumberOfItems:
 * consumers/map_stock.h) changed since it was last emitted; a fingerprint is
 * forgotten once its article has not been listed for two overlaps.
 *
 * Paging goes by id (orderIdFrom, articleSystemIdFrom).  An item without a
 * usable id is dead-lettered once (`bad` keeps its hash while it is listed);
 * a full page that does not move the id on (no usable ids, or ids the filter
 * should not have returned) ends the scan with an error that keeps the
 * cursor, instead of asking for the same page forever.
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
#define PO_HASH_HEX    16                /* hex digits kept of a fingerprint */

typedef struct pg_ctx {
    const mo_config *cfg;
    const char *name;
    char component[64];
    char cursor_key[96];
    char topic[256];
    rs_store *rs;
    og_client *og;
    kq_producer *kp;
    ls_lease *lease; /* the stream's lease, for this cycle */
    unsigned long cycles, failed_cycles, listed, emitted, dead_lettered, full_walks;
} pg_ctx;

static mo_err pg_dead_letter(pg_ctx *c, const json_t *item, const char *source, const char *why)
{
    mo_err err = dlq_send_item(c->kp, c->cfg, c->component, source, NULL, item, why);
    if (!err) {
        c->dead_lettered++;
        poll_count_dead_letter(c->cfg, c->component, MO_ERR_INVALID); /* dlq_send_item's class */
    }
    return err;
}

/* The Ongoing server's clock now (UTC seconds; our own before it answered). */
static long long pg_now(const pg_ctx *c)
{
    long long t = og_server_now(c->og);
    return t ? t : (long long)time(NULL);
}

/* The first PO_HASH_HEX hex digits of the SHA-256 of v's canonical JSON. */
static mo_err pg_hash(const json_t *v, char out[PO_HASH_HEX + 1])
{
    char hex[65];
    char *canon = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canon)
        return MO_ERR_NOMEM;
    sha256_hex(canon, strlen(canon), hex);
    free(canon);
    memcpy(out, hex, PO_HASH_HEX);
    out[PO_HASH_HEX] = '\0';
    return MO_OK;
}

/* Dead-letters a listed item without a usable id once: `bad` remembers its
 * hash (refreshed each time it is listed, so it is not sent again while it is). */
static mo_err pg_bad_item(pg_ctx *c, json_t *bad, const json_t *item, const char *source,
                          const char *why, long long now, char *errstr, size_t errstr_size)
{
    char hash[PO_HASH_HEX + 1];
    mo_err err = pg_hash(item, hash);
    if (err)
        return mo_seterr(err, errstr, errstr_size, "out of memory");
    if (!json_object_get(bad, hash) && (err = pg_dead_letter(c, item, source, why)))
        return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
    json_object_set_new(bad, hash, json_integer((json_int_t)now));
    return MO_OK;
}

/* Forgets entries (objects with "at", or bare times) older than `before`. */
static void pg_prune(json_t *map, long long before)
{
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(map, tmp, k, v)
    {
        json_t *at = json_is_object(v) ? json_object_get(v, "at") : v;
        if (json_integer_value(at) < before)
            json_object_del(map, k);
    }
}

/* Writes the cursor {"ts": ts, <name>: map, "bad": bad}; ts < 0 leaves "ts"
 * out (no complete scan yet: the next cycle starts as without a cursor). */
static mo_err pg_save(pg_ctx *c, long long ts, const char *name, json_t *map, json_t *bad,
                      char *errstr, size_t errstr_size)
{
    json_t *cur = json_pack("{s:O, s:O}", name, map, "bad", bad);
    if (!cur || (ts >= 0 && json_object_set_new(cur, "ts", json_integer((json_int_t)ts)))) {
        json_decref(cur);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    mo_err err = poll_cursor_save(c->rs, c->lease, c->cursor_key, cur, errstr, errstr_size);
    json_decref(cur);
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
    /* What Kafka has, also from a scan that failed: the topic holds it. */
    poll_count_produced(c->cfg, c->name, batch->delivered);
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
                             json_t *seen, json_t *bad, long long now, char *errstr,
                             size_t errstr_size)
{
    long long id_from = 0;
    for (;;) {
        long long page_from = id_from;
        char query[512];
        json_t *items;
        kq_batch batch;
        mo_err err = MO_OK;
        snprintf(query, sizeof(query), "%s=%s&orderIdFrom=%lld&maxOrdersToGet=%d", filter, from,
                 id_from, PO_PAGE);
        if ((err = poll_lease_check(c->lease, errstr, errstr_size)) ||
            (err = og_list(c->og, "orders", query, &items, errstr, errstr_size)))
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
                if ((err = pg_bad_item(c, bad, o, "GET orders",
                                       "order without orderId or orderNumber", now, errstr,
                                       errstr_size)))
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
        if (id_from == page_from)
            return mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                             "GET orders (%s): a full page of %zu orders without a usable orderId "
                             "after %lld; paging cannot go on",
                             filter, n, page_from);
    }
}

static mo_err pg_shipments_cycle(void *ctx, ls_lease *lease, char *errstr, size_t errstr_size)
{
    pg_ctx *c = ctx;
    c->lease = lease;
    json_t *cursor = NULL, *seen = NULL, *bad = NULL;
    long long now = pg_now(c), ts;
    char from[40], version[40];
    mo_err err;

    c->cycles++;
    if ((err = rs_get_json(c->rs, c->cursor_key, &cursor, errstr, errstr_size)))
        return err;
    json_t *cbad = json_object_get(cursor, "bad"), *cts = json_object_get(cursor, "ts");
    if (cursor &&
        ((cts && !json_is_integer(cts)) || !json_is_object(json_object_get(cursor, "seen")) ||
         (cbad && !json_is_object(cbad)))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    }
    long long saved_ts = cts ? json_integer_value(cts) : -1; /* -1: no complete scan yet */
    ts = cts ? saved_ts : now - (long long)c->cfg->ongoing_lookback_h * 3600; /* O6 */
    seen = cursor ? json_copy(json_object_get(cursor, "seen")) : json_object();
    bad = cbad ? json_copy(cbad) : json_object();
    json_decref(cursor);
    og_time(ts - PO_OVERLAP_S, from, sizeof(from));
    /* Ongoing wants the time URL-encoded: ':' as %3A. */
    char enc[64];
    hc_escape(from, enc, sizeof(enc));
    og_time(now, version, sizeof(version));

    if (!(err = pg_orders_scan(c, "shippedTimeFrom", enc, version, seen, bad, now, errstr,
                               errstr_size)) &&
        !(err = pg_orders_scan(c, "orderStatusChangedTimeFrom", enc, version, seen, bad, now,
                               errstr, errstr_size))) {
        /* Forget what fell out of the overlap window, then move the cursor. */
        pg_prune(seen, now - 2 * PO_OVERLAP_S);
        pg_prune(bad, now - 2 * PO_OVERLAP_S);
        saved_ts = now;
    }
    /* Also after a failed scan (a page it could not page past): keep what was
     * delivered and the bad items already dead-lettered, the time unmoved. */
    if (!err || json_object_size(seen) || json_object_size(bad)) {
        char why[256];
        mo_err serr = pg_save(c, saved_ts, "seen", seen, bad, why, sizeof(why));
        if (!err && serr)
            err = mo_seterr(serr, errstr, errstr_size, "%s", why);
    }
    json_decref(seen);
    json_decref(bad);
    return err;
}

/* ---- stock -------------------------------------------------------------- */

/* The fingerprint of what the stock consumer reads of an article
 * (consumers/map_stock.h): its number, the variant id in free decimal 2 and
 * the sellable number of items. */
static mo_err pg_stock_fp(const json_t *a, char out[PO_HASH_HEX + 1])
{
    json_t *need = json_pack(
        "{s:O?, s:O?, s:O?}", "articleNumber", json_object_get(a, "articleNumber"), "freeDecimal2",
        json_object_get(json_object_get(a, "freeValues"), "freeDecimal2"), "sellable",
        json_object_get(json_object_get(a, "inventoryInfo"), "sellableNumberOfItems"));
    if (!need)
        return MO_ERR_NOMEM;
    mo_err err = pg_hash(need, out);
    json_decref(need);
    return err;
}

static mo_err pg_stock_cycle(void *ctx, ls_lease *lease, char *errstr, size_t errstr_size)
{
    pg_ctx *c = ctx;
    c->lease = lease;
    json_t *cursor = NULL, *fps = NULL, *bad = NULL;
    long long now = pg_now(c), id_from = 0;
    char version[40], filter[128] = "";
    mo_err err;

    c->cycles++;
    if ((err = rs_get_json(c->rs, c->cursor_key, &cursor, errstr, errstr_size)))
        return err;
    json_t *cfp = json_object_get(cursor, "fp"), *cbad = json_object_get(cursor, "bad");
    json_t *cts = json_object_get(cursor, "ts");
    if (cursor && ((cts && !json_is_integer(cts)) || (cfp && !json_is_object(cfp)) ||
                   (cbad && !json_is_object(cbad)))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    }
    int have_cursor = cts != NULL; /* a complete scan's time */
    long long ts = have_cursor ? json_integer_value(cts) : -1;
    fps = cfp ? json_copy(cfp) : json_object();
    bad = cbad ? json_copy(cbad) : json_object();
    json_decref(cursor);
    if (!fps || !bad) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
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
        long long page_from = id_from;
        snprintf(query, sizeof(query), "%sarticleSystemIdFrom=%lld&maxArticlesToGet=%d", filter,
                 id_from, PO_PAGE);
        if ((err = poll_lease_check(c->lease, errstr, errstr_size)) ||
            (err = og_list(c->og, "articles", query, &items, errstr, errstr_size)))
            goto out;
        kq_batch_begin(&batch);
        json_t *page_fp = json_object();
        size_t i;
        json_t *a;
        json_array_foreach(items, i, a)
        {
            json_t *jid = json_object_get(a, "articleSystemId");
            const char *number = json_string_value(json_object_get(a, "articleNumber"));
            char fp[PO_HASH_HEX + 1];
            c->listed++;
            if (!json_is_integer(jid) || !number || !*number) {
                if ((err = pg_bad_item(c, bad, a, "GET articles",
                                       "article without articleSystemId or articleNumber", now,
                                       errstr, errstr_size)))
                    break;
                continue;
            }
            if (json_integer_value(jid) >= id_from)
                id_from = json_integer_value(jid) + 1;
            if ((err = pg_stock_fp(a, fp))) {
                mo_seterr(err, errstr, errstr_size, "out of memory");
                break;
            }
            json_t *entry = json_object_get(fps, number);
            const char *prev = json_string_value(json_object_get(entry, "fp"));
            if ((prev && !strcmp(prev, fp)) || json_object_get(page_fp, number)) {
                /* Unchanged for the consumer: listed again, not emitted again. */
                json_object_set_new(entry, "at", json_integer((json_int_t)now));
                continue;
            }
            if ((err = pg_emit(c, &batch, "ongoing.article", number, version, json_incref(a),
                               errstr, errstr_size)))
                break;
            json_object_set_new(page_fp, number,
                                json_pack("{s:s, s:I}", "fp", fp, "at", (json_int_t)now));
        }
        size_t n = json_array_size(items);
        json_decref(items);
        err = pg_wait(c, &batch, err, errstr, errstr_size);
        if (!err) {
            mo_crash_point("poll-after-produce");
            json_object_update(fps, page_fp);
        }
        json_decref(page_fp);
        if (err)
            goto out;
        if (n < PO_PAGE)
            break;
        if (id_from == page_from) {
            err = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                            "GET articles: a full page of %zu articles without a usable "
                            "articleSystemId after %lld; paging cannot go on",
                            n, page_from);
            goto out;
        }
    }
    /* Fingerprints of articles no longer listed are forgotten: Redis does
     * not grow with the catalogue, only with what changed lately. */
    pg_prune(fps, now - 2 * PO_OVERLAP_S);
    pg_prune(bad, now - 2 * PO_OVERLAP_S);
    ts = now;
out:
    /* Also after a failed scan: keep the fingerprints of what was delivered
     * and the bad items already dead-lettered, the time unmoved. */
    if (ts >= 0 || json_object_size(fps) || json_object_size(bad)) {
        char why[256];
        mo_err serr = pg_save(c, ts, "fp", fps, bad, why, sizeof(why));
        if (!err && serr)
            err = mo_seterr(serr, errstr, errstr_size, "%s", why);
    }
    json_decref(fps);
    json_decref(bad);
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
