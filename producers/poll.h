/* The pollers: each reads one source's changes since its cursor and emits one
 * event per changed entity, advancing the cursor only after Kafka
 * acknowledged every event of a page. */
#ifndef MO_POLL_H
#define MO_POLL_H

#include "config.h"

typedef struct poll_opts {
    int once; /* one cycle, then return (tests, cron) */
} poll_opts;

/* `mosync poll mystore-orders`.  Returns the process exit status. */
int poll_mystore_orders(const mo_config *cfg, const poll_opts *opts);

#endif
