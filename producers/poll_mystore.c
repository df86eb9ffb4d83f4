/* The Mystore poller engine (see poll.h).
 *
 * The cursor (Redis mosync:{T}:cursor:<stream>) is
 *   {"ts": "<shop-local time the last complete scan started>",
 *    "seen": {"<id>": {"h": "<hash of the listed resource>",
 *                      "u": "<its updated_at>", "s": "<scan start when last listed>"}},
 *    "failing": {"<id>": {"n": <cycles failed>, "u": "<updated_at>",
 *                         "first": "<UTC time of the first failure>", "c": "<cycle id>"}}}
 * Each cycle asks for entities updated since ts minus an overlap (M1:
 * shop-local timestamps repeat in the autumn DST fold) and pages through
 * everything the filter returns (M2: no order is guaranteed).  `seen` remembers
 * what the overlap window already emitted, by a hash of the listed resource, so
 * the overlap costs one list request per page, not a re-fetch of every entity,
 * and a second change within the same second (same updated_at, other content)
 * is still emitted.
 *
 * Time is observed on Mystore's clock (its Date header, ms_server_now): ts is
 * the scan's start on that clock, never the newest updated_at seen, so a scan
 * longer than the overlap loses nothing changed while it ran, and a
 * future-dated updated_at cannot carry the cursor away.  Source versions are
 * UTC instants: updated_at resolved by the time its page was observed
 * (tz_local_to_utc_observed).
 *
 * One entity whose snapshot keeps failing (a sub-resource answering 5xx or
 * 4xx while Mystore answers the rest) does not stop its stream: the other
 * entities go on, the failing one is tried again each cycle (the window keeps
 * reaching back to its updated_at) and after cfg->max_attempts cycles it is
 * dead-lettered (pm_entity_failed says which errors count).
 *
 * Cursors of mosync 0.1 ({"ts": "<newest updated_at>", "seen": {"<id>":
 * "<updated_at>"}}) are read: ts then only widens the first window, and an
 * entry whose updated_at still matches counts as emitted. */
#include "poll.h"
#include "credential.h"
#include "dlq.h"
#include "event.h"
#include "kafka.h"
#include "lastrun.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"
#include "stop.h"
#include "store.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* M1: how far back each cycle re-reads.  The DST fold repeats one hour; two
 * hours also absorb clock skew between Mystore and us. */
#define PM_OVERLAP_S (2 * 3600)
/* Hex digits of the listed resource's hash kept in `seen` (64 bits: enough to
 * tell two versions of one entity apart, and small in a large overlap). */
#define PM_HASH_HEX 16

typedef struct pm_ctx {
    const mo_config *cfg;
    const pm_stream *st;
    rs_store *rs;
    ms_client *ms;
    kq_producer *kp;
    ls_lease *lease; /* the stream's lease, for this cycle */
    char topic[256];
    char component[64];
    char cursor_key[128];
    char start_local[TZ_LOCAL_SIZE]; /* this scan's start, shop-local on Mystore's clock */
    char cycle_id[64]; /* unique per cycle, also across processes: counts failures once */
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

/* Mystore's clock now (UTC seconds): the last Date header moved on by our
 * monotonic clock; our own clock before Mystore ever answered. */
static long long pm_server_now(const pm_ctx *c)
{
    long long t = ms_server_now(c->ms);
    return t ? t : (long long)time(NULL);
}

/* "YYYY-MM-DDTHH:MM:SSZ" of t into buf (>= 21 bytes). */
static void pm_utc(long long t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The first PM_HASH_HEX hex digits of the SHA-256 of item's canonical JSON. */
static mo_err pm_hash(const json_t *item, char out[PM_HASH_HEX + 1])
{
    char hex[65];
    char *canon = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canon)
        return MO_ERR_NOMEM;
    sha256_hex(canon, strlen(canon), hex);
    free(canon);
    memcpy(out, hex, PM_HASH_HEX);
    out[PM_HASH_HEX] = '\0';
    return MO_OK;
}

/* Dead-letters one listed item (its JSON as Mystore listed it) with the
 * error class and attempts given; key is the entity id or NULL.  Waits for
 * Kafka's acknowledgement. */
static mo_err pm_dead_letter(pm_ctx *c, const json_t *item, const char *id, mo_err klass,
                             int attempts, const char *first_failure, const char *why)
{
    char source[128], key[256], errstr[256];
    snprintf(source, sizeof(source), "GET %s", c->st->list_path);
    char *bytes = json_dumps(item, JSON_COMPACT);
    dlq_ctx d = {.component = c->component,
                 .source = source,
                 .partition = -1,
                 .offset = -1,
                 .key = id ? ev_key(c->cfg->tenant, id, key, sizeof(key)) : NULL,
                 .error_class = klass,
                 .error = why,
                 .attempts = attempts,
                 .first_failure = first_failure};
    mo_err err = dlq_send(c->kp, c->cfg, &d, bytes ? bytes : "", bytes ? strlen(bytes) : 0, errstr,
                          sizeof(errstr));
    free(bytes);
    if (err) {
        lg_error(c->component, c->cfg->tenant, "dead letter not delivered: %s", errstr);
        return err;
    }
    c->dead_lettered++;
    poll_count_dead_letter(c->cfg, c->component, klass);
    return MO_OK;
}

static mo_err pm_save_cursor(pm_ctx *c, const char *ts, json_t *seen, json_t *failing, char *errstr,
                             size_t errstr_size)
{
    json_t *cur = json_pack("{s:s, s:O, s:O}", "ts", ts, "seen", seen, "failing", failing);
    if (!cur)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mo_err err = poll_cursor_save(c->rs, c->lease, c->cursor_key, cur, errstr, errstr_size);
    json_decref(cur);
    return err;
}

/* Reads the cursor: *ts (empty = none yet), *seen and *failing (new
 * references, empty objects when absent). */
static mo_err pm_load_cursor(pm_ctx *c, char ts[TZ_LOCAL_SIZE], json_t **seen, json_t **failing,
                             char *errstr, size_t errstr_size)
{
    json_t *cursor;
    struct tm tm;
    mo_err err = rs_get_json(c->rs, c->cursor_key, &cursor, errstr, errstr_size);
    *seen = *failing = NULL;
    ts[0] = '\0';
    if (err)
        return err;
    const char *cts = json_string_value(json_object_get(cursor, "ts"));
    json_t *cseen = json_object_get(cursor, "seen");
    json_t *cfailing = json_object_get(cursor, "failing");
    if (cursor && (!json_is_object(cursor) || !cts || (*cts && tz_parse_local(cts, &tm)) ||
                   (cseen && !json_is_object(cseen)) || (cfailing && !json_is_object(cfailing)))) {
        json_decref(cursor);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    }
    snprintf(ts, TZ_LOCAL_SIZE, "%s", cts ? cts : "");
    *seen = cseen ? json_copy(cseen) : json_object();
    *failing = cfailing ? json_copy(cfailing) : json_object();
    json_decref(cursor);
    if (!*seen || !*failing)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MO_OK;
}

/* A seen entry's updated_at: "u" of an entry, or the value of a 0.1 entry. */
static const char *pm_seen_u(const json_t *entry)
{
    return json_is_string(entry) ? json_string_value(entry)
                                 : json_string_value(json_object_get(entry, "u"));
}

/* The entry `seen` keeps for an item: its hash, updated_at and this scan. */
static json_t *pm_seen_entry(const pm_ctx *c, const char *hash, const char *upd)
{
    return json_pack("{s:s, s:s?, s:s}", "h", hash, "u", upd, "s", c->start_local);
}

/* Decides what a failed snapshot of entity id means.
 *   401/403 (the token), 429 or a transient error while Mystore does not
 *   answer at all (an outage, the budget) or Redis was away or could not
 *   serve (LOADING, OOM...), a stop: the whole API is unusable;
 *   returns the error, which ends the cycle and counts against no entity.
 *   MO_ERR_INVALID (Mystore's answer makes no sense for this entity), 404/410
 *   (a sub-resource that is gone) and an answer too large: permanent for this
 *   entity; dead-lettered at once, *done = 1.
 *   Anything else (5xx or a timeout while Mystore answers others, another
 *   4xx): counted in `failing`, once per cycle; dead-lettered after
 *   cfg->max_attempts cycles (*done = 1), until then tried again each cycle
 *   while the other entities go on (*done = 0).
 * Returns MO_OK when the cycle may go on. */
static mo_err pm_entity_failed(pm_ctx *c, const json_t *item, const char *id, const char *upd,
                               mo_err failure, long long failed_at, const char *why,
                               json_t *failing, int *done, char *errstr, size_t errstr_size)
{
    long status = ms_last_status(c->ms);
    mo_err err;
    *done = 0;
    if (failure == MO_ERR_NOMEM || mo_stop_requested() || failure == MO_ERR_CREDENTIAL ||
        (failure == MO_ERR_TRANSIENT &&
         (rs_outage_since(failed_at) || !ms_up_since(c->ms, failed_at))))
        return mo_seterr(failure, errstr, errstr_size, "%s", why);
    if (failure == MO_ERR_INVALID || failure == MO_ERR_TOO_LARGE ||
        (failure == MO_ERR_PERMANENT && (status == 404 || status == 410))) {
        if ((err = pm_dead_letter(c, item, id, failure, 1, NULL, why)))
            return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
        json_object_del(failing, id);
        *done = 1;
        return MO_OK;
    }

    json_t *f = json_object_get(failing, id);
    char now[32];
    pm_utc((long long)time(NULL), now, sizeof(now));
    if (!json_is_object(f)) {
        f = json_pack("{s:i, s:s}", "n", 0, "first", now);
        if (!f || json_object_set_new(failing, id, f))
            return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    const char *first = json_string_value(json_object_get(f, "first"));
    json_int_t n = json_integer_value(json_object_get(f, "n"));
    /* Once per cycle, however often the entity is listed in it. */
    const char *last = json_string_value(json_object_get(f, "c"));
    if (!last || strcmp(last, c->cycle_id))
        n++;
    json_object_set_new(f, "n", json_integer(n));
    json_object_set_new(f, "u", upd ? json_string(upd) : json_null());
    json_object_set_new(f, "c", json_string(c->cycle_id));
    if (n < c->cfg->max_attempts) {
        lg_warn(c->component, c->cfg->tenant,
                "%s %s failed (%" JSON_INTEGER_FORMAT " of %d cycles): %s; the others go on",
                c->st->event_type, id, n, c->cfg->max_attempts, why);
        return MO_OK;
    }
    lg_error(c->component, c->cfg->tenant,
             "%s %s failed %" JSON_INTEGER_FORMAT " cycles in a row: %s; dead-lettered",
             c->st->event_type, id, n, why);
    if ((err = pm_dead_letter(c, item, id, failure, (int)n, first ? first : now, why)))
        return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
    json_object_del(failing, id);
    *done = 1;
    return MO_OK;
}

/* Emits the snapshot of every new or changed item of one page into batch;
 * page_seen collects what was emitted.  obs: Mystore's clock when the page
 * was answered (the observation time of its items). */
static mo_err pm_page(pm_ctx *c, json_t *items, long long obs, json_t *seen, json_t *failing,
                      json_t *page_seen, kq_batch *batch, char *errstr, size_t errstr_size)
{
    size_t i;
    json_t *item;
    struct tm tm;
    mo_err err = MO_OK;
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        json_t *jupd = json_object_get(json_object_get(item, "attributes"), "updated_at");
        const char *upd = json_string_value(jupd);
        char hash[PM_HASH_HEX + 1], bad_key[PM_HASH_HEX + 2];
        c->listed++;
        if ((err = pm_hash(item, hash)))
            return mo_seterr(err, errstr, errstr_size, "out of memory");
        /* A null (or absent) updated_at is a product Mystore never stamped:
         * synced, with the observation time as its version.  One that is not
         * a time, or an item without a usable id, is dead-lettered once: seen
         * keeps its hash (under "#<hash>" without an id) until it changes. */
        int id_ok = pm_id_ok(id);
        int upd_ok = upd ? tz_parse_local(upd, &tm) == MO_OK : !jupd || json_is_null(jupd);
        if (!id_ok || !upd_ok) {
            snprintf(bad_key, sizeof(bad_key), "#%s", hash);
            const char *key = id_ok ? id : bad_key;
            const char *known = json_string_value(json_object_get(json_object_get(seen, key), "h"));
            if (!known || strcmp(known, hash)) {
                char why[160];
                if (id_ok)
                    snprintf(why, sizeof(why), "updated_at %.60s is not a time",
                             upd ? upd : "(not a string)");
                else
                    snprintf(why, sizeof(why), "item without a usable id");
                if ((err =
                         pm_dead_letter(c, item, id_ok ? id : NULL, MO_ERR_INVALID, 1, NULL, why)))
                    return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
            }
            json_object_set_new(seen, key, pm_seen_entry(c, hash, NULL));
            continue;
        }
        json_t *prev = json_object_get(seen, id);
        const char *prev_hash = json_string_value(json_object_get(prev, "h"));
        const char *tried = json_string_value(json_object_get(json_object_get(failing, id), "c"));
        if (json_object_get(page_seen, id) || (tried && !strcmp(tried, c->cycle_id)))
            continue; /* listed twice in this scan (M2): emitted, or failed, once */
        if ((prev_hash && !strcmp(prev_hash, hash)) ||
            (upd && json_is_string(prev) && !strcmp(json_string_value(prev), upd))) {
            /* Emitted before (a 0.1 entry: same updated_at): remember it as listed now. */
            json_object_set_new(seen, id, pm_seen_entry(c, hash, upd));
            continue;
        }
        /* A snapshot costs requests: only while this poller holds the lease. */
        if ((err = poll_lease_check(c->lease, errstr, errstr_size)))
            return err;

        /* The version: updated_at as an instant, resolved by when it was seen. */
        time_t t;
        char version[32];
        if (!upd || tz_local_to_utc_observed(c->cfg->mystore_timezone, upd, (time_t)obs, &t))
            t = (time_t)obs;
        pm_utc((long long)t, version, sizeof(version));
        if ((long long)t > obs)
            lg_warn(c->component, c->cfg->tenant,
                    "%s %s has updated_at %s, later than Mystore's clock: emitted as it is; the "
                    "cursor stays at the scan's start (%s)",
                    c->st->event_type, id, upd, c->start_local);

        json_t *snapshot;
        char why[512];
        long long failed_at = mo_now_ms();
        err = c->st->snapshot(c->st->state, c->ms, id, item, &snapshot, why, sizeof(why));
        if (err) {
            int done = 0;
            if ((err = pm_entity_failed(c, item, id, upd, err, failed_at, why, failing, &done,
                                        errstr, errstr_size)))
                return err;
            if (done) /* dead-lettered: emitted for good */
                json_object_set_new(seen, id, pm_seen_entry(c, hash, upd));
            continue;
        }
        json_object_del(failing, id);
        json_t *ev = ev_new(c->st->event_type, c->cfg->tenant, id, version, snapshot);
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
        json_object_set_new(page_seen, id, pm_seen_entry(c, hash, upd));
    }
    return MO_OK;
}

/* Forgets the seen entries the next window cannot list again: updated before
 * keep_from, and not listed since keep_from either. */
static void pm_prune_seen(json_t *seen, const char *keep_from)
{
    const char *id;
    json_t *v, *tmp;
    json_object_foreach_safe(seen, tmp, id, v)
    {
        const char *u = pm_seen_u(v);
        const char *s = json_string_value(json_object_get(v, "s"));
        if ((!u || strcmp(u, keep_from) < 0) && (!s || strcmp(s, keep_from) < 0))
            json_object_del(seen, id);
    }
}

/* After a complete scan: an entity in `failing` that this scan did not list
 * (deleted in Mystore) is no longer tried; its window need not reach back. */
static void pm_prune_failing(pm_ctx *c, json_t *failing)
{
    const char *id;
    json_t *v, *tmp;
    json_object_foreach_safe(failing, tmp, id, v)
    {
        const char *cid = json_string_value(json_object_get(v, "c"));
        if (!cid || strcmp(cid, c->cycle_id)) {
            lg_warn(c->component, c->cfg->tenant,
                    "%s %s failed before and is no longer listed; no longer tried",
                    c->st->event_type, id);
            json_object_del(failing, id);
        }
    }
}

/* The earliest updated_at of the failing entities (into base), so the window
 * keeps listing them. */
static void pm_window_failing(const json_t *failing, char base[TZ_LOCAL_SIZE])
{
    const char *id;
    json_t *v;
    struct tm tm;
    json_object_foreach((json_t *)failing, id, v)
    {
        const char *u = json_string_value(json_object_get(v, "u"));
        if (u && !tz_parse_local(u, &tm) && (!*base || strcmp(u, base) < 0))
            snprintf(base, TZ_LOCAL_SIZE, "%s", u);
    }
}

/* One poll cycle.  Returns MO_OK, or an error after which the cursor has not
 * moved past anything unacknowledged (the next cycle starts from it). */
static mo_err pm_cycle(pm_ctx *c, ls_lease *lease, char *errstr, size_t errstr_size)
{
    json_t *seen = NULL, *failing = NULL;
    char ts[TZ_LOCAL_SIZE], base[TZ_LOCAL_SIZE], from[TZ_LOCAL_SIZE], query[512] = "";
    mo_err err;

    c->cycles++;
    c->lease = lease;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(c->cycle_id, sizeof(c->cycle_id), "%lld.%09ld-%ld-%lu", (long long)now.tv_sec,
             now.tv_nsec, (long)getpid(), c->cycles);
    if ((err = pm_load_cursor(c, ts, &seen, &failing, errstr, errstr_size)))
        goto out;
    if (c->st->begin_cycle && (err = c->st->begin_cycle(c->st->state, c->ms, errstr, errstr_size)))
        goto out;
    /* The scan starts now on Mystore's clock; without one yet, ask Mystore once. */
    if (!ms_server_now(c->ms)) {
        json_t *doc = NULL;
        long status;
        err = ms_get(c->ms, "order-status?page%5Bsize%5D=1", &doc, &status, errstr, errstr_size);
        json_decref(doc);
        if (err)
            goto out;
    }
    long long start = pm_server_now(c);
    if ((err = tz_utc_to_local(c->cfg->mystore_timezone, (time_t)start, c->start_local))) {
        mo_seterr(err, errstr, errstr_size, "cannot compute the scan's start time");
        goto out;
    }

    /* The window: from the last scan's start (never later than this one's:
     * a cursor of mosync 0.1 may hold a future-dated updated_at), minus the
     * overlap. */
    snprintf(base, sizeof(base), "%s", ts);
    if (!*base && !c->st->all_without_cursor) { /* M14 */
        if ((err = tz_utc_to_local(c->cfg->mystore_timezone,
                                   (time_t)(start - (long long)c->cfg->mystore_lookback_h * 3600),
                                   base))) {
            mo_seterr(err, errstr, errstr_size, "cannot compute the start time");
            goto out;
        }
        lg_info(c->component, c->cfg->tenant, "no cursor yet; starting %d hours back at %s",
                c->cfg->mystore_lookback_h, base);
    } else if (!*base) {
        lg_info(c->component, c->cfg->tenant, "no cursor yet; reading everything");
    }
    if (*base && strcmp(base, c->start_local) > 0)
        snprintf(base, sizeof(base), "%s", c->start_local);
    if (*base) {
        pm_window_failing(failing, base);
        tz_local_add(base, -PM_OVERLAP_S, from);
        if ((err = ms_filter_updated_since(from, query, sizeof(query)))) {
            mo_seterr(err, errstr, errstr_size, "filter too long");
            goto out;
        }
    }

    for (int page = 1;; page++) {
        json_t *items;
        int has_next;
        kq_batch batch;
        if ((err = poll_lease_check(lease, errstr, errstr_size)) ||
            (err = ms_list_page(c->ms, c->st->list_path, query, page, &items, &has_next, errstr,
                                errstr_size)))
            goto out;
        long long obs = pm_server_now(c);
        json_t *page_seen = json_object();
        kq_batch_begin(&batch);
        err = pm_page(c, items, obs, seen, failing, page_seen, &batch, errstr, errstr_size);
        json_decref(items);
        /* Wait for every report, also after an error: only delivered events
         * may enter the cursor. */
        char why[256];
        mo_err werr = kq_batch_wait(c->kp, &batch, 60000, why, sizeof(why));
        /* What Kafka has, also from a page that failed: the topic holds it. */
        poll_count_produced(c->cfg, c->st->name, batch.delivered);
        if (!err && werr) {
            err = werr;
            snprintf(errstr, errstr_size, "%s", why);
        }
        if (err) {
            /* Keep what this page decided for good (dead letters sent, failures
             * counted), without its undelivered events; best effort. */
            char ignored[256];
            json_decref(page_seen);
            pm_save_cursor(c, ts, seen, failing, ignored, sizeof(ignored));
            goto out;
        }
        c->emitted += (unsigned long)batch.delivered;
        mo_crash_point("poll-after-produce");
        json_object_update(seen, page_seen);
        json_decref(page_seen);
        if ((err = pm_save_cursor(c, ts, seen, failing, errstr, errstr_size)))
            goto out;
        if (!has_next)
            break;
    }

    /* The scan is complete: the next window starts at this scan's start (or a
     * failing entity's updated_at) minus the overlap, and what it cannot list
     * again is forgotten. */
    char keep_from[TZ_LOCAL_SIZE];
    pm_prune_failing(c, failing);
    snprintf(base, sizeof(base), "%s", c->start_local);
    pm_window_failing(failing, base);
    tz_local_add(base, -PM_OVERLAP_S, keep_from);
    pm_prune_seen(seen, keep_from);
    err = pm_save_cursor(c, c->start_local, seen, failing, errstr, errstr_size);
out:
    json_decref(seen);
    json_decref(failing);
    return err;
}

static mo_err pm_cycle_fn(void *ctx, ls_lease *lease, char *errstr, size_t errstr_size)
{
    return pm_cycle(ctx, lease, errstr, errstr_size);
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

mo_err poll_lease_check(ls_lease *lease, char *errstr, size_t errstr_size)
{
    if (ls_held(lease))
        return MO_OK;
    return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "lost the lease (%s)",
                     ls_suffix(lease));
}

mo_err poll_cursor_save(rs_store *rs, ls_lease *lease, const char *suffix, const json_t *cursor,
                        char *errstr, size_t errstr_size)
{
    int written = 0;
    mo_err err = rs_set_json_fenced(rs, suffix, cursor, ls_suffix(lease), ls_token(lease), &written,
                                    errstr, errstr_size);
    if (err || written)
        return err;
    ls_lost(lease);
    return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                     "lost the lease (%s): another poller holds it; cursor not written",
                     ls_suffix(lease));
}

void poll_count_produced(const mo_config *cfg, const char *stream, int delivered)
{
    if (delivered > 0)
        mt_add("mosync_events_produced_total", delivered, "stream", stream, "tenant", cfg->tenant,
               NULL);
}

void poll_count_dead_letter(const mo_config *cfg, const char *component, mo_err klass)
{
    mt_add("mosync_dead_letters_total", 1, "component", component, "error_class",
           mo_err_name(klass), "tenant", cfg->tenant, NULL);
}

/* The metrics of one finished cycle: its duration, its result ("ok",
 * "failed", "lease_lost": another poller took over meanwhile) and the time of
 * the last good or bad one. */
static void poll_count_cycle(const mo_config *cfg, const char *stream, long long started_ms,
                             const char *result)
{
    mt_observe("mosync_poll_cycle_seconds", (double)(mo_now_ms() - started_ms) / 1000.0, "stream",
               stream, "tenant", cfg->tenant, NULL);
    mt_add("mosync_poll_cycles_total", 1, "result", result, "stream", stream, "tenant", cfg->tenant,
           NULL);
    mt_set(strcmp(result, "ok") ? "mosync_last_error_timestamp_seconds"
                                : "mosync_last_success_timestamp_seconds",
           (double)time(NULL), "stream", stream, "tenant", cfg->tenant, NULL);
}

int poll_loop(const mo_config *cfg, const char *stream, const poll_opts *opts, poll_cycle_fn cycle,
              void *ctx, unsigned long *failed_cycles)
{
    char errstr[512], component[64], holder[LS_TOKEN_MAX];
    long ttl_ms = cfg->lease_ttl_s * 1000L;
    int rc = 0, held = 0, was_held = 0, standing_by = 0;
    long long since = mo_now_ms();
    snprintf(component, sizeof(component), "poll.%s", stream);
    ls_lease *lease =
        ls_new(cfg->redis_url, cfg->tenant, stream, cfg->lease_ttl_s, errstr, sizeof(errstr));
    if (!lease) {
        lg_error(component, cfg->tenant, "cannot start: %s", errstr);
        return 1;
    }
    while (!mo_stop_requested()) {
        long wait_ms = 0;
        mo_err err =
            ls_acquire(lease, &held, holder, sizeof(holder), &wait_ms, errstr, sizeof(errstr));
        /* Unknown (Redis away) counts as not held: this process does not poll. */
        mt_set("mosync_lease_held", !err && held ? 1 : 0, "stream", stream, "tenant", cfg->tenant,
               NULL);
        if (err) {
            (*failed_cycles)++;
            lg_error(component, cfg->tenant, "cannot take the lease: %s", errstr);
            if (opts->once) {
                rc = 1;
                break;
            }
            mo_stop_sleep_ms(cfg_poll_interval(cfg, stream) * 1000L);
            continue;
        }
        if (!held) {
            if (was_held)
                lg_warn(component, cfg->tenant, "lost the lease to %s; standing by", holder);
            else if (!standing_by)
                lg_info(component, cfg->tenant, "standing by: %s holds the lease", holder);
            was_held = 0;
            standing_by = 1;
            if (opts->once && mo_now_ms() - since > ttl_ms + 2000) {
                lg_error(component, cfg->tenant, "%s holds the lease; not polling", holder);
                rc = 1;
                break;
            }
            /* Ask again just after it would expire (a renewal moves that on). */
            long ms = wait_ms + 50;
            mo_stop_sleep_ms(ms > ttl_ms / 2 ? ttl_ms / 2 : ms < 50 ? 50 : ms);
            continue;
        }
        if (!was_held)
            lg_info(component, cfg->tenant, "holding the lease (fence %lld)%s", ls_fence(lease),
                    standing_by ? "; taking over" : "");
        was_held = 1;
        standing_by = 0;
        long long cycle_start = mo_now_ms();
        err = cycle(ctx, lease, errstr, sizeof(errstr));
        poll_count_cycle(cfg, stream, cycle_start,
                         !err              ? "ok"
                         : !ls_held(lease) ? "lease_lost"
                                           : "failed");
        if (err && !ls_held(lease)) {
            /* Another poller took over: not a failure of this stream. */
            lg_warn(component, cfg->tenant, "cycle stopped: %s", errstr);
            if (opts->once) {
                rc = 1;
                break;
            }
            continue;
        }
        lr_note(cfg, component, err, errstr); /* for `mosync status` */
        /* The stream's API ("mystore-orders": mystore): a refused credential
         * is the tenant's, logged once a minute and shown by status. */
        char api[16];
        snprintf(api, sizeof(api), "%.*s", (int)strcspn(stream, "-"), stream);
        if (err == MO_ERR_CREDENTIAL)
            cr_refused(cfg, component, api, errstr);
        else if (!err)
            cr_accepted(cfg, component, api);
        if (err) {
            (*failed_cycles)++;
            if (err != MO_ERR_CREDENTIAL)
                lg_error(component, cfg->tenant, "cycle failed (%s): %s; cursor kept",
                         mo_err_name(err), errstr);
        }
        /* A malformed cursor needs a person: stop instead of failing forever. */
        if (opts->once || err == MO_ERR_INVALID) {
            rc = err ? 1 : 0;
            break;
        }
        /* An API that asked for a longer wait (Retry-After past what one call
         * sleeps) gets it before the next cycle. */
        long sleep_ms = cfg_poll_interval(cfg, stream) * 1000L, hint = mo_retry_hint_take();
        if (err && hint > sleep_ms) {
            lg_warn(component, cfg->tenant, "the API asked to wait %ld s; next cycle then",
                    hint / 1000);
            sleep_ms = hint;
        }
        mo_stop_sleep_ms(sleep_ms);
    }
    ls_free(lease); /* releases the lease */
    mt_set("mosync_lease_held", 0, "stream", stream, "tenant", cfg->tenant, NULL);
    return rc;
}
