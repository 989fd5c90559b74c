# regsvcsdetect: build, test and package the Splunk chunked search command.
# Every target is a thin wrapper over cargo, scripts/ or tar; CI runs `.ci/run`.

CARGO ?= cargo
BIN := target/release/regsvcsdetect

.PHONY: all build test lint demo bless bench bench-check clean ci fuzz fuzz-smoke fuzz-tool

all: build

## build: release binary for this machine
build:
	$(CARGO) build --release --locked

## test: unit, integration, golden sessions and real splunkd recordings
test:
	$(CARGO) test --locked --all-targets

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## demo: play splunkd over the bundled sample data, for both modes
demo: build
	$(BIN) demo

## bless: rewrite golden session replies after an intended change (review the diff)
bless:
	BLESS=1 $(CARGO) test --locked --test integration sessions

## bench: throughput table (never run as a test)
bench:
	$(CARGO) bench --locked --bench throughput

## bench-check: benches compile
bench-check:
	$(CARGO) bench --locked --no-run

## fuzz: run every fuzz target for FUZZ_SECONDS each (nightly toolchain; installs cargo-fuzz if missing)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= chunk_reader body options session
fuzz: fuzz-tool
	mkdir -p fuzz/corpus/session fuzz/corpus/chunk_reader
	cp -n tests/fixtures/sessions/*.in fuzz/corpus/session/
	cp -n tests/fixtures/sessions/*.in fuzz/corpus/chunk_reader/
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=2048 -timeout=20 -print_final_stats=1 || exit 1; \
	done

## fuzz-smoke: every fuzz target for a few seconds (not in CI: building cargo-fuzz and the targets takes minutes)
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=5

fuzz-tool:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

clean:
	$(CARGO) clean
	rm -rf dist

ci: lint test
