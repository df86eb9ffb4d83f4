build-merge/tests/unit/test_dryrun.o: tests/unit/test_dryrun.c \
 tests/unit/unit.h tests/unit/golden.h common/err.h common/config.h \
 common/err.h consumers/map_diff.h common/err.h
tests/unit/unit.h:
tests/unit/golden.h:
common/err.h:
common/config.h:
common/err.h:
consumers/map_diff.h:
common/err.h:
