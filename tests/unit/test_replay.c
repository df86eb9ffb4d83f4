#include "unit.h"
#include "consumers/apply.h"

#include <jansson.h>

/* The one place the flows skip an unchanged request (replay --force). */
UT_TEST(replay_same_request_and_force)
{
    json_t *rec = json_pack("{s:s, s:s}", "version", "2026-01-01T00:00:00Z", "hash", "abc");
    UT_CHECK(apply_same_request(rec, "abc"), "same hash is the same request");
    UT_CHECK(!apply_same_request(rec, "abd"), "another hash is another request");
    UT_CHECK(!apply_same_request(NULL, "abc"), "no record: never applied");
    apply_force_set(1);
    UT_CHECK(apply_forced(), "forced");
    UT_CHECK(!apply_same_request(rec, "abc"), "forced: sent again");
    apply_force_set(0);
    UT_CHECK(apply_same_request(rec, "abc"), "force off again");
    json_decref(rec);
}
