/* mosync: one binary, one command per role.  Start reading here; the README's
 * "Source layout" says where each command lives. */
#include "admin.h"
#include "apply.h"
#include "config.h"
#include "dlq.h"
#include "dlq_cmd.h"
#include "doctor.h"
#include "health.h"
#include "webhooks.h"
#include "kafka.h"
#include "log.h"
#include "map_article.h"
#include "map_delivery.h"
#include "map_order.h"
#include "map_stock.h"
#include "metrics.h"
#include "poll.h"
#include "poll_sched.h"
#include "reconcile.h"
#include "replay.h"
#include "run.h"
#include "status.h"
#include "stop.h"
#include "store.h"
#include "tenant_cmd.h"

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: mosync <command> [options]\n"
        "\n"
        "  poll mystore-orders [--once]          Mystore orders -> mystore.orders\n"
        "  poll mystore-products [--once]        Mystore products -> mystore.products\n"
        "  poll ongoing-shipments [--once]       shipped Ongoing orders -> ongoing.shipments\n"
        "  poll ongoing-stock [--once]           Ongoing stock -> ongoing.stock (STOCK_SYNC=on)\n"
        "  poll <stream> --all-tenants           that stream for every active registry tenant\n"
        "  apply orders [--once] [--idle-ms N] [--group G]\n"
        "                                        mystore.orders -> Ongoing orders\n"
        "  apply articles [...]                  mystore.products -> Ongoing articles\n"
        "  apply deliveries [...]                ongoing.shipments -> Mystore \"levert\" + "
        "tracking\n"
        "  apply stock [...]                     ongoing.stock -> Mystore stock (STOCK_SYNC=on)\n"
        "  apply <flow> --all-tenants            that flow for every registry tenant\n"
        "  run                                   every enabled poller and consumer, one process\n"
        "  webhooks                              receive Mystore's and Ongoing's webhooks on\n"
        "                                        METRICS_PORT; each triggers its poller at once\n"
        "  replay <flow> --from-time T [--to-time T] | --from-offset N [--partition P]\n"
        "         [--dry-run] [--force]       apply a range of a flow's topic again\n"
        "  resync orders|articles|deliveries|stock <id>...\n"
        "                                        read entities again from the source, emit them\n"
        "  reconcile orders|articles|deliveries|stock [--since T] [--fix] [--json]\n"
        "                                        what the target misses or holds differently;\n"
        "                                        --fix emits those again (read-only without)\n"
        "  dlq show [--once [FILTERS]]           print the dead letters (JSON lines, with state)\n"
        "  dlq list [FILTERS] [--state S|--all] [--json]\n"
        "                                        the open dead letters (or those in state S)\n"
        "  dlq redrive FILTERS|--id P:O...|--all put open letters back on their topics\n"
        "  dlq purge FILTERS|--id P:O...|--all   close letters without re-driving them\n"
        "      FILTERS: --flow F --entity E --class C --since ISO --until ISO\n"
        "  tail <topic> [--once]                 print a topic's messages like dlq show\n"
        "                                        (topic without prefix: mystore.orders, ...)\n"
        "  topics                                create the pipeline's topics\n"
        "  dev-broker [--partitions N]           embedded Kafka for demos and tests\n"
        "                                        (default: KAFKA_TOPIC_PARTITIONS)\n"
        "  config                                validate the environment and print it\n"
        "  status [--json]                       lag, cursors, leases, last errors, dead letters,\n"
        "                                        API budget (reads Kafka and Redis only)\n"
        "  healthcheck                           GET /readyz on METRICS_PORT: exit 0 ready, 1 not\n"
        "  doctor [--json] [--known-weight SKU=<n>g]\n"
        "                                        probe the API model's assumptions, read-only\n"
        "                                        (exit 3: some could not be read)\n"
        "  map order|article|delivery|stock < snapshot.json\n"
        "                                        run one mapping on one snapshot\n"
        "  tenant add|set <name> [--file F]    a shop of the registry (settings as KEY=VALUE\n"
        "                                        lines on stdin or in F)\n"
        "  tenant list|show|pause|resume|remove|import-env\n"
        "                                        manage the registry (see README)\n"
        "  admin                                 the operator's web app on ADMIN_LISTEN: the\n"
        "                                        tenants, their status, re-drive, pause\n"
        "  <command> ... --tenant T              any command, for registry tenant T\n"
        "  version\n"
        "\n"
        "Configuration comes from environment variables; see README.md.\n"
        "Exit status: 0 ok, 1 failure, 2 bad usage or configuration.\n");
}

/* Loads the configuration a command needs; exits 2 naming the variable. */
static void load_config(mo_config *cfg, int need)
{
    char errstr[512];
    if (cfg_load(cfg, need, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        exit(2);
    }
    mt_set_tenant_label(cfg->metrics_tenant_label);
}

/* Starts the metrics server of a long-running command when METRICS_PORT is
 * set (NULL when not); exits 2 naming the variable when it cannot listen. */
static health_server *start_health(mo_config *cfg, const char *cmd, const char *sub)
{
    char errstr[512], command[64];
    health_server *hs = NULL;
    snprintf(command, sizeof(command), "%s%s%s", cmd, *sub ? " " : "", sub);
    if (health_start(cfg, command, &hs, errstr, sizeof(errstr))) {
        fprintf(stderr, "mosync: configuration error: %s\n", errstr);
        cfg_free(cfg);
        exit(2);
    }
    return hs;
}

/* `mosync poll <stream> --all-tenants` and `mosync apply <flow>
 * --all-tenants`: every registry tenant from one process
 * (producers/poll_sched.h, consumers/apply_tenants.c).  The environment
 * gives the process's settings only. */
static int all_tenants(const char *cmd, const char *sub)
{
    mo_config cfg;
    sb_key key;
    int rc;
    if (getenv("MOSYNC_TENANT") && *getenv("MOSYNC_TENANT")) {
        fprintf(stderr,
                "mosync: %s --all-tenants serves the registry's tenants: MOSYNC_TENANT "
                "must not be set (nor --tenant given)\n",
                cmd);
        return 2;
    }
    load_config(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS);
    if (strcmp(cfg.tenant, "default")) {
        fprintf(stderr, "mosync: %s --all-tenants serves the registry's tenants, not --tenant %s\n",
                cmd, cfg.tenant);
        cfg_free(&cfg);
        return 2;
    }
    if ((rc = tenant_secret_key(&cfg, &key))) {
        cfg_free(&cfg);
        return rc;
    }
    health_server *hs = start_health(&cfg, cmd, sub);
    rc = !strcmp(cmd, "poll") ? poll_all_tenants(&cfg, sub, &key)
                              : apply_all_tenants(&cfg, sub, &key);
    health_stop(hs);
    memset(&key, 0, sizeof(key));
    cfg_free(&cfg);
    return rc;
}

/* MOSYNC_ALL_TENANTS (cfg_all_tenants): 1 on, 0 off; exits 2 naming the
 * variable for another value. */
static int all_tenants_env(void)
{
    int on = cfg_all_tenants();
    if (on < 0) {
        fprintf(stderr, "mosync: configuration error: MOSYNC_ALL_TENANTS must be on or off\n");
        exit(2);
    }
    return on;
}

/* Parses the options shared by the long-running commands. */
static int parse_opts(int argc, char **argv, int *once, long *idle_ms, long *partitions,
                      const char **group)
{
    for (int i = 0; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--once") && once) {
            *once = 1;
        } else if (!strcmp(argv[i], "--idle-ms") && idle_ms && i + 1 < argc) {
            *idle_ms = strtol(argv[++i], &end, 10);
            if (*end || *idle_ms <= 0) {
                fprintf(stderr, "mosync: --idle-ms needs a positive number of milliseconds\n");
                return -1;
            }
        } else if (!strcmp(argv[i], "--group") && group && i + 1 < argc) {
            *group = argv[++i];
        } else if (!strcmp(argv[i], "--partitions") && partitions && i + 1 < argc) {
            *partitions = strtol(argv[++i], &end, 10);
            if (*end || *partitions <= 0 || *partitions > 1000) {
                fprintf(stderr, "mosync: --partitions needs a number from 1 to 1000\n");
                return -1;
            }
        } else {
            fprintf(stderr, "mosync: unknown option '%s'\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

/* `mosync config`: validates the environment and prints every setting as
 * JSON, keyed by variable (cfg_describe: secrets only as set or unset). */
static int cmd_config(void)
{
    mo_config cfg;
    load_config(&cfg, 0);
    json_t *o = cfg_describe(&cfg);
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s) {
        /* Last line of defence, as for the log. */
        lg_mask_secrets(s, strlen(s) + 1);
        printf("%s\n", s);
    }
    free(s);
    json_decref(o);
    cfg_free(&cfg);
    return s ? 0 : 1;
}

/* `mosync map <order|article|delivery|stock>`: runs one pure mapping on the
 * JSON read from stdin (an event, or its "data") and prints the result.  For
 * debugging a mapping and for the end-to-end tests, which compare what the
 * other system received with this.  stock reads {"article": .., "map": ..}. */
static int cmd_map(const char *what)
{
    mo_config cfg;
    json_error_t jerr;
    char errstr[512];
    json_t *out = NULL;
    mo_err err;
    load_config(&cfg, 0);
    json_t *in = json_loadf(stdin, 0, &jerr);
    if (!in) {
        fprintf(stderr, "mosync: stdin is not JSON: %s\n", jerr.text);
        cfg_free(&cfg);
        return 1;
    }
    json_t *data = json_object_get(in, "data") ? json_object_get(in, "data") : in;
    long owner = cfg.ongoing_goods_owner ? cfg.ongoing_goods_owner : 1;
    if (!strcmp(what, "order")) {
        mp_order_conf conf;
        apply_order_conf(&cfg, &conf);
        conf.goods_owner_id = owner;
        err = mp_order_map(data, &conf, &out, errstr, sizeof(errstr));
    } else if (!strcmp(what, "article")) {
        mp_article_conf conf;
        apply_article_conf(&cfg, &conf);
        conf.goods_owner_id = owner;
        err = mp_article_map(data, &conf, &out, errstr, sizeof(errstr));
    } else if (!strcmp(what, "delivery")) {
        err = mp_delivery_map(data, &out, errstr, sizeof(errstr));
    } else {
        err = mp_stock_map(json_object_get(in, "article"), json_object_get(in, "map"), &out, errstr,
                           sizeof(errstr));
    }
    if (err) {
        fprintf(stderr, "mosync: %s: %s\n", mo_err_name(err), errstr);
    } else {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "null");
        free(s);
    }
    json_decref(out);
    json_decref(in);
    cfg_free(&cfg);
    return err ? 1 : 0;
}

int main(int argc, char **argv)
{
    mo_config cfg;
    int once = 0, rc;
    long idle_ms = 2000, partitions = 0; /* 0: KAFKA_TOPIC_PARTITIONS */
    const char *group = NULL;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    const char *sub = argc > 2 ? argv[2] : "";
    mo_stop_install();

    if (!strcmp(cmd, "version")) {
        printf("mosync %s (librdkafka %s, %s, jansson %s, hiredis %d.%d)\n", MOSYNC_VERSION,
               rd_kafka_version_str(), curl_version(), JANSSON_VERSION, HIREDIS_MAJOR,
               HIREDIS_MINOR);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "tenant"))
        return tenant_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "admin")) /* serves every registry tenant: no --tenant */
        return admin_main(argc - 2, argv + 2);
    /* --tenant T: every command below serves registry tenant T. */
    int long_running = !strcmp(cmd, "poll") || !strcmp(cmd, "apply") || !strcmp(cmd, "run");
    if ((rc = tenant_use_from_args(&argc, argv, long_running)))
        return rc;
    sub = argc > 2 ? argv[2] : "";
    if (!strcmp(cmd, "config"))
        return cmd_config();
    if (!strcmp(cmd, "doctor"))
        return doctor_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "status"))
        return status_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "healthcheck"))
        return health_check_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "map") && (!strcmp(sub, "order") || !strcmp(sub, "article") ||
                                !strcmp(sub, "delivery") || !strcmp(sub, "stock")))
        return cmd_map(sub);
    if (!strcmp(cmd, "poll")) {
        static const struct {
            const char *name;
            int need;
            int (*fn)(const mo_config *, const poll_opts *);
        } pollers[] = {
            {"mystore-orders", CFG_NEED_MYSTORE, poll_mystore_orders},
            {"mystore-products", CFG_NEED_MYSTORE, poll_mystore_products},
            {"ongoing-shipments", CFG_NEED_ONGOING, poll_ongoing_shipments},
            {"ongoing-stock", CFG_NEED_ONGOING, poll_ongoing_stock},
        };
        for (size_t i = 0; i < sizeof(pollers) / sizeof(pollers[0]); i++) {
            if (strcmp(sub, pollers[i].name))
                continue;
            if ((argc == 4 && !strcmp(argv[3], "--all-tenants")) ||
                (argc == 3 && all_tenants_env()))
                return all_tenants(cmd, sub);
            if (parse_opts(argc - 3, argv + 3, &once, NULL, NULL, NULL))
                return 2;
            load_config(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS | pollers[i].need);
            health_server *hs = start_health(&cfg, cmd, sub);
            rc = pollers[i].fn(&cfg, &(poll_opts){.once = once});
            health_stop(hs);
            cfg_free(&cfg);
            return rc;
        }
    }
    if (!strcmp(cmd, "apply")) {
        static const struct {
            const char *name;
            int need;
            int (*fn)(const mo_config *, const apply_opts *);
        } appliers[] = {
            {"orders", CFG_NEED_ONGOING, apply_orders},
            {"articles", CFG_NEED_ONGOING, apply_articles},
            {"deliveries", CFG_NEED_MYSTORE, apply_deliveries},
            {"stock", CFG_NEED_MYSTORE, apply_stock},
        };
        for (size_t i = 0; i < sizeof(appliers) / sizeof(appliers[0]); i++) {
            if (strcmp(sub, appliers[i].name))
                continue;
            if ((argc == 4 && !strcmp(argv[3], "--all-tenants")) ||
                (argc == 3 && all_tenants_env()))
                return all_tenants(cmd, sub);
            if (parse_opts(argc - 3, argv + 3, &once, &idle_ms, NULL, &group))
                return 2;
            load_config(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS | appliers[i].need);
            health_server *hs = start_health(&cfg, cmd, sub);
            rc = appliers[i].fn(&cfg,
                                &(apply_opts){.once = once, .idle_ms = idle_ms, .group = group});
            health_stop(hs);
            cfg_free(&cfg);
            return rc;
        }
    }
    if (!strcmp(cmd, "replay"))
        return replay_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "reconcile"))
        return reconcile_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "resync")) {
        /* Mystore is read for orders and articles, Ongoing for the others. */
        int mystore = !strcmp(sub, "orders") || !strcmp(sub, "articles");
        int ongoing = !strcmp(sub, "deliveries") || !strcmp(sub, "stock");
        if ((!mystore && !ongoing) || argc < 4 || argv[3][0] == '-') {
            fprintf(stderr, "usage: mosync resync orders|articles|deliveries|stock <id>...\n");
            return 2;
        }
        load_config(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS |
                              (mystore ? CFG_NEED_MYSTORE : CFG_NEED_ONGOING));
        rc = poll_resync(&cfg, sub, argv + 3, argc - 3);
        cfg_free(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "run")) {
        if (parse_opts(argc - 2, argv + 2, NULL, NULL, NULL, NULL))
            return 2;
        load_config(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS | CFG_NEED_MYSTORE | CFG_NEED_ONGOING);
        /* One producer for every flow, and for /readyz's question to Kafka. */
        char errstr[512];
        kq_producer *kp = run_producer_new(&cfg, errstr, sizeof(errstr));
        if (!kp) {
            fprintf(stderr, "mosync: configuration error: %s\n", errstr);
            cfg_free(&cfg);
            return 2;
        }
        health_server *hs = NULL;
        if (health_start_producer(&cfg, "run", kp, &hs, errstr, sizeof(errstr))) {
            fprintf(stderr, "mosync: configuration error: %s\n", errstr);
            kq_producer_free(kp);
            cfg_free(&cfg);
            return 2;
        }
        rc = run_all(&cfg, kp);
        health_stop(hs); /* first: its checks use kp */
        kq_producer_free(kp);
        cfg_free(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "webhooks")) {
        sb_key key;
        int all =
            (argc == 3 && !strcmp(argv[2], "--all-tenants")) || (argc == 2 && all_tenants_env());
        if (!all && parse_opts(argc - 2, argv + 2, NULL, NULL, NULL, NULL))
            return 2;
        load_config(&cfg, CFG_NEED_REDIS);
        if (all && (rc = tenant_secret_key(&cfg, &key))) {
            cfg_free(&cfg);
            return rc;
        }
        rc = webhooks_main(&cfg, all ? &key : NULL);
        memset(&key, 0, sizeof(key));
        cfg_free(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "dlq"))
        return dlq_cmd_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "tail") && *sub && sub[0] != '-') {
        if (parse_opts(argc - 3, argv + 3, &once, NULL, NULL, NULL))
            return 2;
        load_config(&cfg, CFG_NEED_KAFKA);
        rc = dlq_show_topic(&cfg, sub, "mosync-tail", once);
        cfg_free(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "topics")) {
        char errstr[512];
        load_config(&cfg, CFG_NEED_KAFKA);
        rc = kq_ensure_topics(&cfg, errstr, sizeof(errstr)) ? 1 : 0;
        if (rc)
            fprintf(stderr, "mosync: %s\n", errstr);
        cfg_free(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "dev-broker")) {
        if (parse_opts(argc - 2, argv + 2, NULL, NULL, &partitions, NULL))
            return 2;
        load_config(&cfg, 0);
        rc = kq_dev_broker_run(&cfg, 1, partitions ? (int)partitions : cfg.topic_partitions);
        cfg_free(&cfg);
        return rc;
    }
    fprintf(stderr, "mosync: unknown command '%s%s%s'\n", cmd, *sub ? " " : "", sub);
    usage(stderr);
    return 2;
}
