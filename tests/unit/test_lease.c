/* The poller lease against a real redis-server (started here on a free port,
 * stopped at the end; the test is skipped with a message when redis-server
 * cannot be started). */
#include "lease.h"
#include "store.h"
#include "unit.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A free TCP port on loopback (the kernel's pick). */
static int ut_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
        !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Starts a private redis-server without persistence; returns its pid (> 0)
 * and the URL, or -1. */
static pid_t ut_redis_start(char *url, size_t size)
{
    char port[16];
    int p = ut_free_port();
    if (!p)
        return -1;
    snprintf(port, sizeof(port), "%d", p);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    snprintf(url, size, "redis://127.0.0.1:%d/0", p);
    return pid;
}

static void ut_redis_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Issue 7.2: a poller that lost its lease (paused past its TTL while another
 * took over) writes its cursor with an old fence: the write is refused and
 * the new holder's cursor stays. */
UT_TEST(issue7_02_cursor_write_with_old_fence_refused)
{
    char url[128], errstr[256] = "", holder[128];
    int held = 0, written = -1;
    long wait_ms;
    pid_t pid = ut_redis_start(url, sizeof(url));
    if (pid < 0) {
        printf("    skipped: cannot start redis-server\n");
        return;
    }
    rs_store *rs = rs_open(url, "ut", errstr, sizeof(errstr));
    UT_CHECK(rs && rs_ping(rs, errstr, sizeof(errstr)) == MO_OK, "redis: %s", errstr);
    ls_lease *a = ls_new(url, "ut", "mystore-orders", 5, errstr, sizeof(errstr));
    ls_lease *b = ls_new(url, "ut", "mystore-orders", 5, errstr, sizeof(errstr));
    UT_CHECK(a && b, "ls_new: %s", errstr);
    if (!rs || !a || !b)
        goto out;

    UT_CHECK(ls_acquire(a, &held, holder, sizeof(holder), &wait_ms, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 held && ls_held(a),
             "A takes the free lease: %s", errstr);
    UT_CHECK(ls_acquire(b, &held, holder, sizeof(holder), &wait_ms, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 !held && !ls_held(b) && wait_ms > 0 && strstr(holder, "mosync/"),
             "B stands by while A holds it (holder '%s', %ld ms)", holder, wait_ms);
    json_t *va = json_pack("{s:s}", "ts", "A");
    UT_CHECK(rs_set_json_fenced(rs, "cursor:mystore-orders", va, ls_suffix(a), ls_token(a),
                                &written, errstr, sizeof(errstr)) == MO_OK &&
                 written == 1,
             "the holder writes: %s", errstr);

    /* A is paused past its TTL: its lease expires (here: deleted) and B
     * takes over with a newer fence and writes. */
    char old_token[LS_TOKEN_MAX];
    snprintf(old_token, sizeof(old_token), "%s", ls_token(a));
    UT_CHECK(rs_del(rs, ls_suffix(a), errstr, sizeof(errstr)) == MO_OK, "expire: %s", errstr);
    UT_CHECK(ls_acquire(b, &held, holder, sizeof(holder), &wait_ms, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 held,
             "B takes over: %s", errstr);
    UT_CHECK(ls_fence(b) > ls_fence(a), "newer fence %lld > %lld", ls_fence(b), ls_fence(a));
    json_t *vb = json_pack("{s:s}", "ts", "B");
    UT_CHECK(rs_set_json_fenced(rs, "cursor:mystore-orders", vb, ls_suffix(b), ls_token(b),
                                &written, errstr, sizeof(errstr)) == MO_OK &&
                 written == 1,
             "the new holder writes: %s", errstr);

    /* A wakes up and writes with its old fence. */
    json_t *va2 = json_pack("{s:s}", "ts", "A-after-pause");
    UT_CHECK(rs_set_json_fenced(rs, "cursor:mystore-orders", va2, ls_suffix(a), old_token, &written,
                                errstr, sizeof(errstr)) == MO_OK &&
                 written == 0,
             "a write with the old fence was not refused (written %d)", written);
    json_t *now = NULL;
    UT_CHECK(rs_get_json(rs, "cursor:mystore-orders", &now, errstr, sizeof(errstr)) == MO_OK &&
                 now && !strcmp(json_string_value(json_object_get(now, "ts")), "B"),
             "the new holder's cursor was moved back to %s",
             now ? json_string_value(json_object_get(now, "ts")) : "(none)");
    /* A's keeper learns at its next renewal that the lease is B's now. */
    for (int i = 0; i < 40 && ls_held(a); i++)
        usleep(100 * 1000);
    UT_CHECK(!ls_held(a), "A still believes it holds the lease");
    UT_CHECK(ls_held(b), "B lost the lease");
    json_decref(va);
    json_decref(vb);
    json_decref(va2);
    json_decref(now);
out:
    ls_free(a);
    ls_free(b);
    rs_close(rs);
    ut_redis_stop(pid);
}

/* Issue 12.7: events carry the lease's fence and consumers keep the equal
 * version of the larger one, so fences must keep growing when Redis lost
 * the counter (a restart without persistence, a FLUSHALL): a holder after
 * the loss gets a larger fence than every holder before it. */
UT_TEST(issue12_07_fence_grows_after_redis_lost_its_counter)
{
    char url[128], errstr[256] = "", holder[128];
    int held = 0;
    long wait_ms;
    pid_t pid = ut_redis_start(url, sizeof(url));
    if (pid < 0) {
        printf("    skipped: cannot start redis-server\n");
        return;
    }
    rs_store *rs = rs_open(url, "ut", errstr, sizeof(errstr));
    ls_lease *a = ls_new(url, "ut", "mystore-orders", 5, errstr, sizeof(errstr));
    ls_lease *b = ls_new(url, "ut", "mystore-orders", 5, errstr, sizeof(errstr));
    UT_CHECK(rs && a && b && rs_ping(rs, errstr, sizeof(errstr)) == MO_OK, "setup: %s", errstr);
    if (!rs || !a || !b)
        goto out;
    UT_CHECK(ls_acquire(a, &held, holder, sizeof(holder), &wait_ms, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 held,
             "A takes the lease: %s", errstr);
    json_t *r = NULL;
    UT_CHECK(rs_eval(rs, "return redis.call('FLUSHALL')", 0, NULL, 0, NULL, &r, errstr,
                     sizeof(errstr)) == MO_OK,
             "FLUSHALL: %s", errstr);
    json_decref(r);
    usleep(5 * 1000); /* the fence follows Redis's clock in ms */
    UT_CHECK(ls_acquire(b, &held, holder, sizeof(holder), &wait_ms, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 held,
             "B takes the emptied lease: %s", errstr);
    UT_CHECK(ls_fence(b) > ls_fence(a), "fence after the loss %lld, before %lld", ls_fence(b),
             ls_fence(a));
out:
    ls_free(a);
    ls_free(b);
    rs_close(rs);
    ut_redis_stop(pid);
}
