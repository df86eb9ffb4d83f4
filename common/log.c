#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LG_MSG_MAX 2048 /* bytes of one message as written, after masking */

static pthread_mutex_t lg_lock = PTHREAD_MUTEX_INITIALIZER;
static lg_level lg_min = LG_INFO;
/* Registered secrets and their JSON forms, longest first (so a secret that
 * holds another is masked whole before the shorter one is looked for). */
static char **lg_secrets;
static size_t lg_nsecrets, lg_cap;

static const char *lg_level_names[] = {"debug", "info", "warn", "error"};

int lg_set_level_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(name, lg_level_names[i])) {
            lg_min = (lg_level)i;
            return 0;
        }
    }
    return -1;
}

/* Inserts one form of a secret (copied) in length order; lock held. */
static int lg_insert_locked(const char *form)
{
    size_t len = strlen(form), at = lg_nsecrets;
    for (size_t i = 0; i < lg_nsecrets; i++) {
        if (!strcmp(lg_secrets[i], form))
            return 0;
        if (at == lg_nsecrets && strlen(lg_secrets[i]) < len)
            at = i;
    }
    if (lg_nsecrets == lg_cap) {
        size_t cap = lg_cap ? lg_cap * 2 : 16;
        char **grown = realloc(lg_secrets, cap * sizeof(*grown));
        if (!grown)
            return -2;
        lg_secrets = grown;
        lg_cap = cap;
    }
    char *copy = strdup(form);
    if (!copy)
        return -2;
    memmove(lg_secrets + at + 1, lg_secrets + at, (lg_nsecrets - at) * sizeof(*lg_secrets));
    lg_secrets[at] = copy;
    lg_nsecrets++;
    return 0;
}

void lg_forget_secrets(void)
{
    pthread_mutex_lock(&lg_lock);
    for (size_t i = 0; i < lg_nsecrets; i++)
        free(lg_secrets[i]);
    free(lg_secrets);
    lg_secrets = NULL;
    lg_nsecrets = lg_cap = 0;
    pthread_mutex_unlock(&lg_lock);
}

/* Removes one form (exact) from the list; lock held. */
static void lg_drop_locked(const char *form)
{
    for (size_t i = 0; i < lg_nsecrets; i++) {
        if (!strcmp(lg_secrets[i], form)) {
            free(lg_secrets[i]);
            memmove(lg_secrets + i, lg_secrets + i + 1,
                    (lg_nsecrets - i - 1) * sizeof(*lg_secrets));
            lg_nsecrets--;
            return;
        }
    }
}

void lg_remove_secret(const char *secret)
{
    static const size_t flags[] = {0, JSON_ESCAPE_SLASH, JSON_ENSURE_ASCII,
                                   JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
    if (!secret || !*secret)
        return;
    pthread_mutex_lock(&lg_lock);
    lg_drop_locked(secret);
    json_t *s = json_string(secret);
    for (size_t i = 0; s && i < sizeof(flags) / sizeof(flags[0]); i++) {
        char *quoted = json_dumps(s, JSON_ENCODE_ANY | flags[i]);
        size_t n = quoted ? strlen(quoted) : 0;
        if (n > 2) {
            quoted[n - 1] = '\0';
            lg_drop_locked(quoted + 1);
        }
        free(quoted);
    }
    json_decref(s);
    pthread_mutex_unlock(&lg_lock);
}

int lg_add_secret(const char *secret)
{
    static const size_t flags[] = {0, JSON_ESCAPE_SLASH, JSON_ENSURE_ASCII,
                                   JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
    size_t chars = 0;
    int rc = 0;

    if (!secret || !*secret)
        return 0;
    for (const unsigned char *p = (const unsigned char *)secret; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    if (chars < LG_SECRET_MIN)
        return -1;
    pthread_mutex_lock(&lg_lock);
    rc = lg_insert_locked(secret);
    /* An API that quotes the secret back in a JSON answer escapes it
     * ('"', '\', '/', non-ASCII): mask those spellings too. */
    json_t *s = json_string(secret);
    for (size_t i = 0; s && !rc && i < sizeof(flags) / sizeof(flags[0]); i++) {
        char *quoted = json_dumps(s, JSON_ENCODE_ANY | flags[i]);
        size_t n = quoted ? strlen(quoted) : 0;
        if (n > 2) {
            quoted[n - 1] = '\0';
            if (strcmp(quoted + 1, secret))
                rc = lg_insert_locked(quoted + 1);
        }
        free(quoted);
    }
    json_decref(s);
    pthread_mutex_unlock(&lg_lock);
    return rc;
}

/* Replaces each occurrence of each secret by "***", longest secrets first;
 * the text never grows (a secret is at least LG_SECRET_MIN long). */
static void lg_mask_locked(char *buf)
{
    for (size_t i = 0; i < lg_nsecrets; i++) {
        size_t slen = strlen(lg_secrets[i]);
        char *p = buf;
        while ((p = strstr(p, lg_secrets[i])) != NULL) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + slen, strlen(p + slen) + 1);
            p += 3;
        }
    }
}

void lg_mask_secrets(char *buf, unsigned long size)
{
    (void)size;
    pthread_mutex_lock(&lg_lock);
    lg_mask_locked(buf);
    pthread_mutex_unlock(&lg_lock);
}

/* The length of the well-formed UTF-8 character at s (left bytes), 0 when
 * the bytes there are not one (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) or are a NUL. */
static size_t lg_utf8_char(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

size_t lg_utf8_cut(const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t at = 0;
    while (at < len) {
        size_t n = lg_utf8_char(u + at, len - at);
        if (!n)
            n = 1;
        if (at + n > max)
            break;
        at += n;
    }
    return at;
}

int lg_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t at = 0; at < len;) {
        size_t n = lg_utf8_char(u + at, len - at);
        if (!n)
            return 0;
        at += n;
    }
    return 1;
}

char *lg_utf8_escape(const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t at = 0; at < len;) {
        size_t n = lg_utf8_char(u + at, len - at);
        bad += !n;
        at += n ? n : 1;
    }
    char *out = malloc(len + bad * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t at = 0; at < len;) {
        size_t n = lg_utf8_char(u + at, len - at);
        if (n) {
            memcpy(o, s + at, n);
            o += n;
            at += n;
        } else {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[u[at] >> 4];
            *o++ = hex[u[at] & 15];
            at++;
        }
    }
    *o = '\0';
    return out;
}

void lg_quote(const char *text, size_t len, size_t max, char *out, size_t out_size)
{
    const char *nul = memchr(text, '\0', len);
    if (nul)
        len = (size_t)(nul - text);
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(out, out_size, "(text not shown: out of memory)");
        return;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    /* Mask the whole text first: a cut must never leave a secret's head. */
    pthread_mutex_lock(&lg_lock);
    lg_mask_locked(copy);
    pthread_mutex_unlock(&lg_lock);
    len = strlen(copy);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)copy[i] < 0x20 || copy[i] == 0x7f)
            copy[i] = ' ';
    if (max + 1 > out_size)
        max = out_size - 1;
    size_t keep = lg_utf8_cut(copy, len, max);
    if (keep < len) /* room for "..." */
        keep = lg_utf8_cut(copy, len, max >= 3 ? max - 3 : 0);
    memcpy(out, copy, keep);
    if (keep < len) {
        memcpy(out + keep, "...", 3);
        keep += 3;
    }
    out[keep] = '\0';
    free(copy);
}

void lg_log(lg_level level, const char *component, const char *tenant, const char *fmt, ...)
{
    char small[LG_MSG_MAX], ts[64];
    char *msg = small, *text = NULL;
    struct timespec now;
    struct tm tm;
    va_list ap, again;

    if (level < lg_min)
        return;
    /* The whole message, however long: it is masked before it is cut. */
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(small)) {
        msg = malloc((size_t)n + 1);
        if (msg)
            vsnprintf(msg, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    if (n < 0 || !msg) {
        msg = small;
        snprintf(small, sizeof(small), "(message lost: %s)",
                 n < 0 ? "cannot be formatted" : "out of memory");
    }

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (now.tv_nsec / 1000000) % 1000);

    pthread_mutex_lock(&lg_lock);
    lg_mask_locked(msg);
    /* Bytes that are not UTF-8 are shown escaped (a JSON string must be
     * UTF-8); the line is cut only now, at a character boundary. */
    text = lg_utf8_escape(msg, strlen(msg));
    if (text) {
        size_t len = strlen(text), keep = lg_utf8_cut(text, len, LG_MSG_MAX - 1);
        if (keep < len) {
            keep = lg_utf8_cut(text, len, LG_MSG_MAX - 4);
            memcpy(text + keep, "...", 4);
        }
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "ts", ts, "level", lg_level_names[level],
                          "component", component ? component : "mosync", "tenant", tenant, "msg",
                          text ? text : "(message lost: out of memory)");
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line)
        fprintf(stderr, "%s\n", line);
    else /* out of memory, or a component or tenant that is not UTF-8 (never from config) */
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(message lost)\"}\n", ts,
                lg_level_names[level]);
    fflush(stderr);
    pthread_mutex_unlock(&lg_lock);
    free(line);
    json_decref(o);
    free(text);
    if (msg != small)
        free(msg);
}
