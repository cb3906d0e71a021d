# Sourced by the benchmark scripts: bench/engine.sh (engine_bench runs), and
# bench/durable.sh and bench/request_ids.sh (one bank_server at a time
# against bank_loadgen).

# bench_setup NAME: sets build (BANK_BUILD_DIR, default build/release),
# server_bin and loadgen_bin; a scratch directory `work` that is removed at
# exit, after killing the server whose pid is in server_pid, if any; and
# pin_server / pin_client, the taskset prefixes that put the server on CPU
# 0 and the load generator on CPU 1 (empty with fewer than 2 CPUs).
bench_setup() {
  build=${BANK_BUILD_DIR:-build/release}
  server_bin=$build/service/server/bank_server
  loadgen_bin=$build/loadgen/bank_loadgen
  work=$(mktemp -d "${TMPDIR:-/tmp}/bank-$1-XXXXXX")
  server_pid=""
  trap bench_cleanup EXIT
  pin_server=() pin_client=()
  if (($(nproc) >= 2)) && command -v taskset >/dev/null; then
    pin_server=(taskset -c 0) pin_client=(taskset -c 1)
  fi
}

bench_cleanup() {
  [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
