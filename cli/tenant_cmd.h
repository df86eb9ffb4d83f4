/* `mosync tenant add|list|show|set|pause|resume|remove|import-env`: the
 * tenant registry (common/tenant.h) from the command line, and `--tenant T`,
 * which makes any other command serve registry tenant T. */
#ifndef MO_TENANT_CMD_H
#define MO_TENANT_CMD_H

#include "config.h"
#include "secretbox.h"

/* The command: argv holds what follows "tenant".  Exit 0 ok, 1 failure,
 * 2 bad usage or configuration. */
int tenant_main(int argc, char **argv);

/* The configuration's MOSYNC_SECRET_KEY (or its _FILE) into *key: 0, or 2
 * after printing that it is not set. */
int tenant_secret_key(const mo_config *cfg, sb_key *key);

/* Takes "--tenant T" out of argv (anywhere after the command) and, when it
 * was there, loads T's settings from the registry for every later
 * cfg_load of this process (cfg_set_process_tenant).  A paused tenant or
 * one that needs reconnecting is refused to the long-running commands
 * (poll, apply, run: long_running).  Returns 0, or the exit status to end
 * with (it printed why). */
int tenant_use_from_args(int *argc, char **argv, int long_running);

#endif
