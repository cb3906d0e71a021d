#!/usr/bin/env bash
# demo.sh: the one command that runs the demo, from a fresh checkout.
#
# Installs what is missing, builds bank_server and bank_loadgen, then for
# each engine (unsafe, mutex, queue):
#   1. the article's scenario: an account holds 80; 马伊琍 withdraws 30 and
#      姚笛 withdraws 10 at the same moment, on a server that spends 0-100 ms
#      inside each operation (--apply_latency). unsafe loses an update (70 or
#      50 left); mutex and queue leave 40;
#   2. a short load run on one hot account with 0-1 ms spent inside each
#      operation (the race under load: unsafe loses money), then one hot
#      account and 1000 accounts with transfers at full speed, each ending
#      with the exact invariant check;
# and ends with a side-by-side table of the engines. Every server it starts
# is stopped when it ends, also on Ctrl-C.
#
# Usage: scripts/demo.sh [LOAD_SECONDS]   (default 3 seconds per load run)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh

load_seconds=${1:-3}
[[ "$load_seconds" =~ ^[0-9]+$ && "$load_seconds" -ge 1 && "$load_seconds" -le 600 ]] || {
  echo "usage: scripts/demo.sh [LOAD_SECONDS 1..600]" >&2
  exit 2
}
build=${BANK_BUILD_DIR:-build/release}   # where the binaries are built
server_bin=$build/service/server/bank_server
loadgen_bin=$build/loadgen/bank_loadgen
server_start_seconds_max=20

step() { printf '\n\033[1m==== %s ====\033[0m\n' "$*"; }

step "dependencies and build"
scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target bank_server bank_loadgen

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT TERM

# start_server ENGINE [FLAGS...]: starts bank_server on a free loopback port
# and sets $address once it printed where it listens.
start_server() {
  local engine=$1 out="$work/server-$1.out"
  shift
  : >"$out"  # exists before the server starts, so polling it cannot race
  "$server_bin" --listen=127.0.0.1:0 --engine="$engine" "$@" \
    >"$out" 2>"$work/server-$engine.err" &
  server_pid=$!
  if ! address=$(bank_wait_listening "$out" "$server_pid" \
                   "$server_start_seconds_max"); then
    echo "demo: bank_server --engine=$engine did not start:" >&2
    cat "$work/server-$engine.err" >&2
    exit 1
  fi
}

# load NAME FLAGS...: one bounded load run with its JSON report kept.
load() {
  local name=$1
  shift
  "$loadgen_bin" --target="$address" --duration="${load_seconds}s" \
    --concurrency=64 --json="$work/$name.json" "$@" || true
}

for engine in unsafe mutex queue; do
  step "engine=$engine: the article (80; withdraw 30 and 10 at once)"
  start_server "$engine" --apply_latency=0-100ms
  "$loadgen_bin" --target="$address" --scenario=article || true
  stop_server

  step "engine=$engine: ${load_seconds}s on one hot account, 0-1ms inside each operation"
  start_server "$engine" --apply_latency=0-1ms
  load "$engine-race" --accounts=1 --mix=withdraw:50,deposit:50
  stop_server

  step "engine=$engine: ${load_seconds}s of load on one hot account"
  start_server "$engine"
  load "$engine-hot" --accounts=1 --mix=withdraw:50,deposit:50
  step "engine=$engine: ${load_seconds}s of load on 1000 accounts with transfers"
  load "$engine-many" --accounts=1000 --mix=withdraw:45,deposit:45,transfer:10
  stop_server
done

step "durable: deposit, kill -9, restart on the same --data_dir, the balance is still there"
# read_balance ACCOUNT: one GetBalance through bank_loadgen (a one-read
# load on an existing account); echoes the balance its ledger read back.
read_balance() {
  "$loadgen_bin" --target="$address" --use_existing="$1" --total=1 \
    --mix=balance:1 --concurrency=1 |
    sed -n 's/^  total \([0-9-]*\),.*/\1/p'
}
start_server queue --data_dir="$work/data" --accounts=savings:80
sed -n 's/^/  /p' "$work/server-queue.err"
"$loadgen_bin" --target="$address" --use_existing=savings --total=200 \
  --mix=deposit:1 --amount=1 --concurrency=8 | grep -E '^(Invariant|  total)'
before=$(read_balance savings)
echo "  balance before the crash: $before (80 + 200 deposits of 1, each acknowledged)"
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "  kill -9 $address"
start_server queue --data_dir="$work/data" --accounts=savings:80
sed -n 's/^/  /p' "$work/server-queue.err"
after=$(read_balance savings)
echo "  balance after the restart: $after"
if [[ "$before" == "$after" ]]; then
  echo "  durable: PASS (nothing acknowledged was lost)"
else
  echo "  durable: FAIL ($before before, $after after)" >&2
fi
stop_server

step "engines side by side (concurrency 64, ${load_seconds}s each)"
python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
print(f"{'engine':8} {'workload':26} {'RPS':>10} {'p50 ms':>8} {'p99 ms':>8}  verdict")
for engine in ("unsafe", "mutex", "queue"):
    for name, label in (("race", "1 hot account, 0-1ms lat."),
                        ("hot", "1 hot account"),
                        ("many", "1000 accounts + transfers")):
        path = os.path.join(work, f"{engine}-{name}.json")
        if not os.path.exists(path):
            print(f"{engine:8} {label:26} {'(no report)':>10}")
            continue
        with open(path) as f:
            r = json.load(f)
        lat = r["latency_ms"]
        print(f"{engine:8} {label:26} {r['summary']['rps']:>10.0f} "
              f"{lat['p50']:>8.2f} {lat['p99']:>8.2f}  {r['invariant']['verdict']}")
PY
