build-merge/common/credential.o: common/credential.c common/credential.h \
 common/config.h common/err.h common/store.h common/http.h common/log.h \
 common/metrics.h common/stop.h
common/credential.h:
common/config.h:
common/err.h:
common/store.h:
common/http.h:
common/log.h:
common/metrics.h:
common/stop.h:
