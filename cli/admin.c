/* `mosync admin`: the server, its routes and its actions (see admin.h).
 *
 * Its own libmicrohttpd daemon, not the metrics server's: a page reads Kafka
 * (the lag, the dead letters) and may take seconds, which the metrics
 * server's one polling thread must never spend; here a small pool of
 * threads serves the pages, each request with its own Redis connection and
 * its own tenant configuration.
 *
 * Every request: the peer is checked against ADMIN_LISTEN's scope (403), a
 * POST's Origin against its Host (403); then a page behind the login needs a
 * session cookie (a GET is sent to /login, a POST refused with 403), and
 * every POST the session's CSRF token (403).  Nothing is changed before all
 * of these passed. */
#include "admin_int.h"
#include "dlq_cmd.h"
#include "dlq_state.h"
#include "hourly.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "mystore.h"
#include "ongoing.h"
#include "status.h"
#include "stop.h"
#include "store.h"
#include "tenant.h"
#include "tenant_cmd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* libmicrohttpd 0.9.71 turned the callbacks' int results into enum MHD_Result. */
#if MHD_VERSION < 0x00097002
typedef int adm_mhd_result;
#else
typedef enum MHD_Result adm_mhd_result;
#endif

#define COMPONENT "admin"
/* A form is a few fields: anything bigger is not one of ours. */
#define ADM_BODY_MAX 16384
/* Threads serving pages, connections in all and from one address, idle
 * seconds before a connection is closed. */
#define ADM_THREADS     4
#define ADM_CONN_MAX    64
#define ADM_CONN_PER_IP 16
#define ADM_IDLE_S      30
/* Dead letters listed on a tenant's page; the rest are counted. */
#define ADM_LETTERS_SHOWN  200
#define ADM_REDIS_RETRY_MS 1000
#define ADM_COOKIE         "mosync_admin"
/* Wrong passwords the whole process takes per minute; past them every login
 * is answered 429 until the minute is over, so guessing costs a minute per
 * ten tries (and, on loopback, only the host's own users can lock the
 * operator out for that minute). */
#define ADM_LOGIN_FAILS_PER_MIN 10

/* The call's Redis connection (NULL after logging why, with errstr). */
rs_store *adm_redis(adm_call *c, char *errstr, size_t errstr_size)
{
    if (!c->rs) {
        c->rs = rs_open(c->srv->cfg->redis_url, c->srv->cfg->tenant, errstr, errstr_size);
        if (c->rs)
            rs_set_retry_ms(c->rs, ADM_REDIS_RETRY_MS);
    }
    return c->rs;
}

void adm_begin(adm_call *c, unsigned status, const char *title, const char *notice, int error)
{
    c->status = status;
    adm_view v = {
        .title = title, .csrf = *c->sid ? c->csrf : NULL, .notice = notice, .notice_error = error};
    adm_html_begin(&c->page, &v);
}

void adm_end(adm_call *c)
{
    adm_view v = {.csrf = *c->sid ? c->csrf : NULL};
    adm_html_end(&c->page, &v);
}

/* A page that says what went wrong and nothing else. */
void adm_fail(adm_call *c, unsigned status, const char *title, const char *why)
{
    adm_page_free(&c->page);
    adm_begin(c, status, title, why, 1);
    adm_page_printf(&c->page, "<p><a href=\"/\">Back to the tenants</a></p>\n");
    adm_end(c);
}

void adm_redirect(adm_call *c, const char *fmt, const char *name, const char *done)
{
    c->status = MHD_HTTP_SEE_OTHER;
    snprintf(c->location, sizeof(c->location), fmt, name ? name : "", done ? done : "");
}

/* ---- login and logout ---------------------------------------------------- */

static void adm_login_page(adm_call *c, const char *tenant)
{
    (void)tenant;
    adm_begin(c, MHD_HTTP_OK, "Log in", NULL, 0);
    adm_html_login(&c->page, NULL);
    adm_end(c);
}

/* Counts one wrong password (fail) or asks whether another try is allowed
 * (!fail): 1 when it is, 0 while the minute's tries are spent. */
static int adm_login_budget(adm_server *srv, int fail)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&srv->lock);
    if (now - srv->fails_since >= 60) {
        srv->fails_since = now;
        srv->fails = 0;
    }
    srv->fails += fail;
    int ok = srv->fails < ADM_LOGIN_FAILS_PER_MIN;
    pthread_mutex_unlock(&srv->lock);
    return ok;
}

static void adm_login(adm_call *c, const char *tenant)
{
    char password[512], id[ADM_ID_HEX], cookie[ADM_COOKIE_SIZE], errstr[256];
    (void)tenant;
    if (!adm_login_budget(c->srv, 0)) {
        lg_warn(COMPONENT, "-", "login from %s not tried: %d wrong passwords this minute", c->peer,
                ADM_LOGIN_FAILS_PER_MIN);
        adm_begin(c, 429, "Log in", NULL, 0);
        adm_html_login(&c->page, "Too many wrong passwords: wait a minute, then try again.");
        adm_end(c);
        return;
    }
    int got = adm_form_get(c->body, "password", password, sizeof(password));
    if (got != 1 || !adm_password_ok(&c->srv->auth, password, strlen(password))) {
        adm_login_budget(c->srv, 1);
        /* Said without the password, whatever was typed. */
        lg_warn(COMPONENT, "-", "login refused from %s: %s", c->peer,
                got == 1 ? "wrong password" : "no password given");
        memset(password, 0, sizeof(password));
        adm_begin(c, MHD_HTTP_UNAUTHORIZED, "Log in", NULL, 0);
        adm_html_login(&c->page,
                       got == 1 ? "Wrong password. Try again." : "Enter the admin password.");
        adm_end(c);
        return;
    }
    memset(password, 0, sizeof(password));
    if (adm_session_new(&c->srv->auth, time(NULL), cookie, id, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Log in", errstr);
        return;
    }
    snprintf(c->cookie, sizeof(c->cookie),
             ADM_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", cookie,
             ADM_SESSION_S, c->srv->cfg->admin_secure_cookie ? "; Secure" : "");
    lg_info(COMPONENT, "-", "login from %s", c->peer);
    adm_redirect(c, "/", NULL, NULL);
}

/* The Redis key that marks session id as logged out until it expires. */
static const char *adm_revoked_key(const char *id, char *buf, size_t size)
{
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "admin:logged-out:%s", id);
    return rs_key_tenant("*", suffix, buf, size); /* beside the registry index, mosync:{*}: */
}

static void adm_logout(adm_call *c, const char *tenant)
{
    char errstr[512], key[RS_KEY_SIZE], ttl[24];
    json_t *reply = NULL;
    (void)tenant;
    /* The cookie is signed, not stored: logging out marks its id as gone
     * until it would have expired, so a copy of it is worth nothing. */
    long long left = (long long)(c->expires - time(NULL));
    snprintf(ttl, sizeof(ttl), "%lld", left > 0 ? left : 1);
    const char *argv[5] = {"SET", adm_revoked_key(c->sid, key, sizeof(key)), "1", "EX", ttl};
    rs_store *rs = adm_redis(c, errstr, sizeof(errstr));
    if (!rs || rs_call(rs, 5, argv, &reply, errstr, sizeof(errstr))) {
        json_decref(reply);
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Log out", errstr);
        return;
    }
    json_decref(reply);
    snprintf(c->cookie, sizeof(c->cookie),
             ADM_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
             c->srv->cfg->admin_secure_cookie ? "; Secure" : "");
    lg_info(COMPONENT, "-", "logout from %s", c->peer);
    *c->sid = '\0';
    adm_redirect(c, "/login", NULL, NULL);
}

/* ---- the tenants ----------------------------------------------------------- */

static void adm_tenants(adm_call *c, const char *tenant)
{
    char errstr[512];
    json_t *names = NULL, *records = NULL;
    (void)tenant;
    rs_store *rs = adm_redis(c, errstr, sizeof(errstr));
    if (!rs || tn_list(rs, &names, errstr, sizeof(errstr)) ||
        tn_get_sealed(rs, names, &records, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Tenants", errstr);
    } else {
        adm_begin(c, MHD_HTTP_OK, "Tenants", NULL, 0);
        adm_page_printf(&c->page, "<p><a href=\"/connect\">Connect a shop</a></p>\n");
        adm_html_tenants(&c->page, names, records);
        adm_end(c);
    }
    json_decref(names);
    json_decref(records);
}

/* Loads tenant name's record and its configuration (the process's settings
 * from the environment, the tenant's from the registry).  0; or -1 after
 * answering why (404 for no such tenant).  *record: new reference. */
int adm_tenant_load(adm_call *c, const char *name, json_t **record, mo_config *tcfg, int *cfg_ok,
                    char *why, size_t why_size)
{
    char errstr[512];
    rs_store *rs = adm_redis(c, errstr, sizeof(errstr));
    *record = NULL;
    *cfg_ok = 0;
    if (!rs || tn_get(rs, &c->srv->key, name, record, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name, errstr);
        return -1;
    }
    if (!*record) {
        adm_fail(c, MHD_HTTP_NOT_FOUND, name, "There is no such tenant in the registry.");
        return -1;
    }
    json_t *settings = json_deep_copy(json_object_get(*record, "settings"));
    json_object_set_new(settings, "MOSYNC_TENANT", json_string(name));
    *cfg_ok = settings &&
              !cfg_load_tenant(tcfg, CFG_NEED_KAFKA | CFG_NEED_REDIS, settings, why, why_size);
    json_decref(settings);
    if (!settings)
        snprintf(why, why_size, "out of memory");
    return 0;
}

/* The tenant's open dead letters as the page lists them. */
static json_t *adm_open_letters(const mo_config *tcfg, int *more, char *errstr, size_t errstr_size)
{
    dlq_letters ls;
    json_t *out = NULL;
    *more = 0;
    if (!dlq_letters_read(tcfg, &ls, 0, errstr, errstr_size) && (out = json_array())) {
        for (int i = 0; i < ls.n; i++) {
            const dlq_letter *l = &ls.v[i];
            if (l->state != DLQ_OPEN || (*l->tenant && strcmp(l->tenant, tcfg->tenant)))
                continue;
            if (json_array_size(out) >= ADM_LETTERS_SHOWN) {
                (*more)++;
                continue;
            }
            json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", l->id,
                                                 "flow", *l->flow ? l->flow : l->component, "key",
                                                 l->has_key ? l->key : "-", "error_class",
                                                 l->error_class, "error", l->error, "last_failure",
                                                 l->last_failure));
        }
    }
    dlq_letters_free(&ls);
    return out;
}

/* What ?done= says after an action (fixed texts: the query is never shown). */
static const char *adm_done_text(const char *done)
{
    static const struct {
        const char *code, *text;
    } texts[] = {{"paused", "Paused: its pollers and appliers stop serving it."},
                 {"resumed", "Resumed: its pollers and appliers serve it again."},
                 {"connected", "Connected: the tenant is in the registry, in state "
                               "\"connecting\" (Fine-tune and Activate come next)."},
                 {"activated", "Activated: its pollers and appliers serve it for real."},
                 {"activated-webhooks",
                  "Activated: its pollers and appliers serve it for real, and Mystore sends "
                  "its webhooks, so a new order starts a poll at once."},
                 {"activated-polling",
                  "Activated: its pollers and appliers serve it for real. Mystore did not take "
                  "the webhooks (see the log), so mosync polls at the set interval."},
                 {"redriven", "Re-driven: the letter is back on its topic; its applier applies "
                              "it and marks it resolved."}};
    for (size_t i = 0; done && i < sizeof(texts) / sizeof(texts[0]); i++)
        if (!strcmp(done, texts[i].code))
            return texts[i].text;
    return NULL;
}

/* How many of the last orders the tenant page shows, each with one read of
 * its state in the warehouse. */
#define ADM_RECENT_SHOWN 10

/* The tenant's last orders (hourly.h), each with its state in the warehouse
 * now ("450 Sent", "not found", or why it is unknown).  NULL with why. */
static json_t *adm_recent_orders(adm_call *c, const mo_config *tcfg, char *why, size_t why_size)
{
    json_t *list = NULL;
    size_t i;
    json_t *o;
    rs_set_tenant(c->rs, tcfg->tenant);
    if (hs_recent(c->rs, "orders", ADM_RECENT_SHOWN, &list, why, why_size)) {
        rs_set_tenant(c->rs, c->srv->cfg->tenant);
        return NULL;
    }
    og_client *og = json_array_size(list) ? og_new(tcfg, c->rs, 1) : NULL;
    json_array_foreach(list, i, o)
    {
        char text[160], errstr[256];
        json_t *order = NULL;
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!og)
            snprintf(text, sizeof(text), "unknown (no warehouse client)");
        else if (og_order_get(og, id, &order, errstr, sizeof(errstr)))
            snprintf(text, sizeof(text), "unknown: the warehouse did not answer");
        else if (!order)
            snprintf(text, sizeof(text), "not found");
        else {
            const char *st = json_string_value(json_object_get(
                json_object_get(json_object_get(order, "orderInfo"), "orderStatus"), "text"));
            snprintf(text, sizeof(text), "%d %s", og_order_status(order), st ? st : "");
        }
        json_decref(order);
        json_object_set_new(o, "warehouse", json_string(text));
    }
    og_free(og);
    rs_set_tenant(c->rs, c->srv->cfg->tenant);
    return list;
}

static void adm_tenant(adm_call *c, const char *name)
{
    char why[512], hours_why[512] = "", letters_why[512] = "", recent_why[512] = "";
    mo_config tcfg;
    json_t *record, *status = NULL, *letters = NULL, *recent = NULL;
    long long hours[24], lag[24];
    int cfg_ok, rc, more = 0, have_hours = 0;
    if (adm_tenant_load(c, name, &record, &tcfg, &cfg_ok, why, sizeof(why)))
        return;
    time_t now = time(NULL);
    if (cfg_ok && !(status = status_report(&tcfg, &rc)))
        snprintf(why, sizeof(why), "out of memory");
    rs_set_tenant(c->rs, name);
    have_hours = !hs_read(c->rs, "orders", now, 24, hours, lag, hours_why, sizeof(hours_why));
    rs_set_tenant(c->rs, c->srv->cfg->tenant);
    if (!cfg_ok)
        snprintf(letters_why, sizeof(letters_why), "the tenant's settings do not load");
    else if (json_is_false(json_object_get(json_object_get(status, "kafka"), "reachable")))
        snprintf(letters_why, sizeof(letters_why), "Kafka is unreachable");
    else
        letters = adm_open_letters(&tcfg, &more, letters_why, sizeof(letters_why));
    if (!cfg_ok)
        snprintf(recent_why, sizeof(recent_why), "the tenant's settings do not load");
    else
        recent = adm_recent_orders(c, &tcfg, recent_why, sizeof(recent_why));
    adm_tenant_view t = {.name = name,
                         .record = record,
                         .status = status,
                         .status_why = why,
                         .hours = have_hours ? hours : NULL,
                         .lag = have_hours ? lag : NULL,
                         .nhours = 24,
                         .now = now,
                         .hours_why = hours_why,
                         .letters = letters,
                         .letters_why = letters ? NULL : letters_why,
                         .letters_more = more,
                         .recent = recent,
                         .recent_why = recent_why,
                         .dry = cfg_ok && tcfg.dry_run,
                         .csrf = c->csrf};
    const char *done = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "done");
    char title[96];
    snprintf(title, sizeof(title), "Tenant %s", name);
    adm_begin(c, MHD_HTTP_OK, title, adm_done_text(done), 0);
    adm_html_tenant(&c->page, &t);
    adm_end(c);
    json_decref(recent);
    json_decref(letters);
    json_decref(status);
    json_decref(record);
    if (cfg_ok)
        cfg_free(&tcfg);
}

void adm_set_state(adm_call *c, const char *name, const char *state, const char *done)
{
    char errstr[512];
    int exists = 0;
    rs_store *rs = adm_redis(c, errstr, sizeof(errstr));
    if (!rs || tn_exists(rs, name, &exists, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name, errstr);
        return;
    }
    if (!exists) {
        adm_fail(c, MHD_HTTP_NOT_FOUND, name, "There is no such tenant in the registry.");
        return;
    }
    if (tn_set_state(rs, &c->srv->key, name, state, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name, errstr);
        return;
    }
    lg_info(COMPONENT, name, "tenant %s %s from the admin app (%s)", name, done, c->peer);
    adm_redirect(c, "/tenants/%s?done=%s", name, done);
}

static void adm_pause(adm_call *c, const char *name)
{
    adm_set_state(c, name, TN_PAUSED, "paused");
}

static void adm_resume(adm_call *c, const char *name)
{
    adm_set_state(c, name, TN_ACTIVE, "resumed");
}

static void adm_redrive(adm_call *c, const char *name)
{
    char id[48], why[512], errstr[1024];
    mo_config tcfg;
    json_t *record;
    int cfg_ok;
    if (adm_form_get(c->body, "id", id, sizeof(id)) != 1) {
        adm_fail(c, MHD_HTTP_BAD_REQUEST, name, "Which letter? The form had no letter id.");
        return;
    }
    if (adm_tenant_load(c, name, &record, &tcfg, &cfg_ok, why, sizeof(why)))
        return;
    json_decref(record);
    if (!cfg_ok) {
        adm_fail(c, MHD_HTTP_CONFLICT, name, why);
        return;
    }
    mo_err err = dlq_cmd_redrive_id(&tcfg, id, errstr, sizeof(errstr));
    cfg_free(&tcfg);
    if (err) {
        lg_warn(COMPONENT, name, "re-drive of %s from the admin app (%s) failed: %s", id, c->peer,
                errstr);
        adm_fail(c, err == MO_ERR_INVALID ? MHD_HTTP_CONFLICT : MHD_HTTP_BAD_GATEWAY, name, errstr);
        return;
    }
    lg_info(COMPONENT, name, "dead letter %s re-driven from the admin app (%s)", id, c->peer);
    adm_redirect(c, "/tenants/%s?done=%s#dead-letters", name, "redriven");
}

/* ---- Connect (issue 14 step 1) ------------------------------------------- */

/* The Mystore scopes mosync needs, in one place: what the pollers read and
 * the appliers write (orders and their parts, statuses, products, variants
 * and options).  The authorize redirect asks for them and the callback
 * refuses a consent that lacks one. */
static const char *const adm_scopes[] = {"read:orders",
                                         "write:orders",
                                         "read:order-products",
                                         "read:order-product-attributes",
                                         "read:order-totals",
                                         "read:order-status",
                                         "write:order-status-history",
                                         "read:products",
                                         "write:products",
                                         "read:product-variants",
                                         "write:product-variants",
                                         "read:product-options",
                                         "read:product-option-values"};
#define ADM_NSCOPES (sizeof(adm_scopes) / sizeof(adm_scopes[0]))
/* The scopes of Activate's webhook registration (M20), asked for when
 * ADMIN_WEBHOOK_URL is set. */
#define ADM_WEBHOOK_SCOPES "read:webhooks write:webhooks"
/* A pending connection waits this long for the merchant's consent. */
#define ADM_CONNECT_TTL_S 600
#define ADM_STATE_HEX     33
#define ADM_FIELD_MAX     4096
/* The pending connections hold the WMS password: sealed for this context. */
static const char adm_connect_context[] = "mosync:{*}:admin:connect";

typedef struct adm_connect_form {
    char v[ADM_CF_N][ADM_FIELD_MAX];
    char why[ADM_CF_N][256];
    const char *err[ADM_CF_N];
    int bad;
} adm_connect_form;

static void adm_form_error(adm_connect_form *f, int field, const char *why)
{
    snprintf(f->why[field], sizeof(f->why[field]), "%s", why);
    f->err[field] = f->why[field];
    f->bad = 1;
}

static const char *adm_connect_key(const char *state, char *buf, size_t size)
{
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "admin:connect:%s", state);
    return rs_key_tenant("*", suffix, buf, size); /* beside the registry index */
}

/* The callback's address as the merchant's browser reaches this app. */
static void adm_redirect_uri(const mo_config *cfg, char *buf, size_t size)
{
    const char *base = cfg->admin_public_url;
    size_t n = strlen(base);
    if (n && base[n - 1] == '/')
        n--;
    if (n)
        snprintf(buf, size, "%.*s/oauth/callback", (int)n, base);
    else
        snprintf(buf, size, "http://%s/oauth/callback", cfg->admin_listen);
}

/* A URL's base without its trailing '/' (the authorize and token endpoints
 * are appended). */
static int adm_base_len(const char *url)
{
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    return (int)n;
}

static void adm_connect_show(adm_call *c, unsigned status, adm_connect_form *f, const char *notice)
{
    const char *values[ADM_CF_N];
    for (int i = 0; i < ADM_CF_N; i++)
        values[i] = adm_connect_secret(i) ? NULL : f->v[i]; /* a secret is typed again */
    adm_begin(c, status, "Connect a shop", notice, notice != NULL);
    adm_html_connect(&c->page, values, f->err, c->csrf);
    adm_end(c);
}

static void adm_connect_page(adm_call *c, const char *unused)
{
    adm_connect_form *f = calloc(1, sizeof(*f));
    (void)unused;
    if (!f) {
        adm_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Connect a shop", "out of memory");
        return;
    }
    snprintf(f->v[ADM_CF_MYSTORE_URL], ADM_FIELD_MAX, "%s", c->srv->cfg->mystore_url);
    adm_connect_show(c, MHD_HTTP_OK, f, NULL);
    free(f);
}

/* A page ending a connection that did not go through, with the way back. */
static void adm_connect_fail(adm_call *c, unsigned status, const char *why)
{
    adm_page_free(&c->page);
    adm_begin(c, status, "Connect a shop", why, 1);
    adm_page_printf(&c->page, "<p><a href=\"/connect\">Start again</a></p>\n");
    adm_end(c);
}

/* O8: the warehouse system as typed, a URL or an Ongoing customer id (digits),
 * the latter turned into ADMIN_ONGOING_CUSTOMER_URL with {id} replaced. */
static void adm_ongoing_system(const mo_config *cfg, adm_connect_form *f)
{
    char *v = f->v[ADM_CF_ONGOING_URL], url[ADM_FIELD_MAX];
    size_t n = strlen(v);
    if (!n || strspn(v, "0123456789") != n)
        return;
    const char *tpl = cfg->admin_customer_url, *at = strstr(tpl, "{id}");
    if (!at || n > 12) {
        adm_form_error(f, ADM_CF_ONGOING_URL,
                       at ? "A customer id has at most 12 digits."
                          : "This installation cannot look up a customer id: type the address "
                            "of your WMS, like https://demo.ongoingsystems.se/demo/");
        return;
    }
    snprintf(url, sizeof(url), "%.*s%s%s", (int)(at - tpl), tpl, v, at + 4);
    snprintf(v, ADM_FIELD_MAX, "%s", url);
}

/* Reads and checks the form's fields (errors next to each). */
static void adm_connect_read(adm_call *c, adm_connect_form *f)
{
    char why[256];
    for (int i = 0; i < ADM_CF_N; i++)
        if (adm_form_get(c->body, adm_connect_field(i), f->v[i], ADM_FIELD_MAX) < 0) {
            f->v[i][0] = '\0';
            adm_form_error(f, i, "This is too long or not text.");
        }
    if (!*f->v[ADM_CF_MYSTORE_URL])
        snprintf(f->v[ADM_CF_MYSTORE_URL], ADM_FIELD_MAX, "%s", c->srv->cfg->mystore_url);
    for (int i = 0; i < ADM_CF_N; i++)
        if (i != ADM_CF_MYSTORE_TOKEN && !*f->v[i] && !f->err[i])
            adm_form_error(f, i, "Fill this in.");
    if (*f->v[ADM_CF_TENANT] && tn_check_name(f->v[ADM_CF_TENANT], why, sizeof(why)))
        adm_form_error(f, ADM_CF_TENANT,
                       "Use 1 to 64 letters, digits, '-', '_' or '.' (no spaces).");
    const char *owner = f->v[ADM_CF_GOODS_OWNER];
    if (*owner &&
        (strspn(owner, "0123456789") != strlen(owner) || strlen(owner) > 12 || atoll(owner) < 1))
        adm_form_error(f, ADM_CF_GOODS_OWNER, "The goods owner id is a number, like 1 or 245.");
    adm_ongoing_system(c->srv->cfg, f);
    const int urls[] = {ADM_CF_ONGOING_URL, ADM_CF_MYSTORE_URL};
    for (size_t i = 0; i < 2; i++) {
        const char *u = f->v[urls[i]];
        if (*u && !f->err[urls[i]] && strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
            adm_form_error(f, urls[i], "An address starting with https://");
    }
    if (!*f->v[ADM_CF_MYSTORE_TOKEN] && !*c->srv->cfg->admin_client_id)
        adm_form_error(f, ADM_CF_MYSTORE_TOKEN,
                       "This admin app has no Mystore OAuth client (ADMIN_MYSTORE_CLIENT_ID): "
                       "paste a personal access token.");
}

/* The field a configuration error names (the variable), or -1. */
static int adm_field_of(const char *why)
{
    static const struct {
        const char *var;
        int field;
    } vars[] = {{"ONGOING_API_URL", ADM_CF_ONGOING_URL},
                {"ONGOING_USER", ADM_CF_ONGOING_USER},
                {"ONGOING_PASSWORD", ADM_CF_ONGOING_PASSWORD},
                {"ONGOING_GOODS_OWNER_ID", ADM_CF_GOODS_OWNER},
                {"MYSTORE_SHOP", ADM_CF_SHOP},
                {"MYSTORE_API_URL", ADM_CF_MYSTORE_URL},
                {"MYSTORE_TOKEN", ADM_CF_MYSTORE_TOKEN}};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strstr(why, vars[i].var))
            return vars[i].field;
    return -1;
}

/* The tenant's settings from the form (secrets in clear: tn_put seals them).
 * STOCK_SYNC starts off, as in the integration mosync replaces; Fine-tune
 * (to come) turns it on. */
static json_t *adm_connect_settings(const mo_config *cfg, const adm_connect_form *f)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ONGOING_API_URL",
                     f->v[ADM_CF_ONGOING_URL], "ONGOING_USER", f->v[ADM_CF_ONGOING_USER],
                     "ONGOING_PASSWORD", f->v[ADM_CF_ONGOING_PASSWORD], "ONGOING_GOODS_OWNER_ID",
                     f->v[ADM_CF_GOODS_OWNER], "MYSTORE_SHOP", f->v[ADM_CF_SHOP], "MYSTORE_API_URL",
                     f->v[ADM_CF_MYSTORE_URL], "MYSTORE_AUTH_URL", cfg->mystore_auth_url,
                     "STOCK_SYNC", "off");
}

/* One read with the settings' credentials: Ongoing (mystore 0) or Mystore
 * (1).  0 when it answered; 1 when it refused them (401, 403); -1 when it
 * could not say (why: what went wrong, or which setting is wrong). */
static int adm_check_api(adm_call *c, const json_t *settings, const char *tenant, int mystore,
                         int *field, char *why, size_t why_size)
{
    mo_config tcfg;
    json_t *doc = NULL;
    long status = 0;
    char path[128];
    json_t *s = json_deep_copy(settings);
    json_object_set_new(s, "MOSYNC_TENANT", json_string(tenant));
    *field = -1;
    mo_err err =
        cfg_load_tenant(&tcfg, mystore ? CFG_NEED_MYSTORE : CFG_NEED_ONGOING, s, why, why_size);
    json_decref(s);
    if (err) {
        *field = adm_field_of(why);
        return -1;
    }
    if (mystore) {
        ms_client *ms = ms_new(&tcfg, c->rs, 1);
        err = ms ? ms_get(ms, "orders?page%5Bsize%5D=1&page%5Bnumber%5D=1", &doc, &status, why,
                          why_size)
                 : MO_ERR_NOMEM;
        ms_free(ms);
    } else {
        og_client *og = og_new(&tcfg, c->rs, 1);
        snprintf(path, sizeof(path), "articles?goodsOwnerId=%ld&maxArticlesToGet=1",
                 tcfg.ongoing_goods_owner);
        err = og ? og_get(og, path, &doc, &status, why, why_size) : MO_ERR_NOMEM;
        og_free(og);
    }
    json_decref(doc);
    cfg_free(&tcfg);
    if (status == 401 || status == 403)
        return 1;
    if (err == MO_ERR_NOMEM)
        snprintf(why, why_size, "out of memory");
    /* Another refusal: a 404 is an address the API does not know, any other
     * 4xx (Ongoing answers 400 for a goods owner not the user's) the rest
     * of what the operator typed. */
    if (err && status >= 400 && status < 500) {
        *field = mystore         ? ADM_CF_MYSTORE_URL
                 : status == 404 ? ADM_CF_ONGOING_URL
                                 : ADM_CF_GOODS_OWNER;
        snprintf(why, why_size, "%s answered HTTP %ld: check %s.",
                 mystore ? "Mystore" : "The warehouse", status,
                 *field == ADM_CF_GOODS_OWNER ? "the goods owner id (is it this user's?)"
                                              : "the address");
    }
    return err ? -1 : 0;
}

/* Creates the tenant (state "connecting": Fine-tune, Try first and Activate
 * move it on).  With a session (a pasted token) the browser goes on to
 * Fine-tune; from the OAuth callback, which has none (see adm_callback), a
 * page says so with a link: the click is a same-site request, which carries
 * the session cookie again. */
static void adm_connect_create(adm_call *c, const char *name, const json_t *settings)
{
    char errstr[512];
    int exists = 0;
    if (tn_exists(c->rs, name, &exists, errstr, sizeof(errstr))) {
        adm_connect_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, errstr);
        return;
    }
    if (exists) {
        adm_connect_fail(c, MHD_HTTP_CONFLICT,
                         "A tenant of this name exists already; nothing was changed. Start "
                         "again with another name.");
        return;
    }
    if (tn_put(c->rs, &c->srv->key, name, settings, TN_CONNECTING, 1, errstr, sizeof(errstr))) {
        lg_warn(COMPONENT, name, "connect %s: the registry refused the tenant: %s", name, errstr);
        adm_connect_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, errstr);
        return;
    }
    lg_info(COMPONENT, name, "tenant %s connected from the admin app (%s): state connecting", name,
            c->peer);
    if (*c->sid) {
        adm_redirect(c, "/tenants/%s/tune?done=%s", name, "connected");
        return;
    }
    adm_begin(c, MHD_HTTP_OK, "Shop connected", NULL, 0);
    adm_page_printf(&c->page, "<p class=\"box notice\" role=\"status\">Mystore granted access "
                              "and the tenant ");
    adm_page_esc(&c->page, name);
    adm_page_printf(&c->page,
                    " is in the registry, in state \"connecting\": nothing runs yet.</p>\n"
                    "<p>Step 2 of 3: <a href=\"/tenants/%s/tune\">Fine-tune %s</a></p>\n",
                    name, name);
    adm_end(c);
}

/* A new random state (32 hex digits); -1 when the kernel gave none. */
static int adm_new_state(char *state)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(state + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Keeps the pending connection under a new state (sealed: it holds the WMS
 * password) and sends the browser to Mystore's authorize page.  reconnect:
 * the tenant exists and only its Mystore tokens are renewed (settings is
 * empty). */
static void adm_connect_authorize(adm_call *c, const char *name, const json_t *settings,
                                  int reconnect)
{
    const mo_config *cfg = c->srv->cfg;
    char state[ADM_STATE_HEX], key[RS_KEY_SIZE], errstr[512], ttl[16];
    char redirect_uri[512], scope[1024] = "", e_client[768], e_redirect[1536], e_scope[2048];
    char *text = NULL, *sealed = NULL;
    json_t *reply = NULL;
    json_t *pending =
        json_pack("{s:s, s:O, s:b}", "name", name, "settings", settings, "reconnect", reconnect);
    if (pending)
        text = json_dumps(pending, JSON_COMPACT);
    json_decref(pending);
    if (!text || adm_new_state(state) ||
        sb_seal(&c->srv->key, adm_connect_context, text, strlen(text), &sealed, errstr,
                sizeof(errstr))) {
        adm_connect_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                         "mosync could not start the connection (out of memory or no random "
                         "bytes); nothing was stored.");
        goto out;
    }
    snprintf(ttl, sizeof(ttl), "%d", ADM_CONNECT_TTL_S);
    const char *argv[6] = {"SET", adm_connect_key(state, key, sizeof(key)), sealed, "EX", ttl,
                           "NX"};
    if (rs_call(c->rs, 6, argv, &reply, errstr, sizeof(errstr))) {
        adm_connect_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, errstr);
        goto out;
    }
    for (size_t i = 0; i < ADM_NSCOPES; i++)
        snprintf(scope + strlen(scope), sizeof(scope) - strlen(scope), "%s%s", i ? " " : "",
                 adm_scopes[i]);
    /* Asked for, not required: without them Activate registers no webhooks
     * and the tenant polls only. */
    if (*cfg->admin_webhook_url)
        snprintf(scope + strlen(scope), sizeof(scope) - strlen(scope), " %s", ADM_WEBHOOK_SCOPES);
    adm_redirect_uri(cfg, redirect_uri, sizeof(redirect_uri));
    if (hc_escape(cfg->admin_client_id, e_client, sizeof(e_client)) ||
        hc_escape(redirect_uri, e_redirect, sizeof(e_redirect)) ||
        hc_escape(scope, e_scope, sizeof(e_scope))) {
        adm_connect_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "The authorize address is too long.");
        goto out;
    }
    int n = snprintf(c->location, sizeof(c->location),
                     "%.*s/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                     "&scope=%s&state=%s",
                     adm_base_len(cfg->mystore_auth_url), cfg->mystore_auth_url, e_client,
                     e_redirect, e_scope, state);
    if (n < 0 || (size_t)n >= sizeof(c->location)) {
        *c->location = '\0';
        adm_connect_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "The authorize address is too long.");
        goto out;
    }
    c->status = MHD_HTTP_FOUND;
    lg_info(COMPONENT, name, "%s %s: sent to Mystore to grant access (%s)",
            reconnect ? "reconnect" : "connect (the warehouse accepted its user)", name, c->peer);
out:
    json_decref(reply);
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    free(sealed);
}

/* POST /connect: the form, checked field by field, then the warehouse's
 * credentials with one read; then either the pasted token (checked with one
 * Mystore read: the tenant is created at once) or Mystore's consent. */
static void adm_connect(adm_call *c, const char *unused)
{
    char why[512];
    int field, exists = 0;
    json_t *settings = NULL;
    adm_connect_form *f = calloc(1, sizeof(*f));
    (void)unused;
    if (!f) {
        adm_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Connect a shop", "out of memory");
        return;
    }
    adm_connect_read(c, f);
    const char *name = f->v[ADM_CF_TENANT];
    rs_store *rs = adm_redis(c, why, sizeof(why));
    if (!rs) {
        adm_connect_show(c, MHD_HTTP_SERVICE_UNAVAILABLE, f, why);
        goto out;
    }
    if (!f->err[ADM_CF_TENANT] && tn_exists(rs, name, &exists, why, sizeof(why))) {
        adm_connect_show(c, MHD_HTTP_SERVICE_UNAVAILABLE, f, why);
        goto out;
    }
    if (exists)
        adm_form_error(f, ADM_CF_TENANT, "A tenant of this name exists already.");
    if (f->bad) {
        adm_connect_show(c, MHD_HTTP_BAD_REQUEST, f, "Some fields need another look.");
        goto out;
    }
    if (!(settings = adm_connect_settings(c->srv->cfg, f))) {
        adm_connect_show(c, MHD_HTTP_INTERNAL_SERVER_ERROR, f, "out of memory");
        goto out;
    }
    int got = adm_check_api(c, settings, name, 0, &field, why, sizeof(why));
    if (got == 1) {
        lg_info(COMPONENT, name, "connect %s: the warehouse refused its user or password (%s)",
                name, c->peer);
        adm_form_error(f, ADM_CF_ONGOING_PASSWORD,
                       "The warehouse refused this user or password. Check both and try again.");
        adm_connect_show(c, MHD_HTTP_BAD_REQUEST, f, "The warehouse refused the sign-in.");
        goto out;
    }
    if (got < 0) {
        if (field >= 0)
            adm_form_error(f, field, why);
        adm_connect_show(c, field >= 0 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_BAD_GATEWAY, f,
                         field >= 0 ? "Some fields need another look."
                                    : "The warehouse did not answer; try again in a moment.");
        goto out;
    }
    if (!*f->v[ADM_CF_MYSTORE_TOKEN]) {
        adm_connect_authorize(c, name, settings, 0);
        goto out;
    }
    json_object_set_new(settings, "MYSTORE_TOKEN", json_string(f->v[ADM_CF_MYSTORE_TOKEN]));
    got = adm_check_api(c, settings, name, 1, &field, why, sizeof(why));
    if (got != 0) {
        if (got == 1 || field >= 0)
            adm_form_error(f, got == 1 ? ADM_CF_MYSTORE_TOKEN : field,
                           got == 1 ? "Mystore refused this token." : why);
        adm_connect_show(c, got == 1 || field >= 0 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_BAD_GATEWAY, f,
                         got == 1 || field >= 0 ? "Some fields need another look."
                                                : "Mystore did not answer; try again in a moment.");
        goto out;
    }
    adm_connect_create(c, name, settings);
out:
    json_decref(settings); /* jansson does not wipe: the form's copy at least is */
    memset(f, 0, sizeof(*f));
    free(f);
}

/* The scopes a consent granted (space-separated) against those mosync
 * needs: the missing ones and any "hide:" scope (which blanks costs or
 * stock) into problem, "" when the grant is enough. */
static void adm_scope_problems(const char *granted, char *problem, size_t size)
{
    char missing[1024] = "", hidden[1024] = "";
    for (size_t i = 0; i < ADM_NSCOPES; i++) {
        size_t n = strlen(adm_scopes[i]);
        const char *p = granted;
        int found = 0;
        while (!found && (p = strstr(p, adm_scopes[i]))) {
            found = (p == granted || p[-1] == ' ') && (p[n] == ' ' || !p[n]);
            p += n;
        }
        if (!found)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
                     *missing ? ", " : "", adm_scopes[i]);
    }
    for (const char *p = granted; *p;) {
        size_t n = strcspn(p, " ");
        if (n > 5 && !strncmp(p, "hide:", 5))
            snprintf(hidden + strlen(hidden), sizeof(hidden) - strlen(hidden), "%s%.*s",
                     *hidden ? ", " : "", (int)n, p);
        p += n;
        p += strspn(p, " ");
    }
    *problem = '\0';
    if (*missing || *hidden)
        snprintf(problem, size,
                 "Mystore did not grant every permission mosync needs%s%s%s%s. Nothing was "
                 "stored: start again and allow them all%s.",
                 *missing ? "; missing: " : "", missing, *hidden ? "; hiding data: " : "", hidden,
                 *hidden ? " (without the hide permissions, which blank costs or stock)" : "");
}

/* Exchanges code at {MYSTORE_AUTH_URL}/oauth/token, once (a code is single
 * use: never sent again).  *answer (new reference) holds access_token,
 * refresh_token and scope; else why says what Mystore answered. */
static int adm_exchange(adm_call *c, const char *code, json_t **answer, char *why, size_t why_size)
{
    const mo_config *cfg = c->srv->cfg;
    char url[1024], redirect_uri[512], errstr[512];
    hc_opts o = {.connect_timeout_ms = 5000, .total_timeout_ms = 30000, .max_body = 64 * 1024};
    hc_resp resp = {0};
    int ok = -1;
    *answer = NULL;
    adm_redirect_uri(cfg, redirect_uri, sizeof(redirect_uri));
    snprintf(url, sizeof(url), "%.*s/oauth/token", adm_base_len(cfg->mystore_auth_url),
             cfg->mystore_auth_url);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "grant_type", "authorization_code",
                             "code", code, "redirect_uri", redirect_uri, "client_id",
                             cfg->admin_client_id, "client_secret", cfg->admin_client_secret);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    hc_client *hc = hc_new(&o);
    if (!text || !hc) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    if (hc_request(hc, "POST", url, "application/json", text, &resp, errstr, sizeof(errstr))) {
        snprintf(why, why_size, "Mystore's token endpoint did not answer (%s)", errstr);
        goto out;
    }
    json_t *doc = resp.len ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    const char *access = json_string_value(json_object_get(doc, "access_token"));
    const char *refresh = json_string_value(json_object_get(doc, "refresh_token"));
    const char *error = json_string_value(json_object_get(doc, "error"));
    if (resp.status >= 200 && resp.status < 300 && access && refresh && *access && *refresh) {
        lg_add_secret(access);
        lg_add_secret(refresh);
        *answer = doc;
        ok = 0;
        goto out;
    }
    /* The error code only (RFC 6749 5.2: invalid_grant, ...): a fixed
     * vocabulary, never a token. */
    snprintf(
        why, why_size, "Mystore refused the authorization code (HTTP %ld%s%s)", resp.status,
        error && strlen(error) < 40 && strspn(error, "abcdefghijklmnopqrstuvwxyz_") == strlen(error)
            ? " "
            : "",
        error && strlen(error) < 40 && strspn(error, "abcdefghijklmnopqrstuvwxyz_") == strlen(error)
            ? error
            : "");
    json_decref(doc);
out:
    hc_resp_free(&resp);
    hc_free(hc);
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    return ok;
}

/* The pending connection of state (taken: single use), or NULL when there
 * is none (forged, used, expired) or it does not open. */
static json_t *adm_take_pending(adm_call *c, const char *state, char *errstr, size_t errstr_size)
{
    char key[RS_KEY_SIZE], *plain = NULL;
    size_t len;
    json_t *reply = NULL, *pending = NULL;
    if (!state || strlen(state) != ADM_STATE_HEX - 1 ||
        strspn(state, "0123456789abcdef") != ADM_STATE_HEX - 1)
        return NULL;
    const char *argv[2] = {"GETDEL", adm_connect_key(state, key, sizeof(key))};
    if (rs_call(c->rs, 2, argv, &reply, errstr, errstr_size) || !json_is_string(reply)) {
        json_decref(reply);
        return NULL;
    }
    if (!sb_open(&c->srv->key, adm_connect_context, json_string_value(reply), &plain, &len, errstr,
                 errstr_size))
        pending = json_loadb(plain, len, 0, NULL);
    sb_free(plain);
    json_decref(reply);
    return pending;
}

/* The OAuth settings of a granted consent (answer: the token endpoint's). */
static void adm_oauth_settings(adm_call *c, json_t *settings, const json_t *answer)
{
    json_object_set_new(settings, "MYSTORE_CLIENT_ID", json_string(c->srv->cfg->admin_client_id));
    json_object_set_new(settings, "MYSTORE_CLIENT_SECRET",
                        json_string(c->srv->cfg->admin_client_secret));
    json_object_set(settings, "MYSTORE_REFRESH_TOKEN", json_object_get(answer, "refresh_token"));
    json_object_set(settings, "MYSTORE_TOKEN", json_object_get(answer, "access_token"));
}

/* A reconnect's consent: the tenant's Mystore tokens renewed (a new
 * MYSTORE_REFRESH_TOKEN starts a new chain, oauth.c), the rest as it was; a
 * tenant in state needs-reconnect becomes active. */
static void adm_reconnected(adm_call *c, const char *name, const json_t *answer)
{
    char errstr[512];
    json_t *record = NULL;
    if (tn_get(c->rs, &c->srv->key, name, &record, errstr, sizeof(errstr)) || !record) {
        adm_connect_fail(c, record ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_NOT_FOUND,
                         record ? errstr : "The tenant is no longer in the registry.");
        json_decref(record);
        return;
    }
    json_t *settings = json_object_get(record, "settings");
    const char *state = json_string_value(json_object_get(record, "state"));
    adm_oauth_settings(c, settings, answer);
    if (!state || !strcmp(state, TN_NEEDS_RECONNECT))
        state = TN_ACTIVE;
    if (tn_put(c->rs, &c->srv->key, name, settings, state, 0, errstr, sizeof(errstr))) {
        adm_connect_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, errstr);
        json_decref(record);
        return;
    }
    lg_info(COMPONENT, name, "tenant %s reconnected to Mystore from the admin app (%s)", name,
            c->peer);
    adm_begin(c, MHD_HTTP_OK, "Shop reconnected", NULL, 0);
    adm_page_printf(&c->page,
                    "<p class=\"box notice\" role=\"status\">Mystore granted access "
                    "again: the tenant's pollers and appliers use the new tokens at "
                    "their next request.</p>\n<p><a href=\"/tenants/%s\">Back to "
                    "%s</a></p>\n",
                    name, name);
    adm_end(c);
    json_decref(record);
}

/* POST /tenants/<name>/reconnect: Mystore's consent again for an existing
 * tenant whose refresh token was refused (the "needs reconnect" banner). */
static void adm_reconnect(adm_call *c, const char *name)
{
    char errstr[512];
    int exists = 0;
    json_t *none = json_object();
    if (!*c->srv->cfg->admin_client_id) {
        adm_fail(c, MHD_HTTP_CONFLICT, name,
                 "This admin app has no Mystore OAuth client (ADMIN_MYSTORE_CLIENT_ID): set "
                 "the tenant's new token with mosync tenant set.");
    } else if (!adm_redis(c, errstr, sizeof(errstr)) ||
               tn_exists(c->rs, name, &exists, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name, errstr);
    } else if (!exists) {
        adm_fail(c, MHD_HTTP_NOT_FOUND, name, "There is no such tenant in the registry.");
    } else {
        adm_connect_authorize(c, name, none, 1);
    }
    json_decref(none);
}

/* GET /oauth/callback: where Mystore's authorize page sends the browser
 * back.  Served without the session cookie: it is SameSite=Strict, so a
 * browser coming back from Mystore (another site) does not send it.  The
 * state stands in for it: 128 random bits, made for a logged-in operator
 * after the warehouse accepted the user, single use (GETDEL) and dead after
 * ADM_CONNECT_TTL_S.  Whatever goes wrong, nothing is stored. */
static void adm_callback(adm_call *c, const char *unused)
{
    char errstr[512], why[1024];
    json_t *pending = NULL, *answer = NULL, *settings;
    const char *state = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "state");
    const char *code = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "code");
    const char *error = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "error");
    (void)unused;
    *errstr = '\0';
    if (!adm_redis(c, errstr, sizeof(errstr))) {
        adm_connect_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, errstr);
        return;
    }
    if (!(pending = adm_take_pending(c, state, errstr, sizeof(errstr)))) {
        lg_warn(COMPONENT, "-",
                "OAuth callback from %s refused: no such state (forged, used or "
                "expired)%s%s",
                c->peer, *errstr ? ": " : "", errstr);
        adm_connect_fail(c, MHD_HTTP_BAD_REQUEST,
                         "This link is no longer valid; start again. Nothing was stored.");
        return;
    }
    const char *name = json_string_value(json_object_get(pending, "name"));
    settings = json_object_get(pending, "settings");
    if (!name || !json_is_object(settings)) {
        adm_connect_fail(c, MHD_HTTP_BAD_REQUEST, "This link is no longer valid; start again.");
        goto out;
    }
    if (error) {
        lg_info(COMPONENT, name, "connect %s: Mystore access was not granted (%s)", name,
                !strcmp(error, "access_denied") ? "access_denied" : "another error");
        adm_connect_fail(c, MHD_HTTP_FORBIDDEN,
                         "Mystore access was not granted; start again. Nothing was stored.");
        goto out;
    }
    if (!code || !*code) {
        adm_connect_fail(c, MHD_HTTP_BAD_REQUEST,
                         "Mystore sent no authorization code; start again.");
        goto out;
    }
    if (adm_exchange(c, code, &answer, why, sizeof(why))) {
        lg_warn(COMPONENT, name, "connect %s: %s", name, why);
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 ". Nothing was stored: start again.");
        adm_connect_fail(c, MHD_HTTP_BAD_GATEWAY, why);
        goto out;
    }
    const char *scope = json_string_value(json_object_get(answer, "scope"));
    adm_scope_problems(scope ? scope : "", why, sizeof(why));
    if (*why) {
        lg_warn(COMPONENT, name, "connect %s: %s", name, why);
        adm_connect_fail(c, MHD_HTTP_FORBIDDEN, why);
        goto out;
    }
    if (json_is_true(json_object_get(pending, "reconnect"))) {
        adm_reconnected(c, name, answer);
        goto out;
    }
    adm_oauth_settings(c, settings, answer);
    adm_connect_create(c, name, settings);
out:
    json_decref(answer);
    json_decref(pending);
}

/* ---- routing ----------------------------------------------------------- */

static const adm_route adm_routes[] = {
    {"GET", "/login", 0, adm_login_page},
    {"POST", "/login", 0, adm_login},
    {"POST", "/logout", 1, adm_logout},
    {"GET", "/", 1, adm_tenants},
    {"GET", "/tenants/*", 1, adm_tenant},
    {"POST", "/tenants/*/pause", 1, adm_pause},
    {"POST", "/tenants/*/resume", 1, adm_resume},
    {"POST", "/tenants/*/redrive", 1, adm_redrive},
    {"POST", "/tenants/*/reconnect", 1, adm_reconnect},
    {"GET", "/connect", 1, adm_connect_page},
    {"POST", "/connect", 1, adm_connect},
    /* No session: see adm_callback. */
    {"GET", "/oauth/callback", 0, adm_callback},
    /* Fine-tune, Try first and Activate: adm_tune_routes (admin_tune.c). */
};

/* 1 when path matches pattern; the tenant name '*' stood for into name. */
static int adm_match(const char *pattern, const char *path, char *name, size_t size)
{
    const char *star = strchr(pattern, '*');
    if (!star)
        return !strcmp(pattern, path);
    size_t pre = (size_t)(star - pattern);
    if (strncmp(pattern, path, pre))
        return 0;
    const char *p = path + pre, *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (!n || n >= size)
        return 0;
    memcpy(name, p, n);
    name[n] = '\0';
    char why[128];
    if (tn_check_name(name, why, sizeof(why)))
        return 0;
    return !strcmp(star + 1, p + n);
}

/* Is the request's session good?  Fills c->sid and c->csrf.  -1 when Redis
 * could not say whether it was logged out (answered 503). */
static int adm_session(adm_call *c)
{
    char value[ADM_COOKIE_SIZE], key[RS_KEY_SIZE], errstr[512];
    json_t *reply = NULL;
    const char *header = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Cookie");
    if (!adm_cookie_get(header, ADM_COOKIE, value, sizeof(value)) ||
        !adm_session_check(&c->srv->auth, value, time(NULL), c->sid, &c->expires)) {
        *c->sid = '\0';
        return 0;
    }
    const char *argv[2] = {"EXISTS", adm_revoked_key(c->sid, key, sizeof(key))};
    rs_store *rs = adm_redis(c, errstr, sizeof(errstr));
    if (!rs || rs_call(rs, 2, argv, &reply, errstr, sizeof(errstr))) {
        json_decref(reply);
        *c->sid = '\0';
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Unavailable", errstr);
        return -1;
    }
    int gone = json_integer_value(reply) == 1;
    json_decref(reply);
    if (gone) {
        *c->sid = '\0';
        return 0;
    }
    adm_csrf_token(&c->srv->auth, c->sid, c->csrf);
    return 1;
}

/* A POST's Origin (when the browser sent one) must be this server, as its
 * Host or a proxy's X-Forwarded-Host names it: a form posted from another
 * site is refused before its token is even looked at (and the login form,
 * which has no token, is covered too). */
static int adm_origin_ok(adm_call *c)
{
    const char *origin = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Host");
    const char *fwd = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "X-Forwarded-Host");
    if (!origin)
        return 1;
    const char *rest = !strncmp(origin, "http://", 7)    ? origin + 7
                       : !strncmp(origin, "https://", 8) ? origin + 8
                                                         : NULL;
    return rest && ((host && !strcmp(rest, host)) || (fwd && !strcmp(rest, fwd)));
}

static void adm_dispatch(adm_call *c, const adm_req *req)
{
    char name[72] = "";
    const struct sockaddr *peer = NULL;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info)
        peer = info->client_addr;
    if (!adm_peer_allowed(c->srv->loopback, peer)) {
        lg_warn(COMPONENT, "-", "refused %s %s from %s: ADMIN_LISTEN is loopback", c->method,
                c->path, c->peer);
        adm_fail(c, MHD_HTTP_FORBIDDEN, "Forbidden",
                 "This admin app serves its own host only (ADMIN_LISTEN is a loopback address).");
        return;
    }
    int post = !strcmp(c->method, "POST");
    const char *method = !strcmp(c->method, "HEAD") ? "GET" : c->method;
    const adm_route *rt = NULL;
    int path_known = 0;
    const struct {
        const adm_route *v;
        size_t n;
    } tables[] = {{adm_routes, sizeof(adm_routes) / sizeof(adm_routes[0])},
                  {adm_tune_routes, adm_tune_nroutes}};
    for (size_t t = 0; t < 2 && !rt; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const adm_route *r = &tables[t].v[i];
            if (!adm_match(r->pattern, c->path, name, sizeof(name)))
                continue;
            path_known = 1;
            if (!strcmp(r->method, method)) {
                rt = r;
                break;
            }
        }
    if (!rt) {
        adm_fail(c, path_known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
                 path_known ? "Method not allowed" : "Not found",
                 path_known ? "This page does not take that method." : "There is no such page.");
        return;
    }
    if (post && req->too_large) {
        adm_fail(c, 413 /* named differently across libmicrohttpd versions */, "Too large",
                 "That form is larger than any of ours.");
        return;
    }
    if (post && !adm_origin_ok(c)) {
        lg_warn(COMPONENT, "-", "refused POST %s from %s: its Origin is another site", c->path,
                c->peer);
        adm_fail(c, MHD_HTTP_FORBIDDEN, "Forbidden", "That form came from another site.");
        return;
    }
    if (rt->session) {
        int s = adm_session(c);
        if (s < 0)
            return;
        if (!s && !post) {
            adm_redirect(c, "/login", NULL, NULL);
            return;
        }
        if (!s) {
            adm_fail(c, MHD_HTTP_FORBIDDEN, "Forbidden",
                     "Your session has ended: log in again. Nothing was changed.");
            return;
        }
        char token[ADM_TOKEN_HEX + 1];
        if (post && (adm_form_get(c->body, "csrf", token, sizeof(token)) != 1 ||
                     !adm_csrf_ok(&c->srv->auth, c->sid, token))) {
            lg_warn(COMPONENT, "-", "refused POST %s from %s: no or a wrong CSRF token", c->path,
                    c->peer);
            adm_fail(c, MHD_HTTP_FORBIDDEN, "Forbidden",
                     "The form's security token is missing or wrong: reload the page and try "
                     "again. Nothing was changed.");
            return;
        }
    }
    rt->fn(c, name);
}

/* Sends c's answer: its page (masked once more for secrets, the last line of
 * defence as for the log) with headers that keep it out of caches, frames
 * and scripts. */
static adm_mhd_result adm_send(adm_call *c)
{
    if (c->page.failed) {
        adm_page_free(&c->page);
        adm_page_printf(&c->page, "the page is too large or memory ran out\n");
        c->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!c->page.s)
        adm_page_printf(&c->page, "%s", "");
    if (c->page.failed)
        return MHD_NO;
    lg_mask_secrets(c->page.s, c->page.len + 1);
    size_t len = strlen(c->page.s);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, c->page.s, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    c->page.s = NULL; /* the response owns it */
    adm_page_free(&c->page);
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    /* same-origin, not no-referrer: under no-referrer a browser sends
     * "Origin: null" with every form it posts (the Fetch standard), and the
     * Origin check above refused every login and every button.  No URL of
     * ours leaves for another site either way. */
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    if (*c->location)
        MHD_add_response_header(r, "Location", c->location);
    if (*c->cookie)
        MHD_add_response_header(r, "Set-Cookie", c->cookie);
    adm_mhd_result ret = MHD_queue_response(c->conn, c->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void adm_peer_text(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    snprintf(buf, size, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
}

static adm_mhd_result adm_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    adm_req *req = *con_cls;
    (void)version;
    if (!req) { /* the headers are in: the body (if any) comes next */
        if (!(req = calloc(1, sizeof(*req))))
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (req->too_large || n > ADM_BODY_MAX - req->len) {
            req->too_large = 1; /* read and dropped: the answer is 413 */
            return MHD_YES;
        }
        if (req->len + n + 1 > req->cap) {
            char *b = realloc(req->body, ADM_BODY_MAX + 1);
            if (!b)
                return MHD_NO;
            req->body = b;
            req->cap = ADM_BODY_MAX + 1;
        }
        memcpy(req->body + req->len, upload, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    adm_call c = {.srv = cls,
                  .conn = conn,
                  .method = method,
                  .path = url,
                  .body = req->body && !req->too_large ? req->body : ""};
    adm_peer_text(conn, c.peer, sizeof(c.peer));
    adm_dispatch(&c, req);
    rs_close(c.rs);
    lg_debug(COMPONENT, "-", "%s %s %u (%s)", method, url, c.status, c.peer);
    return adm_send(&c);
}

static void adm_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    adm_req *req = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (req) {
        if (req->body)
            memset(req->body, 0, req->cap); /* it may hold the password */
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* Starts the daemon on ADMIN_LISTEN; NULL after printing why. */
static struct MHD_Daemon *adm_start(adm_server *srv)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    const mo_config *cfg = srv->cfg;
    unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, cfg->admin_addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->admin_port);
    } else {
        inet_pton(AF_INET6, cfg->admin_addr, &in6->sin6_addr); /* cfg_load checked it */
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->admin_port);
        flags |= MHD_USE_IPv6;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg->admin_port, NULL, NULL, adm_handle, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)ADM_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)ADM_CONN_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)ADM_CONN_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ADM_IDLE_S,
        MHD_OPTION_NOTIFY_COMPLETED, adm_completed, srv, MHD_OPTION_END);
    if (!d)
        fprintf(stderr,
                "mosync: configuration error: cannot listen on ADMIN_LISTEN %s: taken, or not an "
                "address of this host\n",
                cfg->admin_listen);
    return d;
}

int admin_main(int argc, char **argv)
{
    mo_config cfg;
    char errstr[512];
    adm_server srv;
    int rc;
    if (argc > 0) {
        fprintf(stderr,
                "mosync: admin: unknown option '%s' (it takes none: see ADMIN_LISTEN and "
                "ADMIN_PASSWORD)\n",
                argv[0]);
        return 2;
    }
    if (cfg_load(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS | CFG_NEED_ADMIN, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    memset(&srv, 0, sizeof(srv));
    srv.cfg = &cfg;
    pthread_mutex_init(&srv.lock, NULL);
    if ((rc = tenant_secret_key(&cfg, &srv.key))) {
        cfg_free(&cfg);
        return rc;
    }
    adm_auth_init(&srv.auth, &srv.key, cfg.admin_password);
    srv.loopback = adm_addr_loopback(cfg.admin_addr);
    kq_log_quiet(); /* a page says when Kafka is down; the log need not, per page */
    struct MHD_Daemon *d = adm_start(&srv);
    if (!d) {
        rc = 2;
        goto out;
    }
    lg_info(COMPONENT, "-", "admin app on http://%s%s%s:%d/ (%s)",
            strchr(cfg.admin_addr, ':') ? "[" : "", cfg.admin_addr,
            strchr(cfg.admin_addr, ':') ? "]" : "", cfg.admin_port,
            srv.loopback ? "this host only" : "every address: put it behind TLS");
    while (!mo_stop_requested())
        mo_stop_sleep_ms(1000);
    MHD_stop_daemon(d);
    lg_info(COMPONENT, "-", "admin app stopped");
    rc = 0;
out:
    adm_auth_wipe(&srv.auth);
    memset(&srv.key, 0, sizeof(srv.key));
    pthread_mutex_destroy(&srv.lock);
    cfg_free(&cfg);
    return rc;
}
