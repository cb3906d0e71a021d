#!/usr/bin/env bash
# postgres.sh: the postgres engine on one and on three bank_server replicas
# against the in-memory engines (queue, mutex), on one hot account and on
# 10,000 accounts, several repetitions, in one run; writes
# docs/BENCHMARKS-postgres.md (do not edit by hand: rerun this).
#
# Per run: fresh bank_server(s) on 127.0.0.1:0, bank_loadgen (--json) for
# the duration at concurrency 64, then the servers are stopped. PostgreSQL
# is a throw-away cluster (initdb into a temp dir; default durability:
# fsync and synchronous_commit on) started once for the whole sweep, as the
# `postgres` user when run as root. Its CPU time per run is utime+stime of
# the postmaster and all its children (background workers and the run's
# backends, which start with the run: each run waits for the previous run's
# backends to exit) from before the servers start to the end of the load,
# less the load generator's own reads of every balance before and after the
# load (measured by a calibration run of one RPC on the same accounts and
# servers just before), divided by the measured RPCs. The postgres runs use
# accounts created once in SQL before the sweep ("hot", "a0".."a9999", with
# bank_loadgen --use_existing): opening goes through one counter row and
# would make each run wait for 10,000 serial commits first. The postgres engine runs with
# --postgres_connections=16 per replica (each connection commits one
# transaction at a time, so connections bound durable throughput).
# Nothing is pinned: PostgreSQL, servers and load generator share the cores.
#
# Usage: bench/postgres.sh [REPETITIONS]   (default 3)
# Environment: BANK_BENCH_BUILD_DIR (build/release), BANK_BENCH_DURATION_S (8),
#   BANK_BENCH_PG_OPTIONS (more postgres -c settings, for controls such as
#   "-c synchronous_commit=off"), BANK_BENCH_OUT (docs/BENCHMARKS-postgres.md),
#   BANK_BENCH_CONFIGS ("queue mutex queue_durable mutex_durable postgres1
#   postgres3"; the _durable ones run with --data_dir on a fresh directory,
#   a synced RocksDB write per group of operations).
set -euo pipefail
cd "$(dirname "$0")/.."
readonly root=$PWD
source "$root/scripts/lib/server.sh"
readonly repetitions=${1:-3}
readonly build_dir=${BANK_BENCH_BUILD_DIR:-$root/build/release}
readonly duration_s=${BANK_BENCH_DURATION_S:-8}
readonly concurrency=64
readonly out_md=${BANK_BENCH_OUT:-$root/docs/BENCHMARKS-postgres.md}
readonly pg_options=${BANK_BENCH_PG_OPTIONS:-}
read -r -a configs <<<"${BANK_BENCH_CONFIGS:-queue mutex queue_durable mutex_durable postgres1 postgres3}"
readonly pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
work=$(mktemp -d /tmp/bank-bench-pg.XXXXXX)
readonly work
pids=()

as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  as_pg "$pg_bin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

cmake --build "$build_dir" -j2 --target bank_server bank_loadgen >/dev/null
((EUID == 0)) && chown postgres "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pg_bin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -t 60 \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=100 $pg_options" \
  start >/dev/null
readonly dsn="host=127.0.0.1 port=$port user=postgres dbname=postgres"

psql_do() {
  as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -At -v ON_ERROR_STOP=1 -c "$1"
}

# The postgres runs' accounts: the schema made by bank_server itself, the
# rows in one INSERT.
"$build_dir/service/server/bank_server" --listen=127.0.0.1:0 \
  --engine=postgres --postgres_dsn="$dsn" >"$work/schema.log" 2>&1 &
pids=($!)
bank_wait_listening "$work/schema.log" "${pids[0]}" 60 >/dev/null
kill "${pids[0]}"; wait "${pids[0]}" || true
pids=()
psql_do "INSERT INTO bank_accounts SELECT 'a' || g, 100000000 FROM generate_series(0, 9999) g; INSERT INTO bank_accounts VALUES ('hot', 100000000); UPDATE bank_meta SET value = 10001 WHERE key = 'account_count';" >/dev/null
many_ids=$(seq -f 'a%g' 0 9999 | paste -sd, -)
readonly many_ids

postmaster_pid() { head -n 1 "$work/data/postmaster.pid"; }

# pg_cpu_ticks: utime+stime of the postmaster and its living children.
pg_cpu_ticks() {
  local pid total=0 child
  pid=$(postmaster_pid)
  for child in $pid $(cat "/proc/$pid/task/$pid/children"); do
    [[ -r /proc/$child/stat ]] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# wait_backends_gone: the previous run's client backends have exited
# (bounded: 60 s), so that their CPU time is not counted twice.
wait_backends_gone() {
  local deadline=$((SECONDS + 60)) count
  while ((SECONDS < deadline)); do
    count=$(psql_do "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    ((count == 0)) && return 0
    sleep 0.1
  done
  echo "postgres backends still alive after 60 s" >&2
  exit 1
}

# run CONFIG ACCOUNTS REP: one measured run; appends a TSV line.
run() {
  local config=$1 accounts=$2 rep=$3 replicas=1 engine=$1 targets=() i
  case $config in
    postgres1) engine=postgres ;;
    postgres3) engine=postgres; replicas=3 ;;
    queue_durable | mutex_durable) engine=${config%_durable} ;;
  esac
  local flags=(--listen=127.0.0.1:0 --engine="$engine")
  [[ $config == *_durable ]] &&
    flags+=(--data_dir="$work/data-$config-$accounts-$rep")
  [[ $engine == postgres ]] &&
    flags+=(--postgres_dsn="$dsn" --postgres_connections=16)
  pids=()
  wait_backends_gone
  local ticks_before
  ticks_before=$(pg_cpu_ticks)
  for ((i = 0; i < replicas; i++)); do
    "$build_dir/service/server/bank_server" "${flags[@]}" \
      >"$work/server$i.log" 2>&1 &
    pids+=($!)
    targets+=("$(bank_wait_listening "$work/server$i.log" "${pids[$i]}" 60)")
  done
  local target open_ticks=0 account_flags=(--accounts="$accounts")
  target=$(IFS=,; echo "${targets[*]}")
  if [[ $engine == postgres ]]; then
    if ((accounts == 1)); then
      account_flags=(--use_existing=hot)
    else
      account_flags=(--use_existing="$many_ids")
    fi
    local calibration_start
    calibration_start=$(pg_cpu_ticks)
    "$build_dir/loadgen/bank_loadgen" --target="$target" \
      --concurrency=$concurrency --connections=2 "${account_flags[@]}" \
      --total=1 >"$work/calibration.log" 2>&1 ||
      { cat "$work/calibration.log"; exit 1; }
    open_ticks=$(($(pg_cpu_ticks) - calibration_start))
    ticks_before=$(pg_cpu_ticks)
  fi
  "$build_dir/loadgen/bank_loadgen" --target="$target" \
    --concurrency=$concurrency --connections=2 "${account_flags[@]}" \
    --duration="${duration_s}s" --warmup=1s --json="$work/run.json" \
    >"$work/loadgen.log" 2>&1 || { cat "$work/loadgen.log"; exit 1; }
  local ticks_after
  ticks_after=$(pg_cpu_ticks)
  for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" || true; done
  pids=()
  python3 - "$work/run.json" "$config" "$accounts" "$rep" \
    "$((ticks_after - ticks_before - open_ticks))" "$(getconf CLK_TCK)" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$work/results.tsv" <<'PY'
import json, sys
path, config, accounts, rep, ticks, hz, load = sys.argv[1:]
r = json.load(open(path))
count = r["summary"]["count"]
cpu_us = int(ticks) / int(hz) * 1e6 / max(count, 1)
print("\t".join([config, accounts, rep, f'{r["summary"]["rps"]:.0f}',
                 f'{r["latency_ms"]["p99"]:.2f}', f"{cpu_us:.1f}",
                 r["invariant"]["verdict"], load]))
PY
  tail -n 1 "$work/results.tsv"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
: >"$work/results.tsv"
for ((rep = 1; rep <= repetitions; rep++)); do
  for accounts in 1 10000; do
    for config in "${configs[@]}"; do
      run "$config" "$accounts" "$rep"
    done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work/results.tsv" "$out_md" "$started" "$load_start" \
  "$load_end" "$repetitions" "$duration_s" "$(git rev-parse --short HEAD)" \
  "$(nproc)" "${pg_options:-defaults}" <<'PY'
import statistics, sys
tsv, out, started, load_start, load_end, reps, duration, commit, cpus, pgopts = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(tsv)]
names = {"queue": "queue (in memory)", "mutex": "mutex (in memory)",
         "queue_durable": "queue (--data_dir)", "mutex_durable": "mutex (--data_dir)",
         "postgres1": "postgres, 1 replica", "postgres3": "postgres, 3 replicas"}
def fmt(values, digits):
    med = statistics.median(values)
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
lines = [
 "# Benchmarks: the postgres engine",
 "",
 "Generated by `bench/postgres.sh` (do not edit by hand: rerun it).",
 "",
 f"{started}, commit `{commit}`, {cpus} CPUs, PostgreSQL 15 (Debian) on the",
 f"same machine (settings: {pgopts}; by default fsync and synchronous_commit on),",
 "postgres engine with 16 pooled connections per replica,",
 f"bank_loadgen at concurrency 64 over 2 channels for {duration}s (after 1s",
 f"warmup), {reps} repetitions; median (min-max). Nothing pinned: PostgreSQL,",
 "the server(s) and the load generator share the cores.",
 f"Load average {load_start} at the start, {load_end} at the end (1, 5, 15",
 "min; the benchmark's own PostgreSQL, servers and load generator count in",
 "it); wall-clock figures move with the machine's load far more than CPU",
 "per operation does.",
 "",
 "| engine | accounts | RPS | p99 ms | PostgreSQL CPU us/RPC | invariant |",
 "|---|---|---|---|---|---|",
]
for accounts in ("1", "10000"):
    for config in ("queue", "mutex", "queue_durable", "mutex_durable",
                   "postgres1", "postgres3"):
        sel = [r for r in rows if r[0] == config and r[1] == accounts]
        if not sel: continue
        rps = [float(r[3]) for r in sel]; p99 = [float(r[4]) for r in sel]
        cpu = [float(r[5]) for r in sel]
        verdicts = ",".join(sorted(set(r[6] for r in sel)))
        db = fmt(cpu, 1) if config.startswith("postgres") else "-"
        acc = "1 (hot)" if accounts == "1" else "10,000"
        lines.append(f"| {names[config]} | {acc} | {fmt(rps, 0)} | {fmt(p99, 2)} | {db} | {verdicts} |")
lines += ["", "Raw rows (config, accounts, repetition, RPS, p99 ms, PostgreSQL CPU us/RPC, verdict, load average):", "", "```"]
lines += ["\t".join(r) for r in rows]
lines += ["```", ""]
open(out, "w").write("\n".join(lines))
PY
echo "wrote $out_md"
