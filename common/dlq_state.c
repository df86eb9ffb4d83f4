/* The dead letters' states (see dlq_state.h). */
#include "dlq_state.h"
#include "dlq.h"
#include "event.h"
#include "log.h"
#include "stop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reading a topic to its end: how long to wait for it to exist (a topic
 * nobody wrote to may not), and for its end at all. */
#define DS_META_TRIES   10
#define DS_READ_TIMEOUT 60000
/* Redis calls of the index are a cache's: short retries, never a stall. */
#define DS_REDIS_RETRY_MS 500

static const char *ds_state_names[DLQ_NSTATES] = {"open", "redriven", "resolved", "purged"};

const char *dlq_state_name(dlq_state s)
{
    return s >= 0 && s < DLQ_NSTATES ? ds_state_names[s] : "unknown";
}

int dlq_state_parse(const char *name)
{
    for (int i = 0; name && i < DLQ_NSTATES; i++)
        if (!strcmp(name, ds_state_names[i]))
            return i;
    return -1;
}

/* Components and their flows: the appliers' "apply.<flow>" and the pollers'
 * streams (producers/), whose names say what they read. */
static const struct {
    const char *component, *flow;
} ds_flows[] = {
    {"apply.orders", "orders"},
    {"apply.articles", "articles"},
    {"apply.deliveries", "deliveries"},
    {"apply.stock", "stock"},
    {"poll.mystore-orders", "orders"},
    {"poll.mystore-products", "articles"},
    {"poll.ongoing-shipments", "deliveries"},
    {"poll.ongoing-stock", "stock"},
};
#define DS_NFLOWS ((int)(sizeof(ds_flows) / sizeof(ds_flows[0])))

const char *dlq_flow_of(const char *component)
{
    for (int i = 0; component && i < DS_NFLOWS; i++)
        if (!strcmp(component, ds_flows[i].component))
            return ds_flows[i].flow;
    return "";
}

int dlq_flow_valid(const char *name)
{
    for (int i = 0; name && i < DS_NFLOWS; i++)
        if (!strcmp(name, ds_flows[i].component) || !strcmp(name, ds_flows[i].flow))
            return 1;
    return 0;
}

int dlq_class_valid(const char *name)
{
    for (int e = MO_ERR_INVALID; name && e <= MO_ERR_NOMEM; e++)
        if (!strcmp(name, mo_err_name((mo_err)e)))
            return 1;
    return 0;
}

/* A decimal number >= 0 filling all of s[0..len). */
static int ds_number(const char *s, size_t len, long long max, long long *out)
{
    char buf[32];
    if (!len || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno || v > max)
        return -1;
    *out = v;
    return 0;
}

mo_err dlq_id_parse(const char *id, int32_t *partition, int64_t *offset)
{
    const char *colon = id ? strchr(id, ':') : NULL;
    long long p, o;
    if (!colon || ds_number(id, (size_t)(colon - id), INT32_MAX, &p) ||
        ds_number(colon + 1, strlen(colon + 1), INT64_MAX, &o))
        return MO_ERR_INVALID;
    *partition = (int32_t)p;
    *offset = (int64_t)o;
    return MO_OK;
}

/* Copies the header value (len bytes) into dst when it fits, else leaves it. */
static void ds_text(char *dst, size_t size, const char *value, size_t len)
{
    if (len < size) {
        memcpy(dst, value, len);
        dst[len] = '\0';
    }
}

void dlq_letter_header(dlq_letter *l, const char *name, const char *value, size_t len)
{
    long long n;
    if (!value)
        return;
    if (!strcmp(name, "mosync.source")) {
        ds_text(l->source, sizeof(l->source), value, len);
    } else if (!strcmp(name, "mosync.partition")) {
        l->src_partition = ds_number(value, len, INT32_MAX, &n) ? -1 : (int)n;
    } else if (!strcmp(name, "mosync.offset")) {
        l->src_offset = ds_number(value, len, INT64_MAX, &n) ? -1 : n;
    } else if (!strcmp(name, "mosync.key")) {
        ds_text(l->key, sizeof(l->key), value, len);
        l->has_key = len < sizeof(l->key);
    } else if (!strcmp(name, "mosync.tenant")) {
        ds_text(l->tenant, sizeof(l->tenant), value, len);
    } else if (!strcmp(name, "mosync.component")) {
        ds_text(l->component, sizeof(l->component), value, len);
        snprintf(l->flow, sizeof(l->flow), "%s", dlq_flow_of(l->component));
    } else if (!strcmp(name, "mosync.error.class")) {
        ds_text(l->error_class, sizeof(l->error_class), value, len);
    } else if (!strcmp(name, "mosync.error")) {
        /* dlq.c cuts it to fit; a longer one from elsewhere is cut here. */
        ds_text(l->error, sizeof(l->error), value,
                len < sizeof(l->error) ? len : sizeof(l->error) - 1);
    } else if (!strcmp(name, "mosync.attempts")) {
        l->attempts = ds_number(value, len, 1000000, &n) ? 0 : (int)n;
    } else if (!strcmp(name, "mosync.first.failure")) {
        ds_text(l->first_failure, sizeof(l->first_failure), value, len);
    } else if (!strcmp(name, "mosync.last.failure")) {
        ds_text(l->last_failure, sizeof(l->last_failure), value, len);
        long long ms;
        if (*l->last_failure && ev_utc_parse(l->last_failure, &ms) == MO_OK)
            l->time_ms = ms;
    } else if (!strcmp(name, "mosync.value.truncated")) {
        l->truncated = len == 4 && !memcmp(value, "true", 4);
    }
}

static int ds_cmp(const dlq_letter *l, int32_t partition, int64_t offset)
{
    if (l->partition != partition)
        return l->partition < partition ? -1 : 1;
    if (l->offset != offset)
        return l->offset < offset ? -1 : 1;
    return 0;
}

mo_err dlq_letters_add(dlq_letters *ls, const dlq_letter *l)
{
    if (ls->n == ls->cap) {
        int cap = ls->cap ? ls->cap * 2 : 64;
        dlq_letter *grown = realloc(ls->v, (size_t)cap * sizeof(*grown));
        if (!grown)
            return MO_ERR_NOMEM;
        ls->v = grown;
        ls->cap = cap;
    }
    /* Letters come partition by partition, each in order: almost always
     * appended at the end. */
    int i = ls->n;
    while (i > 0 && ds_cmp(&ls->v[i - 1], l->partition, l->offset) > 0)
        i--;
    memmove(&ls->v[i + 1], &ls->v[i], (size_t)(ls->n - i) * sizeof(*ls->v));
    ls->v[i] = *l;
    ls->n++;
    return MO_OK;
}

dlq_letter *dlq_letters_find(dlq_letters *ls, int32_t partition, int64_t offset)
{
    int lo = 0, hi = ls->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = ds_cmp(&ls->v[mid], partition, offset);
        if (!c)
            return &ls->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

int dlq_letters_fold(dlq_letters *ls, const char *key, const json_t *rec)
{
    int32_t p;
    int64_t o;
    int state = dlq_state_parse(json_string_value(json_object_get(rec, "state")));
    const char *at = json_string_value(json_object_get(rec, "at"));
    const char *by = json_string_value(json_object_get(rec, "by"));
    if (!key || dlq_id_parse(key, &p, &o) || state < 0)
        return 0;
    dlq_letter *l = dlq_letters_find(ls, p, o);
    if (!l)
        return 0;
    l->state = (dlq_state)state;
    snprintf(l->state_at, sizeof(l->state_at), "%s", at ? at : "");
    snprintf(l->state_by, sizeof(l->state_by), "%s", by ? by : "");
    return 1;
}

void dlq_letters_free(dlq_letters *ls)
{
    for (int i = 0; i < ls->n; i++) {
        free(ls->v[i].value);
        json_decref(ls->v[i].shown);
    }
    free(ls->v);
    memset(ls, 0, sizeof(*ls));
}

/* A consumer that reads without a group commit (like dlq_show). */
static rd_kafka_t *ds_consumer(const mo_config *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (int i = 0; i < cfg->n_kafka_props; i++)
        rd_kafka_conf_set(conf, cfg->kafka_props[i].name, cfg->kafka_props[i].value, errstr,
                          errstr_size);
    rd_kafka_conf_set(conf, "group.id", "mosync-dlq-state", errstr, errstr_size);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size);
    /* An offset retention removed is an error, not a silent jump. */
    rd_kafka_conf_set(conf, "auto.offset.reset", "error", errstr, errstr_size);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static void ds_consumer_free(rd_kafka_t *rk)
{
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* When a read must be done: DS_READ_TIMEOUT, or the thread's deadline when
 * sooner (an applier resolving letters is inside one message's budget). */
static long long ds_deadline(void)
{
    long left = mo_deadline_left_ms();
    return mo_now_ms() + (left < DS_READ_TIMEOUT ? left : DS_READ_TIMEOUT);
}

typedef int (*ds_msg_fn)(void *opaque, const rd_kafka_message_t *m);

/* Reads topic (full name) from the start of every partition to its end,
 * calling fn for each message (a non-zero return stops with MO_ERR_NOMEM).
 * A topic that does not exist has nothing: MO_OK. */
static mo_err ds_read_topic(const mo_config *cfg, const char *topic, ds_msg_fn fn, void *opaque,
                            char *errstr, size_t errstr_size)
{
    mo_err ret = MO_OK;
    rd_kafka_t *rk = ds_consumer(cfg, errstr, errstr_size);
    if (!rk)
        return MO_ERR_CONFIG;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    long long deadline = ds_deadline();
    for (int tries = 0; tries < DS_META_TRIES && !mo_stop_requested(); tries++) {
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        long long left = deadline - mo_now_ms();
        if (left <= 0) {
            ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "metadata of %s: no time left",
                            topic);
            break;
        }
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, left < 1000 ? (int)left : 1000);
        if (e) {
            md = NULL;
            ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "metadata of %s: %s", topic,
                            rd_kafka_err2str(e));
        } else if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            ret = MO_OK;
            break;
        } else {
            ret = MO_OK; /* the broker answers: the topic is not there (yet) */
        }
        mo_stop_sleep_ms(200);
    }
    if (ret || !md || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0)
        goto out;
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int eofs = 0;
    while (eofs < nparts) {
        if (mo_stop_requested() || mo_now_ms() > deadline) {
            ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s not read to its end in time",
                            topic);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err && fn(opaque, m))
            ret = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory reading %s", topic);
        rd_kafka_message_destroy(m);
        if (ret)
            break;
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    ds_consumer_free(rk);
    return ret;
}

mo_err dlq_fetch_original(const mo_config *cfg, const char *topic, int partition, long long offset,
                          void **value, size_t *len, char *errstr, size_t errstr_size)
{
    mo_err ret = MO_OK;
    *value = NULL;
    *len = 0;
    rd_kafka_t *rk = ds_consumer(cfg, errstr, errstr_size);
    if (!rk)
        return MO_ERR_CONFIG;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = offset;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    long long deadline = ds_deadline();
    for (;;) {
        if (mo_stop_requested() || mo_now_ms() > deadline) {
            ret = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "%s [%d] @%lld not read in time",
                            topic, partition, offset);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        /* Past the end, or an offset retention removed (the consumer then
         * jumps to the end or reports the range): the message is gone. */
        int gone = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
                   m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
                   m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                   (!m->err && m->offset != offset);
        if (gone) {
            ret = mo_seterr(MO_ERR_PERMANENT, errstr, errstr_size,
                            "%s [%d] @%lld is no longer in Kafka", topic, partition, offset);
        } else if (!m->err) {
            *value = malloc(m->len ? m->len : 1);
            if (!*value) {
                ret = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            } else {
                if (m->len)
                    memcpy(*value, m->payload, m->len);
                *len = m->len;
            }
        }
        int done = gone || !m->err;
        rd_kafka_message_destroy(m);
        if (done)
            break;
    }
    ds_consumer_free(rk);
    return ret;
}

/* One message of mosync.dlq into the letters. */
static int ds_on_letter(void *opaque, const rd_kafka_message_t *m)
{
    dlq_letters *ls = opaque;
    dlq_letter l;
    rd_kafka_headers_t *hdrs = NULL;
    memset(&l, 0, sizeof(l));
    l.partition = m->partition;
    l.offset = m->offset;
    l.src_partition = -1;
    l.src_offset = -1;
    snprintf(l.id, sizeof(l.id), "%d:%lld", (int)m->partition, (long long)m->offset);
    if (!rd_kafka_message_headers(m, &hdrs)) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
            dlq_letter_header(&l, name, val, val ? size : 0);
    }
    if (!l.has_key && m->key && m->key_len < sizeof(l.key)) {
        memcpy(l.key, m->key, m->key_len);
        l.key[m->key_len] = '\0';
        l.has_key = 1;
    }
    if (!l.time_ms)
        l.time_ms = rd_kafka_message_timestamp(m, NULL);
    if (ls->with_values) {
        l.value = malloc(m->len ? m->len : 1);
        l.shown = dlq_message_json(m);
        if (!l.value || !l.shown) {
            free(l.value);
            json_decref(l.shown);
            return -1;
        }
        if (m->len)
            memcpy(l.value, m->payload, m->len);
        l.len = m->len;
    }
    if (dlq_letters_add(ls, &l)) {
        free(l.value);
        json_decref(l.shown);
        return -1;
    }
    return 0;
}

/* One record of mosync.dlq.state onto the letters; a malformed one is
 * skipped (it names no letter we could change). */
static int ds_on_state(void *opaque, const rd_kafka_message_t *m)
{
    char key[64];
    if (!m->key || m->key_len >= sizeof(key))
        return 0;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    json_t *rec = json_loadb(m->payload ? m->payload : "", m->len, 0, NULL);
    dlq_letters_fold(opaque, key, rec);
    json_decref(rec);
    return 0;
}

mo_err dlq_letters_read(const mo_config *cfg, dlq_letters *ls, int with_values, char *errstr,
                        size_t errstr_size)
{
    char topic[256];
    memset(ls, 0, sizeof(*ls));
    ls->with_values = with_values;
    /* Letters first: every state record names a letter already written. */
    mo_err err = ds_read_topic(cfg, cfg_topic(cfg, KQ_TOPIC_DLQ, topic, sizeof(topic)),
                               ds_on_letter, ls, errstr, errstr_size);
    if (!err)
        err = ds_read_topic(cfg, cfg_topic(cfg, KQ_TOPIC_DLQ_STATE, topic, sizeof(topic)),
                            ds_on_state, ls, errstr, errstr_size);
    if (err)
        dlq_letters_free(ls);
    return err;
}

int dlq_letter_superseded(const dlq_letter *l, const char *topic, int32_t partition, int64_t offset,
                          long long ts_ms)
{
    if (!strcmp(l->source, topic) && l->src_partition == partition)
        return l->src_offset < offset;
    return ts_ms > 0 && ts_ms >= l->time_ms;
}

int dlq_filter_match(const dlq_filter *f, const dlq_letter *l)
{
    if (f->states && !(f->states & (1 << l->state)))
        return 0;
    /* Another tenant's letter on shared topics is never ours to act on. */
    if (f->tenant && *l->tenant && strcmp(f->tenant, l->tenant))
        return 0;
    if (f->flow && *f->flow && strcmp(f->flow, l->flow) && strcmp(f->flow, l->component))
        return 0;
    if (f->error_class && *f->error_class && strcmp(f->error_class, l->error_class))
        return 0;
    if (f->since_ms && l->time_ms < f->since_ms)
        return 0;
    if (f->until_ms && l->time_ms >= f->until_ms)
        return 0;
    if (f->entity && *f->entity) {
        /* Keys are "<tenant>:<entity>" (ev_key); the entity alone is what an
         * operator reads in the shop. */
        size_t tl = f->tenant ? strlen(f->tenant) : 0;
        int whole = l->has_key && !strcmp(l->key, f->entity);
        int part = l->has_key && tl && !strncmp(l->key, f->tenant, tl) && l->key[tl] == ':' &&
                   !strcmp(l->key + tl + 1, f->entity);
        if (!whole && !part)
            return 0;
    }
    return 1;
}

mo_err dlq_state_record(kq_producer *kp, const mo_config *cfg, const char *const *ids, int n,
                        dlq_state state, const char *by, const char *note, char *errstr,
                        size_t errstr_size)
{
    char topic[256], now[32];
    kq_batch batch;
    mo_err err = MO_OK;
    if (n <= 0)
        return MO_OK;
    cfg_topic(cfg, KQ_TOPIC_DLQ_STATE, topic, sizeof(topic));
    ev_utc_now(now, sizeof(now));
    kq_batch_begin(&batch);
    for (int i = 0; i < n && !err; i++) {
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "letter", ids[i], "state",
                                dlq_state_name(state), "at", now, "by", by);
        if (rec && note)
            json_object_set_new(rec, "note", json_string(note));
        char *bytes = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(rec);
        if (!bytes) {
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            break;
        }
        err =
            kq_produce(kp, &batch, topic, ids[i], bytes, strlen(bytes), NULL, errstr, errstr_size);
        free(bytes);
    }
    if (err) {
        kq_batch_end(&batch);
        return err;
    }
    return kq_batch_wait(kp, &batch, 0, errstr, errstr_size);
}

mo_err dlq_open_by_class(const mo_config *cfg, json_t **out, char *errstr, size_t errstr_size)
{
    dlq_letters ls;
    *out = NULL;
    mo_err err = dlq_letters_read(cfg, &ls, 0, errstr, errstr_size);
    if (err)
        return err;
    json_t *o = json_object();
    for (int i = 0; o && i < ls.n; i++) {
        const dlq_letter *l = &ls.v[i];
        if (l->state != DLQ_OPEN || (*l->tenant && strcmp(l->tenant, cfg->tenant)))
            continue;
        const char *comp = *l->component ? l->component : "unknown";
        const char *cls = *l->error_class ? l->error_class : "unknown";
        json_t *by = json_object_get(o, comp);
        if (!by) {
            by = json_object();
            json_object_set_new(o, comp, by);
        }
        json_int_t n = json_integer_value(json_object_get(by, cls));
        json_object_set_new(by, cls, json_integer(n + 1));
    }
    dlq_letters_free(&ls);
    if (!o)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    *out = o;
    return MO_OK;
}

/* ---- the index ------------------------------------------------------------ */

#define DS_MARKER "dlq:index"

static const char *ds_index_key(const char *flow, char *buf, size_t size)
{
    snprintf(buf, size, "dlq:open:%s", flow);
    return buf;
}

/* The index expires after APPLIED_TTL_DAYS, as every record (0: never, for
 * tests).  Each increment renews its hash, and the marker is set after the
 * increments of a rebuild with the same TTL, so the marker never outlives
 * the hashes it vouches for: when it is gone, the index is rebuilt. */
static const char *ds_index_ttl(const mo_config *cfg, char *buf, size_t size)
{
    snprintf(buf, size, "%ld", cfg_applied_ttl_s(cfg));
    return buf;
}

/* HINCRBY of key's field in flow's index, renewing the hash's expiry. */
static mo_err ds_index_incr(rs_store *rs, const mo_config *cfg, const char *flow, const char *key,
                            char *errstr, size_t errstr_size)
{
    char suffix[64], ttl[32];
    const char *keys[1] = {ds_index_key(flow, suffix, sizeof(suffix))};
    const char *args[2] = {key, ds_index_ttl(cfg, ttl, sizeof(ttl))};
    json_t *out = NULL;
    mo_err err = rs_eval(rs,
                         "local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1) "
                         "if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
                         "return n",
                         1, keys, 2, args, &out, errstr, errstr_size);
    json_decref(out);
    return err;
}

void dlq_index_note(const mo_config *cfg, const char *component, const char *key)
{
    char errstr[256];
    const char *flow = dlq_flow_of(component);
    if (!key || !*flow || !*cfg->redis_url)
        return;
    rs_store *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!rs) {
        lg_warn(component, cfg->tenant, "dead-letter index: %s", errstr);
        return;
    }
    rs_set_retry_ms(rs, DS_REDIS_RETRY_MS);
    if (ds_index_incr(rs, cfg, flow, key, errstr, sizeof(errstr)))
        lg_warn(component, cfg->tenant,
                "dead-letter index not updated (%s); it is rebuilt from Kafka when lost", errstr);
    rs_close(rs);
}

struct dlq_resolver {
    const mo_config *cfg;
    char flow[32];
    char component[64];
    rs_store *rs;
    kq_producer *kp;
    long long checked_ms;
    int checked;
};

dlq_resolver *dlq_resolver_new(const mo_config *cfg, const char *flow, const char *component)
{
    char errstr[256];
    dlq_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cfg = cfg;
    snprintf(r->flow, sizeof(r->flow), "%s", flow);
    snprintf(r->component, sizeof(r->component), "%s", component);
    r->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (r->rs)
        rs_set_retry_ms(r->rs, DS_REDIS_RETRY_MS);
    else
        lg_warn(component, cfg->tenant, "dead letters will not be resolved: %s", errstr);
    return r;
}

void dlq_resolver_free(dlq_resolver *r)
{
    if (!r)
        return;
    rs_close(r->rs);
    kq_producer_free(r->kp);
    free(r);
}

/* The index's marker is gone (new or emptied Redis): every open or
 * re-driven letter of the flow goes back in, then the marker is set. */
static void ds_rebuild(dlq_resolver *r)
{
    char errstr[512];
    json_t *out = NULL;
    const char *marker[1] = {DS_MARKER};
    if (rs_eval(r->rs, "return redis.call('EXISTS', KEYS[1])", 1, marker, 0, NULL, &out, errstr,
                sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index marker: %s", errstr);
        return;
    }
    int present = json_integer_value(out) == 1;
    json_decref(out);
    if (present)
        return;
    dlq_letters ls;
    if (dlq_letters_read(r->cfg, &ls, 0, errstr, sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index not rebuilt: %s", errstr);
        return;
    }
    int n = 0, failed = 0;
    /* Every flow's letters: the marker is one for all of them. */
    for (int i = 0; i < ls.n && !failed; i++) {
        const dlq_letter *l = &ls.v[i];
        if ((l->state == DLQ_OPEN || l->state == DLQ_REDRIVEN) && l->has_key && *l->flow) {
            failed = ds_index_incr(r->rs, r->cfg, l->flow, l->key, errstr, sizeof(errstr)) != MO_OK;
            n++;
        }
    }
    dlq_letters_free(&ls);
    char ttl[32];
    const char *args[1] = {ds_index_ttl(r->cfg, ttl, sizeof(ttl))};
    if (!failed)
        failed = rs_eval(r->rs,
                         "if tonumber(ARGV[1]) > 0 then "
                         "return redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) end "
                         "return redis.call('SET', KEYS[1], '1')",
                         1, marker, 1, args, &out, errstr, sizeof(errstr)) != MO_OK;
    else
        out = NULL;
    json_decref(out);
    if (failed)
        lg_warn(r->component, r->cfg->tenant, "dead-letter index not rebuilt: %s", errstr);
    else
        lg_info(r->component, r->cfg->tenant,
                "dead-letter index rebuilt from Kafka: %d open letter(s)", n);
}

void dlq_resolver_applied(dlq_resolver *r, const char *topic, const rd_kafka_message_t *m)
{
    char key[512], suffix[64], errstr[512], note[512];
    json_t *out = NULL;
    if (!r || !r->rs || r->cfg->dry_run)
        return;
    long long now = mo_now_ms();
    if (!r->checked || now - r->checked_ms >= DLQ_INDEX_CHECK_MS) {
        r->checked = 1;
        r->checked_ms = now;
        ds_rebuild(r);
    }
    if (!m->key || !m->key_len || m->key_len >= sizeof(key))
        return;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    const char *keys[1] = {ds_index_key(r->flow, suffix, sizeof(suffix))};
    const char *args[2] = {key, NULL};
    if (rs_eval(r->rs, "return redis.call('HGET', KEYS[1], ARGV[1])", 1, keys, 1, args, &out,
                errstr, sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index: %s", errstr);
        return;
    }
    if (!json_is_string(out) && !json_is_integer(out)) {
        json_decref(out); /* no open letter for this key: the common case */
        return;
    }
    char seen[32];
    if (json_is_string(out))
        snprintf(seen, sizeof(seen), "%s", json_string_value(out));
    else
        snprintf(seen, sizeof(seen), "%lld", (long long)json_integer_value(out));
    json_decref(out);

    dlq_letters ls;
    if (dlq_letters_read(r->cfg, &ls, 0, errstr, sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead letters of %s not resolved: %s", key, errstr);
        return;
    }
    /* An older event of the key still waiting in another partition must
     * not close a letter about a newer state. */
    long long ts_ms = rd_kafka_message_timestamp(m, NULL);
    const char **ids = calloc((size_t)(ls.n ? ls.n : 1), sizeof(*ids));
    int n = 0, later = 0;
    for (int i = 0; ids && i < ls.n; i++) {
        const dlq_letter *l = &ls.v[i];
        if ((l->state == DLQ_OPEN || l->state == DLQ_REDRIVEN) && l->has_key &&
            !strcmp(l->key, key) && !strcmp(l->flow, r->flow)) {
            if (dlq_letter_superseded(l, topic, m->partition, m->offset, ts_ms))
                ids[n++] = l->id;
            else
                later++;
        }
    }
    mo_err err = ids ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
    if (!err && n && !r->kp) {
        r->kp = kq_producer_new(r->cfg, r->component, errstr, sizeof(errstr));
        if (!r->kp)
            err = MO_ERR_CONFIG;
    }
    snprintf(note, sizeof(note), "applied %s [%d] @%lld", topic, (int)m->partition,
             (long long)m->offset);
    if (!err && n)
        err = dlq_state_record(r->kp, r->cfg, ids, n, DLQ_RESOLVED, r->component, note, errstr,
                               sizeof(errstr));
    if (err) {
        lg_warn(r->component, r->cfg->tenant, "dead letters of %s not resolved: %s", key, errstr);
        goto out;
    }
    for (int i = 0; i < n; i++)
        lg_info(r->component, r->cfg->tenant, "dead letter %s of %s resolved: %s", ids[i], key,
                note);
    /* The key leaves the index only when none of its letters is left open
     * (one newer than this event stays), and only when no letter came
     * meanwhile (the counter is unchanged). */
    if (!later) {
        args[1] = seen;
        if (rs_eval(r->rs,
                    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
                    "return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0",
                    1, keys, 2, args, &out, errstr, sizeof(errstr)))
            lg_warn(r->component, r->cfg->tenant, "dead-letter index: %s", errstr);
        json_decref(out);
    }
out:
    free(ids);
    dlq_letters_free(&ls);
}
