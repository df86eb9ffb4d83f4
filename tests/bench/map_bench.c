/* Benchmark of the pure mappings (issue 15, section 1 of `make bench`):
 * orders/s through mp_order_map() and articles/s through mp_article_map() on
 * one core, beside their limit measured in the same run: jansson parsing and
 * dumping the same documents alone.
 *
 *   build/map-bench [--seconds S] ORDERS.ndjson PRODUCTS.ndjson
 *
 * Each input line is one event as the pipeline topic carries it (or a bare
 * snapshot); tests/bench/table.py writes them from `mosync tail` over a
 * seeded shop.  Per document the mapping does what the consumer does with a
 * message: parse the event, map its "data", dump the result (compact); the
 * limit does parse + dump of the same event.  Each loop runs over all
 * documents again and again until it has used S seconds of this thread's CPU
 * (default 2), so time the machine gives to other processes does not count.
 * A document the mapping refuses counts as an error and is left out of both
 * loops, so both see the same documents.
 *
 * Prints one JSON line:
 *   {"orders": {"docs": N, "bytes": B, "errors": E, "map_per_s": X,
 *               "parse_dump_per_s": Y, "map_cpu_s": .., "limit_cpu_s": ..},
 *    "products": {... the same, and "articles_per_doc": A}}
 * articles/s = products/s x articles_per_doc, for the figure and its limit
 * alike.  Exit 0, or 1 when an input cannot be read or holds no document. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumers/map_article.h"
#include "consumers/map_order.h"

typedef struct mb_docs {
    char **text; /* owned: one document each, NUL-terminated */
    size_t *len;
    size_t n, cap;
    size_t bytes;
} mb_docs;

typedef enum { MB_ORDER, MB_ARTICLE } mb_kind;

typedef struct mb_result {
    size_t docs, errors, bytes;
    double articles_per_doc;
    double map_per_s, limit_per_s, map_cpu_s, limit_cpu_s;
} mb_result;

static double mb_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mb_docs_add(mb_docs *d, const char *line, size_t len)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        char **text = realloc(d->text, cap * sizeof(*text));
        if (!text)
            return -1;
        d->text = text;
        size_t *lens = realloc(d->len, cap * sizeof(*lens));
        if (!lens)
            return -1;
        d->len = lens;
        d->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, line, len);
    copy[len] = '\0';
    d->text[d->n] = copy;
    d->len[d->n] = len;
    d->n++;
    d->bytes += len;
    return 0;
}

static void mb_docs_free(mb_docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->text[i]);
    free(d->text);
    free(d->len);
    *d = (mb_docs){0};
}

/* Reads one document per non-empty line of path.  Returns 0 or -1 (said on
 * stderr). */
static int mb_docs_read(const char *path, mb_docs *d)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "map-bench: cannot open %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        if (mb_docs_add(d, line, (size_t)len)) {
            fprintf(stderr, "map-bench: out of memory reading %s\n", path);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0 && d->n == 0) {
        fprintf(stderr, "map-bench: %s holds no document\n", path);
        rc = -1;
    }
    return rc;
}

/* Maps one document as the consumer would: parse, map "data" (or the whole
 * document when it has none), dump the result.  Returns the number of
 * articles in the result (>= 0), or -1 when parsing or mapping failed. */
static int mb_map_one(const char *text, size_t len, mb_kind kind)
{
    static const mp_order_conf oconf = {.goods_owner_id = 1};
    static const mp_article_conf aconf = {.goods_owner_id = 1};
    char errstr[256];
    json_error_t jerr;
    json_t *out = NULL;
    int articles = -1;

    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (!doc)
        return -1;
    json_t *data = json_object_get(doc, "data");
    if (!data)
        data = doc;
    mo_err err = kind == MB_ORDER ? mp_order_map(data, &oconf, &out, errstr, sizeof(errstr))
                                  : mp_article_map(data, &aconf, &out, errstr, sizeof(errstr));
    if (err == MO_OK) {
        char *s = json_dumps(out, JSON_COMPACT);
        if (s)
            articles = (int)json_array_size(json_object_get(out, "articles"));
        free(s);
    }
    json_decref(out);
    json_decref(doc);
    return articles;
}

/* The limit: parse and dump the same document, nothing else. */
static int mb_parse_dump_one(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (!doc)
        return -1;
    char *s = json_dumps(doc, JSON_COMPACT);
    int rc = s ? 0 : -1;
    free(s);
    json_decref(doc);
    return rc;
}

/* Runs over docs (those marked ok) until cpu_s seconds of CPU are used.
 * Returns documents per CPU second; *used gets the CPU seconds. */
static double mb_loop(const mb_docs *d, const unsigned char *ok, mb_kind kind, int limit,
                      double cpu_s, double *used)
{
    size_t done = 0;
    double t0 = mb_cpu_now(), t = t0;
    do {
        for (size_t i = 0; i < d->n; i++) {
            if (!ok[i])
                continue;
            if (limit)
                mb_parse_dump_one(d->text[i], d->len[i]);
            else
                mb_map_one(d->text[i], d->len[i], kind);
            done++;
        }
        t = mb_cpu_now();
    } while (t - t0 < cpu_s);
    *used = t - t0;
    return *used > 0 ? (double)done / *used : 0;
}

static int mb_run(const char *path, mb_kind kind, double cpu_s, mb_result *r)
{
    mb_docs d = {0};
    if (mb_docs_read(path, &d))
        return -1;
    unsigned char *ok = calloc(d.n, 1);
    if (!ok) {
        mb_docs_free(&d);
        return -1;
    }
    size_t articles = 0;
    *r = (mb_result){0};
    for (size_t i = 0; i < d.n; i++) {
        int a = mb_map_one(d.text[i], d.len[i], kind);
        if (a < 0) {
            r->errors++;
            continue;
        }
        ok[i] = 1;
        r->docs++;
        r->bytes += d.len[i];
        articles += (size_t)a;
    }
    int rc = -1;
    if (r->docs > 0) {
        r->articles_per_doc = (double)articles / (double)r->docs;
        /* The limit first and last, the mapping between: a machine that
         * slows down during the run then lowers the limit no more than the
         * figure.  The limit is the mean of its two runs. */
        double l1, l2, u1, u2;
        l1 = mb_loop(&d, ok, kind, 1, cpu_s / 2, &u1);
        r->map_per_s = mb_loop(&d, ok, kind, 0, cpu_s, &r->map_cpu_s);
        l2 = mb_loop(&d, ok, kind, 1, cpu_s / 2, &u2);
        r->limit_per_s = (l1 * u1 + l2 * u2) / (u1 + u2);
        r->limit_cpu_s = u1 + u2;
        rc = 0;
    } else {
        fprintf(stderr, "map-bench: no document of %s maps\n", path);
    }
    free(ok);
    mb_docs_free(&d);
    return rc;
}

static void mb_print(const char *name, const mb_result *r, int last)
{
    printf("\"%s\":{\"docs\":%zu,\"bytes\":%zu,\"errors\":%zu,\"articles_per_doc\":%.4f,"
           "\"map_per_s\":%.1f,\"parse_dump_per_s\":%.1f,\"map_cpu_s\":%.3f,"
           "\"limit_cpu_s\":%.3f}%s",
           name, r->docs, r->bytes, r->errors, r->articles_per_doc, r->map_per_s, r->limit_per_s,
           r->map_cpu_s, r->limit_cpu_s, last ? "" : ",");
}

int main(int argc, char **argv)
{
    double cpu_s = 2.0;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "--seconds") == 0) {
        cpu_s = strtod(argv[2], NULL);
        i = 3;
    }
    if (argc - i != 2 || !(cpu_s > 0)) {
        fprintf(stderr, "usage: map-bench [--seconds S] ORDERS.ndjson PRODUCTS.ndjson\n");
        return 2;
    }
    mb_result orders, products;
    if (mb_run(argv[i], MB_ORDER, cpu_s, &orders) ||
        mb_run(argv[i + 1], MB_ARTICLE, cpu_s, &products))
        return 1;
    printf("{");
    mb_print("orders", &orders, 0);
    mb_print("products", &products, 1);
    printf("}\n");
    return 0;
}
