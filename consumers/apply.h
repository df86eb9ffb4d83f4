/* The consumers ("appliers"): each reads one topic in a consumer group, maps
 * every event with a pure function and applies the result to the other
 * system, idempotently.  apply_loop.c holds what they share: offsets stored
 * only after the effect, transient failures retried by pausing the partition,
 * and everything else dead-lettered. */
#ifndef MO_APPLY_H
#define MO_APPLY_H

#include "config.h"
#include "err.h"
#include "kafka.h"
#include "map_article.h"
#include "map_order.h"
#include "mystore.h"
#include "secretbox.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* A bounded run (mosync replay): each partition is consumed only below its
 * stop offset; a message at or past it is dropped unhandled and unstored
 * (the partition is done), and the loop ends when every partition is done. */
typedef struct apply_range {
    int npartitions;
    const int64_t *stop; /* per partition; -1: nothing to consume there */
    /* Called for each settled message (outcome as for apply_outcome, or
     * "dead_lettered"); may be NULL. */
    void (*settled)(void *opaque, int32_t partition, int64_t offset, const char *outcome);
    /* Which messages below the stop to apply; the others are passed over,
     * unhandled but stored (mosync replay: past its range, only the latest
     * event of each key the range touched).  NULL: every message. */
    int (*want)(void *opaque, int32_t partition, int64_t offset);
    void *opaque;   /* of settled and want */
    int incomplete; /* out: partitions not done when the loop ended */
} apply_range;

typedef struct apply_opts {
    int once;           /* exit once the topic has been idle for idle_ms */
    long idle_ms;       /* default 2000 */
    const char *group;  /* consumer group override (replay with a new group); NULL = default */
    apply_range *range; /* bounded run; NULL = unbounded */
    /* The process's producer for dead letters and their states, shared with
     * its other flows (`mosync run`; borrowed, outlives the loop); NULL: a
     * producer of its own. */
    kq_producer *kp;
} apply_opts;

/* Applies one message.  Returns:
 *   MO_OK             applied, skipped as duplicate or stale, or refused for
 *                     a business reason and recorded: the offset moves on;
 *   MO_ERR_TRANSIENT  try again later (the partition pauses, others go on);
 *   MO_ERR_CREDENTIAL the API refused the credential: try again later, never
 *                     counted against the message (the tenant must act);
 *   anything else     dead-letter the message with errstr, then move on. */
typedef mo_err (*apply_fn)(void *ctx, const rd_kafka_message_t *msg, char *errstr,
                           size_t errstr_size);

/* Reports, from a flow's handler, what it did with the message in hand, for
 * the metrics (mosync_messages_total{flow, outcome}):
 *   "applied"    the effect was made now (a write the target accepted);
 *   "unchanged"  the target already holds it (the same request as applied
 *                before, or the target found already so): nothing sent;
 *   "refused"    the target refused it for a business reason (recorded, not
 *                retried: O1);
 *   "stale"      an older version than the one applied;
 *   "skipped"    nothing for this flow to do (sent in Mystore, not a
 *                Mystore order, an unknown SKU, ...).
 * outcome must be a string literal (it is kept, not copied).  ev (borrowed,
 * may be NULL) is the parsed event: its observed_at gives the apply latency
 * of an "applied" message.  Counted only when the handler returns MO_OK; a
 * later call for the same message wins.  A message handled without a report
 * is counted as "unreported" (a bug in the flow). */
void apply_outcome(const json_t *ev, const char *outcome);

/* What the loop counts for the summary of every consumer. */
typedef struct apply_counts {
    unsigned long dead_lettered;
    long long first_ms, last_ms; /* monotonic time of the first and last message handled */
} apply_counts;

/* One flow's consumer: what it reads and how it applies a message. */
typedef struct apply_flow {
    const char *name;       /* "orders" */
    const char *component;  /* "apply.orders": logs and dead letters */
    const char *topic_base; /* KQ_TOPIC_ORDERS */
    const char *group_base; /* "mosync-apply-orders" (the configured prefix is prepended) */
    apply_fn handle;
    void *ctx; /* passed to handle and api_up_since */
    /* Does the flow's target API answer?  Asked before a message that keeps
     * failing transiently is dead-lettered after MAX_ATTEMPTS: 1 when a request
     * to that API got a non-transient answer after since_ms (monotonic),
     * probing it once when none did; 0 when the API is down, and the message
     * waits instead (an outage pauses the flow, it does not dead-letter the
     * backlog).  NULL: always 1. */
    int (*api_up_since)(void *ctx, long long since_ms);
    /* The API the flow writes to, as hc_opts.api names it ("ongoing",
     * "mystore"): its refused credential is recorded for the tenant
     * (common/credential.h). */
    const char *api;
    void (*free_ctx)(void *ctx); /* frees ctx (apply_<flow>_flow); NULL: not owned */
    void (*summary)(void *ctx);  /* prints the one-line JSON summary of `mosync apply <flow>` */
    apply_counts *counts;        /* in ctx: what the loop counts (apply_run) */
} apply_flow;

/* Runs the consumer loop of flow until a stop is requested (or, with
 * opts->once, until idle, or until the API refuses the credential: exit 1,
 * nothing stored past the message).  counts may be NULL.  Returns the exit
 * status. */
int apply_run(const mo_config *cfg, const apply_flow *flow, const apply_opts *opts,
              apply_counts *counts);

/* Is ev (parsed) an event of the tenant this applier serves (cfg->tenant)?
 *   1  yes: apply it;
 *   0  another tenant's, which has appliers of its own: skip it (reported
 *      "skipped").  So is every other tenant's when this applier serves a
 *      registry tenant (each consumes in a group of its own, cfg_group), and
 *      a registry tenant's when it serves the environment tenant;
 *  -1  *err set: MO_ERR_INVALID for a tenant nobody serves (the registry
 *      does not know it: a misnamed MOSYNC_TENANT must show as dead letters,
 *      not vanish), MO_ERR_TRANSIENT when Redis cannot say. */
int apply_tenant_ours(const mo_config *cfg, rs_store *rs, const json_t *ev, mo_err *err,
                      char *errstr, size_t errstr_size);

/* Milliseconds between the first and the last message handled (0 if none). */
long long apply_busy_ms(const apply_counts *counts);

/* ---- the applied records: mosync:{T}:applied:<flow>:<entity> ----------
 * {"version": <source version applied>, "hash": <request hash>, "state": ..,
 *  "at": <UTC time>, ...}: what saves the calls and skips the duplicates.
 * Redis is a cache, not the truth: every record expires (APPLIED_TTL_DAYS),
 * and each flow re-derives from the APIs what a lost record would have
 * told it, so a lost record costs calls, never a second effect. */

/* *rec: new reference, or NULL when there is none. */
mo_err apply_record_get(rs_store *rs, const char *flow, const char *entity, json_t **rec,
                        char *errstr, size_t errstr_size);
/* Writes the record, expiring after ttl_s seconds (cfg_applied_ttl_s; 0 =
 * never, for tests only); the members of extra (borrowed, may be NULL) are
 * added. */
mo_err apply_record_set(rs_store *rs, const char *flow, const char *entity, const char *version,
                        const char *hash, const char *state, const json_t *extra, long ttl_s,
                        char *errstr, size_t errstr_size);
/* The same, recording the fence of the event applied (ev_fence; -1 = none):
 * an equal version of a lower fence is then stale (apply_stale). */
mo_err apply_record_set_fenced(rs_store *rs, const char *flow, const char *entity,
                               const char *version, long long fence, const char *hash,
                               const char *state, const json_t *extra, long ttl_s, char *errstr,
                               size_t errstr_size);
/* Is event ev (parsed) older than what rec (borrowed, may be NULL) says was
 * applied: an older source version, or the same version from a poller with a
 * lower fence (one that had lost its lease: ev_stale)? */
int apply_stale(const json_t *ev, const json_t *rec);
/* Does rec (borrowed, may be NULL) say this very request (hash) was
 * applied?  The one place the flows skip an unchanged request; always 0
 * while forced (mosync replay --force, or a message of mosync resync). */
int apply_same_request(const json_t *rec, const char *hash);
/* Process-wide: set before the appliers start. */
void apply_force_set(int on);
/* For the message in hand only (the loop sets it from the message's
 * mosync.resync header and clears it after); per thread. */
void apply_force_message(int on);
/* 1 while either force is on. */
int apply_forced(void);
/* SHA-256 of the canonical JSON (sorted keys, compact) of j into hex. */
mo_err apply_hash(const json_t *j, char hex[65]);

/* ---- the dry run (DRY_RUN=on) ----------------------------------------
 * Each applier computes the requests it would send, reads what the target
 * holds now, and reports the differences (consumers/map_diff.h) instead of
 * sending anything: no write to Mystore or Ongoing, and no applied record,
 * article map or look-up cache in Redis, so a later real run is not changed
 * by it.  What it reports, per entity:
 *   mosync:{T}:dryrun:<flow>:<entity>, expiring after DRY_RUN_TTL_DAYS:
 *     {"flow", "entity", "source_version", "outcome", "requests": [{"method",
 *      "path", "body"}], "differences": [...], "error"?, "reason"?, "at"}
 *   and the same as one JSON line on stdout, without the request bodies:
 *     {"dry_run": "<flow>", "tenant", "entity", "source_version", "outcome",
 *      "requests": [{"method", "path"}], "differences": [...], "error"?, "reason"?}
 * It consumes in its own group (<prefix>mosync-dryrun-<flow>), so the real
 * group's offsets do not move. */

/* State of the dry-run wrapper of one flow (apply_dry_wrap); the caller owns it. */
typedef struct apply_dry {
    const mo_config *cfg;
    rs_store *rs;
    const char *flow;
    apply_fn handle;
    void *ctx;
    int (*api_up_since)(void *ctx, long long since_ms);
    char group[64];
} apply_dry;

/* When cfg->dry_run is on, makes flow a dry run: its own consumer group, and
 * a message the flow would dead-letter (unparsable, unmappable, refused for
 * good) is reported with outcome "dead_letter" and its reason instead of
 * going to mosync.dlq.  dry must outlive apply_run; cfg and rs are borrowed.
 * Does nothing when the dry run is off. */
void apply_dry_wrap(apply_flow *flow, apply_dry *dry, const mo_config *cfg, rs_store *rs);

/* {"method", "path", "body"} of one request the flow would send (body
 * borrowed, may be NULL).  New reference, NULL when out of memory. */
json_t *apply_dry_request(const char *method, const char *path, const json_t *body);

/* Records and prints one entity's dry-run result (see above).  requests and
 * differences are borrowed and may be NULL (none); error may be NULL.
 * MO_ERR_TRANSIENT when Redis is away (the message is tried again). */
mo_err apply_dry_report(const mo_config *cfg, rs_store *rs, const char *flow, const char *entity,
                        const char *version, const char *outcome, const json_t *requests,
                        const json_t *differences, const char *error, char *errstr,
                        size_t errstr_size);
/* The same with a reason (may be NULL): why nothing is sent although nothing
 * failed (orders: "waiting", a status MYSTORE_ORDER_STATUSES does not list). */
mo_err apply_dry_report_why(const mo_config *cfg, rs_store *rs, const char *flow,
                            const char *entity, const char *version, const char *outcome,
                            const json_t *requests, const json_t *differences, const char *error,
                            const char *reason, char *errstr, size_t errstr_size);

/* ---- what the appliers decide, for `mosync reconcile` -------------------
 * reconcile compares what mosync would send with what the target holds, so
 * it builds the mappings' settings and finds stock targets exactly as the
 * appliers do, through these. */

/* The order mapping's settings from the configuration (cfg borrowed: the
 * strings in *conf point into it). */
void apply_order_conf(const mo_config *cfg, mp_order_conf *conf);
/* The article mapping's settings from the configuration. */
void apply_article_conf(const mo_config *cfg, mp_article_conf *conf);
/* Where the stock of Ongoing article `no` goes in Mystore when neither its
 * free decimal 2 nor the article map says: the stock applier's look-up by
 * SKU (M16, M17), through its not-found cache.  *entry: a map entry
 * ({"product_id", "variant_id"}, new reference) or NULL when Mystore has no
 * writable target.  remember 1: the answer fills the map or the not-found
 * cache, as the applier does; 0: read-only (nothing written to Redis).  cfg,
 * rs and ms borrowed. */
mo_err apply_stock_lookup(const mo_config *cfg, rs_store *rs, ms_client *ms, const char *no,
                          int remember, json_t **entry, char *errstr, size_t errstr_size);

/* Each flow for cfg's tenant on store rs (both borrowed, and they must
 * outlive it): *flow's context made (flow->free_ctx frees it).  MO_ERR_NOMEM,
 * or MO_ERR_CONFIG when the API client cannot be made (logged).  The flow's
 * `mosync apply <flow>` runs one; `apply --all-tenants` one per tenant. */
mo_err apply_orders_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow);
mo_err apply_articles_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow);
mo_err apply_deliveries_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow);
mo_err apply_stock_flow(const mo_config *cfg, rs_store *rs, apply_flow *flow);

/* `mosync apply <flow>` for cfg's tenant: the flow made by make on a store
 * of its own, its dry-run wrapper, apply_run, the summary line.  Returns the
 * exit status (2 when Redis cannot be opened). */
int apply_one(const mo_config *cfg, const apply_opts *opts,
              mo_err (*make)(const mo_config *cfg, rs_store *rs, apply_flow *flow));

/* `mosync apply <flow> --all-tenants` (consumers/apply_tenants.c): flow
 * ("orders", ...) for every registry tenant, opening their secrets with key.
 * Returns the exit status. */
int apply_all_tenants(const mo_config *cfg, const char *flow, const sb_key *key);

/* `mosync apply orders|articles|deliveries|stock`. */
int apply_orders(const mo_config *cfg, const apply_opts *opts);
int apply_articles(const mo_config *cfg, const apply_opts *opts);
int apply_deliveries(const mo_config *cfg, const apply_opts *opts);
int apply_stock(const mo_config *cfg, const apply_opts *opts);

#endif
