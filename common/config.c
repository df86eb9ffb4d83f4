#include "config.h"
#include "log.h"
#include "store.h"
#include "tz.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

extern char **environ;

/* ---- a registry tenant's settings (mosync tenant, common/tenant.c) -------
 * When a tenant from the registry is loaded, its settings replace the
 * environment for every variable the table below marks as a tenant's
 * (cfg_tenant_var): a value the tenant does not set is unset, whatever the
 * environment holds, and a tenant's secret never comes from a *_FILE.  The
 * other variables (Kafka, Redis, the metrics server, ...) belong to the
 * process and still come from the environment. */
static const json_t *cfg_overlay_process;
static _Thread_local const json_t *cfg_overlay_thread;

static const char *cfg_env(const char *name)
{
    const json_t *o = cfg_overlay_thread ? cfg_overlay_thread : cfg_overlay_process;
    char base[96];
    size_t n = strlen(name);
    int secret;
    if (!o)
        return getenv(name);
    if (!strcmp(name, "MOSYNC_TENANT"))
        return json_string_value(json_object_get(o, name));
    if (cfg_tenant_var(name, &secret))
        return json_string_value(json_object_get(o, name));
    if (n > 5 && n - 5 < sizeof(base) && !strcmp(name + n - 5, "_FILE")) {
        memcpy(base, name, n - 5);
        base[n - 5] = '\0';
        if (cfg_tenant_var(base, &secret))
            return NULL;
    }
    return getenv(name);
}

/* Copies the variable (or the default when unset or empty) into buf. */
static mo_err cfg_str(const char *name, const char *def, int required, char *buf, size_t size,
                      char *errstr, size_t errstr_size)
{
    const char *v = cfg_env(name);
    if (!v || !*v) {
        if (required && !def)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s is not set", name);
        v = def ? def : "";
    }
    if (strlen(v) >= size)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s is too long (at most %zu bytes)",
                         name, size - 1);
    memcpy(buf, v, strlen(v) + 1);
    return MO_OK;
}

static mo_err cfg_int(const char *name, long def, long min, long max, long *out, char *errstr,
                      size_t errstr_size)
{
    const char *v = cfg_env(name);
    char *end;
    if (!v || !*v) {
        *out = def;
        return MO_OK;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s must be a whole number from %ld to %ld, not '%s'", name, min, max, v);
    *out = n;
    return MO_OK;
}

/* An on/off switch into *out (1 = on). */
static mo_err cfg_onoff(const char *name, const char *def, int *out, char *errstr,
                        size_t errstr_size)
{
    char v[8];
    mo_err err = cfg_str(name, def, 0, v, sizeof(v), errstr, errstr_size);
    if (err)
        return err;
    if (strcmp(v, "on") && strcmp(v, "off"))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s must be on or off, not '%s'", name,
                         cfg_env(name));
    *out = !strcmp(v, "on");
    return MO_OK;
}

/* Is host (len bytes, no port, IPv6 without brackets) this machine's
 * loopback: localhost, 127.0.0.0/8 or ::1? */
static int cfg_loopback(const char *host, size_t len)
{
    if ((len == 9 || len == 10) && !strncasecmp(host, "localhost.", len))
        return 1;
    if (len == 3 && !strncmp(host, "::1", 3))
        return 1;
    /* a dotted quad 127.x.y.z, each part 0-255 */
    int parts = 0, digits = 0, value = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || host[i] == '.') {
            if (!digits || value > 255 || (parts == 0 && value != 127))
                return 0;
            parts++;
            digits = value = 0;
        } else if (isdigit((unsigned char)host[i]) && digits < 3) {
            value = value * 10 + (host[i] - '0');
            digits++;
        } else {
            return 0;
        }
    }
    return parts == 4;
}

/* An API base URL: http:// or https://, a host, no spaces; never credentials
 * (user-info) or a query or fragment, which would be printed wherever the URL
 * is (errors, logs, dead letters): credentials have their own variables.
 * http:// only to loopback unless ALLOW_INSECURE_HTTP=on, since the token or
 * password would travel in clear text.  Messages never quote the value. */
static mo_err cfg_url(const char *name, const char *value, int allow_insecure, char *errstr,
                      size_t errstr_size)
{
    int https = !strncmp(value, "https://", 8);
    if (!https && strncmp(value, "http://", 7))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s must start with http:// or https://", name);
    for (const char *p = value; *p; p++)
        if (isspace((unsigned char)*p))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s contains a space", name);
    const char *auth = value + (https ? 8 : 7);
    size_t alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s must not hold credentials (user:password@host): the API's "
                         "credentials have their own variables",
                         name);
    if (strpbrk(value, "?#"))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s must not have a query or fragment ('?', '#'): a key there would be "
                         "printed with the URL",
                         name);
    const char *host = auth;
    size_t hlen;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s has a bad [IPv6] host", name);
        host = auth + 1;
        hlen = (size_t)(close - host);
    } else {
        hlen = strcspn(auth, ":/");
    }
    if (!hlen)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s has no host", name);
    if (!https && !allow_insecure && !cfg_loopback(host, hlen))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s uses http:// to a host other than loopback: the credentials would "
                         "travel in clear text; use https:// or set ALLOW_INSECURE_HTTP=on",
                         name);
    return MO_OK;
}

/* Checks one SHIPPING_METHOD_MAP entry's shape; see cfg_way_of_delivery. */
static mo_err cfg_way_entry(const char *method, const json_t *entry, const char **code,
                            const char **name, char *errstr, size_t errstr_size)
{
    if (json_is_string(entry) && json_string_length(entry) > 0) {
        *code = json_string_value(entry);
        *name = method;
        return MO_OK;
    }
    if (json_is_object(entry)) {
        const json_t *c = json_object_get(entry, "code"), *n = json_object_get(entry, "name");
        size_t members = json_object_size(entry);
        if (!json_is_string(c) || !json_string_length(c))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "SHIPPING_METHOD_MAP entry '%s' needs a non-empty string \"code\"",
                             method);
        if (n && !json_is_null(n) && (!json_is_string(n) || !json_string_length(n)))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "SHIPPING_METHOD_MAP entry '%s': \"name\" must be a non-empty string "
                             "or null",
                             method);
        if (members != 1 + (n != NULL))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "SHIPPING_METHOD_MAP entry '%s' may hold only \"code\" and \"name\"",
                             method);
        *code = json_string_value(c);
        *name = json_is_string(n) ? json_string_value(n) : method;
        return MO_OK;
    }
    return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                     "SHIPPING_METHOD_MAP entry '%s' must be a non-empty string (the code) or "
                     "{\"code\": \"..\", \"name\": \"..\"}",
                     method);
}

mo_err cfg_way_of_delivery(const json_t *map, const char *method, const char **code,
                           const char **name, char *errstr, size_t errstr_size)
{
    const json_t *entry = json_is_object(map) ? json_object_get(map, method) : NULL;
    *code = *name = method;
    if (!entry)
        return MO_OK;
    return cfg_way_entry(method, entry, code, name, errstr, errstr_size);
}

/* Registers the value of variable `name` as a secret for the log.  A secret
 * shorter than LG_SECRET_MIN characters is refused: masking it would blank
 * pieces of ordinary words in every log line, and not masking it would let it
 * through.  The message names the variable, never the value. */
static mo_err cfg_secret(const char *name, const char *value, char *errstr, size_t errstr_size)
{
    int rc = lg_add_secret(value);
    if (rc == -1)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s is shorter than %d characters: a secret that short cannot be masked "
                         "in logs without blanking ordinary text; use a longer one",
                         name, LG_SECRET_MIN);
    if (rc)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MO_OK;
}

/* REDIS_URL: parsed as the store will (rs_url_parse), its password registered
 * as a secret (whole, decoded and as written) and refused when too short to
 * mask. */
static mo_err cfg_redis_url(const char *url, char *errstr, size_t errstr_size)
{
    rs_url parsed;
    mo_err err = rs_url_parse(url, &parsed, errstr, errstr_size);
    if (err)
        return err;
    if (*parsed.password && lg_add_secret(parsed.password) == -1)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "REDIS_URL: the password is shorter than %d characters: a secret that "
                         "short cannot be masked in logs without blanking ordinary text",
                         LG_SECRET_MIN);
    /* The store registers the spelling as written too; do it before any log line. */
    rs_store *probe = rs_open(url, "config", errstr, errstr_size);
    if (!probe)
        return MO_ERR_CONFIG;
    rs_close(probe);
    return MO_OK;
}

/* Reads the secret file `path` (named by variable var) into buf: one line,
 * one trailing "\n" or "\r\n" dropped, at most size - 1 bytes. */
static mo_err cfg_read_secret_file(const char *var, const char *path, char *buf, size_t size,
                                   char *errstr, size_t errstr_size)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: cannot read %s: %s", var, path,
                         strerror(errno));
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: %s is not a file", var, path);
    }
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    if (n == size)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: %s is longer than %zu bytes", var,
                         path, size - 1);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (!n)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: %s is empty", var, path);
    if (memchr(buf, '\n', n) || memchr(buf, '\r', n) || strlen(buf) != n) {
        buf[0] = '\0'; /* never left half-read */
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s: %s must hold the value on one line", var, path);
    }
    return MO_OK;
}

/* A secret setting: NAME, or the file NAME_FILE names (see config.h), or the
 * default.  file (file_size) receives NAME_FILE's path, "" when not used. */
static mo_err cfg_secret_str(const char *name, const char *def, int required, char *buf,
                             size_t size, char *file, size_t file_size, char *errstr,
                             size_t errstr_size)
{
    char var[96];
    snprintf(var, sizeof(var), "%s_FILE", name);
    const char *v = cfg_env(name), *path = cfg_env(var);
    file[0] = '\0';
    if (path && *path) {
        if (v && *v)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "%s and %s are both set: set one of them", name, var);
        if (strlen(path) >= file_size)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s is too long", var);
        memcpy(file, path, strlen(path) + 1);
        return cfg_read_secret_file(var, path, buf, size, errstr, errstr_size);
    }
    if (required && !def && (!v || !*v))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s is not set (nor %s)", name, var);
    return cfg_str(name, def, 0, buf, size, errstr, errstr_size);
}

/* The tenant names Redis keys and Kafka keys, so it is kept to a safe alphabet. */
static mo_err cfg_check_tenant(const char *t, char *errstr, size_t errstr_size)
{
    if (!*t)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "MOSYNC_TENANT is empty");
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return mo_seterr(
                MO_ERR_CONFIG, errstr, errstr_size,
                "MOSYNC_TENANT may hold only letters, digits, '-', '_' and '.', not '%c'", *p);
    return MO_OK;
}

/* MYSTORE_TIMEZONE must name a real zone (a TZif file): "Europe" (a
 * directory) or "zone.tab" (a table) passed a check for a path and then ran
 * everything silently in UTC. */
static mo_err cfg_check_timezone(const char *tz, char *errstr, size_t errstr_size)
{
    char why[384];
    if (tz_check_zone(tz, why, sizeof(why)))
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "MYSTORE_TIMEZONE '%s' is not a time zone (%s); use a name such as "
                         "Europe/Oslo",
                         tz, why);
    return MO_OK;
}

/* METRICS_LISTEN: an IPv4 or IPv6 address literal (a name would need a
 * resolver at start and could mean several addresses). */
static mo_err cfg_check_listen(const char *addr, char *errstr, size_t errstr_size)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, addr, buf) == 1 || inet_pton(AF_INET6, addr, buf) == 1)
        return MO_OK;
    return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                     "METRICS_LISTEN must be an IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::), "
                     "not '%s'",
                     addr);
}

/* ADMIN_LISTEN: "host:port", host an IPv4 literal or a bracketed IPv6 one
 * ("[::1]:8080"), port 1-65535; parsed into addr (no brackets) and *port.
 * A host name is refused: what the server binds must be what the operator
 * reads, and the loopback check (cli/admin.c) needs an address. */
static mo_err cfg_admin_listen(const char *text, char *addr, size_t addr_size, int *port,
                               char *errstr, size_t errstr_size)
{
    unsigned char buf[sizeof(struct in6_addr)];
    const char *colon = strrchr(text, ':'), *host = text;
    size_t hlen = colon ? (size_t)(colon - text) : 0;
    char *end;
    if (colon && text[0] == '[' && hlen >= 2 && text[hlen - 1] == ']') {
        host = text + 1;
        hlen -= 2;
    }
    long p = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon && hlen && hlen < addr_size && colon[1] && !*end && p >= 1 && p <= 65535) {
        memcpy(addr, host, hlen);
        addr[hlen] = '\0';
        int v4 = inet_pton(AF_INET, addr, buf) == 1;
        if ((v4 && host == text) || (!v4 && host != text && inet_pton(AF_INET6, addr, buf) == 1)) {
            *port = (int)p;
            return MO_OK;
        }
    }
    return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                     "ADMIN_LISTEN must be address:port with an IPv4 or a bracketed IPv6 address "
                     "(127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080), not '%s'",
                     text);
}

/* MYSTORE_ORDER_STATUSES: a comma-separated list of Mystore order statuses,
 * each a name (any language, whole, ignoring case) or an id (digits), as the
 * order mapping matches them (mp_status_matches).  Spaces around an item are
 * dropped.  Refused: an empty item, more than CFG_MAX_ORDER_STATUSES items, an
 * item of CFG_ORDER_STATUS_MAX bytes or more, a control character (a tab
 * too), a byte that is not UTF-8.  Unset, empty or spaces: *out = NULL (every status but the sent
 * and cancelled one). */
static mo_err cfg_order_statuses(json_t **out, char *errstr, size_t errstr_size)
{
    static const char var[] = "MYSTORE_ORDER_STATUSES";
    char buf[CFG_ORDER_STATUSES_MAX];
    mo_err err = cfg_str("MYSTORE_ORDER_STATUSES", "", 0, buf, sizeof(buf), errstr, errstr_size);
    *out = NULL;
    if (err)
        return err;
    const char *p = buf;
    while (*p == ' ')
        p++;
    if (!*p)
        return MO_OK; /* spaces only: unset */
    for (const unsigned char *c = (const unsigned char *)buf; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "%s holds a control character (byte %d): list status names or ids "
                             "separated by commas",
                             var, *c);
    json_t *list = json_array();
    if (!list)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (int n = 1;; n++) {
        size_t len = strcspn(p, ",");
        const char *end = p + len;
        const char *a = p, *b = end;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (a == b)
            err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                            "%s: item %d is empty; list status names or ids separated by commas, "
                            "for example 'Under behandling,2'",
                            var, n);
        else if (n > CFG_MAX_ORDER_STATUSES)
            err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s lists more than %d statuses",
                            var, CFG_MAX_ORDER_STATUSES);
        else if ((size_t)(b - a) >= CFG_ORDER_STATUS_MAX)
            err =
                mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: item %d is longer than %d bytes",
                          var, n, CFG_ORDER_STATUS_MAX - 1);
        else {
            json_t *item = json_stringn(a, (size_t)(b - a));
            if (!item)
                err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: item %d is not UTF-8 text",
                                var, n);
            else if (json_array_append_new(list, item))
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        if (err) {
            json_decref(list);
            return err;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    *out = list;
    return MO_OK;
}

static mo_err cfg_editable(mo_config *cfg, char *errstr, size_t errstr_size)
{
    char buf[256];
    mo_err err =
        cfg_str("ONGOING_EDITABLE_STATUSES", "150,200", 0, buf, sizeof(buf), errstr, errstr_size);
    if (err)
        return err;
    cfg->n_ongoing_editable = 0;
    for (char *p = buf; *p;) {
        char *end;
        errno = 0;
        long n = strtol(p, &end, 10);
        if (errno || end == p || n < 0 || n > 100000 || (*end && *end != ',') ||
            (*end == ',' && !end[1]) || cfg->n_ongoing_editable == CFG_MAX_EDITABLE)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "ONGOING_EDITABLE_STATUSES must be a comma-separated list of status "
                             "numbers, not '%s'",
                             cfg_env("ONGOING_EDITABLE_STATUSES"));
        cfg->ongoing_editable[cfg->n_ongoing_editable++] = (int)n;
        p = *end ? end + 1 : end;
    }
    return MO_OK;
}

/* Is the librdkafka property (dotted name) a credential?  Not the paths of
 * key files, such as ssl.key.location. */
static int cfg_kafka_prop_secret(const char *dotted)
{
    return strstr(dotted, "password") || strstr(dotted, "secret") ||
           !strcmp(dotted, "ssl.key.pem") || !strcmp(dotted, "sasl.oauthbearer.config");
}

/* KAFKA_PROP_<name> passes any librdkafka property; underscores become dots
 * (KAFKA_PROP_security_protocol=SASL_SSL → security.protocol). */
static mo_err cfg_kafka_props(mo_config *cfg, char *errstr, size_t errstr_size)
{
    static const char prefix[] = "KAFKA_PROP_", suffix[] = "_FILE";
    cfg->n_kafka_props = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, prefix, sizeof(prefix) - 1))
            continue;
        const char *name = *e + sizeof(prefix) - 1;
        const char *eq = strchr(name, '=');
        if (!eq || eq == name)
            continue;
        size_t nlen = (size_t)(eq - name);
        /* KAFKA_PROP_<name>_FILE (upper case: property names are lower
         * case): the value is the file's contents. */
        int from_file = nlen > sizeof(suffix) - 1 &&
                        !memcmp(eq - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1);
        if (from_file)
            nlen -= sizeof(suffix) - 1;
        char var[160];
        snprintf(var, sizeof(var), "KAFKA_PROP_%.*s", (int)nlen, name);
        if (cfg->n_kafka_props == CFG_MAX_KAFKA_PROPS)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "too many KAFKA_PROP_ variables");
        if (nlen >= sizeof(cfg->kafka_props[0].name) ||
            (!from_file && strlen(eq + 1) >= sizeof(cfg->kafka_props[0].value)))
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s is too long", var);
        char *value = cfg->kafka_props[cfg->n_kafka_props].value;
        if (from_file) {
            const char *plain = cfg_env(var);
            char fvar[176];
            snprintf(fvar, sizeof(fvar), "%s_FILE", var);
            if (plain && *plain)
                return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                                 "%s and %s are both set: set one of them", var, fvar);
            mo_err err = cfg_read_secret_file(
                fvar, eq + 1, value, sizeof(cfg->kafka_props[0].value), errstr, errstr_size);
            if (err)
                return err;
        } else {
            memcpy(value, eq + 1, strlen(eq + 1) + 1);
        }
        char *dst = cfg->kafka_props[cfg->n_kafka_props].name;
        for (size_t i = 0; i < nlen; i++)
            dst[i] = name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
        dst[nlen] = '\0';
        if (cfg_kafka_prop_secret(dst)) {
            mo_err err = cfg_secret(var, value, errstr, errstr_size);
            if (err)
                return err;
        }
        /* Ask librdkafka now, so a typo stops the start with the variable's name. */
        char why[256];
        rd_kafka_conf_t *probe = rd_kafka_conf_new();
        rd_kafka_conf_res_t res = rd_kafka_conf_set(probe, dst, value, why, sizeof(why));
        rd_kafka_conf_destroy(probe);
        if (res != RD_KAFKA_CONF_OK)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "%s: %s", var, why);
        cfg->n_kafka_props++;
    }
    return MO_OK;
}

/* MOSYNC_SECRET_KEY and the OAuth settings of Mystore: the client and the
 * refresh token come together or not at all, and need the key, since the
 * tokens they bring are kept in Redis encrypted with it. */
static mo_err cfg_oauth(mo_config *cfg, char *errstr, size_t errstr_size)
{
    mo_err err = cfg_secret_str("MOSYNC_SECRET_KEY", NULL, 0, cfg->secret_key_text,
                                sizeof(cfg->secret_key_text), cfg->secret_key_file,
                                sizeof(cfg->secret_key_file), errstr, errstr_size);
    if (err)
        return err;
    if (*cfg->secret_key_text) {
        if ((err = sb_key_parse(*cfg->secret_key_file ? "MOSYNC_SECRET_KEY_FILE"
                                                      : "MOSYNC_SECRET_KEY",
                                cfg->secret_key_text, &cfg->secret_key, errstr, errstr_size)))
            return err;
        if ((err = cfg_secret("MOSYNC_SECRET_KEY", cfg->secret_key_text, errstr, errstr_size)))
            return err;
        cfg->secret_key_set = 1;
    }
    if ((err = cfg_str("MYSTORE_AUTH_URL", "https://auth.mystore.no", 0, cfg->mystore_auth_url,
                       sizeof(cfg->mystore_auth_url), errstr, errstr_size)) ||
        (err = cfg_url("MYSTORE_AUTH_URL", cfg->mystore_auth_url, cfg->allow_insecure_http, errstr,
                       errstr_size)))
        return err;
    if ((err = cfg_str("MYSTORE_CLIENT_ID", "", 0, cfg->mystore_client_id,
                       sizeof(cfg->mystore_client_id), errstr, errstr_size)))
        return err;
    for (const char *p = cfg->mystore_client_id; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                             "MYSTORE_CLIENT_ID must not hold spaces or control characters");
    if ((err = cfg_secret_str("MYSTORE_CLIENT_SECRET", NULL, 0, cfg->mystore_client_secret,
                              sizeof(cfg->mystore_client_secret), cfg->mystore_client_secret_file,
                              sizeof(cfg->mystore_client_secret_file), errstr, errstr_size)) ||
        (err =
             cfg_secret("MYSTORE_CLIENT_SECRET", cfg->mystore_client_secret, errstr, errstr_size)))
        return err;
    if ((err = cfg_secret_str("MYSTORE_REFRESH_TOKEN", NULL, 0, cfg->mystore_refresh_token,
                              sizeof(cfg->mystore_refresh_token), cfg->mystore_refresh_token_file,
                              sizeof(cfg->mystore_refresh_token_file), errstr, errstr_size)) ||
        (err =
             cfg_secret("MYSTORE_REFRESH_TOKEN", cfg->mystore_refresh_token, errstr, errstr_size)))
        return err;
    int set =
        !!*cfg->mystore_client_id + !!*cfg->mystore_client_secret + !!*cfg->mystore_refresh_token;
    if (set && set < 3)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "%s is not set: OAuth needs MYSTORE_CLIENT_ID, MYSTORE_CLIENT_SECRET and "
                         "MYSTORE_REFRESH_TOKEN together",
                         !*cfg->mystore_client_id       ? "MYSTORE_CLIENT_ID"
                         : !*cfg->mystore_client_secret ? "MYSTORE_CLIENT_SECRET"
                                                        : "MYSTORE_REFRESH_TOKEN");
    if (set && !cfg->secret_key_set)
        return mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                         "MOSYNC_SECRET_KEY is not set (nor MOSYNC_SECRET_KEY_FILE): OAuth keeps "
                         "its tokens in Redis encrypted with it (32 bytes as base64, `openssl rand "
                         "-base64 32`)");
    cfg->mystore_oauth = set == 3;
    return MO_OK;
}

/* The per-poller interval overrides, in the order of cfg_streams. */
const char *const cfg_stream_vars[4] = {
    "POLL_INTERVAL_S_MYSTORE_ORDERS", "POLL_INTERVAL_S_MYSTORE_PRODUCTS",
    "POLL_INTERVAL_S_ONGOING_SHIPMENTS", "POLL_INTERVAL_S_ONGOING_STOCK"};

mo_err cfg_load(mo_config *cfg, int need, char *errstr, size_t errstr_size)
{
    mo_err err;
    long n;
    char unit[8], map[8192];

    memset(cfg, 0, sizeof(*cfg));
#define STR(var, def, req, field)                                                                  \
    do {                                                                                           \
        err = cfg_str(var, def, req, cfg->field, sizeof(cfg->field), errstr, errstr_size);         \
        if (err)                                                                                   \
            goto fail;                                                                             \
    } while (0)
#define SECRET(var, def, req, field, file)                                                         \
    do {                                                                                           \
        err = cfg_secret_str(var, def, req, cfg->field, sizeof(cfg->field), cfg->file,             \
                             sizeof(cfg->file), errstr, errstr_size);                              \
        if (err)                                                                                   \
            goto fail;                                                                             \
    } while (0)
#define INT(var, def, min, max, field)                                                             \
    do {                                                                                           \
        err = cfg_int(var, def, min, max, &n, errstr, errstr_size);                                \
        if (err)                                                                                   \
            goto fail;                                                                             \
        cfg->field = (int)n;                                                                       \
    } while (0)

    STR("MOSYNC_TENANT", "default", 0, tenant);
    cfg->registry = (cfg_overlay_thread || cfg_overlay_process) != 0;
    if ((err = cfg_check_tenant(cfg->tenant, errstr, errstr_size)))
        goto fail;
    STR("LOG_LEVEL", "info", 0, log_level);
    if (lg_set_level_name(cfg->log_level) < 0) {
        err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                        "LOG_LEVEL must be debug, info, warn or error, not '%s'", cfg->log_level);
        goto fail;
    }

    STR("KAFKA_BROKERS", NULL, need & CFG_NEED_KAFKA, kafka_brokers);
    STR("KAFKA_TOPIC_PREFIX", "", 0, topic_prefix);
    INT("KAFKA_TOPIC_PARTITIONS", 12, 1, 1000, topic_partitions);
    if ((err = cfg_kafka_props(cfg, errstr, errstr_size)))
        goto fail;

    SECRET("REDIS_URL", "redis://127.0.0.1:6379/0", 0, redis_url, redis_url_file);
    if ((err = cfg_redis_url(cfg->redis_url, errstr, errstr_size)))
        goto fail;

    /* Read first: the API URLs below depend on it. */
    if ((err = cfg_onoff("ALLOW_INSECURE_HTTP", "off", &cfg->allow_insecure_http, errstr,
                         errstr_size)))
        goto fail;
    STR("MYSTORE_API_URL", "https://api.mystore.no", 0, mystore_url);
    if ((err = cfg_url("MYSTORE_API_URL", cfg->mystore_url, cfg->allow_insecure_http, errstr,
                       errstr_size)))
        goto fail;
    STR("MYSTORE_SHOP", NULL, need & CFG_NEED_MYSTORE, mystore_shop);
    for (const char *p = cfg->mystore_shop; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') {
            err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                            "MYSTORE_SHOP must be the shop's store name (letters, digits, '-', "
                            "'_', '.')");
            goto fail;
        }
    }
    /* "." and ".." are path segments, not a shop: .../shops/../ leaves the shop. */
    if (!strcmp(cfg->mystore_shop, ".") || !strcmp(cfg->mystore_shop, "..")) {
        err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                        "MYSTORE_SHOP must be the shop's store name, not '.' or '..'");
        goto fail;
    }
    if ((err = cfg_oauth(cfg, errstr, errstr_size)))
        goto fail;
    /* With OAuth the token is only a first access token: optional. */
    SECRET("MYSTORE_TOKEN", NULL, (need & CFG_NEED_MYSTORE) && !cfg->mystore_oauth, mystore_token,
           mystore_token_file);
    if ((err = cfg_secret("MYSTORE_TOKEN", cfg->mystore_token, errstr, errstr_size)))
        goto fail;
    STR("MYSTORE_TIMEZONE", "Europe/Oslo", 0, mystore_timezone);
    if ((err = cfg_check_timezone(cfg->mystore_timezone, errstr, errstr_size)))
        goto fail;
    STR("MYSTORE_LANGUAGE", "no", 0, mystore_language);
    if ((err = cfg_str("MYSTORE_WEIGHT_UNIT", "g", 0, unit, sizeof(unit), errstr, errstr_size)))
        goto fail;
    if (strcmp(unit, "g") && strcmp(unit, "kg")) {
        err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                        "MYSTORE_WEIGHT_UNIT must be g or kg, not '%s'", unit);
        goto fail;
    }
    cfg->mystore_weight_kg = !strcmp(unit, "kg");
    STR("MYSTORE_STATUS_SENT", "levert", 0, mystore_status_sent);
    STR("MYSTORE_STATUS_CANCELLED", "kansellert", 0, mystore_status_cancelled);
    if ((err = cfg_order_statuses(&cfg->mystore_order_statuses, errstr, errstr_size)))
        goto fail;
    INT("MYSTORE_RATE_LIMIT_PER_MIN", 120, 1, 1000000, mystore_rate_per_min);
    INT("MYSTORE_INITIAL_LOOKBACK_H", 168, 0, 24 * 366 * 10, mystore_lookback_h);
    if ((err = cfg_str("SHIPPING_METHOD_MAP", "", 0, map, sizeof(map), errstr, errstr_size)))
        goto fail;
    if (*map) {
        json_error_t jerr;
        cfg->shipping_methods = json_loads(map, 0, &jerr);
        if (!json_is_object(cfg->shipping_methods)) {
            err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                            "SHIPPING_METHOD_MAP must be a JSON object "
                            "{\"<method>\": {\"code\": \"..\", \"name\": \"..\"}}: %s",
                            cfg->shipping_methods ? "not an object" : jerr.text);
            goto fail;
        }
        const char *k, *code, *name;
        json_t *v;
        json_object_foreach(cfg->shipping_methods, k, v)
        {
            (void)v;
            if ((err = cfg_way_of_delivery(cfg->shipping_methods, k, &code, &name, errstr,
                                           errstr_size)))
                goto fail;
        }
    }

    STR("ONGOING_API_URL", NULL, need & CFG_NEED_ONGOING, ongoing_url);
    if (*cfg->ongoing_url && (err = cfg_url("ONGOING_API_URL", cfg->ongoing_url,
                                            cfg->allow_insecure_http, errstr, errstr_size)))
        goto fail;
    STR("ONGOING_USER", NULL, need & CFG_NEED_ONGOING, ongoing_user);
    SECRET("ONGOING_PASSWORD", NULL, need & CFG_NEED_ONGOING, ongoing_password,
           ongoing_password_file);
    if ((err = cfg_secret("ONGOING_PASSWORD", cfg->ongoing_password, errstr, errstr_size)))
        goto fail;
    const char *owner = cfg_env("ONGOING_GOODS_OWNER_ID");
    if ((need & CFG_NEED_ONGOING) && (!owner || !*owner)) {
        err = mo_seterr(MO_ERR_CONFIG, errstr, errstr_size, "ONGOING_GOODS_OWNER_ID is not set");
        goto fail;
    }
    err = cfg_int("ONGOING_GOODS_OWNER_ID", 0, 1, LONG_MAX, &cfg->ongoing_goods_owner, errstr,
                  errstr_size);
    if (err)
        goto fail;
    if ((err = cfg_editable(cfg, errstr, errstr_size)))
        goto fail;

    INT("ONGOING_INITIAL_LOOKBACK_H", 24, 0, 24 * 366 * 10, ongoing_lookback_h);
    SECRET("MYSTORE_WEBHOOK_SECRET", NULL, 0, mystore_webhook_secret, mystore_webhook_secret_file);
    if ((err = cfg_secret("MYSTORE_WEBHOOK_SECRET", cfg->mystore_webhook_secret, errstr,
                          errstr_size)))
        goto fail;
    SECRET("ONGOING_WEBHOOK_TOKEN", NULL, 0, ongoing_webhook_token, ongoing_webhook_token_file);
    if ((err =
             cfg_secret("ONGOING_WEBHOOK_TOKEN", cfg->ongoing_webhook_token, errstr, errstr_size)))
        goto fail;
    if ((err = cfg_onoff("STOCK_SYNC", "off", &cfg->stock_sync, errstr, errstr_size)))
        goto fail;
    INT("HTTP_TIMEOUT_MS", 30000, 100, 600000, http_timeout_ms);
    INT("RETRY_AFTER_MAX_S", 900, 1, 86400, retry_after_max_s);
    INT("MAX_ATTEMPTS", 10, 1, 1000, max_attempts);
    INT("APPLIED_TTL_DAYS", 35, 1, 3650, applied_ttl_days);
    INT("LEASE_TTL_S", 15, 2, 3600, lease_ttl_s);
    INT("POLL_SEEN_MAX", 200000, 10, 10000000, poll_seen_max);
    if ((err = cfg_onoff("DRY_RUN", "off", &cfg->dry_run, errstr, errstr_size)))
        goto fail;
    INT("DRY_RUN_TTL_DAYS", 7, 1, 365, dry_run_ttl_days);

    /* Unset or empty: no metrics server (0); port 0 is not offered, since an
     * ephemeral port nobody knows cannot be scraped. */
    INT("METRICS_PORT", 0, 1, 65535, metrics_port);
    /* Loopback unless told: /metrics shows the shop's volumes and every
     * connection costs the process a descriptor (compose sets 0.0.0.0, since
     * Prometheus scrapes from another container). */
    STR("METRICS_LISTEN", "127.0.0.1", 0, metrics_listen);
    if ((err = cfg_check_listen(cfg->metrics_listen, errstr, errstr_size)))
        goto fail;

    INT("POLL_INTERVAL_S", 30, 1, 86400, poll_interval_s);
    for (int i = 0; i < 4; i++) {
        if ((err = cfg_int(cfg_stream_vars[i], 0, 1, 86400, &n, errstr, errstr_size)))
            goto fail;
        cfg->poll_interval_stream_s[i] = (int)n;
    }
    INT("POLL_WORKERS", 4, 1, 64, poll_workers);
    if ((err = cfg_onoff("MOSYNC_ALL_TENANTS", "off", &cfg->all_tenants, errstr, errstr_size)))
        goto fail;
    if ((err = cfg_onoff("METRICS_TENANT_LABEL", "on", &cfg->metrics_tenant_label, errstr,
                         errstr_size)))
        goto fail;

    /* `mosync admin`: loopback unless told, like METRICS_LISTEN. */
    STR("ADMIN_LISTEN", "127.0.0.1:8080", 0, admin_listen);
    if ((err = cfg_admin_listen(cfg->admin_listen, cfg->admin_addr, sizeof(cfg->admin_addr),
                                &cfg->admin_port, errstr, errstr_size)))
        goto fail;
    SECRET("ADMIN_PASSWORD", NULL, need & CFG_NEED_ADMIN, admin_password, admin_password_file);
    if ((err = cfg_secret("ADMIN_PASSWORD", cfg->admin_password, errstr, errstr_size)))
        goto fail;
    if ((err = cfg_onoff("ADMIN_SECURE_COOKIE", "off", &cfg->admin_secure_cookie, errstr,
                         errstr_size)))
        goto fail;
    STR("ADMIN_MYSTORE_CLIENT_ID", "", 0, admin_client_id);
    SECRET("ADMIN_MYSTORE_CLIENT_SECRET", NULL, 0, admin_client_secret, admin_client_secret_file);
    if ((err = cfg_secret("ADMIN_MYSTORE_CLIENT_SECRET", cfg->admin_client_secret, errstr,
                          errstr_size)))
        goto fail;
    STR("ADMIN_PUBLIC_URL", "", 0, admin_public_url);
    if (*cfg->admin_public_url &&
        (err = cfg_url("ADMIN_PUBLIC_URL", cfg->admin_public_url, 1, errstr, errstr_size)))
        goto fail;
    STR("ADMIN_WEBHOOK_URL", "", 0, admin_webhook_url);
    if (*cfg->admin_webhook_url &&
        (err = cfg_url("ADMIN_WEBHOOK_URL", cfg->admin_webhook_url, 1, errstr, errstr_size)))
        goto fail;
    STR("ADMIN_ONGOING_CUSTOMER_URL", "", 0, admin_customer_url);
    if (*cfg->admin_customer_url &&
        ((err = cfg_url("ADMIN_ONGOING_CUSTOMER_URL", cfg->admin_customer_url, 1, errstr,
                        errstr_size)) ||
         !strstr(cfg->admin_customer_url, "{id}"))) {
        if (!err)
            err =
                mo_seterr(MO_ERR_CONFIG, errstr, errstr_size,
                          "ADMIN_ONGOING_CUSTOMER_URL must hold {id}, where the customer id goes");
        goto fail;
    }
#undef STR
#undef SECRET
#undef INT
    return MO_OK;
fail:
    cfg_free(cfg);
    return err;
}

void cfg_free(mo_config *cfg)
{
    json_decref(cfg->shipping_methods);
    cfg->shipping_methods = NULL;
    json_decref(cfg->mystore_order_statuses);
    cfg->mystore_order_statuses = NULL;
}

/* ---- mosync config ------------------------------------------------------ */

typedef enum {
    CFG_SHOW_STR,    /* a char array */
    CFG_SHOW_INT,    /* an int */
    CFG_SHOW_PORT,   /* an int, 0 = unset (null) */
    CFG_SHOW_LONG,   /* a long, 0 = unset (null) */
    CFG_SHOW_ONOFF,  /* an int switch, shown true or false */
    CFG_SHOW_SECRET, /* a char array, shown "(set)" or "(unset)" */
    CFG_SHOW_FILE,   /* a char array, "" = unset (null) */
    CFG_SHOW_OTHER,  /* its own code in cfg_describe_other */
} cfg_show;

#define CFG_TENANT 1

/* Every variable, in the order of README.md's table, and where cfg_load put
 * it.  A variable read but missing here is caught by
 * test_issue12_19_config_prints_every_setting. */
static const struct cfg_var {
    const char *name;
    cfg_show show;
    size_t offset;
    int tenant; /* CFG_TENANT: a tenant's own setting (the registry holds it), else the process's */
} cfg_vars[] = {
    {"KAFKA_BROKERS", CFG_SHOW_STR, offsetof(mo_config, kafka_brokers), 0},
    {"KAFKA_TOPIC_PREFIX", CFG_SHOW_STR, offsetof(mo_config, topic_prefix), 0},
    {"KAFKA_TOPIC_PARTITIONS", CFG_SHOW_INT, offsetof(mo_config, topic_partitions), 0},
    {"KAFKA_PROP_", CFG_SHOW_OTHER, 0, 0},
    {"REDIS_URL", CFG_SHOW_OTHER, 0, 0},
    {"REDIS_URL_FILE", CFG_SHOW_FILE, offsetof(mo_config, redis_url_file), 0},
    {"MOSYNC_TENANT", CFG_SHOW_STR, offsetof(mo_config, tenant), 0},
    {"MYSTORE_API_URL", CFG_SHOW_STR, offsetof(mo_config, mystore_url), CFG_TENANT},
    {"MYSTORE_SHOP", CFG_SHOW_STR, offsetof(mo_config, mystore_shop), CFG_TENANT},
    {"MYSTORE_TOKEN", CFG_SHOW_SECRET, offsetof(mo_config, mystore_token), CFG_TENANT},
    {"MYSTORE_TOKEN_FILE", CFG_SHOW_FILE, offsetof(mo_config, mystore_token_file), 0},
    {"MYSTORE_AUTH_URL", CFG_SHOW_STR, offsetof(mo_config, mystore_auth_url), CFG_TENANT},
    {"MYSTORE_CLIENT_ID", CFG_SHOW_STR, offsetof(mo_config, mystore_client_id), CFG_TENANT},
    {"MYSTORE_CLIENT_SECRET", CFG_SHOW_SECRET, offsetof(mo_config, mystore_client_secret),
     CFG_TENANT},
    {"MYSTORE_CLIENT_SECRET_FILE", CFG_SHOW_FILE, offsetof(mo_config, mystore_client_secret_file),
     0},
    {"MYSTORE_REFRESH_TOKEN", CFG_SHOW_SECRET, offsetof(mo_config, mystore_refresh_token),
     CFG_TENANT},
    {"MYSTORE_REFRESH_TOKEN_FILE", CFG_SHOW_FILE, offsetof(mo_config, mystore_refresh_token_file),
     0},
    {"MOSYNC_SECRET_KEY", CFG_SHOW_SECRET, offsetof(mo_config, secret_key_text), 0},
    {"MOSYNC_SECRET_KEY_FILE", CFG_SHOW_FILE, offsetof(mo_config, secret_key_file), 0},
    {"MYSTORE_TIMEZONE", CFG_SHOW_STR, offsetof(mo_config, mystore_timezone), CFG_TENANT},
    {"MYSTORE_LANGUAGE", CFG_SHOW_STR, offsetof(mo_config, mystore_language), CFG_TENANT},
    {"MYSTORE_WEIGHT_UNIT", CFG_SHOW_OTHER, 0, CFG_TENANT},
    {"MYSTORE_STATUS_SENT", CFG_SHOW_STR, offsetof(mo_config, mystore_status_sent), CFG_TENANT},
    {"MYSTORE_STATUS_CANCELLED", CFG_SHOW_STR, offsetof(mo_config, mystore_status_cancelled),
     CFG_TENANT},
    {"MYSTORE_ORDER_STATUSES", CFG_SHOW_OTHER, 0, CFG_TENANT},
    {"MYSTORE_RATE_LIMIT_PER_MIN", CFG_SHOW_INT, offsetof(mo_config, mystore_rate_per_min),
     CFG_TENANT},
    {"MYSTORE_INITIAL_LOOKBACK_H", CFG_SHOW_INT, offsetof(mo_config, mystore_lookback_h),
     CFG_TENANT},
    {"SHIPPING_METHOD_MAP", CFG_SHOW_OTHER, 0, CFG_TENANT},
    {"ONGOING_API_URL", CFG_SHOW_STR, offsetof(mo_config, ongoing_url), CFG_TENANT},
    {"ONGOING_USER", CFG_SHOW_STR, offsetof(mo_config, ongoing_user), CFG_TENANT},
    {"ONGOING_PASSWORD", CFG_SHOW_SECRET, offsetof(mo_config, ongoing_password), CFG_TENANT},
    {"ONGOING_PASSWORD_FILE", CFG_SHOW_FILE, offsetof(mo_config, ongoing_password_file), 0},
    {"ONGOING_GOODS_OWNER_ID", CFG_SHOW_LONG, offsetof(mo_config, ongoing_goods_owner), CFG_TENANT},
    {"ONGOING_EDITABLE_STATUSES", CFG_SHOW_OTHER, 0, CFG_TENANT},
    {"ONGOING_INITIAL_LOOKBACK_H", CFG_SHOW_INT, offsetof(mo_config, ongoing_lookback_h),
     CFG_TENANT},
    {"MYSTORE_WEBHOOK_SECRET", CFG_SHOW_SECRET, offsetof(mo_config, mystore_webhook_secret),
     CFG_TENANT},
    {"MYSTORE_WEBHOOK_SECRET_FILE", CFG_SHOW_FILE, offsetof(mo_config, mystore_webhook_secret_file),
     0},
    {"ONGOING_WEBHOOK_TOKEN", CFG_SHOW_SECRET, offsetof(mo_config, ongoing_webhook_token),
     CFG_TENANT},
    {"ONGOING_WEBHOOK_TOKEN_FILE", CFG_SHOW_FILE, offsetof(mo_config, ongoing_webhook_token_file),
     0},
    {"STOCK_SYNC", CFG_SHOW_ONOFF, offsetof(mo_config, stock_sync), CFG_TENANT},
    {"HTTP_TIMEOUT_MS", CFG_SHOW_INT, offsetof(mo_config, http_timeout_ms), 0},
    {"RETRY_AFTER_MAX_S", CFG_SHOW_INT, offsetof(mo_config, retry_after_max_s), 0},
    {"MAX_ATTEMPTS", CFG_SHOW_INT, offsetof(mo_config, max_attempts), 0},
    {"APPLIED_TTL_DAYS", CFG_SHOW_INT, offsetof(mo_config, applied_ttl_days), 0},
    {"DRY_RUN", CFG_SHOW_ONOFF, offsetof(mo_config, dry_run), CFG_TENANT},
    {"DRY_RUN_TTL_DAYS", CFG_SHOW_INT, offsetof(mo_config, dry_run_ttl_days), 0},
    {"LEASE_TTL_S", CFG_SHOW_INT, offsetof(mo_config, lease_ttl_s), 0},
    {"POLL_SEEN_MAX", CFG_SHOW_INT, offsetof(mo_config, poll_seen_max), 0},
    {"ALLOW_INSECURE_HTTP", CFG_SHOW_ONOFF, offsetof(mo_config, allow_insecure_http), 0},
    {"POLL_INTERVAL_S", CFG_SHOW_INT, offsetof(mo_config, poll_interval_s), CFG_TENANT},
    {"POLL_INTERVAL_S_", CFG_SHOW_OTHER, 0, CFG_TENANT},
    {"POLL_WORKERS", CFG_SHOW_INT, offsetof(mo_config, poll_workers), 0},
    {"METRICS_PORT", CFG_SHOW_PORT, offsetof(mo_config, metrics_port), 0},
    {"METRICS_LISTEN", CFG_SHOW_STR, offsetof(mo_config, metrics_listen), 0},
    {"METRICS_TENANT_LABEL", CFG_SHOW_ONOFF, offsetof(mo_config, metrics_tenant_label), 0},
    {"MOSYNC_ALL_TENANTS", CFG_SHOW_ONOFF, offsetof(mo_config, all_tenants), 0},
    {"ADMIN_LISTEN", CFG_SHOW_STR, offsetof(mo_config, admin_listen), 0},
    {"ADMIN_PASSWORD", CFG_SHOW_SECRET, offsetof(mo_config, admin_password), 0},
    {"ADMIN_PASSWORD_FILE", CFG_SHOW_FILE, offsetof(mo_config, admin_password_file), 0},
    {"ADMIN_SECURE_COOKIE", CFG_SHOW_ONOFF, offsetof(mo_config, admin_secure_cookie), 0},
    {"ADMIN_MYSTORE_CLIENT_ID", CFG_SHOW_STR, offsetof(mo_config, admin_client_id), 0},
    {"ADMIN_MYSTORE_CLIENT_SECRET", CFG_SHOW_SECRET, offsetof(mo_config, admin_client_secret), 0},
    {"ADMIN_MYSTORE_CLIENT_SECRET_FILE", CFG_SHOW_FILE,
     offsetof(mo_config, admin_client_secret_file), 0},
    {"ADMIN_PUBLIC_URL", CFG_SHOW_STR, offsetof(mo_config, admin_public_url), 0},
    {"ADMIN_WEBHOOK_URL", CFG_SHOW_STR, offsetof(mo_config, admin_webhook_url), 0},
    {"ADMIN_ONGOING_CUSTOMER_URL", CFG_SHOW_STR, offsetof(mo_config, admin_customer_url), 0},
    {"LOG_LEVEL", CFG_SHOW_STR, offsetof(mo_config, log_level), 0},
};

int cfg_tenant_var(const char *name, int *secret)
{
    for (size_t i = 0; i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++) {
        const struct cfg_var *v = &cfg_vars[i];
        size_t n = strlen(v->name);
        int prefix = v->name[n - 1] == '_'; /* POLL_INTERVAL_S_<STREAM> */
        if (!v->tenant || (prefix ? strncmp(name, v->name, n) || !name[n] : strcmp(name, v->name)))
            continue;
        *secret = v->show == CFG_SHOW_SECRET;
        return 1;
    }
    return 0;
}

mo_err cfg_tenant_from_env(json_t **settings, char *errstr, size_t errstr_size)
{
    char value[8192], file[256];
    *settings = json_object();
    if (!*settings)
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (size_t i = 0; i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++) {
        const struct cfg_var *v = &cfg_vars[i];
        int prefix = v->name[strlen(v->name) - 1] == '_';
        for (int s = 0; v->tenant && s < (prefix ? 4 : 1); s++) {
            const char *name = prefix ? cfg_stream_vars[s] : v->name;
            mo_err err = v->show == CFG_SHOW_SECRET
                             ? cfg_secret_str(name, "", 0, value, sizeof(value), file, sizeof(file),
                                              errstr, errstr_size)
                             : cfg_str(name, "", 0, value, sizeof(value), errstr, errstr_size);
            if (!err && *value && json_object_set_new(*settings, name, json_string(value)))
                err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            if (err) {
                json_decref(*settings);
                *settings = NULL;
                return err;
            }
        }
    }
    return MO_OK;
}

void cfg_set_process_tenant(const json_t *settings)
{
    cfg_overlay_process = settings;
}

mo_err cfg_load_tenant(mo_config *cfg, int need, const json_t *settings, char *errstr,
                       size_t errstr_size)
{
    const json_t *before = cfg_overlay_thread;
    cfg_overlay_thread = settings;
    mo_err err = cfg_load(cfg, need, errstr, errstr_size);
    cfg_overlay_thread = before;
    return err;
}

/* The variables shown by code of their own into o (see cfg_vars). */
static int cfg_describe_other(const mo_config *cfg, const char *name, json_t *o)
{
    if (!strcmp(name, "KAFKA_PROP_")) {
        for (int i = 0; i < cfg->n_kafka_props; i++) {
            char var[160];
            const char *dotted = cfg->kafka_props[i].name;
            size_t n = strlen(dotted);
            snprintf(var, sizeof(var), "KAFKA_PROP_%s", dotted);
            for (size_t k = 0; k < n; k++) /* as written: dots were underscores */
                if (var[11 + k] == '.')
                    var[11 + k] = '_';
            if (json_object_set_new(o, var,
                                    json_string(cfg_kafka_prop_secret(dotted)
                                                    ? "(set)"
                                                    : cfg->kafka_props[i].value)))
                return -1;
        }
        return 0;
    }
    if (!strcmp(name, "REDIS_URL")) {
        rs_url u;
        char why[256];
        if (rs_url_parse(cfg->redis_url, &u, why, sizeof(why)))
            return json_object_set_new(o, name, json_string("(unreadable)"));
        return json_object_set_new(o, name,
                                   json_pack("{s:s, s:i, s:i, s:s, s:s}", "host", u.host, "port",
                                             u.port, "db", u.db, "user", u.user, "password",
                                             *u.password ? "(set)" : "(unset)"));
    }
    if (!strcmp(name, "MYSTORE_WEIGHT_UNIT"))
        return json_object_set_new(o, name, json_string(cfg->mystore_weight_kg ? "kg" : "g"));
    if (!strcmp(name, "SHIPPING_METHOD_MAP"))
        return json_object_set_new(
            o, name, cfg->shipping_methods ? json_deep_copy(cfg->shipping_methods) : json_null());
    if (!strcmp(name, "MYSTORE_ORDER_STATUSES"))
        return json_object_set_new(o, name,
                                   cfg->mystore_order_statuses
                                       ? json_deep_copy(cfg->mystore_order_statuses)
                                       : json_null());
    if (!strcmp(name, "ONGOING_EDITABLE_STATUSES")) {
        json_t *a = json_array();
        for (int i = 0; a && i < cfg->n_ongoing_editable; i++)
            json_array_append_new(a, json_integer(cfg->ongoing_editable[i]));
        return json_object_set_new(o, name, a);
    }
    if (!strcmp(name, "POLL_INTERVAL_S_")) { /* each stream's interval in force */
        for (int i = 0; i < 4; i++)
            if (json_object_set_new(o, cfg_stream_vars[i],
                                    json_integer(cfg_poll_interval(cfg, cfg_streams[i]))))
                return -1;
        return 0;
    }
    return -1;
}

json_t *cfg_describe(const mo_config *cfg)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++) {
        const struct cfg_var *v = &cfg_vars[i];
        const char *field = (const char *)cfg + v->offset;
        json_t *value = NULL;
        int rc = 0;
        switch (v->show) {
        case CFG_SHOW_STR:
            value = json_string(field);
            break;
        case CFG_SHOW_INT:
            value = json_integer(*(const int *)field);
            break;
        case CFG_SHOW_PORT:
            value = *(const int *)field ? json_integer(*(const int *)field) : json_null();
            break;
        case CFG_SHOW_LONG:
            value = *(const long *)field ? json_integer(*(const long *)field) : json_null();
            break;
        case CFG_SHOW_ONOFF:
            value = json_boolean(*(const int *)field);
            break;
        case CFG_SHOW_SECRET:
            value = json_string(*field ? "(set)" : "(unset)");
            break;
        case CFG_SHOW_FILE:
            value = *field ? json_string(field) : json_null();
            break;
        case CFG_SHOW_OTHER:
            rc = cfg_describe_other(cfg, v->name, o);
            break;
        }
        if (v->show != CFG_SHOW_OTHER)
            rc = json_object_set_new(o, v->name, value);
        if (rc) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

const char *const cfg_streams[4] = {"mystore-orders", "mystore-products", "ongoing-shipments",
                                    "ongoing-stock"};

long cfg_applied_ttl_s(const mo_config *cfg)
{
    return cfg->applied_ttl_days * 86400L;
}

int cfg_poll_interval(const mo_config *cfg, const char *stream)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(stream, cfg_streams[i]) && cfg->poll_interval_stream_s[i])
            return cfg->poll_interval_stream_s[i];
    return cfg->poll_interval_s;
}

int cfg_all_tenants(void)
{
    const char *v = getenv("MOSYNC_ALL_TENANTS");
    if (!v || !*v || !strcmp(v, "off"))
        return 0;
    return !strcmp(v, "on") ? 1 : -1;
}

const char *cfg_group(const mo_config *cfg, const char *base, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s", cfg->topic_prefix, base, cfg->registry ? "." : "",
             cfg->registry ? cfg->tenant : "");
    return buf;
}

const char *cfg_topic(const mo_config *cfg, const char *base, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", cfg->topic_prefix, base);
    return buf;
}

int cfg_ongoing_editable(const mo_config *cfg, int status)
{
    for (int i = 0; i < cfg->n_ongoing_editable; i++)
        if (cfg->ongoing_editable[i] == status)
            return 1;
    return 0;
}
