/* Dead letters: anything mosync cannot parse, map or apply for good goes to
 * the mosync.dlq topic with its original key and bytes and the context in
 * headers, so nothing is lost and `mosync dlq redrive` can re-drive it.
 *
 * Headers (all strings): mosync.source (original topic, or the API route a
 * poller read), mosync.partition, mosync.offset, mosync.key, mosync.tenant,
 * mosync.component, mosync.error.class, mosync.error, mosync.attempts,
 * mosync.first.failure, mosync.last.failure, and mosync.source.version (the
 * event envelope's source_version, when the value is an event that parses;
 * absent for a poller's letter or a value that does not parse).  Secrets are
 * masked in the text.
 * A value too large for Kafka with these headers is sent cut to fit, with
 * mosync.value.size (the whole size), mosync.value.sha256 (of the whole
 * value) and mosync.value.truncated=true; the whole value stays in the source
 * topic at mosync.partition / mosync.offset.
 *
 * Each letter also has a state (open until an operator re-drives or purges
 * it, or a later event of its entity is applied): see dlq_state.h. */
#ifndef MO_DLQ_H
#define MO_DLQ_H

#include "config.h"
#include "err.h"
#include "kafka.h"

typedef struct dlq_ctx {
    const char *component; /* "apply.orders", "poll.mystore-orders" */
    const char *source;    /* original topic or API route */
    int partition;         /* -1 when not from Kafka */
    long long offset;      /* -1 when not from Kafka */
    const char *key;       /* original key, may be NULL */
    mo_err error_class;
    const char *error; /* one-line reason */
    int attempts;
    const char *first_failure; /* UTC ISO 8601, NULL = now */
} dlq_ctx;

/* Produces the dead letter and waits for its delivery report (at least the
 * producer's message.timeout.ms, so the outcome is known; a stop request
 * ends the wait early, and the letter may then be sent again later): MO_OK
 * only when Kafka has it, so the caller may then move past the original.
 * Never fails for the letter's size (see above). */
mo_err dlq_send(kq_producer *kp, const mo_config *cfg, const dlq_ctx *ctx, const void *value,
                size_t len, char *errstr, size_t errstr_size);

/* The context headers of a letter (see above): a new list, NULL when out of
 * memory.  error is already masked; now is the failure time (UTC); version
 * may be NULL or "" (no mosync.source.version).  For dlq_send and for the
 * dead-letter benchmark (`mosync dlq dev-fill`), whose letters must carry
 * exactly what real ones do. */
rd_kafka_headers_t *dlq_letter_headers(const mo_config *cfg, const dlq_ctx *ctx, const char *error,
                                       const char *now, const char *version);
/* The source version of a letter's value into buf ("" when none): the
 * envelope's source_version when ctx is a message from Kafka and value
 * parses as an event with a version dlq_version_valid accepts. */
void dlq_source_version(const dlq_ctx *ctx, const void *value, size_t len, char *buf, size_t size);

#endif

/* Dead-letters one item a poller read from an API (not from Kafka), as its
 * compact JSON, with error class invalid.  key may be NULL.  Logs a failure
 * to deliver it. */
mo_err dlq_send_item(kq_producer *kp, const mo_config *cfg, const char *component,
                     const char *source, const char *key, const json_t *item, const char *why);

/* `mosync dlq show`: prints every dead letter of the tenant's dead-letter
 * topic, oldest first, one JSON object per line:
 *   {"partition": 0, "offset": 12, "key": "t1:10001", "headers": {...},
 *    "value_base64": "...", "timestamp_ms": 1764928800123}
 * (timestamp_ms: the message's Kafka timestamp, when it was produced; absent
 * when the broker gives none).
 * A key that is not valid UTF-8 is printed as "key_base64" instead of "key";
 * headers whose value is not valid UTF-8 go to "headers_base64" (value in
 * base64, the name with bad bytes escaped as \xNN): nothing is skipped.
 * Reads without a consumer group commit, so it changes nothing.  With once,
 * returns when the end of every partition is reached. */
int dlq_show(const mo_config *cfg, int once);
/* One message as dlq_show prints it (a new object), NULL when out of memory. */
json_t *dlq_message_json(const rd_kafka_message_t *m);
/* The same for any topic of the pipeline (base name, the prefix is added):
 * `mosync tail <topic>`.  group names the (never committed) group. */
int dlq_show_topic(const mo_config *cfg, const char *topic_base, const char *group, int once);
