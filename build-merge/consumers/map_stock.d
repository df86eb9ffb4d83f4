build-merge/consumers/map_stock.o: consumers/map_stock.c \
 consumers/map_stock.h common/err.h consumers/mapping.h
consumers/map_stock.h:
common/err.h:
consumers/mapping.h:
