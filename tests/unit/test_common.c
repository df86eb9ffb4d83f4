/* Unit tests of the pure parts of common/: configuration validation, the
 * event envelope, shop-local time, HTTP classification and escaping. */
#include "unit.h"
#include "common/config.h"
#include "common/event.h"
#include "common/http.h"
#include "common/tz.h"
#include "consumers/map_order.h"

#include <stdlib.h>
#include <string.h>

static void cfg_env_clear(void)
{
    static const char *vars[] = {"KAFKA_BROKERS",
                                 "MYSTORE_SHOP",
                                 "MYSTORE_TOKEN",
                                 "MYSTORE_RATE_LIMIT_PER_MIN",
                                 "ONGOING_API_URL",
                                 "ONGOING_USER",
                                 "ONGOING_PASSWORD",
                                 "ONGOING_GOODS_OWNER_ID",
                                 "ONGOING_EDITABLE_STATUSES",
                                 "MOSYNC_TENANT",
                                 "REDIS_URL",
                                 "MYSTORE_TIMEZONE",
                                 "POLL_INTERVAL_S",
                                 "LOG_LEVEL",
                                 "MYSTORE_API_URL",
                                 "ALLOW_INSECURE_HTTP",
                                 "SHIPPING_METHOD_MAP",
                                 "MYSTORE_ORDER_STATUSES"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* Each bad value is refused with a message that names its variable. */
UT_TEST(config_bad_values_name_the_variable)
{
    static const struct {
        const char *var, *value;
    } bad[] = {{"MYSTORE_RATE_LIMIT_PER_MIN", "12x"},
               {"MYSTORE_RATE_LIMIT_PER_MIN", "0"},
               {"ONGOING_GOODS_OWNER_ID", "-1"},
               {"ONGOING_EDITABLE_STATUSES", "200,"},
               {"MOSYNC_TENANT", "a b"},
               {"REDIS_URL", "localhost:6379"},
               {"MYSTORE_TIMEZONE", "Europe/Nowhere"},
               {"POLL_INTERVAL_S", "86401"},
               {"LOG_LEVEL", "verbose"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mo_config cfg;
        char errstr[256] = "";
        cfg_env_clear();
        setenv(bad[i].var, bad[i].value, 1);
        mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
        UT_CHECK(err == MO_ERR_CONFIG, "%s=%s accepted", bad[i].var, bad[i].value);
        UT_CHECK(strstr(errstr, bad[i].var) != NULL, "%s=%s: message '%s'", bad[i].var,
                 bad[i].value, errstr);
    }
    cfg_env_clear();
}

UT_TEST(config_required_and_defaults)
{
    mo_config cfg;
    char errstr[256] = "";
    cfg_env_clear();
    UT_CHECK(cfg_load(&cfg, CFG_NEED_ONGOING, errstr, sizeof(errstr)) == MO_ERR_CONFIG &&
                 strstr(errstr, "ONGOING_API_URL"),
             "missing ONGOING_API_URL: '%s'", errstr);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "defaults: %s", errstr);
    UT_CHECK(cfg.mystore_rate_per_min == 120, "default rate %d", cfg.mystore_rate_per_min);
    UT_CHECK(!strcmp(cfg.mystore_timezone, "Europe/Oslo"), "default zone");
    UT_CHECK(cfg_ongoing_editable(&cfg, 200) && cfg_ongoing_editable(&cfg, 150) &&
                 !cfg_ongoing_editable(&cfg, 300),
             "default editable statuses (O1)");
    cfg_free(&cfg);
    setenv("ONGOING_EDITABLE_STATUSES", "200,320", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "%s", errstr);
    UT_CHECK(cfg_ongoing_editable(&cfg, 320) && !cfg_ongoing_editable(&cfg, 150),
             "configured editable statuses");
    cfg_free(&cfg);
    cfg_env_clear();
}

UT_TEST(event_envelope_round_trip_and_validation)
{
    json_t *ev =
        ev_new("mystore.order", "t1", "10001", "2026-11-20 10:16:12", json_pack("{s:s}", "k", "v"));
    /* The same change is the same version with the same content (issue 6.4). */
    json_t *again =
        ev_new("mystore.order", "t1", "10001", "2026-11-20 10:16:12", json_pack("{s:s}", "k", "v"));
    json_t *other =
        ev_new("mystore.order", "t1", "10001", "2026-11-20 10:16:13", json_pack("{s:s}", "k", "v"));
    UT_CHECK(!strcmp(json_string_value(json_object_get(ev, "id")),
                     json_string_value(json_object_get(again, "id"))),
             "same change, same id");
    UT_CHECK(strcmp(json_string_value(json_object_get(ev, "id")),
                    json_string_value(json_object_get(other, "id"))),
             "another version, another id");
    char *s = json_dumps(ev, JSON_COMPACT);
    json_t *parsed = NULL;
    char errstr[256];
    UT_CHECK(ev_parse(s, strlen(s), "mystore.order", &parsed, errstr, sizeof(errstr)) == MO_OK,
             "%s", errstr);
    json_decref(parsed);
    UT_CHECK(ev_parse(s, strlen(s), "ongoing.stock", &parsed, errstr, sizeof(errstr)) ==
                 MO_ERR_INVALID,
             "wrong type accepted");
    UT_CHECK(ev_parse("{\"type\":1}", 10, NULL, &parsed, errstr, sizeof(errstr)) == MO_ERR_INVALID,
             "bad envelope accepted");
    UT_CHECK(ev_parse("{not json", 9, NULL, &parsed, errstr, sizeof(errstr)) == MO_ERR_INVALID &&
                 parsed == NULL,
             "not JSON accepted");
    free(s);
    json_decref(ev);
    json_decref(again);
    json_decref(other);
}

UT_TEST(tz_local_time)
{
    time_t t;
    char buf[TZ_LOCAL_SIZE];
    /* Winter: UTC+1; summer: UTC+2. */
    UT_CHECK(tz_local_to_utc("Europe/Oslo", "2026-01-15 12:00:00", &t) == MO_OK && t == 1768474800,
             "winter %lld", (long long)t);
    UT_CHECK(tz_local_to_utc("Europe/Oslo", "2026-07-15 12:00:00", &t) == MO_OK && t == 1784109600,
             "summer %lld", (long long)t);
    /* The autumn fold: 02:30 happens twice on 2026-10-25; the earlier is 00:30Z. */
    UT_CHECK(tz_local_to_utc("Europe/Oslo", "2026-10-25 02:30:00", &t) == MO_OK && t == 1792888200,
             "fold %lld", (long long)t);
    UT_CHECK(tz_utc_to_local("Europe/Oslo", 1784109600, buf) == MO_OK &&
                 !strcmp(buf, "2026-07-15 12:00:00"),
             "utc to local %s", buf);
    UT_CHECK(tz_local_add("2026-03-01 00:30:00", -3600, buf) == MO_OK &&
                 !strcmp(buf, "2026-02-28 23:30:00"),
             "wall-clock arithmetic %s", buf);
    UT_CHECK(tz_local_to_utc("Europe/Oslo", "2026-02-30 10:00:00", &t) == MO_ERR_INVALID,
             "30 February accepted");
    UT_CHECK(tz_local_to_utc("Europe/Oslo", "2026-02-01T10:00:00", &t) == MO_ERR_INVALID,
             "ISO separator accepted");
}

UT_TEST(http_classify_and_escape)
{
    UT_CHECK(hc_classify(200) == MO_OK && hc_classify(201) == MO_OK, "2xx");
    UT_CHECK(hc_classify(408) == MO_ERR_TRANSIENT && hc_classify(429) == MO_ERR_TRANSIENT &&
                 hc_classify(500) == MO_ERR_TRANSIENT && hc_classify(503) == MO_ERR_TRANSIENT,
             "transient");
    UT_CHECK(hc_classify(400) == MO_ERR_PERMANENT && hc_classify(404) == MO_ERR_PERMANENT,
             "permanent");
    UT_CHECK(hc_classify(401) == MO_ERR_CREDENTIAL && hc_classify(403) == MO_ERR_CREDENTIAL,
             "credential (issue 12 item 11)");
    char out[64];
    UT_CHECK(hc_escape("2026-11-20 10:16:12", out, sizeof(out)) == MO_OK &&
                 !strcmp(out, "2026-11-20%2010%3A16%3A12"),
             "escape %s", out);
    UT_CHECK(hc_escape("Ærø", out, 4) == MO_ERR_TOO_LARGE, "escape cap");
}

UT_TEST(config_poll_interval_per_stream)
{
    mo_config cfg;
    char errstr[256] = "";
    cfg_env_clear();
    setenv("POLL_INTERVAL_S", "20", 1);
    setenv("POLL_INTERVAL_S_ONGOING_STOCK", "600", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "%s", errstr);
    UT_CHECK(cfg_poll_interval(&cfg, "ongoing-stock") == 600, "override");
    UT_CHECK(cfg_poll_interval(&cfg, "mystore-orders") == 20, "default");
    cfg_free(&cfg);
    unsetenv("POLL_INTERVAL_S");
    unsetenv("POLL_INTERVAL_S_ONGOING_STOCK");
}

/* Versions are UTC instants compared by time; anything else is never "older"
 * (an old record's shop-local version must not block a new event). */
UT_TEST(event_versions_compare_by_utc_time)
{
    long long ms;
    UT_CHECK(ev_utc_parse("2026-10-25T00:50:00Z", &ms) == MO_OK && ms == 1792889400000LL,
             "parse: %lld", ms);
    UT_CHECK(ev_utc_parse("2026-10-25T00:50:00.25Z", &ms) == MO_OK && ms == 1792889400250LL,
             "fraction: %lld", ms);
    UT_CHECK(ev_utc_parse("2026-10-25 00:50:00", &ms) == MO_ERR_INVALID, "local time accepted");
    UT_CHECK(ev_utc_parse("2026-10-25T00:50:00", &ms) == MO_ERR_INVALID, "no Z accepted");
    UT_CHECK(ev_utc_parse("2026-10-25T00:50:00.Z", &ms) == MO_ERR_INVALID, "empty fraction");
    UT_CHECK(ev_version_older("2026-10-25T00:10:00Z", "2026-10-25T00:50:00Z"), "older by time");
    UT_CHECK(!ev_version_older("2026-10-25T01:10:00Z", "2026-10-25T00:50:00Z"), "newer");
    UT_CHECK(!ev_version_older("2026-10-25T00:50:00Z", "2026-10-25T00:50:00.000Z"), "equal");
    UT_CHECK(ev_version_older("2026-10-25T00:50:00.000Z", "2026-10-25T00:50:00.001Z"),
             "millisecond");
    UT_CHECK(ev_version_older("2026-10-25 02:10:00", "2026-10-25 02:50:00"),
             "two shop-local versions compare as text");
    UT_CHECK(!ev_version_older("2026-10-25 02:10:00", "2026-10-25T00:50:00Z"),
             "a version in another form is not older");
    UT_CHECK(!ev_version_older("2026-10-25T00:10:00Z", "2026-10-25 02:50:00"),
             "a record in another form blocks nothing");
}

/* Loads the configuration with one variable set (the others cleared). */
static mo_err cfg_with(const char *var, const char *value, int need, char *errstr,
                       size_t errstr_size)
{
    mo_config cfg;
    cfg_env_clear();
    if (var)
        setenv(var, value, 1);
    mo_err err = cfg_load(&cfg, need, errstr, errstr_size);
    if (!err)
        cfg_free(&cfg);
    cfg_env_clear();
    return err;
}

UT_TEST(issue6_13_api_urls_with_credentials_or_query_refused)
{
    static const char *const vars[] = {"MYSTORE_API_URL", "ONGOING_API_URL"};
    static const char *const urls[] = {
        "https://user:Pw-Secret-77@api.example.no",
        "https://:Pw-Secret-77@api.example.no/base",
        "https://Pw-Secret-77@api.example.no",
        "https://api.example.no/?key=Pw-Secret-77",
        "https://api.example.no/base?token=Pw-Secret-77&x=1",
        "https://api.example.no/#Pw-Secret-77",
    };
    for (size_t v = 0; v < 2; v++) {
        for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
            char errstr[512] = "";
            mo_err err = cfg_with(vars[v], urls[i], 0, errstr, sizeof(errstr));
            UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, vars[v]), "%s=%s: %s '%s'", vars[v],
                     urls[i], mo_err_name(err), errstr);
            UT_CHECK(!strstr(errstr, "Pw-Secret"), "%s: the refusal prints the secret: %s", vars[v],
                     errstr);
        }
    }
}

UT_TEST(issue6_18_insecure_http_only_for_loopback)
{
    static const struct {
        const char *url;
        int ok_without_allow;
    } cases[] = {
        {"http://api.example.no", 0},     {"http://10.0.0.5:8080/x", 0},
        {"http://127.0.0.1.evil.no", 0},  {"http://localhost.evil.no/", 0},
        {"http://127.0.0.1:8080", 1},     {"http://127.9.9.9/wh", 1},
        {"http://localhost:99/wh", 1},    {"http://[::1]:8080/wh", 1},
        {"https://api.example.no/wh", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char errstr[512] = "";
        mo_err err = cfg_with("ONGOING_API_URL", cases[i].url, 0, errstr, sizeof(errstr));
        UT_CHECK((err == MO_OK) == cases[i].ok_without_allow, "ONGOING_API_URL=%s: %s '%s'",
                 cases[i].url, mo_err_name(err), errstr);
        if (err)
            UT_CHECK(strstr(errstr, "ONGOING_API_URL") && strstr(errstr, "ALLOW_INSECURE_HTTP"),
                     "message '%s'", errstr);
        /* With ALLOW_INSECURE_HTTP=on every one of them is allowed. */
        mo_config cfg;
        cfg_env_clear();
        setenv("ONGOING_API_URL", cases[i].url, 1);
        setenv("ALLOW_INSECURE_HTTP", "on", 1);
        err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
        UT_CHECK(err == MO_OK, "%s with ALLOW_INSECURE_HTTP=on: '%s'", cases[i].url, errstr);
        if (!err)
            cfg_free(&cfg);
        cfg_env_clear();
    }
}

UT_TEST(issue6_18_empty_goods_owner_refused_when_required)
{
    mo_config cfg;
    char errstr[512] = "";
    cfg_env_clear();
    setenv("ONGOING_API_URL", "https://api.example.no/wh", 1);
    setenv("ONGOING_USER", "user", 1);
    setenv("ONGOING_PASSWORD", "password-long", 1);
    setenv("ONGOING_GOODS_OWNER_ID", "", 1);
    mo_err err = cfg_load(&cfg, CFG_NEED_ONGOING, errstr, sizeof(errstr));
    if (!err)
        cfg_free(&cfg);
    UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "ONGOING_GOODS_OWNER_ID"),
             "ONGOING_GOODS_OWNER_ID=\"\" when required: %s '%s'", mo_err_name(err), errstr);
    cfg_env_clear();
}

UT_TEST(issue6_18_mystore_shop_dot_segments_refused)
{
    static const char *const shops[] = {".", ".."};
    for (size_t i = 0; i < 2; i++) {
        char errstr[512] = "";
        mo_err err = cfg_with("MYSTORE_SHOP", shops[i], 0, errstr, sizeof(errstr));
        UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "MYSTORE_SHOP"), "MYSTORE_SHOP=%s: %s",
                 shops[i], mo_err_name(err));
    }
    char errstr[512] = "";
    UT_CHECK(cfg_with("MYSTORE_SHOP", "my.shop", 0, errstr, sizeof(errstr)) == MO_OK, "my.shop: %s",
             errstr);
}

/* MYSTORE_ORDER_STATUSES: the list as the mapping receives it (trimmed
 * items, names and ids), unset and blank meaning every status, and each bad
 * list refused with a message naming the variable. */
UT_TEST(config_order_statuses)
{
    mo_config cfg;
    char errstr[512] = "", many[64 * 40] = "", *dumped;
    char long_item[CFG_ORDER_STATUS_MAX + 1];

    cfg_env_clear();
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "%s", errstr);
    UT_CHECK(cfg.mystore_order_statuses == NULL, "unset: every status");
    json_t *shown = cfg_describe(&cfg);
    UT_CHECK(shown && json_is_null(json_object_get(shown, "MYSTORE_ORDER_STATUSES")),
             "mosync config shows unset as null");
    json_decref(shown);
    cfg_free(&cfg);
    setenv("MYSTORE_ORDER_STATUSES", "   ", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK && !cfg.mystore_order_statuses,
             "blank: every status (%s)", errstr);
    cfg_free(&cfg);

    setenv("MYSTORE_ORDER_STATUSES", "Under behandling, 2 ,Venter på betaling,Processing", 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "%s", errstr);
    dumped = json_dumps(cfg.mystore_order_statuses, JSON_COMPACT);
    UT_CHECK(dumped && !strcmp(dumped, "[\"Under behandling\",\"2\",\"Venter p\xc3\xa5 "
                                       "betaling\",\"Processing\"]"),
             "parsed list %s", dumped ? dumped : "(null)");
    free(dumped);
    shown = cfg_describe(&cfg);
    UT_CHECK(shown && json_equal(json_object_get(shown, "MYSTORE_ORDER_STATUSES"),
                                 cfg.mystore_order_statuses),
             "mosync config shows the list");
    json_decref(shown);
    cfg_free(&cfg);

    /* The limits themselves are accepted: 32 items, an item of 127 bytes. */
    for (int i = 0; i < CFG_MAX_ORDER_STATUSES; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%d", i ? "," : "", i + 1);
    setenv("MYSTORE_ORDER_STATUSES", many, 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK &&
                 json_array_size(cfg.mystore_order_statuses) == CFG_MAX_ORDER_STATUSES,
             "%d items: %s", CFG_MAX_ORDER_STATUSES, errstr);
    cfg_free(&cfg);
    memset(long_item, 'x', CFG_ORDER_STATUS_MAX - 1);
    long_item[CFG_ORDER_STATUS_MAX - 1] = '\0';
    setenv("MYSTORE_ORDER_STATUSES", long_item, 1);
    UT_CHECK(cfg_load(&cfg, 0, errstr, sizeof(errstr)) == MO_OK, "127 bytes: %s", errstr);
    cfg_free(&cfg);

    /* Refused, each naming the variable: */
    char too_many[64 * 40], too_long[CFG_ORDER_STATUS_MAX + 8], huge[CFG_ORDER_STATUSES_MAX + 8];
    snprintf(too_many, sizeof(too_many), "%s,33", many);
    snprintf(too_long, sizeof(too_long), "a,%sy", long_item);
    memset(huge, 'x', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    for (size_t i = 60; i < sizeof(huge) - 1; i += 61)
        huge[i] = ','; /* short items, too many bytes in all */
    const struct {
        const char *value, *why;
    } bad[] = {
        {"a,,b", "is empty"},
        {",a", "item 1 is empty"},
        {"a,", "item 2 is empty"},
        {"a,  ,b", "item 2 is empty"},
        {too_many, "more than 32"},
        {too_long, "item 2 is longer than 127"},
        {"a\nb", "control character"},
        {"Under\tbehandling", "control character"},
        {"a,\x7f", "control character"},
        {"Levert,\xff\xfe", "item 2 is not UTF-8"},
        {"\xc3", "not UTF-8"},
        {huge, "too long"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("MYSTORE_ORDER_STATUSES", bad[i].value, 1);
        errstr[0] = '\0';
        mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
        UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, "MYSTORE_ORDER_STATUSES") &&
                     strstr(errstr, bad[i].why),
                 "bad list #%zu: %s '%s' (wanted '%s')", i, mo_err_name(err), errstr, bad[i].why);
        if (!err)
            cfg_free(&cfg);
    }
    cfg_env_clear();
}

/* SHIPPING_METHOD_MAP: an entry the configuration accepts is used by the
 * mapping as written, and an entry it refuses is refused by the mapping too
 * (never silently replaced by the method). */
UT_TEST(issue6_18_shipping_map_config_and_mapping_agree)
{
    static const char *const entries[] = {
        "{'code': 'C1', 'name': 'N1'}",
        "{'code': 'C2'}",
        "{'code': 'C3', 'name': null}",
        "'C4'",
        "{'code': ''}",
        "{'code': 5}",
        "{'name': 'N7'}",
        "{'code': 'C8', 'name': 5}",
        "{'code': 'C9', 'name': ''}",
        "{'code': 'C10', 'nmae': 'typo'}",
        "''",
        "5",
        "null",
        "[]",
    };
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        char map[256], errstr[512] = "";
        snprintf(map, sizeof(map), "{'Fast': %s}", entries[i]);
        for (char *p = map; *p; p++)
            if (*p == '\'')
                *p = '"';
        mo_err cerr = cfg_with("SHIPPING_METHOD_MAP", map, 0, errstr, sizeof(errstr));
        UT_CHECK(cerr == MO_OK || (cerr == MO_ERR_CONFIG && strstr(errstr, "SHIPPING_METHOD_MAP")),
                 "%s: %s '%s'", map, mo_err_name(cerr), errstr);

        json_t *table = json_loads(map, 0, NULL);
        json_t *entry = json_object_get(table, "Fast");
        json_t *snapshot =
            json_pack("{s:{s:s, s:{s:s, s:s}}, s:[{s:{s:s, s:{s:s, s:i}}}]}", "order", "id", "1",
                      "attributes", "created_at", "2026-11-20 10:15:00", "shipping_method", "Fast",
                      "lines", "line", "id", "2", "attributes", "sku", "A", "quantity", 1);
        mp_order_conf conf = {.goods_owner_id = 1, .shipping_methods = table};
        json_t *out = NULL;
        char merr[512] = "";
        mo_err err = mp_order_map(snapshot, &conf, &out, merr, sizeof(merr));
        json_t *way = json_object_get(json_object_get(out, "order"), "wayOfDelivery");
        const char *code = json_string_value(json_object_get(way, "code"));
        const char *name = json_string_value(json_object_get(way, "name"));
        if (cerr == MO_OK) {
            const char *want_code = json_is_string(entry)
                                        ? json_string_value(entry)
                                        : json_string_value(json_object_get(entry, "code"));
            const char *want_name = json_string_value(json_object_get(entry, "name"));
            UT_CHECK(err == MO_OK && code && want_code && !strcmp(code, want_code),
                     "%s accepted by the configuration, but the mapping sends code '%s' (%s)", map,
                     code ? code : "(none)", merr);
            UT_CHECK(err == MO_OK && name && !strcmp(name, want_name ? want_name : "Fast"),
                     "%s accepted by the configuration, but the mapping sends name '%s'", map,
                     name ? name : "(none)");
        } else {
            UT_CHECK(err == MO_ERR_INVALID && strstr(merr, "SHIPPING_METHOD_MAP"),
                     "%s refused by the configuration, but the mapping sends code '%s'", map,
                     code ? code : "(none)");
        }
        json_decref(out);
        json_decref(snapshot);
        json_decref(table);
    }
}
