/* A small HTTP client on libcurl: one keep-alive connection per client, connect
 * and total timeouts, a hard cap on the answer body, Basic or Bearer auth, and
 * the retry classification every caller shares (hc_classify).
 *
 * Every request stops at the calling thread's deadline (mo_deadline_left_ms:
 * no attempt starts after it, one attempt's timeout is cut to it, backoff and
 * Retry-After waits never pass it) and is aborted when a stop is requested
 * (SIGTERM).  Error texts never show a URL's query or user-info, and an
 * answer body they quote is masked before it is cut.
 * A client is used by one thread at a time. */
#ifndef MO_HTTP_H
#define MO_HTTP_H

#include "err.h"

#include <jansson.h>
#include <stddef.h>

typedef struct hc_client hc_client;

typedef struct hc_opts {
    long connect_timeout_ms; /* default 5000 */
    long total_timeout_ms;   /* default 30000 */
    size_t max_body;         /* answer body cap of hc_request, default 16 MiB; hc_call_json
                                takes each call's own */
    const char *accept;      /* Accept header, default application/json */
    /* Exactly one of these (or none): */
    const char *bearer;     /* Authorization: Bearer <token>; copied */
    const char *basic_user; /* HTTP Basic; copied */
    const char *basic_password;
    /* Metrics (copied; both NULL: not counted): every request is counted in
     * mosync_api_requests_total{api, method, status_class, tenant}, and a
     * 2xx answer marks the api up for hc_api_last_up_ms. */
    const char *api;    /* "mystore", "ongoing" */
    const char *tenant; /* MOSYNC_TENANT */
    /* RETRY_AFTER_MAX_S: the longest Retry-After obeyed, in seconds; an answer
     * asking for more is logged as an error, counted in
     * mosync_retry_after_capped_total{api} and waited only this long.
     * 0: HC_RETRY_AFTER_CAP_DEFAULT_S. */
    int retry_after_max_s;
} hc_opts;

/* RETRY_AFTER_MAX_S unset: 15 minutes.  One `Retry-After: 86400` obeyed
 * whole kept a poller asleep for a day, holding its lease (issue 12 item
 * 19); no API of ours asks for more than minutes on purpose. */
#define HC_RETRY_AFTER_CAP_DEFAULT_S 900

typedef struct hc_resp {
    long status;           /* HTTP status, 0 when no answer arrived */
    long long server_date; /* the answer's Date header, UTC seconds; 0 when absent */
    char *body;            /* NUL-terminated answer body, owned; free with hc_resp_free() */
    size_t len;
    int retry_after; /* seconds from a Retry-After header (delay-seconds, or an HTTP-date
                        counted from the answer's Date), at most the client's
                        retry_after_max_s; -1 when absent */
    int unsent;      /* no answer, and the request surely never reached a server
                        (name not resolved, connection refused) */
} hc_resp;

/* The longest Retry-After slept inside a call (ms).  A longer wait gives up
 * the call (MO_ERR_TRANSIENT) and is left with mo_retry_hint_set() for the
 * caller's loop (a consumer pauses the partition that long). */
#define HC_RETRY_AFTER_MAX_MS 120000L

/* New client; NULL on allocation failure.  Free with hc_free().  The Basic
 * credentials as they travel (base64 of user:password) are registered with
 * the log as a secret. */
hc_client *hc_new(const hc_opts *opts);
void hc_free(hc_client *hc);

/* Replaces the Bearer token of the following requests (copied; an OAuth
 * access token that was refreshed).  MO_ERR_NOMEM leaves the old one. */
mo_err hc_set_bearer(hc_client *hc, const char *token);

/* Notes for readiness that api refused the credential with status now,
 * without a request (the OAuth refresh token was refused: no access token
 * to send). */
void hc_api_mark_refused(const char *api, long status);

/* Sends one request.  body may be NULL; content_type applies when body is set.
 * Returns MO_OK when an answer arrived, whatever its status (see hc_classify),
 * MO_ERR_TRANSIENT when none did (connect failure, timeout, reset, the
 * thread's deadline already passed, a stop requested), MO_ERR_TOO_LARGE when
 * the answer exceeded max_body.  resp is always initialised and must be freed
 * with hc_resp_free(). */
mo_err hc_request(hc_client *hc, const char *method, const char *url, const char *content_type,
                  const char *body, hc_resp *resp, char *errstr, size_t errstr_size);
void hc_resp_free(hc_resp *resp);

/* Reads one answer header line (n bytes, no NUL needed): "Date:" sets
 * *server_date, "Retry-After:" in seconds sets *retry_after (capped at a day)
 * and in the HTTP-date form *retry_after_date (UTC seconds).  Any other line,
 * and a value that does not parse, changes nothing.  Pure (the fuzz target). */
void hc_header_parse(const char *buf, size_t n, int *retry_after, long long *retry_after_date,
                     long long *server_date);

/* The retry class of an HTTP status: MO_OK for 2xx, MO_ERR_TRANSIENT for 408,
 * 429 and 5xx (and 0: no answer), MO_ERR_CREDENTIAL for 401 and 403 (the
 * credential is refused: the tenant must act, not the request's entity),
 * MO_ERR_PERMANENT for every other status. */
mo_err hc_classify(long status);

/* url as error texts show it: without user-info, and with "?..." in place of
 * a query (a query may carry a key).  Always NUL-terminates out. */
const char *hc_url_redact(const char *url, char *out, size_t size);

/* Percent-encodes s into out (RFC 3986 unreserved characters kept). Returns
 * MO_ERR_TOO_LARGE when out is too small. */
mo_err hc_escape(const char *s, char *out, size_t size);

/* Bytes of the body of the last answer this client received (0 when none). */
size_t hc_last_body_len(const hc_client *hc);

/* When this client last got an answer that was not a transient failure nor a
 * refused credential (2xx, or a 4xx other than 401, 403, 408 and 429: the API
 * is up for this tenant), in monotonic ms; 0 = never. */
long long hc_last_up_ms(const hc_client *hc);

/* The server's clock as its last Date header told it (UTC seconds), moved on
 * by the local monotonic time since; 0 when no answer carried a Date.  A
 * poller observes "now" on the source's clock with this, so clock skew between
 * the source and mosync cannot move a window. */
long long hc_server_now(const hc_client *hc);
/* The clock hc_server_now reads: the last Date (UTC seconds, 0 none) and when
 * it came (monotonic ms); hc_clock_set gives a new client what an earlier
 * one of the same API learnt (`poll --all-tenants` opens a tenant's client
 * per cycle), only while this one has had no answer with a Date. */
void hc_clock_get(const hc_client *hc, long long *date, long long *at_ms);
void hc_clock_set(hc_client *hc, long long date, long long at_ms);

/* The User-Agent every request carries: "mosync/<version> (<host>:<pid>)",
 * so a server (and the simulators) can tell which process sent what. */
const char *hc_user_agent(void);

/* Total requests sent by all clients of this process (for metrics and the demo summary). */
unsigned long hc_requests_total(void);

/* When any client of this process with hc_opts.api == api last got a 2xx
 * answer (the API answers and accepts mosync's credentials), monotonic ms;
 * 0 = never.  /readyz asks this first, so a busy process proves an API up
 * without spending a request of its budget. */
long long hc_api_last_up_ms(const char *api);

/* When any client of this process with hc_opts.api == api last got a 401 or
 * 403 (the credential refused), monotonic ms; 0 = never.  *status (may be
 * NULL) receives that status.  Compared with hc_api_last_up_ms it tells
 * whether the credential is refused now. */
long long hc_api_refused_ms(const char *api, long *status);

/* "2xx", "3xx", "4xx", "5xx" for an HTTP status, "none" for 0 (no answer)
 * and anything outside 100..599: the status_class label. */
const char *hc_status_class(long status);

#endif

/* ---- JSON calls with retries (shared by the Mystore and Ongoing clients) ---- */

typedef struct hc_retry {
    int max_attempts; /* >= 1 */
    long base_ms;     /* first backoff; doubles, with jitter */
    long max_ms;      /* backoff cap */
} hc_retry;

/* The wait before retry n + 1 (n from 0): base * 2^n capped at max, with
 * +-25% jitter, or the server's Retry-After (seconds, >= 0) when it gave one
 * (not capped here: see HC_RETRY_AFTER_MAX_MS). */
long hc_backoff_ms(const hc_retry *retry, int n, int retry_after);

/* Hooks around every attempt of hc_call_json (all may be NULL).  before runs
 * before each request (take a request from a shared budget, take a write
 * lock); a non-OK result ends the call with that result.  after runs after
 * each request that before allowed (release the lock), never while backing
 * off. */
typedef struct hc_hooks {
    mo_err (*before)(void *ctx, char *errstr, size_t errstr_size);
    void (*after)(void *ctx);
    void *ctx;
} hc_hooks;

/* Sends a request whose answer is JSON, retrying transient failures (no
 * answer, 408, 429, 5xx, and a 2xx whose body is not valid JSON: a truncated
 * or malformed answer) with capped exponential backoff and jitter, honouring
 * Retry-After up to HC_RETRY_AFTER_MAX_MS and the thread's deadline (a longer
 * wait ends the call with MO_ERR_TRANSIENT and a retry hint).
 *
 * A POST is not idempotent (it creates something: the "levert" history row
 * and its customer notice), so it is retried only when it surely had no
 * effect: the request never reached a server, or the answer is 429.  Any
 * other failure of a POST (timeout, 5xx, a 2xx whose body is not JSON) is
 * ambiguous and returns MO_ERR_TRANSIENT at once: the caller must find out
 * whether it took effect (read the resource again) before sending it again.
 * GET, PUT, PATCH and DELETE are idempotent here and retried.
 *
 * On 2xx returns MO_OK and *doc (new reference; NULL for an empty body).  On
 * 401/403 returns MO_ERR_CREDENTIAL, on another 4xx MO_ERR_PERMANENT, both
 * with *status set and *doc the parsed error body when it is JSON.  When attempts or time run out
 * returns MO_ERR_TRANSIENT.  *attempts (may be NULL) receives the number of requests sent.  hooks
 * may be NULL. */
mo_err hc_call_json(hc_client *hc, const hc_retry *retry, const hc_hooks *hooks, const char *method,
                    const char *url, const char *content_type, const char *body, long *status,
                    json_t **doc, int *attempts, char *errstr, size_t errstr_size);
/* The same with an answer cap of its own: max_body bytes (0: the client's
 * max_body).  A JSON answer costs jansson up to ~80 times its bytes (small
 * objects), so each call is capped by what it asks for (a page of 50, one
 * resource), not by one cap for everything; an answer over it is
 * MO_ERR_TOO_LARGE naming the call and the cap, and is not retried. */
mo_err hc_call_json_capped(hc_client *hc, const hc_retry *retry, const hc_hooks *hooks,
                           const char *method, const char *url, const char *content_type,
                           const char *body, size_t max_body, long *status, json_t **doc,
                           int *attempts, char *errstr, size_t errstr_size);
