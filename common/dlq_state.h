/* The dead letters as an operator sees them: each letter of mosync.dlq with
 * its state (open, redriven, resolved, purged), filters over them, the
 * recording of state changes, and the Redis index the appliers use to
 * resolve a letter when a later event of its entity is applied.
 *
 * A letter's id is its place in mosync.dlq, "<partition>:<offset>".  Its
 * state is recorded on Kafka, in mosync.dlq.state (key = the letter id,
 * value {"letter", "state", "at", "by", "note"?}; the latest record of a
 * letter wins; no record = open), so it survives the loss of Redis.  The
 * index (hash mosync:{T}:dlq:open:<flow>, field = the letter's key, value =
 * a change counter) only says which keys may have open letters; it is a
 * cache, rebuilt from the two topics whenever its marker mosync:{T}:dlq:index
 * is missing. */
#ifndef MO_DLQ_STATE_H
#define MO_DLQ_STATE_H

#include "config.h"
#include "err.h"
#include "kafka.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

typedef enum { DLQ_OPEN = 0, DLQ_REDRIVEN, DLQ_RESOLVED, DLQ_PURGED, DLQ_NSTATES } dlq_state;

/* "open", "redriven", ...; and back: -1 for an unknown name. */
const char *dlq_state_name(dlq_state s);
int dlq_state_parse(const char *name);

typedef struct dlq_letter {
    char id[48]; /* "<partition>:<offset>" */
    int32_t partition;
    int64_t offset;
    char source[256]; /* original topic, or the API route a poller read */
    int src_partition;
    long long src_offset;
    char key[512];
    int has_key;
    char tenant[72]; /* mosync.tenant: one prefix's topics may carry several tenants */
    char component[64];
    char flow[32]; /* "orders", "articles", "deliveries", "stock"; "" unknown */
    char error_class[32];
    char error[1024];
    int attempts;
    char first_failure[32];
    char last_failure[32];
    int truncated;
    long long time_ms; /* the letter's time: mosync.last.failure, else Kafka's */
    dlq_state state;
    char state_at[32];
    char state_by[64];
    void *value; /* owned: the (possibly cut) original bytes; NULL unless read with values */
    size_t len;
    json_t *shown; /* owned: as `dlq show` prints it (dlq_message_json); NULL likewise */
} dlq_letter;

typedef struct dlq_letters {
    dlq_letter *v; /* sorted by partition, then offset */
    int n, cap;
    int with_values; /* keep each letter's value and shown */
} dlq_letters;

/* The flow of a component: "apply.orders" and "poll.mystore-orders" are
 * "orders"; products are "articles", shipments "deliveries".  "" when none. */
const char *dlq_flow_of(const char *component);

/* Parses "<partition>:<offset>" (both decimal, >= 0).  MO_ERR_INVALID else. */
mo_err dlq_id_parse(const char *id, int32_t *partition, int64_t *offset);

/* Fills l's context from the headers of a dead letter (names and values as
 * dlq.c writes them; unknown or malformed ones are left empty). */
void dlq_letter_header(dlq_letter *l, const char *name, const char *value, size_t len);

/* Adds a letter (a copy of *l, whose value and shown are stolen) keeping the
 * order.  MO_ERR_NOMEM. */
mo_err dlq_letters_add(dlq_letters *ls, const dlq_letter *l);
/* The letter with that place, or NULL. */
dlq_letter *dlq_letters_find(dlq_letters *ls, int32_t partition, int64_t offset);
/* Applies one record of mosync.dlq.state (value borrowed) to the letters;
 * a record for an unknown letter or with an unknown state is ignored (0),
 * an applied one returns 1. */
int dlq_letters_fold(dlq_letters *ls, const char *key, const json_t *rec);
void dlq_letters_free(dlq_letters *ls);

/* Reads every letter of mosync.dlq with its current state (from
 * mosync.dlq.state), both to their ends, without any group commit.  The
 * letters' values (up to message.max.bytes each) are kept only with
 * with_values: counting and listing need none.  Free with dlq_letters_free
 * (also after a failure). */
mo_err dlq_letters_read(const mo_config *cfg, dlq_letters *ls, int with_values, char *errstr,
                        size_t errstr_size);

/* Reads the one message at topic (full name) [partition] @offset: *value
 * (new, free() it) and *len.  MO_ERR_PERMANENT when it is no longer there
 * (retention), MO_ERR_TRANSIENT when Kafka does not answer in time. */
mo_err dlq_fetch_original(const mo_config *cfg, const char *topic, int partition, long long offset,
                          void **value, size_t *len, char *errstr, size_t errstr_size);

/* Which letters an operator means.  Empty strings and 0 times match all. */
typedef struct dlq_filter {
    const char *flow;   /* flow ("orders") or component ("apply.orders") */
    const char *entity; /* the key ("t1:1001") or the entity alone ("1001") */
    const char *error_class;
    long long since_ms, until_ms; /* 0 = unbounded; until is exclusive */
    int states;                   /* bit (1 << state); 0 = every state */
    const char *tenant;           /* for entity matching */
} dlq_filter;

/* 1 when l passes every condition of f. */
int dlq_filter_match(const dlq_filter *f, const dlq_letter *l);
/* 1 when an event of the letter's key applied with success comes after the
 * letter's failure, so it supersedes it: in the letter's own source
 * partition, by offset (a re-driven copy always comes later); elsewhere
 * (a poller's letter, another partition) by time: the event (Kafka
 * timestamp ts_ms) was produced at or after the letter's last failure. */
int dlq_letter_superseded(const dlq_letter *l, const char *topic, int32_t partition, int64_t offset,
                          long long ts_ms);
/* 1 when name is a known flow or a component of one ("apply.orders"). */
int dlq_flow_valid(const char *name);
/* 1 when name is an error class dead letters carry ("invalid", ...). */
int dlq_class_valid(const char *name);

/* Records state for the letters (ids borrowed), all in one batch on
 * mosync.dlq.state, waiting for their delivery.  by: "operator",
 * "apply.orders"; note may be NULL. */
mo_err dlq_state_record(kq_producer *kp, const mo_config *cfg, const char *const *ids, int n,
                        dlq_state state, const char *by, const char *note, char *errstr,
                        size_t errstr_size);

/* Counts the tenant's open letters per component and error class into *out
 * (a new object {"apply.orders": {"transient": 3, ...}, ...}; empty when
 * there are none, also when the topics do not exist yet): for `mosync status`. */
mo_err dlq_open_by_class(const mo_config *cfg, json_t **out, char *errstr, size_t errstr_size);

/* ---- the index of open letters, for the appliers ------------------------- */

/* Notes in the index that key has a new letter of component's flow (after
 * dlq_send delivered it).  Best effort: a failure is logged (the index is
 * rebuilt from Kafka when its marker is gone). */
void dlq_index_note(const mo_config *cfg, const char *component, const char *key);

typedef struct dlq_resolver dlq_resolver;

/* The resolver of one applier loop (flow "orders", component
 * "apply.orders"); cfg borrowed.  Opens its own Redis connection and
 * producer lazily.  NULL when out of memory. */
dlq_resolver *dlq_resolver_new(const mo_config *cfg, const char *flow, const char *component);
void dlq_resolver_free(dlq_resolver *r);
/* Called after message m of topic was handled with success: records
 * "resolved" the open (or re-driven) letters of the flow with m's key that
 * m supersedes (dlq_letter_superseded).
 * Also rebuilds the index when its marker is missing (checked at the first
 * call and then at most every DLQ_INDEX_CHECK_MS).  Never fails: Redis or
 * Kafka errors are logged and tried again with a later event. */
#define DLQ_INDEX_CHECK_MS 10000
void dlq_resolver_applied(dlq_resolver *r, const char *topic, const rd_kafka_message_t *m);

#endif
