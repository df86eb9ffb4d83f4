/* `mosync poll <stream> --all-tenants`: see poll_sched.h. */
#include "poll_sched.h"
#include "kafka.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "poll.h"
#include "stop.h"
#include "tenant.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PS_GEN_EVERY_MS  1000  /* how often the registry's generation is read */
#define PS_TRIGGER_MAX_S "0.5" /* the longest BLPOP of the trigger list */
/* ms: another process's cycle this much short of an interval still counts */
#define PS_POLLED_SLACK 500

const char *const ps_state_names[PS_NSTATES] = {TN_ACTIVE, TN_CONNECTING, TN_PAUSED,
                                                TN_NEEDS_RECONNECT, "broken"};

/* ---- the pure parts ------------------------------------------------------ */

static int ps_parse_interval(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end;
    if (!s || !*s)
        return 0;
    long n = strtol(s, &end, 10);
    return *end || n < 1 || n > 86400 ? 0 : (int)n;
}

int ps_interval(const json_t *settings, const char *stream, int dflt)
{
    char var[64];
    size_t n = (size_t)snprintf(var, sizeof(var), "POLL_INTERVAL_S_%s", stream);
    for (size_t i = 16; i < n && i < sizeof(var); i++)
        var[i] =
            var[i] == '-' ? '_' : (char)(var[i] >= 'a' && var[i] <= 'z' ? var[i] - 32 : var[i]);
    int s = ps_parse_interval(json_object_get(settings, var));
    if (!s)
        s = ps_parse_interval(json_object_get(settings, "POLL_INTERVAL_S"));
    return s ? s : dflt;
}

static int ps_state_of(const json_t *record)
{
    const char *st = json_string_value(json_object_get(record, "state"));
    for (int i = 0; st && i < PS_BROKEN; i++)
        if (!strcmp(st, ps_state_names[i]))
            return i;
    return PS_BROKEN;
}

/* FNV-1a of a name: where in its interval a tenant's first cycle falls. */
static unsigned long ps_hash(const char *s)
{
    unsigned long h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int ps_merge(const ps_slot *old, size_t n_old, const json_t *names, const json_t *records,
             const char *stream, int dflt_interval_s, long long now_ms, int first, ps_slot **out,
             size_t *n_out, ps_diff *d)
{
    size_t n = json_array_size(names), m = 0, j = 0;
    memset(d, 0, sizeof(*d));
    *out = NULL;
    *n_out = 0;
    ps_slot *slots = n ? calloc(n, sizeof(*slots)) : NULL;
    if (n && !slots)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(names, i));
        const json_t *rec = json_array_get(records, i);
        if (!name || strlen(name) >= PS_NAME_MAX || !json_is_object(rec))
            continue; /* gone between the two reads, or not a name we can hold */
        /* Both lists are sorted: walk old along. */
        while (j < n_old && strcmp(old[j].name, name) < 0) {
            d->removed++;
            j++;
        }
        const ps_slot *was = j < n_old && !strcmp(old[j].name, name) ? &old[j++] : NULL;
        ps_slot *s = &slots[m++];
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->rev = json_integer_value(json_object_get(rec, "rev"));
        s->state = (unsigned char)ps_state_of(rec);
        s->interval_s = ps_interval(json_object_get(rec, "settings"), stream, dflt_interval_s);
        s->warned_rev = -1;
        d->by_state[s->state]++;
        if (!was) {
            d->added++;
            s->due_ms =
                first ? now_ms + (long long)(ps_hash(name) % (s->interval_s * 1000UL)) : now_ms;
            continue;
        }
        if (was->rev != s->rev)
            d->changed++;
        s->last_ms = was->last_ms;
        s->running = was->running;
        s->trigger = was->trigger;
        s->warned_rev = was->warned_rev;
        s->clock_date = was->clock_date;
        s->clock_at_ms = was->clock_at_ms;
        s->due_ms = was->due_ms;
        if (s->state == PS_ACTIVE && was->state != PS_ACTIVE)
            s->due_ms = now_ms; /* resumed, or reconnected */
        else if (s->interval_s != was->interval_s)
            s->due_ms = s->last_ms ? s->last_ms + s->interval_s * 1000LL : now_ms;
    }
    d->removed += n_old - j;
    if (!m) {
        free(slots);
        slots = NULL;
    }
    *out = slots;
    *n_out = m;
    return 0;
}

long long ps_next_due(long long started_ms, int interval_s, long long now_ms)
{
    long long due = started_ms + interval_s * 1000LL;
    return due > now_ms ? due : now_ms;
}

int ps_late(long long due_ms, long long started_ms, int interval_s)
{
    return started_ms - due_ms > interval_s * 100LL;
}

static int ps_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const ps_slot *)elem)->name);
}

ps_slot *ps_find(ps_slot *slots, size_t n, const char *name)
{
    return n ? bsearch(name, slots, n, sizeof(*slots), ps_cmp) : NULL;
}

/* ---- triggers ------------------------------------------------------------- */

static const char *ps_triggers_key(const char *stream, char *buf, size_t size)
{
    char suffix[96];
    snprintf(suffix, sizeof(suffix), "triggers:%s", stream);
    return rs_key_tenant("*", suffix, buf, size);
}

mo_err ps_trigger_push(rs_store *rs, const char *tenant, const char *stream, char *errstr,
                       size_t errstr_size)
{
    static const char lua[] = "redis.call('RPUSH', KEYS[1], ARGV[1])\n"
                              "redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)\n"
                              "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
                              "return 1\n";
    char key[RS_KEY_SIZE], max[16], ttl[16];
    snprintf(max, sizeof(max), "%d", PS_TRIGGERS_MAX);
    snprintf(ttl, sizeof(ttl), "%d", PS_TRIGGERS_TTL_S);
    const char *argv[7] = {"EVAL", lua, "1", ps_triggers_key(stream, key, sizeof(key)),
                           tenant, max, ttl};
    json_t *out = NULL;
    mo_err err = rs_call(rs, 7, argv, &out, errstr, errstr_size);
    json_decref(out);
    return err;
}

/* ---- the scheduler ---------------------------------------------------------- */

typedef struct ps_sched ps_sched;

typedef struct ps_worker {
    ps_sched *s;
    pthread_t thread;
    int started;
    rs_store *rs;
    ls_lease *ls;
    mo_config *cfg; /* the tenant's, while its cycle runs */
} ps_worker;

struct ps_sched {
    const mo_config *cfg;
    const char *stream;
    const sb_key *key;
    char component[64];
    int need;
    int dflt_interval_s;
    kq_producer *kp;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    ps_slot *slots; /* sorted by name; replaced whole on a registry change */
    size_t n;
    int in_flight;
    /* figures for the summary */
    atomic_ulong cycles, failed, late, skipped, triggers, registry_reads;
    pe_cycle_stats stats; /* under mu */
};

/* Sets mosync_poll_cycles_in_flight (mu held). */
static void ps_count_in_flight(ps_sched *s)
{
    mt_set("mosync_poll_cycles_in_flight", s->in_flight, "stream", s->stream, NULL);
}

static void ps_skip(ps_sched *s, const char *tenant, const char *reason)
{
    atomic_fetch_add(&s->skipped, 1);
    mt_add("mosync_poll_cycles_skipped_total", 1, "reason", reason, "stream", s->stream, NULL);
    lg_debug(s->component, tenant, "cycle skipped (%s)", reason);
}

/* 1 the first time a tenant's record (this revision of it) fails to load:
 * the next failures of the same revision are not logged again. */
static int ps_warn_once(ps_sched *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    ps_slot *slot = ps_find(s->slots, s->n, name);
    int warn = slot && slot->warned_rev != slot->rev;
    if (warn)
        slot->warned_rev = slot->rev;
    pthread_mutex_unlock(&s->mu);
    return warn;
}

/* Did another process poll this tenant's stream less than an interval ago?
 * *wait_ms: until an interval has passed since then. */
static int ps_polled_lately(ps_worker *w, const char *suffix, int interval_s, long *wait_ms)
{
    char errstr[256];
    json_t *v = NULL;
    *wait_ms = 0;
    if (rs_get_json(w->rs, suffix, &v, errstr, sizeof(errstr)) || !json_is_integer(v)) {
        json_decref(v);
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long wall = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    long long ago = wall - (long long)json_integer_value(v);
    json_decref(v);
    long long left = interval_s * 1000LL - ago;
    if (left <= PS_POLLED_SLACK)
        return 0;
    *wait_ms = (long)left;
    return 1;
}

/* One due cycle of tenant `name`.  Returns when its next one is due
 * (monotonic). */
static long long ps_run(ps_worker *w, const ps_slot *job)
{
    ps_sched *s = w->s;
    char errstr[512], suffix[96];
    const char *name = job->name;
    long long started = mo_now_ms(), next;
    int interval_s = job->interval_s;
    json_t *record = NULL;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);

    if (!job->trigger && ps_late(job->due_ms, started, interval_s)) {
        atomic_fetch_add(&s->late, 1);
        mt_add("mosync_poll_cycles_late_total", 1, "stream", s->stream, NULL);
    }
    next = ps_next_due(started, interval_s, started);
    rs_set_tenant(w->rs, name);
    mo_err err = tn_get(w->rs, s->key, name, &record, errstr, sizeof(errstr));
    if (err) {
        /* Redis away, or a record whose secrets do not open with this key:
         * logged once per revision of the record. */
        if (ps_warn_once(s, name))
            lg_error(s->component, name, "cannot read the tenant's record: %s", errstr);
        atomic_fetch_add(&s->failed, 1);
        return next;
    }
    const char *state = json_string_value(json_object_get(record, "state"));
    if (!record || !state || strcmp(state, TN_ACTIVE)) {
        json_decref(record); /* removed or paused since: the registry read follows */
        return next;
    }
    json_t *settings = json_object_get(record, "settings");
    json_object_set_new(settings, "MOSYNC_TENANT", json_string(name));
    err = cfg_load_tenant(w->cfg, s->need, settings, errstr, sizeof(errstr));
    json_decref(record);
    if (err) {
        if (ps_warn_once(s, name))
            lg_error(s->component, name,
                     "the tenant's settings do not load (%s); not polling it until they change",
                     errstr);
        ps_skip(s, name, "config");
        return next;
    }
    if (!strcmp(s->stream, "ongoing-stock") && !w->cfg->stock_sync) {
        cfg_free(w->cfg);
        ps_skip(s, name, "off");
        return next;
    }
    int held = 0;
    long wait_ms = 0;
    ls_rebind(w->ls, name);
    err = ls_acquire(w->ls, &held, NULL, 0, &wait_ms, errstr, sizeof(errstr));
    if (err || !held) {
        if (err) {
            lg_warn(s->component, name, "cannot take the lease: %s", errstr);
            atomic_fetch_add(&s->failed, 1);
        } else {
            ps_skip(s, name, "leased");
        }
        cfg_free(w->cfg);
        return next;
    }
    snprintf(suffix, sizeof(suffix), "polled:%s", s->stream);
    if (!job->trigger && ps_polled_lately(w, suffix, interval_s, &wait_ms)) {
        ls_release(w->ls);
        cfg_free(w->cfg);
        ps_skip(s, name, "polled");
        return mo_now_ms() + wait_ms;
    }
    pe_cycle_stats st = {0};
    pe_clock clock = {job->clock_date, job->clock_at_ms};
    err = pe_run_cycle(w->cfg, s->stream, w->rs, s->kp, w->ls, &clock, &st, errstr, sizeof(errstr));
    pthread_mutex_lock(&s->mu);
    ps_slot *slot = ps_find(s->slots, s->n, name);
    if (slot) {
        slot->clock_date = clock.date;
        slot->clock_at_ms = clock.at_ms;
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->cycles, 1);
    if (err)
        atomic_fetch_add(&s->failed, 1);
    if (ls_held(w->ls)) {
        /* The start of this cycle, for the other processes: written only
         * while the lease is ours. */
        json_t *at = json_integer((json_int_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
        int written = 0;
        rs_set_json_fenced(w->rs, suffix, at, ls_suffix(w->ls), ls_token(w->ls), &written, errstr,
                           sizeof(errstr));
        json_decref(at);
    }
    ls_release(w->ls);
    cfg_free(w->cfg);
    pthread_mutex_lock(&s->mu);
    s->stats.listed += st.listed;
    s->stats.emitted += st.emitted;
    s->stats.dead_lettered += st.dead_lettered;
    s->stats.requests += st.requests;
    pthread_mutex_unlock(&s->mu);
    /* An API that asked for a longer wait (Retry-After past what one call
     * sleeps) gets it before the tenant's next cycle. */
    long hint = mo_retry_hint_take();
    long long now = mo_now_ms();
    next = ps_next_due(started, interval_s, now);
    if (err && hint > 0 && now + hint > next) {
        lg_warn(s->component, name, "the API asked to wait %ld s; next cycle then", hint / 1000);
        next = now + hint;
    }
    return next;
}

/* The active idle slot due first (mu held), or NULL; *next_ms its due time. */
static ps_slot *ps_pick(ps_sched *s, long long *next_ms)
{
    ps_slot *best = NULL;
    for (size_t i = 0; i < s->n; i++) {
        ps_slot *t = &s->slots[i];
        if (t->state != PS_ACTIVE || t->running)
            continue;
        if (!best || t->due_ms < best->due_ms)
            best = t;
    }
    if (best)
        *next_ms = best->due_ms;
    return best;
}

/* Waits on the condition until deadline_ms (monotonic) at the latest. */
static void ps_wait(ps_sched *s, long long deadline_ms)
{
    long long left = deadline_ms - mo_now_ms();
    if (left <= 0)
        return;
    if (left > 1000)
        left = 1000; /* a stop request is seen within a second */
    struct timespec ts = mo_timespec_after(CLOCK_MONOTONIC, (long)left);
    pthread_cond_timedwait(&s->cond, &s->mu, &ts);
}

static void *ps_worker_main(void *arg)
{
    ps_worker *w = arg;
    ps_sched *s = w->s;
    pthread_mutex_lock(&s->mu);
    while (!mo_stop_requested()) {
        long long next = mo_now_ms() + 1000;
        ps_slot *t = ps_pick(s, &next);
        if (!t || t->due_ms > mo_now_ms()) {
            ps_wait(s, next);
            continue;
        }
        ps_slot job = *t;
        t->running = 1;
        t->trigger = 0;
        t->last_ms = mo_now_ms();
        s->in_flight++;
        ps_count_in_flight(s);
        pthread_mutex_unlock(&s->mu);
        long long due = ps_run(w, &job);
        pthread_mutex_lock(&s->mu);
        s->in_flight--;
        ps_count_in_flight(s);
        /* The registry may have been read meanwhile: the slot by its name. */
        ps_slot *now = ps_find(s->slots, s->n, job.name);
        if (now) {
            now->running = 0;
            /* A trigger that came while it ran: the change may lie behind
             * the scan, one more cycle at once. */
            now->due_ms = now->trigger ? mo_now_ms() : due;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Reads the registry and replaces the slots; logs one line.  first: the
 * process's first read. */
static mo_err ps_reload(ps_sched *s, rs_store *reg, long long gen, int first)
{
    char errstr[512];
    json_t *names = NULL, *records = NULL;
    mo_err err = tn_list(reg, &names, errstr, sizeof(errstr));
    if (!err)
        err = tn_get_sealed(reg, names, &records, errstr, sizeof(errstr));
    if (err) {
        lg_warn(s->component, s->cfg->tenant, "cannot read the registry: %s", errstr);
        json_decref(names);
        return err;
    }
    ps_slot *slots;
    size_t n;
    ps_diff d;
    pthread_mutex_lock(&s->mu);
    if (ps_merge(s->slots, s->n, names, records, s->stream, s->dflt_interval_s, mo_now_ms(), first,
                 &slots, &n, &d)) {
        pthread_mutex_unlock(&s->mu);
        json_decref(names);
        json_decref(records);
        lg_error(s->component, s->cfg->tenant, "out of memory reading the registry");
        return MO_ERR_NOMEM;
    }
    free(s->slots);
    s->slots = slots;
    s->n = n;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    json_decref(names);
    json_decref(records);
    atomic_fetch_add(&s->registry_reads, 1);
    for (int i = 0; i < PS_NSTATES; i++)
        mt_set("mosync_poll_tenants", (double)d.by_state[i], "state", ps_state_names[i], "stream",
               s->stream, NULL);
    lg_info(s->component, s->cfg->tenant,
            "registry generation %lld: %zu tenants (%zu active, %zu paused, %zu needs-reconnect, "
            "%zu connecting, %zu unreadable); %zu added, %zu removed, %zu changed",
            gen, n, d.by_state[PS_ACTIVE], d.by_state[PS_PAUSED], d.by_state[PS_NEEDS_RECONNECT],
            d.by_state[PS_CONNECTING], d.by_state[PS_BROKEN], d.added, d.removed, d.changed);
    return MO_OK;
}

/* The scheduler's own thread: the registry's generation once a second, the
 * trigger list in between. */
static void ps_watch(ps_sched *s, rs_store *reg, rs_store *trig)
{
    char errstr[512], key[RS_KEY_SIZE];
    long long gen = -1, next_gen = 0;
    int first = 1, warned = 0;
    ps_triggers_key(s->stream, key, sizeof(key));
    while (!mo_stop_requested()) {
        long long now = mo_now_ms();
        if (now >= next_gen) {
            long long g;
            next_gen = now + PS_GEN_EVERY_MS;
            mo_err err = tn_gen(reg, &g, errstr, sizeof(errstr));
            if (err) {
                if (!warned)
                    lg_warn(s->component, s->cfg->tenant,
                            "cannot read the registry's generation (%s); polling the tenants "
                            "known meanwhile",
                            errstr);
                warned = 1;
            } else {
                warned = 0;
                if ((g != gen || first) && !ps_reload(s, reg, g, first)) {
                    gen = g;
                    first = 0;
                }
            }
        }
        const char *argv[3] = {"BLPOP", key, PS_TRIGGER_MAX_S};
        json_t *r = NULL;
        if (rs_call(trig, 3, argv, &r, errstr, sizeof(errstr))) {
            mo_stop_sleep_ms(1000);
            continue;
        }
        const char *name = json_string_value(json_array_get(r, 1));
        if (name) {
            atomic_fetch_add(&s->triggers, 1);
            pthread_mutex_lock(&s->mu);
            ps_slot *t = ps_find(s->slots, s->n, name);
            if (t && t->state == PS_ACTIVE) {
                t->trigger = 1;
                if (!t->running)
                    t->due_ms = mo_now_ms();
                pthread_cond_broadcast(&s->cond);
            }
            pthread_mutex_unlock(&s->mu);
            lg_debug(s->component, name, "a webhook's trigger");
        }
        json_decref(r);
    }
}

int poll_all_tenants(const mo_config *cfg, const char *stream, const sb_key *key)
{
    char errstr[512];
    ps_sched s;
    rs_store *reg = NULL, *trig = NULL;
    int rc = 1, nworkers = cfg->poll_workers;
    ps_worker *workers = calloc((size_t)nworkers, sizeof(*workers));
    mo_config dflt;
    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.stream = stream;
    s.key = key;
    snprintf(s.component, sizeof(s.component), "poll.%s", stream);
    s.need = CFG_NEED_KAFKA | CFG_NEED_REDIS |
             (!strncmp(stream, "mystore-", 8) ? CFG_NEED_MYSTORE : CFG_NEED_ONGOING);
    pthread_mutex_init(&s.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s.cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!workers) {
        lg_error(s.component, cfg->tenant, "out of memory");
        goto out;
    }
    /* A tenant's interval when its settings name none: the default of a
     * tenant that sets nothing. */
    json_t *none = json_object();
    mo_err err = cfg_load_tenant(&dflt, 0, none, errstr, sizeof(errstr));
    json_decref(none);
    if (err) {
        lg_error(s.component, cfg->tenant, "cannot start: %s", errstr);
        rc = 2;
        goto out;
    }
    s.dflt_interval_s = cfg_poll_interval(&dflt, stream);
    cfg_free(&dflt);
    if (!(reg = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr))) ||
        !(trig = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr))) ||
        !(s.kp = pe_producer_new(cfg, stream, errstr, sizeof(errstr)))) {
        lg_error(s.component, cfg->tenant, "cannot start: %s", errstr);
        rc = 2;
        goto out;
    }
    rs_set_retry_ms(reg, 2000);
    rs_set_retry_ms(trig, 1000);
    for (int i = 0; i < nworkers; i++) {
        ps_worker *w = &workers[i];
        w->s = &s;
        w->cfg = calloc(1, sizeof(*w->cfg));
        w->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
        w->ls = w->rs ? ls_new(cfg->redis_url, cfg->tenant, stream, cfg->lease_ttl_s, errstr,
                               sizeof(errstr))
                      : NULL;
        if (!w->cfg || !w->ls) {
            lg_error(s.component, cfg->tenant, "cannot start: %s",
                     w->cfg ? errstr : "out of memory");
            goto stop;
        }
    }
    lg_info(s.component, cfg->tenant, "polling %s for every active registry tenant with %d workers",
            stream, nworkers);
    for (int i = 0; i < nworkers; i++) {
        if (pthread_create(&workers[i].thread, NULL, ps_worker_main, &workers[i])) {
            lg_error(s.component, cfg->tenant, "cannot start a worker thread");
            mo_stop_request();
            goto stop;
        }
        workers[i].started = 1;
    }
    ps_watch(&s, reg, trig);
    rc = 0;
stop:
    if (rc)
        mo_stop_request();
    pthread_mutex_lock(&s.mu);
    pthread_cond_broadcast(&s.cond);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < nworkers; i++) {
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
        ls_free(workers[i].ls);
        rs_close(workers[i].rs);
        free(workers[i].cfg);
    }
    {
        json_t *sum = json_pack(
            "{s:s+, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "command", "poll ",
            stream, "tenants", (json_int_t)s.n, "cycles", (json_int_t)atomic_load(&s.cycles),
            "failed_cycles", (json_int_t)atomic_load(&s.failed), "late_cycles",
            (json_int_t)atomic_load(&s.late), "skipped_cycles", (json_int_t)atomic_load(&s.skipped),
            "triggers", (json_int_t)atomic_load(&s.triggers), "registry_reads",
            (json_int_t)atomic_load(&s.registry_reads), "listed", (json_int_t)s.stats.listed,
            "emitted", (json_int_t)s.stats.emitted, "dead_lettered",
            (json_int_t)s.stats.dead_lettered, "requests", (json_int_t)s.stats.requests);
        char *line = sum ? json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(sum);
        fflush(stdout);
    }
out:
    kq_producer_free(s.kp);
    rs_close(trig);
    rs_close(reg);
    free(workers);
    free(s.slots);
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.mu);
    return rc;
}
