#!/usr/bin/env bash
# crash-test.sh: kill -9 a durable bank_server under load, again and again,
# and prove that nothing acknowledged was lost.
#
#   scripts/crash-test.sh [CYCLES]        (default 100; CI runs 5)
#
# One data directory, one loopback port. Two bank_loadgen processes run the
# whole time with --ride_over_restarts: a hot mix (2 accounts, transfers
# between them) and a wide mix (1,000 accounts, transfers included). Each
# cycle lets the load run for a random 0.3-1.2 s, kills the server with
# SIGKILL, and restarts it on the same directory and port, alternating the
# mutex and queue engines (they share the store format). After the last
# cycle the load runs on, then each load generator reads every balance back
# and checks its ledger EXACTLY: every change carries a request id, and an
# RPC a kill cut is retried with the same id until the restarted server
# answers it (the remembered outcome was synced with the change, so a
# retry never applies twice). So no operation may end indeterminate, every
# balance must equal the one its acknowledged history gives, no more and no
# less, the total is conserved and no balance is negative. Per cycle it
# prints the recovery the server reported; at the end each load generator's
# report, with how many operations were retried.
#
# Environment: BANK_BUILD_DIR (default build/release), CRASH_SEED (default:
# random; printed, so a run replays its kill times), CRASH_CONCURRENCY (per
# load generator, default 16). Exit 0 when both verdicts pass.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh

cycles=${1:-100}
build=${BANK_BUILD_DIR:-build/release}
server_bin=$build/service/server/bank_server
loadgen_bin=$build/loadgen/bank_loadgen
concurrency=${CRASH_CONCURRENCY:-16}
seed=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
for bin in "$server_bin" "$loadgen_bin"; do
  [[ -x "$bin" ]] || { echo "crash-test: $bin not built" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bank-crash-XXXXXX")
data=$work/data
server_pid=""
loadgen_pids=()
cleanup() {
  [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
  for pid in "${loadgen_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_server ENGINE LISTEN CYCLE: starts bank_server; sets address.
start_server() {
  local log=$work/server-$3.log
  : >"$log"  # Exists before the background job opens it: no race with sed.
  "$server_bin" --data_dir="$data" --engine="$1" --listen="$2" \
    >"$log" 2>"$work/server-$3.err" &
  server_pid=$!
  if ! address=$(bank_wait_listening "$log" "$server_pid" 60); then
    echo "crash-test: the server did not come back in cycle $3:" >&2
    cat "$log" "$work/server-$3.err" >&2
    exit 1
  fi
}

# recovery_line CYCLE: the server's "recovered ..." line, shortened.
recovery_line() {
  sed -n 's/^bank_server: recovered \([0-9]*\) accounts and \([0-9]*\) request-id journal entries from [^:]*: last sequence number \([0-9]*\) (\([0-9]*\) records committed), \(.*\)$/\1 accounts, \2 request ids, \4 records, seq \3, recovery \5/p' \
    "$work/server-$1.err"
}

echo "crash-test: $cycles cycles, seed $seed, data $data"
address=""
start_server queue 127.0.0.1:0 0
echo "crash-test: cycle 0 (queue): $(recovery_line 0); serving on $address"

# The load runs until the script stops it (SIGUSR1) after the last cycle;
# the duration is only a bound (a restart on a loaded machine can take
# seconds).
duration=$((cycles * 15 + 60))
i=0
for mix in hot wide; do
  if [[ $mix == hot ]]; then accounts=2; else accounts=1000; fi
  "$loadgen_bin" --target="$address" --ride_over_restarts=true \
    --request_ids=true --retry_for=60s --indeterminate_max=0 \
    --duration="${duration}s" --concurrency="$concurrency" --connections=2 \
    --accounts=$accounts --mix=withdraw:35,deposit:35,transfer:20,balance:10 \
    --initial_balance=1000000 --account_prefix="crash-$mix-$seed-" \
    --seed=$((seed + i)) >"$work/loadgen-$mix.out" 2>&1 &
  loadgen_pids+=($!)
  i=$((i + 1))
  # Wait until its accounts exist: a kill during setup would fail the run.
  for _ in $(seq 600); do
    grep -qs "load running" "$work/loadgen-$mix.out" && break
    kill -0 "${loadgen_pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "load running" "$work/loadgen-$mix.out" || {
    echo "crash-test: the $mix load generator did not start:" >&2
    cat "$work/loadgen-$mix.out" >&2
    exit 1
  }
done

started=$SECONDS
for cycle in $(seq "$cycles"); do
  uptime_ms=$((300 + RANDOM % 900))
  sleep "$(printf '%d.%03d' $((uptime_ms / 1000)) $((uptime_ms % 1000)))"
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  if ((cycle % 2)); then engine=mutex; else engine=queue; fi
  start_server "$engine" "$address" "$cycle"
  echo "crash-test: cycle $cycle: killed after ${uptime_ms} ms; restarted" \
    "($engine): $(recovery_line "$cycle")"
  if ((SECONDS - started > duration - 3)); then
    echo "crash-test: the load's duration ran out before cycle $cycle" >&2
    exit 1
  fi
done
# A last stretch of load on the final server, then stop the load: each load
# generator reads every balance back and checks its ledger.
sleep 1
for pid in "${loadgen_pids[@]}"; do kill -USR1 "$pid"; done

status=0
for idx in 0 1; do
  mix=$([[ $idx == 0 ]] && echo hot || echo wide)
  verdict=PASS
  wait "${loadgen_pids[$idx]}" || verdict=FAIL
  # Exact: a pass that rests on indeterminate outcomes (ranges) is no pass.
  grep -q "^Invariant: PASS (.* 0 indeterminate)" "$work/loadgen-$mix.out" ||
    verdict=FAIL
  [[ $verdict == PASS ]] || status=1
  echo "crash-test: ---- $mix mix load generator: $verdict ----"
  cat "$work/loadgen-$mix.out"
done
loadgen_pids=()
if ((status == 0)); then
  echo "crash-test: PASS: $cycles kill -9 cycles, exact: no acknowledged operation lost, none applied twice"
else
  echo "crash-test: FAIL (seed $seed)"
fi
exit $status
