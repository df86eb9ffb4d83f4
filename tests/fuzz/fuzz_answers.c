/* libFuzzer target for what the pollers read from the two APIs: answer header
 * lines (Date, Retry-After), Mystore JSON:API list pages and single resources,
 * and Ongoing's bare-array lists with what the consumers make of their items.
 * The input is a block of header lines, a blank line, then the body.
 * Nothing may crash, leak or read out of bounds.  Build and run: `make fuzz`. */
#include "http.h"
#include "map_delivery.h"
#include "map_stock.h"
#include "mystore.h"
#include "ongoing.h"
#include "poll.h"
#include "tz.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a poller checks of one listed Mystore item before it fetches more. */
static void fa_mystore_item(const json_t *item)
{
    struct tm tm;
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *upd =
        json_string_value(json_object_get(json_object_get(item, "attributes"), "updated_at"));
    (void)pm_id_ok(id);
    if (upd && tz_parse_local(upd, &tm) == MO_OK) {
        char back[TZ_LOCAL_SIZE];
        (void)tz_local_add(upd, -7200, back);
    }
}

/* What the shipments and stock flows make of one Ongoing list item. */
static void fa_ongoing_item(const json_t *item)
{
    char errstr[256];
    json_t *out = NULL;
    (void)og_order_status(item);
    if (mp_delivery_map(item, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    if (mp_stock_map(item, NULL, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    json_t *entry = json_pack("{s:s, s:n}", "product_id", "812", "variant_id");
    if (mp_stock_map(item, entry, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    json_decref(entry);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    int retry_after = -1;
    long long retry_date = 0, server_date = 0;

    /* Header lines up to a blank line. */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '\r')) {
            p += nl ? n + 1 : n;
            break;
        }
        hc_header_parse(p, nl ? n + 1 : n, &retry_after, &retry_date, &server_date);
        /* The line as a request path: the answer cap it would get. */
        char path[512];
        size_t plen = n < sizeof(path) - 1 ? n : sizeof(path) - 1;
        memcpy(path, p, plen);
        path[plen] = '\0';
        (void)ms_answer_cap(path);
        (void)og_answer_cap(path);
        p += nl ? n + 1 : n;
    }

    json_t *doc = json_loadb(p, (size_t)(end - p), JSON_DECODE_ANY, NULL);
    if (!doc)
        return 0;
    json_t *items = NULL, *meta = NULL;
    int has_next;
    if (ms_list_doc(doc, &items, &meta, &has_next) == MO_OK) {
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) fa_mystore_item(item);
        json_decref(items);
        json_decref(meta);
    }
    if (json_is_object(json_object_get(doc, "data")))
        fa_mystore_item(json_object_get(doc, "data"));
    if (json_is_array(doc)) {
        size_t i;
        json_t *item;
        json_array_foreach(doc, i, item) fa_ongoing_item(item);
    }
    json_decref(doc);
    return 0;
}
