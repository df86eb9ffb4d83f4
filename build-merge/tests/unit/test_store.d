build-merge/tests/unit/test_store.o: tests/unit/test_store.c \
 tests/unit/unit.h tests/unit/ut_net.h common/config.h common/err.h \
 common/log.h common/stop.h common/store.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/config.h:
common/err.h:
common/log.h:
common/stop.h:
common/store.h:
