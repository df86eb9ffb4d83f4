build-merge/tests/unit/test_pollers.o: tests/unit/test_pollers.c \
 common/event.h common/err.h common/tz.h tests/unit/unit.h
common/event.h:
common/err.h:
common/tz.h:
tests/unit/unit.h:
