build-merge/consumers/apply_stock.o: consumers/apply_stock.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/event.h common/http.h common/kafka.h \
 common/config.h common/log.h consumers/map_diff.h consumers/map_stock.h \
 consumers/mapping.h common/mystore.h common/store.h
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
consumers/map_stock.h:
consumers/mapping.h:
common/mystore.h:
common/store.h:
