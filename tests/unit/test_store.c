/* The Redis store against a private redis-server (and a loopback server that
 * never answers): REDIS_URL parsed as a URL with ACL users, waits that stop
 * at the thread's deadline, lock tokens that differ between processes, keys
 * that are never cut.  Regression tests of issue 6 items 10, 11, 14, 18. */
#include "unit.h"
#include "ut_net.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Opens a store on url with short retries, so a failure shows quickly. */
static rs_store *open_quick(const char *url, char *errstr, size_t errstr_size)
{
    rs_store *rs = rs_open(url, "t1", errstr, errstr_size);
    if (rs)
        rs_set_retry_ms(rs, 300);
    return rs;
}

typedef struct redis_call {
    char url[256];
    long deadline_ms;
    const char *lock; /* NULL: PING */
    mo_err err;
    char errstr[256];
} redis_call;

static void redis_call_run(void *arg)
{
    redis_call *c = arg;
    char token[40];
    rs_store *rs = rs_open(c->url, "t1", c->errstr, sizeof(c->errstr));
    if (!rs) {
        c->err = MO_ERR_CONFIG;
        return;
    }
    mo_deadline_start(c->deadline_ms);
    if (c->lock)
        c->err = rs_lock(rs, c->lock, 60000, 60000, token, c->errstr, sizeof(c->errstr));
    else
        c->err = rs_ping(rs, c->errstr, sizeof(c->errstr));
    mo_deadline_clear();
    rs_close(rs);
}

UT_TEST(issue6_10_redis_reconnect_stops_at_deadline)
{
    ut_http *s = ut_http_start(NULL); /* accepts, never answers: Redis hung */
    redis_call *c = calloc(1, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "redis://127.0.0.1:%d/0", ut_http_port(s));
    c->deadline_ms = 300;
    int done = ut_run_bounded(redis_call_run, c, 10000);
    UT_CHECK(done, "a Redis call with a 0.3 s deadline was still retrying after 10 s");
    if (done) {
        UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s: %s", mo_err_name(c->err), c->errstr);
        free(c);
        ut_http_stop(s);
    }
}

UT_TEST(issue6_10_redis_lock_wait_stops_at_deadline)
{
    ut_redis r;
    char url[128], errstr[256], token[40];
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    rs_store *holder = open_quick(url, errstr, sizeof(errstr));
    UT_CHECK(holder && rs_lock(holder, "busy", 60000, 1000, token, errstr, sizeof(errstr)) == MO_OK,
             "first lock: %s", errstr);
    redis_call *c = calloc(1, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "%s", url);
    c->deadline_ms = 300;
    c->lock = "busy";
    int done = ut_run_bounded(redis_call_run, c, 10000);
    UT_CHECK(done, "waiting for a busy lock (wait 60 s) went on 10 s past a 0.3 s deadline");
    if (done) {
        UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s: %s", mo_err_name(c->err), c->errstr);
        free(c);
        rs_close(holder);
        ut_redis_stop(&r);
    }
}

UT_TEST(issue6_11_lock_tokens_differ_between_processes)
{
    ut_redis r;
    char url[128], tokens[2][40] = {"", ""};
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    for (int i = 0; i < 2; i++) {
        int fds[2];
        if (pipe(fds))
            break;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char errstr[256], token[40] = "", name[16];
            close(fds[0]);
            snprintf(name, sizeof(name), "lock%d", i);
            rs_store *rs = open_quick(url, errstr, sizeof(errstr));
            if (rs && rs_lock(rs, name, 10000, 1000, token, errstr, sizeof(errstr)) == MO_OK &&
                write(fds[1], token, strlen(token)) > 0)
                _exit(0);
            _exit(1);
        }
        close(fds[1]);
        ssize_t n = read(fds[0], tokens[i], sizeof(tokens[i]) - 1);
        tokens[i][n > 0 ? n : 0] = '\0';
        close(fds[0]);
        waitpid(pid, NULL, 0);
    }
    UT_CHECK(strlen(tokens[0]) >= 32 && strlen(tokens[1]) >= 32, "tokens '%s' '%s'", tokens[0],
             tokens[1]);
    /* Compare the random part: everything but what a clock could explain. */
    UT_CHECK(strncmp(tokens[0], tokens[1], 24) != 0,
             "two processes drew the same lock token: %s and %s", tokens[0], tokens[1]);
    ut_redis_stop(&r);
}

UT_TEST(issue6_14_redis_password_with_at_sign_and_percent)
{
    static const char password[] = "pa@ss:w0rd%x/y";
    static const char *const extra[] = {"--requirepass", password, NULL};
    static const char *const forms[] = {
        "redis://:pa%%40ss%%3Aw0rd%%25x%%2Fy@127.0.0.1:%d/0", /* percent-encoded */
        "redis://:pa@ss:w0rd%%25x%%2Fy@127.0.0.1:%d", /* raw '@' and ':': the last '@' splits */
    };
    ut_redis r;
    if (!UT_CHECK(ut_redis_start(&r, extra) == 0, "redis-server did not start"))
        return;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char url[256], errstr[256] = "";
        snprintf(url, sizeof(url), forms[i], r.port);
        rs_store *rs = open_quick(url, errstr, sizeof(errstr));
        UT_CHECK(rs != NULL, "%s refused: %s", url, errstr);
        if (rs) {
            mo_err err = rs_ping(rs, errstr, sizeof(errstr));
            UT_CHECK(err == MO_OK, "%s: %s", url, errstr);
            rs_close(rs);
        }
    }
    ut_redis_stop(&r);
}

UT_TEST(issue6_14_redis_acl_user_authenticates_with_user_and_password)
{
    static const char *const acl[] = {"ACL", "SETUSER", "mosync", "on", ">acl-Pw-6tq@x",
                                      "~*",  "&*",      "+@all",  NULL};
    static const char *const default_off[] = {"ACL", "SETUSER", "default", "off", NULL};
    ut_redis r;
    char url[256], errstr[256] = "";
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    UT_CHECK(ut_redis_cmd(&r, NULL, acl) == 0 && ut_redis_cmd(&r, NULL, default_off) == 0,
             "ACL setup failed");
    snprintf(url, sizeof(url), "redis://mosync:acl-Pw-6tq%%40x@127.0.0.1:%d/0", r.port);
    rs_store *rs = open_quick(url, errstr, sizeof(errstr));
    UT_CHECK(rs != NULL, "refused: %s", errstr);
    if (rs) {
        UT_CHECK(rs_ping(rs, errstr, sizeof(errstr)) == MO_OK, "AUTH as user mosync: %s", errstr);
        rs_close(rs);
    }
    ut_redis_stop(&r);
}

UT_TEST(issue6_14_whole_redis_password_is_a_secret)
{
    static const char password[] = "first-part@second-part-7Yq";
    char errstr[256] = "";
    rs_store *rs = rs_open("redis://:first-part@second-part-7Yq@127.0.0.1:6399/0", "t1", errstr,
                           sizeof(errstr));
    UT_CHECK(rs != NULL, "refused: %s", errstr);
    rs_close(rs);
    ut_capture_start(2);
    lg_error("test", NULL, "password %s", password);
    char *out = ut_capture_end(2);
    UT_CHECK(out && !ut_leaks(out, password, 6), "part of the Redis password logged: %s",
             out ? out : "(nothing)");
    free(out);
}

UT_TEST(issue6_14_redis_url_errors_are_clear_and_hide_the_password)
{
    static const struct {
        const char *url, *says;
    } bad[] = {
        {"rediss://:tls-Secret-9q@127.0.0.1:6380/0", "TLS"},
        {"redis://:bad%zzSecret-9q@127.0.0.1:6379/0", "percent"},
        {"redis://nopass-Secret-9q@127.0.0.1:6379/0", "password"},
        {"redis://:x-Secret-9q@127.0.0.1:99999/0", "port"},
        {"redis://:x-Secret-9q@127.0.0.1:6379/db", "database"},
        {"redis://:x-Secret-9q@/0", "host"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char errstr[256] = "";
        mo_config cfg;
        rs_store *rs = rs_open(bad[i].url, "t1", errstr, sizeof(errstr));
        UT_CHECK(rs == NULL, "%s accepted", bad[i].url);
        rs_close(rs);
        UT_CHECK(strstr(errstr, bad[i].says) != NULL, "%s: message '%s' does not say '%s'",
                 bad[i].url, errstr, bad[i].says);
        UT_CHECK(!strstr(errstr, "Secret-9q"), "%s: the message prints the password: %s",
                 bad[i].url, errstr);
        setenv("REDIS_URL", bad[i].url, 1);
        mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
        unsetenv("REDIS_URL");
        if (!err)
            cfg_free(&cfg);
        UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "REDIS_URL") &&
                     strstr(errstr, bad[i].says) && !strstr(errstr, "Secret-9q"),
                 "config with %s: %s '%s'", bad[i].url, mo_err_name(err), errstr);
    }
}

UT_TEST(issue6_18_long_redis_keys_are_not_cut)
{
    ut_redis r;
    char url[128], errstr[256] = "", a[700], b[700];
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    rs_store *rs = open_quick(url, errstr, sizeof(errstr));
    /* Two article numbers that share their first 600 bytes. */
    char sku[601];
    memset(sku, 'A', sizeof(sku) - 1);
    sku[sizeof(sku) - 1] = '\0';
    snprintf(a, sizeof(a), "applied:articles:%s-1", sku);
    snprintf(b, sizeof(b), "applied:articles:%s-2", sku);
    json_t *one = json_pack("{s:i}", "v", 1), *two = json_pack("{s:i}", "v", 2), *got = NULL;
    UT_CHECK(rs_set_json(rs, a, one, 0, errstr, sizeof(errstr)) == MO_OK, "%s", errstr);
    UT_CHECK(rs_set_json(rs, b, two, 0, errstr, sizeof(errstr)) == MO_OK, "%s", errstr);
    UT_CHECK(rs_get_json(rs, a, &got, errstr, sizeof(errstr)) == MO_OK &&
                 json_integer_value(json_object_get(got, "v")) == 1,
             "the first long key was overwritten by the second");
    json_decref(got);
    char k1[512], k2[512];
    rs_key(rs, a, k1, sizeof(k1));
    rs_key(rs, a, k2, sizeof(k2));
    UT_CHECK(!strcmp(k1, k2) && strlen(k1) < sizeof(k1) - 1, "key not deterministic or cut");
    json_decref(one);
    json_decref(two);
    rs_close(rs);
    ut_redis_stop(&r);
}

/* Work first (issue 15): idle requests leave a tenth of the window to work,
 * and yield to recent work while the window is half spent; work takes the
 * whole window. */
UT_TEST(budget_work_first_idle_yields_to_work)
{
    ut_redis r;
    char url[128], errstr[256] = "";
    long wait = -1;
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", r.port);
    rs_store *rs = open_quick(url, errstr, sizeof(errstr));
    if (!UT_CHECK(rs != NULL, "%s", errstr)) {
        ut_redis_stop(&r);
        return;
    }
    /* A window of 20: idle alone takes 18 (two are the reserve), then waits. */
    int idle_taken = 0;
    for (int i = 0; i < 20; i++) {
        UT_CHECK(rs_budget_take_as(rs, "ut-a", 20, RS_BUDGET_IDLE, &wait, errstr, sizeof(errstr)) ==
                     MO_OK,
                 "%s", errstr);
        idle_taken += wait == 0;
    }
    UT_CHECK(idle_taken == 18, "idle took %d of 20", idle_taken);
    UT_CHECK(wait > 50000, "idle waits for the oldest to leave the window: %ld ms", wait);
    /* Work takes the reserve, then the window is spent for it too. */
    for (int i = 0; i < 2; i++) {
        rs_budget_take_as(rs, "ut-a", 20, RS_BUDGET_WORK, &wait, errstr, sizeof(errstr));
        UT_CHECK(wait == 0, "work %d waited %ld ms", i, wait);
    }
    rs_budget_take_as(rs, "ut-a", 20, RS_BUDGET_WORK, &wait, errstr, sizeof(errstr));
    UT_CHECK(wait > 0, "work past the limit was taken");

    /* Another budget: after work, idle yields while half the window is used... */
    for (int i = 0; i < 10; i++)
        rs_budget_take_as(rs, "ut-b", 20, RS_BUDGET_WORK, &wait, errstr, sizeof(errstr));
    rs_budget_take_as(rs, "ut-b", 20, RS_BUDGET_IDLE, &wait, errstr, sizeof(errstr));
    UT_CHECK(wait > 0 && wait <= RS_BUDGET_YIELD_MS, "idle after work, half spent: %ld ms", wait);
    /* ...and not while less is used. */
    rs_budget_take_as(rs, "ut-c", 20, RS_BUDGET_WORK, &wait, errstr, sizeof(errstr));
    rs_budget_take_as(rs, "ut-c", 20, RS_BUDGET_IDLE, &wait, errstr, sizeof(errstr));
    UT_CHECK(wait == 0, "idle after work with room to spare waited %ld ms", wait);
    rs_close(rs);
    ut_redis_stop(&r);
}
