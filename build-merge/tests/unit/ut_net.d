build-merge/tests/unit/ut_net.o: tests/unit/ut_net.c tests/unit/ut_net.h
tests/unit/ut_net.h:
