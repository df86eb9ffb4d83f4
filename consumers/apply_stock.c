/* `mosync apply stock`: ongoing.stock → Mystore stock, off unless
 * STOCK_SYNC=on (as in the seed integration).
 *
 * mp_stock_map (pure) finds the target (the variant from the article's free
 * decimal 2 or the article sync's map, or a product without variants) and the
 * quantity max(0, floor(sellable)) (M10).  The write is skipped when the value
 * equals the last one written, and an event older than the last one applied
 * never overwrites it (version guard: the poll time of the event). */
#include "apply.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "map_stock.h"
#include "mystore.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#define COMPONENT "apply.stock"

typedef struct as_ctx {
    const mo_config *cfg;
    rs_store *rs;
    ms_client *ms;
    unsigned long messages, written, unchanged, stale, unknown;
    apply_counts counts;
} as_ctx;

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
    if (strcmp(json_string_value(json_object_get(ev, "tenant")), c->cfg->tenant)) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "event for another tenant");
        goto out;
    }
    snprintf(key, sizeof(key), "map:article:%s", no);
    if ((err = rs_get_json(c->rs, key, &entry, errstr, errstr_size)) ||
        (err = mp_stock_map(json_object_get(ev, "data"), entry, &mapped, errstr, errstr_size)))
        goto out;
    if (strcmp(json_string_value(json_object_get(mapped, "action")), "write")) {
        c->unknown++;
        goto out;
    }
    if ((err = apply_hash(mapped, hash)) ||
        (err = apply_record_get(c->rs, "stock", no, &rec, errstr, errstr_size)))
        goto out;
    const char *rec_version = json_string_value(json_object_get(rec, "version"));
    if (rec_version && ev_version_older(version, rec_version)) {
        c->stale++;
        goto out;
    }
    const char *rec_hash = json_string_value(json_object_get(rec, "hash"));
    if (rec_hash && !strcmp(rec_hash, hash)) {
        c->unchanged++;
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
    err = ms_write(c->ms, "PATCH", path, body, NULL, &status, errstr, errstr_size);
    json_decref(body);
    if (err)
        goto out;
    c->written++;
    err =
        apply_record_set(c->rs, "stock", no, version, hash, "written", mapped, errstr, errstr_size);
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

int apply_stock(const mo_config *cfg, const apply_opts *opts)
{
    char errstr[512];
    as_ctx c = {.cfg = cfg};
    if (!cfg->stock_sync) {
        lg_info(COMPONENT, cfg->tenant,
                "stock sync is off (STOCK_SYNC is not 'on'); not writing stock to Mystore");
        return 0;
    }
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
    apply_flow flow = {.name = "stock",
                       .component = COMPONENT,
                       .topic_base = KQ_TOPIC_STOCK,
                       .group_base = "mosync-apply-stock",
                       .handle = as_handle,
                       .ctx = &c,
                       .api_up_since = as_api_up};
    int rc = apply_run(cfg, &flow, opts, &c.counts);
    printf("{\"command\":\"apply stock\",\"messages\":%lu,\"written\":%lu,\"unchanged\":%lu,"
           "\"stale\":%lu,\"unknown\":%lu,\"dead_lettered\":%lu,\"busy_ms\":%lld,\"mystore_"
           "requests\":%lu}\n",
           c.messages, c.written, c.unchanged, c.stale, c.unknown, c.counts.dead_lettered,
           apply_busy_ms(&c.counts), ms_requests(c.ms));
    fflush(stdout);
    ms_free(c.ms);
    rs_close(c.rs);
    return rc;
}
