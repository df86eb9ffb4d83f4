/* Base64 (RFC 4648, standard alphabet, with padding): what `mosync dlq show`
 * prints values in, and the form of an HTTP Basic credential the log must
 * mask. */
#ifndef MO_B64_H
#define MO_B64_H

#include <stddef.h>

/* The base64 of len bytes of data as a new string (free() it); NULL when out
 * of memory. */
char *b64_encode(const void *data, size_t len);

#endif
