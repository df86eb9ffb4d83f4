build-merge/common/metrics.o: common/metrics.c common/metrics.h \
 common/err.h common/log.h common/stop.h
common/metrics.h:
common/err.h:
common/log.h:
common/stop.h:
