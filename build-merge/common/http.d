build-merge/common/http.o: common/http.c common/http.h common/err.h \
 common/b64.h common/log.h common/metrics.h common/stop.h
common/http.h:
common/err.h:
common/b64.h:
common/log.h:
common/metrics.h:
common/stop.h:
