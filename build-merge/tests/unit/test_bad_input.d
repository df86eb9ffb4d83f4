build-merge/tests/unit/test_bad_input.o: tests/unit/test_bad_input.c \
 tests/unit/unit.h tests/unit/ut_net.h cli/health.h common/config.h \
 common/err.h common/err.h common/config.h common/lastrun.h \
 common/config.h common/err.h common/lease.h common/store.h common/log.h \
 common/metrics.h common/mystore.h common/ongoing.h common/stop.h \
 common/store.h
tests/unit/unit.h:
tests/unit/ut_net.h:
cli/health.h:
common/config.h:
common/err.h:
common/err.h:
common/config.h:
common/lastrun.h:
common/config.h:
common/err.h:
common/lease.h:
common/store.h:
common/log.h:
common/metrics.h:
common/mystore.h:
common/ongoing.h:
common/stop.h:
common/store.h:
