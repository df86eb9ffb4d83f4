/* Configuration from environment variables, validated at start.
 *
 * The README has the table of variables.  A bad or missing value is reported
 * with the variable's name and the process exits with status 2 (see main.c). */
#ifndef MO_CONFIG_H
#define MO_CONFIG_H

#include "err.h"
#include "secretbox.h"

#include <jansson.h>

#define CFG_MAX_EDITABLE    16
#define CFG_MAX_KAFKA_PROPS 32
/* MYSTORE_ORDER_STATUSES: at most this many statuses, each at most
 * CFG_ORDER_STATUS_MAX - 1 bytes, the whole list at most
 * CFG_ORDER_STATUSES_MAX - 1 bytes. */
#define CFG_MAX_ORDER_STATUSES 32
#define CFG_ORDER_STATUS_MAX   128
#define CFG_ORDER_STATUSES_MAX 2048

/* What a command needs; cfg_load() insists on these variables being set. */
enum {
    CFG_NEED_KAFKA = 1 << 0,
    CFG_NEED_REDIS = 1 << 1,
    CFG_NEED_MYSTORE = 1 << 2, /* URL, shop, token (or the OAuth client and refresh token) */
    CFG_NEED_ONGOING = 1 << 3, /* URL, user, password, goods owner */
    CFG_NEED_ADMIN = 1 << 4,   /* ADMIN_PASSWORD (`mosync admin`) */
};

typedef struct mo_config {
    char tenant[65]; /* MOSYNC_TENANT */
    int registry;    /* 1: a registry tenant's settings (cfg_load_tenant, --tenant T) */
    char log_level[8];

    char kafka_brokers[1024];
    char topic_prefix[128];
    int topic_partitions;
    struct {
        char name[128];
        char value[1024];
    } kafka_props[CFG_MAX_KAFKA_PROPS]; /* KAFKA_PROP_<name with dots as underscores> */
    int n_kafka_props;

    char redis_url[512];
    /* <NAME>_FILE of the secret settings (Docker secrets): the file the value
     * was read from, "" when it came from NAME itself (or is unset). */
    char redis_url_file[256];
    char mystore_token_file[256];
    char ongoing_password_file[256];
    char mystore_webhook_secret_file[256];
    char ongoing_webhook_token_file[256];

    char mystore_url[512];
    char mystore_shop[128];
    char mystore_token[4096]; /* secret; with OAuth only an initial access token (may be "") */
    /* OAuth (common/oauth.h): all three set, or none. */
    char mystore_auth_url[512];           /* MYSTORE_AUTH_URL */
    char mystore_client_id[256];          /* MYSTORE_CLIENT_ID */
    char mystore_client_secret[1024];     /* MYSTORE_CLIENT_SECRET, secret */
    char mystore_client_secret_file[256]; /* its _FILE */
    char mystore_refresh_token[4096];     /* MYSTORE_REFRESH_TOKEN, secret: the chain's start */
    char mystore_refresh_token_file[256]; /* its _FILE */
    int mystore_oauth;                    /* the three above are set: tokens refresh */
    /* MOSYNC_SECRET_KEY (+ _FILE): the key of secrets at rest (secretbox.h). */
    char secret_key_text[256]; /* secret, as given */
    char secret_key_file[256];
    int secret_key_set;
    sb_key secret_key;
    char mystore_timezone[64];
    char mystore_language[16];
    int mystore_weight_kg; /* M4: 0 = grams, 1 = kilograms */
    char mystore_status_sent[128];
    char mystore_status_cancelled[128];
    /* MYSTORE_ORDER_STATUSES: the Mystore order statuses whose orders go to
     * the warehouse, a JSON array of names or ids as listed (spaces around
     * each trimmed), owned; NULL when unset or blank: every status but the
     * sent and the cancelled one.  The order mapping reads it (mp_order_conf). */
    json_t *mystore_order_statuses;
    int mystore_rate_per_min;
    int mystore_lookback_h;
    json_t *shipping_methods; /* SHIPPING_METHOD_MAP, owned, NULL when unset */

    char ongoing_url[512];
    char ongoing_user[256];
    char ongoing_password[256]; /* secret */
    long ongoing_goods_owner;
    int ongoing_editable[CFG_MAX_EDITABLE]; /* O1 */
    int n_ongoing_editable;

    int ongoing_lookback_h; /* O6 */

    /* `mosync webhooks`: the secret Mystore signs its webhooks with
     * (X-No-Mystore-Hmac-Sha256) and the token Ongoing's webhooks carry
     * (X-Auth-Token); "" = that route is not served. */
    char mystore_webhook_secret[256]; /* secret */
    char ongoing_webhook_token[256];  /* secret */

    int stock_sync; /* STOCK_SYNC=on: the stock flow runs (off by default, as in the seed) */
    int allow_insecure_http; /* ALLOW_INSECURE_HTTP=on: http:// API URLs to other hosts than
                                loopback */
    int http_timeout_ms;     /* HTTP_TIMEOUT_MS: one request's total time, both APIs */
    int retry_after_max_s;   /* RETRY_AFTER_MAX_S: the longest Retry-After obeyed */
    int max_attempts; /* MAX_ATTEMPTS: transient failures of one message before its dead letter */
    int applied_ttl_days; /* APPLIED_TTL_DAYS: expiry of applied records and look-up caches */
    int lease_ttl_s;      /* LEASE_TTL_S: a poller's lease; a standby takes over within it */
    int poll_seen_max;    /* POLL_SEEN_MAX: entries of one stream's seen map (producers/poll.c) */
    int dry_run;          /* DRY_RUN=on: appliers compare and record, and send nothing */
    int dry_run_ttl_days; /* DRY_RUN_TTL_DAYS: expiry of the dry-run records */
    int metrics_port;     /* METRICS_PORT: /metrics, /healthz, /readyz; 0 = no server */
    char metrics_listen[64]; /* METRICS_LISTEN: the address it binds (IPv4 or IPv6 literal) */
    int poll_interval_s;
    int poll_workers;         /* POLL_WORKERS: cycles at once of `poll --all-tenants` */
    int metrics_tenant_label; /* METRICS_TENANT_LABEL=on: series carry their tenant */
    int all_tenants;          /* MOSYNC_ALL_TENANTS=on (cfg_all_tenants) */
    /* POLL_INTERVAL_S_<STREAM> overrides, 0 = POLL_INTERVAL_S; in the order of cfg_streams. */
    int poll_interval_stream_s[4];

    /* `mosync admin` (cli/admin.c): ADMIN_LISTEN as given ("127.0.0.1:8080")
     * and parsed into an address literal and a port; the admin password
     * (secret) and its _FILE; ADMIN_SECURE_COOKIE=on adds Secure to the
     * session cookie (behind a TLS proxy). */
    char admin_listen[96];
    char admin_addr[64]; /* "127.0.0.1", "::1" (no brackets) */
    int admin_port;
    char admin_password[256];
    char admin_password_file[256];
    int admin_secure_cookie;
    /* Connect (issue 14): the OAuth client the admin app sends merchants to
     * Mystore's authorize page with, and the admin app's own address as the
     * merchant's browser reaches it (the callback's redirect_uri is
     * ADMIN_PUBLIC_URL + "/oauth/callback"; default http://ADMIN_LISTEN). */
    char admin_client_id[256];
    char admin_client_secret[512];
    char admin_client_secret_file[256];
    char admin_public_url[256];
    /* Where Mystore reaches `mosync webhooks` (Activate registers
     * <it>/webhooks/mystore/<tenant>); "" = no registration. */
    char admin_webhook_url[256];
    /* An Ongoing customer id's system URL, {id} standing for the id (O8);
     * "" = Connect takes a system URL only. */
    char admin_customer_url[256];
} mo_config;

/* The four streams a poller reads, by name ("mystore-orders", ...). */
extern const char *const cfg_streams[4];
/* Each stream's own interval variable (POLL_INTERVAL_S_MYSTORE_ORDERS, ...), in
 * the order of cfg_streams. */
extern const char *const cfg_stream_vars[4];

/* APPLIED_TTL_DAYS in seconds: the expiry of every applied record and cache key. */
long cfg_applied_ttl_s(const mo_config *cfg);

/* Seconds between two cycles of the poller of `stream`. */
int cfg_poll_interval(const mo_config *cfg, const char *stream);

/* Reads and validates the environment into cfg.  `need` is a mask of CFG_NEED_*.
 * Returns MO_ERR_CONFIG with a message that names the variable. Registers the
 * secrets with the log so they are never printed. Free with cfg_free().
 *
 * Every secret setting (MYSTORE_TOKEN, ONGOING_PASSWORD, REDIS_URL,
 * MYSTORE_WEBHOOK_SECRET, ONGOING_WEBHOOK_TOKEN and each KAFKA_PROP_<name>) may instead name a file
 * in <NAME>_FILE, the Docker secrets convention (MYSTORE_TOKEN_FILE=/run/secrets/mystore_token):
 * its contents, without one trailing newline, are the value.  Both set, a file that cannot be read,
 * an empty one or one of more than a line is a configuration error naming the variable and the
 * path, never the value. */
mo_err cfg_load(mo_config *cfg, int need, char *errstr, size_t errstr_size);
void cfg_free(mo_config *cfg);

/* ---- a registry tenant (common/tenant.c, `mosync tenant`) ----------------
 * A tenant's settings are an object of variable name -> string value, the
 * same names and rules as the environment (MYSTORE_SHOP, ONGOING_PASSWORD,
 * ...), plus "MOSYNC_TENANT" (its name).  Loaded with them, a variable the
 * table marks as a tenant's comes only from the object (absent = unset; no
 * *_FILE), every other one from the environment. */

/* Is name a tenant's own setting?  *secret: is it a secret. */
int cfg_tenant_var(const char *name, int *secret);
/* cfg_load with a tenant's settings (borrowed) in this thread. */
mo_err cfg_load_tenant(mo_config *cfg, int need, const json_t *settings, char *errstr,
                       size_t errstr_size);
/* *settings (new reference): the environment tenant's settings as the
 * registry holds them (the variables set, secrets read from their *_FILE);
 * for `mosync tenant import-env`. */
mo_err cfg_tenant_from_env(json_t **settings, char *errstr, size_t errstr_size);
/* Every later cfg_load of this process (in any thread without settings of
 * its own) reads the tenant's settings (borrowed; they must outlive the
 * loads; NULL: the environment again).  Set before threads start. */
void cfg_set_process_tenant(const json_t *settings);

/* `mosync config`: every setting that changes behaviour, keyed by its
 * variable's name, as cfg_load understood it (defaults filled in, values
 * parsed): new object, caller owns it; NULL when out of memory.  Secrets
 * (MYSTORE_TOKEN, ONGOING_PASSWORD, REDIS_URL's password, the webhook secrets,
 * the secret KAFKA_PROP_* values) only as "(set)" or "(unset)"; REDIS_URL as its parts.
 * The one table of variables in config.c drives it; a test compares it with
 * the variables config.c reads and with README.md's configuration table. */
json_t *cfg_describe(const mo_config *cfg);

/* A consumer group's full name for a base name ("mosync-apply-orders") into
 * buf: the prefix, and for a registry tenant "." and its name (each registry
 * tenant's appliers consume in groups of their own). */
const char *cfg_group(const mo_config *cfg, const char *base, char *buf, size_t size);
/* MOSYNC_ALL_TENANTS: on makes `poll <stream>`, `apply <flow>` and `webhooks`
 * serve every registry tenant as with --all-tenants, so one deployment's
 * services (compose) switch to the registry by a setting.  1 on, 0 off or
 * unset, -1 another value. */
int cfg_all_tenants(void);

/* The full topic name for a base name ("mystore.orders") into buf. */
const char *cfg_topic(const mo_config *cfg, const char *base, char *buf, size_t size);
/* SHIPPING_METHOD_MAP: Ongoing's wayOfDelivery {code, name} for a Mystore
 * shipping method.  The one rule for which entries are valid, used by the
 * configuration at start (every entry) and by the order mapping (pure, no
 * I/O), so the two can never disagree:
 *   "<method>": "<code>"                               name = the method
 *   "<method>": {"code": "<code>"}                     name = the method
 *   "<method>": {"code": "<code>", "name": "<name>"}   (name may be null)
 * code and name are non-empty strings; no other members.  Without a table or
 * an entry for method, code = name = method.  map (may be NULL) and method
 * are borrowed; *code and *name point into them.  MO_ERR_CONFIG with a reason
 * naming SHIPPING_METHOD_MAP and the entry when the entry is not valid. */
mo_err cfg_way_of_delivery(const json_t *map, const char *method, const char **code,
                           const char **name, char *errstr, size_t errstr_size);

/* Is the Ongoing status number editable (O1)? */
int cfg_ongoing_editable(const mo_config *cfg, int status);

#endif
