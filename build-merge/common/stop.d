build-merge/common/stop.o: common/stop.c common/stop.h
common/stop.h:
