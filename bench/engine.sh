#!/usr/bin/env bash
# engine.sh: the in-process engines (engine_bench), deposit/withdraw mix, on
# one hot account and on 10,000, 1 to 16 producers; RUNS separate runs of
# engine_bench (each runs every benchmark 5 times), so that the table shows
# how far a rerun lands, not only one run's spread (issue 10).
#
#   bench/engine.sh [RUNS]     (default 3)
#
# Prints a Markdown table: per engine, account set and producer count, the
# median over the runs of each run's median (M ops/s), the lowest and
# highest run median, and queue/mutex; then the load average before and
# after. Not pinned: producers and the queue's consumer go where the
# scheduler puts them (docs/BENCHMARKS.md says how far reruns landed, and
# why engine_bench's producers poll instead of sleeping). Environment:
# BANK_BUILD_DIR (build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh

runs=${1:-3}
bench_setup engine-bench
filter='engine:(mutex|queue)/.*/mix:deposit_withdraw/'
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for ((run = 1; run <= runs; run++)); do
  "$build/bench/engine_bench" --benchmark_filter="$filter" \
    --benchmark_min_time=0.1 --benchmark_format=json \
    --benchmark_out="$work/run-$run.json" --benchmark_out_format=json \
    >/dev/null
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work"/run-*.json <<'PY'
import json, statistics, sys

medians = {}  # (engine, accounts, threads) -> [median of each run]
for path in sys.argv[1:]:
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        parts = dict(p.split(":", 1) for p in b["run_name"].split("/")
                     if ":" in p)
        key = (parts["engine"], parts["accounts"], int(parts["threads"]))
        medians.setdefault(key, []).append(b["items_per_second"] / 1e6)

def cell(values):
    return (f"{statistics.median(values):.2f} "
            f"({min(values):.2f}-{max(values):.2f})")

print("| accounts | producers | mutex M ops/s | queue M ops/s | queue / mutex |")
print("|---|---:|---:|---:|---:|")
for accounts in ("hot", "10000"):
    for threads in (1, 2, 4, 8, 16):
        mutex = medians[("mutex", accounts, threads)]
        queue = medians[("queue", accounts, threads)]
        ratio = statistics.median(queue) / statistics.median(mutex)
        print(f"| {accounts} | {threads} | {cell(mutex)} | {cell(queue)} | "
              f"{ratio:.2f} |")
PY
