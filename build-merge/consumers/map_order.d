build-merge/consumers/map_order.o: consumers/map_order.c \
 consumers/map_order.h common/err.h common/config.h common/err.h \
 consumers/mapping.h
consumers/map_order.h:
common/err.h:
common/config.h:
common/err.h:
consumers/mapping.h:
