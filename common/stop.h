/* Process-wide shutdown flag set by SIGTERM/SIGINT, read by every loop. */
#ifndef MO_STOP_H
#define MO_STOP_H

/* Installs the SIGTERM/SIGINT handlers (and ignores SIGPIPE). */
void mo_stop_install(void);
/* Non-zero once a stop was requested. */
int mo_stop_requested(void);
/* Requests a stop (used by `mosync run` threads and tests). */
void mo_stop_request(void);
/* Sleeps ms milliseconds, waking early when a stop is requested; returns
 * non-zero when the stop was requested. */
int mo_stop_sleep_ms(long ms);
/* Monotonic milliseconds. */
long long mo_now_ms(void);

/* Crash points for the crash-recovery tests: when MOSYNC_CRASH_AT is
 * "<name>:<n>", the n-th time the process passes mo_crash_point(name) it kills
 * itself with SIGKILL, exactly like `kill -9` at that spot.  Unset (always in
 * production) it costs one getenv per call. */
void mo_crash_point(const char *name);

#endif
