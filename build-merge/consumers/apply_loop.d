build-merge/consumers/apply_loop.o: consumers/apply_loop.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/credential.h common/config.h common/store.h \
 common/dlq.h common/kafka.h common/dlq_state.h common/event.h \
 common/http.h common/kafka.h common/lastrun.h common/log.h \
 common/metrics.h common/stop.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/credential.h:
common/config.h:
common/store.h:
common/dlq.h:
common/kafka.h:
common/dlq_state.h:
common/event.h:
common/http.h:
common/kafka.h:
common/lastrun.h:
common/log.h:
common/metrics.h:
common/stop.h:
