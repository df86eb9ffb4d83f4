/* libFuzzer target for every parser of outside input that a consumer meets:
 * the event envelope (bytes from Kafka) and the four pure mappings of its
 * data (JSON from the APIs).  Nothing may crash, leak or read out of bounds,
 * whatever the bytes.  Build and run: `make fuzz` (clang). */
#include "event.h"
#include "map_article.h"
#include "map_delivery.h"
#include "map_order.h"
#include "map_stock.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    json_t *ev = NULL, *out = NULL;

    if (ev_parse(data, size, NULL, &ev, errstr, sizeof(errstr)) != MO_OK) {
        /* Not an envelope: still feed the bytes as JSON to the mappings. */
        ev = json_loadb((const char *)data, size, 0, NULL);
        if (!ev)
            return 0;
    }
    json_t *d = json_object_get(ev, "data") ? json_object_get(ev, "data") : ev;
    mp_order_conf oc = {.goods_owner_id = 1, .timezone = "Europe/Oslo"};
    mp_article_conf ac = {.goods_owner_id = 1};

    if (mp_order_map(d, &oc, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    if (mp_article_map(d, &ac, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    if (mp_delivery_map(d, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    if (mp_stock_map(json_object_get(d, "article"), json_object_get(d, "map"), &out, errstr,
                     sizeof(errstr)) == MO_OK)
        json_decref(out);
    json_decref(ev);
    return 0;
}
