#include "ongoing.h"
#include "http.h"
#include "log.h"
#include "stop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The write lock outlives one request (HTTP_TIMEOUT_MS) by this much, so it
 * never expires under a request still in flight, and a crashed holder blocks
 * the others for at most the timeout and this margin. */
#define OG_LOCK_MARGIN_MS 5000

struct og_client {
    hc_client *hc;
    rs_store *rs;
    char base[1024];
    long goods_owner;
    char lock_name[64];
    long lock_ttl_ms;
    hc_retry retry;
    unsigned long requests;
};

og_client *og_new(const mo_config *cfg, rs_store *rs, int max_attempts)
{
    og_client *og = calloc(1, sizeof(*og));
    if (!og)
        return NULL;
    hc_opts opts = {.basic_user = cfg->ongoing_user,
                    .basic_password = cfg->ongoing_password,
                    .total_timeout_ms = cfg->http_timeout_ms,
                    .retry_after_max_s = cfg->retry_after_max_s,
                    .api = "ongoing",
                    .tenant = cfg->tenant};
    og->hc = hc_new(&opts);
    if (!og->hc) {
        free(og);
        return NULL;
    }
    size_t n = strlen(cfg->ongoing_url);
    int slash = n && cfg->ongoing_url[n - 1] == '/';
    snprintf(og->base, sizeof(og->base), "%s%sapi/v1/", cfg->ongoing_url, slash ? "" : "/");
    og->rs = rs;
    og->goods_owner = cfg->ongoing_goods_owner;
    snprintf(og->lock_name, sizeof(og->lock_name), "ongoing-writes:%ld", og->goods_owner);
    og->lock_ttl_ms = (cfg->http_timeout_ms > 0 ? cfg->http_timeout_ms : 30000) + OG_LOCK_MARGIN_MS;
    og->retry = (hc_retry){.max_attempts = max_attempts, .base_ms = 300, .max_ms = 10000};
    return og;
}

void og_free(og_client *og)
{
    if (!og)
        return;
    hc_free(og->hc);
    free(og);
}

struct hc_client *og_http(og_client *c)
{
    return c->hc;
}

long long og_server_now(const og_client *c)
{
    return hc_server_now(c->hc);
}

unsigned long og_requests(const og_client *og)
{
    return og->requests;
}

/* The state of one og_call for its hooks: the write lock is held only while a
 * request is in flight, never while backing off. */
typedef struct og_attempt {
    og_client *og;
    int write;
    int locked;
    char token[40];
} og_attempt;

static mo_err og_before(void *ctx, char *errstr, size_t errstr_size)
{
    og_attempt *a = ctx;
    a->og->requests++;
    if (!a->write)
        return MO_OK;
    mo_err err = rs_lock(a->og->rs, a->og->lock_name, a->og->lock_ttl_ms, 120000, a->token, errstr,
                         errstr_size);
    a->locked = err == MO_OK;
    return err;
}

static void og_after(void *ctx)
{
    og_attempt *a = ctx;
    char e2[128];
    if (a->locked)
        rs_unlock(a->og->rs, a->og->lock_name, a->token, e2, sizeof(e2));
    a->locked = 0;
}

size_t og_answer_cap(const char *path)
{
    static const char *const names[] = {"maxOrdersToGet=", "maxArticlesToGet="};
    const char *query = strchr(path, '?');
    for (size_t i = 0; query && i < sizeof(names) / sizeof(names[0]); i++) {
        for (const char *p = strstr(query + 1, names[i]); p; p = strstr(p + 1, names[i])) {
            if (p[-1] != '&' && p[-1] != '?')
                continue;
            char *end;
            long n = strtol(p + strlen(names[i]), &end, 10);
            if (end == p + strlen(names[i]) || n <= 0)
                continue;
            return OG_ANSWER_BASE + (size_t)(n > 1000 ? 1000 : n) * OG_ANSWER_ITEM;
        }
    }
    return OG_ANSWER_ONE;
}

/* One call with retries.  Each attempt of a write holds the goods owner's
 * write lock only while the request is in flight (never while backing off),
 * and the lock outlives the HTTP timeout by a little, so a process killed
 * mid-write blocks the others for at most HTTP_TIMEOUT_MS + OG_LOCK_MARGIN_MS.  For a permanent
 * error (or a refused credential) the answer's "message" replaces the raw
 * body in errstr, so dead letters and status say what Ongoing said. */
static mo_err og_call(og_client *og, const char *method, const char *path, const json_t *body,
                      json_t **doc, long *status, char *errstr, size_t errstr_size)
{
    char url[2048];
    char *s = NULL;
    json_t *answer = NULL;
    og_attempt attempt = {.og = og, .write = strcmp(method, "GET") != 0};
    hc_hooks hooks = {.before = og_before, .after = og_after, .ctx = &attempt};

    snprintf(url, sizeof(url), "%s%s", og->base, path);
    if (body && !(s = json_dumps(body, JSON_COMPACT)))
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    size_t cap = attempt.write ? OG_ANSWER_ONE : og_answer_cap(path);
    mo_err err =
        hc_call_json_capped(og->hc, &og->retry, &hooks, method, url, s ? "application/json" : NULL,
                            s, cap, status, &answer, NULL, errstr, errstr_size);
    free(s);
    if (err == MO_ERR_PERMANENT || err == MO_ERR_CREDENTIAL) {
        const char *msg = json_string_value(json_object_get(answer, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(answer, "Message"));
        if (msg) {
            char quoted[512], shown[1024];
            /* Ongoing's message may quote the request: masked, then cut. */
            lg_quote(msg, strlen(msg), 300, quoted, sizeof(quoted));
            mo_seterr(err, errstr, errstr_size, "%s %s: HTTP %ld: %s", method,
                      hc_url_redact(path, shown, sizeof(shown)), *status, quoted);
        }
    }
    if (doc)
        *doc = answer;
    else
        json_decref(answer);
    return err;
}

int og_up_since(og_client *og, long long since_ms)
{
    char errstr[256];
    json_t *doc = NULL;
    long status;
    if (hc_last_up_ms(og->hc) > since_ms)
        return 1;
    og_call(og, "GET", "orders/statuses", NULL, &doc, &status, errstr, sizeof(errstr));
    json_decref(doc);
    return hc_last_up_ms(og->hc) > since_ms;
}

int og_order_status(const json_t *order)
{
    json_t *n = json_object_get(json_object_get(json_object_get(order, "orderInfo"), "orderStatus"),
                                "number");
    return json_is_integer(n) ? (int)json_integer_value(n) : -1;
}

mo_err og_list(og_client *og, const char *path, const char *query, json_t **items, char *errstr,
               size_t errstr_size)
{
    char rel[2048];
    json_t *doc = NULL;
    long status;
    *items = NULL;
    snprintf(rel, sizeof(rel), "%s?goodsOwnerId=%ld%s%s", path, og->goods_owner,
             query && *query ? "&" : "", query ? query : "");
    mo_err err = og_call(og, "GET", rel, NULL, &doc, &status, errstr, errstr_size);
    if (err) {
        json_decref(doc); /* the error body of a refused list */
        return err;
    }
    if (!json_is_array(doc)) {
        json_decref(doc);
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                         "GET %s: answer is not a JSON array", path);
    }
    *items = doc;
    return MO_OK;
}

static const char *og_order_number(const json_t *order)
{
    return json_string_value(json_object_get(json_object_get(order, "orderInfo"), "orderNumber"));
}

static const char *og_article_number(const json_t *article)
{
    return json_string_value(json_object_get(article, "articleNumber"));
}

/* The element of GET {path}?goodsOwnerId=..&{param}={value} whose number
 * (read by number_of) is exactly value: *found is a new reference, or NULL
 * when Ongoing has none. */
static mo_err og_find(og_client *og, const char *path, const char *param, const char *value,
                      const char *(*number_of)(const json_t *), json_t **found, char *errstr,
                      size_t errstr_size)
{
    char query[1024], esc[512];
    json_t *items;
    *found = NULL;
    if (hc_escape(value, esc, sizeof(esc)))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s too long", param);
    snprintf(query, sizeof(query), "%s=%s", param, esc);
    mo_err err = og_list(og, path, query, &items, errstr, errstr_size);
    if (err)
        return err;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *num = number_of(item);
        if (num && !strcmp(num, value)) {
            *found = json_incref(item);
            break;
        }
    }
    json_decref(items);
    return MO_OK;
}

mo_err og_order_get(og_client *og, const char *order_number, json_t **order, char *errstr,
                    size_t errstr_size)
{
    return og_find(og, "orders", "orderNumber", order_number, og_order_number, order, errstr,
                   errstr_size);
}

mo_err og_article_exists(og_client *og, const char *article_number, int *exists, char *errstr,
                         size_t errstr_size)
{
    json_t *article;
    mo_err err = og_find(og, "articles", "articleNumber", article_number, og_article_number,
                         &article, errstr, errstr_size);
    *exists = article != NULL;
    json_decref(article);
    return err;
}

void og_time(long long epoch_s, char *buf, size_t size)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

mo_err og_order_put(og_client *og, const json_t *order, long *status, char *errstr,
                    size_t errstr_size)
{
    return og_call(og, "PUT", "orders", order, NULL, status, errstr, errstr_size);
}

mo_err og_article_put(og_client *og, const json_t *article, long *status, char *errstr,
                      size_t errstr_size)
{
    return og_call(og, "PUT", "articles", article, NULL, status, errstr, errstr_size);
}

mo_err og_order_cancel(og_client *og, const char *order_number, long *status, char *errstr,
                       size_t errstr_size)
{
    char path[1024], esc[512];
    if (hc_escape(order_number, esc, sizeof(esc)))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "order number too long");
    snprintf(path, sizeof(path), "orders?goodsOwnerId=%ld&orderNumber=%s", og->goods_owner, esc);
    return og_call(og, "DELETE", path, NULL, NULL, status, errstr, errstr_size);
}

mo_err og_article_get(og_client *og, const char *article_number, json_t **article, char *errstr,
                      size_t errstr_size)
{
    return og_find(og, "articles", "articleNumber", article_number, og_article_number, article,
                   errstr, errstr_size);
}

mo_err og_get(og_client *og, const char *path, json_t **doc, long *status, char *errstr,
              size_t errstr_size)
{
    *status = 0;
    *doc = NULL;
    mo_err err = og_call(og, "GET", path, NULL, doc, status, errstr, errstr_size);
    if (err) {
        json_decref(*doc);
        *doc = NULL;
    }
    return err;
}
