/* The pollers: each reads one source's changes since its cursor and emits one
 * event per changed entity, advancing the cursor only after Kafka
 * acknowledged every event and only once the scan is proven complete.
 *
 * One engine (poll.c) serves every stream: the window and the source's clock,
 * paging, the seen map, the lease and its fence, entity failures, producing
 * and the cursor.  A source (poll_mystore.c with poll_orders.c and
 * poll_products.c; poll_ongoing.c) plugs in what differs: how to list a page,
 * what an item's id, time and fingerprint are, and how to build the snapshot
 * of one item. */
#ifndef MO_POLL_H
#define MO_POLL_H

#include "config.h"
#include "err.h"
#include "kafka.h"
#include "lease.h"
#include "mystore.h"
#include "store.h"

#include <jansson.h>

typedef struct poll_opts {
    int once; /* one cycle, then return (tests, cron) */
    /* The process's producer, shared with its other flows (`mosync run`;
     * borrowed, outlives the poller); NULL: a producer of its own. */
    kq_producer *kp;
} poll_opts;

/* `mosync poll mystore-orders`, `mosync poll mystore-products`,
 * `mosync poll ongoing-shipments`, `mosync poll ongoing-stock`.
 * Each returns the process exit status. */
int poll_mystore_orders(const mo_config *cfg, const poll_opts *opts);
int poll_mystore_products(const mo_config *cfg, const poll_opts *opts);
int poll_ongoing_shipments(const mo_config *cfg, const poll_opts *opts);
int poll_ongoing_stock(const mo_config *cfg, const poll_opts *opts);

/* `mosync resync <flow> <id>...`: reads each named entity again from its
 * source and emits the event its poller would emit, after forgetting what
 * the poller's seen map and the flow's applied record knew of it, so the
 * applier sends it whatever Redis said (flow: orders, articles, deliveries,
 * stock).  Returns the exit status: 0 all emitted, 1 when one could not be
 * (named on stderr; the others go on), 2 for bad usage. */
int poll_resync(const mo_config *cfg, const char *flow, char **ids, int nids);

/* ---- the engine's plug-in interface ------------------------------------- */

#define PE_ID_MAX   80 /* an entity id (event key, seen field) */
#define PE_HASH_HEX 16 /* hex digits of an item's fingerprint kept in `seen` */
#define PE_NO_TIME  (-1LL)

/* What the engine needs to know of one listed item (pe_source.describe). */
typedef struct pe_item {
    char id[PE_ID_MAX];
    /* The source's own change time of the item as a UTC instant (seconds),
     * resolved by when its page was observed (M1), or PE_NO_TIME when the
     * source has none (Ongoing lists, a product Mystore never stamped). */
    long long updated;
    /* What decides "changed": the item, or what a consumer reads of it. */
    char hash[PE_HASH_HEX + 1];
    char updated_text[32]; /* the change time as the source wrote it (logs), "" when none */
} pe_item;

/* The first PE_HASH_HEX hex digits of the SHA-256 of v's canonical JSON
 * (sorted keys): a source's fingerprint of an item.  MO_ERR_NOMEM. */
mo_err pe_fingerprint(const json_t *v, char out[PE_HASH_HEX + 1]);

/* Where paging through one list stands; zeroed at the start of every pass. */
typedef struct pe_pos {
    long long next; /* the next page number (from 1) or the next id to ask from */
    long last;      /* the last page number the first page named (links.last), 0 unknown */
    int moved;      /* the list said it changed while paged (links.last moved) */
    int stuck;      /* a full page that does not let paging go on: the scan fails after it */
} pe_pos;

/* A source: one stream of one API.  The callbacks get `state`. */
typedef struct pe_source {
    const char *stream;     /* "mystore-orders": cursor and seen keys, component, client id */
    const char *flow;       /* "orders": the flow its events feed (resync, dead letters) */
    const char *noun;       /* "orders": summary keys */
    const char *event_type; /* "mystore.order" */
    const char *topic_base; /* KQ_TOPIC_ORDERS */
    const char *route;      /* "GET orders": the source of the poller's dead letters */
    const char *api;        /* "mystore" or "ongoing" (credential records, logs) */
    int overlap_s;          /* how far each window reaches back before the last scan's start */
    /* 1 when paging is by id (keyset): an item cannot be skipped by others
     * moving, so a pass needs no confirmation; 0 for page numbers (M2). */
    int stable_paging;
    int nlists; /* lists per scan (shipments: shipped, status changed) */
    void *state;

    /* The source's clock (UTC seconds) from its last answer; 0 before any. */
    long long (*server_now)(void *state);
    /* One cheap request, to learn the source's clock before the first window. */
    mo_err (*probe_clock)(void *state, char *errstr, size_t errstr_size);
    /* The source's HTTP client, whose clock (hc_clock_get/set) the
     * scheduler of every tenant keeps from one cycle to the next. */
    struct hc_client *(*http)(void *state);
    /* Seconds the first scan reaches back without a cursor, or -1: everything
     * (M14, O6). */
    long (*lookback_s)(void *state);
    /* Called at the start of each cycle (may be NULL). */
    mo_err (*begin_cycle)(void *state, char *errstr, size_t errstr_size);
    /* One page of list `which` (0 .. nlists-1) of the items changed at or
     * after `from` (UTC seconds; -1: every item), after *pos (updated by the
     * call).  *items: new reference (an array); *more: another page follows.
     * `now` is the source's clock at the scan's start.  Errors end the cycle. */
    mo_err (*list_page)(void *state, int which, long long from, long long now, pe_pos *pos,
                        json_t **items, int *more, char *errstr, size_t errstr_size);
    /* Fills *out from one listed item, observed at `obs`.  MO_ERR_INVALID
     * (with why) for an item without a usable id or time: dead-lettered once
     * (keyed by out->id when the id was usable, else without a key). */
    mo_err (*describe)(void *state, const json_t *item, long long obs, pe_item *out, char *why,
                       size_t why_size);
    /* The snapshot event data of one listed item (new reference).  Errors go
     * through the engine's entity-failure rules (poll.c pe_entity_failed). */
    mo_err (*snapshot)(void *state, const char *id, json_t *item, json_t **snapshot, char *errstr,
                       size_t errstr_size);
    /* The item as its list shows it, read by id (resync, and to tell a
     * failing entity that is gone): *item new reference, NULL when the source
     * has no such entity. */
    mo_err (*fetch_one)(void *state, const char *id, json_t **item, char *errstr,
                        size_t errstr_size);
    /* The HTTP status of the last answer (0 none), and whether the API
     * answered since since_ms (monotonic): the failure rules ask both. */
    long (*last_status)(void *state);
    int (*up_since)(void *state, long long since_ms);
    /* Requests sent (for the summary). */
    unsigned long (*requests)(void *state);
    /* Adds the source's own figures to the summary object (may be NULL). */
    void (*summary)(void *state, json_t *sum);
    /* Frees state and the source's clients (pe_source_close). */
    void (*close)(void *state);
} pe_source;

/* Opens the source of a stream ("mystore-orders", "mystore-products",
 * "ongoing-shipments", "ongoing-stock") with its own API client, which uses
 * rs (borrowed) for the shared budget and locks: *src is filled, to be
 * closed with pe_source_close.  MO_ERR_CONFIG for an unknown stream. */
mo_err pe_source_open(const mo_config *cfg, const char *stream, rs_store *rs, pe_source *src,
                      char *errstr, size_t errstr_size);
void pe_source_close(pe_source *src);
/* Readies an opened source for reads outside a poll cycle (resync,
 * reconcile): what a cycle begins with (begin_cycle: the order statuses a
 * Mystore order snapshot names; without them a snapshot's status is null and
 * a cancelled order maps to an upsert), then the source's clock when no
 * answer gave it yet.  Errors as the source's requests fail. */
mo_err pe_source_begin(pe_source *src, char *errstr, size_t errstr_size);
/* The same per API (poll_mystore.c, poll_ongoing.c); pe_source_open picks. */
mo_err pm_source_open(const mo_config *cfg, const char *stream, rs_store *rs, pe_source *src,
                      char *errstr, size_t errstr_size);
mo_err pg_source_open(const mo_config *cfg, const char *stream, rs_store *rs, pe_source *src,
                      char *errstr, size_t errstr_size);

/* Runs the poller of a stream until stopped (or one cycle with opts->once)
 * and prints its JSON summary, producing with opts->kp or a producer of its
 * own.  Returns the exit status. */
int pe_main(const mo_config *cfg, const char *stream, const poll_opts *opts);

/* Emits the current snapshot of one entity of src (resync), which must have
 * been readied by pe_source_begin: fetch_one, describe, snapshot, produce,
 * wait, with the producer kp (borrowed: one for many calls).  *found = 0
 * when the source has no such entity (nothing emitted).  The event carries
 * the stream's current fence. */
mo_err pe_emit_one(const mo_config *cfg, pe_source *src, rs_store *rs, kq_producer *kp,
                   const char *id, int *found, char *errstr, size_t errstr_size);

/* ---- the loop every poller shares ---------------------------------------
 * It runs a cycle only while it holds the stream's lease (lease.h: one active
 * poller per tenant and stream): a replica that finds the lease held stands
 * by (logged once) and takes over as soon as it expires, within LEASE_TTL_S
 * of the holder's death.  Cycles run until a stop is requested, the stream's
 * interval (POLL_INTERVAL_S, or POLL_INTERVAL_S_<STREAM>) apart, or once with
 * opts->once (which waits up to one TTL for the lease, then fails).  A failed
 * cycle is logged and counted (its cursor was not advanced); MO_ERR_INVALID
 * (a malformed cursor) ends the loop.  A cycle gets the lease to check
 * (poll_lease_check) before each request and each produce, and to write its
 * cursor and seen map with.  Returns the exit status. */
typedef mo_err (*poll_cycle_fn)(void *ctx, ls_lease *lease, char *errstr, size_t errstr_size);
int poll_loop(const mo_config *cfg, const char *stream, const poll_opts *opts, poll_cycle_fn cycle,
              void *ctx, unsigned long *failed_cycles);

/* What poll_loop does after each cycle: its metrics (result ok, failed or
 * lease_lost), the status record, the credential's state, the log line of
 * a failure.  started_ms: mo_now_ms() at the cycle's start. */
void poll_cycle_end(const mo_config *cfg, const char *stream, long long started_ms, ls_lease *lease,
                    mo_err err, const char *errstr);

/* ---- one cycle for the scheduler of every tenant (poll_sched.c) --------- */

/* The producer of a stream's poller (client id mosync-poll-<stream>). */
kq_producer *pe_producer_new(const mo_config *cfg, const char *stream, char *errstr,
                             size_t errstr_size);

typedef struct pe_cycle_stats {
    unsigned long listed, emitted, dead_lettered, requests;
} pe_cycle_stats;

/* The source's clock between two cycles of one tenant (hc_clock_get): its
 * last Date and when it came; zeros when unknown.  A cycle that knows it
 * needs no request of its own to learn the source's time. */
typedef struct pe_clock {
    long long date, at_ms;
} pe_clock;

/* One cycle of stream for cfg's tenant, while lease (of that tenant and
 * stream) is held: opens the stream's source for it with rs (bound to
 * cfg->tenant), produces with kp (shared, borrowed), starts from *clock and
 * leaves the source's clock there (may be NULL), ends as poll_loop's
 * cycles do (poll_cycle_end), closes the source and adds its figures to *st
 * (may be NULL).  Returns the cycle's error (the cursor kept). */
mo_err pe_run_cycle(const mo_config *cfg, const char *stream, rs_store *rs, kq_producer *kp,
                    ls_lease *lease, pe_clock *clock, pe_cycle_stats *st, char *errstr,
                    size_t errstr_size);

/* Counts events a poller's stream produced and Kafka acknowledged
 * (mosync_events_produced_total): called after each batch's wait. */
void poll_count_produced(const mo_config *cfg, const char *stream, int delivered);
/* Counts one dead letter Kafka acknowledged (mosync_dead_letters_total). */
void poll_count_dead_letter(const mo_config *cfg, const char *component, mo_err klass);

/* MO_OK while the lease is ours; MO_ERR_TRANSIENT "lost the lease" once it is
 * not (the cycle must stop: another poller has taken over). */
mo_err poll_lease_check(ls_lease *lease, char *errstr, size_t errstr_size);
/* Writes a cursor (borrowed) at mosync:{T}:<suffix>, fenced by the lease
 * (rs_set_json_fenced): MO_ERR_TRANSIENT "lost the lease" when refused. */
mo_err poll_cursor_save(rs_store *rs, ls_lease *lease, const char *suffix, const json_t *cursor,
                        char *errstr, size_t errstr_size);

/* Mystore ids are used in URLs: only plain tokens [A-Za-z0-9_-]{1,64} pass. */
int pm_id_ok(const char *id);

/* ---- the Mystore streams (poll_orders.c, poll_products.c) --------------
 * What a Mystore stream adds to its source (poll_mystore.c): the list path,
 * and how to turn one listed item into its snapshot. */
typedef struct pm_stream {
    const char *name;       /* "mystore-orders" */
    const char *flow;       /* "orders" */
    const char *noun;       /* "orders" */
    const char *list_path;  /* "orders" */
    const char *event_type; /* "mystore.order" */
    const char *topic_base; /* KQ_TOPIC_ORDERS */
    int all_without_cursor; /* M14: 1 = start from the beginning, 0 = lookback hours */
    /* M11: the include= that answers the related resources a snapshot needs
     * with the list page (NULL: the stream does not use include=), and the
     * item relationships it adds (NULL-terminated).  Used only once the shop
     * is known to answer it (PM_INCLUDE_KEY); else, and for any entity whose
     * compound answer is incomplete, the related URLs. */
    const char *include;
    const char *const *include_rels;
    void *state; /* the stream's own, passed to the callbacks */
    mo_err (*begin_cycle)(void *state, ms_client *ms, char *errstr, size_t errstr_size);
    /* MO_ERR_INVALID: Mystore's answer makes no sense for this entity.
     * linked: when the item came from a compound answer, the linkage of
     * each of include_rels the list answered, taken out of the item
     * ({"order-products": [{"type", "id"}, ...]}), and included its related
     * resources by "type/id"; both NULL otherwise.  Borrowed. */
    mo_err (*snapshot)(void *state, ms_client *ms, const char *id, json_t *item,
                       const json_t *linked, const json_t *included, json_t **snapshot,
                       char *errstr, size_t errstr_size);
    /* Adds the stream's own figures to the summary (may be NULL). */
    void (*summary)(void *state, json_t *sum);
    void (*free_state)(void *state);
} pm_stream;

/* Fill *st (state allocated; freed by st->free_state).  MO_ERR_NOMEM.  cfg
 * (borrowed, outlives the stream) gives the orders' MYSTORE_ORDER_STATUSES,
 * checked against the shop's statuses each cycle. */
mo_err pm_orders_stream(pm_stream *st, const mo_config *cfg);

/* Whether the shop answers a stream's include= is cached per tenant in
 * Redis at include:<stream> ({"v": 1, "supported": true|false, "at": ms}) for
 * PM_INCLUDE_TTL_S: losing it costs one probe (the next list page asks with
 * include= and learns from the answer).  `mosync doctor` writes it too. */
#define PM_INCLUDE_TTL_S (24 * 3600)
/* What the order poller asks include= for (the related resources of an
 * order snapshot; `mosync doctor` asks the same). */
#define PM_ORDERS_INCLUDE "order-products,order-products.order-product-attributes,order-totals"
mo_err pm_include_save(rs_store *rs, const char *stream, int supported, char *errstr,
                       size_t errstr_size);
/* The resource of identifier {"type", "id"} in included ("type/id" →
 * resource; borrowed), NULL when it is not there. */
json_t *pm_included_get(const json_t *included, const json_t *identifier);
/* Takes relationships.<rel>.data out of resource (the member, then the
 * relationship if nothing else is left) and returns it (new reference; NULL
 * when the resource had none). */
json_t *pm_take_linkage(json_t *resource, const char *rel);
mo_err pm_products_stream(pm_stream *st);

#endif
