#include "stop.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_flag;

static void stop_handler(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void mo_stop_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = stop_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int mo_stop_requested(void)
{
    return stop_flag != 0;
}

void mo_stop_request(void)
{
    stop_flag = 1;
}

int mo_stop_sleep_ms(long ms)
{
    long long end = mo_now_ms() + ms;
    while (!stop_flag) {
        long long left = end - mo_now_ms();
        if (left <= 0)
            break;
        struct timespec ts = {0, (left > 50 ? 50 : left) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return stop_flag != 0;
}

long long mo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec mo_timespec_after(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static _Thread_local long long deadline_ms; /* monotonic; 0 = none */
static _Thread_local long retry_hint_ms;

void mo_deadline_start(long ms)
{
    deadline_ms = ms > 0 ? mo_now_ms() + ms : 0;
}

void mo_deadline_clear(void)
{
    deadline_ms = 0;
}

long mo_deadline_left_ms(void)
{
    if (!deadline_ms)
        return LONG_MAX;
    long long left = deadline_ms - mo_now_ms();
    return left > 0 ? (long)left : 0;
}

void mo_retry_hint_set(long ms)
{
    if (ms > retry_hint_ms)
        retry_hint_ms = ms;
}

long mo_retry_hint_take(void)
{
    long ms = retry_hint_ms;
    retry_hint_ms = 0;
    return ms;
}

static atomic_int usr_signal; /* lock-free on every target, so fine in a handler */

static void usr_handler(int sig)
{
    atomic_store(&usr_signal, sig == SIGUSR1 ? 1 : 2);
}

void mo_usr_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = usr_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
}

int mo_usr_signal_take(void)
{
    return atomic_exchange(&usr_signal, 0);
}

static int atoi_safe(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && !*end && v > 0 && v < 1000000000 ? (int)v : -1;
}

/* 1 the n-th time name is passed when the variable env is "<name>:<n>"
 * (hits counts the passes of one point). */
static int mo_point_hit(const char *env, const char *name, atomic_int *hits)
{
    const char *spec = getenv(env);
    size_t n = strlen(name);
    if (!spec || strncmp(spec, name, n) || spec[n] != ':')
        return 0;
    return atomic_fetch_add(hits, 1) + 1 == atoi_safe(spec + n + 1);
}

void mo_crash_point(const char *name)
{
    static atomic_int hits;
    if (mo_point_hit("MOSYNC_CRASH_AT", name, &hits))
        raise(SIGKILL);
}

void mo_pause_point(const char *name)
{
    static atomic_int hits;
    if (mo_point_hit("MOSYNC_PAUSE_AT", name, &hits))
        raise(SIGSTOP);
}
