build-merge/consumers/map_delivery.o: consumers/map_delivery.c \
 consumers/map_delivery.h common/err.h consumers/mapping.h
consumers/map_delivery.h:
common/err.h:
consumers/mapping.h:
