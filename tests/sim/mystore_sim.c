/* mystore_sim.c — the Mystore JSON:API simulator (build/mystore-sim).
 *
 * Serves the routes of the "Mystore simulator" section of tests/sim/README.md
 * from a seed file, on top of the shared scaffolding in sim_http.c (which does
 * auth dispatch, rate limiting, faults, counting and the write log).
 *
 * The state is kept in seed form: the seed's JSON arrays are the store, and
 * writes change them in place.  Resources are built from it per request.  All
 * handlers run under the framework's global lock.
 *
 * One process serves many shops (POST /_sim/shops), each with its own store,
 * token, OAuth clients and webhook target (ms_shop); the handlers take the
 * shop the path names, and /_sim/shops/{shop}/... is the unprefixed test
 * endpoint answered for that shop. */
#include "sim_http.h"
#include "sim_webhook.h"

#include "common/b64.h"
#include "common/sha256.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MS_CONTENT_TYPE "application/vnd.api+json"
#define MS_PAGE_DEFAULT 20
#define MS_PAGE_MAX     50    /* M13 */
#define MS_SEGS_MAX     8     /* path segments a route can have */
#define MS_PATH_MAX     1024  /* longest path routed */
#define MS_TS_LEN       20    /* "YYYY-MM-DD HH:MM:SS" + NUL */
#define MS_LINK_MAX     65536 /* longest link URL built */
#define MS_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* The authorization server's state of one shop: its registered clients,
 * codes, refresh tokens (rotating: each is spent by its refresh) and access
 * tokens (JWT shaped, unsigned, valid access_ttl_s).  A chain is what one
 * authorization code started; it counts its refreshes.  A token a shop's
 * client was issued is looked up in that shop's tables only, which is what
 * makes it worthless on another shop. */
typedef struct ms_oauth {
    json_t *clients; /* client_id -> secret */
    json_t *codes;   /* code -> {client, used} */
    json_t *refresh; /* token -> {client, chain, id, used, revoked} */
    json_t *access;  /* token -> {client, chain, exp_ms} */
    json_t *chains;  /* chain -> {refreshes, access_exp_ms, access_iat_ms} */
    json_t *log;     /* [{chain, grant, at_ms, prev_access_left_ms, token_id}] */
    json_t *issued;  /* [{access_token, refresh_token}]: for the secrets test */
    long access_ttl_s;
    json_int_t seq, token_requests, refreshes, codes_exchanged, expired_403;
    json_int_t invalid_grant, invalid_client, reused, revoked_used;
    /* The authorize page (GET/POST /oauth/authorize).  What a consent
     * grants is the scopes asked minus grant_drop plus grant_add (POST
     * /_sim/oauth/grant: a merchant unticking a permission, a "hide" scope
     * added).  consents lists the codes consent issued, the same objects
     * as in codes, so "used" shows there too. */
    json_t *grant_drop;
    json_t *grant_add;
    json_t *consents;
    json_int_t consent_pages, consent_allowed, consent_denied, consent_refused;
} ms_oauth;

/* One shop: everything a Mystore shop owns.  Shop #0 is the one of the
 * command line (--shop, --token, --seed); POST /_sim/shops adds more. */
typedef struct ms_shop {
    char *name;       /* shop name in /shops/{shop}/; "*" answers any name */
    char *token;      /* the accepted static bearer token */
    json_t *statuses; /* seed arrays, in seed form (see README) */
    json_t *orders;
    json_t *products;
    json_t *options;
    json_t *option_values;
    long history_seq; /* last order-status-history id handed out */
    /* Hostile lists (POST /_sim/lists): while reshuffle > 0, every page of
     * GET orders or GET products answered changes the scrambled order of
     * every list for the pages after it; delete_orders are deleted once
     * delete_after more pages of GET orders have been answered. */
    long reshuffle;
    json_t *delete_orders;
    long delete_after;
    json_t *hide_orders; /* left out of the next hide_pages pages of GET orders */
    long hide_pages;
    /* include= (JSON:API compound documents, M11; POST /_sim/include):
     * include_off makes the shop ignore include= as an API without it would
     * (answers without "included"); include_drop ("type/id" -> true) names
     * related resources left out of "included" while the relationships
     * still name them (an incomplete compound document). */
    int include_off;
    int include_refuse; /* answer include= with 400, as a strict JSON:API server without it */
    json_t *include_drop;
    /* Webhooks (POST /_sim/webhooks): "" = none sent. */
    char webhook_url[1024];
    char webhook_secret[256];
    /* The webhooks registered through the API (POST webhooks, M20), stored
     * flat as {"id", "topic", "address", "secret"}; each gets the changes of
     * its topic, signed with its own secret, besides the target above. */
    json_t *webhooks;
    long webhook_seq; /* last webhook id handed out */
    ms_oauth oa;
    size_t index;        /* in ms_state.shops */
    json_int_t requests; /* API requests addressed to it (stats by_shop) */
} ms_shop;

/* The simulator's state: the table of shops and the indexes that find one
 * by name, by static token and by OAuth client (tests run one to 50 shops,
 * benchmarks a few thousand: a jansson object is a hash table).  Global
 * things (the clock, rate limits, faults, the write log, stats) are not
 * here: they belong to the process, not to a shop. */
typedef struct ms_state {
    ms_shop **shops; /* shops[0] is the default shop */
    size_t count;
    size_t cap;
    json_t *by_name;   /* name -> index into shops */
    json_t *by_token;  /* static token -> index */
    json_t *by_client; /* OAuth client_id -> index */
    json_t *seed;      /* the startup seed as read, copied for a new shop */
} ms_state;

/* The fixed instant for stamps and the Date header (POST /_sim/clock,
 * --clock); 0 = real time.  One clock for every shop, as one server has. */
static time_t ms_fixed_clock;

/* The life of access tokens a new shop issues (--access-ttl). */
static long ms_access_ttl = 3600;

/* The scrambled order's salt (0 = the stable order of M2); the simulator
 * answers one request at a time, under the framework's lock. */
static uint32_t ms_salt;

/* ---- strings ---- */

/* A growable string with a hard cap (MS_LINK_MAX); `failed` is set once it
 * would exceed the cap or memory runs out, after which appends are ignored. */
typedef struct ms_str {
    char *text;
    size_t len;
    size_t cap;
    int failed;
} ms_str;

/* Appends len bytes of data. */
static void ms_str_add(ms_str *str, const char *data, size_t len)
{
    if (str->failed)
        return;
    if (len >= MS_LINK_MAX - str->len) {
        str->failed = 1;
        return;
    }
    if (str->len + len + 1 > str->cap) {
        size_t cap = str->cap != 0 ? str->cap : 256;
        char *grown;

        while (cap < str->len + len + 1)
            cap *= 2;
        grown = realloc(str->text, cap);
        if (grown == NULL) {
            str->failed = 1;
            return;
        }
        str->text = grown;
        str->cap = cap;
    }
    memcpy(str->text + str->len, data, len);
    str->len += len;
    str->text[str->len] = '\0';
}

/* Appends a NUL-terminated string. */
static void ms_str_adds(ms_str *str, const char *text)
{
    ms_str_add(str, text, strlen(text));
}

/* Appends text percent-encoded (RFC 3986 unreserved characters kept, and '/'
 * when keep_slash). */
static void ms_str_add_encoded(ms_str *str, const char *text, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;

    for (p = (const unsigned char *)text; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
            ms_str_add(str, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

            ms_str_add(str, esc, 3);
        }
    }
}

/* Parses a whole decimal integer; returns 0 on success, -1 otherwise. */
static int ms_parse_long(const char *text, long *out)
{
    char *end;
    long value;

    if (text == NULL || text[0] == '\0')
        return -1;
    value = strtol(text, &end, 10);
    if (*end != '\0')
        return -1;
    *out = value;
    return 0;
}

/* Whether s is a timestamp "YYYY-MM-DD HH:MM:SS" (shape only). */
static int ms_is_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    size_t i;

    if (s == NULL || strlen(s) != sizeof shape - 1)
        return 0;
    for (i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/* Writes the current shop-local time (or the fixed clock) as
 * "YYYY-MM-DD HH:MM:SS".  TZ was set once at start-up.  The clock is an
 * instant, not a wall time, so a fixed time inside the autumn fold says which
 * of the two passes it is. */
static void ms_now(char out[MS_TS_LEN])
{
    time_t now = ms_fixed_clock != 0 ? ms_fixed_clock : time(NULL);
    struct tm local;

    if (localtime_r(&now, &local) == NULL ||
        strftime(out, MS_TS_LEN, "%Y-%m-%d %H:%M:%S", &local) == 0)
        snprintf(out, MS_TS_LEN, "1970-01-01 00:00:00");
}

/* The host's wall clock in ms (never the fixed clock): for times the
 * benchmarks compare with the other simulator's and their own. */
static long long ms_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The instant of a shop-local "YYYY-MM-DD HH:MM:SS" (shape checked by the
 * caller); in the autumn fold mktime picks one of the two passes, which is why
 * /_sim/clock also takes "now_utc".  0 when it does not convert. */
static time_t ms_local_instant(const char *local)
{
    struct tm tm = {0};

    if (sscanf(local, "%4d-%2d-%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t == (time_t)-1 ? 0 : t;
}

/* The instant of a UTC "YYYY-MM-DDTHH:MM:SSZ"; 0 when it is not one. */
static time_t ms_utc_instant(const char *utc)
{
    struct tm tm = {0};
    int n = 0;

    if (utc == NULL || strlen(utc) != 20 ||
        sscanf(utc, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 20 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? 0 : t;
}

/* sim_set_clock: the instant the Date header states while the clock is
 * fixed (0 = real time, the server's own Date). */
static time_t ms_clock(void *state)
{
    (void)state;
    return ms_fixed_clock;
}

/* ---- errors ---- */

/* The reason phrase used as an error title. */
static const char *ms_title(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 422:
        return "Unprocessable Entity";
    default:
        return "Internal Server Error";
    }
}

/* One JSON:API error object.  source_kind is "pointer" (into the request
 * body) or "parameter" (a query argument) naming source, or NULL.  New
 * reference. */
static json_t *ms_error_new(int status, const char *source_kind, const char *source,
                            const char *detail)
{
    char code[16];
    json_t *error;

    snprintf(code, sizeof code, "%d", status);
    error =
        json_pack("{s:s, s:s, s:s}", "status", code, "title", ms_title(status), "detail", detail);
    if (error != NULL && source_kind != NULL)
        json_object_set_new(error, "source", json_pack("{s:s}", source_kind, source));
    return error;
}

/* Answers status with a single error whose detail is printf-formatted. */
MS_PRINTF(3, 4)
static void ms_fail(sim_resp *resp, int status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    sim_resp_json(resp, status,
                  json_pack("{s:[o]}", "errors", ms_error_new(status, NULL, NULL, detail)));
}

/* Answers 400 for a bad query argument `parameter`. */
MS_PRINTF(3, 4)
static void ms_fail_param(sim_resp *resp, const char *parameter, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    sim_resp_json(
        resp, 400,
        json_pack("{s:[o]}", "errors", ms_error_new(400, "parameter", parameter, detail)));
}

/* Appends a 400 error about the request body member at JSON pointer `pointer`. */
MS_PRINTF(3, 4)
static void ms_errors_add(json_t *errors, const char *pointer, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_array_append_new(errors, ms_error_new(400, "pointer", pointer, detail));
}

/* ---- the store ---- */

/* The "id" of a stored item (NULL when it has none). */
static const char *ms_id(json_t *item)
{
    return json_string_value(json_object_get(item, "id"));
}

/* The "attributes" object of a stored item (normalisation guarantees one). */
static json_t *ms_attrs(json_t *item)
{
    return json_object_get(item, "attributes");
}

/* The item of array with the given id, NULL when none.  Borrowed. */
static json_t *ms_find(json_t *array, const char *id)
{
    size_t i;
    json_t *item;

    json_array_foreach(array, i, item)
    {
        const char *item_id = ms_id(item);

        if (item_id != NULL && strcmp(item_id, id) == 0)
            return item;
    }
    return NULL;
}

/* The variant with the given id, and its product in *product.  Borrowed. */
static json_t *ms_find_variant(const ms_shop *shop, const char *id, json_t **product)
{
    size_t i;
    json_t *item;

    json_array_foreach(shop->products, i, item)
    {
        json_t *variant = ms_find(json_object_get(item, "variants"), id);

        if (variant != NULL) {
            *product = item;
            return variant;
        }
    }
    return NULL;
}

/* The order line (order-product) with the given id.  Borrowed. */
static json_t *ms_find_line(const ms_shop *shop, const char *id)
{
    size_t i;
    json_t *order;

    json_array_foreach(shop->orders, i, order)
    {
        json_t *line = ms_find(json_object_get(order, "lines"), id);

        if (line != NULL)
            return line;
    }
    return NULL;
}

/* Makes obj[key] an array (an empty one when absent or null).  Returns -1
 * when it holds something else. */
static int ms_need_array(json_t *obj, const char *key)
{
    json_t *value = json_object_get(obj, key);

    if (value == NULL || json_is_null(value))
        return json_object_set_new(obj, key, json_array());
    return json_is_array(value) ? 0 : -1;
}

/* Makes obj[key] an object (an empty one when absent or null).  Returns -1
 * when it holds something else. */
static int ms_need_object(json_t *obj, const char *key)
{
    json_t *value = json_object_get(obj, key);

    if (value == NULL || json_is_null(value))
        return json_object_set_new(obj, key, json_object());
    return json_is_object(value) ? 0 : -1;
}

/* Whether obj[key] is absent, null or a string. */
static int ms_opt_string(json_t *obj, const char *key)
{
    json_t *value = json_object_get(obj, key);

    return value == NULL || json_is_null(value) || json_is_string(value);
}

/* Checks the items of array `key` of obj (created empty when absent): each
 * must be an object with a non-empty string "id"; with_attributes also gives
 * each an "attributes" object.  Returns -1 after writing the reason into err. */
static int ms_check_items(json_t *obj, const char *key, int with_attributes, const char *where,
                          char *err, size_t err_size)
{
    json_t *item;
    size_t i;

    if (ms_need_array(obj, key) != 0) {
        snprintf(err, err_size, "%s: '%s' must be an array", where, key);
        return -1;
    }
    json_array_foreach(json_object_get(obj, key), i, item)
    {
        const char *id = ms_id(item);

        if (!json_is_object(item) || id == NULL || id[0] == '\0') {
            snprintf(err, err_size, "%s: %s[%zu] needs a string \"id\"", where, key, i);
            return -1;
        }
        if (with_attributes && ms_need_object(item, "attributes") != 0) {
            snprintf(err, err_size, "%s: %s[%zu].attributes must be an object", where, key, i);
            return -1;
        }
    }
    return 0;
}

/* Checks an order in seed form and fills in the optional parts (attributes,
 * lines with their options, totals, history).  Returns -1 after writing the
 * reason into err. */
static int ms_order_normalize(json_t *order, char *err, size_t err_size)
{
    char where[96];
    json_t *line;
    size_t i;

    if (!json_is_object(order) || ms_id(order) == NULL) {
        snprintf(err, err_size, "an order needs a string \"id\"");
        return -1;
    }
    snprintf(where, sizeof where, "order %s", ms_id(order));
    if (!ms_opt_string(order, "status_id")) {
        snprintf(err, err_size, "%s: status_id must be a string", where);
        return -1;
    }
    if (ms_need_object(order, "attributes") != 0) {
        snprintf(err, err_size, "%s: attributes must be an object", where);
        return -1;
    }
    if (ms_check_items(order, "lines", 1, where, err, err_size) != 0 ||
        ms_check_items(order, "totals", 1, where, err, err_size) != 0 ||
        ms_check_items(order, "history", 0, where, err, err_size) != 0)
        return -1;
    json_array_foreach(json_object_get(order, "lines"), i, line)
    {
        snprintf(where, sizeof where, "order %s line %s", ms_id(order), ms_id(line));
        if (!ms_opt_string(line, "product_id") || !ms_opt_string(line, "variant_id")) {
            snprintf(err, err_size, "%s: product_id and variant_id must be strings or null", where);
            return -1;
        }
        if (ms_check_items(line, "options", 1, where, err, err_size) != 0)
            return -1;
    }
    return 0;
}

/* Checks a product in seed form and fills in the optional parts (attributes,
 * variants).  Returns -1 after writing the reason into err. */
static int ms_product_normalize(json_t *product, char *err, size_t err_size)
{
    char where[96];

    if (!json_is_object(product) || ms_id(product) == NULL) {
        snprintf(err, err_size, "a product needs a string \"id\"");
        return -1;
    }
    snprintf(where, sizeof where, "product %s", ms_id(product));
    if (ms_need_object(product, "attributes") != 0) {
        snprintf(err, err_size, "%s: attributes must be an object", where);
        return -1;
    }
    return ms_check_items(product, "variants", 1, where, err, err_size);
}

/* Whether status_id names a seeded order status. */
static int ms_status_known(const ms_shop *shop, const char *status_id)
{
    return status_id != NULL && ms_find(shop->statuses, status_id) != NULL;
}

/* Takes a shop's state from a seed document (stolen).  Returns -1 after writing
 * the reason into err. */
static int ms_seed_load(ms_shop *shop, json_t *seed, char *err, size_t err_size)
{
    json_t *item;
    size_t i;
    int rc = -1;

    if (!json_is_object(seed)) {
        snprintf(err, err_size, "the seed must be a JSON object");
        goto out;
    }
    if (ms_check_items(seed, "order_status", 0, "seed", err, err_size) != 0 ||
        ms_check_items(seed, "product_options", 0, "seed", err, err_size) != 0 ||
        ms_check_items(seed, "product_option_values", 0, "seed", err, err_size) != 0 ||
        ms_need_array(seed, "orders") != 0 || ms_need_array(seed, "products") != 0) {
        if (err[0] == '\0')
            snprintf(err, err_size, "seed: 'orders' and 'products' must be arrays");
        goto out;
    }
    shop->statuses = json_incref(json_object_get(seed, "order_status"));
    shop->orders = json_incref(json_object_get(seed, "orders"));
    shop->products = json_incref(json_object_get(seed, "products"));
    shop->options = json_incref(json_object_get(seed, "product_options"));
    shop->option_values = json_incref(json_object_get(seed, "product_option_values"));
    json_array_foreach(shop->orders, i, item)
    {
        const char *status_id;

        if (ms_order_normalize(item, err, err_size) != 0)
            goto out;
        status_id = json_string_value(json_object_get(item, "status_id"));
        if (status_id != NULL && !ms_status_known(shop, status_id)) {
            snprintf(err, err_size, "order %s: status_id %s is not in order_status", ms_id(item),
                     status_id);
            goto out;
        }
    }
    json_array_foreach(shop->products, i, item)
    {
        if (ms_product_normalize(item, err, err_size) != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(seed);
    return rc;
}

/* ---- scrambled order (M2) ---- */

/* A stable hash of an id: FNV-1a, then the murmur3 finaliser so that
 * neighbouring ids land far apart. */
static uint32_t ms_hash(const char *id)
{
    uint32_t hash = 2166136261u;

    for (; *id != '\0'; id++) {
        hash ^= (unsigned char)*id;
        hash *= 16777619u;
    }
    hash ^= hash >> 16;
    hash *= 0x85ebca6bu;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35u;
    hash ^= hash >> 16;
    return hash;
}

/* An id's place in the scrambled order: its hash, mixed with the salt. */
static uint32_t ms_place(const char *id)
{
    uint32_t h = ms_hash(id) ^ ms_salt;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return ms_salt ? h : ms_hash(id);
}

/* qsort comparator: by place of the id, then by id. */
static int ms_scramble_cmp(const void *a, const void *b)
{
    const char *id_a = ms_id(*(json_t *const *)a);
    const char *id_b = ms_id(*(json_t *const *)b);
    uint32_t hash_a = ms_place(id_a);
    uint32_t hash_b = ms_place(id_b);

    if (hash_a != hash_b)
        return hash_a < hash_b ? -1 : 1;
    return strcmp(id_a, id_b);
}

/* ---- broken assumptions (for `mosync doctor`'s tests) ----
 *
 * Each flag makes the simulator contradict one choice of the API model, as a
 * real shop might, so the doctor can be shown to name it:
 *   --weight-unit kg     product and variant weights answered in kilograms
 *                        (the seed holds grams; M4)
 *   --ignore-filter KEY  filter[KEY][...] arguments are accepted and ignored
 *                        (updated_at: M14; sku: M16, M17)
 *   --page-max N         pages of up to N items instead of 50 (M13)
 *   --hide a,b           these attributes are left out of products and
 *                        variants, as a token with "hide" scopes sees them
 *   --include off|refuse include= is ignored (off) or answered 400 (refuse)
 *                        by every shop, as an API without it (M11; default
 *                        on: compound documents, see ms_include) */
static struct {
    int include; /* 0 on, 1 off, 2 refuse */
    int weight_kg;
    char ignore_filter[64];
    long page_max;
    char hide[256];
} ms_broken = {.page_max = MS_PAGE_MAX};

/* Whether attribute `name` is in the --hide list. */
static int ms_hidden(const char *name)
{
    size_t n = strlen(name);
    for (const char *p = ms_broken.hide; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (comma != NULL ? 1 : 0);
    }
    return 0;
}

/* The attributes of a product or variant as this simulator answers them: a
 * copy of the stored ones, with the --weight-unit and --hide changes.  New
 * reference. */
static json_t *ms_broken_attrs(json_t *stored)
{
    json_t *attrs = json_deep_copy(stored);
    json_t *weight = json_object_get(attrs, "weight");
    const char *key;
    json_t *value;
    void *tmp;

    if (ms_broken.weight_kg && json_is_number(weight)) {
        json_object_set_new(attrs, "weight", json_real(json_number_value(weight) / 1000.0));
    } else if (ms_broken.weight_kg && json_is_string(weight)) {
        char *end;
        char kg[64];
        double grams = strtod(json_string_value(weight), &end);
        if (*json_string_value(weight) != '\0' && *end == '\0') {
            snprintf(kg, sizeof kg, "%.15g", grams / 1000.0);
            json_object_set_new(attrs, "weight", json_string(kg));
        }
    }
    json_object_foreach_safe(attrs, tmp, key, value)
    {
        if (ms_hidden(key))
            json_object_del(attrs, key);
    }
    return attrs;
}

/* Parses one of the flags above at argv[*i].  Returns 1 when it was one
 * (advancing *i past its value), 0 when not; exits with usage on a bad value. */
static int ms_broken_flag(int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *value = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n;

    if (strcmp(arg, "--weight-unit") != 0 && strcmp(arg, "--ignore-filter") != 0 &&
        strcmp(arg, "--page-max") != 0 && strcmp(arg, "--hide") != 0 &&
        strcmp(arg, "--include") != 0)
        return 0;
    if (value == NULL) {
        fprintf(stderr, "mystore-sim: %s needs a value\n", arg);
        exit(2);
    }
    ++*i;
    if (strcmp(arg, "--weight-unit") == 0 && (strcmp(value, "g") == 0 || strcmp(value, "kg") == 0))
        ms_broken.weight_kg = strcmp(value, "kg") == 0;
    else if (strcmp(arg, "--ignore-filter") == 0 && *value && strlen(value) < 64)
        snprintf(ms_broken.ignore_filter, sizeof ms_broken.ignore_filter, "%s", value);
    else if (strcmp(arg, "--page-max") == 0 && ms_parse_long(value, &n) == 0 && n >= 1 &&
             n <= 10000)
        ms_broken.page_max = n;
    else if (strcmp(arg, "--hide") == 0 && strlen(value) < sizeof ms_broken.hide)
        snprintf(ms_broken.hide, sizeof ms_broken.hide, "%s", value);
    else if (strcmp(arg, "--include") == 0 &&
             (!strcmp(value, "on") || !strcmp(value, "off") || !strcmp(value, "refuse")))
        ms_broken.include = !strcmp(value, "off") ? 1 : !strcmp(value, "refuse") ? 2 : 0;
    else {
        fprintf(stderr, "mystore-sim: bad value '%s' for %s\n", value, arg);
        exit(2);
    }
    return 1;
}

/* ---- filter and paging ---- */

enum { MS_OP_EQ, MS_OP_GT, MS_OP_GTE, MS_OP_LT, MS_OP_LTE };

#define MS_FILTERS_MAX 4  /* filters one list request may combine */
#define MS_FILTER_KEY  64 /* longest <key> in filter[<key>][...] */

/* One filter[<key>][path|value|operator] of a list request. */
typedef struct ms_filter_one {
    char key[MS_FILTER_KEY];
    const char *path;  /* attribute compared; defaults to the key */
    const char *value; /* compared as a string */
    int op;            /* MS_OP_* */
} ms_filter_one;

/* The filters of a list request; an item must pass all of them. */
typedef struct ms_filter {
    int count;
    ms_filter_one f[MS_FILTERS_MAX];
    char bad[128]; /* the first malformed filter argument; "" when none */
} ms_filter;

/* sim_query_foreach callback: collects the distinct <key>s of the
 * filter[<key>][member] arguments.  Anything else named filter... (a plain
 * JSON:API filter[sku]=x, an unknown member, too many filters) is noted in
 * filter->bad, since Mystore's syntax is the path/value/operator triple. */
static void ms_filter_collect(void *ctx, const char *name, const char *value)
{
    ms_filter *filter = ctx;
    const char *open, *close, *member;
    size_t len;
    int i;

    (void)value;
    if (strncmp(name, "filter[", 7) != 0 || filter->bad[0] != '\0')
        return;
    open = name + 6;
    close = strchr(open, ']');
    member = close != NULL ? close + 1 : NULL;
    len = close != NULL ? (size_t)(close - open - 1) : 0;
    if (member == NULL || len == 0 || len >= MS_FILTER_KEY ||
        (strcmp(member, "[path]") != 0 && strcmp(member, "[value]") != 0 &&
         strcmp(member, "[operator]") != 0)) {
        snprintf(filter->bad, sizeof filter->bad, "%s", name);
        return;
    }
    for (i = 0; i < filter->count; i++) {
        if (strlen(filter->f[i].key) == len && strncmp(filter->f[i].key, open + 1, len) == 0)
            return;
    }
    if (filter->count == MS_FILTERS_MAX) {
        snprintf(filter->bad, sizeof filter->bad, "%s", name);
        return;
    }
    memcpy(filter->f[filter->count].key, open + 1, len);
    filter->f[filter->count].key[len] = '\0';
    filter->count++;
}

/* Reads every filter[<key>][path|value|operator] of the request (Mystore's
 * filter syntax; several filters combine with "and").  Returns -1 after
 * filling resp with a 400. */
static int ms_filter_parse(const sim_req *req, ms_filter *filter, sim_resp *resp)
{
    static const char *const ops[] = {"eq", "gt", "gte", "lt", "lte"};
    char name[MS_FILTER_KEY + 16];
    int n, i;

    memset(filter, 0, sizeof *filter);
    sim_query_foreach(req, ms_filter_collect, filter);
    if (filter->bad[0] != '\0') {
        ms_fail_param(resp, filter->bad,
                      "%s is not a filter this API knows: write filter[<key>][path], "
                      "filter[<key>][value] and filter[<key>][operator] (at most %d filters)",
                      filter->bad, MS_FILTERS_MAX);
        return -1;
    }
    for (n = 0; n < filter->count; n++) {
        ms_filter_one *one = &filter->f[n];
        const char *op;
        size_t len;

        snprintf(name, sizeof name, "filter[%s][value]", one->key);
        one->value = sim_query(req, name);
        if (one->value == NULL) {
            ms_fail_param(resp, name, "%s is missing", name);
            return -1;
        }
        snprintf(name, sizeof name, "filter[%s][path]", one->key);
        one->path = sim_query(req, name);
        if (one->path == NULL)
            one->path = one->key;
        snprintf(name, sizeof name, "filter[%s][operator]", one->key);
        op = sim_query(req, name);
        one->op = MS_OP_EQ;
        if (op != NULL) {
            for (i = 0; i < 5 && strcmp(op, ops[i]) != 0; i++) {
            }
            if (i == 5) {
                ms_fail_param(resp, name, "unknown operator '%s' (eq, gt, gte, lt, lte)", op);
                return -1;
            }
            one->op = i;
        }
        /* Times compare as strings only in this exact shape. */
        len = strlen(one->path);
        if (len >= 3 && strcmp(one->path + len - 3, "_at") == 0 && !ms_is_timestamp(one->value)) {
            snprintf(name, sizeof name, "filter[%s][value]", one->key);
            ms_fail_param(resp, name, "'%s' is not a time of the form YYYY-MM-DD HH:MM:SS",
                          one->value);
            return -1;
        }
    }
    /* --ignore-filter: accepted above, then forgotten. */
    for (n = 0, i = 0; n < filter->count; n++) {
        if (strcmp(filter->f[n].key, ms_broken.ignore_filter) != 0)
            filter->f[i++] = filter->f[n];
    }
    filter->count = i;
    return 0;
}

/* Whether a stored item passes every filter (an attribute that is not a
 * string never does). */
static int ms_filter_match(const ms_filter *filter, json_t *item)
{
    int n;

    for (n = 0; n < filter->count; n++) {
        const ms_filter_one *one = &filter->f[n];
        const char *have = json_string_value(json_object_get(ms_attrs(item), one->path));
        int cmp, pass;

        if (have == NULL)
            return 0;
        cmp = strcmp(have, one->value);
        switch (one->op) {
        case MS_OP_GT:
            pass = cmp > 0;
            break;
        case MS_OP_GTE:
            pass = cmp >= 0;
            break;
        case MS_OP_LT:
            pass = cmp < 0;
            break;
        case MS_OP_LTE:
            pass = cmp <= 0;
            break;
        default:
            pass = cmp == 0;
        }
        if (!pass)
            return 0;
    }
    return 1;
}

/* The page a list request asks for. */
typedef struct ms_page {
    long number; /* 1-based */
    long size;
    long last;   /* number of the last page (1 when the list is empty) */
    size_t from; /* items [from, to) are on the page */
    size_t to;
} ms_page;

/* Reads page[number] and page[size] for a list of `total` items.  Returns -1
 * after filling resp (400 for bad arguments, 404 past the last page). */
static int ms_page_parse(const sim_req *req, size_t total, ms_page *page, sim_resp *resp)
{
    const char *number = sim_query(req, "page[number]");
    const char *size = sim_query(req, "page[size]");

    page->number = 1;
    page->size = MS_PAGE_DEFAULT;
    if (number != NULL && (ms_parse_long(number, &page->number) != 0 || page->number < 1)) {
        ms_fail_param(resp, "page[number]", "page[number] must be a positive integer");
        return -1;
    }
    if (size != NULL && (ms_parse_long(size, &page->size) != 0 || page->size < 1)) {
        ms_fail_param(resp, "page[size]", "page[size] must be a positive integer");
        return -1;
    }
    if (page->size > ms_broken.page_max)
        page->size = ms_broken.page_max;
    page->last = total == 0 ? 1 : (long)((total + (size_t)page->size - 1) / (size_t)page->size);
    if (page->number > page->last) {
        ms_fail(resp, 404, "page %ld is past the last page (%ld)", page->number, page->last);
        return -1;
    }
    page->from = (size_t)(page->number - 1) * (size_t)page->size;
    page->to = page->from + (size_t)page->size;
    if (page->to > total)
        page->to = total;
    return 0;
}

/* sim_query_foreach callback: copies every query argument except page[...]
 * into the link prefix, encoded, each followed by '&'. */
static void ms_links_keep_arg(void *ctx, const char *key, const char *value)
{
    ms_str *str = ctx;

    if (strncmp(key, "page[", 5) == 0)
        return;
    ms_str_add_encoded(str, key, 0);
    if (value != NULL) {
        ms_str_adds(str, "=");
        ms_str_add_encoded(str, value, 0);
    }
    ms_str_adds(str, "&");
}

/* The link to page `number` given the common prefix.  New reference. */
static json_t *ms_link_new(const ms_str *prefix, long number, long size)
{
    char tail[96];
    ms_str link = {0};
    json_t *json;

    snprintf(tail, sizeof tail, "page%%5Bnumber%%5D=%ld&page%%5Bsize%%5D=%ld", number, size);
    ms_str_add(&link, prefix->text, prefix->len);
    ms_str_adds(&link, tail);
    json = link.failed ? json_null() : json_string(link.text);
    free(link.text);
    return json;
}

/* The JSON:API links of a list page: absolute URLs on the Host the client
 * used, keeping the request's other query arguments.  `next` only when there
 * is a next page.  New reference. */
static json_t *ms_links_new(const sim_req *req, const ms_page *page)
{
    const char *host = sim_header(req, "Host");
    ms_str prefix = {0};
    json_t *links;

    ms_str_adds(&prefix, "http://");
    ms_str_adds(&prefix, host != NULL ? host : "127.0.0.1");
    ms_str_add_encoded(&prefix, req->path, 1);
    ms_str_adds(&prefix, "?");
    sim_query_foreach(req, ms_links_keep_arg, &prefix);
    if (prefix.failed) {
        free(prefix.text);
        return json_object();
    }
    links = json_object();
    json_object_set_new(links, "self", ms_link_new(&prefix, page->number, page->size));
    json_object_set_new(links, "first", ms_link_new(&prefix, 1, page->size));
    json_object_set_new(links, "last", ms_link_new(&prefix, page->last, page->size));
    if (page->number < page->last)
        json_object_set_new(links, "next", ms_link_new(&prefix, page->number + 1, page->size));
    free(prefix.text);
    return links;
}

/* ---- resources ---- */

/* Builds the resource object of one stored item; ctx depends on the kind. */
typedef json_t *(*ms_build_fn)(json_t *item, const void *ctx);

/* {"type": type, "id": id, "attributes": attributes (borrowed)}.  New reference. */
static json_t *ms_resource_new(const char *type, const char *id, json_t *attributes)
{
    return json_pack("{s:s, s:s, s:O}", "type", type, "id", id, "attributes",
                     attributes != NULL ? attributes : json_null());
}

/* A to-one relationship: {"data": {"type", "id"}}, or {"data": null} when id
 * is NULL or empty.  New reference. */
static json_t *ms_relation_new(const char *type, const char *id)
{
    if (id == NULL || id[0] == '\0')
        return json_pack("{s:n}", "data");
    return json_pack("{s:{s:s, s:s}}", "data", "type", type, "id", id);
}

/* An order: attributes as stored, relationship order_status. */
static json_t *ms_order_resource(json_t *order, const void *ctx)
{
    json_t *resource = ms_resource_new("orders", ms_id(order), ms_attrs(order));
    const char *status_id = json_string_value(json_object_get(order, "status_id"));

    (void)ctx;
    json_object_set_new(
        resource, "relationships",
        json_pack("{s:o}", "order_status", ms_relation_new("order-status", status_id)));
    return resource;
}

/* An order line (order-products) with relationships product and
 * product-variant (M6). */
static json_t *ms_line_resource(json_t *line, const void *ctx)
{
    json_t *resource = ms_resource_new("order-products", ms_id(line), ms_attrs(line));
    const char *product_id = json_string_value(json_object_get(line, "product_id"));
    const char *variant_id = json_string_value(json_object_get(line, "variant_id"));

    (void)ctx;
    json_object_set_new(resource, "relationships",
                        json_pack("{s:o, s:o}", "product", ms_relation_new("products", product_id),
                                  "product-variant",
                                  ms_relation_new("product-variants", variant_id)));
    return resource;
}

/* An item stored as {"id", "attributes"}; ctx is the resource type. */
static json_t *ms_plain_resource(json_t *item, const void *ctx)
{
    return ms_resource_new(ctx, ms_id(item), ms_attrs(item));
}

/* An item stored flat as {"id", "name", ...} (order statuses, product
 * options, option values): everything but the id is an attribute.  ctx is
 * the resource type. */
static json_t *ms_flat_resource(json_t *item, const void *ctx)
{
    json_t *attributes = json_copy(item);
    json_t *resource;

    json_object_del(attributes, "id");
    resource = ms_resource_new(ctx, ms_id(item), attributes);
    json_decref(attributes);
    return resource;
}

/* A product as answered (see ms_broken_attrs); ctx is unused. */
static json_t *ms_product_resource(json_t *product, const void *ctx)
{
    json_t *attrs = ms_broken_attrs(ms_attrs(product));
    json_t *resource = ms_resource_new("products", ms_id(product), attrs);

    (void)ctx;
    json_decref(attrs);
    return resource;
}

/* An order's status history row (stored flat: id, status_id, comments,
 * customer_notified, created_at) with its relationship order-status. */
static json_t *ms_history_resource(json_t *row, const void *ctx)
{
    json_t *attrs = json_copy(row);
    json_t *resource;

    (void)ctx;
    json_object_del(attrs, "id");
    json_object_del(attrs, "status_id");
    resource = ms_resource_new("order-status-history", ms_id(row), attrs);
    json_object_set_new(resource, "relationships",
                        json_pack("{s:o}", "order-status",
                                  ms_relation_new("order-status", json_string_value(json_object_get(
                                                                      row, "status_id")))));
    json_decref(attrs);
    return resource;
}

/* A product variant with relationship product; ctx is the product id. */
static json_t *ms_variant_resource(json_t *variant, const void *ctx)
{
    json_t *attrs = ms_broken_attrs(ms_attrs(variant));
    json_t *resource = ms_resource_new("product-variants", ms_id(variant), attrs);

    json_decref(attrs);
    json_object_set_new(resource, "relationships",
                        json_pack("{s:o}", "product", ms_relation_new("products", ctx)));
    return resource;
}

/* Ids a list answer leaves out (POST /_sim/lists hide_orders), or NULL. */
static json_t *ms_hidden_ids;

/* Set while GET orders answers: each order on the page that has no
 * "listed_at_ms" since it was stored gets the time (wall clock, ms), so the
 * latency benchmark can tell a poll's wait from the rest (GET /_sim/orders/{id}
 * shows it; storing the order again clears it). */
static int ms_mark_listed;

/* Answers a list: the items of `items` that pass the filter (NULL = all), in
 * scrambled order, one page of them built by `build`, with links. */
static void ms_answer_list(const sim_req *req, sim_resp *resp, json_t *items,
                           const ms_filter *filter, ms_build_fn build, const void *ctx)
{
    size_t total = json_array_size(items);
    size_t count = 0;
    size_t i;
    json_t **kept = calloc(total + 1, sizeof *kept);
    json_t *item;
    json_t *data;
    ms_page page;

    if (kept == NULL) {
        ms_fail(resp, 500, "out of memory");
        return;
    }
    json_array_foreach(items, i, item)
    {
        if ((filter == NULL || ms_filter_match(filter, item)) &&
            !(ms_hidden_ids && json_object_get(ms_hidden_ids, ms_id(item))))
            kept[count++] = item;
    }
    qsort(kept, count, sizeof *kept, ms_scramble_cmp);
    if (ms_page_parse(req, count, &page, resp) == 0) {
        data = json_array();
        for (i = page.from; i < page.to; i++) {
            json_array_append_new(data, build(kept[i], ctx));
            if (ms_mark_listed && json_object_get(kept[i], "listed_at_ms") == NULL)
                json_object_set_new(kept[i], "listed_at_ms", json_integer(ms_now_ms()));
        }
        sim_resp_json(resp, 200,
                      json_pack("{s:o, s:o}", "data", data, "links", ms_links_new(req, &page)));
    }
    free(kept);
}

/* Answers one resource: {"data": resource} (stolen). */
static void ms_answer_one(sim_resp *resp, int status, json_t *resource)
{
    sim_resp_json(resp, status, json_pack("{s:o}", "data", resource));
}

/* ---- include= (JSON:API compound documents; M11) ----
 *
 * GET orders and orders/{id} take include=order-products,
 * order-products.order-product-attributes,order-totals; GET products and
 * products/{id} take include=product-variants.  The answer is the usual one
 * plus a top-level "included" array of the related resources (built as their
 * own lists build them), and each primary resource's (and each included
 * line's) relationships.<name>.data naming them, in the order their own
 * lists answer them.  Paging is the primary list's: page[size] counts the
 * primary resources only.  An include path the shop does not serve answers
 * 400 (as JSON:API asks); with include_off the argument is ignored. */

static int ms_eq(const char *a, const char *b);

/* The items sorted as ms_answer_list sorts them (a new array of borrowed
 * pointers, NULL-terminated, the count in *n); NULL when out of memory. */
static json_t **ms_sorted_new(json_t *items, size_t *n)
{
    size_t total = json_array_size(items);
    json_t **kept = calloc(total + 1, sizeof *kept);
    size_t i;
    json_t *item;

    *n = 0;
    if (kept == NULL)
        return NULL;
    json_array_foreach(items, i, item) kept[(*n)++] = item;
    qsort(kept, *n, sizeof *kept, ms_scramble_cmp);
    return kept;
}

/* Adds resource (stolen) to included unless the drop hook names it, and
 * its identifier to linkage. */
static void ms_include_add(const ms_shop *shop, json_t *included, json_t *linkage, json_t *resource)
{
    char key[256];
    const char *type = json_string_value(json_object_get(resource, "type"));

    json_array_append_new(linkage, json_pack("{s:s, s:s}", "type", type, "id", ms_id(resource)));
    snprintf(key, sizeof key, "%s/%s", type, ms_id(resource));
    if (json_object_get(shop->include_drop, key))
        json_decref(resource);
    else
        json_array_append_new(included, resource);
}

/* Builds each of items (sorted as its list) with build/ctx into included,
 * and sets relationships.<rel> of resource to {"data": [their identifiers]}.
 * line_options: each item is an order line whose options are included too. */
static void ms_include_many(const ms_shop *shop, json_t *included, json_t *resource,
                            const char *rel, json_t *items, ms_build_fn build, const void *ctx,
                            int line_options)
{
    size_t n;
    json_t **sorted = ms_sorted_new(items, &n);
    json_t *linkage = json_array();
    json_t *rels = json_object_get(resource, "relationships");

    for (size_t i = 0; sorted != NULL && i < n; i++) {
        json_t *related = build(sorted[i], ctx);
        if (line_options)
            ms_include_many(shop, included, related, "order-product-attributes",
                            json_object_get(sorted[i], "options"), ms_plain_resource,
                            "order-product-attributes", 0);
        ms_include_add(shop, included, linkage, related);
    }
    free(sorted);
    if (!json_is_object(rels)) {
        rels = json_object();
        json_object_set_new(resource, "relationships", rels);
    }
    json_object_set_new(rels, rel, json_pack("{s:o}", "data", linkage));
}

/* Turns the answer in resp (GET orders, orders/{id}, products,
 * products/{id}) into a compound document when the request asks include=
 * and the shop serves it.  orders: 1 for orders, 0 for products. */
static void ms_include(ms_shop *shop, const sim_req *req, sim_resp *resp, int orders)
{
    const char *arg = sim_query(req, "include");
    char paths[512];
    int lines = 0, options = 0, totals = 0, variants = 0;
    char *save = NULL;

    if (arg == NULL || shop->include_off || ms_broken.include == 1 || resp->status != 200 ||
        resp->body == NULL)
        return;
    if (shop->include_refuse || ms_broken.include == 2) {
        ms_fail(resp, 400, "include is not supported");
        return;
    }
    snprintf(paths, sizeof paths, "%s", arg);
    for (char *p = strtok_r(paths, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
        if (orders && ms_eq(p, "order-products"))
            lines = 1;
        else if (orders && ms_eq(p, "order-products.order-product-attributes"))
            lines = options = 1;
        else if (orders && ms_eq(p, "order-totals"))
            totals = 1;
        else if (!orders && ms_eq(p, "product-variants"))
            variants = 1;
        else {
            ms_fail(resp, 400, "include: the relationship path '%s' is not served here", p);
            return;
        }
    }
    json_t *data = json_object_get(resp->body, "data");
    json_t *included = json_array();
    json_t *one = json_is_object(data) ? data : NULL;
    size_t count = one ? 1 : json_array_size(data);
    for (size_t i = 0; i < count; i++) {
        json_t *resource = one ? one : json_array_get(data, i);
        if (orders) {
            json_t *order = ms_find(shop->orders, ms_id(resource));
            if (lines)
                ms_include_many(shop, included, resource, "order-products",
                                json_object_get(order, "lines"), ms_line_resource, NULL, options);
            if (totals)
                ms_include_many(shop, included, resource, "order-totals",
                                json_object_get(order, "totals"), ms_plain_resource, "order-totals",
                                0);
        } else if (variants) {
            json_t *product = ms_find(shop->products, ms_id(resource));
            ms_include_many(shop, included, resource, "product-variants",
                            json_object_get(product, "variants"), ms_variant_resource,
                            ms_id(product), 0);
        }
    }
    json_object_set_new(resp->body, "included", included);
}

/* ---- read routes ---- */

/* Deletes the order with that id; 0 when there was one. */
static int ms_delete_order(ms_shop *shop, const char *id)
{
    size_t i;
    json_t *o;
    json_array_foreach(shop->orders, i, o)
    {
        if (strcmp(ms_id(o), id) == 0) {
            json_array_remove(shop->orders, i);
            return 0;
        }
    }
    return -1;
}

/* After a page of GET orders or GET products: the hostile list's turns
 * (POST /_sim/lists). */
static void ms_list_turn(ms_shop *shop, int orders)
{
    if (shop->reshuffle > 0) {
        shop->reshuffle--;
        ms_salt = ms_salt * 1664525u + 1013904223u;
        if (!ms_salt)
            ms_salt = 1;
    }
    if (orders && shop->delete_after > 0 && --shop->delete_after == 0) {
        size_t i;
        json_t *id;
        json_array_foreach(shop->delete_orders, i, id)
        {
            if (json_is_string(id))
                ms_delete_order(shop, json_string_value(id));
        }
        json_array_clear(shop->delete_orders);
    }
}

/* GET orders and GET products: lists with the updated_at filter. */
static void ms_get_filtered(ms_shop *shop, const sim_req *req, sim_resp *resp, json_t *items,
                            ms_build_fn build, const void *ctx)
{
    ms_filter filter;

    if (ms_filter_parse(req, &filter, resp) != 0)
        return;
    ms_hidden_ids = items == shop->orders && shop->hide_pages > 0 ? shop->hide_orders : NULL;
    ms_mark_listed = items == shop->orders;
    ms_answer_list(req, resp, items, &filter, build, ctx);
    ms_hidden_ids = NULL;
    ms_mark_listed = 0;
    if (resp->status == 200 && items == shop->orders && shop->hide_pages > 0)
        shop->hide_pages--;
    if (resp->status == 200)
        ms_list_turn(shop, items == shop->orders);
}

/* GET products/{id}/product-variants: the variants, plus
 * meta.product_variants for those on the page. */
static void ms_get_variants(const sim_req *req, sim_resp *resp, json_t *product)
{
    json_t *variants = json_object_get(product, "variants");
    json_t *meta;
    json_t *resource;
    size_t i;

    ms_answer_list(req, resp, variants, NULL, ms_variant_resource, ms_id(product));
    if (resp->status != 200)
        return;
    meta = json_array();
    json_array_foreach(json_object_get(resp->body, "data"), i, resource)
    {
        const char *id = ms_id(resource);
        json_t *variant = ms_find(variants, id);
        json_t *stock = json_object_get(variant, "stock_attributes");
        long number;
        json_t *stock_id = ms_parse_long(id, &number) == 0 ? json_integer(number) : json_string(id);

        json_array_append_new(meta,
                              json_pack("{s:o, s:o}", "products_stock_id", stock_id,
                                        "products_stock_attributes",
                                        stock != NULL ? json_incref(stock) : json_string("")));
    }
    json_object_set_new(resp->body, "meta", json_pack("{s:o}", "product_variants", meta));
}

/* A variant of any product, with relationship product; ctx is the shop. */
static json_t *ms_any_variant_resource(json_t *variant, const void *ctx)
{
    json_t *product = NULL;

    ms_find_variant(ctx, ms_id(variant), &product);
    return ms_variant_resource(variant, ms_id(product));
}

/* GET product-variants: every product's variants in one list, with the
 * filters (a variant found by SKU names its product in relationships). */
static void ms_get_all_variants(const ms_shop *shop, const sim_req *req, sim_resp *resp)
{
    json_t *all = json_array();
    json_t *product;
    ms_filter filter;
    size_t i;

    if (ms_filter_parse(req, &filter, resp) == 0) {
        json_array_foreach(shop->products, i, product)
        {
            json_array_extend(all, json_object_get(product, "variants"));
        }
        ms_answer_list(req, resp, all, &filter, ms_any_variant_resource, shop);
    }
    json_decref(all);
}

/* ---- writes ---- */

/* Whether name is in the NULL-terminated list. */
static int ms_in_list(const char *name, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(name, *list) == 0)
            return 1;
    }
    return 0;
}

/* Parses a write body and checks that it is a JSON:API document
 * {"data": {"type": type, "id": id, "attributes": {...}}} writing only the
 * attributes in `writable`.  id NULL means a create: data.id must be absent.
 * with_relationships allows data.relationships.  Problems are appended to
 * errors.  Returns the parsed document (new reference), NULL when the body is
 * not JSON. */
static json_t *ms_doc_load(const sim_req *req, const char *type, const char *id,
                           const char *const *writable, int with_relationships, json_t *errors)
{
    json_error_t jerr;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *data;
    json_t *value;
    json_t *attributes;
    const char *key;
    const char *have;
    char pointer[160];

    if (doc == NULL) {
        ms_errors_add(errors, "", "the body is not valid JSON: %s", jerr.text);
        return NULL;
    }
    data = json_object_get(doc, "data");
    if (!json_is_object(doc) || !json_is_object(data)) {
        ms_errors_add(errors, "/data", "the body must be a JSON:API document with a data object");
        return doc;
    }
    have = json_string_value(json_object_get(data, "type"));
    if (have == NULL || strcmp(have, type) != 0)
        ms_errors_add(errors, "/data/type", "data.type must be \"%s\", not %s%s%s", type,
                      have != NULL ? "\"" : "", have != NULL ? have : "missing",
                      have != NULL ? "\"" : "");
    value = json_object_get(data, "id");
    if (id != NULL) {
        have = json_string_value(value);
        if (have == NULL || strcmp(have, id) != 0)
            ms_errors_add(errors, "/data/id", "data.id must be the string \"%s\" of the URL", id);
    } else if (value != NULL && !json_is_null(value)) {
        ms_errors_add(errors, "/data/id", "data.id must not be given when creating");
    }
    json_object_foreach(data, key, value)
    {
        if (strcmp(key, "type") == 0 || strcmp(key, "id") == 0 || strcmp(key, "attributes") == 0 ||
            (with_relationships && strcmp(key, "relationships") == 0))
            continue;
        snprintf(pointer, sizeof pointer, "/data/%s", key);
        ms_errors_add(errors, pointer, "data.%s cannot be written", key);
    }
    attributes = json_object_get(data, "attributes");
    if (attributes != NULL && !json_is_object(attributes)) {
        ms_errors_add(errors, "/data/attributes", "data.attributes must be an object");
        return doc;
    }
    json_object_foreach(attributes, key, value)
    {
        char names[160] = "";
        size_t used = 0;

        if (ms_in_list(key, writable))
            continue;
        for (size_t i = 0; writable[i] != NULL && used < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i > 0 ? ", " : "",
                                     writable[i]);
        snprintf(pointer, sizeof pointer, "/data/attributes/%s", key);
        ms_errors_add(errors, pointer, "attribute '%s' cannot be written (writable: %s)", key,
                      names);
    }
    return doc;
}

/* The data.attributes of a write document (borrowed, NULL when absent). */
static json_t *ms_doc_attrs(json_t *doc)
{
    return json_object_get(json_object_get(doc, "data"), "attributes");
}

/* Attribute `name` of a write document, which must be given.  NULL when it
 * is missing (an error is appended) or when the document is already known to
 * be broken (ms_doc_load appended the error). */
static json_t *ms_doc_required(json_t *doc, const char *name, json_t *errors)
{
    json_t *data = json_object_get(doc, "data");
    json_t *attributes = json_object_get(data, "attributes");
    json_t *value = json_object_get(attributes, name);
    char pointer[96];

    if (!json_is_object(data) || (attributes != NULL && !json_is_object(attributes)))
        return NULL;
    if (value == NULL) {
        snprintf(pointer, sizeof pointer, "/data/attributes/%s", name);
        ms_errors_add(errors, pointer, "attribute %s is missing", name);
    }
    return value;
}

/* Answers 400 with the collected errors (stolen). */
static void ms_fail_errors(sim_resp *resp, json_t *errors)
{
    sim_resp_json(resp, 400, json_pack("{s:o}", "errors", errors));
}

/* Queues one webhook POST of body to url, signed as Mystore signs
 * (X-No-Mystore-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body with
 * the secret), with X-No-Mystore-Topic and X-No-Mystore-Host. */
static void ms_webhook_send(const ms_shop *shop, const char *url, const char *secret,
                            const char *topic, const char *body)
{
    char h_topic[128], h_host[256], h_sig[128];
    uint8_t mac[32];

    sha256_hmac(secret, strlen(secret), body, strlen(body), mac);
    char *sig = b64_encode(mac, sizeof mac);
    if (sig == NULL)
        return;
    snprintf(h_topic, sizeof h_topic, "X-No-Mystore-Topic: %s", topic);
    snprintf(h_host, sizeof h_host, "X-No-Mystore-Host: %s", shop->name);
    snprintf(h_sig, sizeof h_sig, "X-No-Mystore-Hmac-Sha256: %s", sig);
    free(sig);
    const char *headers[3] = {h_topic, h_host, h_sig};
    sim_webhook_post(url, headers, 3, body);
}

/* Sends Mystore's webhook of topic ("orders/update") for the entity id, the
 * body {"data": {"type", "id"}}: to the test target of POST /_sim/webhooks
 * when one is set, and to every webhook registered through the API (M20)
 * whose topic it is, each signed with its own secret.  Queued: the answer
 * never waits for a receiver. */
static void ms_webhook(const ms_shop *shop, const char *topic, const char *id)
{
    char body[256];
    size_t i;
    json_t *hook;

    if (id == NULL)
        return;
    snprintf(body, sizeof body, "{\"data\":{\"type\":\"%.*s\",\"id\":\"%s\"}}",
             (int)strcspn(topic, "/"), topic, id);
    if (shop->webhook_url[0] != '\0')
        ms_webhook_send(shop, shop->webhook_url, shop->webhook_secret, topic, body);
    json_array_foreach(shop->webhooks, i, hook)
    {
        if (strcmp(json_string_value(json_object_get(hook, "topic")), topic) == 0)
            ms_webhook_send(shop, json_string_value(json_object_get(hook, "address")),
                            json_string_value(json_object_get(hook, "secret")), topic, body);
    }
}

/* Sets attributes.updated_at of a stored item to now. */
static void ms_touch(json_t *item)
{
    char now[MS_TS_LEN];

    ms_now(now);
    json_object_set_new(ms_attrs(item), "updated_at", json_string(now));
}

/* PATCH orders/{id}: writes tracking_number (and nothing else), bumps
 * updated_at. */
static void ms_patch_order(ms_shop *shop, const sim_req *req, sim_resp *resp, json_t *order)
{
    static const char *const writable[] = {"tracking_number", NULL};
    json_t *errors = json_array();
    json_t *doc = ms_doc_load(req, "orders", ms_id(order), writable, 0, errors);
    json_t *tracking = ms_doc_required(doc, "tracking_number", errors);

    if (tracking != NULL && !json_is_string(tracking) && !json_is_null(tracking))
        ms_errors_add(errors, "/data/attributes/tracking_number",
                      "tracking_number must be a string or null");
    if (json_array_size(errors) > 0 || tracking == NULL) {
        ms_fail_errors(resp, errors);
        json_decref(doc);
        return;
    }
    json_object_set(ms_attrs(order), "tracking_number", tracking);
    ms_touch(order);
    ms_webhook(shop, "orders/update", ms_id(order));
    ms_answer_one(resp, 200, ms_order_resource(order, shop));
    json_decref(errors);
    json_decref(doc);
}

/* Checks relationship `name` of a write document: {"data": {"type": type,
 * "id": "..."}}.  Returns the id (borrowed) or NULL after appending an error. */
static const char *ms_doc_relation(json_t *relationships, const char *name, const char *type,
                                   json_t *errors)
{
    json_t *data = json_object_get(json_object_get(relationships, name), "data");
    const char *have = json_string_value(json_object_get(data, "type"));
    const char *id = json_string_value(json_object_get(data, "id"));
    char pointer[96];

    snprintf(pointer, sizeof pointer, "/data/relationships/%s", name);
    if (!json_is_object(data)) {
        ms_errors_add(errors, pointer,
                      "relationship %s must be {\"data\": {\"type\": \"%s\", "
                      "\"id\": \"...\"}}",
                      name, type);
        return NULL;
    }
    if (have == NULL || strcmp(have, type) != 0) {
        ms_errors_add(errors, pointer, "relationship %s must have type \"%s\"", name, type);
        return NULL;
    }
    if (id == NULL || id[0] == '\0') {
        ms_errors_add(errors, pointer, "relationship %s needs a string id", name);
        return NULL;
    }
    return id;
}

/* POST order-status-history: a history row that sets the order's status
 * (M9).  Answers 201 with the row. */
static void ms_post_history(ms_shop *shop, const sim_req *req, sim_resp *resp)
{
    static const char *const writable[] = {"comments", "customer_notified", NULL};
    json_t *errors = json_array();
    json_t *doc = ms_doc_load(req, "order-status-history", NULL, writable, 1, errors);
    json_t *attributes = ms_doc_attrs(doc);
    json_t *relationships = json_object_get(json_object_get(doc, "data"), "relationships");
    json_t *comments = json_object_get(attributes, "comments");
    json_t *notified = json_object_get(attributes, "customer_notified");
    const char *order_id = NULL;
    const char *status_id = NULL;
    const char *key;
    json_t *value;
    json_t *order;
    json_t *row;
    char now[MS_TS_LEN];
    char row_id[32];
    char pointer[160];

    if (doc == NULL)
        goto fail;
    if (comments != NULL && !json_is_string(comments) && !json_is_null(comments))
        ms_errors_add(errors, "/data/attributes/comments", "comments must be a string or null");
    if (notified != NULL && !(json_is_integer(notified) && (json_integer_value(notified) == 0 ||
                                                            json_integer_value(notified) == 1)))
        ms_errors_add(errors, "/data/attributes/customer_notified",
                      "customer_notified must be 0 or 1");
    if (!json_is_object(relationships)) {
        ms_errors_add(errors, "/data/relationships",
                      "data.relationships with order and order-status is missing");
    } else {
        json_object_foreach(relationships, key, value)
        {
            if (strcmp(key, "order") == 0 || strcmp(key, "order-status") == 0)
                continue;
            snprintf(pointer, sizeof pointer, "/data/relationships/%s", key);
            ms_errors_add(errors, pointer, "unknown relationship '%s' (order, order-status)", key);
        }
        order_id = ms_doc_relation(relationships, "order", "orders", errors);
        status_id = ms_doc_relation(relationships, "order-status", "order-status", errors);
    }
fail:
    if (json_array_size(errors) > 0) {
        ms_fail_errors(resp, errors);
        json_decref(doc);
        return;
    }
    json_decref(errors);
    order = ms_find(shop->orders, order_id);
    if (order == NULL) {
        ms_fail(resp, 404, "no orders with id %s", order_id);
        json_decref(doc);
        return;
    }
    if (!ms_status_known(shop, status_id)) {
        ms_fail(resp, 404, "no order-status with id %s", status_id);
        json_decref(doc);
        return;
    }
    ms_now(now);
    snprintf(row_id, sizeof row_id, "%ld", ++shop->history_seq);
    row = json_pack("{s:s, s:s, s:O, s:o, s:s}", "id", row_id, "status_id", status_id, "comments",
                    comments != NULL ? comments : json_null(), "customer_notified",
                    notified != NULL ? json_incref(notified) : json_integer(0), "created_at", now);
    json_array_append_new(json_object_get(order, "history"), row);
    json_object_set_new(order, "status_id", json_string(status_id));
    ms_touch(order);
    ms_webhook(shop, "orders/update", ms_id(order));
    ms_answer_one(resp, 201,
                  json_pack("{s:s, s:s, s:{s:O, s:O, s:s}, s:{s:o, s:o}}", "type",
                            "order-status-history", "id", row_id, "attributes", "comments",
                            json_object_get(row, "comments"), "customer_notified",
                            json_object_get(row, "customer_notified"), "created_at", now,
                            "relationships", "order", ms_relation_new("orders", order_id),
                            "order-status", ms_relation_new("order-status", status_id)));
    json_decref(doc);
}

/* The "quantity" of a stock write, checked to be an integer; NULL after
 * appending an error. */
static json_t *ms_doc_quantity(json_t *doc, json_t *errors)
{
    json_t *quantity = ms_doc_required(doc, "quantity", errors);

    if (quantity != NULL && !json_is_integer(quantity)) {
        ms_errors_add(errors, "/data/attributes/quantity", "quantity must be an integer");
        return NULL;
    }
    return quantity;
}

/* PATCH product-variants/{id}: writes quantity; bumps the product's
 * updated_at (M3), and the variant's when it has one. */
static void ms_patch_variant(ms_shop *shop, const sim_req *req, sim_resp *resp, json_t *variant,
                             json_t *product)
{
    static const char *const writable[] = {"quantity", NULL};
    json_t *errors = json_array();
    json_t *doc = ms_doc_load(req, "product-variants", ms_id(variant), writable, 0, errors);
    json_t *quantity = ms_doc_quantity(doc, errors);

    if (json_array_size(errors) > 0 || quantity == NULL) {
        ms_fail_errors(resp, errors);
        json_decref(doc);
        return;
    }
    json_object_set(ms_attrs(variant), "quantity", quantity);
    if (json_object_get(ms_attrs(variant), "updated_at") != NULL)
        ms_touch(variant);
    ms_touch(product);
    ms_webhook(shop, "products/update", ms_id(product));
    ms_answer_one(resp, 200, ms_variant_resource(variant, ms_id(product)));
    json_decref(errors);
    json_decref(doc);
}

/* PATCH products/{id}: writes quantity of a product without variants (M10),
 * bumps updated_at. */
static void ms_patch_product(ms_shop *shop, const sim_req *req, sim_resp *resp, json_t *product)
{
    static const char *const writable[] = {"quantity", NULL};
    json_t *errors = json_array();
    json_t *doc = ms_doc_load(req, "products", ms_id(product), writable, 0, errors);
    json_t *quantity = ms_doc_quantity(doc, errors);

    if (json_array_size(json_object_get(product, "variants")) > 0)
        ms_errors_add(errors, "/data/attributes/quantity",
                      "product %s has variants: write their stock with PATCH product-variants",
                      ms_id(product));
    if (json_array_size(errors) > 0 || quantity == NULL) {
        ms_fail_errors(resp, errors);
        json_decref(doc);
        return;
    }
    json_object_set(ms_attrs(product), "quantity", quantity);
    ms_touch(product);
    ms_webhook(shop, "products/update", ms_id(product));
    ms_answer_one(resp, 200, ms_plain_resource(product, "products"));
    json_decref(errors);
    json_decref(doc);
}

/* ---- routing ---- */

/* Splits a path "/a/b/c" into at most max segments in buf (modified copies).
 * Returns the number of segments, -1 when the path is too long, has too many
 * segments or an empty one. */
static int ms_split(const char *path, char *buf, size_t size, char **segs, int max)
{
    int count = 0;
    char *p;

    if (path[0] != '/' || strlen(path) >= size)
        return -1;
    snprintf(buf, size, "%s", path + 1);
    for (p = buf;;) {
        char *slash = strchr(p, '/');

        if (*p == '\0' || count == max || slash == p)
            return -1;
        segs[count++] = p;
        if (slash == NULL)
            return count;
        *slash = '\0';
        p = slash + 1;
    }
}

/* Whether a and b are equal strings. */
static int ms_eq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* ---- the webhooks resource (M20) ----
 *
 * POST webhooks registers one (topic, address, a write-only secret), GET
 * webhooks lists the shop's, GET or DELETE webhooks/{id} one.  An OAuth
 * access token needs read:webhooks to read and write:webhooks to write; the
 * shop's static token (a personal access token) may do both. */

static int ms_in_scopes(json_t *scopes, const char *scope);
static int ms_az_uri_ok(const char *uri);

/* The topics a webhook may be registered for (mystore-research.md §5). */
static const char *const ms_webhook_topics[] = {"orders/create",   "orders/update",
                                                "products/create", "products/update",
                                                "products/delete", NULL};

/* A registered webhook as answered: its topic and address, never its
 * secret. */
static json_t *ms_webhook_resource(json_t *hook, const void *ctx)
{
    (void)ctx;
    return json_pack("{s:s, s:s, s:{s:O, s:O}}", "type", "webhooks", "id", ms_id(hook),
                     "attributes", "topic", json_object_get(hook, "topic"), "address",
                     json_object_get(hook, "address"));
}

/* Whether the request's bearer token may use scope on shop: the static
 * token may do everything, an access token what its chain was granted (a
 * code of /_sim/oauth/codes grants "*").  ms_auth has let the token in. */
static int ms_token_may(ms_shop *shop, const sim_req *req, const char *scope)
{
    const char *auth = req->authorization;
    const char *chain;
    json_t *scopes;

    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    for (auth += 7; *auth == ' '; auth++) {
    }
    if (ms_eq(auth, shop->token))
        return 1;
    chain = json_string_value(json_object_get(json_object_get(shop->oa.access, auth), "chain"));
    if (chain == NULL)
        return 0;
    scopes = json_object_get(json_object_get(shop->oa.chains, chain), "scopes");
    return ms_in_scopes(scopes, scope) || ms_in_scopes(scopes, "*");
}

/* Whether address can receive webhooks: an absolute http(s) URL with a
 * host, as a redirect target must be, that fits the sender. */
static int ms_webhook_address_ok(const char *address)
{
    const char *host;

    if (address == NULL || !ms_az_uri_ok(address) || strlen(address) >= 1024)
        return 0;
    host = strstr(address, "://") + 3;
    return *host != '\0' && *host != '/' && *host != '?';
}

/* Appends a 422 error about data.attributes.name. */
MS_PRINTF(3, 4)
static void ms_errors_add_422(json_t *errors, const char *name, const char *fmt, ...)
{
    char detail[512], pointer[96];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(pointer, sizeof pointer, "/data/attributes/%s", name);
    json_array_append_new(errors, ms_error_new(422, "pointer", pointer, detail));
}

/* POST webhooks {"data": {"type": "webhooks", "attributes": {"topic",
 * "address", "secret"}}}: 201 with the webhook (without the secret); 400
 * for a body that is not such a document, 422 for a topic not known, an
 * address missing or not an http(s) URL, a secret missing or not 1 to 255
 * characters, or a topic and address already registered. */
static void ms_post_webhook(ms_shop *shop, const sim_req *req, sim_resp *resp)
{
    static const char *const writable[] = {"topic", "address", "secret", NULL};
    json_t *errors = json_array();
    json_t *doc = ms_doc_load(req, "webhooks", NULL, writable, 0, errors);
    json_t *attrs = ms_doc_attrs(doc);
    const char *topic = json_string_value(json_object_get(attrs, "topic"));
    const char *address = json_string_value(json_object_get(attrs, "address"));
    json_t *secret = json_object_get(attrs, "secret");
    size_t i;
    json_t *hook;
    char id[32];

    if (json_array_size(errors) > 0) {
        ms_fail_errors(resp, errors);
        json_decref(doc);
        return;
    }
    if (topic == NULL || !ms_in_list(topic, ms_webhook_topics))
        ms_errors_add_422(errors, "topic",
                          "topic must be one of orders/create, orders/update, products/create, "
                          "products/update, products/delete");
    if (!ms_webhook_address_ok(address))
        ms_errors_add_422(errors, "address", "address must be an absolute http(s) URL");
    if (!json_is_string(secret) || json_string_length(secret) == 0 ||
        json_string_length(secret) > 255)
        ms_errors_add_422(errors, "secret", "secret must be a string of 1 to 255 characters");
    json_array_foreach(shop->webhooks, i, hook)
    {
        if (json_array_size(errors) == 0 &&
            ms_eq(json_string_value(json_object_get(hook, "topic")), topic) &&
            ms_eq(json_string_value(json_object_get(hook, "address")), address))
            ms_errors_add_422(errors, "address", "address is already registered for %s", topic);
    }
    if (json_array_size(errors) > 0) {
        sim_resp_json(resp, 422, json_pack("{s:o}", "errors", errors));
        json_decref(doc);
        return;
    }
    json_decref(errors);
    snprintf(id, sizeof id, "%ld", ++shop->webhook_seq);
    hook = json_pack("{s:s, s:s, s:s, s:O}", "id", id, "topic", topic, "address", address, "secret",
                     secret);
    json_array_append_new(shop->webhooks, hook);
    ms_answer_one(resp, 201, ms_webhook_resource(hook, NULL));
    json_decref(doc);
}

/* /shops/{shop}/webhooks[/{id}]: segs and count as ms_route has them.  A
 * method the path does not take answers 405, a token without the scope 403,
 * an unknown id 404. */
static void ms_route_webhooks(ms_shop *shop, const sim_req *req, sim_resp *resp, char **segs,
                              int count)
{
    int get = ms_eq(req->method, "GET");
    int write =
        (count == 1 && ms_eq(req->method, "POST")) || (count == 2 && ms_eq(req->method, "DELETE"));
    const char *scope = write ? "write:webhooks" : "read:webhooks";
    size_t i;
    json_t *hook = NULL;

    if (count > 2) {
        ms_fail(resp, 404, "no route %s %s", req->method, req->path);
        return;
    }
    if (!get && !write) {
        ms_fail(resp, 405, "%s is not allowed on %s", req->method, req->path);
        return;
    }
    if (!ms_token_may(shop, req, scope)) {
        ms_fail(resp, 403, "the token lacks the scope %s", scope);
        return;
    }
    if (count == 1) {
        if (get)
            ms_answer_list(req, resp, shop->webhooks, NULL, ms_webhook_resource, NULL);
        else
            ms_post_webhook(shop, req, resp);
        return;
    }
    json_array_foreach(shop->webhooks, i, hook)
    {
        if (ms_eq(ms_id(hook), segs[1]))
            break;
    }
    if (i == json_array_size(shop->webhooks)) {
        ms_fail(resp, 404, "no webhooks with id %s", segs[1]);
    } else if (get) {
        ms_answer_one(resp, 200, ms_webhook_resource(hook, NULL));
    } else {
        json_array_remove(shop->webhooks, i);
        sim_resp_json(resp, 204, NULL);
    }
}

/* Routes a request below /shops/{shop}/ (segs are the segments after it).
 * Unknown paths and ids answer 404; known paths with another method 405. */
static void ms_route(ms_shop *shop, const sim_req *req, sim_resp *resp, char **segs, int count)
{
    int get = ms_eq(req->method, "GET");
    int patch = ms_eq(req->method, "PATCH");
    int post = ms_eq(req->method, "POST");
    const char *kind = segs[0];
    const char *id = count >= 2 ? segs[1] : NULL;
    json_t *item = NULL;
    json_t *product = NULL;

    if (ms_eq(kind, "webhooks")) {
        ms_route_webhooks(shop, req, resp, segs, count);
        return;
    }
    /* Resolve the id first, so an unknown one answers 404 whatever the method. */
    if (id != NULL) {
        if (ms_eq(kind, "orders"))
            item = ms_find(shop->orders, id);
        else if (ms_eq(kind, "order-products"))
            item = ms_find_line(shop, id);
        else if (ms_eq(kind, "products"))
            item = ms_find(shop->products, id);
        else if (ms_eq(kind, "product-variants"))
            item = ms_find_variant(shop, id, &product);
        else if (ms_eq(kind, "product-options"))
            item = ms_find(shop->options, id);
        else if (ms_eq(kind, "product-option-values"))
            item = ms_find(shop->option_values, id);
        else
            goto not_found;
        if (item == NULL) {
            ms_fail(resp, 404, "no %s with id %s", kind, id);
            return;
        }
    }

    if (count == 1 && ms_eq(kind, "orders")) {
        if (get) {
            ms_get_filtered(shop, req, resp, shop->orders, ms_order_resource, shop);
            ms_include(shop, req, resp, 1);
        }
    } else if (count == 2 && ms_eq(kind, "orders")) {
        if (get) {
            ms_answer_one(resp, 200, ms_order_resource(item, shop));
            ms_include(shop, req, resp, 1);
        } else if (patch)
            ms_patch_order(shop, req, resp, item);
    } else if (count == 3 && ms_eq(kind, "orders") && ms_eq(segs[2], "order-products")) {
        if (get)
            ms_answer_list(req, resp, json_object_get(item, "lines"), NULL, ms_line_resource, NULL);
    } else if (count == 3 && ms_eq(kind, "orders") && ms_eq(segs[2], "order-status-history")) {
        if (get)
            ms_answer_list(req, resp, json_object_get(item, "history"), NULL, ms_history_resource,
                           NULL);
    } else if (count == 3 && ms_eq(kind, "orders") && ms_eq(segs[2], "order-totals")) {
        if (get)
            ms_answer_list(req, resp, json_object_get(item, "totals"), NULL, ms_plain_resource,
                           "order-totals");
    } else if (count == 3 && ms_eq(kind, "order-products") &&
               ms_eq(segs[2], "order-product-attributes")) {
        if (get)
            ms_answer_list(req, resp, json_object_get(item, "options"), NULL, ms_plain_resource,
                           "order-product-attributes");
    } else if (count == 1 && ms_eq(kind, "order-status")) {
        if (get)
            ms_answer_list(req, resp, shop->statuses, NULL, ms_flat_resource, "order-status");
    } else if (count == 1 && ms_eq(kind, "order-status-history")) {
        if (post)
            ms_post_history(shop, req, resp);
    } else if (count == 1 && ms_eq(kind, "products")) {
        if (get) {
            ms_get_filtered(shop, req, resp, shop->products, ms_product_resource, NULL);
            ms_include(shop, req, resp, 0);
        }
    } else if (count == 2 && ms_eq(kind, "products")) {
        if (get) {
            ms_answer_one(resp, 200, ms_product_resource(item, NULL));
            ms_include(shop, req, resp, 0);
        } else if (patch)
            ms_patch_product(shop, req, resp, item);
    } else if (count == 3 && ms_eq(kind, "products") && ms_eq(segs[2], "product-variants")) {
        if (get)
            ms_get_variants(req, resp, item);
    } else if (count == 1 && ms_eq(kind, "product-variants")) {
        if (get)
            ms_get_all_variants(shop, req, resp);
    } else if (count == 2 && ms_eq(kind, "product-variants")) {
        if (get)
            ms_answer_one(resp, 200, ms_variant_resource(item, ms_id(product)));
        else if (patch)
            ms_patch_variant(shop, req, resp, item, product);
    } else if (count == 2 &&
               (ms_eq(kind, "product-options") || ms_eq(kind, "product-option-values"))) {
        if (get)
            ms_answer_one(resp, 200, ms_flat_resource(item, kind));
    } else {
        goto not_found;
    }
    if (resp->status != 0)
        return;
    ms_fail(resp, 405, "%s is not allowed on %s", req->method, req->path);
    return;
not_found:
    ms_fail(resp, 404, "no route %s %s", req->method, req->path);
}

/* ---- OAuth 2.0 (POST /oauth/token) ---- */

static json_t *ms_test_body(const sim_req *req, sim_resp *resp);
static void ms_test_include(ms_shop *shop, const sim_req *req, sim_resp *resp);
static int ms_token_ok(const char *token);

static long long ms_oa_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Makes an empty authorization server for a new shop. */
static void ms_oa_init(ms_oauth *oa)
{
    oa->clients = json_object();
    oa->codes = json_object();
    oa->refresh = json_object();
    oa->access = json_object();
    oa->chains = json_object();
    oa->log = json_array();
    oa->issued = json_array();
    oa->grant_drop = json_array();
    oa->grant_add = json_array();
    oa->consents = json_array();
    oa->access_ttl_s = ms_access_ttl;
}

/* Frees what ms_oa_init made. */
static void ms_oa_free(ms_oauth *oa)
{
    json_decref(oa->clients);
    json_decref(oa->codes);
    json_decref(oa->refresh);
    json_decref(oa->access);
    json_decref(oa->chains);
    json_decref(oa->log);
    json_decref(oa->issued);
    json_decref(oa->grant_drop);
    json_decref(oa->grant_add);
    json_decref(oa->consents);
}

/* base64url without padding of len bytes. */
static void ms_oa_b64url(const unsigned char *in, size_t len, ms_str *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        char c[4];
        size_t n = 2;
        if (i + 1 < len) {
            v |= (unsigned)in[i + 1] << 8;
            n = 3;
        }
        if (i + 2 < len) {
            v |= in[i + 2];
            n = 4;
        }
        c[0] = tab[(v >> 18) & 63];
        c[1] = tab[(v >> 12) & 63];
        c[2] = tab[(v >> 6) & 63];
        c[3] = tab[v & 63];
        ms_str_add(out, c, n);
    }
}

/* 16 random hex digits. */
static void ms_oa_random(char out[17])
{
    unsigned char b[8];
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(b, 1, sizeof b, f) != sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    if (f != NULL)
        fclose(f);
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The scopes joined by spaces, as the token answer's "scope" (RFC 6749
 * 5.1).  Written into str. */
static void ms_oa_scope_join(json_t *scopes, ms_str *str)
{
    size_t i;
    json_t *scope;

    ms_str_adds(str, "");
    json_array_foreach(scopes, i, scope)
    {
        if (i > 0)
            ms_str_adds(str, " ");
        ms_str_adds(str, json_string_value(scope));
    }
}

/* Issues an access and a refresh token for client on chain, which holds
 * scopes (borrowed; a new chain takes them, a refreshed one has its own);
 * the answer body (new reference). */
static json_t *ms_oa_issue(ms_shop *shop, const char *client, const char *chain, json_t *scopes)
{
    ms_oauth *oa = &shop->oa;
    long long now = ms_oa_now_ms();
    long long exp_ms = now + oa->access_ttl_s * 1000;
    char jti[48], rnd[17], refresh[64];
    ms_str jwt = {0};
    json_int_t seq = ++oa->seq;

    snprintf(jti, sizeof jti, "at-%lld", (long long)seq);
    json_t *payload = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s+, s:O, s:[s]}", "aud", client, "jti",
                                jti, "iat", (json_int_t)(now / 1000), "nbf",
                                (json_int_t)(now / 1000), "exp", (json_int_t)(exp_ms / 1000), "sub",
                                shop->name, "_1", "scopes", scopes, "no_mystore_hosts", shop->name);
    char *p = json_dumps(payload, JSON_COMPACT);
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"RS256\"}";
    ms_oa_b64url((const unsigned char *)header, strlen(header), &jwt);
    ms_str_adds(&jwt, ".");
    ms_oa_b64url((const unsigned char *)p, strlen(p), &jwt);
    /* Not signed: the signature is random bytes of RS256's length class. */
    ms_str_adds(&jwt, ".");
    for (int i = 0; i < 4; i++) {
        ms_oa_random(rnd);
        ms_oa_b64url((const unsigned char *)rnd, 16, &jwt);
    }
    free(p);
    json_decref(payload);
    ms_oa_random(rnd);
    snprintf(refresh, sizeof refresh, "rt-%lld-%s", (long long)seq, rnd);
    /* exp is whole seconds in the JWT: the token ends there. */
    exp_ms = exp_ms / 1000 * 1000;
    json_object_set_new(oa->access, jwt.text,
                        json_pack("{s:s, s:s, s:I}", "client", client, "chain", chain, "exp_ms",
                                  (json_int_t)exp_ms));
    json_object_set_new(oa->refresh, refresh,
                        json_pack("{s:s, s:s, s:I, s:b, s:b}", "client", client, "chain", chain,
                                  "id", (json_int_t)seq, "used", 0, "revoked", 0));
    json_t *c = json_object_get(oa->chains, chain);
    if (c == NULL) {
        c = json_pack("{s:I, s:o}", "refreshes", (json_int_t)0, "scopes", json_deep_copy(scopes));
        json_object_set_new(oa->chains, chain, c);
    }
    json_object_set_new(c, "access_exp_ms", json_integer((json_int_t)exp_ms));
    json_object_set_new(c, "access_iat_ms", json_integer((json_int_t)now));
    ms_str scope = {0};
    ms_oa_scope_join(scopes, &scope);
    json_t *answer =
        json_pack("{s:s, s:I, s:s, s:s, s:s}", "token_type", "Bearer", "expires_in",
                  (json_int_t)oa->access_ttl_s, "access_token", jwt.text, "refresh_token", refresh,
                  "scope", scope.text != NULL ? scope.text : "");
    free(scope.text);
    json_array_append_new(
        oa->issued, json_pack("{s:s, s:s}", "access_token", jwt.text, "refresh_token", refresh));
    free(jwt.text);
    /* Access tokens long expired are forgotten (they answer "invalid"). */
    const char *k;
    void *tmp;
    json_t *v;
    json_object_foreach_safe(oa->access, tmp, k, v)
    {
        if (json_integer_value(json_object_get(v, "exp_ms")) < now - 600000)
            json_object_del(oa->access, k);
    }
    return answer;
}

static void ms_oa_fail(sim_resp *resp, int status, const char *error, const char *description)
{
    sim_resp_json(resp, status,
                  json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

/* Collects form fields into an object (URL-decoded). */
static void ms_oa_form(const char *body, json_t *out)
{
    const char *p = body;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq != NULL) {
            char key[128], value[4096];
            size_t k = 0, v = 0;
            for (const char *q = p; q < eq && k + 1 < sizeof key; q++)
                key[k++] = *q;
            key[k] = '\0';
            for (const char *q = eq + 1; q < p + len && v + 1 < sizeof value; q++) {
                unsigned int c;
                if (*q == '+')
                    value[v++] = ' ';
                else if (*q == '%' && q + 2 < p + len + 0 + 1 && sscanf(q + 1, "%2x", &c) == 1) {
                    value[v++] = (char)c;
                    q += 2;
                } else
                    value[v++] = *q;
            }
            value[v] = '\0';
            json_object_set_new(out, key, json_string(value));
        }
        p += len;
        if (*p == '&')
            p++;
    }
}

/* POST /oauth/token: authorization_code and refresh_token grants (RFC
 * 6749), the body form-encoded or JSON, the client in it.  The client
 * names its shop (client ids are unique across shops); a request without
 * a known client is counted by shop #0, as when there was only one. */
static void ms_oauth_token(ms_state *st, const sim_req *req, sim_resp *resp)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        body = json_object();
        ms_oa_form(req->body, body);
    }
    const char *grant = json_string_value(json_object_get(body, "grant_type"));
    const char *client = json_string_value(json_object_get(body, "client_id"));
    json_t *index = client != NULL ? json_object_get(st->by_client, client) : NULL;
    ms_shop *shop = st->shops[index != NULL ? json_integer_value(index) : 0];
    ms_oauth *oa = &shop->oa;
    oa->token_requests++;
    const char *secret = json_string_value(json_object_get(body, "client_secret"));
    const char *known = client ? json_string_value(json_object_get(oa->clients, client)) : NULL;
    if (!ms_eq(req->method, "POST")) {
        ms_oa_fail(resp, 405, "invalid_request", "POST only");
    } else if (grant == NULL) {
        ms_oa_fail(resp, 400, "invalid_request", "grant_type is missing");
    } else if (known == NULL || secret == NULL || strcmp(known, secret) != 0) {
        oa->invalid_client++;
        ms_oa_fail(resp, 401, "invalid_client", "Client authentication failed");
    } else if (ms_eq(grant, "authorization_code")) {
        const char *code = json_string_value(json_object_get(body, "code"));
        json_t *c = code ? json_object_get(oa->codes, code) : NULL;
        const char *bound = json_string_value(json_object_get(c, "redirect_uri"));
        const char *given = json_string_value(json_object_get(body, "redirect_uri"));
        if (c == NULL || json_is_true(json_object_get(c, "used")) ||
            strcmp(json_string_value(json_object_get(c, "client_id")), client) != 0) {
            oa->invalid_grant++;
            ms_oa_fail(resp, 400, "invalid_grant", "The authorization code is invalid.");
        } else if (bound != NULL && (given == NULL || strcmp(bound, given) != 0)) {
            /* RFC 6749 4.1.3: a code the authorize page issued for a
             * redirect_uri is exchanged only with that same redirect_uri.
             * The code stays unspent: the client may still send it right. */
            oa->invalid_grant++;
            ms_oa_fail(resp, 400, "invalid_grant",
                       "The redirect_uri does not match the authorization request.");
        } else {
            char chain[32];
            json_t *all = json_pack("[s]", "*");
            json_t *scopes = json_object_get(c, "scopes");
            json_object_set_new(c, "used", json_true());
            oa->codes_exchanged++;
            snprintf(chain, sizeof chain, "chain-%lld", (long long)oa->seq + 1);
            /* A code of POST /_sim/oauth/codes grants everything ("*"). */
            sim_resp_json(resp, 200,
                          ms_oa_issue(shop, client, chain, scopes != NULL ? scopes : all));
            json_decref(all);
        }
    } else if (ms_eq(grant, "refresh_token")) {
        const char *token = json_string_value(json_object_get(body, "refresh_token"));
        json_t *r = token ? json_object_get(oa->refresh, token) : NULL;
        if (r == NULL || strcmp(json_string_value(json_object_get(r, "client")), client) != 0) {
            oa->invalid_grant++;
            ms_oa_fail(resp, 400, "invalid_grant", "The refresh token is invalid.");
        } else if (json_is_true(json_object_get(r, "used"))) {
            oa->invalid_grant++;
            oa->reused++;
            ms_oa_fail(resp, 400, "invalid_grant", "The refresh token is invalid.");
        } else if (json_is_true(json_object_get(r, "revoked"))) {
            oa->invalid_grant++;
            oa->revoked_used++;
            ms_oa_fail(resp, 400, "invalid_grant", "The refresh token has been revoked.");
        } else {
            const char *chain = json_string_value(json_object_get(r, "chain"));
            json_t *c = json_object_get(oa->chains, chain);
            long long now = ms_oa_now_ms();
            json_object_set_new(r, "used", json_true());
            oa->refreshes++;
            json_object_set_new(
                c, "refreshes",
                json_integer(json_integer_value(json_object_get(c, "refreshes")) + 1));
            json_array_append_new(
                oa->log,
                json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "chain", chain, "grant", grant, "at_ms",
                          (json_int_t)now, "prev_access_left_ms",
                          json_integer_value(json_object_get(c, "access_exp_ms")) - (json_int_t)now,
                          "prev_access_life_ms",
                          json_integer_value(json_object_get(c, "access_exp_ms")) -
                              json_integer_value(json_object_get(c, "access_iat_ms")),
                          "token_id", json_integer_value(json_object_get(r, "id"))));
            sim_resp_json(resp, 200,
                          ms_oa_issue(shop, client, chain, json_object_get(c, "scopes")));
        }
    } else {
        ms_oa_fail(resp, 400, "unsupported_grant_type", "The grant type is not supported.");
    }
    json_decref(body);
    resp->content_type = "application/json";
}

/* Registers (or re-keys) OAuth client id with secret on shop.  -1 when
 * another shop has a client of that id: the token endpoint finds the shop
 * by the client, so an id names one shop. */
static int ms_client_add(ms_state *st, ms_shop *shop, const char *id, const char *secret)
{
    json_t *index = json_object_get(st->by_client, id);

    if (index != NULL && (size_t)json_integer_value(index) != shop->index)
        return -1;
    json_object_set_new(st->by_client, id, json_integer((json_int_t)shop->index));
    json_object_set_new(shop->oa.clients, id, json_string(secret));
    return 0;
}

/* The bearer token's verdict on shop: 0 valid (key set), 1 expired, -1
 * unknown (to this shop: another shop's token is as good as none). */
static int ms_oa_check(ms_shop *shop, const char *token, char *key, size_t key_size)
{
    ms_oauth *oa = &shop->oa;
    json_t *a = json_object_get(oa->access, token);
    if (a == NULL)
        return -1;
    if (json_integer_value(json_object_get(a, "exp_ms")) <= ms_oa_now_ms()) {
        oa->expired_403++;
        return 1;
    }
    snprintf(key, key_size, "client:%s", json_string_value(json_object_get(a, "client")));
    return 0;
}

/* ---- OAuth 2.0 authorize page (GET/POST /oauth/authorize) ----
 *
 * The browser side of the authorization server: a consent page naming the
 * shop and the scopes asked, and the form it posts back, which redirects to
 * the client's redirect_uri with a code or error=access_denied (RFC 6749
 * 4.1).  There is no merchant sign-in: the simulator's merchant is always
 * signed in.  What a consent grants is set per shop by POST
 * /_sim/oauth/grant. */

#define MS_AZ_HTML "text/html; charset=utf-8"

/* Whether scopes (an array of strings) holds scope. */
static int ms_in_scopes(json_t *scopes, const char *scope)
{
    size_t i;
    json_t *one;

    json_array_foreach(scopes, i, one)
    {
        if (ms_eq(json_string_value(one), scope))
            return 1;
    }
    return 0;
}

/* One authorization request, from the page's query or the form's body. */
typedef struct ms_az_req {
    const char *client_id;
    const char *redirect_uri;
    const char *response_type;
    const char *scope; /* space separated; NULL = none asked */
    const char *state; /* NULL = none */
} ms_az_req;

/* Appends text HTML-escaped (for element content and quoted attributes). */
static void ms_html_add(ms_str *str, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '&':
            ms_str_adds(str, "&amp;");
            break;
        case '<':
            ms_str_adds(str, "&lt;");
            break;
        case '>':
            ms_str_adds(str, "&gt;");
            break;
        case '"':
            ms_str_adds(str, "&quot;");
            break;
        case '\'':
            ms_str_adds(str, "&#39;");
            break;
        default:
            ms_str_add(str, p, 1);
        }
    }
}

/* The start of a page up to the opening of <main>: one title, lang="en", a
 * viewport for phones and colours of at least 4.5:1 contrast (the admin's
 * browser test scans every page it passes with axe-core). */
static void ms_az_page_start(ms_str *page, const char *title)
{
    ms_str_adds(page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                      "<title>");
    ms_html_add(page, title);
    ms_str_adds(page, " · Mystore</title>\n<style>\n"
                      "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1f2328;"
                      "background:#f3f4f6}\n"
                      "main{max-width:34rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;"
                      "border:1px solid #d0d7de;border-radius:8px}\n"
                      "h1{font-size:1.4rem;margin-top:0}\nh2{font-size:1.1rem}\n"
                      "code{font-size:.9em;background:#eef1f4;padding:0 .25em;border-radius:3px}\n"
                      "ul{padding-left:1.2rem}\n.note{color:#4b5563}\n"
                      ".actions{display:flex;gap:1rem;margin-top:1.5rem}\n"
                      "button{font:inherit;padding:.6rem 1.6rem;border-radius:6px;cursor:pointer;"
                      "border:1px solid #1f2328}\n"
                      "button:focus-visible{outline:3px solid #b45309;outline-offset:2px}\n"
                      ".allow{background:#1d4ed8;border-color:#1d4ed8;color:#fff}\n"
                      ".deny{background:#fff;color:#1f2328}\n"
                      ".error{color:#b91c1c}\n"
                      "@media (max-width:30rem){main{margin:0;border:0;border-radius:0;"
                      "padding:1rem}}\n"
                      "</style>\n</head>\n<body>\n<main>\n");
}

/* Ends the page and answers it with status; a page that outgrew its cap
 * (a request of 64 KiB) answers 400 without it. */
static void ms_az_page_send(ms_str *page, int status, sim_resp *resp)
{
    ms_str_adds(page, "</main>\n</body>\n</html>\n");
    if (page->failed) {
        free(page->text);
        sim_resp_text(resp, 400, strdup("request too large\n"), "text/plain; charset=utf-8");
        return;
    }
    sim_resp_text(resp, status, page->text, MS_AZ_HTML);
}

/* Answers a 400 page saying what is wrong with the request.  No redirect:
 * a request with a bad client or redirect_uri must not send the browser to
 * a place the client did not register (RFC 6749 4.1.2.1). */
MS_PRINTF(3, 4)
static void ms_az_refuse(ms_oauth *oa, sim_resp *resp, const char *fmt, ...)
{
    ms_str page = {0};
    char reason[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    oa->consent_refused++;
    ms_az_page_start(&page, "Authorization request refused");
    ms_str_adds(&page, "<h1>This authorization request cannot be used</h1>\n<p class=\"error\">");
    ms_html_add(&page, reason);
    ms_str_adds(&page, "</p>\n<p>Go back to the application that sent you here and start the "
                       "connection again. If it happens again, tell its provider.</p>\n");
    ms_az_page_send(&page, 400, resp);
}

/* The scopes of a space-separated list, each once, in the order asked (new
 * reference). */
static json_t *ms_az_scopes(const char *scope)
{
    json_t *scopes = json_array();
    const char *p = scope != NULL ? scope : "";

    while (*p != '\0') {
        size_t len = strcspn(p, " ");
        char one[256];

        if (len > 0 && len < sizeof one) {
            memcpy(one, p, len);
            one[len] = '\0';
            if (!ms_in_scopes(scopes, one))
                json_array_append_new(scopes, json_string(one));
        }
        p += len;
        p += strspn(p, " ");
    }
    return scopes;
}

/* What a consent to asked grants on this shop: asked minus grant_drop,
 * then grant_add (new reference). */
static json_t *ms_az_granted(const ms_oauth *oa, json_t *asked)
{
    json_t *granted = json_array();
    size_t i;
    json_t *scope;

    json_array_foreach(asked, i, scope)
    {
        if (!ms_in_scopes(oa->grant_drop, json_string_value(scope)))
            json_array_append(granted, scope);
    }
    json_array_foreach(oa->grant_add, i, scope)
    {
        if (!ms_in_scopes(granted, json_string_value(scope)))
            json_array_append(granted, scope);
    }
    return granted;
}

/* {"drop": [...], "add": [...]}: the shop's consent setting (new reference). */
static json_t *ms_az_grant_json(const ms_oauth *oa)
{
    return json_pack("{s:O, s:O}", "drop", oa->grant_drop, "add", oa->grant_add);
}

/* Whether value is absent or an array of scopes (1 to 255 visible ASCII
 * characters each, so one joins a space-separated list unchanged). */
static int ms_az_scope_list_ok(json_t *value)
{
    size_t i;
    json_t *scope;

    if (value == NULL)
        return 1;
    if (!json_is_array(value))
        return 0;
    json_array_foreach(value, i, scope)
    {
        if (!json_is_string(scope) || !ms_token_ok(json_string_value(scope)))
            return 0;
    }
    return 1;
}

/* POST /_sim/oauth/grant {"drop": [...], "add": [...]}: what later consents
 * on this shop grant; a member left out is empty, so {} grants what is
 * asked again.  Answers the setting. */
static void ms_az_grant_set(ms_oauth *oa, const sim_req *req, sim_resp *resp)
{
    json_t *body = ms_test_body(req, resp);
    json_t *drop, *add;
    const char *key;
    json_t *value;

    if (body == NULL)
        return;
    json_object_foreach(body, key, value)
    {
        if (!ms_eq(key, "drop") && !ms_eq(key, "add")) {
            ms_fail(resp, 400, "grant: unknown member \"%s\" (drop, add)", key);
            goto out;
        }
    }
    drop = json_object_get(body, "drop");
    add = json_object_get(body, "add");
    if (!ms_az_scope_list_ok(drop) || !ms_az_scope_list_ok(add)) {
        ms_fail(resp, 400,
                "grant: \"drop\" and \"add\" must be arrays of scopes "
                "(1 to 255 visible ASCII characters, no space)");
        goto out;
    }
    json_decref(oa->grant_drop);
    json_decref(oa->grant_add);
    oa->grant_drop = drop != NULL ? json_deep_copy(drop) : json_array();
    oa->grant_add = add != NULL ? json_deep_copy(add) : json_array();
    sim_resp_json(resp, 200, ms_az_grant_json(oa));
out:
    json_decref(body);
}

/* Appends what a scope lets the client do, in words, then the scope
 * itself: "read:order-status" reads "See order status". */
static void ms_az_describe(ms_str *page, const char *scope)
{
    static const struct {
        const char *prefix;
        const char *words;
    } verbs[] = {{"read:", "See "}, {"write:", "Change "}, {"hide:", "Hide from it: "}};
    const char *rest = NULL;

    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0] && rest == NULL; i++) {
        size_t len = strlen(verbs[i].prefix);

        if (strncmp(scope, verbs[i].prefix, len) == 0 && scope[len] != '\0') {
            ms_str_adds(page, verbs[i].words);
            rest = scope + len;
        }
    }
    if (rest != NULL) {
        for (const char *p = rest; *p != '\0'; p++) {
            char c = *p == '-' || *p == '_' ? ' ' : *p;

            ms_html_add(page, (char[2]){c, '\0'});
        }
    } else if (ms_eq(scope, "*")) {
        ms_str_adds(page, "Everything in the shop");
    } else {
        ms_str_adds(page, "Permission");
    }
    ms_str_adds(page, " <code>");
    ms_html_add(page, scope);
    ms_str_adds(page, "</code>");
}

/* Whether uri can be a redirect target: an absolute http(s) URL without a
 * fragment (RFC 6749 3.1.2) and without spaces or control characters, which
 * would not survive a Location header. */
static int ms_az_uri_ok(const char *uri)
{
    if (strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0)
        return 0;
    if (strlen(uri) > 2048 || strchr(uri, '#') != NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)uri; *p != '\0'; p++) {
        if (*p <= ' ' || *p >= 0x7f)
            return 0;
    }
    return 1;
}

/* Checks an authorization request.  Returns the client's shop, or NULL
 * after answering the 400 page (counted by the client's shop, else by shop
 * #0, as the token endpoint counts an unknown client). */
static ms_shop *ms_az_check(ms_state *st, const ms_az_req *az, sim_resp *resp)
{
    json_t *index = az->client_id != NULL ? json_object_get(st->by_client, az->client_id) : NULL;
    ms_shop *shop = st->shops[index != NULL ? json_integer_value(index) : 0];

    if (az->client_id == NULL || az->client_id[0] == '\0')
        ms_az_refuse(&shop->oa, resp, "The request has no client_id.");
    else if (index == NULL)
        ms_az_refuse(&shop->oa, resp, "The client_id \"%.200s\" is not a registered application.",
                     az->client_id);
    else if (az->redirect_uri == NULL || az->redirect_uri[0] == '\0')
        ms_az_refuse(&shop->oa, resp, "The request has no redirect_uri.");
    else if (!ms_az_uri_ok(az->redirect_uri))
        ms_az_refuse(&shop->oa, resp,
                     "The redirect_uri \"%.200s\" is not an absolute http or https address "
                     "without a fragment.",
                     az->redirect_uri);
    else if (az->response_type == NULL || !ms_eq(az->response_type, "code"))
        ms_az_refuse(&shop->oa, resp,
                     "The response_type is \"%.40s\"; this server supports only \"code\".",
                     az->response_type != NULL ? az->response_type : "");
    else
        return shop;
    return NULL;
}

/* Appends a hidden form field carrying one member of the request. */
static void ms_az_hidden(ms_str *page, const char *name, const char *value)
{
    ms_str_adds(page, "<input type=\"hidden\" name=\"");
    ms_str_adds(page, name);
    ms_str_adds(page, "\" value=\"");
    ms_html_add(page, value);
    ms_str_adds(page, "\">\n");
}

/* GET /oauth/authorize?client_id&redirect_uri&response_type=code&scope&state:
 * the consent page of the client's shop. */
static void ms_az_page(ms_state *st, const sim_req *req, sim_resp *resp)
{
    ms_az_req az = {sim_query(req, "client_id"), sim_query(req, "redirect_uri"),
                    sim_query(req, "response_type"), sim_query(req, "scope"),
                    sim_query(req, "state")};
    ms_shop *shop = ms_az_check(st, &az, resp);
    ms_str page = {0};
    char title[512];
    json_t *asked;
    size_t i;
    json_t *scope;

    if (shop == NULL)
        return;
    shop->oa.consent_pages++;
    snprintf(title, sizeof title, "Authorize %.200s for %.64s", az.client_id, shop->name);
    ms_az_page_start(&page, title);
    ms_str_adds(&page, "<h1>Allow <strong>");
    ms_html_add(&page, az.client_id);
    ms_str_adds(&page, "</strong> to use the shop <strong>");
    ms_html_add(&page, shop->name);
    ms_str_adds(&page, "</strong>?</h1>\n<p>The application <strong>");
    ms_html_add(&page, az.client_id);
    ms_str_adds(&page, "</strong> asks for access to your Mystore shop <strong>");
    ms_html_add(&page, shop->name);
    ms_str_adds(&page, "</strong>.</p>\n<h2>It asks to</h2>\n");
    asked = ms_az_scopes(az.scope);
    if (json_array_size(asked) == 0)
        ms_str_adds(&page, "<p>Nothing: no permission is asked.</p>\n");
    else
        ms_str_adds(&page, "<ul class=\"scopes\">\n");
    json_array_foreach(asked, i, scope)
    {
        ms_str_adds(&page, "<li>");
        ms_az_describe(&page, json_string_value(scope));
        ms_str_adds(&page, "</li>\n");
    }
    if (json_array_size(asked) > 0)
        ms_str_adds(&page, "</ul>\n");
    json_decref(asked);
    ms_str_adds(&page, "<p class=\"note\">Either way you are sent back to <code>");
    ms_html_add(&page, az.redirect_uri);
    ms_str_adds(&page, "</code>.</p>\n<form method=\"post\" action=\"/oauth/authorize\">\n");
    ms_az_hidden(&page, "client_id", az.client_id);
    ms_az_hidden(&page, "redirect_uri", az.redirect_uri);
    ms_az_hidden(&page, "response_type", az.response_type);
    if (az.scope != NULL)
        ms_az_hidden(&page, "scope", az.scope);
    if (az.state != NULL)
        ms_az_hidden(&page, "state", az.state);
    ms_str_adds(&page, "<div class=\"actions\">\n"
                       "<button type=\"submit\" name=\"decision\" value=\"allow\" "
                       "class=\"allow\">Allow</button>\n"
                       "<button type=\"submit\" name=\"decision\" value=\"deny\" "
                       "class=\"deny\">Deny</button>\n</div>\n</form>\n");
    ms_az_page_send(&page, 200, resp);
}

/* Answers 302 to redirect_uri with key=value and the state added to its
 * query (RFC 6749 4.1.2); value and state are percent-encoded. */
static void ms_az_redirect(sim_resp *resp, const char *redirect_uri, const char *key,
                           const char *value, const char *state)
{
    ms_str url = {0};
    size_t len = strlen(redirect_uri);

    ms_str_adds(&url, redirect_uri);
    if (strchr(redirect_uri, '?') == NULL)
        ms_str_adds(&url, "?");
    else if (redirect_uri[len - 1] != '?' && redirect_uri[len - 1] != '&')
        ms_str_adds(&url, "&");
    ms_str_adds(&url, key);
    ms_str_adds(&url, "=");
    ms_str_add_encoded(&url, value, 0);
    if (state != NULL && state[0] != '\0') {
        ms_str_adds(&url, "&state=");
        ms_str_add_encoded(&url, state, 0);
    }
    sim_resp_redirect(resp, 302, url.text);
    resp->content_type = MS_AZ_HTML;
    free(url.text);
}

/* POST /oauth/authorize (the consent form, form-encoded): decision=allow
 * redirects with a new single-use code bound to the client, the
 * redirect_uri and the scopes granted; decision=deny with
 * error=access_denied. */
static void ms_az_decide(ms_state *st, const sim_req *req, sim_resp *resp)
{
    json_t *form = json_object();
    const char *decision;

    ms_oa_form(req->body, form);
    ms_az_req az = {json_string_value(json_object_get(form, "client_id")),
                    json_string_value(json_object_get(form, "redirect_uri")),
                    json_string_value(json_object_get(form, "response_type")),
                    json_string_value(json_object_get(form, "scope")),
                    json_string_value(json_object_get(form, "state"))};
    ms_shop *shop = ms_az_check(st, &az, resp);

    decision = json_string_value(json_object_get(form, "decision"));
    if (shop == NULL) {
        /* answered */
    } else if (decision != NULL && ms_eq(decision, "deny")) {
        shop->oa.consent_denied++;
        ms_az_redirect(resp, az.redirect_uri, "error", "access_denied", az.state);
    } else if (decision != NULL && ms_eq(decision, "allow")) {
        ms_oauth *oa = &shop->oa;
        json_t *asked = ms_az_scopes(az.scope);
        char code[40], rnd[17];

        ms_oa_random(rnd);
        snprintf(code, sizeof code, "code-%s", rnd);
        json_t *record = json_pack("{s:s, s:s, s:s, s:o, s:s?, s:b, s:I}", "code", code,
                                   "client_id", az.client_id, "redirect_uri", az.redirect_uri,
                                   "scopes", ms_az_granted(oa, asked), "state", az.state, "used", 0,
                                   "at_ms", (json_int_t)ms_oa_now_ms());
        json_object_set(oa->codes, code, record);
        json_array_append_new(oa->consents, record);
        json_decref(asked);
        oa->consent_allowed++;
        ms_az_redirect(resp, az.redirect_uri, "code", code, az.state);
    } else {
        ms_az_refuse(&shop->oa, resp, "The form has no decision: it must be allow or deny.");
    }
    json_decref(form);
}

/* /oauth/authorize: the page (GET) and its form (POST). */
static void ms_oauth_authorize(ms_state *st, const sim_req *req, sim_resp *resp)
{
    if (ms_eq(req->method, "GET"))
        ms_az_page(st, req, resp);
    else if (ms_eq(req->method, "POST"))
        ms_az_decide(st, req, resp);
    else
        sim_resp_text(resp, 405, strdup("GET or POST only\n"), "text/plain; charset=utf-8");
}

/* The OAuth test endpoints under /_sim/oauth/: clients, config, codes,
 * revoke, and GET for the counters.  0 when the path is not one. */
static int ms_oauth_test(ms_state *st, ms_shop *shop, const sim_req *req, sim_resp *resp,
                         char **segs, int count)
{
    ms_oauth *oa = &shop->oa;
    if (count == 3 && ms_eq(segs[2], "issued") && ms_eq(req->method, "GET")) {
        sim_resp_json(resp, 200, json_incref(oa->issued));
        return 1;
    }
    if (count == 2 && ms_eq(req->method, "GET")) {
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:O, s:O, s:I}", "token_requests",
            oa->token_requests, "refreshes", oa->refreshes, "codes_exchanged", oa->codes_exchanged,
            "expired_403", oa->expired_403, "refused", "invalid_grant", oa->invalid_grant,
            "invalid_client", oa->invalid_client, "reused", oa->reused, "revoked", oa->revoked_used,
            "chains", oa->chains, "log", oa->log, "access_ttl_s", (json_int_t)oa->access_ttl_s);
        json_object_set_new(o, "consent",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:O}", "pages", oa->consent_pages,
                                      "allowed", oa->consent_allowed, "denied", oa->consent_denied,
                                      "refused", oa->consent_refused, "codes_issued",
                                      (json_int_t)json_array_size(oa->consents), "codes",
                                      oa->consents));
        json_object_set_new(o, "grant", ms_az_grant_json(oa));
        sim_resp_json(resp, 200, o);
        return 1;
    }
    if (count == 3 && ms_eq(segs[2], "grant") && ms_eq(req->method, "GET")) {
        sim_resp_json(resp, 200, ms_az_grant_json(oa));
        return 1;
    }
    if (count != 3 || !ms_eq(req->method, "POST"))
        return 0;
    if (ms_eq(segs[2], "grant")) {
        ms_az_grant_set(oa, req, resp);
        return 1;
    }
    json_t *body = ms_test_body(req, resp);
    if (body == NULL)
        return 1;
    const char *client = json_string_value(json_object_get(body, "client_id"));
    if (ms_eq(segs[2], "clients")) {
        const char *secret = json_string_value(json_object_get(body, "client_secret"));
        if (client == NULL || secret == NULL || !*client || !*secret)
            ms_fail(resp, 400, "client_id and client_secret must be non-empty strings");
        else if (ms_client_add(st, shop, client, secret) != 0)
            ms_fail(resp, 409, "client_id %s belongs to another shop", client);
        else
            sim_resp_json(resp, 201, json_pack("{s:s}", "client_id", client));
    } else if (ms_eq(segs[2], "config")) {
        json_t *ttl = json_object_get(body, "access_ttl_s");
        if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
            json_integer_value(ttl) > 86400 * 365)
            ms_fail(resp, 400, "access_ttl_s must be a positive integer");
        else {
            oa->access_ttl_s = (long)json_integer_value(ttl);
            sim_resp_json(resp, 200, json_pack("{s:I}", "access_ttl_s", json_integer_value(ttl)));
        }
    } else if (ms_eq(segs[2], "codes")) {
        char code[40], rnd[17];
        if (client == NULL || json_object_get(oa->clients, client) == NULL)
            ms_fail(resp, 400, "client_id must name a registered client");
        else {
            ms_oa_random(rnd);
            snprintf(code, sizeof code, "code-%s", rnd);
            json_object_set_new(oa->codes, code,
                                json_pack("{s:s, s:b}", "client_id", client, "used", 0));
            sim_resp_json(resp, 201, json_pack("{s:s}", "code", code));
        }
    } else if (ms_eq(segs[2], "expire")) {
        /* Every access token of the client (all: no client_id) expires now,
         * as a server whose clock runs ahead sees them. */
        json_int_t n = 0;
        const char *k;
        json_t *v;
        long long now = ms_oa_now_ms();
        json_object_foreach(oa->access, k, v)
        {
            if ((client == NULL ||
                 ms_eq(json_string_value(json_object_get(v, "client")), client)) &&
                json_integer_value(json_object_get(v, "exp_ms")) > now) {
                json_t *c =
                    json_object_get(oa->chains, json_string_value(json_object_get(v, "chain")));
                json_object_set_new(v, "exp_ms", json_integer((json_int_t)now));
                if (c != NULL &&
                    json_integer_value(json_object_get(c, "access_exp_ms")) > (json_int_t)now)
                    json_object_set_new(c, "access_exp_ms", json_integer((json_int_t)now));
                n++;
            }
        }
        sim_resp_json(resp, 200, json_pack("{s:I}", "expired", n));
    } else if (ms_eq(segs[2], "revoke")) {
        json_int_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(oa->refresh, k, v)
        {
            if (client == NULL || ms_eq(json_string_value(json_object_get(v, "client")), client)) {
                if (!json_is_true(json_object_get(v, "used")) &&
                    !json_is_true(json_object_get(v, "revoked")))
                    n++;
                json_object_set_new(v, "revoked", json_true());
            }
        }
        sim_resp_json(resp, 200, json_pack("{s:I}", "revoked", n));
    } else {
        ms_fail(resp, 404, "no test endpoint %s %s", req->method, req->path);
    }
    json_decref(body);
    return 1;
}

/* ---- the shops ---- */

/* The shop named name, NULL when none; with --shop '*' (shop #0's name)
 * any name no shop has is shop #0. */
static ms_shop *ms_shop_find(ms_state *st, const char *name)
{
    json_t *index = json_object_get(st->by_name, name);

    if (index != NULL)
        return st->shops[json_integer_value(index)];
    return ms_eq(st->shops[0]->name, "*") ? st->shops[0] : NULL;
}

/* The shop an API path /shops/{shop}/... addresses, NULL when the path is
 * not a shop's or names no shop. */
static ms_shop *ms_path_shop(ms_state *st, const char *path)
{
    char name[256];
    size_t len;

    if (strncmp(path, "/shops/", 7) != 0)
        return NULL;
    path += 7;
    len = strcspn(path, "/");
    if (len == 0 || len >= sizeof name || path[len] != '/')
        return NULL;
    memcpy(name, path, len);
    name[len] = '\0';
    return ms_shop_find(st, name);
}

/* Frees a shop and everything it holds (NULL is fine). */
static void ms_shop_free(ms_shop *shop)
{
    if (shop == NULL)
        return;
    free(shop->name);
    free(shop->token);
    json_decref(shop->statuses);
    json_decref(shop->orders);
    json_decref(shop->products);
    json_decref(shop->options);
    json_decref(shop->option_values);
    json_decref(shop->delete_orders);
    json_decref(shop->hide_orders);
    json_decref(shop->include_drop);
    json_decref(shop->webhooks);
    ms_oa_free(&shop->oa);
    free(shop);
}

/* Adds a shop named name (not yet in the table) that accepts token, its
 * state taken from seed (stolen).  Returns it (owned by the table), or NULL
 * after writing the reason into err. */
static ms_shop *ms_shop_add(ms_state *st, const char *name, const char *token, json_t *seed,
                            char *err, size_t err_size)
{
    ms_shop *shop = calloc(1, sizeof *shop);

    err[0] = '\0';
    if (st->count == st->cap) {
        size_t cap = st->cap != 0 ? st->cap * 2 : 16;
        ms_shop **grown = realloc(st->shops, cap * sizeof *grown);

        if (grown == NULL) {
            free(shop);
            shop = NULL;
        } else {
            st->shops = grown;
            st->cap = cap;
        }
    }
    if (shop == NULL || (shop->name = strdup(name)) == NULL ||
        (shop->token = strdup(token)) == NULL) {
        snprintf(err, err_size, "out of memory");
        json_decref(seed);
        ms_shop_free(shop);
        return NULL;
    }
    ms_oa_init(&shop->oa);
    shop->webhooks = json_array();
    if (ms_seed_load(shop, seed, err, err_size) != 0) {
        ms_shop_free(shop);
        return NULL;
    }
    shop->index = st->count;
    st->shops[st->count++] = shop;
    json_object_set_new(st->by_name, name, json_integer((json_int_t)shop->index));
    json_object_set_new(st->by_token, token, json_integer((json_int_t)shop->index));
    return shop;
}

/* Whether name is usable as a new shop's name: 1 to 64 of [A-Za-z0-9._-]
 * (a path segment, a JSON key and a header value as it is). */
static int ms_shop_name_ok(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;

    return len >= 1 && len <= 64 &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* Whether token is usable as a bearer token: 1 to 255 visible ASCII
 * characters. */
static int ms_token_ok(const char *token)
{
    size_t len = token != NULL ? strlen(token) : 0;

    for (size_t i = 0; i < len; i++) {
        if (token[i] <= ' ' || token[i] > '~')
            return 0;
    }
    return len >= 1 && len <= 255;
}

/* ---- the API ---- */

/* sim_app.handle: answers a request to the Mystore API. */
static void ms_handle(void *state, const sim_req *req, sim_resp *resp)
{
    ms_state *st = state;
    char buf[MS_PATH_MAX];
    char *segs[MS_SEGS_MAX];
    int count = ms_split(req->path, buf, sizeof buf, segs, MS_SEGS_MAX);
    ms_shop *shop;

    if (ms_eq(req->path, "/oauth/token")) {
        ms_oauth_token(st, req, resp);
        return;
    }
    if (ms_eq(req->path, "/oauth/authorize")) {
        ms_oauth_authorize(st, req, resp);
        return;
    }
    /* Every non-read request reaching the API is a write, refused or not. */
    resp->is_write = !ms_eq(req->method, "GET") && !ms_eq(req->method, "HEAD");
    shop = count >= 3 && ms_eq(segs[0], "shops") ? ms_shop_find(st, segs[1]) : NULL;
    if (shop == NULL)
        ms_fail(resp, 404, "no route %s %s", req->method, req->path);
    else
        ms_route(shop, req, resp, segs + 2, count - 2);
    resp->content_type = MS_CONTENT_TYPE;
}

/* The verdict on a bearer token for shop: 0 valid (the rate-limit key
 * written), 1 an access token of the shop that expired, -1 not the shop's. */
static int ms_token_check(ms_shop *shop, const char *token, char *key, size_t key_size)
{
    if (strcmp(token, shop->token) == 0) {
        snprintf(key, key_size, "%s", shop->token);
        return 0;
    }
    return ms_oa_check(shop, token, key, key_size);
}

/* The verdict on a bearer token for a path that names no shop (answered
 * 404 once authenticated): the best verdict any shop gives it. */
static int ms_token_check_any(ms_state *st, const char *token, char *key, size_t key_size)
{
    int best = -1;

    for (size_t i = 0; i < st->count && best != 0; i++) {
        int verdict = ms_token_check(st->shops[i], token, key, key_size);

        if (verdict > best || verdict == 0)
            best = verdict;
    }
    return best;
}

/* sim_app.auth: requires "Authorization: Bearer <token>" of the shop the
 * path names; the token is the rate-limit key.  Anything else, another
 * shop's token included, answers 403 like Mystore does. */
static int ms_auth(void *state, const sim_req *req, char *key, size_t key_size, sim_resp *resp)
{
    ms_state *st = state;
    const char *auth = req->authorization;

    /* The token endpoint authenticates the client in the body. */
    if (ms_eq(req->path, "/oauth/token")) {
        snprintf(key, key_size, "oauth-token-endpoint");
        return 0;
    }
    /* The authorize page is the browser's: the merchant's session would
     * be its credential, and the simulator's merchant is always signed in. */
    if (ms_eq(req->path, "/oauth/authorize")) {
        snprintf(key, key_size, "oauth-authorize-page");
        return 0;
    }
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        ms_shop *shop = ms_path_shop(st, req->path);
        int verdict;

        for (auth += 7; *auth == ' '; auth++) {
        }
        verdict = shop != NULL ? ms_token_check(shop, auth, key, key_size)
                               : ms_token_check_any(st, auth, key, key_size);
        if (verdict == 0)
            return 0;
        if (verdict == 1) {
            sim_resp_json(resp, 403,
                          json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "status", "403", "title",
                                    "Forbidden", "detail", "token expired"));
            resp->content_type = MS_CONTENT_TYPE;
            return -1;
        }
    }
    sim_resp_json(resp, 403,
                  json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "status", "403", "title",
                            "Forbidden", "detail", "Token has expired or is invalid"));
    resp->content_type = MS_CONTENT_TYPE;
    return -1;
}

/* sim_app.count: one more API request for the shop its path names (stats
 * by_shop). */
static void ms_count(void *state, const sim_req *req)
{
    ms_state *st = state;
    ms_shop *shop = ms_path_shop(st, req->path);

    if (shop != NULL)
        shop->requests++;
}

/* sim_app.stats: "by_shop": {"<shop>": API requests} of the shops asked. */
static void ms_stats(void *state, json_t *stats)
{
    ms_state *st = state;
    json_t *by_shop = json_object();

    for (size_t i = 0; i < st->count; i++) {
        if (st->shops[i]->requests > 0)
            json_object_set_new(by_shop, st->shops[i]->name, json_integer(st->shops[i]->requests));
    }
    json_object_set_new(stats, "by_shop", by_shop);
}

/* sim_app.reset_counters: zeroes by_shop. */
static void ms_reset_counters(void *state)
{
    ms_state *st = state;

    for (size_t i = 0; i < st->count; i++)
        st->shops[i]->requests = 0;
}

/* Appends len bytes of text to buf (size bytes, *used of them taken),
 * truncating; buf stays NUL-terminated. */
static void ms_buf_add(char *buf, size_t size, size_t *used, const char *text, size_t len)
{
    if (*used + 1 >= size)
        return;
    if (len > size - *used - 1)
        len = size - *used - 1;
    memcpy(buf + *used, text, len);
    *used += len;
    buf[*used] = '\0';
}

/* sim_app.route_name: "GET /shops/{shop}/orders/{id}/order-products".  Under
 * /shops/ the shop and every second segment after it (the ids) are replaced. */
static void ms_route_name(void *state, const sim_req *req, char *buf, size_t size)
{
    const char *p = req->path;
    size_t used = 0;
    int pos = 0;

    (void)state;
    ms_buf_add(buf, size, &used, req->method, strlen(req->method));
    ms_buf_add(buf, size, &used, " ", 1);
    if (strncmp(p, "/shops/", 7) != 0) {
        ms_buf_add(buf, size, &used, p, strlen(p));
        return;
    }
    while (*p == '/') {
        const char *seg = p + 1;
        const char *slash = strchr(seg, '/');
        size_t len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);

        if (pos == 1)
            ms_buf_add(buf, size, &used, "/{shop}", 7);
        else if (pos >= 3 && pos % 2 == 1)
            ms_buf_add(buf, size, &used, "/{id}", 5);
        else {
            ms_buf_add(buf, size, &used, "/", 1);
            ms_buf_add(buf, size, &used, seg, len);
        }
        pos++;
        p = seg + len;
    }
}

/* ---- test endpoints ---- */

/* Parses a test-endpoint body as a JSON object.  Returns it (new reference)
 * or NULL after filling resp with a 400. */
static json_t *ms_test_body(const sim_req *req, sim_resp *resp)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(body)) {
        ms_fail(resp, 400, "the body must be a JSON object%s%s", body == NULL ? ": " : "",
                body == NULL ? jerr.text : "");
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Stores item under id in array (replacing one with that id, else appending).
 * Steals item.  Returns 1 when it was created, 0 when replaced. */
static int ms_store(json_t *array, const char *id, json_t *item)
{
    size_t i;
    json_t *old;

    json_array_foreach(array, i, old)
    {
        if (ms_eq(ms_id(old), id)) {
            json_array_set_new(array, i, item);
            return 0;
        }
    }
    json_array_append_new(array, item);
    return 1;
}

/* Checks the "id" of a test PUT body against the URL's and sets it.
 * Returns -1 after filling resp with a 400. */
static int ms_test_id(json_t *body, const char *id, sim_resp *resp)
{
    json_t *have = json_object_get(body, "id");

    if (have != NULL && !json_is_null(have) &&
        (!json_is_string(have) || !ms_eq(json_string_value(have), id))) {
        ms_fail(resp, 400, "\"id\" must be absent or \"%s\" as in the URL", id);
        return -1;
    }
    json_object_set_new(body, "id", json_string(id));
    return 0;
}

/* PUT /_sim/orders/{id}: creates or replaces an order given in seed form;
 * stamps updated_at unless the body gives one.  Without status_id the order
 * keeps its status (a new one gets the first seeded status). */
static void ms_test_put_order(ms_shop *shop, const sim_req *req, sim_resp *resp, const char *id)
{
    json_t *body = ms_test_body(req, resp);
    json_t *old = ms_find(shop->orders, id);
    const char *status_id;
    char err[256];
    int created;

    if (body == NULL)
        return;
    if (ms_test_id(body, id, resp) != 0)
        goto out;
    if (ms_order_normalize(body, err, sizeof err) != 0) {
        ms_fail(resp, 400, "%s", err);
        goto out;
    }
    status_id = json_string_value(json_object_get(body, "status_id"));
    if (status_id == NULL) {
        const char *keep = old != NULL ? json_string_value(json_object_get(old, "status_id"))
                                       : ms_id(json_array_get(shop->statuses, 0));

        json_object_set_new(body, "status_id", keep != NULL ? json_string(keep) : json_null());
    } else if (!ms_status_known(shop, status_id)) {
        ms_fail(resp, 400, "status_id %s is not a seeded order status", status_id);
        goto out;
    }
    if (!json_is_string(json_object_get(ms_attrs(body), "updated_at")))
        ms_touch(body);
    created = ms_store(shop->orders, id, json_incref(body));
    ms_webhook(shop, created ? "orders/create" : "orders/update", id);
    sim_resp_json(resp, created ? 201 : 200, json_incref(body));
out:
    json_decref(body);
}

/* PUT /_sim/order-status/{id}: {"name": {"no": "..", "en": ".."}} adds an
 * order status to the shop, or replaces (renames) the one with that id, as a
 * merchant does in the shop's settings.  Orders in it keep their status id. */
static void ms_test_put_status(ms_shop *shop, const sim_req *req, sim_resp *resp, const char *id)
{
    json_t *body = ms_test_body(req, resp);
    int created;

    if (body == NULL)
        return;
    if (ms_test_id(body, id, resp) != 0)
        goto out;
    if (!json_is_object(json_object_get(body, "name"))) {
        ms_fail(resp, 400, "\"name\" must be an object of names by language");
        goto out;
    }
    created = ms_store(shop->statuses, id, json_incref(body));
    sim_resp_json(resp, created ? 201 : 200, json_incref(body));
out:
    json_decref(body);
}

/* POST /_sim/orders/{id}/status: {"status_id": "5"} sets the status and
 * stamps updated_at. */
static void ms_test_set_status(ms_shop *shop, const sim_req *req, sim_resp *resp, json_t *order)
{
    json_t *body = ms_test_body(req, resp);
    json_t *value = json_object_get(body, "status_id");
    char number[32];
    const char *status_id = json_string_value(value);

    if (body == NULL)
        return;
    if (json_is_integer(value)) {
        snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        status_id = number;
    }
    if (!ms_status_known(shop, status_id)) {
        ms_fail(resp, 400, "status_id must name a seeded order status");
    } else {
        json_object_set_new(order, "status_id", json_string(status_id));
        ms_touch(order);
        ms_webhook(shop, "orders/update", ms_id(order));
        sim_resp_json(resp, 200, json_incref(order));
    }
    json_decref(body);
}

/* PUT /_sim/products/{id}: creates or replaces a product given in seed form;
 * stamps updated_at unless the body gives one. */
static void ms_test_put_product(ms_shop *shop, const sim_req *req, sim_resp *resp, const char *id)
{
    json_t *body = ms_test_body(req, resp);
    char err[256];
    int created;

    if (body == NULL)
        return;
    if (ms_test_id(body, id, resp) != 0)
        goto out;
    if (ms_product_normalize(body, err, sizeof err) != 0) {
        ms_fail(resp, 400, "%s", err);
        goto out;
    }
    if (!json_is_string(json_object_get(ms_attrs(body), "updated_at")))
        ms_touch(body);
    created = ms_store(shop->products, id, json_incref(body));
    ms_webhook(shop, created ? "products/create" : "products/update", id);
    sim_resp_json(resp, created ? 201 : 200, json_incref(body));
out:
    json_decref(body);
}

/* POST /_sim/clock: {"now": "YYYY-MM-DD HH:MM:SS"} (shop-local) or
 * {"now_utc": "YYYY-MM-DDTHH:MM:SSZ"} fixes the clock, {"now": null} returns
 * to real time.  Answers the time now in effect, in both forms. */
static void ms_test_clock(const sim_req *req, sim_resp *resp)
{
    json_t *body = ms_test_body(req, resp);
    json_t *value = json_object_get(body, "now");
    json_t *utc = json_object_get(body, "now_utc");
    char now[MS_TS_LEN], now_utc[24];
    time_t t = 0;
    struct tm tm;

    if (body == NULL)
        return;
    if (utc != NULL && value == NULL) {
        t = ms_utc_instant(json_string_value(utc));
        if (t == 0) {
            ms_fail(resp, 400, "\"now_utc\" must be \"YYYY-MM-DDTHH:MM:SSZ\"");
            goto out;
        }
    } else if (value != NULL && utc == NULL && !json_is_null(value)) {
        if (!ms_is_timestamp(json_string_value(value)) ||
            (t = ms_local_instant(json_string_value(value))) == 0) {
            ms_fail(resp, 400, "\"now\" must be \"YYYY-MM-DD HH:MM:SS\" or null");
            goto out;
        }
    } else if (value == NULL || utc != NULL) {
        ms_fail(resp, 400, "give one of \"now\" (shop-local or null) and \"now_utc\"");
        goto out;
    }
    ms_fixed_clock = t;
    t = ms_fixed_clock != 0 ? ms_fixed_clock : time(NULL);
    ms_now(now);
    gmtime_r(&t, &tm);
    strftime(now_utc, sizeof now_utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
    sim_resp_json(
        resp, 200,
        json_pack("{s:s, s:s, s:b}", "now", now, "now_utc", now_utc, "fixed", ms_fixed_clock != 0));
out:
    json_decref(body);
}

/* POST /_sim/lists {"reshuffle": N, "seed": S, "delete_orders": [ids],
 * "delete_after_pages": K}: see ms_shop. */
static void ms_test_lists(ms_shop *shop, const sim_req *req, sim_resp *resp)
{
    json_t *body = ms_test_body(req, resp);
    if (body == NULL)
        return;
    json_t *n = json_object_get(body, "reshuffle"), *seed = json_object_get(body, "seed");
    json_t *hide = json_object_get(body, "hide_orders"),
           *hpages = json_object_get(body, "hide_pages");
    if ((hide && !json_is_array(hide)) || (hpages && !json_is_integer(hpages))) {
        ms_fail(resp, 400, "lists: hide_orders is an array of ids, hide_pages an integer");
        json_decref(body);
        return;
    }
    if (hide) {
        json_decref(shop->hide_orders);
        shop->hide_orders = json_object();
        size_t k;
        json_t *h;
        json_array_foreach(hide, k, h)
        {
            if (json_is_string(h))
                json_object_set_new(shop->hide_orders, json_string_value(h), json_true());
        }
        shop->hide_pages = hpages ? (long)json_integer_value(hpages) : 1;
    }
    json_t *del = json_object_get(body, "delete_orders"),
           *after = json_object_get(body, "delete_after_pages");
    if ((n && !json_is_integer(n)) || (seed && !json_is_integer(seed)) ||
        (del && !json_is_array(del)) ||
        (after && (!json_is_integer(after) || json_integer_value(after) < 1))) {
        ms_fail(resp, 400,
                "lists: reshuffle, seed and delete_after_pages (>= 1) are integers, "
                "delete_orders an array of ids");
        json_decref(body);
        return;
    }
    if (n)
        shop->reshuffle = (long)json_integer_value(n);
    if (seed)
        ms_salt = (uint32_t)json_integer_value(seed);
    if (del) {
        json_decref(shop->delete_orders);
        shop->delete_orders = json_incref(del);
        shop->delete_after = after ? (long)json_integer_value(after) : 1;
    }
    sim_resp_json(resp, 200,
                  json_pack("{s:I, s:I, s:I}", "reshuffle", (json_int_t)shop->reshuffle,
                            "delete_after_pages", (json_int_t)shop->delete_after, "salt",
                            (json_int_t)ms_salt));
    json_decref(body);
}

/* POST /_sim/webhooks {"url": "http://..", "secret": ".."} sends a signed
 * webhook on every order and product change from then on; {"url": null}
 * stops them.  GET /_sim/webhooks: the sender's counts, the URL and the
 * webhooks registered through the API (without their secrets). */
static void ms_test_webhooks(ms_shop *shop, const sim_req *req, sim_resp *resp)
{
    if (ms_eq(req->method, "GET")) {
        json_t *o = sim_webhook_stats();
        json_t *registered = json_array();
        size_t i;
        json_t *hook;

        json_array_foreach(shop->webhooks, i, hook) json_array_append_new(
            registered,
            json_pack("{s:O, s:O, s:O}", "id", json_object_get(hook, "id"), "topic",
                      json_object_get(hook, "topic"), "address", json_object_get(hook, "address")));
        json_object_set_new(o, "url", json_string(shop->webhook_url));
        json_object_set_new(o, "registered", registered);
        sim_resp_json(resp, 200, o);
        return;
    }
    json_t *body = ms_test_body(req, resp);
    if (body == NULL)
        return;
    json_t *url = json_object_get(body, "url"), *secret = json_object_get(body, "secret");
    if (json_is_null(url)) {
        shop->webhook_url[0] = '\0';
    } else if (!json_is_string(url) || strncmp(json_string_value(url), "http", 4) != 0 ||
               json_string_length(url) >= sizeof shop->webhook_url || !json_is_string(secret) ||
               json_string_length(secret) == 0 ||
               json_string_length(secret) >= sizeof shop->webhook_secret) {
        ms_fail(resp, 400,
                "webhooks: {\"url\": \"http..\", \"secret\": \"..\"} or {\"url\": null}");
        json_decref(body);
        return;
    } else {
        snprintf(shop->webhook_url, sizeof shop->webhook_url, "%s", json_string_value(url));
        snprintf(shop->webhook_secret, sizeof shop->webhook_secret, "%s",
                 json_string_value(secret));
    }
    sim_resp_json(resp, 200, json_pack("{s:s}", "url", shop->webhook_url));
    json_decref(body);
}

/* The test endpoints of one shop: segs are "_sim" and the segments after
 * it, count of them (the /_sim/shops/{shop} prefix already stripped). */
static void ms_test_shop(ms_state *st, ms_shop *shop, const sim_req *req, sim_resp *resp,
                         char **segs, int count)
{
    int get = ms_eq(req->method, "GET");
    int put = ms_eq(req->method, "PUT");
    int post = ms_eq(req->method, "POST");
    json_t *item;

    if (count >= 2 && ms_eq(segs[1], "oauth") && ms_oauth_test(st, shop, req, resp, segs, count)) {
        return;
    } else if (count == 2 && ms_eq(segs[1], "webhooks") && (post || get)) {
        ms_test_webhooks(shop, req, resp);
    } else if (count == 2 && ms_eq(segs[1], "lists") && post) {
        ms_test_lists(shop, req, resp);
    } else if (count == 2 && ms_eq(segs[1], "include") && post) {
        ms_test_include(shop, req, resp);
    } else if (count == 3 && ms_eq(segs[1], "orders") && ms_eq(req->method, "DELETE")) {
        if (ms_delete_order(shop, segs[2]) != 0)
            ms_fail(resp, 404, "no order %s", segs[2]);
        else
            sim_resp_json(resp, 200, json_pack("{s:s}", "deleted", segs[2]));
    } else if (count == 3 && ms_eq(segs[1], "orders") && put) {
        ms_test_put_order(shop, req, resp, segs[2]);
    } else if (count == 3 && ms_eq(segs[1], "products") && put) {
        ms_test_put_product(shop, req, resp, segs[2]);
    } else if (count == 3 && ms_eq(segs[1], "order-status") && put) {
        ms_test_put_status(shop, req, resp, segs[2]);
    } else if ((count == 3 && ms_eq(segs[1], "orders") && get) ||
               (count == 4 && ms_eq(segs[1], "orders") && ms_eq(segs[3], "status") && post)) {
        item = ms_find(shop->orders, segs[2]);
        if (item == NULL)
            ms_fail(resp, 404, "no order %s", segs[2]);
        else if (count == 3)
            sim_resp_json(resp, 200, json_incref(item));
        else
            ms_test_set_status(shop, req, resp, item);
    } else if (count == 3 && ms_eq(segs[1], "products") && get) {
        item = ms_find(shop->products, segs[2]);
        if (item == NULL)
            ms_fail(resp, 404, "no product %s", segs[2]);
        else
            sim_resp_json(resp, 200, json_incref(item));
    }
    if (resp->status != 0)
        return;
    ms_fail(resp, 404, "no test endpoint %s %s", req->method, req->path);
}

/* POST /_sim/shops {"shop", "token", "seed"}: a new shop, its state from
 * "seed" or else from a fresh copy of the startup seed. */
static void ms_test_add_shop(ms_state *st, const sim_req *req, sim_resp *resp)
{
    json_t *body = ms_test_body(req, resp);
    const char *name = json_string_value(json_object_get(body, "shop"));
    const char *token = json_string_value(json_object_get(body, "token"));
    json_t *seed = json_object_get(body, "seed");
    json_t *taken;
    const char *key;
    json_t *value;
    char err[512];

    if (body == NULL)
        return;
    json_object_foreach(body, key, value)
    {
        if (!ms_eq(key, "shop") && !ms_eq(key, "token") && !ms_eq(key, "seed")) {
            ms_fail(resp, 400, "shops: unknown member \"%s\" (shop, token, seed)", key);
            goto out;
        }
    }
    if (!ms_shop_name_ok(name)) {
        ms_fail(resp, 400, "shops: \"shop\" must be 1 to 64 of A-Z a-z 0-9 . _ -");
    } else if (!ms_token_ok(token)) {
        ms_fail(resp, 400, "shops: \"token\" must be 1 to 255 visible ASCII characters");
    } else if (seed != NULL && !json_is_object(seed)) {
        ms_fail(resp, 400, "shops: \"seed\" must be an object in the --seed format");
    } else if (json_object_get(st->by_name, name) != NULL) {
        ms_fail(resp, 409, "shops: shop %s exists", name);
    } else if ((taken = json_object_get(st->by_token, token)) != NULL) {
        ms_fail(resp, 409, "shops: the token is shop %s's",
                st->shops[json_integer_value(taken)]->name);
    } else if (ms_shop_add(st, name, token, json_deep_copy(seed != NULL ? seed : st->seed), err,
                           sizeof err) == NULL) {
        ms_fail(resp, 400, "shops: \"seed\": %s", err);
    } else {
        ms_shop *shop = st->shops[st->count - 1];

        sim_resp_json(resp, 201,
                      json_pack("{s:s, s:I, s:I}", "shop", shop->name, "orders",
                                (json_int_t)json_array_size(shop->orders), "products",
                                (json_int_t)json_array_size(shop->products)));
    }
out:
    json_decref(body);
}

/* POST /_sim/include {"enabled": false, "refuse": true, "drop": [{"type",
 * "id"}]}: turns include= support off (the shop ignores it) or on, makes it
 * answer include= with 400 (refuse; the effect of the request not applied:
 * GET only), and names the related
 * resources left out of "included" (an empty drop list: none).  Answers the
 * setting. */
static void ms_test_include(ms_shop *shop, const sim_req *req, sim_resp *resp)
{
    json_t *body = ms_test_body(req, resp);
    if (body == NULL)
        return;
    json_t *enabled = json_object_get(body, "enabled"), *drop = json_object_get(body, "drop");
    json_t *refuse = json_object_get(body, "refuse");
    if ((enabled && !json_is_boolean(enabled)) || (refuse && !json_is_boolean(refuse)) ||
        (drop && !json_is_array(drop))) {
        ms_fail(resp, 400, "include: enabled and refuse are booleans, drop an array of {type, id}");
        json_decref(body);
        return;
    }
    if (enabled)
        shop->include_off = !json_is_true(enabled);
    if (refuse)
        shop->include_refuse = json_is_true(refuse);
    if (drop) {
        json_decref(shop->include_drop);
        shop->include_drop = json_object();
        size_t i;
        json_t *d;
        json_array_foreach(drop, i, d)
        {
            char key[256];
            const char *type = json_string_value(json_object_get(d, "type"));
            const char *id = json_string_value(json_object_get(d, "id"));
            if (type && id) {
                snprintf(key, sizeof key, "%s/%s", type, id);
                json_object_set_new(shop->include_drop, key, json_true());
            }
        }
    }
    sim_resp_json(resp, 200,
                  json_pack("{s:b, s:b, s:I}", "enabled", !shop->include_off, "refuse",
                            shop->include_refuse, "dropped",
                            (json_int_t)json_object_size(shop->include_drop)));
    json_decref(body);
}

/* sim_app.handle_test: the Mystore test endpoints under /_sim/.  Those of
 * shop data are also served as /_sim/shops/{shop}/...: the prefix is
 * stripped and the rest answered for that shop; unprefixed they are shop
 * #0's.  The clock is the process's, not a shop's. */
static void ms_handle_test(void *state, const sim_req *req, sim_resp *resp)
{
    ms_state *st = state;
    char buf[MS_PATH_MAX];
    char *segs[MS_SEGS_MAX];
    int count = ms_split(req->path, buf, sizeof buf, segs, MS_SEGS_MAX);
    ms_shop *shop;

    if (count == 2 && ms_eq(segs[1], "clock") && ms_eq(req->method, "POST")) {
        ms_test_clock(req, resp);
    } else if (count == 2 && ms_eq(segs[1], "shops") && ms_eq(req->method, "POST")) {
        ms_test_add_shop(st, req, resp);
    } else if (count == 2 && ms_eq(segs[1], "shops") && ms_eq(req->method, "GET")) {
        json_t *names = json_array();

        for (size_t i = 0; i < st->count; i++)
            json_array_append_new(names, json_string(st->shops[i]->name));
        sim_resp_json(resp, 200, json_pack("{s:o}", "shops", names));
    } else if (count >= 4 && ms_eq(segs[1], "shops")) {
        shop = ms_shop_find(st, segs[2]);
        if (shop == NULL) {
            ms_fail(resp, 404, "no shop %s", segs[2]);
            return;
        }
        /* "/_sim/shops/s7/orders/1" is shop s7's "/_sim/orders/1". */
        segs[2] = segs[0];
        ms_test_shop(st, shop, req, resp, segs + 2, count - 2);
    } else if (count >= 1) {
        ms_test_shop(st, st->shops[0], req, resp, segs, count);
    }
    if (resp->status == 0)
        ms_fail(resp, 404, "no test endpoint %s %s", req->method, req->path);
}

/* ---- main ---- */

/* Prints the usage and exits with status 2. */
static void ms_usage(void)
{
    fprintf(stderr, "usage: mystore-sim [--port N] [--seed FILE] [--rate-limit N] [--shop NAME]\n"
                    "                   [--token TOKEN] [--timezone ZONE]"
                    " [--clock \"YYYY-MM-DD HH:MM:SS\"]\n"
                    "                   [--weight-unit g|kg] [--ignore-filter KEY]"
                    " [--page-max N] [--hide attr,...]\n"
                    "                   [--include on|off|refuse]\n"
                    "                   [--oauth-client ID:SECRET] [--access-ttl SECONDS]\n");
    exit(2);
}

/* Matches argv[*i] against flag ("--flag VALUE" or "--flag=VALUE").  Returns
 * the value (advancing *i past it) or NULL when the argument is another flag. */
static const char *ms_flag(int argc, char **argv, int *i, const char *flag)
{
    size_t len = strlen(flag);
    const char *arg = argv[*i];

    if (strncmp(arg, flag, len) != 0)
        return NULL;
    if (arg[len] == '=')
        return arg + len + 1;
    if (arg[len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "mystore-sim: %s needs a value\n", flag);
        ms_usage();
    }
    return argv[++*i];
}

/* Parses an integer flag value in [min, max]; exits with usage otherwise. */
static int ms_flag_int(const char *flag, const char *value, long min, long max)
{
    long number;

    if (ms_parse_long(value, &number) != 0 || number < min || number > max) {
        fprintf(stderr, "mystore-sim: %s must be an integer from %ld to %ld\n", flag, min, max);
        ms_usage();
    }
    return (int)number;
}

int main(int argc, char **argv)
{
    ms_state st = {.by_name = json_object(), .by_token = json_object(), .by_client = json_object()};
    sim_app app = {.name = "mystore-sim", .state = &st, .rate_limit = 120};
    const char *shop_name = "demo";
    const char *token = "test-token";
    json_t *clients = json_object(); /* --oauth-client, for shop #0 */
    json_t *seed;
    const char *seed_path = NULL;
    const char *zone = "Europe/Oslo";
    const char *clock = NULL;
    const char *value;
    char zone_file[512];
    char err[512] = "";
    int port = 0;
    int status;
    int i;

    for (i = 1; i < argc; i++) {
        if ((value = ms_flag(argc, argv, &i, "--port")) != NULL)
            port = ms_flag_int("--port", value, 0, 65535);
        else if ((value = ms_flag(argc, argv, &i, "--seed")) != NULL)
            seed_path = value;
        else if ((value = ms_flag(argc, argv, &i, "--rate-limit")) != NULL)
            app.rate_limit = ms_flag_int("--rate-limit", value, 0, 1000000);
        else if ((value = ms_flag(argc, argv, &i, "--shop")) != NULL)
            shop_name = value;
        else if ((value = ms_flag(argc, argv, &i, "--token")) != NULL)
            token = value;
        else if ((value = ms_flag(argc, argv, &i, "--oauth-client")) != NULL) {
            const char *colon = strchr(value, ':');
            char id[256];
            if (colon == NULL || colon == value || !colon[1] ||
                (size_t)(colon - value) >= sizeof id) {
                fprintf(stderr, "mystore-sim: --oauth-client must be ID:SECRET\n");
                ms_usage();
            }
            snprintf(id, sizeof id, "%.*s", (int)(colon - value), value);
            json_object_set_new(clients, id, json_string(colon + 1));
        } else if ((value = ms_flag(argc, argv, &i, "--access-ttl")) != NULL)
            ms_access_ttl = ms_flag_int("--access-ttl", value, 1, 86400 * 365);
        else if ((value = ms_flag(argc, argv, &i, "--timezone")) != NULL)
            zone = value;
        else if ((value = ms_flag(argc, argv, &i, "--clock")) != NULL)
            clock = value;
        else if (ms_broken_flag(argc, argv, &i))
            continue;
        else
            ms_usage();
    }
    if (shop_name[0] == '\0' || strchr(shop_name, '/') != NULL || token[0] == '\0') {
        fprintf(stderr, "mystore-sim: --shop and --token must be non-empty (no '/')\n");
        ms_usage();
    }
    if (clock != NULL) {
        if (!ms_is_timestamp(clock)) {
            fprintf(stderr, "mystore-sim: --clock must be \"YYYY-MM-DD HH:MM:SS\"\n");
            ms_usage();
        }
    }

    /* The simulator is single-zone: set it once for localtime_r. */
    snprintf(zone_file, sizeof zone_file, "%s/%s",
             getenv("TZDIR") != NULL ? getenv("TZDIR") : "/usr/share/zoneinfo", zone);
    if (access(zone_file, R_OK) != 0)
        fprintf(stderr, "mystore-sim: warning: no zone file %s; times may be UTC\n", zone_file);
    setenv("TZ", zone, 1);
    tzset();

    if (clock != NULL && (ms_fixed_clock = ms_local_instant(clock)) == 0) {
        fprintf(stderr, "mystore-sim: --clock %s is not a time in %s\n", clock, zone);
        ms_usage();
    }

    /* Shop #0; a shop added later without a seed of its own starts from a
     * copy of this seed as read (the shop changes its own in place). */
    seed = seed_path != NULL ? sim_load_json(seed_path) : json_object();
    st.seed = json_deep_copy(seed);
    if (ms_shop_add(&st, shop_name, token, seed, err, sizeof err) == NULL) {
        fprintf(stderr, "mystore-sim: %s: %s\n", seed_path != NULL ? seed_path : "(empty)", err);
        return 2;
    }
    const char *id;
    json_t *secret;
    json_object_foreach(clients, id, secret)
    {
        ms_client_add(&st, st.shops[0], id, json_string_value(secret));
    }
    json_decref(clients);

    app.auth = ms_auth;
    app.handle = ms_handle;
    app.handle_test = ms_handle_test;
    app.route_name = ms_route_name;
    app.count = ms_count;
    app.stats = ms_stats;
    app.reset_counters = ms_reset_counters;
    sim_set_content_type(MS_CONTENT_TYPE);
    sim_set_clock(ms_clock, &st);
    status = sim_serve(&app, port);

    for (size_t k = 0; k < st.count; k++)
        ms_shop_free(st.shops[k]);
    free(st.shops);
    json_decref(st.by_name);
    json_decref(st.by_token);
    json_decref(st.by_client);
    json_decref(st.seed);
    return status;
}
