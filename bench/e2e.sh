#!/usr/bin/env bash
# e2e.sh: the one command that regenerates docs/BENCHMARKS.md and its plots
# (docs/bench/*.png) from scratch (issue 5). About 12-15 minutes on a 2-core
# machine, most of it measuring:
#
#   1. installs what is missing (scripts/install-deps.sh --bench) and builds
#      the Release targets it needs (bank_server, bank_loadgen, engine_bench,
#      bank_floor_server, bench_open_accounts, bench_closed_loop);
#   2. engine_bench: the engines in-process, 1-16 producer threads;
#   3. the sweep: for the floor server and each engine, a fresh server on
#      127.0.0.1:0 driven by bank_loadgen at each concurrency, on one hot
#      account and on 10,000 accounts, recording the loadgen's JSON report
#      and the server's CPU time (utime+stime from /proc/<pid>/stat);
#   4. bank_loadgen versus the plain closed-loop client on the floor server;
#      then what --metrics_listen costs: bench/metrics_overhead.sh (two
#      queue servers, with and without metrics, driven in turn) and
#      metrics_bench (the per-RPC counting in-process);
#   5. memory: bank_server's RSS empty and with 1,000,000 open accounts, per
#      engine;
#   6. bench/report.py writes docs/BENCHMARKS.md and the plots.
#
# With 2+ CPUs the server runs on CPU 0 and every client on CPU 1 (taskset),
# so client and server do not steal each other's core. Everything listens on
# and talks to 127.0.0.1 only; every process started here is stopped on exit,
# also on Ctrl-C. Raw results stay in the results directory.
#
# Usage: bench/e2e.sh [--quick]     (--quick: short runs, to try the script)
# Environment: BANK_BENCH_BUILD_DIR (default build/bench),
#              BANK_BENCH_RESULTS_DIR (default <build dir>/bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."
readonly root=$PWD
source "$root/scripts/lib/server.sh"

quick=false
case "${1:-}" in
  "") ;;
  --quick) quick=true ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bench/e2e.sh [--quick]" >&2; exit 2 ;;
esac
readonly build_dir=${BANK_BENCH_BUILD_DIR:-$root/build/bench}
readonly results_dir=${BANK_BENCH_RESULTS_DIR:-$build_dir/bench-results}

# The sweep's shape. Durations are per loadgen run, after its warmup.
concurrencies=(1 16 64 256)
account_counts=(1 10000)
servers=(floor mutex queue unsafe)
engines=(mutex queue unsafe)
load_duration_s=4
warmup_s=1
compare_duration_s=5
metrics_repetitions=7
memory_accounts=1000000
engine_bench_min_time_s=0.2
if $quick; then
  load_duration_s=1
  warmup_s=0.2
  compare_duration_s=1
  metrics_repetitions=2
  memory_accounts=20000
  engine_bench_min_time_s=0.02
fi
readonly server_start_timeout_s=15
readonly server_stop_timeout_s=10
readonly run_timeout_s=600  # A safety bound on any one step.

step() { printf '\n==== %s ====\n' "$*" >&2; }
die() { echo "e2e.sh: $*" >&2; exit 1; }

# --- processes: every one started is remembered and stopped on exit -------
started_pids=()
stop_process() {  # stop_process PID: SIGTERM, bounded wait, then SIGKILL.
  local pid=$1 waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((waited < server_stop_timeout_s * 10)); do
    sleep 0.1
    ((waited += 1))
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
forget_pid() {  # forget_pid PID: it has exited; no need to stop it.
  local kept=() pid
  for pid in "${started_pids[@]}"; do
    [[ $pid == "$1" ]] || kept+=("$pid")
  done
  started_pids=("${kept[@]}")
}
cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do stop_process "$pid"; done
  started_pids=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# Pinning: server on CPU 0, clients on CPU 1, when there are two CPUs.
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
  pinned=true
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
else
  pinned=false
  server_cpu=()
  client_cpu=()
fi

# start_server NAME LOG ARGS...: starts bank_server (engine NAME) or the
# floor server (NAME=floor) on 127.0.0.1:0 and waits for its listening line.
# Sets server_pid and server_address.
start_server() {
  local name=$1 log=$2
  shift 2
  local binary=$build_dir/service/server/bank_server
  # The benchmark opens up to 1,000,000 accounts from one address, as fast
  # as it can: lift the per-address OpenAccount limit (docs/SERVER.md).
  local args=(--listen=127.0.0.1:0 "--engine=$name"
              --open_account_rps_per_peer=0 "$@")
  if [[ $name == floor ]]; then
    binary=$build_dir/bench/bank_floor_server
    args=(--listen=127.0.0.1:0)
  fi
  : >"$log"  # Exists before the first grep below, whoever runs first.
  "${server_cpu[@]}" "$binary" "${args[@]}" >"$log" 2>"$log.stderr" &
  server_pid=$!
  started_pids+=("$server_pid")
  server_address=$(bank_wait_listening "$log" "$server_pid" \
                     "$server_start_timeout_s") ||
    die "$name server did not start: $(cat "$log.stderr")"
}

stop_server() {
  stop_process "$server_pid"
  forget_pid "$server_pid"
}

# cpu_ticks PID: the process's utime+stime in clock ticks (fields 14 and 15
# of /proc/PID/stat, counted after the ")" that ends the command name).
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}

# rss_kib PID: resident set size in KiB (VmRSS of /proc/PID/status).
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# run_bounded ARGS...: runs a command in the background, bounded in time,
# and waits for it (a background job, so Ctrl-C's trap runs at once).
# Answers the command's exit status.
run_bounded() {
  timeout --signal=INT "$run_timeout_s" "$@" &
  local pid=$! status=0
  started_pids+=("$pid")
  wait "$pid" || status=$?
  forget_pid "$pid"
  return "$status"
}

# run_client ARGS...: run_bounded on the client CPU.
run_client() {
  run_bounded "${client_cpu[@]}" "$@"
}

record_machine() {
  {
    printf 'cpu_model\t%s\n' "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    printf 'cpus\t%s\n' "$(nproc)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'compiler\t%s\n' "$(c++ --version | head -1)"
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'commit\t%s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'pinned\t%s\n' "$pinned"
    printf 'load_duration_s\t%s\n' "$load_duration_s"
    printf 'warmup_s\t%s\n' "$warmup_s"
    printf 'clk_tck\t%s\n' "$(getconf CLK_TCK)"
    printf 'quick\t%s\n' "$quick"
    printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$results_dir/machine.tsv"
}

run_engine_bench() {
  step "engine_bench (in-process)"
  local repetitions=3
  $quick && repetitions=1
  run_bounded "$build_dir/bench/engine_bench" \
    --benchmark_min_time="$engine_bench_min_time_s" \
    --benchmark_repetitions="$repetitions" \
    --benchmark_report_aggregates_only=true \
    --benchmark_out="$results_dir/engine_bench.json" \
    --benchmark_out_format=json >"$results_dir/engine_bench.txt"
  # The same on 1 and 2 producers with Abseil's deadlock detection on, as
  # Debian's Abseil has it by default (see engine_bench.cc).
  run_bounded "$build_dir/bench/engine_bench" --absl_deadlock_detection \
    --benchmark_filter='mix:deposit_withdraw/.*threads:(1|2)$' \
    --benchmark_min_time="$engine_bench_min_time_s" \
    --benchmark_repetitions="$repetitions" \
    --benchmark_report_aggregates_only=true \
    --benchmark_out="$results_dir/engine_bench_detection.json" \
    --benchmark_out_format=json >"$results_dir/engine_bench_detection.txt"
}

# connections_for C: TCP connections for concurrency C (at most 4).
connections_for() { echo $(($1 < 4 ? $1 : 4)); }

# sweep_one TABLE PREFIX SERVER ACCOUNTS C: one loadgen run against the
# running server; its JSON goes to runs/PREFIXSERVER-ACCOUNTS-C.json and a
# line with the server's CPU ticks to TABLE.
sweep_one() {
  local table=$1 prefix=$2 server=$3 accounts=$4 concurrency=$5
  local name=$prefix$server-$accounts-$concurrency status=0
  local ticks_before ticks_after
  ticks_before=$(cpu_ticks "$server_pid")
  run_client "$build_dir/loadgen/bank_loadgen" --target="$server_address" \
    --concurrency="$concurrency" \
    --connections="$(connections_for "$concurrency")" \
    --accounts="$accounts" --duration="${load_duration_s}s" \
    --warmup="${warmup_s}s" --seed=1 \
    --json="$results_dir/runs/$name.json" \
    >"$results_dir/runs/$name.txt" 2>&1 || status=$?
  ticks_after=$(cpu_ticks "$server_pid")
  printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$accounts" "$concurrency" \
    "$((ticks_after - ticks_before))" "$status" >>"$table"
  echo "  $name: loadgen exit $status," \
       "server cpu $((ticks_after - ticks_before)) ticks" >&2
}

# sweep TABLE PREFIX SERVERS CONCURRENCIES: every server under every
# concurrency. All servers of one account set run at once (an idle one costs
# nothing) and each concurrency visits them in turn, so that they are
# measured side by side, minutes apart at most, on a shared machine.
sweep() {
  local table=$1 prefix=$2 servers_list=$3 concurrency_list=$4
  local server accounts concurrency
  local -A pids=() addresses=()
  printf 'server\taccounts\tconcurrency\tserver_cpu_ticks\tloadgen_exit\n' \
    >"$table"
  for accounts in "${account_counts[@]}"; do
    for server in $servers_list; do
      start_server "$server" \
        "$results_dir/runs/${prefix}server-$server-$accounts.log"
      pids[$server]=$server_pid
      addresses[$server]=$server_address
    done
    for concurrency in $concurrency_list; do
      for server in $servers_list; do
        server_pid=${pids[$server]}
        server_address=${addresses[$server]}
        sweep_one "$table" "$prefix" "$server" "$accounts" "$concurrency"
      done
    done
    for server in $servers_list; do
      server_pid=${pids[$server]}
      stop_server
    done
  done
}

run_sweep() {
  step "end-to-end sweep (${load_duration_s}s per run)"
  sweep "$results_dir/runs.tsv" "" "${servers[*]}" "${concurrencies[*]}"
}

# run_client_comparison: bank_loadgen versus the plain closed-loop client,
# both against the floor server, at the same concurrency and connections.
run_client_comparison() {
  step "bank_loadgen versus a plain closed-loop client (floor server)"
  printf 'client\tconcurrency\tserver_cpu_ticks\tfile\n' \
    >"$results_dir/clients.tsv"
  start_server floor "$results_dir/runs/server-floor-clients.log"
  local concurrency before after file
  for concurrency in 64 256; do
    file=$results_dir/runs/client-loadgen-$concurrency.json
    before=$(cpu_ticks "$server_pid")
    run_client "$build_dir/loadgen/bank_loadgen" --target="$server_address" \
      --concurrency="$concurrency" \
      --connections="$(connections_for "$concurrency")" --accounts=1 \
      --mix=deposit:1 --duration="${compare_duration_s}s" \
      --warmup="${warmup_s}s" --json="$file" >/dev/null 2>&1 || true
    after=$(cpu_ticks "$server_pid")
    printf 'loadgen\t%s\t%s\t%s\n' "$concurrency" "$((after - before))" \
      "$file" >>"$results_dir/clients.tsv"
    file=$results_dir/runs/client-closed-loop-$concurrency.json
    before=$(cpu_ticks "$server_pid")
    run_client "$build_dir/bench/bench_closed_loop" --target="$server_address" \
      --concurrency="$concurrency" \
      --connections="$(connections_for "$concurrency")" \
      --duration="${compare_duration_s}s" >"$file"
    after=$(cpu_ticks "$server_pid")
    printf 'closed_loop\t%s\t%s\t%s\n' "$concurrency" \
      "$((after - before))" "$file" >>"$results_dir/clients.tsv"
  done
  stop_server
}

# run_metrics_overhead: --metrics_listen on and off, end to end and in
# process.
run_metrics_overhead() {
  step "metrics: bank_server with and without --metrics_listen"
  BANK_BENCH_BUILD_DIR=$build_dir \
    BANK_BENCH_TSV=$results_dir/metrics_overhead.tsv \
    run_bounded bench/metrics_overhead.sh "$metrics_repetitions" \
    "$load_duration_s" >&2
  run_client "$build_dir/bench/metrics_bench" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true \
    --benchmark_out="$results_dir/metrics_bench.json" \
    --benchmark_out_format=json >"$results_dir/metrics_bench.txt"
}

# memory_one ENGINE DETECTION: RSS of a fresh bank_server, empty and with
# memory_accounts open accounts; appends a line to memory.tsv.
memory_one() {
  local engine=$1 detection=$2 empty full started
  start_server "$engine" \
    "$results_dir/runs/server-$engine-memory-$detection.log"
  empty=$(rss_kib "$server_pid")
  started=$SECONDS
  run_client "$build_dir/bench/bench_open_accounts" \
    --target="$server_address" --count="$memory_accounts" \
    --in_flight=256 --connections=2 >&2
  full=$(rss_kib "$server_pid")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$detection" \
    "$memory_accounts" "$empty" "$full" "$((SECONDS - started))" \
    >>"$results_dir/memory.tsv"
  echo "  $engine (deadlock detection $detection): RSS $empty KiB empty," \
       "$full KiB full" >&2
  stop_server
}

# run_memory: every engine as shipped (bank_server turns Abseil's deadlock
# detection off itself).
run_memory() {
  step "memory: RSS with $memory_accounts open accounts"
  printf 'engine\tdetection\taccounts\trss_empty_kib\trss_full_kib\topen_seconds\n' \
    >"$results_dir/memory.tsv"
  # Unpinned: RSS does not depend on where threads run, and opening a
  # million accounts goes about 1.5 times faster when both processes may use
  # both CPUs.
  local engine saved_server_cpu=("${server_cpu[@]}")
  local saved_client_cpu=("${client_cpu[@]}")
  server_cpu=()
  client_cpu=()
  for engine in "${engines[@]}"; do memory_one "$engine" on; done
  server_cpu=("${saved_server_cpu[@]}")
  client_cpu=("${saved_client_cpu[@]}")
}

main() {
  step "dependencies and build ($build_dir)"
  scripts/install-deps.sh --bench
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j "$(nproc)" --target bank_server bank_loadgen \
    engine_bench bank_floor_server bench_open_accounts bench_closed_loop \
    metrics_bench
  rm -rf "$results_dir"
  mkdir -p "$results_dir/runs"
  local started_s=$SECONDS
  record_machine
  run_engine_bench
  run_sweep
  run_client_comparison
  run_metrics_overhead
  run_memory
  printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" \
    >>"$results_dir/machine.tsv"
  step "report"
  python3 bench/report.py --results="$results_dir" --docs="$root/docs" \
    --minutes="$(((SECONDS - started_s + 59) / 60))" \
    --command="bench/e2e.sh${1:+ $1}"
  echo "e2e.sh: wrote docs/BENCHMARKS.md and docs/bench/*.png" \
       "in $(((SECONDS - started_s) / 60)) min" >&2
}

main "$@"
