/* The stock mapping: golden cases under tests/cases/stock/<case>/
 * (input.json: {"article": one element of Ongoing's GET /articles, "map": the
 * article sync's map entry or null}; expected.json: the result, or
 * {"error": "invalid", "message_contains": "..."}; no config) and focused
 * tests of the quantity rule (M10) and the target choice. */
#include "unit.h"
#include "golden.h"
#include "consumers/map_stock.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CASES_DIR  "tests/cases/stock"
#define MIN_CASES  8
#define ERRSTR_LEN 512

/* The golden runner's adapter: input holds the article and its map entry. */
static mo_err stock_case(const json_t *input, const json_t *cfg, json_t **out, char *errstr,
                         size_t errstr_size)
{
    (void)cfg;
    return mp_stock_map(json_object_get(input, "article"), json_object_get(input, "map"), out,
                        errstr, errstr_size);
}

UT_TEST(map_stock_golden)
{
    golden_run(CASES_DIR, MIN_CASES, stock_case);
}

UT_TEST(map_stock_alloc_failures)
{
    golden_alloc_failures(CASES_DIR "/variant-via-free-decimal2", stock_case);
    golden_alloc_failures(CASES_DIR "/unknown-article", stock_case);
}

/* Maps the single-quoted article and map entry texts (map NULL: no entry)
 * and renders the result as "variant 116301 = 8", "product 812 = 8",
 * "skip: <reason>" or "error: <reason>" into got. */
static void render(const char *article, const char *map, char *got, size_t size)
{
    json_t *a = golden_jq(article);
    json_t *m = map ? golden_jq(map) : NULL;
    json_t *out = NULL;
    char errstr[ERRSTR_LEN] = "";

    UT_CHECK(a != NULL && (map == NULL || m != NULL), "test JSON does not parse: %s / %s", article,
             map ? map : "NULL");
    if (mp_stock_map(a, m, &out, errstr, sizeof errstr) != MO_OK) {
        UT_CHECK(out == NULL && strchr(errstr, '\n') == NULL, "%s: bad failure", article);
        snprintf(got, size, "error: %s", errstr);
    } else if (!strcmp(json_string_value(json_object_get(out, "action")), "skip")) {
        UT_CHECK(json_object_size(out) == 2, "%s: extra members", article);
        snprintf(got, size, "skip: %s", json_string_value(json_object_get(out, "reason")));
    } else {
        json_t *q = json_object_get(out, "quantity");
        UT_CHECK(json_is_integer(q) && json_object_size(out) == 4 &&
                     !strcmp(json_string_value(json_object_get(out, "action")), "write"),
                 "%s: write shape", article);
        snprintf(got, size, "%s %s = %" JSON_INTEGER_FORMAT,
                 json_string_value(json_object_get(out, "target")),
                 json_string_value(json_object_get(out, "id")), json_integer_value(q));
    }
    json_decref(a);
    json_decref(m);
    json_decref(out);
}

static void check(const char *article, const char *map, const char *want)
{
    char got[ERRSTR_LEN + 16];

    render(article, map, got, sizeof got);
    UT_CHECK(!strncmp(got, want, strlen(want)), "%s / %s: got '%s', want '%s'", article,
             map ? map : "NULL", got, want);
}

/* An article with freeValues.freeDecimal2 (JSON) and sellable (JSON). */
#define ART(free2, sellable)                                                                       \
    "{'articleNumber': 'A-1', 'freeValues': {'freeDecimal2': " free2 "},"                          \
    " 'inventoryInfo': {'numberOfItems': 99.0, 'sellableNumberOfItems': " sellable "}}"

/* M10: max(0, floor(sellable)), as an integer. */
UT_TEST(map_stock_quantity)
{
    check(ART("5.0", "8.0"), NULL, "variant 5 = 8");
    check(ART("5.0", "8"), NULL, "variant 5 = 8");
    check(ART("5.0", "7.9"), NULL, "variant 5 = 7");
    check(ART("5.0", "0.999"), NULL, "variant 5 = 0");
    check(ART("5.0", "0.0"), NULL, "variant 5 = 0");
    check(ART("5.0", "-0.5"), NULL, "variant 5 = 0");
    check(ART("5.0", "-3.0"), NULL, "variant 5 = 0");
    check(ART("5.0", "-1e300"), NULL, "variant 5 = 0");
    check(ART("5.0", "123456789.5"), NULL, "variant 5 = 123456789");
    check(ART("5.0", "9007199254740992"), NULL, "variant 5 = 9007199254740992");
    check(ART("5.0", "1e300"), NULL,
          "error: Ongoing article A-1: inventoryInfo."
          "sellableNumberOfItems 1e+300 is too large");
    check(ART("5.0", "null"), NULL,
          "error: Ongoing article A-1: inventoryInfo.sellableNumberOfItems is missing");
    check(ART("5.0", "'8'"), NULL,
          "error: Ongoing article A-1: inventoryInfo.sellableNumberOfItems '8' is not a number");
    check(ART("5.0", "true"), NULL,
          "error: Ongoing article A-1: inventoryInfo."
          "sellableNumberOfItems true is not a number");
    check("{'articleNumber': 'A-1', 'inventoryInfo': null}", "{'product_id': '1'}",
          "error: Ongoing article A-1: inventoryInfo.sellableNumberOfItems is missing");
    check("{'articleNumber': 'A-1'}", NULL,
          "error: Ongoing article A-1: inventoryInfo.sellableNumberOfItems is missing");
}

/* The variant from freeDecimal2 first, then the map's variant, then the
 * map's product; never a product the map gives with a variant. */
UT_TEST(map_stock_target)
{
    const char *p = "{'product_id': '812', 'variant_id': null}";
    const char *pv = "{'product_id': '812', 'variant_id': '116302'}";

    check(ART("116301.0", "8.0"), pv, "variant 116301 = 8");
    check(ART("116301", "8.0"), p, "variant 116301 = 8");
    check(ART("null", "8.0"), pv, "variant 116302 = 8");
    check(ART("null", "8.0"), p, "product 812 = 8");
    check(ART("null", "8.0"), "{'product_id': '812'}", "product 812 = 8");
    check(ART("null", "8.0"), "{'variant_id': '116302'}", "variant 116302 = 8");
    check(ART("null", "8.0"), "{'product_id': '812', 'variant_id': ''}", "product 812 = 8");
    check(ART("0.0", "8.0"), p, "product 812 = 8");
    check(ART("-116301.0", "8.0"), p, "product 812 = 8");
    check(ART("116301.5", "8.0"), pv, "variant 116302 = 8");
    check(ART("'116301'", "8.0"), p, "product 812 = 8");
    check(ART("1e20", "8.0"), p, "product 812 = 8");
    check(ART("null", "8.0"), NULL, "skip: unknown article");
    check(ART("null", "8.0"), "null", "skip: unknown article");
    check(ART("null", "8.0"), "{}", "skip: unknown article");
    check("{'articleNumber': 'A-1', 'freeValues': null, 'inventoryInfo':"
          " {'sellableNumberOfItems': 2.0}}",
          p, "product 812 = 2");
    check("{'inventoryInfo': {'sellableNumberOfItems': 2.0}}", NULL, "skip: unknown article");
}

/* Articles and map entries of the wrong shape: MO_ERR_INVALID with a
 * one-line reason. */
UT_TEST(map_stock_bad_shapes)
{
    char errstr[ERRSTR_LEN];
    json_t *out = NULL;

    UT_CHECK(mp_stock_map(NULL, NULL, &out, errstr, sizeof errstr) == MO_ERR_INVALID && !out &&
                 strstr(errstr, "Ongoing article is not a JSON object"),
             "NULL article: %s", errstr);
    check("[]", NULL, "error: Ongoing article is not a JSON object");
    check(ART("null", "8.0"), "[]", "error: Ongoing article A-1: map entry (an array) is not an");
    check(ART("null", "8.0"), "'812'", "error: Ongoing article A-1: map entry '812' is not an");
    check(ART("null", "8.0"), "{'product_id': 812}",
          "error: Ongoing article A-1: map entry product_id 812 is not a Mystore id");
    check(ART("null", "8.0"), "{'product_id': '../812'}",
          "error: Ongoing article A-1: map entry product_id '../812' is not a Mystore id");
    check(ART("5.0", "8.0"), "{'product_id': '812', 'variant_id': 'x'}",
          "error: Ongoing article A-1: map entry variant_id 'x' is not a Mystore id");
    check("{'articleNumber': 'A\\n1', 'inventoryInfo': {}}", NULL,
          "error: Ongoing article A?1: inventoryInfo.sellableNumberOfItems is missing");
    check("{'articleNumber': 7, 'inventoryInfo': {}}", NULL,
          "error: Ongoing article: inventoryInfo.sellableNumberOfItems is missing");
}
