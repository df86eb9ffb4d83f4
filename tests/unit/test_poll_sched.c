/* The pure parts of `mosync poll --all-tenants` (producers/poll_sched.c):
 * a tenant's interval, the registry diff, due times and lateness, and the
 * tenant label switch of the metrics. */
#include "metrics.h"
#include "poll_sched.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static json_t *rec(const char *state, int rev, const char *interval)
{
    json_t *settings = json_object();
    if (interval)
        json_object_set_new(settings, "POLL_INTERVAL_S", json_string(interval));
    return json_pack("{s:s, s:i, s:o}", "state", state, "rev", rev, "settings", settings);
}

UT_TEST(sched_interval_stream_overrides_tenant_overrides_default)
{
    json_t *s =
        json_pack("{s:s, s:s}", "POLL_INTERVAL_S", "45", "POLL_INTERVAL_S_MYSTORE_ORDERS", "7");
    UT_CHECK(ps_interval(s, "mystore-orders", 30) == 7, "the stream's own interval wins");
    UT_CHECK(ps_interval(s, "ongoing-stock", 30) == 45, "then the tenant's POLL_INTERVAL_S");
    UT_CHECK(ps_interval(NULL, "ongoing-stock", 30) == 30, "then the default");
    json_t *bad =
        json_pack("{s:s, s:s}", "POLL_INTERVAL_S", "0", "POLL_INTERVAL_S_ONGOING_STOCK", "12x");
    UT_CHECK(ps_interval(bad, "ongoing-stock", 30) == 30, "values out of range count as unset");
    json_decref(s);
    json_decref(bad);
}

UT_TEST(sched_merge_adds_keeps_pauses_resumes_and_removes)
{
    ps_slot *a, *b, *c;
    size_t na, nb, nc;
    ps_diff d;
    json_t *names = json_pack("[s, s, s]", "alpha", "beta", "gamma");
    json_t *recs = json_pack("[o, o, o]", rec("active", 1, "10"), rec("paused", 1, NULL),
                             rec("active", 1, NULL));
    /* First read: everything added, active ones spread within their interval. */
    UT_CHECK(!ps_merge(NULL, 0, names, recs, "mystore-orders", 30, 1000, 1, &a, &na, &d), "merge");
    UT_CHECK(na == 3 && d.added == 3 && d.removed == 0, "3 added (%zu, %zu)", na, d.added);
    UT_CHECK(d.by_state[PS_ACTIVE] == 2 && d.by_state[PS_PAUSED] == 1, "states counted");
    UT_CHECK(a[0].interval_s == 10 && a[2].interval_s == 30, "intervals from the settings");
    UT_CHECK(a[0].due_ms >= 1000 && a[0].due_ms < 1000 + 10000, "spread within the interval: %lld",
             a[0].due_ms);
    UT_CHECK(ps_find(a, na, "beta") == &a[1] && !ps_find(a, na, "delta"), "found by name");

    /* The worker's state survives a read: alpha runs, due later. */
    a[0].running = 1;
    a[0].due_ms = 50000;
    a[0].last_ms = 40000;
    /* Second read: beta resumed, gamma removed, delta added, alpha's rev moved
     * with a new interval. */
    json_t *names2 = json_pack("[s, s, s]", "alpha", "beta", "delta");
    json_t *recs2 = json_pack("[o, o, o]", rec("active", 2, "20"), rec("active", 2, NULL),
                              rec("active", 1, NULL));
    UT_CHECK(!ps_merge(a, na, names2, recs2, "mystore-orders", 30, 60000, 0, &b, &nb, &d),
             "merge 2");
    UT_CHECK(nb == 3 && d.added == 1 && d.removed == 1 && d.changed == 2,
             "1 added, 1 removed, 2 changed: %zu %zu %zu", d.added, d.removed, d.changed);
    UT_CHECK(b[0].running == 1 && b[0].last_ms == 40000, "alpha keeps its worker's state");
    UT_CHECK(b[0].due_ms == 40000 + 20000, "a new interval counts from the last start: %lld",
             b[0].due_ms);
    UT_CHECK(b[1].state == PS_ACTIVE && b[1].due_ms == 60000, "resumed: due at once");
    UT_CHECK(!strcmp(b[2].name, "delta") && b[2].due_ms == 60000, "added later: due at once");

    /* A record gone between the two reads (null) is not kept; an unreadable
     * state is counted as broken and never polled. */
    json_t *names3 = json_pack("[s, s, s]", "alpha", "beta", "delta");
    json_t *recs3 = json_pack("[o, n, o]", rec("active", 2, "20"), json_pack("{s:s}", "x", "y"));
    UT_CHECK(!ps_merge(b, nb, names3, recs3, "mystore-orders", 30, 70000, 0, &c, &nc, &d),
             "merge 3");
    UT_CHECK(nc == 2 && d.removed == 1 && d.by_state[PS_BROKEN] == 1, "beta gone, delta broken");
    UT_CHECK(c[1].state == PS_BROKEN, "broken state");
    free(a);
    free(b);
    free(c);
    json_decref(names);
    json_decref(recs);
    json_decref(names2);
    json_decref(recs2);
    json_decref(names3);
    json_decref(recs3);
}

UT_TEST(sched_next_due_and_lateness)
{
    UT_CHECK(ps_next_due(1000, 60, 2000) == 61000, "one interval after the start");
    UT_CHECK(ps_next_due(1000, 60, 90000) == 90000, "a cycle longer than its interval: at once");
    UT_CHECK(!ps_late(1000, 7000, 60), "6 s late of 60 s is on time");
    UT_CHECK(ps_late(1000, 7001, 60), "past a tenth of the interval is late");
}

UT_TEST(sched_metrics_tenant_label_switch)
{
    mt_set_tenant_label(0);
    mt_add("mosync_poll_cycles_total", 1, "result", "ok", "stream", "ut-sched", "tenant", "a",
           NULL);
    mt_add("mosync_poll_cycles_total", 1, "result", "ok", "stream", "ut-sched", "tenant", "b",
           NULL);
    mt_set_tenant_label(1);
    UT_CHECK(mt_value("mosync_poll_cycles_total", "result", "ok", "stream", "ut-sched", "tenant",
                      "*", NULL) == 2,
             "both tenants counted under tenant=\"*\"");
    UT_CHECK(mt_value("mosync_poll_cycles_total", "result", "ok", "stream", "ut-sched", "tenant",
                      "a", NULL) == 0,
             "no series of its own");
}
