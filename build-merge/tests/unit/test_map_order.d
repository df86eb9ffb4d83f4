build-merge/tests/unit/test_map_order.o: tests/unit/test_map_order.c \
 tests/unit/unit.h tests/unit/golden.h common/err.h consumers/map_order.h \
 common/err.h consumers/mapping.h
tests/unit/unit.h:
tests/unit/golden.h:
common/err.h:
consumers/map_order.h:
common/err.h:
consumers/mapping.h:
