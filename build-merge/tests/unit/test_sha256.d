build-merge/tests/unit/test_sha256.o: tests/unit/test_sha256.c \
 tests/unit/unit.h common/b64.h common/sha256.h
tests/unit/unit.h:
common/b64.h:
common/sha256.h:
