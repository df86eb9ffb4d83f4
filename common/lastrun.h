/* Last success and last error of each component (a poller or an applier), for
 * `mosync status`: the Redis hash mosync:{T}:lastrun:<component> with the
 * fields ok_at, error_at (UTC ISO 8601), error_class (mo_err_name) and error
 * (one line, secrets masked before it is cut to LR_ERROR_MAX bytes).  Several
 * replicas of a component write the same hash: the latest outcome wins.
 *
 * Only for people to read: nothing decides anything from it, it expires with
 * the applied records (APPLIED_TTL_DAYS), and a Redis error never reaches the
 * caller (the loop goes on; writes pause for a while). */
#ifndef MO_LASTRUN_H
#define MO_LASTRUN_H

#include "config.h"
#include "err.h"

#include <jansson.h>
/* The longest error text kept (bytes, before the NUL). */
#define LR_ERROR_MAX 300
/* Writes of one component are at least this far apart, unless the outcome
 * changes kind (a success after an error or the reverse is written at once):
 * a busy loop adds at most one Redis write a second, and the record is never
 * more than this stale about which kind came last. */
#define LR_MIN_INTERVAL_MS 1000
/* After a failed write, the component's writes pause this long. */
#define LR_PAUSE_MS 10000
/* (component, tenant) pairs remembered at once: `mosync run` has eight
 * components of one tenant; a process of many tenants has one or a few
 * components of each.  When more pairs come, the least recently used slot is
 * taken over (its remembered outcome lost, its connection kept): a pair that
 * comes back starts afresh, as after a restart, and only the rate limit of
 * its next write is lost.  At 100x today (thousands of tenants per process)
 * slots turn over, each note still written. */
#define LR_SLOTS 256

/* Records the outcome of one unit of work of component ("apply.orders",
 * "poll.mystore-orders") for the tenant cfg->tenant, under that tenant's key:
 * err MO_OK is a success; anything else an error of that class with the text
 * error (may be NULL; borrowed).  Thread-safe; each (component, tenant) pair
 * keeps its own state and Redis connection (opened on first use; at most
 * LR_SLOTS pairs at once, the least recently used one's slot reused, with its
 * connection, when more come).  Never fails; when Redis is away it costs one
 * short attempt (about 200 ms), then nothing for LR_PAUSE_MS.  Call it outside a
 * message's deadline (stop.h): a spent deadline would leave no time to write
 * the error of the message that spent it. */
void lr_note(const mo_config *cfg, const char *component, mo_err err, const char *error);

/* The hash's key suffix ("lastrun:<component>") into buf. */
const char *lr_suffix(const char *component, char *buf, size_t size);

/* What `mosync status` shows of one record, read back from Redis as the
 * field, value list of HGETALL (fields, borrowed: an array of strings, any
 * content): a new object {ok_at, ok_age_s, error_at, error_age_s,
 * error_class, error}, each null when absent or unreadable; ages in seconds
 * before now (UTC seconds); the error masked again with this process's
 * secrets and cut to LR_ERROR_MAX bytes at a character boundary.  NULL when
 * out of memory.  Pure (the fuzz target). */
json_t *lr_view(const json_t *fields, long long now);

#endif
