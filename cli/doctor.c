/* `mosync doctor`: probes every assumption of the API model against the
 * configured Mystore and Ongoing, read-only (see doctor.h).
 *
 * The probes read a sample once (order statuses, a page of orders and of
 * products, a few products' variants, one order's lines, totals and history,
 * Ongoing's statuses, articles and orders) plus a few targeted requests (a
 * filter, a page size, a SKU look-up, a 23 and a 25 hour stock window), about
 * 25 Mystore and 8 Ongoing requests in all.  Each check then judges one
 * assumption from what was read, with the same code the flows use where
 * there is one (mp_status_matches, mp_country_iso, mp_weight_kg,
 * ms_filter_updated_since, ms_filter_sku, cfg_ongoing_editable), and says:
 *   confirmed     what was read agrees with the assumption;
 *   contradicted  what was read disagrees (the evidence says how);
 *   unknown       nothing read could tell (too few orders, no overlap, ...),
 *                 or a read the check needs failed: then it "could not
 *                 read", and the evidence names the request and the answer
 *                 (HTTP status).  A read that failed is never taken for an
 *                 empty list: 0 products read is not 0 products.
 * Exit status: 1 when a check is contradicted, else 3 when a check could
 * not read, else 0 (2: usage or configuration).
 * Nothing is written anywhere but stdout and the shared Mystore budget. */
#include "doctor.h"
#include "jwt.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "map_delivery.h"
#include "mapping.h"
#include "mystore.h"
#include "ongoing.h"
#include "poll.h"
#include "stop.h"
#include "store.h"
#include "tz.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define COMPONENT      "doctor"
#define DR_EVIDENCE    1024
#define DR_PAGE_PROBE  5          /* page size of the M2 probe */
#define DR_PAGES_PROBE 4          /* pages the M2 probe reads at most */
#define DR_VARIANTS    6          /* products whose variants are read */
#define DR_OG_ARTICLES 500        /* Ongoing articles read for the weight and price comparisons */
#define DR_OG_ORDERS   50         /* Ongoing orders read for O4 and O5 */
#define DR_HEADER_MAX  (1u << 20) /* body bytes the header probe reads before it stops */

typedef enum { DR_CONFIRMED, DR_CONTRADICTED, DR_UNKNOWN } dr_status;

static const char *const dr_status_names[] = {"confirmed", "contradicted", "unknown"};

/* Every check, in report order, with the assumption in a few words.  The ids
 * are MODEL.md's (and docs/api-model.md's); A1-A3 are access. */
static const struct {
    const char *id;
    const char *assumption;
} dr_model[] = {
    {"A1", "Mystore answers this token and shop"},
    {"A2", "Ongoing answers this user and goods owner"},
    {"A3", "The token sees and may write what mosync needs (no hide scopes)"},
    {"M1", "Timestamps are YYYY-MM-DD HH:MM:SS in MYSTORE_TIMEZONE"},
    {"M2", "No sort order is relied on: paging through a list is complete and stable"},
    {"M3", "A variant change bumps its product's updated_at"},
    {"M4", "Product weight is in MYSTORE_WEIGHT_UNIT (default grams)"},
    {"M5", "Countries are ISO codes or English or Norwegian names"},
    {"M6", "Order lines and their options carry the fields mosync reads"},
    {"M7", "The order total is the ot_total row of order-totals"},
    {"M8", "The sent, cancelled and MYSTORE_ORDER_STATUSES statuses are found by name or id"},
    {"M9", "An order-status-history row sets the order's status; orders have tracking_number"},
    {"M10", "Stock lives on variants, or on products without variants"},
    {"M11", "Related resources answer by their URLs (include= is not needed)"},
    {"M11i", "include= answers an order's lines, options and totals as their URLs do "
             "(used when it does)"},
    {"M12", "MYSTORE_RATE_LIMIT_PER_MIN fits the server's rate limit"},
    {"M13", "A page holds at most 50 items"},
    {"M14", "The updated_at filter (gte) returns exactly the orders changed since"},
    {"M15", "Status names match as whole names, ignoring case"},
    {"M16", "Products are found by SKU (filter[sku] eq)"},
    {"M17", "Variants are found by SKU in the top-level product-variants list"},
    {"O1", "Orders are editable in ONGOING_EDITABLE_STATUSES"},
    {"O2", "The seed's article price (Mystore cost) is stockValuationPrice"},
    {"O3", "Ongoing weight is in kilograms"},
    {"O4", "Order lines name registered articles; the article look-up is exact"},
    {"O5", "Shipped means shippedTime set or status 450 to 999"},
    {"O6", "stockInfoChangedFrom reaches 24 hours back, not more"},
};
#define DR_NCHECKS (sizeof(dr_model) / sizeof(dr_model[0]))

typedef struct dr_check {
    dr_status status;
    int set;
    int unread; /* unknown because a read it needs failed */
    char evidence[DR_EVIDENCE];
} dr_check;

/* What the probes read, shared by the checks.  Every json_t is owned. */
typedef struct dr_ctx {
    const mo_config *cfg;
    rs_store *rs;
    ms_client *ms;
    og_client *og;
    const char *known_weight; /* --known-weight SKU=450g, NULL when not given */
    dr_check checks[DR_NCHECKS];
    unsigned long raw_requests;

    /* A read that failed keeps why (the request and the answer) in its
     * *_why, "" when it answered, and the HTTP status (0: no answer). */
    int ms_up;        /* Mystore answered the order statuses */
    char ms_why[512]; /* why not */
    long ms_status;
    char orders_why[512], products_why[512];
    long orders_status, products_status;
    char variants_why[512]; /* a product's variants */
    char lines_why[512];    /* no order's lines, or the chosen line's options */
    char totals_why[512];   /* the totals of the order with lines */
    json_t *statuses;       /* order-status resources */
    json_t *orders;         /* the first page of orders (50) */
    int orders_more;        /* the shop has more orders than that page */
    json_t *products;       /* the first page of products (50) */
    int products_more;
    json_t *variants;        /* {"<product id>": [variant resources]} for up to DR_VARIANTS */
    json_t *lines;           /* order-products of one order with lines, NULL if none read */
    const char *lines_order; /* its id (borrowed from orders) */
    json_t *options;         /* order-product-attributes of its lines (concatenated) */
    json_t *totals;          /* order-totals of that order */
    json_t *included;        /* the "included" of orders/{id}?include=..., or NULL */
    json_t *include_data;    /* that answer's "data" (the order), or NULL */
    int include_answered;    /* that request answered */
    long include_status;     /* its HTTP status (0: no answer) */
    char include_why[512];   /* why it did not answer */
    char related_why[512];   /* a related URL answered 404: it is not there */

    int og_up;
    char og_why[512];
    long og_status;
    char og_orders_why[512];
    long og_orders_status;
    json_t *og_statuses; /* orderStatuses [{number, text}] */
    json_t *og_articles; /* up to DR_OG_ARTICLES articles */
    json_t *og_orders;   /* up to DR_OG_ORDERS orders */
} dr_ctx;

/* ---- small helpers ---------------------------------------------------------- */

/* Sets check `id` (once: the first judgement stands) with its evidence,
 * secrets masked; unread: unknown because a read it needs failed. */
static void dr_vset(dr_ctx *d, const char *id, dr_status status, int unread, const char *prefix,
                    const char *fmt, va_list ap)
{
    for (size_t i = 0; i < DR_NCHECKS; i++) {
        dr_check *c = &d->checks[i];
        if (strcmp(dr_model[i].id, id) || c->set)
            continue;
        size_t n = (size_t)snprintf(c->evidence, sizeof(c->evidence), "%s", prefix);
        vsnprintf(c->evidence + n, sizeof(c->evidence) - n, fmt, ap);
        lg_mask_secrets(c->evidence, sizeof(c->evidence));
        c->status = status;
        c->unread = unread;
        c->set = 1;
        return;
    }
}

static void dr_set(dr_ctx *d, const char *id, dr_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void dr_set(dr_ctx *d, const char *id, dr_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dr_vset(d, id, status, 0, "", fmt, ap);
    va_end(ap);
}

/* Check `id` could not read what it needs: unknown, the evidence saying so. */
static void dr_unread(dr_ctx *d, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dr_unread(dr_ctx *d, const char *id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dr_vset(d, id, DR_UNKNOWN, 1, "could not read: ", fmt, ap);
    va_end(ap);
}

/* The reads check `id` needs (their *_why, NULL-terminated): when one
 * failed, the check could not read (dr_unread, naming the first) and 1 is
 * returned, so the check judges nothing from what it did not read. */
static int dr_needs(dr_ctx *d, const char *id, ...)
{
    const char *why, *failed = NULL;
    va_list ap;
    va_start(ap, id);
    while ((why = va_arg(ap, const char *)))
        if (!failed && *why)
            failed = why;
    va_end(ap);
    if (failed)
        dr_unread(d, id, "%s", failed);
    return failed != NULL;
}

/* Does an answer with this HTTP status refuse the credential or name a
 * resource that is not there (rather than fail for now)? */
static int dr_refused(long status)
{
    return status == 400 || status == 401 || status == 403 || status == 404;
}

static const json_t *dr_attr(const json_t *resource, const char *name)
{
    return json_object_get(json_object_get(resource, "attributes"), name);
}

static const char *dr_sattr(const json_t *resource, const char *name)
{
    return json_string_value(dr_attr(resource, name));
}

static const char *dr_id(const json_t *resource)
{
    return json_string_value(json_object_get(resource, "id"));
}

/* Whether two resources have the same (present) id. */
static int dr_same_id(const json_t *a, const json_t *b)
{
    return dr_id(a) && dr_id(b) && !strcmp(dr_id(a), dr_id(b));
}

/* A value for an evidence line ('abc', 12, null, (absent)). */
static const char *dr_show(const json_t *v, char *buf, size_t size)
{
    return mp_describe(v, buf, size);
}

/* Does text hold word, ignoring ASCII case? */
static int dr_holds(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (; text && *text; text++)
        if (!strncasecmp(text, word, n))
            return 1;
    return 0;
}

/* Does Mystore status sid match `wanted` (M8), by id or by its names? */
static int dr_status_is(const dr_ctx *d, const char *sid, const char *wanted)
{
    size_t i;
    json_t *s;
    json_array_foreach(
        d->statuses, i,
        s) if (dr_id(s) && sid &&
               !strcmp(dr_id(s), sid)) return mp_status_matches(sid, dr_attr(s, "name"), wanted);
    return mp_status_matches(sid, NULL, wanted);
}

/* GET on Mystore (path may carry a query); *doc NULL on failure, why says it. */
static mo_err dr_ms_get(dr_ctx *d, const char *path, json_t **doc, long *status, char *why,
                        size_t why_size)
{
    *doc = NULL;
    *status = 0;
    mo_err err = ms_get(d->ms, path, doc, status, why, why_size);
    if (err) {
        json_decref(*doc);
        *doc = NULL;
        lg_mask_secrets(why, why_size);
    }
    return err;
}

/* The "data" array of a list answer (borrowed), NULL when it has none. */
static json_t *dr_data(const json_t *doc)
{
    json_t *data = json_object_get(doc, "data");
    return json_is_array(data) ? data : NULL;
}

/* page[size]=N in a link, -1 when it has none. */
static long dr_link_size(const json_t *doc, const char *which)
{
    const char *link = json_string_value(json_object_get(json_object_get(doc, "links"), which));
    const char *p = link ? strstr(link, "page%5Bsize%5D=") : NULL;
    size_t skip = 15;
    if (!p && link && (p = strstr(link, "page[size]=")))
        skip = 11;
    return p ? strtol(p + skip, NULL, 10) : -1;
}

static int dr_has_next(const json_t *doc)
{
    return json_is_string(json_object_get(json_object_get(doc, "links"), "next"));
}

/* Two weights or prices equal within 0.5 %, both positive. */
static int dr_close(double a, double b)
{
    return a > 0 && b > 0 && fabs(a - b) <= 0.005 * fmax(a, b);
}

/* ---- Mystore probes ----------------------------------------------------------- */

/* The first order line of a variant (its product-variant relationship set). */
static const json_t *dr_variant_line(const json_t *lines)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        const json_t *v = json_object_get(
            json_object_get(json_object_get(l, "relationships"), "product-variant"), "data");
        if (json_is_object(v))
            return l;
    }
    return NULL;
}

/* A list read from Mystore into *list (new reference; NULL when it failed),
 * with whether it has a next page; a failure (or an answer that is not a
 * list) is kept in why and status. */
static void dr_ms_list(dr_ctx *d, const char *path, json_t **list, int *more, char *why,
                       size_t why_size, long *status)
{
    json_t *doc;
    char err[512];
    *list = NULL;
    if (dr_ms_get(d, path, &doc, status, err, sizeof(err))) {
        snprintf(why, why_size, "%s", err);
        return;
    }
    if (!dr_data(doc)) {
        snprintf(why, why_size, "GET %s: the answer (HTTP %ld) has no \"data\" list", path,
                 *status);
    } else {
        *list = json_incref(dr_data(doc));
        if (more)
            *more = dr_has_next(doc);
    }
    json_decref(doc);
}

/* A related URL that failed: one answering 404 is not there (M11);
 * anything else is kept in why (the first one) for the checks that need
 * what it would have read. */
static void dr_related_failed(dr_ctx *d, const char *path, const char *err, long status, char *why,
                              size_t why_size)
{
    if (status == 404 && !*d->related_why)
        snprintf(d->related_why, sizeof(d->related_why), "GET %s: %s", path, err);
    if (!*why)
        snprintf(why, why_size, "%s", err);
}

/* Reads the statuses, a page of orders and of products, a few products'
 * variants, and one order's lines, options, totals and include answer. */
static void dr_read_mystore(dr_ctx *d)
{
    char why[512], path[512], lines_why[512] = "";
    json_t *doc;
    long status;
    size_t i;
    json_t *item;

    if (dr_ms_get(d, "order-status?page%5Bsize%5D=50", &doc, &status, why, sizeof(why))) {
        snprintf(d->ms_why, sizeof(d->ms_why), "%s", why);
        d->ms_status = status;
        return;
    }
    d->ms_up = 1;
    d->statuses = json_incref(dr_data(doc) ? dr_data(doc) : json_array());
    json_decref(doc);

    dr_ms_list(d, "orders?page%5Bsize%5D=50&page%5Bnumber%5D=1", &d->orders, &d->orders_more,
               d->orders_why, sizeof(d->orders_why), &d->orders_status);
    dr_ms_list(d, "products?page%5Bsize%5D=50&page%5Bnumber%5D=1", &d->products, &d->products_more,
               d->products_why, sizeof(d->products_why), &d->products_status);

    d->variants = json_object();
    json_array_foreach(d->products, i, item)
    {
        if (json_object_size(d->variants) >= DR_VARIANTS || !mp_is_id(dr_id(item)))
            break;
        snprintf(path, sizeof(path), "products/%s/product-variants?page%%5Bsize%%5D=50",
                 dr_id(item));
        json_t *vs;
        dr_ms_list(d, path, &vs, NULL, why, sizeof(why), &status);
        if (!vs) {
            dr_related_failed(d, path, why, status, d->variants_why, sizeof(d->variants_why));
            continue;
        }
        json_object_set_new(d->variants, dr_id(item), vs);
    }

    /* One order with lines, one of a variant if any of the first five has
     * one (a variant's line has options): its lines, options and totals. */
    json_array_foreach(d->orders, i, item)
    {
        if (!mp_is_id(dr_id(item)) || i >= 5)
            continue;
        snprintf(path, sizeof(path), "orders/%s/order-products", dr_id(item));
        json_t *lines;
        dr_ms_list(d, path, &lines, NULL, why, sizeof(why), &status);
        if (!lines) {
            dr_related_failed(d, path, why, status, lines_why, sizeof(lines_why));
            continue;
        }
        int variant = dr_variant_line(lines) != NULL;
        if (json_array_size(lines) && (!d->lines || variant)) {
            json_decref(d->lines);
            d->lines = json_incref(lines);
            d->lines_order = dr_id(item);
        }
        json_decref(lines);
        if (variant)
            break;
    }
    if (!d->lines) {
        /* Only when no order's lines could be read does M6 lack them. */
        snprintf(d->lines_why, sizeof(d->lines_why), "%s", lines_why);
        return;
    }
    d->options = json_array();
    const json_t *line = dr_variant_line(d->lines);
    if (!line)
        line = json_array_get(d->lines, 0);
    if (mp_is_id(dr_id(line))) {
        snprintf(path, sizeof(path), "order-products/%s/order-product-attributes", dr_id(line));
        json_t *options;
        dr_ms_list(d, path, &options, NULL, why, sizeof(why), &status);
        if (!options) {
            dr_related_failed(d, path, why, status, d->lines_why, sizeof(d->lines_why));
        } else {
            json_array_extend(d->options, options);
            json_decref(options);
        }
    }
    snprintf(path, sizeof(path), "orders/%s/order-totals", d->lines_order);
    dr_ms_list(d, path, &d->totals, NULL, why, sizeof(why), &status);
    if (!d->totals)
        dr_related_failed(d, path, why, status, d->totals_why, sizeof(d->totals_why));
    snprintf(path, sizeof(path), "orders/%s?include=%s", d->lines_order, PM_ORDERS_INCLUDE);
    if (!dr_ms_get(d, path, &doc, &d->include_status, why, sizeof(why))) {
        d->include_answered = 1;
        json_t *inc = json_object_get(doc, "included");
        d->included = json_is_array(inc) ? json_incref(inc) : NULL;
        json_t *data = json_object_get(doc, "data");
        d->include_data = json_is_object(data) ? json_incref(data) : NULL;
        json_decref(doc);
    } else {
        snprintf(d->include_why, sizeof(d->include_why), "%s", why);
    }
}

/* A1 and A2: an API answers the credential when every read of it did;
 * an answer refusing it (401, 403, a 404 or 400 naming the shop or goods
 * owner) contradicts, a read that failed otherwise (5xx, no answer) could
 * not tell.  reads: {why, status} pairs, why NULL-terminated.  Returns 1
 * when the check was set. */
static int dr_access(dr_ctx *d, const char *id, ...)
{
    const char *why, *failed = NULL;
    va_list ap;
    va_start(ap, id);
    while ((why = va_arg(ap, const char *))) {
        long status = va_arg(ap, long);
        if (*why && dr_refused(status)) {
            dr_set(d, id, DR_CONTRADICTED, "%s", why);
            va_end(ap);
            return 1;
        }
        if (*why && !failed)
            failed = why;
    }
    va_end(ap);
    if (failed)
        dr_unread(d, id, "%s", failed);
    return failed != NULL;
}

/* A1: the statuses, orders and products answered. */
static void dr_a1(dr_ctx *d)
{
    if (dr_access(d, "A1", d->ms_why, d->ms_status, d->orders_why, d->orders_status,
                  d->products_why, d->products_status, (const char *)NULL))
        return;
    dr_set(d, "A1", DR_CONFIRMED,
           "shop '%s' answered: %zu order statuses, %s%zu orders, %s%zu "
           "products",
           d->cfg->mystore_shop, json_array_size(d->statuses), d->orders_more ? "more than " : "",
           json_array_size(d->orders), d->products_more ? "more than " : "",
           json_array_size(d->products));
}

/* The "scopes" of the token when it is a JWT (an OAuth access token or a
 * personal access token of Laravel Passport's kind): new reference, NULL when
 * the token is not one.  Only the scope names are ever shown. */
static json_t *dr_token_scopes(const char *token)
{
    json_t *claims = jwt_claims(token);
    json_t *scopes = json_incref(json_object_get(claims, "scopes"));
    json_decref(claims);
    if (!json_is_array(scopes)) {
        json_decref(scopes);
        return NULL;
    }
    return scopes;
}

/* A3: scopes (when the token shows them) and the fields a hide scope drops. */
static void dr_a3(dr_ctx *d)
{
    static const char *const needed[] = {"write:orders", "write:order-status-history", NULL};
    static const char *const stock[] = {"write:product-variants", "write:products", NULL};
    static const char *const product_fields[] = {"cost", "quantity", "weight", "sku", NULL};
    char hidden[256] = "", scopes_said[512] = "";
    json_t *scopes = dr_token_scopes(d->cfg->mystore_token);
    size_t i, n_seen = 0;
    json_t *s;
    int bad = 0;

    if (scopes) {
        int all = 0;
        json_array_foreach(scopes, i, s)
        {
            const char *name = json_string_value(s);
            if (name && !strcmp(name, "*"))
                all = 1;
            if (name && strstr(name, "hide")) {
                bad = 1;
                snprintf(scopes_said + strlen(scopes_said),
                         sizeof(scopes_said) - strlen(scopes_said), "hide scope '%.60s'; ", name);
            }
        }
        for (int k = 0; !all && k < 2; k++) {
            const char *const *list = k ? stock : needed;
            if (k && !d->cfg->stock_sync)
                break;
            for (const char *const *w = list; *w; w++) {
                int found = 0;
                json_array_foreach(scopes, i, s) found |=
                    json_string_value(s) && !strcmp(json_string_value(s), *w);
                if (!found) {
                    bad = 1;
                    snprintf(scopes_said + strlen(scopes_said),
                             sizeof(scopes_said) - strlen(scopes_said), "no scope %s; ", *w);
                }
            }
        }
        if (!*scopes_said)
            snprintf(scopes_said, sizeof(scopes_said),
                     "%zu scopes, none hides fields, the write "
                     "scopes are there; ",
                     json_array_size(scopes));
        json_decref(scopes);
    } else {
        snprintf(scopes_said, sizeof(scopes_said),
                 "the token shows no scopes (not a JWT with a scopes claim); ");
    }
    /* A field a hide scope drops is missing from every product read. */
    for (const char *const *f = product_fields; *f && json_array_size(d->products); f++) {
        int present = 0;
        json_array_foreach(d->products, i, s) present |= dr_attr(s, *f) != NULL;
        if (!present) {
            bad = 1;
            snprintf(hidden + strlen(hidden), sizeof(hidden) - strlen(hidden), " %s", *f);
        }
    }
    const char *pid;
    json_t *vs;
    json_object_foreach(d->variants, pid, vs) n_seen += json_array_size(vs);
    for (int k = 0; k < 2 && n_seen; k++) {
        const char *f = k ? "quantity" : "cost";
        int present = 0;
        json_object_foreach(d->variants, pid, vs) json_array_foreach(vs, i, s) present |=
            dr_attr(s, f) != NULL;
        if (!present) {
            bad = 1;
            snprintf(hidden + strlen(hidden), sizeof(hidden) - strlen(hidden), " variant %s", f);
        }
    }
    if (dr_needs(d, "A3", d->products_why, d->variants_why, (const char *)NULL)) {
        /* nothing is judged from what was not read */
    } else if (*hidden)
        dr_set(d, "A3", DR_CONTRADICTED,
               "%sthese attributes are missing from every resource read:%s (a hide scope drops "
               "them silently: no cost means no article price, no quantity no stock)",
               scopes_said, hidden);
    else
        dr_set(d, "A3", bad ? DR_CONTRADICTED : DR_CONFIRMED,
               "%scost, quantity, weight and sku are visible on %zu products and %zu variants",
               scopes_said, json_array_size(d->products), n_seen);
}

/* M1: the form of every timestamp read, and the newest against the
 * server's clock in MYSTORE_TIMEZONE. */
static void dr_m1(dr_ctx *d)
{
    static const char *const names[] = {"created_at", "updated_at", NULL};
    const json_t *lists[] = {d->orders, d->products};
    const char *newest = NULL, *bad = NULL;
    size_t n = 0, n_bad = 0, i;
    json_t *item;
    struct tm tm;

    if (dr_needs(d, "M1", d->orders_why, d->products_why, (const char *)NULL))
        return;
    for (int l = 0; l < 2; l++)
        json_array_foreach(lists[l], i, item) for (const char *const *f = names; *f; f++)
        {
            const char *ts = dr_sattr(item, *f);
            if (!ts)
                continue;
            n++;
            if (tz_parse_local(ts, &tm)) {
                n_bad++;
                bad = ts;
            } else if (!strcmp(*f, "updated_at") && (!newest || strcmp(ts, newest) > 0)) {
                newest = ts;
            }
        }
    if (!n) {
        dr_set(d, "M1", DR_UNKNOWN, "no order or product timestamps to read");
        return;
    }
    if (n_bad) {
        char shown[80];
        dr_set(d, "M1", DR_CONTRADICTED,
               "%zu of %zu timestamps are not YYYY-MM-DD HH:MM:SS, e.g. %s", n_bad, n,
               mp_errval(bad, shown, sizeof(shown)));
        return;
    }
    long long now = ms_server_now(d->ms);
    time_t at;
    char local_now[TZ_LOCAL_SIZE] = "?";
    if (!now || !newest || tz_local_to_utc(d->cfg->mystore_timezone, newest, &at)) {
        dr_set(d, "M1", DR_CONFIRMED,
               "%zu timestamps in the form YYYY-MM-DD HH:MM:SS (the server sent no Date to "
               "place them in time)",
               n);
        return;
    }
    tz_utc_to_local(d->cfg->mystore_timezone, (time_t)now, local_now);
    if ((long long)at > now + 300)
        dr_set(d, "M1", DR_CONTRADICTED,
               "the newest updated_at, %s, is %lld min ahead of the server's clock in %s (%s): "
               "the timestamps are not %s time",
               newest, ((long long)at - now) / 60, d->cfg->mystore_timezone, local_now,
               d->cfg->mystore_timezone);
    else
        dr_set(d, "M1", DR_CONFIRMED,
               "%zu timestamps in the form YYYY-MM-DD HH:MM:SS; the newest, %s, is not ahead of "
               "the server's clock in %s (%s)",
               n, newest, d->cfg->mystore_timezone, local_now);
}

/* M2: pages of DR_PAGE_PROBE orders hold no order twice, and together the
 * same orders as one page of 50. */
static void dr_m2(dr_ctx *d)
{
    char why[512], path[256];
    json_t *seen = json_object(), *doc, *item;
    long status;
    size_t i;
    int pages = 0, complete = 0, sorted = 1;
    long prev = -1;
    const char *dup = NULL;

    if (dr_needs(d, "M2", d->orders_why, (const char *)NULL)) {
        json_decref(seen);
        return;
    }
    for (int page = 1; page <= DR_PAGES_PROBE && !dup; page++) {
        snprintf(path, sizeof(path), "orders?page%%5Bsize%%5D=%d&page%%5Bnumber%%5D=%d",
                 DR_PAGE_PROBE, page);
        if (dr_ms_get(d, path, &doc, &status, why, sizeof(why))) {
            /* A page that failed leaves paging unproven, whichever it was. */
            dr_unread(d, "M2", "%s", why);
            break;
        }
        pages++;
        json_array_foreach(dr_data(doc), i, item)
        {
            const char *id = dr_id(item);
            if (!id)
                continue;
            if (json_object_get(seen, id)) {
                dup = json_string_value(json_object_get(seen, id)); /* page it was on */
                dr_set(d, "M2", DR_CONTRADICTED,
                       "order %s came on page %s and again on page %d of %d: the list order "
                       "moves between pages, so paging misses orders",
                       id, dup, page, DR_PAGE_PROBE);
                break;
            }
            char p[16];
            snprintf(p, sizeof(p), "%d", page);
            json_object_set_new(seen, id, json_string(p));
            long v = strtol(id, NULL, 10);
            sorted &= v > prev;
            prev = v;
        }
        complete = !dr_has_next(doc);
        json_decref(doc);
        if (complete)
            break;
    }
    if (!dup && pages) {
        size_t same = 0;
        json_array_foreach(d->orders, i, item) same += json_object_get(seen, dr_id(item)) != NULL;
        if (json_object_size(seen) <= DR_PAGE_PROBE && complete)
            dr_set(d, "M2", DR_UNKNOWN, "only %zu orders: one page, nothing to page through",
                   json_object_size(seen));
        else if (complete && !d->orders_more && same == json_array_size(d->orders) &&
                 same == json_object_size(seen))
            dr_set(d, "M2", DR_CONFIRMED,
                   "the %zu orders came in %d pages of %d, none twice, the same as one page of "
                   "50; served %s",
                   same, pages, DR_PAGE_PROBE, sorted ? "by ascending id" : "in no id order");
        else if (complete)
            dr_set(d, "M2", DR_CONTRADICTED,
                   "pages of %d gave %zu orders, one page of 50 gave %zu: paging is not "
                   "complete",
                   DR_PAGE_PROBE, json_object_size(seen), json_array_size(d->orders));
        else
            dr_set(d, "M2", DR_CONFIRMED,
                   "no order twice in the first %d pages of %d (%zu orders); served %s", pages,
                   DR_PAGE_PROBE, json_object_size(seen),
                   sorted ? "by ascending id" : "in no id order");
    }
    json_decref(seen);
}

/* M3: a variant's updated_at (when variants carry one) is never after its
 * product's. */
static void dr_m3(dr_ctx *d)
{
    const char *pid;
    json_t *vs, *v;
    size_t i, n = 0;

    if (dr_needs(d, "M3", d->products_why, d->variants_why, (const char *)NULL))
        return;
    json_object_foreach(d->variants, pid, vs)
    {
        const char *p_at = NULL;
        json_t *p;
        json_array_foreach(d->products, i, p) if (dr_id(p) && !strcmp(dr_id(p), pid)) p_at =
            dr_sattr(p, "updated_at");
        json_array_foreach(vs, i, v)
        {
            const char *v_at = dr_sattr(v, "updated_at");
            if (!v_at || !p_at)
                continue;
            n++;
            if (strcmp(v_at, p_at) > 0) {
                dr_set(d, "M3", DR_CONTRADICTED,
                       "variant %s changed at %s, after its product %s (updated_at %s): a "
                       "variant change does not bump the product, so the product poller misses "
                       "it",
                       dr_id(v), v_at, pid, p_at);
                return;
            }
        }
    }
    if (n)
        dr_set(d, "M3", DR_CONFIRMED, "%zu variants carry updated_at, none after its product's", n);
    else
        dr_set(d, "M3", DR_UNKNOWN,
               "no variant read carries updated_at, so reads cannot tell (%zu products' variants "
               "read)",
               json_object_size(d->variants));
}

/* The Mystore weight (the product's) and cost (the variant's, else the
 * product's) of article number `no`, from the products and variants read.
 * Returns 1 when the SKU was found. */
static int dr_mystore_article(dr_ctx *d, const char *no, const json_t **weight, const json_t **cost)
{
    size_t i, j;
    json_t *p, *v;
    json_array_foreach(d->products, i, p)
    {
        json_t *vs = json_object_get(d->variants, dr_id(p) ? dr_id(p) : "");
        json_array_foreach(vs, j, v)
        {
            const char *sku = dr_sattr(v, "sku");
            if (sku && !strcmp(sku, no)) {
                *weight = dr_attr(p, "weight");
                *cost = mp_absent(dr_attr(v, "cost")) ? dr_attr(p, "cost") : dr_attr(v, "cost");
                return 1;
            }
        }
        /* A product's own SKU is an article only without variants (when
         * they were not read, the warehouse having the SKU says so). */
        const char *sku = dr_sattr(p, "sku");
        if (sku && !strcmp(sku, no) && json_array_size(vs) == 0) {
            *weight = dr_attr(p, "weight");
            *cost = dr_attr(p, "cost");
            return 1;
        }
    }
    return 0;
}

/* The Ongoing article numbered `no` among those read, NULL when none. */
static const json_t *dr_og_article(dr_ctx *d, const char *no)
{
    size_t i;
    json_t *a;
    json_array_foreach(d->og_articles, i, a)
    {
        const char *n = json_string_value(json_object_get(a, "articleNumber"));
        if (n && !strcmp(n, no))
            return a;
    }
    return NULL;
}

/* M4 and O3: weights of the same SKU in both systems; with --known-weight,
 * one product's true weight decides each on its own. */
static void dr_weights(dr_ctx *d)
{
    int as_configured = 0, as_other = 0, neither = 0, n = 0;
    char example[256] = "";
    const char *unit = d->cfg->mystore_weight_kg ? "kg" : "g";
    const char *other = d->cfg->mystore_weight_kg ? "g" : "kg";
    size_t i;
    json_t *a;

    if (dr_needs(d, "M4", d->products_why, d->variants_why, (const char *)NULL) |
        dr_needs(d, "O3", d->products_why, d->variants_why, (const char *)NULL))
        return;
    json_array_foreach(d->og_articles, i, a)
    {
        const char *no = json_string_value(json_object_get(a, "articleNumber"));
        const json_t *w = NULL, *cost = NULL;
        double wm, wo = json_number_value(json_object_get(a, "weight"));
        if (!no || !dr_mystore_article(d, no, &w, &cost) || mp_number(w, &wm) || wm <= 0 || wo <= 0)
            continue;
        n++;
        if (dr_close(mp_weight_kg(wm, d->cfg->mystore_weight_kg), wo)) {
            as_configured++;
        } else if (dr_close(mp_weight_kg(wm, !d->cfg->mystore_weight_kg), wo)) {
            as_other++;
            if (!*example)
                snprintf(example, sizeof(example), "%s weighs %g in Mystore and %g kg in Ongoing",
                         no, wm, wo);
        } else {
            neither++;
        }
    }

    if (d->known_weight) {
        char sku[256];
        double grams = 0, wm = 0;
        const char *eq = strrchr(d->known_weight, '=');
        const json_t *w = NULL, *cost = NULL;
        snprintf(sku, sizeof(sku), "%.*s", eq ? (int)(eq - d->known_weight) : 0, d->known_weight);
        char *end;
        grams = eq ? strtod(eq + 1, &end) : 0;
        if (eq && !strcmp(end, "kg"))
            grams *= 1000;
        const json_t *og = dr_og_article(d, sku);
        if (!dr_mystore_article(d, sku, &w, &cost) || mp_number(w, &wm))
            dr_set(d, "M4", DR_UNKNOWN,
                   "--known-weight: no product or variant with SKU '%s' and a weight among the "
                   "%zu products read",
                   sku, json_array_size(d->products));
        else if (dr_close(wm, d->cfg->mystore_weight_kg ? grams / 1000 : grams))
            dr_set(d, "M4", DR_CONFIRMED, "%s weighs %g g and Mystore answers %g: %s", sku, grams,
                   wm, unit);
        else if (dr_close(wm, d->cfg->mystore_weight_kg ? grams : grams / 1000))
            dr_set(d, "M4", DR_CONTRADICTED,
                   "%s weighs %g g and Mystore answers %g: Mystore weighs in %s, not %s "
                   "(MYSTORE_WEIGHT_UNIT=%s); articles would weigh %g kg",
                   sku, grams, wm, other, unit, other, mp_weight_kg(wm, d->cfg->mystore_weight_kg));
        else
            dr_set(d, "M4", DR_UNKNOWN, "%s weighs %g g but Mystore answers %g: neither g nor kg",
                   sku, grams, wm);
        double wo = og ? json_number_value(json_object_get(og, "weight")) : 0;
        if (!og || wo <= 0)
            dr_set(d, "O3", DR_UNKNOWN, "--known-weight: Ongoing has no article %s with a weight",
                   sku);
        else if (dr_close(wo, grams / 1000))
            dr_set(d, "O3", DR_CONFIRMED, "%s weighs %g g and Ongoing holds %g: kilograms", sku,
                   grams, wo);
        else if (dr_close(wo, grams))
            dr_set(d, "O3", DR_CONTRADICTED, "%s weighs %g g and Ongoing holds %g: grams", sku,
                   grams, wo);
        else
            dr_set(d, "O3", DR_UNKNOWN, "%s weighs %g g but Ongoing holds %g: neither kg nor g",
                   sku, grams, wo);
    }

    if (!n) {
        dr_set(d, "M4", DR_UNKNOWN,
               "no SKU with a weight in both Mystore and Ongoing among those read; give "
               "--known-weight SKU=<grams>g to decide");
        dr_set(d, "O3", DR_UNKNOWN, "no SKU with a weight in both systems among those read");
        return;
    }
    if (as_configured && !as_other)
        dr_set(d, "M4", DR_CONFIRMED,
               "%d SKUs weigh in Ongoing (kg) what their Mystore weight in %s comes to",
               as_configured, unit);
    else if (as_other && !as_configured)
        dr_set(d, "M4", DR_CONTRADICTED,
               "%d SKUs weigh in Ongoing what their Mystore weight would in %s, not %s (e.g. %s): "
               "Mystore weighs in %s, assuming O3 (Ongoing in kg)",
               as_other, other, unit, example, other);
    else
        dr_set(d, "M4", DR_UNKNOWN,
               "of %d SKUs in both systems, %d agree with %s, %d with %s and %d with neither", n,
               as_configured, unit, as_other, other, neither);
    /* Only grams in Mystore against kilograms in Ongoing shows a factor of
     * 1000; equal numbers could be kg and kg or g and g. */
    int factor = d->cfg->mystore_weight_kg ? as_other : as_configured;
    int equal = d->cfg->mystore_weight_kg ? as_configured : as_other;
    if (factor && !equal)
        dr_set(d, "O3", DR_CONFIRMED,
               "%d SKUs weigh 1/1000 of their Mystore grams in Ongoing: kilograms", factor);
    else
        dr_set(d, "O3", DR_UNKNOWN,
               "%d SKUs weigh the same number in both systems: either Mystore answers kg or "
               "Ongoing holds grams; --known-weight SKU=<grams>g decides",
               equal);
}

/* M5: every shipping country read maps to an ISO code. */
static void dr_m5(dr_ctx *d)
{
    char seen[256] = "", why[256];
    size_t i, n = 0;
    json_t *o;
    if (dr_needs(d, "M5", d->orders_why, (const char *)NULL))
        return;
    json_array_foreach(d->orders, i, o)
    {
        const char *country = dr_sattr(o, "shipping_address_country"), *iso;
        if (!country || !*country)
            continue;
        n++;
        if (mp_country_iso(country, &iso, why, sizeof(why))) {
            dr_set(d, "M5", DR_CONTRADICTED, "order %s: %s", dr_id(o), why);
            return;
        }
        if (!strstr(seen, country) && strlen(seen) + strlen(country) + 16 < sizeof(seen))
            snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s'%s' (%s)",
                     *seen ? ", " : "", country, iso);
    }
    if (n)
        dr_set(d, "M5", DR_CONFIRMED, "%zu orders' countries map to ISO codes: %s", n, seen);
    else
        dr_set(d, "M5", DR_UNKNOWN, "no order with a shipping country read");
}

/* Which of names are members of no element of list's attributes (or of
 * its relationships when rel); into missing. */
static void dr_missing(const json_t *list, const char *const *names, int rel, char *missing,
                       size_t size)
{
    size_t i;
    json_t *x;
    for (const char *const *f = names; *f; f++) {
        int present = 0;
        json_array_foreach(list, i, x) present |=
            json_object_get(json_object_get(x, rel ? "relationships" : "attributes"), *f) != NULL;
        if (!present)
            snprintf(missing + strlen(missing), size - strlen(missing), " %s", *f);
    }
}

/* M6: the line and option fields mosync reads are there. */
static void dr_m6(dr_ctx *d)
{
    static const char *const line_fields[] = {"name",  "sku",         "quantity",
                                              "price", "final_price", NULL};
    static const char *const line_rels[] = {"product", "product-variant", NULL};
    static const char *const option_fields[] = {"option_name", "value_name", "option_id",
                                                "value_id", NULL};
    char missing[256] = "";
    if (dr_needs(d, "M6", d->orders_why, d->lines_why, (const char *)NULL))
        return;
    if (!d->lines) {
        dr_set(d, "M6", DR_UNKNOWN, "no order with lines read");
        return;
    }
    dr_missing(d->lines, line_fields, 0, missing, sizeof(missing));
    dr_missing(d->lines, line_rels, 1, missing, sizeof(missing));
    if (json_array_size(d->options))
        dr_missing(d->options, option_fields, 0, missing, sizeof(missing));
    if (*missing)
        dr_set(d, "M6", DR_CONTRADICTED, "order %s: its lines or options lack:%s", d->lines_order,
               missing);
    else
        dr_set(d, "M6", DR_CONFIRMED,
               "order %s: %zu lines with name, sku, quantity, price, final_price, product, "
               "product-variant; %zu options with option_name, value_name, option_id, value_id%s",
               d->lines_order, json_array_size(d->lines), json_array_size(d->options),
               json_array_size(d->options) ? "" : " (none read: their fields are unchecked)");
}

/* M7: the totals rows and their ot_total. */
static void dr_m7(dr_ctx *d)
{
    static const char *const fields[] = {"class", "title", "value", NULL};
    char missing[128] = "", shown[64];
    size_t i;
    json_t *t;
    const json_t *total = NULL;
    if (dr_needs(d, "M7", d->orders_why, d->lines_why, d->totals_why, (const char *)NULL))
        return;
    if (!json_array_size(d->totals)) {
        dr_set(d, "M7", DR_UNKNOWN, "no order totals read");
        return;
    }
    dr_missing(d->totals, fields, 0, missing, sizeof(missing));
    json_array_foreach(d->totals, i, t)
    {
        const char *cls = dr_sattr(t, "class");
        if (cls && !strcmp(cls, "ot_total"))
            total = dr_attr(t, "value");
    }
    if (*missing)
        dr_set(d, "M7", DR_CONTRADICTED, "order %s: the totals lack:%s", d->lines_order, missing);
    else if (!total)
        dr_set(d, "M7", DR_CONTRADICTED, "order %s: %zu totals rows, none of class ot_total",
               d->lines_order, json_array_size(d->totals));
    else
        dr_set(d, "M7", DR_CONFIRMED, "order %s: %zu totals rows, ot_total = %s", d->lines_order,
               json_array_size(d->totals), dr_show(total, shown, sizeof(shown)));
}

/* The ids of the statuses `wanted` matches (M8), comma-separated into buf;
 * returns how many. */
static int dr_status_ids(dr_ctx *d, const char *wanted, char *buf, size_t size)
{
    size_t i;
    json_t *s;
    int n = 0;
    buf[0] = '\0';
    json_array_foreach(d->statuses, i, s)
    {
        if (!mp_status_matches(dr_id(s), dr_attr(s, "name"), wanted))
            continue;
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s '%s'", n ? ", " : "", dr_id(s),
                 mp_text(dr_attr(s, "name"), d->cfg->mystore_language));
        n++;
    }
    return n;
}

/* M8: each configured status matches exactly one status, and each status
 * MYSTORE_ORDER_STATUSES lists matches at least one (its orders would wait
 * for ever otherwise; matched by the order mapping's own rule). */
static void dr_m8(dr_ctx *d)
{
    char sent[256], cancelled[256], unlisted[512] = "", listed[512] = "";
    int ns = dr_status_ids(d, d->cfg->mystore_status_sent, sent, sizeof(sent));
    int nc = dr_status_ids(d, d->cfg->mystore_status_cancelled, cancelled, sizeof(cancelled));
    size_t i;
    json_t *item;
    json_array_foreach(d->cfg->mystore_order_statuses, i, item)
    {
        const char *v = json_string_value(item);
        char ids[256];
        int n = v ? dr_status_ids(d, v, ids, sizeof(ids)) : 0;
        char *buf = n ? listed : unlisted;
        size_t used = strlen(buf);
        if (used + 1 < sizeof(listed))
            snprintf(buf + used, sizeof(listed) - used, "%s'%s'%s%s", used ? ", " : "", v,
                     n ? " is " : "", n ? ids : "");
    }
    if (!d->ms_up)
        dr_set(d, "M8", DR_UNKNOWN, "Mystore did not answer");
    else if (ns != 1 || nc != 1 || *unlisted)
        dr_set(
            d, "M8", DR_CONTRADICTED,
            "MYSTORE_STATUS_SENT '%s' matches %d statuses%s%s; MYSTORE_STATUS_CANCELLED '%s' "
            "matches %d%s%s (of %zu statuses)%s%s%s",
            d->cfg->mystore_status_sent, ns, ns ? ": " : "", sent, d->cfg->mystore_status_cancelled,
            nc, nc ? ": " : "", cancelled, json_array_size(d->statuses),
            *unlisted ? "; MYSTORE_ORDER_STATUSES lists " : "", unlisted,
            *unlisted ? ", which match no status: orders never reach the warehouse in them" : "");
    else
        dr_set(d, "M8", DR_CONFIRMED, "'%s' is status %s; '%s' is status %s%s%s",
               d->cfg->mystore_status_sent, sent, d->cfg->mystore_status_cancelled, cancelled,
               *listed ? "; MYSTORE_ORDER_STATUSES: " : "", listed);
}

/* M15: statuses whose name holds the configured word but is not it. */
static void dr_m15(dr_ctx *d)
{
    const char *words[] = {d->cfg->mystore_status_sent, d->cfg->mystore_status_cancelled};
    char near[256] = "";
    int whole[2] = {0, 0};
    size_t i;
    json_t *s;
    if (!d->ms_up) {
        dr_set(d, "M15", DR_UNKNOWN, "Mystore did not answer");
        return;
    }
    for (int w = 0; w < 2; w++) {
        json_array_foreach(d->statuses, i, s)
        {
            if (mp_status_matches(dr_id(s), dr_attr(s, "name"), words[w])) {
                whole[w] = 1;
                continue;
            }
            const char *key;
            json_t *text;
            const json_t *name = dr_attr(s, "name");
            json_t *one = json_is_string(name) ? json_pack("{s:O}", "", name) : NULL;
            json_object_foreach(one ? one : (json_t *)name, key, text)
            {
                const char *t = json_string_value(text);
                if (t && dr_holds(t, words[w]) && strlen(near) + strlen(t) + 16 < sizeof(near)) {
                    snprintf(near + strlen(near), sizeof(near) - strlen(near), "%s'%s' (%s)",
                             *near ? ", " : "", t, dr_id(s));
                    break;
                }
            }
            json_decref(one);
        }
    }
    if (*near && (!whole[0] || !whole[1]))
        dr_set(d, "M15", DR_CONTRADICTED,
               "no status is named '%s' or '%s' as a whole, but %s hold the word: the shop's "
               "names differ from the configured ones",
               words[0], words[1], near);
    else if (*near)
        dr_set(d, "M15", DR_CONFIRMED, "other statuses that hold the word are not counted: %s",
               near);
    else
        dr_set(d, "M15", DR_CONFIRMED, "no status merely holds '%s' or '%s' in a longer name",
               words[0], words[1]);
}

/* M9: a sent order's newest history row is its status; tracking_number is
 * an order attribute. */
static void dr_m9(dr_ctx *d)
{
    char why[512], path[256];
    size_t i, j, tracked = 0;
    json_t *o, *doc, *row;
    long status;
    int read = 0;

    if (dr_needs(d, "M9", d->orders_why, (const char *)NULL))
        return;
    json_array_foreach(d->orders, i, o) tracked += dr_attr(o, "tracking_number") != NULL;
    if (json_array_size(d->orders) && !tracked) {
        dr_set(d, "M9", DR_CONTRADICTED,
               "none of %zu orders has a tracking_number attribute: the tracking number has "
               "nowhere to go",
               json_array_size(d->orders));
        return;
    }
    json_array_foreach(d->orders, i, o)
    {
        const char *sid = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(o, "relationships"), "order_status"),
                            "data"),
            "id"));
        /* Orders with the sent status: the one M9 sets through a history row. */
        if (read >= 2 || !sid || !mp_is_id(dr_id(o)) ||
            !dr_status_is(d, sid, d->cfg->mystore_status_sent))
            continue;
        snprintf(path, sizeof(path), "orders/%s/order-status-history?page%%5Bsize%%5D=50",
                 dr_id(o));
        if (dr_ms_get(d, path, &doc, &status, why, sizeof(why))) {
            dr_unread(d, "M9", "%s", why);
            return;
        }
        const json_t *newest = NULL;
        json_array_foreach(dr_data(doc), j, row)
        {
            const char *at = dr_sattr(row, "created_at");
            const char *best = newest ? dr_sattr(newest, "created_at") : NULL;
            if (!newest || (at && best && strcmp(at, best) > 0) ||
                (at && best && !strcmp(at, best) &&
                 strtol(dr_id(row) ? dr_id(row) : "0", NULL, 10) >
                     strtol(dr_id(newest) ? dr_id(newest) : "0", NULL, 10)))
                newest = row;
        }
        const char *hid = json_string_value(json_object_get(
            json_object_get(
                json_object_get(json_object_get(newest, "relationships"), "order-status"), "data"),
            "id"));
        if (newest) {
            read++;
            if (!hid || strcmp(hid, sid)) {
                dr_set(d, "M9", DR_CONTRADICTED,
                       "order %s has status %s but its newest history row (%s) says %s: a "
                       "history row does not set the status",
                       dr_id(o), sid, dr_sattr(newest, "created_at"), hid ? hid : "nothing");
                json_decref(doc);
                return;
            }
        }
        json_decref(doc);
    }
    if (read)
        dr_set(d, "M9", DR_CONFIRMED,
               "%d sent orders: the newest history row names the order's status; %zu of %zu "
               "orders carry tracking_number",
               read, tracked, json_array_size(d->orders));
    else
        dr_set(d, "M9", DR_UNKNOWN, "no sent order with history rows among the %zu read",
               json_array_size(d->orders));
}

/* M10: quantities on variants and on products without variants. */
static void dr_m10(dr_ctx *d)
{
    const char *pid;
    json_t *vs, *v, *p;
    size_t i, with = 0, without = 0, nv = 0, qv = 0, qp = 0;
    if (dr_needs(d, "M10", d->products_why, d->variants_why, (const char *)NULL))
        return;
    json_object_foreach(d->variants, pid, vs)
    {
        if (json_array_size(vs)) {
            with++;
            json_array_foreach(vs, i, v)
            {
                nv++;
                qv += dr_attr(v, "quantity") != NULL;
            }
            continue;
        }
        without++;
        json_array_foreach(d->products, i, p) if (dr_id(p) && !strcmp(dr_id(p), pid)) qp +=
            dr_attr(p, "quantity") != NULL;
    }
    if (!with && !without)
        dr_set(d, "M10", DR_UNKNOWN, "no product's variants read");
    else if (qv < nv || qp < without)
        dr_set(d, "M10", DR_CONTRADICTED,
               "quantity is missing on %zu of %zu variants and %zu of %zu products without "
               "variants: stock cannot be compared or kept",
               nv - qv, nv, without - qp, without);
    else
        dr_set(d, "M10", DR_CONFIRMED,
               "%zu products with %zu variants, each variant with a quantity; %zu products "
               "without variants, each with a quantity",
               with, nv, without);
}

/* What the include= answer of the order with lines holds against what its
 * related URLs answered (the lines, the chosen line's options, the totals):
 * DR_INC_SAME, _DIFFERS (other data), _INCOMPLETE (a related resource named
 * but not included, or no linkage), _IGNORED (no "included": a shop without
 * include=), _REFUSED (HTTP 400), _UNREAD (no answer).  *what says it in a
 * few words. */
enum {
    DR_INC_SAME,
    DR_INC_DIFFERS,
    DR_INC_INCOMPLETE,
    DR_INC_IGNORED,
    DR_INC_REFUSED,
    DR_INC_UNREAD
};

static int dr_include(dr_ctx *d, char *what, size_t what_size)
{
    if (!d->include_answered) {
        snprintf(what, what_size, "include= did not answer (%s)", d->include_why);
        return d->include_status == 400 ? DR_INC_REFUSED : DR_INC_UNREAD;
    }
    json_t *order = json_deep_copy(d->include_data), *index = json_object();
    json_t *links = pm_take_linkage(order, "order-products");
    json_t *tlinks = pm_take_linkage(order, "order-totals");
    int r = DR_INC_SAME;
    size_t i, nlines = 0;
    json_t *x;
    if (!d->included && !links && !tlinks) {
        snprintf(what, what_size, "include= is ignored (no \"included\")");
        r = DR_INC_IGNORED;
        goto out;
    }
    json_array_foreach(d->included, i, x)
    {
        const char *type = json_string_value(json_object_get(x, "type"));
        char key[256];
        if (type && dr_id(x)) {
            snprintf(key, sizeof(key), "%s/%s", type, dr_id(x));
            json_object_set(index, key, x);
        }
    }
    if (!json_is_array(links) || !json_is_array(tlinks)) {
        r = DR_INC_INCOMPLETE;
        snprintf(what, what_size, "include= answers no linkage of the order's %s",
                 json_is_array(links) ? "totals" : "lines");
        goto out;
    }
    /* The lines, with the options of the one line whose options were read. */
    const json_t *chosen = dr_variant_line(d->lines);
    if (!chosen)
        chosen = json_array_get(d->lines, 0);
    json_array_foreach(links, i, x)
    {
        json_t *line = pm_included_get(index, x);
        if (!line) {
            r = DR_INC_INCOMPLETE;
            break;
        }
        line = json_deep_copy(line);
        json_t *olinks = pm_take_linkage(line, "order-product-attributes");
        json_t *want = NULL;
        json_t *l;
        size_t j;
        json_array_foreach(d->lines, j, l)
        {
            if (dr_same_id(l, line))
                want = l;
        }
        if (!want || !json_equal(want, line))
            r = r == DR_INC_SAME ? DR_INC_DIFFERS : r;
        if (chosen && dr_same_id(chosen, line) && d->options) {
            json_t *opts = json_array(), *o;
            json_array_foreach(olinks, j, o)
            {
                json_t *res = pm_included_get(index, o);
                if (!res)
                    r = DR_INC_INCOMPLETE;
                else
                    json_array_append(opts, res);
            }
            if (!json_is_array(olinks))
                r = DR_INC_INCOMPLETE;
            else if (r == DR_INC_SAME && !json_equal(opts, d->options))
                r = DR_INC_DIFFERS;
            json_decref(opts);
        }
        json_decref(olinks);
        json_decref(line);
        nlines++;
    }
    if (r == DR_INC_SAME && nlines != json_array_size(d->lines))
        r = DR_INC_DIFFERS;
    json_t *totals = json_array();
    json_array_foreach(tlinks, i, x)
    {
        json_t *res = pm_included_get(index, x);
        if (!res)
            r = DR_INC_INCOMPLETE;
        else
            json_array_append(totals, res);
    }
    if (r == DR_INC_SAME && d->totals && !json_equal(totals, d->totals))
        r = DR_INC_DIFFERS;
    json_decref(totals);
    if (r == DR_INC_SAME)
        snprintf(what, what_size,
                 "include=%s works and answers the same lines, options and totals as their URLs",
                 PM_ORDERS_INCLUDE);
    else if (r == DR_INC_INCOMPLETE)
        snprintf(what, what_size,
                 "include= names related resources it does not include (an incomplete set)");
    else
        snprintf(what, what_size, "include= works but answers other data than the related URLs");
out:
    json_decref(links);
    json_decref(tlinks);
    json_decref(order);
    json_decref(index);
    return r;
}

/* M11: the related URLs answered; what include= does, as evidence. */
static void dr_m11(dr_ctx *d)
{
    char inc[256];
    dr_include(d, inc, sizeof(inc));
    if (*d->related_why)
        dr_set(d, "M11", DR_CONTRADICTED, "%s; %s", d->related_why, inc);
    else if (dr_needs(d, "M11", d->orders_why, d->products_why, d->variants_why, d->lines_why,
                      d->totals_why, (const char *)NULL)) {
        /* nothing is judged from what was not read */
    } else if (!d->lines && !json_object_size(d->variants))
        dr_set(d, "M11", DR_UNKNOWN, "no related resource read; %s", inc);
    else
        dr_set(d, "M11", DR_CONFIRMED,
               "order-products, order-product-attributes, order-totals and product-variants "
               "answered by their URLs; %s",
               inc);
}

/* M11i: whether the order poller can take an order's related resources from
 * include= (docs/api-model.md M11).  Supported with the same data:
 * confirmed.  Not supported (ignored, or HTTP 400) or an incomplete set:
 * unknown, saying the poller reads the related URLs then (M11's fallback,
 * nothing wrong).  Other data than the URLs: contradicted.  The finding is
 * cached for the pollers (pm_include_save): yes only when confirmed. */
static void dr_m11i(dr_ctx *d)
{
    char inc[512], errstr[256];
    if (dr_needs(d, "M11i", d->orders_why, d->lines_why, d->totals_why, (const char *)NULL))
        return;
    if (!d->lines) {
        dr_set(d, "M11i", DR_UNKNOWN, "no order with lines read: include= not tried");
        return;
    }
    int r = dr_include(d, inc, sizeof(inc));
    if (r == DR_INC_UNREAD) {
        dr_unread(d, "M11i", "%s", d->include_why);
        return;
    }
    if (r == DR_INC_SAME)
        dr_set(d, "M11i", DR_CONFIRMED,
               "supported: %s; the order poller takes them from its list pages", inc);
    else if (r == DR_INC_DIFFERS)
        dr_set(d, "M11i", DR_CONTRADICTED,
               "%s (order %s); the order poller reads the related URLs instead", inc,
               d->lines_order);
    else
        dr_set(d, "M11i", DR_UNKNOWN,
               "not supported: %s%s; the order poller reads each order's related URLs (M11)",
               r == DR_INC_REFUSED ? "include= refused, " : "", inc);
    if (d->rs && pm_include_save(d->rs, "mystore-orders", r == DR_INC_SAME, errstr, sizeof(errstr)))
        lg_warn(COMPONENT, d->cfg->tenant, "cannot cache whether include= works: %s", errstr);
}

/* The header probe's state: the headers it keeps and a body cap. */
typedef struct dr_headers {
    char limit[32], remaining[32], retry_after[32];
    size_t body;
} dr_headers;

static size_t dr_header_cb(char *buf, size_t size, size_t n, void *ctx)
{
    dr_headers *h = ctx;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off;
    } keep[] = {{"x-ratelimit-limit:", offsetof(dr_headers, limit)},
                {"x-ratelimit-remaining:", offsetof(dr_headers, remaining)},
                {"retry-after:", offsetof(dr_headers, retry_after)}};
    for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
        size_t nl = strlen(keep[k].name);
        if (len > nl && !strncasecmp(buf, keep[k].name, nl)) {
            char *dst = (char *)h + keep[k].off;
            size_t vl = len - nl;
            const char *v = buf + nl;
            while (vl && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            snprintf(dst, 32, "%.*s", (int)(vl < 31 ? vl : 31), v);
        }
    }
    return len;
}

static size_t dr_body_cb(char *buf, size_t size, size_t n, void *ctx)
{
    dr_headers *h = ctx;
    (void)buf;
    h->body += size * n;
    return h->body > DR_HEADER_MAX ? 0 : size * n; /* enough: only the headers matter */
}

/* One GET of order-status with its rate-limit headers.  The shared client
 * keeps only Date and Retry-After, so this one request is made here, with
 * the same token, from the same budget. */
static mo_err dr_header_probe(dr_ctx *d, dr_headers *h, long *status, char *why, size_t why_size)
{
    char url[2048], auth[4200], ua[200];
    size_t n = strlen(d->cfg->mystore_url);
    struct curl_slist *hl = NULL;
    mo_err err = rs_budget_wait(d->rs, "mystore", d->cfg->mystore_rate_per_min, why, why_size);
    if (err)
        return err;
    snprintf(url, sizeof(url), "%s%sshops/%s/order-status?page%%5Bsize%%5D=1", d->cfg->mystore_url,
             n && d->cfg->mystore_url[n - 1] == '/' ? "" : "/", d->cfg->mystore_shop);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", d->cfg->mystore_token);
    snprintf(ua, sizeof(ua), "User-Agent: %s", hc_user_agent());
    CURL *c = curl_easy_init();
    hl = curl_slist_append(hl, "Accept: application/vnd.api+json");
    hl = curl_slist_append(hl, auth);
    hl = curl_slist_append(hl, ua);
    if (!c || !hl) {
        curl_slist_free_all(hl);
        if (c)
            curl_easy_cleanup(c);
        return mo_seterr(MO_ERR_NOMEM, why, why_size, "out of memory");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dr_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dr_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->cfg->http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    d->raw_requests++;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && h->body > DR_HEADER_MAX))
        err = mo_seterr(MO_ERR_TRANSIENT, why, why_size, "no answer: %s", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    return err;
}

/* M12: the server's stated limit against MYSTORE_RATE_LIMIT_PER_MIN. */
static void dr_m12(dr_ctx *d)
{
    char why[512];
    dr_headers h;
    memset(&h, 0, sizeof(h));
    long status = 0;
    if (dr_header_probe(d, &h, &status, why, sizeof(why))) {
        dr_unread(d, "M12", "%s", why);
        return;
    }
    long limit = *h.limit ? strtol(h.limit, NULL, 10) : 0;
    if (limit <= 0 && status >= 400)
        dr_unread(d, "M12", "GET order-status (for its X-RateLimit-Limit): HTTP %ld", status);
    else if (limit <= 0)
        dr_set(d, "M12", DR_UNKNOWN,
               "the answer (HTTP %ld) carries no X-RateLimit-Limit; MYSTORE_RATE_LIMIT_PER_MIN is "
               "%d, and a 429 with Retry-After is honoured when it comes",
               status, d->cfg->mystore_rate_per_min);
    else if (limit < d->cfg->mystore_rate_per_min)
        dr_set(d, "M12", DR_CONTRADICTED,
               "X-RateLimit-Limit: %ld, but MYSTORE_RATE_LIMIT_PER_MIN is %d: the budget lets "
               "mosync send more than the server takes (429s follow)",
               limit, d->cfg->mystore_rate_per_min);
    else
        dr_set(d, "M12", DR_CONFIRMED,
               "X-RateLimit-Limit: %ld (remaining %s), MYSTORE_RATE_LIMIT_PER_MIN is %d", limit,
               *h.remaining ? h.remaining : "?", d->cfg->mystore_rate_per_min);
}

/* M13: ask for a page of 100. */
static void dr_m13(dr_ctx *d)
{
    char why[512];
    json_t *doc;
    long status;
    if (dr_ms_get(d, "orders?page%5Bsize%5D=100&page%5Bnumber%5D=1", &doc, &status, why,
                  sizeof(why))) {
        dr_unread(d, "M13", "%s", why);
        return;
    }
    size_t n = json_array_size(dr_data(doc));
    long self = dr_link_size(doc, "self");
    if (n > 50)
        dr_set(d, "M13", DR_CONTRADICTED,
               "page[size]=100 answered %zu orders: pages hold more than 50 (mosync's 50 is "
               "merely small)",
               n);
    else if (self == 50 || (n == 50 && dr_has_next(doc)))
        dr_set(d, "M13", DR_CONFIRMED, "page[size]=100 answered %zu orders%s", n,
               self == 50 ? " and links with page[size]=50" : " and a next page");
    else if (self > 50)
        dr_set(d, "M13", DR_CONTRADICTED,
               "page[size]=100 answered links with page[size]=%ld: pages hold more than 50", self);
    else
        dr_set(d, "M13", DR_UNKNOWN, "only %zu orders and no page size in the links", n);
    json_decref(doc);
}

/* M14: the updated_at filter at a time between the oldest and the newest
 * order read returns exactly the orders at or after it. */
static void dr_m14(dr_ctx *d)
{
    char why[512], query[512], path[768];
    json_t *times = json_array(), *doc, *o;
    size_t i, n;
    long status;

    if (dr_needs(d, "M14", d->orders_why, (const char *)NULL)) {
        json_decref(times);
        return;
    }
    json_array_foreach(d->orders, i, o) if (dr_sattr(o, "updated_at"))
        json_array_append_new(times, json_string(dr_sattr(o, "updated_at")));
    n = json_array_size(times);
    /* About the median time, with some orders older: the filter must leave
     * some out to show that it filters. */
    const char *at = NULL;
    size_t best = 0;
    for (i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(times, i));
        size_t older = 0;
        for (size_t j = 0; j < n; j++)
            older += strcmp(json_string_value(json_array_get(times, j)), t) < 0;
        if (older > 0 && older <= n / 2 && older > best) {
            best = older;
            at = t;
        }
    }
    if (!at || ms_filter_updated_since(at, query, sizeof(query))) {
        dr_set(d, "M14", DR_UNKNOWN, "need orders with at least two different updated_at times");
        json_decref(times);
        return;
    }
    size_t expect = 0;
    for (i = 0; i < n; i++)
        expect += strcmp(json_string_value(json_array_get(times, i)), at) >= 0;
    snprintf(path, sizeof(path), "orders?%s&page%%5Bsize%%5D=50", query);
    if (dr_ms_get(d, path, &doc, &status, why, sizeof(why))) {
        /* A 400 refuses the filter; anything else could not tell. */
        if (status == 400)
            dr_set(d, "M14", DR_CONTRADICTED, "the updated_at filter was refused: %s", why);
        else
            dr_unread(d, "M14", "%s", why);
        json_decref(times);
        return;
    }
    size_t got = json_array_size(dr_data(doc)), older = 0;
    const char *example = NULL;
    json_array_foreach(dr_data(doc), i, o)
    {
        const char *t = dr_sattr(o, "updated_at");
        if (t && strcmp(t, at) < 0) {
            older++;
            example = dr_id(o);
        }
    }
    if (older)
        dr_set(d, "M14", DR_CONTRADICTED,
               "asked for updated_at >= %s, got %zu orders of which %zu are older (e.g. %s): the "
               "filter is ignored, so the first run reads everything, not "
               "MYSTORE_INITIAL_LOOKBACK_H=%d h",
               at, got, older, example ? example : "?", d->cfg->mystore_lookback_h);
    else if (!d->orders_more && got != expect)
        dr_set(d, "M14", DR_CONTRADICTED,
               "asked for updated_at >= %s: %zu orders, but %zu of those read are that recent", at,
               got, expect);
    else
        dr_set(d, "M14", DR_CONFIRMED,
               "updated_at >= %s answered %zu orders, none older%s; the first run reads "
               "MYSTORE_INITIAL_LOOKBACK_H=%d h back",
               at, got, d->orders_more ? "" : ", exactly those read", d->cfg->mystore_lookback_h);
    json_decref(doc);
    json_decref(times);
}

/* M16 and M17: a product's and a variant's SKU found by the filter. */
static void dr_sku(dr_ctx *d, const char *id, const char *list, const char *sku,
                   const char *want_id)
{
    char why[512], query[1024], path[1280];
    json_t *doc, *x;
    long status;
    size_t i, other = 0, match = 0;
    if (ms_filter_sku(sku, query, sizeof(query))) {
        dr_set(d, id, DR_UNKNOWN, "SKU '%.40s' too long to ask for", sku);
        return;
    }
    snprintf(path, sizeof(path), "%s?%s&page%%5Bsize%%5D=50", list, query);
    if (dr_ms_get(d, path, &doc, &status, why, sizeof(why))) {
        /* A 400 refuses the filter; anything else could not tell. */
        if (status == 400)
            dr_set(d, id, DR_CONTRADICTED, "GET %s by SKU '%s': %s", list, sku, why);
        else
            dr_unread(d, id, "%s", why);
        return;
    }
    json_array_foreach(dr_data(doc), i, x)
    {
        const char *s = dr_sattr(x, "sku");
        if (s && !strcmp(s, sku) && dr_id(x) && !strcmp(dr_id(x), want_id))
            match++;
        else
            other++;
    }
    int product_named = 1;
    if (!strcmp(list, "product-variants"))
        json_array_foreach(dr_data(doc), i, x) product_named &=
            json_string_value(json_object_get(
                json_object_get(json_object_get(json_object_get(x, "relationships"), "product"),
                                "data"),
                "id")) != NULL;
    if (!match)
        dr_set(d, id, DR_CONTRADICTED, "%s by SKU '%s' did not answer %s (%zu others)", list, sku,
               want_id, other);
    else if (other)
        dr_set(d, id, DR_CONTRADICTED,
               "%s by SKU '%s' answered %zu items with other SKUs too: the filter is ignored, so "
               "a look-up in a big shop finds nothing",
               list, sku, other);
    else if (!product_named)
        dr_set(d, id, DR_CONTRADICTED, "variant %s found by SKU names no product", want_id);
    else
        dr_set(d, id, DR_CONFIRMED, "%s by SKU '%s' answered exactly %s", list, sku, want_id);
    json_decref(doc);
}

static void dr_m16_m17(dr_ctx *d)
{
    size_t i, j;
    json_t *p, *v;
    const char *pid;
    json_t *vs;
    const char *psku = NULL, *pwant = NULL, *vsku = NULL, *vwant = NULL;
    int m16 = !dr_needs(d, "M16", d->products_why, (const char *)NULL);
    int m17 = !dr_needs(d, "M17", d->products_why, d->variants_why, (const char *)NULL);
    json_array_foreach(d->products, i, p) if (!psku && dr_sattr(p, "sku") && *dr_sattr(p, "sku"))
    {
        psku = dr_sattr(p, "sku");
        pwant = dr_id(p);
    }
    json_object_foreach(d->variants, pid, vs) json_array_foreach(
        vs, j, v) if (!vsku && dr_sattr(v, "sku") && *dr_sattr(v, "sku") && dr_id(v))
    {
        vsku = dr_sattr(v, "sku");
        vwant = dr_id(v);
    }
    if (m16 && psku && pwant)
        dr_sku(d, "M16", "products", psku, pwant);
    else
        dr_set(d, "M16", DR_UNKNOWN, "no product with a SKU read");
    if (m17 && vsku)
        dr_sku(d, "M17", "product-variants", vsku, vwant);
    else
        dr_set(d, "M17", DR_UNKNOWN, "no variant with a SKU read");
}

/* ---- Ongoing probes ------------------------------------------------------------ */

/* GET {path}?goodsOwnerId=..&{query} on Ongoing: a list answer into *items
 * (new reference), as og_list, with the HTTP status (0: no answer) that
 * og_list does not tell; why masked. */
static mo_err dr_og_list(dr_ctx *d, const char *path, const char *query, json_t **items,
                         long *status, char *why, size_t why_size)
{
    char rel[1024];
    snprintf(rel, sizeof(rel), "%s?goodsOwnerId=%ld%s%s", path, d->cfg->ongoing_goods_owner,
             *query ? "&" : "", query);
    *items = NULL;
    mo_err err = og_get(d->og, rel, items, status, why, why_size);
    if (!err && !json_is_array(*items))
        err = mo_seterr(MO_ERR_TRANSIENT, why, why_size,
                        "GET %s: the answer (HTTP %ld) is not a JSON array", path, *status);
    if (err) {
        json_decref(*items);
        *items = NULL;
        lg_mask_secrets(why, why_size);
    }
    return err;
}

static void dr_read_ongoing(dr_ctx *d)
{
    char why[512], query[128];
    json_t *doc;
    if (og_get(d->og, "orders/statuses", &doc, &d->og_status, why, sizeof(why))) {
        lg_mask_secrets(why, sizeof(why));
        snprintf(d->og_why, sizeof(d->og_why), "GET orders/statuses: %s", why);
        return;
    }
    d->og_statuses = json_incref(json_object_get(doc, "orderStatuses"));
    json_decref(doc);
    if (!json_is_array(d->og_statuses)) {
        snprintf(d->og_why, sizeof(d->og_why),
                 "GET orders/statuses: the answer (HTTP %ld) has no orderStatuses list",
                 d->og_status);
        return;
    }
    snprintf(query, sizeof(query), "maxArticlesToGet=%d", DR_OG_ARTICLES);
    if (dr_og_list(d, "articles", query, &d->og_articles, &d->og_status, why, sizeof(why))) {
        snprintf(d->og_why, sizeof(d->og_why), "%s", why);
        return;
    }
    d->og_up = 1;
    snprintf(query, sizeof(query), "orderIdFrom=1&maxOrdersToGet=%d", DR_OG_ORDERS);
    if (dr_og_list(d, "orders", query, &d->og_orders, &d->og_orders_status, why, sizeof(why)))
        snprintf(d->og_orders_why, sizeof(d->og_orders_why), "%s", why);
}

/* A2: statuses and articles answered for this goods owner. */
static void dr_a2(dr_ctx *d)
{
    size_t i, other = 0;
    json_t *a;
    json_array_foreach(d->og_articles, i, a)
    {
        json_t *id = json_object_get(json_object_get(a, "goodsOwner"), "id");
        other += json_is_integer(id) && json_integer_value(id) != d->cfg->ongoing_goods_owner;
    }
    if (dr_access(d, "A2", d->og_why, d->og_status, d->og_orders_why, d->og_orders_status,
                  (const char *)NULL))
        return;
    if (other)
        dr_set(d, "A2", DR_CONTRADICTED, "%zu articles answered belong to another goods owner",
               other);
    else
        dr_set(d, "A2", DR_CONFIRMED,
               "goods owner %ld answered: %zu order statuses, %zu articles, %zu orders read",
               d->cfg->ongoing_goods_owner, json_array_size(d->og_statuses),
               json_array_size(d->og_articles), json_array_size(d->og_orders));
}

static const char *dr_og_status_text(dr_ctx *d, long number)
{
    size_t i;
    json_t *s;
    json_array_foreach(d->og_statuses, i,
                       s) if (json_integer_value(json_object_get(s, "number")) ==
                              number) return json_string_value(json_object_get(s, "text"));
    return NULL;
}

/* O1: every configured editable status exists. */
static void dr_o1(dr_ctx *d)
{
    char have[256] = "", missing[128] = "";
    for (int i = 0; i < d->cfg->n_ongoing_editable; i++) {
        int st = d->cfg->ongoing_editable[i];
        const char *text = dr_og_status_text(d, st);
        if (text)
            snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%d '%s'",
                     *have ? ", " : "", st, text);
        else
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %d", st);
    }
    if (!d->og_statuses)
        dr_set(d, "O1", DR_UNKNOWN, "no order statuses read");
    else if (*missing)
        dr_set(d, "O1", DR_CONTRADICTED,
               "ONGOING_EDITABLE_STATUSES holds statuses this warehouse does not have:%s", missing);
    else
        dr_set(d, "O1", DR_CONFIRMED,
               "%s are statuses of this warehouse (a refused update is then checked against "
               "them)",
               have);
}

/* O2: Mystore cost against Ongoing stockValuationPrice, same SKU. */
static void dr_o2(dr_ctx *d)
{
    size_t i, n = 0, same = 0;
    json_t *a;
    char example[256] = "";
    if (dr_needs(d, "O2", d->products_why, d->variants_why, (const char *)NULL))
        return;
    json_array_foreach(d->og_articles, i, a)
    {
        const char *no = json_string_value(json_object_get(a, "articleNumber"));
        const json_t *w = NULL, *cost = NULL, *svp = json_object_get(a, "stockValuationPrice");
        double c;
        if (!no || !json_is_number(svp) || !dr_mystore_article(d, no, &w, &cost) ||
            mp_number(cost, &c))
            continue;
        n++;
        if (fabs(c - json_number_value(svp)) < 0.005)
            same++;
        else if (!*example)
            snprintf(example, sizeof(example), "%s: cost %g, stockValuationPrice %g", no, c,
                     json_number_value(svp));
    }
    if (!n)
        dr_set(d, "O2", DR_UNKNOWN,
               "no SKU with a Mystore cost and an Ongoing stockValuationPrice among those read");
    else if (same * 2 > n)
        dr_set(d, "O2", DR_CONFIRMED,
               "%zu of %zu SKUs: stockValuationPrice is the Mystore cost%s%s", same, n,
               *example ? "; differs: " : "", example);
    else
        dr_set(d, "O2", DR_CONTRADICTED,
               "%zu of %zu SKUs hold a stockValuationPrice other than the Mystore cost (%s)",
               n - same, n, example);
}

/* O4: the article look-up by number, and the order lines' articles. */
static void dr_o4(dr_ctx *d)
{
    char why[512], made_up[64];
    size_t i, j, lines = 0;
    json_t *o, *l, *a;
    const char *known =
        json_string_value(json_object_get(json_array_get(d->og_articles, 0), "articleNumber"));
    if (dr_needs(d, "O4", d->og_orders_why, (const char *)NULL))
        return;
    json_array_foreach(d->og_orders, i, o)
        json_array_foreach(json_object_get(o, "orderLines"), j, l)
    {
        const json_t *art = json_object_get(l, "article");
        lines++;
        if (json_is_null(json_object_get(art, "articleSystemId"))) {
            dr_set(
                d, "O4", DR_CONTRADICTED,
                "order %s line %s names article %s, which the registry does not have: "
                "Ongoing took an unknown article",
                json_string_value(json_object_get(json_object_get(o, "orderInfo"), "orderNumber")),
                json_string_value(json_object_get(l, "rowNumber")),
                json_string_value(json_object_get(art, "articleNumber")));
            return;
        }
    }
    if (!known) {
        dr_set(d, "O4", DR_UNKNOWN, "no article in Ongoing to look up");
        return;
    }
    /* A number no article has: the look-up must answer nothing. */
    snprintf(made_up, sizeof(made_up), "mosync-doctor-%ld", (long)time(NULL));
    for (int k = 0; k < 2; k++) {
        char query[768], esc[512];
        const char *no = k ? made_up : known;
        if (hc_escape(no, esc, sizeof(esc)))
            continue;
        snprintf(query, sizeof(query), "articleNumber=%s", esc);
        json_t *items = NULL;
        long status;
        if (dr_og_list(d, "articles", query, &items, &status, why, sizeof(why))) {
            dr_unread(d, "O4", "%s", why);
            return;
        }
        size_t hits = 0;
        json_array_foreach(items, j, a)
        {
            const char *n = json_string_value(json_object_get(a, "articleNumber"));
            hits += n && !strcmp(n, no);
        }
        size_t total = json_array_size(items);
        json_decref(items);
        if (k == 0 && hits != 1) {
            dr_set(d, "O4", DR_CONTRADICTED, "GET articles?articleNumber=%s did not answer it",
                   known);
            return;
        }
        if (total != hits) {
            dr_set(d, "O4", DR_CONTRADICTED,
                   "GET articles?articleNumber=%s answered %zu other articles: the filter is "
                   "ignored, every O4 look-up reads the whole registry",
                   no, total - hits);
            return;
        }
    }
    dr_set(d, "O4", DR_CONFIRMED,
           "the article look-up by number answers exactly (one hit, none for a made-up "
           "number); %zu order lines read all name registered articles",
           lines);
}

/* Does an Ongoing status text read as "sent"? */
static int dr_sent_text(const char *t)
{
    static const char *const words[] = {"sent",   "send",      "shipped",  "skickad",
                                        "levert", "delivered", "utlevert", NULL};
    for (const char *const *w = words; *w && t; w++)
        if (dr_holds(t, *w))
            return 1;
    return 0;
}

/* O5: no status below 450 reads as sent; shipped orders read agree. */
static void dr_o5(dr_ctx *d)
{
    char why[512], query[256], from[40];
    size_t i, shipped = 0, odd = 0;
    json_t *s, *items = NULL, *o;
    json_array_foreach(d->og_statuses, i, s)
    {
        long num = (long)json_integer_value(json_object_get(s, "number"));
        const char *text = json_string_value(json_object_get(s, "text"));
        if (num < MP_ONGOING_STATUS_SENT && dr_sent_text(text)) {
            dr_set(d, "O5", DR_CONTRADICTED,
                   "status %ld '%s' reads as sent but is below 450: such an order without "
                   "shippedTime is not seen as shipped",
                   num, text);
            return;
        }
    }
    if (!d->og_statuses) {
        dr_set(d, "O5", DR_UNKNOWN, "no order statuses read");
        return;
    }
    long long now = og_server_now(d->og);
    int hours = d->cfg->ongoing_lookback_h > 24 ? d->cfg->ongoing_lookback_h : 24;
    og_time((now ? now : (long long)time(NULL)) - hours * 3600LL, from, sizeof(from));
    snprintf(query, sizeof(query), "shippedTimeFrom=%s&maxOrdersToGet=100", from);
    long status;
    if (dr_og_list(d, "orders", query, &items, &status, why, sizeof(why))) {
        dr_unread(d, "O5", "%s", why);
        return;
    }
    json_array_foreach(items, i, o)
    {
        const json_t *info = json_object_get(o, "orderInfo");
        long st = (long)json_integer_value(
            json_object_get(json_object_get(info, "orderStatus"), "number"));
        shipped++;
        odd += json_is_null(json_object_get(info, "shippedTime")) || st < MP_ONGOING_STATUS_SENT ||
               st >= MP_ONGOING_STATUS_CANCELLED;
    }
    json_decref(items);
    dr_set(
        d, "O5", DR_CONFIRMED,
        "no status below 450 reads as sent (%zu statuses); %zu orders shipped in the last %d h%s",
        json_array_size(d->og_statuses), shipped, hours,
        !shipped ? ""
        : odd    ? ", some outside 450-999 or without shippedTime (shippedTime counts)"
                 : ", each with shippedTime and a status from 450 to 999");
}

/* O6: stockInfoChangedFrom 23 hours back answers, 25 hours back is refused. */
static void dr_o6(dr_ctx *d)
{
    char why[2][512], query[256], from[40];
    int ok[2];
    long long now = og_server_now(d->og);
    if (!now)
        now = (long long)time(NULL);
    for (int k = 0; k < 2; k++) {
        json_t *items = NULL;
        og_time(now - (k ? 25 : 23) * 3600LL, from, sizeof(from));
        snprintf(query, sizeof(query), "stockInfoChangedFrom=%s&maxArticlesToGet=1", from);
        long status;
        why[k][0] = '\0';
        mo_err err = dr_og_list(d, "articles", query, &items, &status, why[k], sizeof(why[k]));
        json_decref(items);
        /* Only a 400 refuses the window; anything else could not tell. */
        if (err != MO_OK && status != 400) {
            dr_unread(d, "O6", "%s", why[k]);
            return;
        }
        ok[k] = err == MO_OK;
    }
    if (!ok[0])
        dr_set(d, "O6", DR_CONTRADICTED,
               "stockInfoChangedFrom 23 h back was refused (%s): the stock poller's reads of "
               "changes fail",
               why[0]);
    else if (!ok[1])
        dr_set(d, "O6", DR_CONFIRMED,
               "stockInfoChangedFrom 23 h back answers, 25 h back is refused: the stock poller "
               "walks all articles when its cursor is older than 24 h");
    else
        dr_set(d, "O6", DR_CONFIRMED,
               "stockInfoChangedFrom 23 h and 25 h back both answer: no 24-hour limit here (a "
               "full walk after 24 h is merely not needed)");
}

/* ---- the report -------------------------------------------------------------- */

/* Prints the report; returns the exit status (see the top of the file). */
static int dr_report(dr_ctx *d, int json_out)
{
    int count[3] = {0, 0, 0}, unread = 0;
    for (size_t i = 0; i < DR_NCHECKS; i++) {
        dr_check *c = &d->checks[i];
        if (!c->set) {
            /* Left out because the API it probes did not answer at all. */
            c->status = DR_UNKNOWN;
            c->unread = 1;
            snprintf(c->evidence, sizeof(c->evidence), "could not read: %s%s%s",
                     d->ms_up ? "" : d->ms_why, !d->ms_up && !d->og_up ? "; " : "",
                     d->og_up ? "" : d->og_why);
            lg_mask_secrets(c->evidence, sizeof(c->evidence));
        }
        count[c->status]++;
        unread += c->unread;
    }
    if (json_out) {
        json_t *checks = json_array();
        for (size_t i = 0; i < DR_NCHECKS; i++)
            json_array_append_new(
                checks, json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", dr_model[i].id, "assumption",
                                  dr_model[i].assumption, "status",
                                  dr_status_names[d->checks[i].status], "could_not_read",
                                  d->checks[i].unread, "evidence", d->checks[i].evidence));
        json_t *out = json_pack(
            "{s:s, s:{s:s, s:s, s:I}, s:{s:s, s:I, s:I}, s:o, s:i, s:i, s:i, s:i}", "tenant",
            d->cfg->tenant, "mystore", "url", d->cfg->mystore_url, "shop", d->cfg->mystore_shop,
            "requests", (json_int_t)(ms_requests(d->ms) + d->raw_requests), "ongoing", "url",
            d->cfg->ongoing_url, "goods_owner", (json_int_t)d->cfg->ongoing_goods_owner, "requests",
            (json_int_t)og_requests(d->og), "checks", checks, "confirmed", count[DR_CONFIRMED],
            "contradicted", count[DR_CONTRADICTED], "unknown", count[DR_UNKNOWN], "could_not_read",
            unread);
        char *s = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(out);
    } else {
        printf("mosync doctor: tenant %s; Mystore %s shop %s; Ongoing %s goods owner %ld\n\n",
               d->cfg->tenant, d->cfg->mystore_url, d->cfg->mystore_shop, d->cfg->ongoing_url,
               d->cfg->ongoing_goods_owner);
        for (size_t i = 0; i < DR_NCHECKS; i++)
            printf("%-13s %-4s %s\n%19s%s\n", dr_status_names[d->checks[i].status], dr_model[i].id,
                   dr_model[i].assumption, "", d->checks[i].evidence);
        printf("\n%d confirmed, %d contradicted, %d unknown (read only: %lu requests to Mystore, "
               "%lu to Ongoing)\n",
               count[DR_CONFIRMED], count[DR_CONTRADICTED], count[DR_UNKNOWN],
               ms_requests(d->ms) + d->raw_requests, og_requests(d->og));
        if (unread)
            printf("%d checks could not read what they need (see \"could not read\" above): the "
                   "report is incomplete\n",
                   unread);
    }
    fflush(stdout);
    return count[DR_CONTRADICTED] ? 1 : unread ? 3 : 0;
}

int doctor_main(int argc, char **argv)
{
    mo_config cfg;
    char errstr[512];
    int json_out = 0, rc = 1;
    const char *known = NULL;
    dr_ctx d;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json_out = 1;
        } else if (!strcmp(argv[i], "--known-weight") && i + 1 < argc) {
            known = argv[++i];
            const char *eq = strrchr(known, '=');
            char *end;
            double v = eq && eq != known ? strtod(eq + 1, &end) : 0;
            if (!eq || eq == known || v <= 0 || end == eq + 1 ||
                (strcmp(end, "g") && strcmp(end, "kg"))) {
                fprintf(stderr, "mosync: --known-weight needs SKU=<weight>g or SKU=<weight>kg\n");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "mosync: unknown option '%s' (doctor [--json] [--known-weight "
                    "SKU=<n>g])\n",
                    argv[i]);
            return 2;
        }
    }
    if (cfg_load(&cfg, CFG_NEED_REDIS | CFG_NEED_MYSTORE | CFG_NEED_ONGOING, errstr,
                 sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    memset(&d, 0, sizeof(d));
    d.cfg = &cfg;
    d.known_weight = known;
    d.rs = rs_open(cfg.redis_url, cfg.tenant, errstr, sizeof(errstr));
    if (!d.rs) {
        lg_error(COMPONENT, cfg.tenant, "%s", errstr);
        cfg_free(&cfg);
        return 2;
    }
    /* Few attempts: a doctor reports what answers, it does not wait out an outage. */
    d.ms = ms_new(&cfg, d.rs, 2);
    d.og = og_new(&cfg, d.rs, 2);
    if (!d.ms || !d.og) {
        lg_error(COMPONENT, cfg.tenant, "out of memory");
        goto out;
    }

    dr_read_mystore(&d);
    dr_read_ongoing(&d);
    dr_a1(&d);
    dr_a2(&d);
    if (d.ms_up) {
        dr_a3(&d);
        dr_m1(&d);
        dr_m2(&d);
        dr_m3(&d);
        dr_m5(&d);
        dr_m6(&d);
        dr_m7(&d);
        dr_m8(&d);
        dr_m9(&d);
        dr_m10(&d);
        dr_m11(&d);
        dr_m11i(&d);
        dr_m12(&d);
        dr_m13(&d);
        dr_m14(&d);
        dr_m15(&d);
        dr_m16_m17(&d);
    }
    if (d.og_up) {
        dr_o1(&d);
        dr_o4(&d);
        dr_o5(&d);
        dr_o6(&d);
    }
    if (d.ms_up && d.og_up) {
        dr_weights(&d);
        dr_o2(&d);
    }
    rc = dr_report(&d, json_out);
out:
    json_decref(d.statuses);
    json_decref(d.orders);
    json_decref(d.products);
    json_decref(d.variants);
    json_decref(d.lines);
    json_decref(d.options);
    json_decref(d.totals);
    json_decref(d.included);
    json_decref(d.include_data);
    json_decref(d.og_statuses);
    json_decref(d.og_articles);
    json_decref(d.og_orders);
    og_free(d.og);
    ms_free(d.ms);
    rs_close(d.rs);
    cfg_free(&cfg);
    return rc;
}

/* ---- pure parsers, for the fuzz target (see doctor.h) ------------------- */

json_t *doctor_token_scopes(const char *token)
{
    return dr_token_scopes(token);
}

void doctor_rate_headers(const char *line, size_t len, char limit[32], char remaining[32],
                         char retry_after[32])
{
    dr_headers h;
    memset(&h, 0, sizeof(h));
    dr_header_cb((char *)line, 1, len, &h);
    memcpy(limit, h.limit, 32);
    memcpy(remaining, h.remaining, 32);
    memcpy(retry_after, h.retry_after, 32);
}

long doctor_link_size(const json_t *doc, const char *which)
{
    return dr_link_size(doc, which);
}
