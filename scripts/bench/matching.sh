#!/usr/bin/env bash
# Matching benchmark, one run: Recon (match-bench: sources + matching crates) beside an
# equivalent pandas script (scripts/bench/pandas_match.py) on the same generated CSV files,
# each under /usr/bin/time -v for wall time and peak memory (max RSS); then precision and
# recall of both against the generated truth, and whether their match sets agree.
#
#   scripts/bench/matching.sh                 # 1,000,000 x 1,000,000 records, seed 42
#   N=100000 SEED=7 scripts/bench/matching.sh
#   RUNS=5 scripts/bench/matching.sh          # each side 5 times, alternating (default 3)
#
# Each side runs RUNS times, Recon and pandas alternating, and the speed-up is the ratio of the
# median wall times: on these VMs one run can be 30 % off the next.
#
# BASELINE_BIN=/path/to/an/older/match-bench adds that binary to every run (as "baseline"), to
# tell what a change gained from what the machine gives on the day.
#
# Targets (from the issue): Recon 10x faster than pandas, under 1 GB peak memory.
# Env: N, SEED, DATA (data dir, default /tmp/recon-bench-data/<N>-<SEED>; generated only if
# truth.csv is missing), OUT (results, default /tmp/recon-bench-matching), VENV (default
# /tmp/recon-bench-venv), MATCH_BENCH_ARGS (e.g. --sequential), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

N="${N:-1000000}"
SEED="${SEED:-42}"
DATA="${DATA:-/tmp/recon-bench-data/$N-$SEED}"
OUT="${OUT:-/tmp/recon-bench-matching}"
VENV="${VENV:-/tmp/recon-bench-venv}"
MATCH_BENCH_ARGS="${MATCH_BENCH_ARGS:-}"
RUNS="${RUNS:-3}"
BASELINE_BIN="${BASELINE_BIN:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench}"

log() { echo "matching.sh: $*" >&2; }

# shellcheck source=machine_activity.sh
. "$(dirname "$0")/machine_activity.sh"

if [ ! -x /usr/bin/time ]; then
  log "installing GNU time (apt-get install -y time)"
  apt-get install -y time >&2 || { apt-get update >&2 && apt-get install -y time >&2; }
fi
if ! "$VENV/bin/python" -c 'import pandas' 2>/dev/null; then
  log "creating $VENV with pandas"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet pandas >&2
fi

log "building (release)"
cargo build --release -p bench --bin match-bench --bin gen-recon-data >&2
BIN="$CARGO_TARGET_DIR/release"

if [ ! -f "$DATA/truth.csv" ]; then
  log "generating $N x $N records (seed $SEED) into $DATA"
  "$BIN/gen-recon-data" "$N" "$SEED" "$DATA"
fi

rm -rf "$OUT"
mkdir -p "$OUT"

echo "== machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "memory:     $(free -g | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')"
echo "python:     $("$VENV/bin/python" -c 'import sys, pandas, numpy; print(sys.version.split()[0], "pandas", pandas.__version__, "numpy", numpy.__version__)')"
echo "data:       $DATA ($(du -sh "$DATA" | cut -f1)): bank $(($(wc -l <"$DATA/bank.csv") - 1)) rows, ledger $(($(wc -l <"$DATA/ledger.csv") - 1)) rows"
echo "load:       $(uptime)"
echo "busy now:   $(busy)"

# Both read the files once before timing so neither pays for a cold page cache.
cat "$DATA/bank.csv" "$DATA/ledger.csv" >/dev/null

run() { # run <name> <command...>: output to $OUT/<name>.out, GNU time report to $OUT/<name>.time
  local name="$1"
  shift
  /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>&1 || { cat "$OUT/$name.out" >&2; exit 1; }
  grep -v '^RESULT' "$OUT/$name.out" | sed "s/^/  /"
}
wall() { # GNU time's "h:mm:ss" or "m:ss.ss" as seconds
  sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
    awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'
}
rss_mb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{printf "%.0f", $1 / 1024}'; }
phase() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$OUT/$1.out"; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

start_sampler "$OUT/cpu-samples.log"
for i in $(seq "$RUNS"); do
  echo
  echo "== run $i of $RUNS: recon: match-bench $MATCH_BENCH_ARGS"
  run "recon-$i" "$BIN/match-bench" $MATCH_BENCH_ARGS "$DATA/bank.csv" "$DATA/ledger.csv" "$OUT/recon"
  if [ -n "$BASELINE_BIN" ]; then
    echo "== run $i of $RUNS: baseline: $BASELINE_BIN $MATCH_BENCH_ARGS"
    run "baseline-$i" "$BASELINE_BIN" $MATCH_BENCH_ARGS "$DATA/bank.csv" "$DATA/ledger.csv" "$OUT/baseline"
  fi
  echo "== run $i of $RUNS: pandas: pandas_match.py"
  run "pandas-$i" "$VENV/bin/python" scripts/bench/pandas_match.py "$DATA/bank.csv" "$DATA/ledger.csv" "$OUT/pandas"
done
stop_sampler "$OUT/cpu-samples.log"
echo "load after: $(uptime)"
echo "busy after: $(busy)"

echo
echo "== results ($N x $N records, $RUNS runs each, alternating)"
printf '%-10s %10s %10s %10s %10s %12s %14s\n' "" "import s" "match s" "write s" "total s" "wall s" "max RSS MiB"
for name in recon ${BASELINE_BIN:+baseline} pandas; do
  for i in $(seq "$RUNS"); do
    printf '%-10s %10s %10s %10s %10s %12s %14s\n' "$name-$i" "$(phase "$name-$i" import_s)" "$(phase "$name-$i" match_s)" \
      "$(phase "$name-$i" write_s)" "$(phase "$name-$i" total_s)" "$(wall "$OUT/$name-$i.time")" "$(rss_mb "$OUT/$name-$i.time")"
  done
done
recon_wall="$(for i in $(seq "$RUNS"); do wall "$OUT/recon-$i.time"; done | median)"
pandas_wall="$(for i in $(seq "$RUNS"); do wall "$OUT/pandas-$i.time"; done | median)"
recon_rss="$(for i in $(seq "$RUNS"); do rss_mb "$OUT/recon-$i.time"; echo; done | sort -n | tail -1)"
speedup="$(awk -v r="$recon_wall" -v p="$pandas_wall" 'BEGIN {printf "%.2f", p / r}')"
echo
echo "median wall: recon ${recon_wall} s, pandas ${pandas_wall} s"
if [ -n "$BASELINE_BIN" ]; then
  baseline_wall="$(for i in $(seq "$RUNS"); do wall "$OUT/baseline-$i.time"; done | median)"
  echo "baseline median wall ${baseline_wall} s: $(awk -v b="$baseline_wall" -v p="$pandas_wall" 'BEGIN {printf "%.2f", p / b}')x pandas"
fi
echo "speed-up (pandas median wall / recon median wall) = ${speedup}x (target >= 10x: $(awk -v s="$speedup" 'BEGIN {print (s >= 10) ? "MET" : "NOT MET"}'))"
echo "recon peak memory (largest of the runs) = ${recon_rss} MiB (target < 1024 MiB: $(awk -v m="$recon_rss" 'BEGIN {print (m < 1024) ? "MET" : "NOT MET"}'))"
echo
echo "== precision / recall against $DATA/truth.csv (outside the timed runs)"
python3 scripts/bench/evaluate.py "$DATA/truth.csv" recon="$OUT/recon/matches.csv" pandas="$OUT/pandas/matches.csv" | grep -v '^RESULT'
for f in unmatched_left unmatched_right; do
  if cmp -s <(sort "$OUT/recon/$f.csv") <(sort "$OUT/pandas/$f.csv"); then
    echo "$f.csv: identical (as sets of rows)"
  else
    echo "$f.csv: DIFFERENT"
  fi
done
