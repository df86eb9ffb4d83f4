/* The metrics server of every long-running command (poll, apply, run) and
 * its readiness probe, and `mosync healthcheck`.
 *
 * With METRICS_PORT set, a long-running command serves /metrics, /healthz and
 * /readyz on it (common/metrics.h).  /readyz is ready when Kafka, Redis and
 * each configured API answer, each checked with connections of its own:
 *   kafka    a metadata request (KAFKA_PROP_* applied, so credentials count);
 *   redis    PING;
 *   mystore  down when the API refused this process's credential (401/403)
 *            within HEALTH_API_FRESH_MS and accepted it not since; else up
 *            on a 2xx answer this process got within HEALTH_API_FRESH_MS, else
 *   ongoing  the result another process of the tenant shared in Redis
 *            (mosync:{T}:health:<api>, expiring), else one GET of its own
 *            (Mystore: from the shared request budget), whose result it
 *            shares there.  An accepted answer ends a refused credential
 *            (credential.h).  A scraper therefore costs the tenant at most one
 *            API request per HEALTH_API_SHARE_S, and none while any process
 *            of the tenant works with that API.
 * An API whose settings are not all present (a poller of Mystore started
 * without Ongoing's) is reported "unconfigured" and not waited for.  The
 * answer is cached for a few seconds by the server. */
#ifndef MO_HEALTH_H
#define MO_HEALTH_H

#include "config.h"
#include "err.h"
#include "kafka.h"
#include "metrics.h"

#include <jansson.h>
#include <stddef.h>

/* A 2xx answer younger than this proves the API up without a request. */
#define HEALTH_API_FRESH_MS 60000
/* How long a probe's result stands for every process of the tenant: an up
 * one, and a down one (shorter: a recovery shows soon). */
#define HEALTH_API_SHARE_S      60
#define HEALTH_API_SHARE_DOWN_S 10

/* A reason shown in /readyz is cut to this, so four fit the server's buffer. */
#define HEALTH_WHY_MAX 200

typedef struct health_server health_server;

/* Sets checks[name] (borrowed object) to "ok", or to "down: <why>" with why
 * cut to at most HEALTH_WHY_MAX bytes at a UTF-8 character boundary (a cut
 * inside a character made the check vanish from /readyz); a why that is not
 * UTF-8 at all still gives a "down" check. */
void health_check_set(json_t *checks, const char *name, int ok, const char *why);

/* Starts the server on cfg->metrics_listen, cfg->metrics_port for command ("apply orders": the
 * mosync_info label); cfg is borrowed and must outlive the server.  *out is
 * NULL when METRICS_PORT is not set (then nothing is started: MO_OK).
 * MO_ERR_CONFIG naming METRICS_PORT when the port cannot be bound. */
mo_err health_start(const mo_config *cfg, const char *command, health_server **out, char *errstr,
                    size_t errstr_size);
/* health_start whose /readyz asks Kafka through kp (borrowed, must outlive
 * the server: health_stop first) instead of a producer of its own: `mosync
 * run`'s one producer, which its flows produce with. */
mo_err health_start_producer(const mo_config *cfg, const char *command, kq_producer *kp,
                             health_server **out, char *errstr, size_t errstr_size);
/* health_start for `mosync webhooks`: the routes (metrics.h; n of them)
 * served beside the three endpoints, and /readyz checking Redis only (the
 * one thing a webhook needs). */
mo_err health_start_routes(const mo_config *cfg, const char *command, const mt_route *routes,
                           size_t n, health_server **out, char *errstr, size_t errstr_size);
/* Stops the server and frees it; NULL is ignored. */
void health_stop(health_server *hs);

/* The URL of /readyz of a server listening on listen (METRICS_LISTEN) and
 * port: that address, or loopback (127.0.0.1, ::1) for 0.0.0.0 and ::; an
 * IPv6 address in brackets.  Always NUL-terminates url. */
void health_readyz_url(const char *listen, int port, char *url, size_t size);

/* `mosync healthcheck` (argv after the command name): GET /readyz where the
 * server of METRICS_LISTEN and METRICS_PORT listens, for container health
 * checks (the image has no curl).  Prints the answer; exit 0 when ready, 1 when not or when nothing
 * answers, 2 for bad usage or METRICS_PORT unset. */
int health_check_main(int argc, char **argv);

#endif
