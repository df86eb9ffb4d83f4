build-merge/tests/unit/test_lastrun.o: tests/unit/test_lastrun.c \
 common/lastrun.h common/config.h common/err.h common/log.h common/stop.h \
 common/store.h tests/unit/unit.h tests/unit/ut_net.h
common/lastrun.h:
common/config.h:
common/err.h:
common/log.h:
common/stop.h:
common/store.h:
tests/unit/unit.h:
tests/unit/ut_net.h:
