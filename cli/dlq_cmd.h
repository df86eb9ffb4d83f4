/* `mosync dlq list|show|redrive|purge`: the dead letters with their states
 * (common/dlq_state.h), filtered by flow, entity, error class and time;
 * re-drive puts a letter's original bytes back on its original topic with
 * its original key; purge closes a letter (Kafka keeps its bytes). */
#ifndef MO_DLQ_CMD_H
#define MO_DLQ_CMD_H

/* argv starts after "dlq" (argv[0] is the subcommand).  Loads the
 * configuration itself.  Returns the exit status: 0, 1 when a selected
 * letter could not be handled (or Kafka failed), 2 for bad usage. */
int dlq_cmd_main(int argc, char **argv);

#endif
