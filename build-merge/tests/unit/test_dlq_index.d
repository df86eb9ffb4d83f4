build-merge/tests/unit/test_dlq_index.o: tests/unit/test_dlq_index.c \
 tests/unit/unit.h tests/unit/ut_net.h common/dlq.h common/config.h \
 common/err.h common/kafka.h common/dlq_state.h common/store.h \
 common/event.h common/stop.h common/store.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/dlq.h:
common/config.h:
common/err.h:
common/kafka.h:
common/dlq_state.h:
common/store.h:
common/event.h:
common/stop.h:
common/store.h:
