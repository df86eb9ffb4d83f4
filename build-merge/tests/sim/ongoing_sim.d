build-merge/tests/sim/ongoing_sim.o: tests/sim/ongoing_sim.c \
 tests/sim/sim_http.h tests/sim/sim_ongoing_fields.h
tests/sim/sim_http.h:
tests/sim/sim_ongoing_fields.h:
