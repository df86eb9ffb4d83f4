/* What apply_loop.c (one tenant's loop) lends apply_tenants.c (the loop of
 * every registry tenant): the handling of one message and the state it
 * keeps per tenant.  Internal to the consumers. */
#ifndef MO_APPLY_LOOP_H
#define MO_APPLY_LOOP_H

#include "apply.h"
#include "kafka.h"

/* One tenant's failure bookkeeping of one flow: its attempt records, its
 * refused-credential clock, its dead-letter resolver. */
typedef struct al_state al_state;

/* What became of a message: */
typedef enum al_verdict {
    AL_STORE, /* settled (applied, skipped, refused for good): store its offset */
    AL_DEAD,  /* dead-lettered (Kafka has the letter): store its offset */
    AL_RETRY  /* try it again after *retry_ms; its offset must not move */
} al_verdict;

/* State for flow's messages of cfg's tenant in consumer group `group`.  rs:
 * the Redis store to keep attempt records in (borrowed; bound to cfg's
 * tenant while a message is handled), or NULL to open one.  kp: the
 * producer the dead-letter resolver records states with (borrowed, must
 * outlive the state: the loop's own), or NULL for one made when needed.
 * NULL with errstr when Redis or memory fails. */
al_state *al_new(const mo_config *cfg, const apply_flow *flow, const char *group, rs_store *rs,
                 kq_producer *kp, char *errstr, size_t errstr_size);
void al_free(al_state *st);

/* Applies m with flow, within budget_ms, and settles it by class (apply.h,
 * apply_loop.c's header comment): counts, attempt records, dead letters
 * (through kp).  Stores nothing and pauses nothing: the caller does, by the
 * verdict. */
al_verdict al_handle(al_state *st, const apply_flow *flow, kq_producer *kp, const char *topic,
                     const rd_kafka_message_t *m, long budget_ms, long *retry_ms);

/* A message's time budget for a consumer with this max.poll.interval.ms
 * and a producer with this message.timeout.ms (st may be NULL: for the log). */
long al_budget(const al_state *st, int interval_ms, int msg_timeout_ms);

/* The partition left this consumer: forget its failing message. */
void al_forget_partition(al_state *st, const char *topic, int32_t partition);

/* What the handler of the latest message reported (apply_outcome), or NULL. */
const char *al_outcome(void);

#endif
