/* Shop-local time without the environment (issue 12 item 19): a zone is
 * read once from its TZif file; conversions never set TZ (setenv and tzset
 * are not thread-safe in glibc, and every thread of `mosync run` reads the
 * environment); folds and gaps in both hemispheres, zones with half-hour
 * DST, negative DST and rules past the table (the POSIX TZ footer); and a
 * MYSTORE_TIMEZONE that is not a TZif file is refused at start. */
#include "unit.h"
#include "common/config.h"
#include "common/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

UT_TEST(issue12_19_tz_conversions_leave_the_environment_alone)
{
    char out[TZ_LOCAL_SIZE];
    time_t t;
    /* putenv puts this very buffer into the environment: a setenv of TZ,
     * even one that restores the value after, leaves another string there. */
    static char tz_var[] = "TZ=America/New_York";
    putenv(tz_var);
    const char *before = getenv("TZ");
    UT_CHECK(tz_local_to_utc("Europe/Oslo", "2026-07-15 12:00:00", &t) == MO_OK && t == 1784109600,
             "Oslo summer noon: %lld", (long long)t);
    UT_CHECK(tz_local_to_utc_observed("Europe/Oslo", "2026-10-25 02:30:00", 1792891800 + 60, &t) ==
                 MO_OK,
             "observed");
    UT_CHECK(tz_utc_to_local("Australia/Sydney", 1784109600, out) == MO_OK, "to local");
    /* The same string, not a copy of it: TZ was never set and reset. */
    UT_CHECK(getenv("TZ") == before && before == tz_var + 3,
             "a conversion replaced TZ in the environment");
    UT_CHECK(getenv("TZ") && !strcmp(getenv("TZ"), "America/New_York"), "TZ changed");
    unsetenv("TZ");
}

/* Expected values from Python's zoneinfo on the same tzdata: first the
 * earlier reading (fold=0; in a gap the offset before the change), then the
 * later one (fold=1), then the wall time the first maps back to. */
static const struct {
    const char *zone, *local;
    long long first, second;
    const char *back;
} tz_cases[] = {
    {"Europe/Oslo", "2026-03-29 02:30:00", 1774747800, 1774744200, "2026-03-29 03:30:00"},
    {"Europe/Oslo", "2026-10-25 02:30:00", 1792888200, 1792891800, "2026-10-25 02:30:00"},
    {"Australia/Sydney", "2026-10-04 02:30:00", 1791045000, 1791041400, "2026-10-04 03:30:00"},
    {"Australia/Sydney", "2026-04-05 02:30:00", 1775316600, 1775320200, "2026-04-05 02:30:00"},
    {"Pacific/Auckland", "2026-09-27 02:30:00", 1790433000, 1790429400, "2026-09-27 03:30:00"},
    {"Pacific/Auckland", "2026-04-05 02:30:00", 1775309400, 1775313000, "2026-04-05 02:30:00"},
    {"America/New_York", "2026-03-08 02:30:00", 1772955000, 1772951400, "2026-03-08 03:30:00"},
    {"America/New_York", "2026-11-01 01:30:00", 1793511000, 1793514600, "2026-11-01 01:30:00"},
    {"America/Santiago", "2026-09-06 00:30:00", 1788669000, 1788665400, "2026-09-06 01:30:00"},
    {"America/Santiago", "2026-04-04 23:30:00", 1775356200, 1775359800, "2026-04-04 23:30:00"},
    {"Australia/Lord_Howe", "2026-10-04 02:15:00", 1791042300, 1791040500, "2026-10-04 02:45:00"},
    {"Australia/Lord_Howe", "2026-04-05 01:45:00", 1775313900, 1775315700, "2026-04-05 01:45:00"},
    {"Europe/Dublin", "2026-03-29 01:30:00", 1774747800, 1774744200, "2026-03-29 02:30:00"},
    {"Europe/Dublin", "2026-10-25 01:30:00", 1792888200, 1792891800, "2026-10-25 01:30:00"},
    {"America/St_Johns", "2026-03-08 02:30:00", 1772949600, 1772946000, "2026-03-08 03:30:00"},
    {"Asia/Kolkata", "2026-07-01 12:00:00", 1782887400, 1782887400, "2026-07-01 12:00:00"},
    {"Europe/Oslo", "2090-03-26 02:30:00", 3794175000, 3794171400, "2090-03-26 03:30:00"},
    {"Europe/Oslo", "2090-10-29 02:30:00", 3812920200, 3812923800, "2090-10-29 02:30:00"},
    {"Australia/Sydney", "2090-10-01 02:30:00", 3810472200, 3810468600, "2090-10-01 03:30:00"},
    {"Australia/Sydney", "2090-04-02 02:30:00", 3794743800, 3794747400, "2090-04-02 02:30:00"},
    {"America/Nuuk", "2090-03-25 22:30:00", 3794171400, 3794171400, "2090-03-25 22:30:00"},
    {"UTC", "2026-06-01 00:00:00", 1780272000, 1780272000, "2026-06-01 00:00:00"},
    {"Europe/Oslo", "1975-06-01 12:00:00", 170852400, 170852400, "1975-06-01 12:00:00"},
};

UT_TEST(issue12_19_tz_fold_and_gap_in_both_hemispheres)
{
    for (size_t i = 0; i < sizeof(tz_cases) / sizeof(tz_cases[0]); i++) {
        char out[TZ_LOCAL_SIZE];
        time_t t;
        int fold =
            tz_cases[i].first != tz_cases[i].second && !strcmp(tz_cases[i].back, tz_cases[i].local);
        long long later =
            tz_cases[i].first > tz_cases[i].second ? tz_cases[i].first : tz_cases[i].second;
        UT_CHECK(tz_local_to_utc(tz_cases[i].zone, tz_cases[i].local, &t) == MO_OK &&
                     (long long)t == tz_cases[i].first,
                 "%s %s: %lld, expected %lld", tz_cases[i].zone, tz_cases[i].local, (long long)t,
                 tz_cases[i].first);
        /* Observed after every reading: the latest (a fold's later one). */
        time_t observed = (time_t)(later + 3600);
        long long want = fold ? later : tz_cases[i].first;
        UT_CHECK(tz_local_to_utc_observed(tz_cases[i].zone, tz_cases[i].local, observed, &t) ==
                         MO_OK &&
                     (long long)t == want,
                 "%s %s observed later: %lld, expected %lld", tz_cases[i].zone, tz_cases[i].local,
                 (long long)t, want);
        UT_CHECK(tz_utc_to_local(tz_cases[i].zone, (time_t)tz_cases[i].first, out) == MO_OK &&
                     !strcmp(out, tz_cases[i].back),
                 "%s %lld: %s, expected %s", tz_cases[i].zone, tz_cases[i].first, out,
                 tz_cases[i].back);
    }
}

/* The C library, with TZ set here (this test's thread alone runs), as a
 * second oracle over 1970-2100: every sampled instant shows the same wall
 * time, and that wall time observed at the instant reads back to it. */
UT_TEST(issue12_19_tz_agrees_with_the_c_library_1970_to_2100)
{
    static const char *const zones[] = {
        "Europe/Oslo",      "America/New_York",  "Australia/Sydney",    "Pacific/Auckland",
        "America/Santiago", "Europe/Dublin",     "Australia/Lord_Howe", "Asia/Kathmandu",
        "America/Nuuk",     "Africa/Casablanca", "Asia/Tokyo",          "UTC"};
    long bad = 0;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        setenv("TZ", zones[z], 1);
        tzset();
        for (long long t = 2 * 86400; t < 4102444800LL && bad < 10; t += 86400LL * 3 + 3607) {
            char mine[TZ_LOCAL_SIZE], libc[TZ_LOCAL_SIZE];
            struct tm tm;
            time_t tt = (time_t)t, back;
            localtime_r(&tt, &tm);
            strftime(libc, sizeof(libc), "%Y-%m-%d %H:%M:%S", &tm);
            if (tz_utc_to_local(zones[z], tt, mine) || strcmp(mine, libc)) {
                bad++;
                UT_CHECK(0, "%s at %lld: %s, the C library says %s", zones[z], t, mine, libc);
                continue;
            }
            if (tz_local_to_utc_observed(zones[z], mine, tt, &back) || back != tt) {
                bad++;
                UT_CHECK(0, "%s: %s observed at %lld reads back as %lld", zones[z], mine, t,
                         (long long)back);
            }
        }
    }
    unsetenv("TZ");
    tzset();
}

UT_TEST(issue12_19_timezone_must_be_a_tzif_file)
{
    static const char *const bad[] = {
        "Europe",        "zone.tab",       "tzdata.zi", "Europe/Nowhere",
        "../etc/passwd", "/etc/localtime", "",          "Europe/"};
    mo_config cfg;
    char errstr[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("MYSTORE_TIMEZONE", bad[i], 1);
        mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
        if (err == MO_OK)
            cfg_free(&cfg);
        /* Empty means the default (as for every variable). */
        if (!*bad[i])
            UT_CHECK(err == MO_OK, "MYSTORE_TIMEZONE empty: %s", errstr);
        else
            UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "MYSTORE_TIMEZONE"),
                     "MYSTORE_TIMEZONE=%s accepted (%s)", bad[i], err ? errstr : "ok");
    }
    static const char *const good[] = {"Europe/Oslo", "UTC", "America/Argentina/Buenos_Aires"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        setenv("MYSTORE_TIMEZONE", good[i], 1);
        UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "MYSTORE_TIMEZONE=%s: %s",
                 good[i], errstr);
        cfg_free(&cfg);
    }
    unsetenv("MYSTORE_TIMEZONE");
    time_t t;
    UT_CHECK(tz_local_to_utc("Europe", "2026-01-01 00:00:00", &t) != MO_OK,
             "a conversion in the directory 'Europe' worked (as UTC)");
}
