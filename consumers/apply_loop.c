/* The consumer loop every flow shares: offsets stored only after the effect,
 * errors handled by class, dead letters, and a time budget per message.
 *
 * Errors by class (what the flow's handler returns):
 *   MO_OK             the offset moves on;
 *   MO_ERR_TRANSIENT  the partition pauses with capped exponential backoff
 *                     and full jitter, never shorter than a Retry-After the
 *                     API asked for; the other partitions go on.  After
 *                     cfg->max_attempts attempts the message is dead-lettered,
 *                     but only when its API answered others and Redis served
 *                     since its latest attempt began: during an outage of
 *                     either it waits (the flow pauses, the backlog is not
 *                     dead-lettered);
 *   MO_ERR_CREDENTIAL the API refused the credential: the tenant's fault, not
 *                     the message's.  The partition pauses with a backoff
 *                     of its own (AL_REFUSED_*), the attempt is not counted
 *                     and the message is never dead-lettered; the refusal
 *                     is logged once a minute and recorded for `mosync
 *                     status` (credential.h).  The first accepted request
 *                     ends it: the backlog then applies by itself;
 *   anything else     dead letter at once.
 *
 * The attempt count and the first failure time of a failing message are
 * kept in Redis (mosync:{T}:attempts:<group>:<topic>:<partition>:<offset>,
 * expiring with the applied records), so they survive restarts and
 * rebalances; memory holds them only as a cache, one entry per partition
 * (only a partition's head message can be failing), dropped on revoke.
 *
 * A message applied with success resolves the open dead letters of its
 * key in the flow (dlq_state.h). */
#include "apply.h"
#include "apply_loop.h"
#include "credential.h"
#include "dlq.h"
#include "dlq_state.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "lastrun.h"
#include "log.h"
#include "metrics.h"
#include "stop.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Backoff of a transient failure: random in [0, min(MAX, BASE * 2^(n-1))]
 * after the n-th attempt ("full jitter": retries of many messages spread
 * out instead of arriving together), at least FLOOR. */
#define AL_RETRY_BASE_MS  500
#define AL_RETRY_MAX_MS   60000
#define AL_RETRY_FLOOR_MS 100
/* Wait before trying again a dead letter Kafka did not take. */
#define AL_DLQ_RETRY_MS 5000
/* A message may take this share of max.poll.interval.ms (2/5: 120 s of the
 * default 300 s).  The rest covers what follows the handler: the dead letter
 * (message.timeout.ms, 30 s, plus a margin) and the attempt record, so the
 * loop polls again well before the group would hand its partitions away. */
#define AL_BUDGET_NUM    2
#define AL_BUDGET_DEN    5
#define AL_SLACK_MS      10000 /* the attempt record, the poll itself */
#define AL_BUDGET_MIN_MS 5000
/* The attempt records are a cache: Redis away costs the count's accuracy for
 * a while, never the loop's progress. */
#define AL_REDIS_RETRY_MS 2000
/* SIGTERM: the consumer leaves the group within this, the producer's free
 * takes at most KQ_FREE_FLUSH_MS more: together under 10 s. */
#define AL_CLOSE_MS 5000
/* One consumer's partitions with a failing head (the table grows to this). */
#define AL_FAILING_CAP 100000
/* The pause after a refused credential: half the time the refusal has lasted
 * (in this loop), at least BASE and at most MAX, with jitter.  A person fixes
 * a password in minutes: two requests a minute per partition notice it. */
#define AL_REFUSED_BASE_MS 1000
#define AL_REFUSED_MAX_MS  30000
/* The consumer lag metric is refreshed this often; a partition never
 * committed costs a broker request (kq_consumer_lag), bounded by the timeout. */
#define AL_LAG_EVERY_MS   5000
#define AL_LAG_TIMEOUT_MS 1000

/* The failing head message of one partition. */
typedef struct al_failing {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int attempts;               /* failed attempts so far, across restarts */
    char first[32];             /* UTC time of the first failure */
    long long attempt_start_ms; /* monotonic start of the latest attempt */
    int loaded;                 /* the Redis record was read */
} al_failing;

struct al_state {
    const mo_config *cfg;
    const char *component;
    const char *flow; /* metrics label */
    char group[256];
    rs_store *rs;
    int own_rs; /* rs opened by al_new (else borrowed) */
    al_failing *failing;
    int nfailing, capfailing;
    uint64_t rng;
    dlq_resolver *resolver; /* marks the entity's dead letters resolved */
    long long refused_ms;   /* monotonic: first refused credential since a success; 0 = none */
};

/* What the handler of the message in hand reported (apply_outcome): one per
 * thread, since `mosync run` runs every flow's loop in a thread of its own. */
static _Thread_local struct {
    const char *outcome;
    long long observed_ms; /* the event's observed_at, ms since the epoch; 0 = unknown */
} al_report;

void apply_outcome(const json_t *ev, const char *outcome)
{
    long long ms = 0;
    const char *obs = json_string_value(json_object_get(ev, "observed_at"));
    al_report.outcome = outcome;
    al_report.observed_ms = obs && ev_utc_parse(obs, &ms) == MO_OK ? ms : 0;
}

/* The metrics of one settled message: its outcome, the apply latency of an
 * applied one (from the event's observed_at: the poller saw the change), and
 * the last success or error of the flow.  A dry run applies nothing: each of
 * its messages counts as "dry_run". */
static void al_count(const al_state *st, const char *outcome)
{
    const char *tenant = st->cfg->tenant;
    int error = !strcmp(outcome, "dead_lettered");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (st->cfg->dry_run)
        outcome = "dry_run";
    mt_add("mosync_messages_total", 1, "flow", st->flow, "outcome", outcome, "tenant", tenant,
           NULL);
    if (!strcmp(outcome, "applied") && al_report.observed_ms > 0) {
        long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - al_report.observed_ms;
        mt_observe("mosync_apply_latency_seconds", ms > 0 ? (double)ms / 1000.0 : 0.0, "flow",
                   st->flow, "tenant", tenant, NULL);
    }
    mt_set(error ? "mosync_last_error_timestamp_seconds" : "mosync_last_success_timestamp_seconds",
           (double)now.tv_sec, "flow", st->flow, "tenant", tenant, NULL);
}

/* A transient failure whose message will be tried again. */
static void al_count_retry(const al_state *st)
{
    mt_add("mosync_message_retries_total", 1, "flow", st->flow, "tenant", st->cfg->tenant, NULL);
    mt_set("mosync_last_error_timestamp_seconds", (double)time(NULL), "flow", st->flow, "tenant",
           st->cfg->tenant, NULL);
}

/* xorshift64*: the jitter needs spread, not secrecy; seeded per loop so
 * processes and threads do not draw the same delays. */
static uint64_t al_rand(al_state *st)
{
    st->rng ^= st->rng >> 12;
    st->rng ^= st->rng << 25;
    st->rng ^= st->rng >> 27;
    return st->rng * 2685821657736338717ULL;
}

static void al_seed(al_state *st)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    st->rng = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
              (uint64_t)(uintptr_t)st;
    if (!st->rng)
        st->rng = 0x9e3779b97f4a7c15ULL;
}

/* The pause after the n-th failed attempt (n >= 1), at least hint_ms. */
static long al_backoff(al_state *st, int n, long hint_ms)
{
    long cap = AL_RETRY_BASE_MS;
    for (int i = 1; i < n && cap < AL_RETRY_MAX_MS; i++)
        cap *= 2;
    if (cap > AL_RETRY_MAX_MS)
        cap = AL_RETRY_MAX_MS;
    long delay = (long)(al_rand(st) % (uint64_t)(cap + 1));
    if (delay < AL_RETRY_FLOOR_MS)
        delay = AL_RETRY_FLOOR_MS;
    return delay < hint_ms ? hint_ms : delay;
}

/* The pause after a refused credential (AL_REFUSED_*): in [3/4, 1] of it, so
 * the partitions of one consumer do not all ask again at the same moment. */
static long al_refused_backoff(al_state *st)
{
    long long lasted = mo_now_ms() - st->refused_ms;
    long delay = lasted / 2 < AL_REFUSED_BASE_MS  ? AL_REFUSED_BASE_MS
                 : lasted / 2 > AL_REFUSED_MAX_MS ? AL_REFUSED_MAX_MS
                                                  : (long)(lasted / 2);
    return delay - (long)(al_rand(st) % (uint64_t)(delay / 4 + 1));
}

/* "attempts:<group>:<topic>:<partition>:<offset>" into buf. */
static const char *al_key(const al_state *st, const al_failing *f, char *buf, size_t size)
{
    snprintf(buf, size, "attempts:%s:%s:%d:%lld", st->group, f->topic, f->partition,
             (long long)f->offset);
    return buf;
}

/* Reads the message's attempt record into f (keeping the larger count when
 * memory already has one).  Redis away: the count goes on from memory and
 * the read is tried again at the next failure. */
static void al_load(al_state *st, al_failing *f)
{
    char key[768], errstr[256];
    json_t *rec = NULL;
    mo_err err = rs_get_json(st->rs, al_key(st, f, key, sizeof(key)), &rec, errstr, sizeof(errstr));
    if (err) {
        lg_warn(st->component, st->cfg->tenant, "attempt record of %s [%d] @%lld: %s", f->topic,
                f->partition, (long long)f->offset, errstr);
        if (err != MO_ERR_INVALID)
            return;
    }
    f->loaded = 1;
    json_int_t n = json_integer_value(json_object_get(rec, "attempts"));
    const char *first = json_string_value(json_object_get(rec, "first_failure"));
    if (n > f->attempts && n < 1000000)
        f->attempts = (int)n;
    if (first && *first && strlen(first) < sizeof(f->first))
        snprintf(f->first, sizeof(f->first), "%s", first);
    json_decref(rec);
}

/* Writes f's attempt record (best effort: logged when Redis is away). */
static void al_save(al_state *st, const al_failing *f)
{
    char key[768], errstr[256];
    json_t *rec = json_pack("{s:i, s:s}", "attempts", f->attempts, "first_failure", f->first);
    if (!rec)
        return;
    if (rs_set_json(st->rs, al_key(st, f, key, sizeof(key)), rec, cfg_applied_ttl_s(st->cfg),
                    errstr, sizeof(errstr)))
        lg_warn(st->component, st->cfg->tenant, "attempt record of %s [%d] @%lld not saved: %s",
                f->topic, f->partition, (long long)f->offset, errstr);
    json_decref(rec);
}

/* Deletes f's attempt record (best effort: it expires anyway). */
static void al_unsave(al_state *st, const al_failing *f)
{
    char key[768], errstr[256];
    if (rs_del(st->rs, al_key(st, f, key, sizeof(key)), errstr, sizeof(errstr)))
        lg_warn(st->component, st->cfg->tenant, "attempt record of %s [%d] @%lld not deleted: %s",
                f->topic, f->partition, (long long)f->offset, errstr);
}

static al_failing *al_find_partition(al_state *st, const char *topic, int32_t partition)
{
    for (int i = 0; i < st->nfailing; i++)
        if (st->failing[i].partition == partition && !strcmp(st->failing[i].topic, topic))
            return &st->failing[i];
    return NULL;
}

static void al_drop(al_state *st, al_failing *f)
{
    *f = st->failing[--st->nfailing];
}

/* The failing entry of m's partition when it is about m; an entry about
 * another offset is stale (that message was settled elsewhere, for example
 * by another consumer before a rebalance) and is dropped. */
static al_failing *al_find(al_state *st, const rd_kafka_message_t *m)
{
    al_failing *f = al_find_partition(st, rd_kafka_topic_name(m->rkt), m->partition);
    if (f && f->offset != m->offset) {
        al_drop(st, f);
        f = NULL;
    }
    return f;
}

/* m's entry, created (with its Redis record read) when there is none.  When
 * the table cannot grow, *tmp is used: Redis still carries the count. */
static al_failing *al_track(al_state *st, const rd_kafka_message_t *m, al_failing *tmp)
{
    al_failing *f = al_find(st, m);
    if (f) {
        if (!f->loaded)
            al_load(st, f);
        return f;
    }
    if (st->nfailing == st->capfailing && st->capfailing < AL_FAILING_CAP) {
        int cap = st->capfailing ? st->capfailing * 2 : 16;
        al_failing *grown = realloc(st->failing, (size_t)cap * sizeof(*grown));
        if (grown) {
            st->failing = grown;
            st->capfailing = cap;
        }
    }
    if (st->nfailing < st->capfailing) {
        f = &st->failing[st->nfailing++];
    } else {
        lg_error(st->component, st->cfg->tenant,
                 "failing-message table full (%d); counting in Redis only", st->nfailing);
        f = tmp;
    }
    memset(f, 0, sizeof(*f));
    snprintf(f->topic, sizeof(f->topic), "%s", rd_kafka_topic_name(m->rkt));
    f->partition = m->partition;
    f->offset = m->offset;
    ev_utc_now(f->first, sizeof(f->first));
    al_load(st, f);
    return f;
}

/* The message is settled (applied or dead-lettered): forget its failures. */
static void al_settled(al_state *st, al_failing *f, al_failing *tmp)
{
    if (!f)
        return;
    al_unsave(st, f);
    if (f != tmp)
        al_drop(st, f);
}

/* The partition's number as the metrics label. */
static const char *al_partition_label(int32_t partition, char *buf, size_t size)
{
    snprintf(buf, size, "%d", (int)partition);
    return buf;
}

/* Revoke hook: a partition that leaves takes its cached state along (the
 * next owner reads the Redis record), and its lag series (the next owner
 * reports it; two replicas reporting one partition would be summed). */
void al_forget_partition(al_state *st, const char *topic, int32_t partition)
{
    al_failing *f = al_find_partition(st, topic, partition);
    if (f)
        al_drop(st, f);
}

static void al_on_revoke(void *opaque, const char *topic, int32_t partition)
{
    al_state *st = opaque;
    char part[16];
    al_forget_partition(st, topic, partition);
    mt_remove("mosync_consumer_lag", "group", st->group, "partition",
              al_partition_label(partition, part, sizeof(part)), "tenant", st->cfg->tenant, "topic",
              topic, NULL);
}

/* kq_consumer_lag's callback: one partition's lag into its gauge. */
static void al_lag(void *opaque, const char *topic, int32_t partition, int64_t lag)
{
    al_state *st = opaque;
    char part[16];
    mt_set("mosync_consumer_lag", (double)lag, "group", st->group, "partition",
           al_partition_label(partition, part, sizeof(part)), "tenant", st->cfg->tenant, "topic",
           topic, NULL);
}

/* Dead-letters m.  MO_OK when Kafka has the letter (the offset may move). */
static mo_err al_dead_letter(al_state *st, kq_producer *kp, const char *topic,
                             const rd_kafka_message_t *m, mo_err err, const char *why,
                             const al_failing *f)
{
    char key[512], errstr[256];
    snprintf(key, sizeof(key), "%.*s", (int)(m->key_len < 511 ? m->key_len : 511),
             m->key ? (const char *)m->key : "");
    if (st->cfg->dry_run) { /* a dry run sends nothing, not even a dead letter */
        lg_warn(st->component, st->cfg->tenant,
                "dry run: %s [%d] @%lld would be dead-lettered (%s): %s", topic, m->partition,
                (long long)m->offset, mo_err_name(err), why);
        return MO_OK;
    }
    dlq_ctx d = {.component = st->component,
                 .source = topic,
                 .partition = m->partition,
                 .offset = m->offset,
                 .key = m->key ? key : NULL,
                 .error_class = err,
                 .error = why,
                 .attempts = f ? f->attempts : 1,
                 .first_failure = f ? f->first : NULL};
    mo_err derr = dlq_send(kp, st->cfg, &d, m->payload, m->len, errstr, sizeof(errstr));
    if (derr)
        lg_error(st->component, st->cfg->tenant, "dead letter not delivered (%s); will retry",
                 errstr);
    return derr;
}

/* One message's time budget: AL_BUDGET_NUM/AL_BUDGET_DEN of the poll
 * interval, less when a long message.timeout.ms (KAFKA_PROP) would let the
 * dead letter's wait push the message past the interval. */
long al_budget(const al_state *st, int interval_ms, int msg_timeout_ms)
{
    long budget = (long)interval_ms / AL_BUDGET_DEN * AL_BUDGET_NUM;
    long room = (long)interval_ms - msg_timeout_ms - KQ_REPORT_MARGIN_MS - AL_SLACK_MS;
    if (budget > room)
        budget = room;
    if (budget < AL_BUDGET_MIN_MS) {
        lg_warn(st ? st->component : "apply", st ? st->cfg->tenant : "*",
                "message.timeout.ms %d leaves too little of max.poll.interval.ms %d; "
                "a message gets %d ms",
                msg_timeout_ms, interval_ms, AL_BUDGET_MIN_MS);
        budget = AL_BUDGET_MIN_MS;
    }
    return budget;
}

/* 1 when m is an event `mosync resync` emitted (header mosync.resync): the
 * operator asked for it to be sent whatever the applied records say. */
static int al_resync(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    return !rd_kafka_message_headers(m, &hdrs) &&
           !rd_kafka_header_get_last(hdrs, "mosync.resync", &val, &size) && size == 1 && val &&
           *(const char *)val == '1';
}

al_verdict al_handle(al_state *st, const apply_flow *flow, kq_producer *kp, const char *topic,
                     const rd_kafka_message_t *m, long budget_ms, long *retry_ms)
{
    char errstr[1024];
    al_failing tmp, *f = NULL;
    al_verdict verdict = AL_RETRY;

    /* Every blocking call below the handler (HTTP, Redis) stops at this
     * deadline, so one message cannot outlive max.poll.interval.ms. */
    mo_retry_hint_take();
    mo_deadline_start(budget_ms);
    long long started = mo_now_ms();
    errstr[0] = '\0';
    al_report.outcome = NULL;
    al_report.observed_ms = 0;
    apply_force_message(al_resync(m));
    mo_err err = flow->handle(flow->ctx, m, errstr, sizeof(errstr));
    apply_force_message(0);
    long hint_ms = mo_retry_hint_take();

    if (err == MO_ERR_CREDENTIAL) {
        /* Not this message's fault: no attempt counted, no dead letter. */
        if (!st->refused_ms)
            st->refused_ms = started;
        long delay = al_refused_backoff(st);
        lg_debug(st->component, st->cfg->tenant, "%s [%d] @%lld: %s; retry in %ld ms", topic,
                 m->partition, (long long)m->offset, errstr, delay);
        *retry_ms = delay;
        al_count_retry(st);
        goto out;
    }
    if (err == MO_OK) {
        /* A message that needed no request proves nothing about the credential. */
        if (st->refused_ms && hc_api_last_up_ms(flow->api ? flow->api : "") > st->refused_ms)
            st->refused_ms = 0;
        al_settled(st, al_find(st, m), &tmp);
        dlq_resolver_applied(st->resolver, topic, m);
        al_count(st, al_report.outcome ? al_report.outcome : "unreported");
        verdict = AL_STORE;
        goto out;
    }
    f = al_track(st, m, &tmp);
    f->attempts++;
    f->attempt_start_ms = started;
    if (err == MO_ERR_TRANSIENT) {
        /* The service's fault, not the message's, while Redis was away or
         * could not serve (LOADING, OOM...) during the attempt. */
        int redis_down = rs_outage_since(f->attempt_start_ms);
        int up = f->attempts >= st->cfg->max_attempts && !redis_down &&
                 (!flow->api_up_since || flow->api_up_since(flow->ctx, f->attempt_start_ms));
        if (!up) {
            long delay = al_backoff(st, f->attempts, hint_ms);
            al_save(st, f);
            lg_warn(st->component, st->cfg->tenant,
                    "%s [%d] @%lld failed (attempt %d%s): %s; retry in %ld ms", topic, m->partition,
                    (long long)m->offset, f->attempts,
                    f->attempts < st->cfg->max_attempts ? ""
                    : redis_down                        ? ", Redis is down: waiting"
                                                        : ", its API is down: waiting",
                    errstr, delay);
            *retry_ms = delay;
            al_count_retry(st);
            goto out;
        }
        char why[1200];
        snprintf(why, sizeof(why), "failed %d times while its API answered others: %s", f->attempts,
                 errstr);
        snprintf(errstr, sizeof(errstr), "%s", why);
    }
    if (al_dead_letter(st, kp, topic, m, err, errstr, f)) {
        /* Without the dead letter safely in Kafka the original must stay. */
        al_save(st, f);
        *retry_ms = AL_DLQ_RETRY_MS;
        al_count_retry(st);
        goto out;
    }
    verdict = AL_DEAD;
    if (!st->cfg->dry_run) /* a dry run sent none */
        mt_add("mosync_dead_letters_total", 1, "component", st->component, "error_class",
               mo_err_name(err), "tenant", st->cfg->tenant, NULL);
    al_count(st, "dead_lettered");
    al_settled(st, f, &tmp);
out:
    mo_deadline_clear();
    lr_note(st->cfg, st->component, err, errstr); /* after: a timed-out message is recorded too */
    if (err == MO_ERR_CREDENTIAL)
        cr_refused(st->cfg, st->component, flow->api, errstr);
    else if (err == MO_OK)
        cr_accepted(st->cfg, st->component, flow->api);
    return verdict;
}

/* A bounded run (opts->range): is m past its partition's stop?  Then the
 * partition is done and m is left alone, neither handled nor stored. */
static int al_range_past(const apply_range *r, unsigned char *done, const rd_kafka_message_t *m)
{
    if (m->partition >= 0 && m->partition < r->npartitions && m->offset < r->stop[m->partition])
        return 0;
    if (m->partition >= 0 && m->partition < r->npartitions)
        done[m->partition] = 1;
    return 1;
}

/* A bounded run that applies only some messages (range->want): is m one to
 * pass over?  Then it is stored (mosync replay passes over what the regular
 * appliers applied before), and may finish its partition. */
static int al_range_unwanted(const apply_range *r, unsigned char *done, kq_consumer *kc,
                             const rd_kafka_message_t *m)
{
    if (!r->want || r->want(r->opaque, m->partition, m->offset))
        return 0;
    kq_consumer_store(kc, m);
    if (m->offset + 1 >= r->stop[m->partition])
        done[m->partition] = 1;
    return 1;
}

/* After m was handled: a settled message (no failing head left on its
 * partition) that was the last below the stop finishes the partition, and
 * the range's caller hears the outcome.  Returns 1 when every partition is
 * done. */
static int al_range_after(al_state *st, apply_range *r, unsigned char *done, const char *topic,
                          const rd_kafka_message_t *m, int dead)
{
    if (!al_find_partition(st, topic, m->partition)) {
        if (r->settled)
            r->settled(r->opaque, m->partition, m->offset,
                       dead                ? "dead_lettered"
                       : al_report.outcome ? al_report.outcome
                                           : "unreported");
        if (m->offset + 1 >= r->stop[m->partition])
            done[m->partition] = 1;
    }
    for (int p = 0; p < r->npartitions; p++)
        if (!done[p])
            return 0;
    return 1;
}

al_state *al_new(const mo_config *cfg, const apply_flow *flow, const char *group, rs_store *rs,
                 kq_producer *kp, char *errstr, size_t errstr_size)
{
    al_state *st = calloc(1, sizeof(*st));
    if (!st) {
        mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->cfg = cfg;
    st->component = flow->component;
    st->flow = flow->name;
    snprintf(st->group, sizeof(st->group), "%s", group);
    al_seed(st);
    st->rs = rs;
    if (!rs) {
        st->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, errstr_size);
        if (!st->rs) {
            free(st);
            return NULL;
        }
        st->own_rs = 1;
        rs_set_retry_ms(st->rs, AL_REDIS_RETRY_MS);
    }
    st->resolver = dlq_resolver_new(cfg, flow->name, flow->component, kp);
    return st;
}

void al_free(al_state *st)
{
    if (!st)
        return;
    if (st->own_rs)
        rs_close(st->rs);
    dlq_resolver_free(st->resolver);
    free(st->failing);
    free(st);
}

const char *al_outcome(void)
{
    return al_report.outcome;
}

int apply_run(const mo_config *cfg, const apply_flow *flow, const apply_opts *opts,
              apply_counts *counts)
{
    const char *component = flow->component;
    char errstr[1024], topic[256], group[256];
    const char *topics[1] = {cfg_topic(cfg, flow->topic_base, topic, sizeof(topic))};
    al_state *st = NULL; /* per loop: `mosync run` runs several */
    kq_producer *kp = NULL;
    kq_consumer *kc = NULL;
    int rc = 1;

    apply_range *range = opts->range;
    unsigned char *done = range ? calloc((size_t)range->npartitions + 1, 1) : NULL;
    if (range && !done)
        return 1;
    for (int p = 0; range && p < range->npartitions; p++)
        done[p] = range->stop[p] < 0;
    cfg_group(cfg, opts->group ? opts->group : flow->group_base, group, sizeof(group));
    kp = opts->kp ? opts->kp : kq_producer_new(cfg, group, errstr, sizeof(errstr));
    if (!kp) {
        lg_error(component, cfg->tenant, "cannot start the dead-letter producer: %s", errstr);
        goto out;
    }
    st = al_new(cfg, flow, group, NULL, kp, errstr, sizeof(errstr));
    if (!st) {
        lg_error(component, cfg->tenant, "%s", errstr);
        goto out;
    }
    kc = kq_consumer_new(cfg, group, topics, 1, errstr, sizeof(errstr));
    if (!kc) {
        lg_error(component, cfg->tenant, "cannot start the consumer: %s", errstr);
        goto out;
    }
    kq_consumer_on_revoke(kc, al_on_revoke, st);
    long budget_ms =
        al_budget(st, kq_consumer_max_poll_interval_ms(kc), kq_producer_message_timeout_ms(kp));
    lg_info(component, cfg->tenant, "consuming %s in group %s (at most %ld ms per message)", topic,
            group, budget_ms);

    rc = 0;
    long long last_activity = mo_now_ms(), started = mo_now_ms();
    unsigned long generation = kq_consumer_generation(kc);
    long idle_ms = opts->idle_ms > 0 ? opts->idle_ms : 2000;
    long long behind_since = 0;
    int behind_logged = 0;
    long long lag_at = 0;
    int all_done = range && !memchr(done, 0, (size_t)range->npartitions);
    while (!all_done && !mo_stop_requested()) {
        if (mo_now_ms() - lag_at >= AL_LAG_EVERY_MS) {
            kq_consumer_lag(kc, AL_LAG_TIMEOUT_MS, al_lag, st);
            lag_at = mo_now_ms();
        }
        rd_kafka_message_t *m = kq_consumer_poll(kc, 100);
        if (!m) {
            long long now = mo_now_ms();
            /* Idle time counts only while partitions are assigned, none is
             * waiting to retry, and no rebalance happened meanwhile (a
             * partition that just came back may not have been fetched yet). */
            if (kq_consumer_waiting(kc) || !kq_consumer_assigned(kc) ||
                generation != kq_consumer_generation(kc)) {
                generation = kq_consumer_generation(kc);
                last_activity = now;
            }
            /* Idle, and read to the end of every partition: a partition
             * the fetcher has not reached yet is not idle (a busy broker). */
            if (opts->once && kq_consumer_assigned(kc) > 0 && now - last_activity >= idle_ms) {
                if (kq_consumer_caught_up(kc))
                    break;
                last_activity = mo_now_ms() - idle_ms / 2;
            }
            /* No message for a minute and not ended: say why, once (a
             * --once run was seen looping so in CI; this names the
             * partition, at its end or waiting, for whoever looks next). */
            if (opts->once && !behind_since)
                behind_since = now;
            else if (opts->once && now - behind_since > 60000 && !behind_logged) {
                kq_consumer_log_behind(kc, component);
                behind_logged = 1;
            }
            if (opts->once && !kq_consumer_assigned(kc) && now - started > 120000) {
                lg_error(component, cfg->tenant, "no partitions assigned within 120 s");
                rc = 1;
                break;
            }
            continue;
        }
        last_activity = mo_now_ms();
        behind_since = 0;
        if (range && (al_range_past(range, done, m) || al_range_unwanted(range, done, kc, m))) {
            all_done = !memchr(done, 0, (size_t)range->npartitions);
            rd_kafka_message_destroy(m);
            continue;
        }
        long retry_ms = 0;
        al_verdict verdict = al_handle(st, flow, kp, topic, m, budget_ms, &retry_ms);
        int dead = verdict == AL_DEAD;
        if (verdict == AL_RETRY) {
            kq_consumer_retry_later(kc, m, retry_ms);
        } else {
            mo_crash_point("apply-before-offset");
            kq_consumer_store(kc, m);
        }
        if (opts->once && st->refused_ms) {
            /* A bounded run cannot end while the credential is refused:
             * say so instead of waiting for a person. */
            lg_error(component, cfg->tenant,
                     "%s refused the credential; stopping (--once), nothing stored past it",
                     cr_api_title(flow->api ? flow->api : "the API"));
            rc = 1;
            rd_kafka_message_destroy(m);
            break;
        }
        if (range)
            all_done = al_range_after(st, range, done, topic, m, dead);
        if (counts) {
            if (!counts->first_ms)
                counts->first_ms = last_activity;
            counts->last_ms = mo_now_ms();
            counts->dead_lettered += (unsigned long)dead;
        }
        rd_kafka_message_destroy(m);
    }
out:
    for (int p = 0; range && p < range->npartitions; p++)
        range->incomplete += !done[p];
    free(done);
    kq_consumer_close(kc, AL_CLOSE_MS);
    al_free(st); /* its resolver may produce with kp until it is freed */
    if (kp != opts->kp)
        kq_producer_free(kp);
    return rc;
}

int apply_one(const mo_config *cfg, const apply_opts *opts,
              mo_err (*make)(const mo_config *cfg, rs_store *rs, apply_flow *flow))
{
    char errstr[512];
    apply_flow flow;
    rs_store *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!rs) {
        lg_error("apply", cfg->tenant, "%s", errstr);
        return 2;
    }
    if (make(cfg, rs, &flow)) {
        rs_close(rs);
        return 1;
    }
    void *ctx = flow.ctx; /* the dry-run wrapper takes flow.ctx's place */
    apply_dry dry;
    apply_dry_wrap(&flow, &dry, cfg, rs);
    int rc = apply_run(cfg, &flow, opts, flow.counts);
    flow.summary(ctx);
    fflush(stdout);
    flow.free_ctx(ctx);
    rs_close(rs);
    return rc;
}

long long apply_busy_ms(const apply_counts *counts)
{
    return counts->first_ms ? counts->last_ms - counts->first_ms : 0;
}
