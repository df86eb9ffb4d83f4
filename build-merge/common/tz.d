build-merge/common/tz.o: common/tz.c common/tz.h common/err.h
common/tz.h:
common/err.h:
