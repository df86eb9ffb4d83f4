build-merge/cli/dlq_cmd.o: cli/dlq_cmd.c cli/dlq_cmd.h common/config.h \
 common/err.h common/dlq.h common/config.h common/kafka.h \
 common/dlq_state.h common/store.h common/event.h common/kafka.h \
 common/log.h common/store.h
cli/dlq_cmd.h:
common/config.h:
common/err.h:
common/dlq.h:
common/config.h:
common/kafka.h:
common/dlq_state.h:
common/store.h:
common/event.h:
common/kafka.h:
common/log.h:
common/store.h:
