/* `mosync poll mystore-orders`: Mystore orders changed since the cursor →
 * mystore.orders, one snapshot per order (the order with its lines, line
 * options, totals and status, as Mystore returned them).
 *
 * The cursor (Redis mosync:{T}:cursor:mystore-orders) is
 *   {"ts": "<newest updated_at seen>", "seen": {"<order id>": "<updated_at>"}}
 * Each cycle asks for orders updated since ts minus an overlap (M1: shop-local
 * timestamps repeat in the autumn DST fold) and pages through everything the
 * filter returns (M2: no order is guaranteed).  `seen` remembers what the
 * overlap window already emitted, so the overlap costs one list request, not
 * a re-fetch of every order in it. */
#include "poll.h"
#include "dlq.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "mystore.h"
#include "stop.h"
#include "store.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT  "poll.mystore-orders"
#define CURSOR_KEY "cursor:mystore-orders"
/* M1: how far back each cycle re-reads.  The DST fold repeats one hour; two
 * hours also absorb clock skew between Mystore and us. */
#define OVERLAP_S (2 * 3600)

typedef struct po_ctx {
    const mo_config *cfg;
    rs_store *rs;
    ms_client *ms;
    kq_producer *kp;
    char topic[256];
    json_t *statuses; /* order-status resources by id, refreshed each cycle */
    unsigned long seen, emitted, dead_lettered, cycles, failed_cycles;
} po_ctx;

/* Mystore ids are used in URLs: accept only plain tokens. */
static int po_id_ok(const char *id)
{
    if (!id || !*id || strlen(id) > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

static mo_err po_dead_letter(po_ctx *c, const json_t *item, const char *route, mo_err cls,
                             const char *why)
{
    char errstr[256];
    char *bytes = json_dumps(item, JSON_COMPACT);
    const char *id = json_string_value(json_object_get(item, "id"));
    dlq_ctx d = {.component = COMPONENT,
                 .source = route,
                 .partition = -1,
                 .offset = -1,
                 .key = id,
                 .error_class = cls,
                 .error = why,
                 .attempts = 1};
    mo_err err = dlq_send(c->kp, c->cfg, &d, bytes ? bytes : "", bytes ? strlen(bytes) : 0, errstr,
                          sizeof(errstr));
    free(bytes);
    if (err)
        lg_error(COMPONENT, c->cfg->tenant, "dead letter not delivered: %s", errstr);
    else
        c->dead_lettered++;
    return err;
}

/* Refreshes the order-status list (one request per cycle; M8 names live there). */
static mo_err po_load_statuses(po_ctx *c, char *errstr, size_t errstr_size)
{
    json_t *list;
    mo_err err = ms_list_all(c->ms, "order-status", &list, errstr, errstr_size);
    if (err)
        return err;
    json_decref(c->statuses);
    c->statuses = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (id)
            json_object_set(c->statuses, id, s);
    }
    json_decref(list);
    return MO_OK;
}

/* Fetches what an order snapshot needs besides the order itself (M6, M7, M11).
 * *snapshot is a new reference.  MO_ERR_INVALID when Mystore's answer makes
 * no sense for this order (the order is then dead-lettered). */
static mo_err po_snapshot(po_ctx *c, const char *id, json_t *order, json_t **snapshot, char *errstr,
                          size_t errstr_size)
{
    char path[256];
    json_t *lines = NULL, *totals = NULL, *out_lines = json_array();
    mo_err err;

    *snapshot = NULL;
    snprintf(path, sizeof(path), "orders/%s/order-products", id);
    if ((err = ms_list_all(c->ms, path, &lines, errstr, errstr_size)))
        goto out;
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        const char *lid = json_string_value(json_object_get(line, "id"));
        json_t *options;
        if (!po_id_ok(lid)) {
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                            "order %s: an order line has no usable id", id);
            goto out;
        }
        snprintf(path, sizeof(path), "order-products/%s/order-product-attributes", lid);
        if ((err = ms_list_all(c->ms, path, &options, errstr, errstr_size)))
            goto out;
        json_array_append_new(out_lines, json_pack("{s:O, s:o}", "line", line, "options", options));
    }
    snprintf(path, sizeof(path), "orders/%s/order-totals", id);
    if ((err = ms_list_all(c->ms, path, &totals, errstr, errstr_size)))
        goto out;

    const char *sid = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(order, "relationships"), "order_status"),
                        "data"),
        "id"));
    json_t *status = sid ? json_object_get(c->statuses, sid) : NULL;
    *snapshot = json_pack("{s:O, s:O, s:O, s:O}", "order", order, "status",
                          status ? status : json_null(), "lines", out_lines, "totals", totals);
    if (!*snapshot)
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
out:
    json_decref(lines);
    json_decref(totals);
    json_decref(out_lines);
    return err;
}

static mo_err po_save_cursor(po_ctx *c, const char *ts, json_t *seen, char *errstr,
                             size_t errstr_size)
{
    json_t *cur = json_pack("{s:s, s:O}", "ts", ts, "seen", seen);
    mo_err err = rs_set_json(c->rs, CURSOR_KEY, cur, 0, errstr, errstr_size);
    json_decref(cur);
    return err;
}

/* One poll cycle.  Returns MO_OK, or an error after which the cursor has not
 * moved past anything unacknowledged (the next cycle starts from it). */
static mo_err po_cycle(po_ctx *c, char *errstr, size_t errstr_size)
{
    json_t *cursor = NULL, *seen = NULL;
    char ts[TZ_LOCAL_SIZE], from[TZ_LOCAL_SIZE], max_ts[TZ_LOCAL_SIZE], query[512];
    mo_err err;

    c->cycles++;
    if ((err = rs_get_json(c->rs, CURSOR_KEY, &cursor, errstr, errstr_size)))
        return err;
    const char *cts = json_string_value(json_object_get(cursor, "ts"));
    if (cursor &&
        (!cts || tz_parse_local(cts, &(struct tm){0}) ||
         (json_object_get(cursor, "seen") && !json_is_object(json_object_get(cursor, "seen"))))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", CURSOR_KEY);
    }
    if (cts) {
        snprintf(ts, sizeof(ts), "%s", cts);
    } else { /* M14: no cursor yet */
        if ((err = tz_utc_to_local(c->cfg->mystore_timezone,
                                   time(NULL) - (time_t)c->cfg->mystore_lookback_h * 3600, ts))) {
            json_decref(cursor);
            return mo_seterr(err, errstr, errstr_size, "cannot compute the start time");
        }
        lg_info(COMPONENT, c->cfg->tenant, "no cursor yet; starting %d hours back at %s",
                c->cfg->mystore_lookback_h, ts);
    }
    seen = json_object_get(cursor, "seen") ? json_copy(json_object_get(cursor, "seen"))
                                           : json_object();
    json_decref(cursor);
    tz_local_add(ts, -OVERLAP_S, from);
    snprintf(max_ts, sizeof(max_ts), "%s", ts);

    if ((err = po_load_statuses(c, errstr, errstr_size)) ||
        (err = ms_filter_updated_since(from, query, sizeof(query))))
        goto out;

    for (int page = 1;; page++) {
        json_t *items;
        int has_next;
        kq_batch batch;
        if ((err = ms_list_page(c->ms, "orders", query, page, &items, &has_next, errstr,
                                errstr_size)))
            goto out;
        json_t *page_seen = json_object();
        kq_batch_begin(&batch);
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            const char *id = json_string_value(json_object_get(item, "id"));
            const char *upd = json_string_value(
                json_object_get(json_object_get(item, "attributes"), "updated_at"));
            c->seen++;
            if (!po_id_ok(id) || !upd || tz_parse_local(upd, &(struct tm){0})) {
                if ((err = po_dead_letter(c, item, "GET orders", MO_ERR_INVALID,
                                          "order without a usable id or updated_at")))
                    break;
                continue;
            }
            const char *prev = json_string_value(json_object_get(seen, id));
            if (prev && !strcmp(prev, upd))
                continue; /* emitted by an earlier cycle (overlap window) */

            json_t *snapshot;
            char why[512];
            err = po_snapshot(c, id, item, &snapshot, why, sizeof(why));
            if (err == MO_ERR_INVALID) {
                if ((err = po_dead_letter(c, item, "GET orders", MO_ERR_INVALID, why)))
                    break;
                json_object_set_new(page_seen, id, json_string(upd));
                continue;
            }
            if (err) {
                snprintf(errstr, errstr_size, "%s", why);
                break;
            }
            json_t *ev = ev_new("mystore.order", c->cfg->tenant, id, upd, snapshot);
            char *bytes = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
            char key[256];
            json_decref(ev);
            if (!bytes) {
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
                break;
            }
            err = kq_produce(c->kp, &batch, c->topic, ev_key(c->cfg->tenant, id, key, sizeof(key)),
                             bytes, strlen(bytes), NULL, errstr, errstr_size);
            free(bytes);
            if (err)
                break;
            json_object_set_new(page_seen, id, json_string(upd));
            if (strcmp(upd, max_ts) > 0)
                snprintf(max_ts, sizeof(max_ts), "%s", upd);
        }
        json_decref(items);
        /* Wait for every report, also after an error: only delivered events
         * may enter the cursor. */
        char why[256];
        mo_err werr = kq_batch_wait(c->kp, &batch, 60000, why, sizeof(why));
        if (!err && werr) {
            err = werr;
            snprintf(errstr, errstr_size, "%s", why);
        }
        if (err) {
            json_decref(page_seen);
            goto out;
        }
        c->emitted += (unsigned long)batch.delivered;
        mo_crash_point("poll-after-produce");
        json_object_update(seen, page_seen);
        json_decref(page_seen);
        if ((err = po_save_cursor(c, ts, seen, errstr, errstr_size)))
            goto out;
        if (!has_next)
            break;
    }

    /* The scan is complete: move ts to the newest change seen and forget what
     * fell out of the overlap window. */
    char keep_from[TZ_LOCAL_SIZE];
    tz_local_add(max_ts, -OVERLAP_S, keep_from);
    const char *id;
    json_t *v, *tmp;
    json_object_foreach_safe(seen, tmp, id, v)
    {
        if (strcmp(json_string_value(v), keep_from) < 0)
            json_object_del(seen, id);
    }
    err = po_save_cursor(c, max_ts, seen, errstr, errstr_size);
out:
    json_decref(seen);
    return err;
}

int poll_mystore_orders(const mo_config *cfg, const poll_opts *opts)
{
    char errstr[512];
    po_ctx c = {.cfg = cfg};
    int rc = 0;

    c.rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!c.rs) {
        lg_error(COMPONENT, cfg->tenant, "%s", errstr);
        return 2;
    }
    c.kp = kq_producer_new(cfg, "mosync-poll-mystore-orders", errstr, sizeof(errstr));
    c.ms = ms_new(cfg, c.rs, 6);
    if (!c.kp || !c.ms) {
        lg_error(COMPONENT, cfg->tenant, "cannot start: %s", c.kp ? "out of memory" : errstr);
        rc = 1;
        goto out;
    }
    cfg_topic(cfg, KQ_TOPIC_ORDERS, c.topic, sizeof(c.topic));
    lg_info(COMPONENT, cfg->tenant, "polling orders of shop %s every %d s", cfg->mystore_shop,
            cfg->poll_interval_s);

    while (!mo_stop_requested()) {
        mo_err err = po_cycle(&c, errstr, sizeof(errstr));
        if (err) {
            c.failed_cycles++;
            lg_error(COMPONENT, cfg->tenant, "cycle failed (%s): %s; cursor kept", mo_err_name(err),
                     errstr);
            if (err == MO_ERR_INVALID)
                rc = 1;
        }
        if (opts->once) {
            if (err)
                rc = 1;
            break;
        }
        if (err == MO_ERR_INVALID)
            break;
        mo_stop_sleep_ms(cfg->poll_interval_s * 1000L);
    }
    printf("{\"command\":\"poll mystore-orders\",\"cycles\":%lu,\"failed_cycles\":%lu,"
           "\"orders_listed\":%lu,\"orders_emitted\":%lu,\"dead_lettered\":%lu,"
           "\"mystore_requests\":%lu}\n",
           c.cycles, c.failed_cycles, c.seen, c.emitted, c.dead_lettered, ms_requests(c.ms));
    fflush(stdout);
out:
    json_decref(c.statuses);
    ms_free(c.ms);
    kq_producer_free(c.kp);
    rs_close(c.rs);
    return rc;
}
