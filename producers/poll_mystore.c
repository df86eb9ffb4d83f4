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
 * a different page count while paged says the list moved. */
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
    char route[64]; /* "GET orders" */
    /* Work first (store.h): a cycle's list requests are idle in the shared
     * budget after a cycle that fetched nothing; fetching a changed entity,
     * and every request of the cycle after one that did, are work. */
    int fetched_now, fetched_last;
} pm_state;

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
    err = ms_list_page_last(s->ms, s->st.list_path, query, (int)pos->next, items, NULL, more, &last,
                            errstr, errstr_size);
    if (err)
        return err;
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
    pm_work(s);
    return s->st.snapshot(s->st.state, s->ms, id, item, snapshot, errstr, errstr_size);
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

static void pm_close(void *state)
{
    pm_state *s = state;
    if (!s)
        return;
    if (s->st.free_state)
        s->st.free_state(s->st.state);
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
                       .close = pm_close};
    return MO_OK;
}
