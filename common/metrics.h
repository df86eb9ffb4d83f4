/* Metrics in the Prometheus text format, and the small HTTP server every
 * long-running process runs on METRICS_PORT: /metrics, /healthz, /readyz.
 *
 * One registry per process, shared by every thread (`mosync run` runs all
 * roles in one).  A series is a metric name plus its labels, written as the
 * label text Prometheus shows: `flow="orders",tenant="t1"`.  Series are made on
 * first use; names must be one of the metrics declared in metrics.c (their
 * type and help text live there, in one table), so a typo is caught by a test,
 * not by a dashboard that stays empty.  Label values are escaped here.
 *
 * Cheap enough for every message: one mutex and one lookup per update. */
#ifndef MO_METRICS_H
#define MO_METRICS_H

#include "err.h"

#include <stddef.h>

/* Series one metric may hold.  Label values come from configuration and
 * Kafka (topics, partitions), not from API answers, but a cap still keeps a
 * mistake from growing the registry without bound; what passes it is counted
 * in mt_misuse(). */
#define MT_SERIES_MAX 4096

/* METRICS_TENANT_LABEL: with it off (mt_set_tenant_label(0)) every series'
 * tenant label reads MT_ANY_TENANT, so a process serving thousands of
 * registry tenants keeps one series per stream, not one per tenant (counters
 * add up, gauges hold the last tenant's value).  On by default. */
#define MT_ANY_TENANT "*"
void mt_set_tenant_label(int on);

/* Adds v to counter `name` (v >= 0) or sets gauge `name` to v, for the series
 * given by label pairs: labels is a NULL-terminated list of name, value
 * strings ("flow", "orders", "tenant", "t1", NULL).  Unknown metric names and
 * the wrong kind are ignored in production and counted in
 * mt_misuse() (the unit tests check it stays 0). */
void mt_add(const char *name, double v, ...) __attribute__((sentinel));
void mt_set(const char *name, double v, ...) __attribute__((sentinel));
/* Observes v in histogram `name` (its buckets are declared in metrics.c). */
void mt_observe(const char *name, double v, ...) __attribute__((sentinel));

/* Removes the series of gauge `name` with these labels (a consumer's lag of
 * a partition it no longer owns: a stale value would be summed with the new
 * owner's).  Nothing when it does not exist. */
void mt_remove(const char *name, ...) __attribute__((sentinel));

/* The value of a counter or gauge series (0 when it does not exist); for tests
 * and the command summaries.  Same label list as mt_add. */
double mt_value(const char *name, ...) __attribute__((sentinel));

/* The whole registry in the Prometheus text exposition format 0.0.4: new
 * heap string, caller frees; NULL when out of memory. */
char *mt_render(void);

/* Misuses seen (unknown names, wrong kinds, labels longer than the cap, a
 * metric past MT_SERIES_MAX series): 0 in a correct program. */
unsigned long mt_misuse(void);

/* ---- the HTTP endpoints ------------------------------------------------ */

/* Readiness: fills why (a short JSON object text, e.g.
 * {"kafka":"ok","redis":"ok","mystore":"ok","ongoing":"down: ..."}) and returns
 * 1 when ready.  Called from the server's prober thread, one call at a
 * time; it must use its own connections. */
typedef int (*mt_ready_fn)(void *ctx, char *why, size_t why_size);

typedef struct mt_server mt_server;

/* What one client can take of the server (issue 12 item 17): connections at
 * once in all and from one address (Prometheus and a health check need one
 * or two each); a request's headers must arrive within MT_REQUEST_MS of the
 * connection's start (or of the previous answer on a kept-alive one),
 * however slowly they trickle, and its answer, a readiness check included,
 * must be done within MT_ANSWER_MS; MT_CONN_MEMORY bytes of buffer per
 * connection.  Connections past a limit are closed at once. */
#define MT_CONN_MAX    64
#define MT_CONN_PER_IP 8
#define MT_REQUEST_MS  5000
#define MT_ANSWER_MS   15000
#define MT_CONN_MEMORY (16 * 1024)

/* Serves /metrics, /healthz (200 while the process runs) and /readyz (200 or
 * 503 from ready, cached for a few seconds so a scraper cannot make it hammer
 * the APIs) on addr:port.  addr is an IPv4 or IPv6 literal (METRICS_LISTEN;
 * NULL: 127.0.0.1); port 0: an ephemeral port.  One polling thread serves
 * every connection; ready runs in a thread of its own (one check at a time)
 * while the /readyz requests that wait for it are suspended, so /healthz
 * and /metrics never wait for a readiness check.  ctx is borrowed.  NULL
 * with errstr (MO_ERR_CONFIG naming METRICS_LISTEN) when addr:port cannot be
 * bound. */
mt_server *mt_server_start(const char *addr, int port, mt_ready_fn ready, void *ctx, char *errstr,
                           size_t errstr_size);
/* ---- routes a caller adds (the webhook receiver, cli/webhooks.c) -------
 * The server knows no flow: a command hands it a table of routes, each a
 * path prefix with a handler, and the server reads the request's body for
 * it (libmicrohttpd's upload callback, at most body_max bytes: past that, or
 * when Content-Length says more, the body is not read and the handler is
 * told too_large).  A handler runs in the server's one polling thread, so it
 * must be quick (one Redis call); the request's whole time, body included,
 * is bounded by MT_ANSWER_MS like any other. */
typedef struct mt_request {
    const char *method;
    const char *path; /* the URL path, without the query */
    const char *body; /* the raw body (NUL-terminated copy); NULL when too_large */
    size_t body_len;
    int too_large; /* the body was over the route's body_max: not read */
    void *conn_;   /* private to metrics.c */
} mt_request;

/* The value of request header `name` (case-insensitive), NULL when absent.
 * Borrowed: valid while the handler runs. */
const char *mt_request_header(const mt_request *req, const char *name);

/* The client's address as text ("127.0.0.1", "::1") into buf; "?" when
 * unknown. */
void mt_request_peer(const mt_request *req, char *buf, size_t size);

/* Answers one request of a route: returns the HTTP status, with a short text
 * answer in answer (answer_size bytes; sent as text/plain). */
typedef unsigned (*mt_route_fn)(void *ctx, const mt_request *req, char *answer, size_t answer_size);

typedef struct mt_route {
    const char *prefix; /* "/webhooks/": every path that starts with it */
    size_t body_max;    /* the largest body read, bytes */
    const char *allow;  /* the Allow header sent with a 405 ("POST") */
    mt_route_fn handle;
    void *ctx; /* borrowed, passed to handle */
} mt_route;

/* mt_server_start with routes (n of them; the table is copied, each ctx
 * borrowed and must outlive the server), matched before the server's own
 * paths. */
mt_server *mt_server_start_routes(const char *addr, int port, mt_ready_fn ready, void *ctx,
                                  const mt_route *routes, size_t n, char *errstr,
                                  size_t errstr_size);

/* The port it listens on. */
int mt_server_port(const mt_server *srv);
void mt_server_stop(mt_server *srv);

#endif
