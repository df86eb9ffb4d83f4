#include "dlq.h"
#include "b64.h"
#include "dlq_state.h"
#include "event.h"
#include "log.h"
#include "sha256.h"
#include "stop.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

/* Room left for the record's framing when a value is cut to fit
 * message.max.bytes (librdkafka counts batch and record overhead, key,
 * value and headers; the overhead is well under this). */
#define DLQ_FRAME_MARGIN 1024
/* Halvings tried when the broker keeps refusing a cut value as too large. */
#define DLQ_MAX_SHRINKS 24

static void dlq_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

rd_kafka_headers_t *dlq_letter_headers(const mo_config *cfg, const dlq_ctx *ctx, const char *error,
                                       const char *now, const char *version)
{
    char num[32], off[32], att[16];
    rd_kafka_headers_t *h = rd_kafka_headers_new(15);
    if (!h)
        return NULL;
    snprintf(num, sizeof(num), "%d", ctx->partition);
    snprintf(off, sizeof(off), "%lld", ctx->offset);
    snprintf(att, sizeof(att), "%d", ctx->attempts);
    dlq_header(h, "mosync.source", ctx->source);
    dlq_header(h, "mosync.partition", num);
    dlq_header(h, "mosync.offset", off);
    dlq_header(h, "mosync.key", ctx->key);
    dlq_header(h, "mosync.tenant", cfg->tenant);
    dlq_header(h, "mosync.component", ctx->component);
    dlq_header(h, "mosync.error.class", mo_err_name(ctx->error_class));
    dlq_header(h, "mosync.error", error);
    dlq_header(h, "mosync.attempts", att);
    dlq_header(h, "mosync.first.failure", ctx->first_failure ? ctx->first_failure : now);
    dlq_header(h, "mosync.last.failure", now);
    if (version && *version)
        dlq_header(h, "mosync.source.version", version);
    return h;
}

void dlq_source_version(const dlq_ctx *ctx, const void *value, size_t len, char *buf, size_t size)
{
    buf[0] = '\0';
    /* A poller's letter holds an API item, not an event: no version. */
    if (ctx->partition < 0 || !value)
        return;
    json_t *ev = json_loadb(value, len, 0, NULL);
    const char *v = json_string_value(json_object_get(ev, "source_version"));
    if (v && dlq_version_valid(v, strlen(v)) && strlen(v) < size)
        snprintf(buf, size, "%s", v);
    json_decref(ev);
}

/* Bytes the headers take (names and values). */
static size_t dlq_headers_size(const rd_kafka_headers_t *h)
{
    const char *name;
    const void *val;
    size_t size, total = 0;
    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &size); i++)
        total += strlen(name) + size + 8;
    return total;
}

/* Produces one dead letter (headers h stolen) and waits for its report.
 * *too_large: 1 when librdkafka refused it at produce time as larger than
 * message.max.bytes, 2 when the broker's report said so, else 0.  Once
 * delivered, place->id is the letter's id. */
static mo_err dlq_produce_wait(kq_producer *kp, const char *topic, const char *key,
                               const void *value, size_t len, rd_kafka_headers_t *h, int *too_large,
                               dlq_open_entry *place, char *errstr, size_t errstr_size)
{
    kq_batch batch;
    kq_batch_begin(&batch);
    *too_large = 0;
    mo_err err = kq_produce(kp, &batch, topic, key, value, len, h, errstr, errstr_size);
    if (err == MO_ERR_TOO_LARGE)
        *too_large = 1;
    if (!err) {
        /* At least message.timeout.ms: the outcome is known when it returns
         * (unless a stop is requested), so a letter is never sent twice
         * because its report came late. */
        err = kq_batch_wait(kp, &batch, 0, errstr, errstr_size);
        if (err && batch.first_err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            *too_large = 2;
        /* The letter's id is its place, which only its delivery report knows. */
        if (!err && batch.last_partition >= 0)
            snprintf(place->id, sizeof(place->id), "%d:%lld", (int)batch.last_partition,
                     (long long)batch.last_offset);
    } else {
        kq_batch_end(&batch);
    }
    return err;
}

mo_err dlq_send(kq_producer *kp, const mo_config *cfg, const dlq_ctx *ctx, const void *value,
                size_t len, char *errstr, size_t errstr_size)
{
    char topic[256], now[32], error[1024], version[DLQ_VERSION_MAX + 1];
    int too_large = 0;
    long long now_ms = 0;
    dlq_open_entry place;

    ev_utc_now(now, sizeof(now));
    ev_utc_parse(now, &now_ms);
    /* The entity's version lets a later success resolve exactly the letters
     * it supersedes (dlq_resolves). */
    dlq_source_version(ctx, value, len, version, sizeof(version));
    memset(&place, 0, sizeof(place));
    place.src_partition = ctx->partition >= 0 && ctx->offset >= 0 ? ctx->partition : -1;
    place.src_offset = place.src_partition >= 0 ? ctx->offset : -1;
    place.time_ms = now_ms;
    snprintf(place.version, sizeof(place.version), "%s", version);
    /* Masked whole, then cut at a character boundary (a secret cut in two
     * would no longer be recognised). */
    const char *why = ctx->error ? ctx->error : "";
    lg_quote(why, strlen(why), sizeof(error) - 1, error, sizeof(error));
    cfg_topic(cfg, KQ_TOPIC_DLQ, topic, sizeof(topic));

    rd_kafka_headers_t *h = dlq_letter_headers(cfg, ctx, error, now, version);
    if (!h)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    size_t hsize = dlq_headers_size(h);
    mo_err err = dlq_produce_wait(kp, topic, ctx->key, value, len, h, &too_large, &place, errstr,
                                  errstr_size);

    /* Too large for Kafka with our headers added: a letter that can never be
     * sent would block its partition for good.  Send the value cut to fit,
     * with its size and hash; the full bytes stay in the source topic at the
     * partition and offset the headers name. */
    size_t keep = len;
    if (too_large) {
        char sum[65], size[32];
        sha256_hex(value, len, sum);
        snprintf(size, sizeof(size), "%zu", len);
        size_t fixed = hsize + (ctx->key ? strlen(ctx->key) : 0) + DLQ_FRAME_MARGIN + 160;
        size_t fit = (size_t)kq_producer_max_message_bytes(kp) > fixed
                         ? (size_t)kq_producer_max_message_bytes(kp) - fixed
                         : 0;
        /* The producer's limit is known; a broker's (or topic's) is not, so
         * a refusal by the broker halves what is kept. */
        keep = too_large == 1 ? fit : len / 2;
        if (keep > fit)
            keep = fit;
        if (keep >= len)
            keep = len ? len - 1 : 0;
        for (int i = 0; too_large && i <= DLQ_MAX_SHRINKS; i++) {
            h = dlq_letter_headers(cfg, ctx, error, now, version);
            if (!h)
                return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            dlq_header(h, "mosync.value.size", size);
            dlq_header(h, "mosync.value.sha256", sum);
            dlq_header(h, "mosync.value.truncated", "true");
            err = dlq_produce_wait(kp, topic, ctx->key, value, keep, h, &too_large, &place, errstr,
                                   errstr_size);
            if (too_large) {
                if (!keep)
                    break;
                keep /= 2;
            }
        }
        if (!err)
            lg_warn(ctx->component, cfg->tenant,
                    "dead letter of %zu bytes too large for Kafka: sent its first %zu bytes "
                    "(sha256 %s); the whole value stays in %s [%d] @%lld",
                    len, keep, sum, ctx->source ? ctx->source : "", ctx->partition, ctx->offset);
    }
    if (!err) {
        lg_warn(ctx->component, cfg->tenant, "dead-lettered %s%s%s: %s", ctx->source,
                ctx->key ? " key " : "", ctx->key ? ctx->key : "", error);
        /* So that a later success of the entity resolves it (dlq_state.h). */
        if (*place.id)
            dlq_index_note(cfg, ctx->component, ctx->key, &place);
    }
    return err;
}

mo_err dlq_send_item(kq_producer *kp, const mo_config *cfg, const char *component,
                     const char *source, const char *key, const json_t *item, const char *why)
{
    char errstr[256];
    char *bytes = json_dumps(item, JSON_COMPACT);
    dlq_ctx d = {.component = component,
                 .source = source,
                 .partition = -1,
                 .offset = -1,
                 .key = key,
                 .error_class = MO_ERR_INVALID,
                 .error = why,
                 .attempts = 1};
    mo_err err = dlq_send(kp, cfg, &d, bytes ? bytes : "", bytes ? strlen(bytes) : 0, errstr,
                          sizeof(errstr));
    free(bytes);
    if (err)
        lg_error(component, cfg->tenant, "dead letter not delivered: %s", errstr);
    return err;
}

/* Sets o[name] to the text (len bytes) when it is UTF-8, else sets
 * o[name_base64] to its base64: nothing is ever left out for its bytes.
 * Returns 0, or -1 when out of memory. */
static int dlq_set_text(json_t *o, const char *name, const char *name_base64, const void *text,
                        size_t len)
{
    if (lg_utf8_valid(text, len))
        return json_object_set_new(o, name, json_stringn(text, len));
    char *b64 = b64_encode(text, len);
    int rc = b64 ? json_object_set_new(o, name_base64, json_string(b64)) : -1;
    free(b64);
    return rc;
}

json_t *dlq_message_json(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    json_t *o = json_object(), *headers = json_object(), *headers64 = json_object();
    char *b64 = NULL;
    int bad = !o || !headers || !headers64;
    if (!bad && !rd_kafka_message_headers(m, &hdrs)) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
            char *shown = lg_utf8_escape(name, strlen(name));
            if (!shown) {
                bad = 1;
                break;
            }
            if (lg_utf8_valid(val ? val : "", val ? size : 0)) {
                bad |= json_object_set_new(headers, shown,
                                           json_stringn(val ? val : "", val ? size : 0));
            } else {
                char *v64 = b64_encode(val, size);
                bad |= !v64 || json_object_set_new(headers64, shown, json_string(v64));
                free(v64);
            }
            free(shown);
        }
    }
    b64 = bad ? NULL : b64_encode(m->payload, m->len);
    if (bad || !b64 || json_object_set_new(o, "partition", json_integer(m->partition)) ||
        json_object_set_new(o, "offset", json_integer((json_int_t)m->offset)) ||
        dlq_set_text(o, "key", "key_base64", m->key ? (const char *)m->key : "",
                     m->key ? m->key_len : 0) ||
        json_object_set(o, "headers", headers) ||
        (json_object_size(headers64) && json_object_set(o, "headers_base64", headers64)) ||
        json_object_set_new(o, "value_base64", json_string(b64))) {
        json_decref(o);
        o = NULL;
    }
    /* When the producer made it (ms since the epoch): the latency benchmark
     * times the poll-to-topic stage with it.  Absent when the broker has none. */
    int64_t ts = o ? rd_kafka_message_timestamp(m, NULL) : -1;
    if (ts >= 0 && json_object_set_new(o, "timestamp_ms", json_integer((json_int_t)ts))) {
        json_decref(o);
        o = NULL;
    }
    free(b64);
    json_decref(headers);
    json_decref(headers64);
    return o;
}

/* Prints one message as a JSON line (dlq_message_json). */
static void dlq_print(const rd_kafka_message_t *m)
{
    json_t *o = dlq_message_json(m);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s)
        printf("%s\n", s);
    else
        fprintf(stderr, "mosync: out of memory printing partition %d offset %lld\n",
                (int)m->partition, (long long)m->offset);
    free(s);
    json_decref(o);
}

int dlq_show(const mo_config *cfg, int once)
{
    return dlq_show_topic(cfg, KQ_TOPIC_DLQ, "mosync-dlq-show", once);
}

int dlq_show_topic(const mo_config *cfg, const char *topic_base, const char *group, int once)
{
    char errstr[512], topic[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    for (int i = 0; i < cfg->n_kafka_props; i++)
        rd_kafka_conf_set(conf, cfg->kafka_props[i].name, cfg->kafka_props[i].value, errstr,
                          sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mosync: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    cfg_topic(cfg, topic_base, topic, sizeof(topic));

    /* Find the partitions, then read each from its beginning (no group join). */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int rc = 0, nparts = 0;
    for (int tries = 0; tries < 50; tries++) {
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000) && md->topic_cnt == 1 && !md->topics[0].err &&
            md->topics[0].partition_cnt > 0)
            break;
        mo_stop_sleep_ms(200);
    }
    if (!md || md->topic_cnt != 1 || md->topics[0].err) {
        /* No such topic yet: nothing was ever written to it. */
        goto out;
    }
    nparts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    int eofs = 0;
    while (!mo_stop_requested() && (!once || eofs < nparts)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (m->err)
            fprintf(stderr, "mosync: %s\n", rd_kafka_message_errstr(m));
        else
            dlq_print(m);
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
