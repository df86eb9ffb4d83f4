#include "dlq.h"
#include "event.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void dlq_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

mo_err dlq_send(kq_producer *kp, const mo_config *cfg, const dlq_ctx *ctx, const void *value,
                size_t len, char *errstr, size_t errstr_size)
{
    char topic[256], num[32], off[32], att[16], now[32], error[1024];
    kq_batch batch;
    rd_kafka_headers_t *h = rd_kafka_headers_new(12);

    ev_utc_now(now, sizeof(now));
    snprintf(error, sizeof(error), "%s", ctx->error ? ctx->error : "");
    lg_mask_secrets(error, sizeof(error));
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

    kq_batch_begin(&batch);
    mo_err err = kq_produce(kp, &batch, cfg_topic(cfg, KQ_TOPIC_DLQ, topic, sizeof(topic)),
                            ctx->key, value, len, h, errstr, errstr_size);
    if (!err)
        err = kq_batch_wait(kp, &batch, 30000, errstr, errstr_size);
    if (!err)
        lg_warn(ctx->component, cfg->tenant, "dead-lettered %s%s%s: %s", ctx->source,
                ctx->key ? " key " : "", ctx->key ? ctx->key : "", error);
    return err;
}
