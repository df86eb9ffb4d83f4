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
 * 1 when ready.  Called from the server's thread; it must use its own
 * connections. */
typedef int (*mt_ready_fn)(void *ctx, char *why, size_t why_size);

typedef struct mt_server mt_server;

/* Serves /metrics, /healthz (200 while the process runs) and /readyz (200 or
 * 503 from ready, cached for a few seconds so a scraper cannot make it hammer
 * the APIs) on 0.0.0.0:port (port 0: an ephemeral port).  ctx is borrowed.
 * NULL with errstr when the port cannot be bound. */
mt_server *mt_server_start(int port, mt_ready_fn ready, void *ctx, char *errstr,
                           size_t errstr_size);
/* The port it listens on. */
int mt_server_port(const mt_server *srv);
void mt_server_stop(mt_server *srv);

#endif
