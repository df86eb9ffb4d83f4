build-merge/tests/unit/test_credential.o: tests/unit/test_credential.c \
 tests/unit/unit.h tests/unit/ut_net.h common/credential.h \
 common/config.h common/err.h common/store.h common/http.h common/log.h \
 common/stop.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/credential.h:
common/config.h:
common/err.h:
common/store.h:
common/http.h:
common/log.h:
common/stop.h:
