# regsvcsdetect: build, test and package the Splunk chunked search command.
# Every target is a thin wrapper over cargo, scripts/ or tar; CI runs `.ci/run`.

CARGO ?= cargo
BIN := target/release/regsvcsdetect

.PHONY: all build test lint demo bless bench bench-check clean ci

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

## bench: throughput and peak-RSS table over generated streams (never run as a test)
bench: build
	$(CARGO) bench --locked --bench throughput

## bench-check: benches compile
bench-check:
	$(CARGO) bench --locked --no-run

clean:
	$(CARGO) clean
	rm -rf dist

ci: lint test
