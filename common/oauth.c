/* OAuth access tokens refreshed through a shared token store (see oauth.h). */
#include "oauth.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"
#include "stop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define OA_TOKEN_MAX 4096 /* an access or refresh token, as MYSTORE_TOKEN */
/* The rotating tokens kept registered with the log: the last three
 * generations' access and refresh tokens (a request in flight may still
 * echo one); older ones are forgotten, so the list does not grow with every
 * refresh. */
#define OA_SECRETS 6

struct oa_session {
    pthread_mutex_t mu;
    char tenant[65], api[32];
    char *token_url, *client_id, *client_secret, *refresh_token, *initial_token;
    sb_key key;
    char settings_fp[65]; /* SHA-256 of client id, secret and refresh token */
    rs_store *rs;
    hc_client *hc;
    /* The cached access token and what the store said of it. */
    char access[OA_TOKEN_MAX];
    long long gen, iat_ms, exp_ms;
    long long unknown_refreshed_gen; /* a token of unknown expiry refreshed after a refusal */
    long long forced_gen;      /* the token a refusal saying "expired" made: not forced twice */
    char *secrets[OA_SECRETS]; /* registered with the log, oldest first (see OA_SECRETS) */
    pthread_mutex_t secrets_mu;
    /* In the process's list (oa_for_config), under its mutex: */
    struct oa_session *next;
    int retired; /* replaced by a session of the tenant's new settings */
};

/* Registers token with the log, forgetting the oldest one registered here
 * past OA_SECRETS.  The configured tokens are not among them: they stay. */
static void oa_secret(oa_session *s, const char *token)
{
    pthread_mutex_lock(&s->secrets_mu);
    for (int i = 0; i < OA_SECRETS; i++)
        if (s->secrets[i] && !strcmp(s->secrets[i], token)) {
            pthread_mutex_unlock(&s->secrets_mu);
            return;
        }
    if (lg_add_secret(token)) {
        pthread_mutex_unlock(&s->secrets_mu);
        return;
    }
    char *old = s->secrets[0];
    memmove(s->secrets, s->secrets + 1, (OA_SECRETS - 1) * sizeof(*s->secrets));
    s->secrets[OA_SECRETS - 1] = strdup(token);
    if (old && strcmp(old, s->refresh_token) && strcmp(old, s->initial_token))
        lg_remove_secret(old);
    free(old);
    pthread_mutex_unlock(&s->secrets_mu);
}

/* The store's record as read. */
typedef struct oa_record {
    int present;
    long long gen, exp_ms, iat_ms;
    char *access_sealed, *refresh_sealed;
    char reconnect_since[40], reconnect_fp[65], reconnect_reason[256];
} oa_record;

static const char *const oa_fields[] = {"generation",   "access_token",     "refresh_token",
                                        "expires_at",   "issued_at",        "reconnect_since",
                                        "reconnect_fp", "reconnect_reason", "updated_at"};
#define OA_NFIELDS (int)(sizeof(oa_fields) / sizeof(oa_fields[0]))

/* KEYS[1] the hash, KEYS[2] the lock; ARGV[1] the lock token, ARGV[2] "1"
 * to add to the generation, then field, value pairs.  HSET one field at a
 * time: Redis before 4.0 has no variadic HSET. */
static const char oa_cas_lua[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end\n"
    "for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "if ARGV[2] == '1' then\n"
    "  redis.call('HDEL', KEYS[1], 'reconnect_since', 'reconnect_fp', 'reconnect_reason')\n"
    "  return redis.call('HINCRBY', KEYS[1], 'generation', 1)\n"
    "end\n"
    "return tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')\n";

static long long oa_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void oa_iso(long long ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

long long oa_due_ms(long long iat_ms, long long exp_ms)
{
    if (exp_ms <= 0)
        return 0;
    long long life = iat_ms > 0 && iat_ms < exp_ms ? exp_ms - iat_ms : 0;
    long long margin = life / 10;
    if (margin < OA_MARGIN_MIN_MS)
        margin = OA_MARGIN_MIN_MS;
    if (margin > OA_MARGIN_MAX_MS)
        margin = OA_MARGIN_MAX_MS;
    if (life && margin > life / 2)
        margin = life / 2;
    return exp_ms - margin;
}

static char *oa_strdup(const char *s)
{
    return strdup(s ? s : "");
}

oa_session *oa_new(const oa_settings *set, char *errstr, size_t errstr_size)
{
    oa_session *s = calloc(1, sizeof(*s));
    if (!s) {
        mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->secrets_mu, NULL);
    snprintf(s->tenant, sizeof(s->tenant), "%s", set->tenant);
    snprintf(s->api, sizeof(s->api), "%s", set->api);
    s->token_url = oa_strdup(set->token_url);
    s->client_id = oa_strdup(set->client_id);
    s->client_secret = oa_strdup(set->client_secret);
    s->refresh_token = oa_strdup(set->refresh_token);
    s->initial_token = oa_strdup(set->initial_token);
    s->key = *set->key;
    char auth_api[48];
    snprintf(auth_api, sizeof(auth_api), "%s-auth", set->api);
    hc_opts opts = {.accept = "application/json",
                    .total_timeout_ms =
                        set->http_timeout_ms < OA_ATTEMPT_MS ? set->http_timeout_ms : OA_ATTEMPT_MS,
                    .max_body = 256 * 1024,
                    .api = auth_api,
                    .tenant = set->tenant};
    s->hc = hc_new(&opts);
    s->rs = rs_open(set->redis_url, set->tenant, errstr, errstr_size);
    if (!s->token_url || !s->client_id || !s->client_secret || !s->refresh_token ||
        !s->initial_token || !s->hc || !s->rs) {
        if (s->hc && s->rs)
            mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        oa_free(s);
        return NULL;
    }
    /* What "the configured chain start" is: a refusal is remembered with it,
     * and a new one (another refresh token or client) is tried again. */
    sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    sha256_update(&c, s->client_id, strlen(s->client_id) + 1);
    sha256_update(&c, s->client_secret, strlen(s->client_secret) + 1);
    sha256_update(&c, s->refresh_token, strlen(s->refresh_token));
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++)
        snprintf(s->settings_fp + 2 * i, 3, "%02x", d[i]);
    return s;
}

void oa_free(oa_session *s)
{
    if (!s)
        return;
    free(s->token_url);
    free(s->client_id);
    if (s->client_secret)
        memset(s->client_secret, 0, strlen(s->client_secret));
    free(s->client_secret);
    if (s->refresh_token)
        memset(s->refresh_token, 0, strlen(s->refresh_token));
    free(s->refresh_token);
    free(s->initial_token);
    hc_free(s->hc);
    rs_close(s->rs);
    for (int i = 0; i < OA_SECRETS; i++)
        free(s->secrets[i]); /* still masked: a line written late must not show them */
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->secrets_mu);
    memset(s->access, 0, sizeof(s->access));
    free(s);
}

/* The process's sessions, one per tenant: `mosync poll <stream>
 * --all-tenants` serves many tenants from one process, each with its own
 * client and chain.  A tenant whose client settings changed (`mosync tenant
 * set T` with a new MYSTORE_REFRESH_TOKEN) gets a new session; the one it
 * replaces is kept, not freed, since a client made before the change may
 * still borrow it (one per change, for the process's life). */
static pthread_mutex_t oa_sessions_mu = PTHREAD_MUTEX_INITIALIZER;
static oa_session *oa_sessions; /* newest first; linked by next */

/* Does session s use the settings set (the client, its chain's start, the
 * key)? */
static int oa_same_settings(const oa_session *s, const oa_settings *set)
{
    return !strcmp(s->tenant, set->tenant) && !strcmp(s->token_url, set->token_url) &&
           !strcmp(s->client_id, set->client_id) && !strcmp(s->client_secret, set->client_secret) &&
           !strcmp(s->refresh_token, set->refresh_token) &&
           !strcmp(s->initial_token, set->initial_token ? set->initial_token : "") &&
           !memcmp(&s->key, set->key, sizeof(s->key));
}

oa_session *oa_for_config(const mo_config *cfg)
{
    char url[600], errstr[256];
    if (!cfg->mystore_oauth)
        return NULL;
    size_t n = strlen(cfg->mystore_auth_url);
    snprintf(url, sizeof(url), "%.*s/oauth/token",
             (int)(n && cfg->mystore_auth_url[n - 1] == '/' ? n - 1 : n), cfg->mystore_auth_url);
    oa_settings set = {.tenant = cfg->tenant,
                       .api = "mystore",
                       .token_url = url,
                       .client_id = cfg->mystore_client_id,
                       .client_secret = cfg->mystore_client_secret,
                       .refresh_token = cfg->mystore_refresh_token,
                       .initial_token = cfg->mystore_token,
                       .key = &cfg->secret_key,
                       .redis_url = cfg->redis_url,
                       .http_timeout_ms = cfg->http_timeout_ms};
    pthread_mutex_lock(&oa_sessions_mu);
    oa_session *s = oa_sessions;
    while (s && (s->retired || strcmp(s->tenant, cfg->tenant)))
        s = s->next;
    if (s && !oa_same_settings(s, &set)) {
        s->retired = 1;
        s = NULL;
    }
    if (!s) {
        s = oa_new(&set, errstr, sizeof(errstr));
        if (s) {
            s->next = oa_sessions;
            oa_sessions = s;
        } else {
            lg_error("oauth", cfg->tenant, "no OAuth session: %s", errstr);
        }
    }
    pthread_mutex_unlock(&oa_sessions_mu);
    return s;
}

/* ---- the store ------------------------------------------------------------ */

static const char *oa_suffix(const char *api, char *buf, size_t size)
{
    snprintf(buf, size, "oauth:%s", api);
    return buf;
}

/* The associated data of field: "mosync:{T}:oauth:<api>:<field>". */
static const char *oa_context(const oa_session *s, const char *field, char *buf, size_t size)
{
    snprintf(buf, size, "mosync:{%s}:oauth:%s:%s", s->tenant, s->api, field);
    return buf;
}

static void oa_record_free(oa_record *r)
{
    free(r->access_sealed);
    free(r->refresh_sealed);
    memset(r, 0, sizeof(*r));
}

static long long oa_num(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end;
    long long n = s ? strtoll(s, &end, 10) : 0;
    return s && *s && !*end && n > 0 ? n : 0;
}

static mo_err oa_read(oa_session *s, oa_record *r, char *errstr, size_t errstr_size)
{
    char suffix[64];
    json_t *v = NULL;
    memset(r, 0, sizeof(*r));
    mo_err err = rs_hmget(s->rs, oa_suffix(s->api, suffix, sizeof(suffix)), oa_fields, OA_NFIELDS,
                          &v, errstr, errstr_size);
    if (err)
        return err;
    r->gen = oa_num(json_array_get(v, 0));
    const char *a = json_string_value(json_array_get(v, 1));
    const char *rt = json_string_value(json_array_get(v, 2));
    r->exp_ms = oa_num(json_array_get(v, 3));
    r->iat_ms = oa_num(json_array_get(v, 4));
    const char *since = json_string_value(json_array_get(v, 5));
    const char *fp = json_string_value(json_array_get(v, 6));
    const char *why = json_string_value(json_array_get(v, 7));
    r->present = r->gen > 0 || since;
    r->access_sealed = a ? strdup(a) : NULL;
    r->refresh_sealed = rt ? strdup(rt) : NULL;
    snprintf(r->reconnect_since, sizeof(r->reconnect_since), "%s", since ? since : "");
    snprintf(r->reconnect_fp, sizeof(r->reconnect_fp), "%s", fp ? fp : "");
    snprintf(r->reconnect_reason, sizeof(r->reconnect_reason), "%s", why ? why : "");
    json_decref(v);
    return MO_OK;
}

static mo_err oa_read_gen(oa_session *s, long long *gen, char *errstr, size_t errstr_size)
{
    char suffix[64];
    json_t *v = NULL;
    const char *f[1] = {"generation"};
    mo_err err =
        rs_hmget(s->rs, oa_suffix(s->api, suffix, sizeof(suffix)), f, 1, &v, errstr, errstr_size);
    *gen = err ? 0 : oa_num(json_array_get(v, 0));
    json_decref(v);
    return err;
}

mo_err oa_store_cas(rs_store *rs, const char *api, const char *lock_token,
                    const char *const *fields, const char *const *values, int n, int bump,
                    long long *generation, char *errstr, size_t errstr_size)
{
    char suffix[64], lock[80];
    const char *args[14];
    json_t *out = NULL;
    *generation = -1;
    if (n > 6)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "too many fields");
    snprintf(lock, sizeof(lock), "lock:oauth:%s", api);
    const char *keys[2] = {oa_suffix(api, suffix, sizeof(suffix)), lock};
    args[0] = lock_token;
    args[1] = bump ? "1" : "0";
    for (int i = 0; i < n; i++) {
        args[2 + 2 * i] = fields[i];
        args[3 + 2 * i] = values[i];
    }
    mo_err err = rs_eval(rs, oa_cas_lua, 2, keys, 2 + 2 * n, args, &out, errstr, errstr_size);
    if (!err)
        *generation = json_is_integer(out) ? (long long)json_integer_value(out) : -1;
    json_decref(out);
    return err;
}

/* SET NX PX on the lock with a new random token; *taken 1 when ours. */
static mo_err oa_lock(oa_session *s, char token[33], int *taken, char *errstr, size_t errstr_size)
{
    unsigned char b[16];
    char lock[80], ttl[16];
    json_t *out = NULL;
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "no randomness for a lock token");
    for (int i = 0; i < 16; i++)
        snprintf(token + 2 * i, 3, "%02x", b[i]);
    snprintf(lock, sizeof(lock), "lock:oauth:%s", s->api);
    snprintf(ttl, sizeof(ttl), "%d", OA_LOCK_TTL_MS);
    const char *keys[1] = {lock};
    const char *args[2] = {token, ttl};
    mo_err err = rs_eval(s->rs, "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])",
                         1, keys, 2, args, &out, errstr, errstr_size);
    *taken = !err && json_is_string(out);
    json_decref(out);
    return err;
}

static void oa_unlock(oa_session *s, const char *token)
{
    char name[64], errstr[256];
    snprintf(name, sizeof(name), "oauth:%s", s->api);
    if (rs_unlock(s->rs, name, token, errstr, sizeof(errstr)))
        lg_warn("oauth", s->tenant, "the refresh lock is not released (it expires): %s", errstr);
}

/* Opens a sealed field into buf; MO_ERR_INVALID when it does not open. */
static mo_err oa_unseal(oa_session *s, const char *field, const char *sealed, char *buf,
                        size_t size, char *errstr, size_t errstr_size)
{
    char ctx[160], *plain = NULL;
    size_t len;
    mo_err err = sb_open(&s->key, oa_context(s, field, ctx, sizeof(ctx)), sealed, &plain, &len,
                         errstr, errstr_size);
    if (err)
        return err;
    if (len >= size || memchr(plain, '\0', len)) {
        sb_free(plain);
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "%s too long", field);
    }
    memcpy(buf, plain, len + 1);
    sb_free(plain);
    oa_secret(s, buf);
    return MO_OK;
}

static void oa_gauge(oa_session *s, int needs_reconnect)
{
    mt_set("mosync_tenant_needs_reconnect", needs_reconnect, "tenant", s->tenant, NULL);
}

static mo_err oa_needs_reconnect(oa_session *s, const oa_record *r, char *errstr,
                                 size_t errstr_size)
{
    oa_gauge(s, 1);
    hc_api_mark_refused(s->api, 403);
    return mo_seterr(MO_ERR_CREDENTIAL, errstr, errstr_size,
                     "Mystore: needs reconnect since %s (refresh token refused: %s); set a new "
                     "MYSTORE_REFRESH_TOKEN and restart",
                     r->reconnect_since, r->reconnect_reason);
}

/* Adopts the record's access token into the cache; MO_ERR_INVALID when it
 * does not open (another key, or changed). */
static mo_err oa_adopt(oa_session *s, const oa_record *r, char *errstr, size_t errstr_size)
{
    mo_err err = oa_unseal(s, "access_token", r->access_sealed, s->access, sizeof(s->access),
                           errstr, errstr_size);
    if (err) {
        s->access[0] = '\0';
        s->gen = 0;
        return err;
    }
    s->gen = r->gen;
    s->exp_ms = r->exp_ms;
    s->iat_ms = r->iat_ms;
    oa_gauge(s, 0);
    return MO_OK;
}

/* Is the cache's token (or one with these times) due at now? */
static int oa_is_due(long long iat_ms, long long exp_ms, long long now)
{
    return exp_ms > 0 && now >= oa_due_ms(iat_ms, exp_ms);
}

/* ---- the token endpoint --------------------------------------------------- */

typedef enum { OA_GOT, OA_REFUSED, OA_FAILED } oa_outcome;

/* One refresh at the token endpoint, OA_ATTEMPTS attempts for transient
 * failures.  OA_GOT fills access, refresh, *iat_ms, *exp_ms; OA_REFUSED
 * fills why (the error code and description, masked). */
static oa_outcome oa_post(oa_session *s, const char *refresh, char *access, char *new_refresh,
                          long long *iat_ms, long long *exp_ms, char *why, size_t why_size)
{
    hc_retry retry = {.max_attempts = OA_ATTEMPTS, .base_ms = 500, .max_ms = 4000};
    char errstr[512];
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "refresh_token", "client_id", s->client_id,
                  "client_secret", s->client_secret, "refresh_token", refresh);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        snprintf(why, why_size, "out of memory");
        return OA_FAILED;
    }
    oa_outcome outcome = OA_FAILED;
    for (int n = 0; n < OA_ATTEMPTS; n++) {
        hc_resp resp;
        if (n) {
            long ms = hc_backoff_ms(&retry, n - 1, -1);
            if (mo_stop_sleep_ms(ms))
                break;
        }
        mo_err err = hc_request(s->hc, "POST", s->token_url, "application/json", text, &resp,
                                errstr, sizeof(errstr));
        if (err) {
            snprintf(why, why_size, "%s", errstr);
            hc_resp_free(&resp);
            continue;
        }
        json_t *doc = resp.len ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        const char *a = json_string_value(json_object_get(doc, "access_token"));
        const char *rt = json_string_value(json_object_get(doc, "refresh_token"));
        if (resp.status >= 200 && resp.status < 300 && a && rt && *a && *rt &&
            strlen(a) < OA_TOKEN_MAX && strlen(rt) < OA_TOKEN_MAX) {
            memcpy(access, a, strlen(a) + 1);
            memcpy(new_refresh, rt, strlen(rt) + 1);
            oa_secret(s, access);
            oa_secret(s, new_refresh);
            long long exp, iat, now = oa_now_ms();
            json_t *in = json_object_get(doc, "expires_in");
            if (jwt_times(access, &exp, &iat)) {
                *exp_ms = exp * 1000;
                *iat_ms = iat ? iat * 1000 : now;
            } else if (json_is_integer(in) && json_integer_value(in) > 0) {
                *exp_ms = now + (long long)json_integer_value(in) * 1000;
                *iat_ms = now;
            } else {
                *exp_ms = 0;
                *iat_ms = now;
            }
            outcome = OA_GOT;
        } else if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
            /* RFC 6749 5.2: invalid_grant (the refresh token is spent,
             * revoked or expired), invalid_client (the client's secret). */
            const char *code = json_string_value(json_object_get(doc, "error"));
            const char *desc = json_string_value(json_object_get(doc, "error_description"));
            char raw[512];
            snprintf(raw, sizeof(raw), "HTTP %ld %s%s%s", resp.status, code ? code : "",
                     desc ? ": " : "", desc ? desc : "");
            lg_quote(raw, strlen(raw), 200, why, why_size);
            outcome = OA_REFUSED;
        } else if (resp.status >= 200 && resp.status < 300) {
            snprintf(why, why_size, "HTTP %ld without access_token and refresh_token", resp.status);
            outcome = OA_FAILED;
            json_decref(doc);
            hc_resp_free(&resp);
            break; /* the refresh token may be spent: not sent again */
        } else {
            snprintf(why, why_size, "HTTP %ld", resp.status);
            outcome = OA_FAILED;
        }
        json_decref(doc);
        hc_resp_free(&resp);
        if (outcome != OA_FAILED)
            break;
    }
    memset(text, 0, strlen(text));
    free(text);
    return outcome;
}

/* ---- refresh ----------------------------------------------------------------- */

/* Writes new tokens under the lock (the CAS) and adopts them. */
static mo_err oa_store_tokens(oa_session *s, const char *lock_token, const char *access,
                              const char *refresh, long long iat_ms, long long exp_ms, char *errstr,
                              size_t errstr_size)
{
    char ctx[160], exp[32], iat[32], at[40];
    char *sa = NULL, *sr = NULL;
    long long gen = -1;
    mo_err err = sb_seal(&s->key, oa_context(s, "access_token", ctx, sizeof(ctx)), access,
                         strlen(access), &sa, errstr, errstr_size);
    if (!err)
        err = sb_seal(&s->key, oa_context(s, "refresh_token", ctx, sizeof(ctx)), refresh,
                      strlen(refresh), &sr, errstr, errstr_size);
    if (!err) {
        snprintf(exp, sizeof(exp), "%lld", exp_ms);
        snprintf(iat, sizeof(iat), "%lld", iat_ms);
        oa_iso(oa_now_ms(), at, sizeof(at));
        const char *f[5] = {"access_token", "refresh_token", "expires_at", "issued_at",
                            "updated_at"};
        const char *v[5] = {sa, sr, exp, iat, at};
        err = oa_store_cas(s->rs, s->api, lock_token, f, v, 5, 1, &gen, errstr, errstr_size);
    }
    free(sa);
    free(sr);
    if (!err && gen < 0)
        lg_error("oauth", s->tenant,
                 "the refresh lock expired before the new tokens were written: they are used by "
                 "this process only, and the next refresh may find the refresh token spent");
    /* Used here whatever the store took: they are the newest there are. */
    snprintf(s->access, sizeof(s->access), "%s", access);
    s->gen = gen > 0 ? gen : s->gen;
    s->iat_ms = iat_ms;
    s->exp_ms = exp_ms;
    oa_gauge(s, 0);
    return err;
}

/* Notes the refusal of the refresh token in the store, under the lock. */
static void oa_store_refusal(oa_session *s, const char *lock_token, const char *why)
{
    char at[40], errstr[256];
    long long gen;
    oa_record r;
    oa_iso(oa_now_ms(), at, sizeof(at));
    /* The first refusal's time stays while the same one repeats. */
    if (!oa_read(s, &r, errstr, sizeof(errstr)) && *r.reconnect_since &&
        !strcmp(r.reconnect_fp, s->settings_fp))
        snprintf(at, sizeof(at), "%s", r.reconnect_since);
    oa_record_free(&r);
    const char *f[3] = {"reconnect_since", "reconnect_fp", "reconnect_reason"};
    const char *v[3] = {at, s->settings_fp, why};
    if (oa_store_cas(s->rs, s->api, lock_token, f, v, 3, 0, &gen, errstr, sizeof(errstr)) ||
        gen < 0)
        lg_warn("oauth", s->tenant, "the refused refresh token is not recorded: %s",
                gen < 0 ? "the lock expired" : errstr);
}

/* Refreshes unless another process did since generation seen; the cache
 * holds the result, or the store says the tenant needs reconnect.  The
 * session's mutex is held. */
static mo_err oa_refresh(oa_session *s, long long seen, char *errstr, size_t errstr_size)
{
    char lock_token[33];
    long long deadline = mo_now_ms() + OA_WAIT_MS;
    for (;;) {
        int taken = 0;
        mo_err err = oa_lock(s, lock_token, &taken, errstr, errstr_size);
        if (err)
            return err;
        if (!taken) {
            /* Another process refreshes: its result is ours. */
            long long gen;
            if (mo_now_ms() >= deadline)
                return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                                 "another process has been refreshing the %s token for %d s",
                                 s->api, OA_WAIT_MS / 1000);
            if (mo_stop_sleep_ms(50))
                return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size, "stopping");
            if ((err = oa_read_gen(s, &gen, errstr, errstr_size)))
                return err;
            if (gen != seen)
                return MO_OK;
            continue;
        }
        oa_record r;
        if ((err = oa_read(s, &r, errstr, errstr_size))) {
            oa_unlock(s, lock_token);
            return err;
        }
        int reconnect = *r.reconnect_since != '\0';
        if ((r.gen != seen && !reconnect) ||
            (reconnect && !strcmp(r.reconnect_fp, s->settings_fp))) {
            /* Done meanwhile, or refused and nothing new configured. */
            oa_record_free(&r);
            oa_unlock(s, lock_token);
            return MO_OK;
        }
        char refresh[OA_TOKEN_MAX] = "", access[OA_TOKEN_MAX], fresh[OA_TOKEN_MAX], why[300] = "";
        long long iat_ms = 0, exp_ms = 0;
        if (!reconnect && r.refresh_sealed &&
            oa_unseal(s, "refresh_token", r.refresh_sealed, refresh, sizeof(refresh), why,
                      sizeof(why))) {
            lg_error("oauth", s->tenant,
                     "the stored refresh token does not open (%s: another MOSYNC_SECRET_KEY?); "
                     "starting again from MYSTORE_REFRESH_TOKEN",
                     why);
            refresh[0] = '\0';
        }
        int from_config = !*refresh, present = r.present;
        oa_record_free(&r);
        if (from_config) {
            long long exp, iat;
            /* A first access token given with the chain's start is used
             * before anything is spent. */
            if (!present && *s->initial_token && jwt_times(s->initial_token, &exp, &iat) &&
                !oa_is_due(iat * 1000, exp * 1000, oa_now_ms())) {
                err = oa_store_tokens(s, lock_token, s->initial_token, s->refresh_token, iat * 1000,
                                      exp * 1000, errstr, errstr_size);
                oa_unlock(s, lock_token);
                return err;
            }
            snprintf(refresh, sizeof(refresh), "%s", s->refresh_token);
            lg_info("oauth", s->tenant, "%s the token chain from MYSTORE_REFRESH_TOKEN",
                    reconnect ? "a new MYSTORE_REFRESH_TOKEN is configured: starting"
                              : "no stored tokens: starting");
        }
        oa_outcome o = oa_post(s, refresh, access, fresh, &iat_ms, &exp_ms, why, sizeof(why));
        memset(refresh, 0, sizeof(refresh));
        if (o == OA_GOT) {
            mt_add("mosync_oauth_refreshes_total", 1, "outcome", "ok", "tenant", s->tenant, NULL);
            err =
                oa_store_tokens(s, lock_token, access, fresh, iat_ms, exp_ms, errstr, errstr_size);
            char until[40];
            oa_iso(exp_ms, until, sizeof(until));
            lg_info("oauth", s->tenant,
                    "%s access token refreshed (generation %lld, valid until %s)", s->api, s->gen,
                    exp_ms ? until : "unknown");
            memset(access, 0, sizeof(access));
            memset(fresh, 0, sizeof(fresh));
            oa_unlock(s, lock_token);
            return err;
        }
        if (o == OA_REFUSED) {
            mt_add("mosync_oauth_refreshes_total", 1, "outcome", "refused", "tenant", s->tenant,
                   NULL);
            oa_store_refusal(s, lock_token, why);
            oa_unlock(s, lock_token);
            lg_error("oauth", s->tenant,
                     "Mystore refused the refresh token (%s): the tenant needs reconnect; set a "
                     "new MYSTORE_REFRESH_TOKEN and restart",
                     why);
            oa_gauge(s, 1);
            return MO_OK; /* the store now says so */
        }
        mt_add("mosync_oauth_refreshes_total", 1, "outcome", "failed", "tenant", s->tenant, NULL);
        oa_unlock(s, lock_token);
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                         "the %s token endpoint failed %d times: %s", s->api, OA_ATTEMPTS, why);
    }
}

mo_err oa_token(oa_session *s, char *buf, size_t size, long long *generation, char *errstr,
                size_t errstr_size)
{
    mo_err err = MO_OK;
    pthread_mutex_lock(&s->mu);
    for (int round = 0;; round++) {
        long long gen, now = oa_now_ms();
        if ((err = oa_read_gen(s, &gen, errstr, errstr_size)))
            break;
        if (*s->access && gen == s->gen && !oa_is_due(s->iat_ms, s->exp_ms, now))
            break;
        oa_record r;
        if ((err = oa_read(s, &r, errstr, errstr_size)))
            break;
        if (*r.reconnect_since && !strcmp(r.reconnect_fp, s->settings_fp)) {
            err = oa_needs_reconnect(s, &r, errstr, errstr_size);
            oa_record_free(&r);
            break;
        }
        if (round > 0 && *s->access && s->gen == r.gen) {
            /* Just refreshed: use it whatever its life (a token that lives
             * less than its margin is refreshed at every call otherwise). */
            oa_record_free(&r);
            break;
        }
        if (!*r.reconnect_since && r.access_sealed && !oa_is_due(r.iat_ms, r.exp_ms, now) &&
            !oa_adopt(s, &r, errstr, errstr_size)) {
            oa_record_free(&r);
            break;
        }
        long long seen = r.gen;
        oa_record_free(&r);
        if (round >= 2) {
            err = mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                            "no usable %s access token after %d tries", s->api, round + 1);
            break;
        }
        if ((err = oa_refresh(s, seen, errstr, errstr_size)))
            break;
        if (*s->access && s->gen > seen) {
            /* This process refreshed (or adopted the first token). */
            break;
        }
    }
    if (!err) {
        if (strlen(s->access) >= size)
            err = mo_seterr(MO_ERR_TOO_LARGE, errstr, errstr_size, "access token too long");
        else
            memcpy(buf, s->access, strlen(s->access) + 1);
        *generation = s->gen;
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

int oa_refused(oa_session *s, long long generation, const char *detail)
{
    char errstr[256];
    long long gen;
    int newer = 0;
    pthread_mutex_lock(&s->mu);
    if (oa_read_gen(s, &gen, errstr, sizeof(errstr)))
        goto out;
    if (gen != generation) {
        newer = 1; /* another process's token: try it */
        goto out;
    }
    long long now = oa_now_ms();
    int expired = s->exp_ms ? oa_is_due(s->iat_ms, s->exp_ms, now) : 0;
    int unknown = !s->exp_ms && s->unknown_refreshed_gen != generation;
    /* The server's clock may run ahead of ours: its word "expired" is
     * believed once, not for the token that belief brought (a token refused
     * for another reason would be refreshed at every request). */
    int said = detail && strstr(detail, "xpired") && s->forced_gen != generation;
    if (generation == s->gen && (expired || unknown || said)) {
        if (unknown)
            s->unknown_refreshed_gen = generation;
        lg_info("oauth", s->tenant, "%s refused an access token %s; refreshing", s->api,
                expired   ? "that expired"
                : unknown ? "of unknown expiry"
                          : "it says expired");
        newer = !oa_refresh(s, generation, errstr, sizeof(errstr)) && s->gen != generation;
        if (newer && said && !expired)
            s->forced_gen = s->gen;
        if (!newer && !oa_read_gen(s, &gen, errstr, sizeof(errstr)))
            newer = gen != generation;
        goto out;
    }
    /* Refused before its time: maybe the server revoked it as another
     * process refreshed; that process's token comes within the wait. */
    long long deadline = mo_now_ms() + 2000;
    while (mo_now_ms() < deadline && !mo_stop_sleep_ms(100)) {
        if (oa_read_gen(s, &gen, errstr, sizeof(errstr)))
            break;
        if (gen != generation) {
            newer = 1;
            break;
        }
    }
out:
    pthread_mutex_unlock(&s->mu);
    return newer;
}

mo_err oa_status(rs_store *rs, const char *api, json_t **out, char *errstr, size_t errstr_size)
{
    char suffix[64], at[40];
    json_t *v = NULL;
    *out = NULL;
    mo_err err = rs_hmget(rs, oa_suffix(api, suffix, sizeof(suffix)), oa_fields, OA_NFIELDS, &v,
                          errstr, errstr_size);
    if (err)
        return err;
    long long gen = oa_num(json_array_get(v, 0)), exp = oa_num(json_array_get(v, 3));
    json_t *since = json_array_get(v, 5);
    if (gen || json_is_string(since)) {
        oa_iso(exp, at, sizeof(at));
        *out = json_pack("{s:I, s:s?, s:O?, s:O?, s:O?}", "generation", (json_int_t)gen,
                         "access_expires_at", exp ? at : NULL, "updated_at", json_array_get(v, 8),
                         "needs_reconnect_since", since, "reason", json_array_get(v, 7));
        if (!*out)
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    json_decref(v);
    return err;
}
