/* `mosync replay <flow> --from-time T [--to-time T] | --from-offset N
 * [--partition P] [--dry-run] [--force]`.
 *
 * 1. Join the flow's group as its only member (kafka_group.h: an applier
 *    still running holds partitions, and the replay refuses).
 * 2. Per partition: start at --from-time (offsets by time) or --from-offset;
 *    end at --to-time, else at the group's committed offset: what was
 *    applied before.  Later events are the regular appliers' to apply.
 * 3. Commit the starts, leave, and run the flow's normal apply loop in that
 *    same group, each partition stopping at its end (apply_range).  Applied
 *    records skip what is unchanged (same request hash); --force sends it.
 * 4. A range that ends before what was applied (--to-time) may have put an
 *    older event's effect over a newer one when Redis lost the records that
 *    tell stale events (a restarted Redis, FLUSHALL, expiry).  So the
 *    latest event of each key the range touched, between its end and the
 *    group's committed offset, is applied once more, in the same run right
 *    after the range (found in step 2, before anything changes).  With the
 *    records there it is unchanged and sends nothing.
 * 5. Join again and commit max(previous, reached) so the regular appliers
 *    skip nothing and apply nothing twice.
 * A dry run (--dry-run, or DRY_RUN=on) does the same in the dry-run group
 * (mosync-dryrun-<flow>) and puts that group back where it was (step 5):
 * the flow's real group is only read. */
#include "replay.h"
#include "apply.h"
#include "config.h"
#include "event.h"
#include "kafka.h"
#include "kafka_group.h"
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_BROKER_MS 10000 /* metadata, offsets, commits */
#define RP_JOIN_MS   60000 /* a rebalance of an active group can take a while */
#define RP_SCAN_MS   30000 /* reading the topic for step 4: the wait for a next message */
/* Keys a --to-time range may touch (step 4 keeps each with an offset, about
 * 150 bytes): a month of a busy shop's orders is some 30,000; a range wider
 * than this is refused (replay it without --to-time). */
#define RP_KEYS_MAX 500000
/* A message key is followed by its first RP_KEY_MAX bytes; the pipeline's
 * keys ({tenant}:{id}) are far shorter. */
#define RP_KEY_MAX 1024

typedef struct rp_flow {
    const char *name, *topic_base, *group_base;
    int need;
    int (*apply)(const mo_config *cfg, const apply_opts *opts);
} rp_flow;

static const rp_flow rp_flows[] = {
    {"orders", KQ_TOPIC_ORDERS, "mosync-apply-orders", CFG_NEED_ONGOING, apply_orders},
    {"articles", KQ_TOPIC_PRODUCTS, "mosync-apply-articles", CFG_NEED_ONGOING, apply_articles},
    {"deliveries", KQ_TOPIC_SHIPMENTS, "mosync-apply-deliveries", CFG_NEED_MYSTORE,
     apply_deliveries},
    {"stock", KQ_TOPIC_STOCK, "mosync-apply-stock", CFG_NEED_MYSTORE, apply_stock},
};

typedef struct rp_args {
    const rp_flow *flow;
    const char *from_time, *to_time;
    long long from_ms, to_ms;
    long long from_offset; /* -1: not given */
    long partition;        /* -1: every partition */
    int dry_run, force;
    long idle_ms;
} rp_args;

/* Step 4: per partition, the offsets of the latest event of each key the
 * range touched, past the range's end and below the flow group's committed
 * offset. */
typedef struct rp_latest {
    int64_t *stop;     /* one past the last of them; -1: none */
    int64_t **offsets; /* ascending */
    size_t *count;
} rp_latest;

/* What the apply loop applies past the range, and the outcome counts per
 * partition it fills. */
typedef struct rp_tally {
    const int64_t *stop;      /* the range's end */
    const rp_latest *latest;  /* step 4's events past it */
    json_t **outcomes;        /* per partition: {"applied": n, ...} of the range */
    json_t **latest_outcomes; /* the same of step 4's events */
} rp_tally;

static void rp_settled(void *opaque, int32_t partition, int64_t offset, const char *outcome)
{
    rp_tally *t = opaque;
    json_t *o = (offset < t->stop[partition] ? t->outcomes : t->latest_outcomes)[partition];
    json_int_t n = json_integer_value(json_object_get(o, outcome));
    json_object_set_new(o, outcome, json_integer(n + 1));
}

static int rp_cmp_offset(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* apply_range.want: is offset in the range, or step 4's latest event of a
 * key the range touched? */
static int rp_wanted(void *opaque, int32_t partition, int64_t offset)
{
    const rp_tally *t = opaque;
    const rp_latest *l = t->latest;
    return offset < t->stop[partition] ||
           (l->count[partition] && bsearch(&offset, l->offsets[partition], l->count[partition],
                                           sizeof(int64_t), rp_cmp_offset) != NULL);
}

static int rp_usage(const char *msg)
{
    fprintf(stderr,
            "mosync replay: %s\n"
            "usage: mosync replay orders|articles|deliveries|stock\n"
            "         --from-time YYYY-MM-DDTHH:MM:SS[.fff]Z [--to-time ...]\n"
            "       | --from-offset N [--partition P]\n"
            "         [--dry-run] [--force] [--idle-ms N]\n",
            msg);
    return 2;
}

/* A non-negative integer option; -1 when it is not one. */
static long long rp_count(const char *s)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    long long v = strtoll(s, &end, 10);
    return *end ? -1 : v;
}

static int rp_parse(int argc, char **argv, rp_args *a)
{
    char msg[512];
    *a = (rp_args){.from_offset = -1, .partition = -1, .idle_ms = 5000};
    if (argc < 1 || argv[0][0] == '-')
        return rp_usage("which flow? (orders, articles, deliveries or stock)");
    for (size_t i = 0; i < sizeof(rp_flows) / sizeof(rp_flows[0]); i++)
        if (!strcmp(argv[0], rp_flows[i].name))
            a->flow = &rp_flows[i];
    if (!a->flow) {
        snprintf(msg, sizeof(msg), "unknown flow '%.64s' (orders, articles, deliveries or stock)",
                 argv[0]);
        return rp_usage(msg);
    }
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(opt, "--dry-run")) {
            a->dry_run = 1;
        } else if (!strcmp(opt, "--force")) {
            a->force = 1;
        } else if (!strcmp(opt, "--from-time") && has_value) {
            a->from_time = argv[++i];
            if (ev_utc_parse(a->from_time, &a->from_ms)) {
                snprintf(msg, sizeof(msg),
                         "--from-time '%.64s' is not a UTC time YYYY-MM-DDTHH:MM:SS[.fff]Z",
                         a->from_time);
                return rp_usage(msg);
            }
        } else if (!strcmp(opt, "--to-time") && has_value) {
            a->to_time = argv[++i];
            if (ev_utc_parse(a->to_time, &a->to_ms)) {
                snprintf(msg, sizeof(msg),
                         "--to-time '%.64s' is not a UTC time YYYY-MM-DDTHH:MM:SS[.fff]Z",
                         a->to_time);
                return rp_usage(msg);
            }
        } else if (!strcmp(opt, "--from-offset") && has_value) {
            a->from_offset = rp_count(argv[++i]);
            if (a->from_offset < 0) {
                snprintf(msg, sizeof(msg), "--from-offset '%.32s' is not an offset (0 or more)",
                         argv[i]);
                return rp_usage(msg);
            }
        } else if (!strcmp(opt, "--partition") && has_value) {
            long long p = rp_count(argv[++i]);
            if (p < 0 || p > 100000) {
                snprintf(msg, sizeof(msg), "--partition '%.32s' is not a partition number",
                         argv[i]);
                return rp_usage(msg);
            }
            a->partition = (long)p;
        } else if (!strcmp(opt, "--idle-ms") && has_value) {
            long long v = rp_count(argv[++i]);
            if (v <= 0 || v > 3600000)
                return rp_usage("--idle-ms needs a positive number of milliseconds");
            a->idle_ms = (long)v;
        } else {
            snprintf(msg, sizeof(msg), "unknown option or missing value: '%.64s'", opt);
            return rp_usage(msg);
        }
    }
    if (a->from_time && a->from_offset >= 0)
        return rp_usage("--from-time and --from-offset exclude each other");
    if (!a->from_time && a->from_offset < 0)
        return rp_usage("where from? give --from-time or --from-offset");
    if (a->partition >= 0 && a->from_offset < 0)
        return rp_usage("--partition goes with --from-offset (--from-time takes every partition)");
    if (a->to_time && a->from_time && a->to_ms <= a->from_ms)
        return rp_usage("--to-time must be after --from-time");
    return 0;
}

/* The committed offsets of group (read only: not joined). */
static mo_err rp_committed_of(const mo_config *cfg, const char *group, const char *topic,
                              int64_t *offsets, char *errstr, size_t errstr_size)
{
    kq_group *g = kq_group_open(cfg, group, topic, RP_BROKER_MS, NULL, errstr, errstr_size);
    if (!g)
        return MO_ERR_TRANSIENT;
    mo_err err = kq_group_committed(g, offsets, RP_BROKER_MS, errstr, errstr_size);
    kq_group_close(g);
    return err;
}

/* What reading the topic for step 4 keeps. */
typedef struct rp_scan {
    const int64_t *stop; /* the range's end per partition */
    json_t **keys;       /* per partition: key -> offset of its latest event past the range, -1 */
    size_t nkeys;
    int too_many; /* more than RP_KEYS_MAX keys in the range */
} rp_scan;

/* kq_scan_fn: a key in the range is remembered; past the range, a
 * remembered key's event becomes its latest. */
static int rp_scan_msg(void *opaque, const rd_kafka_message_t *m)
{
    rp_scan *s = opaque;
    char key[RP_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%.*s", (int)(m->key_len < RP_KEY_MAX ? m->key_len : RP_KEY_MAX),
             m->key ? (const char *)m->key : "");
    json_t *keys = s->keys[m->partition], *latest = json_object_get(keys, key);
    if (m->offset >= s->stop[m->partition]) {
        if (latest)
            json_integer_set(latest, m->offset);
        return 0;
    }
    if (latest)
        return 0;
    if (s->nkeys >= RP_KEYS_MAX || json_object_set_new(keys, key, json_integer(-1))) {
        s->too_many = 1;
        return 1;
    }
    s->nkeys++;
    return 0;
}

/* Step 4, found before anything changes: reads each replayed partition
 * from start to upto (the flow group's committed offset) and fills l with
 * the latest event past stop of each key seen before stop.  Returns the
 * exit status (0 to go on). */
static int rp_find_latest(kq_group *g, int n, const int64_t *start, const int64_t *stop,
                          const int64_t *upto, rp_latest *l)
{
    char errstr[1024];
    int rc = 1;
    rp_scan s = {.stop = stop, .keys = calloc((size_t)n, sizeof(json_t *))};
    int64_t *from = calloc((size_t)n, sizeof(int64_t));
    l->stop = calloc((size_t)n, sizeof(int64_t));
    l->offsets = calloc((size_t)n, sizeof(int64_t *));
    l->count = calloc((size_t)n, sizeof(size_t));
    if (!s.keys || !from || !l->stop || !l->offsets || !l->count) {
        fprintf(stderr, "mosync replay: out of memory\n");
        goto out;
    }
    for (int p = 0; p < n; p++) {
        l->stop[p] = -1;
        from[p] = stop[p] >= 0 && upto[p] > stop[p] ? start[p] : -1;
        if (from[p] >= 0 && !(s.keys[p] = json_object())) {
            fprintf(stderr, "mosync replay: out of memory\n");
            goto out;
        }
    }
    if (kq_group_scan(g, from, upto, rp_scan_msg, &s, RP_SCAN_MS, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync replay: %s\n", errstr);
        goto out;
    }
    if (s.too_many) {
        fprintf(stderr,
                "mosync replay: the range touches more than %d entities, too many to apply "
                "each one's latest event after it: replay a shorter range, or without "
                "--to-time\n",
                RP_KEYS_MAX);
        goto out;
    }
    for (int p = 0; p < n; p++) {
        const char *key;
        json_t *v;
        if (!s.keys[p] || !json_object_size(s.keys[p]))
            continue;
        if (!(l->offsets[p] = calloc(json_object_size(s.keys[p]), sizeof(int64_t)))) {
            fprintf(stderr, "mosync replay: out of memory\n");
            goto out;
        }
        json_object_foreach(s.keys[p], key, v) if (json_integer_value(v) >= 0)
            l->offsets[p][l->count[p]++] = json_integer_value(v);
        qsort(l->offsets[p], l->count[p], sizeof(int64_t), rp_cmp_offset);
        if (l->count[p])
            l->stop[p] = l->offsets[p][l->count[p] - 1] + 1;
    }
    rc = 0;
out:
    for (int p = 0; s.keys && p < n; p++)
        json_decref(s.keys[p]);
    free(s.keys);
    free(from);
    return rc;
}

static void rp_latest_free(rp_latest *l, int n)
{
    for (int p = 0; l->offsets && p < n; p++)
        free(l->offsets[p]);
    free(l->offsets);
    free(l->stop);
    free(l->count);
}

/* Steps 1 and 2: joins the run group alone, computes the range into start
 * and stop (stop -1: partition not replayed), keeps the run group's
 * previous offsets in prev, finds step 4's events (--to-time) into latest,
 * commits the starts and leaves.  Returns the exit status (0 to go on). */
static int rp_rewind(const mo_config *cfg, const rp_args *a, const char *topic,
                     const char *real_group, const char *run_group, int *np, int64_t **start,
                     int64_t **stop, int64_t **prev, rp_latest *latest)
{
    char errstr[1024];
    int rc = 1;
    int64_t *applied = NULL, *end = NULL, *low = NULL, *high = NULL;
    kq_group *g = kq_group_open(cfg, run_group, topic, RP_BROKER_MS, NULL, errstr, sizeof(errstr));
    if (!g) {
        fprintf(stderr, "mosync replay: %s\n", errstr);
        return 1;
    }
    int n = *np = kq_group_partitions(g);
    if (a->partition >= n) {
        fprintf(stderr,
                "mosync replay: --partition %ld is out of range: %s has %d partitions (0 to %d)\n",
                a->partition, topic, n, n - 1);
        rc = 2;
        goto out;
    }
    *start = calloc((size_t)n, sizeof(int64_t));
    *stop = calloc((size_t)n, sizeof(int64_t));
    *prev = calloc((size_t)n, sizeof(int64_t));
    applied = calloc((size_t)n, sizeof(int64_t));
    end = calloc((size_t)n, sizeof(int64_t));
    low = calloc((size_t)n, sizeof(int64_t));
    high = calloc((size_t)n, sizeof(int64_t));
    if (!*start || !*stop || !*prev || !applied || !end || !low || !high) {
        fprintf(stderr, "mosync replay: out of memory\n");
        goto out;
    }
    mo_err err = kq_group_join(g, RP_JOIN_MS, errstr, sizeof(errstr));
    if (!err)
        err = kq_group_committed(g, *prev, RP_BROKER_MS, errstr, sizeof(errstr));
    if (!err && strcmp(real_group, run_group))
        err = rp_committed_of(cfg, real_group, topic, applied, errstr, sizeof(errstr));
    else if (!err)
        memcpy(applied, *prev, (size_t)n * sizeof(int64_t));
    if (!err)
        err = kq_group_watermarks(g, low, high, RP_BROKER_MS, errstr, sizeof(errstr));
    if (!err && a->from_time)
        err = kq_group_offsets_at(g, a->from_ms, *start, RP_BROKER_MS, errstr, sizeof(errstr));
    if (!err && a->to_time)
        err = kq_group_offsets_at(g, a->to_ms, end, RP_BROKER_MS, errstr, sizeof(errstr));
    if (err) {
        fprintf(stderr, "mosync replay: %s\n", errstr);
        goto out;
    }
    for (int p = 0; p < n; p++) {
        if (a->from_offset >= 0) {
            int64_t s = a->from_offset < low[p] ? low[p] : a->from_offset;
            (*start)[p] = a->partition >= 0 && a->partition != p ? -1 : s;
        }
        if (!a->to_time)
            end[p] = applied[p]; /* never committed: nothing applied, nothing to apply again */
        (*stop)[p] = (*start)[p] >= 0 && end[p] > (*start)[p] ? end[p] : -1;
        if ((*stop)[p] < 0)
            (*start)[p] = -1;
    }
    if (a->to_time && rp_find_latest(g, n, *start, *stop, applied, latest))
        goto out;
    if (kq_group_commit(g, *start, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync replay: %s\n", errstr);
        goto out;
    }
    rc = 0;
out:
    kq_group_close(g);
    free(applied);
    free(end);
    free(low);
    free(high);
    return rc;
}

/* Step 5: commits max(previous, reached) for the replayed partitions.  A
 * dry run puts the dry-run group back where it was instead: its previous
 * offset, or, on a partition where it had none, the partition's start (low
 * watermark).  That is where a group without an offset starts
 * (auto.offset.reset earliest), so a later DRY_RUN=on applier sees every
 * event as it would have; the offset itself cannot be taken back, since
 * the embedded broker does not answer OffsetDelete. */
static int rp_settle(const mo_config *cfg, const rp_args *a, const char *topic,
                     const char *run_group, int n, const int64_t *stop, const int64_t *prev,
                     int64_t *reached)
{
    char errstr[1024];
    int rc = 1;
    int64_t *final = calloc((size_t)n, sizeof(int64_t));
    int64_t *low = calloc((size_t)n, sizeof(int64_t));
    kq_group *g = kq_group_open(cfg, run_group, topic, RP_BROKER_MS, NULL, errstr, sizeof(errstr));
    mo_err err = g ? MO_OK : MO_ERR_TRANSIENT;
    if (!err && (!final || !low))
        err = mo_seterr(MO_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
    if (!err)
        err = kq_group_join(g, RP_JOIN_MS, errstr, sizeof(errstr));
    if (!err)
        err = kq_group_committed(g, reached, RP_BROKER_MS, errstr, sizeof(errstr));
    if (!err && a->dry_run)
        err = kq_group_watermarks(g, low, NULL, RP_BROKER_MS, errstr, sizeof(errstr));
    if (!err) {
        for (int p = 0; p < n; p++) {
            final[p] = -1;
            if (stop[p] < 0)
                continue;
            if (a->dry_run)
                final[p] = prev[p] >= 0 ? prev[p] : low[p];
            else
                final[p] = prev[p];
            if (final[p] == reached[p] || (!a->dry_run && final[p] < reached[p]))
                final[p] = -1;
        }
        err = kq_group_commit(g, final, errstr, sizeof(errstr));
        for (int p = 0; !err && p < n; p++)
            if (final[p] >= 0)
                reached[p] = final[p];
    }
    if (err)
        fprintf(stderr, "mosync replay: offsets of %s not settled: %s\n", run_group, errstr);
    else
        rc = 0;
    kq_group_close(g);
    free(final);
    free(low);
    return rc;
}

int replay_main(int argc, char **argv)
{
    rp_args a;
    mo_config cfg;
    char errstr[512], topic[256], real_group[256], run_group[256], run_base[64];
    int n = 0, rc = rp_parse(argc, argv, &a);
    int64_t *start = NULL, *stop = NULL, *prev = NULL, *reached = NULL, *run_stop = NULL;
    rp_latest latest = {0};
    rp_tally tally = {.latest = &latest};
    json_t *summary = NULL;
    if (rc)
        return rc;
    if (cfg_load(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS | a.flow->need, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    if (!strcmp(a.flow->name, "stock") && !cfg.stock_sync) {
        /* apply stock would apply nothing, and the rewound group stay behind. */
        fprintf(stderr, "mosync replay: stock sync is off (STOCK_SYNC is not 'on'): nothing to "
                        "replay\n");
        cfg_free(&cfg);
        return 2;
    }
    /* --dry-run and DRY_RUN=on are one switch: either runs the replay dry,
     * in the dry-run group, and says so. */
    if (a.dry_run)
        cfg.dry_run = 1;
    a.dry_run = cfg.dry_run;
    apply_force_set(a.force);
    /* The dry-run group's name as apply_dry_wrap gives it. */
    snprintf(run_base, sizeof(run_base), "%s%s", cfg.dry_run ? "mosync-dryrun-" : "",
             cfg.dry_run ? a.flow->name : a.flow->group_base);
    cfg_topic(&cfg, a.flow->topic_base, topic, sizeof(topic));
    cfg_group(&cfg, a.flow->group_base, real_group, sizeof(real_group));
    cfg_group(&cfg, run_base, run_group, sizeof(run_group));

    rc = rp_rewind(&cfg, &a, topic, real_group, run_group, &n, &start, &stop, &prev, &latest);
    if (rc)
        goto out;
    rc = 1;
    reached = calloc((size_t)n, sizeof(int64_t));
    run_stop = calloc((size_t)n, sizeof(int64_t));
    tally.outcomes = calloc((size_t)n, sizeof(json_t *));
    tally.latest_outcomes = calloc((size_t)n, sizeof(json_t *));
    if (!reached || !run_stop || !tally.outcomes || !tally.latest_outcomes)
        goto out;
    tally.stop = stop;
    int todo = 0, todo_latest = 0;
    for (int p = 0; p < n; p++) {
        tally.outcomes[p] = json_object();
        tally.latest_outcomes[p] = json_object();
        todo += stop[p] >= 0;
        todo_latest += latest.stop && latest.stop[p] >= 0;
        /* The run goes on past the range to step 4's last event. */
        run_stop[p] = latest.stop && latest.stop[p] > stop[p] ? latest.stop[p] : stop[p];
    }
    apply_range range = {.npartitions = n,
                         .stop = run_stop,
                         .settled = rp_settled,
                         .want = todo_latest ? rp_wanted : NULL,
                         .opaque = &tally};
    if (todo) {
        lg_info("replay", cfg.tenant, "replaying %d partitions of %s in group %s%s%s", todo, topic,
                run_group, a.force ? " (forced)" : "",
                todo_latest ? ", then the latest event of each entity it touched" : "");
        int arc = a.flow->apply(
            &cfg,
            &(apply_opts){.once = 1, .idle_ms = a.idle_ms, .group = run_base, .range = &range});
        int failed = arc || range.incomplete;
        if (failed)
            fprintf(stderr,
                    "mosync replay: the apply loop ended (exit %d) with %d partitions "
                    "not at their end\n",
                    arc, range.incomplete);
        /* A complete run without --to-time committed exactly its ends, which
         * were the group's offsets before: nothing is left to settle. */
        for (int p = 0; p < n; p++)
            reached[p] = stop[p];
        if ((a.dry_run || a.to_time || failed) &&
            rp_settle(&cfg, &a, topic, run_group, n, stop, prev, reached))
            goto out;
        if (failed)
            goto report;
    }
    rc = 0;
report:
    summary = json_pack("{s:s, s:s, s:s, s:b, s:b, s:[]}", "replay", a.flow->name, "topic", topic,
                        "group", run_group, "dry_run", a.dry_run, "force", a.force, "partitions");
    for (int p = 0; summary && p < n; p++) {
        if (stop[p] < 0)
            continue;
        json_t *o = json_pack("{s:i, s:I, s:I, s:I}", "partition", p, "from", (json_int_t)start[p],
                              "to", (json_int_t)stop[p], "committed", (json_int_t)reached[p]);
        json_object_update(o, tally.outcomes[p]);
        if (latest.stop && latest.stop[p] >= 0) {
            /* Step 4 on this partition: how many latest events, and what became of them. */
            json_t *l = json_pack("{s:I}", "events", (json_int_t)latest.count[p]);
            json_object_update(l, tally.latest_outcomes[p]);
            json_object_set_new(o, "latest", l);
        }
        json_array_append_new(json_object_get(summary, "partitions"), o);
    }
    char *s = summary ? json_dumps(summary, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
out:
    json_decref(summary);
    for (int p = 0; p < n; p++) {
        if (tally.outcomes)
            json_decref(tally.outcomes[p]);
        if (tally.latest_outcomes)
            json_decref(tally.latest_outcomes[p]);
    }
    free(tally.outcomes);
    free(tally.latest_outcomes);
    free(run_stop);
    rp_latest_free(&latest, n);
    free(start);
    free(stop);
    free(prev);
    free(reached);
    cfg_free(&cfg);
    return rc;
}

int replay_args_check(int argc, char **argv)
{
    rp_args a;
    return rp_parse(argc, argv, &a);
}
