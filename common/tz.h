/* Shop-local wall-clock time (Mystore's "YYYY-MM-DD HH:MM:SS", M1).
 *
 * A zone is read once from its TZif file (/usr/share/zoneinfo/<name>: the
 * version 2+ 64-bit transitions, and the POSIX TZ rule of its footer for
 * instants past the table) into an immutable structure that every thread
 * reads.  Nothing here touches the environment: glibc's localtime/mktime
 * would need TZ set, and setenv/tzset are not thread-safe (issue 12 item
 * 19).  Zones are kept for the life of the process: at most TZ_ZONES_MAX
 * (mosync uses one, MYSTORE_TIMEZONE; 100x today is still a handful). */
#ifndef MO_TZ_H
#define MO_TZ_H

#include "err.h"

#include <stddef.h>
#include <time.h>

#define TZ_LOCAL_SIZE      20 /* "YYYY-MM-DD HH:MM:SS" + NUL */
#define TZ_DIR             "/usr/share/zoneinfo"
#define TZ_NAME_MAX        63
#define TZ_ZONES_MAX       32
#define TZ_FILE_MAX        (256 * 1024) /* the largest zone file is a few KB */
#define TZ_TRANSITIONS_MAX 4096         /* a zone has a few hundred */

/* Parses "YYYY-MM-DD HH:MM:SS" strictly into broken-down fields (no zone). */
mo_err tz_parse_local(const char *local, struct tm *tm);
/* The instant of a local wall time in zone.  A time in the autumn fold takes
 * the earlier instant; one in the spring gap is read with the offset in force
 * before the change.  MO_ERR_INVALID for a bad time or a zone that is not a
 * TZif file. */
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

/* MO_OK when name is a zone this module can read: a name (no "..", not
 * absolute) of a regular TZif file under TZ_DIR without leap seconds, with a
 * footer it understands.  Else the reason in errstr ("Europe" is a
 * directory, "zone.tab" has no "TZif" magic).  The configuration checks
 * MYSTORE_TIMEZONE with it, so a zone that is not one never runs as UTC. */
mo_err tz_check_zone(const char *name, char *errstr, size_t errstr_size);

/* ---- the zone structure (for the fuzz target and the tests) ------------ */

typedef struct tz_zone tz_zone;

/* Parses a TZif file's bytes (borrowed) into a new zone (*out, free with
 * tz_zone_free).  MO_ERR_INVALID with the reason for anything that is not a
 * well-formed TZif file within the caps above.  Pure. */
mo_err tz_zone_parse(const unsigned char *buf, size_t len, tz_zone **out, char *errstr,
                     size_t errstr_size);
void tz_zone_free(tz_zone *z);
/* The zone's offset east of UTC, in seconds, at instant t. */
long tz_zone_offset(const tz_zone *z, long long t);
/* The zone named name, read on first use and kept (borrowed, immutable). */
mo_err tz_zone_get(const char *name, const tz_zone **out, char *errstr, size_t errstr_size);
/* The offset east of UTC at instant t under a POSIX TZ rule string (a TZif
 * footer: "CET-1CEST,M3.5.0,M10.5.0/3").  MO_ERR_INVALID when it is not one
 * this module reads.  Pure. */
mo_err tz_posix_offset(const char *posix, long long t, long *off);

#endif
