#!/usr/bin/env bash
# API append benchmark, one run: plain PostgreSQL (pgbench, one-row INSERT per transaction, the
# same baseline as appends.sh) beside CLIENTS wrk connections creating projects through Recon's
# HTTP API with a bearer token (authentication and authorisation on), same duration, same server,
# one after the other. Prints both figures and the ratio.
#
#   scripts/bench/api_appends.sh                  # 32 connections, 30 s per phase
#   DURATION=60 CLIENTS=32 HTTP_WORKERS=2 scripts/bench/api_appends.sh
#
# What one request does: JWT check, the caller's role (from the store, cached 5 s), the Operate
# rule, JSON parsing and validation, ProjectCreated + ProjectMemberAdded appended in one
# statement, the answer. With IDEMPOTENCY=1 every request also carries a fresh Idempotency-Key.
# Env: RECON_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432), PGBIN, RECON_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-30}"
CLIENTS="${CLIENTS:-32}"
JOBS="${JOBS:-2}"
HTTP_WORKERS="${HTTP_WORKERS:-2}"
IDEMPOTENCY="${IDEMPOTENCY:-0}"
PGURL="${RECON_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"

log() { echo "api_appends.sh: $*" >&2; }
command -v wrk >/dev/null || { log "needs wrk (apt-get install wrk)"; exit 1; }

if [ -z "${RECON_BIN:-}" ]; then
  log "building (release)"
  cargo build --release -p recon >&2
  RECON_BIN="${CARGO_TARGET_DIR:-target}/release/recon"
fi

# shellcheck source=machine_activity.sh
. "$(dirname "$0")/machine_activity.sh"

work="$(mktemp -d /tmp/recon-bench-api.XXXXXX)"
pgdb="recon_bench_pgbench_$$"
apidb="recon_bench_api_$$"
recon_pid=""
sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  [ -n "$recon_pid" ] && kill "$recon_pid" 2>/dev/null && wait "$recon_pid" 2>/dev/null || true
  for db in "$pgdb" "$apidb"; do
    "$PGBIN/psql" "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

echo "== machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "postgres:   $("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW server_version'), fsync=$("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW fsync'), synchronous_commit=$("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW synchronous_commit')"
echo "load:       $(uptime)"
echo "busy now:   $(busy)"
echo "run:        $CLIENTS clients, $DURATION s per phase, pgbench -j $JOBS -M prepared; wrk -t $JOBS; recon serve with $HTTP_WORKERS HTTP workers; idempotency keys: $IDEMPOTENCY"

"$PGBIN/psql" "$PGURL/postgres" -qc "CREATE DATABASE $pgdb"
"$PGBIN/psql" "$PGURL/postgres" -qc "CREATE DATABASE $apidb"
"$PGBIN/psql" "$PGURL/$pgdb" -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE bench_events (
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL,
    payload        jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
SQL
payload='{"ProjectCreated": {"name": "Bench project 12-3456", "project_id": "0190f6a2-3c1e-7d4b-9a8e-5b2c1d0e9f7a", "description": "benchmark project", "base_currency": "EUR"}}'
cat >"$work/plain.sql" <<SQL
INSERT INTO bench_events (aggregate_type, aggregate_id, sequence, payload) VALUES ('Project', gen_random_uuid()::text, 1, '$payload');
SQL

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export DATABASE_URL="$PGURL/$apidb"
# Rate limits off: the benchmark is one user sending as fast as it can.
RECON_RATE_LIMIT=off RECON_HTTP_ADDR="127.0.0.1:$port" RECON_HTTP_WORKERS="$HTTP_WORKERS" RECON_DB_MAX_CONNECTIONS=40 \
  RECON_LOG=warn "$RECON_BIN" serve >"$work/recon.out" 2>"$work/recon.err" &
recon_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { cat "$work/recon.err" >&2; exit 1; }
password="bench password, long enough"
echo "$password" | "$RECON_BIN" users create --email bench@example.com --role operator --password-stdin >/dev/null
token="$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" \
  -d "{\"email\": \"bench@example.com\", \"password\": \"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"name": "Bench project", "description": "benchmark project", "base_currency": "EUR"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local counter = 0
request = function()
  if $IDEMPOTENCY == 1 then
    counter = counter + 1
    wrk.headers["Idempotency-Key"] = tostring(math.random(1, 2^31)) .. "-" .. counter
  end
  return wrk.format()
end
LUA

start_sampler "$work/cpu-samples.log"
log "phase 1/2: pgbench, one-row INSERT into bench_events ($DURATION s)"
"$PGBIN/psql" "$PGURL/$pgdb" -qc "CHECKPOINT"
"$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$JOBS" -T "$DURATION" -f "$work/plain.sql" "$PGURL/$pgdb" >"$work/pgbench.out" 2>&1
plain_tps="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$work/pgbench.out")"
plain_lat="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$work/pgbench.out")"
log "phase 2/2: wrk, POST /api/v1/projects with a bearer token ($DURATION s + 3 s warm-up)"
"$PGBIN/psql" "$PGURL/$apidb" -qc "CHECKPOINT"
wrk -t "$JOBS" -c "$CLIENTS" -d 3s -s "$work/create.lua" "http://127.0.0.1:$port/api/v1/projects" >/dev/null
wrk -t "$JOBS" -c "$CLIENTS" -d "${DURATION}s" --latency -s "$work/create.lua" \
  "http://127.0.0.1:$port/api/v1/projects" >"$work/wrk.out"
stop_sampler "$work/cpu-samples.log"
cat "$work/wrk.out" >&2
api_rps="$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$work/wrk.out")"
non2xx="$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\)/\1/p' "$work/wrk.out")"
p50="$(awk '$1 == "50%" {print $2}' "$work/wrk.out")"
p99="$(awk '$1 == "99%" {print $2}' "$work/wrk.out")"
created="$("$PGBIN/psql" "$PGURL/$apidb" -Atc "SELECT count(*) FROM events WHERE event_type = 'ProjectCreated'")"
echo "load after: $(uptime)"
echo "busy after: $(busy)"
echo
echo "== results ($CLIENTS clients, $DURATION s each)"
echo "1 pgbench: INSERT bench_events (BASELINE)     $plain_tps tps, latency avg $plain_lat ms"
echo "2 API: POST /api/v1/projects, bearer token   $api_rps req/s, p50 $p50, p99 $p99, non-2xx ${non2xx:-0}"
echo "projects in the store: $created (warm-up included)"
awk -v a="$api_rps" -v b="$plain_tps" 'BEGIN {printf "ratio API / pgbench: %.3fx (target 0.5x)\n", a / b}'
