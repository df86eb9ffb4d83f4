build-merge/consumers/apply_record.o: consumers/apply_record.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/event.h common/sha256.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/event.h:
common/sha256.h:
