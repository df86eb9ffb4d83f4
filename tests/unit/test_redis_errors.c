/* Issue 12 item 10: a Redis error reply that says the server cannot serve
 * now (LOADING after a restart with data on disk, OOM under maxmemory with
 * noeviction, ...) is an outage: rs_cmd retries it like a lost connection
 * and then gives MO_ERR_TRANSIENT, never MO_ERR_PERMANENT (which dead-letters
 * the message in hand).  Against a real redis-server in both states. */
#include "unit.h"
#include "ut_net.h"
#include "common/stop.h"
#include "common/store.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The number after "<field>=" in the "cmdstat_<cmd>" line of INFO
 * commandstats (rejected_calls: commands Redis refused with an error reply
 * before running them, as during LOADING or OOM); -1 when unreadable. */
static long ut_cmdstat(int port, const char *cmd, const char *field)
{
    struct timeval tv = {1, 0};
    char line[64];
    long n = -1;
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return -1;
    }
    redisReply *r = redisCommand(c, "INFO commandstats");
    snprintf(line, sizeof(line), "cmdstat_%s:", cmd);
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, line) : NULL;
    const char *eol = p ? strchr(p, '\r') : NULL;
    const char *f = p ? strstr(p, field) : NULL;
    if (f && (!eol || f < eol) && f[strlen(field)] == '=')
        n = strtol(f + strlen(field) + 1, NULL, 10);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* One store call in a thread of its own, so the test can change the server
 * while the call is retrying. */
typedef struct ut_rcall {
    pthread_t thread;
    char url[128];
    long retry_ms;
    int get; /* 1: rs_get_json of "k"; 0: rs_set_json of "k" */
    mo_err err;
    json_t *value;
    char errstr[256];
    atomic_int done;
} ut_rcall;

static void *ut_rcall_run(void *arg)
{
    ut_rcall *c = arg;
    rs_store *rs = rs_open(c->url, "t1", c->errstr, sizeof(c->errstr));
    if (!rs) {
        c->err = MO_ERR_CONFIG;
    } else {
        rs_set_retry_ms(rs, c->retry_ms);
        if (c->get) {
            c->err = rs_get_json(rs, "k", &c->value, c->errstr, sizeof(c->errstr));
        } else {
            json_t *v = json_string("v");
            c->err = rs_set_json(rs, "k", v, 0, c->errstr, sizeof(c->errstr));
            json_decref(v);
        }
        rs_close(rs);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

/* Starts c's call; NULL when no thread could be made. */
static ut_rcall *ut_rcall_start(const char *url, int get, long retry_ms)
{
    ut_rcall *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    snprintf(c->url, sizeof(c->url), "%s", url);
    c->get = get;
    c->retry_ms = retry_ms;
    if (pthread_create(&c->thread, NULL, ut_rcall_run, c)) {
        free(c);
        return NULL;
    }
    return c;
}

/* Waits at most bound_ms for c's call to return; 1 when it did (then c may
 * be read and freed with ut_rcall_free), else 0 and c is left to its thread. */
static int ut_rcall_wait(ut_rcall *c, long bound_ms)
{
    for (long waited = 0; !atomic_load(&c->done) && waited < bound_ms; waited += 10)
        usleep(10 * 1000);
    if (!atomic_load(&c->done)) {
        pthread_detach(c->thread);
        return 0;
    }
    pthread_join(c->thread, NULL);
    return 1;
}

static void ut_rcall_free(ut_rcall *c)
{
    json_decref(c->value);
    free(c);
}

/* Waits (bounded) until Redis has refused cmd at least n times in all. */
static int ut_wait_rejected(int port, const char *cmd, long n)
{
    for (int i = 0; i < 400; i++) {
        if (ut_cmdstat(port, cmd, "rejected_calls") >= n)
            return 1;
        usleep(25 * 1000);
    }
    return 0;
}

UT_TEST(issue12_10_redis_oom_is_an_outage_retried_then_transient)
{
    ut_redis r;
    char url[128], errstr[256], token[40];
    const char *policy[] = {"CONFIG", "SET", "maxmemory-policy", "noeviction", NULL};
    const char *full[] = {"CONFIG", "SET", "maxmemory", "1", NULL};
    const char *room[] = {"CONFIG", "SET", "maxmemory", "0", NULL};
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    UT_CHECK(ut_redis_cmd(&r, NULL, policy) == 0 && ut_redis_cmd(&r, NULL, full) == 0,
             "cannot fill Redis");

    /* Every kind of write the pipeline makes: a plain SET, the lock, a script. */
    rs_store *rs = rs_open(url, "t1", errstr, sizeof(errstr));
    rs_set_retry_ms(rs, 300);
    json_t *v = json_string("v"), *out = NULL;
    long long t0 = mo_now_ms();
    UT_CHECK(!rs_outage_since(t0 + 1), "an outage noted in the future");
    mo_err err = rs_set_json(rs, "k", v, 60, errstr, sizeof(errstr));
    /* What a consumer asks before it dead-letters a message that failed. */
    UT_CHECK(rs_outage_since(t0), "the OOM is not noted as an outage of Redis");
    UT_CHECK(err == MO_ERR_TRANSIENT && strstr(errstr, "OOM"), "SET under OOM: %s: %s",
             mo_err_name(err), errstr);
    err = rs_lock(rs, "w", 1000, 1000, token, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_TRANSIENT && strstr(errstr, "OOM"), "lock under OOM: %s: %s",
             mo_err_name(err), errstr);
    const char *keys[1] = {"k"};
    err = rs_eval(rs, "return redis.call('SET', KEYS[1], 'v')", 1, keys, 0, NULL, &out, errstr,
                  sizeof(errstr));
    UT_CHECK(err == MO_ERR_TRANSIENT && strstr(errstr, "OOM"), "script under OOM: %s: %s",
             mo_err_name(err), errstr);
    json_decref(out);
    out = NULL;
    /* Reads still work: OOM refuses only what may grow the data. */
    err = rs_get_json(rs, "k", &out, errstr, sizeof(errstr));
    UT_CHECK(err == MO_OK && !out, "GET under OOM: %s: %s", mo_err_name(err), errstr);
    json_decref(out);

    /* Retried inside the call: memory given back while it waits, it succeeds. */
    long before = ut_cmdstat(r.port, "set", "rejected_calls");
    ut_rcall *c = ut_rcall_start(url, 0, 30000);
    if (UT_CHECK(c, "no thread")) {
        UT_CHECK(ut_wait_rejected(r.port, "set", before + 2), "the SET was not tried again");
        ut_redis_cmd(&r, NULL, room);
        if (UT_CHECK(ut_rcall_wait(c, 20000), "the SET still waits after Redis has room")) {
            UT_CHECK(c->err == MO_OK, "SET once Redis has room: %s: %s", mo_err_name(c->err),
                     c->errstr);
            ut_rcall_free(c);
        }
    }
    err = rs_get_json(rs, "k", &out, errstr, sizeof(errstr));
    UT_CHECK(err == MO_OK && json_is_string(out), "the value written: %s", errstr);
    json_decref(out);
    rs_close(rs);
    json_decref(v);
    ut_redis_stop(&r);
}

/* A redis-server restarted on data_dir's dump.rdb that loads it slowly
 * (key-load-delay, a debug setting of Redis 7, per key; events served every
 * 1 KiB so clients get -LOADING instead of waiting): 100,000 keys at 200 us
 * keep it LOADING for 20 s at least, unless the test sets key-load-delay to 0
 * first.  0 on success. */
static int ut_redis_start_loading(ut_redis *r, const char *data_dir)
{
    const char *extra[] = {
        "--dir", data_dir, "--key-load-delay", "200", "--loading-process-events-interval-bytes",
        "1024",  NULL};
    return ut_redis_start(r, extra);
}

UT_TEST(issue12_10_redis_loading_is_an_outage_retried_then_transient)
{
    ut_redis first, r;
    char url[128], errstr[256], data_dir[128], dump[192];
    const char *fill[] = {"EVAL",
                          "for i = 1, 100000 do redis.call('SET', 'filler:' .. i, 'x') end "
                          "redis.call('SET', 'mosync:{t1}:k', '\"kept\"') return 1",
                          "0", NULL};
    const char *save[] = {"SAVE", NULL};
    const char *fast[] = {"CONFIG", "SET", "key-load-delay", "0", NULL};
    if (!UT_CHECK(ut_redis_start(&first, NULL) == 0, "redis-server did not start"))
        return;
    UT_CHECK(ut_redis_cmd(&first, NULL, fill) == 0 && ut_redis_cmd(&first, NULL, save) == 0,
             "cannot write the data set");
    snprintf(data_dir, sizeof(data_dir), "%s", first.dir);
    snprintf(dump, sizeof(dump), "%s/dump.rdb", data_dir);
    ut_redis_stop(&first); /* the directory stays: it holds dump.rdb */
    if (!UT_CHECK(ut_redis_start_loading(&r, data_dir) == 0, "redis-server did not restart"))
        goto out;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);

    rs_store *rs = rs_open(url, "t1", errstr, sizeof(errstr));
    rs_set_retry_ms(rs, 300);
    json_t *out = NULL;
    mo_err err = rs_get_json(rs, "k", &out, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_TRANSIENT && strstr(errstr, "LOADING"), "GET while loading: %s: %s",
             mo_err_name(err), errstr);
    json_decref(out);
    out = NULL;
    err = rs_ping(rs, errstr, sizeof(errstr));
    UT_CHECK(err == MO_ERR_TRANSIENT, "PING while loading: %s: %s", mo_err_name(err), errstr);

    /* Retried inside the call: the load ends while it waits, and it reads
     * what was on disk. */
    long before = ut_cmdstat(r.port, "get", "rejected_calls");
    ut_rcall *c = ut_rcall_start(url, 1, 30000);
    if (UT_CHECK(c, "no thread")) {
        UT_CHECK(ut_wait_rejected(r.port, "get", before + 2), "the GET was not tried again");
        UT_CHECK(ut_redis_cmd(&r, NULL, fast) == 0, "CONFIG SET key-load-delay 0 refused");
        if (UT_CHECK(ut_rcall_wait(c, 20000), "the GET still waits after the load")) {
            UT_CHECK(
                c->err == MO_OK &&
                    !strcmp(json_string_value(c->value) ? json_string_value(c->value) : "", "kept"),
                "GET after the load: %s: %s", mo_err_name(c->err), c->errstr);
            ut_rcall_free(c);
        }
    }
    rs_close(rs);
    ut_redis_stop(&r);
out:
    unlink(dump);
    rmdir(data_dir);
}

/* The classification alone, for every code (and near misses). */
UT_TEST(issue12_10_redis_error_class_by_first_word)
{
    static const char *const outage[] = {
        "LOADING Redis is loading the dataset in memory",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "OOM command not allowed when used memory > 'maxmemory'. script: 21, on @user_script:1.",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist",
        "NOREPLICAS Not enough good replicas to write.",
        "NOAUTH Authentication required.",
        "WRONGPASS invalid username-password pair or user is disabled.",
        "LOADING",
    };
    static const char *const entity[] = {
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR value is not an integer or out of range",
        "ERR Error running script (call to f_1): @user_script:1: user_script:1: boom",
        "BUSYKEY Target key name already exists.",
        "LOADINGX not a code",
        "loading lower case is not a code",
        " OOM leading space",
        "",
    };
    for (size_t i = 0; i < sizeof(outage) / sizeof(outage[0]); i++)
        UT_CHECK(rs_error_class(outage[i]) == MO_ERR_TRANSIENT, "'%s' is not an outage", outage[i]);
    for (size_t i = 0; i < sizeof(entity) / sizeof(entity[0]); i++)
        UT_CHECK(rs_error_class(entity[i]) == MO_ERR_PERMANENT, "'%s' is an outage", entity[i]);
    UT_CHECK(rs_error_class(NULL) == MO_ERR_PERMANENT, "NULL is an outage");
}
