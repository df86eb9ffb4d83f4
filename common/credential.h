/* A credential an API refused (HTTP 401/403, MO_ERR_CREDENTIAL), per tenant
 * and API.  The tenant must act (fix ONGOING_PASSWORD or MYSTORE_TOKEN), not
 * the entity in hand: the flows that need the API wait and retry, nothing is
 * dead-lettered, and this module makes the refusal visible:
 *   - an error line per process and API at most every CR_LOG_EVERY_MS while
 *     it lasts (not one per message), and an info line once it is accepted;
 *   - the Redis hash mosync:{T}:refused:<api> for `mosync status`: since (UTC,
 *     the first refusal, kept by every later write), at (the latest noted),
 *     by (the component), error (one line, secrets masked, cut).  Written at
 *     most every CR_WRITE_EVERY_MS per process and API; it expires CR_TTL_S
 *     after the last write, so a refusal nobody meets any more ages out
 *     (Redis is a cache); the first process that sees the API accept its
 *     credential deletes it;
 *   - the gauge mosync_credential_refused{api}: 1 while refused, 0 after.
 * One hash per API and tenant, whatever the scale; the process state is per
 * API and tenant (cfg->tenant), so a process of many tenants (--all-tenants)
 * keeps each tenant's refusal apart: the log line and write intervals above
 * are per process, API and tenant.  Thread-safe; never fails
 * (Redis away costs the record, never the caller).  Call it outside a
 * message's deadline (stop.h), as lr_note. */
#ifndef MO_CREDENTIAL_H
#define MO_CREDENTIAL_H

#include "config.h"
#include "err.h"
#include "store.h"

#include <jansson.h>

#define CR_LOG_EVERY_MS   60000
#define CR_WRITE_EVERY_MS 10000
#define CR_TTL_S          600
/* (API, tenant) pairs remembered at once (as LR_SLOTS): when more come, the
 * least recently used slot is taken over, its refusal state forgotten (the
 * record in Redis stays, and the pair's next refusal keeps its since, as one
 * of another process; its gauge stays 1 until the pair is refused and then
 * accepted again, or the process ends).  At 100x today slots turn over, each
 * refusal still logged and recorded. */
#define CR_SLOTS 256

/* The APIs, as hc_opts.api names them. */
#define CR_NAPIS 2
extern const char *const cr_apis[CR_NAPIS]; /* "mystore", "ongoing" */

/* "Mystore" for "mystore", "Ongoing" for "ongoing": how people name it. */
const char *cr_api_title(const char *api);

/* api ("mystore", "ongoing") refused the credential of component's request;
 * error (borrowed, may be NULL) says how (masked again here). */
void cr_refused(const mo_config *cfg, const char *component, const char *api, const char *error);

/* component finished work with api.  When api accepted this process's
 * credential (a 2xx, hc_api_last_up_ms) after its last refusal, the refusal
 * is over: the record is deleted (also one another process left, the first
 * time), the gauge goes to 0, and a refusal this process saw is logged as
 * ended.  Costs nothing otherwise. */
void cr_accepted(const mo_config *cfg, const char *component, const char *api);

/* When this process's current refusal by api began (UTC, ISO 8601) into buf
 * (>= 32 bytes): of the tenant refused longest, when it serves many; NULL
 * when api accepted a credential of the process since, or never refused one. */
const char *cr_since(const char *api, char *buf, size_t size);

/* The record of api for `mosync status`: *out (new reference) is
 * {"refused_since", "last_refused_at", "by", "error"}, or NULL when none. */
mo_err cr_read(rs_store *rs, const char *api, json_t **out, char *errstr, size_t errstr_size);

#endif
