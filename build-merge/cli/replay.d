build-merge/cli/replay.o: cli/replay.c cli/replay.h consumers/apply.h \
 common/config.h common/err.h common/err.h common/store.h common/event.h \
 common/kafka.h common/config.h common/kafka_group.h common/log.h
cli/replay.h:
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/event.h:
common/kafka.h:
common/config.h:
common/kafka_group.h:
common/log.h:
