/* common/secretbox: AES-256-GCM values that open only with their key and
 * context, and keys accepted only in the two documented spellings. */
#include "unit.h"
#include "common/secretbox.h"

#include <stdlib.h>
#include <string.h>

/* 32 bytes 0x00..0x1f, in both spellings. */
static const char ut_hex_key[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char ut_b64_key[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static sb_key ut_key(const char *text)
{
    sb_key k;
    char errstr[256];
    UT_CHECK(sb_key_parse("MOSYNC_SECRET_KEY", text, &k, errstr, sizeof(errstr)) == MO_OK, "%s",
             errstr);
    return k;
}

/* Opens sealed and says whether it opened to plain. */
static int ut_opens(const sb_key *k, const char *context, const char *sealed, const char *plain)
{
    char *out = NULL, errstr[256];
    size_t len;
    mo_err err = sb_open(k, context, sealed, &out, &len, errstr, sizeof(errstr));
    int ok = err == MO_OK && out && len == strlen(plain) && !memcmp(out, plain, len);
    sb_free(out);
    return ok;
}

/* Decodes the base64 body of a sealed value (standard alphabet). */
static size_t ut_unb64(const char *s, unsigned char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *s && *s != '='; s++) {
        acc = (acc << 6) | (unsigned)(strchr(tab, *s) - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

/* Base64 of n bytes as "v1:..." (the sealed form). */
static char *ut_reseal_text(const unsigned char *bytes, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 + (n + 2) / 3 * 4 + 1);
    size_t o = 0;
    out[o++] = 'v', out[o++] = '1', out[o++] = ':';
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)bytes[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)bytes[i + 1] << 8;
        if (i + 2 < n)
            v |= bytes[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

UT_TEST(secretbox_round_trip)
{
    sb_key hex = ut_key(ut_hex_key), b64 = ut_key(ut_b64_key);
    UT_CHECK(!memcmp(hex.bytes, b64.bytes, SB_KEY_LEN), "hex and base64 spell one key");
    const char *plains[] = {"", "x", "a-refresh-token-def50200aa", NULL};
    for (int i = 0; plains[i]; i++) {
        char *a = NULL, *b = NULL, errstr[256];
        const char *ctx = "mosync:{shop1}:oauth:mystore:refresh_token";
        UT_CHECK(sb_seal(&hex, ctx, plains[i], strlen(plains[i]), &a, errstr, sizeof(errstr)) ==
                     MO_OK,
                 "%s", errstr);
        UT_CHECK(sb_seal(&hex, ctx, plains[i], strlen(plains[i]), &b, errstr, sizeof(errstr)) ==
                     MO_OK,
                 "%s", errstr);
        UT_CHECK(a && !strncmp(a, "v1:", 3), "form: %s", a ? a : "(null)");
        UT_CHECK(a && b && strcmp(a, b), "two seals of one value share a nonce");
        UT_CHECK(strlen(plains[i]) < 6 || (a && !strstr(a, plains[i])), "plaintext visible");
        UT_CHECK(a && ut_opens(&b64, ctx, a, plains[i]), "does not open: '%s'", plains[i]);
        free(a);
        free(b);
    }
    /* The cap. */
    char *big = calloc(1, SB_MAX_PLAIN + 2), *out = NULL, errstr[256];
    memset(big, 'a', SB_MAX_PLAIN + 1);
    UT_CHECK(sb_seal(&hex, "c", big, SB_MAX_PLAIN + 1, &out, errstr, sizeof(errstr)) ==
                 MO_ERR_TOO_LARGE,
             "over the cap sealed");
    UT_CHECK(sb_seal(&hex, "c", big, SB_MAX_PLAIN, &out, errstr, sizeof(errstr)) == MO_OK, "%s",
             errstr);
    UT_CHECK(out && ut_opens(&hex, "c", out, big + 1), "the largest does not open");
    free(out);
    free(big);
}

UT_TEST(secretbox_tampering_refused)
{
    sb_key k = ut_key(ut_hex_key);
    const char *ctx = "mosync:{shop1}:oauth:mystore:access_token";
    const char *plain = "eyJhbGciOiJSUzI1NiJ9.payload.sig";
    char *sealed = NULL, errstr[256];
    UT_CHECK(sb_seal(&k, ctx, plain, strlen(plain), &sealed, errstr, sizeof(errstr)) == MO_OK, "%s",
             errstr);
    if (!sealed)
        return;
    unsigned char raw[256];
    size_t n = ut_unb64(sealed + 3, raw);
    UT_CHECK(n == SB_NONCE_LEN + strlen(plain) + SB_TAG_LEN, "length %zu", n);
    /* One flipped bit in the nonce, in the ciphertext, in the tag. */
    size_t where[] = {0, SB_NONCE_LEN - 1, SB_NONCE_LEN, SB_NONCE_LEN + 5, n - SB_TAG_LEN, n - 1};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        raw[where[i]] ^= 0x01;
        char *t = ut_reseal_text(raw, n);
        UT_CHECK(!ut_opens(&k, ctx, t, plain), "byte %zu changed and still opened", where[i]);
        free(t);
        raw[where[i]] ^= 0x01;
    }
    char *same = ut_reseal_text(raw, n);
    UT_CHECK(ut_opens(&k, ctx, same, plain), "the untouched copy must open");
    free(same);
    /* Cut short, the tag dropped, garbage, another version. */
    char *cut = ut_reseal_text(raw, n - SB_TAG_LEN);
    UT_CHECK(!ut_opens(&k, ctx, cut, plain), "a value without its tag opened");
    free(cut);
    UT_CHECK(!ut_opens(&k, ctx, "v1:!!!!", plain), "garbage opened");
    UT_CHECK(!ut_opens(&k, ctx, "v1:", plain), "empty opened");
    UT_CHECK(!ut_opens(&k, ctx, sealed + 3, plain), "no prefix opened");
    char v2[512];
    snprintf(v2, sizeof(v2), "v2:%s", sealed + 3);
    UT_CHECK(!ut_opens(&k, ctx, v2, plain), "v2 opened");
    /* Another context: another tenant, another field. */
    UT_CHECK(!ut_opens(&k, "mosync:{shop2}:oauth:mystore:access_token", sealed, plain),
             "moved to another tenant and opened");
    UT_CHECK(!ut_opens(&k, "mosync:{shop1}:oauth:mystore:refresh_token", sealed, plain),
             "moved to another field and opened");
    /* Another key. */
    sb_key other = k;
    other.bytes[31] ^= 0x80;
    UT_CHECK(!ut_opens(&other, ctx, sealed, plain), "opened with another key");
    /* Error texts never show the plaintext. */
    char *out = NULL;
    size_t len;
    sb_open(&other, ctx, sealed, &out, &len, errstr, sizeof(errstr));
    UT_CHECK(!out && !strstr(errstr, "payload"), "%s", errstr);
    free(sealed);
}

UT_TEST(secretbox_bad_keys_refused)
{
    const char *bad[] = {
        "",
        "tooshort",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",                           /* 30 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==",                   /* 34 bytes */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",     /* 62 hex */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fzz", /* not hex */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=  ",                     /* spaces */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=",                       /* bad char */
        "correct horse battery staple correct horse battery staple 12345678", /* a password */
        NULL};
    for (int i = 0; bad[i]; i++) {
        sb_key k;
        char errstr[256] = "";
        mo_err err = sb_key_parse("MOSYNC_SECRET_KEY", bad[i], &k, errstr, sizeof(errstr));
        UT_CHECK(err == MO_ERR_CONFIG, "key %d accepted", i);
        UT_CHECK(strstr(errstr, "MOSYNC_SECRET_KEY") != NULL, "does not name the variable: %s",
                 errstr);
        UT_CHECK(!*bad[i] || !strstr(errstr, bad[i]), "quotes the value: %s", errstr);
    }
    sb_key k;
    char errstr[256];
    UT_CHECK(sb_key_parse("K", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &k, errstr,
                          sizeof(errstr)) == MO_OK,
             "unpadded base64 refused: %s", errstr);
    UT_CHECK(sb_key_parse("K", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &k, errstr,
                          sizeof(errstr)) == MO_OK &&
                 k.bytes[31] == 0x1f,
             "%s", errstr);
}
