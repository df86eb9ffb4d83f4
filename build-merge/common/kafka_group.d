build-merge/common/kafka_group.o: common/kafka_group.c \
 common/kafka_group.h common/config.h common/err.h common/kafka.h \
 common/log.h common/stop.h
common/kafka_group.h:
common/config.h:
common/err.h:
common/kafka.h:
common/log.h:
common/stop.h:
