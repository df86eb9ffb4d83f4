build-merge/common/dlq.o: common/dlq.c common/dlq.h common/config.h \
 common/err.h common/kafka.h common/b64.h common/dlq_state.h \
 common/store.h common/event.h common/log.h common/sha256.h common/stop.h
common/dlq.h:
common/config.h:
common/err.h:
common/kafka.h:
common/b64.h:
common/dlq_state.h:
common/store.h:
common/event.h:
common/log.h:
common/sha256.h:
common/stop.h:
