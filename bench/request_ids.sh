#!/usr/bin/env bash
# request_ids.sh: the cost of request ids end to end, in memory and durable
# (docs/BENCHMARKS.md, "The cost of request ids").
#
#   bench/request_ids.sh [REPS] [SECONDS]     (defaults 3 and 3)
#
# For each engine (mutex, queue) and mode (memory; durable: --data_dir on a
# fresh directory under $TMPDIR, so every remembered outcome is journaled
# in the change's synced write), one fresh bank_server on 127.0.0.1:0, then
# REPS rounds of two bank_loadgen runs of SECONDS each, alternating
# --request_ids=true and false (10,000 accounts, withdraw/deposit/transfer,
# concurrency 64, 4 connections), so that drift in the machine's load hits
# both alike. With 2+ CPUs the server runs on CPU 0 and the load generator on
# CPU 1. Prints a Markdown table, median and min-max RPS per cell, the ratio
# of the medians, and the load average before and after. Environment:
# BANK_BUILD_DIR (default build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh
source scripts/lib/bench.sh

reps=${1:-3}
seconds=${2:-3}
bench_setup request-ids-bench

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for engine in mutex queue; do
  for mode in memory durable; do
    name=$engine-$mode
    flags=(--listen=127.0.0.1:0 --engine="$engine" --open_account_rps_per_peer=0)
    [[ $mode == durable ]] && flags+=(--data_dir="$work/data-$name")
    : >"$work/$name.out"
    "${pin_server[@]}" "$server_bin" "${flags[@]}" \
      >"$work/$name.out" 2>"$work/$name.err" &
    server_pid=$!
    address=$(bank_wait_listening "$work/$name.out" "$server_pid" 60)
    for rep in $(seq "$reps"); do
      for ids in true false; do
        "${pin_client[@]}" "$loadgen_bin" --target="$address" \
          --duration="${seconds}s" --concurrency=64 --connections=4 \
          --accounts=10000 --mix=withdraw:45,deposit:45,transfer:10 \
          --account_prefix="r$rep-$ids-" --request_ids=$ids \
          --json="$work/$name-$ids-$rep.json" >/dev/null ||
          echo "bench: $name ids=$ids run $rep failed" >&2
      done
    done
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
    echo "bench: $name done" >&2
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work" "$reps" <<'PY'
import json, os, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
def runs(name, ids):
    out = []
    for rep in range(1, reps + 1):
        path = os.path.join(work, f"{name}-{ids}-{rep}.json")
        if os.path.exists(path):
            out.append(json.load(open(path))["summary"]["rps"])
    return out
def span(values):
    if not values:
        return "n/a"
    return (f"{statistics.median(values):.0f} "
            f"({min(values):.0f}-{max(values):.0f})")
print("| engine | mode | RPS with request ids | RPS without | with/without |")
print("|---|---|---|---|---|")
for engine in ("mutex", "queue"):
    for mode in ("memory", "durable"):
        name = f"{engine}-{mode}"
        on, off = runs(name, "true"), runs(name, "false")
        ratio = (statistics.median(on) / statistics.median(off)
                 if on and off else float("nan"))
        print(f"| {engine} | {mode} | {span(on)} | {span(off)} | {ratio:.2f}x |")
PY
