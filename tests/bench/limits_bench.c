/* The limits of the pipeline (issue 15, section 2 of `make bench`): what the
 * libraries alone do against the same broker, simulator and Redis, with none
 * of mosync's work in between.
 *
 *   build/limits-bench kafka BROKERS TOPIC SECONDS
 *       raw librdkafka consume: assigns every partition of TOPIC from its
 *       beginning and reads to the end of each, again and again until SECONDS
 *       have passed; the time counted is from each round's first message to
 *       its last, as the appliers count their busy time.
 *   build/limits-bench http URL BODIES SECONDS
 *       raw keep-alive PUT rate with libcurl: one easy handle (one connection)
 *       PUTs the lines of the file BODIES in turn to URL until SECONDS have
 *       passed.  HTTP Basic credentials come from the environment variable
 *       LIMITS_BASIC_AUTH ("user:password"), not from argv (ps shows argv).
 *   build/limits-bench redis HOST PORT SECONDS
 *       Redis round trips over one hiredis connection: PING, one at a time.
 *
 * Each prints one JSON line: {"what": .., "count": N, "seconds": S,
 * "per_s": X, "errors": E, ...}; an answer that is not a success counts as an
 * error.  Exit 0, 1 when the thing measured could not be reached, 2 for bad
 * usage. */
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double lb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- kafka ---- */

static int lb_kafka(const char *brokers, const char *topic, double seconds)
{
    char errstr[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof(group), "limits-bench-%ld", (long)time(NULL));
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        /* A partition's end is seen only when a fetch comes back empty, and
         * an empty fetch waits this long (500 ms by default): rounds would
         * mostly wait for that.  A fetch with data returns at once whatever
         * this is, so the time counted (first to last message) is the same. */
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof(errstr))) {
        fprintf(stderr, "limits-bench: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "limits-bench: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);

    int rc = 1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        fprintf(stderr, "limits-bench: no metadata for topic %s\n", topic);
        goto out;
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[p].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;

    unsigned long count = 0, bytes = 0, errors = 0, rounds = 0, round_msgs = 0;
    double busy = 0, start = lb_now();
    while (lb_now() - start < seconds || rounds == 0) {
        if (rd_kafka_assign(rk, list)) {
            fprintf(stderr, "limits-bench: assign failed\n");
            break;
        }
        int eofs = 0;
        unsigned long n = 0;
        double first = 0, last = 0, deadline = lb_now() + 30;
        while (eofs < parts && lb_now() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
            if (!m)
                continue;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                eofs++;
            } else if (m->err) {
                errors++;
            } else {
                last = lb_now();
                if (n == 0)
                    first = last;
                n++;
                bytes += m->len;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
        if (eofs < parts) {
            fprintf(stderr, "limits-bench: topic %s not read to its end in 30 s\n", topic);
            break;
        }
        if (n == 0) {
            fprintf(stderr, "limits-bench: topic %s is empty\n", topic);
            break;
        }
        count += n;
        busy += last - first;
        rounds++;
        round_msgs = n;
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (rounds > 0) {
        printf("{\"what\":\"kafka consume\",\"count\":%lu,\"seconds\":%.4f,\"per_s\":%.1f,"
               "\"errors\":%lu,\"rounds\":%lu,\"messages_per_round\":%lu,\"partitions\":%d,"
               "\"bytes_per_message\":%.0f}\n",
               count, busy, busy > 0 ? (double)count / busy : 0, errors, rounds, round_msgs, parts,
               count ? (double)bytes / (double)count : 0);
        rc = 0;
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- http ---- */

static size_t lb_sink(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static int lb_http(const char *url, const char *bodies_path, double seconds)
{
    FILE *f = fopen(bodies_path, "r");
    if (!f) {
        fprintf(stderr, "limits-bench: cannot open %s\n", bodies_path);
        return 1;
    }
    char **bodies = NULL, *line = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(bodies, cap * sizeof(*grown));
            if (!grown)
                break;
            bodies = grown;
        }
        bodies[n] = strdup(line);
        if (!bodies[n])
            break;
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "limits-bench: %s holds no body\n", bodies_path);
        free(bodies);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    const char *auth = getenv("LIMITS_BASIC_AUTH");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, lb_sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    if (auth) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, auth);
    }

    unsigned long count = 0, errors = 0;
    long connects = 0;
    int rc = 0;
    double start = lb_now(), t = start;
    while (t - start < seconds || count == 0) {
        const char *body = bodies[count % n];
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        CURLcode res = curl_easy_perform(c);
        long status = 0, opened = 0;
        if (res == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &opened);
            connects += opened;
        }
        t = lb_now();
        count++;
        if (status < 200 || status > 299) {
            errors++;
            if (res != CURLE_OK && count == 1) {
                fprintf(stderr, "limits-bench: %s: %s\n", url, curl_easy_strerror(res));
                rc = 1;
                break;
            }
        }
    }
    if (rc == 0)
        printf("{\"what\":\"http put\",\"count\":%lu,\"seconds\":%.4f,\"per_s\":%.1f,"
               "\"errors\":%lu,\"connections\":%ld,\"bodies\":%zu}\n",
               count, t - start, (double)count / (t - start), errors, connects, n);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
    return rc;
}

/* ---- redis ---- */

static int lb_redis(const char *host, int port, double seconds)
{
    redisContext *r = redisConnect(host, port);
    if (!r || r->err) {
        fprintf(stderr, "limits-bench: redis %s:%d: %s\n", host, port,
                r ? r->errstr : "cannot connect");
        if (r)
            redisFree(r);
        return 1;
    }
    unsigned long count = 0, errors = 0;
    double start = lb_now(), t = start;
    while (t - start < seconds || count == 0) {
        /* The clock is read every 64 round trips: reading it each time
         * would be a noticeable share of a loopback round trip. */
        for (int i = 0; i < 64; i++) {
            redisReply *reply = redisCommand(r, "PING");
            if (!reply || reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0)
                errors++;
            if (reply)
                freeReplyObject(reply);
            else
                break;
            count++;
        }
        if (r->err)
            break;
        t = lb_now();
    }
    int rc = r->err ? 1 : 0;
    if (rc)
        fprintf(stderr, "limits-bench: redis: %s\n", r->errstr);
    else
        printf("{\"what\":\"redis ping\",\"count\":%lu,\"seconds\":%.4f,\"per_s\":%.1f,"
               "\"errors\":%lu}\n",
               count, t - start, (double)count / (t - start), errors);
    redisFree(r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "kafka") == 0)
        return lb_kafka(argv[2], argv[3], strtod(argv[4], NULL));
    if (argc == 5 && strcmp(argv[1], "http") == 0)
        return lb_http(argv[2], argv[3], strtod(argv[4], NULL));
    if (argc == 5 && strcmp(argv[1], "redis") == 0)
        return lb_redis(argv[2], (int)strtol(argv[3], NULL, 10), strtod(argv[4], NULL));
    fprintf(stderr, "usage: limits-bench kafka BROKERS TOPIC SECONDS\n"
                    "       limits-bench http URL BODIES SECONDS\n"
                    "       limits-bench redis HOST PORT SECONDS\n");
    return 2;
}
