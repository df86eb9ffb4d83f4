/* `mosync tenant ...` and `--tenant T` (see tenant_cmd.h). */
#include "tenant_cmd.h"
#include "tenant.h"
#include "config.h"
#include "log.h"
#include "secretbox.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_LINE_MAX 16384

/* The settings file or stdin: KEY=VALUE lines (an env file without quotes:
 * the value is everything after the first '='), blank lines and lines
 * starting with '#' skipped.  "KEY=" sets KEY to "" (unset on `set`). */
static int tc_read_settings(const char *path, json_t **out)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *line = malloc(TC_LINE_MAX);
    int rc = 0, lineno = 0;
    *out = json_object();
    if (!f || !line || !*out) {
        fprintf(stderr, "mosync tenant: cannot read %s\n", strcmp(path, "-") ? path : "stdin");
        free(line);
        json_decref(*out);
        *out = NULL;
        return 2;
    }
    while (!rc && fgets(line, TC_LINE_MAX, f)) {
        size_t n = strlen(line);
        lineno++;
        if (n == TC_LINE_MAX - 1 && line[n - 1] != '\n') {
            fprintf(stderr, "mosync tenant: line %d is longer than %d bytes\n", lineno,
                    TC_LINE_MAX - 2);
            rc = 2;
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!n || line[0] == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq || eq == line) {
            fprintf(stderr, "mosync tenant: line %d is not KEY=VALUE\n", lineno);
            rc = 2;
            break;
        }
        *eq = '\0';
        if (json_object_set_new(*out, line, json_string(eq + 1))) {
            fprintf(stderr, "mosync tenant: line %d: %s is not valid UTF-8 text\n", lineno, line);
            rc = 2;
        }
    }
    memset(line, 0, TC_LINE_MAX);
    free(line);
    if (f != stdin)
        fclose(f);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int tenant_secret_key(const mo_config *cfg, sb_key *key)
{
    if (!cfg->secret_key_set) {
        fprintf(stderr, "mosync: configuration error: MOSYNC_SECRET_KEY is not set (the key that "
                        "encrypts the registry's secrets: 32 bytes as base64)\n");
        return 2;
    }
    *key = cfg->secret_key;
    return 0;
}

/* The process's own configuration (Redis) and a store. */
static int tc_open(mo_config *cfg, rs_store **rs, sb_key *key)
{
    char errstr[512];
    if (cfg_load(cfg, 0, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        return 2;
    }
    if (key && tenant_secret_key(cfg, key)) {
        cfg_free(cfg);
        return 2;
    }
    *rs = rs_open(cfg->redis_url, cfg->tenant, errstr, sizeof(errstr));
    if (!*rs) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        cfg_free(cfg);
        return 2;
    }
    rs_set_retry_ms(*rs, 5000);
    return 0;
}

/* Prints a tenant record, secrets as "(set)". */
static void tc_print(const json_t *record, int as_json)
{
    json_t *shown = json_deep_copy(record);
    json_t *settings = json_object_get(shown, "settings");
    const char *k;
    json_t *v;
    int secret;
    json_object_foreach(settings, k, v)
    {
        if (cfg_tenant_var(k, &secret) && secret)
            json_object_set_new(settings, k, json_string("(set)"));
    }
    if (as_json) {
        char *s = json_dumps(shown, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (s) {
            lg_mask_secrets(s, strlen(s) + 1);
            printf("%s\n", s);
        }
        free(s);
    } else {
        printf("tenant    %s\nstate     %s since %s\nupdated   %s (revision %lld)\n",
               json_string_value(json_object_get(shown, "name")),
               json_string_value(json_object_get(shown, "state")),
               json_string_value(json_object_get(shown, "state_at")),
               json_string_value(json_object_get(shown, "updated_at")),
               (long long)json_integer_value(json_object_get(shown, "rev")));
        const char **keys = calloc(json_object_size(settings) + 1, sizeof(*keys));
        size_t n = 0;
        json_object_foreach(settings, k, v) if (keys) keys[n++] = k;
        for (size_t i = 1; keys && i < n; i++) /* sorted, by insertion: few keys */
            for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                const char *t = keys[j];
                keys[j] = keys[j - 1];
                keys[j - 1] = t;
            }
        for (size_t i = 0; keys && i < n; i++)
            printf("  %s=%s\n", keys[i], json_string_value(json_object_get(settings, keys[i])));
        free(keys);
    }
    json_decref(shown);
}

static int tc_usage(void)
{
    fprintf(stderr,
            "usage: mosync tenant add <name> [--file F]   settings as KEY=VALUE lines (stdin by\n"
            "                                              default; secrets never as arguments)\n"
            "       mosync tenant set <name> [--file F]   change settings (KEY= unsets KEY)\n"
            "       mosync tenant list [--json]\n"
            "       mosync tenant show <name> [--json]\n"
            "       mosync tenant pause|resume <name>\n"
            "       mosync tenant remove <name> --yes     delete it and every key of it\n"
            "       mosync tenant import-env              the environment tenant, into the "
            "registry\n");
    return 2;
}

int tenant_main(int argc, char **argv)
{
    mo_config cfg;
    rs_store *rs = NULL;
    sb_key key;
    char errstr[1024];
    json_t *record = NULL, *settings = NULL, *names = NULL;
    const char *file = "-", *name = NULL;
    int as_json = 0, yes = 0, rc;
    mo_err err = MO_OK;

    if (argc < 1)
        return tc_usage();
    const char *sub = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--file") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else if (!strcmp(argv[i], "--yes"))
            yes = 1;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            fprintf(stderr, "mosync tenant: unknown option '%s'\n", argv[i]);
            return tc_usage();
        }
    }
    int needs_name = strcmp(sub, "list") && strcmp(sub, "import-env");
    if (needs_name != (name != NULL))
        return tc_usage();
    if (name && tn_check_name(name, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync tenant: %s\n", errstr);
        return 2;
    }
    int keyed = strcmp(sub, "list") && strcmp(sub, "remove");
    if ((rc = tc_open(&cfg, &rs, keyed ? &key : NULL)))
        return rc;

    if (!strcmp(sub, "add") || !strcmp(sub, "set")) {
        if ((rc = tc_read_settings(file, &settings)))
            goto out;
        if (!strcmp(sub, "set")) {
            if ((err = tn_get(rs, &key, name, &record, errstr, sizeof(errstr))))
                goto fail;
            if (!record) {
                fprintf(stderr, "mosync tenant: no tenant %s\n", name);
                rc = 1;
                goto out;
            }
            json_t *merged = json_object_get(record, "settings");
            const char *k;
            json_t *v;
            json_object_foreach(settings, k, v)
            {
                if (!*json_string_value(v))
                    json_object_del(merged, k);
                else
                    json_object_set(merged, k, v);
            }
            err =
                tn_put(rs, &key, name, merged, json_string_value(json_object_get(record, "state")),
                       0, errstr, sizeof(errstr));
        } else {
            err = tn_put(rs, &key, name, settings, TN_ACTIVE, 1, errstr, sizeof(errstr));
        }
        if (!err)
            printf("tenant %s %s\n", name, !strcmp(sub, "add") ? "added" : "changed");
    } else if (!strcmp(sub, "import-env")) {
        if ((err = cfg_tenant_from_env(&settings, errstr, sizeof(errstr))))
            goto fail;
        err = tn_put(rs, &key, cfg.tenant, settings, TN_ACTIVE, 1, errstr, sizeof(errstr));
        if (!err)
            printf("tenant %s added from the environment; start its processes with "
                   "--tenant %s\n",
                   cfg.tenant, cfg.tenant);
    } else if (!strcmp(sub, "list")) {
        if ((err = tn_list(rs, &names, errstr, sizeof(errstr))))
            goto fail;
        if (as_json) {
            char *s = json_dumps(names, JSON_COMPACT);
            printf("%s\n", s ? s : "[]");
            free(s);
        } else {
            size_t i;
            json_t *n;
            json_array_foreach(names, i, n) printf("%s\n", json_string_value(n));
        }
    } else if (!strcmp(sub, "show")) {
        if ((err = tn_get(rs, &key, name, &record, errstr, sizeof(errstr))))
            goto fail;
        if (!record) {
            fprintf(stderr, "mosync tenant: no tenant %s\n", name);
            rc = 1;
            goto out;
        }
        tc_print(record, as_json);
    } else if (!strcmp(sub, "pause") || !strcmp(sub, "resume")) {
        err = tn_set_state(rs, &key, name, !strcmp(sub, "pause") ? TN_PAUSED : TN_ACTIVE, errstr,
                           sizeof(errstr));
        if (!err)
            printf("tenant %s %s\n", name, !strcmp(sub, "pause") ? "paused" : "resumed");
    } else if (!strcmp(sub, "remove")) {
        long long deleted;
        if (!yes) {
            fprintf(stderr, "mosync tenant: remove deletes every key of tenant %s: add --yes\n",
                    name);
            rc = 2;
            goto out;
        }
        if (!(err = tn_remove(rs, name, &deleted, errstr, sizeof(errstr))))
            printf("tenant %s removed (%lld keys deleted)\n", name, deleted);
    } else {
        rc = tc_usage();
        goto out;
    }
fail:
    if (err) {
        fprintf(stderr, "mosync tenant %s: %s\n", sub, errstr);
        rc = err == MO_ERR_CONFIG ? 2 : 1;
    }
out:
    json_decref(record);
    json_decref(settings);
    json_decref(names);
    rs_close(rs);
    cfg_free(&cfg);
    memset(&key, 0, sizeof(key));
    return rc;
}

/* The registry tenant a process serves: its settings outlive every load. */
static json_t *tc_process_settings;

int tenant_use_from_args(int *argc, char **argv, int long_running)
{
    const char *name = NULL;
    int j = 0;
    for (int i = 0; i < *argc; i++) {
        if (i >= 1 && !strcmp(argv[i], "--tenant") && i + 1 < *argc && !name) {
            name = argv[++i];
            continue;
        }
        argv[j++] = argv[i];
    }
    *argc = j;
    argv[j] = NULL;
    if (!name)
        return 0;

    mo_config cfg;
    rs_store *rs;
    sb_key key;
    char errstr[1024];
    json_t *record = NULL;
    int rc;
    if (tn_check_name(name, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: --tenant: %s\n", errstr);
        return 2;
    }
    if ((rc = tc_open(&cfg, &rs, &key)))
        return rc;
    mo_err err = tn_get(rs, &key, name, &record, errstr, sizeof(errstr));
    rs_close(rs);
    cfg_free(&cfg);
    memset(&key, 0, sizeof(key));
    if (err) {
        fprintf(stderr, "mosync: --tenant %s: %s\n", name, errstr);
        return 1;
    }
    if (!record) {
        fprintf(stderr,
                "mosync: --tenant %s: no such tenant in the registry (mosync tenant list)\n", name);
        return 2;
    }
    const char *state = json_string_value(json_object_get(record, "state"));
    if (long_running && strcmp(state, TN_ACTIVE)) {
        fprintf(stderr, "mosync: tenant %s is %s: nothing to serve (mosync tenant resume %s)\n",
                name, state, name);
        json_decref(record);
        return 1;
    }
    tc_process_settings = json_incref(json_object_get(record, "settings"));
    json_object_set_new(tc_process_settings, "MOSYNC_TENANT", json_string(name));
    json_decref(record);
    cfg_set_process_tenant(tc_process_settings);
    return 0;
}
