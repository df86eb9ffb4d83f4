build-merge/common/event.o: common/event.c common/event.h common/err.h \
 common/sha256.h
common/event.h:
common/err.h:
common/sha256.h:
