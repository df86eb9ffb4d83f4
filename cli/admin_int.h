/* The parts of `mosync admin` its files share (admin.c, admin_tune.c): the
 * server, one request being answered, and the helpers that answer it.  Not a
 * public interface: admin.h is. */
#ifndef MO_ADMIN_INT_H
#define MO_ADMIN_INT_H

#include "admin.h"
#include "store.h"

#include <microhttpd.h>
#include <pthread.h>

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
    char location[4096]; /* the authorize redirect is the longest */
    char cookie[ADM_COOKIE_SIZE + 128];
} adm_call;

/* A page or an action: '*' in its pattern is one tenant name
 * (tn_check_name's alphabet), handed to fn as tenant. */
typedef void (*adm_handler)(adm_call *c, const char *tenant);
typedef struct adm_route {
    const char *method, *pattern;
    int session; /* needs a logged-in session (and, for a POST, its CSRF token) */
    adm_handler fn;
} adm_route;

/* Fine-tune, Try first and Activate (admin_tune.c). */
extern const adm_route adm_tune_routes[];
extern const size_t adm_tune_nroutes;

/* The call's Redis connection, opened on first use (NULL with errstr). */
rs_store *adm_redis(adm_call *c, char *errstr, size_t errstr_size);
/* A page: its frame (status, title, a notice or an error notice) ... */
void adm_begin(adm_call *c, unsigned status, const char *title, const char *notice, int error);
/* ... and its end. */
void adm_end(adm_call *c);
/* A page that says what went wrong and nothing else. */
void adm_fail(adm_call *c, unsigned status, const char *title, const char *why);
/* 303 to fmt, its %s filled with name and done (either may be NULL). */
void adm_redirect(adm_call *c, const char *fmt, const char *name, const char *done);
/* Tenant name's record and its configuration: 0, or -1 after answering why
 * (404 for no such tenant).  *cfg_ok 0 when the settings do not load (why). */
int adm_tenant_load(adm_call *c, const char *name, json_t **record, mo_config *tcfg, int *cfg_ok,
                    char *why, size_t why_size);

#endif
