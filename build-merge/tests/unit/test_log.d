build-merge/tests/unit/test_log.o: tests/unit/test_log.c \
 tests/unit/unit.h tests/unit/ut_net.h common/config.h common/err.h \
 common/log.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/config.h:
common/err.h:
common/log.h:
