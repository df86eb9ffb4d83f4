build-merge/common/mystore.o: common/mystore.c common/mystore.h \
 common/config.h common/err.h common/store.h common/http.h common/log.h \
 common/stop.h
common/mystore.h:
common/config.h:
common/err.h:
common/store.h:
common/http.h:
common/log.h:
common/stop.h:
