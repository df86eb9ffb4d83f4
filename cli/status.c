/* `mosync status [--json]` (see status.h).
 *
 * Everything comes from Kafka and Redis, so status works while both APIs are
 * down and needs none of their credentials.  Each part is read on its own:
 * a part that cannot be read is null with the reason beside it ("why"), and
 * the rest is still shown.  Kafka is given up on after its first request
 * that got no answer, so a dead broker costs one timeout, not one per flow,
 * and is said once: one line naming the brokers and why (librdkafka's own
 * log lines go to the log at debug level only).  Every time is printed
 * with its zone: UTC with Z, a shop-local time with the zone's name. */
#include "status.h"
#include "credential.h"
#include "dlq.h"
#include "dlq_state.h"
#include "event.h"
#include "kafka.h"
#include "kafka_group.h"
#include "lastrun.h"
#include "lease.h"
#include "log.h"
#include "oauth.h"
#include "stop.h"
#include "store.h"
#include "tz.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One Kafka request's wait, and Redis's: an operator waits for the answer. */
#define ST_KAFKA_TIMEOUT_MS 5000
#define ST_REDIS_RETRY_MS   1000
/* Reading mosync.dlq to its end may take this long in all. */

/* The pollers: cursor key cursor:<name>, lease lease:<name>, component
 * poll.<name> (the cursor's formats: st_cursor_time). */
static const char *const st_streams[] = {"mystore-orders", "mystore-products", "ongoing-shipments",
                                         "ongoing-stock"};

/* The appliers: topic, group (both with the prefix), component, the poller
 * that feeds the topic. */
static const struct {
    const char *name, *topic_base, *group_base, *component, *stream;
} st_flows[] = {
    {"orders", KQ_TOPIC_ORDERS, "mosync-apply-orders", "apply.orders", "mystore-orders"},
    {"articles", KQ_TOPIC_PRODUCTS, "mosync-apply-articles", "apply.articles", "mystore-products"},
    {"deliveries", KQ_TOPIC_SHIPMENTS, "mosync-apply-deliveries", "apply.deliveries",
     "ongoing-shipments"},
    {"stock", KQ_TOPIC_STOCK, "mosync-apply-stock", "apply.stock", "ongoing-stock"},
};

#define ST_N(a) (sizeof(a) / sizeof((a)[0]))

/* Why a Kafka part is missing once kafka.why has said why Kafka is. */
#define ST_KAFKA_DOWN "kafka unreachable: see kafka.why"

typedef struct st_ctx {
    mo_config *cfg;
    rs_store *rs; /* NULL when Redis cannot be read */
    char redis_why[512];
    int kafka_down; /* a Kafka request got no answer */
    char kafka_why[512];
    time_t now;
} st_ctx;

/* A part that could not be read: st_put turns it into "<name>": null beside
 * "<name>_why": why. */
static json_t *st_missing(const char *why)
{
    return json_pack("{s:n, s:s}", "missing", "why", why);
}

/* Sets parent[name] to part (stolen), or to null with name_why when part is
 * st_missing's. */
static void st_put(json_t *parent, const char *name, json_t *part)
{
    if (json_is_object(part) && json_object_get(part, "missing")) {
        char why[64];
        snprintf(why, sizeof(why), "%s_why", name);
        json_object_set(parent, why, json_object_get(part, "why"));
        json_decref(part);
        part = json_null();
    }
    json_object_set_new(parent, name, part);
}

/* The reason parent[name] is null, or NULL when it is not missing. */
static const char *st_why(json_t *parent, const char *name)
{
    char why[64];
    snprintf(why, sizeof(why), "%s_why", name);
    return json_string_value(json_object_get(parent, why));
}

static void st_iso(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The last success and last error of component: {ok_at, ok_age_s, error_at,
 * error_age_s, error_class, error}, each null when there was none. */
static json_t *st_last(st_ctx *c, const char *component)
{
    char errstr[512], suffix[128];
    json_t *reply = NULL;
    if (!c->rs)
        return st_missing(c->redis_why);
    const char *keys[1] = {lr_suffix(component, suffix, sizeof(suffix))};
    mo_err err = rs_eval(c->rs, "return redis.call('HGETALL', KEYS[1])", 1, keys, 0, NULL, &reply,
                         errstr, sizeof(errstr));
    if (err)
        return st_missing(errstr);
    json_t *o = lr_view(reply, (long long)c->now);
    json_decref(reply);
    return o;
}

/* The one place that reads a cursor's position (the "ts" the pollers
 * keep): UTC epoch seconds (producers/poll.c), or a shop-local
 * "YYYY-MM-DD HH:MM:SS" in MYSTORE_TIMEZONE (a Mystore cursor of mosync
 * 0.1, M1).  *t: the instant; shown: the position as status prints it, with
 * its zone: a Mystore stream's in shop time, the time Mystore stamps its
 * changes in ("2026-11-28 13:34:57 Europe/Oslo"), an Ongoing stream's in UTC
 * ("2026-11-28T12:34:57Z"); zone: the zone's name.  Returns 0 when ts is one
 * of those. */
static int st_cursor_time(const st_ctx *c, const char *stream, const json_t *ts, time_t *t,
                          char *shown, size_t size, const char **zone)
{
    char local[TZ_LOCAL_SIZE];
    if (json_is_string(ts)) {
        *zone = c->cfg->mystore_timezone;
        if (tz_local_to_utc(*zone, json_string_value(ts), t))
            return -1;
        snprintf(shown, size, "%s %s", json_string_value(ts), *zone);
        return 0;
    }
    if (!json_is_integer(ts))
        return -1;
    *t = (time_t)json_integer_value(ts);
    if (!strncmp(stream, "mystore-", 8) && !tz_utc_to_local(c->cfg->mystore_timezone, *t, local)) {
        *zone = c->cfg->mystore_timezone;
        snprintf(shown, size, "%s %s", local, *zone);
        return 0;
    }
    *zone = "UTC";
    st_iso(*t, shown, size);
    return 0;
}

/* A stream's cursor: {key, position, zone, position_utc, age_s}; null
 * position when the poller has not completed a scan yet. */
static json_t *st_cursor(st_ctx *c, const char *stream)
{
    char errstr[512], suffix[128], utc[32], shown[160];
    json_t *cur = NULL;
    if (!c->rs)
        return st_missing(c->redis_why);
    snprintf(suffix, sizeof(suffix), "cursor:%s", stream);
    mo_err err = rs_get_json(c->rs, suffix, &cur, errstr, sizeof(errstr));
    if (err)
        return st_missing(errstr);
    json_t *o =
        json_pack("{s:s, s:n, s:n, s:n}", "key", suffix, "position", "position_utc", "age_s");
    time_t t = 0;
    const char *zone = NULL;
    if (!st_cursor_time(c, stream, json_object_get(cur, "ts"), &t, shown, sizeof(shown), &zone)) {
        st_iso(t, utc, sizeof(utc));
        json_object_set_new(o, "position", json_string(shown));
        json_object_set_new(o, "zone", json_string(zone));
        json_object_set_new(o, "position_utc", json_string(utc));
        json_object_set_new(o, "age_s", json_integer((json_int_t)(c->now - t)));
    } else if (cur) {
        json_object_set_new(o, "position_why", json_string("the cursor has no readable ts"));
    } else {
        json_object_set_new(o, "position_why", json_string("no cursor yet: no scan completed"));
    }
    json_decref(cur);
    return o;
}

/* A stream's lease: {holder, fence, expires_in_ms}, or null when no poller
 * holds it.  The token's nonce is not shown: with it anyone could write the
 * cursor as the holder. */
static json_t *st_lease(st_ctx *c, const char *stream)
{
    char errstr[512], suffix[128];
    json_t *reply = NULL;
    if (!c->rs)
        return st_missing(c->redis_why);
    snprintf(suffix, sizeof(suffix), "lease:%s", stream);
    const char *keys[1] = {suffix};
    mo_err err = rs_eval(c->rs, "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}",
                         1, keys, 0, NULL, &reply, errstr, sizeof(errstr));
    if (err)
        return st_missing(errstr);
    const char *tok = json_string_value(json_array_get(reply, 0));
    json_t *o = json_null();
    if (tok) {
        char holder[256];
        long long fence;
        ls_token_parse(tok, &fence, holder, sizeof(holder));
        o = json_pack("{s:s, s:I, s:I}", "holder", holder, "fence", (json_int_t)fence,
                      "expires_in_ms", (json_int_t)json_integer_value(json_array_get(reply, 1)));
    }
    json_decref(reply);
    return o;
}

/* The Mystore request budget: requests in the last 60 s of the shared
 * window (Redis server time, as rs_budget_take counts) against the limit. */
static json_t *st_budget(st_ctx *c)
{
    char errstr[512];
    json_t *reply = NULL;
    json_t *b = json_object();
    if (!c->rs) {
        st_put(b, "mystore", st_missing(c->redis_why));
    } else {
        const char *keys[1] = {"ratelimit:mystore"};
        mo_err err =
            rs_eval(c->rs,
                    "local t = redis.call('TIME')\n"
                    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
                    "return redis.call('ZCOUNT', KEYS[1], now - 60000, '+inf')\n",
                    1, keys, 0, NULL, &reply, errstr, sizeof(errstr));
        st_put(b, "mystore",
               err ? st_missing(errstr)
                   : json_pack("{s:I, s:i, s:s}", "used_last_minute",
                               (json_int_t)json_integer_value(reply), "limit_per_min",
                               c->cfg->mystore_rate_per_min, "limit_from",
                               "MYSTORE_RATE_LIMIT_PER_MIN"));
        json_decref(reply);
    }
    /* Ongoing has no request budget to show: its writes are serialised per
     * goods owner by a lock instead (lock:ongoing-writes:<owner>). */
    st_put(b, "ongoing",
           st_missing("no request budget: Ongoing writes go one at a time per goods "
                      "owner (a lock), reads are not limited"));
    return b;
}

/* Kafka did not answer (err: the request's error): said once, in
 * kafka_why, as "kafka unreachable at <brokers>: <reason>", the reason
 * being librdkafka's first complaint without its thread and broker
 * prefixes ("Connect to ipv4#127.0.0.1:9092 failed: Connection refused"),
 * else err. */
static void st_kafka_down(st_ctx *c, const char *err)
{
    char first[512];
    kq_log_first_complaint(first, sizeof(first));
    const char *r = *first ? first : err, *end;
    if (r[0] == '[' && (end = strstr(r, "]: ")))
        r = end + 3; /* "[thrd:host:port/bootstrap]: " */
    end = strstr(r, ": ");
    if (end && memchr(r, '/', (size_t)(end - r)) && !memchr(r, ' ', (size_t)(end - r)))
        r = end + 2; /* "host:port/bootstrap: " */
    c->kafka_down = 1;
    snprintf(c->kafka_why, sizeof(c->kafka_why), "kafka unreachable at %s: %s",
             c->cfg->kafka_brokers, r);
    lg_mask_secrets(c->kafka_why, sizeof(c->kafka_why));
}

/* Has the group committed on some partition? */
static int st_committed(const kg_lag *lags, int n)
{
    for (int i = 0; i < n; i++)
        if (lags[i].committed >= 0)
            return 1;
    return 0;
}

/* A flow's consumer-group lag: {topic, group, total, partitions: [...]}.  A
 * registry tenant whose own group (`apply --tenant T`) never committed is
 * served by `apply --all-tenants`: that group's lag is shown, shared by
 * every tenant (shared: true). */
static json_t *st_lag(st_ctx *c, const char *topic_base, const char *group_base)
{
    char errstr[512], topic[256], group[256], shared_base[96];
    kg_lag *lags = NULL;
    int n = 0, shared = 0;
    if (c->kafka_down)
        return st_missing(ST_KAFKA_DOWN);
    cfg_topic(c->cfg, topic_base, topic, sizeof(topic));
    cfg_group(c->cfg, group_base, group, sizeof(group));
    mo_err err =
        kg_group_lag(c->cfg, group, topic, ST_KAFKA_TIMEOUT_MS, &lags, &n, errstr, sizeof(errstr));
    if (!err && c->cfg->registry && !st_committed(lags, n)) {
        snprintf(shared_base, sizeof(shared_base), "%s-all-tenants", group_base);
        snprintf(group, sizeof(group), "%s%s", c->cfg->topic_prefix, shared_base);
        free(lags);
        lags = NULL;
        err = kg_group_lag(c->cfg, group, topic, ST_KAFKA_TIMEOUT_MS, &lags, &n, errstr,
                           sizeof(errstr));
        shared = 1;
    }
    if (err == MO_ERR_TRANSIENT) {
        st_kafka_down(c, errstr);
        return st_missing(ST_KAFKA_DOWN);
    }
    if (err)
        return st_missing(errstr);
    json_int_t total = 0;
    json_t *parts = json_array();
    for (int i = 0; i < n; i++) {
        total += lags[i].lag;
        json_array_append_new(
            parts,
            json_pack("{s:i, s:o, s:I, s:I, s:I}", "partition", (int)lags[i].partition, "committed",
                      lags[i].committed >= 0 ? json_integer((json_int_t)lags[i].committed)
                                             : json_null(),
                      "low", (json_int_t)lags[i].low, "high", (json_int_t)lags[i].high, "lag",
                      (json_int_t)lags[i].lag));
    }
    free(lags);
    return json_pack("{s:s, s:s, s:b, s:I, s:s, s:o}", "topic", topic, "group", group, "shared",
                     shared, "total", total, "note",
                     shared ? "the group of apply --all-tenants: its lag is every tenant's "
                              "events not yet applied"
                            : "lag = high watermark - committed offset; a partition never "
                              "committed (committed null) counts all it holds (high - low)",
                     "partitions", parts);
}

mo_err status_dlq_counts(const mo_config *cfg, int timeout_ms, json_t **out, char *errstr,
                         size_t errstr_size)
{
    (void)timeout_ms; /* the letters are read within dlq_state's own bound */
    return dlq_open_by_class(cfg, out, errstr, errstr_size);
}

static json_t *st_dead_letters(st_ctx *c)
{
    char errstr[512];
    json_t *counts = NULL;
    if (c->kafka_down)
        return st_missing(ST_KAFKA_DOWN);
    mo_err err = status_dlq_counts(c->cfg, ST_KAFKA_TIMEOUT_MS, &counts, errstr, sizeof(errstr));
    if (err == MO_ERR_TRANSIENT) {
        st_kafka_down(c, errstr);
        return st_missing(ST_KAFKA_DOWN);
    }
    if (err)
        return st_missing(errstr);
    return json_pack(
        "{s:o, s:s}", "by_component", counts, "note",
        "open letters only: re-driven, resolved and purged ones are in `mosync dlq list --all`");
}

/* The refused credentials (credential.h): {"mystore": null or {refused_since,
 * last_refused_at, by, error}, "ongoing": ...}; *refused counts the refused. */
static json_t *st_credentials(st_ctx *c, int *refused)
{
    char errstr[512];
    if (!c->rs)
        return st_missing(c->redis_why);
    json_t *o = json_object();
    for (int i = 0; o && i < CR_NAPIS; i++) {
        json_t *rec = NULL;
        if (cr_read(c->rs, cr_apis[i], &rec, errstr, sizeof(errstr))) {
            json_decref(o);
            return st_missing(errstr);
        }
        json_t *error = json_object_get(rec, "error");
        if (json_is_string(error)) {
            /* Masked when written; again here, with this process's secrets. */
            char text[512];
            snprintf(text, sizeof(text), "%s", json_string_value(error));
            lg_mask_secrets(text, sizeof(text));
            json_object_set_new(rec, "error", json_string(text));
        }
        long long at_ms;
        if (rec &&
            !ev_utc_parse(json_string_value(json_object_get(rec, "last_refused_at")), &at_ms))
            json_object_set_new(rec, "last_refused_age_s",
                                json_integer((json_int_t)(c->now - at_ms / 1000)));
        else if (rec)
            json_object_set_new(rec, "last_refused_age_s", json_null());
        *refused += rec != NULL;
        json_object_set_new(o, cr_apis[i], rec ? rec : json_null());
    }
    return o;
}

/* The Mystore token store (oauth.h): null without OAuth or a record, else
 * {generation, access_expires_at, updated_at, needs_reconnect_since,
 * reason}; a tenant that needs reconnect counts as refused. */
static json_t *st_oauth(st_ctx *c, int *refused)
{
    char errstr[512];
    json_t *rec = NULL;
    if (!c->cfg->mystore_oauth)
        return json_null();
    if (!c->rs)
        return st_missing(c->redis_why);
    if (oa_status(c->rs, "mystore", &rec, errstr, sizeof(errstr)))
        return st_missing(errstr);
    if (json_is_string(json_object_get(rec, "needs_reconnect_since")))
        (*refused)++;
    return rec ? rec : json_null();
}

/* The whole report. */
static json_t *st_collect(st_ctx *c, int *refused)
{
    char at[32], component[64];
    st_iso(c->now, at, sizeof(at));
    json_t *streams = json_object(), *flows = json_object();
    for (size_t i = 0; i < ST_N(st_streams); i++) {
        json_t *s = json_object();
        snprintf(component, sizeof(component), "poll.%s", st_streams[i]);
        st_put(s, "cursor", st_cursor(c, st_streams[i]));
        st_put(s, "lease", st_lease(c, st_streams[i]));
        st_put(s, "last", st_last(c, component));
        json_object_set_new(streams, st_streams[i], s);
    }
    for (size_t i = 0; i < ST_N(st_flows); i++) {
        json_t *f = json_object();
        st_put(f, "lag", st_lag(c, st_flows[i].topic_base, st_flows[i].group_base));
        st_put(f, "last", st_last(c, st_flows[i].component));
        json_object_set_new(f, "poller", json_string(st_flows[i].stream));
        json_object_set_new(flows, st_flows[i].name, f);
    }
    json_t *dead = st_dead_letters(c); /* before "kafka": it may find Kafka down */
    json_t *o = json_object();
    json_object_set_new(o, "tenant", json_string(c->cfg->tenant));
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "redis",
                        json_pack("{s:b, s:o}", "reachable", c->rs != NULL, "why",
                                  c->rs ? json_null() : json_string(c->redis_why)));
    json_object_set_new(o, "kafka",
                        json_pack("{s:b, s:o}", "reachable", !c->kafka_down, "why",
                                  c->kafka_down ? json_string(c->kafka_why) : json_null()));
    st_put(o, "credentials", st_credentials(c, refused));
    st_put(o, "oauth", st_oauth(c, refused));
    json_object_set_new(o, "streams", streams);
    json_object_set_new(o, "flows", flows);
    st_put(o, "dead_letters", dead);
    json_object_set_new(o, "budget", st_budget(c));
    return o;
}

/* "12s", "5m", "3h", "2d" or "-". */
static const char *st_age_text(json_t *age, char *buf, size_t size)
{
    if (!json_is_integer(age))
        return "never";
    long long s = (long long)json_integer_value(age);
    if (s < 120)
        snprintf(buf, size, "%llds", s);
    else if (s < 7200)
        snprintf(buf, size, "%lldm", s / 60);
    else if (s < 172800)
        snprintf(buf, size, "%lldh", s / 3600);
    else
        snprintf(buf, size, "%lldd", s / 86400);
    return buf;
}

/* "ok 12s ago", "error 3s ago (transient: ...)" of a last-run object. */
static void st_print_last(const char *label, json_t *parent)
{
    char a[32], b[32];
    json_t *last = json_object_get(parent, "last");
    if (st_why(parent, "last")) {
        printf("    %-8s unknown (%s)\n", label, st_why(parent, "last"));
        return;
    }
    json_t *ok = json_object_get(last, "ok_age_s"), *bad = json_object_get(last, "error_age_s");
    printf("    %-8s last ok %s%s, last error %s%s", label, st_age_text(ok, a, sizeof(a)),
           json_is_integer(ok) ? " ago" : "", st_age_text(bad, b, sizeof(b)),
           json_is_integer(bad) ? " ago" : "");
    if (json_is_string(json_object_get(last, "error")))
        printf(" (%s: %s)", json_string_value(json_object_get(last, "error_class")),
               json_string_value(json_object_get(last, "error")));
    printf("\n");
}

/* A missing part's reason as the table prints it: Kafka's is on its own
 * line above. */
static const char *st_why_text(const char *why)
{
    return strcmp(why, ST_KAFKA_DOWN) ? why : "kafka unreachable: see above";
}

static void st_print(json_t *o)
{
    char a[32];
    const char *name;
    json_t *v;
    printf("mosync status  tenant %s  at %s\n", json_string_value(json_object_get(o, "tenant")),
           json_string_value(json_object_get(o, "at")));
    const char *parts[] = {"redis", "kafka"};
    for (int i = 0; i < 2; i++) {
        json_t *p = json_object_get(o, parts[i]);
        printf("%-6s %s\n", parts[i],
               json_is_true(json_object_get(p, "reachable"))
                   ? "ok"
                   : json_string_value(json_object_get(p, "why")));
    }
    const char *api;
    json_t *cred;
    json_object_foreach(json_object_get(o, "credentials"), api, cred)
    {
        if (!json_is_object(cred))
            continue;
        json_t *age = json_object_get(cred, "last_refused_age_s");
        printf("%s refused the credential since %s (last %s%s, %s: %s)\n", cr_api_title(api),
               json_string_value(json_object_get(cred, "refused_since")),
               st_age_text(age, a, sizeof(a)), json_is_integer(age) ? " ago" : "",
               json_is_string(json_object_get(cred, "by"))
                   ? json_string_value(json_object_get(cred, "by"))
                   : "?",
               json_is_string(json_object_get(cred, "error"))
                   ? json_string_value(json_object_get(cred, "error"))
                   : "");
    }
    if (st_why(o, "credentials"))
        printf("credentials unknown (%s)\n", st_why(o, "credentials"));
    json_t *oauth = json_object_get(o, "oauth");
    if (json_is_string(json_object_get(oauth, "needs_reconnect_since")))
        printf("Mystore: needs reconnect since %s (refresh token refused: %s); set a new "
               "MYSTORE_REFRESH_TOKEN and restart\n",
               json_string_value(json_object_get(oauth, "needs_reconnect_since")),
               json_is_string(json_object_get(oauth, "reason"))
                   ? json_string_value(json_object_get(oauth, "reason"))
                   : "?");
    else if (json_is_integer(json_object_get(oauth, "generation")))
        printf("Mystore OAuth: access token generation %lld, valid until %s\n",
               (long long)json_integer_value(json_object_get(oauth, "generation")),
               json_is_string(json_object_get(oauth, "access_expires_at"))
                   ? json_string_value(json_object_get(oauth, "access_expires_at"))
                   : "unknown");
    else if (st_why(o, "oauth"))
        printf("Mystore OAuth unknown (%s)\n", st_why(o, "oauth"));
    printf("\nstreams\n");
    json_object_foreach(json_object_get(o, "streams"), name, v)
    {
        json_t *cur = json_object_get(v, "cursor"), *lease = json_object_get(v, "lease");
        json_t *pos = json_object_get(cur, "position");
        printf("  %-18s cursor %-32s age %-5s lease ", name,
               json_is_string(pos) ? json_string_value(pos) : "-",
               json_is_integer(json_object_get(cur, "age_s"))
                   ? st_age_text(json_object_get(cur, "age_s"), a, sizeof(a))
                   : "-");
        if (json_is_string(json_object_get(lease, "holder")))
            printf("%s (fence %lld, %lld ms left)\n",
                   json_string_value(json_object_get(lease, "holder")),
                   (long long)json_integer_value(json_object_get(lease, "fence")),
                   (long long)json_integer_value(json_object_get(lease, "expires_in_ms")));
        else
            printf("%s\n", st_why(v, "lease") ? "unknown" : "none");
        st_print_last("poller", v);
    }
    printf("\nflows\n");
    json_object_foreach(json_object_get(o, "flows"), name, v)
    {
        json_t *lag = json_object_get(v, "lag"), *p;
        size_t i;
        if (st_why(v, "lag")) {
            printf("  %-18s lag unknown (%s)\n", name, st_why_text(st_why(v, "lag")));
        } else {
            printf("  %-18s lag %lld", name,
                   (long long)json_integer_value(json_object_get(lag, "total")));
            int shown = 0;
            json_array_foreach(json_object_get(lag, "partitions"), i, p)
            {
                if (json_integer_value(json_object_get(p, "lag")) > 0)
                    printf("%s%lld:%lld%s", shown++ ? " " : "  (partition:lag ",
                           (long long)json_integer_value(json_object_get(p, "partition")),
                           (long long)json_integer_value(json_object_get(p, "lag")),
                           json_is_null(json_object_get(p, "committed")) ? "*" : "");
            }
            printf("%s%s\n", shown ? "; * never committed)" : "",
                   json_is_true(json_object_get(lag, "shared")) ? "  (all tenants' group)" : "");
        }
        st_print_last("applier", v);
    }
    printf("\ndead letters\n");
    json_t *dead = json_object_get(o, "dead_letters");
    if (st_why(o, "dead_letters")) {
        printf("  unknown (%s)\n", st_why_text(st_why(o, "dead_letters")));
    } else if (!json_object_size(json_object_get(dead, "by_component"))) {
        printf("  none\n");
    } else {
        json_object_foreach(json_object_get(dead, "by_component"), name, v)
        {
            const char *klass;
            json_t *n;
            printf("  %-18s", name);
            json_object_foreach(v, klass, n)
                printf(" %s %lld", klass, (long long)json_integer_value(n));
            printf("\n");
        }
    }
    json_t *budget = json_object_get(o, "budget"), *ms = json_object_get(budget, "mystore");
    if (st_why(budget, "mystore"))
        printf("\nbudget\n  mystore unknown (%s)\n", st_why(budget, "mystore"));
    else
        printf("\nbudget\n  mystore %lld of %lld requests in the last minute\n",
               (long long)json_integer_value(json_object_get(ms, "used_last_minute")),
               (long long)json_integer_value(json_object_get(ms, "limit_per_min")));
}

/* Opens c's Redis connection and pings it: a Redis that does not answer
 * leaves c->rs NULL with the reason in c->redis_why (status shows the rest).
 * -1 (errstr) only when the store cannot be made at all (a bad REDIS_URL). */
static int st_open_redis(st_ctx *c, char *errstr, size_t errstr_size)
{
    c->rs = rs_open(c->cfg->redis_url, c->cfg->tenant, errstr, errstr_size);
    if (!c->rs)
        return -1;
    rs_set_retry_ms(c->rs, ST_REDIS_RETRY_MS);
    if (rs_ping(c->rs, errstr, errstr_size)) {
        snprintf(c->redis_why, sizeof(c->redis_why), "redis unreachable: %s", errstr);
        rs_close(c->rs);
        c->rs = NULL;
    }
    return 0;
}

json_t *status_report(mo_config *cfg, int *rc)
{
    char errstr[512];
    st_ctx c = {.cfg = cfg, .now = time(NULL)};
    int refused = 0;
    if (st_open_redis(&c, errstr, sizeof(errstr)))
        snprintf(c.redis_why, sizeof(c.redis_why), "%s", errstr);
    json_t *o = st_collect(&c, &refused);
    *rc = c.rs && !c.kafka_down && !refused ? 0 : 1;
    rs_close(c.rs);
    return o;
}

int status_main(int argc, char **argv)
{
    mo_config cfg;
    char errstr[512];
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "mosync: status: unknown option '%s' (only --json)\n", argv[i]);
            return 2;
        }
    }
    if (cfg_load(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    st_ctx c = {.cfg = &cfg, .now = time(NULL)};
    kq_log_quiet(); /* Kafka down is said once, by status itself */
    if (st_open_redis(&c, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        cfg_free(&cfg);
        return 2;
    }
    int refused = 0;
    json_t *o = st_collect(&c, &refused);
    int rc = c.rs && !c.kafka_down && !refused ? 0 : 1;
    if (!o) {
        fprintf(stderr, "mosync: status: out of memory\n");
        rc = 1;
    } else if (json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) {
            /* Last line of defence, as for the log: error texts came from
             * APIs and were masked when written, but Redis is shared. */
            lg_mask_secrets(s, strlen(s) + 1);
            printf("%s\n", s);
        }
        free(s);
    } else {
        st_print(o);
    }
    fflush(stdout);
    json_decref(o);
    rs_close(c.rs);
    cfg_free(&cfg);
    return rc;
}
