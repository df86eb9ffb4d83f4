build-merge/common/lastrun.o: common/lastrun.c common/lastrun.h \
 common/config.h common/err.h common/log.h common/stop.h common/store.h
common/lastrun.h:
common/config.h:
common/err.h:
common/log.h:
common/stop.h:
common/store.h:
