/* `mosync apply <flow> --all-tenants`: one consumer applies the events of
 * every registry tenant (common/tenant.h), each with that tenant's settings
 * and credentials, in one consumer group per flow
 * (<prefix>mosync-apply-<flow>-all-tenants).
 *
 * One tenant must not hold up the others.  The topics are shared, so a
 * tenant whose API is down, whose credential is refused or who is paused
 * cannot pause a partition as the one-tenant loop does (apply_loop.c): its
 * messages are *parked* instead, in memory, in a FIFO per tenant, and the
 * partition goes on with the other tenants' messages.  A tenant's parked
 * messages are tried again in order once its backoff has passed (or it is
 * resumed), and every later message of that tenant queues behind them, so
 * one entity's events still apply in order.
 *
 * Kafka stays the truth: a partition's committed offset never passes its
 * oldest parked message (the low-water mark), and the commit's metadata
 * says which messages above the mark are settled already:
 * "n=<next>;p=<parked offsets>" (every message below n that p does not list
 * was applied, skipped or dead-lettered).  A process that dies with messages
 * parked loses nothing: the next owner of the partition consumes again from
 * the mark, applies the listed ones and passes over the others without
 * applying them again.  So an older event is never applied again after a
 * newer one, even when Redis lost the applied records meanwhile (the stock
 * flow's version guard lives there).  The process commits itself (a manual
 * consumer): each partition's state once a second for ten seconds after it
 * changed (so a commit refused during a rebalance is sent again), and before
 * a partition leaves.  When AT_PARK_MAX messages are parked in all, a
 * new message's partition waits (paused and rewound, as in the one-tenant
 * loop) until some are settled.
 *
 * The tenants' appliers (configuration, API clients, attempt records, dead
 * letter resolver) are built from the registry when a tenant's first event
 * comes, kept in AT_SLOTS slots (the least recently used one without parked
 * messages is given up for a new tenant), and rebuilt after a change of the
 * registry (its generation is read once a second): a tenant paused, resumed,
 * changed or removed takes effect within a second, with no restart.  They
 * share one Redis connection, rebound to the tenant of the message in hand,
 * and one Kafka producer for dead letters. */
#include "apply.h"
#include "apply_loop.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "stop.h"
#include "store.h"
#include "tenant.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tenants with a built applier at once. */
#define AT_SLOTS 64
/* Messages parked in all before a partition must wait. */
#define AT_PARK_MAX 10000
/* How long a partition waits when nothing more can be parked. */
#define AT_FULL_WAIT_MS 1000
/* The registry's generation is read this often. */
#define AT_REGISTRY_MS 1000
/* A waiting tenant (paused, connecting, settings that do not load, its
 * record unreadable) is looked at again after this. */
#define AT_WAIT_MS 1000
/* Parked messages applied per tenant before the loop polls again. */
#define AT_DRAIN_BATCH 32
#define AT_CLOSE_MS    5000
#define AT_NAME_MAX    65
/* A partition's changed state is committed this often, and again for this
 * long after its last change. */
#define AT_COMMIT_MS   1000
#define AT_RECOMMIT_MS 10000
/* Asking the previous owner's commit: this many times before applying
 * everything from the committed offset again. */
#define AT_COMMITTED_TRIES 3
/* The commit's metadata stays under the broker's offset.metadata.max.bytes
 * (4096 by default); parked offsets that do not fit are consumed again. */
#define AT_META_MAX 3900
/* How long the previous owner's commit is asked for. */
#define AT_COMMITTED_MS 5000

typedef struct at_parked {
    rd_kafka_message_t *m;
    struct at_parked *next;
} at_parked;

/* What a tenant's messages get. */
typedef enum at_state {
    AT_APPLY, /* applied with its settings */
    AT_WAIT,  /* parked: paused, connecting, settings that do not load */
    AT_SKIP,  /* settled unapplied: not in the registry, or the flow is off for it */
} at_state;

typedef struct at_slot {
    char name[AT_NAME_MAX]; /* "" = free */
    int built;              /* cfg, flow and al are made */
    at_state state;
    const char *why; /* of AT_WAIT and AT_SKIP, for the log */
    int known;       /* in the registry (its name may label metrics) */
    long long rev, warned_rev;
    mo_config cfg;
    apply_flow flow; /* after apply_dry_wrap */
    void *ctx;       /* the flow's own context (flow.free_ctx) */
    apply_dry dry;
    al_state *al;
    at_parked *head, *tail;
    int nparked;
    long long retry_at; /* monotonic: its head is tried again then */
    long long used_at;  /* monotonic: last message, for the slot's eviction */
} at_slot;

/* One partition's offsets. */
typedef struct at_part {
    int64_t next; /* after the highest offset settled; -1 none */
    int64_t low;  /* the lowest parked offset, while parked > 0 */
    int parked;
    int loaded; /* the previous owner's commit was read */
    /* Monotonic: until then its state is committed once every AT_COMMIT_MS
     * (AT_RECOMMIT_MS after its last change): a commit the coordinator
     * refused (a rebalance in progress) is sent again, with no answer to
     * wait for. */
    long long commit_until;
    /* From the previous owner's commit: below skip_through, every offset
     * but those in skip[] was settled already. */
    int64_t skip_through;
    int64_t *skip;
    int nskip;
} at_part;

/* A flow as `apply --all-tenants` knows it. */
typedef struct at_kind {
    const char *name;
    int need;
    const char *topic_base;
    mo_err (*make)(const mo_config *cfg, rs_store *rs, apply_flow *flow);
} at_kind;

static const at_kind at_kinds[] = {
    {"orders", CFG_NEED_ONGOING, KQ_TOPIC_ORDERS, apply_orders_flow},
    {"articles", CFG_NEED_ONGOING, KQ_TOPIC_PRODUCTS, apply_articles_flow},
    {"deliveries", CFG_NEED_MYSTORE, KQ_TOPIC_SHIPMENTS, apply_deliveries_flow},
    {"stock", CFG_NEED_MYSTORE, KQ_TOPIC_STOCK, apply_stock_flow},
};

typedef struct at_loop {
    const mo_config *cfg; /* the process's: Kafka, Redis, metrics */
    const sb_key *key;
    const at_kind *kind;
    char component[64], topic[256], group[256];
    rs_store *rs;  /* the tenants' store, rebound to the tenant in hand */
    rs_store *reg; /* registry reads */
    kq_consumer *kc;
    kq_producer *kp;
    long budget_ms;
    at_slot slots[AT_SLOTS];
    at_part *parts;
    int nparts;
    int nparked;
    long long gen, gen_at, committed_at;
    char skipped_name[AT_NAME_MAX]; /* the last unknown tenant logged */
    unsigned long messages, dead, parked_max;
} at_loop;

/* ---- partitions and the low-water mark -------------------------------- */

static at_part *at_part_get(at_loop *L, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= L->nparts) {
        int n = p + 1 > L->nparts * 2 ? p + 1 : L->nparts * 2;
        at_part *grown = realloc(L->parts, (size_t)n * sizeof(*grown));
        if (!grown)
            return NULL;
        for (int i = L->nparts; i < n; i++)
            grown[i] = (at_part){.next = -1, .low = -1, .skip_through = -1};
        L->parts = grown;
        L->nparts = n;
    }
    return &L->parts[p];
}

/* Partition p changed: its state is committed within AT_COMMIT_MS. */
static void at_changed(at_loop *L, int32_t p)
{
    at_part *part = at_part_get(L, p);
    if (part)
        part->commit_until = mo_now_ms() + AT_RECOMMIT_MS;
}

/* The lowest offset parked of partition p (a scan of every queue). */
static int64_t at_lowest_parked(const at_loop *L, int32_t p)
{
    int64_t low = -1;
    for (int i = 0; i < AT_SLOTS; i++)
        for (const at_parked *q = L->slots[i].head; q; q = q->next)
            if (q->m->partition == p && (low < 0 || q->m->offset < low))
                low = q->m->offset;
    return low;
}

static int at_cmp_offset(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Commits partition p's state: the low-water mark, and as metadata what
 * above it is settled ("n=<next>;p=<parked offsets>", see the top).  wait:
 * for the coordinator's answer (before the partition leaves). */
static void at_commit(at_loop *L, int32_t p, int wait)
{
    at_part *part = at_part_get(L, p);
    char list[AT_META_MAX], meta[AT_META_MAX + 64];
    int64_t *offs = NULL;
    int n = 0, listed = 0;
    size_t len = 0;
    if (!part || !part->loaded || part->next < 0)
        return;
    int64_t mark = part->parked ? part->low : part->next, through = part->next;
    /* What the previous owner settled beyond what this one has read stays
     * said: n is the further of the two, and its parked offsets not read yet
     * stay listed. */
    int unread = 0;
    if (part->skip_through > through) {
        through = part->skip_through;
        for (int i = 0; i < part->nskip; i++)
            unread += part->skip[i] >= part->next;
    }
    meta[0] = list[0] = '\0';
    if (part->parked + unread && (offs = malloc((size_t)(part->parked + unread) * sizeof(*offs)))) {
        for (int i = 0; i < AT_SLOTS; i++)
            for (const at_parked *q = L->slots[i].head; q && n < part->parked; q = q->next)
                if (q->m->partition == p)
                    offs[n++] = q->m->offset;
        for (int i = 0; unread && i < part->nskip; i++)
            if (part->skip[i] >= part->next)
                offs[n++] = part->skip[i];
        qsort(offs, (size_t)n, sizeof(*offs), at_cmp_offset);
        int kept = 0; /* a parked offset the previous owner listed too: once */
        for (int i = 0; i < n; i++)
            if (!kept || offs[i] != offs[kept - 1])
                offs[kept++] = offs[i];
        n = kept;
        for (; listed < n; listed++) {
            int w = snprintf(list + len, sizeof(list) - len, "%s%lld", listed ? "," : "",
                             (long long)offs[listed]);
            if (w < 0 || (size_t)w >= sizeof(list) - len) {
                list[len] = '\0';
                break;
            }
            len += (size_t)w;
        }
        /* The parked offsets that do not fit are not listed: n stops at the
         * first of them, so it and what follows are consumed again. */
        if (listed < n)
            through = offs[listed];
    }
    if (n || through > part->next)
        snprintf(meta, sizeof(meta), "n=%lld;p=%s", (long long)through, list);
    free(offs);
    (void)kq_consumer_commit(L->kc, L->topic, p, mark, meta, wait);
}

/* Commits every changed partition (all of them with wait, before they go). */
static void at_commit_changed(at_loop *L, int wait)
{
    if (!wait && mo_now_ms() - L->committed_at < AT_COMMIT_MS)
        return;
    L->committed_at = mo_now_ms();
    for (int32_t p = 0; p < L->nparts; p++)
        if (wait || L->parts[p].commit_until > L->committed_at)
            at_commit(L, p, wait);
}

/* Reads what the previous owner of partition p committed: which messages
 * above the mark it settled already.  Without an answer nothing is passed
 * over (everything from the mark is applied again, as after a crash). */
static void at_load(at_loop *L, int32_t p, at_part *part)
{
    char meta[AT_META_MAX + 200];
    int64_t offset = -1;
    part->loaded = 1;
    for (int tries = 1;; tries++) {
        if (!kq_consumer_committed(L->kc, L->topic, p, &offset, meta, sizeof(meta),
                                   AT_COMMITTED_MS))
            break;
        if (tries == AT_COMMITTED_TRIES || mo_stop_requested()) {
            lg_warn(L->component, "*",
                    "%s [%d]: the previous owner's commit could not be read; applying everything "
                    "from the committed offset again",
                    L->topic, p);
            return;
        }
    }
    long long through;
    const char *list = strstr(meta, ";p=");
    if (sscanf(meta, "n=%lld;", &through) != 1 || !list)
        return;
    int cap = 1;
    for (const char *c = list; *c; c++)
        cap += *c == ',';
    part->skip = calloc((size_t)cap, sizeof(*part->skip));
    if (!part->skip)
        return;
    for (const char *c = list + 3; *c && part->nskip < cap;) {
        char *end;
        long long v = strtoll(c, &end, 10);
        if (end == c)
            break;
        part->skip[part->nskip++] = v;
        c = *end == ',' ? end + 1 : end;
    }
    part->skip_through = through;
    lg_info(L->component, "*",
            "%s [%d]: the previous owner settled everything below %lld but %d parked message(s); "
            "those it settled are passed over",
            L->topic, p, through, part->nskip);
}

/* Did the previous owner settle m already (at_load)? */
static int at_settled_before(const at_part *part, const rd_kafka_message_t *m)
{
    if (m->offset >= part->skip_through)
        return 0;
    for (int i = 0; i < part->nskip; i++)
        if (part->skip[i] == m->offset)
            return 0;
    return 1;
}

/* Message m is settled (applied, skipped or dead-lettered). */
static void at_settled(at_loop *L, const rd_kafka_message_t *m)
{
    at_part *part = at_part_get(L, m->partition);
    if (!part)
        return;
    if (m->offset + 1 > part->next)
        part->next = m->offset + 1;
    mo_crash_point("apply-before-offset");
    at_changed(L, m->partition);
}

/* ---- a tenant's parked messages --------------------------------------- */

/* Parks m behind slot's others.  -1 (m not taken) when out of memory. */
static int at_park(at_loop *L, at_slot *slot, rd_kafka_message_t *m)
{
    at_parked *q = malloc(sizeof(*q));
    at_part *part = at_part_get(L, m->partition);
    if (!q || !part) {
        free(q);
        return -1;
    }
    q->m = m;
    q->next = NULL;
    if (slot->tail)
        slot->tail->next = q;
    else
        slot->head = q;
    slot->tail = q;
    slot->nparked++;
    if (!part->parked || m->offset < part->low)
        part->low = m->offset;
    part->parked++;
    if ((unsigned long)++L->nparked > L->parked_max)
        L->parked_max = (unsigned long)L->nparked;
    return 0;
}

/* Takes slot's head message out of the queue (the caller settles or
 * destroys it). */
static rd_kafka_message_t *at_unpark(at_loop *L, at_slot *slot)
{
    at_parked *q = slot->head;
    rd_kafka_message_t *m = q->m;
    slot->head = q->next;
    if (!slot->head)
        slot->tail = NULL;
    free(q);
    slot->nparked--;
    L->nparked--;
    at_part *part = at_part_get(L, m->partition);
    if (part && --part->parked > 0 && m->offset == part->low)
        part->low = at_lowest_parked(L, m->partition);
    return m;
}

/* Revoke hook: the partition's parked messages go (its next owner consumes
 * them again from the stored mark), and so does what is known of it. */
static void at_on_revoke(void *opaque, const char *topic, int32_t partition)
{
    at_loop *L = opaque;
    at_commit(L, partition, 1); /* before its parked messages go */
    for (int i = 0; i < AT_SLOTS; i++) {
        at_slot *slot = &L->slots[i];
        at_parked **pp = &slot->head, *q;
        slot->tail = NULL;
        while ((q = *pp)) {
            if (q->m->partition == partition) {
                *pp = q->next;
                rd_kafka_message_destroy(q->m);
                free(q);
                slot->nparked--;
                L->nparked--;
            } else {
                slot->tail = q;
                pp = &q->next;
            }
        }
        if (slot->al)
            al_forget_partition(slot->al, topic, partition);
    }
    if (partition >= 0 && partition < L->nparts) {
        free(L->parts[partition].skip);
        L->parts[partition] = (at_part){.next = -1, .low = -1, .skip_through = -1};
    }
}

/* ---- the tenants' appliers -------------------------------------------- */

static void at_unbuild(at_slot *slot)
{
    if (!slot->built)
        return;
    al_free(slot->al);
    if (slot->flow.free_ctx)
        slot->flow.free_ctx(slot->ctx);
    cfg_free(&slot->cfg);
    slot->al = NULL;
    slot->ctx = NULL;
    slot->built = 0;
}

/* Builds slot's applier from its registry record, and its state.  -1 when
 * the registry cannot be read (Redis away): the tenant waits. */
static int at_build(at_loop *L, at_slot *slot)
{
    char errstr[512];
    json_t *record = NULL;
    if (tn_get(L->reg, L->key, slot->name, &record, errstr, sizeof(errstr))) {
        lg_warn(L->component, slot->name, "cannot read the tenant's record: %s", errstr);
        return -1;
    }
    slot->known = record != NULL;
    if (!record) {
        slot->rev = 0; /* known to be absent until the registry changes */
        slot->state = AT_SKIP;
        slot->why = "not in the registry";
        return 0;
    }
    const char *state = json_string_value(json_object_get(record, "state"));
    slot->rev = (long long)json_integer_value(json_object_get(record, "rev"));
    /* A tenant that needs reconnecting at Mystore still has Ongoing: its
     * flows meet the refused credential themselves, and wait. */
    if (!state || (strcmp(state, TN_ACTIVE) && strcmp(state, TN_NEEDS_RECONNECT))) {
        slot->state = AT_WAIT;
        slot->why = state && !strcmp(state, TN_PAUSED) ? "paused" : "not active";
        json_decref(record);
        return 0;
    }
    json_t *settings = json_object_get(record, "settings");
    json_object_set_new(settings, "MOSYNC_TENANT", json_string(slot->name));
    mo_err err = cfg_load_tenant(&slot->cfg, L->kind->need, settings, errstr, sizeof(errstr));
    json_decref(record);
    if (err) {
        if (slot->warned_rev != slot->rev)
            lg_error(L->component, slot->name,
                     "the tenant's settings do not load (%s); its events wait until they change",
                     errstr);
        slot->warned_rev = slot->rev;
        slot->state = AT_WAIT;
        slot->why = "settings do not load";
        return 0;
    }
    if (!strcmp(L->kind->name, "stock") && !slot->cfg.stock_sync) {
        cfg_free(&slot->cfg);
        slot->state = AT_SKIP;
        slot->why = "STOCK_SYNC is off";
        return 0;
    }
    if (L->kind->make(&slot->cfg, L->rs, &slot->flow)) {
        cfg_free(&slot->cfg);
        slot->state = AT_WAIT;
        slot->why = "its API client cannot be made";
        return 0;
    }
    slot->ctx = slot->flow.ctx;
    rs_set_tenant(L->rs, slot->name);
    apply_dry_wrap(&slot->flow, &slot->dry, &slot->cfg, L->rs);
    slot->al = al_new(&slot->cfg, &slot->flow, L->group, L->rs, L->kp, errstr, sizeof(errstr));
    if (!slot->al) {
        slot->flow.free_ctx(slot->ctx);
        cfg_free(&slot->cfg);
        return -1;
    }
    slot->built = 1;
    slot->state = AT_APPLY;
    slot->why = NULL;
    return 0;
}

/* The slot of tenant `name`: its own, a free one, or the least recently used
 * one with nothing parked (given up).  NULL when every slot has parked
 * messages. */
static at_slot *at_slot_for(at_loop *L, const char *name)
{
    at_slot *free_slot = NULL, *lru = NULL;
    for (int i = 0; i < AT_SLOTS; i++) {
        at_slot *s = &L->slots[i];
        if (!strcmp(s->name, name))
            return s;
        if (!s->name[0] && !free_slot)
            free_slot = s;
        if (s->name[0] && !s->nparked && (!lru || s->used_at < lru->used_at))
            lru = s;
    }
    at_slot *s = free_slot ? free_slot : lru;
    if (!s)
        return NULL;
    at_unbuild(s);
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->warned_rev = -1;
    s->state = AT_WAIT;
    s->rev = -1;
    return s;
}

/* Is slot ready, and what do its messages get?  Builds it when needed.
 * -1: the registry could not be read. */
static int at_ready(at_loop *L, at_slot *slot)
{
    if (slot->built || slot->rev >= 0)
        return 0; /* built, or its state known since the registry's last change */
    return at_build(L, slot);
}

/* The registry changed: every tenant is looked at again when it is next
 * needed (a paused one resumes, a changed one gets its new settings). */
static void at_registry(at_loop *L)
{
    char errstr[256];
    long long gen = 0;
    if (mo_now_ms() - L->gen_at < AT_REGISTRY_MS)
        return;
    L->gen_at = mo_now_ms();
    if (tn_gen(L->reg, &gen, errstr, sizeof(errstr)) || gen == L->gen)
        return;
    L->gen = gen;
    int n = 0;
    for (int i = 0; i < AT_SLOTS; i++) {
        at_slot *s = &L->slots[i];
        if (!s->name[0])
            continue;
        at_unbuild(s);
        s->rev = -1;
        s->retry_at = 0; /* a resumed tenant's parked messages go at once */
        n++;
    }
    /* Said once per change: from here on every message is applied with it. */
    lg_info(L->component, "*",
            "registry generation %lld: the %d tenant(s) known here are read again", gen, n);
}

/* ---- one message -------------------------------------------------------- */

/* The tenant of m's key ("{tenant}:{entity id}") into name; 0 when the key
 * names none. */
static int at_tenant_of(const rd_kafka_message_t *m, char *name, size_t size)
{
    const char *key = m->key;
    const char *colon = key ? memchr(key, ':', m->key_len) : NULL;
    char errstr[128];
    if (!colon || colon == key || (size_t)(colon - key) >= size)
        return 0;
    memcpy(name, key, (size_t)(colon - key));
    name[colon - key] = '\0';
    return tn_check_name(name, errstr, sizeof(errstr)) == MO_OK;
}

/* A message settled unapplied: its tenant is not served here. */
static void at_skip(at_loop *L, at_slot *slot, const rd_kafka_message_t *m)
{
    if (strcmp(L->skipped_name, slot->name)) {
        lg_info(L->component, slot->name, "events of tenant '%s' are skipped: %s", slot->name,
                slot->why ? slot->why : "not served");
        snprintf(L->skipped_name, sizeof(L->skipped_name), "%s", slot->name);
    }
    mt_add("mosync_messages_total", 1, "flow", L->kind->name, "outcome", "skipped", "tenant",
           slot->known ? slot->name : "*", NULL);
    at_settled(L, m);
}

/* Applies m (slot's head when parked) with slot's applier.  1 when settled,
 * 0 when it must wait (slot->retry_at set). */
static int at_apply(at_loop *L, at_slot *slot, const rd_kafka_message_t *m)
{
    long retry_ms = 0;
    if (at_ready(L, slot) < 0) {
        slot->retry_at = mo_now_ms() + AT_WAIT_MS;
        return 0;
    }
    slot->used_at = mo_now_ms();
    if (slot->state == AT_SKIP) {
        at_skip(L, slot, m);
        return 1;
    }
    if (slot->state == AT_WAIT) {
        slot->retry_at = mo_now_ms() + AT_WAIT_MS;
        return 0;
    }
    rs_set_tenant(L->rs, slot->name);
    al_verdict v = al_handle(slot->al, &slot->flow, L->kp, L->topic, m, L->budget_ms, &retry_ms);
    if (v == AL_RETRY) {
        slot->retry_at = mo_now_ms() + retry_ms;
        return 0;
    }
    L->messages++;
    L->dead += v == AL_DEAD;
    at_settled(L, m);
    return 1;
}

/* Tries the parked messages of every tenant whose wait is over, in order. */
static void at_drain(at_loop *L)
{
    long long now = mo_now_ms();
    for (int i = 0; i < AT_SLOTS && !mo_stop_requested(); i++) {
        at_slot *slot = &L->slots[i];
        for (int n = 0; n < AT_DRAIN_BATCH && slot->head && slot->retry_at <= now; n++) {
            if (!at_apply(L, slot, slot->head->m))
                break;
            rd_kafka_message_destroy(at_unpark(L, slot));
        }
    }
}

/* A message fresh from Kafka.  Takes m (destroys or parks it). */
static void at_message(at_loop *L, rd_kafka_message_t *m)
{
    char name[AT_NAME_MAX];
    at_part *part = at_part_get(L, m->partition);
    if (part && !part->loaded)
        at_load(L, m->partition, part);
    if (part && at_settled_before(part, m)) {
        lg_debug(L->component, "*", "%s [%d] @%lld: settled by the previous owner", L->topic,
                 m->partition, (long long)m->offset);
        at_settled(L, m);
        rd_kafka_message_destroy(m);
        return;
    }
    if (!at_tenant_of(m, name, sizeof(name))) {
        /* Not an event of ours at all: the pollers write every key. */
        lg_warn(L->component, "*", "%s [%d] @%lld: its key names no tenant; skipped", L->topic,
                m->partition, (long long)m->offset);
        mt_add("mosync_messages_total", 1, "flow", L->kind->name, "outcome", "skipped", "tenant",
               "*", NULL);
        at_settled(L, m);
        rd_kafka_message_destroy(m);
        return;
    }
    at_slot *slot = at_slot_for(L, name);
    int full = L->nparked >= AT_PARK_MAX;
    if (!slot || ((slot->nparked || slot->retry_at > mo_now_ms()) && full)) {
        /* Nothing more can wait in memory: the partition waits instead. */
        kq_consumer_retry_later(L->kc, m, AT_FULL_WAIT_MS);
        rd_kafka_message_destroy(m);
        return;
    }
    if (!slot->nparked && slot->retry_at <= mo_now_ms() && at_apply(L, slot, m)) {
        rd_kafka_message_destroy(m);
        return;
    }
    /* Behind the tenant's others, or its first to wait. */
    if (full || at_park(L, slot, m)) {
        kq_consumer_retry_later(L->kc, m, AT_FULL_WAIT_MS);
        rd_kafka_message_destroy(m);
    }
}

int apply_all_tenants(const mo_config *cfg, const char *flow, const sb_key *key)
{
    char errstr[512], base[96];
    at_loop *L = calloc(1, sizeof(*L));
    int rc = 1;
    if (!L)
        return 1;
    for (size_t i = 0; i < sizeof(at_kinds) / sizeof(at_kinds[0]); i++)
        if (!strcmp(at_kinds[i].name, flow))
            L->kind = &at_kinds[i];
    if (!L->kind) {
        free(L);
        return 2;
    }
    L->cfg = cfg;
    L->key = key;
    L->gen = -1;
    snprintf(L->component, sizeof(L->component), "apply.%s", flow);
    snprintf(base, sizeof(base), "mosync-apply-%s-all-tenants", flow);
    cfg_topic(cfg, L->kind->topic_base, L->topic, sizeof(L->topic));
    cfg_group(cfg, base, L->group, sizeof(L->group));
    const char *topics[1] = {L->topic};
    if (!(L->rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr))) ||
        !(L->reg = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr)))) {
        lg_error(L->component, "*", "%s", errstr);
        goto out;
    }
    if (!(L->kp = kq_producer_new(cfg, L->group, errstr, sizeof(errstr))) ||
        !(L->kc = kq_consumer_new_manual(cfg, L->group, topics, 1, errstr, sizeof(errstr)))) {
        lg_error(L->component, "*", "cannot start Kafka: %s", errstr);
        goto out;
    }
    kq_consumer_on_revoke(L->kc, at_on_revoke, L);
    L->budget_ms = al_budget(NULL, kq_consumer_max_poll_interval_ms(L->kc),
                             kq_producer_message_timeout_ms(L->kp));
    lg_info(L->component, "*",
            "consuming %s in group %s for every tenant of the registry (at most %ld ms per "
            "message)",
            L->topic, L->group, L->budget_ms);
    rc = 0;
    while (!mo_stop_requested()) {
        at_registry(L);
        at_drain(L);
        at_commit_changed(L, 0);
        mt_set("mosync_parked_messages", (double)L->nparked, "flow", flow, NULL);
        rd_kafka_message_t *m = kq_consumer_poll(L->kc, 100);
        if (m)
            at_message(L, m);
    }
out:
    /* The partitions' state is committed as they leave (at_on_revoke), their
     * parked messages with it. */
    kq_consumer_close(L->kc, AT_CLOSE_MS);
    for (int i = 0; i < AT_SLOTS; i++) {
        while (L->slots[i].head)
            rd_kafka_message_destroy(at_unpark(L, &L->slots[i]));
        at_unbuild(&L->slots[i]);
    }
    for (int p = 0; p < L->nparts; p++)
        free(L->parts[p].skip);
    kq_producer_free(L->kp);
    rs_close(L->rs);
    rs_close(L->reg);
    printf("{\"command\":\"apply %s --all-tenants\",\"messages\":%lu,\"dead_lettered\":%lu,"
           "\"parked_max\":%lu}\n",
           flow, L->messages, L->dead, L->parked_max);
    fflush(stdout);
    free(L->parts);
    free(L);
    return rc;
}
