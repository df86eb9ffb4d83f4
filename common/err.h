/* The one error type of mosync.  Every function that can fail returns an
 * mo_err and, where a caller needs to know why, writes a one-line reason into a
 * caller-supplied `char *errstr, size_t errstr_size` (librdkafka style).
 *
 * The classes decide what the pipeline does with a failure (a business
 * refusal, such as an order the warehouse already works on, is not an error:
 * the consumers record it and return MO_OK):
 *   MO_ERR_INVALID    input we cannot parse or map: dead-letter it, go on
 *   MO_ERR_TRANSIENT  timeout, 5xx, 429, broker or Redis away: retry later
 *   MO_ERR_PERMANENT  the remote API refused the request for good (4xx): dead-letter
 *   MO_ERR_TOO_LARGE  a capped buffer would overflow (distinct from INVALID so
 *                     the message says so)
 *   MO_ERR_CONFIG     a bad configuration value
 *   MO_ERR_NOMEM      allocation failed
 *   MO_ERR_CREDENTIAL the API refused our credential (401/403): the tenant
 *                     must act, not the entity; the flow waits until the
 *                     credential is accepted, nothing is dead-lettered */
#ifndef MO_ERR_H
#define MO_ERR_H

#include <stddef.h>

#define MOSYNC_VERSION "0.1.0"

typedef enum {
    MO_OK = 0,
    MO_ERR_INVALID,
    MO_ERR_TRANSIENT,
    MO_ERR_PERMANENT,
    MO_ERR_TOO_LARGE,
    MO_ERR_CONFIG,
    MO_ERR_NOMEM,
    MO_ERR_CREDENTIAL,
} mo_err;

/* A short stable name ("invalid", "transient", ..., "credential") for logs,
 * `mosync status` and dead-letter headers. */
const char *mo_err_name(mo_err err);

/* snprintf into errstr when errstr is not NULL; returns err so callers can
 * `return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "...", ...)`. */
mo_err mo_seterr(mo_err err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
