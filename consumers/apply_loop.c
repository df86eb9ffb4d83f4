#include "apply.h"
#include "dlq.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "sha256.h"
#include "stop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AL_MAX_FAILING   64
#define AL_RETRY_BASE_MS 500
#define AL_RETRY_MAX_MS  60000

/* A message that failed transiently, remembered across its retries so the
 * dead letter or the log can tell how long it has been failing. */
typedef struct al_failing {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int attempts;
    char first[32];
} al_failing;

typedef struct al_state {
    al_failing failing[AL_MAX_FAILING];
    int nfailing;
} al_state;

static al_failing *al_find(al_state *st, const rd_kafka_message_t *m, int create)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (int i = 0; i < st->nfailing; i++)
        if (st->failing[i].partition == m->partition && st->failing[i].offset == m->offset &&
            !strcmp(st->failing[i].topic, topic))
            return &st->failing[i];
    if (!create)
        return NULL;
    al_failing *f = &st->failing[st->nfailing < AL_MAX_FAILING ? st->nfailing++ : 0];
    memset(f, 0, sizeof(*f));
    snprintf(f->topic, sizeof(f->topic), "%s", topic);
    f->partition = m->partition;
    f->offset = m->offset;
    ev_utc_now(f->first, sizeof(f->first));
    return f;
}

static void al_forget(al_state *st, al_failing *f)
{
    if (f)
        *f = st->failing[--st->nfailing];
}

int apply_run(const mo_config *cfg, const apply_flow *flow, const apply_opts *opts,
              apply_counts *counts)
{
    const char *component = flow->component, *topic_base = flow->topic_base;
    const char *group_base = flow->group_base;
    apply_fn fn = flow->handle;
    void *ctx = flow->ctx;
    char errstr[1024], topic[256], group[256];
    const char *topics[1] = {cfg_topic(cfg, topic_base, topic, sizeof(topic))};
    al_state *st = calloc(1, sizeof(*st)); /* per loop: `mosync run` runs several */
    int rc = 0;

    if (!st)
        return 1;
    cfg_topic(cfg, opts->group ? opts->group : group_base, group, sizeof(group));
    kq_producer *kp = kq_producer_new(cfg, group, errstr, sizeof(errstr));
    if (!kp) {
        lg_error(component, cfg->tenant, "cannot start the dead-letter producer: %s", errstr);
        free(st);
        return 1;
    }
    kq_consumer *kc = kq_consumer_new(cfg, group, topics, 1, errstr, sizeof(errstr));
    if (!kc) {
        lg_error(component, cfg->tenant, "cannot start the consumer: %s", errstr);
        kq_producer_free(kp);
        free(st);
        return 1;
    }
    lg_info(component, cfg->tenant, "consuming %s in group %s", topic, group);

    long long last_activity = mo_now_ms(), started = mo_now_ms();
    long idle_ms = opts->idle_ms > 0 ? opts->idle_ms : 2000;
    while (!mo_stop_requested()) {
        rd_kafka_message_t *m = kq_consumer_poll(kc, 100);
        if (!m) {
            long long now = mo_now_ms();
            if (opts->once && kq_consumer_assigned(kc) > 0 && !kq_consumer_waiting(kc) &&
                now - last_activity >= idle_ms)
                break;
            if (opts->once && !kq_consumer_assigned(kc) && now - started > 120000) {
                lg_error(component, cfg->tenant, "no partitions assigned within 120 s");
                rc = 1;
                break;
            }
            /* Idle time counts only while partitions are assigned and none
             * is waiting to retry. */
            if (kq_consumer_waiting(kc) || !kq_consumer_assigned(kc))
                last_activity = now;
            continue;
        }
        last_activity = mo_now_ms();

        errstr[0] = '\0';
        mo_err err = fn(ctx, m, errstr, sizeof(errstr));
        if (counts) {
            if (!counts->first_ms)
                counts->first_ms = last_activity;
            counts->last_ms = mo_now_ms();
        }
        al_failing *f = al_find(st, m, err == MO_ERR_TRANSIENT);
        if (err == MO_ERR_TRANSIENT) {
            long delay = AL_RETRY_BASE_MS;
            for (int i = 0; i < f->attempts && delay < AL_RETRY_MAX_MS; i++)
                delay *= 2;
            if (delay > AL_RETRY_MAX_MS)
                delay = AL_RETRY_MAX_MS;
            f->attempts++;
            lg_warn(component, cfg->tenant,
                    "%s [%d] @%lld failed (attempt %d): %s; retry in %ld ms", topic, m->partition,
                    (long long)m->offset, f->attempts, errstr, delay);
            kq_consumer_retry_later(kc, m, delay);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (err != MO_OK) {
            char key[512], why[256];
            snprintf(key, sizeof(key), "%.*s", (int)(m->key_len < 511 ? m->key_len : 511),
                     m->key ? (const char *)m->key : "");
            dlq_ctx d = {.component = component,
                         .source = topic,
                         .partition = m->partition,
                         .offset = m->offset,
                         .key = m->key ? key : NULL,
                         .error_class = err,
                         .error = errstr,
                         .attempts = f ? f->attempts + 1 : 1,
                         .first_failure = f ? f->first : NULL};
            if (dlq_send(kp, cfg, &d, m->payload, m->len, why, sizeof(why))) {
                /* Without the dead letter safely in Kafka the original must stay. */
                lg_error(component, cfg->tenant, "dead letter not delivered (%s); will retry", why);
                kq_consumer_retry_later(kc, m, 5000);
                rd_kafka_message_destroy(m);
                continue;
            }
            if (counts)
                counts->dead_lettered++;
        }
        al_forget(st, f);
        mo_crash_point("apply-before-offset");
        kq_consumer_store(kc, m);
        rd_kafka_message_destroy(m);
    }
    kq_consumer_close(kc, 10000);
    kq_producer_free(kp);
    free(st);
    return rc;
}

long long apply_busy_ms(const apply_counts *counts)
{
    return counts->first_ms ? counts->last_ms - counts->first_ms : 0;
}
