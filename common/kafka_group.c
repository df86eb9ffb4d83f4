/* A consumer group seen from outside its members (see kafka_group.h). */
#include "kafka_group.h"
#include "kafka.h"
#include "log.h"
#include "stop.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rewind ---------------------------------------------------------- */

/* After the first assignment, a cooperative rebalance may still hand out
 * more in further steps: wait this long for them before counting. */
#define KG_SETTLE_MS 1000

struct kq_group {
    const mo_config *cfg; /* borrowed: for the scanning handle */
    rd_kafka_t *rk;
    char group[256], topic[256], tenant[72];
    int npartitions;
    int subscribed;
    int assigned;    /* partitions held now */
    int assignments; /* assignment events seen */
};

/* Takes what the coordinator hands out and pauses it at once: this session
 * only commits, it never consumes. */
static void kg_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kq_group *g = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                lg_error("kafka", g->tenant, "assign: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return;
            }
            g->assigned += parts->cnt;
        } else {
            if (rd_kafka_assign(rk, parts))
                return;
            g->assigned = parts->cnt;
        }
        rd_kafka_pause_partitions(rk, parts);
        g->assignments++;
        return;
    }
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
        else
            g->assigned -= parts->cnt;
    } else {
        rd_kafka_assign(rk, NULL);
        g->assigned = 0;
    }
}

/* Does a KAFKA_PROP_* set librdkafka property name? */
static int kg_prop_set(const mo_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_kafka_props; i++)
        if (!strcmp(cfg->kafka_props[i].name, name))
            return 1;
    return 0;
}

kq_group *kq_group_open(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                        mo_err *why, char *errstr, size_t errstr_size)
{
    mo_err dummy;
    if (!why)
        why = &dummy;
    *why = MO_ERR_CONFIG;
    kq_group *g = calloc(1, sizeof(*g));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_t *rkt = NULL;
    const struct rd_kafka_metadata *md = NULL;
    if (!g) {
        *why = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    g->cfg = cfg;
    snprintf(g->group, sizeof(g->group), "%s", group);
    snprintf(g->topic, sizeof(g->topic), "%s", topic);
    snprintf(g->tenant, sizeof(g->tenant), "%s", cfg->tenant);
    conf = kq_conf(cfg, group, errstr, errstr_size);
    /* Nothing is committed but what kq_group_commit is given.  The session
     * timeout is the appliers' (kafka.c), unless KAFKA_PROP sets one for
     * both: the embedded broker holds a join after the last member left
     * for that member's session timeout less 1 s, and drops a joiner whose
     * own session is shorter than that wait. */
    if (!conf || rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
        (!kg_prop_set(cfg, "session.timeout.ms") &&
         rd_kafka_conf_set(conf, "session.timeout.ms", "10000", errstr, errstr_size)) ||
        (!kg_prop_set(cfg, "heartbeat.interval.ms") &&
         rd_kafka_conf_set(conf, "heartbeat.interval.ms", "3000", errstr, errstr_size)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, kg_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, g);
    g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!g->rk)
        goto fail;
    conf = NULL;
    rd_kafka_poll_set_consumer(g->rk);
    rkt = rd_kafka_topic_new(g->rk, topic, NULL);
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_metadata(g->rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        /* No answer is transient; an answer without the topic is not. */
        *why = err ? MO_ERR_TRANSIENT : MO_ERR_INVALID;
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 rd_kafka_err2str(err                 ? err
                                  : md->topic_cnt < 1 ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                                  : md->topics[0].err ? md->topics[0].err
                                                      : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        goto fail;
    }
    g->npartitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return g;
fail:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (g->rk)
        rd_kafka_destroy(g->rk);
    free(g);
    return NULL;
}

int kq_group_partitions(const kq_group *g)
{
    return g->npartitions;
}

mo_err kq_group_join(kq_group *g, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, g->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(g->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "subscribe to %s: %s", g->topic,
                         rd_kafka_err2str(err));
    g->subscribed = 1;
    long long start = mo_now_ms(), first = 0;
    while (!mo_stop_requested()) {
        long long now = mo_now_ms();
        if (!first && g->assignments)
            first = now;
        if (first && now - first >= KG_SETTLE_MS)
            break;
        if (!first && now - start >= timeout_ms)
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                             "no assignment in consumer group %s within %d ms", g->group,
                             timeout_ms);
        /* Paused partitions hand out nothing; a message fetched before the
         * pause took effect is dropped (nothing is stored or committed). */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(g->rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (mo_stop_requested())
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "stop requested");
    if (g->assigned < g->npartitions) {
        int others = g->npartitions - g->assigned;
        rd_kafka_consumer_close(g->rk);
        g->subscribed = 0;
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "consumer group %s is active (other members hold %d of the %d partitions "
                         "of %s): stop its appliers first",
                         g->group, others, g->npartitions, g->topic);
    }
    return MO_OK;
}

/* A list of every partition of the topic, each with offset. */
static rd_kafka_topic_partition_list_t *kg_list(const kq_group *g, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(g->npartitions);
    for (int p = 0; p < g->npartitions; p++)
        rd_kafka_topic_partition_list_add(l, g->topic, p)->offset = offset;
    return l;
}

mo_err kq_group_committed(kq_group *g, int64_t *offsets, int timeout_ms, char *errstr,
                          size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = kg_list(g, RD_KAFKA_OFFSET_INVALID);
    rd_kafka_resp_err_t err = rd_kafka_committed(g->rk, l, timeout_ms);
    for (int i = 0; !err && i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err)
            err = tp->err;
        else if (tp->partition >= 0 && tp->partition < g->npartitions)
            offsets[tp->partition] = tp->offset >= 0 ? tp->offset : -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "committed offsets of group %s: %s",
                         g->group, rd_kafka_err2str(err));
    return MO_OK;
}

mo_err kq_group_watermarks(kq_group *g, int64_t *low, int64_t *high, int timeout_ms, char *errstr,
                           size_t errstr_size)
{
    for (int p = 0; p < g->npartitions; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(g->rk, g->topic, p, &lo, &hi, timeout_ms);
        if (err)
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "offsets of %s [%d]: %s",
                             g->topic, p, rd_kafka_err2str(err));
        if (low)
            low[p] = lo;
        if (high)
            high[p] = hi;
    }
    return MO_OK;
}

mo_err kq_group_scan(kq_group *g, const int64_t *from, const int64_t *upto, kq_scan_fn fn,
                     void *opaque, int timeout_ms, char *errstr, size_t errstr_size)
{
    mo_err err = MO_OK;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(g->npartitions);
    unsigned char *done = calloc((size_t)g->npartitions, 1);
    int left = 0;
    rd_kafka_conf_t *conf = kq_conf(g->cfg, "mosync-scan", errstr, errstr_size);
    if (!done || !conf ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        /* The end of a partition ends its reading: the last offsets below
         * upto may hold no message (a transaction marker, deleted records). */
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
        /* librdkafka wants one for assign(); it is never joined or committed to. */
        rd_kafka_conf_set(conf, "group.id", "mosync-scan", errstr, errstr_size)) {
        err = done && !conf ? MO_ERR_CONFIG : MO_ERR_NOMEM;
        goto out;
    }
    for (int p = 0; p < g->npartitions; p++) {
        done[p] = from[p] < 0 || from[p] >= upto[p];
        if (!done[p]) {
            rd_kafka_topic_partition_list_add(l, g->topic, p)->offset = from[p];
            left++;
        }
    }
    if (!left)
        goto out;
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        err = MO_ERR_CONFIG;
        goto out;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, l);
    if (aerr) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "cannot read %s: %s", g->topic,
                        rd_kafka_err2str(aerr));
        goto out;
    }
    /* A bound on waiting for the next message, not on the whole read: a long
     * range takes as long as it takes while messages keep coming. */
    long long deadline = mo_now_ms() + timeout_ms;
    while (left > 0 && !mo_stop_requested()) {
        if (mo_now_ms() > deadline) {
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                            "reading %s: no message for %d ms", g->topic, timeout_ms);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int32_t p = m->partition;
        if (p >= 0 && p < g->npartitions && !done[p] &&
            (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
            deadline = mo_now_ms() + timeout_ms;
            if (m->err || m->offset >= upto[p])
                done[p] = 1;
            else
                done[p] = fn(opaque, m) || m->offset + 1 >= upto[p];
            left -= done[p];
        }
        rd_kafka_message_destroy(m);
    }
    if (!err && mo_stop_requested())
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "stop requested");
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (err == MO_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    rd_kafka_topic_partition_list_destroy(l);
    free(done);
    return err;
}

/* kg_scan's state: the first offset per partition whose timestamp is at or
 * after at_ms. */
typedef struct kg_at {
    long long at_ms;
    int64_t *found;
} kg_at;

static int kg_at_msg(void *opaque, const rd_kafka_message_t *m)
{
    kg_at *s = opaque;
    if (rd_kafka_message_timestamp(m, NULL) < s->at_ms)
        return 0;
    s->found[m->partition] = m->offset;
    return 1;
}

/* Reads partitions from[p] up to upto[p] (from -1: skipped), and sets
 * found[p] to the first offset whose timestamp is at or after at_ms, upto[p]
 * when none is. */
static mo_err kg_scan(kq_group *g, const int64_t *from, const int64_t *upto, long long at_ms,
                      int64_t *found, int timeout_ms, char *errstr, size_t errstr_size)
{
    kg_at s = {.at_ms = at_ms, .found = found};
    for (int p = 0; p < g->npartitions; p++)
        found[p] = upto[p];
    return kq_group_scan(g, from, upto, kg_at_msg, &s, timeout_ms, errstr, errstr_size);
}

mo_err kq_group_offsets_at(kq_group *g, long long at_ms, int64_t *offsets, int timeout_ms,
                           char *errstr, size_t errstr_size)
{
    int64_t *high = calloc((size_t)g->npartitions * 2, sizeof(*high));
    int64_t *low = high ? high + g->npartitions : NULL;
    rd_kafka_topic_partition_list_t *l = kg_list(g, at_ms);
    mo_err merr = high ? kq_group_watermarks(g, low, high, timeout_ms, errstr, errstr_size)
                       : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    rd_kafka_resp_err_t err =
        merr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_offsets_for_times(g->rk, l, timeout_ms);
    for (int i = 0; !merr && !err && i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err)
            err = tp->err;
        else if (tp->partition >= 0 && tp->partition < g->npartitions)
            offsets[tp->partition] = tp->offset;
    }
    if (!merr && err)
        merr = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "offsets by time of %s: %s",
                         g->topic, rd_kafka_err2str(err));
    /* "None at or after that time" (-1) is also what a broker without the
     * time index answers (the embedded one): when the partition's last
     * message is that late after all, its messages are read instead. */
    int64_t *from = merr ? NULL : calloc((size_t)g->npartitions * 2, sizeof(*from));
    int64_t *last = from ? from + g->npartitions : NULL;
    if (!merr && !from)
        merr = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (int p = 0; !merr && p < g->npartitions; p++)
        from[p] = offsets[p] < 0 && high[p] > low[p] ? high[p] - 1 : -1;
    if (!merr)
        merr = kg_scan(g, from, high, at_ms, last, timeout_ms * 3, errstr, errstr_size);
    for (int p = 0; !merr && p < g->npartitions; p++) {
        if (offsets[p] < 0)
            offsets[p] = high[p];
        /* The last message is late enough: find the first that is. */
        from[p] = from[p] >= 0 && last[p] < high[p] ? low[p] : -1;
    }
    if (!merr)
        merr = kg_scan(g, from, high, at_ms, last, timeout_ms * 6, errstr, errstr_size);
    for (int p = 0; !merr && p < g->npartitions; p++)
        if (from[p] >= 0)
            offsets[p] = last[p];
    free(from);
    rd_kafka_topic_partition_list_destroy(l);
    free(high);
    return merr;
}

mo_err kq_group_commit(kq_group *g, const int64_t *offsets, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(g->npartitions);
    for (int p = 0; p < g->npartitions; p++)
        if (offsets[p] >= 0)
            rd_kafka_topic_partition_list_add(l, g->topic, p)->offset = offsets[p];
    rd_kafka_resp_err_t err = l->cnt ? rd_kafka_commit(g->rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; !err && i < l->cnt; i++)
        err = l->elems[i].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "commit offsets of group %s: %s",
                         g->group, rd_kafka_err2str(err));
    return MO_OK;
}

void kq_group_close(kq_group *g)
{
    if (!g)
        return;
    if (g->subscribed)
        rd_kafka_consumer_close(g->rk);
    rd_kafka_destroy(g->rk);
    free(g);
}

/* ---- lag ---------------------------------------------------------------- */

mo_err kg_group_lag(const mo_config *cfg, const char *group, const char *topic, int timeout_ms,
                    kg_lag **out, int *n, char *errstr, size_t errstr_size)
{
    mo_err err;
    *out = NULL;
    *n = 0;
    /* Opened, never joined: the session reads the group's offsets and moves
     * nothing. */
    kq_group *g = kq_group_open(cfg, group, topic, timeout_ms, &err, errstr, errstr_size);
    if (!g)
        return err;
    int cnt = kq_group_partitions(g);
    int64_t *off = calloc((size_t)cnt * 3, sizeof(*off));
    *out = calloc((size_t)cnt, sizeof(**out));
    if (!off || !*out) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    int64_t *committed = off, *low = off + cnt, *high = off + 2 * cnt;
    err = kq_group_committed(g, committed, timeout_ms, errstr, errstr_size);
    if (!err)
        err = kq_group_watermarks(g, low, high, timeout_ms, errstr, errstr_size);
    for (int p = 0; !err && p < cnt; p++) {
        kg_lag *l = &(*out)[p];
        l->partition = p;
        l->committed = committed[p];
        l->low = low[p];
        l->high = high[p];
        /* A committed offset retention has already deleted counts from the
         * log's start: that is where the group resumes. */
        int64_t from = l->committed >= l->low ? l->committed : l->low;
        l->lag = l->high > from ? l->high - from : 0;
    }
    if (!err)
        *n = cnt;
out:
    if (err) {
        free(*out);
        *out = NULL;
    }
    free(off);
    kq_group_close(g);
    return err;
}
