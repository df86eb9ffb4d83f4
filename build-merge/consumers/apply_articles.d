build-merge/consumers/apply_articles.o: consumers/apply_articles.c \
 consumers/apply.h common/config.h common/err.h common/err.h \
 common/store.h common/event.h common/kafka.h common/config.h \
 common/log.h consumers/map_article.h consumers/map_diff.h \
 common/ongoing.h common/store.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/event.h:
common/kafka.h:
common/config.h:
common/log.h:
consumers/map_article.h:
consumers/map_diff.h:
common/ongoing.h:
common/store.h:
