/* The Mystore sources of the poll engine (see poll.h and poll.c):
 * mystore-orders (poll_orders.c) and mystore-products (poll_products.c).
 *
 * Lists are paged by page number with the changed-since filter on
 * updated_at, which Mystore stamps in shop-local time (M1): the engine's UTC
 * window start is written as a shop-local time in MYSTORE_TIMEZONE, and each
 * listed updated_at is read back as the UTC instant it was when its page was
 * observed (tz_local_to_utc_observed: in the autumn fold, the latest of its
 * two instants not after the observation).  No order is guaranteed (M2), so
 * paging is not stable and the engine confirms the scans; links.last telling
 * a different page count while paged says the list moved.
 *
 * include= (M11): a stream that names one asks its list pages with it while
 * the shop is not known to refuse it.  The first non-empty answer decides
 * (cached per tenant in Redis, PM_INCLUDE_KEY): a compound document (an
 * "included" array, or the items naming their related resources) says yes;
 * an answer without either (the argument ignored) or a 400 (refused; the page
 * is asked again without it) says no, and the related URLs serve every
 * snapshot until the cache expires.  An empty page decides nothing.  From a
 * compound page, the relationships include= added are taken out of each
 * item (so the item, its fingerprint and its snapshot are what a plain list
 * answers) and handed with the included resources to the stream's snapshot,
 * which falls back to the related URLs for an entity whose related set is
 * incomplete. */
#include "dlq.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "poll.h"
#include "stop.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* M1: how far back each window reaches before the last complete scan's
 * start.  The DST fold repeats one hour; two hours also absorb clock skew. */
#define PM_OVERLAP_S (2 * 3600)

typedef struct pm_state {
    const mo_config *cfg;
    pm_stream st;
    ms_client *ms;
    char route[64];        /* "GET orders" */
    char component[64];    /* "poll.mystore-orders" (logs) */
    rs_store *rs;          /* borrowed: the include= cache */
    int include;           /* PM_INC_*: what the shop does with st.include, this cycle */
    json_t *page_included; /* "type/id" → resource of the current compound page */
    json_t *page_linked;   /* item id → {rel: linkage} taken out of the page's items */
    /* Work first (store.h): a cycle's list requests are idle in the shared
     * budget after a cycle that fetched nothing; fetching a changed entity,
     * and every request of the cycle after one that did, are work. */
    int fetched_now, fetched_last;
} pm_state;

enum { PM_INC_UNKNOWN, PM_INC_NO, PM_INC_YES };
static const char *const pm_inc_names[] = {"unknown", "no", "yes"};

mo_err pm_include_save(rs_store *rs, const char *stream, int supported, char *errstr,
                       size_t errstr_size)
{
    char suffix[96];
    snprintf(suffix, sizeof(suffix), "include:%s", stream);
    json_t *v =
        json_pack("{s:i, s:b, s:I}", "v", 1, "supported", supported, "at", (json_int_t)mo_now_ms());
    if (!v)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mo_err err = rs_set_json(rs, suffix, v, PM_INCLUDE_TTL_S, errstr, errstr_size);
    json_decref(v);
    return err;
}

/* The cached answer of include:<stream>: PM_INC_UNKNOWN when none (or Redis
 * did not answer: the cache is only a cache). */
static int pm_include_load(pm_state *s)
{
    char suffix[96], errstr[256];
    json_t *v = NULL;
    snprintf(suffix, sizeof(suffix), "include:%s", s->st.name);
    if (rs_get_json(s->rs, suffix, &v, errstr, sizeof(errstr)))
        return PM_INC_UNKNOWN;
    json_t *sup = json_object_get(v, "supported");
    int mode = json_is_boolean(sup) ? (json_is_true(sup) ? PM_INC_YES : PM_INC_NO) : PM_INC_UNKNOWN;
    json_decref(v);
    return mode;
}

/* What an answer taught of include=: logged and cached when it changed. */
static void pm_include_learn(pm_state *s, int mode, const char *why)
{
    char errstr[256];
    if (s->include == mode)
        return;
    s->include = mode;
    if (mode == PM_INC_YES)
        lg_info(s->component, s->cfg->tenant,
                "Mystore answers include=%s: related resources come with the list (%s)",
                s->st.include, why);
    else
        lg_info(s->component, s->cfg->tenant,
                "Mystore does not answer include=%s (%s): related resources are read by their "
                "URLs",
                s->st.include, why);
    if (pm_include_save(s->rs, s->st.name, mode == PM_INC_YES, errstr, sizeof(errstr)))
        lg_warn(s->component, s->cfg->tenant, "cannot cache whether include= works: %s", errstr);
}

json_t *pm_included_get(const json_t *included, const json_t *identifier)
{
    const char *type = json_string_value(json_object_get(identifier, "type"));
    const char *id = json_string_value(json_object_get(identifier, "id"));
    char key[256];
    if (!type || !id || (size_t)snprintf(key, sizeof(key), "%s/%s", type, id) >= sizeof(key))
        return NULL;
    return json_object_get(included, key);
}

json_t *pm_take_linkage(json_t *resource, const char *rel)
{
    json_t *rels = json_object_get(resource, "relationships");
    json_t *r = json_object_get(rels, rel);
    json_t *data = json_object_get(r, "data");
    if (!data)
        return NULL;
    json_incref(data);
    json_object_del(r, "data");
    if (!json_object_size(r))
        json_object_del(rels, rel);
    if (!json_object_size(rels))
        json_object_del(resource, "relationships");
    return data;
}

static void pm_page_forget(pm_state *s)
{
    json_decref(s->page_included);
    json_decref(s->page_linked);
    s->page_included = s->page_linked = NULL;
}

/* Learns from a list page asked with include= and keeps its compound parts
 * for the snapshots of its items (see the top of the file). */
static void pm_include_page(pm_state *s, json_t *items, json_t *included)
{
    size_t i;
    json_t *item;
    int compound = included != NULL;
    if (!json_array_size(items))
        return; /* an empty page decides nothing */
    json_array_foreach(items, i, item)
    {
        json_t *rels = json_object_get(item, "relationships");
        for (const char *const *rel = s->st.include_rels; *rel && !compound; rel++)
            compound = json_object_get(json_object_get(rels, *rel), "data") != NULL;
    }
    if (!compound) {
        pm_include_learn(s, PM_INC_NO, "a list answer without \"included\"");
        return;
    }
    pm_include_learn(s, PM_INC_YES, "a list answer with \"included\"");
    s->page_included = json_object();
    s->page_linked = json_object();
    json_array_foreach(included, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *id = json_string_value(json_object_get(item, "id"));
        char key[256];
        if (type && id && (size_t)snprintf(key, sizeof(key), "%s/%s", type, id) < sizeof(key))
            json_object_set(s->page_included, key, item);
    }
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        json_t *linked = json_object();
        for (const char *const *rel = s->st.include_rels; *rel; rel++) {
            json_t *data = pm_take_linkage(item, *rel);
            if (data)
                json_object_set_new(linked, *rel, data);
        }
        if (id)
            json_object_set_new(s->page_linked, id, linked);
        else
            json_decref(linked);
    }
}

static long long pm_server_now(void *state)
{
    pm_state *s = state;
    return ms_server_now(s->ms);
}

static struct hc_client *pm_http(void *state)
{
    return ms_http(((pm_state *)state)->ms);
}

/* Mystore's clock: the cheapest request there is. */
static mo_err pm_probe_clock(void *state, char *errstr, size_t errstr_size)
{
    pm_state *s = state;
    json_t *doc = NULL;
    long status;
    mo_err err = ms_get(s->ms, "order-status?page%5Bsize%5D=1", &doc, &status, errstr, errstr_size);
    json_decref(doc);
    return err;
}

static long pm_lookback_s(void *state)
{
    pm_state *s = state;
    return s->st.all_without_cursor ? -1 : (long)s->cfg->mystore_lookback_h * 3600; /* M14 */
}

static mo_err pm_begin_cycle(void *state, char *errstr, size_t errstr_size)
{
    pm_state *s = state;
    pm_page_forget(s);
    if (s->st.include)
        s->include = pm_include_load(s);
    s->fetched_last = s->fetched_now;
    s->fetched_now = 0;
    ms_set_idle(s->ms, !s->fetched_last);
    return s->st.begin_cycle ? s->st.begin_cycle(s->st.state, s->ms, errstr, errstr_size) : MO_OK;
}

static mo_err pm_list_page(void *state, int which, long long from, long long now, pe_pos *pos,
                           json_t **items, int *more, char *errstr, size_t errstr_size)
{
    pm_state *s = state;
    char query[512] = "", local[TZ_LOCAL_SIZE];
    long last = 0;
    mo_err err;
    (void)which;
    (void)now;
    if (from >= 0) {
        if ((err = tz_utc_to_local(s->cfg->mystore_timezone, (time_t)from, local)))
            return mo_seterr(err, errstr, errstr_size, "cannot compute the window's start");
        if ((err = ms_filter_updated_since(local, query, sizeof(query))))
            return mo_seterr(err, errstr, errstr_size, "filter too long");
    }
    if (!pos->next)
        pos->next = 1;
    pm_page_forget(s);
    int ask = s->st.include && s->include != PM_INC_NO;
    char asked[1024];
    json_t *included = NULL;
    snprintf(asked, sizeof(asked), "%s%sinclude=%s", query, *query ? "&" : "",
             s->st.include ? s->st.include : "");
    err = ms_list_page_incl(s->ms, s->st.list_path, ask ? asked : query, (int)pos->next, items,
                            NULL, ask ? &included : NULL, more, &last, errstr, errstr_size);
    if (err && ask && (err == MO_ERR_TOO_LARGE || ms_last_status(s->ms) == 400)) {
        /* JSON:API: a server that does not serve an include path answers
         * 400.  A compound page over the answer cap (MS_ANSWER_ITEM per
         * order) is this page's matter: it is read plainly, its orders by
         * their URLs, include= kept for the next pages. */
        int refused = err != MO_ERR_TOO_LARGE;
        if (!refused)
            lg_warn(s->component, s->cfg->tenant,
                    "%s; reading page %lld without include=, its %s by their URLs", errstr,
                    pos->next, s->st.noun);
        err = ms_list_page_incl(s->ms, s->st.list_path, query, (int)pos->next, items, NULL, NULL,
                                more, &last, errstr, errstr_size);
        if (!err && refused)
            pm_include_learn(s, PM_INC_NO, "HTTP 400 to a list asked with it");
        ask = 0;
    }
    if (err)
        return err;
    if (ask)
        pm_include_page(s, *items, included);
    json_decref(included);
    /* The page count changing while the list is paged: items moved. */
    if (pos->last && last && last != pos->last)
        pos->moved = 1;
    if (!pos->last)
        pos->last = last;
    pos->next++;
    return MO_OK;
}

/* An item's id, its updated_at as a UTC instant and its fingerprint (the
 * whole listed resource: any change of it is a change).  A null or absent
 * updated_at is a resource Mystore never stamped: synced, with no time. */
static mo_err pm_describe(void *state, const json_t *item, long long obs, pe_item *out, char *why,
                          size_t why_size)
{
    pm_state *s = state;
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *jupd = json_object_get(json_object_get(item, "attributes"), "updated_at");
    const char *upd = json_string_value(jupd);
    time_t t;
    memset(out, 0, sizeof(*out));
    if (!pm_id_ok(id))
        return mo_seterr(MO_ERR_INVALID, why, why_size, "item without a usable id");
    snprintf(out->id, sizeof(out->id), "%s", id);
    out->updated = PE_NO_TIME;
    snprintf(out->updated_text, sizeof(out->updated_text), "%s", upd ? upd : "");
    if (upd) {
        if (tz_local_to_utc_observed(s->cfg->mystore_timezone, upd, (time_t)obs, &t))
            return mo_seterr(MO_ERR_INVALID, why, why_size, "updated_at %.60s is not a time", upd);
        out->updated = (long long)t;
    } else if (jupd && !json_is_null(jupd)) {
        return mo_seterr(MO_ERR_INVALID, why, why_size, "updated_at (not a string) is not a time");
    }
    return pe_fingerprint(item, out->hash) ? mo_seterr(MO_ERR_NOMEM, why, why_size, "out of memory")
                                           : MO_OK;
}

/* A changed entity: from here on the cycle's requests are work. */
static void pm_work(pm_state *s)
{
    s->fetched_now = 1;
    ms_set_idle(s->ms, 0);
}

static mo_err pm_snapshot(void *state, const char *id, json_t *item, json_t **snapshot,
                          char *errstr, size_t errstr_size)
{
    pm_state *s = state;
    const json_t *linked = s->page_linked ? json_object_get(s->page_linked, id) : NULL;
    pm_work(s);
    return s->st.snapshot(s->st.state, s->ms, id, item, linked, linked ? s->page_included : NULL,
                          snapshot, errstr, errstr_size);
}

/* GET <list path>/<id>: the resource as the list shows it, NULL on 404. */
static mo_err pm_fetch_one(void *state, const char *id, json_t **item, char *errstr,
                           size_t errstr_size)
{
    pm_state *s = state;
    char path[256];
    json_t *doc = NULL;
    long status = 0;
    *item = NULL;
    pm_page_forget(s); /* its snapshot reads the related URLs */
    if (!pm_id_ok(id))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "'%.80s' is not a Mystore id", id);
    pm_work(s);
    snprintf(path, sizeof(path), "%s/%s", s->st.list_path, id);
    mo_err err = ms_get(s->ms, path, &doc, &status, errstr, errstr_size);
    if (err == MO_ERR_PERMANENT && (status == 404 || status == 410)) {
        json_decref(doc);
        return MO_OK;
    }
    if (!err && !json_is_object(json_object_get(doc, "data")))
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "GET %s: no data object", path);
    if (!err)
        *item = json_incref(json_object_get(doc, "data"));
    json_decref(doc);
    return err;
}

static long pm_last_status(void *state)
{
    return ms_last_status(((pm_state *)state)->ms);
}

static int pm_up_since(void *state, long long since_ms)
{
    return ms_up_since(((pm_state *)state)->ms, since_ms);
}

static unsigned long pm_requests(void *state)
{
    return ms_requests(((pm_state *)state)->ms);
}

static void pm_summary(void *state, json_t *sum)
{
    pm_state *s = state;
    if (s->st.include)
        json_object_set_new(sum, "include", json_string(pm_inc_names[s->include]));
    if (s->st.summary)
        s->st.summary(s->st.state, sum);
}

static void pm_close(void *state)
{
    pm_state *s = state;
    if (!s)
        return;
    if (s->st.free_state)
        s->st.free_state(s->st.state);
    pm_page_forget(s);
    ms_free(s->ms);
    free(s);
}

mo_err pm_source_open(const mo_config *cfg, const char *stream, rs_store *rs, pe_source *src,
                      char *errstr, size_t errstr_size)
{
    pm_state *s = calloc(1, sizeof(*s));
    mo_err err;
    if (!s)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    s->cfg = cfg;
    s->rs = rs;
    if (!strcmp(stream, "mystore-orders"))
        err = pm_orders_stream(&s->st, cfg);
    else if (!strcmp(stream, "mystore-products"))
        err = pm_products_stream(&s->st);
    else
        err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "unknown stream '%s'", stream);
    if (err == MO_ERR_NOMEM)
        mo_seterr(err, errstr, errstr_size, "out of memory");
    s->ms = err ? NULL : ms_new(cfg, rs, 6);
    if (err || !s->ms) {
        if (!err)
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        pm_close(s);
        return err;
    }
    snprintf(s->route, sizeof(s->route), "GET %s", s->st.list_path);
    snprintf(s->component, sizeof(s->component), "poll.%s", s->st.name);
    *src = (pe_source){.stream = s->st.name,
                       .flow = s->st.flow,
                       .noun = s->st.noun,
                       .event_type = s->st.event_type,
                       .topic_base = s->st.topic_base,
                       .route = s->route,
                       .api = "mystore",
                       .overlap_s = PM_OVERLAP_S,
                       .stable_paging = 0,
                       .nlists = 1,
                       .state = s,
                       .server_now = pm_server_now,
                       .probe_clock = pm_probe_clock,
                       .http = pm_http,
                       .lookback_s = pm_lookback_s,
                       .begin_cycle = pm_begin_cycle,
                       .list_page = pm_list_page,
                       .describe = pm_describe,
                       .snapshot = pm_snapshot,
                       .fetch_one = pm_fetch_one,
                       .last_status = pm_last_status,
                       .up_since = pm_up_since,
                       .requests = pm_requests,
                       .summary = pm_summary,
                       .close = pm_close};
    return MO_OK;
}
