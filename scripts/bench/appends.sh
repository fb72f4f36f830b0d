#!/usr/bin/env bash
# Append benchmark, one run: plain PostgreSQL (pgbench, one-row INSERT per transaction into a
# table shaped like an event row) beside Recon's command layer (append-bench), same client count,
# same duration, same server, one after the other. Prints both figures and the ratio (target:
# Recon >= 0.5 x pgbench).
#
#   scripts/bench/appends.sh                     # 32 clients, 30 s per phase
#   DURATION=60 CLIENTS=32 scripts/bench/appends.sh
#
# Phases (each DURATION seconds, CHECKPOINT before each):
#   1. pgbench plain:   INSERT INTO bench_events (text, text, bigint, jsonb; primary key on the
#                       first three columns, like the event store's) - THE BASELINE;
#   2. recon create:    append-bench --mode create (load aggregate + decide + append + read
#                       position, through commands::CommandStore) - THE FIGURE;
#   3. recon mixed:     append-bench --mode mixed (create, update x3, archive per project);
# and, with DIAG=1 (default), diagnostics that explain the gap:
#   4. pgbench events:  the same one-row INSERT into Recon's real `events` table (migration 0001:
#                       identity position, event id, 3 more indexes, append-only and NOTIFY
#                       triggers);
#   5. pgbench events, events_notify trigger disabled;
#   6. recon create, events_notify trigger disabled (append-bench --disable-notify-trigger).
# Env: RECON_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432), PGBIN, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-30}"
CLIENTS="${CLIENTS:-32}"
JOBS="${JOBS:-2}"
POOL="${POOL:-40}"
DIAG="${DIAG:-0}"  # phases 5-6 need the events_notify trigger, dropped by migration 0006
PGURL="${RECON_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench}"
export RECON_BENCH_POSTGRES="$PGURL"

log() { echo "appends.sh: $*" >&2; }

# shellcheck source=machine_activity.sh
. "$(dirname "$0")/machine_activity.sh"

log "building (release)"
cargo build --release -p bench --bin append-bench >&2
BIN="$CARGO_TARGET_DIR/release/append-bench"

work="$(mktemp -d /tmp/recon-bench-appends.XXXXXX)"
db="recon_bench_pgbench_$$"
sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  "$PGBIN/psql" "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "memory:     $(free -g | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')"
echo "postgres:   $("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW server_version')," \
  "fsync=$("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW fsync')," \
  "synchronous_commit=$("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW synchronous_commit')," \
  "shared_buffers=$("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW shared_buffers')," \
  "max_connections=$("$PGBIN/psql" "$PGURL/postgres" -Atc 'SHOW max_connections')"
echo "load:       $(uptime)"
echo "busy now:   $(busy)"
echo "run:        $CLIENTS clients, $DURATION s per phase, pgbench -j $JOBS -M prepared, append-bench pool $POOL"

"$PGBIN/psql" "$PGURL/postgres" -qc "CREATE DATABASE $db"
"$PGBIN/psql" "$PGURL/$db" -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE bench_events (
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL,
    payload        jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
SQL
"$PGBIN/psql" "$PGURL/$db" -q -v ON_ERROR_STOP=1 -f migrations/0001_event_store.sql

# A payload of the size and shape of Recon's ProjectCreated event.
payload='{"ProjectCreated": {"name": "Bench project 12-3456", "project_id": "0190f6a2-3c1e-7d4b-9a8e-5b2c1d0e9f7a", "description": "benchmark project", "base_currency": "EUR"}}'
metadata='{"actor": "bench-client-12", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "request_id": "0190f6a2-3c1e-7d4b-9a8e-5b2c1d0e9f7b", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "causation_id": "0190f6a2-3c1e-7d4b-9a8e-5b2c1d0e9f7b", "correlation_id": "0190f6a2-3c1e-7d4b-9a8e-5b2c1d0e9f7b"}'
cat >"$work/plain.sql" <<SQL
INSERT INTO bench_events (aggregate_type, aggregate_id, sequence, payload) VALUES ('Project', gen_random_uuid()::text, 1, '$payload');
SQL
cat >"$work/events.sql" <<SQL
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ('Project', gen_random_uuid()::text, 1, 'ProjectCreated', '1', '$payload', '$metadata');
SQL

# pgbench <name> <script>: prints "tps p50_ms p99_ms" (latencies from the per-transaction log).
run_pgbench() {
  local name="$1" script="$2"
  "$PGBIN/psql" "$PGURL/$db" -qc "CHECKPOINT"
  mkdir -p "$work/$name"
  (cd "$work/$name" && "$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$JOBS" -T "$DURATION" \
      -f "$script" -l --log-prefix=tx "$PGURL/$db") >"$work/$name.out" 2>&1 || { cat "$work/$name.out" >&2; exit 1; }
  local tps p50 p99
  tps="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$work/$name.out")"
  read -r p50 p99 < <(cat "$work/$name"/tx* | awk '{print $3}' | sort -n |
    awk '{a[NR]=$1} END {i50=int(NR*0.5+0.999); i99=int(NR*0.99+0.999); printf "%.3f %.3f\n", a[i50]/1000, a[i99]/1000}')
  echo "$tps $p50 $p99"
}

# append-bench <name> <args...>: prints "cps p50_ms p99_ms errors".
run_recon() {
  local name="$1"
  shift
  "$PGBIN/psql" "$PGURL/$db" -qc "CHECKPOINT"
  "$BIN" --clients "$CLIENTS" --duration "$DURATION" --pool "$POOL" "$@" >"$work/recon-$name.out" 2>&1 ||
    { cat "$work/recon-$name.out" >&2; exit 1; }
  grep -v '^RESULT' "$work/recon-$name.out" >&2
  sed -n 's/^RESULT .* cps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) errors=\([0-9]*\).*/\1 \2 \3 \4/p' "$work/recon-$name.out"
}

start_sampler "$work/cpu-samples.log"
phases=3
[ "$DIAG" = 1 ] && phases=6
log "phase 1/$phases: pgbench, one-row INSERT into bench_events ($DURATION s)"
read -r plain_tps plain_p50 plain_p99 < <(run_pgbench plain "$work/plain.sql")
log "phase 2/$phases: append-bench --mode create ($DURATION s + 2 s warm-up)"
read -r create_cps create_p50 create_p99 create_err < <(run_recon create --mode create)
log "phase 3/$phases: append-bench --mode mixed ($DURATION s + 2 s warm-up)"
read -r mixed_cps mixed_p50 mixed_p99 mixed_err < <(run_recon mixed --mode mixed)
if [ "$DIAG" = 1 ]; then
  log "phase 4/$phases: pgbench, one-row INSERT into Recon's events table ($DURATION s)"
  read -r events_tps events_p50 events_p99 < <(run_pgbench events "$work/events.sql")
  "$PGBIN/psql" "$PGURL/$db" -qc "ALTER TABLE events DISABLE TRIGGER events_notify"
  log "phase 5/$phases: pgbench, the same, events_notify trigger disabled ($DURATION s)"
  read -r events_nn_tps events_nn_p50 events_nn_p99 < <(run_pgbench events-no-notify "$work/events.sql")
  log "phase 6/$phases: append-bench --mode create --disable-notify-trigger ($DURATION s + 2 s warm-up)"
  read -r create_nn_cps create_nn_p50 create_nn_p99 create_nn_err < <(run_recon create-no-notify --mode create --disable-notify-trigger)
fi

stop_sampler "$work/cpu-samples.log"
echo "load after: $(uptime)"
echo "busy after: $(busy)"
echo
echo "== results ($CLIENTS clients, $DURATION s each)"
printf '%-60s %12s %9s %9s %10s\n' "phase" "per second" "p50 ms" "p99 ms" "vs plain"
row() { printf '%-60s %12.1f %9.2f %9.2f %9.3fx\n' "$1" "$2" "$3" "$4" "$(awk -v a="$2" -v b="$plain_tps" 'BEGIN {print a / b}')"; }
row "1 pgbench: INSERT bench_events (BASELINE)" "$plain_tps" "$plain_p50" "$plain_p99"
row "2 Recon command layer: create project (FIGURE)" "$create_cps" "$create_p50" "$create_p99"
row "3 Recon command layer: mixed create/update x3/archive" "$mixed_cps" "$mixed_p50" "$mixed_p99"
if [ "$DIAG" = 1 ]; then
  row "4 diag pgbench: INSERT Recon events table" "$events_tps" "$events_p50" "$events_p99"
  row "5 diag pgbench: INSERT events, events_notify trigger off" "$events_nn_tps" "$events_nn_p50" "$events_nn_p99"
  row "6 diag Recon create, events_notify trigger off" "$create_nn_cps" "$create_nn_p50" "$create_nn_p99"
fi
echo "command errors: create $create_err, mixed $mixed_err$([ "$DIAG" = 1 ] && echo ", create without notify $create_nn_err")"
ratio="$(awk -v a="$create_cps" -v b="$plain_tps" 'BEGIN {printf "%.3f", a / b}')"
verdict="$(awk -v r="$ratio" 'BEGIN {print (r >= 0.5) ? "MET" : "NOT MET"}')"
echo
echo "ratio Recon create / pgbench plain = $ratio (target >= 0.5: $verdict)"
echo "logs: $work"
