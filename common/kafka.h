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

/* ---- producer ---------------------------------------------------------- */

typedef struct kq_producer kq_producer;

/* Delivery accounting for one batch (one page of a poller, one dead letter). */
typedef struct kq_batch {
    int produced;  /* messages handed to librdkafka */
    int delivered; /* successful delivery reports */
    int failed;    /* failed delivery reports */
    char first_error[256];
} kq_batch;

kq_producer *kq_producer_new(const mo_config *cfg, const char *client_id, char *errstr,
                             size_t errstr_size);
/* Flushes (up to 10 s) and frees. */
void kq_producer_free(kq_producer *kp);

void kq_batch_begin(kq_batch *batch);
/* Produces one message into batch.  headers (may be NULL) are stolen, also on
 * failure.  MO_ERR_TRANSIENT when the local queue stays full. */
mo_err kq_produce(kq_producer *kp, kq_batch *batch, const char *topic, const char *key,
                  const void *value, size_t len, rd_kafka_headers_t *headers, char *errstr,
                  size_t errstr_size);
/* Waits until every message of the batch has a delivery report (or timeout).
 * MO_OK only when all were delivered; else MO_ERR_TRANSIENT naming the first
 * failure.  Only after MO_OK may a poller advance its cursor. */
mo_err kq_batch_wait(kq_producer *kp, kq_batch *batch, int timeout_ms, char *errstr,
                     size_t errstr_size);

/* ---- consumer ---------------------------------------------------------- */

typedef struct kq_consumer kq_consumer;

/* Joins consumer group group_id and subscribes to topics (full names). */
kq_consumer *kq_consumer_new(const mo_config *cfg, const char *group_id, const char **topics,
                             int ntopics, char *errstr, size_t errstr_size);
/* Next message or NULL after timeout_ms; resumes partitions whose retry time
 * has come.  Consumer errors are logged and skipped (NULL).  Destroy the
 * message with rd_kafka_message_destroy(). */
rd_kafka_message_t *kq_consumer_poll(kq_consumer *kc, int timeout_ms);
/* Marks msg done: its offset + 1 is stored and committed with the next commit. */
mo_err kq_consumer_store(kq_consumer *kc, const rd_kafka_message_t *msg);
/* Pauses msg's partition and rewinds it to msg, to be consumed again after
 * delay_ms.  The consumer keeps polling the other partitions. */
void kq_consumer_retry_later(kq_consumer *kc, const rd_kafka_message_t *msg, long delay_ms);
/* Number of partitions assigned, and of those waiting to retry. */
int kq_consumer_assigned(const kq_consumer *kc);
int kq_consumer_waiting(const kq_consumer *kc);
/* Commits stored offsets, leaves the group and frees, within deadline_ms. */
void kq_consumer_close(kq_consumer *kc, int deadline_ms);

/* Creates the pipeline's topics with cfg->topic_partitions partitions (an
 * existing topic is left as it is). */
mo_err kq_ensure_topics(const mo_config *cfg, char *errstr, size_t errstr_size);

/* ---- development broker ------------------------------------------------ */

/* Starts librdkafka's mock cluster with nbrokers brokers, creates the
 * pipeline's topics with `partitions` partitions, prints "BOOTSTRAP=<addr>"
 * on stdout and serves until a stop is requested.  For demos and tests only:
 * no production command starts it. */
int kq_dev_broker_run(const mo_config *cfg, int nbrokers, int partitions);

#endif
