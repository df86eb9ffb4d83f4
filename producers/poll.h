/* The pollers: each reads one source's changes since its cursor and emits one
 * event per changed entity, advancing the cursor only after Kafka
 * acknowledged every event of a page. */
#ifndef MO_POLL_H
#define MO_POLL_H

#include "config.h"
#include "err.h"
#include "lease.h"
#include "mystore.h"
#include "store.h"

#include <jansson.h>

typedef struct poll_opts {
    int once; /* one cycle, then return (tests, cron) */
} poll_opts;

/* `mosync poll mystore-orders`, `mosync poll mystore-products`,
 * `mosync poll ongoing-shipments`, `mosync poll ongoing-stock`.
 * Each returns the process exit status. */
int poll_mystore_orders(const mo_config *cfg, const poll_opts *opts);
int poll_mystore_products(const mo_config *cfg, const poll_opts *opts);
int poll_ongoing_shipments(const mo_config *cfg, const poll_opts *opts);
int poll_ongoing_stock(const mo_config *cfg, const poll_opts *opts);

/* ---- the Mystore poller engine (poll_mystore.c) -------------------------
 * One engine serves every Mystore list: the cursor, the overlap window and its
 * seen-set (M1, M2), paging, producing, the cursor save after delivery, dead
 * letters for unusable items.  A stream says what to list and how to turn one
 * listed item into the snapshot it emits. */
typedef struct pm_stream {
    const char *name;       /* "mystore-orders": cursor key, component, client id */
    const char *noun;       /* "orders": summary keys */
    const char *list_path;  /* "orders" */
    const char *event_type; /* "mystore.order" */
    const char *topic_base; /* KQ_TOPIC_ORDERS */
    int all_without_cursor; /* M14: 1 = start from the beginning, 0 = lookback hours */
    void *state;            /* the stream's own, passed to the callbacks */
    /* Called at the start of each cycle (may be NULL). */
    mo_err (*begin_cycle)(void *state, ms_client *ms, char *errstr, size_t errstr_size);
    /* The snapshot of one listed item (new reference in *snapshot).
     * MO_ERR_INVALID dead-letters the item; other errors end the cycle. */
    mo_err (*snapshot)(void *state, ms_client *ms, const char *id, json_t *item, json_t **snapshot,
                       char *errstr, size_t errstr_size);
} pm_stream;

int poll_mystore(const mo_config *cfg, const pm_stream *stream, const poll_opts *opts);

/* The loop every poller shares.  It runs a cycle only while it holds the
 * stream's lease (lease.h: one active poller per tenant and stream): a replica
 * that finds the lease held stands by (logged once) and takes over as soon as
 * it expires, within LEASE_TTL_S of the holder's death.  Cycles run until a
 * stop is requested, the stream's interval (POLL_INTERVAL_S, or
 * POLL_INTERVAL_S_<STREAM>) apart, or once with opts->once (which waits up to
 * one TTL for the lease, then fails).  A failed cycle is logged and counted
 * (its cursor was not advanced); MO_ERR_INVALID (a malformed cursor) ends the
 * loop.  A cycle gets the lease to check (poll_lease_check) before each
 * request and to write its cursor with (poll_cursor_save).  Returns the exit
 * status. */
typedef mo_err (*poll_cycle_fn)(void *ctx, ls_lease *lease, char *errstr, size_t errstr_size);
int poll_loop(const mo_config *cfg, const char *stream, const poll_opts *opts, poll_cycle_fn cycle,
              void *ctx, unsigned long *failed_cycles);

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

#endif
