/* A consumer group seen from outside (see kafka_group.h). */
#include "kafka_group.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lag ---------------------------------------------------------------- */

/* A consumer with group.id group that will never subscribe: it may read the
 * group's committed offsets, and commits nothing. */
static rd_kafka_t *kg_consumer_new(const mo_config *cfg, const char *group, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, why, sizeof(why)) ||
        rd_kafka_conf_set(conf, "client.id", "mosync-status", why, sizeof(why)))
        goto fail;
    for (int i = 0; i < cfg->n_kafka_props; i++)
        if (rd_kafka_conf_set(conf, cfg->kafka_props[i].name, cfg->kafka_props[i].value, why,
                              sizeof(why))) {
            snprintf(errstr, errstr_size, "KAFKA_PROP for %s: %s", cfg->kafka_props[i].name, why);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    if (rd_kafka_conf_set(conf, "group.id", group, why, sizeof(why)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof(why)) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", why, sizeof(why)))
        goto fail;
    /* Not logged as JSON: a status command prints its own findings. */
    rd_kafka_conf_set(conf, "log_level", "0", why, sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (rk)
        return rk;
fail:
    snprintf(errstr, errstr_size, "kafka consumer: %s", why);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

mo_err kg_group_lag(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                    kg_lag **out, int *n, char *errstr, size_t errstr_size)
{
    mo_err err = MO_OK;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_resp_err_t kerr;
    *out = NULL;
    *n = 0;
    rd_kafka_t *rk = kg_consumer_new(cfg, group, errstr, errstr_size);
    if (!rk)
        return MO_ERR_CONFIG;
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    kerr = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__FAIL;
    if (kerr) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "kafka metadata of %s: %s", topic,
                        rd_kafka_err2str(kerr));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        err =
            mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "topic %s: %s", topic,
                      md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                              : "no partitions");
        goto out;
    }
    int cnt = md->topics[0].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(cnt);
    *out = calloc((size_t)cnt, sizeof(**out));
    if (!parts || !*out) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    /* Metadata lists partitions in no promised order: sorted by id here. */
    for (int i = 0; i < cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id);
    rd_kafka_topic_partition_list_sort(parts, NULL, NULL);
    kerr = rd_kafka_committed(rk, parts, timeout_ms);
    if (kerr) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "committed offsets of %s: %s", group,
                        rd_kafka_err2str(kerr));
        goto out;
    }
    for (int i = 0; i < cnt; i++) {
        kg_lag *l = &(*out)[i];
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        l->partition = p->partition;
        l->committed = p->err || p->offset < 0 ? -1 : p->offset;
        kerr = rd_kafka_query_watermark_offsets(rk, topic, p->partition, &l->low, &l->high,
                                                timeout_ms);
        if (kerr) {
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "watermarks of %s [%d]: %s",
                            topic, (int)p->partition, rd_kafka_err2str(kerr));
            goto out;
        }
        /* A committed offset retention has already deleted counts from
         * the log's start: that is where the group resumes. */
        int64_t from = l->committed >= l->low ? l->committed : l->low;
        l->lag = l->high > from ? l->high - from : 0;
    }
    *n = cnt;
out:
    if (err) {
        free(*out);
        *out = NULL;
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    /* Never subscribed: close leaves no group (there is none to leave). */
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return err;
}
