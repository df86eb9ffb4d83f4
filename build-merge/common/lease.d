build-merge/common/lease.o: common/lease.c common/lease.h common/err.h \
 common/store.h common/http.h common/log.h common/stop.h
common/lease.h:
common/err.h:
common/store.h:
common/http.h:
common/log.h:
common/stop.h:
