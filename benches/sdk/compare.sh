#!/usr/bin/env bash
# regsvcsdetect against an equivalent splunklib ReportingCommand (benches/sdk/regsvcs_sdk.py,
# splunk-sdk from PyPI in a venv), whole process, on the same unprojected request streams `make bench`
# generates. Prints wall seconds, the ratio, and whether the two result tables agree row for row.
# Run by `make bench-sdk`; not a test. Environment: as benches/throughput.rs (BENCH_ROWS_A, BENCH_ROWS,
# BENCH_SEED), plus SDK_VERSION (default 2.1.1) and STREAMS (default the A and B streams).
set -euo pipefail
cd "$(dirname "$0")/../.."
SDK_VERSION=${SDK_VERSION:-2.1.1}
STREAMS=${STREAMS:-A-network,A-noargs,B-network,B-noargs}
VENV=.venv-sdk
BIN=${CARGO_TARGET_DIR:-target}/release/regsvcsdetect
if ! "$VENV/bin/python" -c "import splunklib" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "splunk-sdk==$SDK_VERSION"
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
BENCH_DUMP=$dir BENCH_ONLY=$STREAMS BENCH_REPS=1 BENCH_RSS_FACTOR=0 \
  cargo bench --locked --bench throughput >/dev/null
now() { date +%s.%N; }
echo "| stream | regsvcsdetect | splunklib ReportingCommand (splunk-sdk $SDK_VERSION) | ratio | results |"
echo "| --- | ---: | ---: | ---: | --- |"
for s in ${STREAMS//,/ }; do
  f=$dir/$s.stream
  best=
  for _ in 1 2 3; do
    t0=$(now); TZ=UTC "$BIN" <"$f" >"$dir/ours.out"; t1=$(now)
    t=$(echo "$t1 - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  t0=$(now); TZ=UTC "$VENV/bin/python" benches/sdk/regsvcs_sdk.py <"$f" >"$dir/sdk.out"; t1=$(now)
  sdk=$(echo "$t1 - $t0" | bc)
  python3 benches/sdk/last_body.py <"$dir/ours.out" >"$dir/ours.csv"
  python3 benches/sdk/last_body.py <"$dir/sdk.out" >"$dir/sdk.csv"
  same=$(python3 benches/sdk/same_rows.py "$dir/ours.csv" "$dir/sdk.csv" | head -n 1 || true)
  printf '| %s | %.2f s | %.1f s | %.0fx | %s |\n' "$s" "$best" "$sdk" "$(echo "$sdk / $best" | bc -l)" "$same"
done
