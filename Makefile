# regsvcsdetect: build, test and package the Splunk chunked search command.
# Every target is a thin wrapper over cargo, scripts/ or tar; CI runs `.ci/run`.

CARGO ?= cargo
BIN := target/release/regsvcsdetect

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# The Splunk app: id, source folder, version (Cargo.toml's; build.rs checks the app agrees).
APP_ID := SA_regsvcsdetect
APP_SRC := splunk_app/$(APP_ID)
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STAGE := $(TARGET_DIR)/stage
# Two packages of the same app (README.md "Deploy" says which one each deployment installs):
# PKG for Linux and Splunk Cloud (filename = regsvcsdetect, x86_64 + aarch64), and PKG_WIN that
# also serves Windows (no filename, so splunkd finds regsvcsdetect.exe; adds the Windows build).
PKG := dist/$(APP_ID)-$(VERSION).tgz
PKG_WIN := dist/$(APP_ID)-$(VERSION)-with-windows.tgz
# Fixed archive timestamps (the last commit's time) make the package byte-reproducible.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

# Static Linux builds: x86_64 as static-pie (Rust's musl default, written out), aarch64 as a plain
# static executable. README.md "Install in Splunk" explains how AppInspect sees each one.
X86 := x86_64-unknown-linux-musl
ARM := aarch64-unknown-linux-musl
WIN := x86_64-pc-windows-gnu
REMAP := --remap-path-prefix=$(CURDIR)=. --remap-path-prefix=$(or $(CARGO_HOME),$(HOME)/.cargo)=cargo
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=pie $(REMAP)
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static $(REMAP)
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER := aarch64-linux-gnu-gcc
# Windows x86_64 through Debian's mingw-w64, with the C runtime linked in (no MinGW DLLs needed)
# and no link time in the PE header, so the package stays byte-reproducible.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,--no-insert-timestamp $(REMAP)
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER := x86_64-w64-mingw32-gcc

APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
VENV := .venv-appinspect
APPINSPECT := $(VENV)/bin/splunk-appinspect
APPINSPECT_VERSION := 4.3.1

.PHONY: all build test lint demo bless bench bench-sdk bench-check clean ci \
	cross-deps qemu-deps wine-deps binaries app package check-binaries check-packages \
	appinspect-deps appinspect \
	fuzz fuzz-smoke fuzz-tool fuzz-check

all: build

## build: release binary for this machine
build:
	$(CARGO) build --release --locked

# Tests marked #[ignore = "needs ..."] need ../shared/fixtures, strace or a built package;
# `make test INCLUDE_IGNORED=1` runs them too, as CI does.
INCLUDE_IGNORED ?=
TEST_LOG := $(TARGET_DIR)/test.log
IGNORED_LINE := ^test .* \.\.\. ignored

## test: unit, integration, doc tests and golden sessions, then how many tests were ignored and why
##       (INCLUDE_IGNORED=1 also runs those: real splunkd recordings, strace, the packaged binaries)
test:
	mkdir -p $(TARGET_DIR)
	$(CARGO) test --locked $(if $(INCLUDE_IGNORED),-- --include-ignored) 2>&1 | tee $(TEST_LOG)
	@n=$$(grep -c '$(IGNORED_LINE)' $(TEST_LOG) || true); \
	echo "ignored: $$n tests$$(test "$$n" = 0 || echo ', by reason (make test INCLUDE_IGNORED=1 runs them):')"; \
	grep '$(IGNORED_LINE)' $(TEST_LOG) | sed 's/.*\.\.\. ignored,* *//; s/^$$/(no reason given)/' | sort | uniq -c || true

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

## bench: throughput and peak-RSS tables: SCP streams, then `run` over XML and EVTX; then the
## bytes per row splunkd serialises for each phase before and after required_fields (never run as a test).
## When the x86_64 musl target is installed (make cross-deps), the shipped static build is timed too.
SHIPPED := $(TARGET_DIR)/$(X86)/release/regsvcsdetect
bench: build
	if rustup target list --installed 2>/dev/null | grep -qx $(X86); then \
	  $(CARGO) build --release --locked --target $(X86) && \
	  BENCH_SHIPPED=$(SHIPPED) $(CARGO) bench --locked --bench throughput; \
	else \
	  echo "bench: $(X86) not installed (make cross-deps adds it): the shipped static build is not timed"; \
	  $(CARGO) bench --locked --bench throughput; \
	fi
	$(CARGO) bench --locked --bench offline
	$(CARGO) bench --locked --bench fields

## bench-sdk: the same streams through an equivalent splunklib ReportingCommand (venv from PyPI), timed side by side
bench-sdk: build
	bash benches/sdk/compare.sh

## bench-check: benches compile
bench-check:
	$(CARGO) bench --locked --no-run

## cross-deps: rustup targets, the aarch64 linker and mingw-w64, installed when missing (apt needs root)
cross-deps:
	for t in $(X86) $(ARM) $(WIN); do rustup target list --installed | grep -qx "$$t" || rustup target add "$$t"; done
	command -v aarch64-linux-gnu-gcc >/dev/null || { $(APT_INSTALL) gcc-aarch64-linux-gnu libc6-dev-arm64-cross; }
	command -v x86_64-w64-mingw32-gcc >/dev/null || { $(APT_INSTALL) gcc-mingw-w64-x86-64; }

## qemu-deps: qemu-user-static, so tests can run the aarch64 binary on x86_64
qemu-deps:
	command -v qemu-aarch64-static >/dev/null || { $(APT_INSTALL) qemu-user-static; }

## wine-deps: wine64, so tests can run the Windows build on Linux
wine-deps:
	test -x /usr/lib/wine/wine64 || command -v wine64 >/dev/null || { $(APT_INSTALL) wine64; }

## binaries: static release builds for x86_64 and aarch64 Linux and x86_64 Windows
binaries: cross-deps
	$(CARGO) build --release --locked --target $(X86) --target $(ARM) --target $(WIN)

## app: stage both packages' app folders (only default/, metadata/, README, manifest, binaries)
## in target/stage/linux and target/stage/windows
app: binaries
	rm -rf $(STAGE) && mkdir -p $(STAGE)/linux $(STAGE)/windows
	tar -C splunk_app --exclude='.*' --exclude=local --exclude=local.meta --exclude='*/bin/regsvcsdetect' --exclude='*/bin/regsvcsdetect.exe' -cf - $(APP_ID) | tar -C $(STAGE)/linux -xf -
	install -D -m 755 $(TARGET_DIR)/$(X86)/release/regsvcsdetect $(STAGE)/linux/$(APP_ID)/linux_x86_64/bin/regsvcsdetect
	install -D -m 755 $(TARGET_DIR)/$(ARM)/release/regsvcsdetect $(STAGE)/linux/$(APP_ID)/bin/regsvcsdetect
	find $(STAGE)/linux -type d -exec chmod 755 {} + && find $(STAGE)/linux -type f ! -path '*/bin/regsvcsdetect' -exec chmod 644 {} +
	cp -a $(STAGE)/linux/$(APP_ID) $(STAGE)/windows/
	install -D -m 755 $(TARGET_DIR)/$(WIN)/release/regsvcsdetect.exe $(STAGE)/windows/$(APP_ID)/windows_x86_64/bin/regsvcsdetect.exe
	chmod 755 $(STAGE)/windows/$(APP_ID)/windows_x86_64
	sed -i '/^filename = /d' $(STAGE)/windows/$(APP_ID)/default/commands.conf
	! grep -q '^filename' $(STAGE)/windows/$(APP_ID)/default/commands.conf

## package: both packages in dist/ (Linux/Cloud and with-windows), byte-reproducible
package: app
	mkdir -p dist
	tar -C $(STAGE)/linux --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner --format=gnu -cf - $(APP_ID) | gzip -9n > $(PKG)
	tar -C $(STAGE)/windows --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner --format=gnu -cf - $(APP_ID) | gzip -9n > $(PKG_WIN)
	sha256sum $(PKG) $(PKG_WIN)

## check-binaries: ELF machine, static linking and a qemu protocol run of the packaged binaries
check-binaries: package qemu-deps
	$(CARGO) test --locked --test integration app:: -- --include-ignored --nocapture

## check-packages: the packaged-binary checks and the deployment emulation (bundle replication,
## platform lookup, every resolved binary run under qemu or wine), with their resolution tables
check-packages: package qemu-deps wine-deps
	$(CARGO) test --locked --test integration -- --include-ignored --nocapture app:: deploy::

## appinspect-deps: a venv with splunk-appinspect, and libmagic
appinspect-deps:
	dpkg -s libmagic1 >/dev/null 2>&1 || { $(APT_INSTALL) libmagic1; }
	test -x $(APPINSPECT) || { python3 -m venv $(VENV) && $(VENV)/bin/pip install -q --upgrade pip && $(VENV)/bin/pip install -q splunk-appinspect==$(APPINSPECT_VERSION); }

# Prints a report's summary and every check that did not pass, with its messages.
export APPINSPECT_SUMMARY := import json, sys; r = json.load(open(sys.argv[1])); print(sys.argv[1], r["summary"]); \
	[print("  " + c["result"].upper(), c["name"] + ":", " ".join(m.get("message", "") for m in c["messages"])) \
	 for rep in r["reports"] for g in rep["groups"] for c in g["checks"] \
	 if c["result"] in ("failure", "error", "warning", "future_failure")]

# Fails unless a report has no failure and no error, and warns only in the checks named after it.
export APPINSPECT_KNOWN_WARNINGS := import json, sys; r = json.load(open(sys.argv[1])); s = r["summary"]; \
	w = sorted({c["name"] for rep in r["reports"] for g in rep["groups"] for c in g["checks"] if c["result"] == "warning"}); \
	bad = [n for n in w if n not in sys.argv[2:]]; \
	sys.exit("appinspect: %s has failures or errors" % sys.argv[1] if s["failure"] or s["error"] \
	  else "appinspect: %s warns in %s, which README.md does not explain" % (sys.argv[1], bad) if bad else 0)
# The with-windows package's expected warnings (README.md "Install in Splunk" explains both).
WIN_WARNINGS := check_command_scripts_exist_for_cloud check_that_app_contains_any_windows_specific_components

## appinspect: Splunk AppInspect. The Linux/Cloud package: cloud and future tags, any failure or
## warning fails (--ci). The with-windows package: the default checks, any failure, error or
## warning other than WIN_WARNINGS fails (README.md "Install in Splunk" explains those)
appinspect: package appinspect-deps
	for tag in cloud future; do \
	  rc=0; echo "== splunk-appinspect $(PKG) --included-tags $$tag"; \
	  $(APPINSPECT) inspect $(PKG) --mode precert --included-tags $$tag --skip-trusted-libraries-update --ci \
	    --data-format json --output-file dist/appinspect-$$tag.json >/dev/null || rc=$$?; \
	  python3 -c "$$APPINSPECT_SUMMARY" dist/appinspect-$$tag.json; \
	  test "$$rc" -eq 0 || { echo "appinspect $$tag: exit $$rc (101 failure, 103 warning, 104 future warning)"; exit 1; }; \
	done
	rc=0; echo "== splunk-appinspect $(PKG_WIN) (default checks)"; \
	$(APPINSPECT) inspect $(PKG_WIN) --mode precert --skip-trusted-libraries-update --ci \
	  --data-format json --output-file dist/appinspect-with-windows.json >/dev/null || rc=$$?; \
	python3 -c "$$APPINSPECT_SUMMARY" dist/appinspect-with-windows.json; \
	python3 -c "$$APPINSPECT_KNOWN_WARNINGS" dist/appinspect-with-windows.json $(WIN_WARNINGS); \
	case "$$rc" in 0|103|104) ;; *) echo "appinspect with-windows: exit $$rc"; exit 1;; esac


## fuzz: run every fuzz target for FUZZ_SECONDS each (nightly toolchain; installs cargo-fuzz if missing)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= chunk_reader body options session offline
fuzz: fuzz-tool
	mkdir -p fuzz/corpus/session fuzz/corpus/chunk_reader fuzz/corpus/offline
	cp -n tests/fixtures/sessions/*.in fuzz/corpus/session/
	cp -n tests/fixtures/sessions/*.in fuzz/corpus/chunk_reader/
	cp -n samples/* fuzz/corpus/offline/
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=2048 -timeout=20 -print_final_stats=1 || exit 1; \
	done

## fuzz-smoke: every fuzz target for a few seconds (CI runs it; FUZZ_TARGETS=x narrows it)
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=5

## fuzz-check: the fuzz targets still compile against the library (stable toolchain, no fuzzing)
fuzz-check:
	$(CARGO) check --locked --manifest-path fuzz/Cargo.toml

fuzz-tool:
	rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

clean:
	$(CARGO) clean
	rm -rf dist

ci: lint package appinspect qemu-deps test
