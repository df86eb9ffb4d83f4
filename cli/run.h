/* `mosync run`: every enabled poller and consumer in one process, one thread
 * each, for small shops.  The stock pair runs only with STOCK_SYNC=on. */
#ifndef MO_RUN_H
#define MO_RUN_H

#include "config.h"
#include "kafka.h"

/* Runs until SIGTERM/SIGINT, or until a role stops by itself (then stops the
 * others and returns 1).  Every poller produces its events, and every
 * applier its dead letters and their states, with kp (borrowed, one for the
 * process: its threads share it).  Returns the exit status. */
int run_all(const mo_config *cfg, kq_producer *kp);

/* The producer run_all's roles share (client id mosync-run); NULL with
 * errstr on a bad property.  Free with kq_producer_free after the roles. */
kq_producer *run_producer_new(const mo_config *cfg, char *errstr, size_t errstr_size);

#endif
