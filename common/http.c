#include "http.h"
#include "log.h"
#include "stop.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct hc_client {
    CURL *curl;
    struct curl_slist *headers;
    hc_opts opts;
    char *bearer_header;
    char *user, *password;
    long long last_up_ms;
    long long server_date, server_date_at_ms; /* last Date header and when it came */
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

hc_client *hc_new(const hc_opts *opts)
{
    char accept[256];
    pthread_once(&hc_once, hc_global_init);
    hc_client *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    hc->opts = *opts;
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
    }
    hc->opts.bearer = hc->opts.basic_user = hc->opts.basic_password = NULL;
    return hc;
fail:
    hc_free(hc);
    return NULL;
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

static size_t hc_header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    hc_resp *resp = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    static const char date[] = "date:";
    if (n > sizeof(date) && n < 128 && !strncasecmp(buf, date, sizeof(date) - 1)) {
        char tmp[128];
        memcpy(tmp, buf + sizeof(date) - 1, n - (sizeof(date) - 1));
        tmp[n - (sizeof(date) - 1)] = '\0';
        time_t t = curl_getdate(tmp, NULL);
        if (t > 0)
            resp->server_date = (long long)t;
    }
    if (n > sizeof(name) && !strncasecmp(buf, name, sizeof(name) - 1)) {
        char tmp[32];
        size_t vlen = n - (sizeof(name) - 1);
        if (vlen >= sizeof(tmp))
            vlen = sizeof(tmp) - 1;
        memcpy(tmp, buf + sizeof(name) - 1, vlen);
        tmp[vlen] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0 && v < 3600)
            resp->retry_after = (int)v;
    }
    return n;
}

mo_err hc_request(hc_client *hc, const char *method, const char *url, const char *content_type,
                  const char *body, hc_resp *resp, char *errstr, size_t errstr_size)
{
    struct curl_slist *headers = NULL, *h;
    char ctype[128];
    hc_sink sink = {.resp = resp, .max = hc->opts.max_body};
    mo_err err = MO_OK;
    CURL *c = hc->curl;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;

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
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, hc->opts.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, hc->opts.total_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hc_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hc_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
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
                        "%s %s: answer larger than %zu bytes", method, url, hc->opts.max_body);
    } else if (rc != CURLE_OK) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s %s: %s", method, url,
                        curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        if (hc_classify(resp->status) != MO_ERR_TRANSIENT)
            hc->last_up_ms = mo_now_ms();
        if (resp->server_date) {
            hc->server_date = resp->server_date;
            hc->server_date_at_ms = mo_now_ms();
        }
        if (!resp->body) {
            resp->body = calloc(1, 1);
            if (!resp->body)
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
    }
    if (err)
        resp->status = 0;
    curl_slist_free_all(headers);
    return err;
}

long long hc_server_now(const hc_client *hc)
{
    if (!hc->server_date)
        return 0;
    return hc->server_date + (mo_now_ms() - hc->server_date_at_ms) / 1000;
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
    return ms * 3 / 4 + (long)(rand() % (int)(ms / 2 + 1));
}

mo_err hc_call_json(hc_client *hc, const hc_retry *retry, const hc_hooks *hooks, const char *method,
                    const char *url, const char *content_type, const char *body, long *status,
                    json_t **doc, int *attempts, char *errstr, size_t errstr_size)
{
    mo_err err = MO_ERR_TRANSIENT;
    *doc = NULL;
    *status = 0;
    if (attempts)
        *attempts = 0;
    for (int n = 0; n < retry->max_attempts; n++) {
        hc_resp resp;
        int retry_after = -1;
        if (hooks && hooks->before && (err = hooks->before(hooks->ctx, errstr, errstr_size)))
            return err;
        if (attempts)
            (*attempts)++;
        err = hc_request(hc, method, url, content_type, body, &resp, errstr, errstr_size);
        if (hooks && hooks->after)
            hooks->after(hooks->ctx);
        if (err == MO_OK) {
            json_error_t jerr;
            *status = resp.status;
            retry_after = resp.retry_after;
            err = hc_classify(resp.status);
            json_t *j = resp.len ? json_loadb(resp.body, resp.len, JSON_DECODE_ANY, &jerr) : NULL;
            if (err == MO_OK && resp.len && !j) {
                err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                                "%s %s: answer %ld is not valid JSON (%s)", method, url,
                                resp.status, jerr.text);
            } else if (err == MO_OK) {
                *doc = j;
            } else if (err == MO_ERR_PERMANENT) {
                *doc = j;
                mo_seterr(err, errstr, errstr_size, "%s %s: HTTP %ld %.200s", method, url,
                          resp.status, resp.body);
            } else {
                json_decref(j);
                mo_seterr(err, errstr, errstr_size, "%s %s: HTTP %ld", method, url, resp.status);
            }
        }
        hc_resp_free(&resp);
        if (err != MO_ERR_TRANSIENT)
            return err;
        if (n + 1 < retry->max_attempts) {
            long ms = hc_backoff_ms(retry, n, retry_after);
            lg_debug("http", NULL, "%s; retry in %ld ms", errstr, ms);
            if (mo_stop_sleep_ms(ms))
                break;
        }
    }
    return err;
}
