/* The log: secrets masked before anything is cut, longest first, without a
 * limit on their number; a secret too short to mask is refused; text that is
 * not UTF-8 is escaped, never dropped.  Regression tests of issue 6 items 12
 * and 17 (log side). */
#include "unit.h"
#include "ut_net.h"
#include "common/config.h"
#include "common/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "msg" of the one log line in text (malloc'd), or NULL when the line is
 * not a JSON object with a msg. */
static char *log_msg(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
    const char *m = json_string_value(json_object_get(o, "msg"));
    char *out = m ? strdup(m) : NULL;
    json_decref(o);
    return out;
}

UT_TEST(issue6_12_secret_masked_before_cut)
{
    static const char secret[] = "S3cr3t-Lq8Wz-0123456789-abcdefghij-KLMNOPQRST-uvwxyz-9876543210-"
                                 "Zz1Yy2Xx3Ww4Vv5Uu6";
    char filler[2001];
    memset(filler, 'x', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    lg_add_secret(secret);
    ut_capture_start(2);
    lg_error("test", NULL, "%s%s end", filler, secret);
    char *out = ut_capture_end(2);
    UT_CHECK(out && !ut_leaks(out, secret, 6), "a part of the secret was logged: %s",
             out ? out + (strlen(out) > 120 ? strlen(out) - 120 : 0) : "(nothing)");
    free(out);
}

UT_TEST(issue6_12_longer_secret_masked_first)
{
    static const char token[] = "tok-Q7vZ2mK9pL4x";
    static const char password[] = "pwpre-8HjK2tok-Q7vZ2mK9pL4x-pwpost-3NbV";
    lg_add_secret(token);
    lg_add_secret(password);
    ut_capture_start(2);
    lg_error("test", NULL, "login with %s failed", password);
    char *out = ut_capture_end(2);
    UT_CHECK(out && !ut_leaks(out, password, 6), "a part of the password was logged: %s",
             out ? out : "(nothing)");
    free(out);
}

UT_TEST(issue6_12_no_limit_of_16_secrets)
{
    char secrets[40][32];
    for (int i = 0; i < 40; i++) {
        snprintf(secrets[i], sizeof(secrets[i]), "many-secret-%02d-Zq81x", i);
        lg_add_secret(secrets[i]);
    }
    for (int i = 0; i < 40; i++) {
        ut_capture_start(2);
        lg_error("test", NULL, "value %s", secrets[i]);
        char *out = ut_capture_end(2);
        UT_CHECK(out && !strstr(out, secrets[i]), "secret %d of 40 logged: %s", i + 1,
                 out ? out : "(nothing)");
        free(out);
    }
}

/* A one-letter password turned "group" into "grou*": a secret that short is
 * not registered (configuration refuses it, see below), so words stay. */
UT_TEST(issue6_12_short_secret_does_not_blank_words)
{
    lg_add_secret("p");
    ut_capture_start(2);
    lg_error("test", NULL, "group policy applied");
    char *out = ut_capture_end(2);
    char *msg = out ? log_msg(out) : NULL;
    UT_CHECK(msg && !strcmp(msg, "group policy applied"), "message became '%s'",
             msg ? msg : "(not a log line)");
    free(msg);
    free(out);
}

UT_TEST(issue6_12_short_secret_refused_at_start)
{
    static const char *const vars[] = {"ONGOING_PASSWORD", "MYSTORE_TOKEN"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        mo_config cfg;
        char errstr[256] = "";
        setenv(vars[i], "abc", 1);
        mo_err err = cfg_load(&cfg, 0, errstr, sizeof(errstr));
        unsetenv(vars[i]);
        if (!err)
            cfg_free(&cfg);
        UT_CHECK(err == MO_ERR_CONFIG && strstr(errstr, vars[i]),
                 "%s=abc (too short to mask) accepted: '%s'", vars[i], errstr);
        UT_CHECK(!strstr(errstr, "abc"), "the refusal prints the secret: '%s'", errstr);
    }
}

UT_TEST(issue6_17_log_line_with_invalid_utf8_is_escaped)
{
    ut_capture_start(2);
    lg_error("test", NULL, "bad \xff\xfe byte in %s", "k\xc3");
    char *out = ut_capture_end(2);
    char *msg = out ? log_msg(out) : NULL;
    UT_CHECK(msg && !strcmp(msg, "bad \\xff\\xfe byte in k\\xc3"), "logged as '%s' (line %s)",
             msg ? msg : "(not a log line)", out ? out : "");
    free(msg);
    free(out);
}

UT_TEST(issue6_17_log_cut_at_character_boundary)
{
    char text[4100];
    size_t n = 0;
    /* "æ" (2 bytes) repeated with an odd offset, so a byte cut anywhere near
     * the limit splits one. */
    text[n++] = 'x';
    text[n++] = 'x';
    while (n + 2 < sizeof(text)) {
        text[n++] = '\xc3';
        text[n++] = '\xa6';
    }
    text[n] = '\0';
    ut_capture_start(2);
    lg_error("test", NULL, "%s", text);
    char *out = ut_capture_end(2);
    char *msg = out ? log_msg(out) : NULL;
    UT_CHECK(msg && !strncmp(msg, "xx\xc3\xa6\xc3\xa6", 6) && strlen(msg) > 1000,
             "long message logged as '%.60s'", msg ? msg : "(not a log line)");
    free(msg);
    free(out);
}
