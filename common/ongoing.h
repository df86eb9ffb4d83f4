/* The Ongoing WMS REST v1 client, following the API model in the README:
 * base {ONGOING_API_URL}/api/v1/, HTTP Basic auth, goodsOwnerId on every
 * call, transient failures retried, and writes made one at a time per goods
 * owner across all processes (a Redis lock), as Ongoing asks. */
#ifndef MO_ONGOING_H
#define MO_ONGOING_H

#include "config.h"
#include "err.h"
#include "store.h"

#include <jansson.h>

typedef struct og_client og_client;

/* The answer caps, by what a call asks for (issue 12 item 19; see
 * mystore.h for why):
 *   a page (maxOrdersToGet=N or maxArticlesToGet=N): OG_ANSWER_BASE +
 *     N * OG_ANSWER_ITEM, 8 MiB for the pollers' pages of 200 (an order with
 *     its lines and parcels is a few KB, an article less);
 *   anything else (a look-up by order or article number, the statuses, a
 *     write's answer): OG_ANSWER_ONE, an order of thousands of lines.
 * An answer over its cap is MO_ERR_TOO_LARGE naming the call (not retried). */
#define OG_ANSWER_BASE ((size_t)64 * 1024)
#define OG_ANSWER_ITEM ((size_t)40 * 1024)
#define OG_ANSWER_ONE  ((size_t)2 * 1024 * 1024)

/* The answer cap of GET path (path with its query), as above.  Pure. */
size_t og_answer_cap(const char *path);

/* rs is borrowed (the write lock lives there). */
og_client *og_new(const mo_config *cfg, rs_store *rs, int max_attempts);
void og_free(og_client *og);

/* GET /orders?goodsOwnerId=&orderNumber=: *order is the order (new reference)
 * or NULL when Ongoing has none. */
mo_err og_order_get(og_client *og, const char *order_number, json_t **order, char *errstr,
                    size_t errstr_size);
/* GET /articles?goodsOwnerId=&articleNumber=: *exists 1 or 0. */
mo_err og_article_exists(og_client *og, const char *article_number, int *exists, char *errstr,
                         size_t errstr_size);
/* PUT /orders, PUT /articles (body borrowed), DELETE /orders?orderNumber=.
 * A 4xx is MO_ERR_PERMANENT with *status and the answer's message in errstr. */
mo_err og_order_put(og_client *og, const json_t *order, long *status, char *errstr,
                    size_t errstr_size);
mo_err og_article_put(og_client *og, const json_t *article, long *status, char *errstr,
                      size_t errstr_size);
mo_err og_order_cancel(og_client *og, const char *order_number, long *status, char *errstr,
                       size_t errstr_size);
/* The Ongoing status number of an order answer (orderInfo.orderStatus.number), -1 if absent. */
int og_order_status(const json_t *order);

/* GET {path}?goodsOwnerId=..&{query}: a list answer (bare JSON array, new
 * reference in *items).  Anything else is MO_ERR_TRANSIENT (retried by the
 * caller's next cycle); a 4xx is MO_ERR_PERMANENT. */
mo_err og_list(og_client *og, const char *path, const char *query, json_t **items, char *errstr,
               size_t errstr_size);
/* A UTC time as Ongoing's query parameters want it: "2026-11-27T10:00:00.000Z". */
void og_time(long long epoch_s, char *buf, size_t size);

/* Is Ongoing up?  As ms_up_since(), probing GET /orders/statuses. */
int og_up_since(og_client *og, long long since_ms);

/* The API server's clock now, from its last Date header (see hc_server_now);
 * 0 before any answer carried one. */
long long og_server_now(const og_client *c);
/* The client's HTTP client (its clock: hc_clock_get, hc_clock_set). */
struct hc_client *og_http(og_client *c);

/* Requests sent by this client. */
unsigned long og_requests(const og_client *og);

/* ---- reads for the dry run and `mosync doctor` ---- */

/* GET /articles?goodsOwnerId=&articleNumber=: *article is the article whose
 * number is exactly article_number (new reference), or NULL when Ongoing has
 * none. */
mo_err og_article_get(og_client *og, const char *article_number, json_t **article, char *errstr,
                      size_t errstr_size);
/* GET {path} as given (it may carry a query; goodsOwnerId is not added), for
 * answers that are not lists (GET orders/statuses).  *doc: the JSON answer
 * (new reference).  A 4xx is MO_ERR_PERMANENT with *status set and the
 * answer's message in errstr. */
mo_err og_get(og_client *og, const char *path, json_t **doc, long *status, char *errstr,
              size_t errstr_size);

#endif
