/* The Mystore client against a loopback JSON:API server and a private Redis
 * (the request budget lives there): a list read has a total size cap with
 * its own error, never a silent cut.  Regression test of issue 6 item 18. */
#include "unit.h"
#include "ut_net.h"
#include "common/config.h"
#include "common/mystore.h"
#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A list page of n items of about item_bytes each that always has a next page. */
static char *endless_page(int n, size_t item_bytes)
{
    size_t cap = (size_t)n * (item_bytes + 64) + 512, len = 0;
    char *body = malloc(cap), *filler = malloc(item_bytes + 1);
    memset(filler, 'v', item_bytes);
    filler[item_bytes] = '\0';
    len += (size_t)snprintf(body + len, cap - len, "{\"data\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"type\":\"x\",\"id\":\"%d\",\"attributes\":{\"v\":\"%s\"}}",
                                i ? "," : "", i, filler);
    snprintf(body + len, cap - len, "],\"links\":{\"next\":\"http://127.0.0.1/next\"}}");
    size_t blen = strlen(body);
    char *answer = malloc(blen + 256);
    snprintf(answer, blen + 256,
             "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.api+json\r\nContent-Length: "
             "%zu\r\n\r\n%s",
             blen, body);
    free(body);
    free(filler);
    return answer;
}

typedef struct list_call {
    ms_client *ms;
    mo_err err;
    size_t items;
    char errstr[512];
} list_call;

static void list_run(void *arg)
{
    list_call *c = arg;
    json_t *items = NULL;
    c->err =
        ms_list_all(c->ms, "products/1/product-variants", &items, c->errstr, sizeof(c->errstr));
    c->items = json_array_size(items);
    json_decref(items);
}

UT_TEST(issue6_18_list_read_has_a_total_size_cap)
{
    ut_redis r;
    char url[128], errstr[256];
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    char *small = endless_page(2, 10);
    ut_http *s = ut_http_start(small);
    mo_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.mystore_url, sizeof(cfg.mystore_url), "http://127.0.0.1:%d", ut_http_port(s));
    snprintf(cfg.mystore_shop, sizeof(cfg.mystore_shop), "demo");
    snprintf(cfg.mystore_token, sizeof(cfg.mystore_token), "list-cap-token-1");
    cfg.mystore_rate_per_min = 100000000;
    cfg.http_timeout_ms = 10000;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    rs_store *rs = rs_open(url, "t1", errstr, sizeof(errstr));
    list_call *c = calloc(1, sizeof(*c));
    c->ms = ms_new(&cfg, rs, 1);

    /* Pages without end: an error that says so, not a list silently cut. */
    int done = ut_run_bounded(list_run, c, 120000);
    UT_CHECK(done, "an endless list was still being read after 120 s");
    if (!done)
        return;
    UT_CHECK(c->err == MO_ERR_TOO_LARGE, "endless list: %s with %zu items (%s)",
             mo_err_name(c->err), c->items, c->errstr);
    if (c->err != MO_ERR_TOO_LARGE)
        goto out;
    UT_CHECK(strstr(c->errstr, "pages") != NULL, "message '%s'", c->errstr);

    /* Large pages: the byte cap ends it long before the page cap. */
    char *big = endless_page(50, 6000);
    int before = ut_http_requests(s);
    ut_http_set_response(s, big);
    free(big);
    done = ut_run_bounded(list_run, c, 120000);
    UT_CHECK(done && c->err == MO_ERR_TOO_LARGE && strstr(c->errstr, "MiB"),
             "list of large pages: %s (%s)", mo_err_name(c->err), c->errstr);
    UT_CHECK(ut_http_requests(s) - before < 150, "%d pages of 300 KB read before the cap",
             ut_http_requests(s) - before);
out:
    ms_free(c->ms);
    free(c);
    rs_close(rs);
    ut_http_stop(s);
    free(small);
    ut_redis_stop(&r);
}
