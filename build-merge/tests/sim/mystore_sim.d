build-merge/tests/sim/mystore_sim.o: tests/sim/mystore_sim.c \
 tests/sim/sim_http.h
tests/sim/sim_http.h:
