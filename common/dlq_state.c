/* The dead letters' states (see dlq_state.h). */
#include "dlq_state.h"
#include "dlq.h"
#include "event.h"
#include "log.h"
#include "stop.h"

#include <errno.h>
#include <pthread.h>
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

static int ds_cmp(const dlq_letter *l, int32_t partition, int64_t offset)
{
    if (l->partition != partition)
        return l->partition < partition ? -1 : 1;
    if (l->offset != offset)
        return l->offset < offset ? -1 : 1;
    return 0;
}

int dlq_version_valid(const char *s, size_t len)
{
    if (!s || !len || len > DLQ_VERSION_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == ':' || c == '.' || c == '+' || c == '_' || c == ' ' || c == '-'))
            return 0;
    }
    return 1;
}

/* Copies the header value (len bytes) into dst when it fits, else leaves it. */
static void ds_text(char *dst, size_t size, const char *value, size_t len)
{
    if (len < size) {
        memcpy(dst, value, len);
        dst[len] = '\0';
    }
}

void dlq_draft_init(dlq_draft *d, int32_t partition, int64_t offset)
{
    memset(d, 0, sizeof(*d));
    d->partition = partition;
    d->offset = offset;
    d->src_partition = -1;
    d->src_offset = -1;
    snprintf(d->id, sizeof(d->id), "%d:%lld", (int)partition, (long long)offset);
}

void dlq_letter_header(dlq_draft *d, const char *name, const char *value, size_t len)
{
    long long n;
    if (!value)
        return;
    if (!strcmp(name, "mosync.source")) {
        ds_text(d->source, sizeof(d->source), value, len);
    } else if (!strcmp(name, "mosync.partition")) {
        d->src_partition = ds_number(value, len, INT32_MAX, &n) ? -1 : (int)n;
    } else if (!strcmp(name, "mosync.offset")) {
        d->src_offset = ds_number(value, len, INT64_MAX, &n) ? -1 : n;
    } else if (!strcmp(name, "mosync.key")) {
        ds_text(d->key, sizeof(d->key), value, len);
        d->has_key = len < sizeof(d->key);
    } else if (!strcmp(name, "mosync.tenant")) {
        ds_text(d->tenant, sizeof(d->tenant), value, len);
    } else if (!strcmp(name, "mosync.component")) {
        ds_text(d->component, sizeof(d->component), value, len);
    } else if (!strcmp(name, "mosync.error.class")) {
        ds_text(d->error_class, sizeof(d->error_class), value, len);
    } else if (!strcmp(name, "mosync.error")) {
        /* dlq.c cuts it to fit; a longer one from elsewhere is cut here. */
        ds_text(d->error, sizeof(d->error), value,
                len < sizeof(d->error) ? len : sizeof(d->error) - 1);
    } else if (!strcmp(name, "mosync.attempts")) {
        d->attempts = ds_number(value, len, 1000000, &n) ? 0 : (int)n;
    } else if (!strcmp(name, "mosync.first.failure")) {
        ds_text(d->first_failure, sizeof(d->first_failure), value, len);
    } else if (!strcmp(name, "mosync.last.failure")) {
        ds_text(d->last_failure, sizeof(d->last_failure), value, len);
        long long ms;
        if (*d->last_failure && ev_utc_parse(d->last_failure, &ms) == MO_OK)
            d->time_ms = ms;
    } else if (!strcmp(name, "mosync.source.version")) {
        /* Anything else is no version: the letter falls back to its place. */
        if (dlq_version_valid(value, len))
            ds_text(d->version, sizeof(d->version), value, len);
    } else if (!strcmp(name, "mosync.value.truncated")) {
        d->truncated = len == 4 && !memcmp(value, "true", 4);
    }
}

/* ---- the list: compact letters, their text in an arena -------------------- */

/* The arena: chunks that never move (a letter points into them), and the few
 * short texts every letter repeats (topic, tenant, component, class, who
 * changed the state) kept once. */
#define DS_CHUNK     (64 * 1024)
#define DS_INTERNS   32
#define DS_INTERN_AT 128 /* longer texts are never interned */

typedef struct ds_chunk {
    struct ds_chunk *next;
    size_t size, used;
    char data[];
} ds_chunk;

struct dlq_arena {
    ds_chunk *head;
    size_t bytes;
    const char *interned[DS_INTERNS];
    int ninterned;
};

/* A copy of s (len bytes, NUL added) in the arena; "" for an empty one.
 * NULL when out of memory. */
static const char *ds_copy(dlq_letters *ls, const char *s, size_t len)
{
    if (!len)
        return "";
    if (!ls->arena) {
        ls->arena = calloc(1, sizeof(*ls->arena));
        if (!ls->arena)
            return NULL;
    }
    struct dlq_arena *a = ls->arena;
    if (!a->head || a->head->size - a->head->used < len + 1) {
        size_t size = len + 1 > DS_CHUNK ? len + 1 : DS_CHUNK;
        ds_chunk *c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->next = a->head;
        c->size = size;
        c->used = 0;
        a->head = c;
        a->bytes += sizeof(*c) + size;
    }
    char *p = a->head->data + a->head->used;
    memcpy(p, s, len);
    p[len] = '\0';
    a->head->used += len + 1;
    return p;
}

/* s kept once when it is one of the few texts letters repeat, else copied. */
static const char *ds_intern(dlq_letters *ls, const char *s)
{
    size_t len = strlen(s);
    if (!len)
        return "";
    if (len < DS_INTERN_AT && ls->arena)
        for (int i = 0; i < ls->arena->ninterned; i++)
            if (!strcmp(ls->arena->interned[i], s))
                return ls->arena->interned[i];
    const char *p = ds_copy(ls, s, len);
    if (p && len < DS_INTERN_AT && ls->arena->ninterned < DS_INTERNS)
        ls->arena->interned[ls->arena->ninterned++] = p;
    return p;
}

static const char *ds_dup(dlq_letters *ls, const char *s)
{
    return ds_copy(ls, s, strlen(s));
}

mo_err dlq_letters_add(dlq_letters *ls, dlq_draft *d)
{
    mo_err err = MO_OK;
    if (ls->n >= DLQ_LETTERS_MAX) {
        err = MO_ERR_TOO_LARGE;
        goto out;
    }
    if (ls->n == ls->cap) {
        int cap = ls->cap ? ls->cap * 2 : 256;
        dlq_letter *grown = realloc(ls->v, (size_t)cap * sizeof(*grown));
        if (!grown) {
            err = MO_ERR_NOMEM;
            goto out;
        }
        ls->v = grown;
        ls->cap = cap;
    }
    dlq_letter *l = &ls->v[ls->n];
    memset(l, 0, sizeof(*l));
    l->partition = d->partition;
    l->offset = d->offset;
    l->src_partition = d->src_partition;
    l->src_offset = d->src_offset;
    l->time_ms = d->time_ms;
    l->attempts = d->attempts;
    l->state = DLQ_OPEN;
    l->has_key = (unsigned char)(d->has_key != 0);
    l->truncated = (unsigned char)(d->truncated != 0);
    l->flow = dlq_flow_of(d->component);
    l->id = ds_dup(ls, d->id);
    l->source = ds_intern(ls, d->source);
    l->key = ds_dup(ls, d->key);
    l->tenant = ds_intern(ls, d->tenant);
    l->component = ds_intern(ls, d->component);
    l->error_class = ds_intern(ls, d->error_class);
    l->error = ds_dup(ls, d->error);
    l->first_failure = ds_dup(ls, d->first_failure);
    l->last_failure = ds_dup(ls, d->last_failure);
    l->version = ds_dup(ls, d->version);
    l->state_at = "";
    l->state_by = "";
    if (!l->id || !l->source || !l->key || !l->tenant || !l->component || !l->error_class ||
        !l->error || !l->first_failure || !l->last_failure || !l->version) {
        err = MO_ERR_NOMEM;
        goto out;
    }
    l->value = d->value;
    l->len = d->len;
    l->shown = d->shown;
    d->value = NULL;
    d->shown = NULL;
    /* Partitions arrive interleaved: appended now, sorted once later. */
    if (ls->n && ds_cmp(&ls->v[ls->n - 1], l->partition, l->offset) > 0)
        ls->unsorted = 1;
    ls->n++;
out:
    free(d->value);
    json_decref(d->shown);
    d->value = NULL;
    d->shown = NULL;
    return err;
}

static int ds_order(const void *a, const void *b)
{
    const dlq_letter *y = b;
    return ds_cmp(a, y->partition, y->offset);
}

void dlq_letters_sort(dlq_letters *ls)
{
    if (ls->unsorted && ls->n > 1)
        qsort(ls->v, (size_t)ls->n, sizeof(*ls->v), ds_order);
    ls->unsorted = 0;
}

dlq_letter *dlq_letters_find(dlq_letters *ls, int32_t partition, int64_t offset)
{
    dlq_letters_sort(ls);
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
    /* A record's text is short (it names a time and who); a long one from
     * elsewhere is cut, as the headers are. */
    char at_cut[40], by_cut[64];
    snprintf(at_cut, sizeof(at_cut), "%s", at ? at : "");
    snprintf(by_cut, sizeof(by_cut), "%s", by ? by : "");
    const char *at_c = ds_dup(ls, at_cut);
    const char *by_c = ds_intern(ls, by_cut);
    if (!at_c || !by_c)
        return 0;
    l->state = (dlq_state)state;
    l->state_at = at_c;
    l->state_by = by_c;
    return 1;
}

size_t dlq_letters_bytes(const dlq_letters *ls)
{
    return (size_t)ls->cap * sizeof(*ls->v) + (ls->arena ? ls->arena->bytes : 0);
}

void dlq_letters_free(dlq_letters *ls)
{
    for (int i = 0; i < ls->n; i++) {
        free(ls->v[i].value);
        json_decref(ls->v[i].shown);
    }
    free(ls->v);
    if (ls->arena) {
        for (ds_chunk *c = ls->arena->head, *next; c; c = next) {
            next = c->next;
            free(c);
        }
        free(ls->arena);
    }
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

/* When a read must be done: DS_READ_TIMEOUT from now, or the thread's
 * deadline when sooner. */
static long long ds_deadline(void)
{
    long left = mo_deadline_left_ms();
    return mo_now_ms() + (left < DS_READ_TIMEOUT ? left : DS_READ_TIMEOUT);
}

typedef int (*ds_msg_fn)(void *opaque, const rd_kafka_message_t *m);

/* Reads topic (full name) from the start of every partition to its end,
 * calling fn for each message (a non-zero return stops with MO_ERR_NOMEM).
 * A topic that does not exist has nothing: MO_OK.  The time bound
 * (DS_READ_TIMEOUT) counts from the last message that came, so a long topic
 * is read whole while a broker that stops answering is noticed; a thread's
 * own deadline still holds. */
static mo_err ds_read_topic(const mo_config *cfg, const char *topic, ds_msg_fn fn, void *opaque,
                            char *errstr, size_t errstr_size)
{
    mo_err ret = MO_OK;
    unsigned char *eof = NULL;
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
    /* A partition counts as read once, however often it reports its end. */
    eof = calloc((size_t)nparts, 1);
    if (!eof) {
        ret = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
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
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            for (int i = 0; i < nparts; i++)
                if (md->topics[0].partitions[i].id == m->partition && !eof[i]) {
                    eof[i] = 1;
                    eofs++;
                }
        } else if (!m->err) {
            if (fn(opaque, m))
                ret = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size,
                                "out of memory (or too many letters) reading %s", topic);
            deadline = ds_deadline();
        }
        rd_kafka_message_destroy(m);
        if (ret)
            break;
    }
out:
    free(eof);
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
    dlq_draft d;
    rd_kafka_headers_t *hdrs = NULL;
    dlq_draft_init(&d, m->partition, m->offset);
    if (!rd_kafka_message_headers(m, &hdrs)) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
            dlq_letter_header(&d, name, val, val ? size : 0);
    }
    if (!d.has_key && m->key && m->key_len < sizeof(d.key)) {
        memcpy(d.key, m->key, m->key_len);
        d.key[m->key_len] = '\0';
        d.has_key = 1;
    }
    if (!d.time_ms)
        d.time_ms = rd_kafka_message_timestamp(m, NULL);
    if (ls->with_values) {
        d.value = malloc(m->len ? m->len : 1);
        d.shown = dlq_message_json(m);
        if (!d.value || !d.shown) {
            free(d.value);
            json_decref(d.shown);
            return -1;
        }
        if (m->len)
            memcpy(d.value, m->payload, m->len);
        d.len = m->len;
    }
    return dlq_letters_add(ls, &d) ? -1 : 0;
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
    dlq_letters_sort(ls);
    if (!err)
        err = ds_read_topic(cfg, cfg_topic(cfg, KQ_TOPIC_DLQ_STATE, topic, sizeof(topic)),
                            ds_on_state, ls, errstr, errstr_size);
    if (err)
        dlq_letters_free(ls);
    return err;
}

/* Compares two source versions: 1 when a is at or before b, 0 when after,
 * -1 when they cannot be compared.  UTC instants compare by time (two
 * spellings of one instant are equal); the shop-local form of an older
 * mosync by text, as ev_version_older does; mixed forms not at all. */
static int ds_version_le(const char *a, const char *b)
{
    long long x, y;
    if (ev_utc_parse(a, &x) == MO_OK && ev_utc_parse(b, &y) == MO_OK)
        return x <= y;
    if (!strcmp(a, b) || ev_version_older(a, b))
        return 1;
    if (ev_version_older(b, a))
        return 0;
    return -1;
}

int dlq_resolves(const dlq_open_entry *e, const dlq_applied *a)
{
    /* A re-driven copy carries its letter's version, which says nothing
     * about the entity's other letters (issue 12 item 12: re-driving an
     * older letter closed a newer one). */
    if (a->redrive_of && *a->redrive_of)
        return !strcmp(e->id, a->redrive_of);
    if (*e->version && a->version && *a->version) {
        int le = ds_version_le(e->version, a->version);
        if (le >= 0)
            return le;
    }
    if (e->src_partition >= 0 && e->src_partition == a->partition)
        return e->src_offset <= a->offset;
    return a->ts_ms > 0 && a->ts_ms >= e->time_ms;
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

/* The marker of the index.  "v2": the hashes hold each key's letters (issue
 * 12 item 14), where an older mosync kept a counter under "dlq:index"; its
 * index is therefore rebuilt once, and its counters are dropped as the
 * entries of their keys are taken out (dlq_index_remove). */
#define DS_MARKER "dlq:index:v2"
#define DS_LOCK   "dlq-rebuild"
/* The bytes of entries one Redis call of a rebuild adds (a call per entry
 * made a rebuild of 100,000 letters take 25 s). */
#define DS_PACK_MAX (64 * 1024)
/* Ids one call takes out of a key's entries. */
#define DS_REMOVE_BATCH 13
/* A rebuild that failed (Kafka or Redis away) is tried again after this;
 * another process's rebuild is waited for in steps of DS_WAIT_STEP_MS. */
#define DS_REBUILD_AGAIN_MS 5000
#define DS_WAIT_STEP_MS     1000

static const char *const ds_flow_names[] = {"orders", "articles", "deliveries", "stock"};
#define DS_NFLOW_NAMES ((int)(sizeof(ds_flow_names) / sizeof(ds_flow_names[0])))

static const char *ds_index_key(const char *flow, char *buf, size_t size)
{
    snprintf(buf, size, "dlq:open:%s", flow);
    return buf;
}

/* The index expires after APPLIED_TTL_DAYS, as every record (0: never, for
 * tests).  Every write renews its hash, and the marker is set to expire no
 * later than the hashes it vouches for (ds_marker_set): when the marker is
 * gone, the index is rebuilt. */
static const char *ds_index_ttl(const mo_config *cfg, char *buf, size_t size)
{
    snprintf(buf, size, "%ld", cfg_applied_ttl_s(cfg));
    return buf;
}

/* A decimal integer in [min, max] filling all of s[0..len); 0, or -1. */
static int ds_int(const char *s, size_t len, long long min, long long max, long long *out)
{
    long long v;
    if (len > 1 && s[0] == '-') {
        if (ds_number(s + 1, len - 1, INT64_MAX, &v))
            return -1;
        v = -v;
    } else if (ds_number(s, len, INT64_MAX, &v)) {
        return -1;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* One entry "<id>,<src_partition>,<src_offset>,<time_ms>,<version>" of
 * s[0..len) into *e; 0, or -1 when malformed. */
static int ds_entry_parse(const char *s, size_t len, dlq_open_entry *e)
{
    const char *f[5];
    size_t fl[5];
    int nf = 0;
    size_t start = 0;
    for (size_t k = 0; k <= len; k++) {
        if (k < len && s[k] != ',')
            continue;
        if (nf == 5)
            return -1;
        f[nf] = s + start;
        fl[nf++] = k - start;
        start = k + 1;
    }
    long long p, o, t;
    int32_t ip;
    int64_t io;
    memset(e, 0, sizeof(*e));
    if (nf != 5 || !fl[0] || fl[0] >= sizeof(e->id) || memchr(f[0], '\0', fl[0]))
        return -1;
    memcpy(e->id, f[0], fl[0]);
    if (dlq_id_parse(e->id, &ip, &io) || ds_int(f[1], fl[1], -1, INT32_MAX, &p) ||
        ds_int(f[2], fl[2], -1, INT64_MAX, &o) || ds_int(f[3], fl[3], 0, INT64_MAX, &t) ||
        (fl[4] && !dlq_version_valid(f[4], fl[4])))
        return -1;
    e->src_partition = (int)p;
    e->src_offset = o;
    e->time_ms = t;
    memcpy(e->version, f[4], fl[4]);
    return 0;
}

int dlq_open_parse(const char *value, size_t len, dlq_open_entry *out, int max)
{
    int n = 0;
    size_t i = 0;
    while (value && i < len && n < max) {
        size_t j = i;
        while (j < len && value[j] != ';')
            j++;
        if (!ds_entry_parse(value + i, j - i, &out[n])) {
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = !strcmp(out[k].id, out[n].id);
            n += !seen;
        }
        i = j + 1;
    }
    return n;
}

int dlq_open_format(const dlq_open_entry *e, char *buf, size_t size)
{
    int32_t p;
    int64_t o;
    if (dlq_id_parse(e->id, &p, &o) || e->src_partition < -1 || e->src_offset < -1 ||
        e->time_ms < 0 || (*e->version && !dlq_version_valid(e->version, strlen(e->version))))
        return -1;
    int n = snprintf(buf, size, "%s,%d,%lld,%lld,%s", e->id, e->src_partition, e->src_offset,
                     e->time_ms, e->version);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

void dlq_open_entry_of(const dlq_letter *l, dlq_open_entry *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", l->id);
    int from_topic = l->src_partition >= 0 && l->src_offset >= 0;
    e->src_partition = from_topic ? l->src_partition : -1;
    e->src_offset = from_topic ? l->src_offset : -1;
    e->time_ms = l->time_ms > 0 ? l->time_ms : 0;
    if (dlq_version_valid(l->version, strlen(l->version)))
        snprintf(e->version, sizeof(e->version), "%s", l->version);
}

/* Entries for one call of ds_index_add_packed: "<n>:<field><n>:<entry>"
 * pairs (lengths in decimal), so a key may hold any byte but NUL. */
typedef struct ds_pack {
    char buf[DS_PACK_MAX + 1024];
    size_t len;
} ds_pack;

/* Appends field and entry to p; -1 when they would pass DS_PACK_MAX (send
 * p first) or cannot fit at all. */
static int ds_pack_add(ds_pack *p, const char *field, const char *entry)
{
    size_t fl = strlen(field), el = strlen(entry);
    if (p->len && p->len + fl + el + 48 > DS_PACK_MAX)
        return -1;
    int n =
        snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%zu:%s%zu:%s", fl, field, el, entry);
    if (n < 0 || (size_t)n >= sizeof(p->buf) - p->len)
        return -1;
    p->len += (size_t)n;
    return 0;
}

/* Adds the packed entries to flow's index, each id once per key; *full
 * counts those that did not fit DLQ_OPEN_VALUE_MAX. */
static mo_err ds_index_add_packed(rs_store *rs, const mo_config *cfg, const char *flow,
                                  const ds_pack *p, int *full, char *errstr, size_t errstr_size)
{
    char suffix[64], ttl[32], cap[32];
    const char *keys[1] = {ds_index_key(flow, suffix, sizeof(suffix))};
    json_t *out = NULL;
    snprintf(cap, sizeof(cap), "%d", DLQ_OPEN_VALUE_MAX);
    const char *args[3] = {ds_index_ttl(cfg, ttl, sizeof(ttl)), cap, p->buf};
    /* The id test is on ";<id>," so "3:1" never matches "13:1" or "3:10". */
    mo_err err = rs_eval(rs,
                         "local s, i, full = ARGV[3], 1, 0 "
                         "local function take() "
                         "  local c = string.find(s, ':', i, true) "
                         "  local n = tonumber(string.sub(s, i, c - 1)) "
                         "  i = c + n + 1 "
                         "  return string.sub(s, c + 1, c + n) "
                         "end "
                         "while i <= #s do "
                         "  local f = take() "
                         "  local e = take() "
                         "  local v = redis.call('HGET', KEYS[1], f) "
                         "  local id = string.match(e, '^[^,]*') "
                         "  if not v then redis.call('HSET', KEYS[1], f, e) "
                         "  elseif not string.find(';' .. v, ';' .. id .. ',', 1, true) then "
                         "    if #v + #e + 1 > tonumber(ARGV[2]) then full = full + 1 "
                         "    else redis.call('HSET', KEYS[1], f, v .. ';' .. e) end "
                         "  end "
                         "end "
                         "if tonumber(ARGV[1]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
                         "return full",
                         1, keys, 3, args, &out, errstr, errstr_size);
    if (!err)
        *full += (int)json_integer_value(out);
    json_decref(out);
    return err;
}

mo_err dlq_index_add(rs_store *rs, const mo_config *cfg, const char *flow, const char *key,
                     const dlq_open_entry *e, int *full, char *errstr, size_t errstr_size)
{
    char entry[160];
    int none = 0;
    ds_pack *p = malloc(sizeof(*p));
    if (!p)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    p->len = 0;
    mo_err err = MO_OK;
    if (dlq_open_format(e, entry, sizeof(entry)) < 0 || ds_pack_add(p, key, entry))
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "dead letter %s: not an index entry",
                        e->id);
    else
        err = ds_index_add_packed(rs, cfg, flow, p, full ? full : &none, errstr, errstr_size);
    free(p);
    return err;
}

mo_err dlq_index_remove(rs_store *rs, const mo_config *cfg, const char *flow, const char *key,
                        const char *const *ids, int n, char *errstr, size_t errstr_size)
{
    char suffix[64], ttl[32];
    const char *keys[1] = {ds_index_key(flow, suffix, sizeof(suffix))};
    const char *args[2 + DS_REMOVE_BATCH];
    args[0] = ds_index_ttl(cfg, ttl, sizeof(ttl));
    args[1] = key;
    for (int done = 0; done < n;) {
        int k = n - done < DS_REMOVE_BATCH ? n - done : DS_REMOVE_BATCH;
        for (int i = 0; i < k; i++)
            args[2 + i] = ids[done + i];
        json_t *out = NULL;
        mo_err err = rs_eval(rs,
                             "local v = redis.call('HGET', KEYS[1], ARGV[2]) "
                             "if not v then return 0 end "
                             "local drop = {} "
                             "for i = 3, #ARGV do drop[ARGV[i]] = true end "
                             "local keep, n = {}, 0 "
                             "for e in string.gmatch(v, '[^;]+') do "
                             "  if drop[string.match(e, '^[^,]*')] or "
                             "     not string.find(e, ',', 1, true) then n = n + 1 "
                             "  else keep[#keep + 1] = e end "
                             "end "
                             "if n == 0 then return 0 end "
                             "if #keep == 0 then redis.call('HDEL', KEYS[1], ARGV[2]) "
                             "else "
                             "  redis.call('HSET', KEYS[1], ARGV[2], table.concat(keep, ';')) "
                             "  if tonumber(ARGV[1]) > 0 then "
                             "    redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
                             "end "
                             "return n",
                             1, keys, 2 + k, args, &out, errstr, errstr_size);
        json_decref(out);
        if (err)
            return err;
        done += k;
    }
    return MO_OK;
}

void dlq_index_note(const mo_config *cfg, const char *component, const char *key,
                    const dlq_open_entry *e)
{
    char errstr[256];
    int full = 0;
    const char *flow = dlq_flow_of(component);
    if (!key || !*flow || !*cfg->redis_url)
        return;
    rs_store *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!rs) {
        lg_warn(component, cfg->tenant, "dead-letter index: %s", errstr);
        return;
    }
    rs_set_retry_ms(rs, DS_REDIS_RETRY_MS);
    if (dlq_index_add(rs, cfg, flow, key, e, &full, errstr, sizeof(errstr)))
        lg_warn(component, cfg->tenant,
                "dead letter %s not in the index (%s): it is resolved by an operator, or after "
                "the next rebuild",
                e->id, errstr);
    else if (full)
        lg_warn(component, cfg->tenant,
                "dead letter %s not in the index: %s has more open letters than it holds; it "
                "stays open until an operator re-drives or purges it",
                e->id, key);
    rs_close(rs);
}

/* ---- the resolver ---------------------------------------------------------- */

/* A success that waits for the index to be rebuilt: what dlq_resolves needs. */
typedef struct ds_pending {
    char *key; /* owned */
    char version[DLQ_VERSION_MAX + 1];
    char redrive_of[32];
    int32_t partition;
    int64_t offset;
    long long ts_ms;
} ds_pending;

struct dlq_resolver {
    const mo_config *cfg;
    char flow[32];
    char component[64];
    rs_store *rs;            /* the message path's */
    kq_producer *kp;         /* the message path's, made when first needed */
    kq_producer *shared_kp;  /* the loop's (borrowed), used by both paths; or NULL */
    dlq_open_entry *entries; /* DLQ_OPEN_MAX, the message path's */
    pthread_mutex_t mu;      /* guards what follows */
    pthread_t thread;        /* the background thread, while joinable */
    int joinable;
    int running;     /* the thread takes the successes: they queue */
    int closing;     /* free waits: stop waiting for another process */
    char topic[256]; /* of the queued successes */
    ds_pending *q;   /* q[head..n) wait */
    int head, n, cap;
    unsigned long dropped;
};

/* What dlq_resolves needs of m: its source version (from the envelope), its
 * mosync.redrive.of header, its place and time; version and redrive_of are
 * the caller's buffers. */
static void ds_applied_of(const rd_kafka_message_t *m, char *version, size_t vsize, char *redrive,
                          size_t rsize, dlq_applied *a)
{
    rd_kafka_headers_t *h = NULL;
    const void *val = NULL;
    size_t size = 0;
    version[0] = '\0';
    redrive[0] = '\0';
    json_t *ev = json_loadb(m->payload ? (const char *)m->payload : "", m->len, 0, NULL);
    const char *v = json_string_value(json_object_get(ev, "source_version"));
    if (v && dlq_version_valid(v, strlen(v)))
        snprintf(version, vsize, "%s", v);
    json_decref(ev);
    if (!rd_kafka_message_headers(m, &h) &&
        !rd_kafka_header_get_last(h, "mosync.redrive.of", &val, &size) && val && size < rsize) {
        memcpy(redrive, val, size);
        redrive[size] = '\0';
    }
    a->version = version;
    a->redrive_of = redrive;
    a->partition = m->partition;
    a->offset = m->offset;
    a->ts_ms = rd_kafka_message_timestamp(m, NULL);
}

/* Resolves, among key's entries (value: its index value, len bytes), those
 * a resolves: records them "resolved" on mosync.dlq.state with the shared
 * producer, else with *kp (made when first needed), and takes them out of
 * the index.  Errors are
 * logged: the letters then stay open. */
static void ds_resolve(const dlq_resolver *r, rs_store *rs, kq_producer **kp,
                       dlq_open_entry *entries, const char *topic, const char *key,
                       const char *value, size_t len, const dlq_applied *a)
{
    char errstr[512], note[512];
    const char *ids[DLQ_OPEN_MAX];
    int n = dlq_open_parse(value, len, entries, DLQ_OPEN_MAX), k = 0;
    for (int i = 0; i < n; i++)
        if (dlq_resolves(&entries[i], a))
            ids[k++] = entries[i].id;
    if (!k)
        return;
    if (!r->shared_kp && !*kp) {
        *kp = kq_producer_new(r->cfg, r->component, errstr, sizeof(errstr));
        if (!*kp) {
            lg_warn(r->component, r->cfg->tenant, "dead letters of %s not resolved: %s", key,
                    errstr);
            return;
        }
    }
    kq_producer *use = r->shared_kp ? r->shared_kp : *kp;
    snprintf(note, sizeof(note), "applied %s [%d] @%lld", topic, (int)a->partition,
             (long long)a->offset);
    if (dlq_state_record(use, r->cfg, ids, k, DLQ_RESOLVED, r->component, note, errstr,
                         sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead letters of %s not resolved: %s", key, errstr);
        return;
    }
    for (int i = 0; i < k; i++)
        lg_info(r->component, r->cfg->tenant, "dead letter %s of %s resolved: %s", ids[i], key,
                note);
    /* Left in the index, a resolved letter is only resolved once more by a
     * later success: harmless, so a failure here is only logged. */
    if (dlq_index_remove(rs, r->cfg, r->flow, key, ids, k, errstr, sizeof(errstr)))
        lg_warn(r->component, r->cfg->tenant, "dead-letter index: %s", errstr);
}

/* Queues the success m of key for the background thread (r->mu held); a
 * full queue drops it (counted). */
static void ds_enqueue_locked(dlq_resolver *r, const char *key, const rd_kafka_message_t *m)
{
    dlq_applied a;
    if (r->n - r->head >= DLQ_PENDING_MAX) {
        r->dropped++;
        return;
    }
    if (r->head && r->n == r->cap) {
        memmove(r->q, r->q + r->head, (size_t)(r->n - r->head) * sizeof(*r->q));
        r->n -= r->head;
        r->head = 0;
    }
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        ds_pending *grown = realloc(r->q, (size_t)cap * sizeof(*grown));
        if (!grown) {
            r->dropped++;
            return;
        }
        r->q = grown;
        r->cap = cap;
    }
    ds_pending *p = &r->q[r->n];
    p->key = strdup(key);
    if (!p->key) {
        r->dropped++;
        return;
    }
    ds_applied_of(m, p->version, sizeof(p->version), p->redrive_of, sizeof(p->redrive_of), &a);
    p->partition = a.partition;
    p->offset = a.offset;
    p->ts_ms = a.ts_ms;
    r->n++;
}

/* Drops every queued success (r->mu held), counting them. */
static void ds_drop_locked(dlq_resolver *r)
{
    for (int i = r->head; i < r->n; i++) {
        free(r->q[i].key);
        r->dropped++;
    }
    r->head = r->n = 0;
}

/* 1 when the marker exists, 0 when not, -1 when Redis did not say. */
static int ds_marker_exists(const dlq_resolver *r, rs_store *rs)
{
    char errstr[256];
    const char *marker[1] = {DS_MARKER};
    json_t *out = NULL;
    if (rs_eval(rs, "return redis.call('EXISTS', KEYS[1])", 1, marker, 0, NULL, &out, errstr,
                sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index marker: %s", errstr);
        return -1;
    }
    int exists = json_integer_value(out) == 1;
    json_decref(out);
    return exists;
}

/* Sets the marker, expiring a second before the first of the four hashes
 * (their expiry only grows afterwards: every write renews it; the second
 * covers Redis reading its clock twice), so the marker never vouches for a
 * hash that expired. */
static mo_err ds_marker_set(const dlq_resolver *r, rs_store *rs, char *errstr, size_t errstr_size)
{
    char ttl[32], suffix[DS_NFLOW_NAMES][64];
    const char *keys[1 + DS_NFLOW_NAMES] = {DS_MARKER};
    for (int i = 0; i < DS_NFLOW_NAMES; i++)
        keys[1 + i] = ds_index_key(ds_flow_names[i], suffix[i], sizeof(suffix[i]));
    const char *args[1] = {ds_index_ttl(r->cfg, ttl, sizeof(ttl))};
    json_t *out = NULL;
    mo_err err = rs_eval(rs,
                         "local px = tonumber(ARGV[1]) * 1000 "
                         "if px <= 0 then return redis.call('SET', KEYS[1], '1') end "
                         "for i = 2, #KEYS do "
                         "  local t = redis.call('PTTL', KEYS[i]) "
                         "  if t >= 0 and t < px then px = t end "
                         "end "
                         "px = px - 1000 "
                         "if px <= 0 then return 0 end "
                         "return redis.call('SET', KEYS[1], '1', 'PX', px)",
                         1 + DS_NFLOW_NAMES, keys, 1, args, &out, errstr, errstr_size);
    json_decref(out);
    return err;
}

/* Rebuilds the index from the two topics: every open or re-driven letter of
 * this tenant with a key and a flow goes in (the entries already there stay:
 * adding is idempotent), then the marker is set.  0, or -1 (logged). */
static int ds_rebuild(const dlq_resolver *r, rs_store *rs)
{
    char errstr[512];
    dlq_letters ls;
    long long started = mo_now_ms();
    if (dlq_letters_read(r->cfg, &ls, 0, errstr, sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index not rebuilt: %s", errstr);
        return -1;
    }
    /* One pack per flow, sent when full. */
    ds_pack *packs = calloc(DS_NFLOW_NAMES, sizeof(*packs));
    int n = 0, full = 0;
    mo_err err = packs ? MO_OK : mo_seterr(MO_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
    for (int i = 0; i < ls.n && !err; i++) {
        const dlq_letter *l = &ls.v[i];
        char entry[160];
        int f = 0;
        while (f < DS_NFLOW_NAMES && strcmp(ds_flow_names[f], l->flow))
            f++;
        if ((l->state != DLQ_OPEN && l->state != DLQ_REDRIVEN) || !l->has_key ||
            f == DS_NFLOW_NAMES || (*l->tenant && strcmp(l->tenant, r->cfg->tenant)))
            continue;
        dlq_open_entry e;
        dlq_open_entry_of(l, &e);
        if (dlq_open_format(&e, entry, sizeof(entry)) < 0)
            continue;
        if (ds_pack_add(&packs[f], l->key, entry)) {
            err = ds_index_add_packed(rs, r->cfg, ds_flow_names[f], &packs[f], &full, errstr,
                                      sizeof(errstr));
            packs[f].len = 0;
            if (!err && ds_pack_add(&packs[f], l->key, entry))
                continue; /* cannot fit alone: a key of some 64 KB, never ours */
        }
        n++;
    }
    for (int f = 0; f < DS_NFLOW_NAMES && !err; f++)
        if (packs[f].len)
            err = ds_index_add_packed(rs, r->cfg, ds_flow_names[f], &packs[f], &full, errstr,
                                      sizeof(errstr));
    free(packs);
    int letters = ls.n;
    dlq_letters_free(&ls);
    if (!err)
        err = ds_marker_set(r, rs, errstr, sizeof(errstr));
    if (err) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index not rebuilt: %s", errstr);
        return -1;
    }
    if (full)
        lg_warn(r->component, r->cfg->tenant,
                "dead-letter index: %d letter(s) left out, their keys have more open letters "
                "than the index holds",
                full);
    lg_info(r->component, r->cfg->tenant,
            "dead-letter index rebuilt from Kafka: %d open letter(s) of %d, in %lld ms", n, letters,
            mo_now_ms() - started);
    return 0;
}

/* Waits until the index is there: rebuilds it when this process gets the
 * rebuild lock, else waits for the process that has it.  1 when there, 0
 * when a stop came or free gave up waiting. */
static int ds_wait_index(dlq_resolver *r, rs_store *rs)
{
    char errstr[256], token[64];
    while (!mo_stop_requested()) {
        int exists = ds_marker_exists(r, rs);
        if (exists == 1)
            return 1;
        int failed = exists < 0;
        if (!exists &&
            rs_lock(rs, DS_LOCK, DLQ_REBUILD_LOCK_MS, 0, token, errstr, sizeof(errstr)) == MO_OK) {
            failed = ds_rebuild(r, rs) != 0;
            if (rs_unlock(rs, DS_LOCK, token, errstr, sizeof(errstr)))
                lg_warn(r->component, r->cfg->tenant, "dead-letter index: %s", errstr);
            if (!failed)
                continue;
        }
        pthread_mutex_lock(&r->mu);
        int closing = r->closing;
        pthread_mutex_unlock(&r->mu);
        if (closing)
            return 0;
        mo_stop_sleep_ms(failed ? DS_REBUILD_AGAIN_MS : DS_WAIT_STEP_MS);
    }
    return 0;
}

/* The background thread: waits for the index (ds_wait_index), then checks
 * the successes that queued meanwhile, and ends when none is left. */
static void *ds_background(void *opaque)
{
    dlq_resolver *r = opaque;
    char errstr[512], suffix[64];
    kq_producer *kp = NULL;
    dlq_open_entry *entries = malloc(DLQ_OPEN_MAX * sizeof(*entries));
    rs_store *rs = rs_open(r->cfg->redis_url, r->cfg->tenant, errstr, sizeof(errstr));
    if (rs)
        rs_set_retry_ms(rs, DS_REDIS_RETRY_MS);
    int ready = rs && entries && ds_wait_index(r, rs);
    const char *keys[1] = {ds_index_key(r->flow, suffix, sizeof(suffix))};
    unsigned long checked = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        if (!ready)
            ds_drop_locked(r);
        if (r->head == r->n) {
            unsigned long dropped = r->dropped;
            r->dropped = 0;
            r->head = r->n = 0;
            r->running = 0;
            pthread_mutex_unlock(&r->mu);
            if (dropped)
                lg_warn(r->component, r->cfg->tenant,
                        "%lu success(es) came while the dead-letter index was missing and were "
                        "not checked against it: their letters, if any, stay open "
                        "(mosync dlq list)",
                        dropped);
            break;
        }
        ds_pending p = r->q[r->head++];
        pthread_mutex_unlock(&r->mu);
        json_t *out = NULL;
        const char *args[1] = {p.key};
        if (rs_eval(rs, "return redis.call('HGET', KEYS[1], ARGV[1])", 1, keys, 1, args, &out,
                    errstr, sizeof(errstr))) {
            lg_warn(r->component, r->cfg->tenant, "dead letters of %s not resolved: %s", p.key,
                    errstr);
        } else if (json_is_string(out)) {
            dlq_applied a = {.version = p.version,
                             .redrive_of = p.redrive_of,
                             .partition = p.partition,
                             .offset = p.offset,
                             .ts_ms = p.ts_ms};
            ds_resolve(r, rs, &kp, entries, r->topic, p.key, json_string_value(out),
                       json_string_length(out), &a);
        }
        json_decref(out);
        free(p.key);
        checked++;
    }
    if (checked)
        lg_info(r->component, r->cfg->tenant,
                "dead-letter index: %lu success(es) that waited for it checked", checked);
    kq_producer_free(kp);
    rs_close(rs);
    free(entries);
    return NULL;
}

dlq_resolver *dlq_resolver_new(const mo_config *cfg, const char *flow, const char *component,
                               kq_producer *kp)
{
    char errstr[256];
    dlq_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->entries = malloc(DLQ_OPEN_MAX * sizeof(*r->entries));
    if (!r->entries || pthread_mutex_init(&r->mu, NULL)) {
        free(r->entries);
        free(r);
        return NULL;
    }
    r->cfg = cfg;
    r->shared_kp = kp;
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
    pthread_mutex_lock(&r->mu);
    r->closing = 1;
    pthread_mutex_unlock(&r->mu);
    if (r->joinable)
        pthread_join(r->thread, NULL);
    for (int i = r->head; i < r->n; i++)
        free(r->q[i].key);
    free(r->q);
    pthread_mutex_destroy(&r->mu);
    rs_close(r->rs);
    kq_producer_free(r->kp);
    free(r->entries);
    free(r);
}

int dlq_resolver_pending(dlq_resolver *r)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&r->mu);
    int n = r->n - r->head;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Starts the background thread with m (of key, from topic) as its first
 * waiting success. */
static void ds_start(dlq_resolver *r, const char *topic, const char *key,
                     const rd_kafka_message_t *m)
{
    pthread_mutex_lock(&r->mu);
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    r->running = 1;
    ds_enqueue_locked(r, key, m);
    pthread_mutex_unlock(&r->mu);
    lg_info(r->component, r->cfg->tenant,
            "dead-letter index missing (new or emptied Redis): rebuilt from Kafka in the "
            "background; successes meanwhile wait for it (at most %d)",
            DLQ_PENDING_MAX);
    if (pthread_create(&r->thread, NULL, ds_background, r)) {
        lg_warn(r->component, r->cfg->tenant,
                "dead-letter index: no thread to rebuild it; tried again with a later success");
        pthread_mutex_lock(&r->mu);
        ds_drop_locked(r);
        r->dropped = 0;
        r->running = 0;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    r->joinable = 1;
}

void dlq_resolver_applied(dlq_resolver *r, const char *topic, const rd_kafka_message_t *m)
{
    char key[512], suffix[64], errstr[512];
    json_t *out = NULL;
    if (!r || !r->rs || r->cfg->dry_run || !m->key || !m->key_len || m->key_len >= sizeof(key))
        return;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    pthread_mutex_lock(&r->mu);
    int running = r->running;
    if (running)
        ds_enqueue_locked(r, key, m);
    pthread_mutex_unlock(&r->mu);
    if (running)
        return;
    if (r->joinable) {
        pthread_join(r->thread, NULL); /* it has ended: running is 0 */
        r->joinable = 0;
    }
    /* One call: whether the index is there, and the key's entries. */
    const char *keys[2] = {DS_MARKER, ds_index_key(r->flow, suffix, sizeof(suffix))};
    const char *args[1] = {key};
    if (rs_eval(r->rs,
                "return {redis.call('EXISTS', KEYS[1]), redis.call('HGET', KEYS[2], ARGV[1])}", 2,
                keys, 1, args, &out, errstr, sizeof(errstr))) {
        lg_warn(r->component, r->cfg->tenant, "dead-letter index: %s", errstr);
        return;
    }
    json_t *value = json_array_get(out, 1);
    if (json_integer_value(json_array_get(out, 0)) != 1) {
        ds_start(r, topic, key, m);
    } else if (json_is_string(value)) {
        char version[DLQ_VERSION_MAX + 1], redrive[32];
        dlq_applied a;
        ds_applied_of(m, version, sizeof(version), redrive, sizeof(redrive), &a);
        ds_resolve(r, r->rs, &r->kp, r->entries, topic, key, json_string_value(value),
                   json_string_length(value), &a);
    }
    json_decref(out);
}
