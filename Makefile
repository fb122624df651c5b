# walcast — make targets. `make demo` runs the whole pipeline locally; `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build release services test lint unit demo bench bench-smoke fmt clean-state

all: build

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release -p walcast -p walcast-benches -p walcast-testkit

# Installs PostgreSQL server binaries, redis-server and the tansu broker when missing (idempotent).
services:
	./scripts/install-services.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Everything CI checks: services present, formatting, clippy, the whole test suite against real
# PostgreSQL, Redis and tansu started by the tests themselves.
test: services
	$(CARGO) build --workspace --all-targets
	$(MAKE) lint
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2
	$(MAKE) bench-smoke

# The seed pipeline on throwaway services: orders PostgreSQL -> walcast source -> Kafka (tansu) ->
# results sink (RedisLookup) and Redis cache sink; inserts an order and shows every step.
# Ctrl-C stops everything. DEMO_ONESHOT=1 shows it once and exits.
demo: services release
	./scripts/demo.sh

# The benchmarks (benches/RESULTS.md says what each measures): WAL -> Kafka next to pg_recvlogical,
# with walcast's default compression and with none (3 runs each, median), then Kafka -> results
# next to COPY and the seed's Python consumer, WAL -> results, latency at a steady load, a 1M-row
# snapshot next to COPY TO STDOUT, one 1M-row transaction. Writes target/bench/bench.{md,json,png}.
BENCH_OUT ?= target/bench
# Extra pipeline-bench arguments, e.g. PIPELINE_ARGS="--latency-fetch-wait-ms 20".
PIPELINE_ARGS ?=
BENCH_BIN = $${CARGO_TARGET_DIR:-target}/release
bench: services release
	mkdir -p $(BENCH_OUT) && rm -f $(BENCH_OUT)/drain-*.json
	for run in 1 2 3; do \
	  $(BENCH_BIN)/drain-bench --json $(BENCH_OUT)/drain-default-$$run.json || exit 1; \
	  $(BENCH_BIN)/drain-bench --compression none --json $(BENCH_OUT)/drain-none-$$run.json || exit 1; \
	done
	$(BENCH_BIN)/pipeline-bench --out $(BENCH_OUT) --venv $(BENCH_OUT)/venv $(PIPELINE_ARGS)
	$(BENCH_OUT)/venv/bin/python benches/report.py $(BENCH_OUT)

# The same harness once on a tiny workload (debug build, no timing claims): proves every scenario
# and the report still run. `make test` calls it.
SMOKE_OUT = target/bench/smoke
SMOKE_BIN = $${CARGO_TARGET_DIR:-target}/debug
bench-smoke: services
	$(CARGO) build -p walcast -p walcast-benches
	mkdir -p $(SMOKE_OUT) && rm -f $(SMOKE_OUT)/drain-*.json
	env -u BENCH_DEBEZIUM $(SMOKE_BIN)/drain-bench --rows 2000 --json $(SMOKE_OUT)/drain-default-1.json
	env -u BENCH_DEBEZIUM $(SMOKE_BIN)/pipeline-bench --rows 2000 --customers 100 --seed-rows 0 --runs 1 \
	  --latency-rates 500 --latency-secs 1 --big-rows 10000 --big-tx-timeout 60 --out $(SMOKE_OUT) --venv target/bench/venv
	target/bench/venv/bin/python benches/report.py $(SMOKE_OUT)

fmt:
	$(CARGO) fmt --all
