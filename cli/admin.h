/* `mosync admin`: the web application of issue 14, a small libmicrohttpd
 * server of plain server-rendered pages over the tenant registry.  A
 * merchant sets a shop up (Connect with the warehouse's credentials checked
 * and Mystore's OAuth consent, Fine-tune, Try first, Activate); the operator
 * sees each tenant's status (the figures of `mosync status`, the last orders,
 * charts of orders and lag per hour, open dead letters with a re-drive
 * button, pause / resume).  Protected by ADMIN_PASSWORD, signed session
 * cookies and a CSRF token on every form.
 *
 *   admin.c       the server, the routes, login, the tenant pages, Connect
 *                 and the OAuth callback
 *   admin_tune.c  Fine-tune, Try first (the dry-run page) and Activate
 *   admin_auth.c  password, session cookie, CSRF token, peer and form checks
 *   admin_html.c  the pages' frame, the tenant page, the Connect form, charts
 *   admin_int.h   what admin.c and admin_tune.c share */
#ifndef MO_ADMIN_H
#define MO_ADMIN_H

#include "config.h"
#include "err.h"
#include "secretbox.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* The command: argv holds what follows "admin" (no options).  Exit 0 after
 * SIGTERM, 2 for bad usage or configuration (ADMIN_LISTEN, ADMIN_PASSWORD,
 * MOSYNC_SECRET_KEY, ... named), 1 when it cannot run. */
int admin_main(int argc, char **argv);

/* ---- admin_auth.c ------------------------------------------------------ */

/* A session lives this long; then the operator logs in again. */
#define ADM_SESSION_S (12 * 3600)
/* "v1.<expiry>.<32 hex id>.<64 hex mac>" and its NUL. */
#define ADM_COOKIE_SIZE 128
#define ADM_ID_HEX      33
#define ADM_TOKEN_HEX   65

/* The keys of one process.  Both are derived from MOSYNC_SECRET_KEY with a
 * fixed label, and the session key from the password too: every replica
 * (and a restarted process) accepts the same sessions, and a new password
 * or a new MOSYNC_SECRET_KEY ends every session at once. */
typedef struct adm_auth {
    uint8_t session_key[32];
    uint8_t password_mac[32]; /* HMAC of the password: compared in constant time */
    uint8_t password_key[32];
} adm_auth;

void adm_auth_init(adm_auth *a, const sb_key *key, const char *password);
void adm_auth_wipe(adm_auth *a);

/* 1 when given (len bytes) is the password: HMACs compared in constant
 * time, whatever the lengths. */
int adm_password_ok(const adm_auth *a, const char *given, size_t len);

/* A new session valid until now + ADM_SESSION_S: the cookie's value into
 * cookie (ADM_COOKIE_SIZE), its id into id (ADM_ID_HEX).  MO_ERR_TRANSIENT
 * when the kernel gave no random bytes. */
mo_err adm_session_new(const adm_auth *a, time_t now, char *cookie, char *id, char *errstr,
                       size_t errstr_size);

/* 1 when value is a session cookie this key signed and not expired at now;
 * its id into id (ADM_ID_HEX) and expiry into *expires (may be NULL). */
int adm_session_check(const adm_auth *a, const char *value, time_t now, char *id, time_t *expires);

/* The CSRF token of session id (ADM_TOKEN_HEX): an HMAC of the id, so a form
 * is good only with the session it was rendered for. */
void adm_csrf_token(const adm_auth *a, const char *id, char *token);
/* 1 when token (may be NULL) is session id's token (constant time). */
int adm_csrf_ok(const adm_auth *a, const char *id, const char *token);

/* 1 when addr (an address literal, no brackets) is a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
int adm_addr_loopback(const char *addr);
/* 1 when a request from peer may be served: any peer when the server listens
 * on an address that is not loopback (listen_loopback 0); only a loopback
 * peer when it listens on loopback (a request from outside ADMIN_LISTEN's
 * scope: through a port forward or a proxy on the host). */
int adm_peer_allowed(int listen_loopback, const struct sockaddr *peer);

/* Cookie `name` of a Cookie header (may be NULL) into out: 1 found, 0 not
 * (or longer than size - 1). */
int adm_cookie_get(const char *header, const char *name, char *out, size_t size);

/* Field `name` of an application/x-www-form-urlencoded body (may be NULL),
 * decoded ('+' and %XX), into out: 1 found, 0 absent, -1 malformed, longer
 * than size - 1, or holding a NUL. */
int adm_form_get(const char *body, const char *name, char *out, size_t size);

/* ---- admin_html.c ------------------------------------------------------ */

/* A page being written: text with a hard cap (ADM_PAGE_MAX); past it the
 * page is cut and marks itself too large (the server then answers 500). */
#define ADM_PAGE_MAX (2 * 1024 * 1024)
typedef struct adm_page {
    char *s;
    size_t len, cap;
    int failed; /* out of memory or over the cap */
} adm_page;

void adm_page_printf(adm_page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text HTML-escaped (& < > " '). */
void adm_page_esc(adm_page *p, const char *text);
void adm_page_free(adm_page *p);

/* What every page's frame needs. */
typedef struct adm_view {
    const char *title;  /* <title> and <h1> */
    const char *csrf;   /* the session's token; NULL: not logged in */
    const char *notice; /* a line shown above the content (done, or why not), or NULL */
    int notice_error;
} adm_view;

void adm_html_begin(adm_page *p, const adm_view *v);
void adm_html_end(adm_page *p, const adm_view *v);

/* The login form; error (or NULL) next to the password field. */
void adm_html_login(adm_page *p, const char *error);
/* The tenants: records as tn_get_sealed returns them (names in the same
 * order; secrets never opened, never shown). */
void adm_html_tenants(adm_page *p, const json_t *names, const json_t *records);

/* The tenant page's parts. */
typedef struct adm_tenant_view {
    const char *name;
    const json_t *record;   /* the registry record (secrets never shown) */
    const json_t *status;   /* status_report's object, or NULL */
    const char *status_why; /* why there is none */
    const long long *hours; /* orders applied per hour, oldest first, or NULL */
    const long long *lag;   /* their mean lag per hour in ms (-1: none), or NULL */
    int nhours;
    time_t now;
    const char *hours_why;
    const json_t *letters; /* open letters [{id, flow, key, error_class, error, last_failure}] */
    const char *letters_why;
    int letters_more;     /* letters not listed (over the page's limit) */
    const json_t *recent; /* the last orders [{id, outcome, at, warehouse}], or NULL */
    const char *recent_why;
    int dry; /* running dry: its own DRY_RUN=on (Try first) */
    const char *csrf;
} adm_tenant_view;

void adm_html_tenant(adm_page *p, const adm_tenant_view *t);

/* The Connect form's fields, in the order shown (ADM_CF_*). */
enum {
    ADM_CF_TENANT,
    ADM_CF_ONGOING_URL,
    ADM_CF_ONGOING_USER,
    ADM_CF_ONGOING_PASSWORD,
    ADM_CF_GOODS_OWNER,
    ADM_CF_SHOP,
    ADM_CF_MYSTORE_URL,
    ADM_CF_MYSTORE_TOKEN,
    ADM_CF_N
};
/* A field's form name ("tenant", "ongoing_password", ...). */
const char *adm_connect_field(int i);
/* 1 for the fields whose value is a secret: never written back into a page. */
int adm_connect_secret(int i);

/* The Connect form: values[i] what was typed (secrets are not shown again),
 * errors[i] (or NULL) next to field i. */
void adm_html_connect(adm_page *p, const char *const *values, const char *const *errors,
                      const char *csrf);
/* A chart of one value per hour (inline SVG, no script). */
typedef struct adm_chart {
    const char *id;     /* unique on the page: "orders-chart" */
    const char *what;   /* "Orders applied per hour" */
    const long long *v; /* n values, oldest first; -1: none that hour */
    int n;              /* hours, the last ending at now */
    time_t now;
    int ms; /* the values are milliseconds, shown as seconds */
} adm_chart;
void adm_html_chart(adm_page *p, const adm_chart *ch);
/* Opens a box whose table scrolls sideways on a phone, a keyboard-focusable
 * region named by the element labelledby; closed with "</div>". */
void adm_html_scroll_open(adm_page *p, const char *labelledby);

#endif
