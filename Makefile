# mosync — build, test and demo.  See README.md.
#
#   make            build build/mosync and the simulators
#   make demo       install missing packages, build, run the order flow on the
#                   embedded Kafka broker against the simulators
#   make test       install missing packages, build, run every test
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make valgrind   the end-to-end subset under valgrind
#   make chaos      the chaos suite (kills, outages, API faults; real Kafka)
#   make tenants    fifty shops from one deployment (one process per stream)
#   make bench      one table of performance figures beside their limits
#                   (tests/bench/table.py; --quick: `make bench-quick`);
#                   writes bench/results.json.  Not part of `make test`
#   make bench-orders  the order and article flows' throughput (orders.py)
#   make browser    `mosync admin` in headless Chromium (installs Chromium and
#                   the npm packages of tests/browser first)
#   make format-check

SHELL    := /bin/bash
BUILD    ?= build
CC       ?= cc
PKGS     := rdkafka libcurl jansson hiredis libmicrohttpd libcrypto
SIMPKGS  := libmicrohttpd jansson libcurl
DEB_PKGS := build-essential pkg-config librdkafka-dev libcurl4-openssl-dev \
            libjansson-dev libhiredis-dev libmicrohttpd-dev redis-server \
            tzdata clang-format clang maven openjdk-17-jre-headless python3 valgrind \
            python3-jsonschema libssl-dev

OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter \
            -Wno-format-truncation $(if $(findstring clang,$(CC)),-Wno-unknown-warning-option)
CPPFLAGS += -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -I. -Icommon -Iproducers -Iconsumers -Icli
CFLAGS   += -std=c11 $(OPT) $(WARN) $(SAN)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
SIM_CFLAGS = $(shell pkg-config --cflags $(SIMPKGS))
SIM_LIBS   = $(shell pkg-config --libs $(SIMPKGS))

# The library: everything of mosync except main(), so unit tests link it too.
# Layers, one way: cli/ (the commands) uses everything; producers/ and
# consumers/ use common/ and never each other; common/ knows no flow.
LIB_SRC  := $(wildcard common/*.c producers/*.c consumers/*.c cli/*.c)
LIB_SRC  := $(filter-out cli/main.c,$(LIB_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
SIM_SRC  := $(wildcard tests/sim/sim_*.c)
SIM_OBJ  := $(SIM_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)

# The benchmark programs of `make bench` (tests/bench/*.c) are built with
# everything else, so a change that breaks them breaks the build.
BENCH_BINS := $(BUILD)/map-bench $(BUILD)/limits-bench
BINS := $(BUILD)/mosync $(BUILD)/mystore-sim $(BUILD)/ongoing-sim $(BUILD)/unit-tests $(BENCH_BINS)

all: $(BINS)

# Quiet by default; `make V=1` shows the commands.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(SIM_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmosync.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/mosync: $(BUILD)/cli/main.o $(BUILD)/libmosync.a
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS) -lpthread -lm

# The simulators sign webhooks with common/'s HMAC and base64 (the mosync
# side is checked against RFC 4231 and Python's hmac, not against itself).
SIM_COMMON := $(BUILD)/common/sha256.o $(BUILD)/common/b64.o

$(BUILD)/mystore-sim: $(BUILD)/tests/sim/mystore_sim.o $(SIM_OBJ) $(SIM_COMMON)
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(SIM_LIBS) -lpthread -lm

$(BUILD)/ongoing-sim: $(BUILD)/tests/sim/ongoing_sim.o $(SIM_OBJ) $(SIM_COMMON)
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(SIM_LIBS) -lpthread -lm

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libmosync.a
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS) -lpthread -lm

# The pure mappings timed against jansson alone (links the mapping objects).
$(BUILD)/map-bench: $(BUILD)/tests/bench/map_bench.o $(BUILD)/libmosync.a
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS) -lpthread -lm

# librdkafka, libcurl and hiredis alone: the pipeline's limits.
$(BUILD)/limits-bench: $(BUILD)/tests/bench/limits_bench.o
	$(if $(Q),@echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS) -lpthread -lm

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Install the Debian packages that are missing (needs root or sudo).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	rt=libclang-rt-$$(clang -dumpversion | cut -d. -f1)-dev; \
	if ! dpkg -s $$rt >/dev/null 2>&1; then \
	  echo "installing: $$rt (libFuzzer runtime)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$rt >/dev/null; \
	fi

test: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/run

asan: deps
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	BUILD=build-asan tests/run

demo: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/demo

# libFuzzer (clang): one target per parser of outside input (tests/fuzz/):
#   events   the event envelope and the four mappings (seeded with the golden inputs)
#   answers  API answer headers, Mystore list pages and resources, Ongoing lists
#   config   the environment (cfg_load) and REDIS_URL
#   text     secret masking, UTF-8 cuts, URL redaction, time and number parsers
#   dlq      dead-letter headers, letter ids, records of mosync.dlq.state
#   redis    what mosync reads back from Redis: lease tokens, applied and
#            last-run records
#   doctor   `mosync doctor`'s JWT scopes, rate-limit headers, list links
#   replay   `mosync replay`'s options (--from-time, --to-time, ...)
#   tz       TZif zone files and POSIX TZ rules
#   webhooks `mosync webhooks`' route, topic, signature and token checks
#   admin    `mosync admin`'s session cookie, form fields and CSRF token
# each run FUZZ_SECONDS; a finding stops with the crashing input saved.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := events answers config text dlq redis doctor replay tz webhooks admin
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	  build-fuzz/libmosync.a
	$(Q)for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -g -O1 $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) tests/fuzz/fuzz_$$t.c \
	    build-fuzz/libmosync.a -o build-fuzz/fuzz-$$t $(PKG_LIBS) -lpthread -lm || exit 1; \
	  mkdir -p build-fuzz/corpus-$$t; done
	@for f in tests/cases/*/*/input.json; do cp "$$f" "build-fuzz/corpus-events/$$(echo $$f | tr / _)"; done
	$(Q)for t in $(FUZZ_TARGETS); do \
	  echo "### fuzz-$$t ($(FUZZ_SECONDS) s)"; \
	  (cd build-fuzz && ./fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 corpus-$$t ../tests/fuzz/seeds/$$t) 2>&1 | \
	    grep -E "^#[0-9]+.*DONE|^stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" ; \
	  test $${PIPESTATUS[0]} = 0 || { echo "### fuzz-$$t found a problem (build-fuzz/)"; exit 1; }; \
	done

# One table of figures beside their limits, measured in the same run, each
# goal marked met or not (tests/bench/table.py, issue 15); also written to
# bench/results.json.  Not part of `make test`.
bench: all
	python3 tests/bench/table.py

# The same in about a minute with small sizes (a smoke run; CI may run it).
# Writes $(BUILD)/bench-quick.json, so bench/results.json keeps a full run.
bench-quick: all
	python3 tests/bench/table.py --quick --json $(BUILD)/bench-quick.json

# Throughput of the order and article flows (tests/bench/orders.py).
bench-orders: all
	python3 tests/bench/orders.py

# From an order created in the shop to its PUT /orders in the warehouse, with
# webhooks (tests/bench/webhook_latency.py; --kafka real for a real broker).
bench-webhooks: all
	python3 tests/bench/webhook_latency.py

# The longest end-to-end tests (tests/e2e/run.py's LONG_SUITE: a first scan
# of 2,000 orders changing under it, a replay after a mapping change, every
# flow after FLUSHALL, 1,100 articles): `make test` leaves them out to stay
# under ten minutes on two cores; CI runs them here.
test-long: all
	python3 tests/e2e/run.py --long-only

# Fifty shops from one deployment (tests/e2e/test_many_tenants.py, issue 13):
# its own suite, since it waits out a minute of a failing shop.
tenants: all
	python3 tests/e2e/run.py test_many_tenants

# The browser test of `mosync admin` (tests/browser/run.js, issue 14): Debian's
# Chromium driven by playwright-core (no browser download), an axe-core scan of
# every page, screenshots in $(BUILD)/browser-artefacts/.  Chromium is installed
# here, not by `make deps`: no other suite needs it.  `npm ci` runs again only
# when package-lock.json changed since the last one.
browser-deps: deps
	@dpkg -s chromium >/dev/null 2>&1 || { \
	  echo "installing: chromium"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v npm >/dev/null || { echo "make browser needs Node.js 20 or later with npm"; exit 1; }
	@cd tests/browser && if ! cmp -s package-lock.json node_modules/.mosync-lock; then \
	  npm ci --no-audit --no-fund && cp package-lock.json node_modules/.mosync-lock; fi

browser: browser-deps
	$(MAKE) all
	BUILD=$(BUILD) node tests/browser/run.js

# The end-to-end subset under valgrind (memcheck): any memory error or a
# definite or indirect leak fails the test (exit 99).
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
           --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
VALGRIND_TESTS ?= 200_orders update_refuse unmappable 1100_articles 100_shipped stock_lands \
                  issue12_02_list issue12_06_resync
valgrind: all
	MOSYNC_WRAPPER="$(VALGRIND)" python3 tests/e2e/run.py -j 2 $(VALGRIND_TESTS)

# The chaos suite (tests/chaos/run.py): every flow under kills, Redis and
# broker restarts, a paused lease holder, a wrong password, a Redis loading its
# data and injected API faults, on a real Apache Kafka broker (tests/kafka/);
# CHAOS_KAFKA=mock for the embedded one.
CHAOS_KAFKA ?= real
chaos: all
	python3 tests/chaos/run.py --kafka $(CHAOS_KAFKA)

FORMAT_SRC = $(shell find cli common producers consumers tests -name '*.[ch]')
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-asan build-fuzz

.PHONY: test-long all deps test asan demo bench bench-quick bench-orders bench-webhooks fuzz valgrind chaos tenants browser \
        browser-deps format format-check clean
