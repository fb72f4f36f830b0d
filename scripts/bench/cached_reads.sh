#!/usr/bin/env bash
# Read benchmark, one run: a trivial actix-web handler (bench/src/bin/trivial_http.rs: same
# actix-web, allocator and worker count, no middleware) beside GET /api/v1/dashboard/summary
# of an embedded `recon` (its projector and worker running too) through the whole stack (request id, CORS, headers, metrics, rate-limit check, bearer
# token, the Oversee rule, If-None-Match, the read cache), then the same read with the cache off
# (RECON_READ_CACHE=off, every read goes to PostgreSQL). Same connections, threads and duration
# for each phase, one after the other. Prints the figures and the ratios.
#
#   scripts/bench/cached_reads.sh                 # 32 connections, 30 s per phase
#   DURATION=60 CLIENTS=64 HTTP_WORKERS=2 scripts/bench/cached_reads.sh
#
# Env: RECON_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432), PGBIN, RECON_BIN,
# TRIVIAL_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-30}"
CLIENTS="${CLIENTS:-32}"
JOBS="${JOBS:-2}"
HTTP_WORKERS="${HTTP_WORKERS:-2}"
PGURL="${RECON_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"

log() { echo "cached_reads.sh: $*" >&2; }
command -v wrk >/dev/null || { log "needs wrk (apt-get install wrk)"; exit 1; }
if [ -z "${RECON_BIN:-}" ] || [ -z "${TRIVIAL_BIN:-}" ]; then
  log "building (release)"
  cargo build --release -p recon -p bench >&2
  RECON_BIN="${RECON_BIN:-${CARGO_TARGET_DIR:-target}/release/recon}"
  TRIVIAL_BIN="${TRIVIAL_BIN:-${CARGO_TARGET_DIR:-target}/release/trivial-http}"
fi

# shellcheck source=machine_activity.sh
. "$(dirname "$0")/machine_activity.sh"

work="$(mktemp -d /tmp/recon-bench-reads.XXXXXX)"
db="recon_bench_reads_$$"
pids=()
sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  "$PGBIN/psql" "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 150); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; return 1; }

echo "== machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "load:       $(uptime)"
echo "busy now:   $(busy)"
echo "run:        $CLIENTS connections, wrk -t $JOBS, $DURATION s per phase (+3 s warm-up), $HTTP_WORKERS HTTP workers"

"$PGBIN/psql" "$PGURL/postgres" -qc "CREATE DATABASE $db"
export DATABASE_URL="$PGURL/$db"

trivial_port="$(free_port)"
"$TRIVIAL_BIN" "127.0.0.1:$trivial_port" "$HTTP_WORKERS" >"$work/trivial.out" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$trivial_port/" || { cat "$work/trivial.out" >&2; exit 1; }

# Starts recon in embedded mode (API, projector and worker in one process, no Kafka) with
# RECON_READ_CACHE=$1; sets $port.
start_recon() {
  port="$(free_port)"
  env -u KAFKA_BROKERS RECON_READ_CACHE="$1" RECON_RATE_LIMIT=off RECON_HTTP_ADDR="127.0.0.1:$port" \
    RECON_HTTP_WORKERS="$HTTP_WORKERS" RECON_DATA_DIR="$work/data" RECON_LOG=warn \
    "$RECON_BIN" >"$work/recon-$1.out" 2>"$work/recon-$1.err" &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/ready" || { cat "$work/recon-$1.err" >&2; exit 1; }
}
start_recon on
password="bench password, long enough"
echo "$password" | "$RECON_BIN" users create --email auditor@example.com --role auditor --password-stdin >/dev/null
echo "$password" | "$RECON_BIN" users create --email operator@example.com --role operator --password-stdin >/dev/null
sign_in() {
  curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" -d "{\"email\": \"$1\", \"password\": \"$password\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# Something to count: a few projects.
operator="$(sign_in operator@example.com)"
for i in $(seq 1 20); do
  curl -sf -X POST "http://127.0.0.1:$port/api/v1/projects" -H "Authorization: Bearer $operator" \
    -d "{\"name\": \"Project $i\", \"base_currency\": \"EUR\"}" >/dev/null
done
token="$(sign_in auditor@example.com)"
cat >"$work/read.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
sleep 1
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/dashboard/summary" >"$work/dashboard.json"

# run NAME URL [script]: wrk with warm-up; prints req/s, p50, p99, non-2xx on one line.
run() {
  local name="$1" url="$2" script="${3:-}"
  local args=(-t "$JOBS" -c "$CLIENTS")
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" -d 3s "$url" >/dev/null
  wrk "${args[@]}" -d "${DURATION}s" --latency "$url" >"$work/$name.wrk"
  local rps p50 p99 bad
  rps="$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$work/$name.wrk")"
  p50="$(awk '$1 == "50%" {print $2}' "$work/$name.wrk")"
  p99="$(awk '$1 == "99%" {print $2}' "$work/$name.wrk")"
  bad="$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\)/\1/p' "$work/$name.wrk")"
  echo "$rps $p50 $p99 ${bad:-0}"
}

start_sampler "$work/cpu-samples.log"
log "phase 1/3: trivial actix-web handler ($DURATION s)"
read -r trivial_rps trivial_p50 trivial_p99 trivial_bad < <(run trivial "http://127.0.0.1:$trivial_port/")
log "phase 2/3: GET /api/v1/dashboard/summary, cache on ($DURATION s)"
read -r cached_rps cached_p50 cached_p99 cached_bad < <(run cached "http://127.0.0.1:$port/api/v1/dashboard/summary" "$work/read.lua")
curl -sf "http://127.0.0.1:$port/metrics" | grep '^recon_read_cache_total' >"$work/cache-metrics.txt" || true
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
start_recon off
log "phase 3/3: GET /api/v1/dashboard/summary, cache off ($DURATION s)"
read -r uncached_rps uncached_p50 uncached_p99 uncached_bad < <(run uncached "http://127.0.0.1:$port/api/v1/dashboard/summary" "$work/read.lua")
stop_sampler "$work/cpu-samples.log"
echo "load after: $(uptime)"
echo
echo "== results ($CLIENTS connections, $DURATION s each)"
echo "dashboard answer: $(cat "$work/dashboard.json")"
echo "1 trivial actix-web handler (BASELINE)      $trivial_rps req/s, p50 $trivial_p50, p99 $trivial_p99, non-2xx $trivial_bad"
echo "2 dashboard, bearer token, cache on         $cached_rps req/s, p50 $cached_p50, p99 $cached_p99, non-2xx $cached_bad"
echo "3 dashboard, bearer token, cache off        $uncached_rps req/s, p50 $uncached_p50, p99 $uncached_p99, non-2xx $uncached_bad"
echo "cache counters after phase 2: $(tr '\n' ' ' <"$work/cache-metrics.txt")"
awk -v a="$cached_rps" -v b="$trivial_rps" -v c="$uncached_rps" 'BEGIN {
  printf "ratio cached / trivial:   %.3fx (target 0.5x)\n", a / b
  printf "ratio uncached / trivial: %.3fx\n", c / b
  printf "cache speed-up:           %.2fx\n", a / c }'
