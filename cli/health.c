/* The metrics server of the long-running commands, its readiness probe, and
 * `mosync healthcheck` (see health.h). */
#include "health.h"
#include "credential.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "mystore.h"
#include "ongoing.h"
#include "stop.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One readiness check in all: under the container health check's timeout. */
#define HEALTH_READY_BUDGET_MS 8000
#define HEALTH_KAFKA_MS        3000
#define HEALTH_REDIS_RETRY_MS  500
/* `mosync healthcheck`: the whole GET, above HEALTH_READY_BUDGET_MS. */
#define HEALTH_CHECK_TIMEOUT_MS 15000

struct health_server {
    const mo_config *cfg;
    mt_server *srv;
    rs_store *rs;
    kq_producer *kp; /* made at the first check: no scraper, no connection */
    int kp_shared;   /* kp is the process's (health_start_producer): not ours to free */
    ms_client *ms;   /* NULL when Mystore is not configured */
    og_client *og;   /* NULL when Ongoing is not configured */
    int redis_only;  /* `mosync webhooks`: ready when Redis answers */
};

/* checks[name] = "ok" or "down: <why cut at a character>" (see health.h). */
void health_check_set(json_t *checks, const char *name, int ok, const char *why)
{
    char text[HEALTH_WHY_MAX + 8];
    if (ok) {
        snprintf(text, sizeof(text), "ok");
    } else {
        /* Cut at a character boundary: json_string refuses text that is not
         * UTF-8, and the check would vanish from the answer. */
        size_t len = strlen(why);
        int keep = (int)lg_utf8_cut(why, len, HEALTH_WHY_MAX);
        snprintf(text, sizeof(text), "down: %.*s", keep, why);
    }
    json_t *v = json_string(text);
    if (!v) /* bytes that are not UTF-8 inside the reason itself */
        v = json_string("down: (reason not UTF-8)");
    json_object_set_new(checks, name, v);
}

/* Shares one API's state with the tenant's other processes (best effort:
 * Redis away only costs them a probe of their own). */
static void health_share(health_server *hs, const char *api, int ok, const char *why)
{
    char suffix[64], at[32], errstr[256];
    snprintf(suffix, sizeof(suffix), "health:%s", api);
    ev_utc_now(at, sizeof(at));
    json_t *rec = json_pack("{s:b, s:s, s:s}", "ok", ok, "why", why, "at", at);
    if (rec)
        rs_set_json(hs->rs, suffix, rec, ok ? HEALTH_API_SHARE_S : HEALTH_API_SHARE_DOWN_S, errstr,
                    sizeof(errstr));
    json_decref(rec);
}

/* One API's readiness into checks; returns 1 when up or not configured.
 * Cheapest first: this process's own recent 2xx, then what another process
 * shared, and only then a request (see health.h). */
static int health_api(health_server *hs, const char *api, json_t *checks)
{
    char suffix[64], errstr[512];
    json_t *rec = NULL, *doc = NULL;
    long status = 0;
    mo_err err;
    int ms = !strcmp(api, "mystore");
    if (ms ? !hs->ms : !hs->og) {
        json_object_set_new(checks, api, json_string("unconfigured"));
        return 1;
    }
    long long last = hc_api_last_up_ms(api);
    long refused_status = 0;
    long long refused = hc_api_refused_ms(api, &refused_status);
    if (refused > last && mo_now_ms() - refused < HEALTH_API_FRESH_MS) {
        /* This process's own credential refused, lately: down without a
         * request, whatever another process shared. */
        char why[160], since[32];
        long long ago = (mo_now_ms() - refused) / 1000;
        if (cr_since(api, since, sizeof(since)))
            snprintf(why, sizeof(why), "%s refused the credential since %s (HTTP %ld, %lld s ago)",
                     cr_api_title(api), since, refused_status, ago);
        else
            snprintf(why, sizeof(why), "%s refused the credential (HTTP %ld, %lld s ago)",
                     cr_api_title(api), refused_status, ago);
        health_check_set(checks, api, 0, why);
        return 0;
    }
    if (last && mo_now_ms() - last < HEALTH_API_FRESH_MS) {
        health_share(hs, api, 1, "ok");
        cr_accepted(hs->cfg, "health", api); /* an accepted request ends a refusal */
        health_check_set(checks, api, 1, NULL);
        return 1;
    }
    snprintf(suffix, sizeof(suffix), "health:%s", api);
    if (rs_get_json(hs->rs, suffix, &rec, errstr, sizeof(errstr)) == MO_OK && rec) {
        int ok = json_is_true(json_object_get(rec, "ok"));
        const char *why = json_string_value(json_object_get(rec, "why"));
        health_check_set(checks, api, ok, why ? why : "(no reason shared)");
        json_decref(rec);
        return ok;
    }
    json_decref(rec);
    /* The cheapest read of each: one status list (Mystore: from the budget). */
    if (ms)
        err =
            ms_get(hs->ms, "order-status?page%5Bsize%5D=1", &doc, &status, errstr, sizeof(errstr));
    else
        err = og_get(hs->og, "orders/statuses", &doc, &status, errstr, sizeof(errstr));
    json_decref(doc);
    health_share(hs, api, err == MO_OK, err == MO_OK ? "ok" : errstr);
    if (err == MO_OK)
        cr_accepted(hs->cfg, "health", api);
    health_check_set(checks, api, err == MO_OK, errstr);
    return err == MO_OK;
}

/* The readiness probe (mt_ready_fn): runs in the server's thread, one at a
 * time (the server holds its lock), on connections of its own. */
static int health_ready(void *ctx, char *why, size_t why_size)
{
    health_server *hs = ctx;
    char errstr[512];
    int ok = 1;
    json_t *checks = json_object();
    if (!checks) {
        snprintf(why, why_size, "{\"error\":\"out of memory\"}");
        return 0;
    }
    mo_deadline_start(HEALTH_READY_BUDGET_MS);
    if (hs->redis_only) {
        mo_err rerr = rs_ping(hs->rs, errstr, sizeof(errstr));
        health_check_set(checks, "redis", !rerr, errstr);
        ok = !rerr;
        goto done;
    }

    if (!hs->kp)
        hs->kp = kq_producer_new(hs->cfg, "mosync-health", errstr, sizeof(errstr));
    mo_err err =
        hs->kp ? kq_producer_ping(hs->kp, HEALTH_KAFKA_MS, errstr, sizeof(errstr)) : MO_ERR_CONFIG;
    health_check_set(checks, "kafka", !err, errstr);
    ok &= !err;

    err = rs_ping(hs->rs, errstr, sizeof(errstr));
    health_check_set(checks, "redis", !err, errstr);
    ok &= !err;

    ok &= health_api(hs, "mystore", checks);
    ok &= health_api(hs, "ongoing", checks);
done:
    mo_deadline_clear();

    char *s = json_dumps(checks, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(checks);
    if (!s) {
        snprintf(why, why_size, "{\"error\":\"out of memory\"}");
        return 0;
    }
    /* An error text may quote an answer: the last line of defence, as in the log. */
    lg_mask_secrets(s, strlen(s) + 1);
    if (strlen(s) < why_size)
        snprintf(why, why_size, "%s", s);
    else
        snprintf(why, why_size, "{\"error\":\"readiness report too large\"}");
    free(s);
    return ok;
}

void health_stop(health_server *hs)
{
    if (!hs)
        return;
    mt_server_stop(hs->srv); /* first: no check runs on what is freed below */
    ms_free(hs->ms);
    og_free(hs->og);
    if (!hs->kp_shared)
        kq_producer_free(hs->kp);
    rs_close(hs->rs);
    free(hs);
}

static mo_err health_start_all(const mo_config *cfg, const char *command, const mt_route *routes,
                               size_t n, kq_producer *kp, health_server **out, char *errstr,
                               size_t errstr_size);

mo_err health_start(const mo_config *cfg, const char *command, health_server **out, char *errstr,
                    size_t errstr_size)
{
    return health_start_all(cfg, command, NULL, 0, NULL, out, errstr, errstr_size);
}

mo_err health_start_producer(const mo_config *cfg, const char *command, kq_producer *kp,
                             health_server **out, char *errstr, size_t errstr_size)
{
    return health_start_all(cfg, command, NULL, 0, kp, out, errstr, errstr_size);
}

mo_err health_start_routes(const mo_config *cfg, const char *command, const mt_route *routes,
                           size_t n, health_server **out, char *errstr, size_t errstr_size)
{
    return health_start_all(cfg, command, routes, n, NULL, out, errstr, errstr_size);
}

static mo_err health_start_all(const mo_config *cfg, const char *command, const mt_route *routes,
                               size_t n, kq_producer *kp, health_server **out, char *errstr,
                               size_t errstr_size)
{
    const mo_config *c = cfg;
    *out = NULL;
    if (!cfg->metrics_port)
        return MO_OK;
    health_server *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    hs->cfg = cfg;
    hs->kp = kp;
    hs->kp_shared = kp != NULL;
    hs->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, errstr_size);
    if (!hs->rs) {
        free(hs);
        return MO_ERR_CONFIG;
    }
    rs_set_retry_ms(hs->rs, HEALTH_REDIS_RETRY_MS);
    hs->redis_only = n > 0;
    /* One attempt per probe: a retry would only spend the budget and the time. */
    if (!hs->redis_only && *c->mystore_shop && *c->mystore_token &&
        !(hs->ms = ms_new(cfg, hs->rs, 1)))
        goto nomem;
    if (!hs->redis_only && *c->ongoing_url && *c->ongoing_user && *c->ongoing_password &&
        c->ongoing_goods_owner > 0 && !(hs->og = og_new(cfg, hs->rs, 1)))
        goto nomem;
    mt_set("mosync_info", 1, "command", command, "tenant", cfg->tenant, "user_agent",
           hc_user_agent(), "version", MOSYNC_VERSION, NULL);
    if (hs->ms) /* what a dashboard divides the requests by */
        mt_set("mosync_api_budget_per_minute", cfg->mystore_rate_per_min, "api", "mystore",
               "tenant", cfg->tenant, NULL);
    hs->srv = mt_server_start_routes(cfg->metrics_listen, cfg->metrics_port, health_ready, hs,
                                     routes, n, errstr, errstr_size);
    if (!hs->srv) {
        health_stop(hs);
        return MO_ERR_CONFIG;
    }
    lg_info("metrics", cfg->tenant, "serving /metrics, /healthz and /readyz on %s port %d",
            cfg->metrics_listen, cfg->metrics_port);
    *out = hs;
    return MO_OK;
nomem:
    health_stop(hs);
    return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

/* The URL of /readyz on the server of this configuration: the address it
 * listens on, or loopback when it listens on every address. */
void health_readyz_url(const char *listen, int port, char *url, size_t size)
{
    const char *host = listen;
    int v6 = strchr(listen, ':') != NULL;
    if (!strcmp(listen, "0.0.0.0"))
        host = "127.0.0.1";
    else if (!strcmp(listen, "::"))
        host = "::1";
    snprintf(url, size, "http://%s%s%s:%d/readyz", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

int health_check_main(int argc, char **argv)
{
    mo_config cfg;
    char errstr[512], url[128];
    hc_resp resp;
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "usage: mosync healthcheck (asks /readyz on METRICS_PORT)\n");
        return 2;
    }
    if (cfg_load(&cfg, 0, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    int port = cfg.metrics_port;
    health_readyz_url(cfg.metrics_listen, port, url, sizeof(url));
    cfg_free(&cfg);
    if (!port) {
        fprintf(stderr,
                "mosync: healthcheck: METRICS_PORT is not set: no process serves /readyz\n");
        return 2;
    }
    hc_opts opts = {.connect_timeout_ms = 2000, .total_timeout_ms = HEALTH_CHECK_TIMEOUT_MS};
    hc_client *hc = hc_new(&opts);
    if (!hc) {
        fprintf(stderr, "mosync: healthcheck: out of memory\n");
        return 1;
    }
    mo_err err = hc_request(hc, "GET", url, NULL, NULL, &resp, errstr, sizeof(errstr));
    int rc = 1;
    if (err) {
        fprintf(stderr, "mosync: healthcheck: %s\n", errstr);
    } else {
        printf("%s", resp.body);
        rc = resp.status == 200 ? 0 : 1;
    }
    hc_resp_free(&resp);
    hc_free(hc);
    return rc;
}
