/* `mosync status [--json]`: is the sync healthy?  Per stream the cursor and
 * its age, the lease holder; per flow the consumer group's lag per partition,
 * the last success and last error of its applier and poller; a credential an
 * API refuses, since when and who met it; dead letters by
 * component and error class; the Mystore request budget used in the last
 * minute.  Reads only Kafka and Redis, changes nothing. */
#ifndef MO_STATUS_H
#define MO_STATUS_H

#include "config.h"

#include <jansson.h>

/* The command: argv holds what follows "status".  Exit 0 when both Kafka and
 * Redis could be read and no API refuses the tenant's credential
 * (credential.h), 1 otherwise (what could be read is still printed, the rest
 * is null with the reason), 2 on bad usage or configuration. */
int status_main(int argc, char **argv);

/* The report `mosync status --json` prints, for cfg's tenant (cfg borrowed;
 * `mosync admin` shows it as a page): new reference, NULL when out of
 * memory.  Opens and closes its own Redis connection, so it may run in any
 * thread.  *rc: the exit status status would end with (0 healthy, 1 not).
 * Error texts in it were masked when written; mask the rendered text again
 * (lg_mask_secrets) before it leaves the process. */
json_t *status_report(mo_config *cfg, int *rc);

/* Counts the tenant's OPEN dead letters by component and error class (the
 * letters of mosync.dlq with their states from mosync.dlq.state, read to
 * their current ends without a consumer group: dlq_open_by_class).  *out
 * (new reference) is {"<component>": {"<class>": n}}. */
mo_err status_dlq_counts(const mo_config *cfg, int timeout_ms, json_t **out, char *errstr,
                         size_t errstr_size);

#endif
