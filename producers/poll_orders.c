/* `mosync poll mystore-orders`: Mystore orders changed since the cursor →
 * mystore.orders, one snapshot per order: the order, its lines with their
 * options, its totals and its status, as Mystore returned them (M6, M7, M11).
 * The cursor, overlap and paging are the engine's (poll_mystore.c).  When
 * the shop answers include= (M11, poll_mystore.c), the lines, options and
 * totals come with the list page; an order whose included set is incomplete
 * reads them by their URLs, as every order does when include= is not
 * answered. */
#include "kafka.h"
#include "log.h"
#include "map_order.h"
#include "poll.h"
#include "stop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a shop's order-status list read from Mystore is used before it is
 * read again.  The list changes only when the merchant adds or renames a
 * status, which happens seldom; reading it every cycle cost an idle order
 * cycle a second request (issue 15).  A status added is seen at once: an
 * order naming an id the list does not hold makes the poller read it again
 * (po_snapshot_named).  A status renamed is seen within this time, at the
 * next start (each process reads the list at its first cycle of a shop), or
 * at once when MYSTORE_STATUS_SENT, _CANCELLED or MYSTORE_ORDER_STATUSES
 * change with it (they are part of the cache key). */
#define PO_STATUS_TTL_MS (10 * 60 * 1000)
#define PO_CACHE_MAX     100000 /* shops; the cache is emptied when full */

/* The order-status list of each shop this process polls, shared by every
 * cycle (`--all-tenants` opens a source per cycle, from any worker thread):
 * "<tenant> <API URL> <shop> <settings>" -> {"list": [order-status
 * resources], "at": ms}. */
static pthread_mutex_t po_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *po_cache;

typedef struct po_state {
    const mo_config *cfg;
    json_t *statuses;                  /* order-status resources by id, from po_cache or Mystore */
    int read_this_cycle;               /* the list was read from Mystore in this cycle */
    char unmatched[1024];              /* the listed statuses last warned about as unknown */
    unsigned long included, fallbacks; /* snapshots from include=; those that fell back */
} po_state;

static const char *const po_include_rels[] = {"order-products", "order-totals", NULL};

/* MYSTORE_ORDER_STATUSES names a status the shop does not have: its orders
 * would wait for ever.  Warned when the set of such values changes (at the
 * first cycle, and after the shop's statuses or the setting changed), not
 * every cycle.  list: the shop's order-status resources. */
static void po_check_listed(po_state *s, const json_t *list)
{
    char unmatched[sizeof(s->unmatched)] = "";
    size_t i;
    json_t *listed;
    json_array_foreach(s->cfg->mystore_order_statuses, i, listed)
    {
        const char *v = json_string_value(listed);
        size_t used = strlen(unmatched);
        if (v && !mp_order_status_count(list, v) && used + 1 < sizeof(unmatched))
            snprintf(unmatched + used, sizeof(unmatched) - used, "%s'%s'", used ? ", " : "", v);
    }
    if (!strcmp(unmatched, s->unmatched))
        return;
    snprintf(s->unmatched, sizeof(s->unmatched), "%s", unmatched);
    if (*unmatched)
        lg_warn("poll.mystore-orders", s->cfg->tenant,
                "MYSTORE_ORDER_STATUSES lists %s, which match no order status of the shop (of "
                "%zu): orders are sent to the warehouse only in a listed status; correct the "
                "setting (a status name in any language, or its id)",
                unmatched, json_array_size(list));
}

/* The cache key: the shop, and the settings that name statuses (a merchant
 * who renamed a status changes them too: the list is read again at once). */
static void po_cache_key(const po_state *s, char *buf, size_t size)
{
    char fp[PE_HASH_HEX + 1] = "";
    json_t *names =
        json_pack("{s:s, s:s, s:O?}", "sent", s->cfg->mystore_status_sent, "cancelled",
                  s->cfg->mystore_status_cancelled, "listed", s->cfg->mystore_order_statuses);
    if (!names || pe_fingerprint(names, fp))
        snprintf(fp, sizeof(fp), "-");
    json_decref(names);
    snprintf(buf, size, "%s %s %s %s", s->cfg->tenant, s->cfg->mystore_url, s->cfg->mystore_shop,
             fp);
}

/* The shop's list from the cache when it is younger than PO_STATUS_TTL_MS
 * (new reference, a copy: the cycles of other threads keep theirs), else
 * NULL. */
static json_t *po_cache_get(const po_state *s)
{
    char key[1024];
    json_t *list = NULL;
    po_cache_key(s, key, sizeof(key));
    pthread_mutex_lock(&po_cache_mu);
    json_t *e = json_object_get(po_cache, key);
    if (e && mo_now_ms() - json_integer_value(json_object_get(e, "at")) < PO_STATUS_TTL_MS)
        list = json_deep_copy(json_object_get(e, "list"));
    pthread_mutex_unlock(&po_cache_mu);
    return list;
}

static void po_cache_put(const po_state *s, const json_t *list)
{
    char key[1024];
    po_cache_key(s, key, sizeof(key));
    json_t *e =
        json_pack("{s:o, s:I}", "list", json_deep_copy(list), "at", (json_int_t)mo_now_ms());
    pthread_mutex_lock(&po_cache_mu);
    if (!po_cache)
        po_cache = json_object();
    if (po_cache && json_object_size(po_cache) >= PO_CACHE_MAX)
        json_object_clear(po_cache);
    if (po_cache && e)
        json_object_set(po_cache, key, e);
    pthread_mutex_unlock(&po_cache_mu);
    json_decref(e);
}

/* Takes list (stolen) as the shop's statuses: by id for the snapshots, and
 * checked against MYSTORE_ORDER_STATUSES. */
static mo_err po_use(po_state *s, json_t *list, char *errstr, size_t errstr_size)
{
    json_t *by_id = json_object();
    size_t i;
    json_t *st;
    if (!by_id) {
        json_decref(list);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (s->cfg)
        po_check_listed(s, list);
    json_array_foreach(list, i, st)
    {
        const char *id = json_string_value(json_object_get(st, "id"));
        if (id)
            json_object_set(by_id, id, st);
    }
    json_decref(list);
    json_decref(s->statuses);
    s->statuses = by_id;
    return MO_OK;
}

/* Reads the order-status list from Mystore (one request; M8 names live
 * there) and keeps it in the cache. */
static mo_err po_read(po_state *s, ms_client *ms, char *errstr, size_t errstr_size)
{
    json_t *list;
    mo_err err = ms_list_all(ms, "order-status", &list, errstr, errstr_size);
    if (err)
        return err;
    s->read_this_cycle = 1;
    if (s->cfg)
        po_cache_put(s, list);
    return po_use(s, list, errstr, errstr_size);
}

/* The shop's order statuses for this cycle: the cached list while it is
 * younger than PO_STATUS_TTL_MS, else read from Mystore (the first cycle of
 * each process, and then every PO_STATUS_TTL_MS). */
static mo_err po_begin_cycle(void *state, ms_client *ms, char *errstr, size_t errstr_size)
{
    po_state *s = state;
    s->read_this_cycle = 0;
    json_t *list = s->cfg ? po_cache_get(s) : NULL;
    return list ? po_use(s, list, errstr, errstr_size) : po_read(s, ms, errstr, errstr_size);
}

/* The related resources a linkage (an array of identifiers) names, deep
 * copies from included; NULL when it is not an array or names one that is
 * not there. */
static json_t *po_resolve(const json_t *linkage, const json_t *included)
{
    size_t i;
    json_t *ident, *out = json_is_array(linkage) ? json_array() : NULL;
    json_array_foreach(linkage, i, ident)
    {
        json_t *r = pm_included_get(included, ident);
        if (!out || !r || json_array_append_new(out, json_deep_copy(r))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The lines with their options ([{"line", "options"}]) and the totals of an
 * order from a compound list answer, exactly as the related URLs answer
 * them (the linkage include= added to a line taken out).  0 when the set is
 * incomplete (a relationship without linkage, a resource named but not
 * included, a line without a usable id): *why says what. */
static int po_from_included(const json_t *linked, const json_t *included, json_t **out_lines,
                            json_t **totals, char *why, size_t why_size)
{
    json_t *lines = po_resolve(json_object_get(linked, "order-products"), included);
    size_t i;
    json_t *line;
    *out_lines = NULL;
    *totals = po_resolve(json_object_get(linked, "order-totals"), included);
    if (!lines || !*totals) {
        snprintf(why, why_size, "its %s are not all included", lines ? "totals" : "lines");
        goto fail;
    }
    *out_lines = json_array();
    json_array_foreach(lines, i, line)
    {
        json_t *link = pm_take_linkage(line, "order-product-attributes");
        json_t *options = po_resolve(link, included);
        json_decref(link);
        if (!pm_id_ok(json_string_value(json_object_get(line, "id"))) || !options) {
            json_decref(options);
            snprintf(why, why_size, "a line's options are not all included");
            goto fail;
        }
        json_array_append_new(*out_lines,
                              json_pack("{s:O, s:o}", "line", line, "options", options));
    }
    json_decref(lines);
    return 1;
fail:
    json_decref(lines);
    json_decref(*totals);
    json_decref(*out_lines);
    *totals = *out_lines = NULL;
    return 0;
}

/* Fetches what an order snapshot needs besides the order itself (from the
 * compound list answer when it holds all of it).  MO_ERR_INVALID when
 * Mystore's answer makes no sense for this order (it is dead-lettered). */
static mo_err po_snapshot(void *state, ms_client *ms, const char *id, json_t *order,
                          const json_t *linked, const json_t *included, json_t **snapshot,
                          char *errstr, size_t errstr_size)
{
    po_state *s = state;
    char path[256], why[128];
    json_t *lines = NULL, *totals = NULL, *out_lines = NULL;
    mo_err err = MO_OK;

    *snapshot = NULL;
    if (linked && included) {
        if (po_from_included(linked, included, &out_lines, &totals, why, sizeof(why))) {
            s->included++;
            goto build;
        }
        s->fallbacks++;
        lg_info("poll.mystore-orders", s->cfg ? s->cfg->tenant : NULL,
                "order %s: %s in the include= answer; reading them by their URLs", id, why);
    }
    out_lines = json_array();
    snprintf(path, sizeof(path), "orders/%s/order-products", id);
    if ((err = ms_list_all(ms, path, &lines, errstr, errstr_size)))
        goto out;
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        const char *lid = json_string_value(json_object_get(line, "id"));
        json_t *options;
        if (!pm_id_ok(lid)) {
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                            "order %s: an order line has no usable id", id);
            goto out;
        }
        snprintf(path, sizeof(path), "order-products/%s/order-product-attributes", lid);
        if ((err = ms_list_all(ms, path, &options, errstr, errstr_size)))
            goto out;
        json_array_append_new(out_lines, json_pack("{s:O, s:o}", "line", line, "options", options));
    }
    snprintf(path, sizeof(path), "orders/%s/order-totals", id);
    if ((err = ms_list_all(ms, path, &totals, errstr, errstr_size)))
        goto out;

build:;
    const char *sid = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(order, "relationships"), "order_status"),
                        "data"),
        "id"));
    json_t *status = sid ? json_object_get(s->statuses, sid) : NULL;
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

static void po_summary(void *state, json_t *sum)
{
    po_state *s = state;
    json_object_set_new(sum, "include_snapshots", json_integer((json_int_t)s->included));
    json_object_set_new(sum, "include_fallbacks", json_integer((json_int_t)s->fallbacks));
}

/* An order naming a status id the list does not hold: a status the shop
 * added since the list was read.  The list is read again (once a cycle)
 * before the snapshot, so the snapshot carries the status as it would have
 * with the list read that cycle. */
static mo_err po_snapshot_named(void *state, ms_client *ms, const char *id, json_t *order,
                                const json_t *linked, const json_t *included, json_t **snapshot,
                                char *errstr, size_t errstr_size)
{
    po_state *s = state;
    const char *sid = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(order, "relationships"), "order_status"),
                        "data"),
        "id"));
    mo_err err;
    *snapshot = NULL;
    if (sid && !json_object_get(s->statuses, sid) && !s->read_this_cycle) {
        lg_info("poll.mystore-orders", s->cfg ? s->cfg->tenant : NULL,
                "order %s names order status %.64s, which the shop's list read before lacks; "
                "reading the list again",
                id, sid);
        if ((err = po_read(s, ms, errstr, errstr_size)))
            return err;
    }
    return po_snapshot(state, ms, id, order, linked, included, snapshot, errstr, errstr_size);
}

static void po_free(void *state)
{
    po_state *s = state;
    if (s)
        json_decref(s->statuses);
    free(s);
}

mo_err pm_orders_stream(pm_stream *st, const mo_config *cfg)
{
    po_state *s = calloc(1, sizeof(*s));
    if (!s)
        return MO_ERR_NOMEM;
    s->cfg = cfg;
    *st = (pm_stream){.name = "mystore-orders",
                      .flow = "orders",
                      .noun = "orders",
                      .list_path = "orders",
                      .event_type = "mystore.order",
                      .topic_base = KQ_TOPIC_ORDERS,
                      .all_without_cursor = 0,
                      .list_is_work = 1, /* a customer's order is the work that comes first */
                      .include = PM_ORDERS_INCLUDE,
                      .include_rels = po_include_rels,
                      .state = s,
                      .begin_cycle = po_begin_cycle,
                      .snapshot = po_snapshot_named,
                      .summary = po_summary,
                      .free_state = po_free};
    return MO_OK;
}
