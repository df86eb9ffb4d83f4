/* Poller leases: one active poller per (tenant, stream).
 *
 * The lease is the Redis key mosync:{T}:lease:<stream> holding the token
 * "<fence> <nonce> <holder>", with a TTL (LEASE_TTL_S).  The fence comes from
 * INCR mosync:{T}:lease:<stream>:fence, raised to Redis's clock in ms when
 * that is larger, so every new holder gets a larger one, also after Redis
 * lost the counter; the nonce makes the token unique in any case;
 * <holder> is the process's User-Agent "mosync/<version> (<host>:<pid>)", for
 * the logs of the replicas standing by.
 *
 * While it holds the lease a keeper thread, with its own Redis connection,
 * renews it every third of the TTL, so long cycles (a minute of rate-limit
 * waits) keep it.  The lease counts as held only while the last renewal was
 * sent less than the TTL ago (minus a margin) and Redis still named us: a
 * holder paused past its TTL (SIGSTOP, swapping, a stuck VM) knows at once
 * that it lost it.  Cursor writes go through rs_set_json_fenced with the
 * token, so even a holder that has not noticed yet can never move the new
 * holder's cursor back; and every event carries the fence, so a consumer
 * drops what such a holder still emits (an equal version of a lower fence).
 *
 * A lease is used by one poller thread; ls_held may be called from it while
 * the keeper runs. */
#ifndef MO_LEASE_H
#define MO_LEASE_H

#include "err.h"
#include "store.h"

#include <stddef.h>

#define LS_TOKEN_MAX 256

typedef struct ls_lease ls_lease;

/* A lease handle for `stream` of tenant (not yet acquired), with its own
 * Redis connection to redis_url.  NULL with errstr on a bad URL or no memory. */
ls_lease *ls_new(const char *redis_url, const char *tenant, const char *stream, int ttl_s,
                 char *errstr, size_t errstr_size);
/* Stops the keeper and, when the lease is still ours, deletes it so a
 * replica standing by takes over at once.  NULL is ignored. */
void ls_free(ls_lease *ls);
/* The same without freeing (nor logging): the handle can be acquired again. */
void ls_release(ls_lease *ls);
/* Releases the lease (ls_release) and points the handle at the same
 * stream's lease of another tenant, keeping its Redis connection: the
 * workers of `mosync poll --all-tenants` take one tenant's lease after
 * another with one handle. */
void ls_rebind(ls_lease *ls, const char *tenant);

/* Tries once to take the lease.  *held = 1 when it is ours (taken now, or
 * already ours): the keeper runs.  *held = 0 when another holds it: holder
 * (may be NULL) receives its name, *wait_ms the ms until it expires unless
 * renewed.  Errors are Redis's (MO_ERR_TRANSIENT when it is away). */
mo_err ls_acquire(ls_lease *ls, int *held, char *holder, size_t holder_size, long *wait_ms,
                  char *errstr, size_t errstr_size);

/* 1 while the lease is ours (see above), else 0.  Cheap (two atomic reads). */
int ls_held(ls_lease *ls);
/* Records that the lease was lost (a fenced write was refused). */
void ls_lost(ls_lease *ls);

/* Reads a lease token "<fence> <nonce> <holder>" as Redis holds it: any
 * bytes (Redis is a cache anyone with access can write).  *fence is the
 * leading number (0 when none); holder (holder_size > 0) receives the name
 * after the second space ("?" when there is none), bytes that are not UTF-8
 * escaped as \xNN, cut at a character boundary to fit.  The nonce is never
 * copied out: with it anyone could write the cursor as the holder.  Pure
 * (the fuzz target; lease.c and `mosync status` read tokens with it). */
void ls_token_parse(const char *tok, long long *fence, char *holder, size_t holder_size);

/* The token to pass to rs_set_json_fenced (borrowed; "" before it is held),
 * the lease key's suffix ("lease:<stream>") and its fence number. */
const char *ls_token(const ls_lease *ls);
const char *ls_suffix(const ls_lease *ls);
long long ls_fence(const ls_lease *ls);

#endif
