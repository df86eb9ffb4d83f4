build-merge/consumers/map_article.o: consumers/map_article.c \
 consumers/map_article.h common/err.h consumers/mapping.h
consumers/map_article.h:
common/err.h:
consumers/mapping.h:
