/* A consumer group seen from outside its members: what operator commands
 * (mosync replay, mosync status) need of a group's offsets and membership,
 * without running an applier. */
#ifndef MO_KAFKA_GROUP_H
#define MO_KAFKA_GROUP_H

#include "config.h"
#include "err.h"

#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* ---- rewind ----------------------------------------------------------- *
 * A session on one group and one topic (full names).  Opened, it reads the
 * group's committed offsets and the topic's offsets; joined (kq_group_join),
 * it is the group's only member and may commit offsets for it.  Offsets are
 * arrays indexed by partition, kq_group_partitions() long; -1 = none. */

typedef struct kq_group kq_group;

/* Opens a session (not a member yet): reads the topic's partition count,
 * waiting at most timeout_ms.  NULL with errstr, and *why (may be NULL) set:
 * MO_ERR_TRANSIENT when the broker does not answer, MO_ERR_INVALID when it
 * answers that the topic does not exist, MO_ERR_CONFIG on a bad KAFKA_PROP_*,
 * MO_ERR_NOMEM.  Free with kq_group_close. */
kq_group *kq_group_open(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                        mo_err *why, char *errstr, size_t errstr_size);
int kq_group_partitions(const kq_group *g);

/* Joins the group and checks that this session got every partition of the
 * topic, so it is the only member (an applier running in the group would
 * hold some).  The partitions are paused: nothing is consumed.  MO_OK when
 * alone; MO_ERR_CONFIG naming the group and how many partitions others hold
 * when it is active (the session has left it again); MO_ERR_TRANSIENT when
 * no assignment came within timeout_ms.  Without DescribeGroups (which the
 * embedded broker does not answer) this is how a client can tell; a group
 * with more members than partitions can hide a member that holds none. */
mo_err kq_group_join(kq_group *g, int timeout_ms, char *errstr, size_t errstr_size);

/* The group's committed offsets into offsets (-1: never committed). */
mo_err kq_group_committed(kq_group *g, int64_t *offsets, int timeout_ms, char *errstr,
                          size_t errstr_size);
/* Each partition's low and high watermark (either may be NULL). */
mo_err kq_group_watermarks(kq_group *g, int64_t *low, int64_t *high, int timeout_ms, char *errstr,
                           size_t errstr_size);
/* Per partition, the offset of the first message whose timestamp is at or
 * after at_ms (ms since the epoch); the high watermark when there is none. */
mo_err kq_group_offsets_at(kq_group *g, long long at_ms, int64_t *offsets, int timeout_ms,
                           char *errstr, size_t errstr_size);
/* Reads partitions from[p] up to upto[p] (from -1, or not below upto:
 * skipped) with a handle of its own that neither joins the group nor
 * commits, and calls fn(opaque, m) for each message below upto[p] (m
 * borrowed), in offset order within a partition; fn returns non-zero when
 * it needs no more of m's partition.  A partition's end (high watermark)
 * ends its reading too.  MO_ERR_TRANSIENT when no message came for
 * timeout_ms (or a stop is requested), MO_ERR_CONFIG, MO_ERR_NOMEM. */
typedef int (*kq_scan_fn)(void *opaque, const rd_kafka_message_t *m);
mo_err kq_group_scan(kq_group *g, const int64_t *from, const int64_t *upto, kq_scan_fn fn,
                     void *opaque, int timeout_ms, char *errstr, size_t errstr_size);
/* Commits offsets for the group (partitions with -1 are left alone),
 * synchronously.  Only after kq_group_join succeeded. */
mo_err kq_group_commit(kq_group *g, const int64_t *offsets, char *errstr, size_t errstr_size);
/* Leaves the group (when joined) and frees g.  NULL is fine. */
void kq_group_close(kq_group *g);

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

/* The lag of group on topic (full names), every partition in order, read
 * through a session that never joins (so it moves nothing).  Each request
 * waits at most timeout_ms.  *out (free() it) receives *n entries.  Errors as
 * kq_group_open's, and MO_ERR_TRANSIENT when an offset request gets no
 * answer. */
mo_err kg_group_lag(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                    kg_lag **out, int *n, char *errstr, size_t errstr_size);

#endif
