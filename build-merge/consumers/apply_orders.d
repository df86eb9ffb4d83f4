build-merge/consumers/apply_orders.o: consumers/apply_orders.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/event.h common/http.h common/kafka.h \
 common/config.h common/log.h consumers/map_diff.h \
 consumers/map_delivery.h consumers/map_order.h common/ongoing.h \
 common/store.h common/sha256.h common/stop.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/event.h:
common/http.h:
common/kafka.h:
common/config.h:
common/log.h:
consumers/map_diff.h:
consumers/map_delivery.h:
consumers/map_order.h:
common/ongoing.h:
common/store.h:
common/sha256.h:
common/stop.h:
