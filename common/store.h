/* The Redis store: cursors, applied-version records, shared API budgets and
 * small maps, all under keys hash-tagged by tenant (mosync:{T}:...) so Redis
 * Cluster keeps one tenant's keys together.
 *
 * Every call reconnects by itself: when Redis is away, or answers that it
 * cannot serve now (rs_error_class: LOADING, OOM, READONLY, ...), it retries
 * with a capped backoff for up to retry_ms (default 60 s), until the calling
 * thread's deadline or until a stop is requested, and then returns
 * MO_ERR_TRANSIENT.  Any other error reply (WRONGTYPE: the record itself is
 * bad) is MO_ERR_PERMANENT.  A store is used by one thread at a time. */
#ifndef MO_STORE_H
#define MO_STORE_H

#include "err.h"

#include <jansson.h>

typedef struct rs_store rs_store;

/* REDIS_URL, parsed: redis://[[user]:password@]host[:port][/db].  The LAST
 * '@' ends the credentials (a password may hold '@'); user and password are
 * percent-decoded ("%40" is '@'); a user means Redis 6 ACL (AUTH user
 * password).  host may be an IPv6 address in brackets. */
typedef struct rs_url {
    char host[256];
    int port; /* default 6379 */
    int db;   /* default 0 */
    char user[256];
    char password[512];
} rs_url;

/* Parses url into *out.  MO_ERR_CONFIG with a message that names REDIS_URL
 * and says what is wrong, never printing the URL or the password.  rediss://
 * (TLS) is refused with a message saying why: the hiredis of Debian 12
 * (0.14.1) has no TLS, and this build links none. */
mo_err rs_url_parse(const char *url, rs_url *out, char *errstr, size_t errstr_size);

/* Parses the URL (see rs_url_parse; the password, as written and decoded, is
 * registered with the log as a secret) and prepares a store for tenant;
 * connects lazily.  NULL with errstr on a malformed URL. */
rs_store *rs_open(const char *url, const char *tenant, char *errstr, size_t errstr_size);
void rs_close(rs_store *rs);
/* Rebinds the store to another tenant (its keys become mosync:{tenant}:...)
 * keeping its connection: a worker of `mosync poll --all-tenants` serves
 * one tenant after another with one store. */
void rs_set_tenant(rs_store *rs, const char *tenant);
const char *rs_tenant(const rs_store *rs);
/* How long one call keeps retrying while Redis is away (ms).  The calling
 * thread's deadline (mo_deadline_left_ms) cuts it shorter. */
void rs_set_retry_ms(rs_store *rs, long retry_ms);

/* The buffer size rs_key needs. */
#define RS_KEY_SIZE 512

/* Key mosync:{tenant}:<suffix> into buf (size >= RS_KEY_SIZE).  A key that
 * would be longer than RS_KEY_SIZE - 1 is never cut: its suffix becomes the
 * suffix's first bytes, '~' and the SHA-256 of the whole suffix, so two long
 * names that share a prefix keep two keys, the same name always the same. */
const char *rs_key(const rs_store *rs, const char *suffix, char *buf, size_t size);
/* The same key for another tenant (the registry, common/tenant.c). */
const char *rs_key_tenant(const char *tenant, const char *suffix, char *buf, size_t size);

/* Reads a JSON value stored at mosync:{T}:<suffix>; *out is a new reference or
 * NULL when the key is absent.  A stored value that is not JSON is
 * MO_ERR_INVALID (the caller decides; it is never silently replaced). */
mo_err rs_get_json(rs_store *rs, const char *suffix, json_t **out, char *errstr,
                   size_t errstr_size);
/* Stores value (borrowed) at mosync:{T}:<suffix>; ttl_s > 0 sets an expiry. */
mo_err rs_set_json(rs_store *rs, const char *suffix, const json_t *value, long ttl_s, char *errstr,
                   size_t errstr_size);
/* Deletes mosync:{T}:<suffix>. */
mo_err rs_del(rs_store *rs, const char *suffix, char *errstr, size_t errstr_size);

/* Work first: a request is work (fetching or writing a changed entity,
 * and the list requests of a poller whose last cycle found changes) or idle
 * (the list requests of a poller whose last cycle found nothing).  Idle
 * leaves a tenth of the window to work, and while the window is half spent
 * it yields to work taken in the last RS_BUDGET_YIELD_MS; an idle request
 * that waited RS_BUDGET_IDLE_MAX_MS in all is taken as work, so a long
 * backlog delays another stream's poll, never stops it. */
typedef enum { RS_BUDGET_WORK, RS_BUDGET_IDLE } rs_budget_class;
#define RS_BUDGET_YIELD_MS    2000
#define RS_BUDGET_IDLE_MAX_MS 15000

/* Takes one request from the shared budget `api` (sliding 60-second window of
 * at most per_min requests, atomic in Lua so several processes share it).
 * Returns MO_OK with *wait_ms = 0 when taken, or MO_OK with *wait_ms > 0 when
 * the budget is spent: wait that long and ask again.  rs_budget_take is
 * rs_budget_take_as with RS_BUDGET_WORK. */
mo_err rs_budget_take(rs_store *rs, const char *api, int per_min, long *wait_ms, char *errstr,
                      size_t errstr_size);
mo_err rs_budget_take_as(rs_store *rs, const char *api, int per_min, rs_budget_class cls,
                         long *wait_ms, char *errstr, size_t errstr_size);
/* Blocks until a request could be taken.  MO_ERR_TRANSIENT when a stop is
 * requested, or when the next free slot lies past the thread's deadline (the
 * wait is left with mo_retry_hint_set()). */
mo_err rs_budget_wait(rs_store *rs, const char *api, int per_min, char *errstr, size_t errstr_size);
mo_err rs_budget_wait_as(rs_store *rs, const char *api, int per_min, rs_budget_class cls,
                         char *errstr, size_t errstr_size);

/* Whose fault is a Redis error reply (the text after '-')?  MO_ERR_TRANSIENT
 * for an outage of the service or our own configuration, which every caller
 * waits out: LOADING, OOM, READONLY, MASTERDOWN, BUSY, TRYAGAIN, CLUSTERDOWN,
 * MISCONF, NOREPLICAS, NOAUTH, WRONGPASS (by the reply's first word);
 * MO_ERR_PERMANENT for anything else (WRONGTYPE, ERR ...: the record or the
 * command).  Pure. */
mo_err rs_error_class(const char *reply);

/* Did any store of this process meet Redis away or unable to serve (a lost
 * connection, an outage reply) at or after since_ms (monotonic, mo_now_ms)?
 * A consumer asks before it dead-letters a message that kept failing: a
 * failure while Redis was down is the service's, not the message's. */
int rs_outage_since(long long since_ms);

/* Round-trips a PING (for health checks and tests). */
mo_err rs_ping(rs_store *rs, char *errstr, size_t errstr_size);

/* A short mutual-exclusion lock mosync:{T}:lock:<name> shared by every process
 * (Ongoing asks for one write at a time per goods owner).  Blocks until taken
 * or until wait_ms passed or the thread's deadline came (MO_ERR_TRANSIENT).
 * The lock expires after ttl_ms so a crashed holder cannot block others.
 * token (>= 33 bytes) receives the value to pass to rs_unlock: 128 random
 * bits from the kernel, so no two holders share one. */
mo_err rs_lock(rs_store *rs, const char *name, long ttl_ms, long wait_ms, char *token, char *errstr,
               size_t errstr_size);
/* Releases the lock if token still holds it. */
mo_err rs_unlock(rs_store *rs, const char *name, const char *token, char *errstr,
                 size_t errstr_size);

/* ---- added for the pollers' leases (common/lease.c) ---------------------- */

/* Runs a Lua script with EVAL.  Keys are given as suffixes (mosync:{T}:<suffix>,
 * so one tenant's keys stay in one Redis Cluster slot); nkeys + nargs <= 16.
 * *out (new reference) is the reply as JSON: an integer, a string (also a
 * status reply), null for nil, an array of those.  An error reply is handled
 * as for every command (an outage is retried, then MO_ERR_TRANSIENT; any
 * other is MO_ERR_PERMANENT). */
mo_err rs_eval(rs_store *rs, const char *script, int nkeys, const char *const *key_suffixes,
               int nargs, const char *const *args, json_t **out, char *errstr, size_t errstr_size);

/* The fenced write: stores value (borrowed) at mosync:{T}:<suffix> only
 * while mosync:{T}:<lease_suffix> holds exactly token, checked and written
 * atomically in Lua, so a holder that lost its lease (paused past its TTL
 * while another took over) can never write over the new holder's value.
 * *written is 1 when stored, 0 when refused (then MO_OK too). */
mo_err rs_set_json_fenced(rs_store *rs, const char *suffix, const json_t *value,
                          const char *lease_suffix, const char *token, int *written, char *errstr,
                          size_t errstr_size);

/* Runs one command (argv[0] the command; keys in argv are whole names, made
 * with rs_key or rs_key_tenant); *out as rs_eval.  For the registry. */
mo_err rs_call(rs_store *rs, int argc, const char **argv, json_t **out, char *errstr,
               size_t errstr_size);

/* ---- hashes, for the pollers' seen maps (producers/poll.c) --------------
 * A seen map is one hash per stream, written a page at a time (never
 * rewritten whole), each write fenced by the stream's lease like the cursor. */

/* HMGET mosync:{T}:<suffix> fields[0..n): *values (new reference) is an
 * array of n strings, null where the field is absent. */
mo_err rs_hmget(rs_store *rs, const char *suffix, const char *const *fields, int n, json_t **values,
                char *errstr, size_t errstr_size);
/* Sets fields[i] = values[i] (i < n) of the hash at <suffix> and renews its
 * expiry (ttl_s > 0), only while mosync:{T}:<lease_suffix> holds exactly
 * token, atomically (Lua).  A field the hash does not hold yet is added only
 * while it has fewer than max_fields (<= 0: no cap).  *written: 1 when
 * written, 0 when refused (then MO_OK too).  *len (may be NULL): the hash's
 * field count afterwards. */
mo_err rs_hset_fenced(rs_store *rs, const char *suffix, const char *const *fields,
                      const char *const *values, int n, long long max_fields, long ttl_s,
                      const char *lease_suffix, const char *token, int *written, long long *len,
                      char *errstr, size_t errstr_size);
/* Deletes fields[0..n) of the hash, fenced as rs_hset_fenced. */
mo_err rs_hdel_fenced(rs_store *rs, const char *suffix, const char *const *fields, int n,
                      const char *lease_suffix, const char *token, int *written, char *errstr,
                      size_t errstr_size);
/* One HSCAN step from cursor ("0" to start): *page (new reference) is an
 * object field -> value, next (>= 32 bytes) the cursor to go on with, "0"
 * when the scan is over. */
mo_err rs_hscan(rs_store *rs, const char *suffix, const char *cursor, int count, char *next,
                json_t **page, char *errstr, size_t errstr_size);
/* HLEN: *len fields (0 when the hash does not exist). */
mo_err rs_hlen(rs_store *rs, const char *suffix, long long *len, char *errstr, size_t errstr_size);

/* ---- webhook triggers (cli/webhooks.c pushes, producers/poll.c waits) ---
 * A webhook is a hint that a stream's source changed: the list
 * mosync:{T}:trigger:<stream> holds at most one element (many webhooks
 * coalesce into one), expiring after RS_TRIGGER_TTL_S so a trigger no poller
 * takes does not linger. */
#define RS_TRIGGER_TTL_S 600

/* Pushes the trigger of stream (retried while Redis is away, as every call:
 * rs_set_retry_ms bounds it). */
mo_err rs_trigger_push(rs_store *rs, const char *stream, char *errstr, size_t errstr_size);
/* Waits up to timeout_s (>= 1) seconds for the trigger of stream and takes
 * it (BLPOP): *got = 1 when one was there or came.  One attempt, never
 * retried: MO_ERR_TRANSIENT at once when Redis is away (the caller sleeps
 * instead).  The socket timeout is the BLPOP's plus RS_IO_TIMEOUT_MS, so a
 * wait that runs its course is never taken for a dead connection. */
mo_err rs_trigger_wait(rs_store *rs, const char *stream, int timeout_s, int *got, char *errstr,
                       size_t errstr_size);
/* Drops the trigger of stream, if any (one attempt, like rs_trigger_wait). */
mo_err rs_trigger_clear(rs_store *rs, const char *stream, char *errstr, size_t errstr_size);

#endif
