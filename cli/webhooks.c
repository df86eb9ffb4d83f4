/* `mosync webhooks` (see webhooks.h). */
#include "webhooks.h"
#include "b64.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"
#include "stop.h"
#include "poll_sched.h"
#include "store.h"
#include "tenant.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Redis call in the server's one thread: short, so /healthz never waits
 * long behind an outage (the sender gets 503 and tries again). */
#define WH_REDIS_RETRY_MS 1000
/* A refused or ignored webhook is logged at most once per this, per kind,
 * with the count of those not logged since. */
#define WH_LOG_EVERY_MS 10000

enum { WH_LOG_UNAUTHORIZED, WH_LOG_IGNORED, WH_LOG_OTHER, WH_LOG_KINDS };

typedef struct wh_ctx {
    const mo_config *cfg;
    rs_store *rs;
    const sb_key *key;     /* --all-tenants: the registry's key; NULL: the one tenant of cfg */
    mo_config *tenant_cfg; /* --all-tenants: the tenant of the webhook being handled */
    long long logged_at[2][WH_LOG_KINDS]; /* per source (0 mystore, 1 ongoing) */
    unsigned long suppressed[2][WH_LOG_KINDS];
} wh_ctx;

static int wh_name_ok(const char *s, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

int wh_route_parse(const char *path, char *source, size_t source_size, char *tenant,
                   size_t tenant_size)
{
    static const char prefix[] = "/webhooks/";
    if (strncmp(path, prefix, sizeof(prefix) - 1))
        return -1;
    const char *src = path + sizeof(prefix) - 1;
    const char *slash = strchr(src, '/');
    if (!slash)
        return -1;
    const char *ten = slash + 1;
    size_t slen = (size_t)(slash - src), tlen = strlen(ten);
    if (!wh_name_ok(src, slen) || !wh_name_ok(ten, tlen) || slen >= source_size ||
        tlen >= tenant_size)
        return -1;
    memcpy(source, src, slen);
    source[slen] = '\0';
    memcpy(tenant, ten, tlen + 1);
    return 0;
}

const char *wh_mystore_stream(const char *topic)
{
    if (!topic)
        return NULL;
    if (!strncmp(topic, "orders/", 7) && topic[7])
        return "mystore-orders";
    if (!strncmp(topic, "products/", 9) && topic[9])
        return "mystore-products";
    return NULL;
}

int wh_token_equal(const char *want, const char *token)
{
    uint8_t a[32], b[32];
    if (!token || !*want)
        return 0;
    /* Compare digests, so the time depends on neither where they differ
     * nor how long the guess is compared with the token. */
    sha256_hmac("mosync-token", 12, want, strlen(want), a);
    sha256_hmac("mosync-token", 12, token, strlen(token), b);
    return sha256_ct_equal(a, b, sizeof(a));
}

int wh_mystore_signed(const char *secret, const char *body, size_t len, const char *header)
{
    uint8_t mac[32];
    if (!header || !*secret)
        return 0;
    sha256_hmac(secret, strlen(secret), body, len, mac);
    char *want = b64_encode(mac, sizeof(mac));
    if (!want)
        return 0;
    /* Surrounding blanks are the transport's, not the signature's. */
    while (*header == ' ' || *header == '\t')
        header++;
    size_t hlen = strlen(header);
    while (hlen && (header[hlen - 1] == ' ' || header[hlen - 1] == '\t'))
        hlen--;
    size_t wlen = strlen(want);
    int ok = hlen == wlen && sha256_ct_equal(want, header, wlen);
    free(want);
    return ok;
}

/* Logs a refused or ignored webhook at most once per WH_LOG_EVERY_MS per
 * source and kind, naming how many were not logged since.  msg never holds
 * a secret or the body. */
static void wh_log(wh_ctx *w, int source, int kind, const char *msg)
{
    long long now = mo_now_ms();
    if (w->logged_at[source][kind] && now - w->logged_at[source][kind] < WH_LOG_EVERY_MS) {
        w->suppressed[source][kind]++;
        return;
    }
    unsigned long more = w->suppressed[source][kind];
    w->logged_at[source][kind] = now;
    w->suppressed[source][kind] = 0;
    if (more)
        lg_warn("webhooks", w->cfg->tenant, "%s (and %lu more like it in the last %d s)", msg, more,
                WH_LOG_EVERY_MS / 1000);
    else
        lg_warn("webhooks", w->cfg->tenant, "%s", msg);
}

static void wh_count(wh_ctx *w, const char *source, const char *result)
{
    mt_add("mosync_webhooks_total", 1, "result", result, "source", source, "tenant", w->cfg->tenant,
           NULL);
}

/* The topic as a log line may show it: a Mystore topic has the form
 * "<resource>/<event>" in lower case; anything else (whatever an
 * authenticated sender puts there, a piece of a secret included) is only
 * described. */
static void wh_topic_text(const char *topic, char *buf, size_t size)
{
    size_t n = topic ? strlen(topic) : 0, slashes = 0;
    int ok = n > 0 && n <= 40;
    for (size_t i = 0; ok && i < n; i++) {
        if (topic[i] == '/')
            slashes++;
        else if (!(topic[i] >= 'a' && topic[i] <= 'z') && topic[i] != '_' && topic[i] != '-')
            ok = 0;
    }
    if (ok && slashes == 1)
        snprintf(buf, size, "'%s'", topic);
    else
        snprintf(buf, size, topic ? "(not of the form resource/event)" : "(none)");
}

/* Pushes the triggers of the streams: 0, or -1 when Redis did not take one.
 * A registry tenant's also go on each stream's trigger list, which
 * `poll <stream> --all-tenants` waits on. */
static int wh_trigger(wh_ctx *w, const mo_config *cfg, const char *const *streams, int n)
{
    char errstr[256];
    for (int i = 0; i < n; i++) {
        if (rs_trigger_push(w->rs, streams[i], errstr, sizeof(errstr)) ||
            (w->key && ps_trigger_push(w->rs, cfg->tenant, streams[i], errstr, sizeof(errstr)))) {
            char msg[400];
            snprintf(msg, sizeof(msg), "cannot trigger %s: %s; answered 503 (sent again later)",
                     streams[i], errstr);
            lg_error("webhooks", w->cfg->tenant, "%s", msg);
            return -1;
        }
        lg_debug("webhooks", cfg->tenant, "triggered %s", streams[i]);
    }
    return 0;
}

/* --all-tenants: loads the registry tenant named in the URL into
 * w->tenant_cfg (its webhook secrets are its settings) and binds w->rs to it.
 * 0; 404 when there is no such active tenant or its settings do not load; 503
 * when the registry cannot be read. */
static unsigned wh_registry_tenant(wh_ctx *w, const char *tenant)
{
    char errstr[512];
    json_t *record = NULL;
    if (tn_check_name(tenant, errstr, sizeof(errstr)))
        return 404;
    rs_set_tenant(w->rs, tenant);
    if (tn_get(w->rs, w->key, tenant, &record, errstr, sizeof(errstr))) {
        lg_error("webhooks", tenant, "cannot read the tenant's record: %s", errstr);
        return 503;
    }
    const char *state = json_string_value(json_object_get(record, "state"));
    if (!record || !state || strcmp(state, TN_ACTIVE)) {
        json_decref(record);
        return 404;
    }
    json_t *settings = json_object_get(record, "settings");
    json_object_set_new(settings, "MOSYNC_TENANT", json_string(tenant));
    mo_err err = cfg_load_tenant(w->tenant_cfg, 0, settings, errstr, sizeof(errstr));
    json_decref(record);
    if (err) {
        lg_warn("webhooks", tenant, "the tenant's settings do not load: %s", errstr);
        return 404;
    }
    return 0;
}

static unsigned wh_handle_one(wh_ctx *w, const mo_config *cfg, const mt_request *req, char *answer,
                              size_t answer_size);

static unsigned wh_handle(void *vctx, const mt_request *req, char *answer, size_t answer_size)
{
    wh_ctx *w = vctx;
    char source[32], tenant[80];
    if (!w->key || wh_route_parse(req->path, source, sizeof(source), tenant, sizeof(tenant)))
        return wh_handle_one(w, w->cfg, req, answer, answer_size);
    unsigned status = wh_registry_tenant(w, tenant);
    if (status) {
        wh_count(w, source, status == 404 ? "unknown_tenant" : "unavailable");
        snprintf(answer, answer_size,
                 status == 404 ? "not found: no such tenant" : "unavailable, try again");
        return status;
    }
    status = wh_handle_one(w, w->tenant_cfg, req, answer, answer_size);
    cfg_free(w->tenant_cfg);
    return status;
}

static unsigned wh_handle_one(wh_ctx *w, const mo_config *cfg, const mt_request *req, char *answer,
                              size_t answer_size)
{
    char source[32], tenant[80], peer[64], msg[512];
    if (wh_route_parse(req->path, source, sizeof(source), tenant, sizeof(tenant)) ||
        (strcmp(source, "mystore") && strcmp(source, "ongoing"))) {
        wh_count(w, "other", "unknown_route");
        snprintf(answer, answer_size,
                 "not found: POST /webhooks/mystore/<tenant> or /webhooks/ongoing/<tenant>");
        return 404;
    }
    int ms = !strcmp(source, "mystore");
    if (strcmp(req->method, "POST")) {
        wh_count(w, source, "method_not_allowed");
        snprintf(answer, answer_size, "only POST");
        return 405;
    }
    /* One tenant per deployment today: the tenant in the URL must be it. */
    if (strcmp(tenant, cfg->tenant)) {
        wh_count(w, source, "unknown_tenant");
        snprintf(answer, answer_size, "not found: no such tenant");
        return 404;
    }
    const char *secret = ms ? cfg->mystore_webhook_secret : cfg->ongoing_webhook_token;
    if (!*secret) {
        wh_count(w, source, "unconfigured");
        snprintf(msg, sizeof(msg), "a %s webhook came, but %s is not set: answered 404", source,
                 ms ? "MYSTORE_WEBHOOK_SECRET" : "ONGOING_WEBHOOK_TOKEN");
        wh_log(w, !ms, WH_LOG_OTHER, msg);
        snprintf(answer, answer_size, "not found: %s webhooks are not configured", source);
        return 404;
    }
    if (req->too_large) {
        wh_count(w, source, "too_large");
        snprintf(answer, answer_size, "body over %d bytes", WH_BODY_MAX);
        return 413;
    }
    mt_request_peer(req, peer, sizeof(peer));
    if (ms) {
        const char *sig = mt_request_header(req, "X-No-Mystore-Hmac-Sha256");
        if (!wh_mystore_signed(secret, req->body, req->body_len, sig)) {
            wh_count(w, source, "unauthorized");
            snprintf(msg, sizeof(msg),
                     "refused a mystore webhook from %s: %s X-No-Mystore-Hmac-Sha256", peer,
                     sig ? "wrong" : "no");
            wh_log(w, 0, WH_LOG_UNAUTHORIZED, msg);
            snprintf(answer, answer_size, "unauthorized");
            return 401;
        }
        const char *topic = mt_request_header(req, "X-No-Mystore-Topic");
        const char *stream = wh_mystore_stream(topic);
        if (!stream) {
            char t[80];
            wh_topic_text(topic, t, sizeof(t));
            wh_count(w, source, "ignored");
            snprintf(msg, sizeof(msg),
                     "a mystore webhook of topic %s triggers no poller: answered 200, ignored", t);
            wh_log(w, 0, WH_LOG_IGNORED, msg);
            snprintf(answer, answer_size, "ignored: topic triggers nothing");
            return 200;
        }
        const char *streams[1] = {stream};
        if (wh_trigger(w, cfg, streams, 1)) {
            wh_count(w, source, "unavailable");
            snprintf(answer, answer_size, "unavailable, try again");
            return 503;
        }
    } else {
        const char *token = mt_request_header(req, "X-Auth-Token");
        if (!wh_token_equal(secret, token)) {
            wh_count(w, source, "unauthorized");
            snprintf(msg, sizeof(msg), "refused an ongoing webhook from %s: %s X-Auth-Token", peer,
                     token ? "wrong" : "no");
            wh_log(w, 1, WH_LOG_UNAUTHORIZED, msg);
            snprintf(answer, answer_size, "unauthorized");
            return 401;
        }
        /* An order picked or shipped: the shipments poller, and the stock
         * poller when stock syncs (the pick moved stock). */
        const char *streams[2] = {"ongoing-shipments", "ongoing-stock"};
        if (wh_trigger(w, cfg, streams, cfg->stock_sync ? 2 : 1)) {
            wh_count(w, source, "unavailable");
            snprintf(answer, answer_size, "unavailable, try again");
            return 503;
        }
    }
    wh_count(w, source, "triggered");
    snprintf(answer, answer_size, "triggered");
    return 200;
}

int webhooks_main(const mo_config *cfg, const sb_key *key)
{
    char errstr[512];
    int rc = 1;
    if (!cfg->metrics_port) {
        fprintf(stderr, "mosync: configuration error: METRICS_PORT is not set: mosync webhooks "
                        "serves the webhooks on it\n");
        return 2;
    }
    if (!key && !*cfg->mystore_webhook_secret && !*cfg->ongoing_webhook_token) {
        fprintf(stderr,
                "mosync: configuration error: neither MYSTORE_WEBHOOK_SECRET nor "
                "ONGOING_WEBHOOK_TOKEN is set (nor their _FILE): no webhook could be accepted\n");
        return 2;
    }
    wh_ctx w;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.key = key;
    w.tenant_cfg = key ? calloc(1, sizeof(*w.tenant_cfg)) : NULL;
    w.rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!w.rs || (key && !w.tenant_cfg)) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    rs_set_retry_ms(w.rs, WH_REDIS_RETRY_MS);
    mt_route route = {.prefix = "/webhooks/",
                      .body_max = WH_BODY_MAX,
                      .allow = "POST",
                      .handle = wh_handle,
                      .ctx = &w};
    health_server *hs = NULL;
    if (health_start_routes(cfg, "webhooks", &route, 1, &hs, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        rc = 2;
        goto out;
    }
    if (key)
        lg_info("webhooks", cfg->tenant,
                "receiving webhooks on %s port %d: /webhooks/mystore/<tenant> and "
                "/webhooks/ongoing/<tenant> for every active registry tenant",
                cfg->metrics_listen, cfg->metrics_port);
    else
        lg_info("webhooks", cfg->tenant, "receiving webhooks on %s port %d: %s%s%s",
                cfg->metrics_listen, cfg->metrics_port,
                *cfg->mystore_webhook_secret ? "/webhooks/mystore/" : "",
                *cfg->mystore_webhook_secret && *cfg->ongoing_webhook_token ? " and " : "",
                *cfg->ongoing_webhook_token ? "/webhooks/ongoing/" : "");
    while (!mo_stop_requested())
        mo_stop_sleep_ms(1000);
    rc = 0;
    health_stop(hs); /* first: no handler runs on the store below */
out:
    rs_close(w.rs);
    free(w.tenant_cfg);
    return rc;
}
