/* JSON-lines logs on stderr, one object per line:
 *   {"ts":"2026-11-27T10:00:00.123Z","level":"info","component":"poll.orders","tenant":"demo","msg":"..."}
 * Every registered secret (tokens, passwords) is replaced by "***" in the
 * message before it is written, as a last line of defence: code never formats
 * a secret into a message on purpose.  The whole message is formatted and
 * masked first and only then cut (at a UTF-8 character boundary), so a cut
 * never leaves the head of a secret behind.  Bytes that are not UTF-8 are
 * written escaped as "\xNN" text.  Thread-safe. */
#ifndef MO_LOG_H
#define MO_LOG_H

#include <stddef.h>

typedef enum { LG_DEBUG, LG_INFO, LG_WARN, LG_ERROR } lg_level;

/* The shortest secret (in characters) that can be masked: masking a shorter
 * one would blank pieces of ordinary words ("group" with the password "p"
 * became "grou*").  The configuration refuses shorter secrets at start. */
#define LG_SECRET_MIN 6

/* Sets the lowest level written; parses "debug|info|warn|error", returns -1 when unknown. */
int lg_set_level_name(const char *name);
/* Registers a secret to mask; the string is copied.  The forms a secret takes
 * inside JSON text (escaped) are registered with it.  Secrets are masked
 * longest first, so a secret that holds another is masked whole; there is no
 * limit on their number.  Returns 0 when registered (NULL and "" are ignored,
 * returning 0), -1 when it is shorter than LG_SECRET_MIN characters (not
 * registered), -2 when out of memory. */
int lg_add_secret(const char *secret);
/* Forgets one secret registered with lg_add_secret (and its JSON forms):
 * for secrets that rotate (OAuth tokens), so the list does not grow with
 * every refresh.  Unknown secrets are ignored. */
void lg_remove_secret(const char *secret);
/* Forgets every registered secret (the fuzz target of the configuration
 * loads thousands; nothing in mosync itself calls it). */
void lg_forget_secrets(void);
/* Writes one log line.  tenant may be NULL. */
void lg_log(lg_level level, const char *component, const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Masks every registered secret in buf (NUL-terminated) in place, for text
 * that leaves the process other than through the log.  The text never grows.
 * Mask BEFORE cutting text: see lg_quote(). */
void lg_mask_secrets(char *buf, unsigned long size);

/* Quotes outside text (an API's error body, a message from elsewhere) for a
 * one-line message: masks every secret in the whole text (len bytes, or up to
 * a NUL), turns control characters into spaces, and only then cuts it to at
 * most max bytes at a UTF-8 character boundary, ending it with "..." when it
 * was cut.  out (out_size >= 4) always receives a NUL-terminated string; it is
 * cut again, at a boundary, when smaller than max. */
void lg_quote(const char *text, size_t len, size_t max, char *out, size_t out_size);

/* The length of the longest prefix of s (len bytes) of at most max bytes that
 * does not end inside a UTF-8 character (an invalid byte counts as one). */
size_t lg_utf8_cut(const char *s, size_t len, size_t max);
/* Non-zero when s (len bytes) is well-formed UTF-8 without NUL bytes. */
int lg_utf8_valid(const char *s, size_t len);
/* s (len bytes) as well-formed UTF-8: every byte that is not part of a
 * well-formed character (and NUL) becomes the four characters "\xNN".
 * Returns a new string (free it), NULL when out of memory. */
char *lg_utf8_escape(const char *s, size_t len);

#define lg_debug(c, t, ...) lg_log(LG_DEBUG, c, t, __VA_ARGS__)
#define lg_info(c, t, ...)  lg_log(LG_INFO, c, t, __VA_ARGS__)
#define lg_warn(c, t, ...)  lg_log(LG_WARN, c, t, __VA_ARGS__)
#define lg_error(c, t, ...) lg_log(LG_ERROR, c, t, __VA_ARGS__)

#endif
