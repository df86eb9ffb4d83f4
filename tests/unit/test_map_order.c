/* The order mapping: golden cases under tests/cases/orders/<case>/ and unit
 * tests of the helpers in consumers/mapping.c.
 *
 * A golden case is input.json (the snapshot), expected.json (the mapping's
 * result, or {"error": "invalid", "message_contains": "..."}) and an optional
 * config.json ({"goods_owner_id", "timezone", "language", "status_sent",
 * "status_cancelled", "order_statuses", "shipping_methods"}; defaults: 1,
 * Europe/Oslo, "no", "levert", "kansellert", every status, no table).
 * order_statuses is MYSTORE_ORDER_STATUSES as the configuration holds it:
 * an array of names or ids. */
#include "unit.h"
#include "golden.h"
#include "consumers/map_order.h"
#include "consumers/mapping.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CASES_DIR  "tests/cases/orders"
#define MIN_CASES  16
#define ERRSTR_LEN 512

/* ---- golden cases ---- */

/* The string member key of cfg, or NULL. */
static const char *conf_string(const json_t *cfg, const char *key)
{
    return json_string_value(json_object_get(cfg, key));
}

/* Fills conf from a case's config.json (cfg may be NULL: all defaults).
 * conf borrows from cfg. */
static void conf_from_json(const json_t *cfg, mp_order_conf *conf)
{
    const json_t *owner = json_object_get(cfg, "goods_owner_id");

    conf->goods_owner_id = json_is_integer(owner) ? (long)json_integer_value(owner) : 1;
    conf->timezone = conf_string(cfg, "timezone");
    conf->language = conf_string(cfg, "language");
    conf->status_sent = conf_string(cfg, "status_sent");
    conf->status_cancelled = conf_string(cfg, "status_cancelled");
    conf->order_statuses = json_object_get(cfg, "order_statuses");
    conf->shipping_methods = json_object_get(cfg, "shipping_methods");
}

/* The golden runner's adapter: the case's config.json, then mp_order_map(). */
static mo_err order_case(const json_t *input, const json_t *cfg, json_t **out, char *errstr,
                         size_t errstr_size)
{
    mp_order_conf conf;

    conf_from_json(cfg, &conf);
    return mp_order_map(input, &conf, out, errstr, errstr_size);
}

UT_TEST(map_order_golden)
{
    golden_run(CASES_DIR, MIN_CASES, order_case);
}

/* The start of a snapshot with a valid order 1, for the shapes below. */
#define ORDER1 "{'order': {'id': '1', 'attributes': {'created_at': '2026-11-20 10:15:00'}}, "
#define LINE_A "{'line': {'id': '2', 'attributes': {'sku': 'A', 'quantity': 1}}"

/* Snapshots of the wrong shape: MO_ERR_INVALID with a one-line reason, never
 * a crash. */
UT_TEST(map_order_bad_shapes)
{
    mp_order_conf conf = {.goods_owner_id = 1};
    char errstr[ERRSTR_LEN];
    json_t *out = NULL;
    const struct {
        const char *json;
        const char *reason;
    } bad[] = {
        {"[]", "snapshot is not a JSON object"},
        {"{}", "snapshot: order is missing"},
        {"{'order': 5}", "snapshot: order is missing"},
        {"{'order': {'id': 10001}}", "order id 10001 is not a string"},
        {"{'order': {'id': ''}}", "order id is missing"},
        {"{'order': {'id': '1', 'attributes': {}}, 'lines': [" LINE_A "}]}",
         "order 1: created_at is missing"},
        {ORDER1 "'lines': []}", "order 1: lines are empty"},
        {ORDER1 "'lines': {}}", "order 1: lines are missing"},
        {ORDER1 "'lines': [5]}", "order 1 line #1: no order-products resource"},
        {ORDER1 "'lines': [{'line': {'attributes': {'sku': 'A'}}}]}", "order 1 line #1: id is"},
        {ORDER1 "'lines': [{'line': {'id': '2', 'attributes': {'sku': 7, 'quantity': 1}}}]}",
         "order 1 line 2: sku 7 is not a string"},
        {ORDER1 "'lines': [{'line': {'id': '2', 'attributes': {'sku': 'A', 'quantity': -1}}}]}",
         "order 1 line 2: quantity -1 is negative"},
        {ORDER1 "'lines': [{'line': {'id': '2', 'attributes': {'sku': 'A', 'quantity': '1',"
                " 'final_price': true}}}]}",
         "order 1 line 2: final_price true is not a number"},
        {ORDER1 "'lines': [{'line': {'id': '2', 'attributes': {'sku': 'A', 'quantity': 1},"
                " 'relationships': {'product': {'data': {'id': '8x'}}}}}]}",
         "order 1 line 2: product id '8x' is not numeric"},
        {ORDER1 "'lines': [" LINE_A ", 'options': [{'id': '3', 'attributes': {'value_id': 1}}]}]}",
         "order 1 line 2 option 3: option_id (absent) is not an id"},
        {ORDER1 "'lines': [" LINE_A ", 'options': [{'attributes': {'option_id': 1}}]}]}",
         "order 1 line 2 option #1: value_id (absent) is not an id"},
        {ORDER1 "'lines': [" LINE_A ", 'options': [{'attributes': {'option_id': 1.5,"
                " 'value_id': 2}}]}]}",
         "order 1 line 2 option #1: option_id 1.5 is not an id"},
        {ORDER1 "'lines': [" LINE_A ", 'options': 'x'}]}", "order 1 line 2: options 'x' is not"},
        {ORDER1 "'lines': [" LINE_A "}], 'totals': [{'id': '9', 'attributes':"
                " {'class': 'ot_total', 'value': 'x'}}]}",
         "order 1 total 9: value 'x' is not a number"},
        {ORDER1 "'lines': [" LINE_A "}], 'totals': 7}", "order 1: totals 7 is not an array"},
        {"{'order': {'id': '1', 'attributes': {'created_at': '2026-11-20 10:15:00',"
         " 'shipping_address_zipcode': 1234}}, 'lines': [" LINE_A "}]}",
         "order 1: shipping_address_zipcode 1234 is not a string"},
        {"{'order': {'id': '1\\nX', 'attributes': {'created_at': '2026-11-20'}}, 'lines': [" LINE_A
         "}]}",
         "order 1?X: created_at '2026-11-20' is not a time"},
    };

    UT_CHECK(mp_order_map(NULL, &conf, &out, errstr, sizeof errstr) == MO_ERR_INVALID && !out,
             "NULL snapshot");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = golden_jq(bad[i].json);
        if (!UT_CHECK(in != NULL, "test JSON does not parse: %s", bad[i].json))
            continue;
        errstr[0] = '\0';
        mo_err rc = mp_order_map(in, &conf, &out, errstr, sizeof errstr);
        UT_CHECK(rc == MO_ERR_INVALID && out == NULL && strstr(errstr, bad[i].reason) &&
                     !strchr(errstr, '\n'),
                 "%s: %s '%s', want '%s'", bad[i].json, mo_err_name(rc), errstr, bad[i].reason);
        json_decref(out);
        out = NULL;
        json_decref(in);
    }
}

/* Fails each jansson allocation of a mapping in turn (curl's "torture"):
 * every run answers MO_OK or MO_ERR_NOMEM with *out NULL, and leaks nothing
 * (checked by the ASan build). */
UT_TEST(map_order_alloc_failures)
{
    golden_alloc_failures(CASES_DIR "/variant-options-out-of-order", order_case);
}

/* ---- helpers in mapping.c ---- */

/* mp_number on the JSON text s; returns the mo_err and sets *d. */
static mo_err number_of(const char *s, double *d)
{
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    mo_err rc = mp_number(v, d);
    json_decref(v);
    return rc;
}

UT_TEST(mapping_number)
{
    const struct {
        const char *json;
        double want;
    } good[] = {
        {"\"299.00\"", 299.0}, {"\"279\"", 279.0},  {"\"-1\"", -1.0},
        {"\"+2.5\"", 2.5},     {"\"2e3\"", 2000.0}, {"\"1.5E-1\"", 0.15},
        {"\".5\"", 0.5},       {"\"5.\"", 5.0},     {"7", 7.0},
        {"2.5", 2.5},          {"0", 0.0},          {"\"0.10\"", 0.1},
    };
    const char *bad[] = {
        "\"abc\"", "\"\"",    "\"1e\"", "\" 1\"", "\"1 \"",    "\"0x10\"",  "\"inf\"",
        "\"nan\"", "\"1,5\"", "\".\"",  "\"-\"",  "\"e5\"",    "\"1e999\"", "\"12abc\"",
        "true",    "null",    "[]",     "{}",     "\"1.2.3\"", "\"--1\"",
    };
    double d;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        d = -99;
        UT_CHECK(number_of(good[i].json, &d) == MO_OK && d == good[i].want, "%s -> %g",
                 good[i].json, d);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        UT_CHECK(number_of(bad[i], &d) == MO_ERR_INVALID, "%s accepted", bad[i]);
    UT_CHECK(mp_number(NULL, &d) == MO_ERR_INVALID, "NULL accepted");

    long id = -1;
    json_t *v = json_string("3648");
    UT_CHECK(mp_whole_number(v, &id) == MO_OK && id == 3648, "whole \"3648\" -> %ld", id);
    json_decref(v);
    v = json_integer(7);
    UT_CHECK(mp_whole_number(v, &id) == MO_OK && id == 7, "whole 7 -> %ld", id);
    json_decref(v);
    const char *not_whole[] = {"\"1.5\"", "-1", "\"-3\"", "\"x\"", "1e300", "null"};
    for (size_t i = 0; i < sizeof not_whole / sizeof not_whole[0]; i++) {
        v = json_loads(not_whole[i], JSON_DECODE_ANY, NULL);
        UT_CHECK(mp_whole_number(v, &id) == MO_ERR_INVALID, "whole %s accepted", not_whole[i]);
        json_decref(v);
    }
}

UT_TEST(mapping_string_and_text)
{
    json_t *o = json_pack("{s:s, s:s, s:n, s:i}", "a", "x", "empty", "", "null", "num", 4);
    const char *s = "sentinel";

    UT_CHECK(mp_string(o, "a", &s) == MO_OK && s && !strcmp(s, "x"), "a");
    UT_CHECK(mp_string(o, "empty", &s) == MO_OK && s == NULL, "\"\" is absent");
    UT_CHECK(mp_string(o, "null", &s) == MO_OK && s == NULL, "null is absent");
    UT_CHECK(mp_string(o, "missing", &s) == MO_OK && s == NULL, "missing is absent");
    UT_CHECK(mp_string(NULL, "a", &s) == MO_OK && s == NULL, "NULL object");
    UT_CHECK(mp_string(o, "num", &s) == MO_ERR_INVALID, "number taken as string");
    json_decref(o);

    json_t *plain = json_string("Genser");
    json_t *loc = json_pack("{s:s, s:s}", "no", "Genser", "en", "Sweater");
    json_t *fallback = json_pack("{s:s, s:s, s:s}", "sv", "Tröja", "en", "", "de", "Pullover");
    json_t *nothing = json_pack("{s:s, s:n}", "no", "", "en");
    const char *t;
    t = mp_text(plain, "en");
    UT_CHECK(t && !strcmp(t, "Genser"), "plain string taken as is: %s", t ? t : "NULL");
    t = mp_text(loc, NULL);
    UT_CHECK(t && !strcmp(t, "Genser"), "default no: %s", t ? t : "NULL");
    t = mp_text(loc, "en");
    UT_CHECK(t && !strcmp(t, "Sweater"), "en: %s", t ? t : "NULL");
    t = mp_text(fallback, "no");
    UT_CHECK(t && !strcmp(t, "Pullover"), "first key in key order: %s", t ? t : "NULL");
    t = mp_text(fallback, "en");
    UT_CHECK(t && !strcmp(t, "Pullover"), "empty en falls back: %s", t ? t : "NULL");
    UT_CHECK(mp_text(nothing, "no") == NULL, "no text");
    UT_CHECK(mp_text(NULL, "no") == NULL, "NULL value");
    json_decref(plain);
    json_decref(loc);
    json_decref(fallback);
    json_decref(nothing);
}

UT_TEST(mapping_country)
{
    const struct {
        const char *in, *iso;
    } good[] = {
        {"Norge", "NO"},
        {"Norway", "NO"},
        {"NO", "NO"},
        {"no", "NO"},
        {" Norge ", "NO"},
        {"NORGE", "NO"},
        {"noreg", "NO"},
        {"Sverige", "SE"},
        {"sweden", "SE"},
        {"Danmark", "DK"},
        {"Finland", "FI"},
        {"Island", "IS"},
        {"Iceland", "IS"},
        {"FÆRØYENE", "FO"},
        {"færøyene", "FO"},
        {"Åland", "AX"},
        {"Storbritannia", "GB"},
        {"United Kingdom", "GB"},
        {"UK", "GB"},
        {"gb", "GB"},
        {"Tyskland", "DE"},
        {"Germany", "DE"},
        {"Nederland", "NL"},
        {"Holland", "NL"},
        {"the netherlands", "NL"},
        {"Polen", "PL"},
        {"Poland", "PL"},
        {"Frankrike", "FR"},
        {"Spania", "ES"},
        {"Italia", "IT"},
        {"Italy", "IT"},
        {"USA", "US"},
        {"United States", "US"},
        {"us", "US"},
        {"ØSTERRIKE", "AT"},
        {"Zw", "ZW"},
    };
    const char *bad[] = {"Atlantis", "XX", "", "N", "Norge AS", "UKK", "Nor ge"};
    const char *iso;
    char errstr[ERRSTR_LEN];

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        iso = NULL;
        mo_err rc = mp_country_iso(good[i].in, &iso, errstr, sizeof errstr);
        UT_CHECK(rc == MO_OK && iso && !strcmp(iso, good[i].iso), "'%s' -> %s", good[i].in,
                 iso ? iso : "NULL");
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errstr[0] = '\0';
        mo_err rc = mp_country_iso(bad[i], &iso, errstr, sizeof errstr);
        UT_CHECK(rc == MO_ERR_INVALID && strstr(errstr, bad[i]), "'%s' -> %s (%s)", bad[i],
                 mo_err_name(rc), errstr);
    }
    mp_country_iso("Atlan\ntis", &iso, errstr, sizeof errstr);
    UT_CHECK(strchr(errstr, '\n') == NULL, "newline in message: %s", errstr);
}

UT_TEST(mapping_status_match)
{
    json_t *levert = json_pack("{s:s, s:s}", "no", "Levert", "en", "Sent");
    json_t *delvis = json_pack("{s:s}", "no", "Delvis levert");
    json_t *nordic = json_pack("{s:s}", "no", "KLAR FOR HENTING PÅ LAGER ÆØÅ");
    json_t *plain = json_string("kansellert");

    UT_CHECK(mp_status_matches("3", levert, "levert"), "name, other case");
    UT_CHECK(mp_status_matches("3", levert, "LEVERT"), "name, upper case");
    UT_CHECK(mp_status_matches("3", levert, "sent"), "English name");
    UT_CHECK(mp_status_matches("3", levert, " levert "), "surrounding blanks");
    UT_CHECK(!mp_status_matches("6", delvis, "levert"), "M15: Delvis levert is not levert");
    UT_CHECK(!mp_status_matches("3", levert, "lever"), "prefix is not a whole name");
    UT_CHECK(mp_status_matches("9", nordic, "klar for henting på lager æøå"), "æøå fold");
    UT_CHECK(mp_status_matches("9", nordic, "Klar For Henting PÅ Lager Æøå"), "mixed case");
    UT_CHECK(!mp_status_matches("9", nordic, "klar for henting pa lager aeoa"), "å is not a");
    UT_CHECK(mp_status_matches("5", plain, "Kansellert"), "plain string name");
    UT_CHECK(mp_status_matches("4", levert, "4"), "id override");
    UT_CHECK(!mp_status_matches("40", levert, "4"), "id is whole");
    UT_CHECK(!mp_status_matches("3", levert, "4"), "other id");
    UT_CHECK(!mp_status_matches(NULL, levert, "3"), "unknown id");
    UT_CHECK(mp_status_matches("3", NULL, "3"), "id without a name");
    UT_CHECK(!mp_status_matches("3", NULL, "levert"), "no name");
    UT_CHECK(!mp_status_matches("3", levert, ""), "empty configured value");
    UT_CHECK(!mp_status_matches("3", levert, NULL), "NULL configured value");

    UT_CHECK(mp_name_eq("ÆØÅ", "æøå") && mp_name_eq("Blåbær", "BLÅBÆR"), "name_eq æøå");
    UT_CHECK(!mp_name_eq("Å", "a") && !mp_name_eq("ab", "a") && !mp_name_eq(NULL, "a"),
             "name_eq negatives");
    json_decref(levert);
    json_decref(delvis);
    json_decref(nordic);
    json_decref(plain);
}

/* mp_local_to_utc in zone, checked against want ("" expects MO_ERR_INVALID). */
static void check_utc(const char *local, const char *zone, const char *want)
{
    char out[MP_UTC_SIZE];
    char errstr[ERRSTR_LEN] = "";
    mo_err rc = mp_local_to_utc(local, zone, out, errstr, sizeof errstr);

    if (*want == '\0')
        UT_CHECK(rc == MO_ERR_INVALID && errstr[0], "'%s' in %s accepted as %s", local,
                 zone ? zone : "default", out);
    else
        UT_CHECK(rc == MO_OK && !strcmp(out, want), "'%s' in %s -> %s (%s), want %s", local,
                 zone ? zone : "default", out, errstr, want);
}

UT_TEST(mapping_local_to_utc)
{
    check_utc("2026-11-20 10:15:00", "Europe/Oslo", "2026-11-20T09:15:00Z");
    check_utc("2026-07-01 12:00:00", "Europe/Oslo", "2026-07-01T10:00:00Z");
    check_utc("2026-07-01 12:00:00", NULL, "2026-07-01T10:00:00Z");
    check_utc("2026-07-01 12:00:00", "", "2026-07-01T10:00:00Z");
    check_utc("2026-07-01 12:00:00", "UTC", "2026-07-01T12:00:00Z");
    check_utc("2026-07-01 12:00:00", "America/New_York", "2026-07-01T16:00:00Z");
    check_utc("2026-01-01 00:30:00", "Europe/Oslo", "2025-12-31T23:30:00Z");
    check_utc("2028-02-29 12:00:00", "Europe/Oslo", "2028-02-29T11:00:00Z");

    /* Autumn fold, 25 Oct 2026: 03:00 summer time becomes 02:00 winter time,
     * so 02:00-02:59 happens twice; the earlier (summer) instant is taken,
     * whatever was converted before. */
    check_utc("2026-10-25 01:59:59", "Europe/Oslo", "2026-10-24T23:59:59Z");
    check_utc("2026-10-25 02:30:00", "Europe/Oslo", "2026-10-25T00:30:00Z");
    check_utc("2026-11-20 10:15:00", "Europe/Oslo", "2026-11-20T09:15:00Z");
    check_utc("2026-10-25 02:30:00", "Europe/Oslo", "2026-10-25T00:30:00Z");
    check_utc("2026-07-01 12:00:00", "Europe/Oslo", "2026-07-01T10:00:00Z");
    check_utc("2026-10-25 02:00:00", "Europe/Oslo", "2026-10-25T00:00:00Z");
    check_utc("2026-10-25 02:59:59", "Europe/Oslo", "2026-10-25T00:59:59Z");
    check_utc("2026-10-25 03:00:00", "Europe/Oslo", "2026-10-25T02:00:00Z");

    /* Spring gap, 29 Mar 2026: 02:00 winter time becomes 03:00 summer time;
     * 02:00-02:59 does not exist and is read with the winter offset. */
    check_utc("2026-03-29 01:59:59", "Europe/Oslo", "2026-03-29T00:59:59Z");
    check_utc("2026-03-29 02:00:00", "Europe/Oslo", "2026-03-29T01:00:00Z");
    check_utc("2026-03-29 02:30:00", "Europe/Oslo", "2026-03-29T01:30:00Z");
    check_utc("2026-07-01 12:00:00", "Europe/Oslo", "2026-07-01T10:00:00Z");
    check_utc("2026-03-29 02:30:00", "Europe/Oslo", "2026-03-29T01:30:00Z");
    check_utc("2026-03-29 03:00:00", "Europe/Oslo", "2026-03-29T01:00:00Z");

    const char *bad[] = {
        "2026-11-20T10:15:00", "2026-11-20 10:15",
        "2026-13-01 00:00:00", "2026-00-10 00:00:00",
        "2026-02-29 00:00:00", "2026-04-31 00:00:00",
        "2026-11-20 24:00:00", "2026-11-20 10:60:00",
        "2026-11-20 10:15:60", "",
        "1969-12-31 23:00:00", "2026-11-20 10:15:00Z",
        "20261120 101500",     "2026-1-20 10:15:00",
        "2026-11-20 10:15:0x", "abcd-ef-gh ij:kl:mn",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_utc(bad[i], "Europe/Oslo", "");

    /* The caller's TZ is put back, set or unset. */
    setenv("TZ", "America/New_York", 1);
    check_utc("2026-11-20 10:15:00", "Europe/Oslo", "2026-11-20T09:15:00Z");
    const char *tz = getenv("TZ");
    UT_CHECK(tz && !strcmp(tz, "America/New_York"), "TZ now %s", tz ? tz : "unset");
    unsetenv("TZ");
    check_utc("2026-11-20 10:15:00", "Europe/Oslo", "2026-11-20T09:15:00Z");
    UT_CHECK(getenv("TZ") == NULL, "TZ left set");
}

UT_TEST(mapping_product_code_and_name)
{
    /* Given out of option-id order on purpose. */
    const mp_option opts[] = {{7, 3648, "Rød"}, {3, 12, "M"}};
    const mp_option gaps[] = {{9, 1, ""}, {2, 5, NULL}, {4, 8, "Ull"}};
    char *s = NULL;

    UT_CHECK(mp_product_code("812", opts, 2, &s) == MO_OK && s && !strcmp(s, "812{3}12{7}3648"),
             "code %s", s ? s : "NULL");
    free(s);
    UT_CHECK(opts[0].option_id == 7, "input reordered");
    UT_CHECK(mp_product_code("812", NULL, 0, &s) == MO_OK && s && !strcmp(s, "812"), "code %s",
             s ? s : "NULL");
    free(s);
    UT_CHECK(mp_product_code("812", gaps, 3, &s) == MO_OK && s && !strcmp(s, "812{2}5{4}8{9}1"),
             "code %s", s ? s : "NULL");
    free(s);
    s = NULL;
    UT_CHECK(mp_product_code("8a2", opts, 2, &s) == MO_ERR_INVALID && s == NULL, "8a2 accepted");
    UT_CHECK(mp_product_code("", NULL, 0, &s) == MO_ERR_INVALID, "empty id accepted");
    UT_CHECK(mp_product_code(NULL, NULL, 0, &s) == MO_ERR_INVALID, "NULL id accepted");
    const mp_option negative[] = {{-1, 2, "x"}};
    UT_CHECK(mp_product_code("1", negative, 1, &s) == MO_ERR_INVALID, "negative id accepted");

    UT_CHECK(mp_article_name("Genser", opts, 2, &s) == MO_OK && s && !strcmp(s, "Genser M Rød"),
             "name %s", s ? s : "NULL");
    free(s);
    UT_CHECK(mp_article_name("Genser", NULL, 0, &s) == MO_OK && s && !strcmp(s, "Genser"),
             "name %s", s ? s : "NULL");
    free(s);
    UT_CHECK(mp_article_name(NULL, opts, 2, &s) == MO_OK && s && !strcmp(s, "M Rød"), "name %s",
             s ? s : "NULL");
    free(s);
    UT_CHECK(mp_article_name("Lue", gaps, 3, &s) == MO_OK && s && !strcmp(s, "Lue Ull"), "name %s",
             s ? s : "NULL");
    free(s);
    UT_CHECK(mp_article_name(NULL, NULL, 0, &s) == MO_OK && s && !strcmp(s, ""), "name %s",
             s ? s : "NULL");
    free(s);
}
