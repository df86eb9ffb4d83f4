build-merge/cli/status.o: cli/status.c cli/status.h common/config.h \
 common/err.h common/credential.h common/config.h common/store.h \
 common/dlq.h common/kafka.h common/dlq_state.h common/event.h \
 common/kafka.h common/kafka_group.h common/lastrun.h common/lease.h \
 common/log.h common/stop.h common/store.h common/tz.h
cli/status.h:
common/config.h:
common/err.h:
common/credential.h:
common/config.h:
common/store.h:
common/dlq.h:
common/kafka.h:
common/dlq_state.h:
common/event.h:
common/kafka.h:
common/kafka_group.h:
common/lastrun.h:
common/lease.h:
common/log.h:
common/stop.h:
common/store.h:
common/tz.h:
