/* `mosync run`: every enabled poller and consumer in one process, one thread
 * each, for small shops.  The stock pair runs only with STOCK_SYNC=on. */
#ifndef MO_RUN_H
#define MO_RUN_H

#include "config.h"

/* Runs until SIGTERM/SIGINT, or until a role stops by itself (then stops the
 * others and returns 1).  Returns the exit status. */
int run_all(const mo_config *cfg);

#endif
