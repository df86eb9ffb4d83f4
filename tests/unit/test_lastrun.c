/* The last-run record (common/lastrun.c) against a real redis-server
 * (started here on a free port; skipped with a message when it cannot be). */
#include "lastrun.h"
#include "log.h"
#include "stop.h"
#include "store.h"
#include "unit.h"
#include "ut_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ut_lr_field(rs_store *rs, const char *component, const char *field, char *buf,
                               size_t size)
{
    char errstr[256], suffix[128];
    json_t *out = NULL;
    const char *keys[1] = {lr_suffix(component, suffix, sizeof(suffix))};
    const char *args[1] = {field};
    buf[0] = '\0';
    if (rs_eval(rs, "return redis.call('HGET', KEYS[1], ARGV[1])", 1, keys, 1, args, &out, errstr,
                sizeof(errstr)) == MO_OK &&
        json_is_string(out))
        snprintf(buf, size, "%s", json_string_value(out));
    json_decref(out);
    return buf;
}

/* Issue 8 (status): the error is masked before it is cut; a second outcome
 * of the same kind within a second is not written, one of the other kind is
 * at once; Redis away costs one short attempt, never an error. */
UT_TEST(issue8_lastrun_masks_rate_limits_and_survives_redis_away)
{
    char url[128], errstr[256] = "", buf[LR_ERROR_MAX + 64], text[LR_ERROR_MAX + 64];
    ut_redis redis;
    if (ut_redis_start(&redis, NULL)) {
        printf("    skipped: cannot start redis-server\n");
        return;
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis.port);
    mo_config cfg = {.applied_ttl_days = 1};
    snprintf(cfg.redis_url, sizeof(cfg.redis_url), "%s", url);
    snprintf(cfg.tenant, sizeof(cfg.tenant), "ut");
    rs_store *rs = rs_open(url, "ut", errstr, sizeof(errstr));
    long long t0 = mo_now_ms();
    while (rs && rs_ping(rs, errstr, sizeof(errstr)) && mo_now_ms() - t0 < 5000)
        mo_stop_sleep_ms(50);
    UT_CHECK(rs && rs_ping(rs, errstr, sizeof(errstr)) == MO_OK, "redis: %s", errstr);
    if (!rs)
        goto out;

    /* A secret straddling the cut: cut first, its head would remain. */
    UT_CHECK(lg_add_secret("lastrun-secret-0123456789") == 0, "secret registered");
    memset(text, 'a', LR_ERROR_MAX - 8);
    snprintf(text + LR_ERROR_MAX - 8, sizeof(text) - (LR_ERROR_MAX - 8), "%s",
             "lastrun-secret-0123456789 tail");
    lr_note(&cfg, "ut.mask", MO_ERR_TRANSIENT, text);
    ut_lr_field(rs, "ut.mask", "error", buf, sizeof(buf));
    UT_CHECK(buf[0] && !strstr(buf, "las") && strlen(buf) <= LR_ERROR_MAX,
             "error masked, then cut (%zu bytes): ...%s", strlen(buf),
             strlen(buf) > 40 ? buf + strlen(buf) - 40 : buf);
    UT_CHECK(!strcmp(ut_lr_field(rs, "ut.mask", "error_class", buf, sizeof(buf)), "transient"),
             "class '%s'", buf);

    /* Rate limit: the second success within a second is kept in memory. */
    lr_note(&cfg, "ut.rate", MO_OK, NULL);
    UT_CHECK(*ut_lr_field(rs, "ut.rate", "ok_at", buf, sizeof(buf)), "first success written");
    UT_CHECK(rs_del(rs, "lastrun:ut.rate", errstr, sizeof(errstr)) == MO_OK, "del: %s", errstr);
    lr_note(&cfg, "ut.rate", MO_OK, NULL);
    UT_CHECK(!*ut_lr_field(rs, "ut.rate", "ok_at", buf, sizeof(buf)),
             "a second success within a second was written");
    lr_note(&cfg, "ut.rate", MO_ERR_PERMANENT, "refused");
    UT_CHECK(!strcmp(ut_lr_field(rs, "ut.rate", "error", buf, sizeof(buf)), "refused") &&
                 *ut_lr_field(rs, "ut.rate", "ok_at", buf, sizeof(buf)),
             "an error after a success is written at once, with the success");

    /* Redis away: returns after one short attempt. */
    ut_redis_stop(&redis);
    long long t = mo_now_ms();
    lr_note(&cfg, "ut.rate", MO_OK, NULL);
    lr_note(&cfg, "ut.rate", MO_ERR_TRANSIENT, "x");
    UT_CHECK(mo_now_ms() - t < 2000, "lr_note blocked %lld ms with Redis away", mo_now_ms() - t);
out:
    rs_close(rs);
    ut_redis_stop(&redis);
}
