build-merge/tests/unit/test_http.o: tests/unit/test_http.c \
 tests/unit/unit.h tests/unit/ut_net.h common/http.h common/err.h \
 common/log.h common/stop.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/http.h:
common/err.h:
common/log.h:
common/stop.h:
