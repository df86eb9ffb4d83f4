/* Kafka on librdkafka: an idempotent producer with per-batch delivery-report
 * accounting, a consumer that stores offsets only when told to (after the
 * effect), pauses a partition to retry a message later, and closes within a
 * deadline; plus the embedded development broker (librdkafka's mock cluster).
 *
 * Every property of KAFKA_PROP_* from the configuration is applied, so SASL
 * and TLS need no code. */
#ifndef MO_KAFKA_H
#define MO_KAFKA_H

#include "config.h"
#include "err.h"

#include <librdkafka/rdkafka.h>

/* The topics of the pipeline (base names; the configured prefix is prepended). */
#define KQ_TOPIC_PRODUCTS  "mystore.products"
#define KQ_TOPIC_ORDERS    "mystore.orders"
#define KQ_TOPIC_SHIPMENTS "ongoing.shipments"
#define KQ_TOPIC_STOCK     "ongoing.stock"
#define KQ_TOPIC_DLQ       "mosync.dlq"
/* The dead letters' states (common/dlq_state.h): compacted, key = letter id. */
#define KQ_TOPIC_DLQ_STATE "mosync.dlq.state"

/* A new configuration with the brokers, client.id and every KAFKA_PROP_*
 * applied (and the log callback), for code that builds its own handle
 * (kafka_group.c).  The caller owns it (rd_kafka_new takes it).  NULL with
 * errstr on a bad property. */
rd_kafka_conf_t *kq_conf(const mo_config *cfg, const char *client_id, char *errstr,
                         size_t errstr_size);

/* For a command that reports Kafka's state itself (mosync status): from now
 * on librdkafka's own log lines are written at debug level only, and the
 * first warning or error among them is kept for kq_log_first_complaint (it
 * says why a broker did not answer: "Connect to ipv4#10.0.0.5:9092 failed:
 * Connection refused").  Call before creating any Kafka handle. */
void kq_log_quiet(void);
/* That first complaint ("" when none), as librdkafka wrote it, into buf. */
void kq_log_first_complaint(char *buf, size_t size);

/* ---- producer ---------------------------------------------------------- */

typedef struct kq_producer kq_producer;

/* How long kq_batch_wait waits beyond the producer's message.timeout.ms: by
 * then librdkafka has given every message of the batch its delivery report. */
#define KQ_REPORT_MARGIN_MS 5000

/* Delivery accounting for one batch (one page of a poller, one dead letter).
 * The caller's struct may live on its stack: what the delivery reports write
 * into is a separate heap record (acct) that the waiter and every message of
 * the batch still in flight own together, so a report that comes after the
 * wait gave up (or after the caller returned) writes into live memory. */
#define KQ_BATCH_TAGS_MAX 64 /* failed tagged messages a batch names (a poller's page: 50) */
typedef struct kq_batch {
    int produced;                  /* messages handed to librdkafka */
    int delivered;                 /* successful delivery reports */
    int failed;                    /* failed delivery reports */
    rd_kafka_resp_err_t first_err; /* error of the first failed report */
    char first_error[256];
    /* The tags (kq_produce_tagged) of failed messages and their errors, the
     * first KQ_BATCH_TAGS_MAX of them: which entity of a page failed. */
    int ntagged;
    int tag[KQ_BATCH_TAGS_MAX];
    rd_kafka_resp_err_t tag_err[KQ_BATCH_TAGS_MAX];
    int32_t last_partition; /* where the last delivered message went (a batch of */
    int64_t last_offset;    /* one: that message's place), -1 before any */
    struct kq_acct *acct;   /* internal: shared with the messages in flight */
} kq_batch;

/* Creates the producer: idempotent, linger.ms 5, message.timeout.ms 30000 and
 * compression.codec lz4 unless KAFKA_PROP_* says otherwise (idempotence
 * cannot be turned off).
 * NULL with errstr on a bad property.  Free with kq_producer_free.  Several
 * threads may produce and wait with one producer at once, each its own
 * batches (`mosync run`: every poller and applier; `mosync poll
 * --all-tenants`: every worker): a delivery report counts into the batch of
 * its own message whichever thread serves it, and a wait ends on its own
 * batch's reports, not on the producer's queue (test_kafka.c:
 * shared_producer_two_threads). */
kq_producer *kq_producer_new(const mo_config *cfg, const char *client_id, char *errstr,
                             size_t errstr_size);
/* Waits for what is still queued (at most KQ_FREE_FLUSH_MS), purges the rest
 * (its reports say so), and frees: bounded even while the broker is away. */
#define KQ_FREE_FLUSH_MS 3000
void kq_producer_free(kq_producer *kp);
/* The producer's effective message.max.bytes and message.timeout.ms. */
int kq_producer_max_message_bytes(const kq_producer *kp);
int kq_producer_message_timeout_ms(const kq_producer *kp);

/* Asks a broker for the cluster's metadata, waiting at most timeout_ms:
 * MO_OK when one answered (readiness: Kafka is reachable with this
 * configuration, credentials included), else MO_ERR_TRANSIENT naming why. */
mo_err kq_producer_ping(kq_producer *kp, int timeout_ms, char *errstr, size_t errstr_size);

/* Starts a batch (clears batch).  Every begun batch ends with kq_batch_wait
 * or kq_batch_end. */
void kq_batch_begin(kq_batch *batch);
/* Produces one message into batch.  headers (may be NULL) are stolen, also on
 * failure.  MO_ERR_TRANSIENT when the local queue stays full, MO_ERR_TOO_LARGE
 * when librdkafka refuses the message as larger than message.max.bytes
 * (key, value and headers together), MO_ERR_NOMEM. */
mo_err kq_produce(kq_producer *kp, kq_batch *batch, const char *topic, const char *key,
                  const void *value, size_t len, rd_kafka_headers_t *headers, char *errstr,
                  size_t errstr_size);
/* The same, tagging the message with tag (>= 0; -1 = untagged): when its
 * delivery report fails, kq_batch_wait lists the tag and the error in
 * batch->tag / batch->tag_err, so a caller can tell which message failed (a
 * broker that refuses one event as too large). */
mo_err kq_produce_tagged(kq_producer *kp, kq_batch *batch, const char *topic, const char *key,
                         const void *value, size_t len, rd_kafka_headers_t *headers, int tag,
                         char *errstr, size_t errstr_size);
/* Waits until every message of the batch has its delivery report, at least
 * message.timeout.ms + KQ_REPORT_MARGIN_MS (or timeout_ms if longer), so the
 * outcome is known; returns early only when a stop is requested.  Then ends
 * the batch (kq_batch_end) with the counts copied into batch.  MO_OK only
 * when all were delivered; else MO_ERR_TRANSIENT naming the first failure
 * (batch->first_err tells which).  Only after MO_OK may a poller advance its
 * cursor. */
mo_err kq_batch_wait(kq_producer *kp, kq_batch *batch, int timeout_ms, char *errstr,
                     size_t errstr_size);
/* Lets go of the batch without waiting: reports still to come are counted
 * into memory the last of them frees.  Safe to call twice. */
void kq_batch_end(kq_batch *batch);

/* ---- consumer ---------------------------------------------------------- */

typedef struct kq_consumer kq_consumer;

/* Our default max.poll.interval.ms (a KAFKA_PROP_max_poll_interval_ms
 * overrides it): a consumer that does not poll within it leaves the group. */
#define KQ_MAX_POLL_INTERVAL_MS 300000

/* Joins consumer group group_id and subscribes to topics (full names). */
kq_consumer *kq_consumer_new(const mo_config *cfg, const char *group_id, const char **topics,
                             int ntopics, char *errstr, size_t errstr_size);
/* The same, committing only what the caller commits (kq_consumer_commit),
 * with metadata: for a loop that settles messages out of order and must
 * tell the next owner of a partition which ones above the committed offset
 * are settled already (consumers/apply_tenants.c). */
kq_consumer *kq_consumer_new_manual(const mo_config *cfg, const char *group_id, const char **topics,
                                    int ntopics, char *errstr, size_t errstr_size);
/* Commits offset (the next to consume) and metadata (may be NULL; the broker
 * keeps up to offset.metadata.max.bytes, 4096 by default) of topic's
 * partition: wait 0 sends it and returns, wait 1 waits for the coordinator
 * (bounded; MO_ERR_TRANSIENT when it did not answer or the assignment is
 * lost).  A manual consumer only. */
mo_err kq_consumer_commit(kq_consumer *kc, const char *topic, int32_t partition, int64_t offset,
                          const char *metadata, int wait);
/* The group's committed offset of topic's partition (a negative one when
 * none) and its metadata into metadata (size bytes, "" when none), asking
 * the coordinator for at most timeout_ms. */
mo_err kq_consumer_committed(kq_consumer *kc, const char *topic, int32_t partition, int64_t *offset,
                             char *metadata, size_t size, int timeout_ms);
/* Next message or NULL after timeout_ms; resumes partitions whose retry time
 * has come.  Consumer errors are logged and skipped (NULL).  Destroy the
 * message with rd_kafka_message_destroy().  On every assignment, eager or
 * cooperative, the assigned partitions are resumed: a pause never survives a
 * rebalance (librdkafka keeps the application's pause flag across unassign
 * and assign), and the committed offset is where they start again. */
rd_kafka_message_t *kq_consumer_poll(kq_consumer *kc, int timeout_ms);
/* Marks msg done: its offset + 1 is stored and committed with the next commit. */
mo_err kq_consumer_store(kq_consumer *kc, const rd_kafka_message_t *msg);
/* Stores next as the offset of topic's partition to commit (every message
 * below it done): for a loop that settles messages out of order. */
mo_err kq_consumer_store_next(kq_consumer *kc, const char *topic, int32_t partition, int64_t next);
/* Pauses msg's partition and rewinds it to msg, to be consumed again after
 * delay_ms.  The consumer keeps polling the other partitions.  The partition
 * is recorded before it is paused, so a paused partition is always resumed;
 * when it cannot be recorded (MO_ERR_NOMEM, MO_ERR_TOO_LARGE) it is only
 * rewound, not paused.  A rewind that fails is tried again before resuming. */
mo_err kq_consumer_retry_later(kq_consumer *kc, const rd_kafka_message_t *msg, long delay_ms);
/* Number of partitions assigned, and of those waiting to retry. */
int kq_consumer_assigned(const kq_consumer *kc);
int kq_consumer_waiting(const kq_consumer *kc);
/* Counts assignments and revocations: a change means a rebalance happened. */
unsigned long kq_consumer_generation(const kq_consumer *kc);
/* The effective max.poll.interval.ms. */
int kq_consumer_max_poll_interval_ms(const kq_consumer *kc);
/* Calls fn(opaque, topic, partition) for every partition revoked or lost,
 * before it goes (state kept per partition must go with it).  fn may be NULL. */
typedef void (*kq_revoke_fn)(void *opaque, const char *topic, int32_t partition);
void kq_consumer_on_revoke(kq_consumer *kc, kq_revoke_fn fn, void *opaque);
/* The lag of every partition assigned to kc, for the metrics: the high
 * watermark the fetcher last saw minus the consumer's position (the next
 * message it hands out; a retried message counts as not done).  A partition
 * it has handed out nothing of since its assignment is measured from its
 * committed offset, asked of the broker (at most timeout_ms; only then does
 * this call wait).  A partition nothing was fetched of yet is left out: its
 * high watermark is unknown.  Calls fn(opaque, topic, partition, lag) for
 * each; returns how many, -1 when the assignment cannot be read.  From the
 * thread that polls kc. */
typedef void (*kq_lag_fn)(void *opaque, const char *topic, int32_t partition, int64_t lag);
int kq_consumer_lag(kq_consumer *kc, int timeout_ms, kq_lag_fn fn, void *opaque);
/* 1 when every partition assigned to kc was read to its end, else 0: the
 * partition EOF came and no message of it since, or a fetch answered for it
 * (its high watermark is known) and the consumed position is not below it.
 * A partition no fetch has answered yet is never read to its end.  For a
 * bounded run (`--once`) that must not stop before it read everything.
 * From the thread that polls kc. */
int kq_consumer_caught_up(kq_consumer *kc);
/* Logs, at warn, each assigned partition's position, cached high watermark
 * and whether its end was reported, and each partition waiting to retry:
 * why a --once run has not ended. */
void kq_consumer_log_behind(kq_consumer *kc, const char *component);
/* Commits stored offsets, leaves the group and frees kc, within deadline_ms;
 * past it the consumer is destroyed without the group close (offsets
 * already committed are safe; the group notices the departure by the
 * session timeout).  When the commit is not confirmed (the coordinator is
 * away) no close is started at all: librdkafka 2.0.2's main thread
 * busy-loops from the start of a close until the group is gone, so the
 * handle is left for the process exit that follows.  Should the coordinator
 * go away during a close, the destroy is left running in a thread of its
 * own after a short wait, for the process exit to end (the one last-resort
 * bound).  mosync closes its consumers only when the process ends. */
void kq_consumer_close(kq_consumer *kc, int deadline_ms);

/* Creates the pipeline's topics with cfg->topic_partitions partitions (an
 * existing topic is left as it is); mosync.dlq.state with
 * cleanup.policy=compact (only the latest state of a letter matters). */
mo_err kq_ensure_topics(const mo_config *cfg, char *errstr, size_t errstr_size);

/* ---- development broker ------------------------------------------------ */

/* Starts librdkafka's mock cluster with nbrokers brokers, creates the
 * pipeline's topics with `partitions` partitions, prints "BOOTSTRAP=<addr>"
 * on stdout and serves until a stop is requested.  SIGUSR1 takes every
 * broker down (connections refused, data kept), SIGUSR2 brings them up again
 * (for the chaos suite).  For demos and tests only: no production command
 * starts it. */
int kq_dev_broker_run(const mo_config *cfg, int nbrokers, int partitions);

#endif
