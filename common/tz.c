#include "tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

mo_err tz_parse_local(const char *local, struct tm *tm)
{
    int y, mo, d, h, mi, s, n = 0;
    if (!local || strlen(local) != 19 ||
        sscanf(local, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19)
        return MO_ERR_INVALID;
    for (int i = 0; i < 19; i++) {
        char c = local[i];
        int digit = c >= '0' && c <= '9';
        if ((i == 4 || i == 7)     ? c != '-'
            : i == 10              ? c != ' '
            : (i == 13 || i == 16) ? c != ':'
                                   : !digit)
            return MO_ERR_INVALID;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
        return MO_ERR_INVALID;
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = s;
    /* Reject 31 February and friends: normalising must not move the date. */
    struct tm check = *tm;
    time_t t = timegm(&check);
    if (t == (time_t)-1 || check.tm_mday != d || check.tm_mon != mo - 1)
        return MO_ERR_INVALID;
    return MO_OK;
}

/* Runs with TZ=zone under the lock; restores the previous TZ. */
typedef void (*tz_fn)(void *arg);
static mo_err tz_with_zone(const char *zone, tz_fn fn, void *arg)
{
    mo_err err = MO_OK;
    pthread_mutex_lock(&tz_lock);
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    if (old && !saved) {
        err = MO_ERR_NOMEM;
    } else if (setenv("TZ", zone, 1) != 0) {
        err = MO_ERR_NOMEM;
    } else {
        tzset();
        fn(arg);
        if (saved)
            setenv("TZ", saved, 1);
        else
            unsetenv("TZ");
        tzset();
    }
    free(saved);
    pthread_mutex_unlock(&tz_lock);
    return err;
}

typedef struct {
    struct tm tm;
    time_t t;
    time_t both[2]; /* the instants the wall time can be; (time_t)-1 = none */
} tz_job;

static void tz_do_mktime(void *arg)
{
    tz_job *j = arg;
    /* Both readings of the wall time; a reading counts when it maps back to
     * the same wall time (in the spring gap neither does). */
    struct tm a = j->tm, b = j->tm;
    a.tm_isdst = 0;
    b.tm_isdst = 1;
    time_t ta = mktime(&a), tb = mktime(&b);
    struct tm back;
    int a_ok = ta != (time_t)-1 && localtime_r(&ta, &back) && back.tm_hour == j->tm.tm_hour &&
               back.tm_min == j->tm.tm_min;
    int b_ok = tb != (time_t)-1 && localtime_r(&tb, &back) && back.tm_hour == j->tm.tm_hour &&
               back.tm_min == j->tm.tm_min;
    j->both[0] = a_ok ? ta : (time_t)-1;
    j->both[1] = b_ok && (!a_ok || tb != ta) ? tb : (time_t)-1;
    if (a_ok && b_ok)
        j->t = ta < tb ? ta : tb;
    else if (a_ok)
        j->t = ta;
    else if (b_ok)
        j->t = tb;
    else /* in the spring gap: read with the offset before the change */
        j->t = ta < tb ? tb : ta;
}

mo_err tz_local_to_utc(const char *zone, const char *local, time_t *out)
{
    tz_job j;
    mo_err err = tz_parse_local(local, &j.tm);
    if (err)
        return err;
    j.t = (time_t)-1;
    err = tz_with_zone(zone, tz_do_mktime, &j);
    if (!err && j.t == (time_t)-1)
        err = MO_ERR_INVALID;
    *out = j.t;
    return err;
}

mo_err tz_local_to_utc_observed(const char *zone, const char *local, time_t observed, time_t *out)
{
    tz_job j;
    mo_err err = tz_parse_local(local, &j.tm);
    if (err)
        return err;
    j.t = (time_t)-1;
    j.both[0] = j.both[1] = (time_t)-1;
    err = tz_with_zone(zone, tz_do_mktime, &j);
    if (!err && j.t == (time_t)-1)
        err = MO_ERR_INVALID;
    *out = j.t; /* the earliest reading: a single instant, or every one is after observed */
    if (err)
        return err;
    time_t best = (time_t)-1;
    for (int i = 0; i < 2; i++)
        if (j.both[i] != (time_t)-1 && j.both[i] <= observed && (best == -1 || j.both[i] > best))
            best = j.both[i];
    if (best != (time_t)-1)
        *out = best;
    return MO_OK;
}

static void tz_do_localtime(void *arg)
{
    tz_job *j = arg;
    localtime_r(&j->t, &j->tm);
}

mo_err tz_utc_to_local(const char *zone, time_t t, char out[TZ_LOCAL_SIZE])
{
    tz_job j = {.t = t};
    mo_err err = tz_with_zone(zone, tz_do_localtime, &j);
    if (err)
        return err;
    strftime(out, TZ_LOCAL_SIZE, "%Y-%m-%d %H:%M:%S", &j.tm);
    return MO_OK;
}

mo_err tz_local_add(const char *local, long seconds, char out[TZ_LOCAL_SIZE])
{
    struct tm tm;
    if (tz_parse_local(local, &tm))
        return MO_ERR_INVALID;
    time_t t = timegm(&tm) + seconds;
    gmtime_r(&t, &tm);
    strftime(out, TZ_LOCAL_SIZE, "%Y-%m-%d %H:%M:%S", &tm);
    return MO_OK;
}
