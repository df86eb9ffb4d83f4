#include "kafka.h"
#include "log.h"
#include "stop.h"

#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A consumer has at most one waiting entry per assigned partition; this caps
 * the table against a broker that assigns absurdly many. */
#define KQ_WAITING_CAP      100000
#define KQ_SEEK_TIMEOUT_MS  2000
#define KQ_SEEK_AGAIN_MS    1000
#define KQ_REVOKE_COMMIT_MS 5000
#define KQ_CLOSE_COMMIT_MS  3000
/* After an unconfirmed close commit (the coordinator is away), how long the
 * group close may still take, and how long a destroy is waited for when the
 * group close did not finish. */
#define KQ_CLOSE_AWAY_MS   1000
#define KQ_DESTROY_AWAY_MS 500
/* kq_batch_wait checks its batch at least this often. */
#define KQ_WAIT_SLICE_MS 10

struct kq_producer {
    rd_kafka_t *rk;
    char tenant[72];
    int msg_timeout_ms; /* effective message.timeout.ms */
    int max_msg_bytes;  /* effective message.max.bytes */
};

/* What the delivery reports of one batch count into.  Owned jointly by the
 * waiter (one reference until kq_batch_end) and by every produced message
 * whose report has not come yet (one reference each): the last one frees it.
 * Reports are served by rd_kafka_poll/flush in whichever thread calls it:
 * with one producer shared by several threads (`mosync poll --all-tenants`)
 * a report for one thread's batch may be served by another, so the counts
 * and references are read and written under kq_acct_mu. */
typedef struct kq_acct {
    int refs;
    int produced, delivered, failed;
    rd_kafka_resp_err_t first_err;
    char first_error[256];
    int ntagged;
    int tag[KQ_BATCH_TAGS_MAX];
    rd_kafka_resp_err_t tag_err[KQ_BATCH_TAGS_MAX];
    int32_t partition; /* of the last delivered message, -1 before any */
    int64_t offset;
} kq_acct;

/* One message in flight: its batch's record and its tag (the opaque). */
typedef struct kq_msg {
    kq_acct *acct;
    int tag;
} kq_msg;

/* An assigned partition the consumer has read to its end: librdkafka said so
 * (partition EOF) and no message of it came since. */
typedef struct kq_at_end {
    char topic[256];
    int32_t partition;
} kq_at_end;

typedef struct kq_waiting {
    char topic[256];
    int32_t partition;
    int64_t offset; /* where the partition was rewound to */
    int need_seek;  /* the rewind failed: do it before resuming */
    long long resume_at_ms;
} kq_waiting;

struct kq_consumer {
    rd_kafka_t *rk;
    char tenant[72];
    int assigned;
    int max_poll_interval_ms;
    kq_waiting *waiting; /* one entry per paused partition */
    int nwaiting, capwaiting;
    kq_at_end *at_end; /* the assigned partitions read to their end (partition EOF) */
    int nat_end, capat_end;
    unsigned long generation;
    kq_revoke_fn on_revoke;
    void *on_revoke_opaque;
    long long close_deadline_ms; /* set while closing: commits stop there */
};

/* kq_log_quiet: set before the first handle exists (so librdkafka's threads
 * see it), never cleared; the first complaint it keeps, under the lock. */
static int kq_log_quiet_on;
static pthread_mutex_t kq_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char kq_log_first[512];

/* librdkafka's own logs, as JSON lines like everything else. */
static void kq_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    lg_level lv = level <= 3 ? LG_ERROR : level <= 4 ? LG_WARN : level <= 6 ? LG_INFO : LG_DEBUG;
    if (kq_log_quiet_on) {
        if (lv >= LG_WARN) {
            pthread_mutex_lock(&kq_log_mu);
            if (!kq_log_first[0])
                snprintf(kq_log_first, sizeof(kq_log_first), "%s", buf);
            pthread_mutex_unlock(&kq_log_mu);
        }
        lv = LG_DEBUG;
    }
    lg_log(lv, "kafka", NULL, "%s: %s", fac, buf);
}

void kq_log_quiet(void)
{
    kq_log_quiet_on = 1;
}

void kq_log_first_complaint(char *buf, size_t size)
{
    pthread_mutex_lock(&kq_log_mu);
    snprintf(buf, size, "%s", kq_log_first);
    pthread_mutex_unlock(&kq_log_mu);
}

typedef struct kq_prop {
    const char *name, *value;
} kq_prop;

/* Sets every property of the NULL-terminated list props. */
static int kq_conf_set_all(rd_kafka_conf_t *conf, const kq_prop *props, char *errstr,
                           size_t errstr_size)
{
    for (; props && props->name; props++)
        if (rd_kafka_conf_set(conf, props->name, props->value, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK)
            return -1;
    return 0;
}

/* Base configuration: brokers and client id, then our defaults, then the
 * KAFKA_PROP_* pass-through (so a user's value wins over a default), then
 * what correctness needs and no property may change (forced). */
static rd_kafka_conf_t *kq_conf_new(const mo_config *cfg, const char *client_id,
                                    const kq_prop *defaults, const kq_prop *forced, char *errstr,
                                    size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size) ||
        kq_conf_set_all(conf, defaults, errstr, errstr_size))
        goto fail;
    for (int i = 0; i < cfg->n_kafka_props; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, cfg->kafka_props[i].name, cfg->kafka_props[i].value, why,
                              sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "KAFKA_PROP for %s: %s", cfg->kafka_props[i].name, why);
            goto fail;
        }
    }
    if (kq_conf_set_all(conf, forced, errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_log_cb(conf, kq_log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *kq_conf(const mo_config *cfg, const char *client_id, char *errstr,
                         size_t errstr_size)
{
    return kq_conf_new(cfg, client_id, NULL, NULL, errstr, errstr_size);
}

/* An integer property of conf (its effective value), or fallback. */
static int kq_conf_int(const rd_kafka_conf_t *conf, const char *name, int fallback)
{
    char buf[64], *end;
    size_t size = sizeof(buf);
    if (rd_kafka_conf_get(conf, name, buf, &size) != RD_KAFKA_CONF_OK)
        return fallback;
    long v = strtol(buf, &end, 10);
    return end != buf && !*end && v > 0 && v <= 0x7fffffff ? (int)v : fallback;
}

/* ---- producer ---------------------------------------------------------- */

static pthread_mutex_t kq_acct_mu = PTHREAD_MUTEX_INITIALIZER;

static void kq_acct_release(kq_acct *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&kq_acct_mu);
    int last = --a->refs == 0;
    pthread_mutex_unlock(&kq_acct_mu);
    if (last)
        free(a);
}

/* Counts one delivery report into its batch's record and lets go of the
 * message's reference. */
static void kq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    kq_msg *msg = m->_private;
    if (!msg)
        return;
    kq_acct *a = msg->acct;
    pthread_mutex_lock(&kq_acct_mu);
    if (m->err) {
        if (!a->failed) {
            a->first_err = m->err;
            snprintf(a->first_error, sizeof(a->first_error), "%s [%d]: %s",
                     rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
        }
        a->failed++;
        if (msg->tag >= 0 && a->ntagged < KQ_BATCH_TAGS_MAX) {
            a->tag[a->ntagged] = msg->tag;
            a->tag_err[a->ntagged++] = m->err;
        }
    } else {
        a->delivered++;
        a->partition = m->partition;
        a->offset = m->offset;
    }
    pthread_mutex_unlock(&kq_acct_mu);
    free(msg);
    kq_acct_release(a);
}

kq_producer *kq_producer_new(const mo_config *cfg, const char *client_id, char *errstr,
                             size_t errstr_size)
{
    static const kq_prop defaults[] = {
        {"linger.ms", "5"},
        {"message.timeout.ms", "30000"},
        /* Snapshots are repetitive JSON: a fraction of the bytes on the wire
         * and on the brokers' disks, and far from message.max.bytes. */
        {"compression.codec", "lz4"},
        {NULL, NULL}};
    /* The cursor moves only after delivery, and re-sent events must not be
     * doubled by the broker's retries: idempotence stays on. */
    static const kq_prop forced[] = {{"enable.idempotence", "true"}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kq_conf_new(cfg, client_id, defaults, forced, errstr, errstr_size);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, kq_dr_cb);
    kq_producer *kp = calloc(1, sizeof(*kp));
    if (!kp) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    snprintf(kp->tenant, sizeof(kp->tenant), "%s", cfg->tenant);
    kp->msg_timeout_ms = kq_conf_int(conf, "message.timeout.ms", 300000);
    kp->max_msg_bytes = kq_conf_int(conf, "message.max.bytes", 1000000);
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
    if (rd_kafka_flush(kp->rk, KQ_FREE_FLUSH_MS)) {
        lg_warn("kafka", kp->tenant,
                "%d messages not delivered within %d ms at shutdown; purging them",
                rd_kafka_outq_len(kp->rk), KQ_FREE_FLUSH_MS);
        /* Purged messages get their reports (which free the batches' records)
         * on the next polls; the broker is not waited for. */
        rd_kafka_purge(kp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 20 && rd_kafka_outq_len(kp->rk) > 0; i++)
            rd_kafka_poll(kp->rk, 50);
    }
    rd_kafka_destroy(kp->rk);
    free(kp);
}

int kq_producer_max_message_bytes(const kq_producer *kp)
{
    return kp->max_msg_bytes;
}

int kq_producer_message_timeout_ms(const kq_producer *kp)
{
    return kp->msg_timeout_ms;
}

mo_err kq_producer_ping(kq_producer *kp, int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(kp->rk, 0, NULL, &md, timeout_ms);
    if (err)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "no broker answered: %s",
                         rd_kafka_err2str(err));
    rd_kafka_metadata_destroy(md);
    return MO_OK;
}

void kq_batch_begin(kq_batch *batch)
{
    memset(batch, 0, sizeof(*batch));
    batch->last_partition = -1;
    batch->last_offset = -1;
}

void kq_batch_end(kq_batch *batch)
{
    kq_acct_release(batch->acct);
    batch->acct = NULL;
}

mo_err kq_produce(kq_producer *kp, kq_batch *batch, const char *topic, const char *key,
                  const void *value, size_t len, rd_kafka_headers_t *headers, char *errstr,
                  size_t errstr_size)
{
    return kq_produce_tagged(kp, batch, topic, key, value, len, headers, -1, errstr, errstr_size);
}

mo_err kq_produce_tagged(kq_producer *kp, kq_batch *batch, const char *topic, const char *key,
                         const void *value, size_t len, rd_kafka_headers_t *headers, int tag,
                         char *errstr, size_t errstr_size)
{
    if (!batch->acct) {
        batch->acct = calloc(1, sizeof(*batch->acct));
        if (!batch->acct) {
            if (headers)
                rd_kafka_headers_destroy(headers);
            return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        batch->acct->refs = 1; /* the waiter's */
        batch->acct->partition = -1;
        batch->acct->offset = -1;
    }
    kq_acct *a = batch->acct;
    kq_msg *msg = malloc(sizeof(*msg));
    if (!msg) {
        if (headers)
            rd_kafka_headers_destroy(headers);
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    msg->acct = a;
    msg->tag = tag;
    for (int tries = 0;; tries++) {
        /* The message's reference and count before librdkafka has it: with a
         * shared producer another thread's flush may serve its report before
         * producev returns, and that report must neither free the record
         * under us nor count a message not yet produced. */
        pthread_mutex_lock(&kq_acct_mu);
        a->refs++;
        a->produced++;
        pthread_mutex_unlock(&kq_acct_mu);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            kp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(msg), RD_KAFKA_V_END);
        pthread_mutex_lock(&kq_acct_mu);
        if (err) { /* not librdkafka's: no report will come (the waiter's reference stays) */
            a->refs--;
            a->produced--;
        }
        batch->produced = a->produced;
        pthread_mutex_unlock(&kq_acct_mu);
        if (!err)
            return MO_OK;
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            free(msg);
            if (headers)
                rd_kafka_headers_destroy(headers);
            return mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                             "produce to %s: %s (%zu bytes of value, message.max.bytes %d)", topic,
                             rd_kafka_err2str(err), len, kp->max_msg_bytes);
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries == 100 || mo_stop_requested()) {
            free(msg);
            if (headers)
                rd_kafka_headers_destroy(headers);
            return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "produce to %s: %s", topic,
                             rd_kafka_err2str(err));
        }
        rd_kafka_poll(kp->rk, 100);
    }
}

/* Has every message of the batch its report? */
static int kq_acct_done(kq_acct *a)
{
    pthread_mutex_lock(&kq_acct_mu);
    int done = a->delivered + a->failed >= a->produced;
    pthread_mutex_unlock(&kq_acct_mu);
    return done;
}

mo_err kq_batch_wait(kq_producer *kp, kq_batch *batch, int timeout_ms, char *errstr,
                     size_t errstr_size)
{
    kq_acct *a = batch->acct;
    if (!a)
        return MO_OK; /* nothing produced */
    /* Never shorter than the message timeout: a wait that gives up before
     * librdkafka does leaves the outcome unknown, and the caller would send
     * again what may still be delivered. */
    long long wait_ms = (long long)kp->msg_timeout_ms + KQ_REPORT_MARGIN_MS;
    if (timeout_ms > wait_ms)
        wait_ms = timeout_ms;
    long long deadline = mo_now_ms() + wait_ms;
    int stopped = 0;
    while (!kq_acct_done(a)) {
        long long left = deadline - mo_now_ms();
        if (left <= 0)
            break;
        if (mo_stop_requested()) {
            stopped = 1;
            break;
        }
        /* flush also sends what linger.ms holds back and serves the reports
         * (of any batch: a report finds its batch by its message's opaque).
         * It returns only when the whole producer is drained, and a shared
         * producer holds other threads' messages too (mosync run: every
         * flow's), so it runs in short slices and this batch is checked
         * after each: another flow's backlog costs a waiter a slice at most. */
        int slice = left < KQ_WAIT_SLICE_MS ? (int)left : KQ_WAIT_SLICE_MS;
        if (rd_kafka_flush(kp->rk, slice) == RD_KAFKA_RESP_ERR_NO_ERROR && !kq_acct_done(a))
            rd_kafka_poll(kp->rk, slice);
    }
    pthread_mutex_lock(&kq_acct_mu);
    batch->produced = a->produced;
    batch->delivered = a->delivered;
    batch->failed = a->failed;
    batch->first_err = a->first_err;
    snprintf(batch->first_error, sizeof(batch->first_error), "%s", a->first_error);
    batch->ntagged = a->ntagged;
    memcpy(batch->tag, a->tag, sizeof(batch->tag));
    memcpy(batch->tag_err, a->tag_err, sizeof(batch->tag_err));
    batch->last_partition = a->partition;
    batch->last_offset = a->offset;
    pthread_mutex_unlock(&kq_acct_mu);
    kq_batch_end(batch);
    if (batch->failed)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%d of %d not delivered: %s",
                         batch->failed, batch->produced, batch->first_error);
    if (batch->delivered < batch->produced)
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                         stopped ? "%d of %d not acknowledged when the stop came"
                                 : "%d of %d not acknowledged within %lld ms",
                         batch->produced - batch->delivered, batch->produced, wait_ms);
    return MO_OK;
}

/* ---- consumer ---------------------------------------------------------- */

static kq_waiting *kq_find_waiting(const kq_consumer *kc, const char *topic, int32_t partition)
{
    for (int i = 0; i < kc->nwaiting; i++)
        if (kc->waiting[i].partition == partition && !strcmp(kc->waiting[i].topic, topic))
            return &kc->waiting[i];
    return NULL;
}

static void kq_drop_waiting(kq_consumer *kc, kq_waiting *w)
{
    *w = kc->waiting[--kc->nwaiting];
}

/* Resumes the partitions of l, logging any that fails. */
static void kq_resume_list(kq_consumer *kc, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_resp_err_t err = rd_kafka_resume_partitions(kc->rk, l);
    if (err)
        lg_error("kafka", kc->tenant, "resume %d partitions: %s", l->cnt, rd_kafka_err2str(err));
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err)
            lg_error("kafka", kc->tenant, "resume %s [%d]: %s", l->elems[i].topic,
                     l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
}

/* Drops the retry entries of the partitions of parts (they leave), and
 * resumes those partitions: librdkafka 2.0.2 keeps the application's pause
 * flag across unassign and assign, so a partition paused for a retry would
 * come back paused for good.  Only these are resumed, and before they
 * leave: a resume right after an assignment can outdate the fetch start
 * librdkafka is about to queue for the partition, which is then never
 * fetched (kq_assign). */
static void kq_forget_waiting(kq_consumer *kc, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *paused = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        kq_waiting *w = kq_find_waiting(kc, parts->elems[i].topic, parts->elems[i].partition);
        if (!w)
            continue;
        rd_kafka_topic_partition_list_add(paused, w->topic, w->partition);
        kq_drop_waiting(kc, w);
    }
    if (paused->cnt)
        kq_resume_list(kc, paused);
    rd_kafka_topic_partition_list_destroy(paused);
}

/* Rewinds one partition to offset; 0 on success, -1 (logged) on failure. */
static int kq_seek_one(kq_consumer *kc, const char *topic, int32_t partition, int64_t offset)
{
    int rc = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(kc->rk, l, KQ_SEEK_TIMEOUT_MS);
    if (e) {
        lg_warn("kafka", kc->tenant, "seek %s [%d] to %lld: %s", topic, partition,
                (long long)offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = -1;
    } else if (l->elems[0].err) {
        lg_warn("kafka", kc->tenant, "seek %s [%d] to %lld: %s", topic, partition,
                (long long)offset, rd_kafka_err2str(l->elems[0].err));
        rc = -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* What a bounded commit learnt of the group coordinator. */
enum {
    KQ_COMMIT_UNANSWERED = 0, /* no answer within the bound: it may be away */
    KQ_COMMIT_ANSWERED,       /* the coordinator answered (even a refusal) */
    KQ_COMMIT_NOTHING,        /* nothing to commit: librdkafka answered that itself,
                               * so it says nothing of the coordinator */
};

/* Commits the stored offsets and waits for the answer, at most timeout_ms
 * (the synchronous commit would wait for a coordinator that may be gone).
 * Failures are logged: the next owner then re-applies a few messages, which
 * the applied records turn into no-ops.  Returns a KQ_COMMIT_* value;
 * nonzero means no commit is left to wait for. */
static int kq_commit_list_bounded(kq_consumer *kc, const rd_kafka_topic_partition_list_t *offsets,
                                  long timeout_ms, const char *why)
{
    int confirmed = KQ_COMMIT_UNANSWERED;
    if (kc->close_deadline_ms) {
        long long left = kc->close_deadline_ms - mo_now_ms();
        if (left < timeout_ms)
            timeout_ms = left > 0 ? (long)left : 0;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(kc->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(kc->rk, offsets, q, NULL, NULL);
    if (err) {
        if (err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            lg_warn("kafka", kc->tenant, "commit (%s): %s", why, rd_kafka_err2str(err));
        else
            confirmed = KQ_COMMIT_NOTHING;
        goto out;
    }
    long long deadline = mo_now_ms() + timeout_ms;
    rd_kafka_event_t *ev = NULL;
    while (!ev && mo_now_ms() < deadline) {
        ev = rd_kafka_queue_poll(q, 100);
        if (ev && rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT) {
            rd_kafka_event_destroy(ev);
            ev = NULL;
        }
    }
    if (!ev) {
        lg_warn("kafka", kc->tenant, "commit (%s) not confirmed within %ld ms", why, timeout_ms);
        goto out;
    }
    err = rd_kafka_event_error(ev);
    /* The coordinator answered, even if it refused; "no offset" as the
     * answer to the whole commit comes from librdkafka before it asks. */
    confirmed = err == RD_KAFKA_RESP_ERR__NO_OFFSET ? KQ_COMMIT_NOTHING : KQ_COMMIT_ANSWERED;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        lg_warn("kafka", kc->tenant, "commit (%s): %s", why, rd_kafka_err2str(err));
    const rd_kafka_topic_partition_list_t *l = rd_kafka_event_topic_partition_list(ev);
    for (int i = 0; l && i < l->cnt; i++)
        if (l->elems[i].err && l->elems[i].err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            lg_warn("kafka", kc->tenant, "commit (%s) %s [%d] @%lld: %s", why, l->elems[i].topic,
                    l->elems[i].partition, (long long)l->elems[i].offset,
                    rd_kafka_err2str(l->elems[i].err));
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    return confirmed;
}

/* Does the group coordinator answer within timeout_ms?  Asks it for the
 * committed offset of one subscribed partition (an OffsetFetch, which
 * librdkafka refuses at once while it has no coordinator). */
static int kq_coordinator_answers(kq_consumer *kc, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *subs = NULL;
    if (rd_kafka_subscription(kc->rk, &subs) || !subs)
        return 0;
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(1);
    if (subs->cnt > 0)
        rd_kafka_topic_partition_list_add(ask, subs->elems[0].topic, 0);
    rd_kafka_resp_err_t err =
        ask->cnt ? rd_kafka_committed(kc->rk, ask, timeout_ms) : RD_KAFKA_RESP_ERR__STATE;
    if (!err)
        err = ask->elems[0].err;
    rd_kafka_topic_partition_list_destroy(ask);
    rd_kafka_topic_partition_list_destroy(subs);
    return !err;
}

/* Commits what is stored, waiting at most timeout_ms. */
static int kq_commit_bounded(kq_consumer *kc, long timeout_ms, const char *why)
{
    return kq_commit_list_bounded(kc, NULL, timeout_ms, why);
}

/* Drops (topic, partition) from the partitions read to their end. */
static void kq_end_clear(kq_consumer *kc, const char *topic, int32_t partition)
{
    for (int i = 0; i < kc->nat_end; i++)
        if (kc->at_end[i].partition == partition && !strcmp(kc->at_end[i].topic, topic)) {
            kc->at_end[i] = kc->at_end[--kc->nat_end];
            return;
        }
}

/* Notes that (topic, partition) was read to its end.  A table that cannot
 * grow leaves it out: the consumer then only seems behind. */
static void kq_end_set(kq_consumer *kc, const char *topic, int32_t partition)
{
    for (int i = 0; i < kc->nat_end; i++)
        if (kc->at_end[i].partition == partition && !strcmp(kc->at_end[i].topic, topic))
            return;
    if (kc->nat_end == kc->capat_end) {
        int cap = kc->capat_end ? kc->capat_end * 2 : 16;
        if (cap > KQ_WAITING_CAP)
            return;
        kq_at_end *grown = realloc(kc->at_end, (size_t)cap * sizeof(*grown));
        if (!grown)
            return;
        kc->at_end = grown;
        kc->capat_end = cap;
    }
    snprintf(kc->at_end[kc->nat_end].topic, sizeof(kc->at_end[0].topic), "%s", topic);
    kc->at_end[kc->nat_end++].partition = partition;
}

/* Drops the partitions of parts from those read to their end (they are
 * assigned anew, or leave). */
static void kq_end_forget(kq_consumer *kc, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        kq_end_clear(kc, parts->elems[i].topic, parts->elems[i].partition);
}

int kq_consumer_caught_up(kq_consumer *kc)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (kc->assigned <= 0 || rd_kafka_assignment(kc->rk, &parts) || !parts)
        return 0;
    rd_kafka_position(kc->rk, parts);
    int behind = 0;
    for (int i = 0; i < parts->cnt && !behind; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int at_end = 0;
        for (int k = 0; k < kc->nat_end && !at_end; k++)
            at_end =
                kc->at_end[k].partition == p->partition && !strcmp(kc->at_end[k].topic, p->topic);
        if (at_end)
            continue;
        /* librdkafka's partition EOF can be lost to the version bump of the
         * resume every assignment makes (kq_assign): a partition a fetch
         * answered (its high watermark is known) and whose consumed
         * position, if any, is there, counts as read to its end too. */
        int64_t lo = RD_KAFKA_OFFSET_INVALID, hi = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_get_watermark_offsets(kc->rk, p->topic, p->partition, &lo, &hi);
        behind = hi < 0 || (p->offset >= 0 && p->offset < hi);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return !behind;
}

void kq_consumer_log_behind(kq_consumer *kc, const char *component)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (kc->assigned <= 0 || rd_kafka_assignment(kc->rk, &parts) || !parts) {
        lg_warn(component, kc->tenant, "--once not ending: %d partitions assigned", kc->assigned);
        return;
    }
    rd_kafka_position(kc->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int at_end = 0;
        for (int k = 0; k < kc->nat_end && !at_end; k++)
            at_end =
                kc->at_end[k].partition == p->partition && !strcmp(kc->at_end[k].topic, p->topic);
        int64_t lo = RD_KAFKA_OFFSET_INVALID, hi = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_get_watermark_offsets(kc->rk, p->topic, p->partition, &lo, &hi);
        lg_warn(component, kc->tenant,
                "--once not ending: %s [%d] position %lld, high watermark %lld (cached), end "
                "%sreported, %d waiting to retry",
                p->topic, (int)p->partition, (long long)p->offset, (long long)hi,
                at_end ? "" : "not ", kq_consumer_waiting(kc));
    }
    rd_kafka_topic_partition_list_destroy(parts);
    long long now = mo_now_ms();
    for (int i = 0; i < kc->nwaiting; i++)
        lg_warn(component, kc->tenant,
                "--once not ending: %s [%d] waits to retry offset %lld, resuming in %lld ms%s",
                kc->waiting[i].topic, (int)kc->waiting[i].partition,
                (long long)kc->waiting[i].offset, kc->waiting[i].resume_at_ms - now,
                kc->waiting[i].need_seek ? " after a rewind that failed" : "");
}

/* Logs a rebalance step with this instance's total afterwards, and what tells
 * the instances of one group apart (pid, client name): the partition counts
 * of all instances then add up to the topic's partitions once settled.  Not
 * rd_kafka_memberid(): it waits, without a bound, for librdkafka's main
 * thread, which during a close with the coordinator away never answers (a
 * SIGTERM then hung; test_issue7_05_sigterm_exits_within_10s_while_kafka_is_gone). */
static void kq_log_count(kq_consumer *kc, const char *what, int n)
{
    lg_info("kafka", kc->tenant, "%s %d partitions: %d in total (pid %d, client %s)", what, n,
            kc->assigned, (int)getpid(), rd_kafka_name(kc->rk));
}

/* Assignment: take the partitions, with no resume.  A partition paused for
 * a retry was resumed when it was revoked (kq_forget_waiting); it starts
 * again at its committed offset, which never passed the message that was
 * waiting.  Resuming here is what must not happen: librdkafka starts each
 * fetcher from its main thread, and a resume from this thread can take a
 * newer version barrier than that fetch start while being queued before it;
 * the fetch start is then dropped as outdated and the partition is never
 * fetched (librdkafka issue 5591: a --once applier idled for good in CI
 * with one partition's position and high watermark unknown). */
static void kq_assign(kq_consumer *kc, rd_kafka_topic_partition_list_t *parts, int cooperative)
{
    kq_forget_waiting(kc, parts); /* none, unless the revoke was skipped */
    if (!cooperative)
        kc->nat_end = 0;
    kq_end_forget(kc, parts);
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(kc->rk, parts);
        if (e) {
            lg_error("kafka", kc->tenant, "assign %d partitions: %s", parts->cnt,
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return;
        }
        kc->assigned += parts->cnt;
    } else {
        rd_kafka_resp_err_t err = rd_kafka_assign(kc->rk, parts);
        if (err) {
            lg_error("kafka", kc->tenant, "assign %d partitions: %s", parts->cnt,
                     rd_kafka_err2str(err));
            return;
        }
        kc->assigned = parts->cnt;
    }
    kq_log_count(kc, "assigned", parts->cnt);
}

/* Revocation (or loss, or a rebalance error): commit what is stored before
 * the partitions leave, so the next owner starts where this one finished
 * (not when the assignment is already lost: the commit would be refused),
 * drop their retry state, and let them go. */
static void kq_revoke(kq_consumer *kc, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, int cooperative)
{
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        lg_error("kafka", kc->tenant, "rebalance error: %s; letting %d partitions go",
                 rd_kafka_err2str(err), parts->cnt);
    if (rd_kafka_assignment_lost(kc->rk))
        lg_warn("kafka", kc->tenant, "assignment lost: offsets not committed");
    else
        (void)kq_commit_bounded(kc, KQ_REVOKE_COMMIT_MS, "revoke");
    for (int i = 0; kc->on_revoke && i < parts->cnt; i++)
        kc->on_revoke(kc->on_revoke_opaque, parts->elems[i].topic, parts->elems[i].partition);
    kq_forget_waiting(kc, parts);
    kq_end_forget(kc, parts);
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(kc->rk, parts);
        if (e) {
            lg_error("kafka", kc->tenant, "unassign %d partitions: %s", parts->cnt,
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        } else {
            kc->assigned -= parts->cnt;
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(kc->rk, NULL);
        if (e)
            lg_error("kafka", kc->tenant, "unassign: %s", rd_kafka_err2str(e));
        kc->assigned = 0;
    }
    kq_log_count(kc, "revoked", parts->cnt);
}

static void kq_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kq_consumer *kc = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    kc->generation++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        kq_assign(kc, parts, cooperative);
    else
        kq_revoke(kc, err, parts, cooperative);
}

/* A manual consumer's commits, as the coordinator answered them (served by
 * the consumer's poll): logged at debug, each partition with its offset and
 * the size of its metadata, so a test can tell a commit landed. */
static void kq_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    kq_consumer *kc = opaque;
    (void)rk;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t e = err ? err : tp->err;
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            lg_warn("kafka", kc->tenant, "commit %s [%d] @%lld: %s", tp->topic, tp->partition,
                    (long long)tp->offset, rd_kafka_err2str(e));
        else if (!e)
            lg_debug("kafka", kc->tenant, "partition state committed: %s [%d] @%lld %.*s",
                     tp->topic, tp->partition, (long long)tp->offset,
                     (int)(tp->metadata_size < 200 ? tp->metadata_size : 200),
                     tp->metadata ? (const char *)tp->metadata : "");
    }
}

static kq_consumer *kq_consumer_make(const mo_config *cfg, const char *group_id,
                                     const char **topics, int ntopics, int manual, char *errstr,
                                     size_t errstr_size)
{
    char interval[16];
    snprintf(interval, sizeof(interval), "%d", KQ_MAX_POLL_INTERVAL_MS);
    const kq_prop defaults[] = {
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        /* A consumer that died (kill -9, OOM) holds its partitions until its
         * session times out; 10 s instead of 45 s lets a restart resume soon. */
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "3000"},
        /* Set, not left to the default: the loop bounds one message's time
         * to a share of it (apply_loop.c). */
        {"max.poll.interval.ms", interval},
        /* A broker answers a fetch as soon as a message is there, but
         * librdkafka's mock cluster (the dev broker) holds an empty fetch
         * for the whole wait: 500 ms by default put up to half a second
         * between a webhook's order and its PUT.  An idle consumer then asks
         * ten times a second instead of twice (tests/bench/webhook_latency.py). */
        {"fetch.wait.max.ms", "100"},
        {NULL, NULL}};
    /* Offsets are stored by the loop only after the effect. */
    const kq_prop forced[] = {{"enable.auto.offset.store", "false"},
                              {"enable.auto.commit", manual ? "false" : "true"},
                              /* --once ends when every partition was
                               * read to its end (kq_consumer_caught_up). */
                              {"enable.partition.eof", "true"},
                              {NULL, NULL}};
    kq_consumer *kc = calloc(1, sizeof(*kc));
    rd_kafka_conf_t *conf = NULL;
    if (!kc) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    snprintf(kc->tenant, sizeof(kc->tenant), "%s", cfg->tenant);
    conf = kq_conf_new(cfg, group_id, defaults, forced, errstr, errstr_size);
    if (!conf)
        goto fail;
    if (rd_kafka_conf_set(conf, "group.id", group_id, errstr, errstr_size))
        goto fail;
    kc->max_poll_interval_ms = kq_conf_int(conf, "max.poll.interval.ms", KQ_MAX_POLL_INTERVAL_MS);
    rd_kafka_conf_set_rebalance_cb(conf, kq_rebalance_cb);
    if (manual)
        rd_kafka_conf_set_offset_commit_cb(conf, kq_commit_cb);
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

kq_consumer *kq_consumer_new(const mo_config *cfg, const char *group_id, const char **topics,
                             int ntopics, char *errstr, size_t errstr_size)
{
    return kq_consumer_make(cfg, group_id, topics, ntopics, 0, errstr, errstr_size);
}

kq_consumer *kq_consumer_new_manual(const mo_config *cfg, const char *group_id, const char **topics,
                                    int ntopics, char *errstr, size_t errstr_size)
{
    return kq_consumer_make(cfg, group_id, topics, ntopics, 1, errstr, errstr_size);
}

mo_err kq_consumer_commit(kq_consumer *kc, const char *topic, int32_t partition, int64_t offset,
                          const char *metadata, int wait)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, partition);
    tp->offset = offset;
    if (metadata && *metadata) {
        tp->metadata = strdup(metadata); /* freed with the list */
        tp->metadata_size = tp->metadata ? strlen(metadata) : 0;
    }
    mo_err ret = MO_OK;
    if (wait) {
        if (rd_kafka_assignment_lost(kc->rk) ||
            !kq_commit_list_bounded(kc, l, KQ_REVOKE_COMMIT_MS, "partition state"))
            ret = MO_ERR_TRANSIENT;
    } else {
        rd_kafka_resp_err_t err = rd_kafka_commit(kc->rk, l, 1);
        if (err) {
            lg_warn("kafka", kc->tenant, "commit %s [%d] @%lld: %s", topic, partition,
                    (long long)offset, rd_kafka_err2str(err));
            ret = MO_ERR_TRANSIENT;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return ret;
}

mo_err kq_consumer_committed(kq_consumer *kc, const char *topic, int32_t partition, int64_t *offset,
                             char *metadata, size_t size, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(kc->rk, l, timeout_ms);
    if (!err)
        err = l->elems[0].err;
    if (!err) {
        size_t n = l->elems[0].metadata_size < size ? l->elems[0].metadata_size : size - 1;
        if (l->elems[0].metadata && n)
            memcpy(metadata, l->elems[0].metadata, n);
        metadata[l->elems[0].metadata ? n : 0] = '\0';
        *offset = l->elems[0].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        lg_warn("kafka", kc->tenant, "committed offset of %s [%d]: %s", topic, partition,
                rd_kafka_err2str(err));
        return MO_ERR_TRANSIENT;
    }
    return MO_OK;
}

/* Resumes partitions whose retry time has come (rewinding first those whose
 * rewind failed). */
static void kq_resume_due(kq_consumer *kc)
{
    long long now = mo_now_ms();
    for (int i = 0; i < kc->nwaiting; i++) {
        kq_waiting *w = &kc->waiting[i];
        if (w->resume_at_ms > now)
            continue;
        if (w->need_seek) {
            if (kq_seek_one(kc, w->topic, w->partition, w->offset)) {
                w->resume_at_ms = now + KQ_SEEK_AGAIN_MS;
                continue;
            }
            w->need_seek = 0;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, w->topic, w->partition);
        kq_resume_list(kc, l);
        rd_kafka_topic_partition_list_destroy(l);
        kq_drop_waiting(kc, w);
        i--;
    }
}

rd_kafka_message_t *kq_consumer_poll(kq_consumer *kc, int timeout_ms)
{
    kq_resume_due(kc);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(kc->rk, timeout_ms);
    if (!m)
        return NULL;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->rkt)
        kq_end_set(kc, rd_kafka_topic_name(m->rkt), m->partition);
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            lg_warn("kafka", kc->tenant, "consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return NULL;
    }
    kq_end_clear(kc, rd_kafka_topic_name(m->rkt), m->partition);
    /* A message fetched before its partition was paused: it comes again after
     * the rewind, so drop this copy. */
    if (kq_find_waiting(kc, rd_kafka_topic_name(m->rkt), m->partition)) {
        rd_kafka_message_destroy(m);
        return NULL;
    }
    return m;
}

mo_err kq_consumer_store_next(kq_consumer *kc, const char *topic, int32_t partition, int64_t next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(kc->rk, l);
    if (!err)
        err = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        /* The partition was revoked meanwhile: the next owner re-applies the
         * message, which the idempotency record turns into a no-op. */
        lg_warn("kafka", kc->tenant, "offset store %s [%d] @%lld: %s", topic, partition,
                (long long)next - 1, rd_kafka_err2str(err));
        return MO_ERR_TRANSIENT;
    }
    return MO_OK;
}

mo_err kq_consumer_store(kq_consumer *kc, const rd_kafka_message_t *msg)
{
    return kq_consumer_store_next(kc, rd_kafka_topic_name(msg->rkt), msg->partition,
                                  msg->offset + 1);
}

/* A free waiting entry, growing the table (capped). */
static kq_waiting *kq_new_waiting(kq_consumer *kc, mo_err *err)
{
    if (kc->nwaiting == kc->capwaiting) {
        if (kc->capwaiting >= KQ_WAITING_CAP) {
            *err = MO_ERR_TOO_LARGE;
            return NULL;
        }
        int cap = kc->capwaiting ? kc->capwaiting * 2 : 16;
        if (cap > KQ_WAITING_CAP)
            cap = KQ_WAITING_CAP;
        kq_waiting *w = realloc(kc->waiting, (size_t)cap * sizeof(*w));
        if (!w) {
            *err = MO_ERR_NOMEM;
            return NULL;
        }
        kc->waiting = w;
        kc->capwaiting = cap;
    }
    return &kc->waiting[kc->nwaiting++];
}

mo_err kq_consumer_retry_later(kq_consumer *kc, const rd_kafka_message_t *msg, long delay_ms)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    mo_err ret = MO_OK;
    kq_waiting *w = kq_find_waiting(kc, topic, msg->partition);
    if (!w && !(w = kq_new_waiting(kc, &ret))) {
        /* Without an entry nobody would resume it: rewind only, so the
         * message comes again at once rather than never. */
        lg_error("kafka", kc->tenant, "%s [%d]: cannot record the retry (%s); retrying at once",
                 topic, msg->partition,
                 ret == MO_ERR_TOO_LARGE ? "too many partitions waiting" : "out of memory");
        kq_seek_one(kc, topic, msg->partition, msg->offset);
        return ret;
    }
    snprintf(w->topic, sizeof(w->topic), "%s", topic);
    w->partition = msg->partition;
    w->offset = msg->offset;
    w->resume_at_ms = mo_now_ms() + delay_ms;
    w->need_seek = 0;

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, msg->partition);
    rd_kafka_resp_err_t err = rd_kafka_pause_partitions(kc->rk, l);
    if (!err)
        err = l->elems[0].err;
    if (err)
        lg_warn("kafka", kc->tenant, "pause %s [%d]: %s", topic, msg->partition,
                rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    /* A failed rewind is done again before the resume: resuming without it
     * would go on after the message, and its offset would be passed. */
    if (kq_seek_one(kc, topic, msg->partition, msg->offset))
        w->need_seek = 1;
    return MO_OK;
}

int kq_consumer_assigned(const kq_consumer *kc)
{
    return kc->assigned;
}

int kq_consumer_waiting(const kq_consumer *kc)
{
    return kc->nwaiting;
}

unsigned long kq_consumer_generation(const kq_consumer *kc)
{
    return kc->generation;
}

int kq_consumer_max_poll_interval_ms(const kq_consumer *kc)
{
    return kc->max_poll_interval_ms;
}

void kq_consumer_on_revoke(kq_consumer *kc, kq_revoke_fn fn, void *opaque)
{
    kc->on_revoke = fn;
    kc->on_revoke_opaque = opaque;
}

int kq_consumer_lag(kq_consumer *kc, int timeout_ms, kq_lag_fn fn, void *opaque)
{
    rd_kafka_topic_partition_list_t *parts = NULL, *ask = NULL;
    int n = 0;
    if (rd_kafka_assignment(kc->rk, &parts) || !parts)
        return -1;
    rd_kafka_position(kc->rk, parts);
    ask = rd_kafka_topic_partition_list_new(parts->cnt ? parts->cnt : 1);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic,
                                              parts->elems[i].partition);
    /* Errors leave the offsets invalid: those partitions are then measured
     * from the low watermark, or left out. */
    rd_kafka_resp_err_t cerr = ask->cnt ? rd_kafka_committed(kc->rk, ask, timeout_ms) : 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = RD_KAFKA_OFFSET_INVALID, hi = RD_KAFKA_OFFSET_INVALID, pos = p->offset;
        rd_kafka_get_watermark_offsets(kc->rk, p->topic, p->partition, &lo, &hi);
        if (hi < 0)
            continue;
        if (pos < 0) {
            rd_kafka_topic_partition_t *c =
                rd_kafka_topic_partition_list_find(ask, p->topic, p->partition);
            pos = c && c->offset >= 0 ? c->offset : RD_KAFKA_OFFSET_INVALID;
            /* Never committed (auto.offset.reset earliest): from the log's
             * start, which the fetcher caches only with statistics on. */
            if (pos < 0 && lo < 0 && !cerr)
                rd_kafka_query_watermark_offsets(kc->rk, p->topic, p->partition, &lo, &hi,
                                                 timeout_ms);
            if (pos < 0)
                pos = lo;
        }
        if (pos < 0)
            continue;
        fn(opaque, p->topic, p->partition, hi > pos ? hi - pos : 0);
        n++;
    }
    rd_kafka_topic_partition_list_destroy(ask);
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* A destroy running in its own thread, so the caller can stop waiting. */
typedef struct kq_destroyer {
    rd_kafka_t *rk;
    int flags;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned;
} kq_destroyer;

static void *kq_destroy_thread(void *arg)
{
    kq_destroyer *d = arg;
    rd_kafka_destroy_flags(d->rk, d->flags);
    pthread_mutex_lock(&d->mu);
    d->done = 1;
    int abandoned = d->abandoned;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (abandoned) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d);
    }
    return NULL;
}

/* Destroys rk, waiting at most timeout_ms.  The last-resort bound of a
 * shutdown: librdkafka 2.0.2's destroy of a consumer whose commits wait for
 * an unreachable coordinator spins its main thread until the group's session
 * timeout has passed since the close began (and the issue measured far
 * worse).  Past the bound the destroy is left running in its thread and the
 * process exits without it; offsets already committed are safe.  Returns 0
 * when rk was destroyed. */
static int kq_destroy_bounded(rd_kafka_t *rk, int flags, long timeout_ms)
{
    pthread_attr_t attr;
    pthread_condattr_t ca;
    pthread_t t;
    kq_destroyer *d = calloc(1, sizeof(*d));
    if (!d) {
        rd_kafka_destroy_flags(rk, flags);
        return 0;
    }
    d->rk = rk;
    d->flags = flags;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int started = !pthread_create(&t, &attr, kq_destroy_thread, d);
    pthread_attr_destroy(&attr);
    if (!started) {
        d->done = 1;
        rd_kafka_destroy_flags(rk, flags);
    }
    struct timespec until = mo_timespec_after(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&d->mu);
    while (!d->done && pthread_cond_timedwait(&d->cv, &d->mu, &until) == 0)
        ;
    int done = d->done;
    if (!done)
        d->abandoned = 1; /* the thread frees d */
    pthread_mutex_unlock(&d->mu);
    if (done) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d);
    }
    return done ? 0 : -1;
}

void kq_consumer_close(kq_consumer *kc, int deadline_ms)
{
    if (!kc)
        return;
    long long deadline = mo_now_ms() + deadline_ms;
    kc->close_deadline_ms = deadline;
    /* An unconfirmed commit means the coordinator is away: the group close
     * cannot finish then, and librdkafka 2.0.2's main thread busy-loops
     * from the start of a close until the group is gone (a shutdown with
     * Kafka away used seconds of CPU: test_issue7_05).  So no close is
     * started: the handle is left as it is for the process exit, which
     * follows, and the group notices the departure by the session timeout
     * (nothing was stored past the committed offsets that it would lose). */
    int answer = kq_commit_bounded(kc, KQ_CLOSE_COMMIT_MS, "close");
    /* Nothing left to commit (the automatic commit had it all) is no sign of
     * the coordinator: ask it (a shutdown after the broker went away, with
     * every offset committed before, spun for seconds here). */
    if (answer == KQ_COMMIT_NOTHING && !kq_coordinator_answers(kc, KQ_CLOSE_COMMIT_MS))
        answer = KQ_COMMIT_UNANSWERED;
    if (answer == KQ_COMMIT_UNANSWERED) {
        lg_warn("kafka", kc->tenant,
                "the group coordinator is away: the consumer leaves without the group close "
                "(its partitions are handed on after the session timeout)");
        free(kc->waiting);
        free(kc->at_end);
        free(kc);
        return;
    }
    kc->close_deadline_ms = deadline;
    rd_kafka_queue_t *q = rd_kafka_queue_new(kc->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(kc->rk, q);
    int closed = 0;
    if (e) {
        lg_warn("kafka", kc->tenant, "consumer close: %s", rd_kafka_error_string(e));
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
        lg_warn("kafka", kc->tenant,
                "consumer did not leave the group in time; destroying it without the group close");
    long left = (long)(deadline - mo_now_ms());
    if (kq_destroy_bounded(kc->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE,
                           closed ? (left > 1000 ? left : 1000) : KQ_DESTROY_AWAY_MS))
        lg_warn("kafka", kc->tenant,
                "librdkafka did not finish destroying the consumer (its coordinator is away); "
                "the process goes on without waiting for it");
    free(kc->waiting);
    free(kc->at_end);
    free(kc);
}

/* ---- topics ------------------------------------------------------------- */

static const char *kq_all_topics[] = {KQ_TOPIC_PRODUCTS, KQ_TOPIC_ORDERS, KQ_TOPIC_SHIPMENTS,
                                      KQ_TOPIC_STOCK,    KQ_TOPIC_DLQ,    KQ_TOPIC_DLQ_STATE};
#define KQ_NTOPICS ((int)(sizeof(kq_all_topics) / sizeof(kq_all_topics[0])))

mo_err kq_ensure_topics(const mo_config *cfg, char *errstr, size_t errstr_size)
{
    mo_err ret = MO_OK;
    rd_kafka_conf_t *conf = kq_conf_new(cfg, "mosync-admin", NULL, NULL, errstr, errstr_size);
    if (!conf)
        return MO_ERR_CONFIG;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return MO_ERR_CONFIG;
    }
    rd_kafka_NewTopic_t *nt[KQ_NTOPICS];
    char name[256], why[256];
    for (int i = 0; i < KQ_NTOPICS; i++) {
        nt[i] = rd_kafka_NewTopic_new(cfg_topic(cfg, kq_all_topics[i], name, sizeof(name)),
                                      cfg->topic_partitions, -1, why, sizeof(why));
        if (nt[i] && !strcmp(kq_all_topics[i], KQ_TOPIC_DLQ_STATE))
            rd_kafka_NewTopic_set_config(nt[i], "cleanup.policy", "compact");
    }
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
    /* The chaos suite takes the brokers away and back: the partitions and
     * their messages stay, only connections are refused meanwhile. */
    mo_usr_signals_install();
    while (!mo_stop_requested()) {
        int sig = mo_usr_signal_take();
        for (int id = 1; sig && id <= nbrokers; id++) {
            rd_kafka_resp_err_t err = sig == 1 ? rd_kafka_mock_broker_set_down(mc, id)
                                               : rd_kafka_mock_broker_set_up(mc, id);
            if (err)
                lg_error("dev-broker", cfg->tenant, "broker %d %s: %s", id,
                         sig == 1 ? "down" : "up", rd_kafka_err2str(err));
        }
        if (sig)
            lg_warn("dev-broker", cfg->tenant, "%s: all %d brokers %s",
                    sig == 1 ? "SIGUSR1" : "SIGUSR2", nbrokers,
                    sig == 1 ? "down (connections refused, data kept)" : "up again");
        mo_stop_sleep_ms(100);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
