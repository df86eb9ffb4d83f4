/* Unit tests of the pollers' building blocks: the event id, the resolution of
 * shop-local times in the autumn DST fold.  Tests named issue<N>_<item>_...
 * are regression tests of the issues' items. */
#include "event.h"
#include "poll.h"
#include "tz.h"
#include "unit.h"

#include <string.h>

/* 2026-10-25 in Europe/Oslo: 03:00 CEST (01:00Z) becomes 02:00 CET, so the
 * wall times 02:00-02:59 happen twice (00:00-00:59Z and 01:00-01:59Z). */
#define FOLD_0050Z 1792889400 /* 2026-10-25T00:50:00Z = 02:50 CEST */

UT_TEST(issue6_02_fold_resolved_by_observation)
{
    time_t t = 0;
    const char *z = "Europe/Oslo";
    /* 02:50 read at 00:50Z (first pass): only the first instant had happened. */
    UT_CHECK(!tz_local_to_utc_observed(z, "2026-10-25 02:50:00", FOLD_0050Z, &t) && t == FOLD_0050Z,
             "02:50 observed at 00:50Z: %lld", (long long)t);
    /* 02:10 read at 01:10Z (second pass, 40 minutes later): the latest instant
     * not after the observation is 01:10Z, after the change at 00:50Z. */
    UT_CHECK(!tz_local_to_utc_observed(z, "2026-10-25 02:10:00", FOLD_0050Z + 1200, &t) &&
                 t == FOLD_0050Z + 1200,
             "02:10 observed at 01:10Z: %lld", (long long)t);
    /* 02:10 read at 00:55Z: the second pass had not come yet. */
    UT_CHECK(!tz_local_to_utc_observed(z, "2026-10-25 02:10:00", FOLD_0050Z + 300, &t) &&
                 t == FOLD_0050Z - 2400,
             "02:10 observed at 00:55Z: %lld", (long long)t);
    /* 02:50 read at 02:00Z, both passes over: the later one. */
    UT_CHECK(!tz_local_to_utc_observed(z, "2026-10-25 02:50:00", FOLD_0050Z + 4200, &t) &&
                 t == FOLD_0050Z + 3600,
             "02:50 observed at 02:00Z: %lld", (long long)t);
    /* Outside the fold there is one instant, whatever the observation. */
    UT_CHECK(!tz_local_to_utc_observed(z, "2026-10-25 04:00:00", FOLD_0050Z, &t) &&
                 t == FOLD_0050Z + 7800,
             "04:00 CET (future-dated): %lld", (long long)t);
    UT_CHECK(!tz_local_to_utc_observed(z, "2026-07-01 12:00:00", FOLD_0050Z, &t) && t == 1782900000,
             "summer time: %lld", (long long)t);
    UT_CHECK(tz_local_to_utc_observed(z, "2026-10-25 2:50:00", FOLD_0050Z, &t) == MO_ERR_INVALID,
             "malformed time accepted");
}

/* The same change captured twice has one id; two different contents with the
 * same source version (a second change within one second) do not. */
UT_TEST(issue6_04_event_id_differs_for_different_content)
{
    json_t *a = ev_new("mystore.order", "t1", "10001", "2026-11-27T09:00:00Z",
                       json_pack("{s:s}", "address", "Første gate 1"));
    json_t *b = ev_new("mystore.order", "t1", "10001", "2026-11-27T09:00:00Z",
                       json_pack("{s:s}", "address", "Andre gate 2"));
    json_t *c = ev_new("mystore.order", "t1", "10001", "2026-11-27T09:00:00Z",
                       json_pack("{s:s}", "address", "Andre gate 2"));
    const char *ia = json_string_value(json_object_get(a, "id"));
    const char *ib = json_string_value(json_object_get(b, "id"));
    const char *ic = json_string_value(json_object_get(c, "id"));
    UT_CHECK(ia && ib && ic, "ids present");
    UT_CHECK(ia && ib && strcmp(ia, ib) != 0, "different content, same id %s", ia);
    UT_CHECK(ib && ic && strcmp(ib, ic) == 0, "same content, different ids");
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* Issue 12.7: a poller that lost its lease (paused past its TTL) may still
 * emit its old snapshot with the version the new holder emitted newer
 * content under: the lower fence makes it stale; an older version is stale
 * whatever its fence; an event without a fence (an older mosync) never is by
 * fence alone. */
UT_TEST(issue12_07_equal_version_lower_fence_is_stale)
{
    json_t *ev = ev_new("mystore.order", "t1", "10001", "2026-11-27T09:00:00Z",
                        json_pack("{s:s}", "address", "Gammel gate 1"));
    UT_CHECK(ev && ev_fence(ev) == -1, "no fence before one is set");
    ev_set_fence(ev, 100);
    UT_CHECK(ev_fence(ev) == 100, "fence %lld", ev_fence(ev));
    UT_CHECK(ev_stale(ev, "2026-11-27T09:00:00Z", 200), "equal version, lower fence");
    UT_CHECK(!ev_stale(ev, "2026-11-27T09:00:00Z", 100), "equal version, equal fence");
    UT_CHECK(!ev_stale(ev, "2026-11-27T09:00:00Z", 50), "equal version, higher fence");
    UT_CHECK(!ev_stale(ev, "2026-11-27T09:00:00Z", -1), "applied without a fence");
    UT_CHECK(!ev_stale(ev, "2026-11-27T08:59:59Z", 999), "newer version, lower fence");
    UT_CHECK(ev_stale(ev, "2026-11-27T09:00:01Z", 1), "older version, higher fence");
    UT_CHECK(!ev_stale(ev, NULL, 200), "nothing applied");
    char *bytes = json_dumps(ev, JSON_COMPACT);
    json_t *back = NULL;
    char errstr[256];
    UT_CHECK(bytes &&
                 ev_parse(bytes, strlen(bytes), "mystore.order", &back, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 ev_fence(back) == 100,
             "the fence survives the wire: %s", errstr);
    json_decref(back);
    free(bytes);
    json_object_set_new(ev, "fence", json_string("7"));
    bytes = json_dumps(ev, JSON_COMPACT);
    UT_CHECK(bytes && ev_parse(bytes, strlen(bytes), NULL, &back, errstr, sizeof(errstr)) ==
                          MO_ERR_INVALID,
             "a fence that is not an integer is refused");
    free(bytes);
    json_decref(ev);
}

/* include= (M11): the linkage include= adds is taken out of a resource so it
 * is what a plain list answers (an empty relationship, then an empty
 * "relationships", removed; other relationships kept), and identifiers are
 * found in the included index or not at all. */
UT_TEST(include_linkage_taken_out_and_resolved)
{
    json_t *order = json_loads("{\"type\": \"orders\", \"id\": \"1\", \"relationships\": "
                               "{\"order_status\": {\"data\": {\"type\": \"order-status\", "
                               "\"id\": \"3\"}}, \"order-products\": {\"data\": [{\"type\": "
                               "\"order-products\", \"id\": \"7\"}]}}}",
                               0, NULL);
    json_t *plain = json_loads("{\"type\": \"orders\", \"id\": \"1\", \"relationships\": "
                               "{\"order_status\": {\"data\": {\"type\": \"order-status\", "
                               "\"id\": \"3\"}}}}",
                               0, NULL);
    json_t *link = pm_take_linkage(order, "order-products");
    UT_CHECK(json_is_array(link) && json_array_size(link) == 1, "the linkage taken");
    UT_CHECK(json_equal(order, plain), "the order as a plain list answers it");
    UT_CHECK(pm_take_linkage(order, "order-totals") == NULL, "no linkage: NULL");
    json_t *lonely = json_loads("{\"id\": \"7\", \"relationships\": {\"order-product-attributes\": "
                                "{\"data\": []}}}",
                                0, NULL);
    json_t *empty = pm_take_linkage(lonely, "order-product-attributes");
    UT_CHECK(json_is_array(empty) && !json_object_get(lonely, "relationships"),
             "an emptied relationships object is removed");
    json_t *index =
        json_pack("{s:{s:s, s:s}}", "order-products/7", "type", "order-products", "id", "7");
    UT_CHECK(pm_included_get(index, json_array_get(link, 0)) != NULL, "included: found");
    json_t *missing = json_pack("{s:s, s:s}", "type", "order-products", "id", "8");
    UT_CHECK(pm_included_get(index, missing) == NULL, "not included: NULL");
    UT_CHECK(pm_included_get(index, NULL) == NULL, "no identifier: NULL");
    json_decref(order);
    json_decref(plain);
    json_decref(link);
    json_decref(lonely);
    json_decref(empty);
    json_decref(index);
    json_decref(missing);
}
