#!/usr/bin/env bash
# metrics_overhead.sh: what --metrics_listen costs in throughput. Two
# bank_servers (queue engine) run side by side, one with --metrics_listen and
# one without; bank_loadgen drives them in turn, alternating which goes
# first (A B, B A, A B, ...), so that both see the same machine load and
# neither always runs right after the other, and each run with metrics ends
# with one
# scrape of /metrics (which must count the run's RPCs). Prints each run's RPS
# and, per server, the median and min-max, plus the load average before and
# after. The server runs on CPU 0 and the load generator on CPU 1 when the
# machine has two CPUs (taskset).
#
# Usage: bench/metrics_overhead.sh [REPETITIONS] [SECONDS]   (default 7, 5)
# Environment: BANK_BENCH_BUILD_DIR (default build/release), with
# bank_server and bank_loadgen built; BANK_BENCH_ACCOUNTS (default 10000),
# BANK_BENCH_CONCURRENCY (default 64); BANK_BENCH_TSV: also write each run
# as a line "repetition, server (plain|metrics), rps, load" to this file
# (bench/e2e.sh does, for docs/BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh

repetitions=${1:-7}
seconds=${2:-5}
build_dir=${BANK_BENCH_BUILD_DIR:-build/release}
accounts=${BANK_BENCH_ACCOUNTS:-10000}
concurrency=${BANK_BENCH_CONCURRENCY:-64}
tsv=${BANK_BENCH_TSV:-}
server=$build_dir/service/server/bank_server
loadgen=$build_dir/loadgen/bank_loadgen
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

server_cpu=()
client_cpu=()
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
fi

# start NAME FLAGS...: a bank_server on 127.0.0.1:0; sets address_NAME.
start() {
  local name=$1
  shift
  "${server_cpu[@]}" "$server" --listen=127.0.0.1:0 --engine=queue "$@" \
    >"$work/$name.log" 2>&1 &
  pids+=("$!")
  local address
  address=$(bank_wait_listening "$work/$name.log" "$!" 15)
  printf -v "address_$name" '%s' "$address"
}
start plain
start metrics --metrics_listen=127.0.0.1:0
metrics_address=$(sed -n 's/.* metrics=\([^ ]*\).*/\1/p' "$work/metrics.log")

# run NAME REPETITION: one bank_loadgen run against server NAME; prints its
# RPS (and appends it to the TSV file, if any).
run() {
  local name=$1 target_var="address_$1" rps
  "${client_cpu[@]}" "$loadgen" --target="${!target_var}" \
    --accounts="$accounts" --concurrency="$concurrency" --connections=4 \
    --duration="${seconds}s" --warmup=1s --json="$work/$name.json" \
    >/dev/null 2>&1
  rps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["summary"]["rps"]))' \
    "$work/$name.json")
  if [[ -n $tsv ]]; then
    printf '%s\t%s\t%s\t%s\n' "$2" "$name" "$rps" \
      "$(cut -d' ' -f1 /proc/loadavg)" >>"$tsv"
  fi
  echo "$rps"
}

if [[ -n $tsv ]]; then printf 'repetition\tserver\trps\tload\n' >"$tsv"; fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
plain_rps=()
metrics_rps=()
for ((i = 1; i <= repetitions; i++)); do
  if ((i % 2 == 1)); then
    plain_rps+=("$(run plain "$i")")
    metrics_rps+=("$(run metrics "$i")")
  else
    metrics_rps+=("$(run metrics "$i")")
    plain_rps+=("$(run plain "$i")")
  fi
  scraped=$(python3 - "$metrics_address" <<'EOF'
import sys, urllib.request
page = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=10).read().decode()
print(int(sum(float(line.split()[-1]) for line in page.splitlines()
          if line.startswith("bank_rpcs_total{"))))
EOF
)
  echo "run $i: without ${plain_rps[-1]} RPS, with ${metrics_rps[-1]} RPS" \
       "(metrics count $scraped RPCs so far)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${plain_rps[*]}" "${metrics_rps[*]}" <<'EOF'
import statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
metrics = [float(x) for x in sys.argv[2].split()]
for name, values in (("without --metrics_listen", plain),
                     ("with --metrics_listen", metrics)):
    print(f"{name}: median {statistics.median(values):,.0f} RPS, "
          f"min {min(values):,.0f}, max {max(values):,.0f} "
          f"({len(values)} runs)")
print(f"ratio of medians (with / without): "
      f"{statistics.median(metrics) / statistics.median(plain):.3f}")
EOF
