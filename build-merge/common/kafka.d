build-merge/common/kafka.o: common/kafka.c common/kafka.h common/config.h \
 common/err.h common/log.h common/stop.h
common/kafka.h:
common/config.h:
common/err.h:
common/log.h:
common/stop.h:
