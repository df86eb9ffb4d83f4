/* The delivery mapping: golden cases under tests/cases/deliveries/<case>/
 * (input.json: one element of Ongoing's GET /orders; expected.json: the
 * result, or {"error": "invalid", "message_contains": "..."}; no config) and
 * focused tests of the O5 status rule, the order number rule and the
 * tracking-number order. */
#include "unit.h"
#include "golden.h"
#include "consumers/map_delivery.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CASES_DIR  "tests/cases/deliveries"
#define MIN_CASES  10
#define ERRSTR_LEN 512

/* The golden runner's adapter: there are no settings. */
static mo_err delivery_case(const json_t *input, const json_t *cfg, json_t **out, char *errstr,
                            size_t errstr_size)
{
    (void)cfg;
    return mp_delivery_map(input, out, errstr, errstr_size);
}

UT_TEST(map_delivery_golden)
{
    golden_run(CASES_DIR, MIN_CASES, delivery_case);
}

UT_TEST(map_delivery_alloc_failures)
{
    golden_alloc_failures(CASES_DIR "/tracking-waybill", delivery_case);
    golden_alloc_failures(CASES_DIR "/not-shipped-status-300", delivery_case);
    golden_alloc_failures(CASES_DIR "/only-return-parcel-no-tracking-number", delivery_case);
}

/* Maps the single-quoted order text; returns the result (a new reference)
 * or NULL, with the reason in errstr. */
static json_t *map_text(const char *text, char *errstr, size_t errstr_size)
{
    json_t *in = golden_jq(text);
    json_t *out = NULL;

    errstr[0] = '\0';
    if (UT_CHECK(in != NULL, "test JSON does not parse: %s", text))
        mp_delivery_map(in, &out, errstr, errstr_size);
    json_decref(in);
    return out;
}

/* "deliver", "skip: <reason>" or "error" for the order with status and
 * shippedTime (JSON text) and number. */
static void check_rule(const char *number, int status, const char *shipped, const char *want)
{
    char text[512], errstr[ERRSTR_LEN], got[128];

    snprintf(text, sizeof text,
             "{'orderInfo': {'orderId': 1, 'orderNumber': '%s', 'shippedTime': %s,"
             " 'orderStatus': {'number': %d}}, 'tracking': [{'waybill': 'W1'}]}",
             number, shipped, status);
    json_t *out = map_text(text, errstr, sizeof errstr);
    const char *action = json_string_value(json_object_get(out, "action"));
    const char *reason = json_string_value(json_object_get(out, "reason"));
    if (out == NULL)
        snprintf(got, sizeof got, "error");
    else if (reason != NULL)
        snprintf(got, sizeof got, "%s: %s", action, reason);
    else
        snprintf(got, sizeof got, "%s", action ? action : "?");
    UT_CHECK(!strcmp(got, want), "number %s status %d shippedTime %s: %s, want %s (%s)", number,
             status, shipped, got, want, errstr);
    json_decref(out);
}

/* O5 at its edges, cancellation first, and the Mystore order number rule. */
UT_TEST(map_delivery_rules)
{
    const char *at = "'2026-11-21T09:05:47.12Z'";

    check_rule("10001", 200, "null", "skip: not shipped");
    check_rule("10001", 400, "null", "skip: not shipped");
    check_rule("10001", 449, "null", "skip: not shipped");
    check_rule("10001", 449, "''", "skip: not shipped");
    check_rule("10001", 450, "null", "deliver");
    check_rule("10001", 500, "null", "deliver");
    check_rule("10001", 800, "null", "deliver");
    check_rule("10001", 999, "null", "deliver");
    check_rule("10001", 1000, "null", "skip: cancelled in Ongoing");
    check_rule("10001", 1000, at, "skip: cancelled in Ongoing");
    check_rule("10001", 1001, "null", "skip: not shipped");
    check_rule("10001", 1001, at, "deliver");
    check_rule("10001", 150, at, "deliver");
    check_rule("10001", 300, at, "deliver");
    check_rule("10001", 300, "5", "error");
    check_rule("1", 450, "null", "deliver");
    check_rule("12345678901234567890", 450, "null", "deliver");
    check_rule("123456789012345678901", 450, "null", "skip: not a Mystore order");
    check_rule("MAN-12", 450, "null", "skip: not a Mystore order");
    check_rule("MAN-12", 1000, "null", "skip: not a Mystore order");
    check_rule("-12", 450, "null", "skip: not a Mystore order");
    check_rule(" 12", 450, "null", "skip: not a Mystore order");
    check_rule("12.0", 450, "null", "skip: not a Mystore order");
    check_rule("", 450, "null", "error");
}

/* The tracking number of a shipped order 7 with the given order members
 * (text after orderInfo), or "(none)". */
static void check_tracking(const char *members, const char *want)
{
    char text[1024], errstr[ERRSTR_LEN];

    snprintf(text, sizeof text,
             "{'orderInfo': {'orderId': 1, 'orderNumber': '7', 'orderStatus': {'number': 450},"
             " 'wayBill': null, 'returnWayBill': 'RWB'}%s}",
             members);
    json_t *out = map_text(text, errstr, sizeof errstr);
    const char *got = json_string_value(json_object_get(out, "tracking_number"));
    if (!UT_CHECK(out != NULL, "%s: %s", members, errstr))
        return;
    UT_CHECK(!strcmp(got ? got : "(none)", want), "%s: %s, want %s", members, got ? got : "(none)",
             want);
    UT_CHECK(json_object_size(out) == (got ? 3u : 2u), "%s: extra members", members);
    json_decref(out);
}

UT_TEST(map_delivery_tracking_order)
{
    check_tracking("", "(none)");
    check_tracking(", 'tracking': null, 'parcels': null", "(none)");
    check_tracking(", 'tracking': [{'waybill': 'T1'}, {'waybill': 'T2'}]", "T1");
    check_tracking(", 'tracking': [{'waybill': 'R', 'isReturn': true}, {'waybill': 'T2'}]", "T2");
    check_tracking(", 'tracking': [{'waybill': 'R', 'isReturnTracking': true}]", "(none)");
    check_tracking(", 'tracking': [{'waybill': 'T', 'isReturn': false}]", "T");
    check_tracking(", 'tracking': [{'waybill': ''}, {'trackingUrl': 'u'}, {'waybill': 'T3'}]",
                   "T3");
    check_tracking(", 'tracking': [{'waybill': ''}], 'parcels': [{'parcelNumber': 'P1'}]", "P1");
    check_tracking(", 'parcels': [{'isReturnParcel': true, 'parcelNumber': 'RP'}]", "(none)");
    check_tracking(", 'parcels': [{'parcelNumber': ''}, {'parcelNumber': 'P2'}]", "P2");
    check_tracking(", 'parcels': [{'parcelNumber': 'P1', 'tracking': {'waybill': 'W1'}}]", "W1");
    check_tracking(", 'parcels': [{'parcelNumber': 'P1', 'tracking': {'waybill': null}}]", "P1");
    check_tracking(", 'parcels': [{'parcelNumber': 'P1'}, {'tracking': {'waybill': 'W2'}}]", "P1");
    check_tracking(", 'parcels': [{'isReturnParcel': null, 'parcelNumber': 'P1'}]", "P1");
}

/* Orders of the wrong shape: MO_ERR_INVALID with a one-line reason. */
UT_TEST(map_delivery_bad_shapes)
{
#define INFO "{'orderInfo': {'orderId': 5, 'orderNumber': '7', 'orderStatus': {'number': 450}}"
    const struct {
        const char *json;
        const char *reason;
    } bad[] = {
        {"[]", "Ongoing order is not a JSON object"},
        {"{}", "Ongoing order: orderInfo is missing"},
        {"{'orderInfo': []}", "Ongoing order: orderInfo is missing"},
        {"{'orderInfo': {'orderNumber': '7', 'orderStatus': {'number': 450}, 'shippedTime': 1}}",
         "Ongoing order: shippedTime 1 is not a string"},
        {"{'orderInfo': {'orderId': 5, 'orderStatus': {'number': 450}}}",
         "Ongoing order 5: orderNumber is missing"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': null}}", "orderNumber is missing"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': ['7']}}",
         "Ongoing order 5: orderNumber (an array) is not a string"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': '7'}}",
         "Ongoing order 5: orderStatus.number (absent) is not a status number"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': '7', 'orderStatus': null}}",
         "orderStatus.number (absent) is not"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': '7', 'orderStatus': {'number': null}}}",
         "orderStatus.number null is not"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': '7', 'orderStatus': {'number': 450.5}}}",
         "orderStatus.number 450.5 is not"},
        {"{'orderInfo': {'orderId': 5, 'orderNumber': '7', 'orderStatus': {'number': -450}}}",
         "orderStatus.number -450 is not"},
        {INFO ", 'tracking': {}}", "Ongoing order 5: tracking (an object) is not an array"},
        {INFO ", 'tracking': ['T']}", "Ongoing order 5 tracking #1 is not an object"},
        {INFO ", 'tracking': [{'waybill': 70}]}",
         "Ongoing order 5 tracking #1: waybill 70 is not a string"},
        {INFO ", 'tracking': [{'waybill': 'T', 'isReturn': 'yes'}]}",
         "Ongoing order 5 tracking #1: isReturn 'yes' is not a boolean"},
        {INFO ", 'parcels': 'P'}", "Ongoing order 5: parcels 'P' is not an array"},
        {INFO ", 'parcels': [{'parcelNumber': ''}, 7]}",
         "Ongoing order 5 parcel #2 is not an object"},
        {INFO ", 'parcels': [{'isReturnParcel': 1, 'parcelNumber': 'P'}]}",
         "Ongoing order 5 parcel #1: isReturnParcel 1 is not a boolean"},
        {INFO ", 'parcels': [{'parcelNumber': 'P', 'tracking': 'W'}]}",
         "Ongoing order 5 parcel #1: tracking 'W' is not an object"},
        {INFO ", 'parcels': [{'tracking': {'waybill': 9}}]}",
         "Ongoing order 5 parcel #1 tracking: waybill 9 is not a string"},
        {INFO ", 'parcels': [{'parcelNumber': 207}]}",
         "Ongoing order 5 parcel #1: parcelNumber 207 is not a string"},
    };
#undef INFO
    char errstr[ERRSTR_LEN];
    json_t *out = NULL;

    UT_CHECK(mp_delivery_map(NULL, &out, errstr, sizeof errstr) == MO_ERR_INVALID && !out,
             "NULL order");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = golden_jq(bad[i].json);
        if (!UT_CHECK(in != NULL, "test JSON does not parse: %s", bad[i].json))
            continue;
        errstr[0] = '\0';
        mo_err rc = mp_delivery_map(in, &out, errstr, sizeof errstr);
        UT_CHECK(rc == MO_ERR_INVALID && out == NULL && strstr(errstr, bad[i].reason) &&
                     !strchr(errstr, '\n'),
                 "%s: %s '%s', want '%s'", bad[i].json, mo_err_name(rc), errstr, bad[i].reason);
        json_decref(out);
        out = NULL;
        json_decref(in);
    }
}

/* Issue 7: a hand-made warehouse order whose number collides with a Mystore
 * order id must not be marked "levert"; it shows itself by a referenceNumber
 * that differs from the Mystore order's reference.  Only both set and
 * different counts: orders of the replaced integration may carry none. */
UT_TEST(issue7_07_reference_mismatch_is_another_order)
{
    static const struct {
        const char *ongoing;
        const char *mystore; /* JSON text of attributes.reference, NULL = absent */
        int same;
    } cases[] = {
        {"10001", "'10001'", 1},  {"LAGER-5", "'10001'", 0}, {" 10001 ", "'10001\\n'", 1},
        {"10001", "10001", 1},    {"10002", "10001", 0},     {NULL, "'10001'", 1},
        {"", "'10001'", 1},       {"  ", "'10001'", 1},      {"LAGER-5", NULL, 1},
        {"LAGER-5", "null", 1},   {"LAGER-5", "''", 1},      {"LAGER-5", "' '", 1},
        {"LAGER-5", "1.5", 1},    {"LAGER-5", "{}", 1},      {"abc", "'ABC'", 0},
        {"10001", "'100010'", 0}, {"100010", "'10001'", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *mystore = cases[i].mystore ? golden_jq(cases[i].mystore) : NULL;
        if (cases[i].mystore && !UT_CHECK(mystore != NULL, "bad JSON %s", cases[i].mystore))
            continue;
        int same = mp_delivery_same_reference(cases[i].ongoing, mystore);
        UT_CHECK(same == cases[i].same, "Ongoing '%s', Mystore %s: %d, want %d",
                 cases[i].ongoing ? cases[i].ongoing : "(NULL)",
                 cases[i].mystore ? cases[i].mystore : "(absent)", same, cases[i].same);
        json_decref(mystore);
    }
}
