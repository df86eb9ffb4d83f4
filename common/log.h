/* JSON-lines logs on stderr, one object per line:
 *   {"ts":"2026-11-27T10:00:00.123Z","level":"info","component":"poll.orders","tenant":"demo","msg":"..."}
 * Every registered secret (tokens, passwords) is replaced by "***" in the
 * message before it is written, as a last line of defence: code never formats
 * a secret into a message on purpose. Thread-safe. */
#ifndef MO_LOG_H
#define MO_LOG_H

typedef enum { LG_DEBUG, LG_INFO, LG_WARN, LG_ERROR } lg_level;

/* Sets the lowest level written; parses "debug|info|warn|error", returns -1 when unknown. */
int lg_set_level_name(const char *name);
/* Registers a secret to mask.  The string is copied; empty strings and NULL are ignored. */
void lg_add_secret(const char *secret);
/* Writes one log line.  tenant may be NULL. */
void lg_log(lg_level level, const char *component, const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Masks every registered secret in buf in place (for text that leaves the
 * process other than through the log, e.g. dead-letter error headers). */
void lg_mask_secrets(char *buf, unsigned long size);

#define lg_debug(c, t, ...) lg_log(LG_DEBUG, c, t, __VA_ARGS__)
#define lg_info(c, t, ...)  lg_log(LG_INFO, c, t, __VA_ARGS__)
#define lg_warn(c, t, ...)  lg_log(LG_WARN, c, t, __VA_ARGS__)
#define lg_error(c, t, ...) lg_log(LG_ERROR, c, t, __VA_ARGS__)

#endif
