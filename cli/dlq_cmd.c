/* `mosync dlq list|show|redrive|purge` (see dlq_cmd.h).  Kafka is what is
 * needed: the states live in mosync.dlq.state.  redrive and purge also keep
 * the appliers' Redis index of open letters in step (dlq_state.h), best
 * effort: without Redis they say so, and the index may then resolve a purged
 * letter later, or miss a re-driven one until its next rebuild. */
#include "dlq_cmd.h"
#include "config.h"
#include "dlq.h"
#include "dlq_state.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DC_MAX_IDS 1000

typedef struct dc_opts {
    dlq_filter f;
    int filtered; /* a filter or --id was given */
    int all, json, once;
    const char *ids[DC_MAX_IDS];
    int nids;
} dc_opts;

/* The value of option argv[*i] (the next argument), or NULL after saying so. */
static const char *dc_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc || !*argv[*i + 1]) {
        fprintf(stderr, "mosync: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int dc_time(const char *opt, const char *v, long long *ms)
{
    if (ev_utc_parse(v, ms) != MO_OK) {
        fprintf(stderr, "mosync: %s: '%s' is not a UTC time like 2026-11-28T09:30:00Z\n", opt, v);
        return -1;
    }
    return 0;
}

/* Parses the options of sub ("list", "show", "redrive", "purge").  0, or -1
 * after a message naming the option. */
static int dc_parse(const char *sub, int argc, char **argv, dc_opts *o)
{
    int is_list = !strcmp(sub, "list"), is_show = !strcmp(sub, "show");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--flow") || !strcmp(a, "--entity") || !strcmp(a, "--class") ||
            !strcmp(a, "--since") || !strcmp(a, "--until") || !strcmp(a, "--id") ||
            !strcmp(a, "--state")) {
            v = dc_value(argc, argv, &i);
            if (!v)
                return -1;
        }
        if (!strcmp(a, "--flow")) {
            if (!dlq_flow_valid(v)) {
                fprintf(stderr,
                        "mosync: --flow: unknown flow '%s' (orders, articles, deliveries, stock, "
                        "or a component such as apply.orders)\n",
                        v);
                return -1;
            }
            o->f.flow = v;
        } else if (!strcmp(a, "--entity")) {
            o->f.entity = v;
        } else if (!strcmp(a, "--class")) {
            if (!dlq_class_valid(v)) {
                fprintf(stderr,
                        "mosync: --class: unknown error class '%s' (invalid, transient, "
                        "permanent, too_large, config, nomem)\n",
                        v);
                return -1;
            }
            o->f.error_class = v;
        } else if (!strcmp(a, "--since")) {
            if (dc_time(a, v, &o->f.since_ms))
                return -1;
        } else if (!strcmp(a, "--until")) {
            if (dc_time(a, v, &o->f.until_ms))
                return -1;
        } else if (!strcmp(a, "--id") && !is_show) {
            int32_t p;
            int64_t off;
            if (dlq_id_parse(v, &p, &off)) {
                fprintf(stderr,
                        "mosync: --id: '%s' is not <partition>:<offset> (as dlq list shows)\n", v);
                return -1;
            }
            if (o->nids == DC_MAX_IDS) {
                fprintf(stderr, "mosync: --id: at most %d\n", DC_MAX_IDS);
                return -1;
            }
            o->ids[o->nids++] = v;
            continue; /* an id alone does not make a filter of the rest */
        } else if (!strcmp(a, "--state") && (is_list || is_show)) {
            int s = dlq_state_parse(v);
            if (s < 0) {
                fprintf(stderr,
                        "mosync: --state: unknown state '%s' (open, redriven, resolved, purged)\n",
                        v);
                return -1;
            }
            o->f.states |= 1 << s;
            continue;
        } else if (!strcmp(a, "--all") && !is_show) {
            o->all = 1;
            continue;
        } else if (!strcmp(a, "--json") && is_list) {
            o->json = 1;
            continue;
        } else if (!strcmp(a, "--once") && is_show) {
            o->once = 1;
            continue;
        } else {
            fprintf(stderr, "mosync: dlq %s: unknown option '%s'\n", sub, a);
            return -1;
        }
        o->filtered = 1;
    }
    if (o->f.since_ms && o->f.until_ms && o->f.until_ms <= o->f.since_ms) {
        fprintf(stderr, "mosync: --until must be later than --since\n");
        return -1;
    }
    return 0;
}

/* Is l named by --id (or are there none)? */
static int dc_named(const dc_opts *o, const dlq_letter *l)
{
    if (!o->nids)
        return 1;
    for (int i = 0; i < o->nids; i++) {
        int32_t p;
        int64_t off;
        if (!dlq_id_parse(o->ids[i], &p, &off) && p == l->partition && off == l->offset)
            return 1;
    }
    return 0;
}

/* The letter as a JSON object for `list --json` (new reference). */
static json_t *dc_letter_json(const dlq_letter *l)
{
    json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, "
                          "s:i, s:I, s:b}",
                          "id", l->id, "partition", (int)l->partition, "offset",
                          (json_int_t)l->offset, "state", dlq_state_name(l->state), "flow", l->flow,
                          "component", l->component, "key", l->key, "error_class", l->error_class,
                          "error", l->error, "first_failure", l->first_failure, "last_failure",
                          l->last_failure, "attempts", l->attempts, "source", l->source, "state_by",
                          l->state_by, "source_partition", l->src_partition, "source_offset",
                          (json_int_t)l->src_offset, "truncated", l->truncated);
    if (o && *l->state_at)
        json_object_set_new(o, "state_at", json_string(l->state_at));
    return o;
}

static void dc_print_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
}

static int dc_list(const mo_config *cfg, const dc_opts *o)
{
    char errstr[512];
    dlq_letters ls;
    if (dlq_letters_read(cfg, &ls, 0, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: %s\n", errstr);
        return 1;
    }
    dlq_filter f = o->f;
    if (!f.states && !o->all)
        f.states = 1 << DLQ_OPEN;
    if (o->all)
        f.states = 0;
    if (!o->json)
        printf("%-10s %-9s %-11s %-10s %-20s %-20s %s\n", "ID", "STATE", "FLOW", "CLASS", "KEY",
               "LAST FAILURE", "ERROR");
    for (int i = 0; i < ls.n; i++) {
        const dlq_letter *l = &ls.v[i];
        if (!dlq_filter_match(&f, l) || !dc_named(o, l))
            continue;
        if (o->json) {
            json_t *j = dc_letter_json(l);
            dc_print_json(j);
            json_decref(j);
        } else {
            printf("%-10s %-9s %-11s %-10s %-20s %-20s %.100s\n", l->id, dlq_state_name(l->state),
                   *l->flow ? l->flow : "-", l->error_class, l->has_key ? l->key : "-",
                   l->last_failure, l->error);
        }
    }
    fflush(stdout);
    dlq_letters_free(&ls);
    return 0;
}

/* `dlq show --once [filters]`: the letters as `dlq show` prints them, plus
 * their state; without --once it follows the topic as it always did. */
static int dc_show(const mo_config *cfg, const dc_opts *o)
{
    char errstr[512];
    dlq_letters ls;
    if (!o->once) {
        if (o->filtered || o->f.states) {
            fprintf(stderr, "mosync: dlq show: filters need --once\n");
            return 2;
        }
        return dlq_show(cfg, 0);
    }
    if (dlq_letters_read(cfg, &ls, 1, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: %s\n", errstr);
        return 1;
    }
    for (int i = 0; i < ls.n; i++) {
        dlq_letter *l = &ls.v[i];
        if (!dlq_filter_match(&o->f, l))
            continue;
        json_object_set_new(l->shown, "state", json_string(dlq_state_name(l->state)));
        dc_print_json(l->shown);
    }
    fflush(stdout);
    dlq_letters_free(&ls);
    return 0;
}

/* Is topic one the pipeline consumes?  A re-drive writes nowhere else. */
static int dc_pipeline_topic(const mo_config *cfg, const char *topic)
{
    static const char *bases[] = {KQ_TOPIC_ORDERS, KQ_TOPIC_PRODUCTS, KQ_TOPIC_SHIPMENTS,
                                  KQ_TOPIC_STOCK};
    char name[256];
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
        if (!strcmp(topic, cfg_topic(cfg, bases[i], name, sizeof(name))))
            return 1;
    return 0;
}

/* Re-drives one open letter: its original bytes (from the source topic when
 * the letter holds them cut) back on its original topic with its key; then
 * records it "redriven".  MO_OK, or an error with errstr saying why
 * ("cannot re-drive <id>: ..."). */
static mo_err dc_redrive_one(kq_producer *kp, const mo_config *cfg, const dlq_letter *l,
                             char *errstr, size_t errstr_size)
{
    char why[512];
    void *whole = NULL;
    const void *value = l->value;
    size_t len = l->len;
    const char *id = l->id;
    if (l->src_partition < 0 || l->src_offset < 0 || !strncmp(l->component, "poll.", 5))
        return mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                         "cannot re-drive %s: it came from the API (%s, read by %s), not from a "
                         "topic; fix the cause and let the poller read it again, then purge it",
                         id, l->source, l->component);
    if (!dc_pipeline_topic(cfg, l->source))
        return mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                         "cannot re-drive %s: its source '%s' is not a topic of this "
                         "pipeline (KAFKA_TOPIC_PREFIX changed?)",
                         id, l->source);
    if (l->truncated) {
        if (dlq_fetch_original(cfg, l->source, l->src_partition, l->src_offset, &whole, &len, why,
                               sizeof(why)))
            return mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                             "cannot re-drive %s: the letter holds its value cut, and the whole "
                             "value could not be read: %s",
                             id, why);
        value = whole;
    }
    kq_batch batch;
    kq_batch_begin(&batch);
    /* Says where the copy came from, for whoever reads the topic. */
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (h)
        rd_kafka_header_add(h, "mosync.redrive.of", -1, id, -1);
    mo_err err = kq_produce(kp, &batch, l->source, l->has_key ? l->key : NULL, value, len, h, why,
                            sizeof(why));
    if (err)
        kq_batch_end(&batch);
    else
        err = kq_batch_wait(kp, &batch, 0, why, sizeof(why));
    free(whole);
    if (err)
        return mo_seterr(err, errstr, errstr_size, "cannot re-drive %s: %s", id, why);
    if ((err = dlq_state_record(kp, cfg, &id, 1, DLQ_REDRIVEN, "operator", NULL, why, sizeof(why))))
        /* Applying it twice is harmless (the applied records skip it); an
         * open letter is what the operator must know about. */
        return mo_seterr(err, errstr, errstr_size,
                         "%s was re-driven but its state could not be recorded (%s): it still "
                         "shows as open",
                         id, why);
    return MO_OK;
}

/* Keeps the appliers' index in step with what the command did to l: a
 * re-driven letter is in it (so its copy resolves it, even when the index
 * lost it), a purged one leaves it.  *rs is opened on first use; a failure
 * is said on stderr and changes nothing else. */
static void dc_index(rs_store **rs, int *broken, const mo_config *cfg, const dlq_letter *l,
                     int redrive)
{
    char errstr[512];
    mo_err err = MO_OK;
    if (!l->has_key || !*l->flow || *broken)
        return;
    if (!*rs) {
        *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
        if (!*rs) {
            fprintf(stderr,
                    "mosync: note: the appliers' index of open letters is not updated: %s\n",
                    errstr);
            *broken = 1;
            return;
        }
        rs_set_retry_ms(*rs, 2000);
    }
    if (redrive) {
        dlq_open_entry e;
        dlq_open_entry_of(l, &e);
        err = dlq_index_add(*rs, cfg, l->flow, l->key, &e, NULL, errstr, sizeof(errstr));
    } else {
        err = dlq_index_remove(*rs, cfg, l->flow, l->key, &l->id, 1, errstr, sizeof(errstr));
    }
    if (err) {
        fprintf(stderr,
                "mosync: note: the appliers' index of open letters is not updated (%s): %s\n",
                errstr,
                redrive ? "the re-driven copy resolves its letter only after the index is rebuilt"
                        : "a later success of the key may mark the purged letter resolved");
        *broken = err == MO_ERR_TRANSIENT; /* Redis away: do not wait for it again */
    }
}

/* `dlq redrive` and `dlq purge`. */
static int dc_act(const mo_config *cfg, const dc_opts *o, int redrive)
{
    char errstr[512];
    const char *verb = redrive ? "redrive" : "purge";
    if (!o->filtered && !o->nids && !o->all) {
        fprintf(stderr,
                "mosync: dlq %s needs a filter (--flow, --entity, --class, --since, --until) or "
                "--id; give --all to %s every open letter\n",
                verb, verb);
        return 2;
    }
    dlq_letters ls;
    if (dlq_letters_read(cfg, &ls, redrive, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: %s\n", errstr);
        return 1;
    }
    kq_producer *kp = kq_producer_new(cfg, "mosync-dlq", errstr, sizeof(errstr));
    if (!kp) {
        fprintf(stderr, "mosync: %s\n", errstr);
        dlq_letters_free(&ls);
        return 1;
    }
    int done = 0, failed = 0, broken = 0;
    rs_store *rs = NULL;
    /* Letters named by --id must exist and be open (a re-driven letter may
     * still be purged). */
    for (int i = 0; i < o->nids; i++) {
        int32_t p;
        int64_t off;
        dlq_id_parse(o->ids[i], &p, &off);
        const dlq_letter *l = dlq_letters_find(&ls, p, off);
        if (!l) {
            fprintf(stderr, "mosync: --id %s: no such dead letter\n", o->ids[i]);
            failed++;
        } else if (l->state != DLQ_OPEN && !(l->state == DLQ_REDRIVEN && !redrive)) {
            fprintf(stderr, "mosync: %s is %s, not open: left as it is\n", o->ids[i],
                    dlq_state_name(l->state));
            failed++;
        }
    }
    dlq_filter f = o->f;
    f.states = redrive ? 1 << DLQ_OPEN : (1 << DLQ_OPEN) | (1 << DLQ_REDRIVEN);
    for (int i = 0; i < ls.n; i++) {
        const dlq_letter *l = &ls.v[i];
        if (!dlq_filter_match(&f, l) || !dc_named(o, l))
            continue;
        if (redrive) {
            if (dc_redrive_one(kp, cfg, l, errstr, sizeof(errstr))) {
                fprintf(stderr, "mosync: %s\n", errstr);
                failed++;
            } else {
                printf("redriven %s (%s, key %s) to %s\n", l->id, *l->flow ? l->flow : l->component,
                       l->has_key ? l->key : "-", l->source);
                done++;
                dc_index(&rs, &broken, cfg, l, 1);
            }
            continue;
        }
        const char *id = l->id;
        if (dlq_state_record(kp, cfg, &id, 1, DLQ_PURGED, "operator", NULL, errstr,
                             sizeof(errstr))) {
            fprintf(stderr, "mosync: cannot purge %s: %s\n", id, errstr);
            failed++;
        } else {
            printf("purged %s (%s, key %s)\n", id, *l->flow ? l->flow : l->component,
                   l->has_key ? l->key : "-");
            done++;
            dc_index(&rs, &broken, cfg, l, 0);
        }
    }
    if (!done && !failed)
        printf("no open dead letter matches\n");
    else
        printf("%d %s, %d failed\n", done, redrive ? "re-driven" : "purged", failed);
    fflush(stdout);
    rs_close(rs);
    kq_producer_free(kp);
    dlq_letters_free(&ls);
    return failed ? 1 : 0;
}

mo_err dlq_cmd_redrive_id(const mo_config *cfg, const char *id, char *errstr, size_t errstr_size)
{
    int32_t p;
    int64_t off;
    dlq_letters ls;
    mo_err err;
    if (dlq_id_parse(id, &p, &off))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "'%s' is not a dead letter's id (<partition>:<offset>)", id);
    if ((err = dlq_letters_read(cfg, &ls, 1, errstr, errstr_size))) {
        dlq_letters_free(&ls);
        return err;
    }
    const dlq_letter *l = dlq_letters_find(&ls, p, off);
    if (!l || (*l->tenant && strcmp(l->tenant, cfg->tenant))) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "no dead letter %s of tenant %s", id,
                        cfg->tenant);
    } else if (l->state != DLQ_OPEN) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s is %s, not open: left as it is",
                        id, dlq_state_name(l->state));
    } else {
        kq_producer *kp = kq_producer_new(cfg, "mosync-dlq", errstr, errstr_size);
        err = kp ? dc_redrive_one(kp, cfg, l, errstr, errstr_size) : MO_ERR_TRANSIENT;
        if (!err) {
            rs_store *rs = NULL;
            int broken = 0;
            dc_index(&rs, &broken, cfg, l, 1);
            rs_close(rs);
        }
        kq_producer_free(kp);
    }
    dlq_letters_free(&ls);
    return err;
}

/* The most letters one `dlq dev-fill` writes. */
#define DC_FILL_MAX 10000000

/* `mosync dlq dev-fill N [--offset K] [--pad B]`: N dead letters of N
 * made-up orders (keys "<tenant>:bench-<K+i>") on mosync.dlq, with exactly
 * the headers a letter of apply.orders carries (dlq_letter_headers) and an
 * event with B bytes of padding (default 900: about 1 KB, an order's size)
 * as the value, produced in one batch.  For the dead-letter benchmark
 * (tests/bench/dlq.py) and the tests that need many letters; not in the
 * usage text, since it writes letters nobody needs.  Touches no Redis: the
 * appliers find these letters by rebuilding their index. */
static int dc_dev_fill(const mo_config *cfg, int argc, char **argv)
{
    char errstr[512], topic[256], source[256], now[32], key[128], value[1536], pad[1025];
    long long n = 0, first = 0, padding = 900;
    char *end;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--offset") && i + 1 < argc) {
            first = strtoll(argv[++i], &end, 10);
            if (*end || first < 0) {
                fprintf(stderr, "mosync: --offset: not a number >= 0\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--pad") && i + 1 < argc) {
            padding = strtoll(argv[++i], &end, 10);
            if (*end || padding < 0 || padding >= (long long)sizeof(pad)) {
                fprintf(stderr, "mosync: --pad: 0..%d\n", (int)sizeof(pad) - 1);
                return 2;
            }
        } else {
            n = strtoll(argv[i], &end, 10);
            if (*end || n <= 0 || n > DC_FILL_MAX) {
                fprintf(stderr, "mosync: dlq dev-fill: N must be 1..%d\n", DC_FILL_MAX);
                return 2;
            }
        }
    }
    if (!n) {
        fprintf(stderr, "mosync: dlq dev-fill needs N\n");
        return 2;
    }
    kq_producer *kp = kq_producer_new(cfg, "mosync-dlq-fill", errstr, sizeof(errstr));
    if (!kp) {
        fprintf(stderr, "mosync: %s\n", errstr);
        return 1;
    }
    cfg_topic(cfg, KQ_TOPIC_DLQ, topic, sizeof(topic));
    cfg_topic(cfg, KQ_TOPIC_ORDERS, source, sizeof(source));
    ev_utc_now(now, sizeof(now));
    memset(pad, 'x', (size_t)padding);
    pad[padding] = '\0';
    kq_batch batch;
    kq_batch_begin(&batch);
    mo_err err = MO_OK;
    for (long long i = first; i < first + n && !err; i++) {
        snprintf(key, sizeof(key), "%s:bench-%lld", cfg->tenant, i);
        int len = snprintf(value, sizeof(value),
                           "{\"type\":\"mystore.order\",\"version\":1,\"id\":\"bench-%lld\","
                           "\"tenant\":\"%s\",\"entity_id\":\"bench-%lld\","
                           "\"source_version\":\"2026-01-01T00:00:00Z\",\"observed_at\":\"%s\","
                           "\"data\":{\"padding\":\"%s\"}}",
                           i, cfg->tenant, i, now, pad);
        dlq_ctx d = {.component = "apply.orders",
                     .source = source,
                     .partition =
                         (int)(i % (cfg->topic_partitions > 0 ? cfg->topic_partitions : 1)),
                     .offset = i,
                     .key = key,
                     .error_class = MO_ERR_PERMANENT,
                     .error = "bench: a made-up letter (mosync dlq dev-fill)",
                     .attempts = 1};
        rd_kafka_headers_t *h = dlq_letter_headers(cfg, &d, d.error, now, "2026-01-01T00:00:00Z");
        if (!h || len < 0 || (size_t)len >= sizeof(value)) {
            if (h)
                rd_kafka_headers_destroy(h);
            err = mo_seterr(MO_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
            break;
        }
        err = kq_produce(kp, &batch, topic, key, value, (size_t)len, h, errstr, sizeof(errstr));
    }
    if (err)
        kq_batch_end(&batch);
    else
        err = kq_batch_wait(kp, &batch, 0, errstr, sizeof(errstr));
    kq_producer_free(kp);
    if (err) {
        fprintf(stderr, "mosync: dlq dev-fill: %s\n", errstr);
        return 1;
    }
    printf("%lld letters written to %s\n", n, topic);
    return 0;
}

int dlq_cmd_main(int argc, char **argv)
{
    mo_config cfg;
    dc_opts o;
    char errstr[512];
    const char *sub = argc > 0 ? argv[0] : "";
    int rc;
    if (!strcmp(sub, "dev-fill")) {
        if (cfg_load(&cfg, CFG_NEED_KAFKA, errstr, sizeof(errstr))) {
            fprintf(stderr, "mosync: configuration error: %s\n", errstr);
            return 2;
        }
        rc = dc_dev_fill(&cfg, argc - 1, argv + 1);
        cfg_free(&cfg);
        return rc;
    }
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "redrive") &&
        strcmp(sub, "purge")) {
        fprintf(stderr, "mosync: dlq needs list, show, redrive or purge\n");
        return 2;
    }
    memset(&o, 0, sizeof(o));
    if (dc_parse(sub, argc - 1, argv + 1, &o))
        return 2;
    if (cfg_load(&cfg, CFG_NEED_KAFKA, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    o.f.tenant = cfg.tenant;
    if (!strcmp(sub, "list"))
        rc = dc_list(&cfg, &o);
    else if (!strcmp(sub, "show"))
        rc = dc_show(&cfg, &o);
    else
        rc = dc_act(&cfg, &o, !strcmp(sub, "redrive"));
    cfg_free(&cfg);
    return rc;
}
