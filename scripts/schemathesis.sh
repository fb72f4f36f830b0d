#!/usr/bin/env bash
# Property-based API test against the served OpenAPI document (schemathesis, from PyPI): starts
# `recon serve` on a fresh database, signs in an admin, and lets schemathesis generate requests
# for every operation (valid and invalid inputs, examples, stateful sequences). Passes when no
# answer is a server error and every answer conforms to the spec (status code, content type,
# headers, body schema).
#
#   scripts/schemathesis.sh                   # 50 examples per operation
#   EXAMPLES=200 scripts/schemathesis.sh
#
# Env: RECON_BIN (default: a debug build), RECON_TEST_POSTGRES (default
# postgres://postgres@127.0.0.1:5432), EXAMPLES, WORKERS.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${EXAMPLES:-50}"
WORKERS="${WORKERS:-2}"
PGURL="${RECON_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
log() { echo "schemathesis.sh: $*" >&2; }

command -v schemathesis >/dev/null || { log "installing schemathesis (pip)"; pip install -q schemathesis; }
if [ -z "${RECON_BIN:-}" ]; then
  cargo build -q -p recon
  RECON_BIN="${CARGO_TARGET_DIR:-target}/debug/recon"
fi

work="$(mktemp -d /tmp/recon-schemathesis.XXXXXX)"
db="recon_schemathesis_$$"
recon_pid=""
cleanup() {
  [ -n "$recon_pid" ] && kill "$recon_pid" 2>/dev/null && wait "$recon_pid" 2>/dev/null || true
  psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$PGURL/postgres" -qc "CREATE DATABASE $db"
export DATABASE_URL="$PGURL/$db"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# No rate limit: schemathesis sends thousands of requests as one user.
RECON_RATE_LIMIT=off RECON_HTTP_ADDR="127.0.0.1:$port" RECON_DATA_DIR="$work/data" \
  RECON_LOG=warn "$RECON_BIN" serve >"$work/recon.out" 2>"$work/recon.err" &
recon_pid=$!
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { cat "$work/recon.err" >&2; exit 1; }

password="schemathesis password, long enough"
echo "$password" | "$RECON_BIN" users create --email admin@example.com --role admin --password-stdin >/dev/null
token="$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" \
  -d "{\"email\": \"admin@example.com\", \"password\": \"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

log "recon on port $port; $EXAMPLES examples per operation"
status=0
schemathesis --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" --workers "$WORKERS" \
  --report junit --report-dir "$work/report" || status=$?
if grep -qiE "panicked|internal error" "$work/recon.err"; then
  log "the server logged internal errors:"; grep -iE "panicked|internal error" "$work/recon.err" | head -20 >&2
  status=1
fi
exit "$status"
