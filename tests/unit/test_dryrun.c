/* The dry run's pure parts: the comparison of a request with what the target
 * holds (consumers/map_diff.c), golden-tested in tests/cases/diff/<case>/
 * (input.json: {"kind": "order" | "article" | "delivery" | "stock" | "cancel", ...};
 * expected.json: the differences, or {"error": ..., "message_contains": ...}),
 * and the DRY_RUN settings. */
#include "unit.h"
#include "golden.h"
#include "common/config.h"
#include "consumers/map_diff.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CASES_DIR "tests/cases/diff"
#define MIN_CASES 20

/* The golden runner's adapter: "kind" picks the comparison; the other
 * members are its arguments. */
static mo_err diff_case(const json_t *input, const json_t *cfg, json_t **out, char *errstr,
                        size_t errstr_size)
{
    const char *kind = json_string_value(json_object_get(input, "kind"));
    const json_t *target = json_object_get(input, "target");
    (void)cfg;
    if (json_is_null(target))
        target = NULL;
    if (!kind)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "case without a kind");
    if (!strcmp(kind, "order"))
        return mp_diff_order(json_object_get(input, "request"), target, out, errstr, errstr_size);
    if (!strcmp(kind, "article"))
        return mp_diff_article(json_object_get(input, "request"), target, out, errstr, errstr_size);
    if (!strcmp(kind, "delivery"))
        return mp_diff_delivery(
            json_string_value(json_object_get(input, "tracking")),
            json_string_value(json_object_get(input, "sent_status_id")),
            json_object_get(input, "mystore_order"), json_object_get(input, "statuses"),
            json_string_value(json_object_get(input, "language")), out, errstr, errstr_size);
    if (!strcmp(kind, "cancel"))
        return mp_diff_cancel(target, out, errstr, errstr_size);
    return mp_diff_stock(json_object_get(input, "mapped"), target, out, errstr, errstr_size);
}

UT_TEST(dryrun_diff_golden)
{
    golden_run(CASES_DIR, MIN_CASES, diff_case);
}

UT_TEST(dryrun_diff_alloc_failures)
{
    golden_alloc_failures(CASES_DIR "/order-planted-differences", diff_case);
    golden_alloc_failures(CASES_DIR "/delivery-sets-tracking-and-status", diff_case);
    golden_alloc_failures(CASES_DIR "/stock-differs", diff_case);
}

/* One field compared: the differences of a one-field order request against
 * a target holding `has` at the same place (both single-quoted JSON). */
static size_t order_field_diffs(const char *request, const char *target)
{
    json_t *r = golden_jq(request), *t = golden_jq(target), *out = NULL;
    char errstr[256] = "";
    size_t n = (size_t)-1;
    UT_CHECK(r && t, "test JSON does not parse: %s / %s", request, target);
    if (r && t && mp_diff_order(r, t, &out, errstr, sizeof(errstr)) == MO_OK)
        n = json_array_size(out);
    json_decref(r);
    json_decref(t);
    json_decref(out);
    return n;
}

/* The comparison rules of map_diff.h, one at a time. */
UT_TEST(dryrun_diff_rules)
{
    /* Times are instants: fractions, offsets and lower-case zone letters. */
    UT_CHECK(order_field_diffs(
                 "{'deliveryDate': '2026-03-29T01:30:00Z'}",
                 "{'orderInfo': {'deliveryDate': '2026-03-29T03:30:00.0000000+02:00'}}") == 0,
             "same instant with an offset");
    UT_CHECK(order_field_diffs("{'deliveryDate': '2026-03-29T01:30:00Z'}",
                               "{'orderInfo': {'deliveryDate': '2026-03-29T01:30:01Z'}}") == 1,
             "one second apart");
    UT_CHECK(order_field_diffs("{'deliveryDate': '2026-03-29T01:30:00Z'}",
                               "{'orderInfo': {'deliveryDate': 'yesterday'}}") == 1,
             "a time against text");
    /* Numbers by value, relative tolerance only. */
    UT_CHECK(order_field_diffs("{'customerPrice': 0.1}",
                               "{'orderInfo': {'customerPrice': 0.10000000000000001}}") == 0,
             "the same double");
    UT_CHECK(
        order_field_diffs("{'customerPrice': 0.01}", "{'orderInfo': {'customerPrice': 0.02}}") == 1,
        "one øre apart");
    UT_CHECK(order_field_diffs("{'customerPrice': 10}", "{'orderInfo': {'customerPrice': '10'}}") ==
                 1,
             "a number against a string is a difference");
    /* Absent: missing, null and "" agree; a string does not. */
    UT_CHECK(order_field_diffs("{}", "{'consignee': {'city': null, 'postCode': ''}}") == 0,
             "absent on both sides");
    UT_CHECK(order_field_diffs("{}", "{'consignee': {'city': 'Oslo'}}") == 1,
             "the target holds what the request leaves out");
    UT_CHECK(order_field_diffs("{'consignee': {'city': 'Oslo'}}",
                               "{'consignee': {'city': 'oslo'}}") == 1,
             "strings compare exactly");
    UT_CHECK(order_field_diffs("{'emailNotification': {'toBeNotified': true}}",
                               "{'orderInfo': {'emailNotification': {'toBeNotified': false}}}") ==
                 1,
             "true against false");
    UT_CHECK(order_field_diffs(
                 "{}", "{'orderInfo': {'emailNotification': {'toBeNotified': false}}}") == 0,
             "false counts as absent");
    /* Lines by rowNumber, whatever their order; a numeric rowNumber matches its text. */
    UT_CHECK(order_field_diffs("{'orderLines': [{'rowNumber': '2', 'numberOfItems': 1}, "
                               "{'rowNumber': '1', 'numberOfItems': 4}]}",
                               "{'orderLines': [{'rowNumber': 1, 'orderedNumberOfItems': 4.0}, "
                               "{'rowNumber': '2', 'orderedNumberOfItems': 1.0}]}") == 0,
             "lines matched by rowNumber");
}

/* DRY_RUN is off unless set to on; anything else names the variable. */
UT_TEST(dryrun_config)
{
    mo_config cfg;
    char errstr[256] = "";
    unsetenv("DRY_RUN");
    unsetenv("DRY_RUN_TTL_DAYS");
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "defaults: %s", errstr);
    UT_CHECK(cfg.dry_run == 0 && cfg.dry_run_ttl_days == 7, "default off, 7 days: %d %d",
             cfg.dry_run, cfg.dry_run_ttl_days);
    cfg_free(&cfg);
    setenv("DRY_RUN", "on", 1);
    setenv("DRY_RUN_TTL_DAYS", "2", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "on: %s", errstr);
    UT_CHECK(cfg.dry_run == 1 && cfg.dry_run_ttl_days == 2, "on, 2 days");
    cfg_free(&cfg);
    setenv("DRY_RUN", "yes", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_ERR_CONFIG &&
                 strstr(errstr, "DRY_RUN"),
             "DRY_RUN=yes: '%s'", errstr);
    setenv("DRY_RUN", "on", 1);
    setenv("DRY_RUN_TTL_DAYS", "0", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_ERR_CONFIG &&
                 strstr(errstr, "DRY_RUN_TTL_DAYS"),
             "DRY_RUN_TTL_DAYS=0: '%s'", errstr);
    unsetenv("DRY_RUN");
    unsetenv("DRY_RUN_TTL_DAYS");
}
