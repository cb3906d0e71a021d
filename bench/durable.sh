#!/usr/bin/env bash
# durable.sh: durable (--data_dir) versus in-memory, side by side, for the
# mutex and queue engines (issue 8's table in docs/BENCHMARKS.md).
#
#   bench/durable.sh [REPS] [SECONDS]     (defaults 3 and 3)
#
# For each engine, mode (memory, durable), workload (one hot account:
# withdraw/deposit; 10,000 accounts: withdraw/deposit/transfer) and
# concurrency (64, 256): a fresh bank_server on 127.0.0.1:0 (durable: on a
# fresh data directory under $TMPDIR), REPS bank_loadgen runs of SECONDS
# each (every run opens its own accounts first), then SIGTERM. RPS and p99
# come from each run's JSON report; syncs and operations per sync from the
# counters the server prints at shutdown (they include the runs' account
# opens). With 2+ CPUs the server runs on CPU 0 and the load generator on
# CPU 1. Prints a Markdown table, median and min-max over the runs, and the
# load average before and after. Environment: BANK_BUILD_DIR (build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh
source scripts/lib/bench.sh

reps=${1:-3}
seconds=${2:-3}
bench_setup durable-bench

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for engine in mutex queue; do
  for mode in memory durable; do
    for workload in hot wide; do
      for concurrency in 64 256; do
        name=$engine-$mode-$workload-$concurrency
        flags=(--listen=127.0.0.1:0 --engine="$engine" --open_account_rps_per_peer=0)
        [[ $mode == durable ]] && flags+=(--data_dir="$work/data-$name")
        : >"$work/$name.out"
        "${pin_server[@]}" "$server_bin" "${flags[@]}" \
          >"$work/$name.out" 2>"$work/$name.err" &
        server_pid=$!
        address=$(bank_wait_listening "$work/$name.out" "$server_pid" 60)
        if [[ $workload == hot ]]; then
          load=(--accounts=1 --mix=withdraw:50,deposit:50)
        else
          load=(--accounts=10000 --mix=withdraw:45,deposit:45,transfer:10)
        fi
        for rep in $(seq "$reps"); do
          "${pin_client[@]}" "$loadgen_bin" --target="$address" \
            --duration="${seconds}s" --concurrency="$concurrency" \
            --connections=4 "${load[@]}" --json="$work/$name-$rep.json" \
            >/dev/null || echo "bench: $name run $rep failed" >&2
        done
        kill -TERM "$server_pid"
        wait "$server_pid" || true
        server_pid=""
        echo "bench: $name done" >&2
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work" "$reps" "$seconds" <<'PY'
import json, os, re, statistics, sys
work, reps, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def span(values, fmt):
    if not values:
        return "n/a"
    return (fmt.format(statistics.median(values)) + " (" +
            fmt.format(min(values)) + "-" + fmt.format(max(values)) + ")")
print("| engine | workload | conc. | in-memory RPS | durable RPS | durable/in-memory | in-memory p99 ms | durable p99 ms | syncs/s | ops/sync |")
print("|---|---|---|---|---|---|---|---|---|---|")
for engine in ("mutex", "queue"):
    for workload, label in (("hot", "1 hot account"), ("wide", "10,000 accounts")):
        for concurrency in (64, 256):
            row = {}
            for mode in ("memory", "durable"):
                name = f"{engine}-{mode}-{workload}-{concurrency}"
                rps, p99 = [], []
                for rep in range(1, reps + 1):
                    path = os.path.join(work, f"{name}-{rep}.json")
                    if os.path.exists(path):
                        r = json.load(open(path))
                        rps.append(r["summary"]["rps"])
                        p99.append(r["latency_ms"]["p99"])
                row[mode] = (rps, p99)
                if mode == "durable":
                    err = open(os.path.join(work, f"{name}.err")).read()
                    m = re.search(r"storage: (\d+) syncs, (\d+) operations \(([\d.]+) per sync\)", err)
                    row["syncs"] = (int(m.group(1)), float(m.group(3))) if m else (0, 0.0)
            mem_rps, mem_p99 = row["memory"]
            dur_rps, dur_p99 = row["durable"]
            ratio = (statistics.median(dur_rps) / statistics.median(mem_rps)
                     if mem_rps and dur_rps else float("nan"))
            syncs, per_sync = row["syncs"]
            syncs_per_s = syncs / (reps * seconds)
            print(f"| {engine} | {label} | {concurrency} | {span(mem_rps, '{:.0f}')} | "
                  f"{span(dur_rps, '{:.0f}')} | {ratio:.2f}x | {span(mem_p99, '{:.2f}')} | "
                  f"{span(dur_p99, '{:.2f}')} | {syncs_per_s:.0f} | {per_sync:.1f} |")
PY
