#include "http.h"
#include "b64.h"
#include "log.h"
#include "metrics.h"
#include "stop.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct hc_client {
    CURL *curl;
    struct curl_slist *headers;
    hc_opts opts;
    char *bearer_header;
    char *user, *password;
    long long last_up_ms;
    long long server_date, server_date_at_ms; /* last Date header and when it came */
    size_t last_body_len;
    char *api, *tenant; /* metrics labels; NULL: not counted */
};

static pthread_once_t hc_once = PTHREAD_ONCE_INIT;
static atomic_ulong hc_total;

static char hc_agent[160];

static void hc_global_init(void)
{
    char host[64] = "";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (gethostname(host, sizeof(host) - 1))
        snprintf(host, sizeof(host), "unknown");
    snprintf(hc_agent, sizeof(hc_agent), "mosync/%s (%s:%ld)", MOSYNC_VERSION, host,
             (long)getpid());
}

const char *hc_user_agent(void)
{
    pthread_once(&hc_once, hc_global_init);
    return hc_agent;
}

unsigned long hc_requests_total(void)
{
    return atomic_load(&hc_total);
}

/* The last "up" answer and the last refused credential per API name,
 * process-wide.  A handful of names (mystore, ongoing): a small fixed table,
 * no allocation. */
#define HC_APIS 8
static pthread_mutex_t hc_api_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    long long up_ms;
    long long refused_ms;
    long refused_status;
} hc_apis[HC_APIS];

/* Notes an answer of api at now_ms: a 2xx (up), or a 401/403 (the
 * credential refused); other statuses change nothing. */
static void hc_api_note(const char *api, long status, long long now_ms)
{
    int up = status >= 200 && status < 300;
    if (!up && hc_classify(status) != MO_ERR_CREDENTIAL)
        return;
    pthread_mutex_lock(&hc_api_lock);
    for (int i = 0; i < HC_APIS; i++) {
        if (!hc_apis[i].name[0])
            snprintf(hc_apis[i].name, sizeof(hc_apis[i].name), "%s", api);
        if (!strcmp(hc_apis[i].name, api)) {
            if (up) {
                hc_apis[i].up_ms = now_ms;
            } else {
                hc_apis[i].refused_ms = now_ms;
                hc_apis[i].refused_status = status;
            }
            break;
        }
    }
    pthread_mutex_unlock(&hc_api_lock);
}

long long hc_api_refused_ms(const char *api, long *status)
{
    long long ms = 0;
    pthread_mutex_lock(&hc_api_lock);
    for (int i = 0; i < HC_APIS && hc_apis[i].name[0]; i++)
        if (!strcmp(hc_apis[i].name, api)) {
            ms = hc_apis[i].refused_ms;
            if (status)
                *status = hc_apis[i].refused_status;
        }
    pthread_mutex_unlock(&hc_api_lock);
    return ms;
}

long long hc_api_last_up_ms(const char *api)
{
    long long ms = 0;
    pthread_mutex_lock(&hc_api_lock);
    for (int i = 0; i < HC_APIS && hc_apis[i].name[0]; i++)
        if (!strcmp(hc_apis[i].name, api))
            ms = hc_apis[i].up_ms;
    pthread_mutex_unlock(&hc_api_lock);
    return ms;
}

const char *hc_status_class(long status)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    return status >= 100 && status <= 599 ? classes[status / 100 - 1] : "none";
}

/* Registers base64("user:password") with the log; -1 when out of memory. */
static int hc_basic_secret(const char *user, const char *password)
{
    size_t ulen = strlen(user), plen = strlen(password), len = ulen + 1 + plen;
    char *in = malloc(len), *out = NULL;
    int rc = -1;
    if (!in)
        return -1;
    memcpy(in, user, ulen);
    in[ulen] = ':';
    memcpy(in + ulen + 1, password, plen);
    out = b64_encode(in, len);
    if (out)
        rc = lg_add_secret(out) == -2 ? -1 : 0;
    free(in);
    free(out);
    return rc;
}

hc_client *hc_new(const hc_opts *opts)
{
    char accept[256];
    pthread_once(&hc_once, hc_global_init);
    hc_client *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    hc->opts = *opts;
    if (hc->opts.retry_after_max_s <= 0)
        hc->opts.retry_after_max_s = HC_RETRY_AFTER_CAP_DEFAULT_S;
    if (!hc->opts.connect_timeout_ms)
        hc->opts.connect_timeout_ms = 5000;
    if (!hc->opts.total_timeout_ms)
        hc->opts.total_timeout_ms = 30000;
    if (!hc->opts.max_body)
        hc->opts.max_body = 16u << 20;
    hc->curl = curl_easy_init();
    if (!hc->curl)
        goto fail;
    snprintf(accept, sizeof(accept), "Accept: %s",
             opts->accept ? opts->accept : "application/json");
    hc->headers = curl_slist_append(NULL, accept);
    if (!hc->headers)
        goto fail;
    if (opts->bearer) {
        size_t n = strlen(opts->bearer) + 32;
        hc->bearer_header = malloc(n);
        if (!hc->bearer_header)
            goto fail;
        snprintf(hc->bearer_header, n, "Authorization: Bearer %s", opts->bearer);
    }
    if (opts->basic_user) {
        hc->user = strdup(opts->basic_user);
        hc->password = strdup(opts->basic_password ? opts->basic_password : "");
        if (!hc->user || !hc->password)
            goto fail;
        /* A server that echoes the Authorization header shows base64 of
         * user:password: that spelling is a secret too. */
        if (*hc->password && hc_basic_secret(hc->user, hc->password))
            goto fail;
    }
    if (opts->api && opts->tenant) {
        hc->api = strdup(opts->api);
        hc->tenant = strdup(opts->tenant);
        if (!hc->api || !hc->tenant)
            goto fail;
    }
    hc->opts.bearer = hc->opts.basic_user = hc->opts.basic_password = NULL;
    hc->opts.api = hc->opts.tenant = NULL;
    return hc;
fail:
    hc_free(hc);
    return NULL;
}

mo_err hc_set_bearer(hc_client *hc, const char *token)
{
    size_t n = strlen(token) + 32;
    char *h = malloc(n);
    if (!h)
        return MO_ERR_NOMEM;
    snprintf(h, n, "Authorization: Bearer %s", token);
    free(hc->bearer_header);
    hc->bearer_header = h;
    return MO_OK;
}

void hc_api_mark_refused(const char *api, long status)
{
    hc_api_note(api, status, mo_now_ms());
}

void hc_free(hc_client *hc)
{
    if (!hc)
        return;
    if (hc->curl)
        curl_easy_cleanup(hc->curl);
    curl_slist_free_all(hc->headers);
    free(hc->bearer_header);
    free(hc->user);
    free(hc->password);
    free(hc->api);
    free(hc->tenant);
    free(hc);
}

void hc_resp_free(hc_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

typedef struct hc_sink {
    hc_resp *resp;
    size_t cap, max;
    int too_large;
} hc_sink;

/* Appends answer bytes, refusing to grow past the cap. */
static size_t hc_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    hc_sink *s = userdata;
    size_t n = size * nmemb;
    if (s->resp->len + n > s->max) {
        s->too_large = 1;
        return 0;
    }
    if (s->resp->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->resp->len + n + 1)
            cap *= 2;
        char *b = realloc(s->resp->body, cap);
        if (!b)
            return 0;
        s->resp->body = b;
        s->cap = cap;
    }
    memcpy(s->resp->body + s->resp->len, ptr, n);
    s->resp->len += n;
    s->resp->body[s->resp->len] = '\0';
    return n;
}

/* What the header callback collects: the Date, and Retry-After in either
 * form (delay-seconds, or an HTTP-date resolved once the Date is known). */
typedef struct hc_heads {
    hc_resp *resp;
    long long retry_after_date; /* UTC seconds, 0 when none */
} hc_heads;

void hc_header_parse(const char *buf, size_t n, int *retry_after, long long *retry_after_date,
                     long long *server_date)
{
    static const char name[] = "retry-after:";
    static const char date[] = "date:";
    if (n > sizeof(date) && n < 128 && !strncasecmp(buf, date, sizeof(date) - 1)) {
        char tmp[128];
        memcpy(tmp, buf + sizeof(date) - 1, n - (sizeof(date) - 1));
        tmp[n - (sizeof(date) - 1)] = '\0';
        time_t t = curl_getdate(tmp, NULL);
        if (t > 0)
            *server_date = (long long)t;
    }
    if (n > sizeof(name) && n < 128 && !strncasecmp(buf, name, sizeof(name) - 1)) {
        char tmp[128], *end;
        size_t vlen = n - (sizeof(name) - 1);
        memcpy(tmp, buf + sizeof(name) - 1, vlen);
        tmp[vlen] = '\0';
        while (vlen && (tmp[vlen - 1] == '\r' || tmp[vlen - 1] == '\n' || tmp[vlen - 1] == ' '))
            tmp[--vlen] = '\0';
        const char *v = tmp + strspn(tmp, " \t");
        long secs = strtol(v, &end, 10);
        if (end != v && !*end && secs >= 0) {
            /* A day is plenty: anything longer is a server's mistake. */
            *retry_after = secs > 86400 ? 86400 : (int)secs;
        } else {
            time_t t = curl_getdate(v, NULL);
            if (t > 0)
                *retry_after_date = (long long)t;
        }
    }
}

static size_t hc_header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    hc_heads *heads = userdata;
    size_t n = size * nitems;
    hc_header_parse(buf, n, &heads->resp->retry_after, &heads->retry_after_date,
                    &heads->resp->server_date);
    return n;
}

/* Aborts a transfer in flight once a stop is requested (SIGTERM), so a
 * process never waits out a slow answer on its way down. */
static int hc_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
    (void)clientp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return mo_stop_requested() ? 1 : 0;
}

const char *hc_url_redact(const char *url, char *out, size_t size)
{
    const char *rest = url, *scheme_end = strstr(url, "://");
    size_t o = 0;
    if (!size)
        return out;
    out[0] = '\0';
    if (scheme_end) {
        size_t n = (size_t)(scheme_end + 3 - url);
        if (n >= size)
            n = size - 1;
        memcpy(out, url, n);
        o = n;
        rest = scheme_end + 3;
        /* Drop user-info: the authority ends at the first '/', '?' or '#'. */
        size_t auth = strcspn(rest, "/?#");
        const char *at = NULL;
        for (size_t i = 0; i < auth; i++)
            if (rest[i] == '@')
                at = rest + i;
        if (at)
            rest = at + 1;
    }
    size_t keep = strcspn(rest, "?#");
    if (o + keep >= size)
        keep = size - 1 - o;
    memcpy(out + o, rest, keep);
    o += keep;
    if (rest[keep] && o + 4 < size) {
        memcpy(out + o, "?...", 4);
        o += 4;
    }
    out[o] = '\0';
    return out;
}

/* An answer asking for a longer wait than RETRY_AFTER_MAX_S: waited only
 * that long (a poller asleep for a day holds its lease the whole day), and
 * said, since an API that asks for it is broken or angry: someone should
 * know. */
static void hc_retry_after_cap(hc_client *hc, const char *method, const char *shown, hc_resp *resp)
{
    lg_error("http", hc->tenant,
             "%s %s: %s answered %ld asking to wait %d s (Retry-After); waiting "
             "RETRY_AFTER_MAX_S=%d s at most",
             method, shown, hc->api ? hc->api : "the API", resp->status, resp->retry_after,
             hc->opts.retry_after_max_s);
    if (hc->api)
        mt_add("mosync_retry_after_capped_total", 1, "api", hc->api, "tenant", hc->tenant, NULL);
    resp->retry_after = hc->opts.retry_after_max_s;
}

/* hc_request with an answer cap of its own (max_body bytes). */
static mo_err hc_perform(hc_client *hc, const char *method, const char *url,
                         const char *content_type, const char *body, size_t max_body, hc_resp *resp,
                         char *errstr, size_t errstr_size)
{
    struct curl_slist *headers = NULL, *h;
    char ctype[128], shown[1024];
    hc_sink sink = {.resp = resp, .max = max_body};
    hc_heads heads = {.resp = resp};
    mo_err err = MO_OK;
    CURL *c = hc->curl;
    long left = mo_deadline_left_ms();

    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    hc_url_redact(url, shown, sizeof(shown));
    if (mo_stop_requested())
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s %s: not sent, stopping", method,
                         shown);
    if (left <= 0)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                         "%s %s: not sent, no time left before the deadline", method, shown);
    /* One attempt never outlives the thread's deadline. */
    long total_ms = hc->opts.total_timeout_ms < left ? hc->opts.total_timeout_ms : left;
    long connect_ms =
        hc->opts.connect_timeout_ms < total_ms ? hc->opts.connect_timeout_ms : total_ms;

    /* Per-request header list: the shared ones plus auth and content type. */
    for (h = hc->headers; h; h = h->next)
        headers = curl_slist_append(headers, h->data);
    if (hc->bearer_header)
        headers = curl_slist_append(headers, hc->bearer_header);
    if (body) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                 content_type ? content_type : "application/json");
        headers = curl_slist_append(headers, ctype);
    }
    headers = curl_slist_append(headers, "Expect:");
    if (!headers)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hc_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hc_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &heads);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, hc_progress_cb);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, hc_agent);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (hc->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, hc->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, hc->password);
    }
    /* A framed body with Content-Length, never chunked (Ongoing's WAF refuses
     * some chunked uploads). */
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (strcmp(method, "GET"))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);

    atomic_fetch_add(&hc_total, 1);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_WRITE_ERROR && sink.too_large) {
        err = mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                        "%s %s: answer larger than %zu bytes, the most this call accepts", method,
                        shown, max_body);
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s %s: aborted, stopping", method,
                        shown);
    } else if (rc != CURLE_OK) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s %s: %s", method, shown,
                        curl_easy_strerror(rc));
        /* Only these mean the request never left for a server. */
        resp->unsent = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
                       rc == CURLE_COULDNT_CONNECT;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        hc->last_body_len = resp->len;
        /* Up for this tenant: it answered, and not only to refuse the credential. */
        mo_err klass = hc_classify(resp->status);
        if (klass == MO_OK || klass == MO_ERR_PERMANENT)
            hc->last_up_ms = mo_now_ms();
        /* Readiness wants more than an answer: a 401 answers too. */
        if (hc->api)
            hc_api_note(hc->api, resp->status, mo_now_ms());
        if (resp->server_date) {
            hc->server_date = resp->server_date;
            hc->server_date_at_ms = mo_now_ms();
        }
        if (heads.retry_after_date && resp->retry_after < 0) {
            /* Counted from the server's own clock when it told it. */
            long long from = resp->server_date ? resp->server_date : (long long)time(NULL);
            long long secs = heads.retry_after_date - from;
            resp->retry_after = secs < 0 ? 0 : secs > 86400 ? 86400 : (int)secs;
        }
        if (resp->retry_after > hc->opts.retry_after_max_s)
            hc_retry_after_cap(hc, method, shown, resp);
        if (!resp->body) {
            resp->body = calloc(1, 1);
            if (!resp->body)
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
    }
    if (err)
        resp->status = 0;
    /* Counted once the outcome is known; "none" when no answer came (it may
     * still have reached the server: a timeout). */
    if (hc->api)
        mt_add("mosync_api_requests_total", 1, "api", hc->api, "method", method, "status_class",
               hc_status_class(resp->status), "tenant", hc->tenant, NULL);
    curl_slist_free_all(headers);
    return err;
}

mo_err hc_request(hc_client *hc, const char *method, const char *url, const char *content_type,
                  const char *body, hc_resp *resp, char *errstr, size_t errstr_size)
{
    return hc_perform(hc, method, url, content_type, body, hc->opts.max_body, resp, errstr,
                      errstr_size);
}

long long hc_server_now(const hc_client *hc)
{
    if (!hc->server_date)
        return 0;
    return hc->server_date + (mo_now_ms() - hc->server_date_at_ms) / 1000;
}

void hc_clock_get(const hc_client *hc, long long *date, long long *at_ms)
{
    *date = hc->server_date;
    *at_ms = hc->server_date_at_ms;
}

void hc_clock_set(hc_client *hc, long long date, long long at_ms)
{
    if (!hc->server_date && date > 0) {
        hc->server_date = date;
        hc->server_date_at_ms = at_ms;
    }
}

size_t hc_last_body_len(const hc_client *hc)
{
    return hc->last_body_len;
}

long long hc_last_up_ms(const hc_client *hc)
{
    return hc->last_up_ms;
}

mo_err hc_classify(long status)
{
    if (status >= 200 && status < 300)
        return MO_OK;
    if (status == 408 || status == 429 || status >= 500 || status == 0)
        return MO_ERR_TRANSIENT;
    /* The credential, not the request: Ongoing answers 401 to a wrong
     * password, Mystore 403 "Token has expired or is invalid" (MODEL.md). */
    if (status == 401 || status == 403)
        return MO_ERR_CREDENTIAL;
    return MO_ERR_PERMANENT;
}

mo_err hc_escape(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (o + (keep ? 1 : 3) >= size)
            return MO_ERR_TOO_LARGE;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= size)
        return MO_ERR_TOO_LARGE;
    out[o] = '\0';
    return MO_OK;
}

/* A per-thread jitter source seeded from the kernel: processes started
 * together must not retry in step (rand() unseeded gives them all one
 * sequence). */
static unsigned long hc_jitter(void)
{
    static _Thread_local unsigned long long state;
    if (!state) {
        if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state))
            state = (unsigned long long)mo_now_ms() ^ ((unsigned long long)getpid() << 32);
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (unsigned long)(state >> 11);
}

/* Backoff for attempt n (0-based): base * 2^n capped, with +-25% jitter, or
 * the server's Retry-After when it gave one. */
long hc_backoff_ms(const hc_retry *retry, int n, int retry_after)
{
    if (retry_after >= 0)
        return retry_after * 1000L + 50;
    long ms = retry->base_ms;
    for (int i = 0; i < n && ms < retry->max_ms; i++)
        ms *= 2;
    if (ms > retry->max_ms)
        ms = retry->max_ms;
    return ms * 3 / 4 + (long)(hc_jitter() % (unsigned long)(ms / 2 + 1));
}

/* Is a failed attempt of method worth sending again?  A POST only when it
 * surely had no effect (see hc_call_json). */
static int hc_may_resend(const char *method, const hc_resp *resp)
{
    if (strcmp(method, "POST"))
        return 1;
    return resp->unsent || resp->status == 429;
}

mo_err hc_call_json(hc_client *hc, const hc_retry *retry, const hc_hooks *hooks, const char *method,
                    const char *url, const char *content_type, const char *body, long *status,
                    json_t **doc, int *attempts, char *errstr, size_t errstr_size)
{
    return hc_call_json_capped(hc, retry, hooks, method, url, content_type, body, 0, status, doc,
                               attempts, errstr, errstr_size);
}

mo_err hc_call_json_capped(hc_client *hc, const hc_retry *retry, const hc_hooks *hooks,
                           const char *method, const char *url, const char *content_type,
                           const char *body, size_t max_body, long *status, json_t **doc,
                           int *attempts, char *errstr, size_t errstr_size)
{
    char shown[1024];
    mo_err err = MO_ERR_TRANSIENT;
    *doc = NULL;
    *status = 0;
    if (attempts)
        *attempts = 0;
    hc_url_redact(url, shown, sizeof(shown));
    for (int n = 0; n < retry->max_attempts; n++) {
        hc_resp resp;
        if (mo_deadline_left_ms() <= 0)
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                             "%s %s: not sent, no time left before the deadline", method, shown);
        if (hooks && hooks->before && (err = hooks->before(hooks->ctx, errstr, errstr_size)))
            return err;
        if (attempts)
            (*attempts)++;
        err = hc_perform(hc, method, url, content_type, body,
                         max_body ? max_body : hc->opts.max_body, &resp, errstr, errstr_size);
        if (hooks && hooks->after)
            hooks->after(hooks->ctx);
        if (err == MO_OK) {
            json_error_t jerr;
            *status = resp.status;
            err = hc_classify(resp.status);
            json_t *j = resp.len ? json_loadb(resp.body, resp.len, JSON_DECODE_ANY, &jerr) : NULL;
            if (err == MO_OK && resp.len && !j) {
                err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                                "%s %s: answer %ld is not valid JSON (%s)", method, shown,
                                resp.status, jerr.text);
            } else if (err == MO_OK) {
                *doc = j;
            } else if (err == MO_ERR_PERMANENT || err == MO_ERR_CREDENTIAL) {
                char quoted[256];
                *doc = j;
                /* The body may echo a credential: masked whole, then cut. */
                lg_quote(resp.body, resp.len, 200, quoted, sizeof(quoted));
                mo_seterr(err, errstr, errstr_size, "%s %s: HTTP %ld %s", method, shown,
                          resp.status, quoted);
            } else {
                json_decref(j);
                mo_seterr(err, errstr, errstr_size, "%s %s: HTTP %ld", method, shown, resp.status);
            }
        }
        if (err != MO_ERR_TRANSIENT) {
            hc_resp_free(&resp);
            return err;
        }
        int retry_after = resp.retry_after;
        int resend = hc_may_resend(method, &resp);
        hc_resp_free(&resp);
        if (!resend) {
            /* It may have taken effect: the caller reads before writing again. */
            lg_debug("http", NULL, "%s; not resent (%s is not idempotent)", errstr, method);
            return err;
        }
        long left = mo_deadline_left_ms();
        if (retry_after >= 0) {
            long wait = retry_after * 1000L;
            if (wait > HC_RETRY_AFTER_MAX_MS || wait >= left || n + 1 >= retry->max_attempts) {
                /* Not slept here: the caller's loop waits (a consumer pauses
                 * the partition, a poller's next cycle waits it out). */
                size_t used = strlen(errstr);
                if (wait > 0)
                    mo_retry_hint_set(wait);
                if (wait > 0 && used + 1 < errstr_size)
                    snprintf(errstr + used, errstr_size - used, "; the server asks to wait %d s",
                             retry_after);
                return err;
            }
        }
        if (n + 1 >= retry->max_attempts)
            break;
        long ms = hc_backoff_ms(retry, n, retry_after);
        if (ms >= left) /* no attempt may start after the deadline anyway */
            return err;
        lg_debug("http", NULL, "%s; retry in %ld ms", errstr, ms);
        if (mo_stop_sleep_ms(ms))
            break;
    }
    return err;
}
