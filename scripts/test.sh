#!/usr/bin/env bash
# Runs every test against real services: sets up what a fresh machine lacks (PostgreSQL running,
# the Tansu Kafka-protocol broker installed and started on a free port), then the test suite.
# Idempotent: skips what is already installed and running.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test.sh: $*" >&2; }

# --- PostgreSQL ------------------------------------------------------------------------------
export RECON_TEST_POSTGRES="${RECON_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { log "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1; }
# Databases left by earlier runs (each test creates its own recon_test_*).
psql "$RECON_TEST_POSTGRES/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'recon_test_%'" 2>/dev/null \
  | while read -r db; do psql "$RECON_TEST_POSTGRES/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true; done

# --- Tansu (Kafka protocol) ------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null; then
  log "installing tansu 0.6.0 (about 20 minutes, once per machine)"
  build_dir="$(mktemp -d)"
  CARGO_TARGET_DIR="$build_dir" cargo install tansu --version 0.6.0 --locked --features libsql
  rm -rf "$build_dir"
fi
tansu_dir="$(mktemp -d)"
tansu_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
(cd "$tansu_dir" && exec tansu broker \
  --listener-url "tcp://127.0.0.1:$tansu_port" \
  --advertised-listener-url "tcp://127.0.0.1:$tansu_port" \
  --storage-engine sqlite://tansu.db >tansu.log 2>&1) &
tansu_pid=$!
cleanup() { kill "$tansu_pid" 2>/dev/null || true; wait "$tansu_pid" 2>/dev/null || true; rm -rf "$tansu_dir"; }
trap cleanup EXIT
for _ in $(seq 1 50); do
  (echo >"/dev/tcp/127.0.0.1/$tansu_port") 2>/dev/null && break
  sleep 0.2
done
(echo >"/dev/tcp/127.0.0.1/$tansu_port") 2>/dev/null || { log "tansu did not start:"; cat "$tansu_dir/tansu.log" >&2; exit 1; }
export KAFKA_BROKERS="127.0.0.1:$tansu_port"
log "tansu on $KAFKA_BROKERS, PostgreSQL at $RECON_TEST_POSTGRES"

# --- Tests -----------------------------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
