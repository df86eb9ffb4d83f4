build-merge/tests/unit/test_kafka.o: tests/unit/test_kafka.c \
 tests/unit/unit.h common/config.h common/err.h common/dlq.h \
 common/config.h common/kafka.h common/kafka.h common/log.h \
 common/sha256.h common/stop.h common/store.h consumers/apply.h \
 common/config.h common/err.h common/store.h
tests/unit/unit.h:
common/config.h:
common/err.h:
common/dlq.h:
common/config.h:
common/kafka.h:
common/kafka.h:
common/log.h:
common/sha256.h:
common/stop.h:
common/store.h:
consumers/apply.h:
common/config.h:
common/err.h:
common/store.h:
