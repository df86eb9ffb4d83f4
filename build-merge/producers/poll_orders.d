build-merge/producers/poll_orders.o: producers/poll_orders.c \
 common/kafka.h common/config.h common/err.h producers/poll.h \
 common/config.h common/err.h common/lease.h common/store.h \
 common/mystore.h common/store.h
common/kafka.h:
common/config.h:
common/err.h:
producers/poll.h:
common/config.h:
common/err.h:
common/lease.h:
common/store.h:
common/mystore.h:
common/store.h:
