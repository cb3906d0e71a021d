#!/usr/bin/env bash
# batch_e2e.sh: end-to-end operations per second against ApplyBatch size
# (issue 10), for the safe engines, in memory.
#
# For each engine and batch size: a fresh bank_server pinned to CPU 0
# (taskset), bank_loadgen pinned to CPU 1, 10,000 accounts, the default
# withdraw:45,deposit:45,transfer:10 mix, REPS runs of DURATION after a 1 s
# warmup. Per run it records the loadgen's ops/s and RPCs/s (its JSON) and
# the server's CPU time per operation (utime + stime from /proc/PID/stat
# over the run, setup excluded). Output: RESULTS/batch_e2e.tsv, one row per
# run, and the load average before and after.
#
# Environment (all optional): ENGINES (default "mutex queue"), BATCHES
# (default "1 10 100 1000 8190"), DURABLE=1 (each server gets a fresh
# --data_dir under RESULTS_DIR), REQUEST_IDS=true|false (the loadgen's
# --request_ids, default true: every batched change carries an id).
#
# Usage: bench/batch_e2e.sh BUILD_DIR RESULTS_DIR [REPS] [DURATION]
set -euo pipefail
build=${1:?build dir}; results=${2:?results dir}
reps=${3:-3}; duration=${4:-3s}
engines=${ENGINES:-mutex queue}
batches=${BATCHES:-1 10 100 1000 8190}
durable=${DURABLE:-0}
request_ids=${REQUEST_IDS:-true}
mkdir -p "$results"
server_bin=$build/service/server/bank_server
loadgen_bin=$build/loadgen/bank_loadgen
clk_tck=$(getconf CLK_TCK)
out=$results/batch_e2e.tsv
echo -e "engine\tbatch\trep\tconcurrency\tops_per_s\trpcs_per_s\tserver_cpu_us_per_op\tinvariant\tload1\tdurable\trequest_ids" >"$out"
echo "load_start $(cut -d' ' -f1-3 /proc/loadavg)" >"$results/batch_e2e.load"

existing=$(seq -f "acct-%g" 0 9999 | paste -sd,)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# concurrency_for B: RPCs in flight, enough to keep the server busy
# without queueing far more operations than it can apply.
concurrency_for() {
  if (($1 <= 10)); then echo 64; elif (($1 <= 100)); then echo 16; else echo 4; fi
}

for engine in $engines; do
  for batch in $batches; do
    for rep in $(seq 1 "$reps"); do
      # A fresh file each time, so the wait below never reads the last
      # server's address.
      rm -f "$results/server.out"
      data_flags=()
      if [[ $durable == 1 ]]; then
        rm -rf "$results/data"
        data_flags=(--data_dir="$results/data")
      fi
      taskset -c 0 "$server_bin" --listen=127.0.0.1:0 --engine="$engine" \
        "${data_flags[@]}" >"$results/server.out" 2>&1 &
      server=$!
      for _ in $(seq 1 100); do
        grep -qs "listening on" "$results/server.out" && break
        sleep 0.1
      done
      address=$(sed -n 's/^bank_server listening on \([^ ]*\) .*/\1/p' "$results/server.out")
      concurrency=$(concurrency_for "$batch")
      json=$results/batch_${engine}_${batch}_${rep}.json
      # Open the accounts first (a run of its own, outside the CPU window).
      taskset -c 1 "$loadgen_bin" --target="$address" --accounts=10000 \
        --account_prefix=acct --total=1 --initial_balance=1000000000 \
        >/dev/null || { kill "$server"; wait "$server" || true; continue; }
      before=$(cpu_ticks "$server")
      taskset -c 1 "$loadgen_bin" --target="$address" \
        --use_existing="$existing" --batch="$batch" --concurrency="$concurrency" \
        --connections=2 --warmup=1s --duration="$duration" \
        --request_ids="$request_ids" \
        --json="$json" >"$results/loadgen.out" 2>&1 || true
      after=$(cpu_ticks "$server")
      kill "$server"; wait "$server" || true
      python3 - "$json" "$engine" "$batch" "$rep" "$concurrency" \
        "$((after - before))" "$clk_tck" "$durable" "$request_ids" >>"$out" <<'PY'
import json, sys
path, engine, batch, rep, conc, ticks, clk, durable, ids = sys.argv[1:]
r = json.load(open(path))
s = r["summary"]
ops_total = s["count"] + s["warmup_count"]
cpu_us = int(ticks) * 1e6 / int(clk) / max(ops_total, 1)
load1 = open("/proc/loadavg").read().split()[0]
print(f"{engine}\t{batch}\t{rep}\t{conc}\t{s['rps']:.0f}\t{s['rpcs_per_s']:.1f}"
      f"\t{cpu_us:.3f}\t{r['invariant']['verdict']}\t{load1}\t{durable}\t{ids}")
PY
      tail -1 "$out"
    done
  done
done
echo "load_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/batch_e2e.load"
