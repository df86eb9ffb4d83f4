/* SHA-256 (FIPS 180-4), for deterministic event ids and request hashes, and
 * HMAC-SHA256 (RFC 2104) with a constant-time compare, for signed webhooks. */
#ifndef MO_SHA256_H
#define MO_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
void sha256_final(sha256_ctx *ctx, uint8_t out[32]);
/* Hex digest of data into hex (65 bytes with the NUL). */
void sha256_hex(const void *data, size_t len, char hex[65]);

/* HMAC-SHA256 (RFC 2104) of msg (len bytes) keyed with key (key_len bytes,
 * any length: a key longer than the block is hashed first) into out. */
void sha256_hmac(const void *key, size_t key_len, const void *msg, size_t len, uint8_t out[32]);

/* 1 when a and b hold the same n bytes, else 0, in a time that depends on n
 * only, never on where they differ (a signature or token compared byte by
 * byte with an early exit tells an attacker how much of a guess was right). */
int sha256_ct_equal(const void *a, const void *b, size_t n);

#endif
