/* Secrets encrypted at rest (the OAuth token store, later the tenant
 * registry): AES-256-GCM (OpenSSL libcrypto, the EVP API), a random 96-bit
 * nonce per value, and a context string as associated data, so a value
 * sealed for one tenant and field cannot be moved to another: opening it
 * there fails like a forgery.
 *
 * A sealed value is text: "v1:" followed by base64(nonce | ciphertext | tag),
 * 12 + n + 16 bytes.  The key is 32 bytes, given in MOSYNC_SECRET_KEY (or the
 * file MOSYNC_SECRET_KEY_FILE names) as base64 (44 characters with padding)
 * or 64 hex digits.  Nothing here ever prints a key or a plaintext. */
#ifndef MO_SECRETBOX_H
#define MO_SECRETBOX_H

#include "err.h"

#include <stddef.h>

#define SB_KEY_LEN   32
#define SB_NONCE_LEN 12
#define SB_TAG_LEN   16
/* The largest plaintext sealed or opened (a token, a client secret). */
#define SB_MAX_PLAIN 8192

typedef struct sb_key {
    unsigned char bytes[SB_KEY_LEN];
} sb_key;

/* Parses text (base64 of 32 bytes, standard or URL alphabet, padding
 * optional; or 64 hex digits) into *key.  MO_ERR_CONFIG naming `var` and
 * saying what is wrong (never quoting the text).  Pure. */
mo_err sb_key_parse(const char *var, const char *text, sb_key *key, char *errstr,
                    size_t errstr_size);

/* Seals plain (len bytes, <= SB_MAX_PLAIN) with context (NUL-terminated,
 * e.g. "mosync:{shop1}:oauth:mystore:refresh_token") as associated data.
 * *out (malloc'd, free it) is the "v1:..." text.  MO_ERR_NOMEM, or
 * MO_ERR_TOO_LARGE for a plaintext over the cap; MO_ERR_TRANSIENT when the
 * kernel gave no random nonce. */
mo_err sb_seal(const sb_key *key, const char *context, const void *plain, size_t len, char **out,
               char *errstr, size_t errstr_size);

/* Opens a sealed text.  *out (malloc'd, NUL-terminated, free it; its bytes
 * are wiped by sb_free) and *len.  MO_ERR_INVALID when the text is not a
 * v1 value, or when it does not authenticate (a changed byte, another
 * context, another key): the message says which, never the plaintext. */
mo_err sb_open(const sb_key *key, const char *context, const char *sealed, char **out, size_t *len,
               char *errstr, size_t errstr_size);

/* Wipes and frees a plaintext sb_open returned (NULL is fine). */
void sb_free(char *plain);

#endif
