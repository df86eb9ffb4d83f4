build-merge/common/ongoing.o: common/ongoing.c common/ongoing.h \
 common/config.h common/err.h common/store.h common/http.h common/log.h \
 common/stop.h
common/ongoing.h:
common/config.h:
common/err.h:
common/store.h:
common/http.h:
common/log.h:
common/stop.h:
