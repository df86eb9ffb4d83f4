/* AES-256-GCM secret boxes (see secretbox.h). */
#include "secretbox.h"
#include "b64.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char sb_prefix[] = "v1:";

/* The value of one base64 character (either alphabet), -1 for others. */
static int sb_b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes base64 (len chars, padding optional and only at the end) into
 * out (size bytes); the decoded length, or -1 when the text is not base64 or
 * does not fit. */
static long sb_b64_decode(const char *text, size_t len, unsigned char *out, size_t size)
{
    unsigned int acc = 0;
    int bits = 0;
    size_t n = 0, pad = 0;
    while (len && text[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if ((len + pad) % 4 && pad)
        return -1;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = sb_b64_value((unsigned char)text[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= size)
                return -1;
            out[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits must be zero, or two texts would name one key. */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return (long)n;
}

mo_err sb_key_parse(const char *var, const char *text, sb_key *key, char *errstr,
                    size_t errstr_size)
{
    size_t len = text ? strlen(text) : 0;
    memset(key, 0, sizeof(*key));
    if (!len)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s is not set", var);
    if (len == 2 * SB_KEY_LEN) {
        int hex = 1;
        for (size_t i = 0; i < len && hex; i++)
            hex = isxdigit((unsigned char)text[i]) != 0;
        if (hex) {
            for (size_t i = 0; i < SB_KEY_LEN; i++) {
                unsigned int b;
                sscanf(text + 2 * i, "%2x", &b);
                key->bytes[i] = (unsigned char)b;
            }
            return MO_OK;
        }
    }
    unsigned char buf[SB_KEY_LEN + 3];
    long n = sb_b64_decode(text, len, buf, sizeof(buf));
    if (n != SB_KEY_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s must be 32 random bytes as base64 (44 characters, e.g. `openssl rand "
                         "-base64 32`) or as 64 hex digits; %s",
                         var,
                         n < 0 ? "the value is neither" : "the value decodes to another length");
    }
    memcpy(key->bytes, buf, SB_KEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return MO_OK;
}

mo_err sb_seal(const sb_key *key, const char *context, const void *plain, size_t len, char **out,
               char *errstr, size_t errstr_size)
{
    unsigned char *buf = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    mo_err err = MO_OK;
    int n = 0, fin = 0;
    *out = NULL;
    if (len > SB_MAX_PLAIN)
        return mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size,
                         "secret of %zu bytes is over the %d-byte cap", len, SB_MAX_PLAIN);
    size_t total = SB_NONCE_LEN + len + SB_TAG_LEN;
    buf = malloc(total);
    ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    if (getrandom(buf, SB_NONCE_LEN, 0) != SB_NONCE_LEN) {
        err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "no random nonce from the kernel");
        goto out;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SB_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key->bytes, buf) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)context, (int)strlen(context)) !=
            1 ||
        EVP_EncryptUpdate(ctx, buf + SB_NONCE_LEN, &n, plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, buf + SB_NONCE_LEN + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SB_TAG_LEN, buf + SB_NONCE_LEN + len) != 1) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "AES-256-GCM encryption failed");
        goto out;
    }
    char *b = b64_encode(buf, total);
    if (!b) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    size_t blen = strlen(b);
    *out = malloc(sizeof(sb_prefix) + blen);
    if (*out) {
        memcpy(*out, sb_prefix, sizeof(sb_prefix) - 1);
        memcpy(*out + sizeof(sb_prefix) - 1, b, blen + 1);
    } else {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    free(b);
out:
    EVP_CIPHER_CTX_free(ctx);
    if (buf)
        OPENSSL_cleanse(buf, total);
    free(buf);
    return err;
}

mo_err sb_open(const sb_key *key, const char *context, const char *sealed, char **out, size_t *len,
               char *errstr, size_t errstr_size)
{
    unsigned char *buf = NULL;
    char *plain = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    mo_err err = MO_OK;
    int n = 0, fin = 0;
    *out = NULL;
    *len = 0;
    size_t slen = sealed ? strlen(sealed) : 0;
    if (slen < sizeof(sb_prefix) - 1 || memcmp(sealed, sb_prefix, sizeof(sb_prefix) - 1))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "not a sealed value (it must start with v1:)");
    const char *b = sealed + sizeof(sb_prefix) - 1;
    size_t blen = slen - (sizeof(sb_prefix) - 1);
    size_t cap = blen / 4 * 3 + 3;
    if (cap > SB_NONCE_LEN + SB_MAX_PLAIN + SB_TAG_LEN + 3)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "sealed value too long");
    buf = malloc(cap);
    ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    long total = sb_b64_decode(b, blen, buf, cap);
    if (total < SB_NONCE_LEN + SB_TAG_LEN) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                        "sealed value is not base64 of nonce, ciphertext and tag");
        goto out;
    }
    size_t clen = (size_t)total - SB_NONCE_LEN - SB_TAG_LEN;
    plain = malloc(clen + 1);
    if (!plain) {
        err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SB_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key->bytes, buf) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)context, (int)strlen(context)) !=
            1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, buf + SB_NONCE_LEN, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SB_TAG_LEN, buf + SB_NONCE_LEN + clen) !=
            1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &fin) != 1) {
        err = mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                        "sealed value does not authenticate (another key or context, or "
                        "changed)");
        goto out;
    }
    plain[clen] = '\0';
    *out = plain;
    *len = clen;
    plain = NULL;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (buf)
        OPENSSL_cleanse(buf, cap);
    free(buf);
    if (plain) {
        OPENSSL_cleanse(plain, clen + 1);
        free(plain);
    }
    return err;
}

void sb_free(char *plain)
{
    if (!plain)
        return;
    OPENSSL_cleanse(plain, strlen(plain));
    free(plain);
}
