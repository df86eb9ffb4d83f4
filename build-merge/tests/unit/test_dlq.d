build-merge/tests/unit/test_dlq.o: tests/unit/test_dlq.c \
 tests/unit/unit.h tests/unit/ut_net.h common/config.h common/err.h \
 common/dlq.h common/config.h common/kafka.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/config.h:
common/err.h:
common/dlq.h:
common/config.h:
common/kafka.h:
