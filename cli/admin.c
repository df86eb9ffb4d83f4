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
#include "admin.h"
#include "dlq_cmd.h"
#include "dlq_state.h"
#include "hourly.h"
#include "kafka.h"
#include "log.h"
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

typedef struct adm_server {
    mo_config *cfg;
    sb_key key;
    adm_auth auth;
    int loopback; /* ADMIN_LISTEN is a loopback address */
    /* Wrong passwords in the current minute, under lock. */
    pthread_mutex_t lock;
    time_t fails_since;
    int fails;
} adm_server;

/* One request while its body arrives (*con_cls). */
typedef struct adm_req {
    char *body;
    size_t len, cap;
    int too_large;
} adm_req;

/* One request being answered. */
typedef struct adm_call {
    adm_server *srv;
    struct MHD_Connection *conn;
    const char *method, *path, *body;
    char peer[64];
    char sid[ADM_ID_HEX];     /* the session's id, "" before login */
    char csrf[ADM_TOKEN_HEX]; /* its CSRF token */
    time_t expires;
    rs_store *rs; /* opened on first use */
    /* The answer. */
    unsigned status;
    adm_page page;
    char location[256];
    char cookie[ADM_COOKIE_SIZE + 128];
} adm_call;

/* The call's Redis connection (NULL after logging why, with errstr). */
static rs_store *adm_redis(adm_call *c, char *errstr, size_t errstr_size)
{
    if (!c->rs) {
        c->rs = rs_open(c->srv->cfg->redis_url, c->srv->cfg->tenant, errstr, errstr_size);
        if (c->rs)
            rs_set_retry_ms(c->rs, ADM_REDIS_RETRY_MS);
    }
    return c->rs;
}

static void adm_begin(adm_call *c, unsigned status, const char *title, const char *notice,
                      int error)
{
    c->status = status;
    adm_view v = {
        .title = title, .csrf = *c->sid ? c->csrf : NULL, .notice = notice, .notice_error = error};
    adm_html_begin(&c->page, &v);
}

static void adm_end(adm_call *c)
{
    adm_view v = {.csrf = *c->sid ? c->csrf : NULL};
    adm_html_end(&c->page, &v);
}

/* A page that says what went wrong and nothing else. */
static void adm_fail(adm_call *c, unsigned status, const char *title, const char *why)
{
    adm_page_free(&c->page);
    adm_begin(c, status, title, why, 1);
    adm_page_printf(&c->page, "<p><a href=\"/\">Back to the tenants</a></p>\n");
    adm_end(c);
}

static void adm_redirect(adm_call *c, const char *fmt, const char *name, const char *done)
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
        adm_html_tenants(&c->page, names, records);
        adm_end(c);
    }
    json_decref(names);
    json_decref(records);
}

/* Loads tenant name's record and its configuration (the process's settings
 * from the environment, the tenant's from the registry).  0; or -1 after
 * answering why (404 for no such tenant).  *record: new reference. */
static int adm_tenant_load(adm_call *c, const char *name, json_t **record, mo_config *tcfg,
                           int *cfg_ok, char *why, size_t why_size)
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
                 {"redriven", "Re-driven: the letter is back on its topic; its applier applies "
                              "it and marks it resolved."}};
    for (size_t i = 0; done && i < sizeof(texts) / sizeof(texts[0]); i++)
        if (!strcmp(done, texts[i].code))
            return texts[i].text;
    return NULL;
}

static void adm_tenant(adm_call *c, const char *name)
{
    char why[512], hours_why[512] = "", letters_why[512] = "";
    mo_config tcfg;
    json_t *record, *status = NULL, *letters = NULL;
    long long hours[24];
    int cfg_ok, rc, more = 0, have_hours = 0;
    if (adm_tenant_load(c, name, &record, &tcfg, &cfg_ok, why, sizeof(why)))
        return;
    time_t now = time(NULL);
    if (cfg_ok && !(status = status_report(&tcfg, &rc)))
        snprintf(why, sizeof(why), "out of memory");
    rs_set_tenant(c->rs, name);
    have_hours = !hs_read(c->rs, "orders", now, 24, hours, hours_why, sizeof(hours_why));
    rs_set_tenant(c->rs, c->srv->cfg->tenant);
    if (!cfg_ok)
        snprintf(letters_why, sizeof(letters_why), "the tenant's settings do not load");
    else if (json_is_false(json_object_get(json_object_get(status, "kafka"), "reachable")))
        snprintf(letters_why, sizeof(letters_why), "Kafka is unreachable");
    else
        letters = adm_open_letters(&tcfg, &more, letters_why, sizeof(letters_why));
    adm_tenant_view t = {.name = name,
                         .record = record,
                         .status = status,
                         .status_why = why,
                         .hours = have_hours ? hours : NULL,
                         .nhours = 24,
                         .now = now,
                         .hours_why = hours_why,
                         .letters = letters,
                         .letters_why = letters ? NULL : letters_why,
                         .letters_more = more,
                         .csrf = c->csrf};
    const char *done = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "done");
    char title[96];
    snprintf(title, sizeof(title), "Tenant %s", name);
    adm_begin(c, MHD_HTTP_OK, title, adm_done_text(done), 0);
    adm_html_tenant(&c->page, &t);
    adm_end(c);
    json_decref(letters);
    json_decref(status);
    json_decref(record);
    if (cfg_ok)
        cfg_free(&tcfg);
}

static void adm_set_state(adm_call *c, const char *name, const char *state, const char *done)
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

/* ---- routing ----------------------------------------------------------- */

typedef void (*adm_handler)(adm_call *c, const char *tenant);

/* '*' in a pattern is one tenant name (tn_check_name's alphabet). */
static const struct adm_route {
    const char *method, *pattern;
    int session; /* needs a logged-in session (and, for a POST, its CSRF token) */
    adm_handler fn;
} adm_routes[] = {
    {"GET", "/login", 0, adm_login_page},         {"POST", "/login", 0, adm_login},
    {"POST", "/logout", 1, adm_logout},           {"GET", "/", 1, adm_tenants},
    {"GET", "/tenants/*", 1, adm_tenant},         {"POST", "/tenants/*/pause", 1, adm_pause},
    {"POST", "/tenants/*/resume", 1, adm_resume}, {"POST", "/tenants/*/redrive", 1, adm_redrive},
    /* Issue 14, to come here: GET and POST /connect (the warehouse, then the
     * redirect to Mystore's authorize page), GET /oauth/callback, GET and
     * POST /tenants/<name>/settings (Fine-tune, Try first), POST
     * /tenants/<name>/activate. */
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
    const struct adm_route *rt = NULL;
    int path_known = 0;
    for (size_t i = 0; i < sizeof(adm_routes) / sizeof(adm_routes[0]); i++) {
        if (!adm_match(adm_routes[i].pattern, c->path, name, sizeof(name)))
            continue;
        path_known = 1;
        if (!strcmp(adm_routes[i].method, method)) {
            rt = &adm_routes[i];
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
