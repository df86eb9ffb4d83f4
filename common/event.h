/* The event envelope every topic carries (schemas/envelope.schema.json):
 *   {"type": "mystore.order", "version": 1, "id": "<sha256>", "tenant": "demo",
 *    "entity_id": "10001", "source_version": "2026-11-20T09:16:12Z",
 *    "observed_at": "2026-11-27T10:00:00Z", "data": {...}}
 * source_version is a UTC instant ("YYYY-MM-DDTHH:MM:SS[.fff]Z"): the
 * source's updated time, resolved to an instant by the poller (Mystore: M1 and
 * tz_local_to_utc_observed), or the time the poller observed the entity.
 * The id is deterministic: type, tenant, entity id, source version and the
 * SHA-256 of the data's canonical JSON (sorted keys), so the same change
 * captured twice has the same id and two contents never share one.
 * A poller adds "fence": its lease's fence number (lease.h), so a consumer
 * can drop what a poller that lost its lease still emits (ev_stale). */
#ifndef MO_EVENT_H
#define MO_EVENT_H

#include "err.h"

#include <jansson.h>

#define EV_VERSION   1
#define EV_MAX_BYTES (4u << 20) /* a bigger event is refused, not produced */

/* New envelope (new reference); steals data (also on failure).  NULL on
 * allocation failure. */
json_t *ev_new(const char *type, const char *tenant, const char *entity_id,
               const char *source_version, json_t *data);

/* Sets the envelope's "fence" (>= 0). */
void ev_set_fence(json_t *ev, long long fence);
/* The envelope's fence, or -1 when it has none (events of an older mosync,
 * written by hand). */
long long ev_fence(const json_t *ev);

/* Is event ev (parsed) older than what was applied: its source version older
 * than applied_version (ev_version_older), or the same version emitted under
 * a lower fence than applied_fence (a poller that had lost its lease emitted
 * it after the new holder emitted the same version; -1 = unknown, never
 * older)?  applied_version may be NULL (nothing applied). */
int ev_stale(const json_t *ev, const char *applied_version, long long applied_fence);

/* Parses and validates an envelope from raw bytes.  expect_type may be NULL.
 * On success *out is a new reference; MO_ERR_INVALID names what is wrong. */
mo_err ev_parse(const void *buf, size_t len, const char *expect_type, json_t **out, char *errstr,
                size_t errstr_size);

/* The Kafka key {tenant}:{entity id} into buf. */
const char *ev_key(const char *tenant, const char *entity_id, char *buf, size_t size);

/* Parses a UTC instant "YYYY-MM-DDTHH:MM:SS[.fff]Z" into milliseconds since
 * the epoch.  MO_ERR_INVALID for anything else. */
mo_err ev_utc_parse(const char *s, long long *ms);

/* Is source version `version` older than `applied`, the version an applied
 * record holds?  Versions are UTC instants (ev_utc_parse) and compare by time,
 * so the autumn DST fold cannot reorder them.  Two shop-local
 * "YYYY-MM-DD HH:MM:SS" (events and records of an older mosync) compare by
 * text, as before.  Mixed forms: nothing is older (the request hash still
 * keeps a repeat from being sent). */
int ev_version_older(const char *version, const char *applied);

/* UTC now as "YYYY-MM-DDTHH:MM:SSZ" into buf (size >= 21). */
void ev_utc_now(char *buf, size_t size);

#endif
