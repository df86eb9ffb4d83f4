/* `mosync apply orders`: mystore.orders → Ongoing orders.
 *
 * For each event: parse, map (mp_order_map, pure), then apply the order rules
 * of the API model:
 *   - the same request as last time (hash in mosync:{T}:applied:orders:<id>)
 *     is skipped without a call; an older source version is skipped as stale;
 *   - upsert: missing articles first (O4), then PUT /orders; a 4xx while the
 *     Ongoing status is not editable (O1) is a refusal: recorded, not retried;
 *   - "kansellert": DELETE /orders; when Ongoing cannot cancel any more that
 *     is recorded as an error to look at;
 *   - sent in Mystore: nothing to do;
 *   - a status MYSTORE_ORDER_STATUSES does not list: nothing to do, recorded
 *     as "waiting" (no Ongoing request, not a dead letter).  The poller emits
 *     the order again when the shop moves it into a listed status, and it is
 *     sent then.  An order already in Ongoing whose status leaves the list is
 *     left there as it is (logged): only "kansellert" cancels.
 * The record is written only after Ongoing accepted (or refused) the write.
 *
 * Redis is a cache, not the truth: the records expire (APPLIED_TTL_DAYS) and
 * may be lost at any time.  Without one, an order is sent again with the same
 * content (PUT /orders is an idempotent upsert, and a refused update is
 * refused by Ongoing again), but a cancel is never sent twice: with no record
 * the Ongoing order is read first. */
#include "apply.h"
#include "event.h"
#include "hourly.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "map_diff.h"
#include "map_delivery.h"
#include "map_order.h"
#include "ongoing.h"
#include "sha256.h"
#include "stop.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "apply.orders"

typedef struct ao_ctx {
    const mo_config *cfg;
    rs_store *rs;
    og_client *og;
    mp_order_conf mconf;
    const json_t *ev; /* the event in hand, for apply_outcome */
    unsigned long messages, created, updated, refused, cancelled, cancel_refused, not_in_ongoing,
        skipped_sent, waiting, duplicates, stale, articles_created;
    apply_counts counts;
} ao_ctx;

/* Writes the applied record of an order: source version, request hash,
 * outcome, and the Ongoing status when it was read (-1: not read). */
static mo_err ao_record(ao_ctx *c, const char *id, const char *version, const char *hash,
                        const char *state, int ongoing_status, char *errstr, size_t errstr_size)
{
    json_t *extra = NULL;
    if (ongoing_status >= 0)
        extra = json_pack("{s:i}", "ongoing_status", ongoing_status);
    mo_err err = apply_record_set_fenced(c->rs, "orders", id, version, ev_fence(c->ev), hash, state,
                                         extra, cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
    json_decref(extra);
    return err;
}

/* O4: Ongoing refuses order lines whose article it does not know, so every
 * line's article is made to exist first.  Articles already known (created by
 * us or found in Ongoing) are remembered in mosync:{T}:known:article:<no>.
 * A forced message (a resync, replay --force) asks Ongoing whatever the mark
 * says: it is sent because the target may have lost what Redis remembers
 * (mosync reconcile --fix after the warehouse deleted the article). */
/* Which of the order's articles carry a known:article mark: one MGET for
 * all of them (one round trip per order, not per line: found by profiling
 * the applier, issue 15).  *known (new reference): an array of booleans in
 * the order of articles; a mark that does not parse counts as absent. */
static mo_err ao_known_marks(ao_ctx *c, const json_t *articles, json_t **known, char *errstr,
                             size_t errstr_size)
{
    size_t n = json_array_size(articles), i;
    json_t *a, *reply = NULL;
    *known = json_array();
    if (!n || !*known)
        return *known ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    const char **argv = calloc(n + 1, sizeof(*argv));
    char(*keys)[RS_KEY_SIZE] = calloc(n, sizeof(*keys));
    mo_err err = MO_OK;
    if (!argv || !keys) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    argv[0] = "MGET";
    json_array_foreach(articles, i, a)
    {
        const char *no = json_string_value(json_object_get(a, "articleNumber"));
        char suffix[512];
        if (!no) {
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "article without a number");
            goto out;
        }
        snprintf(suffix, sizeof(suffix), "known:article:%s", no);
        argv[i + 1] = rs_key(c->rs, suffix, keys[i], sizeof(keys[i]));
    }
    if ((err = rs_call(c->rs, (int)n + 1, argv, &reply, errstr, errstr_size)))
        goto out;
    for (i = 0; i < n; i++) {
        const char *v = json_string_value(json_array_get(reply, i));
        json_t *mark = v ? json_loads(v, 0, NULL) : NULL;
        json_array_append_new(*known, json_boolean(mark != NULL));
        json_decref(mark);
    }
out:
    json_decref(reply);
    free(argv);
    free(keys);
    if (err) {
        json_decref(*known);
        *known = NULL;
    }
    return err;
}

static mo_err ao_ensure_articles(ao_ctx *c, const json_t *articles, char *errstr,
                                 size_t errstr_size)
{
    size_t i;
    json_t *a, *known;
    mo_err err = ao_known_marks(c, articles, &known, errstr, errstr_size);
    if (err)
        return err;
    json_array_foreach(articles, i, a)
    {
        const char *no = json_string_value(json_object_get(a, "articleNumber"));
        char suffix[512];
        int exists;
        long status;
        if (json_is_true(json_array_get(known, i)) && !apply_forced())
            continue;
        snprintf(suffix, sizeof(suffix), "known:article:%s", no);
        if ((err = og_article_exists(c->og, no, &exists, errstr, errstr_size)))
            break;
        if (!exists) {
            if ((err = og_article_put(c->og, a, &status, errstr, errstr_size)))
                break;
            c->articles_created++;
        }
        json_t *mark = json_pack("{s:s}", "by", exists ? "found" : "order-line");
        err = rs_set_json(c->rs, suffix, mark, cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
        json_decref(mark);
        if (err)
            break;
    }
    json_decref(known);
    return err;
}

/* Did mosync put the order into Ongoing and leave it open there, as far as
 * its applied record (borrowed, may be NULL) tells: created or updated, or
 * waiting since then (a status that left MYSTORE_ORDER_STATUSES does not take
 * the order out of the warehouse). */
static int ao_in_ongoing(const json_t *rec)
{
    const char *prev = json_string_value(json_object_get(rec, "state"));
    if (prev && !strcmp(prev, "waiting"))
        return json_is_true(json_object_get(rec, "in_ongoing"));
    return prev && (!strcmp(prev, "created") || !strcmp(prev, "updated"));
}

/* An order whose status MYSTORE_ORDER_STATUSES does not list: nothing is
 * sent to Ongoing, and the record says "waiting" (with "in_ongoing" when
 * mosync had put the order into Ongoing before: it stays there untouched, as
 * the warehouse may have started on it; only a cancel in Mystore cancels it).
 * A later event of the order in a listed status is a new request, so the
 * order is sent then. */
static mo_err ao_wait(ao_ctx *c, const char *id, const char *version, const char *hash,
                      const json_t *rec, const json_t *mapped, char *errstr, size_t errstr_size)
{
    const char *reason = json_string_value(json_object_get(mapped, "reason"));
    int in_ongoing = ao_in_ongoing(rec);
    if (in_ongoing)
        lg_warn(COMPONENT, c->cfg->tenant,
                "order %s: %s, but it is in Ongoing already; the warehouse order is left as it "
                "is (only a cancel in Mystore cancels it)",
                id, reason);
    else
        lg_info(COMPONENT, c->cfg->tenant, "order %s: %s; waiting, not sent to Ongoing", id,
                reason);
    c->waiting++;
    apply_outcome(c->ev, "waiting");
    json_t *extra = in_ongoing ? json_pack("{s:b}", "in_ongoing", 1) : NULL;
    mo_err err =
        apply_record_set_fenced(c->rs, "orders", id, version, ev_fence(c->ev), hash, "waiting",
                                extra, cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
    json_decref(extra);
    return err;
}

/* Counts order id in its tenant's hour, with its lag from the poller's
 * observation, and puts it at the head of the last orders, for the admin
 * page (hourly.h).  Best effort: the order is in Ongoing whatever Redis
 * says, so a failure is only logged. */
static void ao_count_hour(ao_ctx *c, const char *id, const char *outcome)
{
    char errstr[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    const char *observed = json_string_value(json_object_get(c->ev, "observed_at"));
    if (hs_applied(c->rs, "orders", id, outcome, ts.tv_sec, hs_lag_ms(observed, now_ms), errstr,
                   sizeof(errstr)))
        lg_warn(COMPONENT, c->cfg->tenant, "the orders of this hour were not counted: %s", errstr);
}

static mo_err ao_upsert(ao_ctx *c, const char *id, const char *version, const char *hash,
                        const json_t *rec, const json_t *mapped, char *errstr, size_t errstr_size)
{
    long status = 0;
    mo_err err = ao_ensure_articles(c, json_object_get(mapped, "articles"), errstr, errstr_size);
    if (err)
        return err;
    err = og_order_put(c->og, json_object_get(mapped, "order"), &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT) {
        /* Refused: is it because the warehouse has started on the order (O1)? */
        char why[512];
        json_t *order = NULL;
        snprintf(why, sizeof(why), "%s", errstr);
        if ((err = og_order_get(c->og, id, &order, errstr, errstr_size)))
            return err;
        int st = order ? og_order_status(order) : -1;
        json_decref(order);
        if (st >= 0 && !cfg_ongoing_editable(c->cfg, st)) {
            lg_warn(COMPONENT, c->cfg->tenant,
                    "order %s changed in Mystore but Ongoing status %d no longer allows updates; "
                    "refused and recorded",
                    id, st);
            c->refused++;
            apply_outcome(c->ev, "refused");
            return ao_record(c, id, version, hash, "refused", st, errstr, errstr_size);
        }
        return mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size, "%s", why);
    }
    if (err)
        return err;
    mo_crash_point("apply-after-effect");
    int update = ao_in_ongoing(rec);
    if (update)
        c->updated++;
    else
        c->created++;
    apply_outcome(c->ev, "applied");
    ao_count_hour(c, id, update ? "updated" : "created");
    return ao_record(c, id, version, hash, update ? "updated" : "created", -1, errstr, errstr_size);
}

/* Records the cancel of order id as the Ongoing order (borrowed, NULL when
 * Ongoing has none) shows it: gone, cancelled (status 1000), or refused
 * because Ongoing cannot cancel it any more (logged as an error for someone
 * to look at; why is the reason Ongoing gave, NULL when no DELETE was sent). */
static mo_err ao_cancel_outcome(ao_ctx *c, const char *id, const char *version, const char *hash,
                                const json_t *order, const char *why, char *errstr,
                                size_t errstr_size)
{
    int st = order ? og_order_status(order) : -1;
    if (!order) {
        c->not_in_ongoing++;
        apply_outcome(c->ev, "skipped");
        return ao_record(c, id, version, hash, "not_in_ongoing", -1, errstr, errstr_size);
    }
    if (st == 1000) { /* cancelled already: not by this message */
        c->cancelled++;
        apply_outcome(c->ev, "unchanged");
        return ao_record(c, id, version, hash, "cancelled", st, errstr, errstr_size);
    }
    lg_error(COMPONENT, c->cfg->tenant,
             "order %s is cancelled in Mystore but Ongoing (status %d) could not cancel it: %s; "
             "look at it in the warehouse",
             id, st, why ? why : "its status no longer allows a cancel");
    c->cancel_refused++;
    apply_outcome(c->ev, "refused");
    return ao_record(c, id, version, hash, "cancel_refused", st, errstr, errstr_size);
}

/* Cancels order id in Ongoing.  rec is the order's applied record (NULL when
 * Redis has none: never seen, expired or lost).  Without a record of an order
 * mosync put into Ongoing and left open, the Ongoing order is read first:
 * already cancelled, gone, or no longer cancellable (O1) is recorded without a
 * DELETE, so a cancel is never sent twice however much Redis forgot. */
static mo_err ao_cancel(ao_ctx *c, const char *id, const char *version, const char *hash,
                        const json_t *rec, char *errstr, size_t errstr_size)
{
    long status = 0;
    char why[512];
    json_t *order = NULL;
    mo_err err;
    int open_by_us = ao_in_ongoing(rec);

    if (!open_by_us) {
        if ((err = og_order_get(c->og, id, &order, errstr, errstr_size)))
            return err;
        int st = order ? og_order_status(order) : -1;
        if (!order || st == 1000 || (st >= 0 && !cfg_ongoing_editable(c->cfg, st))) {
            err = ao_cancel_outcome(c, id, version, hash, order, NULL, errstr, errstr_size);
            json_decref(order);
            return err;
        }
        json_decref(order);
        order = NULL;
    }
    err = og_order_cancel(c->og, id, &status, errstr, errstr_size);
    if (err == MO_OK) {
        c->cancelled++;
        apply_outcome(c->ev, "applied");
        return ao_record(c, id, version, hash, "cancelled", 1000, errstr, errstr_size);
    }
    if (err != MO_ERR_PERMANENT)
        return err;
    /* Refused: gone, cancelled meanwhile, or work has started (O1)? */
    snprintf(why, sizeof(why), "%s", errstr);
    if ((err = og_order_get(c->og, id, &order, errstr, errstr_size)))
        return err;
    err = ao_cancel_outcome(c, id, version, hash, order, why, errstr, errstr_size);
    json_decref(order);
    return err;
}

/* DRY_RUN=on: what the order rules above would send for this order, against
 * what Ongoing holds now (GET), reported and not sent (apply.h).  Reads only:
 * the articles the order's lines need (O4) and the order.  Outcomes: "create",
 * "update", "no_difference" (the PUT would change nothing mosync sends),
 * "refused" (the Ongoing status no longer allows an update, O1), "cancel",
 * "already_cancelled", "cancel_refused", "not_in_ongoing", "skip" (sent
 * in Mystore: nothing to send) and "waiting" (a status MYSTORE_ORDER_STATUSES
 * does not list: nothing to send and nothing asked of Ongoing, as in the real
 * run; the mapping's reason is the report's "reason"). */
static mo_err ao_dry_run(ao_ctx *c, const char *id, const char *version, const json_t *mapped,
                         char *errstr, size_t errstr_size)
{
    const char *action = json_string_value(json_object_get(mapped, "action"));
    json_t *requests = json_array(), *diffs = NULL, *order = NULL, *article_diffs = NULL;
    const char *outcome = "skip", *reason = NULL;
    char path[1024], esc[512];
    mo_err err = MO_OK;
    size_t i;
    json_t *a;

    if (!requests)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (!strcmp(action, "upsert")) {
        const json_t *body = json_object_get(mapped, "order");
        if (!(article_diffs = json_array())) {
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        /* O4: the articles the real run would create first (Ongoing is asked,
         * not the known:article marks, since the target is what counts). */
        json_array_foreach(json_object_get(mapped, "articles"), i, a)
        {
            const char *no = json_string_value(json_object_get(a, "articleNumber"));
            int exists = 0;
            if (!no) {
                err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "article without a number");
                goto out;
            }
            if ((err = og_article_exists(c->og, no, &exists, errstr, errstr_size)))
                goto out;
            if (exists)
                continue;
            snprintf(path, sizeof(path), "articles[%s]", no);
            if (json_array_append_new(requests, apply_dry_request("PUT", "articles", a)) ||
                json_array_append_new(article_diffs, json_pack("{s:s, s:O, s:n}", "field", path,
                                                               "would_send", a, "target_has"))) {
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto out;
            }
        }
        if ((err = og_order_get(c->og, id, &order, errstr, errstr_size)) ||
            (err = mp_diff_order(body, order, &diffs, errstr, errstr_size)))
            goto out;
        int st = order ? og_order_status(order) : -1;
        if (!order)
            outcome = "create";
        else if (st >= 0 && !cfg_ongoing_editable(c->cfg, st))
            outcome = "refused";
        else if (json_array_size(diffs) == 0 && json_array_size(article_diffs) == 0)
            outcome = "no_difference";
        else
            outcome = "update";
        if (json_array_extend(article_diffs, diffs) ||
            json_array_append_new(requests, apply_dry_request("PUT", "orders", body))) {
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        json_decref(diffs);
        diffs = article_diffs;
        article_diffs = NULL;
    } else if (!strcmp(action, "cancel")) {
        if ((err = og_order_get(c->og, id, &order, errstr, errstr_size)))
            goto out;
        int st = order ? og_order_status(order) : -1;
        if (order && (err = mp_diff_cancel(order, &diffs, errstr, errstr_size)))
            goto out;
        if (!order) {
            outcome = "not_in_ongoing";
        } else if (st == MP_ONGOING_STATUS_CANCELLED) {
            outcome = "already_cancelled";
        } else if (st >= 0 && !cfg_ongoing_editable(c->cfg, st)) {
            outcome = "cancel_refused";
        } else {
            outcome = "cancel";
            if (hc_escape(id, esc, sizeof(esc))) {
                err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "order number too long");
                goto out;
            }
            snprintf(path, sizeof(path), "orders?goodsOwnerId=%ld&orderNumber=%s",
                     c->cfg->ongoing_goods_owner, esc);
            if (json_array_append_new(requests, apply_dry_request("DELETE", path, NULL))) {
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto out;
            }
        }
    } else if (!strcmp(action, "wait")) {
        outcome = "waiting";
        reason = json_string_value(json_object_get(mapped, "reason"));
    }
    err = apply_dry_report_why(c->cfg, c->rs, "orders", id, version, outcome, requests, diffs, NULL,
                               reason, errstr, errstr_size);
out:
    json_decref(article_diffs);
    json_decref(diffs);
    json_decref(order);
    json_decref(requests);
    return err;
}

static mo_err ao_handle(void *vctx, const rd_kafka_message_t *msg, char *errstr, size_t errstr_size)
{
    ao_ctx *c = vctx;
    json_t *ev = NULL, *mapped = NULL, *rec = NULL;
    char hash[65];
    mo_err err;

    c->messages++;
    if ((err = ev_parse(msg->payload, msg->len, "mystore.order", &ev, errstr, errstr_size)))
        return err;
    const char *id = json_string_value(json_object_get(ev, "entity_id"));
    const char *version = json_string_value(json_object_get(ev, "source_version"));
    int ours = apply_tenant_ours(c->cfg, c->rs, ev, &err, errstr, errstr_size);
    if (ours <= 0) {
        if (!ours)
            apply_outcome(ev, "skipped");
        goto out;
    }
    if ((err = mp_order_map(json_object_get(ev, "data"), &c->mconf, &mapped, errstr, errstr_size)))
        goto out;

    if ((err = apply_hash(mapped, hash))) {
        mo_seterr(err, errstr, errstr_size, "out of memory");
        goto out;
    }
    if ((err = apply_record_get(c->rs, "orders", id, &rec, errstr, errstr_size)))
        goto out;
    const char *rec_version = json_string_value(json_object_get(rec, "version"));
    if (apply_same_request(rec, hash)) {
        c->duplicates++;
        apply_outcome(ev, "unchanged");
        if (c->cfg->dry_run)
            err = apply_dry_report(c->cfg, c->rs, "orders", id, version, "duplicate", NULL, NULL,
                                   NULL, errstr, errstr_size);
        goto out;
    }
    if (apply_stale(ev, rec)) {
        c->stale++;
        apply_outcome(ev, "stale");
        lg_info(COMPONENT, c->cfg->tenant,
                "order %s: version %s (fence %lld) is older than applied %s; skipped", id, version,
                ev_fence(ev), rec_version);
        if (c->cfg->dry_run)
            err = apply_dry_report(c->cfg, c->rs, "orders", id, version, "stale", NULL, NULL, NULL,
                                   errstr, errstr_size);
        goto out;
    }

    const char *action = json_string_value(json_object_get(mapped, "action"));
    c->ev = ev;
    if (c->cfg->dry_run) {
        err = ao_dry_run(c, id, version, mapped, errstr, errstr_size);
    } else if (!strcmp(action, "upsert")) {
        err = ao_upsert(c, id, version, hash, rec, mapped, errstr, errstr_size);
    } else if (!strcmp(action, "cancel")) {
        err = ao_cancel(c, id, version, hash, rec, errstr, errstr_size);
    } else if (!strcmp(action, "wait")) {
        err = ao_wait(c, id, version, hash, rec, mapped, errstr, errstr_size);
    } else {
        c->skipped_sent++;
        apply_outcome(ev, "skipped");
        err = ao_record(c, id, version, hash, "skipped", -1, errstr, errstr_size);
    }
    if (err == MO_ERR_PERMANENT || err == MO_ERR_INVALID) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "order %s: %s", id, errstr);
        snprintf(errstr, errstr_size, "%s", tmp);
    }
out:
    c->ev = NULL;
    json_decref(rec);
    json_decref(mapped);
    json_decref(ev);
    return err;
}

/* The target API answers (see apply_flow). */
static int ao_api_up(void *vctx, long long since_ms)
{
    ao_ctx *c = vctx;
    return og_up_since(c->og, since_ms);
}

void apply_order_conf(const mo_config *cfg, mp_order_conf *conf)
{
    *conf = (mp_order_conf){.goods_owner_id = cfg->ongoing_goods_owner,
                            .timezone = cfg->mystore_timezone,
                            .language = cfg->mystore_language,
                            .status_sent = cfg->mystore_status_sent,
                            .status_cancelled = cfg->mystore_status_cancelled,
                            .order_statuses = cfg->mystore_order_statuses,
                            .shipping_methods = cfg->shipping_methods};
}

/* The summary line of `mosync apply orders`. */
static void ao_summary(void *vctx)
{
    const ao_ctx *c = vctx;
    printf("{\"command\":\"apply orders\",\"messages\":%lu,\"created\":%lu,\"updated\":%lu,"
           "\"refused\":%lu,\"cancelled\":%lu,\"cancel_refused\":%lu,\"not_in_ongoing\":%lu,"
           "\"skipped_sent\":%lu,\"waiting\":%lu,\"duplicates\":%lu,\"stale\":%lu,"
           "\"articles_created\":%lu,\"dead_lettered\":%lu,\"busy_ms\":%lld,"
           "\"ongoing_requests\":%lu}\n",
           c->messages, c->created, c->updated, c->refused, c->cancelled, c->cancel_refused,
           c->not_in_ongoing, c->skipped_sent, c->waiting, c->duplicates, c->stale,
           c->articles_created, c->counts.dead_lettered, apply_busy_ms(&c->counts),
           og_requests(c->og));
}

static void ao_free(void *vctx)
{
    ao_ctx *c = vctx;
    og_free(c->og);
    free(c);
}

mo_err apply_orders_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow)
{
    ao_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return MO_ERR_NOMEM;
    c->cfg = cfg;
    apply_order_conf(cfg, &c->mconf);
    c->rs = rs;
    c->og = og_new(cfg, rs, 1);
    if (!c->og) {
        free(c);
        return MO_ERR_CONFIG;
    }
    *flow = (apply_flow){.name = "orders",
                         .component = COMPONENT,
                         .topic_base = KQ_TOPIC_ORDERS,
                         .group_base = "mosync-apply-orders",
                         .handle = ao_handle,
                         .ctx = c,
                         .api_up_since = ao_api_up,
                         .api = "ongoing",
                         .free_ctx = ao_free,
                         .summary = ao_summary,
                         .counts = &c->counts};
    return MO_OK;
}

int apply_orders(const mo_config *cfg, const apply_opts *opts)
{
    return apply_one(cfg, opts, apply_orders_flow);
}
