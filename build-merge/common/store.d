build-merge/common/store.o: common/store.c common/store.h common/err.h \
 common/log.h common/metrics.h common/sha256.h common/stop.h
common/store.h:
common/err.h:
common/log.h:
common/metrics.h:
common/sha256.h:
common/stop.h:
