/* `mosync poll <stream> --all-tenants`: one process polls one stream for
 * every active tenant of the registry (common/tenant.h).
 *
 * The scheduler keeps a compact slot per tenant (its name, registry rev,
 * state, interval and next due time), never a tenant's mo_config: a worker
 * builds that from the registry record when the tenant's cycle runs and
 * frees it after.  A thread watches the registry's generation
 * (mosync:{*}:tenants:gen, once a second) and the stream's trigger list
 * (mosync:{*}:triggers:<stream>, tenant names pushed by webhooks); a bounded
 * pool of POLL_WORKERS threads runs due cycles, each with one Redis store and
 * one lease handle rebound from tenant to tenant, all producing through the
 * process's one Kafka producer.  A cycle holds the (tenant, stream) lease
 * (lease.h) only while it runs, so several such processes share the
 * tenants; the start of the last cycle, mosync:{T}:polled:<stream> (written
 * fenced by the lease), keeps them at one cycle per tenant and interval. */
#ifndef MO_POLL_SCHED_H
#define MO_POLL_SCHED_H

#include "config.h"
#include "secretbox.h"
#include "store.h"

#include <jansson.h>

/* A tenant's state as the scheduler keeps it. */
enum {
    PS_ACTIVE = 0,
    PS_CONNECTING,
    PS_PAUSED,
    PS_NEEDS_RECONNECT,
    PS_BROKEN, /* a record that cannot be read (not JSON, no state) */
    PS_NSTATES
};
extern const char *const ps_state_names[PS_NSTATES];

#define PS_NAME_MAX 65

typedef struct ps_slot {
    char name[PS_NAME_MAX];
    long long rev;        /* the record's rev */
    long long due_ms;     /* monotonic: when its next cycle may start */
    long long last_ms;    /* monotonic: when its last cycle started, 0 never */
    long long warned_rev; /* the rev whose settings did not load (logged once), -1 none */
    long long clock_date, clock_at_ms; /* the source's clock (pe_clock) from the last cycle */
    int interval_s;
    unsigned char state, running, trigger;
} ps_slot;

/* What changed between two reads of the registry. */
typedef struct ps_diff {
    size_t added, removed, changed; /* changed: same name, another rev */
    size_t by_state[PS_NSTATES];
} ps_diff;

/* The interval of stream for a tenant's plain settings (borrowed):
 * POLL_INTERVAL_S_<STREAM>, else POLL_INTERVAL_S, else dflt; a value that is
 * not a whole number from 1 to 86400 counts as unset (tn_put refuses it).
 * Pure. */
int ps_interval(const json_t *settings, const char *stream, int dflt);

/* The slots after a read of the registry: names (sorted strings, tn_list)
 * and records (tn_get_sealed: objects, null where gone) give the tenants;
 * old (n_old slots, sorted by name) what was known.  A tenant kept keeps its
 * due time, last start, running and trigger flags; one that became active
 * (new, or resumed) is due at now_ms, or, on the first read (first = 1),
 * spread over its interval by its name so a restart does not poll every
 * tenant in the same second.  An interval changed moves the due time to the
 * last start plus the new interval.  *out (malloc, sorted, *n_out slots; NULL
 * when empty) and *d.  Returns -1 when out of memory.  Pure. */
int ps_merge(const ps_slot *old, size_t n_old, const json_t *names, const json_t *records,
             const char *stream, int dflt_interval_s, long long now_ms, int first, ps_slot **out,
             size_t *n_out, ps_diff *d);

/* The next due time of a cycle that started at started_ms (monotonic) with
 * this interval, no earlier than now_ms: a cycle longer than its interval is
 * followed by the next at once, not by a burst of missed ones.  Pure. */
long long ps_next_due(long long started_ms, int interval_s, long long now_ms);

/* Was a cycle due at due_ms and started at started_ms late (more than a tenth
 * of its interval after)?  Pure. */
int ps_late(long long due_ms, long long started_ms, int interval_s);

/* The slot named name in slots (n, sorted), or NULL.  Pure. */
ps_slot *ps_find(ps_slot *slots, size_t n, const char *name);

/* Runs the scheduler of stream until a stop is requested; key opens the
 * registry's secrets (MOSYNC_SECRET_KEY).  cfg: the process's settings
 * (Kafka, Redis, POLL_WORKERS, LEASE_TTL_S).  Prints a JSON summary at the
 * end.  Returns the exit status. */
int poll_all_tenants(const mo_config *cfg, const char *stream, const sb_key *key);

/* Pushes tenant's name on the trigger list of stream (webhooks): the
 * scheduler of that stream polls the tenant within about a second.  The list
 * keeps the newest PS_TRIGGERS_MAX names and expires PS_TRIGGERS_TTL_S after
 * the last push, so nothing lingers when no scheduler runs. */
#define PS_TRIGGERS_MAX   10000
#define PS_TRIGGERS_TTL_S 600
mo_err ps_trigger_push(rs_store *rs, const char *tenant, const char *stream, char *errstr,
                       size_t errstr_size);

#endif
