build-merge/common/config.o: common/config.c common/config.h common/err.h \
 common/log.h common/store.h common/tz.h
common/config.h:
common/err.h:
common/log.h:
common/store.h:
common/tz.h:
