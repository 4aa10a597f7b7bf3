# The two commands (README): `make demo` and `make test`. Each installs what
# is missing (scripts/install-deps, idempotent), builds, then runs.
SHELL := /bin/bash
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
# A fresh clone elsewhere on the same machine reuses the compiler cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps configure build web demo demo-reset test asan bench fuzz docs clean

all: build web

deps:
	@scripts/install-deps

configure: deps
	@cmake -G Ninja -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

web: deps
	@cd web && npm run --silent build

demo: build web
	@scripts/demo

demo-reset:
	rm -rf demo-data

test: build web
	@ctest --test-dir $(BUILD) --output-on-failure -j 2 --timeout 900

asan: deps web
	@cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ctest --test-dir build-asan --output-on-failure -j 2 --timeout 1800 -LE 'browser|scale'

fuzz: deps
	@CC=clang CXX=clang++ cmake -G Ninja -S . -B build-fuzz -DPARLEY_FUZZ=ON -DPARLEY_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-fuzz --target parley_fuzzers -j $(JOBS)
	@for f in build-fuzz/tests/fuzz/*_fuzz; do echo "== $$f"; $$f -max_total_time=$${FUZZ_SECONDS:-30} || exit 1; done

# Benchmarks, not part of `make test`; results in bench/results/, see
# docs/performance.md. Issue 3: the agent's memory and CPU while shipping
# BENCH_CALLS CDRs from devsim to a real server (~10 min for both scenarios).
# Issue 4: end-to-end ingest against the raw engine on BENCH_CALLS CDRs (on
# the disk of /tmp, then on tmpfs: /dev/shm, ~3 min each run), and
# the dashboard queries over ROLLUP_CALLS calls (SQLite) / ROLLUP_PG_CALLS
# (PostgreSQL); on 2 quiet cores ~45 min in all (each 10,000,000-call
# rollup run ~10 min: the fill ~5-8 min, the full scans ~4 min).
BENCH_CALLS ?= 1000000
ROLLUP_CALLS ?= 10000000
ROLLUP_PG_CALLS ?= 10000000
bench: build web
	@cmake --build $(BUILD) -j $(JOBS) --target parley-rollup-bench
	@/usr/bin/python3 bench/agent_resources.py --calls $(BENCH_CALLS)
	@/usr/bin/python3 bench/agent_resources.py --calls $(BENCH_CALLS) --collect cdr_export \
	  --out bench/results/agent_resources_cdr_export.json
	@for b in sqlite postgres; do /usr/bin/python3 bench/ingest_throughput.py --backend $$b --calls $(BENCH_CALLS) || exit 1; done
	@for b in sqlite postgres; do TMPDIR=/dev/shm /usr/bin/python3 bench/ingest_throughput.py --backend $$b \
	  --calls $(BENCH_CALLS) --out bench/results/ingest_throughput_$${b}_tmpfs.json || exit 1; done
	@/usr/bin/python3 bench/rollup_queries.py --backend sqlite --calls $(ROLLUP_CALLS)
	@/usr/bin/python3 bench/rollup_queries.py --backend postgres --calls $(ROLLUP_PG_CALLS)

docs: build
	@$(BUILD)/src/cli/parley config-doc > docs/configuration.md

clean:
	rm -rf $(BUILD) build-asan build-fuzz web/dist
