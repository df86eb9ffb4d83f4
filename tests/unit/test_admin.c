/* `mosync admin`'s checks (cli/admin_auth.c) and page writer
 * (cli/admin_html.c): the peer check a test cannot reach over a real socket
 * (a non-loopback peer of a loopback server), sessions, CSRF tokens,
 * cookies, forms, HTML escaping and the chart. */
#include "unit.h"
#include "cli/admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static struct sockaddr_storage ut_addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1)
        in4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    return ss;
}

/* A request from outside ADMIN_LISTEN's scope: a loopback server serves
 * loopback peers only; a server on another address serves every peer. */
UT_TEST(admin_peer_outside_loopback_scope_is_refused)
{
    static const char *const inside[] = {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"};
    static const char *const outside[] = {"10.0.0.5", "192.168.1.2", "128.0.0.1", "::ffff:10.0.0.5",
                                          "fe80::1",  "::2",         "::"};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
        struct sockaddr_storage ss = ut_addr(inside[i]);
        UT_CHECK(adm_peer_allowed(1, (struct sockaddr *)&ss), "%s refused", inside[i]);
        UT_CHECK(adm_addr_loopback(inside[i]), "%s is loopback", inside[i]);
    }
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        struct sockaddr_storage ss = ut_addr(outside[i]);
        UT_CHECK(!adm_peer_allowed(1, (struct sockaddr *)&ss), "%s served by a loopback server",
                 outside[i]);
        UT_CHECK(adm_peer_allowed(0, (struct sockaddr *)&ss), "%s refused by 0.0.0.0", outside[i]);
        UT_CHECK(!adm_addr_loopback(outside[i]), "%s is not loopback", outside[i]);
    }
    UT_CHECK(!adm_peer_allowed(1, NULL), "an unknown peer is refused");
    UT_CHECK(adm_addr_loopback("127.0.0.1") && !adm_addr_loopback("0.0.0.0"), "listen addresses");
}

static void ut_auth(adm_auth *a, int key_byte, const char *password)
{
    sb_key key;
    memset(key.bytes, key_byte, sizeof(key.bytes));
    adm_auth_init(a, &key, password);
}

UT_TEST(admin_password_and_session)
{
    adm_auth a, other_pw, other_key;
    char cookie[ADM_COOKIE_SIZE], id[ADM_ID_HEX], got[ADM_ID_HEX], errstr[128];
    ut_auth(&a, 7, "correct horse");
    ut_auth(&other_pw, 7, "correct horsE");
    ut_auth(&other_key, 8, "correct horse");
    UT_CHECK(adm_password_ok(&a, "correct horse", 13), "the password");
    UT_CHECK(!adm_password_ok(&a, "correct hors", 12), "a prefix of it");
    UT_CHECK(!adm_password_ok(&a, "correct horse ", 14), "a longer one");
    UT_CHECK(!adm_password_ok(&a, "", 0), "empty");

    time_t now = 1764333297;
    UT_CHECK(!adm_session_new(&a, now, cookie, id, errstr, sizeof(errstr)), "%s", errstr);
    UT_CHECK(adm_session_check(&a, cookie, now + 60, got, NULL) && !strcmp(got, id),
             "a fresh session: %s", cookie);
    UT_CHECK(!adm_session_check(&a, cookie, now + ADM_SESSION_S, got, NULL), "an expired one");
    UT_CHECK(!adm_session_check(&other_pw, cookie, now, got, NULL),
             "a session after the password changed");
    UT_CHECK(!adm_session_check(&other_key, cookie, now, got, NULL),
             "a session after MOSYNC_SECRET_KEY changed");
    /* A changed expiry (a later one forged) breaks the MAC. */
    char forged[ADM_COOKIE_SIZE];
    snprintf(forged, sizeof(forged), "%s", cookie);
    forged[3] = forged[3] == '9' ? '8' : '9';
    UT_CHECK(!adm_session_check(&a, forged, now, got, NULL), "a forged expiry: %s", forged);
    UT_CHECK(!adm_session_check(&a, "v1.99999999999.abc.def", now, got, NULL), "garbage");
    UT_CHECK(!adm_session_check(&a, "", now, got, NULL), "empty");
    UT_CHECK(!adm_session_check(&a, NULL, now, got, NULL), "none");

    char token[ADM_TOKEN_HEX], token2[ADM_TOKEN_HEX];
    adm_csrf_token(&a, id, token);
    UT_CHECK(adm_csrf_ok(&a, id, token), "the session's token");
    UT_CHECK(!adm_csrf_ok(&a, "00000000000000000000000000000000", token), "another session's");
    UT_CHECK(!adm_csrf_ok(&a, id, NULL) && !adm_csrf_ok(&a, id, ""), "no token");
    adm_csrf_token(&other_pw, id, token2);
    UT_CHECK(strcmp(token, token2) && !adm_csrf_ok(&a, id, token2), "a token of another key");
}

UT_TEST(admin_cookies_and_forms)
{
    char out[64];
    UT_CHECK(adm_cookie_get("a=1; mosync_admin=v1.x.y; b=2", "mosync_admin", out, sizeof(out)) &&
                 !strcmp(out, "v1.x.y"),
             "the cookie among others: %s", out);
    UT_CHECK(!adm_cookie_get("xmosync_admin=1", "mosync_admin", out, sizeof(out)),
             "a cookie whose name ends with ours");
    UT_CHECK(!adm_cookie_get(NULL, "mosync_admin", out, sizeof(out)), "no header");
    UT_CHECK(adm_form_get("csrf=ab&id=3%3A14&password=a+b%26c", "password", out, sizeof(out)) ==
                     1 &&
                 !strcmp(out, "a b&c"),
             "decoded: %s", out);
    UT_CHECK(adm_form_get("csrf=ab&id=3%3A14", "id", out, sizeof(out)) == 1 && !strcmp(out, "3:14"),
             "id: %s", out);
    UT_CHECK(adm_form_get("xid=1", "id", out, sizeof(out)) == 0, "another field's suffix");
    UT_CHECK(adm_form_get("id=%2", "id", out, sizeof(out)) == -1, "a cut escape");
    UT_CHECK(adm_form_get("id=%00", "id", out, sizeof(out)) == -1, "a NUL");
    UT_CHECK(adm_form_get("id=0123456789", "id", out, 5) == -1, "too long");
    UT_CHECK(adm_form_get("id=", "id", out, sizeof(out)) == 1 && !*out, "empty");
    UT_CHECK(adm_form_get(NULL, "id", out, sizeof(out)) == 0, "no body");
}

UT_TEST(admin_html_escapes_and_draws)
{
    adm_page p = {0};
    adm_page_esc(&p, "<a href=\"x\">&'</a>");
    UT_CHECK(p.s && !strcmp(p.s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"), "%s",
             p.s ? p.s : "NULL");
    adm_page_free(&p);
    long long counts[24] = {0};
    counts[23] = 5;
    counts[0] = 2;
    adm_chart ch = {.id = "c", .what = "Orders", .v = counts, .n = 24, .now = 1764333297};
    adm_html_chart(&p, &ch);
    UT_CHECK(p.s && strstr(p.s, "<svg") && strstr(p.s, "7 in all") && strstr(p.s, "role=\"img\"") &&
                 !p.failed,
             "the chart: %.300s", p.s ? p.s : "NULL");
    int bars = 0;
    for (const char *s = p.s; s && (s = strstr(s, "<rect")); s++)
        bars++;
    UT_CHECK(bars == 24, "%d bars", bars);
    adm_page_free(&p);
    /* Lag in ms, shown as seconds; an hour without orders is "none", not 0 s. */
    long long lag[24];
    for (int i = 0; i < 24; i++)
        lag[i] = -1;
    lag[22] = 1500;
    lag[23] = 2250;
    adm_chart lc = {.id = "l", .what = "Lag", .v = lag, .n = 24, .now = 1764333297, .ms = 1};
    adm_html_chart(&p, &lc);
    UT_CHECK(p.s && strstr(p.s, "at most 2.2 s in an hour with orders (2 of them)") &&
                 strstr(p.s, ": none</title>") && strstr(p.s, ": 1.5 s</title>"),
             "the lag chart: %.600s", p.s ? p.s : "NULL");
    adm_page_free(&p);
}
