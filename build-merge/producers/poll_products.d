build-merge/producers/poll_products.o: producers/poll_products.c \
 common/kafka.h common/config.h common/err.h common/log.h \
 producers/poll.h common/config.h common/err.h common/lease.h \
 common/store.h common/mystore.h common/store.h common/stop.h
common/kafka.h:
common/config.h:
common/err.h:
common/log.h:
producers/poll.h:
common/config.h:
common/err.h:
common/lease.h:
common/store.h:
common/mystore.h:
common/store.h:
common/stop.h:
