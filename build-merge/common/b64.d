build-merge/common/b64.o: common/b64.c common/b64.h
common/b64.h:
