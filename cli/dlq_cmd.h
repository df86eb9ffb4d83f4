/* `mosync dlq list|show|redrive|purge`: the dead letters with their states
 * (common/dlq_state.h), filtered by flow, entity, error class and time;
 * re-drive puts a letter's original bytes back on its original topic with
 * its original key; purge closes a letter (Kafka keeps its bytes). */
#ifndef MO_DLQ_CMD_H
#define MO_DLQ_CMD_H

#include "config.h"
#include "err.h"

/* argv starts after "dlq" (argv[0] is the subcommand).  Loads the
 * configuration itself.  Returns the exit status: 0, 1 when a selected
 * letter could not be handled (or Kafka failed), 2 for bad usage. */
int dlq_cmd_main(int argc, char **argv);

/* Re-drives the open letter `id` ("<partition>:<offset>") of cfg's tenant
 * exactly as `mosync dlq redrive --id` does (its original bytes back on its
 * topic, its state "redriven", the appliers' index in step), for `mosync
 * admin`.  MO_OK; MO_ERR_INVALID when there is no such open letter of the
 * tenant; another error when it could not be re-driven: errstr says why. */
mo_err dlq_cmd_redrive_id(const mo_config *cfg, const char *id, char *errstr, size_t errstr_size);

#endif
