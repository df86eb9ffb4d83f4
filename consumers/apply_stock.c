/* `mosync apply stock`: ongoing.stock → Mystore stock, off unless
 * STOCK_SYNC=on (as in the seed integration).
 *
 * mp_stock_map (pure) finds the target (the variant from the article's free
 * decimal 2 or the map entry, or a product without variants) and the quantity
 * max(0, floor(sellable)) (M10).  The write is skipped when the value equals
 * the last one written, and an event older than the last one applied never
 * overwrites it (version guard: the poll time of the event).
 *
 * Redis is a cache, not the truth: the map entry
 * mosync:{T}:map:article:<no> comes from the article flow, or, when that has
 * not seen the article (it never ran, or Redis lost the map), from looking
 * the SKU up in Mystore (M16, M17), and the answer fills the map.  A SKU
 * Mystore does not have is remembered in mosync:{T}:notfound:article:<no> for
 * AS_NOTFOUND_TTL_S, so articles of other sales channels do not spend the
 * Mystore budget on every stock change.  Both expire. */
#include "apply.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "map_diff.h"
#include "map_stock.h"
#include "mapping.h"
#include "mystore.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#define COMPONENT "apply.stock"

/* How long "Mystore has no such SKU" is remembered.  A day bounds the
 * look-ups to one (or two) per unknown article per day, whatever its stock
 * does: a goods owner with 10,000 articles of other channels costs at most
 * 20,000 of the 172,800 requests a day of the default budget.  A product
 * added to the shop later is not delayed by it when the article flow runs
 * (its map entry is read first); without the article flow its stock lands at
 * the first stock change after the entry expired. */
#define AS_NOTFOUND_TTL_S (24L * 3600)

typedef struct as_ctx {
    const mo_config *cfg;
    rs_store *rs;
    ms_client *ms;
    unsigned long messages, written, unchanged, stale, unknown, lookups, found;
    int warned_unavailable; /* a look-up route answered 4xx: said once */
    int read_only;          /* apply_stock_lookup for reconcile: no cache written */
    apply_counts counts;
} as_ctx;

/* M16: Mystore's filter (mystore-research.md 1.5) asking for the items whose
 * sku equals `sku`, into buf (ms_filter_sku, shared with mosync doctor's
 * probe of M16 and M17).  MO_ERR_TOO_LARGE when it does not fit. */
static mo_err as_sku_filter(const char *sku, char *buf, size_t size)
{
    return ms_filter_sku(sku, buf, size);
}

/* Lists `path` (products or product-variants) filtered by SKU `no` and keeps
 * the items whose sku is exactly `no`: a server that ignored the filter, or
 * matched without regard to case, cannot point the stock at another item.
 * *match: the first such item (new reference, NULL when none); *count: how
 * many.  *doubt is set when the answer cannot be trusted to be complete (more
 * than one page: the filter was ignored, or the SKU is everywhere) or the
 * route refused the query for good (a 4xx: the look-up is unavailable). */
static mo_err as_find(as_ctx *c, const char *path, const char *no, json_t **match, int *count,
                      const char **doubt, char *errstr, size_t errstr_size)
{
    char query[1024];
    json_t *items = NULL, *item;
    int has_next = 0;
    size_t i;

    *match = NULL;
    *count = 0;
    *doubt = NULL;
    if (as_sku_filter(no, query, sizeof(query)))
        return mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                         "article number '%.64s...' is too long to look up", no);
    c->lookups++;
    mo_err err = ms_list_page(c->ms, path, query, 1, &items, &has_next, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT) {
        if (!c->warned_unavailable)
            lg_warn(COMPONENT, c->cfg->tenant,
                    "Mystore refused the look-up of a SKU on %s (%s); articles the article flow "
                    "has not mapped get no stock",
                    path, errstr);
        c->warned_unavailable = 1;
        *doubt = "Mystore refused the SKU look-up";
        return MO_OK;
    }
    if (err)
        return err;
    json_array_foreach(items, i, item)
    {
        const char *sku =
            json_string_value(json_object_get(json_object_get(item, "attributes"), "sku"));
        if (sku && !strcmp(sku, no) && (*count)++ == 0)
            *match = json_incref(item);
    }
    json_decref(items);
    if (has_next)
        *doubt = "the SKU look-up answered more than one page";
    return MO_OK;
}

/* The map entry for a product (pid) whose SKU list matched article `no`:
 * the product itself when it has no variants, else its variant with that SKU
 * (a product may share its SKU with one of its variants); else *reason says
 * why it is not writable (M10).  *entry new reference or NULL. */
static mo_err as_entry_of_product(as_ctx *c, const char *pid, const char *no, json_t **entry,
                                  const char **reason, char *errstr, size_t errstr_size)
{
    char path[128];
    json_t *variants = NULL, *v;
    size_t i;

    *entry = NULL;
    snprintf(path, sizeof(path), "products/%s/product-variants", pid);
    mo_err err = ms_list_all(c->ms, path, &variants, errstr, errstr_size);
    if (err)
        return err;
    if (json_array_size(variants) == 0)
        *entry = json_pack("{s:s, s:n, s:s}", "product_id", pid, "variant_id", "by", "lookup");
    json_array_foreach(variants, i, v)
    {
        const char *sku =
            json_string_value(json_object_get(json_object_get(v, "attributes"), "sku"));
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (sku && !strcmp(sku, no) && mp_is_id(vid)) {
            *entry =
                json_pack("{s:s, s:s, s:s}", "product_id", pid, "variant_id", vid, "by", "lookup");
            break;
        }
    }
    json_decref(variants);
    if (!*entry)
        *reason = "the product has variants (M10)";
    return MO_OK;
}

/* Where does article `no` go in Mystore, when neither its free decimal 2 nor
 * the map says?  Asks the not-found cache, then Mystore: products by SKU
 * (M16), then variants by SKU (M17).  A found target fills the map
 * (expiring); anything else is remembered as not found for
 * AS_NOTFOUND_TTL_S.  *entry: the map entry (new reference) or NULL. */
static mo_err as_lookup(as_ctx *c, const char *no, json_t **entry, char *errstr, size_t errstr_size)
{
    char key[512];
    json_t *nf = NULL, *match = NULL;
    const char *reason = NULL, *doubt = NULL;
    int count = 0;
    mo_err err;

    *entry = NULL;
    snprintf(key, sizeof(key), "notfound:article:%s", no);
    if ((err = rs_get_json(c->rs, key, &nf, errstr, errstr_size)) && err != MO_ERR_INVALID)
        return err;
    if (nf || err == MO_ERR_INVALID) { /* remembered (a damaged entry counts too: it expires) */
        json_decref(nf);
        return MO_OK;
    }

    if ((err = as_find(c, "products", no, &match, &count, &doubt, errstr, errstr_size)))
        return err;
    if (count == 1 && !doubt) {
        const char *pid = json_string_value(json_object_get(match, "id"));
        if (mp_is_id(pid))
            err = as_entry_of_product(c, pid, no, entry, &reason, errstr, errstr_size);
        else
            reason = "the product found has no usable id";
    } else if (count > 1) {
        reason = "several products have this SKU";
    } else if (doubt) {
        reason = doubt;
    } else {
        json_decref(match);
        match = NULL;
        if ((err = as_find(c, "product-variants", no, &match, &count, &doubt, errstr, errstr_size)))
            return err;
        const char *vid = json_string_value(json_object_get(match, "id"));
        const char *pid = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(match, "relationships"), "product"),
                            "data"),
            "id"));
        if (count == 1 && !doubt && mp_is_id(vid) && mp_is_id(pid))
            *entry =
                json_pack("{s:s, s:s, s:s}", "product_id", pid, "variant_id", vid, "by", "lookup");
        else if (count > 1)
            reason = "several variants have this SKU";
        else if (doubt)
            reason = doubt;
        else if (count == 1)
            reason = "the variant found has no usable id or product";
        else
            reason = "no product or variant has this SKU";
    }
    json_decref(match);
    if (err)
        return err;

    if (*entry) {
        const char *vid = json_string_value(json_object_get(*entry, "variant_id"));
        c->found++;
        lg_info(COMPONENT, c->cfg->tenant, "article %s found in Mystore by SKU: %s %s", no,
                vid ? "variant" : "product",
                vid ? vid : json_string_value(json_object_get(*entry, "product_id")));
        if (c->cfg->dry_run || c->read_only) /* a dry run fills no cache */
            return MO_OK;
        snprintf(key, sizeof(key), "map:article:%s", no);
        return rs_set_json(c->rs, key, *entry, cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
    }
    if (!reason)
        reason = "no product or variant has this SKU";
    lg_info(COMPONENT, c->cfg->tenant,
            "article %s: no stock written to Mystore: %s (asked again in %ld h)", no, reason,
            AS_NOTFOUND_TTL_S / 3600);
    if (c->cfg->dry_run || c->read_only)
        return MO_OK;
    long ttl_s = cfg_applied_ttl_s(c->cfg);
    if (ttl_s <= 0 || ttl_s > AS_NOTFOUND_TTL_S)
        ttl_s = AS_NOTFOUND_TTL_S;
    char now[32];
    ev_utc_now(now, sizeof(now));
    json_t *mark = json_pack("{s:s, s:s}", "reason", reason, "at", now);
    err = rs_set_json(c->rs, key, mark, ttl_s, errstr, errstr_size);
    json_decref(mark);
    return err;
}

mo_err apply_stock_lookup(const mo_config *cfg, rs_store *rs, ms_client *ms, const char *no,
                          int remember, json_t **entry, char *errstr, size_t errstr_size)
{
    as_ctx c = {.cfg = cfg, .rs = rs, .ms = ms, .read_only = !remember};
    return as_lookup(&c, no, entry, errstr, errstr_size);
}

/* DRY_RUN=on: the PATCH this article's stock would send (path, body), against
 * the quantity the Mystore variant or product holds now (GET), reported and
 * not sent (apply.h): "write" or "no_difference". */
static mo_err as_dry_run(as_ctx *c, const char *no, const char *version, const json_t *mapped,
                         const char *path, const json_t *body, char *errstr, size_t errstr_size)
{
    json_t *doc = NULL, *diffs = NULL, *requests = json_array();
    long status = 0;
    mo_err err;

    if (!requests || json_array_append_new(requests, apply_dry_request("PATCH", path, body))) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    err = ms_get(c->ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && status == 404) { /* gone: the PATCH would be refused */
        json_decref(doc);
        doc = NULL;
        err = MO_OK;
    }
    if (err ||
        (err = mp_diff_stock(mapped, json_object_get(doc, "data"), &diffs, errstr, errstr_size)))
        goto out;
    err = apply_dry_report(c->cfg, c->rs, "stock", no, version,
                           json_array_size(diffs) ? "write" : "no_difference", requests, diffs,
                           NULL, errstr, errstr_size);
out:
    json_decref(doc);
    json_decref(diffs);
    json_decref(requests);
    return err;
}

static mo_err as_handle(void *vctx, const rd_kafka_message_t *msg, char *errstr, size_t errstr_size)
{
    as_ctx *c = vctx;
    json_t *ev = NULL, *entry = NULL, *mapped = NULL, *rec = NULL;
    char key[512], hash[65];
    mo_err err;

    c->messages++;
    if ((err = ev_parse(msg->payload, msg->len, "ongoing.article", &ev, errstr, errstr_size)))
        return err;
    const char *no = json_string_value(json_object_get(ev, "entity_id"));
    const char *version = json_string_value(json_object_get(ev, "source_version"));
    int ours = apply_tenant_ours(c->cfg, c->rs, ev, &err, errstr, errstr_size);
    if (ours <= 0) {
        if (!ours)
            apply_outcome(ev, "skipped");
        goto out;
    }
    snprintf(key, sizeof(key), "map:article:%s", no);
    if ((err = rs_get_json(c->rs, key, &entry, errstr, errstr_size)) ||
        (err = mp_stock_map(json_object_get(ev, "data"), entry, &mapped, errstr, errstr_size)))
        goto out;
    if (strcmp(json_string_value(json_object_get(mapped, "action")), "write")) {
        /* No free decimal 2 and no map entry: ask Mystore (or the
         * not-found cache), then map again with the answer. */
        json_decref(entry);
        json_decref(mapped);
        entry = mapped = NULL;
        if ((err = as_lookup(c, no, &entry, errstr, errstr_size)))
            goto out;
        if (!entry ||
            (err = mp_stock_map(json_object_get(ev, "data"), entry, &mapped, errstr, errstr_size)))
            goto unknown;
        if (strcmp(json_string_value(json_object_get(mapped, "action")), "write"))
            goto unknown;
    }
    if ((err = apply_hash(mapped, hash)) ||
        (err = apply_record_get(c->rs, "stock", no, &rec, errstr, errstr_size)))
        goto out;
    int stale = apply_stale(ev, rec);
    if (stale || apply_same_request(rec, hash)) {
        if (stale)
            c->stale++;
        else
            c->unchanged++;
        apply_outcome(ev, stale ? "stale" : "unchanged");
        if (c->cfg->dry_run)
            err =
                apply_dry_report(c->cfg, c->rs, "stock", no, version, stale ? "stale" : "unchanged",
                                 NULL, NULL, NULL, errstr, errstr_size);
        goto out;
    }
    const char *target = json_string_value(json_object_get(mapped, "target"));
    const char *id = json_string_value(json_object_get(mapped, "id"));
    json_int_t qty = json_integer_value(json_object_get(mapped, "quantity"));
    int variant = !strcmp(target, "variant");
    char path[128];
    long status;
    snprintf(path, sizeof(path), "%s/%s", variant ? "product-variants" : "products", id);
    json_t *body = json_pack("{s:{s:s, s:s, s:{s:I}}}", "data", "type",
                             variant ? "product-variants" : "products", "id", id, "attributes",
                             "quantity", qty);
    if (c->cfg->dry_run) {
        err = as_dry_run(c, no, version, mapped, path, body, errstr, errstr_size);
        json_decref(body);
        goto out;
    }
    err = ms_write(c->ms, "PATCH", path, body, NULL, &status, errstr, errstr_size);
    json_decref(body);
    if (err)
        goto out;
    c->written++;
    apply_outcome(ev, "applied");
    err = apply_record_set_fenced(c->rs, "stock", no, version, ev_fence(ev), hash, "written",
                                  mapped, cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
    goto out;
unknown:
    if (!err) {
        c->unknown++;
        apply_outcome(ev, "skipped");
        if (c->cfg->dry_run)
            err = apply_dry_report(c->cfg, c->rs, "stock", no, version, "unknown", NULL, NULL, NULL,
                                   errstr, errstr_size);
    }
out:
    json_decref(rec);
    json_decref(mapped);
    json_decref(entry);
    json_decref(ev);
    return err;
}

/* The target API answers (see apply_flow). */
static int as_api_up(void *vctx, long long since_ms)
{
    as_ctx *c = vctx;
    return ms_up_since(c->ms, since_ms);
}

/* The summary line of `mosync apply stock`. */
static void as_summary(void *vctx)
{
    const as_ctx *c = vctx;
    printf("{\"command\":\"apply stock\",\"messages\":%lu,\"written\":%lu,\"unchanged\":%lu,"
           "\"stale\":%lu,\"unknown\":%lu,\"lookups\":%lu,\"found_by_sku\":%lu,"
           "\"dead_lettered\":%lu,\"busy_ms\":%lld,\"mystore_requests\":%lu}\n",
           c->messages, c->written, c->unchanged, c->stale, c->unknown, c->lookups, c->found,
           c->counts.dead_lettered, apply_busy_ms(&c->counts), ms_requests(c->ms));
}

static void as_free(void *vctx)
{
    as_ctx *c = vctx;
    ms_free(c->ms);
    free(c);
}

mo_err apply_stock_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow)
{
    as_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return MO_ERR_NOMEM;
    c->cfg = cfg;
    c->rs = rs;
    c->ms = ms_new(cfg, rs, 1);
    if (!c->ms) {
        free(c);
        return MO_ERR_CONFIG;
    }
    *flow = (apply_flow){.name = "stock",
                         .component = COMPONENT,
                         .topic_base = KQ_TOPIC_STOCK,
                         .group_base = "mosync-apply-stock",
                         .handle = as_handle,
                         .ctx = c,
                         .api_up_since = as_api_up,
                         .api = "mystore",
                         .free_ctx = as_free,
                         .summary = as_summary,
                         .counts = &c->counts};
    return MO_OK;
}

int apply_stock(const mo_config *cfg, const apply_opts *opts)
{
    if (!cfg->stock_sync) {
        lg_info(COMPONENT, cfg->tenant,
                "stock sync is off (STOCK_SYNC is not 'on'); not writing stock to Mystore");
        return 0;
    }
    return apply_one(cfg, opts, apply_stock_flow);
}
