/* `mosync apply deliveries`: ongoing.shipments → the Mystore order turns
 * "levert" with its tracking number, once.
 *
 * mp_delivery_map (pure) decides whether the Ongoing order is shipped (O5) and
 * which tracking number counts (never a return parcel's).  Then:
 *   - an order delivered before (mosync:{T}:applied:deliveries:<id>) is not
 *     touched again, whatever the replay;
 *   - only orders that mosync itself put into Ongoing (the order flow's record
 *     says in_ongoing) are marked: an order typed into the warehouse by hand
 *     whose number happens to look like a Mystore id is left alone;
 *   - an order already sent or cancelled in Mystore is recorded, not written;
 *   - else PATCH orders/{id} {tracking_number} when there is one, then POST
 *     order-status-history with the "levert" status (M9). */
#include "apply.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "map_delivery.h"
#include "mapping.h"
#include "mystore.h"
#include "stop.h"
#include "store.h"

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
    unsigned long messages, delivered, not_shipped, not_ours, already_sent, cancelled_in_mystore,
        duplicates;
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
    size_t i;
    json_t *s;
    json_array_foreach(c->statuses, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (id && sid && !strcmp(id, sid))
            return mp_status_matches(id, json_object_get(json_object_get(s, "attributes"), "name"),
                                     wanted);
    }
    return mp_status_matches(sid, NULL, wanted);
}

static mo_err ad_record(ad_ctx *c, const char *id, const char *version, const char *state,
                        const char *tracking, char *errstr, size_t errstr_size)
{
    json_t *extra = json_pack("{s:s?}", "tracking_number", tracking);
    mo_err err =
        apply_record_set(c->rs, "deliveries", id, version, "", state, extra, errstr, errstr_size);
    json_decref(extra);
    return err;
}

/* The two Mystore writes of M9. */
static mo_err ad_mark_sent(ad_ctx *c, const char *id, const char *tracking, const char *sent_id,
                           char *errstr, size_t errstr_size)
{
    char path[128], comment[256];
    long status;
    mo_err err = MO_OK;
    if (tracking) {
        json_t *body = json_pack("{s:{s:s, s:s, s:{s:s}}}", "data", "type", "orders", "id", id,
                                 "attributes", "tracking_number", tracking);
        snprintf(path, sizeof(path), "orders/%s", id);
        err = ms_write(c->ms, "PATCH", path, body, NULL, &status, errstr, errstr_size);
        json_decref(body);
        if (err)
            return err;
        mo_crash_point("deliveries-between-writes");
    }
    if (tracking)
        snprintf(comment, sizeof(comment), "Sendt fra lager. Sporingsnummer: %s", tracking);
    else
        snprintf(comment, sizeof(comment), "Sendt fra lager.");
    /* customer_notified: the shop tells the customer, as when a person marks it sent. */
    json_t *body =
        json_pack("{s:{s:s, s:{s:s, s:i}, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}}}}", "data", "type",
                  "order-status-history", "attributes", "comments", comment, "customer_notified", 1,
                  "relationships", "order", "data", "type", "orders", "id", id, "order-status",
                  "data", "type", "order-status", "id", sent_id);
    err = ms_write(c->ms, "POST", "order-status-history", body, NULL, &status, errstr, errstr_size);
    json_decref(body);
    return err;
}

static mo_err ad_handle(void *vctx, const rd_kafka_message_t *msg, char *errstr, size_t errstr_size)
{
    ad_ctx *c = vctx;
    json_t *ev = NULL, *mapped = NULL, *rec = NULL, *orec = NULL, *doc = NULL;
    mo_err err;

    c->messages++;
    if ((err = ev_parse(msg->payload, msg->len, "ongoing.order", &ev, errstr, errstr_size)))
        return err;
    const char *version = json_string_value(json_object_get(ev, "source_version"));
    if (strcmp(json_string_value(json_object_get(ev, "tenant")), c->cfg->tenant)) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "event for another tenant");
        goto out;
    }
    if ((err = mp_delivery_map(json_object_get(ev, "data"), &mapped, errstr, errstr_size)))
        goto out;
    if (strcmp(json_string_value(json_object_get(mapped, "action")), "deliver")) {
        c->not_shipped++;
        goto out;
    }
    const char *id = json_string_value(json_object_get(mapped, "order_id"));
    const char *tracking = json_string_value(json_object_get(mapped, "tracking_number"));

    if ((err = apply_record_get(c->rs, "deliveries", id, &rec, errstr, errstr_size)))
        goto out;
    if (rec) { /* exactly once per order */
        c->duplicates++;
        goto out;
    }
    if ((err = apply_record_get(c->rs, "orders", id, &orec, errstr, errstr_size)))
        goto out;
    if (!json_is_true(json_object_get(orec, "in_ongoing"))) {
        c->not_ours++;
        lg_info(COMPONENT, c->cfg->tenant,
                "Ongoing order %s was not sent there by mosync; not marking it in Mystore", id);
        goto out;
    }

    char path[128];
    long status;
    snprintf(path, sizeof(path), "orders/%s", id);
    err = ms_get(c->ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && status == 404) {
        c->not_ours++;
        err = ad_record(c, id, version, "not_in_mystore", NULL, errstr, errstr_size);
        goto out;
    }
    if (err || (err = ad_statuses(c, errstr, errstr_size)))
        goto out;
    const char *sid = json_string_value(json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "data"), "relationships"),
                            "order_status"),
            "data"),
        "id"));
    if (ad_status_is(c, sid, c->cfg->mystore_status_sent)) {
        c->already_sent++;
        err = ad_record(c, id, version, "already_sent", NULL, errstr, errstr_size);
        goto out;
    }
    if (ad_status_is(c, sid, c->cfg->mystore_status_cancelled)) {
        c->cancelled_in_mystore++;
        lg_warn(COMPONENT, c->cfg->tenant,
                "order %s was shipped by the warehouse but is cancelled in Mystore; not marking "
                "it sent",
                id);
        err = ad_record(c, id, version, "cancelled_in_mystore", NULL, errstr, errstr_size);
        goto out;
    }
    const char *sent_id = ad_status_id(c, c->cfg->mystore_status_sent);
    if (!sent_id) {
        err = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                        "no Mystore order status matches MYSTORE_STATUS_SENT '%s'",
                        c->cfg->mystore_status_sent);
        goto out;
    }
    if ((err = ad_mark_sent(c, id, tracking, sent_id, errstr, errstr_size)))
        goto out;
    c->delivered++;
    err = ad_record(c, id, version, "delivered", tracking, errstr, errstr_size);
out:
    json_decref(doc);
    json_decref(orec);
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

int apply_deliveries(const mo_config *cfg, const apply_opts *opts)
{
    char errstr[512];
    ad_ctx c = {.cfg = cfg};
    c.rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!c.rs) {
        lg_error(COMPONENT, cfg->tenant, "%s", errstr);
        return 2;
    }
    c.ms = ms_new(cfg, c.rs, 1);
    if (!c.ms) {
        rs_close(c.rs);
        return 1;
    }
    apply_flow flow = {.name = "deliveries",
                       .component = COMPONENT,
                       .topic_base = KQ_TOPIC_SHIPMENTS,
                       .group_base = "mosync-apply-deliveries",
                       .handle = ad_handle,
                       .ctx = &c,
                       .api_up_since = ad_api_up};
    int rc = apply_run(cfg, &flow, opts, &c.counts);
    printf("{\"command\":\"apply deliveries\",\"messages\":%lu,\"delivered\":%lu,"
           "\"not_shipped\":%lu,\"not_ours\":%lu,\"already_sent\":%lu,"
           "\"cancelled_in_mystore\":%lu,\"duplicates\":%lu,\"dead_lettered\":%lu,\"busy_ms\":%lld,"
           "\"mystore_requests\":%lu}\n",
           c.messages, c.delivered, c.not_shipped, c.not_ours, c.already_sent,
           c.cancelled_in_mystore, c.duplicates, c.counts.dead_lettered, apply_busy_ms(&c.counts),
           ms_requests(c.ms));
    fflush(stdout);
    json_decref(c.statuses);
    ms_free(c.ms);
    rs_close(c.rs);
    return rc;
}
