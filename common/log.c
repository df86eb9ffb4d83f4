#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LG_MAX_SECRETS 16
#define LG_MSG_MAX     2048

static pthread_mutex_t lg_lock = PTHREAD_MUTEX_INITIALIZER;
static lg_level lg_min = LG_INFO;
static char *lg_secrets[LG_MAX_SECRETS];
static int lg_nsecrets;

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

void lg_add_secret(const char *secret)
{
    if (!secret || !*secret)
        return;
    pthread_mutex_lock(&lg_lock);
    for (int i = 0; i < lg_nsecrets; i++) {
        if (!strcmp(lg_secrets[i], secret)) {
            pthread_mutex_unlock(&lg_lock);
            return;
        }
    }
    if (lg_nsecrets < LG_MAX_SECRETS)
        lg_secrets[lg_nsecrets++] = strdup(secret);
    pthread_mutex_unlock(&lg_lock);
}

/* Replaces each occurrence of each secret by "***"; the result never grows. */
static void lg_mask_locked(char *buf, size_t size)
{
    for (int i = 0; i < lg_nsecrets; i++) {
        size_t slen = strlen(lg_secrets[i]);
        char *p;
        while ((p = strstr(buf, lg_secrets[i])) != NULL) {
            size_t rest = strlen(p + slen);
            size_t mask = slen < 3 ? slen : 3;
            memset(p, '*', mask);
            memmove(p + mask, p + slen, rest + 1);
        }
    }
    (void)size;
}

void lg_mask_secrets(char *buf, unsigned long size)
{
    pthread_mutex_lock(&lg_lock);
    lg_mask_locked(buf, size);
    pthread_mutex_unlock(&lg_lock);
}

void lg_log(lg_level level, const char *component, const char *tenant, const char *fmt, ...)
{
    char msg[LG_MSG_MAX], ts[64];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (level < lg_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (now.tv_nsec / 1000000) % 1000);

    pthread_mutex_lock(&lg_lock);
    lg_mask_locked(msg, sizeof(msg));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s?, s:s}", "ts", ts, "level", lg_level_names[level],
                  "component", component ? component : "mosync", "tenant", tenant, "msg", msg);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line)
        fprintf(stderr, "%s\n", line);
    else /* invalid UTF-8 in msg: still say something */
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(unprintable message)\"}\n", ts,
                lg_level_names[level]);
    fflush(stderr);
    pthread_mutex_unlock(&lg_lock);
    free(line);
    json_decref(o);
}
