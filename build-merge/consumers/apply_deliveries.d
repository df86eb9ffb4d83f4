build-merge/consumers/apply_deliveries.o: consumers/apply_deliveries.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/event.h common/kafka.h common/config.h \
 common/log.h consumers/map_delivery.h consumers/map_diff.h \
 consumers/mapping.h common/mystore.h common/store.h common/stop.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/event.h:
common/kafka.h:
common/config.h:
common/log.h:
consumers/map_delivery.h:
consumers/map_diff.h:
consumers/mapping.h:
common/mystore.h:
common/store.h:
common/stop.h:
