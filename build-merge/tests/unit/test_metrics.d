build-merge/tests/unit/test_metrics.o: tests/unit/test_metrics.c \
 tests/unit/unit.h tests/unit/ut_net.h common/config.h common/err.h \
 common/http.h common/metrics.h common/store.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/config.h:
common/err.h:
common/http.h:
common/metrics.h:
common/store.h:
