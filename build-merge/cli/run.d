build-merge/cli/run.o: cli/run.c cli/run.h common/config.h common/err.h \
 consumers/apply.h common/err.h common/store.h common/log.h \
 producers/poll.h common/lease.h common/store.h common/mystore.h \
 common/config.h common/stop.h
cli/run.h:
common/config.h:
common/err.h:
consumers/apply.h:
common/err.h:
common/store.h:
common/log.h:
producers/poll.h:
common/lease.h:
common/store.h:
common/mystore.h:
common/config.h:
common/stop.h:
