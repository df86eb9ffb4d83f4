build-merge/producers/poll_mystore.o: producers/poll_mystore.c \
 common/dlq.h common/config.h common/err.h common/kafka.h common/http.h \
 common/kafka.h common/log.h producers/poll.h common/config.h \
 common/err.h common/lease.h common/store.h common/mystore.h \
 common/store.h common/stop.h common/tz.h
common/dlq.h:
common/config.h:
common/err.h:
common/kafka.h:
common/http.h:
common/kafka.h:
common/log.h:
producers/poll.h:
common/config.h:
common/err.h:
common/lease.h:
common/store.h:
common/mystore.h:
common/store.h:
common/stop.h:
common/tz.h:
