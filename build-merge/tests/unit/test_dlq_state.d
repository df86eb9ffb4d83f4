build-merge/tests/unit/test_dlq_state.o: tests/unit/test_dlq_state.c \
 tests/unit/unit.h common/dlq_state.h common/config.h common/err.h \
 common/kafka.h common/store.h common/dlq.h common/event.h
tests/unit/unit.h:
common/dlq_state.h:
common/config.h:
common/err.h:
common/kafka.h:
common/store.h:
common/dlq.h:
common/event.h:
