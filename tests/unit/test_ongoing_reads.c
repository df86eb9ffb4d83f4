/* The Ongoing client's reads that the dry run and `mosync doctor` use
 * (og_article_get, og_get, og_list), against a canned HTTP server on
 * loopback: one answer per connection, the request line kept. */
#include "unit.h"
#include "common/config.h"
#include "common/ongoing.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CANNED_MAX 4

/* A server that answers the next connections with these bodies, in turn. */
typedef struct canned {
    int fd, port, n;
    int status[CANNED_MAX];
    const char *body[CANNED_MAX];
    char request[CANNED_MAX][512]; /* the request lines it got */
    pthread_t thread;
} canned;

static void *canned_serve(void *arg)
{
    canned *c = arg;
    for (int i = 0; i < c->n; i++) {
        char buf[4096], head[256];
        int conn = accept(c->fd, NULL, NULL);
        if (conn < 0)
            break;
        ssize_t got = 0, r;
        /* Read until the end of the headers (a GET has no body). */
        while (got < (ssize_t)sizeof(buf) - 1 &&
               (r = read(conn, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0) {
            got += r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[got > 0 ? got : 0] = '\0';
        snprintf(c->request[i], sizeof(c->request[i]), "%.*s", (int)strcspn(buf, "\r\n"), buf);
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 c->status[i], strlen(c->body[i]));
        if (write(conn, head, strlen(head)) < 0 || write(conn, c->body[i], strlen(c->body[i])) < 0)
            UT_CHECK(0, "canned server: write failed");
        close(conn);
    }
    return NULL;
}

static int canned_start(canned *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&a, sizeof(a)) ||
        getsockname(c->fd, (struct sockaddr *)&a, &len) || listen(c->fd, 4))
        return -1;
    c->port = ntohs(a.sin_port);
    return pthread_create(&c->thread, NULL, canned_serve, c);
}

static void canned_stop(canned *c)
{
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    pthread_join(c->thread, NULL);
}

/* A client of the canned server: goods owner 7, one attempt per call. */
static og_client *canned_client(const canned *c, mo_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->ongoing_url, sizeof(cfg->ongoing_url), "http://127.0.0.1:%d/wh", c->port);
    snprintf(cfg->ongoing_user, sizeof(cfg->ongoing_user), "u");
    snprintf(cfg->ongoing_password, sizeof(cfg->ongoing_password), "p");
    cfg->ongoing_goods_owner = 7;
    cfg->http_timeout_ms = 5000;
    return og_new(cfg, NULL, 1); /* reads take no write lock: no Redis */
}

/* Live jansson allocations, counted while the counting functions are set. */
static long live;
static void *counting_malloc(size_t n)
{
    live++;
    return malloc(n);
}
static void counting_free(void *p)
{
    if (p)
        live--;
    free(p);
}

/* og_list on a refused list (400 with a JSON body) used to return without
 * freeing the error body: the doctor's 25-hour stockInfoChangedFrom probe,
 * which Ongoing refuses by design (O6), leaked it on every run. */
UT_TEST(og_list_frees_the_error_body_of_a_refused_list)
{
    canned c = {.n = 1,
                .status = {400},
                .body = {"{\"message\": \"stockInfoChangedFrom must be within 24 hours\"}"}};
    mo_config cfg;
    char errstr[256] = "";
    json_t *items = NULL;
    UT_CHECK(canned_start(&c) == 0, "canned server");
    og_client *og = canned_client(&c, &cfg);
    live = 0;
    json_set_alloc_funcs(counting_malloc, counting_free);
    mo_err err = og_list(og, "articles", "stockInfoChangedFrom=x", &items, errstr, sizeof(errstr));
    json_set_alloc_funcs(malloc, free);
    UT_CHECK(err == MO_ERR_PERMANENT && items == NULL, "a 400 is permanent: %s", errstr);
    UT_CHECK(strstr(errstr, "within 24 hours") != NULL, "the message is kept: %s", errstr);
    UT_CHECK(live == 0, "%ld jansson allocations left behind by a refused list", live);
    og_free(og);
    canned_stop(&c);
}

/* og_article_get answers the article whose number is exactly the one asked
 * for (a server may answer more), NULL when there is none; og_get answers a
 * non-list document as it is and frees a refused one. */
UT_TEST(og_reads_for_the_dry_run_and_the_doctor)
{
    canned c = {
        .n = 4,
        .status = {200, 200, 200, 401},
        .body = {"[{\"articleNumber\": \"A-10\"}, {\"articleNumber\": \"A-1\", \"weight\": 0.5}]",
                 "[{\"articleNumber\": \"a-1\"}]",
                 "{\"orderStatuses\": [{\"number\": 200, \"text\": \"Open\"}]}",
                 "{\"message\": \"Authorization has been denied\"}"}};
    mo_config cfg;
    char errstr[256] = "";
    json_t *a = NULL, *doc = NULL;
    long status = 0;
    UT_CHECK(canned_start(&c) == 0, "canned server");
    og_client *og = canned_client(&c, &cfg);

    UT_CHECK(og_article_get(og, "A-1", &a, errstr, sizeof(errstr)) == MO_OK && a &&
                 json_real_value(json_object_get(a, "weight")) == 0.5,
             "the exact article: %s", errstr);
    UT_CHECK(strstr(c.request[0], "GET /wh/api/v1/articles?goodsOwnerId=7&articleNumber=A-1 ") ==
                 c.request[0],
             "request: %s", c.request[0]);
    json_decref(a);
    a = NULL;
    UT_CHECK(og_article_get(og, "A-1", &a, errstr, sizeof(errstr)) == MO_OK && a == NULL,
             "another case is another article");

    UT_CHECK(og_get(og, "orders/statuses", &doc, &status, errstr, sizeof(errstr)) == MO_OK &&
                 json_array_size(json_object_get(doc, "orderStatuses")) == 1,
             "a document: %s", errstr);
    UT_CHECK(strstr(c.request[2], "GET /wh/api/v1/orders/statuses ") == c.request[2],
             "nothing added to the path: %s", c.request[2]);
    json_decref(doc);
    doc = NULL;
    live = 0;
    json_set_alloc_funcs(counting_malloc, counting_free);
    mo_err err = og_get(og, "orders/statuses", &doc, &status, errstr, sizeof(errstr));
    json_set_alloc_funcs(malloc, free);
    UT_CHECK(err == MO_ERR_CREDENTIAL && status == 401 && doc == NULL && live == 0,
             "refused: %s, status %ld, %ld allocations left", mo_err_name(err), status, live);
    og_free(og);
    canned_stop(&c);
}
