/* OAuth tokens: JWT exp parsing, when a token is due, and the token store's
 * compare-and-set (only the lock's holder writes) and one refresh through
 * it, against a real redis-server and a loopback token endpoint. */
#include "unit.h"
#include "ut_net.h"
#include "common/b64.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/oauth.h"
#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* base64url without padding of text, appended to out. */
static void ut_b64url(const char *text, char *out, size_t size)
{
    char *b = b64_encode(text, strlen(text));
    size_t o = strlen(out);
    for (const char *p = b; p && *p && *p != '=' && o + 1 < size; p++)
        out[o++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    out[o] = '\0';
    free(b);
}

static void ut_jwt(const char *payload, char *out, size_t size)
{
    out[0] = '\0';
    ut_b64url("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", out, size);
    snprintf(out + strlen(out), size - strlen(out), ".");
    ut_b64url(payload, out, size);
    snprintf(out + strlen(out), size - strlen(out), ".c2lnbmF0dXJl");
}

UT_TEST(oauth_jwt_exp_parsing)
{
    char t[1024];
    long long exp, iat;
    ut_jwt("{\"aud\":\"1\",\"iat\":1764900000,\"exp\":1764903600,\"scopes\":[\"*\"]}", t,
           sizeof(t));
    UT_CHECK(jwt_times(t, &exp, &iat) && exp == 1764903600 && iat == 1764900000, "%lld %lld", exp,
             iat);
    ut_jwt("{\"iat\":1764900000.5,\"exp\":1764903600.9}", t, sizeof(t));
    UT_CHECK(jwt_times(t, &exp, &iat) && exp == 1764903600 && iat == 1764900000, "reals: %lld",
             exp);
    /* No exp, a string exp, a negative one, not an object, not a JWT. */
    const char *no[] = {
        "{\"iat\":1}", "{\"exp\":\"1764903600\"}", "{\"exp\":-5}", "[1,2]", "not json", NULL};
    for (int i = 0; no[i]; i++) {
        ut_jwt(no[i], t, sizeof(t));
        UT_CHECK(!jwt_times(t, &exp, &iat) && exp == 0, "'%s' gave exp %lld", no[i], exp);
    }
    UT_CHECK(!jwt_times("a-plain-personal-token", &exp, &iat), "not a JWT");
    UT_CHECK(!jwt_times("a.b", &exp, &iat), "two parts");
    UT_CHECK(!jwt_times("a.!!!.c", &exp, &iat), "bad base64");
    UT_CHECK(!jwt_times("", &exp, &iat), "empty");
    /* The doctor's scopes come from the same decoder. */
    ut_jwt("{\"scopes\":[\"read:orders\",\"write:orders\"]}", t, sizeof(t));
    json_t *c = jwt_claims(t);
    UT_CHECK(json_array_size(json_object_get(c, "scopes")) == 2, "scopes");
    json_decref(c);
    /* A payload over the cap is not read. */
    char *big = malloc(20000), *tok = malloc(40000);
    memset(big, 'a', 19990);
    memcpy(big, "{\"exp\":5,\"x\":\"", 14);
    memcpy(big + 19990, "\"}", 3);
    ut_jwt(big, tok, 40000);
    UT_CHECK(!jwt_times(tok, &exp, &iat), "payload over 8 KiB read");
    free(big);
    free(tok);
}

UT_TEST(oauth_due)
{
    long long h = 3600 * 1000LL;
    /* An hour: 60 s before (the tenth, 6 min, is capped at a minute). */
    UT_CHECK(oa_due_ms(1000000, 1000000 + h) == 1000000 + h - 60000, "hour");
    /* 5 minutes: a tenth, 30 s. */
    UT_CHECK(oa_due_ms(0 + 1, 1 + 300000) == 1 + 300000 - 30000, "5 min");
    /* 5 s: at least a second before. */
    UT_CHECK(oa_due_ms(10000, 15000) == 14000, "5 s: %lld", oa_due_ms(10000, 15000));
    /* 1 s: never before half its life. */
    UT_CHECK(oa_due_ms(10000, 11000) == 10500, "1 s: %lld", oa_due_ms(10000, 11000));
    UT_CHECK(oa_due_ms(0, 0) == 0, "unknown expiry is never due");
}

static pid_t ut_oauth_redis(ut_redis *r, char *url, size_t size)
{
    if (ut_redis_start(r, NULL))
        return -1;
    snprintf(url, size, "redis://127.0.0.1:%d/0", r->port);
    return r->pid;
}

UT_TEST(oauth_store_cas_only_for_the_lock_holder)
{
    ut_redis r;
    char url[64], errstr[256] = "";
    if (ut_oauth_redis(&r, url, sizeof(url)) < 0) {
        printf("    skipped: cannot start redis-server\n");
        return;
    }
    rs_store *rs = rs_open(url, "t1", errstr, sizeof(errstr));
    long long gen = 0;
    const char *f[2] = {"access_token", "expires_at"};
    const char *v1[2] = {"v1:AAAA", "100"};
    const char *v2[2] = {"v1:BBBB", "200"};
    /* No lock at all: refused, nothing written. */
    UT_CHECK(oa_store_cas(rs, "mystore", "tok-a", f, v1, 2, 1, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == -1,
             "written without the lock: %lld %s", gen, errstr);
    const char *lock_a[] = {"SET", "mosync:{t1}:lock:oauth:mystore", "tok-a", "PX", "60000", NULL};
    UT_CHECK(!ut_redis_cmd(&r, NULL, lock_a), "lock");
    /* Another token: refused. */
    UT_CHECK(oa_store_cas(rs, "mystore", "tok-b", f, v2, 2, 1, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == -1,
             "written by a process that does not hold the lock");
    /* The holder: written, generation 1, then 2. */
    UT_CHECK(oa_store_cas(rs, "mystore", "tok-a", f, v1, 2, 1, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == 1,
             "holder: %lld %s", gen, errstr);
    /* A refusal noted (no bump), then new tokens clear it. */
    const char *rf[1] = {"reconnect_since"};
    const char *rv[1] = {"2026-12-05T01:00:00Z"};
    UT_CHECK(oa_store_cas(rs, "mystore", "tok-a", rf, rv, 1, 0, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == 1,
             "no bump: %lld", gen);
    json_t *st = NULL;
    UT_CHECK(oa_status(rs, "mystore", &st, errstr, sizeof(errstr)) == MO_OK &&
                 json_is_string(json_object_get(st, "needs_reconnect_since")),
             "status shows the refusal");
    json_decref(st);
    UT_CHECK(oa_store_cas(rs, "mystore", "tok-a", f, v2, 2, 1, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == 2,
             "second write: %lld", gen);
    UT_CHECK(oa_status(rs, "mystore", &st, errstr, sizeof(errstr)) == MO_OK && st &&
                 !json_is_string(json_object_get(st, "needs_reconnect_since")) &&
                 json_integer_value(json_object_get(st, "generation")) == 2,
             "new tokens end the refusal");
    json_decref(st);
    /* The lock moves on (expired and taken by B): A's late write is refused,
     * B's value stays. */
    const char *lock_b[] = {"SET", "mosync:{t1}:lock:oauth:mystore", "tok-b", "PX", "60000", NULL};
    UT_CHECK(!ut_redis_cmd(&r, NULL, lock_b), "lock b");
    UT_CHECK(oa_store_cas(rs, "mystore", "tok-a", f, v1, 2, 1, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == -1,
             "a lost lock still wrote");
    json_t *vals = NULL;
    UT_CHECK(rs_hmget(rs, "oauth:mystore", f, 2, &vals, errstr, sizeof(errstr)) == MO_OK &&
                 !strcmp(json_string_value(json_array_get(vals, 0)), "v1:BBBB"),
             "the value changed");
    json_decref(vals);
    /* Another tenant's lock does not let anyone write this one. */
    rs_store *rs2 = rs_open(url, "t2", errstr, sizeof(errstr));
    UT_CHECK(oa_store_cas(rs2, "mystore", "tok-b", f, v1, 2, 1, &gen, errstr, sizeof(errstr)) ==
                     MO_OK &&
                 gen == -1,
             "t1's lock let t2 write");
    rs_close(rs2);
    rs_close(rs);
    ut_redis_stop(&r);
}

static char *ut_answer(const char *status, const char *body)
{
    size_t n = strlen(status) + strlen(body) + 128;
    char *a = malloc(n);
    snprintf(a, n, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             status, strlen(body), body);
    return a;
}

/* One session refreshes through the store, a second process's session uses
 * the stored token without a request, and a refused refresh token makes the
 * tenant need reconnect without further requests; a new refresh token in
 * the settings is tried again. */
UT_TEST(oauth_refresh_shared_and_needs_reconnect)
{
    ut_redis r;
    char url[64], errstr[512] = "", token_url[96], tok[4096], jwt[1024], body[2048];
    long long gen = 0, gen2 = 0;
    if (ut_oauth_redis(&r, url, sizeof(url)) < 0) {
        printf("    skipped: cannot start redis-server\n");
        return;
    }
    long long now = (long long)time(NULL);
    char payload[256];
    snprintf(payload, sizeof(payload), "{\"iat\":%lld,\"exp\":%lld}", now, now + 3600);
    ut_jwt(payload, jwt, sizeof(jwt));
    snprintf(body, sizeof(body),
             "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"%s\","
             "\"refresh_token\":\"rt-second-0123456789\"}",
             jwt);
    char *ok = ut_answer("200 OK", body);
    ut_http *srv = ut_http_start(ok);
    snprintf(token_url, sizeof(token_url), "http://127.0.0.1:%d/oauth/token", ut_http_port(srv));
    sb_key key;
    memset(&key, 7, sizeof(key));
    oa_settings set = {.tenant = "shop1",
                       .api = "mystore",
                       .token_url = token_url,
                       .client_id = "client-1",
                       .client_secret = "client-secret-0123456789",
                       .refresh_token = "rt-first-0123456789",
                       .key = &key,
                       .redis_url = url,
                       .http_timeout_ms = 5000};
    oa_session *a = oa_new(&set, errstr, sizeof(errstr));
    oa_session *b = oa_new(&set, errstr, sizeof(errstr));
    UT_CHECK(a && b, "%s", errstr);
    UT_CHECK(oa_token(a, tok, sizeof(tok), &gen, errstr, sizeof(errstr)) == MO_OK &&
                 !strcmp(tok, jwt) && gen == 1,
             "first token: %s", errstr);
    UT_CHECK(ut_http_requests(srv) == 1, "requests %d", ut_http_requests(srv));
    UT_CHECK(oa_token(b, tok, sizeof(tok), &gen2, errstr, sizeof(errstr)) == MO_OK &&
                 !strcmp(tok, jwt) && gen2 == 1,
             "the other process's token: %s", errstr);
    UT_CHECK(ut_http_requests(srv) == 1, "the second process refreshed too");
    /* Nothing in the store in clear text. */
    rs_store *rs = rs_open(url, "shop1", errstr, sizeof(errstr));
    const char *f[2] = {"access_token", "refresh_token"};
    json_t *vals = NULL;
    UT_CHECK(rs_hmget(rs, "oauth:mystore", f, 2, &vals, errstr, sizeof(errstr)) == MO_OK, "hmget");
    const char *sa = json_string_value(json_array_get(vals, 0));
    const char *sr = json_string_value(json_array_get(vals, 1));
    UT_CHECK(sa && sr && !strncmp(sa, "v1:", 3) && !ut_leaks(sa, jwt, 6) &&
                 !ut_leaks(sr, "rt-second-0123456789", 6),
             "stored in clear text");
    json_decref(vals);

    /* The token endpoint refuses: needs reconnect, one request only. */
    char *refused = ut_answer("400 Bad Request", "{\"error\":\"invalid_grant\","
                                                 "\"error_description\":\"The refresh token is "
                                                 "invalid.\"}");
    ut_http_set_response(srv, refused);
    /* The token expired by the clock: the API refused it. */
    const char *exp[] = {"HSET", "mosync:{shop1}:oauth:mystore", "expires_at", "1000", NULL};
    UT_CHECK(!ut_redis_cmd(&r, NULL, exp), "hset");
    /* (another process wrote it: the generation moves) */
    const char *bump[] = {"HINCRBY", "mosync:{shop1}:oauth:mystore", "generation", "1", NULL};
    UT_CHECK(!ut_redis_cmd(&r, NULL, bump), "hincrby");
    UT_CHECK(oa_token(a, tok, sizeof(tok), &gen, errstr, sizeof(errstr)) == MO_ERR_CREDENTIAL &&
                 strstr(errstr, "needs reconnect"),
             "refused refresh: %s", errstr);
    int n = ut_http_requests(srv);
    UT_CHECK(n == 2, "requests %d", n);
    for (int i = 0; i < 5; i++)
        UT_CHECK(oa_token(b, tok, sizeof(tok), &gen, errstr, sizeof(errstr)) == MO_ERR_CREDENTIAL,
                 "b: %s", errstr);
    UT_CHECK(ut_http_requests(srv) == n, "needs reconnect still asked the token endpoint");
    json_t *st = NULL;
    UT_CHECK(oa_status(rs, "mystore", &st, errstr, sizeof(errstr)) == MO_OK &&
                 json_is_string(json_object_get(st, "needs_reconnect_since")) &&
                 strstr(json_string_value(json_object_get(st, "reason")), "invalid_grant"),
             "status");
    json_decref(st);

    /* A new refresh token configured (a restart): tried, and it works. */
    ut_http_set_response(srv, ok);
    set.refresh_token = "rt-new-authorization-0123";
    oa_session *c = oa_new(&set, errstr, sizeof(errstr));
    UT_CHECK(oa_token(c, tok, sizeof(tok), &gen, errstr, sizeof(errstr)) == MO_OK && gen == 3,
             "new refresh token: %s (gen %lld)", errstr, gen);
    UT_CHECK(ut_http_requests(srv) == n + 1, "requests %d", ut_http_requests(srv));
    UT_CHECK(oa_token(a, tok, sizeof(tok), &gen, errstr, sizeof(errstr)) == MO_OK && gen == 3,
             "the old process picks the new chain up: %s", errstr);
    oa_free(a);
    oa_free(b);
    oa_free(c);
    rs_close(rs);
    ut_http_stop(srv);
    free(ok);
    free(refused);
    ut_redis_stop(&r);
}

/* A rotated token is forgotten by the log only once it is old: the list of
 * secrets does not grow with every refresh, and a removed secret's JSON
 * forms go with it. */
UT_TEST(oauth_log_forgets_a_removed_secret)
{
    char buf[128];
    lg_add_secret("rotated/token\"0123");
    snprintf(buf, sizeof(buf), "a rotated/token\"0123 and rotated\\/token\\\"0123");
    lg_mask_secrets(buf, sizeof(buf));
    UT_CHECK(!strstr(buf, "0123"), "not masked: %s", buf);
    lg_remove_secret("rotated/token\"0123");
    snprintf(buf, sizeof(buf), "a rotated/token\"0123 and rotated\\/token\\\"0123");
    lg_mask_secrets(buf, sizeof(buf));
    UT_CHECK(strstr(buf, "rotated/token\"0123") && strstr(buf, "rotated\\/token\\\"0123"),
             "still masked after removal: %s", buf);
    lg_remove_secret("never-registered-secret");
}

/* A configuration as `poll --all-tenants` loads one per tenant's cycle. */
static void ut_oauth_cfg(mo_config *cfg, const char *tenant, const char *refresh_token)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mystore_oauth = 1;
    snprintf(cfg->tenant, sizeof(cfg->tenant), "%s", tenant);
    snprintf(cfg->redis_url, sizeof(cfg->redis_url), "redis://127.0.0.1:1/0");
    snprintf(cfg->mystore_auth_url, sizeof(cfg->mystore_auth_url), "http://127.0.0.1:1/");
    snprintf(cfg->mystore_client_id, sizeof(cfg->mystore_client_id), "client-of-%s", tenant);
    snprintf(cfg->mystore_client_secret, sizeof(cfg->mystore_client_secret),
             "client-secret-0123456789");
    snprintf(cfg->mystore_refresh_token, sizeof(cfg->mystore_refresh_token), "%s", refresh_token);
    memset(&cfg->secret_key, 7, sizeof(cfg->secret_key));
    cfg->http_timeout_ms = 5000;
}

/* One process serving many tenants holds a session per tenant (one tenant's
 * token is never sent to another's shop), the same one at each cycle, and a
 * new one once the tenant's refresh token changed (`mosync tenant set`). */
UT_TEST(oauth_for_config_one_session_per_tenant)
{
    mo_config a1, b1, a2, plain;
    ut_oauth_cfg(&a1, "tenant-a", "rt-a-first-0123456789");
    ut_oauth_cfg(&b1, "tenant-b", "rt-b-first-0123456789");
    ut_oauth_cfg(&a2, "tenant-a", "rt-a-second-0123456789");
    memset(&plain, 0, sizeof(plain));
    oa_session *sa = oa_for_config(&a1), *sb = oa_for_config(&b1);
    UT_CHECK(sa && sb && sa != sb, "tenants a and b share a session");
    UT_CHECK(oa_for_config(&a1) == sa && oa_for_config(&b1) == sb,
             "a tenant's next cycle got another session");
    oa_session *sa2 = oa_for_config(&a2);
    UT_CHECK(sa2 && sa2 != sa, "a new refresh token kept the old session");
    UT_CHECK(oa_for_config(&a2) == sa2 && oa_for_config(&b1) == sb, "sessions after the change");
    UT_CHECK(oa_for_config(&plain) == NULL, "a session without an OAuth client");
}
