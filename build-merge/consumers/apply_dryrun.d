build-merge/consumers/apply_dryrun.o: consumers/apply_dryrun.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/event.h common/log.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/event.h:
common/log.h:
