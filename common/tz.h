/* Shop-local wall-clock time (Mystore's "YYYY-MM-DD HH:MM:SS", M1).
 *
 * These switch the process-wide TZ under one mutex and restore it; every user
 * of local time in mosync goes through here so the switches never race. */
#ifndef MO_TZ_H
#define MO_TZ_H

#include "err.h"

#include <time.h>

#define TZ_LOCAL_SIZE 20 /* "YYYY-MM-DD HH:MM:SS" + NUL */

/* Parses "YYYY-MM-DD HH:MM:SS" strictly into broken-down fields (no zone). */
mo_err tz_parse_local(const char *local, struct tm *tm);
/* The instant of a local wall time in zone.  A time in the autumn fold takes
 * the earlier instant; one in the spring gap is read with the offset in force
 * before the change. */
mo_err tz_local_to_utc(const char *zone, const char *local, time_t *out);
/* The instant of a local wall time that was observed (read from the source)
 * at instant `observed`.  Of the instants the wall time can be (two in the
 * autumn fold), the latest one not after `observed`; when every one is after
 * it (a future-dated time, or clock skew), the earliest.  Why: a change cannot
 * be stamped after it was observed, and successive observations of one entity
 * then give versions that never go back in time (each change happened after
 * the previous observation).  A time in the spring gap reads as
 * tz_local_to_utc does. */
mo_err tz_local_to_utc_observed(const char *zone, const char *local, time_t observed, time_t *out);
/* The local wall time of instant t in zone, as "YYYY-MM-DD HH:MM:SS". */
mo_err tz_utc_to_local(const char *zone, time_t t, char out[TZ_LOCAL_SIZE]);
/* Wall-clock arithmetic: local + seconds, ignoring zones ("2026-03-29 03:10:00"
 * - 3600 = "2026-03-29 02:10:00").  For overlap windows, where a wider window
 * is harmless. */
mo_err tz_local_add(const char *local, long seconds, char out[TZ_LOCAL_SIZE]);

#endif
