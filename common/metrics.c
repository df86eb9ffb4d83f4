/* The metrics registry and its HTTP endpoints (see metrics.h). */
#include "metrics.h"
#include "log.h"
#include "stop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* libmicrohttpd 0.9.71 turned the callbacks' int results into enum MHD_Result. */
#if MHD_VERSION < 0x00097002
typedef int mt_mhd_result;
#else
typedef enum MHD_Result mt_mhd_result;
#endif

typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } mt_kind;

#define MT_MAX_BUCKETS 16
#define MT_LABELS_MAX  512

/* Every metric mosync exports: the one place for names, kinds and help. */
typedef struct mt_def {
    const char *name;
    mt_kind kind;
    const char *help;
    double buckets[MT_MAX_BUCKETS]; /* histograms: upper bounds, ascending, 0-terminated */
} mt_def;

static const mt_def mt_defs[] = {
    {"mosync_events_produced_total",
     MT_COUNTER,
     "Events a poller produced and Kafka acknowledged, by stream.",
     {0}},
    {"mosync_poll_cycles_total",
     MT_COUNTER,
     "Poll cycles, by stream and result (ok, failed).",
     {0}},
    {"mosync_poll_cycle_seconds",
     MT_HISTOGRAM,
     "Duration of one poll cycle, by stream.",
     {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800}},
    {"mosync_messages_total",
     MT_COUNTER,
     "Messages a consumer finished, by flow and outcome (applied, unchanged, refused, stale, "
     "skipped, waiting, dead_lettered).",
     {0}},
    {"mosync_message_retries_total",
     MT_COUNTER,
     "Transient failures of a message that will be tried again, by flow.",
     {0}},
    {"mosync_apply_latency_seconds",
     MT_HISTOGRAM,
     "From an event's observed_at (the poller saw the change) to its effect applied, by flow.",
     {0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600}},
    {"mosync_dead_letters_total",
     MT_COUNTER,
     "Dead letters sent, by component and error class.",
     {0}},
    {"mosync_api_requests_total",
     MT_COUNTER,
     "HTTP requests to an API, by api, method and status class (2xx, 3xx, 4xx, 5xx, or none "
     "when no answer came).",
     {0}},
    {"mosync_retry_after_capped_total",
     MT_COUNTER,
     "Answers whose Retry-After asked for a longer wait than RETRY_AFTER_MAX_S (waited only "
     "that long), by api.",
     {0}},
    {"mosync_rate_limit_waits_total",
     MT_COUNTER,
     "Requests that waited for the shared API budget, by api.",
     {0}},
    {"mosync_rate_limit_wait_seconds_total",
     MT_COUNTER,
     "Time spent waiting for the shared API budget, by api.",
     {0}},
    {"mosync_consumer_lag",
     MT_GAUGE,
     "Messages behind the end of a partition, per consumer group, topic and partition.",
     {0}},
    {"mosync_api_budget_per_minute",
     MT_GAUGE,
     "The request budget per minute this process shares with the tenant's others, by api "
     "(MYSTORE_RATE_LIMIT_PER_MIN).",
     {0}},
    {"mosync_lease_held", MT_GAUGE, "1 while this process holds a poller's lease, by stream.", {0}},
    {"mosync_credential_refused",
     MT_GAUGE,
     "1 while an API refuses this process's credential (HTTP 401/403; its flows wait), 0 once "
     "it accepts it again, by api.",
     {0}},
    {"mosync_tenant_needs_reconnect",
     MT_GAUGE,
     "1 while the tenant's Mystore refresh token is refused (OAuth: a new MYSTORE_REFRESH_TOKEN "
     "is needed; its Mystore flows wait), 0 while its tokens refresh.",
     {0}},
    {"mosync_oauth_refreshes_total",
     MT_COUNTER,
     "Refreshes of the Mystore access token this process made, by outcome (ok, refused, "
     "failed).",
     {0}},
    {"mosync_last_success_timestamp_seconds",
     MT_GAUGE,
     "When a flow last finished a message (applied, unchanged, refused, stale or skipped) or a "
     "poller a cycle, in seconds since the epoch, by flow or stream.",
     {0}},
    {"mosync_last_error_timestamp_seconds",
     MT_GAUGE,
     "When a flow last failed a message (a retry or a dead letter) or a poller a cycle, in "
     "seconds since the epoch, by flow or stream.",
     {0}},
    {"mosync_poll_tenants",
     MT_GAUGE,
     "Registry tenants a `poll --all-tenants` process knows, by stream and state (active, "
     "paused, needs-reconnect, connecting, broken: a record it cannot read).",
     {0}},
    {"mosync_poll_cycles_late_total",
     MT_COUNTER,
     "Cycles of `poll --all-tenants` that started more than a tenth of their interval after "
     "they were due, by stream.",
     {0}},
    {"mosync_poll_cycles_in_flight",
     MT_GAUGE,
     "Tenant cycles a `poll --all-tenants` process runs now (at most POLL_WORKERS), by stream.",
     {0}},
    {"mosync_poll_cycles_skipped_total",
     MT_COUNTER,
     "Due tenant cycles `poll --all-tenants` did not run, by stream and reason (leased: another "
     "process holds the lease; polled: another process polled it less than an interval ago; "
     "config: its settings do not load; off: its stream is off, STOCK_SYNC).",
     {0}},
    {"mosync_webhooks_total",
     MT_COUNTER,
     "Webhooks received by mosync webhooks, by source (mystore, ongoing, other) and result "
     "(triggered, ignored, unauthorized, unknown_tenant, unknown_route, unconfigured, "
     "too_large, method_not_allowed, unavailable).",
     {0}},
    {"mosync_info",
     MT_GAUGE,
     "Always 1; the labels tell the version, the command and the User-Agent this process "
     "sends.",
     {0}},
};
#define MT_NDEFS (sizeof(mt_defs) / sizeof(mt_defs[0]))

typedef struct mt_series {
    char labels[MT_LABELS_MAX];
    double value; /* counters and gauges; histograms: the sum */
    unsigned long long count;
    unsigned long long buckets[MT_MAX_BUCKETS];
} mt_series;

typedef struct mt_metric {
    mt_series *series;
    size_t n, cap;
} mt_metric;

static pthread_mutex_t mt_lock = PTHREAD_MUTEX_INITIALIZER;
static mt_metric mt_metrics[MT_NDEFS];
static unsigned long mt_misuses;

unsigned long mt_misuse(void)
{
    pthread_mutex_lock(&mt_lock);
    unsigned long n = mt_misuses;
    pthread_mutex_unlock(&mt_lock);
    return n;
}

static int mt_def_index(const char *name)
{
    for (size_t i = 0; i < MT_NDEFS; i++)
        if (!strcmp(mt_defs[i].name, name))
            return (int)i;
    return -1;
}

/* Appends `name="value"` (value escaped as the text format wants) to buf;
 * returns -1 when it does not fit. */
static int mt_label_add(char *buf, size_t size, size_t *used, const char *name, const char *value)
{
    int n = snprintf(buf + *used, size - *used, "%s%s=\"", *used ? "," : "", name);
    if (n < 0 || (size_t)n >= size - *used)
        return -1;
    *used += (size_t)n;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t len = esc ? strlen(esc) : 1;
        if (*used + len + 2 > size)
            return -1;
        memcpy(buf + *used, esc ? esc : p, len);
        *used += len;
    }
    buf[(*used)++] = '"';
    buf[*used] = '\0';
    return 0;
}

static atomic_int mt_tenant_label = 1;

void mt_set_tenant_label(int on)
{
    atomic_store(&mt_tenant_label, on ? 1 : 0);
}

/* The label text of a NULL-terminated name, value list. */
static int mt_labels(char *buf, size_t size, va_list ap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (;;) {
        const char *name = va_arg(ap, const char *);
        if (!name)
            return 0;
        const char *value = va_arg(ap, const char *);
        if (!strcmp(name, "tenant") && !atomic_load(&mt_tenant_label))
            value = MT_ANY_TENANT;
        if (mt_label_add(buf, size, &used, name, value ? value : "") < 0)
            return -1;
    }
}

/* The series of metric i with these labels, made when absent (lock held). */
static mt_series *mt_series_get(int i, const char *labels, int create)
{
    mt_metric *m = &mt_metrics[i];
    for (size_t k = 0; k < m->n; k++)
        if (!strcmp(m->series[k].labels, labels))
            return &m->series[k];
    if (!create || m->n >= MT_SERIES_MAX)
        return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        mt_series *s = realloc(m->series, cap * sizeof(*s));
        if (!s)
            return NULL;
        m->series = s;
        m->cap = cap;
    }
    mt_series *s = &m->series[m->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->labels, sizeof(s->labels), "%s", labels);
    return s;
}

/* The common part of every update: finds the metric and series (lock held). */
static mt_series *mt_find(const char *name, mt_kind kind, va_list ap, int *def)
{
    char labels[MT_LABELS_MAX];
    *def = mt_def_index(name);
    if (*def < 0 || mt_defs[*def].kind != kind || mt_labels(labels, sizeof(labels), ap) < 0) {
        mt_misuses++;
        return NULL;
    }
    mt_series *s = mt_series_get(*def, labels, 1);
    if (!s) /* past MT_SERIES_MAX, or out of memory */
        mt_misuses++;
    return s;
}

void mt_add(const char *name, double v, ...)
{
    va_list ap;
    int def;
    va_start(ap, v);
    pthread_mutex_lock(&mt_lock);
    mt_series *s = mt_find(name, MT_COUNTER, ap, &def);
    if (s && v >= 0)
        s->value += v;
    else if (s)
        mt_misuses++;
    pthread_mutex_unlock(&mt_lock);
    va_end(ap);
}

void mt_set(const char *name, double v, ...)
{
    va_list ap;
    int def;
    va_start(ap, v);
    pthread_mutex_lock(&mt_lock);
    mt_series *s = mt_find(name, MT_GAUGE, ap, &def);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&mt_lock);
    va_end(ap);
}

void mt_observe(const char *name, double v, ...)
{
    va_list ap;
    int def;
    va_start(ap, v);
    pthread_mutex_lock(&mt_lock);
    mt_series *s = mt_find(name, MT_HISTOGRAM, ap, &def);
    if (s) {
        s->value += v;
        s->count++;
        for (int b = 0; b < MT_MAX_BUCKETS && mt_defs[def].buckets[b] > 0; b++)
            if (v <= mt_defs[def].buckets[b])
                s->buckets[b]++;
    }
    pthread_mutex_unlock(&mt_lock);
    va_end(ap);
}

void mt_remove(const char *name, ...)
{
    char labels[MT_LABELS_MAX];
    va_list ap;
    int i = mt_def_index(name);
    va_start(ap, name);
    int ok = mt_labels(labels, sizeof(labels), ap) == 0;
    va_end(ap);
    pthread_mutex_lock(&mt_lock);
    if (i < 0 || !ok || mt_defs[i].kind != MT_GAUGE) {
        mt_misuses++;
    } else {
        mt_metric *m = &mt_metrics[i];
        mt_series *s = mt_series_get(i, labels, 0);
        /* Order does not matter to the text format: the last one fills the gap. */
        if (s)
            *s = m->series[--m->n];
    }
    pthread_mutex_unlock(&mt_lock);
}

double mt_value(const char *name, ...)
{
    char labels[MT_LABELS_MAX];
    va_list ap;
    double v = 0;
    int i = mt_def_index(name);
    va_start(ap, name);
    int ok = mt_labels(labels, sizeof(labels), ap) == 0;
    va_end(ap);
    if (i < 0 || !ok)
        return 0;
    pthread_mutex_lock(&mt_lock);
    mt_series *s = mt_series_get(i, labels, 0);
    if (s)
        v = mt_defs[i].kind == MT_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&mt_lock);
    return v;
}

/* ---- rendering ----------------------------------------------------------- */

typedef struct mt_buf {
    char *p;
    size_t len, cap;
    int failed;
} mt_buf;

static void mt_printf(mt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mt_printf(mt_buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A sample line: name{labels[,extra]} value. */
static void mt_sample(mt_buf *b, const char *name, const char *suffix, const char *labels,
                      const char *extra, double v)
{
    const char *sep = *labels && extra ? "," : "";
    if (*labels || extra)
        mt_printf(b, "%s%s{%s%s%s} %.17g\n", name, suffix, labels, sep, extra ? extra : "", v);
    else
        mt_printf(b, "%s%s %.17g\n", name, suffix, v);
}

char *mt_render(void)
{
    mt_buf b = {.p = malloc(4096), .cap = 4096};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&mt_lock);
    for (size_t i = 0; i < MT_NDEFS; i++) {
        const mt_def *d = &mt_defs[i];
        const mt_metric *m = &mt_metrics[i];
        if (!m->n)
            continue;
        mt_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
                  d->kind == MT_COUNTER ? "counter"
                  : d->kind == MT_GAUGE ? "gauge"
                                        : "histogram");
        for (size_t k = 0; k < m->n; k++) {
            const mt_series *s = &m->series[k];
            if (d->kind != MT_HISTOGRAM) {
                mt_sample(&b, d->name, "", s->labels, NULL, s->value);
                continue;
            }
            for (int j = 0; j < MT_MAX_BUCKETS && d->buckets[j] > 0; j++) {
                char le[48];
                snprintf(le, sizeof(le), "le=\"%g\"", d->buckets[j]);
                mt_sample(&b, d->name, "_bucket", s->labels, le, (double)s->buckets[j]);
            }
            mt_sample(&b, d->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
            mt_sample(&b, d->name, "_sum", s->labels, NULL, s->value);
            mt_sample(&b, d->name, "_count", s->labels, NULL, (double)s->count);
        }
    }
    pthread_mutex_unlock(&mt_lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the HTTP server ------------------------------------------------------
 *
 * One libmicrohttpd polling thread (epoll) serves every connection, so a
 * client that opens many costs descriptors up to the limits below, never a
 * thread each.  Two helper threads never touch a socket's data: the prober
 * runs the readiness check (seconds when an API is slow) while the /readyz
 * requests that wait for it are suspended, so /healthz and /metrics are
 * never queued behind it; the reaper closes a connection whose request has
 * not arrived within MT_REQUEST_MS of its start, however slowly it trickles
 * in (libmicrohttpd's own timeout restarts on every byte). */

#define MT_READY_CACHE_MS 5000
#define MT_REAP_EVERY_MS  250

/* One TCP connection, for the reaper (socket_context of libmicrohttpd). */
typedef struct mt_conn {
    struct mt_conn *prev, *next;
    int fd;
    long long deadline_ms; /* monotonic: shut down when passed */
    int cut;               /* shut down already */
} mt_conn;

struct mt_server {
    struct MHD_Daemon *mhd;
    int port;
    mt_ready_fn ready;
    void *ctx;
    pthread_t prober, reaper;
    int prober_started, reaper_started;

    /* The readiness cache, the requests waiting for a probe, and the stop
     * flag: all under lock. */
    pthread_mutex_t lock;
    pthread_cond_t probe_cv; /* a probe is wanted, or stopping */
    pthread_cond_t reap_cv;  /* stopping */
    int stopping;
    int probe_wanted, probing;
    long long ready_at_ms; /* 0: never probed */
    int ready_ok;
    char ready_why[1024];
    struct MHD_Connection *waiting[MT_CONN_MAX]; /* suspended /readyz requests */
    size_t n_waiting;

    /* Open connections, under conn_lock (never held with lock). */
    pthread_mutex_t conn_lock;
    mt_conn *conns;

    mt_route *routes; /* the caller's, copied */
    size_t n_routes;
};

/* One request of a route while its body arrives (*con_cls of libmicrohttpd). */
typedef struct mt_upload {
    const mt_route *route;
    char *body;
    size_t len, cap; /* len: also the bytes dropped once too_large */
    int too_large;
    int answered; /* too large by Content-Length: answered before the body */
} mt_upload;

/* A body over its route's cap is read and dropped up to this, then the
 * connection is cut. */
#define MT_DISCARD_MAX (16u * 1024 * 1024)

static mt_mhd_result mt_reply(struct MHD_Connection *conn, unsigned int status,
                              const char *content_type, char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    mt_mhd_result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static char *mt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Moves the deadline of the connection that carries conn (libmicrohttpd
 * threads only). */
static void mt_conn_deadline(mt_server *srv, struct MHD_Connection *conn, long ms)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    mt_conn *c = info ? info->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&srv->conn_lock);
    c->deadline_ms = mo_now_ms() + ms;
    pthread_mutex_unlock(&srv->conn_lock);
}

/* MHD_OPTION_NOTIFY_CONNECTION: tracks every connection for the reaper.  The
 * node leaves the list here, before libmicrohttpd closes the descriptor, so
 * the reaper (which shuts descriptors down under conn_lock) can never touch
 * a descriptor that was closed and reused. */
static void mt_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode toe)
{
    mt_server *srv = cls;
    mt_conn *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = calloc(1, sizeof(*c));
        if (!c || !info) { /* untracked: the idle timeout still applies */
            free(c);
            return;
        }
        c->fd = info->connect_fd;
        c->deadline_ms = mo_now_ms() + MT_REQUEST_MS;
        pthread_mutex_lock(&srv->conn_lock);
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        pthread_mutex_unlock(&srv->conn_lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    pthread_mutex_lock(&srv->conn_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&srv->conn_lock);
    free(c);
    *socket_context = NULL;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a kept-alive connection has MT_REQUEST_MS for
 * its next request, as a new one has. */
static void mt_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    /* A route's request state (a /readyz request marks itself with srv). */
    if (*con_cls && *con_cls != cls) {
        mt_upload *up = *con_cls;
        free(up->body);
        free(up);
        *con_cls = NULL;
    }
    mt_conn_deadline(cls, conn, MT_REQUEST_MS);
}

/* The reaper thread: shuts down each connection past its deadline
 * (libmicrohttpd then sees the end of the stream and closes it). */
static void *mt_reaper(void *arg)
{
    mt_server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping) {
        struct timespec until = mo_timespec_after(CLOCK_REALTIME, MT_REAP_EVERY_MS);
        pthread_cond_timedwait(&srv->reap_cv, &srv->lock, &until);
        pthread_mutex_unlock(&srv->lock);
        long long now = mo_now_ms();
        pthread_mutex_lock(&srv->conn_lock);
        for (mt_conn *c = srv->conns; c; c = c->next) {
            if (!c->cut && now > c->deadline_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = 1;
            }
        }
        pthread_mutex_unlock(&srv->conn_lock);
        pthread_mutex_lock(&srv->lock);
    }
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* The prober thread: runs the readiness check when a /readyz request found
 * the cache stale, then resumes every request that waited for it. */
static void *mt_prober(void *arg)
{
    mt_server *srv = arg;
    char why[sizeof(srv->ready_why)];
    pthread_mutex_lock(&srv->lock);
    for (;;) {
        while (!srv->probe_wanted && !srv->stopping)
            pthread_cond_wait(&srv->probe_cv, &srv->lock);
        if (srv->stopping)
            break;
        srv->probe_wanted = 0;
        srv->probing = 1;
        pthread_mutex_unlock(&srv->lock);
        why[0] = '\0';
        int ok = srv->ready(srv->ctx, why, sizeof(why));
        pthread_mutex_lock(&srv->lock);
        srv->probing = 0;
        srv->ready_ok = ok;
        memcpy(srv->ready_why, why, sizeof(why));
        srv->ready_at_ms = mo_now_ms();
        for (size_t i = 0; i < srv->n_waiting; i++)
            MHD_resume_connection(srv->waiting[i]);
        srv->n_waiting = 0;
    }
    /* Stopping: nothing may stay suspended when the daemon stops. */
    for (size_t i = 0; i < srv->n_waiting; i++)
        MHD_resume_connection(srv->waiting[i]);
    srv->n_waiting = 0;
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* /readyz: from the cache when fresh; else the request is suspended until the
 * prober has checked (*con_cls marks a request that waited once: it is then
 * answered with what the probe found). */
static mt_mhd_result mt_readyz(mt_server *srv, struct MHD_Connection *conn, void **con_cls)
{
    char text[sizeof(srv->ready_why) + 64];
    int ok;
    pthread_mutex_lock(&srv->lock);
    if (!srv->ready) {
        ok = 1;
        snprintf(text, sizeof(text), "{\"ready\":true,\"checks\":{}}\n");
    } else {
        int fresh = srv->ready_at_ms && mo_now_ms() - srv->ready_at_ms <= MT_READY_CACHE_MS;
        if (!fresh && !*con_cls && !srv->stopping && srv->n_waiting < MT_CONN_MAX) {
            srv->waiting[srv->n_waiting++] = conn;
            if (!srv->probing) {
                srv->probe_wanted = 1;
                pthread_cond_signal(&srv->probe_cv);
            }
            *con_cls = srv;
            /* Under the lock: the prober cannot resume it before it is suspended. */
            MHD_suspend_connection(conn);
            pthread_mutex_unlock(&srv->lock);
            return MHD_YES;
        }
        ok = srv->ready_at_ms && srv->ready_ok;
        snprintf(text, sizeof(text), "{\"ready\":%s,\"checks\":%s}\n", ok ? "true" : "false",
                 srv->ready_at_ms ? srv->ready_why : "{\"server\":\"not checked\"}");
    }
    pthread_mutex_unlock(&srv->lock);
    char *t = mt_strdup(text);
    return t ? mt_reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                        t)
             : MHD_NO;
}

const char *mt_request_header(const mt_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

void mt_request_peer(const mt_request *req, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn_, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    snprintf(buf, size, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
}

/* The route whose prefix the path starts with, NULL when none. */
static const mt_route *mt_route_find(const mt_server *srv, const char *url)
{
    for (size_t i = 0; i < srv->n_routes; i++)
        if (!strncmp(url, srv->routes[i].prefix, strlen(srv->routes[i].prefix)))
            return &srv->routes[i];
    return NULL;
}

/* Calls the route's handler and queues its answer. */
static mt_mhd_result mt_route_answer(struct MHD_Connection *conn, const char *url,
                                     const char *method, mt_upload *up)
{
    char answer[512] = "";
    mt_request req = {.method = method,
                      .path = url,
                      .body = up->too_large ? NULL
                              : up->body    ? up->body
                                            : "",
                      .body_len = up->too_large ? 0 : up->len,
                      .too_large = up->too_large,
                      .conn_ = conn};
    unsigned status = up->route->handle(up->route->ctx, &req, answer, sizeof(answer));
    size_t n = strnlen(answer, sizeof(answer) - 1);
    char *t = malloc(n + 2);
    if (!t)
        return MHD_NO;
    memcpy(t, answer, n);
    t[n] = '\n';
    t[n + 1] = '\0';
    struct MHD_Response *r = MHD_create_response_from_buffer(n + 1, t, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(t);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && up->route->allow)
        MHD_add_response_header(r, "Allow", up->route->allow);
    if (up->too_large) /* the rest of the body is never read: the connection ends */
        MHD_add_response_header(r, "Connection", "close");
    mt_mhd_result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A request of a route: the first call makes its state (and refuses a body
 * Content-Length announces too large, before a byte of it is read), the
 * next ones collect the body up to the route's cap, the last (no data)
 * answers.  A body that outgrows the cap while it arrives (chunked) is
 * dropped from then on and answered 413 at its end. */
static mt_mhd_result mt_route_handle(const mt_route *rt, struct MHD_Connection *conn,
                                     const char *url, const char *method, const char *upload,
                                     size_t *upload_size, void **con_cls)
{
    mt_upload *up = *con_cls;
    if (!up) {
        up = calloc(1, sizeof(*up));
        if (!up)
            return MHD_NO;
        up->route = rt;
        *con_cls = up;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || *end || n > rt->body_max)
                up->too_large = 1;
        }
        if (up->too_large) {
            up->answered = 1;
            return mt_route_answer(conn, url, method, up);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (up->too_large) {
            /* Read and dropped, so the client can read its 413 (an answer
             * queued mid-body is never sent by libmicrohttpd 0.9.75); a
             * sender that goes on past MT_DISCARD_MAX is cut off, as one
             * past MT_ANSWER_MS is by the reaper. */
            up->len += n;
            return up->len > MT_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (n > rt->body_max - up->len) {
            up->too_large = 1;
            free(up->body);
            up->body = NULL;
            up->cap = 0;
            up->len += n;
            return MHD_YES;
        }
        if (up->len + n + 1 > up->cap) {
            size_t cap = up->cap ? up->cap : 4096;
            while (cap < up->len + n + 1)
                cap *= 2;
            char *p = realloc(up->body, cap);
            if (!p)
                return MHD_NO;
            up->body = p;
            up->cap = cap;
        }
        memcpy(up->body + up->len, upload, n);
        up->len += n;
        up->body[up->len] = '\0';
        return MHD_YES;
    }
    if (up->too_large && up->answered)
        return MHD_YES;
    return mt_route_answer(conn, url, method, up);
}

static mt_mhd_result mt_handle(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    mt_server *srv = cls;
    (void)version;
    /* The request has arrived: its answer (a readiness check included) has
     * MT_ANSWER_MS. */
    if (!*con_cls)
        mt_conn_deadline(srv, conn, MT_ANSWER_MS);
    const mt_route *rt =
        *con_cls && *con_cls != srv ? ((mt_upload *)*con_cls)->route : mt_route_find(srv, url);
    if (rt)
        return mt_route_handle(rt, conn, url, method, upload, upload_size, con_cls);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        char *t = mt_strdup("only GET\n");
        return t ? mt_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", t) : MHD_NO;
    }
    if (!strcmp(url, "/metrics")) {
        char *t = mt_render();
        return t ? mt_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", t)
                 : MHD_NO;
    }
    if (!strcmp(url, "/healthz")) {
        char *t = mt_strdup("{\"status\":\"ok\"}\n");
        return t ? mt_reply(conn, MHD_HTTP_OK, "application/json", t) : MHD_NO;
    }
    if (!strcmp(url, "/readyz"))
        return mt_readyz(srv, conn, con_cls);
    char *t = mt_strdup("not found: /metrics, /healthz, /readyz\n");
    return t ? mt_reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", t) : MHD_NO;
}

/* The address to bind: an IPv4 or IPv6 literal into *ss; 0, or -1 when it is
 * neither. */
static int mt_sockaddr(const char *addr, int port, struct sockaddr_storage *ss, int *v6)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    *v6 = 0;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        return 0;
    }
    return -1;
}

mt_server *mt_server_start(const char *addr, int port, mt_ready_fn ready, void *ctx, char *errstr,
                           size_t errstr_size)
{
    return mt_server_start_routes(addr, port, ready, ctx, NULL, 0, errstr, errstr_size);
}

mt_server *mt_server_start_routes(const char *addr, int port, mt_ready_fn ready, void *ctx,
                                  const mt_route *routes, size_t n, char *errstr,
                                  size_t errstr_size)
{
    struct sockaddr_storage ss;
    int v6;
    if (!addr)
        addr = "127.0.0.1";
    if (mt_sockaddr(addr, port, &ss, &v6)) {
        mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                  "METRICS_LISTEN '%s' is not an IPv4 or IPv6 address", addr);
        return NULL;
    }
    mt_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    srv->ready = ready;
    srv->ctx = ctx;
    if (n) {
        srv->routes = calloc(n, sizeof(*srv->routes));
        if (!srv->routes) {
            free(srv);
            mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            return NULL;
        }
        memcpy(srv->routes, routes, n * sizeof(*routes));
        srv->n_routes = n;
    }
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->conn_lock, NULL);
    pthread_cond_init(&srv->probe_cv, NULL);
    pthread_cond_init(&srv->reap_cv, NULL);
    unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    srv->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, mt_handle, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MT_CONN_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)MT_CONN_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(MT_REQUEST_MS / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MT_CONN_MEMORY, MHD_OPTION_NOTIFY_CONNECTION,
        mt_on_connection, srv, MHD_OPTION_NOTIFY_COMPLETED, mt_on_completed, srv, MHD_OPTION_END);
    if (!srv->mhd) {
        mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                  "cannot listen on %s%s%s:%d (METRICS_LISTEN, METRICS_PORT): taken, or not an "
                  "address of this host",
                  v6 ? "[" : "", addr, v6 ? "]" : "", port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : port;
    if (pthread_create(&srv->reaper, NULL, mt_reaper, srv))
        goto nothread;
    srv->reaper_started = 1;
    if (srv->ready) {
        if (pthread_create(&srv->prober, NULL, mt_prober, srv))
            goto nothread;
        srv->prober_started = 1;
    }
    return srv;
nothread:
    mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "cannot start the metrics server's threads");
    mt_server_stop(srv);
    return NULL;
fail:
    free(srv->routes);
    pthread_cond_destroy(&srv->probe_cv);
    pthread_cond_destroy(&srv->reap_cv);
    pthread_mutex_destroy(&srv->conn_lock);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    return NULL;
}

int mt_server_port(const mt_server *srv)
{
    return srv->port;
}

void mt_server_stop(mt_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->stopping = 1; /* from now on no request is suspended */
    pthread_cond_broadcast(&srv->probe_cv);
    pthread_cond_broadcast(&srv->reap_cv);
    pthread_mutex_unlock(&srv->lock);
    /* The prober finishes a check in progress and resumes every waiter:
     * libmicrohttpd must not stop with a suspended connection. */
    if (srv->prober_started)
        pthread_join(srv->prober, NULL);
    if (srv->reaper_started)
        pthread_join(srv->reaper, NULL);
    MHD_stop_daemon(srv->mhd);
    /* Every connection closed, each notified: the list is empty. */
    pthread_cond_destroy(&srv->probe_cv);
    pthread_cond_destroy(&srv->reap_cv);
    pthread_mutex_destroy(&srv->conn_lock);
    pthread_mutex_destroy(&srv->lock);
    free(srv->routes);
    free(srv);
}
