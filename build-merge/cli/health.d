build-merge/cli/health.o: cli/health.c cli/health.h common/config.h \
 common/err.h common/err.h common/credential.h common/config.h \
 common/store.h common/event.h common/http.h common/kafka.h common/log.h \
 common/metrics.h common/mystore.h common/ongoing.h common/stop.h \
 common/store.h
cli/health.h:
common/config.h:
common/err.h:
common/err.h:
common/credential.h:
common/config.h:
common/store.h:
common/event.h:
common/http.h:
common/kafka.h:
common/log.h:
common/metrics.h:
common/mystore.h:
common/ongoing.h:
common/stop.h:
common/store.h:
