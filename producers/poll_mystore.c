/* The Mystore poller engine (see poll.h).
 *
 * The cursor (Redis mosync:{T}:cursor:<stream>) is
 *   {"ts": "<newest updated_at seen>", "seen": {"<id>": "<updated_at>"}}
 * Each cycle asks for entities updated since ts minus an overlap (M1:
 * shop-local timestamps repeat in the autumn DST fold) and pages through
 * everything the filter returns (M2: no order is guaranteed).  `seen`
 * remembers what the overlap window already emitted, so the overlap costs one
 * list request per page, not a re-fetch of every entity in it. */
#include "poll.h"
#include "dlq.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "stop.h"
#include "store.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* M1: how far back each cycle re-reads.  The DST fold repeats one hour; two
 * hours also absorb clock skew between Mystore and us. */
#define PM_OVERLAP_S (2 * 3600)

typedef struct pm_ctx {
    const mo_config *cfg;
    const pm_stream *st;
    rs_store *rs;
    ms_client *ms;
    kq_producer *kp;
    char topic[256];
    char component[64];
    char cursor_key[128];
    unsigned long listed, emitted, dead_lettered, cycles, failed_cycles;
} pm_ctx;

int pm_id_ok(const char *id)
{
    if (!id || !*id || strlen(id) > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

static mo_err pm_dead_letter(pm_ctx *c, const json_t *item, const char *why)
{
    char source[128];
    snprintf(source, sizeof(source), "GET %s", c->st->list_path);
    mo_err err = dlq_send_item(c->kp, c->cfg, c->component, source,
                               json_string_value(json_object_get(item, "id")), item, why);
    if (!err)
        c->dead_lettered++;
    return err;
}

static mo_err pm_save_cursor(pm_ctx *c, const char *ts, json_t *seen, char *errstr,
                             size_t errstr_size)
{
    json_t *cur = json_pack("{s:s, s:O}", "ts", ts, "seen", seen);
    mo_err err = rs_set_json(c->rs, c->cursor_key, cur, 0, errstr, errstr_size);
    json_decref(cur);
    return err;
}

/* Reads the cursor into ts (empty = from the beginning) and *seen (new reference). */
static mo_err pm_load_cursor(pm_ctx *c, char ts[TZ_LOCAL_SIZE], json_t **seen, char *errstr,
                             size_t errstr_size)
{
    json_t *cursor;
    struct tm tm;
    mo_err err = rs_get_json(c->rs, c->cursor_key, &cursor, errstr, errstr_size);
    *seen = NULL;
    if (err)
        return err;
    const char *cts = json_string_value(json_object_get(cursor, "ts"));
    json_t *cseen = json_object_get(cursor, "seen");
    if (cursor &&
        (!cts || (*cts && tz_parse_local(cts, &tm)) || (cseen && !json_is_object(cseen)))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    }
    if (cursor) {
        snprintf(ts, TZ_LOCAL_SIZE, "%s", cts);
    } else if (c->st->all_without_cursor) { /* M14 */
        ts[0] = '\0';
        lg_info(c->component, c->cfg->tenant, "no cursor yet; reading everything");
    } else { /* M14 */
        err = tz_utc_to_local(c->cfg->mystore_timezone,
                              time(NULL) - (time_t)c->cfg->mystore_lookback_h * 3600, ts);
        if (err) {
            json_decref(cursor);
            return mo_seterr(err, errstr, errstr_size, "cannot compute the start time");
        }
        lg_info(c->component, c->cfg->tenant, "no cursor yet; starting %d hours back at %s",
                c->cfg->mystore_lookback_h, ts);
    }
    *seen = cseen ? json_copy(cseen) : json_object();
    json_decref(cursor);
    return MO_OK;
}

/* Emits the snapshot of every new or changed item of one page into batch;
 * page_seen collects what was emitted (or dead-lettered for good). */
static mo_err pm_page(pm_ctx *c, json_t *items, json_t *seen, json_t *page_seen, kq_batch *batch,
                      char max_ts[TZ_LOCAL_SIZE], char *errstr, size_t errstr_size)
{
    size_t i;
    json_t *item;
    struct tm tm;
    mo_err err = MO_OK;
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        const char *upd =
            json_string_value(json_object_get(json_object_get(item, "attributes"), "updated_at"));
        c->listed++;
        if (!pm_id_ok(id) || !upd || tz_parse_local(upd, &tm)) {
            if ((err = pm_dead_letter(c, item, "item without a usable id or updated_at")))
                return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
            continue;
        }
        const char *prev = json_string_value(json_object_get(seen, id));
        if (prev && !strcmp(prev, upd))
            continue; /* emitted by an earlier cycle (overlap window) */

        json_t *snapshot;
        char why[512];
        err = c->st->snapshot(c->st->state, c->ms, id, item, &snapshot, why, sizeof(why));
        if (err == MO_ERR_INVALID) {
            if ((err = pm_dead_letter(c, item, why)))
                return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
            json_object_set_new(page_seen, id, json_string(upd));
            continue;
        }
        if (err)
            return mo_seterr(err, errstr, errstr_size, "%s", why);
        json_t *ev = ev_new(c->st->event_type, c->cfg->tenant, id, upd, snapshot);
        char *bytes = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        char key[256];
        json_decref(ev);
        if (!bytes)
            return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        err = kq_produce(c->kp, batch, c->topic, ev_key(c->cfg->tenant, id, key, sizeof(key)),
                         bytes, strlen(bytes), NULL, errstr, errstr_size);
        free(bytes);
        if (err)
            return err;
        json_object_set_new(page_seen, id, json_string(upd));
        if (strcmp(upd, max_ts) > 0)
            snprintf(max_ts, TZ_LOCAL_SIZE, "%s", upd);
    }
    return MO_OK;
}

/* One poll cycle.  Returns MO_OK, or an error after which the cursor has not
 * moved past anything unacknowledged (the next cycle starts from it). */
static mo_err pm_cycle(pm_ctx *c, char *errstr, size_t errstr_size)
{
    json_t *seen = NULL;
    char ts[TZ_LOCAL_SIZE], from[TZ_LOCAL_SIZE], max_ts[TZ_LOCAL_SIZE], query[512] = "";
    mo_err err;

    c->cycles++;
    if ((err = pm_load_cursor(c, ts, &seen, errstr, errstr_size)))
        return err;
    snprintf(max_ts, sizeof(max_ts), "%s", ts);
    if (*ts) {
        tz_local_add(ts, -PM_OVERLAP_S, from);
        if ((err = ms_filter_updated_since(from, query, sizeof(query))))
            goto out;
    }
    if (c->st->begin_cycle && (err = c->st->begin_cycle(c->st->state, c->ms, errstr, errstr_size)))
        goto out;

    for (int page = 1;; page++) {
        json_t *items;
        int has_next;
        kq_batch batch;
        if ((err = ms_list_page(c->ms, c->st->list_path, query, page, &items, &has_next, errstr,
                                errstr_size)))
            goto out;
        json_t *page_seen = json_object();
        kq_batch_begin(&batch);
        err = pm_page(c, items, seen, page_seen, &batch, max_ts, errstr, errstr_size);
        json_decref(items);
        /* Wait for every report, also after an error: only delivered events
         * may enter the cursor. */
        char why[256];
        mo_err werr = kq_batch_wait(c->kp, &batch, 60000, why, sizeof(why));
        if (!err && werr) {
            err = werr;
            snprintf(errstr, errstr_size, "%s", why);
        }
        if (err) {
            json_decref(page_seen);
            goto out;
        }
        c->emitted += (unsigned long)batch.delivered;
        mo_crash_point("poll-after-produce");
        json_object_update(seen, page_seen);
        json_decref(page_seen);
        if ((err = pm_save_cursor(c, ts, seen, errstr, errstr_size)))
            goto out;
        if (!has_next)
            break;
    }

    /* The scan is complete: move ts to the newest change seen and forget what
     * fell out of the overlap window. */
    if (*max_ts) {
        char keep_from[TZ_LOCAL_SIZE];
        const char *id;
        json_t *v, *tmp;
        tz_local_add(max_ts, -PM_OVERLAP_S, keep_from);
        json_object_foreach_safe(seen, tmp, id, v)
        {
            if (strcmp(json_string_value(v), keep_from) < 0)
                json_object_del(seen, id);
        }
        err = pm_save_cursor(c, max_ts, seen, errstr, errstr_size);
    }
out:
    json_decref(seen);
    return err;
}

static mo_err pm_cycle_fn(void *ctx, char *errstr, size_t errstr_size)
{
    return pm_cycle(ctx, errstr, errstr_size);
}

int poll_mystore(const mo_config *cfg, const pm_stream *st, const poll_opts *opts)
{
    char errstr[512], client_id[128];
    pm_ctx c = {.cfg = cfg, .st = st};
    int rc = 0;

    snprintf(c.component, sizeof(c.component), "poll.%s", st->name);
    snprintf(c.cursor_key, sizeof(c.cursor_key), "cursor:%s", st->name);
    snprintf(client_id, sizeof(client_id), "mosync-poll-%s", st->name);
    c.rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!c.rs) {
        lg_error(c.component, cfg->tenant, "%s", errstr);
        return 2;
    }
    c.kp = kq_producer_new(cfg, client_id, errstr, sizeof(errstr));
    c.ms = ms_new(cfg, c.rs, 6);
    if (!c.kp || !c.ms) {
        lg_error(c.component, cfg->tenant, "cannot start: %s", c.kp ? "out of memory" : errstr);
        rc = 1;
        goto out;
    }
    cfg_topic(cfg, st->topic_base, c.topic, sizeof(c.topic));
    lg_info(c.component, cfg->tenant, "polling %s of shop %s every %d s", st->noun,
            cfg->mystore_shop, cfg_poll_interval(cfg, st->name));

    rc = poll_loop(cfg, st->name, opts, pm_cycle_fn, &c, &c.failed_cycles);
    printf("{\"command\":\"poll %s\",\"cycles\":%lu,\"failed_cycles\":%lu,\"%s_listed\":%lu,"
           "\"%s_emitted\":%lu,\"dead_lettered\":%lu,\"mystore_requests\":%lu}\n",
           st->name, c.cycles, c.failed_cycles, st->noun, c.listed, st->noun, c.emitted,
           c.dead_lettered, ms_requests(c.ms));
    fflush(stdout);
out:
    ms_free(c.ms);
    kq_producer_free(c.kp);
    rs_close(c.rs);
    return rc;
}

int poll_loop(const mo_config *cfg, const char *stream, const poll_opts *opts, poll_cycle_fn cycle,
              void *ctx, unsigned long *failed_cycles)
{
    char errstr[512], component[64];
    snprintf(component, sizeof(component), "poll.%s", stream);
    while (!mo_stop_requested()) {
        mo_err err = cycle(ctx, errstr, sizeof(errstr));
        if (err) {
            (*failed_cycles)++;
            lg_error(component, cfg->tenant, "cycle failed (%s): %s; cursor kept", mo_err_name(err),
                     errstr);
        }
        /* A malformed cursor needs a person: stop instead of failing forever. */
        if (opts->once || err == MO_ERR_INVALID)
            return err ? 1 : 0;
        mo_stop_sleep_ms(cfg_poll_interval(cfg, stream) * 1000L);
    }
    return 0;
}
