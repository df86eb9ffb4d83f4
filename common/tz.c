/* Shop-local time from TZif files, without the environment (see tz.h).
 *
 * A zone is read once (RFC 8536: the version 2+ block of 64-bit transitions,
 * and the POSIX TZ string of its footer for instants past the table) into an
 * immutable tz_zone kept for the life of the process; conversions then only
 * read it.  glibc's localtime/mktime would need TZ set in the environment,
 * and setenv/tzset race with every other thread that reads it. */
#include "tz.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the POSIX TZ rule of the footer ------------------------------------ */

/* A date of a rule: Mm.w.d, Jn (1..365, never Feb 29) or n (0..365). */
typedef struct tz_date {
    char kind; /* 'M', 'J' or 'n' */
    int m, w, d, n;
    long secs; /* time of day, local, may be negative or past 24 h */
} tz_date;

typedef struct tz_rule {
    long std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    tz_date start, end; /* into DST (local standard time), out of it (local DST) */
} tz_rule;

/* A zone: offset off[i] from instant at[i] on; off0 before at[0]; past the
 * last transition the rule (when the footer has one). */
struct tz_zone {
    char name[TZ_NAME_MAX + 1];
    size_t n;
    long long *at;
    long *off;
    long off0;
    int has_rule;
    tz_rule rule;
};

static long long tz_days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void tz_civil_from_days(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int tz_leap(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds from the epoch to local midnight starting the rule's day in year
 * y, plus its time of day: a local wall time "as if UTC". */
static long long tz_date_local(const tz_date *dt, long long y)
{
    long long days;
    if (dt->kind == 'M') {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        long long first = tz_days_from_civil(y, dt->m, 1);
        int wday1 = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int day = 1 + (dt->d - wday1 + 7) % 7 + (dt->w - 1) * 7;
        int dim = mdays[dt->m - 1] + (dt->m == 2 && tz_leap(y));
        while (day > dim)
            day -= 7;
        days = first + day - 1;
    } else if (dt->kind == 'J') {
        days = tz_days_from_civil(y, 1, 1) + dt->n - 1 + (tz_leap(y) && dt->n >= 60);
    } else {
        days = tz_days_from_civil(y, 1, 1) + dt->n;
    }
    return days * 86400 + dt->secs;
}

/* The rule's two changes in year y, as instants: into DST (*on) and out of
 * it (*off). */
static void tz_rule_changes(const tz_rule *r, long long y, long long *on, long long *off)
{
    *on = tz_date_local(&r->start, y) - r->std_off;
    *off = tz_date_local(&r->end, y) - r->dst_off;
}

/* Instants further than this from the epoch (some 31,000 years) are read as
 * at this bound: the year arithmetic below stays far from overflowing, and
 * no shop's timestamp lies there. */
#define TZ_FAR_S 1000000000000LL

static long tz_rule_offset(const tz_rule *r, long long t)
{
    long long y, on, off;
    int m, d;
    if (!r->has_dst)
        return r->std_off;
    t = t > TZ_FAR_S ? TZ_FAR_S : t < -TZ_FAR_S ? -TZ_FAR_S : t;
    tz_civil_from_days((t >= 0 ? t : t - 86399) / 86400, &y, &m, &d);
    tz_rule_changes(r, y, &on, &off);
    if (on < off) /* northern: DST inside the year */
        return t >= on && t < off ? r->dst_off : r->std_off;
    return t >= off && t < on ? r->std_off : r->dst_off; /* southern: around new year */
}

/* [+-]hh[:mm[:ss]] into *secs (sign as written); hh up to max_h. */
static const char *tz_parse_hms(const char *p, long max_h, long *secs)
{
    int neg = 0;
    long h = 0, mi = 0, s = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9' && h <= max_h)
        h = h * 10 + (*p++ - '0');
    if (*p == ':') {
        p++;
        if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
            return NULL;
        mi = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
                return NULL;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    if (h > max_h)
        return NULL;
    *secs = (h * 3600 + mi * 60 + s) * (neg ? -1 : 1);
    return p;
}

/* A zone abbreviation: three or more letters, or <...> quoted. */
static const char *tz_parse_name(const char *p)
{
    const char *start = p;
    if (*p == '<') {
        for (p++; *p && *p != '>'; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'))
                return NULL;
        return *p == '>' && p - start >= 4 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - start >= 3 ? p : NULL;
}

static const char *tz_parse_date(const char *p, tz_date *dt)
{
    char *end;
    dt->secs = 7200; /* 02:00 unless told */
    if (*p == 'M') {
        dt->kind = 'M';
        dt->m = (int)strtol(p + 1, &end, 10);
        if (*end != '.' || dt->m < 1 || dt->m > 12)
            return NULL;
        dt->w = (int)strtol(end + 1, &end, 10);
        if (*end != '.' || dt->w < 1 || dt->w > 5)
            return NULL;
        p = end + 1;
        if (*p < '0' || *p > '6')
            return NULL;
        dt->d = *p++ - '0';
    } else {
        dt->kind = *p == 'J' ? 'J' : 'n';
        if (*p == 'J')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        dt->n = (int)strtol(p, &end, 10);
        if (dt->kind == 'J' ? dt->n < 1 || dt->n > 365 : dt->n > 365)
            return NULL;
        p = end;
    }
    if (*p == '/' && !(p = tz_parse_hms(p + 1, 167, &dt->secs)))
        return NULL;
    return p;
}

/* A POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3", "<+0545>-5:45") into *r. */
static mo_err tz_rule_parse(const char *s, tz_rule *r)
{
    long secs;
    const char *p = tz_parse_name(s);
    memset(r, 0, sizeof(*r));
    if (!p || !(p = tz_parse_hms(p, 24, &secs)))
        return MO_ERR_INVALID;
    r->std_off = -secs; /* POSIX counts west of UTC */
    if (*p) {
        if (!(p = tz_parse_name(p)))
            return MO_ERR_INVALID;
        r->has_dst = 1;
        r->dst_off = r->std_off + 3600;
        if (*p && *p != ',') {
            if (!(p = tz_parse_hms(p, 24, &secs)))
                return MO_ERR_INVALID;
            r->dst_off = -secs;
        }
        /* tzdata always writes the rule; a default one (the USA's) would be a guess. */
        if (*p != ',' || !(p = tz_parse_date(p + 1, &r->start)) || *p != ',' ||
            !(p = tz_parse_date(p + 1, &r->end)))
            return MO_ERR_INVALID;
    }
    return *p ? MO_ERR_INVALID : MO_OK;
}

mo_err tz_posix_offset(const char *posix, long long t, long *off)
{
    tz_rule r;
    if (tz_rule_parse(posix, &r))
        return MO_ERR_INVALID;
    *off = tz_rule_offset(&r, t);
    return MO_OK;
}

/* ---- TZif ------------------------------------------------------------- */

static long long tz_be(const unsigned char *p, int bytes)
{
    unsigned long long v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    if (bytes == 4)
        return (long long)(int32_t)(uint32_t)v;
    return (long long)(int64_t)v;
}

/* The six counts of a TZif header at p (44 bytes). */
typedef struct tz_counts {
    unsigned long isut, isstd, leap, time, type, chars;
} tz_counts;

static void tz_header_counts(const unsigned char *p, tz_counts *c)
{
    c->isut = (unsigned long)tz_be(p + 20, 4) & 0xffffffffu;
    c->isstd = (unsigned long)tz_be(p + 24, 4) & 0xffffffffu;
    c->leap = (unsigned long)tz_be(p + 28, 4) & 0xffffffffu;
    c->time = (unsigned long)tz_be(p + 32, 4) & 0xffffffffu;
    c->type = (unsigned long)tz_be(p + 36, 4) & 0xffffffffu;
    c->chars = (unsigned long)tz_be(p + 40, 4) & 0xffffffffu;
}

/* Bytes of a data block with these counts and time size. */
static size_t tz_block_size(const tz_counts *c, int tsize)
{
    return c->time * (size_t)tsize + c->time + c->type * 6 + c->chars +
           c->leap * (size_t)(tsize + 4) + c->isstd + c->isut;
}

void tz_zone_free(tz_zone *z)
{
    if (!z)
        return;
    free(z->at);
    free(z->off);
    free(z);
}

mo_err tz_zone_parse(const unsigned char *buf, size_t len, tz_zone **out, char *errstr,
                     size_t errstr_size)
{
    tz_counts c;
    const unsigned char *p = buf, *end = buf + len;
    int tsize = 4;
    tz_zone *z = NULL;
    *out = NULL;
    if (len < 44 || memcmp(buf, "TZif", 4))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "not a TZif file (no \"TZif\")");
    tz_header_counts(p, &c);
    if (c.time > TZ_TRANSITIONS_MAX || c.type < 1 || c.type > 256 || c.chars > 65536 ||
        c.leap > 65536 || c.isstd > 256 || c.isut > 256)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif header out of range");
    p += 44;
    if ((size_t)(end - p) < tz_block_size(&c, 4))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif file cut short");
    if (buf[4] >= '2') {
        /* Version 2+: skip the 32-bit block, read the 64-bit one. */
        p += tz_block_size(&c, 4);
        if ((size_t)(end - p) < 44 || memcmp(p, "TZif", 4))
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif second header missing");
        tz_header_counts(p, &c);
        p += 44;
        tsize = 8;
        if (c.time > TZ_TRANSITIONS_MAX || c.type < 1 || c.type > 256 || c.chars > 65536 ||
            c.leap > 65536 || c.isstd > 256 || c.isut > 256 ||
            (size_t)(end - p) < tz_block_size(&c, 8))
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif version 2 data bad");
    }
    if (c.leap)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "a zone with leap seconds (right/...): mosync counts POSIX time");
    const unsigned char *times = p, *idx = times + c.time * (size_t)tsize;
    const unsigned char *types = idx + c.time;
    z = calloc(1, sizeof(*z));
    if (!z || (c.time && (!(z->at = calloc(c.time, sizeof(*z->at))) ||
                          !(z->off = calloc(c.time, sizeof(*z->off)))))) {
        tz_zone_free(z);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    z->n = c.time;
    z->off0 = (long)tz_be(types, 4);
    for (size_t i = 0; i < c.time; i++) {
        z->at[i] = tz_be(times + i * (size_t)tsize, tsize);
        if (idx[i] >= c.type || (i && z->at[i] <= z->at[i - 1])) {
            tz_zone_free(z);
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif transitions bad");
        }
        z->off[i] = (long)tz_be(types + idx[i] * 6, 4);
    }
    for (size_t i = 0; i < c.type; i++) {
        long off = (long)tz_be(types + i * 6, 4);
        if (off <= -26 * 3600 || off >= 26 * 3600) {
            tz_zone_free(z);
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif offset out of range");
        }
    }
    /* The footer: "\n<POSIX TZ>\n" after the version 2 data. */
    p += tz_block_size(&c, tsize);
    if (tsize == 8 && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        char footer[128];
        size_t flen = nl ? (size_t)(nl - p - 1) : sizeof(footer);
        if (!nl || flen >= sizeof(footer)) {
            tz_zone_free(z);
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "TZif footer bad");
        }
        memcpy(footer, p + 1, flen);
        footer[flen] = '\0';
        if (flen) {
            if (tz_rule_parse(footer, &z->rule)) {
                tz_zone_free(z);
                return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                                 "TZif footer '%s' is not a POSIX TZ rule mosync reads", footer);
            }
            z->has_rule = 1;
        }
    }
    *out = z;
    return MO_OK;
}

long tz_zone_offset(const tz_zone *z, long long t)
{
    if (!z->n)
        return z->has_rule ? tz_rule_offset(&z->rule, t) : z->off0;
    if (t < z->at[0])
        return z->off0;
    if (t >= z->at[z->n - 1] && z->has_rule)
        return tz_rule_offset(&z->rule, t);
    size_t lo = 0, hi = z->n; /* the last at[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[lo];
}

/* ---- the zones of this process ------------------------------------------ */

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static tz_zone *tz_zones[TZ_ZONES_MAX];
static size_t tz_nzones;

/* Reads /usr/share/zoneinfo/<name>: a regular file of at most TZ_FILE_MAX
 * bytes, else a reason. */
static mo_err tz_read(const char *name, unsigned char **buf, size_t *len, char *errstr,
                      size_t errstr_size)
{
    char path[TZ_NAME_MAX + 32];
    struct stat st;
    *buf = NULL;
    snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
        fclose(f);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s is not a zone file", path);
    }
    *buf = malloc((size_t)st.st_size + 1);
    *len = *buf ? fread(*buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!*buf)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MO_OK;
}

mo_err tz_zone_get(const char *name, const tz_zone **out, char *errstr, size_t errstr_size)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    tz_zone *z = NULL;
    mo_err err = MO_OK;
    *out = NULL;
    size_t nlen = name ? strlen(name) : 0;
    if (!nlen || nlen > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "'%s' is not a zone name",
                         name ? name : "");
    pthread_mutex_lock(&tz_lock);
    for (size_t i = 0; i < tz_nzones; i++) {
        if (!strcmp(tz_zones[i]->name, name)) {
            *out = tz_zones[i];
            goto out;
        }
    }
    if (tz_nzones == TZ_ZONES_MAX) {
        err = mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size, "more than %d time zones in use",
                        TZ_ZONES_MAX);
        goto out;
    }
    if ((err = tz_read(name, &buf, &len, errstr, errstr_size)))
        goto out;
    char why[256];
    if ((err = tz_zone_parse(buf, len, &z, why, sizeof(why)))) {
        mo_seterr(err, errstr, errstr_size, "%s/%s: %s", TZ_DIR, name, why);
        goto out;
    }
    memcpy(z->name, name, nlen + 1);
    tz_zones[tz_nzones++] = z; /* immutable from here on, never freed */
    *out = z;
out:
    pthread_mutex_unlock(&tz_lock);
    free(buf);
    return err;
}

mo_err tz_check_zone(const char *name, char *errstr, size_t errstr_size)
{
    const tz_zone *z;
    return tz_zone_get(name, &z, errstr, errstr_size);
}

/* ---- conversions ---------------------------------------------------------- */

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

/* The changes of offset around the local wall time `wall` (seconds "as if
 * UTC"): each as its instant and the offsets before and after.  Two days
 * either side hold every change that can make wall ambiguous or missing. */
typedef struct tz_change {
    long long at;
    long before, after;
} tz_change;

#define TZ_CHANGES_MAX 16

static size_t tz_changes_near(const tz_zone *z, long long wall, tz_change *out)
{
    size_t n = 0;
    long long from = wall - 2 * 86400, to = wall + 2 * 86400;
    for (size_t i = 0; i < z->n && n < TZ_CHANGES_MAX; i++)
        if (z->at[i] >= from && z->at[i] <= to)
            out[n++] = (tz_change){z->at[i], i ? z->off[i - 1] : z->off0, z->off[i]};
    if (z->has_rule && z->rule.has_dst) {
        long long y0, y;
        int m, d;
        tz_civil_from_days((from >= 0 ? from : from - 86399) / 86400, &y0, &m, &d);
        for (y = y0; y <= y0 + 1 && n + 2 <= TZ_CHANGES_MAX; y++) {
            long long on, off;
            tz_rule_changes(&z->rule, y, &on, &off);
            long long last = z->n ? z->at[z->n - 1] : LLONG_MIN;
            if (on >= from && on <= to && on > last)
                out[n++] = (tz_change){on, z->rule.std_off, z->rule.dst_off};
            if (off >= from && off <= to && off > last)
                out[n++] = (tz_change){off, z->rule.dst_off, z->rule.std_off};
        }
    }
    return n;
}

/* Every instant whose local wall time is `wall` in z (ascending, at most
 * two in practice); *n 0 when wall falls in a gap, *gap_t then the instant
 * read with the offset in force before that change. */
static void tz_readings(const tz_zone *z, long long wall, long long *t, size_t *n, long long *gap_t)
{
    tz_change ch[TZ_CHANGES_MAX];
    long offs[TZ_CHANGES_MAX + 1];
    size_t nch = tz_changes_near(z, wall, ch), noffs = 0;
    offs[noffs++] = tz_zone_offset(z, wall - 2 * 86400);
    for (size_t i = 0; i < nch; i++)
        offs[noffs++] = ch[i].after;
    *n = 0;
    *gap_t = wall - offs[0];
    for (size_t i = 0; i < noffs; i++) {
        long long cand = wall - offs[i];
        int dup = 0;
        for (size_t k = 0; k < *n; k++)
            dup |= t[k] == cand;
        if (!dup && *n < 4 && tz_zone_offset(z, cand) == offs[i])
            t[(*n)++] = cand;
    }
    for (size_t i = 1; i < *n; i++) /* ascending (a handful: insertion) */
        for (size_t k = i; k > 0 && t[k - 1] > t[k]; k--) {
            long long tmp = t[k];
            t[k] = t[k - 1];
            t[k - 1] = tmp;
        }
    for (size_t i = 0; i < nch && !*n; i++)
        if (ch[i].after > ch[i].before && wall >= ch[i].at + ch[i].before &&
            wall < ch[i].at + ch[i].after)
            *gap_t = wall - ch[i].before;
}

/* The readings of a local wall time in zone: see tz_readings. */
static mo_err tz_local_readings(const char *zone, const char *local, long long *t, size_t *n,
                                long long *gap_t)
{
    struct tm tm;
    const tz_zone *z;
    char errstr[256];
    mo_err err = tz_parse_local(local, &tm);
    if (err)
        return err;
    if ((err = tz_zone_get(zone, &z, errstr, sizeof(errstr))))
        return err;
    long long wall = tz_days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday) * 86400 +
                     tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    tz_readings(z, wall, t, n, gap_t);
    return MO_OK;
}

mo_err tz_local_to_utc(const char *zone, const char *local, time_t *out)
{
    long long t[4], gap_t;
    size_t n;
    *out = (time_t)-1;
    mo_err err = tz_local_readings(zone, local, t, &n, &gap_t);
    if (err)
        return err;
    *out = (time_t)(n ? t[0] : gap_t); /* the fold's earlier instant */
    return MO_OK;
}

mo_err tz_local_to_utc_observed(const char *zone, const char *local, time_t observed, time_t *out)
{
    long long t[4], gap_t;
    size_t n;
    *out = (time_t)-1;
    mo_err err = tz_local_readings(zone, local, t, &n, &gap_t);
    if (err)
        return err;
    if (!n) {
        *out = (time_t)gap_t;
        return MO_OK;
    }
    *out = (time_t)t[0]; /* every reading after observed: the earliest */
    for (size_t i = 0; i < n; i++)
        if (t[i] <= (long long)observed)
            *out = (time_t)t[i];
    return MO_OK;
}

mo_err tz_utc_to_local(const char *zone, time_t t, char out[TZ_LOCAL_SIZE])
{
    const tz_zone *z;
    char errstr[256];
    struct tm tm;
    mo_err err = tz_zone_get(zone, &z, errstr, sizeof(errstr));
    if (err)
        return err;
    if ((long long)t > TZ_FAR_S || (long long)t < -TZ_FAR_S)
        return MO_ERR_INVALID;
    time_t local = (time_t)((long long)t + tz_zone_offset(z, (long long)t));
    if (!gmtime_r(&local, &tm))
        return MO_ERR_INVALID;
    strftime(out, TZ_LOCAL_SIZE, "%Y-%m-%d %H:%M:%S", &tm);
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
