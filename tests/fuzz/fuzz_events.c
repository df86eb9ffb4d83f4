/* libFuzzer target for every parser of outside input that a consumer meets:
 * the event envelope (bytes from Kafka), the four pure mappings of its data
 * (JSON from the APIs) and the dry run's comparisons with what a target holds
 * (the "target" member, or the data itself).  Nothing may crash, leak or read out of bounds,
 * whatever the bytes.  Build and run: `make fuzz` (clang). */
#include "event.h"
#include "map_article.h"
#include "map_diff.h"
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
    /* MYSTORE_ORDER_STATUSES as the configuration holds it: the "wait" rule
     * too reads the snapshot's status (a name, an id). */
    json_t *listed = json_pack("[s, s]", "Under behandling", "2");
    mp_order_conf listed_conf = oc;
    listed_conf.order_statuses = listed;
    if (mp_order_map(d, &listed_conf, &out, errstr, sizeof(errstr)) == MO_OK)
        json_decref(out);
    json_decref(listed);
    out = NULL;
    mp_article_conf ac = {.goods_owner_id = 1};

    json_t *target = json_object_get(d, "target") ? json_object_get(d, "target") : d;
    if (mp_order_map(d, &oc, &out, errstr, sizeof(errstr)) == MO_OK) {
        json_t *diff = NULL;
        if (mp_diff_order(json_object_get(out, "order"), target, &diff, errstr, sizeof(errstr)) ==
            MO_OK)
            json_decref(diff);
        json_decref(out);
    }
    json_t *diff = NULL;
    if (mp_diff_article(d, target, &diff, errstr, sizeof(errstr)) == MO_OK)
        json_decref(diff);
    if (mp_diff_stock(d, target, &diff, errstr, sizeof(errstr)) == MO_OK)
        json_decref(diff);
    if (mp_diff_cancel(target, &diff, errstr, sizeof(errstr)) == MO_OK)
        json_decref(diff);
    if (mp_diff_delivery(json_string_value(json_object_get(d, "tracking")), "3", target,
                         json_object_get(d, "statuses"), "no", &diff, errstr,
                         sizeof(errstr)) == MO_OK)
        json_decref(diff);
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
