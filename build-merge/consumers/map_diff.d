build-merge/consumers/map_diff.o: consumers/map_diff.c \
 consumers/map_diff.h common/err.h consumers/map_delivery.h \
 consumers/mapping.h
consumers/map_diff.h:
common/err.h:
consumers/map_delivery.h:
consumers/mapping.h:
