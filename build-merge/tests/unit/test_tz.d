build-merge/tests/unit/test_tz.o: tests/unit/test_tz.c tests/unit/unit.h \
 common/config.h common/err.h common/tz.h
tests/unit/unit.h:
common/config.h:
common/err.h:
common/tz.h:
