/* The article mapping: golden cases under tests/cases/articles/<case>/ and
 * focused tests of its rules and of the article helpers in mapping.c.
 *
 * A golden case is input.json (the product snapshot), expected.json (the
 * mapping's result, or {"error": "invalid", "message_contains": "..."}) and an
 * optional config.json ({"goods_owner_id", "language", "weight_unit": "g" or
 * "kg"}; defaults: 1, "no", "g"). */
#include "unit.h"
#include "golden.h"
#include "consumers/map_article.h"
#include "consumers/mapping.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CASES_DIR  "tests/cases/articles"
#define MIN_CASES  14
#define ERRSTR_LEN 512

/* Fills conf from a case's config.json (cfg may be NULL: all defaults).
 * conf borrows from cfg. */
static void conf_from_json(const json_t *cfg, mp_article_conf *conf)
{
    const json_t *owner = json_object_get(cfg, "goods_owner_id");
    const char *unit = json_string_value(json_object_get(cfg, "weight_unit"));

    conf->goods_owner_id = json_is_integer(owner) ? (long)json_integer_value(owner) : 1;
    conf->language = json_string_value(json_object_get(cfg, "language"));
    conf->weight_kg = unit != NULL && strcmp(unit, "kg") == 0;
}

/* The golden runner's adapter: the case's config.json, then mp_article_map(). */
static mo_err article_case(const json_t *input, const json_t *cfg, json_t **out, char *errstr,
                           size_t errstr_size)
{
    mp_article_conf conf;

    conf_from_json(cfg, &conf);
    return mp_article_map(input, &conf, out, errstr, errstr_size);
}

UT_TEST(map_article_golden)
{
    golden_run(CASES_DIR, MIN_CASES, article_case);
}

UT_TEST(map_article_alloc_failures)
{
    golden_alloc_failures(CASES_DIR "/two-options-out-of-order", article_case);
    golden_alloc_failures(CASES_DIR "/product-without-variants", article_case);
}

/* A product 1 with sku P, then the rest of the snapshot. */
#define PRODUCT1 "{'product': {'id': '1', 'attributes': {'sku': 'P'}}, "
/* A variant 2 with sku V whose stock_attributes is the argument. */
#define VARIANT2(sa)                                                                               \
    "{'variant': {'id': '2', 'attributes': {'sku': 'V'}}, 'stock_attributes': " sa "}"
#define VALUES "'option_values': {'5': {'attributes': {'name': 'Rød'}}}}"

/* Snapshots of the wrong shape: MO_ERR_INVALID with a one-line reason naming
 * the product, variant and field, never a crash. */
UT_TEST(map_article_bad_shapes)
{
    mp_article_conf conf = {.goods_owner_id = 1};
    char errstr[ERRSTR_LEN];
    json_t *out = NULL;
    const struct {
        const char *json;
        const char *reason;
    } bad[] = {
        {"[]", "snapshot is not a JSON object"},
        {"{}", "snapshot: product is missing"},
        {"{'product': {'id': 812}}", "snapshot: product id 812 is not a string"},
        {"{'product': {'id': ''}}", "snapshot: product id is missing"},
        {"{'product': {'id': '8a'}}", "product 8a: id is not numeric"},
        {"{'product': {'id': '1\\n2'}}", "product 1?2: id is not numeric"},
        {PRODUCT1 "'variants': {}}", "product 1: variants (an object) is not an array"},
        {PRODUCT1 "'variants': [], 'option_values': []}",
         "product 1: option_values (an array) is not an object"},
        {"{'product': {'id': '1', 'attributes': {'sku': 5}}}", "product 1: sku 5 is not a string"},
        {"{'product': {'id': '1', 'attributes': {'sku': 'P', 'ean': 704}}}",
         "product 1: ean 704 is not a string"},
        {"{'product': {'id': '1', 'attributes': {'sku': 'P', 'price': '1,5'}}}",
         "product 1: price '1,5' is not a number"},
        {"{'product': {'id': '1', 'attributes': {'sku': 'P', 'price': '-1'}}}",
         "product 1: price '-1' is negative"},
        {"{'product': {'id': '1', 'attributes': {'sku': 'P', 'cost': true}}}",
         "product 1: cost true is not a number"},
        {"{'product': {'id': '1', 'attributes': {'sku': 'P', 'weight': -450}}}",
         "product 1: weight -450 is negative"},
        {PRODUCT1 "'variants': [5]}", "product 1 variant #1: no product-variants resource"},
        {PRODUCT1 "'variants': [{'variant': {'attributes': {}}}]}", "product 1 variant #1: id is"},
        {PRODUCT1 "'variants': [{'variant': {'id': 2}}]}",
         "product 1 variant #1: id 2 is not a string"},
        {PRODUCT1 "'variants': [{'variant': {'id': '2x', 'attributes': {'sku': 'V'}}}]}",
         "product 1 variant 2x: id is not a positive whole number"},
        {PRODUCT1 "'variants': [{'variant': {'id': '0', 'attributes': {'sku': 'V'}}}]}",
         "product 1 variant 0: id is not a positive whole number"},
        {PRODUCT1 "'variants': [{'variant': {'id': '2', 'attributes': {'sku': null}}}]}",
         "product 1 variant 2: lost its SKU"},
        {PRODUCT1 "'variants': [{'variant': {'id': '2'}}]}", "product 1 variant 2: lost its SKU"},
        {PRODUCT1 "'variants': [{'variant': {'id': '2', 'attributes': {'sku': 'V'}}}]}",
         "product 1 variant 2: stock_attributes is missing"},
        {PRODUCT1 "'variants': [" VARIANT2("''") "]}",
         "product 1 variant 2: stock_attributes is missing"},
        {PRODUCT1 "'variants': [" VARIANT2("7") "]}",
         "product 1 variant 2: stock_attributes 7 is not a string"},
        {PRODUCT1 "'variants': [" VARIANT2("'7'") "], " VALUES,
         "product 1 variant 2: stock_attributes '7' is malformed"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-'") "], " VALUES, "stock_attributes '7-' is"},
        {PRODUCT1 "'variants': [" VARIANT2("'-5'") "], " VALUES, "stock_attributes '-5' is"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5,'") "], " VALUES, "stock_attributes '7-5,' is"},
        {PRODUCT1 "'variants': [" VARIANT2("',7-5'") "], " VALUES, "stock_attributes ',7-5' is"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5 '") "], " VALUES, "stock_attributes '7-5 ' is"},
        {PRODUCT1 "'variants': [" VARIANT2("' 7-5'") "], " VALUES, "stock_attributes ' 7-5' is"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5;3-5'") "], " VALUES, "stock_attributes '7-5;"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5-3'") "], " VALUES, "stock_attributes '7-5-3' is"},
        {PRODUCT1 "'variants': [" VARIANT2("'x-5'") "], " VALUES, "stock_attributes 'x-5' is"},
        {PRODUCT1 "'variants': [" VARIANT2("'1234567890123456789-5'") "], " VALUES,
         "stock_attributes '1234567890123456789-5' is malformed"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5'") "]}",
         "product 1 variant 2: option value 5 (option 7) is missing from option_values"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-6'") "], " VALUES,
         "product 1 variant 2: option value 6 (option 7) is missing from option_values"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5'") "], 'option_values': {'5': {'attributes':"
                                                    " {'name': {'no': '', 'en': null}}}}}",
         "product 1 variant 2: option value 5 (option 7) has no name"},
        {PRODUCT1 "'variants': [" VARIANT2("'7-5'") ", " VARIANT2("'7-5'") "], " VALUES,
         "product 1 variant 2: sku 'V' is also the sku of variant 2"},
        {"{'product': {'id': '1', 'attributes': {'sku': ''}}, 'variants': null}",
         "product 1: has no variants and no sku"},
    };

    UT_CHECK(mp_article_map(NULL, &conf, &out, errstr, sizeof errstr) == MO_ERR_INVALID && !out,
             "NULL snapshot");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = golden_jq(bad[i].json);
        if (!UT_CHECK(in != NULL, "test JSON does not parse: %s", bad[i].json))
            continue;
        errstr[0] = '\0';
        mo_err rc = mp_article_map(in, &conf, &out, errstr, sizeof errstr);
        UT_CHECK(rc == MO_ERR_INVALID && out == NULL && strstr(errstr, bad[i].reason) &&
                     !strchr(errstr, '\n'),
                 "%s: %s '%s', want '%s'", bad[i].json, mo_err_name(rc), errstr, bad[i].reason);
        json_decref(out);
        out = NULL;
        json_decref(in);
    }
}

/* Maps the single-quoted snapshot text with conf and returns the first
 * article's member key (a new reference), or NULL. */
static json_t *first_article_member(const char *text, const mp_article_conf *conf, const char *key)
{
    char errstr[ERRSTR_LEN] = "";
    json_t *in = golden_jq(text);
    json_t *out = NULL, *member = NULL;

    if (in != NULL && mp_article_map(in, conf, &out, errstr, sizeof errstr) == MO_OK)
        member =
            json_incref(json_object_get(json_array_get(json_object_get(out, "articles"), 0), key));
    UT_CHECK(out != NULL, "%s: %s", text, errstr);
    json_decref(in);
    json_decref(out);
    return member;
}

/* M4/O3: grams by default, kilograms as configured, always sent as a real. */
UT_TEST(map_article_weight_conversion)
{
    const struct {
        const char *weight; /* JSON */
        int weight_kg;
        double want;
    } cases[] = {
        {"450", 0, 0.45},      {"'450'", 0, 0.45},   {"'1500'", 0, 1.5}, {"1", 0, 0.001},
        {"0", 0, 0.0},         {"'-0'", 0, 0.0},     {"'0.5'", 1, 0.5},  {"2", 1, 2.0},
        {"'12.75'", 1, 12.75}, {"250000", 0, 250.0},
    };
    char text[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mp_article_conf conf = {.goods_owner_id = 1, .weight_kg = cases[i].weight_kg};
        snprintf(text, sizeof text,
                 "{'product': {'id': '1', 'attributes': {'sku': 'P', 'weight': %s}}}",
                 cases[i].weight);
        json_t *w = first_article_member(text, &conf, "weight");
        UT_CHECK(json_is_real(w) && json_real_value(w) == cases[i].want &&
                     !signbit(json_real_value(w)),
                 "weight %s (kg %d) -> %g, want %g", cases[i].weight, cases[i].weight_kg,
                 json_number_value(w), cases[i].want);
        json_decref(w);
    }

    mp_article_conf conf = {.goods_owner_id = 1};
    json_t *w = first_article_member("{'product': {'id': '1', 'attributes': {'sku': 'P',"
                                     " 'weight': ''}}}",
                                     &conf, "weight");
    UT_CHECK(w == NULL, "an empty weight is sent");
    json_decref(w);

    UT_CHECK(mp_weight_kg(450, 0) == 0.45, "mp_weight_kg(450 g)");
    UT_CHECK(mp_weight_kg(450, 1) == 450, "mp_weight_kg(450 kg)");
    UT_CHECK(mp_weight_kg(-0.0, 0) == 0 && !signbit(mp_weight_kg(-0.0, 0)), "mp_weight_kg(-0)");
}

/* The settings reach the body: goods owner, language, and defaults for NULL
 * and "". */
UT_TEST(map_article_conf)
{
    const char *snap = "{'product': {'id': '9', 'attributes': {'sku': 'P', 'name': {'no':"
                       " 'Genser', 'en': 'Sweater', 'de': 'Pullover'}}}}";
    const struct {
        long owner;
        const char *language;
        const char *want;
    } cases[] = {
        {159, NULL, "Genser"},
        {1, "", "Genser"},
        {1, "en", "Sweater"},
        {1, "sv", "Pullover"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mp_article_conf conf = {.goods_owner_id = cases[i].owner, .language = cases[i].language};
        json_t *name = first_article_member(snap, &conf, "articleName");
        json_t *owner = first_article_member(snap, &conf, "goodsOwnerId");
        UT_CHECK(name && !strcmp(json_string_value(name), cases[i].want), "language %s -> %s",
                 cases[i].language ? cases[i].language : "NULL",
                 name ? json_string_value(name) : "NULL");
        UT_CHECK(json_is_integer(owner) && json_integer_value(owner) == cases[i].owner,
                 "goodsOwnerId");
        json_decref(name);
        json_decref(owner);
    }
}

/* Only contract fields, never null, and freeDecimal2 only for variants. */
UT_TEST(map_article_contract_fields)
{
    static const char *allowed[] = {
        "goodsOwnerId",  "articleNumber", "articleName",         "productCode", "barCodeInfo",
        "customerPrice", "purchasePrice", "stockValuationPrice", "weight",      "freeValues"};
    const char *cases[] = {"two-options-out-of-order", "product-without-variants",
                           "absent-values-omitted", "cost-vs-price"};
    char path[1024], errstr[ERRSTR_LEN];
    mp_article_conf conf = {.goods_owner_id = 1};

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(path, sizeof path, "%s/%s/%s/input.json", ut_srcdir(), CASES_DIR, cases[c]);
        json_t *in = json_load_file(path, 0, NULL);
        json_t *out = NULL;
        size_t i;
        json_t *body;
        if (!UT_CHECK(in && mp_article_map(in, &conf, &out, errstr, sizeof errstr) == MO_OK,
                      "%s: %s", cases[c], errstr)) {
            json_decref(in);
            continue;
        }
        json_array_foreach(json_object_get(out, "articles"), i, body)
        {
            const char *key;
            json_t *value;
            json_object_foreach(body, key, value)
            {
                int known = 0;
                for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
                    known |= !strcmp(key, allowed[k]);
                UT_CHECK(known && !json_is_null(value), "%s: field %s", cases[c], key);
            }
            json_t *bar = json_object_get(body, "barCodeInfo");
            UT_CHECK(bar == NULL || json_object_size(bar) == 1, "%s: barCodeInfo", cases[c]);
            json_t *free_values = json_object_get(body, "freeValues");
            UT_CHECK(free_values == NULL ||
                         (json_object_size(free_values) == 1 &&
                          json_is_integer(json_object_get(free_values, "freeDecimal2"))),
                     "%s: freeValues", cases[c]);
        }
        json_decref(in);
        json_decref(out);
    }
}

UT_TEST(mapping_is_id_and_describe)
{
    const char *ids[] = {"0", "812", "116301", "12345678901234567890"};
    const char *not_ids[] = {"",    "-1",  "+1",  " 1",     "1 ",
                             "1.0", "1e3", "0x1", "MAN-12", "123456789012345678901"};
    char buf[96];

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        UT_CHECK(mp_is_id(ids[i]), "%s is an id", ids[i]);
    for (size_t i = 0; i < sizeof not_ids / sizeof not_ids[0]; i++)
        UT_CHECK(!mp_is_id(not_ids[i]), "'%s' taken as an id", not_ids[i]);
    UT_CHECK(!mp_is_id(NULL), "NULL taken as an id");

    const struct {
        const char *json; /* NULL: absent */
        const char *want;
    } described[] = {
        {NULL, "(absent)"}, {"'ab\\ncd'", "'ab?cd'"}, {"7", "7"},
        {"1.5", "1.5"},     {"true", "true"},         {"false", "false"},
        {"null", "null"},   {"{}", "(an object)"},    {"[]", "(an array)"},
    };
    for (size_t i = 0; i < sizeof described / sizeof described[0]; i++) {
        json_t *v = described[i].json ? golden_jq(described[i].json) : NULL;
        mp_describe(v, buf, sizeof buf);
        UT_CHECK(!strcmp(buf, described[i].want), "describe %s -> %s",
                 described[i].json ? described[i].json : "NULL", buf);
        json_decref(v);
    }
}
