build-merge/tests/sim/sim_ongoing_fields.o: \
 tests/sim/sim_ongoing_fields.c tests/sim/sim_ongoing_fields.h
tests/sim/sim_ongoing_fields.h:
