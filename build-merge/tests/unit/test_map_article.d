build-merge/tests/unit/test_map_article.o: tests/unit/test_map_article.c \
 tests/unit/unit.h tests/unit/golden.h common/err.h \
 consumers/map_article.h common/err.h consumers/mapping.h
tests/unit/unit.h:
tests/unit/golden.h:
common/err.h:
consumers/map_article.h:
common/err.h:
consumers/mapping.h:
