/* The HTTP scaffolding both simulators share: one libmicrohttpd server, the
 * common test endpoints (/_sim/fault, /_sim/stats, /_sim/writes,
 * /_sim/reset-counters), per-credential rate limiting, request counting, fault
 * injection and the write log.  A simulator supplies only its routes.
 * See tests/sim/README.md for the behaviour. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

typedef struct sim_req {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* URL path without the query string */
    const char *body;   /* request body, NUL-terminated; "" when none */
    size_t body_len;
    const char *authorization; /* Authorization header, NULL when absent */
    void *conn_;               /* private to sim_http.c */
} sim_req;

/* The URL-decoded value of query argument `name`, NULL when absent.  Borrowed:
 * valid until the handler returns. */
const char *sim_query(const sim_req *req, const char *name);

typedef struct sim_resp {
    int status;               /* HTTP status; 200 when the handler leaves it 0 */
    json_t *body;             /* owned by the framework once set; NULL = empty body */
    const char *content_type; /* NULL = "application/json" */
    int retry_after;          /* > 0 adds a Retry-After header (seconds) */
    int is_write;             /* set to 1 to record the request in /_sim/writes */
    /* A body that is not JSON (the OAuth authorize page's HTML): malloc'd,
     * owned by the framework once set, sent when body is NULL. */
    char *text;
    /* A Location header (a redirect); malloc'd, owned by the framework. */
    char *location;
} sim_resp;

/* Sets status and body; steals `body`. */
void sim_resp_json(sim_resp *resp, int status, json_t *body);

/* Sets status, a text body and its content type; steals `text` (malloc'd),
 * borrows content_type (a literal). */
void sim_resp_text(sim_resp *resp, int status, char *text, const char *content_type);

/* Sets status (a 3xx) and the Location header to a copy of location. */
void sim_resp_redirect(sim_resp *resp, int status, const char *location);

typedef struct sim_app {
    const char *name; /* program name for logs */
    void *state;      /* the simulator's own state, passed to every callback */
    int rate_limit;   /* requests per minute per credential; 0 = unlimited */

    /* Checks the credentials of an API request.  Returns 0 and writes a key
     * that identifies the credential (for rate limiting) into key, or returns
     * -1 after filling resp with the simulator's own auth-failure answer. */
    int (*auth)(void *state, const sim_req *req, char *key, size_t key_size, sim_resp *resp);
    /* Answers an API request (anything not under /_sim/). */
    void (*handle)(void *state, const sim_req *req, sim_resp *resp);
    /* Answers a /_sim/ request the framework does not know; NULL = 404. */
    void (*handle_test)(void *state, const sim_req *req, sim_resp *resp);
    /* Writes the route name for /_sim/stats by_route ("GET /shops/{shop}/orders/{id}"). */
    void (*route_name)(void *state, const sim_req *req, char *buf, size_t size);

    /* Optional (both NULL: no tenants).  A simulator serving many tenants in
     * one process (ongoing-sim's goods owners) names the tenant of the API
     * request being answered: tenant(state, &id) returns 1 and sets id once
     * the request's credentials told it, 0 when not known (auth refused).
     * Every write-log entry gets the member `tenant_name` (the id, or null),
     * and /_sim/stats counts API requests per tenant in "by_<tenant_name>". */
    const char *tenant_name;
    int (*tenant)(void *state, json_int_t *id);
    /* Optional: called once for every API request counted (by the
     * simulator's own counters, e.g. Mystore's requests per shop). */
    void (*count)(void *state, const sim_req *req);
    /* Optional: adds the simulator's own members to the /_sim/stats answer. */
    void (*stats)(void *state, json_t *stats);
    /* Optional: zeroes the counters of `count` (POST /_sim/reset-counters). */
    void (*reset_counters)(void *state);
} sim_app;

/* Serves until SIGTERM or SIGINT.  Handlers run one at a time (a global lock
 * guards the simulator state); injected delays are waited outside the lock.
 * Prints "PORT=<n>" on stdout once listening.  Returns the exit status. */
int sim_serve(sim_app *app, int port);

/* A JSON file read whole; exits with status 2 and a message on error.  New reference. */
json_t *sim_load_json(const char *path);

/* Added for the simulators' JSON:API links and answers.  (sim_resp's text and
 * location came with the authorize page; left zero, an answer is as before.) */

/* The value of request header `name` (case-insensitive), NULL when absent.
 * Borrowed: valid until the handler returns. */
const char *sim_header(const sim_req *req, const char *name);

/* The raw query string as sent (still percent-encoded, without the '?'); ""
 * when there is none.  Borrowed: valid until the handler returns. */
const char *sim_query_string(const sim_req *req);

/* Calls fn(ctx, key, value) for every query argument in the order sent, with
 * key and value URL-decoded (value NULL for a bare "?key").  Both borrowed. */
typedef void (*sim_query_fn)(void *ctx, const char *key, const char *value);
void sim_query_foreach(const sim_req *req, sim_query_fn fn, void *ctx);

/* Sets the Content-Type of the answers the framework makes itself (413, 429,
 * injected fault statuses); NULL = "application/json".  Call before sim_serve;
 * `content_type` is borrowed and must outlive the server. */
void sim_set_content_type(const char *content_type);

/* Sets the simulator's clock: now(state) (state is the app's) gives the
 * instant every answer's Date header states, or 0 for real time (the
 * server's own Date).  Called under the lock.  Call before sim_serve. */
void sim_set_clock(time_t (*now)(void *state), void *state);

#endif
