# walcast — make targets. `make demo` runs the whole pipeline locally; `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build release services test lint unit demo bench fmt clean-state

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

# Starts throwaway PostgreSQL, Redis and tansu, then walcast with the demo connector, writes some
# orders and prints what reached Kafka. Ctrl-C stops everything.
demo: services release
	./scripts/demo.sh

# The drain benchmark: walcast's source next to pg_recvlogical on the same backlog.
bench: services release
	./target/release/drain-bench

fmt:
	$(CARGO) fmt --all
