/* A consumer group seen from outside, without joining it: what `mosync
 * status` (lag) needs from Kafka.  Works on a real broker and on the
 * embedded one (librdkafka's mock cluster). */
#ifndef MO_KAFKA_GROUP_H
#define MO_KAFKA_GROUP_H

#include "config.h"
#include "err.h"

#include <stdint.h>

/* ---- lag ---------------------------------------------------------------- */

/* One partition of a topic as a group sees it. */
typedef struct kg_lag {
    int32_t partition;
    int64_t committed; /* the group's committed offset; -1 when never committed */
    int64_t low, high; /* the partition's low and high watermarks */
    /* high - committed; a partition the group never committed on counts
     * everything it still holds (high - low): a new consumer of the group
     * starts at the beginning (auto.offset.reset earliest). */
    int64_t lag;
} kg_lag;

/* The lag of group on topic (full names), every partition in order: asks the
 * broker for the group's committed offsets with a consumer of that group.id
 * that never subscribes (so it does not join the group and moves nothing), and
 * for each partition's watermarks.  Each request waits at most timeout_ms.
 * *out (free() it) receives *n entries.  MO_ERR_TRANSIENT naming why when
 * Kafka does not answer, MO_ERR_INVALID when it answers that the topic does
 * not exist (or has no partitions), MO_ERR_CONFIG on a bad KAFKA_PROP_*,
 * MO_ERR_NOMEM. */
mo_err kg_group_lag(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                    kg_lag **out, int *n, char *errstr, size_t errstr_size);

#endif
