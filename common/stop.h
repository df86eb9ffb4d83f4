/* Process-wide shutdown flag set by SIGTERM/SIGINT, read by every loop. */
#ifndef MO_STOP_H
#define MO_STOP_H

#include <time.h>

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
/* The time ms (>= 0) from now on `clock`, normalised: the absolute deadline
 * pthread_cond_timedwait takes (CLOCK_MONOTONIC for a condition set up with
 * pthread_condattr_setclock, else CLOCK_REALTIME). */
struct timespec mo_timespec_after(clockid_t clock, long ms);

/* ---- the current task's time budget (per thread) ----------------------
 * A consumer bounds the time one message may take (it must finish well
 * within max.poll.interval.ms), and every blocking call below it (HTTP
 * attempts and backoffs, Redis retries and lock waits) stops at this
 * deadline.  Each thread has its own, so `mosync run` threads do not meet. */

/* Sets the calling thread's deadline to now + ms (ms <= 0 clears it). */
void mo_deadline_start(long ms);
void mo_deadline_clear(void);
/* Milliseconds left before the calling thread's deadline; LONG_MAX when none
 * is set, 0 once it has passed. */
long mo_deadline_left_ms(void);

/* ---- a retry hint from deep below (per thread) --------------------------
 * When an API asks for a long wait (Retry-After beyond what a call may sleep),
 * the HTTP layer gives up the call and leaves the wait here; the consumer loop
 * takes it and pauses the partition that long instead of sleeping. */
void mo_retry_hint_set(long ms);
/* The hint (ms, 0 when none), cleared by the call. */
long mo_retry_hint_take(void);

/* SIGUSR1 / SIGUSR2 for `mosync dev-broker` (brokers down / up): installs
 * the handlers; take returns the signal that came last since the previous
 * call (1 = SIGUSR1, 2 = SIGUSR2) or 0, and clears it. */
void mo_usr_signals_install(void);
int mo_usr_signal_take(void);

/* Crash points for the crash-recovery tests: when MOSYNC_CRASH_AT is
 * "<name>:<n>", the n-th time the process passes mo_crash_point(name) it kills
 * itself with SIGKILL, exactly like `kill -9` at that spot.  Unset (always in
 * production) it costs one getenv per call. */
void mo_crash_point(const char *name);
/* Pause points for the zombie tests: when MOSYNC_PAUSE_AT is "<name>:<n>",
 * the n-th time the process passes mo_pause_point(name) it stops itself
 * with SIGSTOP, exactly like a host pausing it there (the test continues it
 * with SIGCONT).  Unset, it costs one getenv per call. */
void mo_pause_point(const char *name);

#endif
