build-merge/tests/unit/test_mystore.o: tests/unit/test_mystore.c \
 tests/unit/unit.h tests/unit/ut_net.h common/config.h common/err.h \
 common/mystore.h common/config.h common/store.h common/store.h
tests/unit/unit.h:
tests/unit/ut_net.h:
common/config.h:
common/err.h:
common/mystore.h:
common/config.h:
common/store.h:
common/store.h:
