/* Webhooks: HMAC-SHA256 against RFC 4231, the constant-time compare, the
 * signature and token checks of `mosync webhooks`, its route parsing and
 * which poller a Mystore topic triggers. */
#include "unit.h"
#include "cli/webhooks.h"
#include "common/b64.h"
#include "common/sha256.h"
#include "common/stop.h"
#include "common/store.h"
#include "ut_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ut_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* RFC 4231 section 4: every test case of HMAC-SHA-256 (case 5's output is
 * truncated to 128 bits there, and compared so here). */
UT_TEST(hmac_sha256_rfc4231)
{
    uint8_t k20[20], k131[131], aa20[20], d50[50], k25[25], d50b[50], mac[32];
    memset(k20, 0x0b, sizeof(k20));
    memset(k131, 0xaa, sizeof(k131));
    memset(aa20, 0xaa, sizeof(aa20));
    memset(d50, 0xdd, sizeof(d50));
    memset(d50b, 0xcd, sizeof(d50b));
    for (int i = 0; i < 25; i++)
        k25[i] = (uint8_t)(i + 1);
    uint8_t k20c[20];
    memset(k20c, 0x0c, sizeof(k20c));
    static const char big1[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char big2[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    const struct {
        const void *key;
        size_t klen;
        const void *data;
        size_t dlen;
        size_t outlen;
        const char *want;
    } cases[] = {
        {k20, 20, "Hi There", 8, 32,
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"Jefe", 4, "what do ya want for nothing?", 28, 32,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {aa20, 20, d50, 50, 32, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {k25, 25, d50b, 50, 32, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {k20c, 20, "Test With Truncation", 20, 16, "a3b6167473100ee06e0c796c2955552b"},
        {k131, 131, big1, sizeof(big1) - 1, 32,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {k131, 131, big2, sizeof(big2) - 1, 32,
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hex[65];
        sha256_hmac(cases[i].key, cases[i].klen, cases[i].data, cases[i].dlen, mac);
        ut_hex(mac, cases[i].outlen, hex);
        UT_CHECK(!strcmp(hex, cases[i].want), "RFC 4231 case %zu: %s", i + 1, hex);
    }
}

UT_TEST(ct_equal_compares_every_byte)
{
    uint8_t a[32], b[32];
    memset(a, 7, sizeof(a));
    memcpy(b, a, sizeof(b));
    UT_CHECK(sha256_ct_equal(a, b, sizeof(a)) == 1, "equal buffers");
    UT_CHECK(sha256_ct_equal(a, b, 0) == 1, "nothing to compare is equal");
    /* A difference in any one place, the last byte and a single bit included. */
    for (size_t i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x80;
        UT_CHECK(sha256_ct_equal(a, b, sizeof(a)) == 0, "differs at byte %zu (high bit)", i);
        b[i] ^= 0x80 ^ 0x01;
        UT_CHECK(sha256_ct_equal(a, b, sizeof(a)) == 0, "differs at byte %zu (low bit)", i);
        b[i] ^= 0x01;
    }
}

UT_TEST(mystore_signature_checked)
{
    static const char secret[] = "whsec-1234567", body[] = "{\"data\":{\"id\":\"10001\"}}";
    uint8_t mac[32];
    sha256_hmac(secret, strlen(secret), body, strlen(body), mac);
    char *sig = b64_encode(mac, sizeof(mac));
    UT_CHECK(sig != NULL, "b64");
    UT_CHECK(wh_mystore_signed(secret, body, strlen(body), sig), "the right signature");
    char padded[128];
    snprintf(padded, sizeof(padded), " %s\t", sig);
    UT_CHECK(wh_mystore_signed(secret, body, strlen(body), padded), "blanks around it");
    /* The same signature for another body (a replayed signature). */
    UT_CHECK(!wh_mystore_signed(secret, "{\"data\":{\"id\":\"10002\"}}", 23, sig), "other body");
    UT_CHECK(!wh_mystore_signed("whsec-7654321", body, strlen(body), sig), "other secret");
    UT_CHECK(!wh_mystore_signed(secret, body, strlen(body), NULL), "no header");
    UT_CHECK(!wh_mystore_signed(secret, body, strlen(body), ""), "empty header");
    char cut[64];
    snprintf(cut, sizeof(cut), "%.43s", sig);
    UT_CHECK(!wh_mystore_signed(secret, body, strlen(body), cut), "a signature one char short");
    /* Hex instead of base64 (the mistake a receiver could accept). */
    char hex[65];
    ut_hex(mac, sizeof(mac), hex);
    UT_CHECK(!wh_mystore_signed(secret, body, strlen(body), hex), "hex is not base64");
    UT_CHECK(!wh_mystore_signed("", body, strlen(body), sig), "no secret: nothing accepted");
    free(sig);
}

UT_TEST(ongoing_token_checked)
{
    UT_CHECK(wh_token_equal("tok-1234567", "tok-1234567"), "same token");
    UT_CHECK(!wh_token_equal("tok-1234567", "tok-123456"), "a prefix");
    UT_CHECK(!wh_token_equal("tok-1234567", "tok-12345678"), "longer");
    UT_CHECK(!wh_token_equal("tok-1234567", "TOK-1234567"), "case counts");
    UT_CHECK(!wh_token_equal("tok-1234567", NULL), "missing");
    UT_CHECK(!wh_token_equal("tok-1234567", ""), "empty");
    UT_CHECK(!wh_token_equal("", ""), "nothing configured accepts nothing");
}

UT_TEST(webhook_route_parsing)
{
    char source[32], tenant[80];
    UT_CHECK(!wh_route_parse("/webhooks/mystore/shop1", source, sizeof(source), tenant,
                             sizeof(tenant)) &&
                 !strcmp(source, "mystore") && !strcmp(tenant, "shop1"),
             "mystore route");
    UT_CHECK(!wh_route_parse("/webhooks/ongoing/a.b-c_1", source, sizeof(source), tenant,
                             sizeof(tenant)) &&
                 !strcmp(source, "ongoing") && !strcmp(tenant, "a.b-c_1"),
             "ongoing route, every tenant character");
    static const char *const bad[] = {"/webhooks/mystore",
                                      "/webhooks/mystore/",
                                      "/webhooks//shop1",
                                      "/webhooks/mystore/shop1/",
                                      "/webhooks/mystore/a/b",
                                      "/webhook/mystore/shop1",
                                      "/webhooks/mystore/sh op",
                                      "/webhooks/mystore/sh%2F",
                                      "/webhooks/mystore/{t}",
                                      "/webhooks/my store/shop1",
                                      "/",
                                      "",
                                      "/webhooks/mystore/shop1?x",
                                      "/metrics"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        UT_CHECK(wh_route_parse(bad[i], source, sizeof(source), tenant, sizeof(tenant)) == -1,
                 "refused: '%s'", bad[i]);
    /* A tenant longer than the buffer is refused, not cut to another tenant. */
    char longer[200];
    memset(longer, 'a', sizeof(longer));
    memcpy(longer, "/webhooks/mystore/", 18);
    longer[sizeof(longer) - 1] = '\0';
    UT_CHECK(wh_route_parse(longer, source, sizeof(source), tenant, sizeof(tenant)) == -1,
             "a tenant too long for the buffer");
}

UT_TEST(webhook_topic_picks_the_poller)
{
    UT_CHECK(!strcmp(wh_mystore_stream("orders/create"), "mystore-orders"), "orders/create");
    UT_CHECK(!strcmp(wh_mystore_stream("orders/update"), "mystore-orders"), "orders/update");
    UT_CHECK(!strcmp(wh_mystore_stream("products/delete"), "mystore-products"), "products/delete");
    UT_CHECK(wh_mystore_stream("orders/") == NULL, "orders/ without an event");
    UT_CHECK(wh_mystore_stream("orders") == NULL, "orders");
    UT_CHECK(wh_mystore_stream("customers/create") == NULL, "customers/create");
    UT_CHECK(wh_mystore_stream("Orders/create") == NULL, "case counts");
    UT_CHECK(wh_mystore_stream(NULL) == NULL, "no topic");
}

/* The trigger list on a real Redis: pushes coalesce into one element with an
 * expiry, a wait takes it at once and then waits its second without taking
 * the quiet second for a dead connection (the socket timeout outlasts the
 * BLPOP), a cleared trigger is gone, and with Redis away a wait fails at once
 * (the poller then sleeps: no busy loop). */
UT_TEST(webhook_triggers_on_a_real_redis)
{
    ut_redis r;
    char url[128], errstr[256];
    if (!UT_CHECK(ut_redis_start(&r, NULL) == 0, "redis-server did not start"))
        return;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", r.port);
    rs_store *push = rs_open(url, "t1", errstr, sizeof(errstr));
    rs_store *wait = rs_open(url, "t1", errstr, sizeof(errstr));
    int got = -1;
    for (int i = 0; i < 3; i++)
        UT_CHECK(rs_trigger_push(push, "mystore-orders", errstr, sizeof(errstr)) == MO_OK,
                 "push: %s", errstr);
    const char *llen[] = {"EVAL",
                          "if redis.call('LLEN', KEYS[1]) == 1 and redis.call('TTL', KEYS[1]) > "
                          "0 then return 1 end return redis.error_reply('not one element')",
                          "1", "mosync:{t1}:trigger:mystore-orders", NULL};
    UT_CHECK(ut_redis_cmd(&r, NULL, llen) == 0, "three pushes: one element with an expiry");
    /* A wait of 5 s: "at once" is told from "at the timeout" with room to spare. */
    long long t0 = mo_now_ms();
    UT_CHECK(rs_trigger_wait(wait, "mystore-orders", 5, &got, errstr, sizeof(errstr)) == MO_OK &&
                 got == 1,
             "the pending trigger: %d %s", got, errstr);
    UT_CHECK(mo_now_ms() - t0 < 4000, "taken at once, not after the timeout");
    UT_CHECK(rs_trigger_wait(wait, "mystore-orders", 1, &got, errstr, sizeof(errstr)) == MO_OK &&
                 got == 0,
             "nothing left: a quiet second is no error (%d %s)", got, errstr);
    UT_CHECK(rs_trigger_wait(wait, "mystore-products", 1, &got, errstr, sizeof(errstr)) == MO_OK &&
                 got == 0,
             "another stream's trigger is its own");
    rs_trigger_push(push, "mystore-orders", errstr, sizeof(errstr));
    UT_CHECK(rs_trigger_clear(wait, "mystore-orders", errstr, sizeof(errstr)) == MO_OK, "clear");
    UT_CHECK(rs_trigger_wait(wait, "mystore-orders", 1, &got, errstr, sizeof(errstr)) == MO_OK &&
                 got == 0,
             "cleared");
    ut_redis_stop(&r);
    t0 = mo_now_ms();
    UT_CHECK(rs_trigger_wait(wait, "mystore-orders", 1, &got, errstr, sizeof(errstr)) ==
                 MO_ERR_TRANSIENT,
             "Redis away: transient");
    UT_CHECK(rs_trigger_wait(wait, "mystore-orders", 1, &got, errstr, sizeof(errstr)) ==
                 MO_ERR_TRANSIENT,
             "Redis away again");
    UT_CHECK(mo_now_ms() - t0 < 5000, "Redis away: no retry loop inside the wait (%lld ms)",
             mo_now_ms() - t0);
    rs_close(push);
    rs_close(wait);
}
