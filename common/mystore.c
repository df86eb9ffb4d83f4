#include "mystore.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "stop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ms_client {
    hc_client *hc;
    rs_store *rs;
    char base[1024];
    int per_min;
    rs_budget_class budget_class; /* ms_set_idle */
    hc_retry retry;
    unsigned long requests;
    long last_status; /* HTTP status of the last answer, 0 when none came */
    oa_session *oa;   /* OAuth: the tenant's tokens (borrowed); NULL: MYSTORE_TOKEN as is */
    long long oa_gen; /* the generation of the token the client sends; 0: none yet */
};

static const char ms_media_type[] = "application/vnd.api+json";

ms_client *ms_new(const mo_config *cfg, rs_store *rs, int max_attempts)
{
    ms_client *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return NULL;
    hc_opts opts = {.accept = ms_media_type,
                    .bearer = cfg->mystore_oauth ? NULL : cfg->mystore_token,
                    .total_timeout_ms = cfg->http_timeout_ms,
                    .retry_after_max_s = cfg->retry_after_max_s,
                    .api = "mystore",
                    .tenant = cfg->tenant};
    ms->hc = hc_new(&opts);
    if (!ms->hc) {
        free(ms);
        return NULL;
    }
    size_t n = strlen(cfg->mystore_url);
    int slash = n && cfg->mystore_url[n - 1] == '/';
    snprintf(ms->base, sizeof(ms->base), "%s%sshops/%s/", cfg->mystore_url, slash ? "" : "/",
             cfg->mystore_shop);
    ms->rs = rs;
    ms->oa = oa_for_config(cfg);
    if (cfg->mystore_oauth && !ms->oa) {
        ms_free(ms);
        return NULL;
    }
    ms->per_min = cfg->mystore_rate_per_min;
    ms->retry = (hc_retry){.max_attempts = max_attempts, .base_ms = 500, .max_ms = 15000};
    return ms;
}

void ms_free(ms_client *ms)
{
    if (!ms)
        return;
    hc_free(ms->hc);
    free(ms);
}

struct hc_client *ms_http(ms_client *c)
{
    return c->hc;
}

long long ms_server_now(const ms_client *c)
{
    return hc_server_now(c->hc);
}

unsigned long ms_requests(const ms_client *ms)
{
    return ms->requests;
}

/* Every request waits for its turn in the shared per-token budget (M12). */
static mo_err ms_take_budget(void *ctx, char *errstr, size_t errstr_size)
{
    ms_client *ms = ctx;
    if (ms->oa) {
        /* The tenant's current access token, refreshed when due; needs
         * reconnect is a refused credential, asked without a request. */
        char token[4096];
        long long gen;
        mo_err err = oa_token(ms->oa, token, sizeof(token), &gen, errstr, errstr_size);
        if (!err && gen != ms->oa_gen) {
            err = hc_set_bearer(ms->hc, token);
            ms->oa_gen = err ? 0 : gen;
        }
        memset(token, 0, sizeof(token));
        if (err)
            return err;
    }
    ms->requests++;
    return rs_budget_wait_as(ms->rs, "mystore", ms->per_min, ms->budget_class, errstr, errstr_size);
}

void ms_set_idle(ms_client *ms, int idle)
{
    ms->budget_class = idle ? RS_BUDGET_IDLE : RS_BUDGET_WORK;
}

/* The N of a page[size]=N argument in query (raw or percent-encoded), or 0. */
static long ms_page_size_asked(const char *query)
{
    static const char *const names[] = {"page%5Bsize%5D=", "page[size]="};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (const char *p = strstr(query, names[i]); p; p = strstr(p + 1, names[i])) {
            if (p != query && p[-1] != '&')
                continue;
            char *end;
            long n = strtol(p + strlen(names[i]), &end, 10);
            if (end != p + strlen(names[i]) && n > 0)
                return n > 1000 ? 1000 : n;
        }
    }
    return 0;
}

size_t ms_answer_cap(const char *path)
{
    const char *query = strchr(path, '?');
    long n = query ? ms_page_size_asked(query + 1) : 0;
    return n ? MS_ANSWER_BASE + (size_t)n * MS_ANSWER_ITEM : MS_ANSWER_ONE;
}

/* The first JSON:API error's detail of an answer, NULL when none. */
static const char *ms_error_detail(const json_t *doc)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "errors"), 0), "detail"));
}

static mo_err ms_call(ms_client *ms, const char *method, const char *path, const char *body,
                      json_t **doc, long *status, char *errstr, size_t errstr_size)
{
    char url[2048];
    long st;
    hc_hooks hooks = {.before = ms_take_budget, .ctx = ms};
    snprintf(url, sizeof(url), "%s%s", ms->base, path);
    size_t cap = body ? MS_ANSWER_ONE : ms_answer_cap(path);
    mo_err err;
    for (int round = 0;; round++) {
        err = hc_call_json_capped(ms->hc, &ms->retry, &hooks, method, url,
                                  body ? ms_media_type : NULL, body, cap, status ? status : &st,
                                  doc, NULL, errstr, errstr_size);
        ms->last_status = status ? *status : st;
        /* An access token refused because it expired (or another process
         * replaced it) is asked again once with the new one. */
        if (err != MO_ERR_CREDENTIAL || !ms->oa || round || !ms->last_status ||
            !oa_refused(ms->oa, ms->oa_gen, ms_error_detail(*doc)))
            break;
        json_decref(*doc);
        *doc = NULL;
    }
    return err;
}

int ms_up_since(ms_client *ms, long long since_ms)
{
    char errstr[256];
    json_t *doc = NULL;
    long status;
    if (hc_last_up_ms(ms->hc) > since_ms)
        return 1;
    ms_call(ms, "GET", "order-status?page%5Bsize%5D=1", NULL, &doc, &status, errstr,
            sizeof(errstr));
    json_decref(doc);
    return hc_last_up_ms(ms->hc) > since_ms;
}

mo_err ms_get(ms_client *ms, const char *path, json_t **doc, long *status, char *errstr,
              size_t errstr_size)
{
    return ms_call(ms, "GET", path, NULL, doc, status, errstr, errstr_size);
}

mo_err ms_filter_updated_since(const char *ts, char *buf, size_t size)
{
    char esc[128];
    if (hc_escape(ts, esc, sizeof(esc)))
        return MO_ERR_TOO_LARGE;
    int n = snprintf(buf, size,
                     "filter%%5Bupdated_at%%5D%%5Bpath%%5D=updated_at"
                     "&filter%%5Bupdated_at%%5D%%5Bvalue%%5D=%s"
                     "&filter%%5Bupdated_at%%5D%%5Boperator%%5D=gte",
                     esc);
    return n < 0 || (size_t)n >= size ? MO_ERR_TOO_LARGE : MO_OK;
}

mo_err ms_list_doc(const json_t *doc, json_t **items, json_t **meta, int *has_next)
{
    json_t *data = json_object_get(doc, "data");
    json_t *links = json_object_get(doc, "links");
    json_t *m = json_object_get(doc, "meta");
    *items = NULL;
    *has_next = 0;
    if (meta)
        *meta = NULL;
    if (!json_is_array(data) || (links && !json_is_object(links)) || (m && !json_is_object(m)))
        return MO_ERR_INVALID;
    *items = json_incref(data);
    *has_next = json_is_string(json_object_get(links, "next"));
    if (meta)
        *meta = m ? json_incref(m) : json_object();
    return MO_OK;
}

long ms_links_last(const json_t *doc)
{
    const char *last = json_string_value(json_object_get(json_object_get(doc, "links"), "last"));
    static const char *const names[] = {"page[number]=", "page%5Bnumber%5D=", "page%5bnumber%5d="};
    for (size_t i = 0; last && i < sizeof(names) / sizeof(names[0]); i++) {
        const char *p = strstr(last, names[i]);
        if (!p)
            continue;
        p += strlen(names[i]);
        long n = 0;
        int digits = 0;
        for (; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
            n = n * 10 + (*p - '0');
        return digits && (!*p || *p == '&') && n > 0 ? n : 0;
    }
    return 0;
}

mo_err ms_list_page_last(ms_client *ms, const char *path, const char *query, int page,
                         json_t **items, json_t **meta, int *has_next, long *last, char *errstr,
                         size_t errstr_size)
{
    return ms_list_page_incl(ms, path, query, page, items, meta, NULL, has_next, last, errstr,
                             errstr_size);
}

mo_err ms_list_page_incl(ms_client *ms, const char *path, const char *query, int page,
                         json_t **items, json_t **meta, json_t **included, int *has_next,
                         long *last, char *errstr, size_t errstr_size)
{
    char rel[2048], shown[1024];
    json_t *doc = NULL;
    long status = 0;
    mo_err err = MO_OK;

    *items = NULL;
    *has_next = 0;
    if (meta)
        *meta = NULL;
    if (included)
        *included = NULL;
    if (last)
        *last = 0;
    snprintf(rel, sizeof(rel), "%s?%s%spage%%5Bnumber%%5D=%d&page%%5Bsize%%5D=%d", path,
             query ? query : "", query && *query ? "&" : "", page, MS_PAGE_SIZE);
    /* A page that parses as JSON but is not a JSON:API list is as broken as a
     * truncated one, and a 404 for a page the previous one named as next is
     * no proof that the list ended (a list that shrank meanwhile, or a
     * passing fault): ask again, within the same attempt budget, and then
     * fail transiently.  Only links.next absent ends a list. */
    for (int attempt = 0; attempt < ms->retry.max_attempts; attempt++) {
        if (attempt)
            mo_stop_sleep_ms(hc_backoff_ms(&ms->retry, attempt - 1, -1));
        err = ms_call(ms, "GET", rel, NULL, &doc, &status, errstr, errstr_size);
        if (err == MO_ERR_PERMANENT && status == 404 && page > 1) {
            json_decref(doc);
            doc = NULL;
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                            "GET %s: page %d answered 404 although page %d named it as next",
                            hc_url_redact(rel, shown, sizeof(shown)), page, page - 1);
            lg_warn("mystore", NULL, "%s; asking again", errstr);
            continue;
        }
        if (err) {
            json_decref(doc); /* a 4xx answer's error body */
            return err;
        }
        if (ms_list_doc(doc, items, meta, has_next) == MO_OK) {
            if (last)
                *last = ms_links_last(doc);
            if (included && json_is_array(json_object_get(doc, "included")))
                *included = json_incref(json_object_get(doc, "included"));
            json_decref(doc);
            return MO_OK;
        }
        json_decref(doc);
        doc = NULL;
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                        "GET %s: answer is not a JSON:API list",
                        hc_url_redact(rel, shown, sizeof(shown)));
        lg_warn("mystore", NULL, "%s; asking again", errstr);
    }
    return err;
}

mo_err ms_list_page_meta(ms_client *ms, const char *path, const char *query, int page,
                         json_t **items, json_t **meta, int *has_next, char *errstr,
                         size_t errstr_size)
{
    return ms_list_page_last(ms, path, query, page, items, meta, has_next, NULL, errstr,
                             errstr_size);
}

mo_err ms_list_page(ms_client *ms, const char *path, const char *query, int page, json_t **items,
                    int *has_next, char *errstr, size_t errstr_size)
{
    return ms_list_page_meta(ms, path, query, page, items, NULL, has_next, errstr, errstr_size);
}

/* 1 when some item of items (an array of resources) has an id already in
 * ids (an object used as a set), adding each id to ids. */
static int ms_ids_repeat(json_t *ids, const json_t *items)
{
    size_t i;
    json_t *it;
    int repeat = 0;
    json_array_foreach(items, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        if (!id)
            continue;
        if (json_object_get(ids, id))
            repeat = 1;
        else
            json_object_set_new(ids, id, json_true());
    }
    return repeat;
}

mo_err ms_list_all_meta(ms_client *ms, const char *path, const char *meta_key, json_t **items,
                        json_t **meta, char *errstr, size_t errstr_size)
{
    json_t *all = NULL, *all_meta = NULL, *ids = NULL;
    size_t bytes = 0;
    mo_err err = MO_OK;
    /* A list of several pages can shift while it is read (M2): an item seen
     * twice says so, and the whole list is read again rather than kept cut
     * or doubled. */
    for (int round = 0; round < MS_LIST_ROUNDS; round++) {
        json_decref(all);
        json_decref(all_meta);
        json_decref(ids);
        all = json_array();
        all_meta = json_array();
        ids = json_object();
        bytes = 0;
        if (!all || !all_meta || !ids) {
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        int repeated = 0;
        long first_last = 0;
        for (int page = 1;; page++) {
            json_t *part, *m;
            int has_next;
            long last;
            if (page > MS_LIST_MAX_PAGES) {
                err = mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                                "GET %s: list longer than %d pages", path, MS_LIST_MAX_PAGES);
                goto out;
            }
            err = ms_list_page_last(ms, path, NULL, page, &part, &m, &has_next, &last, errstr,
                                    errstr_size);
            if (err)
                goto out;
            bytes += hc_last_body_len(ms->hc);
            if (page == 1)
                first_last = last;
            repeated |= ms_ids_repeat(ids, part) || (last && first_last && last != first_last);
            json_array_extend(all, part);
            if (meta_key && json_is_array(json_object_get(m, meta_key)))
                json_array_extend(all_meta, json_object_get(m, meta_key));
            json_decref(part);
            json_decref(m);
            if (bytes > MS_LIST_MAX_BYTES) {
                err = mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                                "GET %s: list larger than %u MiB after %d pages", path,
                                MS_LIST_MAX_BYTES >> 20, page);
                goto out;
            }
            if (!has_next)
                break;
        }
        if (!repeated)
            goto out;
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                        "GET %s: the list changed while it was read", path);
        lg_warn("mystore", NULL, "%s; reading it again", errstr);
    }
out:
    json_decref(ids);
    if (err) {
        json_decref(all);
        json_decref(all_meta);
        all = all_meta = NULL;
    }
    *items = all;
    if (meta)
        *meta = all_meta;
    else
        json_decref(all_meta);
    return err;
}

mo_err ms_list_all(ms_client *ms, const char *path, json_t **items, char *errstr,
                   size_t errstr_size)
{
    return ms_list_all_meta(ms, path, NULL, items, NULL, errstr, errstr_size);
}

mo_err ms_write(ms_client *ms, const char *method, const char *path, const json_t *body,
                json_t **doc, long *status, char *errstr, size_t errstr_size)
{
    json_t *answer = NULL;
    char *s = json_dumps(body, JSON_COMPACT);
    if (!s)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mo_err err = ms_call(ms, method, path, s, &answer, status, errstr, errstr_size);
    free(s);
    if (doc)
        *doc = answer;
    else
        json_decref(answer);
    return err;
}

long ms_last_status(const ms_client *ms)
{
    return ms->last_status;
}

mo_err ms_filter_sku(const char *sku, char *buf, size_t size)
{
    char esc[512];
    if (hc_escape(sku, esc, sizeof(esc)))
        return MO_ERR_TOO_LARGE;
    int n = snprintf(buf, size,
                     "filter%%5Bsku%%5D%%5Bpath%%5D=sku&filter%%5Bsku%%5D%%5Bvalue%%5D=%s"
                     "&filter%%5Bsku%%5D%%5Boperator%%5D=eq",
                     esc);
    return n < 0 || (size_t)n >= size ? MO_ERR_TOO_LARGE : MO_OK;
}
