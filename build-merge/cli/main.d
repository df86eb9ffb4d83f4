build-merge/cli/main.o: cli/main.c consumers/apply.h common/config.h \
 common/err.h common/err.h common/store.h common/dlq.h common/config.h \
 common/kafka.h cli/dlq_cmd.h cli/doctor.h cli/health.h common/kafka.h \
 common/log.h consumers/map_article.h consumers/map_delivery.h \
 consumers/map_order.h consumers/map_stock.h producers/poll.h \
 common/lease.h common/store.h common/mystore.h cli/replay.h cli/run.h \
 cli/status.h common/stop.h
consumers/apply.h:
common/config.h:
common/err.h:
common/err.h:
common/store.h:
common/dlq.h:
common/config.h:
common/kafka.h:
cli/dlq_cmd.h:
cli/doctor.h:
cli/health.h:
common/kafka.h:
common/log.h:
consumers/map_article.h:
consumers/map_delivery.h:
consumers/map_order.h:
consumers/map_stock.h:
producers/poll.h:
common/lease.h:
common/store.h:
common/mystore.h:
cli/replay.h:
cli/run.h:
cli/status.h:
common/stop.h:
