/* `mosync apply deliveries`: ongoing.shipments → the Mystore order turns
 * "levert" with its tracking number, once.
 *
 * mp_delivery_map (pure) decides whether the Ongoing order is shipped (O5) and
 * which tracking number counts (never a return parcel's).  Then, for every
 * shipped Ongoing order whose orderNumber is the id of an existing Mystore
 * order, whoever put it into Ongoing (MODEL.md's Deliveries paragraph):
 *   - an order handled before (mosync:{T}:applied:deliveries:<id>) is not
 *     touched again: the record only saves the calls below;
 *   - the Mystore order is read: none (404) → recorded, nothing written;
 *   - an order typed into the warehouse by hand whose number collides with a
 *     Mystore id shows itself by its referenceNumber: both set and different
 *     from the Mystore reference → left alone, logged and recorded;
 *   - already sent or cancelled in Mystore → recorded, not written, so a lost
 *     record (Redis emptied, restored, replaced) never means a second "levert"
 *     and a second customer notice;
 *   - sent before, and moved on by the shop since ("Returnert"): its status
 *     history holds a "levert" row → recorded as already sent, not written.
 *     One more GET, made only when the current status does not answer;
 *   - else PATCH orders/{id} {tracking_number} when there is one, then POST
 *     order-status-history with the "levert" status (M9). */
#include "apply.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "map_delivery.h"
#include "map_diff.h"
#include "mapping.h"
#include "mystore.h"
#include "stop.h"
#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define COMPONENT        "apply.deliveries"
#define AD_STATUS_TTL_MS (10 * 60 * 1000)

typedef struct ad_ctx {
    const mo_config *cfg;
    rs_store *rs;
    ms_client *ms;
    json_t *statuses; /* Mystore order-status resources, refreshed every 10 min */
    long long statuses_at;
    unsigned long messages, delivered, not_shipped, not_in_mystore, reference_mismatch,
        already_sent, cancelled_in_mystore, duplicates;
    apply_counts counts;
} ad_ctx;

static mo_err ad_statuses(ad_ctx *c, char *errstr, size_t errstr_size)
{
    if (c->statuses && mo_now_ms() - c->statuses_at < AD_STATUS_TTL_MS)
        return MO_OK;
    json_t *list;
    mo_err err = ms_list_all(c->ms, "order-status", &list, errstr, errstr_size);
    if (err)
        return err;
    json_decref(c->statuses);
    c->statuses = list;
    c->statuses_at = mo_now_ms();
    return MO_OK;
}

/* The id of the first status matching `wanted` (M8), or NULL. */
static const char *ad_status_id(ad_ctx *c, const char *wanted)
{
    size_t i;
    json_t *s;
    json_array_foreach(c->statuses, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (mp_status_matches(id, json_object_get(json_object_get(s, "attributes"), "name"),
                              wanted))
            return id;
    }
    return NULL;
}

/* Does status `sid` match `wanted` (M8)? */
static int ad_status_is(ad_ctx *c, const char *sid, const char *wanted)
{
    return mp_delivery_status_is(c->statuses, sid, wanted);
}

/* Records how the shipment of order id was handled (it expires: the next
 * event after that reads Mystore again and finds it sent). */
static mo_err ad_record(ad_ctx *c, const char *id, const char *version, const char *state,
                        const char *tracking, char *errstr, size_t errstr_size)
{
    if (c->cfg->dry_run) /* nothing to send: the outcome is reported, not recorded */
        return apply_dry_report(c->cfg, c->rs, "deliveries", id, version, state, NULL, NULL, NULL,
                                errstr, errstr_size);
    json_t *extra = tracking ? json_pack("{s:s}", "tracking_number", tracking) : NULL;
    mo_err err = apply_record_set(c->rs, "deliveries", id, version, "", state, extra,
                                  cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
    json_decref(extra);
    return err;
}

/* The body of PATCH orders/{id} setting the tracking number (M9).  New reference. */
static json_t *ad_tracking_body(const char *id, const char *tracking)
{
    return json_pack("{s:{s:s, s:s, s:{s:s}}}", "data", "type", "orders", "id", id, "attributes",
                     "tracking_number", tracking);
}

/* The body of POST order-status-history setting the "levert" status sent_id
 * (M9), with a comment naming the tracking number (may be NULL).  New reference. */
static json_t *ad_history_body(const char *id, const char *tracking, const char *sent_id)
{
    char comment[256];
    if (tracking)
        snprintf(comment, sizeof(comment), "Sendt fra lager. Sporingsnummer: %s", tracking);
    else
        snprintf(comment, sizeof(comment), "Sendt fra lager.");
    /* customer_notified: the shop tells the customer, as when a person marks it sent. */
    return json_pack("{s:{s:s, s:{s:s, s:i}, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}}}}", "data",
                     "type", "order-status-history", "attributes", "comments", comment,
                     "customer_notified", 1, "relationships", "order", "data", "type", "orders",
                     "id", id, "order-status", "data", "type", "order-status", "id", sent_id);
}

/* Has order id ever had the "sent" status (mp_delivery_sent_before)?  The
 * history is read whole, every page, with ms_list_all, which fails rather
 * than cut a list. */
static mo_err ad_sent_before(ad_ctx *c, const char *id, int *sent, char *errstr, size_t errstr_size)
{
    char path[128];
    json_t *rows = NULL;
    *sent = 0;
    snprintf(path, sizeof(path), "orders/%s/order-status-history", id);
    mo_err err = ms_list_all(c->ms, path, &rows, errstr, errstr_size);
    if (err)
        return err;
    *sent = mp_delivery_sent_before(rows, c->statuses, c->cfg->mystore_status_sent);
    json_decref(rows);
    return MO_OK;
}

/* The two Mystore writes of M9. */
static mo_err ad_mark_sent(ad_ctx *c, const char *id, const char *tracking, const char *sent_id,
                           char *errstr, size_t errstr_size)
{
    char path[128];
    long status;
    mo_err err = MO_OK;
    if (tracking) {
        json_t *body = ad_tracking_body(id, tracking);
        snprintf(path, sizeof(path), "orders/%s", id);
        err = ms_write(c->ms, "PATCH", path, body, NULL, &status, errstr, errstr_size);
        json_decref(body);
        if (err)
            return err;
        mo_crash_point("deliveries-between-writes");
    }
    json_t *body = ad_history_body(id, tracking, sent_id);
    err = ms_write(c->ms, "POST", "order-status-history", body, NULL, &status, errstr, errstr_size);
    json_decref(body);
    return err;
}

/* DRY_RUN=on: the M9 writes for this order (order: the Mystore order's data
 * resource, read above), against what the Mystore order holds now, reported
 * and not sent (apply.h): outcome "deliver". */
static mo_err ad_dry_run(ad_ctx *c, const char *id, const char *version, const char *tracking,
                         const char *sent_id, const json_t *order, char *errstr, size_t errstr_size)
{
    char path[128];
    json_t *requests = json_array(), *diffs = NULL, *patch = NULL, *post = NULL;
    mo_err err;

    snprintf(path, sizeof(path), "orders/%s", id);
    patch = tracking ? ad_tracking_body(id, tracking) : NULL;
    post = ad_history_body(id, tracking, sent_id);
    if (!requests || !post || (tracking && !patch) ||
        (patch && json_array_append_new(requests, apply_dry_request("PATCH", path, patch))) ||
        json_array_append_new(requests, apply_dry_request("POST", "order-status-history", post)))
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    else if (!(err = mp_diff_delivery(tracking, sent_id, order, c->statuses,
                                      c->cfg->mystore_language, &diffs, errstr, errstr_size)))
        err = apply_dry_report(c->cfg, c->rs, "deliveries", id, version, "deliver", requests, diffs,
                               NULL, errstr, errstr_size);
    json_decref(patch);
    json_decref(post);
    json_decref(diffs);
    json_decref(requests);
    return err;
}

static mo_err ad_handle(void *vctx, const rd_kafka_message_t *msg, char *errstr, size_t errstr_size)
{
    ad_ctx *c = vctx;
    json_t *ev = NULL, *mapped = NULL, *rec = NULL, *doc = NULL;
    mo_err err;

    c->messages++;
    if ((err = ev_parse(msg->payload, msg->len, "ongoing.order", &ev, errstr, errstr_size)))
        return err;
    const char *version = json_string_value(json_object_get(ev, "source_version"));
    int ours = apply_tenant_ours(c->cfg, c->rs, ev, &err, errstr, errstr_size);
    if (ours <= 0) {
        if (!ours)
            apply_outcome(ev, "skipped");
        goto out;
    }
    if ((err = mp_delivery_map(json_object_get(ev, "data"), &mapped, errstr, errstr_size)))
        goto out;
    if (strcmp(json_string_value(json_object_get(mapped, "action")), "deliver")) {
        c->not_shipped++;
        apply_outcome(ev, "skipped");
        if (c->cfg->dry_run) {
            /* The outcome is the mapping's reason: "not_shipped", "not_a_mystore_order", ... */
            char outcome[64], *p;
            const char *entity = json_string_value(json_object_get(ev, "entity_id"));
            snprintf(outcome, sizeof(outcome), "%s",
                     json_string_value(json_object_get(mapped, "reason")));
            for (p = outcome; *p; p++)
                *p = *p == ' ' ? '_' : (char)tolower((unsigned char)*p);
            err = apply_dry_report(c->cfg, c->rs, "deliveries", entity, version, outcome, NULL,
                                   NULL, NULL, errstr, errstr_size);
        }
        goto out;
    }
    const char *id = json_string_value(json_object_get(mapped, "order_id"));
    const char *tracking = json_string_value(json_object_get(mapped, "tracking_number"));
    const char *og_reference = json_string_value(json_object_get(mapped, "reference_number"));

    if ((err = apply_record_get(c->rs, "deliveries", id, &rec, errstr, errstr_size)))
        goto out;
    /* Handled before: saves the calls below, decides nothing they would not.
     * Forced (replay --force), the calls are made: an order already sent in
     * Mystore is still found so below and left alone, never marked twice. */
    if (rec && !apply_forced()) {
        c->duplicates++;
        apply_outcome(ev, "unchanged");
        if (c->cfg->dry_run)
            err = apply_dry_report(c->cfg, c->rs, "deliveries", id, version, "duplicate", NULL,
                                   NULL, NULL, errstr, errstr_size);
        goto out;
    }

    char path[128];
    long status;
    snprintf(path, sizeof(path), "orders/%s", id);
    err = ms_get(c->ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && status == 404) {
        c->not_in_mystore++;
        apply_outcome(ev, "skipped");
        lg_info(COMPONENT, c->cfg->tenant,
                "Ongoing order %s is not a Mystore order (Mystore has no order %s); left alone", id,
                id);
        err = ad_record(c, id, version, "not_in_mystore", NULL, errstr, errstr_size);
        goto out;
    }
    if (err || (err = ad_statuses(c, errstr, errstr_size)))
        goto out;
    json_t *data = json_object_get(doc, "data");
    const json_t *ms_reference = json_object_get(json_object_get(data, "attributes"), "reference");
    if (!mp_delivery_same_reference(og_reference, ms_reference)) {
        char theirs[96];
        c->reference_mismatch++;
        apply_outcome(ev, "skipped");
        lg_warn(COMPONENT, c->cfg->tenant,
                "Ongoing order %s was shipped, but its referenceNumber '%s' is not the reference "
                "%s of Mystore order %s: a warehouse order that reuses the number; not marking the "
                "Mystore order sent",
                id, og_reference, mp_describe(ms_reference, theirs, sizeof(theirs)), id);
        err = ad_record(c, id, version, "reference_mismatch", NULL, errstr, errstr_size);
        goto out;
    }
    const char *sid = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(data, "relationships"), "order_status"),
                        "data"),
        "id"));
    if (ad_status_is(c, sid, c->cfg->mystore_status_sent)) {
        c->already_sent++;
        apply_outcome(ev, "unchanged");
        err = ad_record(c, id, version, "already_sent", NULL, errstr, errstr_size);
        goto out;
    }
    if (ad_status_is(c, sid, c->cfg->mystore_status_cancelled)) {
        c->cancelled_in_mystore++;
        apply_outcome(ev, "skipped");
        lg_warn(COMPONENT, c->cfg->tenant,
                "order %s was shipped by the warehouse but is cancelled in Mystore; not marking "
                "it sent",
                id);
        err = ad_record(c, id, version, "cancelled_in_mystore", NULL, errstr, errstr_size);
        goto out;
    }
    int sent_before = 0;
    if ((err = ad_sent_before(c, id, &sent_before, errstr, errstr_size)))
        goto out;
    if (sent_before) {
        c->already_sent++;
        apply_outcome(ev, "unchanged");
        lg_info(COMPONENT, c->cfg->tenant,
                "order %s was marked '%s' before (its status history) and the shop has moved it "
                "on since; not marked again",
                id, c->cfg->mystore_status_sent);
        err = ad_record(c, id, version, "already_sent", NULL, errstr, errstr_size);
        goto out;
    }
    const char *sent_id = ad_status_id(c, c->cfg->mystore_status_sent);
    if (!sent_id) {
        err = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                        "no Mystore order status matches MYSTORE_STATUS_SENT '%s'",
                        c->cfg->mystore_status_sent);
        goto out;
    }
    if (c->cfg->dry_run) {
        err = ad_dry_run(c, id, version, tracking, sent_id, data, errstr, errstr_size);
        goto out;
    }
    if ((err = ad_mark_sent(c, id, tracking, sent_id, errstr, errstr_size)))
        goto out;
    c->delivered++;
    apply_outcome(ev, "applied");
    err = ad_record(c, id, version, "delivered", tracking, errstr, errstr_size);
out:
    json_decref(doc);
    json_decref(rec);
    json_decref(mapped);
    json_decref(ev);
    return err;
}

/* The target API answers (see apply_flow). */
static int ad_api_up(void *vctx, long long since_ms)
{
    ad_ctx *c = vctx;
    return ms_up_since(c->ms, since_ms);
}

/* The summary line of `mosync apply deliveries`. */
static void ad_summary(void *vctx)
{
    const ad_ctx *c = vctx;
    printf("{\"command\":\"apply deliveries\",\"messages\":%lu,\"delivered\":%lu,"
           "\"not_shipped\":%lu,\"not_in_mystore\":%lu,\"reference_mismatch\":%lu,"
           "\"already_sent\":%lu,\"cancelled_in_mystore\":%lu,\"duplicates\":%lu,"
           "\"dead_lettered\":%lu,\"busy_ms\":%lld,\"mystore_requests\":%lu}\n",
           c->messages, c->delivered, c->not_shipped, c->not_in_mystore, c->reference_mismatch,
           c->already_sent, c->cancelled_in_mystore, c->duplicates, c->counts.dead_lettered,
           apply_busy_ms(&c->counts), ms_requests(c->ms));
}

static void ad_free(void *vctx)
{
    ad_ctx *c = vctx;
    json_decref(c->statuses);
    ms_free(c->ms);
    free(c);
}

mo_err apply_deliveries_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow)
{
    ad_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return MO_ERR_NOMEM;
    c->cfg = cfg;
    c->rs = rs;
    c->ms = ms_new(cfg, rs, 1);
    if (!c->ms) {
        free(c);
        return MO_ERR_CONFIG;
    }
    *flow = (apply_flow){.name = "deliveries",
                         .component = COMPONENT,
                         .topic_base = KQ_TOPIC_SHIPMENTS,
                         .group_base = "mosync-apply-deliveries",
                         .handle = ad_handle,
                         .ctx = c,
                         .api_up_since = ad_api_up,
                         .api = "mystore",
                         .free_ctx = ad_free,
                         .summary = ad_summary,
                         .counts = &c->counts};
    return MO_OK;
}

int apply_deliveries(const mo_config *cfg, const apply_opts *opts)
{
    return apply_one(cfg, opts, apply_deliveries_flow);
}
