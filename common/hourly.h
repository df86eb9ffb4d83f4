/* Events a flow applied per hour, per tenant: the figures behind the chart
 * of `mosync admin`'s tenant page.  One small hash per tenant, flow and UTC
 * hour, mosync:{T}:stats:<flow>:<YYYYMMDDHH>, field "applied", raised by the
 * applier after each applied event and expiring HS_KEEP_S after its last
 * write: at most 48 keys of one field per tenant and flow, a few KB.  A
 * cache like the rest of Redis: lost with it, the chart then starts again. */
#ifndef MO_HOURLY_H
#define MO_HOURLY_H

#include "err.h"
#include "store.h"

#include <stddef.h>
#include <time.h>

/* Two days: the chart shows one. */
#define HS_KEEP_S (2 * 86400)
/* The most hours hs_read returns. */
#define HS_HOURS_MAX 48

/* Adds one applied event of flow ("orders") at time at to rs's tenant's
 * hour (one EVAL: HINCRBY and EXPIRE). */
mo_err hs_count(rs_store *rs, const char *flow, time_t at, char *errstr, size_t errstr_size);

/* The counts of the `hours` (1..HS_HOURS_MAX) UTC hours up to and including
 * now's, oldest first, into counts[0..hours) (0 for an hour without a key),
 * with one EVAL. */
mo_err hs_read(rs_store *rs, const char *flow, time_t now, int hours, long long *counts,
               char *errstr, size_t errstr_size);

#endif
