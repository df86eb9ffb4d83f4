/* The HTTP client against loopback servers: non-idempotent writes are never
 * retried blindly, every wait stops at the thread's deadline and at SIGTERM,
 * Retry-After is capped and handed on, and error texts mask, cut and hide
 * queries correctly.  Regression tests of issue 6 items 9, 10, 12, 13, 16, 17
 * and issue 7 item 5. */
#include "unit.h"
#include "ut_net.h"
#include "common/http.h"
#include "common/log.h"
#include "common/stop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const hc_retry ut_retry = {.max_attempts = 3, .base_ms = 10, .max_ms = 50};

/* A whole HTTP answer with this status line, extra headers and body. */
static char *answer(const char *status, const char *headers, const char *body)
{
    size_t n = strlen(status) + strlen(headers) + strlen(body) + 128;
    char *a = malloc(n);
    if (a)
        snprintf(a, n,
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
                 status, headers, strlen(body), body);
    return a;
}

/* One hc_call_json run in a thread (so a regression hangs a thread, not the
 * suite): the inputs, and what came back.  Allocated: it leaks with the
 * thread when the call does not return within the bound. */
typedef struct call {
    char method[8], url[512];
    const char *body;
    long timeout_ms;  /* the client's total timeout */
    long deadline_ms; /* the thread's deadline, 0 = none */
    mo_err err;
    long status, hint_ms;
    int attempts;
    char errstr[512];
} call;

static call *call_new(const char *method, int port, const char *path_query, const char *body)
{
    call *c = calloc(1, sizeof(*c));
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d%s", port, path_query);
    c->body = body;
    c->timeout_ms = 60000;
    return c;
}

static void call_run(void *arg)
{
    call *c = arg;
    hc_opts opts = {.total_timeout_ms = c->timeout_ms};
    hc_client *hc = hc_new(&opts);
    json_t *doc = NULL;
    mo_retry_hint_take();
    if (c->deadline_ms > 0) {
        mo_deadline_start(c->deadline_ms);
    } else if (c->deadline_ms < 0) { /* a deadline already gone */
        struct timespec ts = {0, 20 * 1000000L};
        mo_deadline_start(1);
        nanosleep(&ts, NULL);
    }
    c->err =
        hc_call_json(hc, &ut_retry, NULL, c->method, c->url, c->body ? "application/json" : NULL,
                     c->body, &c->status, &doc, &c->attempts, c->errstr, sizeof(c->errstr));
    mo_deadline_clear();
    c->hint_ms = mo_retry_hint_take();
    json_decref(doc);
    hc_free(hc);
}

UT_TEST(issue6_09_post_not_retried_after_ambiguous_answer)
{
    static const struct {
        const char *method, *status, *body;
        int requests; /* expected: 1 = no blind retry; 3 = retried */
    } cases[] = {
        {"POST", "201 Created", "{\"data\": [ this is not json", 1},
        {"POST", "500 Internal Server Error", "{}", 1},
        {"POST", "503 Service Unavailable", "{}", 1},
        {"POST", "429 Too Many Requests", "{}", 3}, /* refused before any effect */
        {"PATCH", "200 OK", "{\"data\": [ this is not json", 3},
        {"PUT", "500 Internal Server Error", "{}", 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *a = answer(cases[i].status, "Retry-After: 0\r\n", cases[i].body);
        ut_http *s = ut_http_start(a);
        call *c = call_new(cases[i].method, ut_http_port(s), "/x", "{\"a\":1}");
        int done = ut_run_bounded(call_run, c, 20000);
        UT_CHECK(done, "%s answered %s: call did not return", cases[i].method, cases[i].status);
        if (!done)
            continue;
        UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s answered %s: %s", cases[i].method, cases[i].status,
                 mo_err_name(c->err));
        UT_CHECK(ut_http_requests(s) == cases[i].requests,
                 "%s answered %s: %d requests sent, expected %d", cases[i].method, cases[i].status,
                 ut_http_requests(s), cases[i].requests);
        ut_http_stop(s);
        free(c);
        free(a);
    }
    /* Refused connections surely did not reach a server: retried. */
    call *c = call_new("POST", ut_closed_port(), "/x", "{\"a\":1}");
    call_run(c);
    UT_CHECK(c->err == MO_ERR_TRANSIENT && c->attempts == 3,
             "POST to a closed port: %s after %d attempts", mo_err_name(c->err), c->attempts);
    free(c);
}

UT_TEST(issue6_10_http_call_stops_at_deadline)
{
    ut_http *s = ut_http_start(NULL); /* accepts, never answers */
    call *c = call_new("GET", ut_http_port(s), "/slow", NULL);
    c->deadline_ms = 300;
    int done = ut_run_bounded(call_run, c, 10000);
    UT_CHECK(done, "a call with a 0.3 s deadline was still waiting after 10 s (timeout 60 s)");
    if (done) {
        UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s: %s", mo_err_name(c->err), c->errstr);
        UT_CHECK(ut_http_connections(s) == 1, "%d attempts started, expected 1 before the deadline",
                 ut_http_connections(s));
        free(c);
    }
    /* A deadline already gone: no attempt starts at all. */
    int before = ut_http_connections(s);
    call *late = call_new("GET", ut_http_port(s), "/late", NULL);
    late->deadline_ms = -1;
    int late_done = ut_run_bounded(call_run, late, 10000);
    UT_CHECK(late_done && late->err == MO_ERR_TRANSIENT && late->attempts == 0,
             "past the deadline: %s after %d attempts", late_done ? mo_err_name(late->err) : "-",
             late->attempts);
    UT_CHECK(ut_http_connections(s) == before, "a request started after the deadline");
    if (late_done)
        free(late);
    if (done && late_done)
        ut_http_stop(s);
}

UT_TEST(issue7_05_sigterm_aborts_http_call_in_flight)
{
    ut_http *s = ut_http_start(NULL);
    int port = ut_http_port(s);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char url[128], errstr[256];
        hc_resp resp;
        mo_stop_install();
        hc_opts opts = {.total_timeout_ms = 60000};
        hc_client *hc = hc_new(&opts);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", port);
        mo_err err = hc_request(hc, "GET", url, NULL, NULL, &resp, errstr, sizeof(errstr));
        _exit(err == MO_ERR_TRANSIENT ? 0 : 3);
    }
    int status = -1, exited = 0;
    for (int i = 0; i < 500 && ut_http_connections(s) < 1; i++) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    UT_CHECK(ut_http_connections(s) == 1, "the child did not connect");
    kill(pid, SIGTERM);
    for (int i = 0; i < 500 && !exited; i++) {
        exited = waitpid(pid, &status, WNOHANG) == pid;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    UT_CHECK(exited, "an HTTP call in flight was still running 10 s after SIGTERM");
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    } else {
        UT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child ended with status %d",
                 status);
    }
    ut_http_stop(s);
}

UT_TEST(issue6_12_error_body_masked_before_cut)
{
    static const char secret[] = "Tk-echo-9Rb2Lm5Qx8Vw3Zt6Yp1Nc4Hd7Gf0Js-echo-tail-6Kq";
    char body[512], pad[171];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    lg_add_secret(secret);
    /* The secret straddles byte 200 of the body, where the quote was cut. */
    snprintf(body, sizeof(body), "{\"message\":\"%s Bearer %s\"}", pad, secret);
    char *a = answer("400 Bad Request", "", body);
    ut_http *s = ut_http_start(a);
    call *c = call_new("GET", ut_http_port(s), "/x", NULL);
    call_run(c);
    UT_CHECK(c->err == MO_ERR_PERMANENT, "%s", mo_err_name(c->err));
    UT_CHECK(!ut_leaks(c->errstr, secret, 6), "error text leaks part of the secret: %s", c->errstr);
    ut_http_stop(s);
    free(c);
    free(a);
}

UT_TEST(issue6_13_http_error_text_hides_query)
{
    static const char query[] = "/shops/x/orders?api_key=Qk7-query-secret-4f1";
    call *c = call_new("GET", ut_closed_port(), query, NULL);
    call_run(c);
    UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s", mo_err_name(c->err));
    UT_CHECK(!strstr(c->errstr, "Qk7-query") && !strstr(c->errstr, "api_key"),
             "connection error shows the query: %s", c->errstr);
    UT_CHECK(strstr(c->errstr, "/shops/x/orders") != NULL, "the path is gone too: %s", c->errstr);
    free(c);

    char *a = answer("404 Not Found", "", "{\"errors\":[]}");
    ut_http *s = ut_http_start(a);
    c = call_new("GET", ut_http_port(s), query, NULL);
    call_run(c);
    UT_CHECK(c->err == MO_ERR_PERMANENT && !strstr(c->errstr, "Qk7-query"),
             "HTTP error shows the query: %s", c->errstr);
    ut_http_stop(s);
    free(c);
    free(a);
}

UT_TEST(issue6_16_long_retry_after_gives_up_with_hint)
{
    char *a = answer("429 Too Many Requests", "Retry-After: 600\r\n", "{}");
    ut_http *s = ut_http_start(a);
    call *c = call_new("GET", ut_http_port(s), "/x", NULL);
    int done = ut_run_bounded(call_run, c, 10000);
    UT_CHECK(done, "a Retry-After of 600 s was slept inside the call");
    if (done) {
        UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s", mo_err_name(c->err));
        UT_CHECK(ut_http_requests(s) == 1, "%d requests", ut_http_requests(s));
        UT_CHECK(c->hint_ms >= 600000, "retry hint %ld ms, expected the 600 s wait", c->hint_ms);
        ut_http_stop(s);
        free(c);
    }
    free(a);
}

UT_TEST(issue6_16_retry_after_past_deadline_gives_up)
{
    char *a = answer("503 Service Unavailable", "Retry-After: 5\r\n", "{}");
    ut_http *s = ut_http_start(a);
    call *c = call_new("GET", ut_http_port(s), "/x", NULL);
    c->deadline_ms = 1000;
    int done = ut_run_bounded(call_run, c, 20000);
    UT_CHECK(done, "call did not return");
    if (done) {
        UT_CHECK(c->err == MO_ERR_TRANSIENT, "%s", mo_err_name(c->err));
        UT_CHECK(ut_http_requests(s) == 1, "%d requests: a retry was sent past the deadline",
                 ut_http_requests(s));
        UT_CHECK(c->hint_ms >= 5000, "retry hint %ld ms, expected 5000", c->hint_ms);
        ut_http_stop(s);
        free(c);
    }
    free(a);
}

UT_TEST(issue6_16_retry_after_http_date)
{
    char headers[256], date[64], later[64];
    time_t now = time(NULL), then = now + 300;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    gmtime_r(&then, &tm);
    strftime(later, sizeof(later), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(headers, sizeof(headers), "Date: %s\r\nRetry-After: %s\r\n", date, later);
    char *a = answer("429 Too Many Requests", headers, "{}");
    ut_http *s = ut_http_start(a);
    call *c = call_new("GET", ut_http_port(s), "/x", NULL);
    int done = ut_run_bounded(call_run, c, 20000);
    UT_CHECK(done, "call did not return");
    if (done) {
        UT_CHECK(ut_http_requests(s) == 1, "%d requests: the date was not understood",
                 ut_http_requests(s));
        UT_CHECK(c->hint_ms >= 299000 && c->hint_ms <= 301000,
                 "retry hint %ld ms for a Retry-After date 300 s after the answer's Date",
                 c->hint_ms);
        ut_http_stop(s);
        free(c);
    }
    free(a);
}

UT_TEST(issue6_17_error_body_cut_at_character_boundary)
{
    char body[600];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"message\":\"x");
    while (n + 4 < sizeof(body)) {
        body[n++] = '\xc3'; /* æ */
        body[n++] = '\xa6';
    }
    memcpy(body + n, "\"}", 3);
    char *a = answer("400 Bad Request", "", body);
    ut_http *s = ut_http_start(a);
    call *c = call_new("GET", ut_http_port(s), "/x", NULL);
    call_run(c);
    UT_CHECK(c->err == MO_ERR_PERMANENT, "%s", mo_err_name(c->err));
    UT_CHECK(lg_utf8_valid(c->errstr, strlen(c->errstr)), "error text is not UTF-8: ...%s",
             c->errstr + (strlen(c->errstr) > 20 ? strlen(c->errstr) - 20 : 0));
    ut_http_stop(s);
    free(c);
    free(a);
}
