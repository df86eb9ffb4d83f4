/* Issue 12 items 12 and 14: which letters an applied event resolves (by
 * source version; a re-driven copy only its own), the letter list that is
 * appended and sorted once, the index of open letters in Redis (its values,
 * the adds and removals), and the resolver that never reads the topics on
 * the message path: a real redis-server and librdkafka's mock cluster. */
#include "unit.h"
#include "ut_net.h"
#include "common/dlq.h"
#include "common/dlq_state.h"
#include "common/event.h"
#include "common/stop.h"
#include "common/store.h"

#include <librdkafka/rdkafka_mock.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dlq_open_entry ut_entry(const char *id, int p, long long o, const char *version)
{
    dlq_open_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "%s", id);
    e.src_partition = p;
    e.src_offset = o;
    ev_utc_parse("2026-11-28T10:00:00Z", &e.time_ms);
    snprintf(e.version, sizeof(e.version), "%s", version);
    return e;
}

/* Version 1 (letter 0:0, event at 2:10) and version 2 (letter 0:1, event at
 * 2:11) of one order both failed.  Re-driving letter 1 puts a copy at 2:20:
 * it resolves letter 1 only, although it comes after both. */
UT_TEST(issue12_12_redriven_copy_resolves_only_its_own_letter)
{
    dlq_open_entry l1 = ut_entry("0:0", 2, 10, "2026-11-28T09:00:00Z");
    dlq_open_entry l2 = ut_entry("0:1", 2, 11, "2026-11-28T09:30:00Z");
    dlq_applied copy = {.version = "2026-11-28T09:00:00Z",
                        .redrive_of = "0:0",
                        .partition = 2,
                        .offset = 20,
                        .ts_ms = 1900000000000LL};
    UT_CHECK(dlq_resolves(&l1, &copy), "the copy resolves its own letter");
    UT_CHECK(!dlq_resolves(&l2, &copy), "the copy of letter 1 resolved letter 2");
    /* A copy of version 2 still resolves only letter 2: its letter says
     * what it was re-driven for, not which others an operator meant. */
    copy.redrive_of = "0:1";
    copy.version = "2026-11-28T09:30:00Z";
    UT_CHECK(dlq_resolves(&l2, &copy) && !dlq_resolves(&l1, &copy), "copy of letter 2");
    /* Also a letter without a version: only by its id. */
    dlq_open_entry bare = ut_entry("0:2", 2, 5, "");
    UT_CHECK(!dlq_resolves(&bare, &copy), "a copy resolved a letter it was not re-driven from");
}

/* Without a re-drive, the versions decide, wherever the event sits. */
UT_TEST(issue12_12_versions_decide_which_letters_an_event_resolves)
{
    dlq_open_entry l1 = ut_entry("0:0", 2, 10, "2026-11-28T09:00:00Z");
    dlq_open_entry l2 = ut_entry("0:1", 2, 11, "2026-11-28T09:30:00Z");
    /* The dead-lettered event itself, replayed (same offset, same version). */
    dlq_applied own = {.version = "2026-11-28T09:00:00Z", .partition = 2, .offset = 10};
    UT_CHECK(dlq_resolves(&l1, &own), "the letter's own event, applied, left its letter open");
    UT_CHECK(!dlq_resolves(&l2, &own), "an older version resolved a newer letter");
    /* Version 1 again at a later offset (emitted again, or waiting in another
     * partition): never closes the letter about version 2. */
    dlq_applied again = {.version = "2026-11-28T09:00:00Z", .partition = 2, .offset = 30};
    UT_CHECK(!dlq_resolves(&l2, &again), "a later offset of an older version resolved letter 2");
    again.partition = 5;
    again.ts_ms = 1900000000000LL;
    UT_CHECK(!dlq_resolves(&l2, &again), "another partition, later time, older version");
    /* Version 3 resolves both, at any place. */
    dlq_applied v3 = {.version = "2026-11-28T10:00:00.500Z", .partition = 7, .offset = 1};
    UT_CHECK(dlq_resolves(&l1, &v3) && dlq_resolves(&l2, &v3), "a newer version resolves both");
    /* Two spellings of one instant are one version. */
    dlq_applied same = {.version = "2026-11-28T09:30:00.000Z", .partition = 2, .offset = 3};
    UT_CHECK(dlq_resolves(&l2, &same), "the same instant written with milliseconds");
    /* Versions of an older mosync (shop-local text) compare as text. */
    dlq_open_entry old = ut_entry("0:3", 2, 12, "2026-11-28 10:00:00");
    dlq_applied older = {.version = "2026-11-28 09:59:59", .partition = 2, .offset = 40};
    UT_CHECK(!dlq_resolves(&old, &older), "shop-local versions by text");
    /* Forms that cannot be compared fall back to the place. */
    dlq_applied mixed = {.version = "2026-11-28T11:00:00Z", .partition = 2, .offset = 11};
    UT_CHECK(!dlq_resolves(&old, &mixed), "mixed forms: an earlier offset");
    mixed.offset = 12;
    UT_CHECK(dlq_resolves(&old, &mixed), "mixed forms: the letter's own place");
    /* An event whose version is unknown falls back too. */
    dlq_applied unknown = {.version = NULL, .partition = 2, .offset = 9};
    UT_CHECK(!dlq_resolves(&l1, &unknown), "no version: an earlier offset");
}

/* Letters arrive with their partitions interleaved; the list appends them,
 * sorts once, finds each, and keeps each small (a 2.3 KB fixed struct per
 * letter made 100,000 letters 230 MB, and the insertion walk made adding
 * them quadratic). */
UT_TEST(issue12_14_letter_list_appends_small_letters_and_sorts_once)
{
    enum { N = 100000, P = 12 };
    volatile size_t size = sizeof(dlq_letter); /* a constant check is a warning */
    UT_CHECK(size <= 192, "a letter takes %zu bytes before its text", (size_t)size);
    dlq_letters ls;
    memset(&ls, 0, sizeof(ls));
    dlq_draft d;
    char key[64];
    /* Highest partition first, each partition's offsets in order: every
     * letter goes before the ones already there. */
    for (int i = 0; i < N; i++) {
        int p = P - 1 - i % P;
        dlq_draft_init(&d, p, i / P);
        snprintf(key, sizeof(key), "t1:%d", 100000 + i);
        dlq_letter_header(&d, "mosync.key", key, strlen(key));
        dlq_letter_header(&d, "mosync.component", "apply.orders", 12);
        dlq_letter_header(&d, "mosync.source", "e.mystore.orders", 16);
        dlq_letter_header(&d, "mosync.tenant", "t1", 2);
        dlq_letter_header(&d, "mosync.error.class", "permanent", 9);
        dlq_letter_header(&d, "mosync.error", "PUT orders: HTTP 400: refused", 29);
        dlq_letter_header(&d, "mosync.last.failure", "2026-11-28T10:00:00Z", 20);
        dlq_letter_header(&d, "mosync.source.version", "2026-11-28T09:00:00Z", 20);
        if (!UT_CHECK(dlq_letters_add(&ls, &d) == MO_OK, "add %d", i))
            break;
    }
    UT_CHECK(ls.n == N, "%d letters", ls.n);
    dlq_letters_sort(&ls);
    int ordered = 1;
    for (int i = 1; i < ls.n && ordered; i++)
        ordered =
            ls.v[i - 1].partition < ls.v[i].partition ||
            (ls.v[i - 1].partition == ls.v[i].partition && ls.v[i - 1].offset < ls.v[i].offset);
    UT_CHECK(ordered, "sorted by partition, then offset");
    int found = 0;
    for (int i = 0; i < N; i++) {
        const dlq_letter *l = dlq_letters_find(&ls, P - 1 - i % P, i / P);
        snprintf(key, sizeof(key), "t1:%d", 100000 + i);
        found += l && !strcmp(l->key, key) && !strcmp(l->flow, "orders");
    }
    UT_CHECK(found == N, "%d of %d found with their keys", found, N);
    UT_CHECK(dlq_letters_bytes(&ls) / N <= 400, "%zu bytes per letter", dlq_letters_bytes(&ls) / N);
    dlq_letters_free(&ls);
}

/* The index values: what dlq_open_format writes, dlq_open_parse reads back;
 * malformed entries (from an older mosync, or bytes someone put there) are
 * skipped, a repeated id is kept once, the count is capped. */
UT_TEST(issue12_14_index_values_round_trip_and_refuse_garbage)
{
    char buf[160], value[1024];
    dlq_open_entry out[8];
    dlq_open_entry a = ut_entry("3:17", 2, 40, "2026-11-28T09:16:12.120Z");
    dlq_open_entry b = ut_entry("3:18", -1, -1, "");
    int la = dlq_open_format(&a, buf, sizeof(buf));
    UT_CHECK(la > 0 && !strcmp(buf, "3:17,2,40,1795860000000,2026-11-28T09:16:12.120Z"),
             "entry: %s", buf);
    snprintf(value, sizeof(value), "%s;", buf);
    dlq_open_format(&b, buf, sizeof(buf));
    snprintf(value + strlen(value), sizeof(value) - strlen(value),
             "%s;garbage;1:2,x,3,4,;1:2,3,4,5,a!;b;1:2,3,4;9:9,-2,1,1,;;3:17,0,0,0,;%s", buf, "1");
    int n = dlq_open_parse(value, strlen(value), out, 8);
    UT_CHECK(n == 2, "%d entries from %s", n, value);
    UT_CHECK(!strcmp(out[0].id, "3:17") && out[0].src_partition == 2 && out[0].src_offset == 40 &&
                 out[0].time_ms == 1795860000000LL &&
                 !strcmp(out[0].version, "2026-11-28T09:16:12.120Z"),
             "first entry as written");
    UT_CHECK(n < 2 || (!strcmp(out[1].id, "3:18") && out[1].src_partition == -1 &&
                       out[1].src_offset == -1 && !*out[1].version),
             "a poller's entry: no place, no version");
    UT_CHECK(dlq_open_parse("1:1,0,0,0,;2:2,0,0,0,;3:3,0,0,0,", 32, out, 2) == 2, "capped");
    UT_CHECK(dlq_open_parse("1:1,0,0,0,\0;2:2", 15, out, 8) == 0, "a NUL inside an entry");
    UT_CHECK(dlq_open_parse(NULL, 0, out, 8) == 0 && dlq_open_parse("", 0, out, 8) == 0, "empty");
    dlq_open_entry bad = ut_entry("3:19", 0, 0, "x,y");
    UT_CHECK(dlq_open_format(&bad, buf, sizeof(buf)) < 0, "a version with a separator");
    bad = ut_entry("3", 0, 0, "");
    UT_CHECK(dlq_open_format(&bad, buf, sizeof(buf)) < 0, "not an id");
    UT_CHECK(dlq_open_format(&a, buf, 10) < 0, "too small a buffer");
}

/* A private redis-server and a store on it for tenant t1; 0 when up. */
static int ut_redis_up(ut_redis *redis, mo_config *cfg, rs_store **rs)
{
    char errstr[256];
    if (ut_redis_start(redis, NULL))
        return -1;
    memset(cfg, 0, sizeof(*cfg));
    cfg->applied_ttl_days = 1;
    snprintf(cfg->redis_url, sizeof(cfg->redis_url), "redis://127.0.0.1:%d/0", redis->port);
    snprintf(cfg->tenant, sizeof(cfg->tenant), "t1");
    *rs = rs_open(cfg->redis_url, "t1", errstr, sizeof(errstr));
    long long t0 = mo_now_ms();
    while (*rs && rs_ping(*rs, errstr, sizeof(errstr)) && mo_now_ms() - t0 < 5000)
        mo_stop_sleep_ms(50);
    return *rs && rs_ping(*rs, errstr, sizeof(errstr)) == MO_OK ? 0 : -1;
}

/* One Redis command through the store (key as a suffix); the reply as JSON. */
static json_t *ut_cmd(rs_store *rs, const char *cmd, const char *suffix, const char *arg)
{
    char errstr[256], script[128];
    json_t *out = NULL;
    const char *keys[1] = {suffix};
    const char *args[1] = {arg};
    snprintf(script, sizeof(script), "return redis.call('%s', KEYS[1]%s)", cmd,
             arg ? ", ARGV[1]" : "");
    if (rs_eval(rs, script, 1, keys, arg ? 1 : 0, args, &out, errstr, sizeof(errstr)))
        return NULL;
    return out;
}

static int ut_entries(rs_store *rs, const char *key, dlq_open_entry *out, int max)
{
    json_t *v = ut_cmd(rs, "HGET", "dlq:open:orders", key);
    int n = json_is_string(v)
                ? dlq_open_parse(json_string_value(v), json_string_length(v), out, max)
                : 0;
    json_decref(v);
    return n;
}

/* Adding is idempotent and capped per key, removing takes out exactly the
 * ids named, the last one takes the field; every write renews the expiry. */
UT_TEST(issue12_14_index_adds_once_and_removes_by_id)
{
    char errstr[256];
    ut_redis redis;
    mo_config cfg;
    rs_store *rs = NULL;
    dlq_open_entry out[DLQ_OPEN_MAX];
    if (ut_redis_up(&redis, &cfg, &rs)) {
        printf("    skipped: cannot start redis-server\n");
        ut_redis_stop(&redis);
        rs_close(rs);
        return;
    }
    dlq_open_entry a = ut_entry("0:3", 1, 10, "2026-11-28T09:00:00Z");
    dlq_open_entry b = ut_entry("0:13", 1, 11, "2026-11-28T09:30:00Z");
    int full = 0;
    UT_CHECK(
        dlq_index_add(rs, &cfg, "orders", "t1:1", &a, &full, errstr, sizeof(errstr)) == MO_OK &&
            dlq_index_add(rs, &cfg, "orders", "t1:1", &a, &full, errstr, sizeof(errstr)) == MO_OK &&
            dlq_index_add(rs, &cfg, "orders", "t1:1", &b, &full, errstr, sizeof(errstr)) == MO_OK,
        "adds: %s", errstr);
    int n = ut_entries(rs, "t1:1", out, DLQ_OPEN_MAX);
    UT_CHECK(n == 2 && !strcmp(out[0].id, "0:3") && !strcmp(out[1].id, "0:13") && !full,
             "two letters, each once: %d", n);
    json_t *ttl = ut_cmd(rs, "TTL", "dlq:open:orders", NULL);
    UT_CHECK(json_integer_value(ttl) > 86000 && json_integer_value(ttl) <= 86400,
             "expires with APPLIED_TTL_DAYS: %lld", (long long)json_integer_value(ttl));
    json_decref(ttl);
    /* "0:1" is a prefix of neither's id; "0:3" must not take "0:13". */
    const char *ids[2] = {"0:1", "0:3"};
    UT_CHECK(dlq_index_remove(rs, &cfg, "orders", "t1:1", ids, 2, errstr, sizeof(errstr)) == MO_OK,
             "remove: %s", errstr);
    n = ut_entries(rs, "t1:1", out, DLQ_OPEN_MAX);
    UT_CHECK(n == 1 && !strcmp(out[0].id, "0:13"), "one left: %d", n);
    ids[0] = "0:13";
    UT_CHECK(dlq_index_remove(rs, &cfg, "orders", "t1:1", ids, 1, errstr, sizeof(errstr)) == MO_OK,
             "remove: %s", errstr);
    json_t *there = ut_cmd(rs, "HEXISTS", "dlq:open:orders", "t1:1");
    UT_CHECK(json_integer_value(there) == 0, "the last letter takes the key out");
    json_decref(there);
    /* One key's value is capped: a letter past it is left out and said so. */
    int added = 0;
    for (int i = 0; i < 400 && !full; i++) {
        char id[32];
        snprintf(id, sizeof(id), "1:%d", i);
        dlq_open_entry e = ut_entry(id, 1, i, "2026-11-28T09:00:00Z");
        if (dlq_index_add(rs, &cfg, "orders", "t1:2", &e, &full, errstr, sizeof(errstr)))
            break;
        added += !full;
    }
    json_t *v = ut_cmd(rs, "HGET", "dlq:open:orders", "t1:2");
    UT_CHECK(full && json_string_length(v) <= DLQ_OPEN_VALUE_MAX && added > 50 &&
                 ut_entries(rs, "t1:2", out, DLQ_OPEN_MAX) == added,
             "capped at %zu bytes after %d letters", json_string_length(v), added);
    json_decref(v);
    rs_close(rs);
    ut_redis_stop(&redis);
}

/* A consumer of one message (kept until freed: the message borrows it). */
typedef struct ut_fetched {
    rd_kafka_t *rk;
    rd_kafka_message_t *m;
} ut_fetched;

static int ut_fetch(const mo_config *cfg, const char *topic, int32_t partition, int64_t offset,
                    ut_fetched *f)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "ut-fetch", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    f->m = NULL;
    f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!f->rk)
        return -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = offset;
    rd_kafka_assign(f->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    for (int i = 0; i < 100 && !f->m; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, 100);
        if (m && !m->err)
            f->m = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    return f->m ? 0 : -1;
}

static void ut_fetched_free(ut_fetched *f)
{
    if (f->m)
        rd_kafka_message_destroy(f->m);
    if (f->rk) {
        rd_kafka_consumer_close(f->rk);
        rd_kafka_destroy(f->rk);
    }
}

/* Produces one event of order `id` at version to ut.mystore.orders
 * (partition 0); *offset is where it went.  0 when delivered. */
static int ut_event(kq_producer *kp, const char *id, const char *version, const char *redrive_of,
                    int64_t *offset)
{
    char errstr[256], key[32], value[256];
    snprintf(key, sizeof(key), "t1:%s", id);
    snprintf(value, sizeof(value),
             "{\"type\":\"mystore.order\",\"version\":1,\"id\":\"x\",\"tenant\":\"t1\","
             "\"entity_id\":\"%s\",\"source_version\":\"%s\",\"observed_at\":\"%s\",\"data\":{}}",
             id, version, version);
    rd_kafka_headers_t *h = NULL;
    if (redrive_of) {
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "mosync.redrive.of", -1, redrive_of, -1);
    }
    kq_batch batch;
    kq_batch_begin(&batch);
    if (kq_produce(kp, &batch, "ut.mystore.orders", key, value, strlen(value), h, errstr,
                   sizeof(errstr))) {
        kq_batch_end(&batch);
        return -1;
    }
    if (kq_batch_wait(kp, &batch, 0, errstr, sizeof(errstr)))
        return -1;
    *offset = batch.last_offset;
    return 0;
}

/* The state of letter id, read from the topics. */
static dlq_state ut_state(const mo_config *cfg, const char *id)
{
    char errstr[256];
    dlq_letters ls;
    int32_t p;
    int64_t o;
    dlq_state s = DLQ_NSTATES;
    if (dlq_id_parse(id, &p, &o) || dlq_letters_read(cfg, &ls, 0, errstr, sizeof(errstr)))
        return s;
    const dlq_letter *l = dlq_letters_find(&ls, p, o);
    if (l)
        s = l->state;
    dlq_letters_free(&ls);
    return s;
}

/* The letters dlq_send wrote of key, in the index (ids into out). */
static int ut_ids(rs_store *rs, const char *key, char ids[][32], int max)
{
    dlq_open_entry out[8];
    int n = ut_entries(rs, key, out, 8);
    for (int i = 0; i < n && i < max; i++)
        snprintf(ids[i], 32, "%s", out[i].id);
    return n;
}

/* The resolver end to end on a real Redis and the mock cluster: dlq_send
 * notes each letter (with its id from the delivery report and its version)
 * in the index; the index an older mosync kept (counters) is rebuilt; a
 * re-driven copy resolves its own letter only; with the
 * marker gone and another process holding the rebuild lock, a success
 * waits in the queue and the call returns (no topic read); when the lock is
 * free the resolver's thread rebuilds the index, sets the marker (expiring
 * no later than the index) and resolves what waited. */
UT_TEST(issue12_14_resolver_decides_from_the_index_and_rebuilds_in_the_background)
{
    char errstr[512], ids[4][32];
    ut_redis redis;
    mo_config cfg;
    rs_store *rs = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    kq_producer *kp = NULL;
    dlq_resolver *r = NULL;
    ut_fetched f = {0};
    if (ut_redis_up(&redis, &cfg, &rs)) {
        printf("    skipped: cannot start redis-server\n");
        goto out;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!UT_CHECK(rk != NULL, "producer: %s", errstr))
        goto out;
    mc = rd_kafka_mock_cluster_new(rk, 1);
    snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "ut.");
    snprintf(cfg.kafka_brokers, sizeof(cfg.kafka_brokers), "%s",
             rd_kafka_mock_cluster_bootstraps(mc));
    rd_kafka_mock_topic_create(mc, "ut.mosync.dlq", 2, 1);
    rd_kafka_mock_topic_create(mc, "ut.mosync.dlq.state", 2, 1);
    rd_kafka_mock_topic_create(mc, "ut.mystore.orders", 1, 1);
    kp = kq_producer_new(&cfg, "ut-dlq-index", errstr, sizeof(errstr));
    if (!UT_CHECK(kp != NULL, "kq_producer_new: %s", errstr))
        goto out;

    /* Versions 1 and 2 of order 1 fail; the applier dead-letters both. */
    int64_t off1, off2, off;
    UT_CHECK(ut_event(kp, "1", "2026-11-28T09:00:00Z", NULL, &off1) == 0 &&
                 ut_event(kp, "1", "2026-11-28T09:30:00Z", NULL, &off2) == 0,
             "events");
    for (int i = 0; i < 2; i++) {
        UT_CHECK(ut_fetch(&cfg, "ut.mystore.orders", 0, i ? off2 : off1, &f) == 0, "fetch");
        dlq_ctx d = {.component = "apply.orders",
                     .source = "ut.mystore.orders",
                     .partition = 0,
                     .offset = f.m ? f.m->offset : 0,
                     .key = "t1:1",
                     .error_class = MO_ERR_PERMANENT,
                     .error = "refused",
                     .attempts = 1};
        UT_CHECK(f.m && dlq_send(kp, &cfg, &d, f.m->payload, f.m->len, errstr, sizeof(errstr)) ==
                            MO_OK,
                 "dlq_send: %s", errstr);
        ut_fetched_free(&f);
        memset(&f, 0, sizeof(f));
    }
    /* Order 2 has a letter that stays open throughout. */
    static const char other[] = "{\"type\":\"mystore.order\",\"source_version\":"
                                "\"2026-11-28T08:00:00Z\"}";
    dlq_ctx d2 = {.component = "apply.orders",
                  .source = "ut.mystore.orders",
                  .partition = 0,
                  .offset = 99,
                  .key = "t1:2",
                  .error_class = MO_ERR_PERMANENT,
                  .error = "refused",
                  .attempts = 1};
    UT_CHECK(dlq_send(kp, &cfg, &d2, other, strlen(other), errstr, sizeof(errstr)) == MO_OK,
             "dlq_send: %s", errstr);
    if (!UT_CHECK(ut_ids(rs, "t1:1", ids, 4) == 2, "both letters noted in the index"))
        goto out;
    dlq_open_entry e[2];
    ut_entries(rs, "t1:1", e, 2);
    UT_CHECK(!strcmp(e[0].version, "2026-11-28T09:00:00Z") &&
                 !strcmp(e[1].version, "2026-11-28T09:30:00Z") && e[0].src_offset == off1,
             "the index has each letter's version and place");

    /* What an older mosync keeps instead: its marker, and a counter for
     * order 1's two letters. */
    UT_CHECK(ut_redis_cmd(&redis, NULL,
                          (const char *[]){"SET", "mosync:{t1}:dlq:index", "1", NULL}) == 0 &&
                 ut_redis_cmd(&redis, NULL,
                              (const char *[]){"HSET", "mosync:{t1}:dlq:open:orders", "t1:1", "2",
                                               NULL}) == 0,
             "an older index");

    /* The index of this mosync is not there yet (the older one's marker
     * does not vouch for it): rebuilt, then a re-driven copy of letter 1
     * resolves it alone. */
    r = dlq_resolver_new(&cfg, "orders", "apply.orders", NULL);
    UT_CHECK(ut_event(kp, "1", "2026-11-28T09:00:00Z", ids[0], &off) == 0 &&
                 ut_fetch(&cfg, "ut.mystore.orders", 0, off, &f) == 0,
             "the re-driven copy");
    dlq_resolver_applied(r, "ut.mystore.orders", f.m);
    ut_fetched_free(&f);
    memset(&f, 0, sizeof(f));
    /* Not dlq_resolver_pending: the background thread takes an entry off
     * the queue before it resolves it, so the queue is empty a moment before
     * the record is on the state topic (the check failed so once in CI). */
    long long t0 = mo_now_ms();
    while ((dlq_resolver_pending(r) || ut_state(&cfg, ids[0]) != DLQ_RESOLVED) &&
           mo_now_ms() - t0 < 30000)
        mo_stop_sleep_ms(50);
    UT_CHECK(ut_state(&cfg, ids[0]) == DLQ_RESOLVED && ut_state(&cfg, ids[1]) == DLQ_OPEN,
             "letter 1 resolved, letter 2 open");
    json_t *v = ut_cmd(rs, "HGET", "dlq:open:orders", "t1:1");
    UT_CHECK(ut_ids(rs, "t1:1", ids + 2, 2) == 1 && !strcmp(ids[2], ids[1]) && json_is_string(v) &&
                 json_string_value(v)[0] != '2',
             "letter 1 and the old counter left the index: %s", json_string_value(v));
    json_decref(v);
    /* Now the index is there: decided at once.  An older version of order 2
     * than its letter's leaves the letter open. */
    UT_CHECK(ut_event(kp, "2", "2026-11-28T07:00:00Z", NULL, &off) == 0 &&
                 ut_fetch(&cfg, "ut.mystore.orders", 0, off, &f) == 0,
             "order 2, older");
    dlq_resolver_applied(r, "ut.mystore.orders", f.m);
    ut_fetched_free(&f);
    memset(&f, 0, sizeof(f));
    UT_CHECK(dlq_resolver_pending(r) == 0, "decided at once");
    UT_CHECK(ut_ids(rs, "t1:2", ids + 2, 2) == 1, "order 2's letter stays");

    /* Redis emptied; another process holds the rebuild lock. */
    UT_CHECK(ut_redis_cmd(&redis, NULL, (const char *[]){"FLUSHALL", NULL}) == 0 &&
                 ut_redis_cmd(
                     &redis, NULL,
                     (const char *[]){"SET", "mosync:{t1}:lock:dlq-rebuild", "other", NULL}) == 0,
             "flush, lock");
    UT_CHECK(ut_event(kp, "1", "2026-11-28T10:00:00Z", NULL, &off) == 0 &&
                 ut_fetch(&cfg, "ut.mystore.orders", 0, off, &f) == 0,
             "version 3");
    dlq_resolver_applied(r, "ut.mystore.orders", f.m);
    UT_CHECK(dlq_resolver_pending(r) == 1, "the success waits: %d", dlq_resolver_pending(r));
    UT_CHECK(ut_state(&cfg, ids[1]) == DLQ_OPEN, "nothing resolved without the index");
    /* The queue is bounded. */
    for (int i = 0; i < DLQ_PENDING_MAX + 5; i++)
        dlq_resolver_applied(r, "ut.mystore.orders", f.m);
    UT_CHECK(dlq_resolver_pending(r) == DLQ_PENDING_MAX, "queue capped: %d",
             dlq_resolver_pending(r));
    ut_fetched_free(&f);
    memset(&f, 0, sizeof(f));

    UT_CHECK(ut_redis_cmd(&redis, NULL,
                          (const char *[]){"DEL", "mosync:{t1}:lock:dlq-rebuild", NULL}) == 0,
             "lock freed");
    t0 = mo_now_ms();
    while (dlq_resolver_pending(r) && mo_now_ms() - t0 < 30000)
        mo_stop_sleep_ms(50);
    UT_CHECK(dlq_resolver_pending(r) == 0, "the waiting successes were checked");
    /* Both expiries read at one instant (one script); order 2's letter
     * keeps the hash there. */
    json_t *ttls = NULL;
    const char *keys[2] = {"dlq:index:v2", "dlq:open:orders"};
    rs_eval(rs, "return {redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])}", 2, keys, 0,
            NULL, &ttls, errstr, sizeof(errstr));
    long long marker = json_integer_value(json_array_get(ttls, 0));
    long long hash = json_integer_value(json_array_get(ttls, 1));
    json_decref(ttls);
    UT_CHECK(marker > 0 && hash > 0, "the marker and the index expire: %lld, %lld", marker, hash);
    UT_CHECK(marker <= hash, "the marker outlives the index: %lld > %lld", marker, hash);
    UT_CHECK(ut_ids(rs, "t1:2", ids + 2, 2) == 1, "order 2's letter is in the rebuilt index");
    UT_CHECK(ut_state(&cfg, ids[1]) == DLQ_RESOLVED,
             "version 3 resolved letter 2 after the rebuild");
    UT_CHECK(ut_ids(rs, "t1:1", ids + 2, 2) == 0, "no letter of the key left in the index");
out:
    ut_fetched_free(&f);
    dlq_resolver_free(r);
    kq_producer_free(kp);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    rs_close(rs);
    ut_redis_stop(&redis);
}
