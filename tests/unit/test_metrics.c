/* The metrics registry: Prometheus text, label escaping, histograms. */
#include "unit.h"
#include "common/metrics.h"

#include <stdlib.h>
#include <string.h>

UT_TEST(metrics_render_counters_gauges_histograms)
{
    unsigned long misuse = mt_misuse();
    mt_add("mosync_messages_total", 2, "flow", "orders", "outcome", "applied", "tenant", "t1",
           NULL);
    mt_add("mosync_messages_total", 1, "flow", "orders", "outcome", "applied", "tenant", "t1",
           NULL);
    mt_set("mosync_consumer_lag", 7, "group", "g", "topic", "a\"b\\c\nd", "partition", "0", NULL);
    mt_observe("mosync_apply_latency_seconds", 0.3, "flow", "orders", NULL);
    mt_observe("mosync_apply_latency_seconds", 4000, "flow", "orders", NULL);
    UT_CHECK(mt_misuse() == misuse, "valid updates counted as misuse");
    UT_CHECK(mt_value("mosync_messages_total", "flow", "orders", "outcome", "applied", "tenant",
                      "t1", NULL) == 3,
             "counter value");
    char *t = mt_render();
    UT_CHECK(t != NULL, "render");
    UT_CHECK(strstr(t, "# TYPE mosync_messages_total counter\n") != NULL, "TYPE line: %s", t);
    UT_CHECK(strstr(t, "mosync_messages_total{flow=\"orders\",outcome=\"applied\",tenant=\"t1\"} "
                       "3\n") != NULL,
             "counter sample: %s", t);
    UT_CHECK(strstr(t, "topic=\"a\\\"b\\\\c\\nd\"") != NULL, "escaped label: %s", t);
    UT_CHECK(
        strstr(t, "mosync_apply_latency_seconds_bucket{flow=\"orders\",le=\"0.25\"} 0\n") &&
            strstr(t, "mosync_apply_latency_seconds_bucket{flow=\"orders\",le=\"0.5\"} 1\n") &&
            strstr(t, "mosync_apply_latency_seconds_bucket{flow=\"orders\",le=\"+Inf\"} 2\n") &&
            strstr(t, "mosync_apply_latency_seconds_count{flow=\"orders\"} 2\n"),
        "cumulative buckets: %s", t);
    free(t);
    mt_add("mosync_no_such_metric", 1, NULL);
    mt_set("mosync_messages_total", 1, NULL);
    UT_CHECK(mt_misuse() == misuse + 2, "unknown name and wrong kind are misuse");
}
