/* `mosync doctor`: read-only probes of the configured Mystore and Ongoing.
 * Each assumption of the API model (../shared/api/MODEL.md: M1-M17, O1-O6)
 * and of access (A1-A3) is reported as confirmed, contradicted or unknown,
 * with the evidence the probes read.  Never writes: only GET requests, each
 * Mystore one taken from the shared request budget (M12). */
#ifndef MO_DOCTOR_H
#define MO_DOCTOR_H

#include <jansson.h>
#include <stddef.h>

/* `mosync doctor [--json] [--known-weight SKU=<n>g|<n>kg]` with argv after
 * the command name.  Loads the configuration itself.  Returns the exit
 * status: 0 when every check read what it needs and nothing is
 * contradicted, 1 when something is contradicted, 3 when nothing is but a
 * check could not read (an API answered 5xx or not at all), 2 for bad usage
 * or configuration. */
int doctor_main(int argc, char **argv);

/* The parsers of what the probes read, pure, for the fuzz target
 * (tests/fuzz/fuzz_doctor.c):
 *   doctor_token_scopes  the "scopes" claim of MYSTORE_TOKEN when it is a JWT
 *                        (base64url payload): new reference, NULL when none;
 *   doctor_rate_headers  one answer header line (len bytes, no NUL needed)
 *                        into the X-RateLimit-Limit, X-RateLimit-Remaining and
 *                        Retry-After values (each a NUL-terminated 32-byte
 *                        buffer, left "" when the line is another header);
 *   doctor_link_size     page[size]=N of links.<which> of a list answer, -1
 *                        when absent. */
json_t *doctor_token_scopes(const char *token);
void doctor_rate_headers(const char *line, size_t len, char limit[32], char remaining[32],
                         char retry_after[32]);
long doctor_link_size(const json_t *doc, const char *which);

#endif
