/* The Mystore (JSON:API) client, following the API model in the README:
 * base {MYSTORE_API_URL}/shops/{shop}/, Bearer token, every request taken from
 * the shared per-token budget in Redis (M12), transient failures retried. */
#ifndef MO_MYSTORE_H
#define MO_MYSTORE_H

#include "config.h"
#include "err.h"
#include "store.h"

#include <jansson.h>

#define MS_PAGE_SIZE 50 /* M13: the largest page Mystore serves */

/* The answer caps, by what a call asks for (issue 12 item 19).  jansson
 * builds up to ~80 bytes per byte of small JSON objects, so a 16 MiB cap for
 * every call let one answer make a 1.2 GB process; each call now accepts
 * what its question can honestly take:
 *   a page (a query with page[size]=N): MS_ANSWER_BASE + N * MS_ANSWER_ITEM,
 *     2 MiB for a page of 50; the simulators' largest page of 50 is 32 KB,
 *     a real order is a few KB, a product with long descriptions tens;
 *   one resource (orders/{id}, products/{id}) and a write's answer:
 *     MS_ANSWER_ONE.
 * An answer over its cap is MO_ERR_TOO_LARGE naming the call (not retried). */
#define MS_ANSWER_BASE ((size_t)64 * 1024)
#define MS_ANSWER_ITEM ((size_t)40 * 1024)
#define MS_ANSWER_ONE  ((size_t)512 * 1024)

/* The answer cap of GET path (path with its query), as above.  Pure. */
size_t ms_answer_cap(const char *path);

typedef struct ms_client ms_client;

/* rs is borrowed (the budget lives there) and must outlive the client.
 * max_attempts: tries per request for transient failures (>= 1). */
ms_client *ms_new(const mo_config *cfg, rs_store *rs, int max_attempts);
void ms_free(ms_client *ms);

/* GET {base}/{path}; path may carry a query.  *doc is the answer (new
 * reference).  404 and other 4xx are MO_ERR_PERMANENT with *status set. */
mo_err ms_get(ms_client *ms, const char *path, json_t **doc, long *status, char *errstr,
              size_t errstr_size);

/* One page of a list: GET {path}?{query}&page[number]=page&page[size]=50.
 * Checks the JSON:API shape: *items is the "data" array (new reference),
 * *has_next says whether links.next is present.  Only links.next absent ends
 * a list: a 404 for a page past the first (the previous page named it as
 * next) and a malformed page are asked again within the attempt budget,
 * then MO_ERR_TRANSIENT (never an empty page that would cut the list). */
mo_err ms_list_page(ms_client *ms, const char *path, const char *query, int page, json_t **items,
                    int *has_next, char *errstr, size_t errstr_size);
/* The JSON:API list check of one page's answer (pure; the fuzz target and
 * ms_list_page use it): doc must be an object whose "data" is an array, with
 * "links" and "meta" objects when present.  *items (new reference), *has_next
 * (links.next present) and, when meta is not NULL, *meta (new reference, an
 * empty object when absent).  MO_ERR_INVALID for any other shape. */
mo_err ms_list_doc(const json_t *doc, json_t **items, json_t **meta, int *has_next);

/* The same, also returning the page's top-level "meta" (new reference; an
 * empty object when absent). */
mo_err ms_list_page_meta(ms_client *ms, const char *path, const char *query, int page,
                         json_t **items, json_t **meta, int *has_next, char *errstr,
                         size_t errstr_size);

/* The same, also returning the page's top-level "meta" (may be NULL) and in
 * *last the last page number its links.last names (0 when it names none). */
mo_err ms_list_page_last(ms_client *ms, const char *path, const char *query, int page,
                         json_t **items, json_t **meta, int *has_next, long *last, char *errstr,
                         size_t errstr_size);
/* The same, also returning the page's top-level "included" (JSON:API
 * compound documents, M11): *included a new reference to that array, NULL
 * when the answer has none (or not an array). */
mo_err ms_list_page_incl(ms_client *ms, const char *path, const char *query, int page,
                         json_t **items, json_t **meta, json_t **included, int *has_next,
                         long *last, char *errstr, size_t errstr_size);
/* The page number links.last of a list answer names (page[number]=N, the
 * brackets encoded or not), 0 when none (pure). */
long ms_links_last(const json_t *doc);

/* Every item of a (small, related) list, all pages: *items new reference.
 * meta_key (may be NULL) names an array in the pages' top-level "meta" to
 * collect too ("product_variants"): *meta (new reference) concatenates it.
 * A list of more than MS_LIST_MAX_PAGES pages or MS_LIST_MAX_BYTES of
 * answers is MO_ERR_TOO_LARGE (never returned cut short). */
#define MS_LIST_MAX_PAGES 200                 /* 10,000 items */
#define MS_LIST_MAX_BYTES (32u * 1024 * 1024) /* answer bytes of all pages */
/* A list that shifted while it was read (an id on two pages, links.last
 * moved) is read again, this many times in all, then MO_ERR_TRANSIENT. */
#define MS_LIST_ROUNDS 3
mo_err ms_list_all(ms_client *ms, const char *path, json_t **items, char *errstr,
                   size_t errstr_size);
mo_err ms_list_all_meta(ms_client *ms, const char *path, const char *meta_key, json_t **items,
                        json_t **meta, char *errstr, size_t errstr_size);

/* PATCH or POST a JSON:API document (borrowed); *doc (may be NULL) receives the answer. */
mo_err ms_write(ms_client *ms, const char *method, const char *path, const json_t *body,
                json_t **doc, long *status, char *errstr, size_t errstr_size);

/* The class of this client's next requests in the shared budget (work
 * first, store.h): idle 1 for a poller's list after a cycle that found
 * nothing, else work (the default). */
void ms_set_idle(ms_client *ms, int idle);

/* Is Mystore up?  1 when this client got a non-transient answer after
 * since_ms (monotonic), else after one probe request (GET order-status) that
 * answered; 0 when Mystore does not answer. */
int ms_up_since(ms_client *ms, long long since_ms);

/* The API server's clock now, from its last Date header (see hc_server_now);
 * 0 before any answer carried one. */
long long ms_server_now(const ms_client *c);
/* The client's HTTP client (its clock: hc_clock_get, hc_clock_set). */
struct hc_client *ms_http(ms_client *c);

/* The HTTP status of the last answer any call of this client got (after its
 * retries), 0 when none came: tells a caller whose list call failed whether
 * Mystore refused the token (401/403), the resource is gone (404) or it
 * answered 5xx/429. */
long ms_last_status(const ms_client *ms);

/* Requests sent by this client (for the summary: API calls per order). */
unsigned long ms_requests(const ms_client *ms);

/* The changed-since filter query for `ts` (shop-local "YYYY-MM-DD HH:MM:SS"). */
mo_err ms_filter_updated_since(const char *ts, char *buf, size_t size);

/* M16/M17: the filter query asking for the items whose sku equals `sku`
 * (filter[sku][path]=sku&filter[sku][value]=..&filter[sku][operator]=eq),
 * into buf.  MO_ERR_TOO_LARGE when it does not fit. */
mo_err ms_filter_sku(const char *sku, char *buf, size_t size);

#endif
