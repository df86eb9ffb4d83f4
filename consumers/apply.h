/* The consumers ("appliers"): each reads one topic in a consumer group, maps
 * every event with a pure function and applies the result to the other
 * system, idempotently.  apply_loop.c holds what they share: offsets stored
 * only after the effect, transient failures retried by pausing the partition,
 * and everything else dead-lettered. */
#ifndef MO_APPLY_H
#define MO_APPLY_H

#include "config.h"
#include "err.h"

#include <librdkafka/rdkafka.h>

typedef struct apply_opts {
    int once;          /* exit once the topic has been idle for idle_ms */
    long idle_ms;      /* default 2000 */
    const char *group; /* consumer group override (replay with a new group); NULL = default */
} apply_opts;

/* Applies one message.  Returns:
 *   MO_OK            applied, skipped as duplicate or stale, or refused for a
 *                    business reason and recorded: the offset moves on;
 *   MO_ERR_TRANSIENT try again later (the partition pauses, others go on);
 *   anything else    dead-letter the message with errstr, then move on. */
typedef mo_err (*apply_fn)(void *ctx, const rd_kafka_message_t *msg, char *errstr,
                           size_t errstr_size);

/* Runs the consumer loop for topic (base name) in group until a stop is
 * requested (or, with opts->once, until idle).  Returns the exit status. */
int apply_run(const mo_config *cfg, const char *component, const char *topic_base,
              const char *group_base, apply_fn fn, void *ctx, const apply_opts *opts,
              unsigned long *dead_lettered);

/* `mosync apply orders`. */
int apply_orders(const mo_config *cfg, const apply_opts *opts);

#endif
