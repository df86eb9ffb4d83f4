build-merge/tests/unit/test_redis_errors.o: \
 tests/unit/test_redis_errors.c tests/unit/unit.h tests/unit/ut_net.h \
 common/stop.h common/store.h common/err.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/stop.h:
common/store.h:
common/err.h:
