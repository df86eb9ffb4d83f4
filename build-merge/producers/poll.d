build-merge/producers/poll.o: producers/poll.c producers/poll.h \
 common/config.h common/err.h common/err.h common/lease.h common/store.h \
 common/mystore.h common/config.h common/store.h common/credential.h \
 common/dlq.h common/kafka.h common/event.h common/kafka.h \
 common/lastrun.h common/log.h common/metrics.h common/sha256.h \
 common/stop.h common/tz.h
producers/poll.h:
common/config.h:
common/err.h:
common/err.h:
common/lease.h:
common/store.h:
common/mystore.h:
common/config.h:
common/store.h:
common/credential.h:
common/dlq.h:
common/kafka.h:
common/event.h:
common/kafka.h:
common/lastrun.h:
common/log.h:
common/metrics.h:
common/sha256.h:
common/stop.h:
common/tz.h:
