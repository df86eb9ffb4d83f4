/* The METRICS_PORT server under hostile clients (issue 12 item 17): a
 * request trickled byte by byte is cut at MT_REQUEST_MS, one address gets at
 * most MT_CONN_PER_IP connections while another is still served, and
 * /healthz never waits behind a slow readiness check.  Every wait is a bound,
 * never a measurement. */
#include "unit.h"
#include "cli/health.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/stop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP connection from source (an address of 127/8) to 127.0.0.1:port, with
 * a receive timeout; -1 when it cannot connect. */
static int dial(const char *source, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 2};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    inet_pton(AF_INET, source, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 when the server has closed fd (end of stream or reset), 0 when it is
 * still open (nothing to read within the receive timeout). */
static int closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    if (n == 0)
        return 1;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
}

/* The status of GET path from source, or 0 when no answer came. */
static int get_status(const char *source, int port, const char *path)
{
    char req[256], buf[512];
    int fd = dial(source, port), status = 0;
    if (fd < 0)
        return 0;
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n > 12) {
            buf[n] = '\0';
            sscanf(buf, "HTTP/1.%*d %d", &status);
        }
    }
    close(fd);
    return status;
}

UT_TEST(issue12_17_trickled_request_is_cut_at_its_deadline)
{
    char errstr[256];
    mt_server *srv = mt_server_start("127.0.0.1", 0, NULL, NULL, errstr, sizeof(errstr));
    if (!UT_CHECK(srv, "server did not start: %s", errstr))
        return;
    int fd = dial("127.0.0.1", mt_server_port(srv));
    UT_CHECK(fd >= 0, "cannot connect");
    send(fd, "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
    /* A byte every 300 ms: an idle timeout never fires; the request deadline
     * must, within MT_REQUEST_MS and the reaper's period (bound: 3x that). */
    int closed = 0;
    for (long waited = 0; !closed && waited < 3 * MT_REQUEST_MS; waited += 300) {
        if (send(fd, "X", 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        sleep_ms(300);
    }
    if (!closed) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        closed = closed_by_server(fd);
    }
    UT_CHECK(closed, "a request trickled a byte every 300 ms was still open after %d ms",
             3 * MT_REQUEST_MS);
    close(fd);
    /* The server itself serves on. */
    UT_CHECK(get_status("127.0.0.1", mt_server_port(srv), "/healthz") == 200, "/healthz after");
    mt_server_stop(srv);
}

UT_TEST(issue12_17_one_address_gets_a_few_connections_another_is_served)
{
    char errstr[256];
    int fds[3 * MT_CONN_PER_IP];
    mt_server *srv = mt_server_start("127.0.0.1", 0, NULL, NULL, errstr, sizeof(errstr));
    if (!UT_CHECK(srv, "server did not start: %s", errstr))
        return;
    int port = mt_server_port(srv);
    for (int i = 0; i < 3 * MT_CONN_PER_IP; i++) {
        fds[i] = dial("127.0.0.2", port);
        if (fds[i] >= 0)
            send(fds[i], "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
    }
    /* Past the limit the server closes at once; the others stay (for now). */
    int open = 0;
    for (int i = 0; i < 3 * MT_CONN_PER_IP; i++) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 500000};
        if (fds[i] < 0)
            continue;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        open += !closed_by_server(fds[i]);
    }
    UT_CHECK(open <= MT_CONN_PER_IP, "%d connections from one address held open, limit %d", open,
             MT_CONN_PER_IP);
    UT_CHECK(open > 0, "no connection from 127.0.0.2 was accepted at all");
    UT_CHECK(get_status("127.0.0.3", port, "/healthz") == 200,
             "/healthz from another address while one address holds its limit");
    for (int i = 0; i < 3 * MT_CONN_PER_IP; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    mt_server_stop(srv);
}

/* A readiness check that blocks until the test releases it. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int entered, open;
} gate;

static int gated_ready(void *ctx, char *why, size_t why_size)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->entered++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->lock);
    pthread_mutex_unlock(&g->lock);
    snprintf(why, why_size, "{\"gate\":\"ok\"}");
    return 1;
}

typedef struct readyz_call {
    int port, status;
} readyz_call;

static void *readyz_main(void *arg)
{
    readyz_call *c = arg;
    char req[] = "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf[512];
    struct timeval tv = {.tv_sec = 30};
    int fd = dial("127.0.0.1", c->port);
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n > 12) {
        buf[n] = '\0';
        sscanf(buf, "HTTP/1.%*d %d", &c->status);
    }
    close(fd);
    return NULL;
}

UT_TEST(issue12_17_healthz_answers_while_a_readiness_check_hangs)
{
    static gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char errstr[256];
    mt_server *srv = mt_server_start("127.0.0.1", 0, gated_ready, &g, errstr, sizeof(errstr));
    if (!UT_CHECK(srv, "server did not start: %s", errstr))
        return;
    readyz_call calls[2] = {{.port = mt_server_port(srv)}, {.port = mt_server_port(srv)}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, readyz_main, &calls[i]);
    /* Bounded wait for the check to start. */
    pthread_mutex_lock(&g.lock);
    for (int i = 0; i < 100 && !g.entered; i++) {
        pthread_mutex_unlock(&g.lock);
        sleep_ms(50);
        pthread_mutex_lock(&g.lock);
    }
    int entered = g.entered;
    pthread_mutex_unlock(&g.lock);
    UT_CHECK(entered == 1, "readiness checks started: %d, expected 1", entered);
    UT_CHECK(get_status("127.0.0.1", mt_server_port(srv), "/healthz") == 200,
             "/healthz while a readiness check hangs");
    UT_CHECK(get_status("127.0.0.1", mt_server_port(srv), "/metrics") == 200,
             "/metrics while a readiness check hangs");
    pthread_mutex_lock(&g.lock);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        UT_CHECK(calls[i].status == 200, "/readyz %d answered %d after the check", i,
                 calls[i].status);
    }
    UT_CHECK(g.entered == 1, "two waiting requests made %d checks, expected 1", g.entered);
    mt_server_stop(srv);
}

UT_TEST(issue12_17_stop_with_a_readiness_request_waiting)
{
    static gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    char errstr[256];
    mt_server *srv = mt_server_start("127.0.0.1", 0, gated_ready, &g, errstr, sizeof(errstr));
    if (!UT_CHECK(srv, "server did not start: %s", errstr))
        return;
    readyz_call call = {.port = mt_server_port(srv)};
    pthread_t t;
    pthread_create(&t, NULL, readyz_main, &call);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&g.lock);
        int entered = g.entered;
        pthread_mutex_unlock(&g.lock);
        if (entered)
            break;
        sleep_ms(50);
    }
    /* Release the check from another thread a little later; stop meanwhile
     * must neither crash (a suspended connection) nor leave it unanswered. */
    pthread_mutex_lock(&g.lock);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.lock);
    mt_server_stop(srv);
    pthread_join(t, NULL);
    UT_CHECK(call.status == 200 || call.status == 503 || call.status == 0,
             "/readyz answered %d around the stop", call.status);
}

UT_TEST(issue12_17_listen_address)
{
    char errstr[256];
    mt_server *srv = mt_server_start("127.0.0.1", 0, NULL, NULL, errstr, sizeof(errstr));
    if (!UT_CHECK(srv, "server did not start: %s", errstr))
        return;
    /* Bound to 127.0.0.1 only: 127.0.0.5 is another address of this host. */
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)mt_server_port(srv))};
    inet_pton(AF_INET, "127.0.0.5", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    UT_CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0,
             "a server on 127.0.0.1 accepted a connection to 127.0.0.5");
    close(fd);
    mt_server_stop(srv);
    UT_CHECK(!mt_server_start("example.org", 0, NULL, NULL, errstr, sizeof(errstr)) &&
                 strstr(errstr, "METRICS_LISTEN"),
             "a name for METRICS_LISTEN: %s", errstr);
    srv = mt_server_start("::1", 0, NULL, NULL, errstr, sizeof(errstr));
    UT_CHECK(srv != NULL, "IPv6 loopback: %s", errstr);
    mt_server_stop(srv);
}

UT_TEST(issue12_17_metrics_listen_setting_and_healthcheck_url)
{
    mo_config cfg;
    char errstr[512], url[128];
    unsetenv("METRICS_LISTEN");
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK &&
                 !strcmp(cfg.metrics_listen, "127.0.0.1"),
             "METRICS_LISTEN unset: '%s' (%s), expected loopback", cfg.metrics_listen, errstr);
    cfg_free(&cfg);
    static const char *const good[] = {"0.0.0.0", "::", "::1", "10.1.2.3"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        setenv("METRICS_LISTEN", good[i], 1);
        UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK &&
                     !strcmp(cfg.metrics_listen, good[i]),
                 "METRICS_LISTEN=%s: %s", good[i], errstr);
        cfg_free(&cfg);
    }
    static const char *const bad[] = {"localhost", "0.0.0.0:9464", "*", "1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("METRICS_LISTEN", bad[i], 1);
        UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_ERR_CONFIG &&
                     strstr(errstr, "METRICS_LISTEN"),
                 "METRICS_LISTEN=%s accepted or not named: %s", bad[i], errstr);
    }
    unsetenv("METRICS_LISTEN");
    static const struct {
        const char *listen, *url;
    } urls[] = {{"127.0.0.1", "http://127.0.0.1:9464/readyz"},
                {"0.0.0.0", "http://127.0.0.1:9464/readyz"},
                {"10.1.2.3", "http://10.1.2.3:9464/readyz"},
                {"::", "http://[::1]:9464/readyz"},
                {"fd00::5", "http://[fd00::5]:9464/readyz"}};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        health_readyz_url(urls[i].listen, 9464, url, sizeof(url));
        UT_CHECK(!strcmp(url, urls[i].url), "healthcheck of %s asks %s, expected %s",
                 urls[i].listen, url, urls[i].url);
    }
}

/* ---- routes a command adds (mosync webhooks) ---------------------------- */

typedef struct route_seen {
    int calls, too_large;
    size_t len;
    char first[64], header[64];
} route_seen;

static unsigned route_handle(void *ctx, const mt_request *req, char *answer, size_t answer_size)
{
    route_seen *s = ctx;
    const char *h = mt_request_header(req, "X-Test");
    s->calls++;
    s->too_large = req->too_large;
    s->len = req->body_len;
    snprintf(s->first, sizeof(s->first), "%.10s", req->body ? req->body : "(null)");
    snprintf(s->header, sizeof(s->header), "%s", h ? h : "(none)");
    snprintf(answer, answer_size, "seen");
    return req->too_large ? 413 : strcmp(req->method, "POST") ? 405 : 200;
}

/* Sends raw (len bytes) and returns the answer's status, 0 when none came. */
static int raw_status(int port, const char *raw, size_t len)
{
    char buf[512];
    int fd = dial("127.0.0.1", port), status = 0;
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, raw + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n > 12) {
        buf[n] = '\0';
        sscanf(buf, "HTTP/1.%*d %d", &status);
    }
    close(fd);
    return status;
}

/* A route gets its whole body and headers; a body its Content-Length says
 * is over the cap is refused unread, one that outgrows the cap while chunks
 * arrive is refused at its end, and neither reaches the handler as a body;
 * the server's own paths still answer. */
UT_TEST(metrics_server_route_reads_bounded_bodies)
{
    char errstr[256];
    route_seen seen;
    memset(&seen, 0, sizeof(seen));
    mt_route route = {.prefix = "/hook/",
                      .body_max = 1000,
                      .allow = "POST",
                      .handle = route_handle,
                      .ctx = &seen};
    mt_server *srv =
        mt_server_start_routes("127.0.0.1", 0, NULL, NULL, &route, 1, errstr, sizeof(errstr));
    if (!UT_CHECK(srv, "server: %s", errstr))
        return;
    int port = mt_server_port(srv);
    static const char small[] = "POST /hook/x HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n"
                                "Content-Length: 11\r\nConnection: close\r\n\r\nhello world";
    UT_CHECK(raw_status(port, small, strlen(small)) == 200, "a small body");
    UT_CHECK(seen.calls == 1 && seen.len == 11 && !strcmp(seen.first, "hello worl") &&
                 !strcmp(seen.header, "yes") && !seen.too_large,
             "the handler saw calls %d len %zu '%s' header '%s'", seen.calls, seen.len, seen.first,
             seen.header);
    static const char announced[] = "POST /hook/x HTTP/1.1\r\nHost: t\r\n"
                                    "Content-Length: 1001\r\nConnection: close\r\n\r\n";
    UT_CHECK(raw_status(port, announced, strlen(announced)) == 413, "1001 bytes announced");
    UT_CHECK(seen.calls == 2 && seen.too_large && seen.len == 0, "too large: calls %d len %zu",
             seen.calls, seen.len);
    /* 3 chunks of 500 bytes: over the cap at the third. */
    char chunked[2048];
    int n = snprintf(chunked, sizeof(chunked),
                     "POST /hook/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(chunked + n, sizeof(chunked) - (size_t)n, "1f4\r\n");
        memset(chunked + n, 'a', 500);
        n += 500;
        n += snprintf(chunked + n, sizeof(chunked) - (size_t)n, "\r\n");
    }
    n += snprintf(chunked + n, sizeof(chunked) - (size_t)n, "0\r\n\r\n");
    UT_CHECK(raw_status(port, chunked, (size_t)n) == 413, "1500 bytes in chunks");
    UT_CHECK(seen.calls == 3 && seen.too_large, "chunked too large: calls %d", seen.calls);
    static const char get[] = "GET /hook/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    UT_CHECK(raw_status(port, get, strlen(get)) == 405, "GET to the route: the handler's 405");
    UT_CHECK(get_status("127.0.0.1", port, "/healthz") == 200, "/healthz beside the route");
    UT_CHECK(get_status("127.0.0.1", port, "/hooks") == 404, "a path outside the prefix");
    mt_server_stop(srv);
}
