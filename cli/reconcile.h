/* `mosync reconcile <flow> [--since T] [--fix] [--json]`: proves, after an
 * incident or a migration from the integration mosync replaces, that
 * nothing is missing.  It reads the flow's source through the poller's own
 * source (producers/poll.h: the same list, window and snapshot), maps each
 * entity with the applier's pure mapping and settings, and compares the
 * result with what the target holds (consumers/map_diff.h, the dry run's
 * comparisons), listing what is missing or different with the reason.
 * Read-only (the shared Mystore budget aside) unless --fix, which emits each
 * fixable entity again as `mosync resync` does (pe_emit_one), for the
 * appliers to send.  See the README, "Reconcile". */
#ifndef MO_RECONCILE_H
#define MO_RECONCILE_H

/* argv[0] is the flow (orders, articles, deliveries, stock), the rest the
 * options.  Reads the configuration itself.  Returns the exit status: 0
 * nothing missing or different (or all of it re-emitted with --fix), 1
 * something found (or not fixable, not emitted, not read, or the scan could
 * not be completed), 2 bad usage or configuration. */
int reconcile_main(int argc, char **argv);

#endif
