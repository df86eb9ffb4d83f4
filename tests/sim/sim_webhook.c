/* The simulators' webhook sender (see sim_webhook.h). */
#include "sim_webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_HEADERS_MAX 8

typedef struct sw_item {
    struct sw_item *next;
    char *url, *body;
    char *headers[SW_HEADERS_MAX];
    int n;
} sw_item;

static pthread_mutex_t sw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sw_cv = PTHREAD_COND_INITIALIZER;
static sw_item *sw_head, *sw_tail;
static long sw_len, sw_queued, sw_sent, sw_failed, sw_dropped, sw_last_status;
static char sw_last_error[256];
static int sw_started;

static char *sw_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void sw_free(sw_item *it)
{
    free(it->url);
    free(it->body);
    for (int i = 0; i < it->n; i++)
        free(it->headers[i]);
    free(it);
}

static size_t sw_discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

static void *sw_thread(void *arg)
{
    (void)arg;
    CURL *curl = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&sw_lock);
        while (!sw_head)
            pthread_cond_wait(&sw_cv, &sw_lock);
        sw_item *it = sw_head;
        sw_head = it->next;
        if (!sw_head)
            sw_tail = NULL;
        sw_len--;
        pthread_mutex_unlock(&sw_lock);

        struct curl_slist *hl = NULL;
        hl = curl_slist_append(hl, "Content-Type: application/json");
        hl = curl_slist_append(hl, "Expect:");
        for (int i = 0; i < it->n; i++)
            hl = curl_slist_append(hl, it->headers[i]);
        long status = 0;
        CURLcode rc = CURLE_FAILED_INIT;
        if (curl) {
            curl_easy_reset(curl);
            curl_easy_setopt(curl, CURLOPT_URL, it->url);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, it->body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(it->body));
            curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
            curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
            curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
            curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sw_discard);
            rc = curl_easy_perform(curl);
            if (rc == CURLE_OK)
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        }
        curl_slist_free_all(hl);
        pthread_mutex_lock(&sw_lock);
        sw_last_status = status;
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            sw_sent++;
        } else {
            sw_failed++;
            snprintf(sw_last_error, sizeof(sw_last_error), "%s",
                     rc == CURLE_OK ? "non-2xx answer" : curl_easy_strerror(rc));
        }
        pthread_mutex_unlock(&sw_lock);
        fprintf(stderr, "webhook POST %s -> %ld%s%s\n", it->url, status, rc == CURLE_OK ? "" : " ",
                rc == CURLE_OK ? "" : curl_easy_strerror(rc));
        sw_free(it);
    }
    return NULL;
}

void sim_webhook_post(const char *url, const char *const *headers, int n, const char *body)
{
    sw_item *it = calloc(1, sizeof(*it));
    if (!it)
        return;
    it->url = sw_dup(url);
    it->body = sw_dup(body);
    for (int i = 0; i < n && i < SW_HEADERS_MAX; i++)
        it->headers[it->n++] = sw_dup(headers[i]);
    pthread_mutex_lock(&sw_lock);
    if (!sw_started) {
        pthread_t t;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (pthread_create(&t, NULL, sw_thread, NULL) == 0) {
            pthread_detach(t);
            sw_started = 1;
        }
    }
    if (!sw_started || sw_len >= SIM_WEBHOOK_QUEUE_MAX || !it->url || !it->body) {
        sw_dropped++;
        pthread_mutex_unlock(&sw_lock);
        sw_free(it);
        return;
    }
    if (sw_tail)
        sw_tail->next = it;
    else
        sw_head = it;
    sw_tail = it;
    sw_len++;
    sw_queued++;
    pthread_cond_signal(&sw_cv);
    pthread_mutex_unlock(&sw_lock);
}

json_t *sim_webhook_stats(void)
{
    pthread_mutex_lock(&sw_lock);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "queued", (json_int_t)sw_queued,
                          "pending", (json_int_t)sw_len, "sent", (json_int_t)sw_sent, "failed",
                          (json_int_t)sw_failed, "dropped", (json_int_t)sw_dropped, "last_status",
                          (json_int_t)sw_last_status, "last_error", sw_last_error);
    pthread_mutex_unlock(&sw_lock);
    return o;
}
