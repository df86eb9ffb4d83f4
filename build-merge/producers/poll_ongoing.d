build-merge/producers/poll_ongoing.o: producers/poll_ongoing.c \
 common/http.h common/err.h common/kafka.h common/config.h common/log.h \
 common/ongoing.h common/store.h producers/poll.h common/config.h \
 common/err.h common/lease.h common/mystore.h common/store.h
common/http.h:
common/err.h:
common/kafka.h:
common/config.h:
common/log.h:
common/ongoing.h:
common/store.h:
producers/poll.h:
common/config.h:
common/err.h:
common/lease.h:
common/mystore.h:
common/store.h:
