#include "kafka.h"
#include "log.h"
#include "stop.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KQ_MAX_WAITING 256

struct kq_producer {
    rd_kafka_t *rk;
    char tenant[72];
};

typedef struct kq_waiting {
    char topic[256];
    int32_t partition;
    long long resume_at_ms;
} kq_waiting;

struct kq_consumer {
    rd_kafka_t *rk;
    char tenant[72];
    int assigned;
    kq_waiting waiting[KQ_MAX_WAITING];
    int nwaiting;
};

/* librdkafka's own logs, as JSON lines like everything else. */
static void kq_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    lg_log(level <= 3   ? LG_ERROR
           : level <= 4 ? LG_WARN
           : level <= 6 ? LG_INFO
                        : LG_DEBUG,
           "kafka", NULL, "%s: %s", fac, buf);
}

/* Base configuration: brokers, client id, KAFKA_PROP_* pass-through. */
static rd_kafka_conf_t *kq_conf_new(const mo_config *cfg, const char *client_id, char *errstr,
                                    size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size))
        goto fail;
    for (int i = 0; i < cfg->n_kafka_props; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, cfg->kafka_props[i].name, cfg->kafka_props[i].value, why,
                              sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "KAFKA_PROP for %s: %s", cfg->kafka_props[i].name, why);
            goto fail;
        }
    }
    rd_kafka_conf_set_log_cb(conf, kq_log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- producer ---------------------------------------------------------- */

static void kq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    kq_batch *batch = m->_private;
    if (!batch)
        return;
    if (m->err) {
        if (!batch->failed)
            snprintf(batch->first_error, sizeof(batch->first_error), "%s [%d]: %s",
                     rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
        batch->failed++;
    } else {
        batch->delivered++;
    }
}

kq_producer *kq_producer_new(const mo_config *cfg, const char *client_id, char *errstr,
                             size_t errstr_size)
{
    rd_kafka_conf_t *conf = kq_conf_new(cfg, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", "30000", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kq_dr_cb);
    kq_producer *kp = calloc(1, sizeof(*kp));
    if (!kp) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    snprintf(kp->tenant, sizeof(kp->tenant), "%s", cfg->tenant);
    kp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!kp->rk) {
        rd_kafka_conf_destroy(conf);
        free(kp);
        return NULL;
    }
    return kp;
}

void kq_producer_free(kq_producer *kp)
{
    if (!kp)
        return;
    if (rd_kafka_flush(kp->rk, 10000))
        lg_warn("kafka", kp->tenant, "%d messages not delivered at shutdown",
                rd_kafka_outq_len(kp->rk));
    rd_kafka_destroy(kp->rk);
    free(kp);
}

void kq_batch_begin(kq_batch *batch)
{
    memset(batch, 0, sizeof(*batch));
}

mo_err kq_produce(kq_producer *kp, kq_batch *batch, const char *topic, const char *key,
                  const void *value, size_t len, rd_kafka_headers_t *headers, char *errstr,
                  size_t errstr_size)
{
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            kp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(batch), RD_KAFKA_V_END);
        if (!err) {
            batch->produced++;
            return MO_OK;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries == 100) {
            if (headers)
                rd_kafka_headers_destroy(headers);
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "produce to %s: %s", topic,
                             rd_kafka_err2str(err));
        }
        rd_kafka_poll(kp->rk, 100);
    }
}

mo_err kq_batch_wait(kq_producer *kp, kq_batch *batch, int timeout_ms, char *errstr,
                     size_t errstr_size)
{
    long long deadline = mo_now_ms() + timeout_ms;
    rd_kafka_flush(kp->rk, timeout_ms);
    while (batch->delivered + batch->failed < batch->produced && mo_now_ms() < deadline)
        rd_kafka_poll(kp->rk, 50);
    if (batch->failed)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%d of %d not delivered: %s",
                         batch->failed, batch->produced, batch->first_error);
    if (batch->delivered < batch->produced)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                         "%d of %d not acknowledged within %d ms",
                         batch->produced - batch->delivered, batch->produced, timeout_ms);
    return MO_OK;
}

/* ---- consumer ---------------------------------------------------------- */

static void kq_forget_waiting(kq_consumer *kc, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        for (int j = 0; j < kc->nwaiting; j++) {
            if (kc->waiting[j].partition == parts->elems[i].partition &&
                !strcmp(kc->waiting[j].topic, parts->elems[i].topic)) {
                kc->waiting[j] = kc->waiting[--kc->nwaiting];
                j--;
            }
        }
    }
}

/* Rebalance: commit what is stored before partitions leave, so the next owner
 * starts where this one finished; log both directions. */
static void kq_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kq_consumer *kc = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        lg_info("kafka", kc->tenant, "assigned %d partitions", parts->cnt);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
            kc->assigned += parts->cnt;
        } else {
            rd_kafka_assign(rk, parts);
            kc->assigned = parts->cnt;
        }
    } else {
        lg_info("kafka", kc->tenant, "revoked %d partitions", parts->cnt);
        rd_kafka_commit(rk, NULL, 0);
        kq_forget_waiting(kc, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
            kc->assigned -= parts->cnt;
        } else {
            rd_kafka_assign(rk, NULL);
            kc->assigned = 0;
        }
    }
}

kq_consumer *kq_consumer_new(const mo_config *cfg, const char *group_id, const char **topics,
                             int ntopics, char *errstr, size_t errstr_size)
{
    kq_consumer *kc = calloc(1, sizeof(*kc));
    rd_kafka_conf_t *conf = NULL;
    if (!kc)
        return NULL;
    snprintf(kc->tenant, sizeof(kc->tenant), "%s", cfg->tenant);
    conf = kq_conf_new(cfg, group_id, errstr, errstr_size);
    if (!conf)
        goto fail;
    if (rd_kafka_conf_set(conf, "group.id", group_id, errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "true", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "auto.commit.interval.ms", "1000", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "false", errstr, errstr_size) ||
        /* A consumer that died (kill -9, OOM) holds its partitions until its
         * session times out; 10 s instead of 45 s lets a restart resume soon. */
        rd_kafka_conf_set(conf, "session.timeout.ms", "10000", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "heartbeat.interval.ms", "3000", errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, kq_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, kc);
    kc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!kc->rk)
        goto fail;
    conf = NULL;
    rd_kafka_poll_set_consumer(kc->rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(ntopics);
    for (int i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(kc->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    return kc;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (kc->rk)
        rd_kafka_destroy(kc->rk);
    free(kc);
    return NULL;
}

/* Resumes partitions whose retry time has come. */
static void kq_resume_due(kq_consumer *kc)
{
    long long now = mo_now_ms();
    for (int i = 0; i < kc->nwaiting; i++) {
        if (kc->waiting[i].resume_at_ms > now)
            continue;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, kc->waiting[i].topic, kc->waiting[i].partition);
        rd_kafka_resume_partitions(kc->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        kc->waiting[i] = kc->waiting[--kc->nwaiting];
        i--;
    }
}

static int kq_is_waiting(const kq_consumer *kc, const char *topic, int32_t partition)
{
    for (int i = 0; i < kc->nwaiting; i++)
        if (kc->waiting[i].partition == partition && !strcmp(kc->waiting[i].topic, topic))
            return 1;
    return 0;
}

rd_kafka_message_t *kq_consumer_poll(kq_consumer *kc, int timeout_ms)
{
    kq_resume_due(kc);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(kc->rk, timeout_ms);
    if (!m)
        return NULL;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            lg_warn("kafka", kc->tenant, "consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return NULL;
    }
    /* A message fetched before its partition was paused: it comes again after
     * the rewind, so drop this copy. */
    if (kq_is_waiting(kc, rd_kafka_topic_name(m->rkt), m->partition)) {
        rd_kafka_message_destroy(m);
        return NULL;
    }
    return m;
}

mo_err kq_consumer_store(kq_consumer *kc, const rd_kafka_message_t *msg)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(msg->rkt), msg->partition)->offset =
        msg->offset + 1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(kc->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        /* The partition was revoked meanwhile: the next owner re-applies the
         * message, which the idempotency record turns into a no-op. */
        lg_warn("kafka", kc->tenant, "offset store %s [%d] @%lld: %s",
                rd_kafka_topic_name(msg->rkt), msg->partition, (long long)msg->offset,
                rd_kafka_err2str(err));
        return MO_ERR_TRANSIENT;
    }
    return MO_OK;
}

void kq_consumer_retry_later(kq_consumer *kc, const rd_kafka_message_t *msg, long delay_ms)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, msg->partition)->offset = msg->offset;
    rd_kafka_pause_partitions(kc->rk, l);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(kc->rk, l, 5000);
    if (e) {
        lg_warn("kafka", kc->tenant, "seek %s [%d]: %s", topic, msg->partition,
                rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (!kq_is_waiting(kc, topic, msg->partition) && kc->nwaiting < KQ_MAX_WAITING) {
        kq_waiting *w = &kc->waiting[kc->nwaiting++];
        snprintf(w->topic, sizeof(w->topic), "%s", topic);
        w->partition = msg->partition;
        w->resume_at_ms = mo_now_ms() + delay_ms;
    }
}

int kq_consumer_assigned(const kq_consumer *kc)
{
    return kc->assigned;
}

int kq_consumer_waiting(const kq_consumer *kc)
{
    return kc->nwaiting;
}

void kq_consumer_close(kq_consumer *kc, int deadline_ms)
{
    if (!kc)
        return;
    long long deadline = mo_now_ms() + deadline_ms;
    rd_kafka_commit(kc->rk, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kc->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(kc->rk, q);
    int closed = 0;
    if (e) {
        rd_kafka_error_destroy(e);
    } else {
        while (!(closed = rd_kafka_consumer_closed(kc->rk)) && mo_now_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (!ev)
                continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                kq_rebalance_cb(kc->rk, rd_kafka_event_error(ev),
                                rd_kafka_event_topic_partition_list(ev), kc);
            }
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    if (!closed)
        lg_warn("kafka", kc->tenant, "consumer did not close within %d ms", deadline_ms);
    rd_kafka_destroy_flags(kc->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    free(kc);
}

/* ---- topics ------------------------------------------------------------- */

static const char *kq_all_topics[] = {KQ_TOPIC_PRODUCTS, KQ_TOPIC_ORDERS, KQ_TOPIC_SHIPMENTS,
                                      KQ_TOPIC_STOCK, KQ_TOPIC_DLQ};
#define KQ_NTOPICS ((int)(sizeof(kq_all_topics) / sizeof(kq_all_topics[0])))

mo_err kq_ensure_topics(const mo_config *cfg, char *errstr, size_t errstr_size)
{
    mo_err ret = MO_OK;
    rd_kafka_conf_t *conf = kq_conf_new(cfg, "mosync-admin", errstr, errstr_size);
    if (!conf)
        return MO_ERR_CONFIG;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return MO_ERR_CONFIG;
    }
    rd_kafka_NewTopic_t *nt[KQ_NTOPICS];
    char name[256], why[256];
    for (int i = 0; i < KQ_NTOPICS; i++)
        nt[i] = rd_kafka_NewTopic_new(cfg_topic(cfg, kq_all_topics[i], name, sizeof(name)),
                                      cfg->topic_partitions, -1, why, sizeof(why));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, why, sizeof(why));
    rd_kafka_CreateTopics(rk, nt, KQ_NTOPICS, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    if (!ev) {
        ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "create topics: no answer");
    } else if (rd_kafka_event_error(ev)) {
        ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "create topics: %s",
                        rd_kafka_event_error_string(ev));
    } else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && !ret)
                ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "create topic %s: %s",
                                rd_kafka_topic_result_name(res[i]),
                                rd_kafka_topic_result_error_string(res[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(nt, KQ_NTOPICS);
    rd_kafka_destroy(rk);
    return ret;
}

/* ---- development broker ------------------------------------------------- */

int kq_dev_broker_run(const mo_config *cfg, int nbrokers, int partitions)
{
    char errstr[512], name[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kq_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "dev-broker: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "dev-broker: could not start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < KQ_NTOPICS; i++)
        rd_kafka_mock_topic_create(mc, cfg_topic(cfg, kq_all_topics[i], name, sizeof(name)),
                                   partitions, 1);
    printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    lg_info("dev-broker", cfg->tenant, "embedded Kafka (librdkafka mock cluster) at %s",
            rd_kafka_mock_cluster_bootstraps(mc));
    while (!mo_stop_requested())
        mo_stop_sleep_ms(200);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
