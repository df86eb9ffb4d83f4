/* OAuth 2.0 access tokens for an API (Mystore), refreshed and shared by
 * every process of a tenant through a token store in Redis.
 *
 * The store is the hash mosync:{T}:oauth:<api> (<api> is "mystore"):
 *   access_token, refresh_token  sealed with secretbox.h, the associated data
 *                                "mosync:{T}:oauth:<api>:<field>", so a value
 *                                cannot be moved to another tenant or field
 *   expires_at, issued_at        the access token's exp and iat (UTC ms; 0:
 *                                unknown), from its JWT claims or expires_in
 *   generation                   +1 at every write of new tokens
 *   updated_at                   ISO 8601 UTC of that write
 *   reconnect_since, reconnect_reason, reconnect_fp
 *                                present while the refresh token is refused
 *                                ("needs reconnect"); reconnect_fp is the
 *                                SHA-256 of the client and refresh token
 *                                configured when it was refused
 * It is the one record in Redis that is not a cache: refresh tokens rotate
 * (a refresh spends the old one), so the newest one exists nowhere else.
 * Without the record the chain starts again from the configured refresh
 * token (MYSTORE_REFRESH_TOKEN), which a first refresh has usually spent.
 *
 * One process of a tenant refreshes at a time: it holds the lock
 * mosync:{T}:lock:oauth:<api> (SET NX PX, a random token), and writes the new
 * tokens with a Lua script that checks it still holds the lock and writes
 * the hash in one step.  The others wait (OA_WAIT_MS at most) for the
 * generation to change and use the new token.
 *
 * These functions take a tenant's settings, never the process's
 * configuration, so one process can hold the sessions of many tenants. */
#ifndef MO_OAUTH_H
#define MO_OAUTH_H

#include "config.h"
#include "err.h"
#include "secretbox.h"
#include "store.h"

#include <jansson.h>

#define OA_LOCK_TTL_MS   60000 /* a refresh (3 attempts of 15 s at most) ends within it */
#define OA_WAIT_MS       30000 /* the longest wait for another process's refresh */
#define OA_ATTEMPTS      3     /* token endpoint attempts for transient failures */
#define OA_ATTEMPT_MS    15000 /* one attempt's timeout at most */
#define OA_MARGIN_MAX_MS 60000 /* refresh at most this long before expiry */
#define OA_MARGIN_MIN_MS 1000  /* and at least this long */

/* One tenant's client settings (all borrowed for oa_new, which copies). */
typedef struct oa_settings {
    const char *tenant;        /* the keys' {T} */
    const char *api;           /* "mystore": the hash's and the metrics' name */
    const char *token_url;     /* {MYSTORE_AUTH_URL}/oauth/token */
    const char *client_id;     /* MYSTORE_CLIENT_ID */
    const char *client_secret; /* MYSTORE_CLIENT_SECRET */
    const char *refresh_token; /* MYSTORE_REFRESH_TOKEN: the chain's start */
    const char *initial_token; /* MYSTORE_TOKEN: a first access token, "" or NULL: none */
    const sb_key *key;         /* MOSYNC_SECRET_KEY */
    const char *redis_url;
    int http_timeout_ms;
} oa_settings;

typedef struct oa_session oa_session;

/* A session (thread-safe: its threads share one cached token and one Redis
 * connection under a mutex).  NULL with errstr on a bad Redis URL or out of
 * memory.  Free with oa_free. */
oa_session *oa_new(const oa_settings *s, char *errstr, size_t errstr_size);
void oa_free(oa_session *s);

/* The process's session of cfg's tenant, made on first use and kept for the
 * process's life: one per tenant (a process of `poll --all-tenants` serves
 * many), made again when the tenant's client, refresh token, first access
 * token or key changed.  NULL when cfg has no OAuth client (then
 * MYSTORE_TOKEN is used as it is). */
oa_session *oa_for_config(const mo_config *cfg);

/* The access token to send now into buf (size >= 4096) and its generation:
 * the cached one while the store's generation is unchanged and it is not
 * due (oa_due_ms), else the store's, else a refresh.  MO_ERR_CREDENTIAL
 * while the tenant needs reconnect (the message says since when and what to
 * set; no request is made), MO_ERR_TRANSIENT when Redis or the token
 * endpoint is away or another process's refresh took longer than
 * OA_WAIT_MS. */
mo_err oa_token(oa_session *s, char *buf, size_t size, long long *generation, char *errstr,
                size_t errstr_size);

/* The API refused the access token of `generation` (401/403); detail (may
 * be NULL) is the answer's error detail.  Returns 1 when a newer token is
 * ready to try: another process's (also one that appears within 2 s, as a
 * server that revokes the old token on refresh makes it), or a refresh made
 * now because the token expired by the clock (or within its margin), its
 * expiry is unknown, or the detail says "expired" (the server's clock may
 * be ahead; believed once, not again for the token it brought).  0 when the
 * refusal stands. */
int oa_refused(oa_session *s, long long generation, const char *detail);

/* When a token issued at iat_ms expiring at exp_ms (UTC ms) is due for a
 * refresh: exp minus a tenth of its life, at least OA_MARGIN_MIN_MS and at
 * most OA_MARGIN_MAX_MS before it (and never before half its life).  0 when
 * exp_ms is 0 (unknown: used until refused).  Pure. */
long long oa_due_ms(long long iat_ms, long long exp_ms);

/* The compare-and-set of the store: while mosync:{T}:lock:oauth:<api> holds
 * lock_token, sets fields[i] = values[i] (i < n) of mosync:{T}:oauth:<api>,
 * adds 1 to its generation when bump (new tokens) and then deletes the
 * reconnect_* fields, all in one Lua script.  *generation: the generation
 * afterwards, or -1 when the lock was not held (nothing written). */
mo_err oa_store_cas(rs_store *rs, const char *api, const char *lock_token,
                    const char *const *fields, const char *const *values, int n, int bump,
                    long long *generation, char *errstr, size_t errstr_size);

/* The store's state for `mosync status`: *out (new reference) is
 * {"generation", "access_expires_at", "updated_at", "needs_reconnect_since",
 * "reason"} (absent members null), or NULL when there is no record. */
mo_err oa_status(rs_store *rs, const char *api, json_t **out, char *errstr, size_t errstr_size);

#endif
