build-merge/common/dlq_state.o: common/dlq_state.c common/dlq_state.h \
 common/config.h common/err.h common/kafka.h common/store.h common/dlq.h \
 common/event.h common/log.h common/stop.h
common/dlq_state.h:
common/config.h:
common/err.h:
common/kafka.h:
common/store.h:
common/dlq.h:
common/event.h:
common/log.h:
common/stop.h:
