build-merge/tests/unit/test_common.o: tests/unit/test_common.c \
 tests/unit/unit.h common/config.h common/err.h common/event.h \
 common/http.h common/tz.h consumers/map_order.h common/err.h
tests/unit/unit.h:
common/config.h:
common/err.h:
common/event.h:
common/http.h:
common/tz.h:
consumers/map_order.h:
common/err.h:
