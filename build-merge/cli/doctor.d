build-merge/cli/doctor.o: cli/doctor.c cli/doctor.h common/config.h \
 common/err.h common/http.h common/log.h consumers/map_delivery.h \
 common/err.h consumers/mapping.h common/mystore.h common/config.h \
 common/store.h common/ongoing.h common/stop.h common/store.h common/tz.h
cli/doctor.h:
common/config.h:
common/err.h:
common/http.h:
common/log.h:
consumers/map_delivery.h:
common/err.h:
consumers/mapping.h:
common/mystore.h:
common/config.h:
common/store.h:
common/ongoing.h:
common/stop.h:
common/store.h:
common/tz.h:
