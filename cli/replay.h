/* `mosync replay <flow>`: applies a range of a flow's topic again, through
 * today's mapping, in the flow's own consumer group (which must be
 * inactive).  See the README, "Replay: apply a time range again". */
#ifndef MO_REPLAY_H
#define MO_REPLAY_H

/* argv: the flow, then the options.  Returns the exit status: 0 done, 1
 * failure (group active, broker away, range not finished), 2 bad usage or
 * configuration. */
int replay_main(int argc, char **argv);

/* The option parsing of replay_main alone (the flow, --from-time, --to-time,
 * --from-offset, ...), pure but for its usage message on stderr: 0 when
 * argv is a valid request, 2 when not.  For the fuzz target. */
int replay_args_check(int argc, char **argv);

#endif
