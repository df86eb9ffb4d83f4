/* `mosync reconcile <flow> [--since T] [--fix] [--json]` (see reconcile.h).
 *
 * What mosync WOULD send is computed by the pipeline's own pieces, never by a
 * copy of them:
 *   - the source side is the flow's poller source (producers/poll.h), readied
 *     as a cycle is (pe_source_begin), listed from the window's start on the
 *     source's own clock and snapshotted exactly as the poller does;
 *   - the mapping is the applier's pure function with the applier's settings
 *     (apply_order_conf, apply_article_conf), and a stock target is found as
 *     the stock applier finds it (the article map, else apply_stock_lookup,
 *     read-only);
 *   - the comparison with the target is the dry run's (consumers/map_diff.h)
 *     against what the target answers now (og_order_get, og_article_get,
 *     ms_get).
 *
 * Per flow (MODEL.md's rules):
 *   orders      every Mystore order changed since T that the mapping sends
 *               (upsert; not one waiting for a status MYSTORE_ORDER_STATUSES
 *               lists): missing in Ongoing, cancelled there, different, or
 *               different while Ongoing no longer allows an update (O1: not
 *               fixable); a cancelled one Ongoing still holds open;
 *   articles    every article of every product changed since T: missing or
 *               different;
 *   deliveries  every Ongoing order shipped since T (O5) that is a Mystore
 *               order, not "levert" in Mystore and never was (its status
 *               history, mp_delivery_sent_before), and not cancelled there;
 *   stock       every Ongoing article whose Mystore variant or product holds
 *               another quantity than the stock applier would write.
 *
 * A list paged by page number (Mystore, M2) can shift while it is read and
 * skip an entity, so, as the poll engine does, it is read again until a pass
 * finds no entity the run had not seen and the list held still (no id twice
 * in a pass, links.last unchanged), at most RC_MAX_PASSES times; the later
 * passes cost list requests only.  A scan that could not be confirmed is
 * reported as incomplete (exit 1).
 *
 * Failures are judged as the poller judges them (poll.c): an entity whose own
 * snapshot fails (an answer that makes no sense for it) or that cannot be
 * mapped is listed and the run goes on; an outage, a 429 or a refused
 * credential ends the run, which still prints what it found, with the error.
 *
 * Without --fix nothing is written anywhere: no API write, no Redis key (the
 * shared Mystore budget aside, which every Mystore request takes).  With
 * --fix each fixable entity is emitted again with pe_emit_one, the event
 * `mosync resync` emits (marked mosync.resync, so the applier sends it
 * whatever its applied record says).
 *
 * Sizes: the run keeps the ids it compared (one JSON object, ~100 bytes an
 * id) and the problems it lists.  A shop of 20,000 articles today is 2
 * million at 100x: past RC_CHECKED_MAX the run stops and asks for --since;
 * past RC_PROBLEMS_MAX problems are counted, not listed (nor fixed). */
#include "reconcile.h"
#include "apply.h"
#include "config.h"
#include "event.h"
#include "log.h"
#include "map_article.h"
#include "map_delivery.h"
#include "map_diff.h"
#include "map_order.h"
#include "map_stock.h"
#include "mystore.h"
#include "ongoing.h"
#include "poll.h"
#include "stop.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RC_MAX_PASSES   6       /* list passes before the scan counts as incomplete (poll.c) */
#define RC_CHECKED_MAX  1000000 /* entities one run reads */
#define RC_PROBLEMS_MAX 10000   /* problems listed and fixed; more are only counted */
#define RC_ATTEMPTS     6       /* tries per request for transient failures (as the pollers) */

typedef struct rc_ctx rc_ctx;

/* Compares one listed item (borrowed) of the flow's source with the target,
 * adding what it finds to c->problems.  Errors end the run. */
typedef mo_err (*rc_check_fn)(rc_ctx *c, const char *id, json_t *item, char *errstr,
                              size_t errstr_size);

typedef struct rc_flow {
    const char *name;   /* "orders" */
    const char *stream; /* the poller's stream: "mystore-orders" */
    const char *what;   /* what a source entity is: "order" */
    rc_check_fn check;
} rc_flow;

struct rc_ctx {
    const mo_config *cfg;
    const rc_flow *flow;
    rs_store *rs;
    pe_source src;
    int src_open;
    ms_client *ms;       /* Mystore as the target (deliveries, stock) */
    og_client *og;       /* Ongoing as the target (orders, articles) */
    mp_order_conf oconf; /* the appliers' settings */
    mp_article_conf aconf;
    json_t *statuses;      /* Mystore's order-status rows (deliveries) */
    json_t *listed;        /* stock: "<path>/<id>" → Mystore's resource, as listed */
    json_t *checked;       /* {id: true}: the source entities read in this run */
    json_t *problems;      /* what rc_problem listed */
    unsigned long read;    /* source entities read */
    unsigned long found;   /* problems found (listed or not) */
    unsigned long skipped; /* problems past RC_PROBLEMS_MAX, not listed */
    int progress;          /* stderr is a terminal: a progress line */
};

/* The progress line on a terminal: "reconcile orders: 120 read, 3 differ". */
static void rc_progress(const rc_ctx *c, int last)
{
    if (!c->progress)
        return;
    fprintf(stderr, "\rreconcile %s: %lu read, %lu differ%s", c->flow->name, c->read, c->found,
            last ? "\n" : "");
    fflush(stderr);
}

/* Lists one problem: `entity` (what is compared: an order id, an article
 * number), `what` it is, the reason, the differences (borrowed, may be NULL:
 * none), the source entity --fix would emit again, whether that would fix
 * it, and a note (may be NULL).  Past RC_PROBLEMS_MAX it is only counted. */
static mo_err rc_problem(rc_ctx *c, const char *entity, const char *what, const char *reason,
                         const json_t *differences, const char *source, int fixable,
                         const char *note, char *errstr, size_t errstr_size)
{
    c->found++;
    if (json_array_size(c->problems) >= RC_PROBLEMS_MAX) {
        c->skipped++;
        return MO_OK;
    }
    json_t *p =
        json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "entity", entity, "what", what, "reason",
                  reason, "differences", differences ? json_deep_copy(differences) : json_array(),
                  "source", source, "fixable", fixable);
    if (p && note) {
        char masked[1024]; /* an answer's text may echo a credential: never printed */
        snprintf(masked, sizeof(masked), "%s", note);
        lg_mask_secrets(masked, sizeof(masked));
        json_object_set_new(p, "note", json_string(masked));
    }
    if (!p || json_array_append_new(c->problems, p))
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MO_OK;
}

/* The poller's snapshot of one listed item (*snap new reference).  When the
 * entity's own answer failed it (poll.c would retry it, then dead-letter it),
 * it is listed as "unreadable", *snap is NULL and the run goes on; an outage,
 * a 429 or a refused credential ends the run. */
static mo_err rc_snapshot(rc_ctx *c, const char *id, json_t *item, json_t **snap, char *errstr,
                          size_t errstr_size)
{
    char why[512];
    long long at = mo_now_ms();
    pe_source *src = &c->src;
    mo_err err = src->snapshot(src->state, id, item, snap, why, sizeof(why));
    if (!err)
        return MO_OK;
    *snap = NULL;
    long status = src->last_status(src->state);
    if (err == MO_ERR_NOMEM || mo_stop_requested() || status == 401 || status == 403 ||
        status == 429 || (err == MO_ERR_TRANSIENT && !src->up_since(src->state, at)))
        return mo_seterr(err == MO_ERR_NOMEM ? err : MO_ERR_TRANSIENT, errstr, errstr_size,
                         "%s %s: %s", c->flow->what, id, why);
    return rc_problem(c, id, c->flow->what, "unreadable", NULL, id, 0, why, errstr, errstr_size);
}

/* A pure mapping refused the entity (the applier would dead-letter it):
 * listed as "cannot_be_mapped", not fixable by emitting it again.  Any other
 * failure (out of memory) ends the run. */
static mo_err rc_unmappable(rc_ctx *c, mo_err err, const char *entity, const char *what,
                            const char *why, char *errstr, size_t errstr_size)
{
    if (err != MO_ERR_INVALID)
        return mo_seterr(err, errstr, errstr_size, "%s", why);
    return rc_problem(c, entity, what, "cannot_be_mapped", NULL, entity, 0, why, errstr,
                      errstr_size);
}

/* ---- orders: Mystore orders against Ongoing's ----------------------------- */

static mo_err rc_check_order(rc_ctx *c, const char *id, json_t *item, char *errstr,
                             size_t errstr_size)
{
    json_t *snap = NULL, *mapped = NULL, *order = NULL, *diffs = NULL;
    char why[512];
    mo_err err = rc_snapshot(c, id, item, &snap, errstr, errstr_size);
    if (err || !snap)
        return err;
    if ((err = mp_order_map(snap, &c->oconf, &mapped, why, sizeof(why)))) {
        err = rc_unmappable(c, err, id, "order", why, errstr, errstr_size);
        goto out;
    }
    const char *action = json_string_value(json_object_get(mapped, "action"));
    /* Sent in Mystore, or a status MYSTORE_ORDER_STATUSES does not list:
     * mosync sends nothing (an order already in Ongoing is left alone). */
    if (!strcmp(action, "skip") || !strcmp(action, "wait"))
        goto out;
    if ((err = og_order_get(c->og, id, &order, errstr, errstr_size)))
        goto out;
    int st = order ? og_order_status(order) : -1;
    int editable = st < 0 || cfg_ongoing_editable(c->cfg, st);
    snprintf(why, sizeof(why), "the Ongoing status %d no longer allows %s (O1)", st,
             !strcmp(action, "upsert") ? "an update" : "a cancel");
    if (!strcmp(action, "upsert")) {
        if (!order) {
            err = rc_problem(c, id, "order", "missing", NULL, id, 1, NULL, errstr, errstr_size);
            goto out;
        }
        if (st == MP_ONGOING_STATUS_CANCELLED) {
            /* Open in Mystore, cancelled in the warehouse: it will not ship,
             * and no update reopens it (O1). */
            err = rc_problem(c, id, "order", "cancelled_in_ongoing", NULL, id, 0,
                             "open in Mystore but cancelled in Ongoing, which no update reopens",
                             errstr, errstr_size);
            goto out;
        }
        if ((err = mp_diff_order(json_object_get(mapped, "order"), order, &diffs, errstr,
                                 errstr_size)))
            goto out;
        if (json_array_size(diffs))
            err = rc_problem(c, id, "order", editable ? "different" : "not_editable", diffs, id,
                             editable, editable ? NULL : why, errstr, errstr_size);
    } else if (order && st != MP_ONGOING_STATUS_CANCELLED) {
        /* Cancelled in Mystore while Ongoing still holds the order open. */
        if ((err = mp_diff_cancel(order, &diffs, errstr, errstr_size)))
            goto out;
        err = rc_problem(c, id, "order", editable ? "not_cancelled" : "cannot_cancel", diffs, id,
                         editable, editable ? NULL : why, errstr, errstr_size);
    }
out:
    json_decref(diffs);
    json_decref(order);
    json_decref(mapped);
    json_decref(snap);
    return err;
}

/* ---- articles: Mystore products against Ongoing's articles ------------------ */

static mo_err rc_check_product(rc_ctx *c, const char *id, json_t *item, char *errstr,
                               size_t errstr_size)
{
    json_t *snap = NULL, *mapped = NULL;
    char why[512], what[160];
    size_t i;
    json_t *a;
    mo_err err = rc_snapshot(c, id, item, &snap, errstr, errstr_size);
    if (err || !snap)
        return err;
    if ((err = mp_article_map(snap, &c->aconf, &mapped, why, sizeof(why)))) {
        err = rc_unmappable(c, err, id, "product", why, errstr, errstr_size);
        goto out;
    }
    snprintf(what, sizeof(what), "article of product %s", id);
    json_array_foreach(json_object_get(mapped, "articles"), i, a)
    {
        const char *no = json_string_value(json_object_get(a, "articleNumber"));
        json_t *held = NULL, *diffs = NULL;
        if ((err = og_article_get(c->og, no, &held, errstr, errstr_size)))
            break;
        if (!held)
            err = rc_problem(c, no, what, "missing", NULL, id, 1, NULL, errstr, errstr_size);
        else if (!(err = mp_diff_article(a, held, &diffs, errstr, errstr_size)) &&
                 json_array_size(diffs))
            err = rc_problem(c, no, what, "different", diffs, id, 1, NULL, errstr, errstr_size);
        json_decref(diffs);
        json_decref(held);
        if (err)
            break;
    }
out:
    json_decref(mapped);
    json_decref(snap);
    return err;
}

/* ---- deliveries: orders shipped in Ongoing against "levert" in Mystore ------ */

/* The id of the first Mystore status that is the "sent" one (M8), or NULL. */
static const char *rc_sent_status_id(const rc_ctx *c)
{
    size_t i;
    json_t *s;
    json_array_foreach(c->statuses, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (mp_delivery_status_is(c->statuses, id, c->cfg->mystore_status_sent))
            return id;
    }
    return NULL;
}

static mo_err rc_check_shipment(rc_ctx *c, const char *id, json_t *item, char *errstr,
                                size_t errstr_size)
{
    json_t *mapped = NULL, *doc = NULL, *history = NULL, *diffs = NULL;
    char why[512], path[160];
    long status = 0;
    mo_err err = mp_delivery_map(item, &mapped, why, sizeof(why));
    if (err)
        return rc_unmappable(c, err, id, "shipped order", why, errstr, errstr_size);
    if (strcmp(json_string_value(json_object_get(mapped, "action")), "deliver"))
        goto out; /* not shipped (O5), cancelled in Ongoing, or not a Mystore order number */
    const char *oid = json_string_value(json_object_get(mapped, "order_id"));
    const char *tracking = json_string_value(json_object_get(mapped, "tracking_number"));
    snprintf(path, sizeof(path), "orders/%s", oid);
    err = ms_get(c->ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && status == 404) {
        err = MO_OK; /* no such Mystore order: a warehouse order mosync leaves alone */
        goto out;
    }
    if (err)
        goto out;
    json_t *data = json_object_get(doc, "data");
    /* A warehouse order that reuses a Mystore id (the references differ) is
     * left alone, as the applier leaves it. */
    if (!mp_delivery_same_reference(
            json_string_value(json_object_get(mapped, "reference_number")),
            json_object_get(json_object_get(data, "attributes"), "reference")))
        goto out;
    const char *sid = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(data, "relationships"), "order_status"),
                        "data"),
        "id"));
    if (mp_delivery_status_is(c->statuses, sid, c->cfg->mystore_status_sent) ||
        mp_delivery_status_is(c->statuses, sid, c->cfg->mystore_status_cancelled))
        goto out;
    snprintf(path, sizeof(path), "orders/%s/order-status-history", oid);
    if ((err = ms_list_all(c->ms, path, &history, errstr, errstr_size)))
        goto out;
    if (mp_delivery_sent_before(history, c->statuses, c->cfg->mystore_status_sent))
        goto out; /* delivered, then moved on by the shop: never marked twice */
    const char *sent_id = rc_sent_status_id(c);
    if (!sent_id) {
        snprintf(why, sizeof(why), "no Mystore order status matches MYSTORE_STATUS_SENT '%s'",
                 c->cfg->mystore_status_sent);
        err = rc_problem(c, oid, "shipped order", "not_levert", NULL, id, 0, why, errstr,
                         errstr_size);
        goto out;
    }
    if (!(err = mp_diff_delivery(tracking, sent_id, data, c->statuses, c->cfg->mystore_language,
                                 &diffs, errstr, errstr_size)))
        err = rc_problem(c, oid, "shipped order", "not_levert", diffs, id, 1, NULL, errstr,
                         errstr_size);
out:
    json_decref(diffs);
    json_decref(history);
    json_decref(doc);
    json_decref(mapped);
    return err;
}

/* ---- stock: Ongoing's sellable stock against Mystore's quantity -------------- */

/* Lists every Mystore variant and product once (pages of 50), so comparing
 * 20,000 articles costs some 400 list requests of the shared budget instead
 * of 20,000 GETs.  What a list skipped while it shifted (M2) is read by id
 * later, and a listed value that differs is read again before it is
 * reported (it may have changed since).  Past RC_CHECKED_MAX resources the
 * rest is read by id. */
static mo_err rc_stock_preload(rc_ctx *c, char *errstr, size_t errstr_size)
{
    static const char *const paths[] = {"product-variants", "products"};
    char key[160];
    mo_err err = MO_OK;
    if (!(c->listed = json_object()))
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]) && !err; p++) {
        int more = 1;
        for (int page = 1; more && !err; page++) {
            json_t *items = NULL, *item;
            size_t i;
            if (json_object_size(c->listed) >= RC_CHECKED_MAX)
                return MO_OK;
            if ((err = ms_list_page(c->ms, paths[p], "", page, &items, &more, errstr, errstr_size)))
                break;
            json_array_foreach(items, i, item)
            {
                const char *id = json_string_value(json_object_get(item, "id"));
                if (!id || strlen(id) > 64)
                    continue;
                snprintf(key, sizeof(key), "%s/%s", paths[p], id);
                json_object_set(c->listed, key, item);
            }
            json_decref(items);
        }
    }
    return err;
}

/* The stock write `mapped` against the Mystore resource at path: *diffs (new
 * reference) from the listed resource, confirmed by a fresh read when it
 * differs or was not listed; *gone when Mystore has no such resource. */
static mo_err rc_stock_diff(rc_ctx *c, const json_t *mapped, const char *path, json_t **diffs,
                            int *gone, char *errstr, size_t errstr_size)
{
    json_t *doc = NULL;
    long status = 0;
    mo_err err;
    *gone = 0;
    *diffs = NULL;
    const json_t *listed = json_object_get(c->listed, path);
    if (listed) {
        if ((err = mp_diff_stock(mapped, listed, diffs, errstr, errstr_size)) ||
            !json_array_size(*diffs))
            return err;
        json_decref(*diffs);
        *diffs = NULL;
    }
    err = ms_get(c->ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && status == 404) {
        *gone = 1;
        err = MO_OK;
    } else if (!err) {
        err = mp_diff_stock(mapped, json_object_get(doc, "data"), diffs, errstr, errstr_size);
    }
    json_decref(doc);
    return err;
}

static mo_err rc_check_stock(rc_ctx *c, const char *id, json_t *item, char *errstr,
                             size_t errstr_size)
{
    json_t *entry = NULL, *mapped = NULL, *diffs = NULL;
    char why[512], key[512], path[160], what[160];
    int gone = 0;
    snprintf(key, sizeof(key), "map:article:%s", id);
    mo_err err = rs_get_json(c->rs, key, &entry, errstr, errstr_size);
    if (err == MO_ERR_INVALID) /* a damaged entry: as if none */
        err = MO_OK;
    if (err)
        return err;
    if ((err = mp_stock_map(item, entry, &mapped, why, sizeof(why)))) {
        err = rc_unmappable(c, err, id, "stock of article", why, errstr, errstr_size);
        goto out;
    }
    if (strcmp(json_string_value(json_object_get(mapped, "action")), "write")) {
        /* Neither free decimal 2 nor the map: the applier asks Mystore. */
        json_decref(entry);
        json_decref(mapped);
        entry = mapped = NULL;
        if ((err = apply_stock_lookup(c->cfg, c->rs, c->ms, id, 0, &entry, errstr, errstr_size)) ||
            !entry)
            goto out; /* Mystore has no writable target: the applier writes nothing */
        if ((err = mp_stock_map(item, entry, &mapped, why, sizeof(why)))) {
            err = rc_unmappable(c, err, id, "stock of article", why, errstr, errstr_size);
            goto out;
        }
        if (strcmp(json_string_value(json_object_get(mapped, "action")), "write"))
            goto out;
    }
    const char *target = json_string_value(json_object_get(mapped, "target"));
    const char *tid = json_string_value(json_object_get(mapped, "id"));
    int variant = !strcmp(target, "variant");
    snprintf(path, sizeof(path), "%s/%s", variant ? "product-variants" : "products", tid);
    snprintf(what, sizeof(what), "stock of %s %s", target, tid);
    if ((err = rc_stock_diff(c, mapped, path, &diffs, &gone, errstr, errstr_size)))
        goto out;
    if (gone) {
        snprintf(why, sizeof(why), "Mystore has no %s %s: the write would be refused", target, tid);
        err = rc_problem(c, id, what, "missing_in_mystore", NULL, id, 0, why, errstr, errstr_size);
    } else if (json_array_size(diffs)) {
        err = rc_problem(c, id, what, "different", diffs, id, 1, NULL, errstr, errstr_size);
    }
out:
    json_decref(diffs);
    json_decref(mapped);
    json_decref(entry);
    return err;
}

static const rc_flow rc_flows[] = {
    {"orders", "mystore-orders", "order", rc_check_order},
    {"articles", "mystore-products", "product", rc_check_product},
    {"deliveries", "ongoing-shipments", "shipped order", rc_check_shipment},
    {"stock", "ongoing-stock", "article", rc_check_stock},
};

/* ---- the scan ---------------------------------------------------------------- */

/* Reads every list of the source from `from` (UTC seconds, -1: everything)
 * and checks each entity once.  *complete: the scan was confirmed (see the
 * top of the file).  Errors end the scan. */
static mo_err rc_scan(rc_ctx *c, long long from, long long now, int *complete, char *errstr,
                      size_t errstr_size)
{
    pe_source *src = &c->src;
    mo_err err = MO_OK;
    *complete = 0;
    for (int pass = 1; pass <= RC_MAX_PASSES && !err; pass++) {
        unsigned long fresh = 0;
        int moved = 0;
        for (int which = 0; which < src->nlists && !err; which++) {
            json_t *listed = json_object(); /* ids of this list in this pass */
            pe_pos pos;
            memset(&pos, 0, sizeof(pos));
            if (!listed)
                return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            for (;;) {
                json_t *items = NULL, *item;
                int more = 0;
                size_t i;
                if (mo_stop_requested()) {
                    err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "stopped");
                    break;
                }
                if ((err = src->list_page(src->state, which, from, now, &pos, &items, &more, errstr,
                                          errstr_size)))
                    break;
                json_array_foreach(items, i, item)
                {
                    pe_item it;
                    char why[256];
                    long long obs = src->server_now(src->state);
                    if (src->describe(src->state, item, obs ? obs : now, &it, why, sizeof(why))) {
                        /* The poller dead-letters such an item: nothing to sync. */
                        if (pass == 1 && (err = rc_problem(c, it.id[0] ? it.id : "(no id)",
                                                           c->flow->what, "unusable", NULL, it.id,
                                                           0, why, errstr, errstr_size)))
                            break;
                        continue;
                    }
                    if (json_object_get(listed, it.id)) {
                        moved = 1; /* listed twice in one pass: the list moved */
                        continue;
                    }
                    json_object_set_new(listed, it.id, json_true());
                    if (json_object_get(c->checked, it.id))
                        continue;
                    if (json_object_size(c->checked) >= RC_CHECKED_MAX) {
                        err = mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                                        "more than %d %ss to read: narrow it with --since",
                                        RC_CHECKED_MAX, c->flow->what);
                        break;
                    }
                    json_object_set_new(c->checked, it.id, json_true());
                    fresh++;
                    c->read++;
                    err = c->flow->check(c, it.id, item, errstr, errstr_size);
                    rc_progress(c, 0);
                    if (err)
                        break;
                }
                json_decref(items);
                moved |= pos.moved;
                if (!err && pos.stuck)
                    err = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                                    "%s: a full page without a usable id; paging cannot go on",
                                    src->route);
                if (err || !more)
                    break;
            }
            json_decref(listed);
        }
        if (!err && (src->stable_paging || (!fresh && !moved)))
            *complete = 1;
        if (*complete)
            break;
    }
    return err;
}

/* ---- --fix ------------------------------------------------------------------- */

/* Emits each fixable problem's source entity again, once per entity, as
 * `mosync resync` does; each problem gets "fix": "emitted", "not_fixable",
 * "not_found" (gone from the source meanwhile) or "not_emitted: <why>".
 * Returns the number of entities emitted. */
static unsigned long rc_fix(rc_ctx *c)
{
    json_t *done = json_object(), *p;
    unsigned long emitted = 0;
    size_t i;
    char kerr[256] = "";
    kq_producer *kp = kq_producer_new(c->cfg, "mosync-reconcile", kerr, sizeof(kerr));
    json_array_foreach(c->problems, i, p)
    {
        const char *source = json_string_value(json_object_get(p, "source"));
        json_t *result = json_object_get(done, source);
        if (!json_is_true(json_object_get(p, "fixable"))) {
            json_object_set_new(p, "fix", json_string("not_fixable"));
            continue;
        }
        if (!result) {
            char errstr[512], text[600];
            int found = 0;
            mo_err err =
                kp ? pe_emit_one(c->cfg, &c->src, c->rs, kp, source, &found, errstr, sizeof(errstr))
                   : mo_seterr(MO_ERR_CONFIG, errstr, sizeof(errstr), "%s", kerr);
            lg_mask_secrets(errstr, sizeof(errstr));
            if (err)
                snprintf(text, sizeof(text), "not_emitted: %s", errstr);
            else
                snprintf(text, sizeof(text), "%s", found ? "emitted" : "not_found");
            if (!err && found) {
                emitted++;
                lg_info("reconcile", c->cfg->tenant, "%s %s emitted again", c->flow->what, source);
            }
            json_object_set_new(done, source, json_string(text));
            result = json_object_get(done, source);
        }
        json_object_set_new(p, "fix", json_copy(result));
    }
    kq_producer_free(kp);
    json_decref(done);
    return emitted;
}

/* ---- output ------------------------------------------------------------------ */

/* The differing fields of a problem, comma-separated, into buf. */
static const char *rc_fields(const json_t *p, char *buf, size_t size)
{
    size_t i, used = 0;
    json_t *d;
    buf[0] = '\0';
    json_array_foreach(json_object_get(p, "differences"), i, d)
    {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                         json_string_value(json_object_get(d, "field")));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* The table: one line per problem, then the summary line. */
static void rc_print_table(const rc_ctx *c, const char *since, int fix, int complete,
                           unsigned long fixed, const char *error)
{
    size_t i;
    json_t *p;
    if (json_array_size(c->problems))
        printf("%-20s %-28s %-18s %s%s\n", "ENTITY", "WHAT", "REASON", fix ? "FIX          " : "",
               "FIELDS");
    json_array_foreach(c->problems, i, p)
    {
        char fields[1024], fixcol[600] = "";
        const char *note = json_string_value(json_object_get(p, "note"));
        if (fix)
            snprintf(fixcol, sizeof(fixcol), "%-12s ",
                     json_string_value(json_object_get(p, "fix")));
        printf("%-20s %-28s %-18s %s%s%s%s\n", json_string_value(json_object_get(p, "entity")),
               json_string_value(json_object_get(p, "what")),
               json_string_value(json_object_get(p, "reason")), fixcol,
               rc_fields(p, fields, sizeof(fields)), note && *fields ? "; " : "", note ? note : "");
    }
    printf("reconcile %s since %s: %lu read, ", c->flow->name, since ? since : "the beginning",
           c->read);
    if (!c->found)
        printf("nothing missing or different");
    else
        printf("%lu missing or different", c->found);
    if (c->skipped)
        printf(" (%lu not listed)", c->skipped);
    if (fix)
        printf("; %lu re-emitted for the appliers", fixed);
    if (!complete)
        printf("; NOT COMPLETE: %s", error ? error : "the list kept changing while it was read");
    printf("\n");
}

static int rc_usage(const char *msg)
{
    fprintf(stderr,
            "mosync reconcile: %s\n"
            "usage: mosync reconcile orders|articles|deliveries|stock [--since "
            "YYYY-MM-DDTHH:MM:SSZ] [--fix] [--json]\n",
            msg);
    return 2;
}

int reconcile_main(int argc, char **argv)
{
    const rc_flow *flow = NULL;
    const char *since_arg = NULL;
    long long since_ms = 0;
    int fix = 0, as_json = 0, rc = 1, complete = 0;
    char msg[512], errstr[512] = "", since[32] = "";
    mo_config cfg;
    rc_ctx c;
    mo_err err = MO_OK;

    if (argc < 1 || argv[0][0] == '-')
        return rc_usage("which flow? (orders, articles, deliveries or stock)");
    for (size_t i = 0; i < sizeof(rc_flows) / sizeof(rc_flows[0]); i++)
        if (!strcmp(argv[0], rc_flows[i].name))
            flow = &rc_flows[i];
    if (!flow) {
        snprintf(msg, sizeof(msg), "unknown flow '%.64s' (orders, articles, deliveries or stock)",
                 argv[0]);
        return rc_usage(msg);
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fix")) {
            fix = 1;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "--since")) {
            if (i + 1 >= argc)
                return rc_usage("--since needs a UTC time YYYY-MM-DDTHH:MM:SSZ");
            since_arg = argv[++i];
            if (ev_utc_parse(since_arg, &since_ms) || since_ms < 0) {
                snprintf(msg, sizeof(msg), "--since '%.64s' is not a UTC time YYYY-MM-DDTHH:MM:SSZ",
                         since_arg);
                return rc_usage(msg);
            }
        } else {
            snprintf(msg, sizeof(msg), "unknown option '%.64s'", argv[i]);
            return rc_usage(msg);
        }
    }
    /* Both APIs always (one is the source, the other the target); Kafka only
     * to emit. */
    if (cfg_load(&cfg,
                 CFG_NEED_REDIS | CFG_NEED_MYSTORE | CFG_NEED_ONGOING | (fix ? CFG_NEED_KAFKA : 0),
                 errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    if (!strcmp(flow->name, "stock") && !cfg.stock_sync) {
        fprintf(stderr, "mosync reconcile stock: stock sync is off (STOCK_SYNC is not 'on')\n");
        cfg_free(&cfg);
        return 2;
    }
    memset(&c, 0, sizeof(c));
    c.cfg = &cfg;
    c.flow = flow;
    c.progress = isatty(STDERR_FILENO);
    c.checked = json_object();
    c.problems = json_array();
    apply_order_conf(&cfg, &c.oconf);
    apply_article_conf(&cfg, &c.aconf);
    c.rs = rs_open(cfg.redis_url, cfg.tenant, errstr, sizeof(errstr));
    if (!c.rs) {
        fprintf(stderr, "mosync reconcile: %s\n", errstr);
        rc = 2;
        goto out;
    }
    c.ms = ms_new(&cfg, c.rs, RC_ATTEMPTS);
    c.og = og_new(&cfg, c.rs, RC_ATTEMPTS);
    if (!c.checked || !c.problems || !c.ms || !c.og) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
        goto report;
    }
    if ((err = pe_source_open(&cfg, flow->stream, c.rs, &c.src, errstr, sizeof(errstr))))
        goto report;
    c.src_open = 1;
    if ((err = pe_source_begin(&c.src, errstr, sizeof(errstr))))
        goto report;
    if (!strcmp(flow->name, "deliveries") &&
        (err = ms_list_all(c.ms, "order-status", &c.statuses, errstr, sizeof(errstr))))
        goto report;
    if (!strcmp(flow->name, "stock") && (err = rc_stock_preload(&c, errstr, sizeof(errstr))))
        goto report;
    /* The window, on the source's clock: --since, else the poller's first
     * scan (M14, O6: the lookback, or everything). */
    long long now = c.src.server_now(c.src.state), from;
    if (!now)
        now = (long long)time(NULL);
    if (since_arg) {
        from = since_ms / 1000;
    } else {
        long lb = c.src.lookback_s(c.src.state);
        from = lb < 0 ? -1 : now - lb;
    }
    if (from >= 0) {
        time_t t = (time_t)from;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    err = rc_scan(&c, from, now, &complete, errstr, sizeof(errstr));

report:
    rc_progress(&c, 1);
    lg_mask_secrets(errstr, sizeof(errstr));
    if (err) {
        complete = 0;
        fprintf(stderr, "mosync reconcile %s: %s\n", flow->name, errstr);
    }
    unsigned long fixed = fix && c.src_open ? rc_fix(&c) : 0;
    if (as_json) {
        json_t *doc =
            json_pack("{s:s, s:s?, s:I, s:b, s:O, s:I, s:I}", "flow", flow->name, "since",
                      *since ? since : NULL, "checked", (json_int_t)c.read, "complete", complete,
                      "problems", c.problems ? c.problems : json_null(), "problems_not_listed",
                      (json_int_t)c.skipped, "fixed", (json_int_t)fixed);
        if (doc && err)
            json_object_set_new(doc, "error", json_string(errstr));
        char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        rc_print_table(&c, *since ? since : NULL, fix, complete, fixed, err ? errstr : NULL);
    }
    fflush(stdout);
    /* 0 only when the scan is complete and everything found was re-emitted. */
    rc = complete && !c.skipped ? 0 : 1;
    size_t i;
    json_t *p;
    json_array_foreach(c.problems, i, p)
    {
        const char *f = json_string_value(json_object_get(p, "fix"));
        if (!f || strcmp(f, "emitted"))
            rc = 1;
    }
out:
    if (c.src_open)
        pe_source_close(&c.src);
    json_decref(c.statuses);
    json_decref(c.listed);
    json_decref(c.checked);
    json_decref(c.problems);
    og_free(c.og);
    ms_free(c.ms);
    if (c.rs)
        rs_close(c.rs);
    cfg_free(&cfg);
    return rc;
}
