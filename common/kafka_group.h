/* A consumer group seen from outside its members: what operator commands
 * (mosync replay, mosync status) need of a group's offsets and membership,
 * without running an applier. */
#ifndef MO_KAFKA_GROUP_H
#define MO_KAFKA_GROUP_H

#include "config.h"
#include "err.h"

#include <stdint.h>

/* ---- rewind ----------------------------------------------------------- *
 * A session on one group and one topic (full names).  Opened, it reads the
 * group's committed offsets and the topic's offsets; joined (kq_group_join),
 * it is the group's only member and may commit offsets for it.  Offsets are
 * arrays indexed by partition, kq_group_partitions() long; -1 = none. */

typedef struct kq_group kq_group;

/* Opens a session (not a member yet): reads the topic's partition count,
 * waiting at most timeout_ms.  NULL with errstr when the broker does not
 * answer or the topic does not exist.  Free with kq_group_close. */
kq_group *kq_group_open(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                        char *errstr, size_t errstr_size);
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
/* Commits offsets for the group (partitions with -1 are left alone),
 * synchronously.  Only after kq_group_join succeeded. */
mo_err kq_group_commit(kq_group *g, const int64_t *offsets, char *errstr, size_t errstr_size);
/* Leaves the group (when joined) and frees g.  NULL is fine. */
void kq_group_close(kq_group *g);

#endif
