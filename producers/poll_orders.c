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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct po_state {
    const mo_config *cfg;
    json_t *statuses;                  /* order-status resources by id, refreshed each cycle */
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

/* Refreshes the order-status list (one request per cycle; M8 names live there). */
static mo_err po_begin_cycle(void *state, ms_client *ms, char *errstr, size_t errstr_size)
{
    po_state *s = state;
    json_t *list;
    mo_err err = ms_list_all(ms, "order-status", &list, errstr, errstr_size);
    if (err)
        return err;
    if (s->cfg)
        po_check_listed(s, list);
    json_decref(s->statuses);
    s->statuses = json_object();
    size_t i;
    json_t *st;
    json_array_foreach(list, i, st)
    {
        const char *id = json_string_value(json_object_get(st, "id"));
        if (id)
            json_object_set(s->statuses, id, st);
    }
    json_decref(list);
    return MO_OK;
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
                      .include = PM_ORDERS_INCLUDE,
                      .include_rels = po_include_rels,
                      .state = s,
                      .begin_cycle = po_begin_cycle,
                      .snapshot = po_snapshot,
                      .summary = po_summary,
                      .free_state = po_free};
    return MO_OK;
}
