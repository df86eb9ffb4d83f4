build-merge/tests/unit/test_replay.o: tests/unit/test_replay.c \
 tests/unit/unit.h consumers/apply.h common/config.h common/err.h \
 common/err.h common/store.h
tests/unit/unit.h:
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
