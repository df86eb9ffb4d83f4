build-merge/tests/unit/test_ongoing_reads.o: \
 tests/unit/test_ongoing_reads.c tests/unit/unit.h common/config.h \
 common/err.h common/ongoing.h common/config.h common/store.h
tests/unit/unit.h:
common/config.h:
common/err.h:
common/ongoing.h:
common/config.h:
common/store.h:
