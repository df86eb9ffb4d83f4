/* sim_http.c — the HTTP scaffolding both simulators share (see sim_http.h and
 * tests/sim/README.md).
 *
 * One libmicrohttpd daemon, a thread per connection, bound to 127.0.0.1.  Every
 * request is collected whole (body capped at SIM_BODY_MAX), then answered in
 * one go under a single global lock: the framework's own bookkeeping (counts,
 * rate-limit windows, faults, write log) and the simulator's state are only
 * touched with that lock held.  Injected delays are slept after the lock is
 * released, so a slow answer never stalls the other connections. */
#include "sim_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>

/* libmicrohttpd 0.9.71 turned the callbacks' int results into enum MHD_Result. */
#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define SIM_BODY_MAX        (8u * 1024u * 1024u) /* request bodies above this get 413 */
#define SIM_KEY_MAX         256                  /* credential key for rate limiting */
#define SIM_ROUTE_MAX       512                  /* route name for by_route */
#define SIM_WINDOW_MS       60000                /* rate-limit window */
#define SIM_MALFORMED       "{\"data\": [ this is not json"
#define SIM_DEFAULT_CT      "application/json"
#define SIM_DUMP_FLAGS      (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define SIM_FAULT_PLAIN     0 /* fault body modes */
#define SIM_FAULT_MALFORMED 1
#define SIM_FAULT_TRUNCATED 2
#define SIM_FAULT_EMPTY     3
#define SIM_FAULT_ECHO_AUTH 4 /* the error names the request's Authorization header */

/* One request in flight.  Created by the URI log callback (so the raw URI with
 * its query is kept), freed by the completion callback. */
typedef struct sim_conn {
    struct MHD_Connection *mhd;
    char *uri;  /* raw request URI as sent, NULL if it could not be copied */
    char *body; /* request body, NUL-terminated; NULL when none yet */
    size_t body_len;
    size_t body_cap;
    int too_large; /* body exceeded SIM_BODY_MAX; the rest was discarded */
    int started;   /* the access handler has seen the headers */
    struct timespec start;
} sim_conn;

/* A pending injected fault (POST /_sim/fault). */
typedef struct sim_fault {
    struct sim_fault *next;
    char *method; /* "*" = any */
    char *path;   /* prefix of the request path */
    char *match;  /* substring the raw query or the body must hold, NULL = any */
    int count;    /* requests still to misbehave */
    int status;   /* 200 = keep the real status and effect */
    int delay_ms;
    int body_mode;   /* SIM_FAULT_* */
    int retry_after; /* Retry-After of an injected 429 */
} sim_fault;

/* Random faults on every API request (POST /_sim/chaos), each a probability. */
typedef struct sim_chaos {
    int on;
    unsigned int seed;
    double error;     /* 500, effect not applied */
    double limited;   /* 429 with Retry-After: 1, effect not applied */
    double timeout;   /* effect applied, answer delayed by timeout_ms */
    double malformed; /* effect applied, body malformed */
    int timeout_ms;
    json_int_t served[4]; /* error, limited, timeout, malformed */
} sim_chaos;

/* The rate-limit window of one credential. */
typedef struct sim_bucket {
    struct sim_bucket *next;
    char key[SIM_KEY_MAX];
    struct timespec start; /* when the current window opened */
    int count;             /* requests accepted in it */
} sim_bucket;

/* What gets sent back, prepared under the lock and sent after it. */
typedef struct sim_answer {
    int status;
    char *text; /* malloc'd body, NULL = empty */
    size_t len;
    int rate_remaining; /* X-RateLimit-Remaining to send; -1 = no rate-limit headers */
    const char *content_type;
    int retry_after;
    int delay_ms;
    time_t date;    /* the Date header to send; 0 = the server's own (real time) */
    char *location; /* malloc'd Location header, NULL = none */
} sim_answer;

/* Everything shared between connections; guarded by `lock`. */
static struct {
    pthread_mutex_t lock;
    sim_app *app;
    const char *content_type; /* of framework-made answers */
    sim_fault *faults;        /* oldest first */
    sim_bucket *buckets;
    json_t *writes; /* array of write-log entries */
    json_int_t seq; /* last write-log sequence number */
    json_int_t requests;
    json_int_t rate_limited;
    json_int_t faults_served;
    json_t *by_route;  /* object route name -> count */
    json_t *by_agent;  /* object User-Agent -> count */
    json_t *by_tenant; /* object tenant id -> count (sim_app.tenant) */
    sim_chaos chaos;
} g_sim = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- small helpers ---- */

/* Milliseconds from `from` to `to`. */
static long sim_ms_between(const struct timespec *from, const struct timespec *to)
{
    return (long)(to->tv_sec - from->tv_sec) * 1000L + (to->tv_nsec - from->tv_nsec) / 1000000L;
}

/* Sleeps ms milliseconds, resuming after signals. */
static void sim_sleep_ms(int ms)
{
    struct timespec left = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) != 0) {
    }
}

/* A malloc'd copy of s, NULL when out of memory. */
static char *sim_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);

    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

/* The generic error document of framework-made answers.  It carries both
 * error styles (JSON:API `errors` for Mystore clients, `message` for Ongoing
 * clients) since the framework does not know which simulator it serves.  New
 * reference. */
static json_t *sim_error_new(int status, const char *title, const char *detail)
{
    char code[16];

    snprintf(code, sizeof code, "%d", status);
    return json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "message", detail, "errors", "status", code,
                     "title", title, "detail", detail);
}

/* Fills resp with a framework error answer. */
static void sim_resp_error(sim_resp *resp, int status, const char *title, const char *detail)
{
    sim_resp_json(resp, status, sim_error_new(status, title, detail));
    resp->content_type = g_sim.content_type;
}

/* A non-negative integer member of obj, or def when absent/null; -1 when it
 * is present but not a non-negative integer. */
static long sim_int_member(json_t *obj, const char *name, long def)
{
    json_t *value = json_object_get(obj, name);

    if (value == NULL || json_is_null(value))
        return def;
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > 100000000)
        return -1;
    return (long)json_integer_value(value);
}

/* ---- public request/response API ---- */

void sim_resp_json(sim_resp *resp, int status, json_t *body)
{
    if (resp->body != NULL)
        json_decref(resp->body);
    free(resp->text);
    resp->text = NULL;
    resp->status = status;
    resp->body = body;
}

void sim_resp_text(sim_resp *resp, int status, char *text, const char *content_type)
{
    sim_resp_json(resp, status, NULL);
    resp->text = text;
    resp->content_type = content_type;
}

void sim_resp_redirect(sim_resp *resp, int status, const char *location)
{
    sim_resp_json(resp, status, NULL);
    free(resp->location);
    resp->location = sim_strdup(location);
}

const char *sim_query(const sim_req *req, const char *name)
{
    const sim_conn *conn = req->conn_;

    return MHD_lookup_connection_value(conn->mhd, MHD_GET_ARGUMENT_KIND, name);
}

const char *sim_header(const sim_req *req, const char *name)
{
    const sim_conn *conn = req->conn_;

    return MHD_lookup_connection_value(conn->mhd, MHD_HEADER_KIND, name);
}

const char *sim_query_string(const sim_req *req)
{
    const sim_conn *conn = req->conn_;
    const char *mark = conn->uri != NULL ? strchr(conn->uri, '?') : NULL;

    return mark != NULL ? mark + 1 : "";
}

/* The callback and context of one sim_query_foreach call. */
typedef struct sim_foreach_ctx {
    sim_query_fn fn;
    void *ctx;
} sim_foreach_ctx;

/* MHD value iterator that forwards each argument to sim_query_foreach's fn. */
static MHD_Result_t sim_foreach_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    sim_foreach_ctx *each = cls;

    (void)kind;
    each->fn(each->ctx, key, value);
    return MHD_YES;
}

void sim_query_foreach(const sim_req *req, sim_query_fn fn, void *ctx)
{
    const sim_conn *conn = req->conn_;
    sim_foreach_ctx each = {fn, ctx};

    MHD_get_connection_values(conn->mhd, MHD_GET_ARGUMENT_KIND, sim_foreach_one, &each);
}

void sim_set_content_type(const char *content_type)
{
    g_sim.content_type = content_type;
}

/* The simulator's clock for the Date header (sim_set_clock); read under the lock. */
static time_t (*g_sim_clock)(void *state);

void sim_set_clock(time_t (*now)(void *state), void *state)
{
    (void)state; /* the callback gets the app's state, which is the same */
    g_sim_clock = now;
}

json_t *sim_load_json(const char *path)
{
    json_error_t error;
    json_t *json = json_load_file(path, JSON_REJECT_DUPLICATES, &error);

    if (json == NULL) {
        fprintf(stderr, "%s:%d:%d: %s\n", path, error.line, error.column, error.text);
        exit(2);
    }
    return json;
}

/* ---- rate limiting ---- */

/* Requests left in the window of the last API request checked, -1 when none
 * was (no limit, or auth failed).  Answers carry it as X-RateLimit-Limit and
 * X-RateLimit-Remaining, as a Laravel API (Mystore's kind) does.  Lock held. */
static int sim_rate_remaining = -1;

/* Counts one request against the window of credential `key`.  Returns 0 when
 * it is within the limit, else -1 with *retry_after set to the seconds left
 * in the window (at least 1).  Windows are fixed: one opens at the first
 * request after the previous one ended and lasts SIM_WINDOW_MS. */
static int sim_rate_check(const char *key, int *retry_after)
{
    struct timespec now;
    sim_bucket *bucket;
    long elapsed;

    if (g_sim.app->rate_limit <= 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    for (bucket = g_sim.buckets; bucket != NULL; bucket = bucket->next) {
        if (strcmp(bucket->key, key) == 0)
            break;
    }
    if (bucket == NULL) {
        bucket = calloc(1, sizeof *bucket);
        if (bucket == NULL)
            return 0; /* out of memory: do not limit */
        snprintf(bucket->key, sizeof bucket->key, "%s", key);
        bucket->start = now;
        bucket->next = g_sim.buckets;
        g_sim.buckets = bucket;
    }
    elapsed = sim_ms_between(&bucket->start, &now);
    if (elapsed >= SIM_WINDOW_MS) {
        bucket->start = now;
        bucket->count = 0;
        elapsed = 0;
    }
    if (bucket->count >= g_sim.app->rate_limit) {
        *retry_after = (int)((SIM_WINDOW_MS - elapsed + 999) / 1000);
        if (*retry_after < 1)
            *retry_after = 1;
        sim_rate_remaining = 0;
        return -1;
    }
    bucket->count++;
    sim_rate_remaining = g_sim.app->rate_limit - bucket->count;
    return 0;
}

/* Forgets every rate-limit window. */
static void sim_buckets_clear(void)
{
    while (g_sim.buckets != NULL) {
        sim_bucket *next = g_sim.buckets->next;

        free(g_sim.buckets);
        g_sim.buckets = next;
    }
}

/* ---- faults ---- */

/* Frees one fault. */
static void sim_fault_free(sim_fault *fault)
{
    free(fault->method);
    free(fault->path);
    free(fault->match);
    free(fault);
}

/* The fault as JSON, for the /_sim/fault answers.  New reference. */
static json_t *sim_fault_json(const sim_fault *fault)
{
    static const char *const modes[] = {NULL, "malformed", "truncated", "empty", "echo-auth"};
    json_t *json =
        json_pack("{s:s, s:s, s:i, s:i, s:i}", "method", fault->method, "path", fault->path,
                  "count", fault->count, "status", fault->status, "delay_ms", fault->delay_ms);

    if (json != NULL && fault->body_mode != SIM_FAULT_PLAIN)
        json_object_set_new(json, "body", json_string(modes[fault->body_mode]));
    if (json != NULL && fault->status == 429)
        json_object_set_new(json, "retry_after", json_integer(fault->retry_after));
    if (json != NULL && fault->match != NULL)
        json_object_set_new(json, "match", json_string(fault->match));
    return json;
}

/* Parses a POST /_sim/fault body into a new fault.  Returns NULL after
 * writing the reason into err. */
static sim_fault *sim_fault_parse(const char *body, size_t body_len, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, body_len, 0, &jerr);
    const char *method = "*";
    const char *path;
    const char *mode;
    const char *match = NULL;
    sim_fault *fault = NULL;
    long count, status, delay_ms, retry_after;
    int body_mode = SIM_FAULT_PLAIN;

    if (!json_is_object(doc)) {
        snprintf(err, err_size, "fault must be a JSON object");
        goto out;
    }
    path = json_string_value(json_object_get(doc, "path"));
    if (path == NULL || path[0] != '/') {
        snprintf(err, err_size, "'path' must be a string starting with '/'");
        goto out;
    }
    if (json_object_get(doc, "method") != NULL) {
        method = json_string_value(json_object_get(doc, "method"));
        if (method == NULL || method[0] == '\0') {
            snprintf(err, err_size, "'method' must be a method name or \"*\"");
            goto out;
        }
    }
    count = sim_int_member(doc, "count", 1);
    status = sim_int_member(doc, "status", 200);
    delay_ms = sim_int_member(doc, "delay_ms", 0);
    retry_after = sim_int_member(doc, "retry_after", 1);
    if (count < 1) {
        snprintf(err, err_size, "'count' must be a positive integer");
        goto out;
    }
    if (status < 100 || status > 599) {
        snprintf(err, err_size, "'status' must be an HTTP status (100-599)");
        goto out;
    }
    if (delay_ms < 0 || delay_ms > 600000) {
        snprintf(err, err_size, "'delay_ms' must be an integer from 0 to 600000");
        goto out;
    }
    if (retry_after < 0) {
        snprintf(err, err_size, "'retry_after' must be a non-negative integer");
        goto out;
    }
    if (json_object_get(doc, "body") != NULL && !json_is_null(json_object_get(doc, "body"))) {
        mode = json_string_value(json_object_get(doc, "body"));
        if (mode != NULL && strcmp(mode, "malformed") == 0)
            body_mode = SIM_FAULT_MALFORMED;
        else if (mode != NULL && strcmp(mode, "truncated") == 0)
            body_mode = SIM_FAULT_TRUNCATED;
        else if (mode != NULL && strcmp(mode, "empty") == 0)
            body_mode = SIM_FAULT_EMPTY;
        else if (mode != NULL && strcmp(mode, "echo-auth") == 0)
            body_mode = SIM_FAULT_ECHO_AUTH;
        else {
            snprintf(err, err_size,
                     "'body' must be \"malformed\", \"truncated\", \"empty\" or \"echo-auth\"");
            goto out;
        }
    }
    if (json_object_get(doc, "match") != NULL) {
        match = json_string_value(json_object_get(doc, "match"));
        if (match == NULL || match[0] == '\0') {
            snprintf(err, err_size, "'match' must be a non-empty string");
            goto out;
        }
    }
    fault = calloc(1, sizeof *fault);
    if (fault == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    fault->method = sim_strdup(method);
    fault->path = sim_strdup(path);
    fault->match = match != NULL ? sim_strdup(match) : NULL;
    if (fault->method == NULL || fault->path == NULL || (match != NULL && fault->match == NULL)) {
        sim_fault_free(fault);
        fault = NULL;
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    fault->count = (int)count;
    fault->status = (int)status;
    fault->delay_ms = (int)delay_ms;
    fault->body_mode = body_mode;
    fault->retry_after = (int)retry_after;
out:
    json_decref(doc);
    return fault;
}

/* Takes one use of the oldest fault matching the request, if any: copies it
 * into *taken, counts it as served and drops it once used up.  Returns 1 when
 * a fault applies, else 0. */
static int sim_fault_take(const sim_req *req, sim_fault *taken)
{
    sim_fault **link;

    for (link = &g_sim.faults; *link != NULL; link = &(*link)->next) {
        sim_fault *fault = *link;

        if (strcmp(fault->method, "*") != 0 && strcasecmp(fault->method, req->method) != 0)
            continue;
        if (strncmp(req->path, fault->path, strlen(fault->path)) != 0)
            continue;
        if (fault->match != NULL && strstr(sim_query_string(req), fault->match) == NULL &&
            strstr(req->body, fault->match) == NULL)
            continue;
        *taken = *fault;
        taken->next = NULL;
        taken->method = NULL;
        taken->path = NULL;
        taken->match = NULL;
        g_sim.faults_served++;
        if (--fault->count == 0) {
            *link = fault->next;
            sim_fault_free(fault);
        }
        return 1;
    }
    return 0;
}

/* Drops every pending fault; returns how many there were. */
static int sim_faults_clear(void)
{
    int cleared = 0;

    while (g_sim.faults != NULL) {
        sim_fault *next = g_sim.faults->next;

        sim_fault_free(g_sim.faults);
        g_sim.faults = next;
        cleared++;
    }
    return cleared;
}

/* ---- counters and the write log ---- */

/* Adds one to counter `name` of object `counts`. */
static void sim_count_in(json_t *counts, const char *name)
{
    json_t *count = json_object_get(counts, name);

    if (count != NULL)
        json_integer_set(count, json_integer_value(count) + 1);
    else
        json_object_set_new(counts, name, json_integer(1));
}

/* Counts one API request under its route name and its User-Agent. */
static void sim_count(const sim_req *req)
{
    char route[SIM_ROUTE_MAX];
    const char *agent = sim_header(req, "User-Agent");

    g_sim.requests++;
    if (g_sim.app->route_name != NULL)
        g_sim.app->route_name(g_sim.app->state, req, route, sizeof route);
    else
        snprintf(route, sizeof route, "%s %s", req->method, req->path);
    sim_count_in(g_sim.by_route, route);
    if (g_sim.app->count != NULL)
        g_sim.app->count(g_sim.app->state, req);
    /* Keys must be UTF-8 (json_string checks); any other agent counts as "?". */
    json_t *valid = agent != NULL ? json_string(agent) : NULL;

    sim_count_in(g_sim.by_agent, valid != NULL ? agent : agent != NULL ? "?" : "");
    json_decref(valid);
}

/* Counts one API request under its tenant, when the simulator has tenants
 * and this request's is known.  Called once the request is answered. */
static void sim_count_tenant(void)
{
    char key[32];
    json_int_t id;

    if (g_sim.app->tenant == NULL || !g_sim.app->tenant(g_sim.app->state, &id))
        return;
    snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, id);
    sim_count_in(g_sim.by_tenant, key);
}

/* Appends a request to the write log with the status it was answered. */
static void sim_log_write(const sim_req *req, int status)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    struct timespec now;
    json_t *entry;
    json_int_t id;

    /* at_ms: when it arrived (wall clock, ms), for the latency benchmarks. */
    clock_gettime(CLOCK_REALTIME, &now);
    entry = json_pack("{s:I, s:s, s:s, s:s, s:o, s:i, s:I}", "seq", (json_int_t)++g_sim.seq,
                      "method", req->method, "path", req->path, "query", sim_query_string(req),
                      "body", body != NULL ? body : json_null(), "status", status, "at_ms",
                      (json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    if (entry != NULL && g_sim.app->tenant_name != NULL)
        json_object_set_new(entry, g_sim.app->tenant_name,
                            g_sim.app->tenant != NULL && g_sim.app->tenant(g_sim.app->state, &id)
                                ? json_integer(id)
                                : json_null());
    json_array_append_new(g_sim.writes, entry);
}

/* Zeroes the counters, the write log and the rate-limit windows. */
static void sim_reset_counters(void)
{
    g_sim.requests = 0;
    g_sim.rate_limited = 0;
    g_sim.faults_served = 0;
    g_sim.seq = 0;
    json_object_clear(g_sim.by_route);
    json_object_clear(g_sim.by_agent);
    json_object_clear(g_sim.by_tenant);
    memset(g_sim.chaos.served, 0, sizeof g_sim.chaos.served);
    if (g_sim.app->reset_counters != NULL)
        g_sim.app->reset_counters(g_sim.app->state);
    json_array_clear(g_sim.writes);
    sim_buckets_clear();
}

/* ---- answering ---- */

/* Whether a method only reads (its requests are never logged as writes). */
static int sim_is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Turns the handler's response into the bytes to send, applying the body
 * mode of a fault.  Takes the body of resp. */
static void sim_answer_set(sim_answer *answer, sim_resp *resp, int body_mode)
{
    answer->status = resp->status != 0 ? resp->status : 200;
    answer->rate_remaining = -1;
    answer->content_type = resp->content_type != NULL ? resp->content_type : SIM_DEFAULT_CT;
    answer->retry_after = resp->retry_after;
    answer->text = NULL;
    answer->len = 0;
    answer->location = resp->location;
    resp->location = NULL;
    if (resp->body != NULL) {
        answer->text = json_dumps(resp->body, SIM_DUMP_FLAGS | JSON_ENCODE_ANY);
        answer->len = answer->text != NULL ? strlen(answer->text) : 0;
        json_decref(resp->body);
        resp->body = NULL;
    }
    if (resp->text != NULL) {
        if (answer->text == NULL) {
            answer->text = resp->text;
            answer->len = strlen(answer->text);
        } else {
            free(resp->text);
        }
        resp->text = NULL;
    }
    if (body_mode == SIM_FAULT_MALFORMED) {
        free(answer->text);
        answer->text = sim_strdup(SIM_MALFORMED);
        answer->len = answer->text != NULL ? strlen(answer->text) : 0;
    } else if (body_mode == SIM_FAULT_TRUNCATED) {
        answer->len /= 2;
    } else if (body_mode == SIM_FAULT_EMPTY) {
        answer->len = 0;
    }
}

/* The next random number in [0, 1) of the chaos generator (lock held). */
static double sim_chaos_draw(void)
{
    return (double)rand_r(&g_sim.chaos.seed) / ((double)RAND_MAX + 1.0);
}

/* Draws the chaos fault of one API request, if any, into *fault (status 200 =
 * effect applied).  Returns 1 when the request misbehaves.  Lock held. */
static int sim_chaos_take(sim_fault *fault)
{
    sim_chaos *c = &g_sim.chaos;
    double r;

    if (!c->on)
        return 0;
    r = sim_chaos_draw();
    memset(fault, 0, sizeof *fault);
    fault->status = 200;
    if (r < c->error) {
        fault->status = 500;
        c->served[0]++;
    } else if ((r -= c->error) < c->limited) {
        fault->status = 429;
        fault->retry_after = 1;
        c->served[1]++;
    } else if ((r -= c->limited) < c->timeout) {
        fault->delay_ms = c->timeout_ms;
        c->served[2]++;
    } else if ((r -= c->timeout) < c->malformed) {
        fault->body_mode = SIM_FAULT_MALFORMED;
        c->served[3]++;
    } else {
        return 0;
    }
    return 1;
}

/* POST /_sim/chaos {"seed", "error", "rate_limited", "timeout", "timeout_ms",
 * "malformed"}: random faults on every API request from now on. */
static void sim_chaos_set(const sim_req *req, sim_resp *resp)
{
    json_error_t jerr;
    json_t *doc = json_loadb(req->body, req->body_len, 0, &jerr);
    sim_chaos c = {.on = 1, .timeout_ms = 3000};
    static const char *const names[] = {"error", "rate_limited", "timeout", "malformed"};
    double *probs[] = {&c.error, &c.limited, &c.timeout, &c.malformed};
    double sum = 0;

    if (!json_is_object(doc)) {
        sim_resp_error(resp, 400, "Bad Request", "chaos must be a JSON object");
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(doc, names[i]);

        if (v != NULL && (!json_is_number(v) || json_number_value(v) < 0)) {
            sim_resp_error(resp, 400, "Bad Request", "probabilities must be numbers >= 0");
            goto out;
        }
        *probs[i] = v != NULL ? json_number_value(v) : 0;
        sum += *probs[i];
    }
    if (sum > 1) {
        sim_resp_error(resp, 400, "Bad Request", "probabilities must add up to at most 1");
        goto out;
    }
    c.seed = (unsigned int)sim_int_member(doc, "seed", 1);
    c.timeout_ms = (int)sim_int_member(doc, "timeout_ms", 3000);
    if (c.timeout_ms < 0 || c.timeout_ms > 600000) {
        sim_resp_error(resp, 400, "Bad Request", "'timeout_ms' must be from 0 to 600000");
        goto out;
    }
    g_sim.chaos = c;
    sim_resp_json(resp, 201, json_incref(doc));
out:
    json_decref(doc);
}

/* Answers an API request (anything not under /_sim/): counts it, checks the
 * credentials and the rate limit, applies a pending fault, runs the
 * simulator's handler and logs writes.  Called with the lock held. */
static void sim_answer_api(const sim_req *req, int too_large, sim_answer *answer)
{
    sim_app *app = g_sim.app;
    sim_resp resp = {0};
    sim_fault fault;
    char key[SIM_KEY_MAX] = "";
    char detail[8192];
    int retry_after = 0;
    int body_mode = SIM_FAULT_PLAIN;

    answer->delay_ms = 0;
    sim_rate_remaining = -1;
    sim_count(req);
    if (too_large) {
        sim_resp_error(&resp, 413, "Payload Too Large", "request body too large");
    } else if (app->auth != NULL && app->auth(app->state, req, key, sizeof key, &resp) != 0) {
        if (resp.status == 0)
            sim_resp_error(&resp, 401, "Unauthorized", "authentication failed");
    } else if (sim_rate_check(key, &retry_after) != 0) {
        g_sim.rate_limited++;
        snprintf(detail, sizeof detail, "rate limit of %d requests per minute exceeded",
                 app->rate_limit);
        sim_resp_error(&resp, 429, "Too Many Requests", detail);
        resp.retry_after = retry_after;
    } else if (sim_fault_take(req, &fault) || sim_chaos_take(&fault)) {
        answer->delay_ms = fault.delay_ms;
        body_mode = fault.body_mode == SIM_FAULT_ECHO_AUTH ? SIM_FAULT_PLAIN : fault.body_mode;
        if (fault.status != 200) {
            /* The request's effect is not applied: the handler never runs. */
            const char *auth = sim_header(req, "Authorization");

            if (fault.body_mode == SIM_FAULT_ECHO_AUTH)
                snprintf(detail, sizeof detail, "injected fault (status %d) for %s", fault.status,
                         auth != NULL ? auth : "(no Authorization header)");
            else
                snprintf(detail, sizeof detail, "injected fault (status %d)", fault.status);
            sim_resp_error(&resp, fault.status, "Injected Fault", detail);
            if (fault.status == 429 && fault.retry_after > 0)
                resp.retry_after = fault.retry_after;
            if (!sim_is_read(req->method))
                resp.is_write = 1;
        } else {
            app->handle(app->state, req, &resp);
        }
        if (resp.is_write)
            sim_log_write(req, resp.status != 0 ? resp.status : 200);
    } else {
        app->handle(app->state, req, &resp);
        if (resp.is_write)
            sim_log_write(req, resp.status != 0 ? resp.status : 200);
    }
    if (!too_large)
        sim_count_tenant();
    sim_answer_set(answer, &resp, body_mode);
    answer->rate_remaining = sim_rate_remaining;
}

/* GET /_sim/writes[?since=SEQ]: the write log entries after SEQ. */
static void sim_answer_writes(const sim_req *req, sim_resp *resp)
{
    const char *since_text = sim_query(req, "since");
    long long since = 0;
    json_t *list;
    json_t *entry;
    size_t i;

    if (since_text != NULL) {
        char *end;

        since = strtoll(since_text, &end, 10);
        if (since_text[0] == '\0' || *end != '\0' || since < 0) {
            sim_resp_error(resp, 400, "Bad Request", "'since' must be a non-negative integer");
            return;
        }
    }
    list = json_array();
    json_array_foreach(g_sim.writes, i, entry)
    {
        if (json_integer_value(json_object_get(entry, "seq")) > since)
            json_array_append(list, entry);
    }
    sim_resp_json(resp, 200, list);
}

/* Answers the framework's own endpoints under /_sim/ and hands the rest to
 * the simulator's handle_test.  Called with the lock held. */
static void sim_answer_test(const sim_req *req, int too_large, sim_answer *answer)
{
    sim_app *app = g_sim.app;
    sim_resp resp = {0};
    const char *path = req->path;
    const char *method = req->method;

    answer->delay_ms = 0;
    if (too_large) {
        sim_resp_error(&resp, 413, "Payload Too Large", "request body too large");
    } else if (strcmp(path, "/_sim/fault") == 0 && strcmp(method, "POST") == 0) {
        char err[160];
        sim_fault *fault = sim_fault_parse(req->body, req->body_len, err, sizeof err);

        if (fault == NULL) {
            sim_resp_error(&resp, 400, "Bad Request", err);
        } else {
            sim_fault **link = &g_sim.faults;

            while (*link != NULL)
                link = &(*link)->next;
            *link = fault;
            sim_resp_json(&resp, 201, sim_fault_json(fault));
        }
    } else if (strcmp(path, "/_sim/fault") == 0 && strcmp(method, "DELETE") == 0) {
        sim_resp_json(&resp, 200, json_pack("{s:i}", "cleared", sim_faults_clear()));
    } else if (strcmp(path, "/_sim/fault") == 0 && strcmp(method, "GET") == 0) {
        json_t *list = json_array();
        sim_fault *fault;

        for (fault = g_sim.faults; fault != NULL; fault = fault->next)
            json_array_append_new(list, sim_fault_json(fault));
        sim_resp_json(&resp, 200, list);
    } else if (strcmp(path, "/_sim/stats") == 0 && strcmp(method, "GET") == 0) {
        json_t *stats = json_pack(
            "{s:I, s:I, s:I, s:O, s:O, s:{s:I, s:I, s:I, s:I}}", "requests", g_sim.requests,
            "rate_limited", g_sim.rate_limited, "faults_served", g_sim.faults_served, "by_route",
            g_sim.by_route, "by_agent", g_sim.by_agent, "chaos", "error", g_sim.chaos.served[0],
            "rate_limited", g_sim.chaos.served[1], "timeout", g_sim.chaos.served[2], "malformed",
            g_sim.chaos.served[3]);

        if (stats != NULL && app->tenant_name != NULL) {
            char name[64];

            snprintf(name, sizeof name, "by_%s", app->tenant_name);
            json_object_set(stats, name, g_sim.by_tenant);
        }
        if (stats != NULL && app->stats != NULL)
            app->stats(app->state, stats);
        sim_resp_json(&resp, 200, stats);
    } else if (strcmp(path, "/_sim/writes") == 0 && strcmp(method, "GET") == 0) {
        sim_answer_writes(req, &resp);
    } else if (strcmp(path, "/_sim/chaos") == 0 && strcmp(method, "POST") == 0) {
        sim_chaos_set(req, &resp);
    } else if (strcmp(path, "/_sim/chaos") == 0 && strcmp(method, "DELETE") == 0) {
        g_sim.chaos.on = 0;
        sim_resp_json(&resp, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(path, "/_sim/reset-counters") == 0 && strcmp(method, "POST") == 0) {
        sim_reset_counters();
        sim_resp_json(&resp, 200, json_pack("{s:b}", "ok", 1));
    } else if (app->handle_test != NULL) {
        app->handle_test(app->state, req, &resp);
    } else {
        sim_resp_error(&resp, 404, "Not Found", "no such test endpoint");
    }
    sim_answer_set(answer, &resp, SIM_FAULT_PLAIN);
}

/* Sends the answer on the connection.  Takes answer->text. */
static MHD_Result_t sim_send(struct MHD_Connection *mhd, sim_answer *answer)
{
    struct MHD_Response *response;
    MHD_Result_t result;
    char retry[16];

    response = MHD_create_response_from_buffer(
        answer->len, answer->text != NULL ? answer->text : "", MHD_RESPMEM_MUST_COPY);
    free(answer->text);
    answer->text = NULL;
    if (response != NULL && answer->location != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, answer->location);
    free(answer->location);
    answer->location = NULL;
    if (response == NULL)
        return MHD_NO;
    if (answer->rate_remaining >= 0) {
        char limit[24];

        snprintf(limit, sizeof limit, "%d", g_sim.app->rate_limit);
        MHD_add_response_header(response, "X-RateLimit-Limit", limit);
        snprintf(limit, sizeof limit, "%d", answer->rate_remaining);
        MHD_add_response_header(response, "X-RateLimit-Remaining", limit);
    }
    if (answer->len > 0 || answer->status != 204)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, answer->content_type);
    if (answer->retry_after > 0) {
        snprintf(retry, sizeof retry, "%d", answer->retry_after);
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if (answer->date != 0) {
        /* A fixed simulator clock: the Date header follows it (IMF-fixdate),
         * and libmicrohttpd then leaves out its own. */
        char date[64];
        struct tm tm;

        gmtime_r(&answer->date, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        MHD_add_response_header(response, MHD_HTTP_HEADER_DATE, date);
    }
    result = MHD_queue_response(mhd, (unsigned int)answer->status, response);
    MHD_destroy_response(response);
    return result;
}

/* ---- libmicrohttpd callbacks ---- */

/* A new request context; the raw URI is copied when given. */
static sim_conn *sim_conn_new(const char *uri)
{
    sim_conn *conn = calloc(1, sizeof *conn);

    if (conn == NULL)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &conn->start);
    if (uri != NULL)
        conn->uri = sim_strdup(uri);
    return conn;
}

/* MHD_OPTION_URI_LOG_CALLBACK: creates the request context while the raw URI
 * (with its query string) is still at hand. */
static void *sim_on_uri(void *cls, const char *uri, struct MHD_Connection *mhd)
{
    (void)cls;
    (void)mhd;
    return sim_conn_new(uri);
}

/* MHD_OPTION_NOTIFY_COMPLETED: frees the request context. */
static void sim_on_completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    sim_conn *conn = *con_cls;

    (void)cls;
    (void)mhd;
    (void)toe;
    if (conn == NULL)
        return;
    free(conn->uri);
    free(conn->body);
    free(conn);
    *con_cls = NULL;
}

/* Appends a chunk of request body, keeping the buffer NUL-terminated.  Past
 * SIM_BODY_MAX (or out of memory) the body is dropped and marked too large. */
static void sim_conn_append(sim_conn *conn, const char *data, size_t size)
{
    size_t need;

    if (conn->too_large)
        return;
    if (size > SIM_BODY_MAX - conn->body_len) {
        conn->too_large = 1;
        free(conn->body);
        conn->body = NULL;
        conn->body_len = 0;
        conn->body_cap = 0;
        return;
    }
    need = conn->body_len + size + 1;
    if (need > conn->body_cap) {
        size_t cap = conn->body_cap != 0 ? conn->body_cap : 4096;
        char *grown;

        while (cap < need)
            cap *= 2;
        grown = realloc(conn->body, cap);
        if (grown == NULL) {
            conn->too_large = 1;
            free(conn->body);
            conn->body = NULL;
            conn->body_len = 0;
            conn->body_cap = 0;
            return;
        }
        conn->body = grown;
        conn->body_cap = cap;
    }
    memcpy(conn->body + conn->body_len, data, size);
    conn->body_len += size;
    conn->body[conn->body_len] = '\0';
}

/* The access handler: collects the body, then answers the request once it is
 * complete (the final call has *upload_data_size == 0). */
static MHD_Result_t sim_on_request(void *cls, struct MHD_Connection *mhd, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    sim_conn *conn = *con_cls;
    sim_answer answer = {.rate_remaining = -1};
    sim_req req;
    struct timespec end;
    MHD_Result_t result;

    (void)cls;
    (void)version;
    if (conn == NULL) {
        conn = sim_conn_new(NULL);
        if (conn == NULL)
            return MHD_NO;
        *con_cls = conn;
    }
    if (!conn->started) {
        conn->started = 1;
        conn->mhd = mhd;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        sim_conn_append(conn, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    req.method = method;
    req.path = url;
    req.body = conn->body != NULL ? conn->body : "";
    req.body_len = conn->body_len;
    req.authorization = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, "Authorization");
    req.conn_ = conn;

    pthread_mutex_lock(&g_sim.lock);
    if (strncmp(url, "/_sim/", 6) == 0 || strcmp(url, "/_sim") == 0)
        sim_answer_test(&req, conn->too_large, &answer);
    else
        sim_answer_api(&req, conn->too_large, &answer);
    answer.date = g_sim_clock != NULL ? g_sim_clock(g_sim.app->state) : 0;
    pthread_mutex_unlock(&g_sim.lock);

    if (answer.delay_ms > 0)
        sim_sleep_ms(answer.delay_ms);
    result = sim_send(mhd, &answer);
    clock_gettime(CLOCK_MONOTONIC, &end);
    fprintf(stderr, "%s: %s %s -> %d (%ld ms)\n", g_sim.app->name, method,
            conn->uri != NULL ? conn->uri : url, answer.status, sim_ms_between(&conn->start, &end));
    return result;
}

/* ---- serving ---- */

int sim_serve(sim_app *app, int port)
{
    struct MHD_Daemon *daemon;
    const union MHD_DaemonInfo *info;
    struct sockaddr_in addr;
    sigset_t signals;
    int signal_number = 0;
    int status = 0;

    g_sim.app = app;
    if (g_sim.content_type == NULL)
        g_sim.content_type = SIM_DEFAULT_CT;
    g_sim.writes = json_array();
    g_sim.by_route = json_object();
    g_sim.by_agent = json_object();
    g_sim.by_tenant = json_object();
    if (g_sim.writes == NULL || g_sim.by_route == NULL || g_sim.by_agent == NULL ||
        g_sim.by_tenant == NULL) {
        fprintf(stderr, "%s: out of memory\n", app->name);
        return 1;
    }
    if (port < 0 || port > 65535) {
        fprintf(stderr, "%s: bad port %d\n", app->name, port);
        return 2;
    }

    /* Block the stop signals before MHD starts its threads (they inherit the
     * mask), so only sigwait below sees them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, sim_on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_URI_LOG_CALLBACK, sim_on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, sim_on_completed, NULL, MHD_OPTION_END);
    if (daemon == NULL) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d\n", app->name, port);
        status = 1;
        goto out;
    }
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        fprintf(stderr, "%s: cannot read the bound port\n", app->name);
        MHD_stop_daemon(daemon);
        status = 1;
        goto out;
    }
    printf("PORT=%u\n", (unsigned int)info->port);
    fflush(stdout);
    fprintf(stderr, "%s: listening on 127.0.0.1:%u\n", app->name, (unsigned int)info->port);

    while (sigwait(&signals, &signal_number) != 0) {
    }
    fprintf(stderr, "%s: signal %d, stopping\n", app->name, signal_number);
    MHD_stop_daemon(daemon);

out:
    pthread_mutex_lock(&g_sim.lock);
    sim_faults_clear();
    sim_buckets_clear();
    json_decref(g_sim.writes);
    json_decref(g_sim.by_route);
    json_decref(g_sim.by_agent);
    json_decref(g_sim.by_tenant);
    g_sim.writes = NULL;
    g_sim.by_route = NULL;
    g_sim.by_agent = NULL;
    g_sim.by_tenant = NULL;
    pthread_mutex_unlock(&g_sim.lock);
    return status;
}
