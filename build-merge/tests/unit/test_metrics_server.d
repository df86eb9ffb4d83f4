build-merge/tests/unit/test_metrics_server.o: \
 tests/unit/test_metrics_server.c tests/unit/unit.h cli/health.h \
 common/config.h common/err.h common/err.h common/config.h \
 common/metrics.h common/err.h common/stop.h
tests/unit/unit.h:
cli/health.h:
common/config.h:
common/err.h:
common/err.h:
common/config.h:
common/metrics.h:
common/err.h:
common/stop.h:
