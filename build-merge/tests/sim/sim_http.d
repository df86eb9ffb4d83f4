build-merge/tests/sim/sim_http.o: tests/sim/sim_http.c \
 tests/sim/sim_http.h
tests/sim/sim_http.h:
