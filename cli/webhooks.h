/* `mosync webhooks`: receives Mystore's and Ongoing's webhooks and turns each
 * into a trigger of the matching poller (a hint: the poller then reads the
 * source as it always does; polling stays the safety net).
 *
 *   POST /webhooks/mystore/{tenant}   X-No-Mystore-Hmac-Sha256 = base64 of
 *        HMAC-SHA256(raw body, MYSTORE_WEBHOOK_SECRET); X-No-Mystore-Topic
 *        orders/... triggers mystore-orders, products/... mystore-products,
 *        any other topic is answered 200 and only logged (Mystore would
 *        otherwise send it again and again).
 *   POST /webhooks/ongoing/{tenant}   X-Auth-Token = ONGOING_WEBHOOK_TOKEN;
 *        triggers ongoing-shipments (and ongoing-stock with STOCK_SYNC=on:
 *        an order picked or shipped moved stock).
 *
 * Answers: 200 triggered (or ignored), 401 bad or missing signature or
 * token, 404 unknown tenant (not MOSYNC_TENANT), unknown source or a source
 * whose secret is not set, 405 another method, 413 a body over
 * WH_BODY_MAX, 503 Redis away (the sender tries again).  Each is counted in
 * mosync_webhooks_total{source,result}.  The server is the metrics server
 * (common/metrics.h) on METRICS_PORT, with /healthz, /readyz (Redis only)
 * and /metrics beside the routes. */
#ifndef MO_WEBHOOKS_H
#define MO_WEBHOOKS_H

#include "config.h"
#include "secretbox.h"

#include <stddef.h>
#include <stdint.h>

/* The largest webhook body read: Mystore's and Ongoing's payloads are thin
 * (an id, a topic, a few fields); past this is 413 without reading it. */
#define WH_BODY_MAX (1024 * 1024)

/* Splits a path "/webhooks/<source>/<tenant>" into source and tenant (each
 * cut to fit is refused, not cut): 0, or -1 when the path has another shape
 * (a missing or empty part, more parts, a query) or a part holds characters
 * outside the tenant alphabet (letters, digits, '-', '_', '.'). Pure. */
int wh_route_parse(const char *path, char *source, size_t source_size, char *tenant,
                   size_t tenant_size);

/* The poller a Mystore webhook topic triggers: "orders/create" →
 * "mystore-orders", "products/update" → "mystore-products"; NULL for any
 * other topic (and for NULL). Pure. */
const char *wh_mystore_stream(const char *topic);

/* 1 when header (X-No-Mystore-Hmac-Sha256) is the base64 HMAC-SHA256 of
 * body keyed with secret, compared in constant time; 0 otherwise (NULL
 * header included). */
int wh_mystore_signed(const char *secret, const char *body, size_t len, const char *header);

/* 1 when token (X-Auth-Token, may be NULL) equals want, compared in
 * constant time (the time depends on the lengths only). */
int wh_token_equal(const char *want, const char *token);

/* `mosync webhooks`: serves until SIGTERM or SIGINT.  key NULL: the tenant
 * of cfg only (MOSYNC_TENANT, the secrets of the environment); else
 * (`--all-tenants`) every active registry tenant, each with the webhook
 * secrets of its own settings, its triggers also pushed on the streams'
 * trigger lists for `poll <stream> --all-tenants`.  Returns the exit
 * status (2 naming the variable when METRICS_PORT or both secrets are not
 * set, or the port cannot be bound). */
int webhooks_main(const mo_config *cfg, const sb_key *key);

#endif
