/* The poll engine (see poll.h): one mechanism for every stream.
 *
 * A cycle scans the source's list of items changed since the window's start
 * and emits one event per new or changed item.  What it keeps in Redis:
 *
 *   mosync:{T}:cursor:<stream> = {"v": 2, "ts": <UTC s>, "vmax": <UTC s>,
 *       "pruned": <UTC s>, "failing": {"<id>": {"n", "u", "first", "c"}}}
 *     ts: where the last complete scan started, on the source's clock; the
 *     next window starts overlap_s before it.  vmax: the latest observation
 *     time used as a version (versions from the source's clock never go
 *     backwards).  failing: entities whose snapshot keeps failing (below).
 *     Small, and written once per cycle, not per page.
 *   mosync:{T}:seen:<stream> = hash {"<id>": "<fingerprint> <updated|-> <pass>"}
 *     What was emitted (or dead-lettered) and when it was last listed
 *     ("<scan start>.<pass>.<nonce>"), written a page at a time after Kafka
 *     acknowledged the page's events, fenced by the lease.  An item listed
 *     again with the same fingerprint costs no snapshot and no event.  Items
 *     without a usable id or time are kept under "#<fingerprint>" (their dead
 *     letter is sent once).  At most POLL_SEEN_MAX entries (see pe_page for
 *     what happens past it); entries the next window cannot list again are
 *     pruned after complete scans, and the hash expires with
 *     APPLIED_TTL_DAYS when the stream stops.
 *
 * Windows and clocks.  Every time is a UTC instant on the *source's* clock
 * (its Date header; probed before the first window), never the host's: a
 * host whose clock is off cannot move a window past a change.  The window
 * starts at the last complete scan's start minus the source's overlap (M1:
 * shop-local times repeat in the autumn fold); the cursor never moves past a
 * scan's start, so a long scan or a future-dated item loses nothing.
 *
 * A scan is complete only when it is proven complete.  A list paged by page
 * number (Mystore, M2: no order is guaranteed) can shift while it is read: an
 * item edited or deleted on an earlier page moves every later item, and one
 * is skipped.  So a scan is a series of passes over the same window.  A pass
 * that emitted an item the next window would not list again (updated before
 * it: a first scan, a lost cursor, an outage longer than the overlap) needs a
 * confirming pass; a pass confirms when it emits no such item and, if any
 * pass before it did, when it also saw the list hold still (no item listed
 * twice, links.last unchanged).  Confirming passes cost list requests only:
 * the seen map skips every snapshot.  After PE_MAX_PASSES the cycle ends
 * without moving the cursor, and the next cycle goes on from the seen map.
 * A list paged by id (Ongoing) cannot skip an item: one pass.
 *
 * Entity failures (pe_entity_failed) are classified by who must act: the
 * service (429, an unspent Retry-After, an outage) or the tenant (401/403)
 * end the cycle and count against no entity; the entity (an answer that makes
 * no sense, too large) is dead-lettered at once; a sub-resource failing while
 * the API answers the rest is tried again each cycle and dead-lettered after
 * MAX_ATTEMPTS cycles, the window reaching back to it meanwhile.
 *
 * Fencing.  The lease is checked before each request and each produce, the
 * seen map and the cursor are written fenced by its token, and every event
 * carries the lease's fence: a holder paused past its lease (SIGSTOP) that
 * still emits its old snapshot is dropped by the consumers, which keep the
 * equal version of the larger fence (ev_stale). */
#include "poll.h"
#include "credential.h"
#include "dlq.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "lastrun.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"
#include "stop.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PE_MAX_PASSES     6   /* passes of one cycle before it gives up confirming */
#define PE_PRUNE_CHUNK    500 /* seen entries looked at per HSCAN step */
#define PE_CURSOR_VERSION 2

typedef struct pe_ctx {
    const mo_config *cfg;
    pe_source *src;
    rs_store *rs;
    kq_producer *kp;
    ls_lease *lease; /* this cycle's lease; NULL for pe_emit_one */
    long long fence; /* what the events carry */
    int resync;      /* pe_emit_one: events carry the mosync.resync header */
    char topic[256];
    char component[64];
    char cursor_key[128];
    char seen_key[128];
    char cycle_id[64]; /* unique per cycle, also across processes: failures count once */
    /* this cycle */
    long long start;     /* the scan's start on the source's clock */
    long long prev_ts;   /* the last complete scan's start, -1 when none */
    long long next_from; /* where the next window will start: start - overlap */
    long long vmax;      /* the latest observation time used as a version */
    char pass_tag[48];   /* "<start>.<pass>.<nonce>": an entry listed in this pass */
    json_t *failing;     /* borrowed from the cycle */
    int pass_old;        /* emitted (or dead-lettered) items the next window would not list */
    int pass_moved;      /* the list showed it moved while this pass paged it */
    int seen_full;       /* the seen map is at POLL_SEEN_MAX */
    unsigned long listed, emitted, dead_lettered, cycles, failed_cycles, passes, unconfirmed;
} pe_ctx;

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

/* "YYYY-MM-DDTHH:MM:SSZ" of t into buf (>= 21 bytes). */
static void pe_utc(long long t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

mo_err pe_fingerprint(const json_t *v, char out[PE_HASH_HEX + 1])
{
    char hex[65];
    char *canon = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canon)
        return MO_ERR_NOMEM;
    sha256_hex(canon, strlen(canon), hex);
    free(canon);
    memcpy(out, hex, PE_HASH_HEX);
    out[PE_HASH_HEX] = '\0';
    return MO_OK;
}

/* The source's clock now: its last Date moved on by our monotonic clock. */
static long long pe_now(const pe_ctx *c)
{
    long long t = c->src->server_now(c->src->state);
    return t ? t : (long long)time(NULL);
}

/* ---- the seen map ---------------------------------------------------------- */

/* One entry, parsed: "<hash> <updated|-> <pass tag>". */
typedef struct pe_seen {
    int present;
    char hash[PE_HASH_HEX + 1];
    long long updated; /* PE_NO_TIME when "-" */
    char tag[48];
    long long listed; /* the scan start of the tag */
} pe_seen;

/* Parses an entry; a malformed one reads as absent (the item is emitted
 * again: the consumers absorb a duplicate). */
static void pe_seen_parse(const char *v, pe_seen *out)
{
    char h[32], u[32], tag[64];
    memset(out, 0, sizeof(*out));
    out->updated = PE_NO_TIME;
    if (!v || sscanf(v, "%31s %31s %63s", h, u, tag) != 3 || strlen(h) != PE_HASH_HEX ||
        strlen(tag) >= sizeof(out->tag))
        return;
    char *end;
    long long listed = strtoll(tag, &end, 10);
    if (end == tag || *end != '.')
        return;
    if (strcmp(u, "-")) {
        long long t = strtoll(u, &end, 10);
        if (end == u || *end)
            return;
        out->updated = t;
    }
    memcpy(out->hash, h, PE_HASH_HEX + 1);
    snprintf(out->tag, sizeof(out->tag), "%s", tag);
    out->listed = listed;
    out->present = 1;
}

static void pe_seen_format(const char *hash, long long updated, const char *tag, char *buf,
                           size_t size)
{
    if (updated == PE_NO_TIME)
        snprintf(buf, size, "%s - %s", hash, tag);
    else
        snprintf(buf, size, "%s %lld %s", hash, updated, tag);
}

/* ---- the cursor ------------------------------------------------------------- */

typedef struct pe_cursor {
    long long ts;     /* -1: no complete scan yet */
    long long vmax;   /* 0: none */
    long long pruned; /* 0: never */
    json_t *failing;  /* owned */
} pe_cursor;

/* Reads the cursor.  A cursor of mosync 0.1 ({"ts": "<shop-local time>" or
 * <UTC s>, "seen"/"fp"/"bad": {...}}) gives its ts (a shop-local one read in
 * MYSTORE_TIMEZONE) and nothing else: its maps are left, and the overlap
 * window is emitted once more (the consumers skip what they applied). */
static mo_err pe_cursor_load(pe_ctx *c, pe_cursor *cur, char *errstr, size_t errstr_size)
{
    json_t *doc = NULL;
    memset(cur, 0, sizeof(*cur));
    cur->ts = -1;
    mo_err err = rs_get_json(c->rs, c->cursor_key, &doc, errstr, errstr_size);
    if (err)
        return err;
    json_t *ts = json_object_get(doc, "ts"), *failing = json_object_get(doc, "failing");
    json_t *v = json_object_get(doc, "v");
    int bad = doc && !json_is_object(doc);
    if (!bad && json_is_integer(v) && json_integer_value(v) == PE_CURSOR_VERSION) {
        bad = (ts && !json_is_integer(ts)) || (failing && !json_is_object(failing));
        if (!bad) {
            cur->ts = ts ? (long long)json_integer_value(ts) : -1;
            cur->vmax = (long long)json_integer_value(json_object_get(doc, "vmax"));
            cur->pruned = (long long)json_integer_value(json_object_get(doc, "pruned"));
            cur->failing = failing ? json_copy(failing) : NULL;
        }
    } else if (!bad && doc) { /* mosync 0.1 */
        time_t t;
        if (json_is_integer(ts))
            cur->ts = (long long)json_integer_value(ts);
        else if (json_is_string(ts) && *json_string_value(ts) &&
                 !tz_local_to_utc_observed(c->cfg->mystore_timezone, json_string_value(ts),
                                           (time_t)pe_now(c), &t))
            cur->ts = (long long)t;
        else if (ts && !(json_is_string(ts) && !*json_string_value(ts)))
            bad = 1;
    }
    json_decref(doc);
    if (bad)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "cursor %s is malformed; fix or delete it", c->cursor_key);
    if (!cur->failing)
        cur->failing = json_object();
    return cur->failing ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

static mo_err pe_cursor_save(pe_ctx *c, const pe_cursor *cur, char *errstr, size_t errstr_size)
{
    json_t *doc =
        json_pack("{s:i, s:I, s:I, s:O}", "v", PE_CURSOR_VERSION, "vmax", (json_int_t)cur->vmax,
                  "pruned", (json_int_t)cur->pruned, "failing", cur->failing);
    if (doc && cur->ts >= 0)
        json_object_set_new(doc, "ts", json_integer((json_int_t)cur->ts));
    if (!doc)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mo_err err = poll_cursor_save(c->rs, c->lease, c->cursor_key, doc, errstr, errstr_size);
    json_decref(doc);
    return err;
}

/* ---- dead letters and failures ---------------------------------------------- */

/* Dead-letters one entity or listed item: bytes (the event, or the item as
 * listed) with the error class and attempts; id may be NULL (an item without
 * a usable id).  Waits for Kafka's acknowledgement. */
static mo_err pe_dead_letter(pe_ctx *c, const char *bytes, size_t len, const char *id, mo_err klass,
                             int attempts, const char *first_failure, const char *why)
{
    char key[256], errstr[256];
    dlq_ctx d = {.component = c->component,
                 .source = c->src->route,
                 .partition = -1,
                 .offset = -1,
                 .key = id ? ev_key(c->cfg->tenant, id, key, sizeof(key)) : NULL,
                 .error_class = klass,
                 .error = why,
                 .attempts = attempts,
                 .first_failure = first_failure};
    mo_err err = dlq_send(c->kp, c->cfg, &d, bytes, len, errstr, sizeof(errstr));
    if (err) {
        lg_error(c->component, c->cfg->tenant, "dead letter not delivered: %s", errstr);
        return err;
    }
    c->dead_lettered++;
    poll_count_dead_letter(c->cfg, c->component, klass);
    return MO_OK;
}

static mo_err pe_dead_letter_item(pe_ctx *c, const json_t *item, const char *id, mo_err klass,
                                  int attempts, const char *first_failure, const char *why)
{
    char *bytes = json_dumps(item, JSON_COMPACT);
    mo_err err = pe_dead_letter(c, bytes ? bytes : "", bytes ? strlen(bytes) : 0, id, klass,
                                attempts, first_failure, why);
    free(bytes);
    return err;
}

/* What a failed snapshot of entity `id` means (see the top of the file).
 * Returns an error that ends the cycle, or MO_OK with *outcome:
 *   PE_DONE     dead-lettered: counts as emitted for good (seen keeps it);
 *   PE_GONE     the entity no longer exists: nothing to emit, nothing kept;
 *   PE_RETRY    counted in `failing`, tried again next cycle. */
enum { PE_RETRY = 0, PE_DONE, PE_GONE };
static mo_err pe_entity_failed(pe_ctx *c, const json_t *item, const pe_item *it, mo_err failure,
                               long long failed_at, const char *why, int *outcome, char *errstr,
                               size_t errstr_size)
{
    pe_source *src = c->src;
    long status = src->last_status(src->state);
    long hint = mo_retry_hint_take();
    mo_err err;
    *outcome = PE_RETRY;
    if (hint > 0)
        mo_retry_hint_set(hint); /* for poll_loop: wait that long before the next cycle */
    /* The tenant (a refused credential: kept as such, for status and the
     * logs) or the service (the budget, an outage of the API or of Redis):
     * no entity is to blame. */
    if (failure == MO_ERR_NOMEM || failure == MO_ERR_CREDENTIAL)
        return mo_seterr(failure, errstr, errstr_size, "%s", why);
    if (mo_stop_requested() || status == 401 || status == 403 || status == 429 || hint > 0 ||
        (failure == MO_ERR_TRANSIENT &&
         (rs_outage_since(failed_at) || !src->up_since(src->state, failed_at))))
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s", why);
    /* The entity's answer makes no sense, or can never fit: its own fault. */
    if (failure == MO_ERR_INVALID || failure == MO_ERR_TOO_LARGE) {
        if ((err = pe_dead_letter_item(c, item, it->id, failure, 1, NULL, why)))
            return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
        json_object_del(c->failing, it->id);
        *outcome = PE_DONE;
        return MO_OK;
    }
    /* A sub-resource that is gone: when the entity itself is gone (deleted
     * while the scan ran) there is nothing to emit; else the entity's
     * answer makes no sense, dead-lettered at once. */
    if (failure == MO_ERR_PERMANENT && (status == 404 || status == 410)) {
        json_t *now = NULL;
        char ferr[256];
        if ((err = src->fetch_one(src->state, it->id, &now, ferr, sizeof(ferr))))
            return mo_seterr(err, errstr, errstr_size, "%s", ferr);
        json_decref(now);
        if (!now) {
            lg_info(c->component, c->cfg->tenant, "%s %s no longer exists; not emitted",
                    src->event_type, it->id);
            json_object_del(c->failing, it->id);
            *outcome = PE_GONE;
            return MO_OK;
        }
        if ((err = pe_dead_letter_item(c, item, it->id, failure, 1, NULL, why)))
            return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
        json_object_del(c->failing, it->id);
        *outcome = PE_DONE;
        return MO_OK;
    }

    json_t *f = json_object_get(c->failing, it->id);
    char now[32];
    pe_utc((long long)time(NULL), now, sizeof(now));
    if (!json_is_object(f)) {
        f = json_pack("{s:i, s:s}", "n", 0, "first", now);
        if (!f || json_object_set_new(c->failing, it->id, f))
            return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    const char *first = json_string_value(json_object_get(f, "first"));
    json_int_t n =
        json_integer_value(json_object_get(f, "n")) + 1; /* once per cycle: see pe_page */
    json_object_set_new(f, "n", json_integer(n));
    json_object_set_new(
        f, "u", it->updated == PE_NO_TIME ? json_null() : json_integer((json_int_t)it->updated));
    json_object_set_new(f, "c", json_string(c->cycle_id));
    if (n < c->cfg->max_attempts) {
        lg_warn(c->component, c->cfg->tenant,
                "%s %s failed (%" JSON_INTEGER_FORMAT " of %d cycles): %s; the others go on",
                src->event_type, it->id, n, c->cfg->max_attempts, why);
        return MO_OK;
    }
    lg_error(c->component, c->cfg->tenant,
             "%s %s failed %" JSON_INTEGER_FORMAT " cycles in a row: %s; dead-lettered",
             src->event_type, it->id, n, why);
    if ((err = pe_dead_letter_item(c, item, it->id, failure, (int)n, first ? first : now, why)))
        return mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
    json_object_del(c->failing, it->id);
    *outcome = PE_DONE;
    return MO_OK;
}

/* ---- one page ---------------------------------------------------------------- */

/* What pe_page decided for one listed item. */
typedef struct pe_slot {
    pe_item it;
    char field[PE_ID_MAX + 2]; /* the seen field: the id, or "#<hash>" for a bad item */
    int bad;                   /* no usable id or time */
    int write;                 /* its seen entry is written after the page */
    char *event;               /* produced, until the page's wait (owned) */
} pe_slot;

/* The event of one item: the envelope with the snapshot, its version and the
 * fence.  *bytes new (free()). */
static mo_err pe_event(pe_ctx *c, const pe_item *it, long long obs, json_t *snapshot, char **bytes,
                       char *errstr, size_t errstr_size)
{
    char version[32];
    long long v;
    if (it->updated != PE_NO_TIME) {
        /* Never later than when the item was observed: a future-dated time
         * would make every real change after it look stale. */
        v = it->updated < obs ? it->updated : obs;
        if (it->updated > obs)
            lg_warn(c->component, c->cfg->tenant,
                    "%s %s is stamped %s, %lld s ahead of the source's clock: its version is "
                    "the time it was observed, and the cursor stays at the scan's start",
                    c->src->event_type, it->id, it->updated_text, it->updated - obs);
    } else {
        /* The observation time, never before one used already. */
        v = obs > c->vmax ? obs : c->vmax;
        c->vmax = v;
    }
    pe_utc(v, version, sizeof(version));
    json_t *ev = ev_new(c->src->event_type, c->cfg->tenant, it->id, version, snapshot);
    if (ev)
        ev_set_fence(ev, c->fence);
    *bytes = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return *bytes ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

/* Produces one event (tagged with its slot), checking the lease first: a
 * holder that lost it must not emit.  The headers say a resync. */
static mo_err pe_produce(pe_ctx *c, kq_batch *batch, const pe_item *it, const char *bytes, int tag,
                         char *errstr, size_t errstr_size)
{
    char key[256];
    mo_err err;
    if (c->lease && (err = poll_lease_check(c->lease, errstr, errstr_size)))
        return err;
    mo_pause_point("poll-before-produce");
    rd_kafka_headers_t *hdrs = NULL;
    if (c->resync) {
        hdrs = rd_kafka_headers_new(1);
        if (!hdrs)
            return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        rd_kafka_header_add(hdrs, "mosync.resync", -1, "1", 1);
    }
    return kq_produce_tagged(c->kp, batch, c->topic,
                             ev_key(c->cfg->tenant, it->id, key, sizeof(key)), bytes, strlen(bytes),
                             hdrs, tag, errstr, errstr_size);
}

/* Handles one listed page (items borrowed), observed at obs: decides per item
 * from the seen map, snapshots and emits what changed, waits for Kafka, then
 * writes the page's seen entries. */
static mo_err pe_page(pe_ctx *c, json_t *items, long long obs, char *errstr, size_t errstr_size)
{
    pe_source *src = c->src;
    size_t n = json_array_size(items);
    pe_slot *slot = calloc(n ? n : 1, sizeof(*slot));
    const char **fields = calloc(n ? n : 1, sizeof(*fields));
    const char **values = calloc(n ? n : 1, sizeof(*values));
    char(*vbuf)[128] = calloc(n ? n : 1, sizeof(*vbuf));
    json_t *stored = NULL;
    kq_batch batch;
    mo_err err = MO_OK;
    int begun = 0;

    if (!slot || !fields || !values || !vbuf) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(items, i);
        char why[256];
        c->listed++;
        if (src->describe(src->state, item, obs, &slot[i].it, why, sizeof(why)) == MO_OK) {
            snprintf(slot[i].field, sizeof(slot[i].field), "%s", slot[i].it.id);
        } else {
            /* Keyed by its id when that is usable (a bad time), else by
             * its hash; either way dead-lettered once. */
            char hash[PE_HASH_HEX + 1];
            if ((err = pe_fingerprint(item, hash))) {
                mo_seterr(err, errstr, errstr_size, "out of memory");
                goto out;
            }
            slot[i].bad = 1;
            memcpy(slot[i].it.hash, hash, sizeof(hash));
            slot[i].it.updated = PE_NO_TIME;
            if (slot[i].it.id[0])
                snprintf(slot[i].field, sizeof(slot[i].field), "%s", slot[i].it.id);
            else
                snprintf(slot[i].field, sizeof(slot[i].field), "#%s", hash);
        }
        fields[i] = slot[i].field;
    }
    if ((err = rs_hmget(c->rs, c->seen_key, fields, (int)n, &stored, errstr, errstr_size)))
        goto out;

    kq_batch_begin(&batch);
    begun = 1;
    for (size_t i = 0; i < n && !err; i++) {
        json_t *item = json_array_get(items, i);
        pe_slot *s = &slot[i];
        pe_seen prev;
        pe_seen_parse(json_string_value(json_array_get(stored, i)), &prev);
        if (s->bad) {
            /* Dead-lettered once: seen keeps its hash while it is listed. */
            if (!prev.present || strcmp(prev.hash, s->it.hash)) {
                char why[256];
                pe_item ignored;
                src->describe(src->state, item, obs, &ignored, why, sizeof(why));
                if ((err = pe_dead_letter_item(c, item, s->it.id[0] ? s->it.id : NULL,
                                               MO_ERR_INVALID, 1, NULL, why)))
                    mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
            }
            s->write = 1;
            continue;
        }
        /* Listed twice in this pass: the list moved while it was paged. */
        int twice = prev.present && !strcmp(prev.tag, c->pass_tag);
        for (size_t j = 0; j < i && !twice; j++)
            twice = !slot[j].bad && !strcmp(slot[j].it.id, s->it.id);
        if (twice) {
            c->pass_moved = 1;
            continue;
        }
        const char *tried =
            json_string_value(json_object_get(json_object_get(c->failing, s->it.id), "c"));
        if (tried && !strcmp(tried, c->cycle_id))
            continue; /* failed already in this cycle: once per cycle */
        if (prev.present && !strcmp(prev.hash, s->it.hash)) {
            s->write = 1; /* unchanged: listed again */
            continue;
        }
        /* The seen map is full: an item it does not know counts as emitted
         * when the last complete scan must have listed it (its time is
         * before that scan's start); the entry is not added. */
        if (!prev.present && c->seen_full && c->prev_ts >= 0 && s->it.updated != PE_NO_TIME &&
            s->it.updated < c->prev_ts)
            continue;

        /* A snapshot costs requests: only while this poller holds the lease. */
        if (c->lease && (err = poll_lease_check(c->lease, errstr, errstr_size)))
            break;
        json_t *snapshot = NULL;
        char why[512];
        long long failed_at = mo_now_ms();
        mo_err serr = src->snapshot(src->state, s->it.id, item, &snapshot, why, sizeof(why));
        int old = s->it.updated == PE_NO_TIME || s->it.updated < c->next_from;
        if (serr) {
            int outcome;
            if ((err = pe_entity_failed(c, item, &s->it, serr, failed_at, why, &outcome, errstr,
                                        errstr_size)))
                break;
            if (outcome == PE_DONE) {
                s->write = 1;
                c->pass_old += old;
            }
            continue;
        }
        json_object_del(c->failing, s->it.id);
        if ((err = pe_event(c, &s->it, obs, snapshot, &s->event, errstr, errstr_size)))
            break;
        mo_err perr = pe_produce(c, &batch, &s->it, s->event, (int)i, errstr, errstr_size);
        if (perr == MO_ERR_TOO_LARGE) {
            /* Bigger than Kafka takes: this entity's problem, not the stream's. */
            char reason[512];
            snprintf(reason, sizeof(reason), "%s", errstr);
            if ((err = pe_dead_letter(c, s->event, strlen(s->event), s->it.id, MO_ERR_TOO_LARGE, 1,
                                      NULL, reason)))
                mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
            free(s->event);
            s->event = NULL;
            s->write = 1;
            c->pass_old += old;
            continue;
        }
        if ((err = perr))
            break;
        s->write = 1;
        c->pass_old += old;
    }

    /* Wait for every report, also after an error: only what Kafka has may
     * enter the seen map. */
    char why[256];
    mo_err werr = kq_batch_wait(c->kp, &batch, 60000, why, sizeof(why));
    begun = 0;
    poll_count_produced(c->cfg, src->stream, batch.delivered);
    int failed_unknown = batch.failed > batch.ntagged; /* which ones is not known */
    for (int k = 0; k < batch.ntagged; k++) {
        pe_slot *s = &slot[batch.tag[k]];
        s->write = 0;
        if (batch.tag_err[k] == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !err && s->event) {
            /* The broker refused it as too large: dead-lettered (cut to fit). */
            char reason[256];
            snprintf(reason, sizeof(reason), "the broker refused the event as too large: %s",
                     rd_kafka_err2str(batch.tag_err[k]));
            if ((err = pe_dead_letter(c, s->event, strlen(s->event), s->it.id, MO_ERR_TOO_LARGE, 1,
                                      NULL, reason)))
                mo_seterr(err, errstr, errstr_size, "dead letter not delivered");
            else
                s->write = 1;
        } else if (!err) {
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s", batch.first_error);
        }
    }
    if (!err && werr && (failed_unknown || batch.delivered + batch.failed < batch.produced)) {
        err = werr;
        snprintf(errstr, errstr_size, "%s", why);
    }
    c->emitted += (unsigned long)batch.delivered;
    if (failed_unknown || batch.delivered + batch.failed < batch.produced)
        for (size_t i = 0; i < n; i++)
            if (slot[i].event)
                slot[i].write = 0; /* not known to be delivered */
    mo_crash_point("poll-after-produce");

    /* The page's entries, also after an error: what was delivered and the
     * dead letters sent stay decided. */
    int nw = 0;
    for (size_t i = 0; i < n; i++) {
        pe_slot *s = &slot[i];
        if (!s->write)
            continue;
        pe_seen_format(s->it.hash, s->it.updated, c->pass_tag, vbuf[nw], sizeof(vbuf[nw]));
        fields[nw] = s->field;
        values[nw] = vbuf[nw];
        nw++;
    }
    if (nw && c->lease) {
        int written = 0;
        long long len = 0;
        char serr_text[256];
        mo_err serr =
            rs_hset_fenced(c->rs, c->seen_key, fields, values, nw, c->cfg->poll_seen_max,
                           cfg_applied_ttl_s(c->cfg), ls_suffix(c->lease), ls_token(c->lease),
                           &written, &len, serr_text, sizeof(serr_text));
        if (!serr && !written) {
            ls_lost(c->lease);
            serr = mo_seterr(MO_ERR_TRANSIENT, serr_text, sizeof(serr_text),
                             "lost the lease (%s): another poller holds it; seen map not written",
                             ls_suffix(c->lease));
        }
        if (serr && !err) {
            err = serr;
            snprintf(errstr, errstr_size, "%s", serr_text);
        }
        if (!serr && len >= c->cfg->poll_seen_max && !c->seen_full) {
            c->seen_full = 1;
            lg_warn(c->component, c->cfg->tenant,
                    "the seen map holds %lld entries (POLL_SEEN_MAX %d): items it does not know "
                    "are now judged by their time, and a scan cannot be confirmed by a second "
                    "pass",
                    len, c->cfg->poll_seen_max);
        }
    }
out:
    if (begun)
        kq_batch_end(&batch);
    for (size_t i = 0; slot && i < n; i++)
        free(slot[i].event);
    json_decref(stored);
    free(slot);
    free(fields);
    free(values);
    free(vbuf);
    return err;
}

/* ---- the scan ---------------------------------------------------------------- */

/* One pass over every list of the source from `from`. */
static mo_err pe_pass(pe_ctx *c, long long from, char *errstr, size_t errstr_size)
{
    pe_source *src = c->src;
    mo_err err = MO_OK;
    for (int which = 0; which < src->nlists && !err; which++) {
        pe_pos pos;
        memset(&pos, 0, sizeof(pos));
        for (;;) {
            json_t *items = NULL;
            int more = 0;
            if ((err = poll_lease_check(c->lease, errstr, errstr_size)) ||
                (err = src->list_page(src->state, which, from, c->start, &pos, &items, &more,
                                      errstr, errstr_size)))
                break;
            size_t n = json_array_size(items);
            err = pe_page(c, items, pe_now(c), errstr, errstr_size);
            json_decref(items);
            if (!err && pos.stuck)
                err = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                                "%s: a full page of %zu items without a usable id after %lld; "
                                "paging cannot go on",
                                src->route, n, pos.next);
            if (err || !more)
                break;
        }
        c->pass_moved |= pos.moved;
    }
    return err;
}

/* The failing entities this cycle's scan did not list: each is read by id
 * and handled as if listed (gone: dropped), so one that no longer matches the
 * window is not kept in `failing` for ever. */
static mo_err pe_failing_unlisted(pe_ctx *c, char *errstr, size_t errstr_size)
{
    pe_source *src = c->src;
    json_t *items = json_array();
    const char *id;
    json_t *f, *tmp;
    mo_err err = MO_OK;
    if (!items)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    json_object_foreach_safe(c->failing, tmp, id, f)
    {
        const char *cid = json_string_value(json_object_get(f, "c"));
        if (cid && !strcmp(cid, c->cycle_id))
            continue;
        json_t *item = NULL;
        if ((err = src->fetch_one(src->state, id, &item, errstr, errstr_size)))
            break;
        if (!item) {
            lg_warn(c->component, c->cfg->tenant,
                    "%s %s failed before and no longer exists; no longer tried", src->event_type,
                    id);
            json_object_del(c->failing, id);
            continue;
        }
        json_array_append_new(items, item);
    }
    if (!err && json_array_size(items))
        err = pe_page(c, items, pe_now(c), errstr, errstr_size);
    json_decref(items);
    return err;
}

/* Forgets the seen entries the next window cannot list again: not listed by
 * this complete scan, and changed before the next window starts (or with no
 * time of their own).  Step by step (HSCAN), each deletion fenced. */
static mo_err pe_prune(pe_ctx *c, char *errstr, size_t errstr_size)
{
    char cursor[32] = "0", next[32];
    unsigned long pruned = 0;
    do {
        json_t *page = NULL;
        mo_err err =
            rs_hscan(c->rs, c->seen_key, cursor, PE_PRUNE_CHUNK, next, &page, errstr, errstr_size);
        if (err)
            return err;
        const char **gone = calloc(json_object_size(page) + 1, sizeof(*gone));
        int ngone = 0;
        const char *field;
        json_t *v;
        json_object_foreach(page, field, v)
        {
            pe_seen e;
            pe_seen_parse(json_string_value(v), &e);
            if (!e.present ||
                (e.listed < c->start && (e.updated == PE_NO_TIME || e.updated < c->next_from)))
                if (gone)
                    gone[ngone++] = field;
        }
        int written = 1;
        if (!gone)
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        else if (ngone)
            err = rs_hdel_fenced(c->rs, c->seen_key, gone, ngone, ls_suffix(c->lease),
                                 ls_token(c->lease), &written, errstr, errstr_size);
        free(gone);
        json_decref(page);
        if (!err && !written) {
            ls_lost(c->lease);
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "lost the lease (%s)",
                            ls_suffix(c->lease));
        }
        if (err)
            return err;
        pruned += (unsigned long)ngone;
        snprintf(cursor, sizeof(cursor), "%s", next);
    } while (strcmp(cursor, "0"));
    if (pruned)
        lg_debug(c->component, c->cfg->tenant,
                 "seen map: %lu entries the next window cannot "
                 "list again forgotten",
                 pruned);
    return MO_OK;
}

/* One poll cycle.  Returns MO_OK (the scan complete and the cursor moved, or
 * not yet confirmed and the cursor kept), or an error after which nothing
 * unacknowledged entered the cursor or the seen map. */
static mo_err pe_cycle(void *vctx, ls_lease *lease, char *errstr, size_t errstr_size)
{
    pe_ctx *c = vctx;
    pe_source *src = c->src;
    pe_cursor cur;
    mo_err err;

    c->cycles++;
    c->lease = lease;
    c->fence = ls_fence(lease);
    c->seen_full = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(c->cycle_id, sizeof(c->cycle_id), "%lld.%09ld-%ld-%lu", (long long)now.tv_sec,
             now.tv_nsec, (long)getpid(), c->cycles);
    if ((err = pe_cursor_load(c, &cur, errstr, errstr_size)))
        return err;
    c->failing = cur.failing;
    json_t *loaded = json_deep_copy(cur.failing);
    long long loaded_vmax = cur.vmax, loaded_ts = cur.ts;
    /* The window is computed on the source's clock: pe_source_begin asks it
     * when no answer gave it yet. */
    if ((err = pe_source_begin(src, errstr, errstr_size)))
        goto out;
    c->start = pe_now(c);
    c->prev_ts = cur.ts;
    c->vmax = cur.vmax;
    c->next_from = c->start - src->overlap_s;

    /* The window: from the last complete scan's start (never later than this
     * one's), minus the overlap; without one, the source's lookback. */
    long long from;
    if (cur.ts >= 0) {
        from = (cur.ts < c->start ? cur.ts : c->start) - src->overlap_s;
    } else {
        long lb = src->lookback_s(src->state);
        from = lb < 0 ? -1 : c->start - lb;
        lg_info(c->component, c->cfg->tenant, "no cursor yet; %s",
                lb < 0 ? "reading everything" : "starting from the lookback");
    }
    /* Failing entities keep the window reaching back to them. */
    const char *fid;
    json_t *f;
    json_object_foreach(c->failing, fid, f)
    {
        json_t *u = json_object_get(f, "u");
        if (from >= 0 && json_is_integer(u) && json_integer_value(u) < from)
            from = (long long)json_integer_value(u);
    }

    int confirmed = 0, scan_old = 0;
    for (int pass = 1; pass <= PE_MAX_PASSES && !confirmed; pass++) {
        c->passes++;
        c->pass_old = c->pass_moved = 0;
        /* Unique to this pass of this cycle, also when two cycles start
         * within one second of the source's clock. */
        snprintf(c->pass_tag, sizeof(c->pass_tag), "%lld.%d.%08x", c->start, pass,
                 (unsigned)(now.tv_nsec ^ (long)getpid() << 12 ^ (long)c->cycles << 24));
        if ((err = pe_pass(c, from, errstr, errstr_size)))
            goto out;
        if (src->stable_paging || c->seen_full || (!c->pass_old && (!scan_old || !c->pass_moved)))
            confirmed = 1;
        if (confirmed && !src->stable_paging && c->seen_full && (scan_old || c->pass_old))
            lg_warn(c->component, c->cfg->tenant,
                    "scan taken as complete without a confirming pass: the seen map is full");
        scan_old += c->pass_old;
        if (!confirmed)
            lg_info(c->component, c->cfg->tenant,
                    "pass %d %s; reading the list again to confirm the scan", pass,
                    c->pass_moved ? "saw the list move while it was paged"
                                  : "emitted items older than the overlap");
    }
    if (!confirmed) {
        c->unconfirmed++;
        lg_warn(c->component, c->cfg->tenant,
                "scan not confirmed after %d passes (the list kept changing); the cursor stays, "
                "the next cycle goes on",
                PE_MAX_PASSES);
    } else {
        if ((err = pe_failing_unlisted(c, errstr, errstr_size)))
            goto out;
        if (c->start - cur.pruned >= src->overlap_s / 2) {
            if ((err = pe_prune(c, errstr, errstr_size)))
                goto out;
            cur.pruned = c->start;
        }
        cur.ts = c->start;
    }
out:
    cur.vmax = c->vmax;
    /* Also after a failure: the failures counted and the versions used stay
     * decided (the time moves only when the scan is complete).  A cycle that
     * changed nothing writes nothing. */
    if (cur.ts != loaded_ts || cur.vmax != loaded_vmax || !json_equal(loaded, cur.failing)) {
        char why[256];
        mo_err serr = pe_cursor_save(c, &cur, why, sizeof(why));
        if (!err && serr)
            err = mo_seterr(serr, errstr, errstr_size, "%s", why);
    }
    json_decref(loaded);
    json_decref(cur.failing);
    c->failing = NULL;
    return err;
}

/* ---- running a stream ----------------------------------------------------------- */

/* Readies c for src's cycles; producing with kp (borrowed), or with a
 * producer of its own when kp is NULL (freed by the caller: kq_producer_free
 * of c->kp). */
static mo_err pe_ctx_open(pe_ctx *c, const mo_config *cfg, pe_source *src, rs_store *rs,
                          kq_producer *kp, char *errstr, size_t errstr_size)
{
    c->cfg = cfg;
    c->src = src;
    c->rs = rs;
    snprintf(c->component, sizeof(c->component), "poll.%s", src->stream);
    snprintf(c->cursor_key, sizeof(c->cursor_key), "cursor:%s", src->stream);
    snprintf(c->seen_key, sizeof(c->seen_key), "seen:%s", src->stream);
    cfg_topic(cfg, src->topic_base, c->topic, sizeof(c->topic));
    c->kp = kp ? kp : pe_producer_new(cfg, src->stream, errstr, errstr_size);
    return c->kp ? MO_OK : MO_ERR_CONFIG;
}

kq_producer *pe_producer_new(const mo_config *cfg, const char *stream, char *errstr,
                             size_t errstr_size)
{
    char client_id[128];
    snprintf(client_id, sizeof(client_id), "mosync-poll-%s", stream);
    return kq_producer_new(cfg, client_id, errstr, errstr_size);
}

mo_err pe_run_cycle(const mo_config *cfg, const char *stream, rs_store *rs, kq_producer *kp,
                    ls_lease *lease, pe_clock *clock, pe_cycle_stats *st, char *errstr,
                    size_t errstr_size)
{
    pe_ctx c;
    pe_source src;
    memset(&c, 0, sizeof(c));
    long long started = mo_now_ms();
    mo_err err = pe_source_open(cfg, stream, rs, &src, errstr, errstr_size);
    if (err)
        return err;
    if (clock && src.http)
        hc_clock_set(src.http(src.state), clock->date, clock->at_ms);
    if (!(err = pe_ctx_open(&c, cfg, &src, rs, kp, errstr, errstr_size))) {
        err = pe_cycle(&c, lease, errstr, errstr_size);
        poll_cycle_end(cfg, stream, started, lease, err, errstr);
    }
    if (clock && src.http)
        hc_clock_get(src.http(src.state), &clock->date, &clock->at_ms);
    if (st) {
        st->listed += c.listed;
        st->emitted += c.emitted;
        st->dead_lettered += c.dead_lettered;
        st->requests += src.requests ? src.requests(src.state) : 0;
    }
    pe_source_close(&src);
    return err;
}

mo_err pe_source_open(const mo_config *cfg, const char *stream, rs_store *rs, pe_source *src,
                      char *errstr, size_t errstr_size)
{
    memset(src, 0, sizeof(*src));
    if (!strncmp(stream, "mystore-", 8))
        return pm_source_open(cfg, stream, rs, src, errstr, errstr_size);
    if (!strncmp(stream, "ongoing-", 8))
        return pg_source_open(cfg, stream, rs, src, errstr, errstr_size);
    return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "unknown stream '%s'", stream);
}

mo_err pe_source_begin(pe_source *src, char *errstr, size_t errstr_size)
{
    mo_err err;
    if (src->begin_cycle && (err = src->begin_cycle(src->state, errstr, errstr_size)))
        return err;
    return src->server_now(src->state) ? MO_OK : src->probe_clock(src->state, errstr, errstr_size);
}

void pe_source_close(pe_source *src)
{
    if (src && src->close)
        src->close(src->state);
    if (src)
        memset(src, 0, sizeof(*src));
}

int pe_main(const mo_config *cfg, const char *stream, const poll_opts *opts)
{
    char errstr[512], component[64];
    pe_ctx c;
    pe_source src;
    int rc = 1;
    memset(&c, 0, sizeof(c));
    memset(&src, 0, sizeof(src));
    snprintf(component, sizeof(component), "poll.%s", stream);
    rs_store *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!rs) {
        lg_error(component, cfg->tenant, "%s", errstr);
        return 2;
    }
    if (pe_source_open(cfg, stream, rs, &src, errstr, sizeof(errstr)) ||
        pe_ctx_open(&c, cfg, &src, rs, opts->kp, errstr, sizeof(errstr))) {
        lg_error(component, cfg->tenant, "cannot start: %s", errstr);
        goto out;
    }
    lg_info(component, cfg->tenant, "polling %s every %d s", src.noun,
            cfg_poll_interval(cfg, stream));
    rc = poll_loop(cfg, stream, opts, pe_cycle, &c, &c.failed_cycles);
    json_t *sum =
        json_pack("{s:s+, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "command", "poll ", stream, "cycles",
                  (json_int_t)c.cycles, "failed_cycles", (json_int_t)c.failed_cycles, "passes",
                  (json_int_t)c.passes, "unconfirmed_cycles", (json_int_t)c.unconfirmed, "listed",
                  (json_int_t)c.listed, "emitted", (json_int_t)c.emitted, "dead_lettered",
                  (json_int_t)c.dead_lettered);
    char key[96];
    if (sum) {
        snprintf(key, sizeof(key), "%s_listed", src.noun);
        json_object_set_new(sum, key, json_integer((json_int_t)c.listed));
        snprintf(key, sizeof(key), "%s_emitted", src.noun);
        json_object_set_new(sum, key, json_integer((json_int_t)c.emitted));
        snprintf(key, sizeof(key), "%s_requests", src.api);
        json_object_set_new(sum, key, json_integer((json_int_t)src.requests(src.state)));
        if (src.summary)
            src.summary(src.state, sum);
        char *line = json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(sum);
    }
    fflush(stdout);
out:
    if (!opts->kp) /* the shared one is its owner's */
        kq_producer_free(c.kp);
    pe_source_close(&src);
    rs_close(rs);
    return rc;
}

int poll_mystore_orders(const mo_config *cfg, const poll_opts *opts)
{
    return pe_main(cfg, "mystore-orders", opts);
}

int poll_mystore_products(const mo_config *cfg, const poll_opts *opts)
{
    return pe_main(cfg, "mystore-products", opts);
}

int poll_ongoing_shipments(const mo_config *cfg, const poll_opts *opts)
{
    return pe_main(cfg, "ongoing-shipments", opts);
}

int poll_ongoing_stock(const mo_config *cfg, const poll_opts *opts)
{
    if (!cfg->stock_sync) {
        lg_info("poll.ongoing-stock", cfg->tenant,
                "stock sync is off (STOCK_SYNC is not 'on'); not polling Ongoing stock");
        return 0;
    }
    return pe_main(cfg, "ongoing-stock", opts);
}

/* ---- resync ------------------------------------------------------------------- */

mo_err pe_emit_one(const mo_config *cfg, pe_source *src, rs_store *rs, kq_producer *kp,
                   const char *id, int *found, char *errstr, size_t errstr_size)
{
    pe_ctx c;
    json_t *item = NULL, *snapshot = NULL, *fence = NULL;
    char *bytes = NULL, suffix[160], why[512];
    kq_batch batch;
    mo_err err;
    memset(&c, 0, sizeof(c));
    *found = 0;
    c.cfg = cfg;
    c.src = src;
    c.rs = rs;
    c.resync = 1;
    snprintf(c.component, sizeof(c.component), "resync.%s", src->flow);
    cfg_topic(cfg, src->topic_base, c.topic, sizeof(c.topic));
    /* The stream's fence as it stands: a newer holder's events still win an
     * equal version, none from before lose to this one. */
    snprintf(suffix, sizeof(suffix), "lease:%s:fence", src->stream);
    if ((err = rs_get_json(rs, suffix, &fence, errstr, errstr_size)))
        return err;
    c.fence = json_is_integer(fence) ? (long long)json_integer_value(fence) : 0;
    json_decref(fence);
    if ((err = src->fetch_one(src->state, id, &item, errstr, errstr_size)) || !item)
        return err;
    *found = 1;
    long long obs = pe_now(&c);
    pe_item it;
    if ((err = src->describe(src->state, item, obs, &it, why, sizeof(why)))) {
        mo_seterr(err, errstr, errstr_size, "%s", why);
        goto out;
    }
    if ((err = src->snapshot(src->state, it.id, item, &snapshot, errstr, errstr_size)))
        goto out;
    c.vmax = obs;
    if ((err = pe_event(&c, &it, obs, snapshot, &bytes, errstr, errstr_size)))
        goto out;
    c.kp = kp;
    kq_batch_begin(&batch);
    if ((err = pe_produce(&c, &batch, &it, bytes, 0, errstr, errstr_size))) {
        kq_batch_end(&batch);
        goto out;
    }
    err = kq_batch_wait(c.kp, &batch, 0, errstr, errstr_size);
out:
    free(bytes);
    json_decref(item);
    return err;
}

int poll_resync(const mo_config *cfg, const char *flow, char **ids, int nids)
{
    static const struct {
        const char *flow, *stream;
    } streams[] = {{"orders", "mystore-orders"},
                   {"articles", "mystore-products"},
                   {"deliveries", "ongoing-shipments"},
                   {"stock", "ongoing-stock"}};
    const char *stream = NULL;
    char errstr[512];
    int rc = 0, emitted = 0, missing = 0, failed = 0;
    for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
        if (!strcmp(flow, streams[i].flow))
            stream = streams[i].stream;
    if (!stream || nids < 1) {
        fprintf(stderr, "usage: mosync resync orders|articles|deliveries|stock <id>...\n");
        return 2;
    }
    if (!strcmp(flow, "stock") && !cfg->stock_sync) {
        fprintf(stderr, "mosync resync stock: stock sync is off (STOCK_SYNC is not 'on')\n");
        return 2;
    }
    rs_store *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!rs) {
        fprintf(stderr, "mosync resync: %s\n", errstr);
        return 2;
    }
    pe_source src;
    if (pe_source_open(cfg, stream, rs, &src, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync resync: %s\n", errstr);
        rs_close(rs);
        return 1;
    }
    kq_producer *kp = NULL;
    if (pe_source_begin(&src, errstr, sizeof(errstr)) ||
        !(kp = kq_producer_new(cfg, "mosync-resync", errstr, sizeof(errstr)))) {
        fprintf(stderr, "mosync resync: %s\n", errstr);
        pe_source_close(&src);
        rs_close(rs);
        return 1;
    }
    for (int i = 0; i < nids && !mo_stop_requested(); i++) {
        int found = 0;
        mo_err err = pe_emit_one(cfg, &src, rs, kp, ids[i], &found, errstr, sizeof(errstr));
        if (err) {
            failed++;
            fprintf(stderr, "%s %s: not emitted: %s\n", flow, ids[i], errstr);
        } else if (!found) {
            missing++;
            fprintf(stderr, "%s %s: the source has no such entity\n", flow, ids[i]);
        } else {
            emitted++;
            lg_info("resync", cfg->tenant, "%s %s read again and emitted", flow, ids[i]);
        }
    }
    printf("{\"command\":\"resync %s\",\"emitted\":%d,\"not_found\":%d,\"failed\":%d}\n", flow,
           emitted, missing, failed);
    fflush(stdout);
    rc = failed || missing ? 1 : 0;
    kq_producer_free(kp);
    pe_source_close(&src);
    rs_close(rs);
    return rc;
}

/* ---- the loop ------------------------------------------------------------------ */

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

/* After a failed cycle, the least time before a webhook's trigger may start
 * the next one (the interval still applies when shorter). */
#define POLL_RETRY_QUIET_MS   5000
#define POLL_REFUSED_QUIET_MS 30000

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

void poll_cycle_end(const mo_config *cfg, const char *stream, long long started_ms, ls_lease *lease,
                    mo_err err, const char *errstr)
{
    char component[64];
    snprintf(component, sizeof(component), "poll.%s", stream);
    poll_count_cycle(cfg, stream, started_ms,
                     !err              ? "ok"
                     : !ls_held(lease) ? "lease_lost"
                                       : "failed");
    if (err && !ls_held(lease)) {
        /* Another poller took over: not a failure of this stream. */
        lg_warn(component, cfg->tenant, "cycle stopped: %s", errstr);
        return;
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
    if (err && err != MO_ERR_CREDENTIAL)
        lg_error(component, cfg->tenant, "cycle failed (%s): %s; cursor kept", mo_err_name(err),
                 errstr);
}

/* The wait between two cycles of the lease holder: up to ms, woken at once
 * by a webhook's trigger (rs_trigger_wait, BLPOP of at most a second at a
 * time, so a stop request and a lost lease are seen within a second; the
 * keeper thread renews the lease meanwhile).  Triggers count only after
 * quiet_ms (a failed cycle does not run again at a webhook's pace).  With
 * Redis away it sleeps in steps of a second until ms is over: the interval
 * stands as if no webhook existed.  Returns 1 when a trigger came. */
static int poll_wait(const mo_config *cfg, const char *stream, rs_store *trig, ls_lease *lease,
                     long ms, long quiet_ms)
{
    char errstr[256], component[64];
    long long start = mo_now_ms(), end = start + ms;
    int warned = 0;
    snprintf(component, sizeof(component), "poll.%s", stream);
    while (!mo_stop_requested()) {
        long long now = mo_now_ms();
        long left = (long)(end - now);
        if (left <= 0 || !ls_held(lease))
            return 0;
        if (!trig || now - start < quiet_ms || left < 1000) {
            long step = left < 1000 ? left : 1000;
            if (trig && now - start < quiet_ms && quiet_ms - (now - start) < step)
                step = (long)(quiet_ms - (now - start));
            mo_stop_sleep_ms(step < 1 ? 1 : step);
            continue;
        }
        int got = 0;
        mo_err err = rs_trigger_wait(trig, stream, 1, &got, errstr, sizeof(errstr));
        if (!err && got) {
            lg_debug(component, cfg->tenant, "a webhook's trigger: polling now");
            return 1;
        }
        if (err) {
            if (!warned)
                lg_warn(component, cfg->tenant,
                        "cannot wait for webhook triggers (%s); polling every %ld s meanwhile",
                        errstr, ms / 1000);
            warned = 1;
            mo_stop_sleep_ms(left < 1000 ? left : 1000);
        }
    }
    return 0;
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
    /* Its own connection for the webhooks' triggers (the cycle's store and
     * the lease keeper's stay free of a blocking BLPOP). */
    rs_store *trig =
        opts->once ? NULL : rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
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
            /* Asked again within a TTL, not only after the interval: with
             * webhooks the interval may be long, and triggers pushed while
             * Redis was away are waited for by no one. */
            long ms = cfg_poll_interval(cfg, stream) * 1000L;
            mo_stop_sleep_ms(ms < ttl_ms ? ms : ttl_ms);
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
        /* This cycle serves every trigger so far; one that comes while it
         * runs (the change may lie behind the scan) makes one more. */
        if (trig)
            rs_trigger_clear(trig, stream, errstr, sizeof(errstr));
        err = cycle(ctx, lease, errstr, sizeof(errstr));
        poll_cycle_end(cfg, stream, cycle_start, lease, err, errstr);
        if (err && !ls_held(lease)) {
            if (opts->once) {
                rc = 1;
                break;
            }
            continue;
        }
        if (err)
            (*failed_cycles)++;
        /* A malformed cursor needs a person: stop instead of failing forever. */
        if (opts->once || err == MO_ERR_INVALID) {
            rc = err ? 1 : 0;
            break;
        }
        /* An API that asked for a longer wait (Retry-After past what one call
         * sleeps) gets it before the next cycle. */
        long sleep_ms = cfg_poll_interval(cfg, stream) * 1000L, hint = mo_retry_hint_take();
        /* After a failed cycle a webhook wakes the poller no sooner than
         * POLL_RETRY_QUIET_MS later (a refused credential POLL_REFUSED_QUIET_MS),
         * and not before the wait an API asked for. */
        long quiet_ms = !err                       ? 0
                        : err == MO_ERR_CREDENTIAL ? POLL_REFUSED_QUIET_MS
                                                   : POLL_RETRY_QUIET_MS;
        if (err && hint > sleep_ms) {
            lg_warn(component, cfg->tenant, "the API asked to wait %ld s; next cycle then",
                    hint / 1000);
            sleep_ms = hint;
        }
        if (err && hint > quiet_ms)
            quiet_ms = hint;
        poll_wait(cfg, stream, trig, lease, sleep_ms, quiet_ms);
    }
    rs_close(trig);
    ls_free(lease); /* releases the lease */
    mt_set("mosync_lease_held", 0, "stream", stream, "tenant", cfg->tenant, NULL);
    return rc;
}
