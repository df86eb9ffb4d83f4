/* Events a flow applied per hour, per tenant, and how long they took: the
 * figures behind the charts of `mosync admin`'s tenant page, and its last
 * orders.  One small hash per tenant, flow and UTC hour,
 * mosync:{T}:stats:<flow>:<YYYYMMDDHH>, fields "applied" (events), "lag_ms"
 * (their summed lag: from the poller observing the change to the applier's
 * write) and "lag_n" (the events with a lag), raised by the applier after
 * each applied event and expiring HS_KEEP_S after its last write: at most 48
 * keys of three fields per tenant and flow, a few KB.  And a list,
 * mosync:{T}:recent:<flow>, of the last HS_RECENT applied entities
 * ({"id", "outcome", "at"}, newest first).  A cache like the rest of Redis:
 * lost with it, the charts and the list then start again. */
#ifndef MO_HOURLY_H
#define MO_HOURLY_H

#include "err.h"
#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <time.h>

/* Two days: the chart shows one. */
#define HS_KEEP_S (2 * 86400)
/* The most hours hs_read returns. */
#define HS_HOURS_MAX 48

/* The entities hs_recent keeps per tenant and flow. */
#define HS_RECENT 20

/* One applied entity id of flow ("orders") at time at, with its outcome
 * ("created") and its lag in ms (-1: unknown, not counted in the lag): the
 * tenant's hour counted and the entity put at the head of its recent list
 * (HS_RECENT kept), in one EVAL. */
mo_err hs_applied(rs_store *rs, const char *flow, const char *id, const char *outcome, time_t at,
                  long long lag_ms, char *errstr, size_t errstr_size);

/* *list (new reference): the recent list of flow, newest first, at most n
 * entries (entries that are not JSON objects are left out). */
mo_err hs_recent(rs_store *rs, const char *flow, int n, json_t **list, char *errstr,
                 size_t errstr_size);

/* The lag of an event observed at observed_at (the event's UTC instant,
 * ev_utc_parse) when applied at now_ms; -1 when it does not parse. */
long long hs_lag_ms(const char *observed_at, long long now_ms);

/* The counts of the `hours` (1..HS_HOURS_MAX) UTC hours up to and including
 * now's, oldest first, into counts[0..hours) (0 for an hour without a key),
 * and, when lag_ms is not NULL, each hour's mean lag in ms into
 * lag_ms[0..hours) (-1 for an hour without one), with one EVAL per 16 hours. */
mo_err hs_read(rs_store *rs, const char *flow, time_t now, int hours, long long *counts,
               long long *lag_ms, char *errstr, size_t errstr_size);

#endif
