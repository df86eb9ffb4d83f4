/* See ut_net.h. */
#include "ut_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/poll.h> /* <poll.h> is producers/poll.h here */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define UT_MAX_CONN 64
#define UT_REQ_MAX  65536

typedef struct ut_conn {
    int fd;
    char buf[UT_REQ_MAX];
    size_t len;
} ut_conn;

struct ut_http {
    int lfd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    char *response;
    int stop, connections, requests;
    ut_conn *conns[UT_MAX_CONN];
};

static void ut_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void ut_conn_close(ut_http *s, int i)
{
    close(s->conns[i]->fd);
    free(s->conns[i]);
    s->conns[i] = NULL;
}

/* Answers every complete request held in c's buffer. */
static int ut_conn_serve(ut_http *s, ut_conn *c)
{
    for (;;) {
        char *end = NULL;
        for (size_t i = 0; i + 3 < c->len; i++) {
            if (!memcmp(c->buf + i, "\r\n\r\n", 4)) {
                end = c->buf + i + 4;
                break;
            }
        }
        if (!end)
            return 0;
        size_t body = 0;
        for (char *p = c->buf; p < end; p++) {
            if ((p == c->buf || p[-1] == '\n') && !strncasecmp(p, "content-length:", 15)) {
                body = (size_t)strtoul(p + 15, NULL, 10);
                break;
            }
        }
        size_t total = (size_t)(end - c->buf) + body;
        if (c->len < total)
            return 0;
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
        pthread_mutex_lock(&s->lock);
        s->requests++;
        char *answer = s->response ? strdup(s->response) : NULL;
        pthread_mutex_unlock(&s->lock);
        if (answer) {
            size_t n = strlen(answer), off = 0;
            while (off < n) {
                ssize_t w = send(c->fd, answer + off, n - off, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            free(answer);
        }
    }
}

static void *ut_http_main(void *arg)
{
    ut_http *s = arg;
    for (;;) {
        struct pollfd pfd[UT_MAX_CONN + 1];
        int idx[UT_MAX_CONN + 1], n = 0;
        pthread_mutex_lock(&s->lock);
        int stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        pfd[n].fd = s->lfd;
        pfd[n].events = POLLIN;
        idx[n++] = -1;
        for (int i = 0; i < UT_MAX_CONN; i++) {
            if (s->conns[i]) {
                pfd[n].fd = s->conns[i]->fd;
                pfd[n].events = POLLIN;
                idx[n++] = i;
            }
        }
        if (poll(pfd, (nfds_t)n, 50) <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (idx[k] < 0) {
                int fd = accept(s->lfd, NULL, NULL);
                if (fd < 0)
                    continue;
                int slot = -1;
                for (int i = 0; i < UT_MAX_CONN && slot < 0; i++)
                    if (!s->conns[i])
                        slot = i;
                ut_conn *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                s->conns[slot] = c;
                pthread_mutex_lock(&s->lock);
                s->connections++;
                pthread_mutex_unlock(&s->lock);
                continue;
            }
            ut_conn *c = s->conns[idx[k]];
            if (c->len == sizeof(c->buf))
                c->len = 0; /* a request this large is not one of ours: drop it */
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
            if (r <= 0) {
                ut_conn_close(s, idx[k]);
                continue;
            }
            c->len += (size_t)r;
            ut_conn_serve(s, c);
        }
    }
    for (int i = 0; i < UT_MAX_CONN; i++)
        if (s->conns[i])
            ut_conn_close(s, i);
    return NULL;
}

ut_http *ut_http_start(const char *response)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    ut_http *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->response = response ? strdup(response) : NULL;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 16) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen))
        goto fail;
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, ut_http_main, s))
        goto fail;
    return s;
fail:
    if (s->lfd >= 0)
        close(s->lfd);
    free(s->response);
    free(s);
    return NULL;
}

int ut_http_port(const ut_http *s)
{
    return s->port;
}

int ut_http_connections(ut_http *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->connections;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int ut_http_requests(ut_http *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void ut_http_set_response(ut_http *s, const char *response)
{
    pthread_mutex_lock(&s->lock);
    free(s->response);
    s->response = response ? strdup(response) : NULL;
    pthread_mutex_unlock(&s->lock);
}

void ut_http_stop(ut_http *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    free(s->response);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int ut_closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd < 0)
        return 0;
    if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
        !getsockname(fd, (struct sockaddr *)&a, &alen))
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- redis ------------------------------------------------------------- */

static redisContext *ut_redis_connect(const ut_redis *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int ut_redis_start(ut_redis *r, const char *const *extra)
{
    const char *argv[64];
    char port[16];
    int n = 0;

    memset(r, 0, sizeof(*r));
    r->port = ut_closed_port();
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(r->dir, sizeof(r->dir), "/tmp/mosync-ut-redis-%d-%d", (int)getpid(), r->port);
    mkdir(r->dir, 0700);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A test that fails and leaves the server running must not leave
         * it behind when the test process ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    r->pid = (int)pid;
    for (int tries = 0; tries < 200; tries++) {
        redisContext *c = ut_redis_connect(r);
        if (c) {
            redisFree(c);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            r->pid = 0;
            return -1;
        }
        ut_sleep_ms(25);
    }
    ut_redis_stop(r);
    return -1;
}

void ut_redis_stop(ut_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
    rmdir(r->dir);
}

int ut_redis_cmd(const ut_redis *r, const char *password, const char *const *argv)
{
    int argc = 0, ok = 0;
    redisContext *c = ut_redis_connect(r);
    if (!c)
        return -1;
    if (password) {
        redisReply *a = redisCommand(c, "AUTH %s", password);
        ok = a && a->type != REDIS_REPLY_ERROR;
        if (a)
            freeReplyObject(a);
        if (!ok) {
            redisFree(c);
            return -1;
        }
    }
    while (argv[argc])
        argc++;
    redisReply *rep = redisCommandArgv(c, argc, (const char **)argv, NULL);
    ok = rep && rep->type != REDIS_REPLY_ERROR;
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return ok ? 0 : -1;
}

/* ---- capture ------------------------------------------------------------ */

static int ut_saved_fd[3] = {-1, -1, -1};
static FILE *ut_capture_file[3];

void ut_capture_start(int fd)
{
    fflush(fd == 1 ? stdout : stderr);
    ut_capture_file[fd] = tmpfile();
    ut_saved_fd[fd] = dup(fd);
    dup2(fileno(ut_capture_file[fd]), fd);
}

char *ut_capture_end(int fd)
{
    fflush(fd == 1 ? stdout : stderr);
    dup2(ut_saved_fd[fd], fd);
    close(ut_saved_fd[fd]);
    ut_saved_fd[fd] = -1;
    FILE *f = ut_capture_file[fd];
    long n = ftell(f);
    char *text = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!text) {
        fclose(f);
        return NULL;
    }
    rewind(f);
    size_t got = n > 0 ? fread(text, 1, (size_t)n, f) : 0;
    text[got] = '\0';
    fclose(f);
    return text;
}

/* ---- bounded calls ------------------------------------------------------ */

typedef struct ut_bounded {
    void (*fn)(void *);
    void *arg;
    pthread_mutex_t lock;
    int done;
} ut_bounded;

static void *ut_bounded_main(void *p)
{
    ut_bounded *b = p;
    b->fn(b->arg);
    pthread_mutex_lock(&b->lock);
    b->done = 1;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int ut_run_bounded(void (*fn)(void *), void *arg, long bound_ms)
{
    /* Allocated, and leaked with the thread when it does not come back. */
    ut_bounded *b = calloc(1, sizeof(*b));
    pthread_t t;
    if (!b)
        return 0;
    b->fn = fn;
    b->arg = arg;
    pthread_mutex_init(&b->lock, NULL);
    if (pthread_create(&t, NULL, ut_bounded_main, b)) {
        free(b);
        return 0;
    }
    for (long waited = 0; waited <= bound_ms; waited += 20) {
        pthread_mutex_lock(&b->lock);
        int done = b->done;
        pthread_mutex_unlock(&b->lock);
        if (done) {
            pthread_join(t, NULL);
            pthread_mutex_destroy(&b->lock);
            free(b);
            return 1;
        }
        ut_sleep_ms(20);
    }
    pthread_detach(t);
    return 0;
}

int ut_leaks(const char *text, const char *secret, size_t n)
{
    size_t len = strlen(secret);
    if (len < n)
        return strstr(text, secret) != NULL;
    for (size_t i = 0; i + n <= len; i++) {
        char part[512];
        size_t m = n < sizeof(part) - 1 ? n : sizeof(part) - 1;
        memcpy(part, secret + i, m);
        part[m] = '\0';
        if (strstr(text, part))
            return 1;
    }
    return 0;
}
