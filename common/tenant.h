/* The tenant registry: many shops from one deployment (`mosync tenant`).
 *
 * A tenant is one Mystore shop and one Ongoing goods owner with its own
 * settings: the same variables, names and rules as the environment tenant
 * (MYSTORE_SHOP, ONGOING_PASSWORD, STOCK_SYNC, POLL_INTERVAL_S, ...; the
 * ones config.c's table marks as a tenant's, cfg_tenant_var), and a state.
 *
 * Redis (AOF on: the registry is not a cache, it is where tenants live):
 *   mosync:{T}:tenant      JSON {"v": 1, "name", "state", "state_at",
 *                          "settings": {plain variables}, "secrets": sealed,
 *                          "created_at", "updated_at", "rev"}
 *   mosync:{*}:tenants     a set of every tenant's name
 *   mosync:{*}:tenants:gen a counter raised by every change (tn_gen)
 * "secrets" is the JSON object of the secret variables, sealed with
 * MOSYNC_SECRET_KEY (secretbox.h, AES-256-GCM) for the context
 * "mosync:{T}:tenant:secrets", so a sealed value moved to another tenant
 * does not open.  A record is written whole; the last writer wins. */
#ifndef MO_TENANT_H
#define MO_TENANT_H

#include "err.h"
#include "secretbox.h"
#include "store.h"

#include <jansson.h>

/* The states, in tn_state_valid's order. */
#define TN_CONNECTING      "connecting"
#define TN_ACTIVE          "active"
#define TN_PAUSED          "paused"
#define TN_NEEDS_RECONNECT "needs-reconnect"

int tn_state_valid(const char *state);

/* A tenant name is what MOSYNC_TENANT may be: 1-64 letters, digits, '-',
 * '_', '.'.  MO_ERR_CONFIG naming what is wrong. */
mo_err tn_check_name(const char *name, char *errstr, size_t errstr_size);

/* Checks settings (variable -> string; every value a string) as a tenant of
 * this name: only tenant variables, and cfg_load must accept them with the
 * shop and the goods owner required.  MO_ERR_CONFIG naming the variable. */
mo_err tn_validate(const char *name, const json_t *settings, char *errstr, size_t errstr_size);

/* Reads tenant `name` from Redis (rs: a store of any tenant).  *record (new
 * reference) is the record with "settings" holding every variable, the
 * secrets opened, and "secrets" removed; NULL when there is no such tenant.
 * MO_ERR_INVALID when the record cannot be read or its secrets do not open
 * with key (another MOSYNC_SECRET_KEY). */
mo_err tn_get(rs_store *rs, const sb_key *key, const char *name, json_t **record, char *errstr,
              size_t errstr_size);

/* Writes tenant `name` with settings (every variable, secrets in clear:
 * sealed here) and state; create: refuse (MO_ERR_INVALID, "exists") when it
 * exists, else it must exist.  Validates first (tn_validate). */
mo_err tn_put(rs_store *rs, const sb_key *key, const char *name, const json_t *settings,
              const char *state, int create, char *errstr, size_t errstr_size);

/* Sets the state of an existing tenant. */
mo_err tn_set_state(rs_store *rs, const sb_key *key, const char *name, const char *state,
                    char *errstr, size_t errstr_size);

/* *exists: is `name` a tenant of the registry? */
mo_err tn_exists(rs_store *rs, const char *name, int *exists, char *errstr, size_t errstr_size);

/* *names (new reference): the registry's tenant names, sorted. */
mo_err tn_list(rs_store *rs, json_t **names, char *errstr, size_t errstr_size);

/* The registry's generation (mosync:{*}:tenants:gen): every tn_put,
 * tn_set_state and tn_remove raises it, after its change is written, so a
 * process serving every tenant (`mosync poll --all-tenants`) learns of a
 * change with one GET a second.  0 before the first change. */
mo_err tn_gen(rs_store *rs, long long *gen, char *errstr, size_t errstr_size);

/* The records of names (an array of strings) as Redis holds them, secrets
 * still sealed (read without MOSYNC_SECRET_KEY: name, state, rev, plain
 * settings), MGET 500 at a time: *records (new reference) an array in the
 * order of names, null where a record is gone, an empty object where it is
 * not a JSON object. */
mo_err tn_get_sealed(rs_store *rs, const json_t *names, json_t **records, char *errstr,
                     size_t errstr_size);

/* Removes the tenant from the registry and deletes every key mosync:{T}:*
 * (cursors, leases, records, caches: the processes serving it stop at their
 * next look at the registry).  *deleted: how many keys went. */
mo_err tn_remove(rs_store *rs, const char *name, long long *deleted, char *errstr,
                 size_t errstr_size);

#endif
