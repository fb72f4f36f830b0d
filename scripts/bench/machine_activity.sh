# Sourced by the benchmark scripts: what else is using the machine while a benchmark runs.

# Processes using CPU right now (top, 1 s sample): other work on the machine skews the figures.
# Samples, every ~5 s while the benchmark runs, which processes use >= 20 % CPU; at the end,
# those that are not the benchmark's own (cargo builds, tests of other sessions...) are listed.
start_sampler() {
  local log="$1"
  (while :; do
     top -b -n2 -d1 -o %CPU 2>/dev/null | awk '/^top -/ {f++} f == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 20 {print $12}'
     # PostgreSQL work for databases other than this benchmark's (e.g. test suites running).
     n="$(psql "${RECON_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}/postgres" -Atc \
       "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND datname NOT LIKE 'recon_bench%' AND pid <> pg_backend_pid()" 2>/dev/null || echo 0)"
     [ "${n:-0}" -gt 0 ] && echo "postgres-queries-on-other-databases"
     sleep 4
   done >"$log") &
  sampler_pid=$!
}
stop_sampler() {
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  local others
  others="$(grep -vE '^(postgres|pgbench|append-b|match-b|python|top|gen-reco|time)' "$1" | sort | uniq -c | sort -rn | awk '{printf "%s (%d samples) ", $2, $1}' || true)"
  echo "other activity during the run (processes at >= 20 % CPU, queries on other databases; per ~5 s sample): ${others:-none}"
}
busy() {
  top -b -n2 -d1 -o %CPU 2>/dev/null | awk '/^top -/ {f++} f == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 {printf "%s %s%% ", $12, $9}'
  echo
}
