build-merge/tests/unit/golden.o: tests/unit/golden.c tests/unit/golden.h \
 common/err.h tests/unit/unit.h
tests/unit/golden.h:
common/err.h:
tests/unit/unit.h:
