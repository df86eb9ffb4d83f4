build-merge/consumers/mapping.o: consumers/mapping.c consumers/mapping.h \
 common/err.h common/tz.h common/err.h
consumers/mapping.h:
common/err.h:
common/tz.h:
common/err.h:
