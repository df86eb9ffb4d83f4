/* `mosync apply articles`: mystore.products → Ongoing articles (Mystore is
 * the master).  Each product snapshot maps (mp_article_map, pure) to one
 * article per variant, or one for a product without variants; each is
 * upserted with PUT /articles unless the same request was applied before
 * (mosync:{T}:applied:articles:<articleNumber>).
 *
 * It also keeps mosync:{T}:map:article:<articleNumber> = {"product_id",
 * "variant_id"} for the stock flow, and the article numbers of each product
 * (mosync:{T}:product:<id>:skus) so a SKU that moves from one product to
 * another is released by the first.  A SKU that another product still holds
 * is a duplicate: the product is dead-lettered, nothing of it is applied.
 * A map entry the stock flow filled by looking the SKU up in Mystore
 * ("by": "lookup") is an old answer of Mystore, not a claim: this flow, fed
 * by Mystore's newer state, overwrites it (the stock flow reads the map before
 * its own "not found" cache, so stock lands at once).  Every key expires after
 * APPLIED_TTL_DAYS (Redis is a cache, not the truth). */
#include "apply.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "map_article.h"
#include "map_diff.h"
#include "ongoing.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#define COMPONENT "apply.articles"

typedef struct aa_ctx {
    const mo_config *cfg;
    rs_store *rs;
    og_client *og;
    mp_article_conf mconf;
    unsigned long messages, products, written, duplicates, stale;
    apply_counts counts;
} aa_ctx;

/* Releases the map entries of SKUs this product no longer has, then records
 * its current SKUs. */
static mo_err aa_release_old_skus(aa_ctx *c, const char *pid, const json_t *map, char *errstr,
                                  size_t errstr_size)
{
    char suffix[256];
    json_t *old;
    snprintf(suffix, sizeof(suffix), "product:%s:skus", pid);
    mo_err err = rs_get_json(c->rs, suffix, &old, errstr, errstr_size);
    if (err)
        return err;
    size_t i;
    json_t *sku;
    json_array_foreach(old, i, sku)
    {
        const char *no = json_string_value(sku);
        if (!no || json_object_get(map, no))
            continue;
        char key[512];
        json_t *entry;
        snprintf(key, sizeof(key), "map:article:%s", no);
        if ((err = rs_get_json(c->rs, key, &entry, errstr, errstr_size)))
            break;
        const char *owner = json_string_value(json_object_get(entry, "product_id"));
        if (owner && !strcmp(owner, pid))
            err = rs_del(c->rs, key, errstr, errstr_size);
        json_decref(entry);
        if (err)
            break;
    }
    json_decref(old);
    if (err)
        return err;
    json_t *now = json_array();
    const char *no;
    json_t *v;
    json_object_foreach((json_t *)map, no, v) json_array_append_new(now, json_string(no));
    err = rs_set_json(c->rs, suffix, now, cfg_applied_ttl_s(c->cfg), errstr, errstr_size);
    json_decref(now);
    return err;
}

/* DRY_RUN=on: the PUT /articles this article would get, against the article
 * Ongoing holds now (GET), reported and not sent (apply.h): "create",
 * "update" or "no_difference". */
static mo_err aa_dry_run(aa_ctx *c, const char *no, const char *version, const json_t *article,
                         char *errstr, size_t errstr_size)
{
    json_t *held = NULL, *diffs = NULL, *requests = json_array();
    mo_err err;

    if (!requests || json_array_append_new(requests, apply_dry_request("PUT", "articles", article)))
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    else if (!(err = og_article_get(c->og, no, &held, errstr, errstr_size)) &&
             !(err = mp_diff_article(article, held, &diffs, errstr, errstr_size)))
        err = apply_dry_report(c->cfg, c->rs, "articles", no, version,
                               !held                    ? "create"
                               : json_array_size(diffs) ? "update"
                                                        : "no_difference",
                               requests, diffs, NULL, errstr, errstr_size);
    json_decref(held);
    json_decref(diffs);
    json_decref(requests);
    return err;
}

static mo_err aa_handle(void *vctx, const rd_kafka_message_t *msg, char *errstr, size_t errstr_size)
{
    aa_ctx *c = vctx;
    json_t *ev = NULL, *mapped = NULL;
    mo_err err;
    int wrote = 0, stale_n = 0; /* this product's articles written, stale: its outcome */

    c->messages++;
    if ((err = ev_parse(msg->payload, msg->len, "mystore.product", &ev, errstr, errstr_size)))
        return err;
    const char *pid = json_string_value(json_object_get(ev, "entity_id"));
    const char *version = json_string_value(json_object_get(ev, "source_version"));
    int ours = apply_tenant_ours(c->cfg, c->rs, ev, &err, errstr, errstr_size);
    if (ours <= 0) {
        if (!ours)
            apply_outcome(ev, "skipped");
        goto out;
    }
    if ((err =
             mp_article_map(json_object_get(ev, "data"), &c->mconf, &mapped, errstr, errstr_size)))
        goto out;
    json_t *articles = json_object_get(mapped, "articles");
    json_t *map = json_object_get(mapped, "map");

    /* A SKU held by another product is a duplicate: apply nothing of this one.
     * (A dry run changes no map entry.) */
    if (!c->cfg->dry_run && (err = aa_release_old_skus(c, pid, map, errstr, errstr_size)))
        goto out;
    const char *no;
    json_t *entry;
    json_object_foreach(map, no, entry)
    {
        char key[512];
        json_t *held;
        snprintf(key, sizeof(key), "map:article:%s", no);
        if ((err = rs_get_json(c->rs, key, &held, errstr, errstr_size)))
            goto out;
        const char *owner = json_string_value(json_object_get(held, "product_id"));
        const char *by = json_string_value(json_object_get(held, "by"));
        if (owner && strcmp(owner, pid) && !(by && !strcmp(by, "lookup"))) {
            err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                            "product %s: SKU '%s' is already used by product %s (duplicate SKU)",
                            pid, no, owner);
            json_decref(held);
            goto out;
        }
        json_decref(held);
    }

    size_t i;
    json_t *a;
    json_array_foreach(articles, i, a)
    {
        char hash[65], key[512];
        json_t *rec;
        long status;
        no = json_string_value(json_object_get(a, "articleNumber"));
        if ((err = apply_hash(a, hash)) ||
            (err = apply_record_get(c->rs, "articles", no, &rec, errstr, errstr_size)))
            goto out;
        int same = apply_same_request(rec, hash);
        int stale = !same && apply_stale(ev, rec);
        json_decref(rec);
        if (same || stale) {
            if (same)
                c->duplicates++;
            else
                c->stale++;
            stale_n += !same;
            if (c->cfg->dry_run && (err = apply_dry_report(c->cfg, c->rs, "articles", no, version,
                                                           same ? "duplicate" : "stale", NULL, NULL,
                                                           NULL, errstr, errstr_size)))
                goto out;
        } else if (c->cfg->dry_run) {
            if ((err = aa_dry_run(c, no, version, a, errstr, errstr_size)))
                goto out;
        } else {
            if ((err = og_article_put(c->og, a, &status, errstr, errstr_size))) {
                if (err == MO_ERR_PERMANENT) {
                    char tmp[1024];
                    snprintf(tmp, sizeof(tmp), "product %s article %s: %s", pid, no, errstr);
                    snprintf(errstr, errstr_size, "%s", tmp);
                }
                goto out;
            }
            c->written++;
            wrote++;
            if ((err = apply_record_set_fenced(c->rs, "articles", no, version, ev_fence(ev), hash,
                                               "written", NULL, cfg_applied_ttl_s(c->cfg), errstr,
                                               errstr_size)))
                goto out;
        }
        if (c->cfg->dry_run)
            continue; /* nothing was written: no map entry, no "known" mark */
        /* The stock flow finds the variant by article number; the order flow
         * knows the article exists (O4). */
        long ttl_s = cfg_applied_ttl_s(c->cfg);
        snprintf(key, sizeof(key), "map:article:%s", no);
        if ((err = rs_set_json(c->rs, key, json_object_get(map, no), ttl_s, errstr, errstr_size)))
            goto out;
        snprintf(key, sizeof(key), "known:article:%s", no);
        json_t *mark = json_pack("{s:s}", "by", "articles");
        err = rs_set_json(c->rs, key, mark, ttl_s, errstr, errstr_size);
        json_decref(mark);
        if (err)
            goto out;
    }
    c->products++;
    /* One message is one product: applied when any of its articles was
     * written, else stale when any was older, else unchanged. */
    apply_outcome(ev, wrote ? "applied" : stale_n ? "stale" : "unchanged");
out:
    json_decref(mapped);
    json_decref(ev);
    return err;
}

/* The target API answers (see apply_flow). */
static int aa_api_up(void *vctx, long long since_ms)
{
    aa_ctx *c = vctx;
    return og_up_since(c->og, since_ms);
}

void apply_article_conf(const mo_config *cfg, mp_article_conf *conf)
{
    *conf = (mp_article_conf){.goods_owner_id = cfg->ongoing_goods_owner,
                              .language = cfg->mystore_language,
                              .weight_kg = cfg->mystore_weight_kg};
}

/* The summary line of `mosync apply articles`. */
static void aa_summary(void *vctx)
{
    const aa_ctx *c = vctx;
    printf("{\"command\":\"apply articles\",\"messages\":%lu,\"products\":%lu,\"written\":%lu,"
           "\"duplicates\":%lu,\"stale\":%lu,\"dead_lettered\":%lu,\"busy_ms\":%lld,\"ongoing_"
           "requests\":%lu}\n",
           c->messages, c->products, c->written, c->duplicates, c->stale, c->counts.dead_lettered,
           apply_busy_ms(&c->counts), og_requests(c->og));
}

static void aa_free(void *vctx)
{
    aa_ctx *c = vctx;
    og_free(c->og);
    free(c);
}

mo_err apply_articles_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow)
{
    aa_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return MO_ERR_NOMEM;
    c->cfg = cfg;
    apply_article_conf(cfg, &c->mconf);
    c->rs = rs;
    c->og = og_new(cfg, rs, 1);
    if (!c->og) {
        free(c);
        return MO_ERR_CONFIG;
    }
    *flow = (apply_flow){.name = "articles",
                         .component = COMPONENT,
                         .topic_base = KQ_TOPIC_PRODUCTS,
                         .group_base = "mosync-apply-articles",
                         .handle = aa_handle,
                         .ctx = c,
                         .api_up_since = aa_api_up,
                         .api = "ongoing",
                         .free_ctx = aa_free,
                         .summary = aa_summary,
                         .counts = &c->counts};
    return MO_OK;
}

int apply_articles(const mo_config *cfg, const apply_opts *opts)
{
    return apply_one(cfg, opts, apply_articles_flow);
}
