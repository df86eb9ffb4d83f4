#include "run.h"
#include "apply.h"
#include "log.h"
#include "poll.h"
#include "stop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

typedef struct run_role {
    const char *name;
    int is_poller;
    int (*poll)(const mo_config *cfg, const poll_opts *opts);
    int (*apply)(const mo_config *cfg, const apply_opts *opts);
    int needs_stock; /* runs only with STOCK_SYNC=on */
    const mo_config *cfg;
    kq_producer *kp; /* the process's, shared by every role */
    pthread_t thread;
    int started;
    int rc;
} run_role;

static atomic_int run_finished;

static void *run_thread(void *arg)
{
    run_role *r = arg;
    if (r->poll)
        r->rc = r->poll(r->cfg, &(poll_opts){.once = 0, .kp = r->kp});
    else
        r->rc =
            r->apply(r->cfg, &(apply_opts){.once = 0, .idle_ms = 0, .group = NULL, .kp = r->kp});
    if (!mo_stop_requested()) {
        lg_error("run", r->cfg->tenant, "%s stopped by itself (exit %d); stopping the others",
                 r->name, r->rc);
        mo_stop_request();
    }
    atomic_fetch_add(&run_finished, 1);
    return NULL;
}

kq_producer *run_producer_new(const mo_config *cfg, char *errstr, size_t errstr_size)
{
    return kq_producer_new(cfg, "mosync-run", errstr, errstr_size);
}

int run_all(const mo_config *cfg, kq_producer *kp)
{
    run_role roles[] = {
        {.name = "poll mystore-products", .poll = poll_mystore_products},
        {.name = "poll mystore-orders", .poll = poll_mystore_orders},
        {.name = "poll ongoing-shipments", .poll = poll_ongoing_shipments},
        {.name = "poll ongoing-stock", .poll = poll_ongoing_stock, .needs_stock = 1},
        {.name = "apply articles", .apply = apply_articles},
        {.name = "apply orders", .apply = apply_orders},
        {.name = "apply deliveries", .apply = apply_deliveries},
        {.name = "apply stock", .apply = apply_stock, .needs_stock = 1},
    };
    int n = (int)(sizeof(roles) / sizeof(roles[0])), rc = 0, started = 0;

    for (int i = 0; i < n; i++) {
        roles[i].cfg = cfg;
        roles[i].kp = kp;
        if (roles[i].needs_stock && !cfg->stock_sync)
            continue;
        if (pthread_create(&roles[i].thread, NULL, run_thread, &roles[i])) {
            lg_error("run", cfg->tenant, "cannot start %s", roles[i].name);
            mo_stop_request();
            rc = 1;
            break;
        }
        roles[i].started = 1;
        started++;
    }
    lg_info("run", cfg->tenant, "running %d roles in one process%s", started,
            cfg->stock_sync ? "" : "; stock sync is off (STOCK_SYNC is not 'on')");
    for (int i = 0; i < n; i++) {
        if (!roles[i].started)
            continue;
        pthread_join(roles[i].thread, NULL);
        if (roles[i].rc && !rc)
            rc = 1;
    }
    return rc;
}
