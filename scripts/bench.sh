#!/usr/bin/env bash
# `make bench`: every benchmark, BENCH_RUNS times each (default 3), as root, then one table of
# the ratios they report. Each bench prints its figures and, last, lines
#   RESULT <what> = <ratio> | <the figures behind it>
# (a ratio > 1 is ours ahead, as each line's <what> says). The table gives, per line, the
# median ratio, its min-max over the runs, and the runs; the logs stay in target/bench/.
#
#   BENCHES="fw igmp" BENCH_RUNS=1 make bench      # a subset, once
# Each bench also runs alone: sudo cargo bench -p router-tests --bench NAME
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BENCHES="${BENCHES:-fw pppoe dns dhcp4 dhcp6 igmp state}"
RUNS="${BENCH_RUNS:-3}"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/bench"
mkdir -p "$OUT"
[ "$(id -u)" -eq 0 ] || { echo "bench: the benchmarks build namespaces: run as root" >&2; exit 1; }

: > "$OUT/results.txt"
for b in $BENCHES; do
  for run in $(seq 1 "$RUNS"); do
    log="$OUT/$b-$run.log"
    echo "bench: $b, run $run of $RUNS (log: $log)"
    if ! cargo bench --locked -q -p router-tests --bench "$b" > "$log" 2>&1; then
      echo "bench: $b run $run failed; its log:" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    grep '^RESULT ' "$log" | sed "s/^RESULT /$run\t/" >> "$OUT/results.txt" || true
  done
done

# One row per <what>: median, min-max, runs, and the last run's figures.
python3 - "$OUT/results.txt" <<'EOF'
import collections, statistics, sys
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    run, rest = line.rstrip("\n").split("\t", 1)
    head, _, figures = rest.partition(" | ")
    what, _, ratio = head.rpartition(" = ")
    try:
        r = float(ratio)
    except ValueError:
        continue
    rows.setdefault(what, []).append((r, figures))
print("| benchmark | ratio (median) | min-max | runs | figures (last run) |")
print("| --- | --- | --- | --- | --- |")
for what, v in rows.items():
    rs = [r for r, _ in v if r == r]  # NaN (below the clock's resolution) left out
    med = f"{statistics.median(rs):.2f}" if rs else "n/a"
    span = f"{min(rs):.2f}-{max(rs):.2f}" if rs else "n/a"
    print(f"| {what} | {med} | {span} | {len(v)} | {v[-1][1]} |")
EOF
