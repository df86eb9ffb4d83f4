build-merge/tests/unit/test_map_delivery.o: \
 tests/unit/test_map_delivery.c tests/unit/unit.h tests/unit/golden.h \
 common/err.h consumers/map_delivery.h common/err.h
tests/unit/unit.h:
tests/unit/golden.h:
common/err.h:
consumers/map_delivery.h:
common/err.h:
