build-merge/tests/unit/test_lease.o: tests/unit/test_lease.c \
 common/lease.h common/err.h common/store.h common/store.h \
 tests/unit/unit.h
common/lease.h:
common/err.h:
common/store.h:
common/store.h:
tests/unit/unit.h:
