/* Issue 12 item 23 (mosync reconcile) and the rule it shares with the
 * delivery applier (item 13): an order whose status history holds a "levert"
 * row was delivered, whatever its status is now, and is never marked again. */
#include "unit.h"
#include "golden.h"
#include "consumers/map_delivery.h"

#include <jansson.h>
#include <stddef.h>

#define STATUSES                                                                                   \
    "[{'id': '1', 'attributes': {'name': {'no': 'Ubehandlet'}}},"                                  \
    " {'id': '3', 'attributes': {'name': {'no': 'Levert', 'en': 'Sent'}}},"                        \
    " {'id': '6', 'attributes': {'name': {'no': 'Returnert'}}},"                                   \
    " {'id': '7', 'attributes': {'name': {'no': 'Delvis levert'}}}]"

/* A history row setting status sid (JSON text of the relationship's data). */
#define ROW(data)                                                                                  \
    "{'type': 'order-status-history', 'relationships': {'order-status': {'data': " data "}}}"

UT_TEST(issue12_23_levert_row_in_history_means_delivered)
{
    static const struct {
        const char *history; /* JSON text */
        const char *sent;    /* MYSTORE_STATUS_SENT */
        int want;
    } cases[] = {
        /* delivered, then moved on by the shop: the row is there */
        {"[" ROW("{'type': 'order-status', 'id': '1'}") ", " ROW("{'id': '3'}") ", " ROW(
             "{'id': '6'}") "]",
         "levert", 1},
        {"[" ROW("{'id': '3'}") "]", "LEVERT", 1},
        {"[" ROW("{'id': '3'}") "]", "sent", 1},
        {"[" ROW("{'id': '3'}") "]", "3", 1},
        /* never delivered */
        {"[]", "levert", 0},
        {"[" ROW("{'id': '1'}") ", " ROW("{'id': '6'}") "]", "levert", 0},
        /* "Delvis levert" is not "levert" (M15) */
        {"[" ROW("{'id': '7'}") "]", "levert", 0},
        /* an id the status list does not name matches only an id setting */
        {"[" ROW("{'id': '9'}") "]", "levert", 0},
        {"[" ROW("{'id': '9'}") "]", "9", 1},
        /* rows of the wrong shape count as none, never as delivered */
        {"[" ROW("null") ", " ROW("{'id': 3}") ", {}, 7, null]", "levert", 0},
        {"{'data': []}", "levert", 0},
        {"null", "levert", 0},
        {"[" ROW("{'id': '3'}") "]", "", 0},
    };
    json_t *statuses = golden_jq(STATUSES);
    if (!UT_CHECK(statuses != NULL, "statuses do not parse"))
        return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *history = golden_jq(cases[i].history);
        if (!UT_CHECK(history != NULL, "case %zu: history does not parse", i))
            continue;
        int got = mp_delivery_sent_before(history, statuses, cases[i].sent);
        UT_CHECK(got == cases[i].want, "case %zu (%s, sent '%s'): %d, want %d", i, cases[i].history,
                 cases[i].sent, got, cases[i].want);
        json_decref(history);
    }
    /* Without a status list only an id setting can match. */
    json_t *history = golden_jq("[" ROW("{'id': '3'}") "]");
    UT_CHECK(!mp_delivery_sent_before(history, NULL, "levert"), "no statuses, by name");
    UT_CHECK(mp_delivery_sent_before(history, NULL, "3"), "no statuses, by id");
    UT_CHECK(!mp_delivery_sent_before(NULL, statuses, "levert"), "no history");
    json_decref(history);
    json_decref(statuses);
}

UT_TEST(issue12_23_status_is_by_its_row_in_the_status_list)
{
    json_t *statuses = golden_jq(STATUSES);
    if (!UT_CHECK(statuses != NULL, "statuses do not parse"))
        return;
    UT_CHECK(mp_delivery_status_is(statuses, "3", "levert"), "3 is levert");
    UT_CHECK(mp_delivery_status_is(statuses, "3", "Sent"), "3 is sent (any language)");
    UT_CHECK(!mp_delivery_status_is(statuses, "7", "levert"), "7 is not levert (M15)");
    UT_CHECK(!mp_delivery_status_is(statuses, "6", "levert"), "6 is not levert");
    UT_CHECK(mp_delivery_status_is(statuses, "6", "6"), "an id setting");
    UT_CHECK(!mp_delivery_status_is(statuses, NULL, "levert"), "no status");
    UT_CHECK(!mp_delivery_status_is(statuses, "3", NULL), "no setting");
    json_decref(statuses);
}
