/* `mosync dlq show` against librdkafka's mock cluster: a dead letter whose
 * key or header is not valid UTF-8 is printed (base64), never skipped.
 * Regression test of issue 6 item 17 (dead-letter side). */
#include "unit.h"
#include "ut_net.h"
#include "common/config.h"
#include "common/dlq.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Produces one message with key (klen bytes) and one header; 0 when delivered. */
static int produce(rd_kafka_t *rk, const char *topic, const char *key, size_t klen,
                   const char *hname, const char *hvalue, const char *value)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, hname, -1, hvalue, -1);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        return -1;
    }
    return rd_kafka_flush(rk, 10000) ? -1 : 0;
}

UT_TEST(issue6_17_dlq_show_prints_dead_letters_that_are_not_utf8)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!UT_CHECK(rk != NULL, "producer: %s", errstr))
        return;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    mo_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.tenant, sizeof(cfg.tenant), "t1");
    snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "ut17.");
    snprintf(cfg.kafka_brokers, sizeof(cfg.kafka_brokers), "%s",
             rd_kafka_mock_cluster_bootstraps(mc));
    rd_kafka_mock_topic_create(mc, "ut17.mosync.dlq", 1, 1);
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", cfg.kafka_brokers, errstr, sizeof(errstr));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
    UT_CHECK(produce(p, "ut17.mosync.dlq", "\xff\xfek1", 4, "mosync.error", "cut \xc3",
                     "{\"a\":1}") == 0,
             "produce 1");
    UT_CHECK(produce(p, "ut17.mosync.dlq", "t1:10002", 8, "mosync.error", "fine", "{\"b\":2}") == 0,
             "produce 2");
    rd_kafka_destroy(p);

    ut_capture_start(1);
    int rc = dlq_show(&cfg, 1);
    char *out = ut_capture_end(1);
    UT_CHECK(rc == 0, "dlq show exited %d", rc);

    int lines = 0, found_bad = 0, found_good = 0;
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        UT_CHECK(o != NULL, "not JSON: %s", line);
        lines++;
        const char *k64 = json_string_value(json_object_get(o, "key_base64"));
        const char *key = json_string_value(json_object_get(o, "key"));
        if (k64 && !strcmp(k64, "//5rMQ==")) { /* base64 of ff fe 'k' '1' */
            found_bad = 1;
            const char *h64 = json_string_value(
                json_object_get(json_object_get(o, "headers_base64"), "mosync.error"));
            UT_CHECK(h64 && !strcmp(h64, "Y3V0IMM="), "bad header shown as %s", /* "cut \xc3" */
                     h64 ? h64 : "(absent)");
        }
        if (key && !strcmp(key, "t1:10002")) {
            const char *e =
                json_string_value(json_object_get(json_object_get(o, "headers"), "mosync.error"));
            found_good = e && !strcmp(e, "fine");
        }
        json_decref(o);
    }
    UT_CHECK(lines == 2, "%d dead letters printed, expected 2", lines);
    UT_CHECK(found_bad, "the dead letter with a key that is not UTF-8 was not printed");
    UT_CHECK(found_good, "the ordinary dead letter was not printed as before");
    free(out);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
}
