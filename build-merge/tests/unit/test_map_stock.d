build-merge/tests/unit/test_map_stock.o: tests/unit/test_map_stock.c \
 tests/unit/unit.h tests/unit/golden.h common/err.h consumers/map_stock.h \
 common/err.h
tests/unit/unit.h:
tests/unit/golden.h:
common/err.h:
consumers/map_stock.h:
common/err.h:
