/* What the four appliers share in a dry run (DRY_RUN=on; see apply.h): the
 * report of one entity (Redis record and stdout line), and the wrapper that
 * gives a flow its own consumer group and turns its dead letters into
 * reports. */
#include "apply.h"
#include "event.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *apply_dry_request(const char *method, const char *path, const json_t *body)
{
    return json_pack("{s:s, s:s, s:O}", "method", method, "path", path, "body",
                     body ? body : json_null());
}

mo_err apply_dry_report(const mo_config *cfg, rs_store *rs, const char *flow, const char *entity,
                        const char *version, const char *outcome, const json_t *requests,
                        const json_t *differences, const char *error, char *errstr,
                        size_t errstr_size)
{
    return apply_dry_report_why(cfg, rs, flow, entity, version, outcome, requests, differences,
                                error, NULL, errstr, errstr_size);
}

mo_err apply_dry_report_why(const mo_config *cfg, rs_store *rs, const char *flow,
                            const char *entity, const char *version, const char *outcome,
                            const json_t *requests, const json_t *differences, const char *error,
                            const char *reason, char *errstr, size_t errstr_size)
{
    char suffix[512], now[32];
    json_t *rec = NULL, *line = NULL, *shown = NULL, *none = json_array();
    char *text = NULL;
    size_t i;
    json_t *r;
    mo_err err;

    ev_utc_now(now, sizeof(now));
    rec = json_pack("{s:s, s:s, s:s?, s:s, s:O, s:O, s:s}", "flow", flow, "entity", entity,
                    "source_version", version, "outcome", outcome, "requests",
                    requests ? requests : none, "differences", differences ? differences : none,
                    "at", now);
    /* The stdout line leaves out the bodies: the differences say what changes. */
    shown = json_array();
    if (!none || !rec || !shown)
        goto nomem;
    json_array_foreach(requests, i, r)
    {
        if (json_array_append_new(shown,
                                  json_pack("{s:O, s:O}", "method", json_object_get(r, "method"),
                                            "path", json_object_get(r, "path"))))
            goto nomem;
    }
    line = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:O, s:O}", "dry_run", flow, "tenant", cfg->tenant,
                     "entity", entity, "source_version", version, "outcome", outcome, "requests",
                     shown, "differences", json_object_get(rec, "differences"));
    if (!line)
        goto nomem;
    if (error && (json_object_set_new(rec, "error", json_string(error)) ||
                  json_object_set_new(line, "error", json_string(error))))
        goto nomem;
    if (reason && (json_object_set_new(rec, "reason", json_string(reason)) ||
                   json_object_set_new(line, "reason", json_string(reason))))
        goto nomem;

    snprintf(suffix, sizeof(suffix), "dryrun:%s:%s", flow, entity);
    err = rs_set_json(rs, suffix, rec, cfg->dry_run_ttl_days * 86400L, errstr, errstr_size);
    if (err)
        goto out;
    if (!(text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        goto nomem;
    /* One call per line: the threads of `mosync run` never interleave lines. */
    printf("%s\n", text);
    fflush(stdout);
    err = MO_OK;
    goto out;
nomem:
    err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
out:
    free(text);
    json_decref(line);
    json_decref(shown);
    json_decref(rec);
    json_decref(none);
    return err;
}

/* The flow's handler; what it would dead-letter is reported instead. */
static mo_err apply_dry_handle(void *vctx, const rd_kafka_message_t *msg, char *errstr,
                               size_t errstr_size)
{
    apply_dry *dry = vctx;
    char entity[256], why[1024], e2[256];
    mo_err err = dry->handle(dry->ctx, msg, errstr, errstr_size);

    if (err == MO_OK || err == MO_ERR_TRANSIENT || err == MO_ERR_CREDENTIAL)
        return err; /* tried again: a dry run reports only what the flow would do */
    /* The key is {tenant}:{entity id}; without one, the offset names it. */
    const char *key = msg->key ? (const char *)msg->key : "";
    size_t n = msg->key ? msg->key_len : 0;
    const char *colon = memchr(key, ':', n);
    if (colon && (size_t)(key + n - colon - 1) < sizeof(entity)) {
        size_t len = (size_t)(key + n - colon - 1);
        memcpy(entity, colon + 1, len);
        entity[len] = '\0';
    } else {
        snprintf(entity, sizeof(entity), "%s@%d:%lld", rd_kafka_topic_name(msg->rkt),
                 (int)msg->partition, (long long)msg->offset);
    }
    snprintf(why, sizeof(why), "%s: %s", mo_err_name(err), errstr);
    lg_mask_secrets(why, sizeof(why));
    err = apply_dry_report(dry->cfg, dry->rs, dry->flow, entity, NULL, "dead_letter", NULL, NULL,
                           why, e2, sizeof(e2));
    if (err) {
        snprintf(errstr, errstr_size, "dry run: %s", e2);
        return MO_ERR_TRANSIENT; /* never the dead-letter topic: try the report again */
    }
    return MO_OK;
}

static int apply_dry_api_up(void *vctx, long long since_ms)
{
    apply_dry *dry = vctx;
    return dry->api_up_since ? dry->api_up_since(dry->ctx, since_ms) : 1;
}

void apply_dry_wrap(apply_flow *flow, apply_dry *dry, const mo_config *cfg, rs_store *rs)
{
    if (!cfg->dry_run)
        return;
    *dry = (apply_dry){.cfg = cfg,
                       .rs = rs,
                       .flow = flow->name,
                       .handle = flow->handle,
                       .ctx = flow->ctx,
                       .api_up_since = flow->api_up_since};
    snprintf(dry->group, sizeof(dry->group), "mosync-dryrun-%s", flow->name);
    flow->group_base = dry->group;
    flow->handle = apply_dry_handle;
    flow->api_up_since = apply_dry_api_up;
    flow->ctx = dry;
    lg_info(flow->component, cfg->tenant,
            "DRY_RUN=on: comparing with the target and sending nothing (group %s)", dry->group);
}
