/* The dead letters as an operator sees them: each letter of mosync.dlq with
 * its state (open, redriven, resolved, purged), filters over them, the
 * recording of state changes, and the Redis index the appliers use to
 * resolve a letter when a later event of its entity is applied.
 *
 * A letter's id is its place in mosync.dlq, "<partition>:<offset>".  Its
 * state is recorded on Kafka, in mosync.dlq.state (key = the letter id,
 * value {"letter", "state", "at", "by", "note"?}; the latest record of a
 * letter wins; no record = open), so it survives the loss of Redis.
 *
 * The index (hash mosync:{T}:dlq:open:<flow>, field = a letter's key, value
 * = that key's open and re-driven letters with their ids, places and source
 * versions, see dlq_open_parse) is a cache: written when a letter is sent,
 * re-driven, purged or resolved, and rebuilt from the two topics, in the
 * background, whenever its marker mosync:{T}:dlq:index:v2 is missing.  An
 * applier decides from one Redis call per message and never reads the
 * topics on the message path. */
#ifndef MO_DLQ_STATE_H
#define MO_DLQ_STATE_H

#include "config.h"
#include "err.h"
#include "kafka.h"
#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DLQ_OPEN = 0, DLQ_REDRIVEN, DLQ_RESOLVED, DLQ_PURGED, DLQ_NSTATES } dlq_state;

/* "open", "redriven", ...; and back: -1 for an unknown name. */
const char *dlq_state_name(dlq_state s);
int dlq_state_parse(const char *name);

/* The longest source version kept (a UTC instant with milliseconds is 24). */
#define DLQ_VERSION_MAX 40

/* 1 when s[0..len) can be a source version the letters and the index keep:
 * 1..DLQ_VERSION_MAX characters of [0-9A-Za-z:.+_ -] (so never the index's
 * separators ',' and ';'). */
int dlq_version_valid(const char *s, size_t len);

/* A letter while it is read from its headers: one at a time, on the stack;
 * the fixed buffers cut what outside input could make long.  dlq_letters_add
 * turns it into a dlq_letter. */
typedef struct dlq_draft {
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
    char error_class[32];
    char error[1024];
    int attempts;
    char first_failure[32];
    char last_failure[32];
    char version[DLQ_VERSION_MAX + 1]; /* mosync.source.version, "" when none */
    int truncated;
    long long time_ms; /* the letter's time: mosync.last.failure, else Kafka's */
    void *value;       /* the (possibly cut) original bytes, or NULL; stolen by add */
    size_t len;
    json_t *shown; /* as `dlq show` prints it, or NULL; stolen by add */
} dlq_draft;

/* Clears d for the letter at partition:offset of mosync.dlq (sets its id;
 * the source's place is -1 until a header gives it). */
void dlq_draft_init(dlq_draft *d, int32_t partition, int64_t offset);
/* Fills d's context from one header of a dead letter (names and values as
 * dlq.c writes them; value is len bytes, not NUL-terminated; unknown or
 * malformed ones are left empty). */
void dlq_letter_header(dlq_draft *d, const char *name, const char *value, size_t len);

/* A letter in a list: small, its text in the list's arena (every string
 * points there or to a constant, never NULL: "" when absent). */
typedef struct dlq_letter {
    const char *id, *source, *key, *tenant, *component;
    const char *flow; /* "orders", "articles", "deliveries", "stock"; "" unknown */
    const char *error_class, *error, *first_failure, *last_failure;
    const char *version; /* the source version of the event, "" when unknown */
    const char *state_at, *state_by;
    int64_t offset;
    long long src_offset;
    long long time_ms;
    int32_t partition;
    int src_partition;
    int attempts;
    dlq_state state;
    unsigned char has_key, truncated;
    void *value; /* owned: the (possibly cut) original bytes; NULL unless read with values */
    size_t len;
    json_t *shown; /* owned: as `dlq show` prints it (dlq_message_json); NULL likewise */
} dlq_letter;

/* At most this many letters in one list (MO_ERR_TOO_LARGE beyond). */
#define DLQ_LETTERS_MAX 5000000

/* The letters of mosync.dlq: appended as they are read (partitions arrive
 * interleaved), sorted once by partition and offset before the first lookup
 * or by dlq_letters_sort.  Expected size at 100x today: 100,000 letters of
 * about 150 bytes each plus their text (about 250 bytes without values), so
 * some 40 MB; capped at DLQ_LETTERS_MAX.  A zeroed struct is an empty list. */
typedef struct dlq_letters {
    dlq_letter *v;
    int n, cap;
    int unsorted;    /* v is not in order yet (dlq_letters_sort) */
    int with_values; /* keep each letter's value and shown */
    struct dlq_arena *arena;
} dlq_letters;

/* The flow of a component: "apply.orders" and "poll.mystore-orders" are
 * "orders"; products are "articles", shipments "deliveries".  "" when none. */
const char *dlq_flow_of(const char *component);

/* Parses "<partition>:<offset>" (both decimal, >= 0).  MO_ERR_INVALID else. */
mo_err dlq_id_parse(const char *id, int32_t *partition, int64_t *offset);

/* Appends the letter d describes (its value and shown are stolen, also on
 * failure; d itself is not kept).  MO_ERR_NOMEM, MO_ERR_TOO_LARGE past
 * DLQ_LETTERS_MAX. */
mo_err dlq_letters_add(dlq_letters *ls, dlq_draft *d);
/* Sorts the letters by partition, then offset (once; cheap when sorted). */
void dlq_letters_sort(dlq_letters *ls);
/* The letter with that place, or NULL (sorts first when needed). */
dlq_letter *dlq_letters_find(dlq_letters *ls, int32_t partition, int64_t offset);
/* Applies one record of mosync.dlq.state (value borrowed) to the letters;
 * a record for an unknown letter or with an unknown state is ignored (0),
 * an applied one returns 1. */
int dlq_letters_fold(dlq_letters *ls, const char *key, const json_t *rec);
/* The bytes the list holds (array and text, values excluded). */
size_t dlq_letters_bytes(const dlq_letters *ls);
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

/* ---- which letters an applied event resolves ------------------------------ */

/* One open (or re-driven) letter of a key, as the index holds it. */
typedef struct dlq_open_entry {
    char id[32];       /* "<partition>:<offset>" in mosync.dlq */
    int src_partition; /* where its event was in the flow's topic; -1: a poller's letter */
    long long src_offset;
    long long time_ms;                 /* its last failure, ms since the epoch */
    char version[DLQ_VERSION_MAX + 1]; /* its event's source version, "" when unknown */
} dlq_open_entry;

/* An event its flow applied with success, as the resolver sees it. */
typedef struct dlq_applied {
    const char *version;    /* the envelope's source_version; NULL or "" when unknown */
    const char *redrive_of; /* its mosync.redrive.of header (a re-driven copy); NULL none */
    int32_t partition;      /* its place in the flow's topic */
    int64_t offset;
    long long ts_ms; /* its Kafka timestamp; 0 unknown */
} dlq_applied;

/* 1 when applying a resolves the letter e of the same key and flow:
 *  - a re-driven copy resolves only the letter it was re-driven from;
 *  - else, when both have comparable source versions, e's version is at or
 *    before a's (so the dead-lettered event itself resolves its letter, and
 *    an older event never closes a letter about a newer one);
 *  - else (a letter without a version: its payload did not parse, or a
 *    poller read it) by place: in the letter's own source partition when
 *    a is at or after the letter's event, elsewhere when a was produced at
 *    or after the letter's last failure. */
int dlq_resolves(const dlq_open_entry *e, const dlq_applied *a);

/* ---- the index of open letters, for the appliers ------------------------- */

/* The most bytes one key's index value holds (about 150 letters); a letter
 * that does not fit is left out of the index (logged): it stays open until
 * an operator re-drives or purges it. */
#define DLQ_OPEN_VALUE_MAX 8192
/* The most entries dlq_open_parse returns. */
#define DLQ_OPEN_MAX 512

/* The index value of one key is its entries joined by ';', each
 * "<id>,<src_partition>,<src_offset>,<time_ms>,<version>" (version may be
 * empty).  Parses value (len bytes, from Redis) into out[0..max): malformed
 * entries are skipped, a repeated id is kept once.  Returns the count. */
int dlq_open_parse(const char *value, size_t len, dlq_open_entry *out, int max);
/* One entry in that form into buf; its length, or -1 when it does not fit or
 * e is not well-formed. */
int dlq_open_format(const dlq_open_entry *e, char *buf, size_t size);
/* The entry of a letter read from the topics. */
void dlq_open_entry_of(const dlq_letter *l, dlq_open_entry *e);

/* Adds e to key's entries in flow's index (once: an id already there is not
 * added again), renewing the hash's expiry.  *full (may be NULL) is set when
 * it did not fit DLQ_OPEN_VALUE_MAX. */
mo_err dlq_index_add(rs_store *rs, const mo_config *cfg, const char *flow, const char *key,
                     const dlq_open_entry *e, int *full, char *errstr, size_t errstr_size);
/* Removes the letters ids[0..n) from key's entries in flow's index (and
 * what is no entry at all: the counter an older mosync kept there). */
mo_err dlq_index_remove(rs_store *rs, const mo_config *cfg, const char *flow, const char *key,
                        const char *const *ids, int n, char *errstr, size_t errstr_size);

/* Notes in the index a letter component just sent for key (e filled from
 * its delivery report).  Best effort on a connection of its own: a failure
 * is logged (the letter is then resolved only by an operator, or after the
 * next rebuild). */
void dlq_index_note(const mo_config *cfg, const char *component, const char *key,
                    const dlq_open_entry *e);

typedef struct dlq_resolver dlq_resolver;

/* While the index is rebuilt, at most this many successes wait to be
 * checked against it; later ones are not checked (logged and counted): their
 * letters stay open for an operator. */
#define DLQ_PENDING_MAX 20000
/* A rebuild is done by one process at a time (lock mosync:{T}:lock:dlq-rebuild);
 * a holder that died frees it after this. */
#define DLQ_REBUILD_LOCK_MS 300000

/* The resolver of one applier loop (flow "orders", component
 * "apply.orders"); cfg borrowed.  Opens its own Redis connection, and its
 * own producer lazily unless given kp (borrowed: the loop's, outliving r;
 * its message path and its rebuild thread produce with it at once).  NULL
 * when out of memory. */
dlq_resolver *dlq_resolver_new(const mo_config *cfg, const char *flow, const char *component,
                               kq_producer *kp);
/* Waits for a rebuild this resolver runs (bounded by its topic reads) and
 * for the successes waiting for it, then frees r. */
void dlq_resolver_free(dlq_resolver *r);
/* Called after message m of topic was handled with success: one Redis call
 * (the index marker and m's key's entries).  Records "resolved" for the
 * letters m resolves (dlq_resolves) and takes them out of the index.  When
 * the marker is missing (new or emptied Redis), m waits in a bounded queue
 * and a thread of r rebuilds the index from the topics (or waits for the
 * process that does), then checks what waited: the message path never
 * reads the topics.  Never fails: Redis or Kafka errors are logged. */
void dlq_resolver_applied(dlq_resolver *r, const char *topic, const rd_kafka_message_t *m);
/* Successes waiting for a rebuild, and those dropped because the queue was
 * full (for tests and logs). */
int dlq_resolver_pending(dlq_resolver *r);

#endif
