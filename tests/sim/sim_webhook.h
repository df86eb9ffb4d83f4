/* Webhooks a simulator sends (Mystore's signed ones, Ongoing's with a
 * token): queued and posted by a thread of their own with libcurl, so the
 * simulator's request handling never waits for the receiver.  Best effort:
 * a failed post is counted, not retried; a full queue drops (counted). */
#ifndef SIM_WEBHOOK_H
#define SIM_WEBHOOK_H

#include <jansson.h>

#define SIM_WEBHOOK_QUEUE_MAX 100000

/* Queues one POST of body (copied) to url with the headers ("Name: value",
 * n of them, copied).  Starts the sender thread on first use.  Call with the
 * simulator's lock held or not: it takes its own. */
void sim_webhook_post(const char *url, const char *const *headers, int n, const char *body);

/* {"queued", "sent", "failed", "dropped", "last_status", "last_error"}:
 * new reference. */
json_t *sim_webhook_stats(void);

#endif
