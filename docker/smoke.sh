#!/usr/bin/env bash
# smoke.sh: builds the image and runs docker/docker-compose.yml end to end,
# the way a user would, and checks what the deployment promises:
#   1. the image builds from the checkout (the build runs the engine tests);
#   2. `bank` becomes healthy (gRPC health SERVING) and its port is published
#      on the host;
#   3. `up --exit-code-from loadgen` exits 0 and the load generator printed
#      PASS (the invariant held under load);
#   3b. `docker kill` (SIGKILL) of `bank`, then a read-only load over the
#      same accounts reads the same total: the bank-data volume kept every
#      balance (--data_dir);
#   4. metrics: with `bank` and `prometheus` up, a load run, then
#      Prometheus's HTTP API (/api/v1/query) must answer a non-zero
#      sum(bank_rpcs_total{code="OK"}) scraped from bank's /metrics;
#   5. with BANK_ENGINE=unsafe and injected latency on one hot account, the
#      same command exits 1: the invariant check really fails a lost update
#      (skip with BANK_SMOKE_UNSAFE=0);
#   6. SIGTERM to `bank` (what `docker stop` sends) makes it exit 0.
# Every step is bounded by a timeout, and everything it started (containers,
# network, the podman service) is torn down on exit, also on failure.
#
# Uses the Docker engine when one answers `docker info`; otherwise sets up
# podman as a Docker-compatible engine (docker/podman-engine.sh, needs root).
# Safe to re-run; run from any directory:  bash docker/smoke.sh
#
# Environment: BANK_SMOKE_UNSAFE (1), BANK_SMOKE_STATE_DIR (podman socket and
# logs; /tmp/bank-smoke), and the compose file's knobs (BANK_ENGINE,
# BANK_LOADGEN_ARGS, BANK_BUILD_JOBS, ...), which apply to the
# PASS step as they would for a user; BANK_PORT, BANK_PROMETHEUS_PORT and
# BANK_IMAGE_TAG are the smoke test's own.
set -euo pipefail

kDockerDir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly kDockerDir
readonly kComposeFile="$kDockerDir/docker-compose.yml"
readonly kProject=bank-smoke
readonly kImageTag=smoke
readonly kStateDir="${BANK_SMOKE_STATE_DIR:-/tmp/bank-smoke}"
readonly kRunUnsafe="${BANK_SMOKE_UNSAFE:-1}"
# Bounds of each step: the image build compiles the service on 2 cores.
readonly kEngineSetupTimeout_s=600
readonly kBuildTimeout_s=1500
readonly kUpTimeout_s=120
readonly kHealthyTimeout_s=90
readonly kLoadTimeout_s=300
readonly kStopTimeout_s=30
# Prometheus scrapes every 5 s; a metric must show up well within this.
readonly kMetricTimeout_s=60
readonly kDownTimeout_s=120
readonly kPortFirst=50151
readonly kPortLast=50250
readonly kSmokeAccounts=100  # docker-compose.yml's BANK_LOADGEN_ACCOUNTS default
readonly kSmokePrefix="smoke-$$"

started_s=$SECONDS
step_started_s=$SECONDS
step_name=""
podman_started=0
compose=()
checks_passed=0
checks_failed=0

step() {
  finish_step
  step_name="$*"
  step_started_s=$SECONDS
  printf '\n==== smoke: %s\n' "$step_name"
}

finish_step() {
  if [[ -n $step_name ]]; then
    printf '==== smoke: done in %d s: %s\n' "$((SECONDS - step_started_s))" \
      "$step_name"
  fi
  step_name=""
}

check_passed() { ((checks_passed += 1)); }

fail() {
  checks_failed=1
  printf '\n==== smoke: FAILED: %s\n' "$*" >&2
  exit 1
}

# pick_compose: `docker compose` (v2 plugin) when present, else the
# standalone docker-compose (Debian ships 1.29).
pick_compose() {
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  else
    fail "neither 'docker compose' nor 'docker-compose' is installed"
  fi
  compose+=(-f "$kComposeFile" -p "$kProject")
}

use_engine() {
  step "container engine"
  if timeout 20 docker info >/dev/null 2>&1; then
    echo "using the Docker engine at ${DOCKER_HOST:-the default socket}"
  else
    echo "no Docker engine answers; setting up podman in its place"
    local docker_host
    podman_started=1  # from here on, teardown stops whatever did start
    docker_host="$(timeout "$kEngineSetupTimeout_s" \
      bash "$kDockerDir/podman-engine.sh" start "$kStateDir")" ||
      fail "podman setup failed"
    export DOCKER_HOST="$docker_host"
    timeout 20 docker info >/dev/null 2>&1 || fail "podman service does not answer"
    echo "using podman at $DOCKER_HOST"
  fi
  pick_compose
  echo "compose: ${compose[*]:0:2} ($("${compose[@]}" version --short 2>/dev/null || true))"
}

# container_id SERVICE: the id of the service's container (empty if none).
container_id() {
  "${compose[@]}" ps -a -q "$1" 2>/dev/null | head -n 1
}

teardown() {
  local status=$?
  finish_step
  set +e
  printf '\n==== smoke: teardown\n'
  if ((${#compose[@]} > 0)); then
    timeout "$kDownTimeout_s" "${compose[@]}" down --volumes --remove-orphans \
      --timeout 10 >/dev/null 2>&1 || echo "warning: compose down failed"
  fi
  if ((podman_started)); then
    bash "$kDockerDir/podman-engine.sh" stop "$kStateDir"
  fi
  if ((status != 0 && checks_failed == 0)); then checks_failed=1; fi
  printf 'smoke: %d passed, %d failed\n' "$checks_passed" "$checks_failed"
  if ((status == 0)); then
    printf '==== smoke: PASS in %d s\n' "$((SECONDS - started_s))"
  else
    printf '==== smoke: FAIL (exit %d) after %d s\n' "$status" \
      "$((SECONDS - started_s))" >&2
  fi
  exit "$status"
}

# free_port [TAKEN]: a loopback port nothing listens on, other than TAKEN,
# for a published port (so the smoke test does not collide with a server
# already on 50051 or 9090).
free_port() {
  for ((port = kPortFirst; port <= kPortLast; port++)); do
    [[ $port != "${1:-}" ]] || continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  fail "no free port in $kPortFirst-$kPortLast"
}

build_images() {
  step "build the image (compiles, runs the engine tests inside)"
  timeout "$kBuildTimeout_s" "${compose[@]}" build ||
    fail "image build failed (or took over $kBuildTimeout_s s)"
  check_passed
}

# wait_healthy: bank's health status turns healthy within the bound.
wait_healthy() {
  local id status="" waited_s=0
  id="$(container_id bank)"
  [[ -n $id ]] || fail "no bank container"
  while ((waited_s < kHealthyTimeout_s)); do
    status="$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || true)"
    [[ $status == healthy ]] && break
    [[ "$(docker inspect -f '{{.State.Running}}' "$id")" == true ]] ||
      { docker logs "$id" 2>&1 | tail -20; fail "bank exited before it was healthy"; }
    sleep 1
    ((waited_s += 1))
  done
  [[ $status == healthy ]] ||
    { docker logs "$id" 2>&1 | tail -20
      fail "bank not healthy after $kHealthyTimeout_s s (status '$status')"; }
  echo "bank is healthy after about $waited_s s"
}

# start_bank: `bank` up in the background and healthy, within the bounds.
start_bank() {
  local started_s=$SECONDS
  timeout "$kUpTimeout_s" "${compose[@]}" up -d --no-build bank ||
    fail "compose up bank failed"
  echo "bank container up after $((SECONDS - started_s)) s"
  wait_healthy
}

check_bank_up() {
  step "start bank; wait until healthy; check the published port"
  start_bank
  (exec 3<>"/dev/tcp/127.0.0.1/$BANK_PORT") 2>/dev/null ||
    fail "nothing answers on the published port 127.0.0.1:$BANK_PORT"
  echo "published on 127.0.0.1:$BANK_PORT"
  check_passed
}

# run_load EXPECTED_EXIT WORD LOG: the user's one-line check; it must exit
# EXPECTED_EXIT and print WORD.
run_load() {
  local expected=$1 word=$2 log=$3 status=0
  timeout "$kLoadTimeout_s" "${compose[@]}" up --no-build \
    --exit-code-from loadgen 2>&1 | tee "$log" || status=$?
  # With pipefail, status is up's (or timeout's 124) unless tee failed.
  ((status == expected)) ||
    fail "compose up --exit-code-from loadgen exited $status, expected $expected"
  grep -q "$word" "$log" || fail "the load generator did not print $word"
  echo "exit $status and $word, as expected"
}

# check_exit_zero SERVICE: the service's container has exited with status 0.
check_exit_zero() {
  local id state
  id="$(container_id "$1")"
  [[ -n $id ]] || fail "no $1 container"
  state="$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id")"
  [[ $state == "exited 0" ]] || fail "$1 is '$state', expected 'exited 0'"
  echo "$1 exited 0"
}

check_load_pass() {
  step "load with the invariant check (engine ${BANK_ENGINE:-queue}): expect PASS"
  BANK_LOADGEN_ARGS="--total=20000 --account_prefix=$kSmokePrefix" \
    run_load 0 "Invariant: PASS" "$kStateDir/load-pass.log"
  # --exit-code-from stopped bank with SIGTERM when the load ended.
  check_exit_zero bank
  check_passed
}

# check_durable: SIGKILL the bank container (docker kill), start it again on
# its bank-data volume, and require the balances the load generator read
# after its load to be there still (the same total over the same accounts).
check_durable() {
  step "docker kill bank; start it again; the balances are still there"
  local before after ids id
  before="$(sed -n 's/^.*  total \([0-9-]*\),.*/\1/p' "$kStateDir/load-pass.log" | tail -n 1)"
  [[ -n $before ]] || fail "no balance total in the first load's report"
  start_bank
  id="$(container_id bank)"
  docker kill "$id" >/dev/null || fail "docker kill bank failed"
  docker wait "$id" >/dev/null || true
  echo "bank killed (SIGKILL)"
  ids="$(seq -s, -f "$kSmokePrefix-%g" 0 $((kSmokeAccounts - 1)))"
  BANK_LOADGEN_ARGS="--use_existing=$ids --total=$kSmokeAccounts --mix=balance:1" \
    run_load 0 "Invariant: PASS" "$kStateDir/load-after-kill.log"
  after="$(sed -n 's/^.*  total \([0-9-]*\),.*/\1/p' "$kStateDir/load-after-kill.log" | tail -n 1)"
  [[ "$after" == "$before" ]] ||
    fail "after docker kill the $kSmokeAccounts accounts hold $after, before $before"
  echo "total $after over $kSmokeAccounts accounts, the same as before the kill"
  check_passed
}

# prometheus_value QUERY: the value of an instant PromQL query that answers
# one sample, from the published Prometheus's HTTP API; "" when it answers
# none yet (or is not up yet).
prometheus_value() {
  python3 - "http://127.0.0.1:$BANK_PROMETHEUS_PORT/api/v1/query" "$1" \
    <<'EOF' 2>/dev/null || true
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]})
answer = json.load(urllib.request.urlopen(url, timeout=5))
result = answer["data"]["result"] if answer.get("status") == "success" else []
print(result[0]["value"][1] if result else "")
EOF
}

check_metrics() {
  step "metrics: Prometheus scrapes bank; a bank metric is non-zero after load"
  timeout "$kUpTimeout_s" "${compose[@]}" up -d --no-build bank prometheus ||
    fail "compose up bank prometheus failed"
  wait_healthy
  timeout "$kLoadTimeout_s" "${compose[@]}" run --rm --no-deps loadgen \
    >"$kStateDir/load-metrics.log" 2>&1 ||
    { tail -20 "$kStateDir/load-metrics.log"; fail "the load run failed"; }
  local query='sum(bank_rpcs_total{code="OK"})' value="" waited_s=0
  while ((waited_s < kMetricTimeout_s)); do
    value="$(prometheus_value "$query")"
    # Non-zero: the load's RPCs reached Prometheus through a scrape.
    [[ -n $value && $value != 0 ]] && break
    sleep 1
    ((waited_s += 1))
  done
  [[ -n $value && $value != 0 ]] ||
    { docker logs "$(container_id prometheus)" 2>&1 | tail -20
      fail "Prometheus answered '$value' for $query after $kMetricTimeout_s s"; }
  echo "Prometheus: $query = $value (after about $waited_s s)"
  echo "Prometheus: bank_build_info = $(prometheus_value 'bank_build_info')"
  timeout "$kDownTimeout_s" "${compose[@]}" stop -t 15 bank prometheus \
    >/dev/null 2>&1 || fail "compose stop failed"
  check_exit_zero bank
  check_passed
}

check_load_violation() {
  step "unsafe engine, injected latency, one hot account: expect a violation"
  BANK_ENGINE=unsafe BANK_DATA_ARGS= BANK_SERVER_ARGS=--apply_latency=0-20ms \
    BANK_LOADGEN_ACCOUNTS=1 BANK_LOADGEN_ARGS=--total=400 \
    run_load 1 "Invariant: FAIL" "$kStateDir/load-unsafe.log"
  check_passed
}

check_sigterm() {
  step "SIGTERM to bank: it drains and exits 0"
  start_bank
  local id
  id="$(container_id bank)"
  local signalled_s=$SECONDS
  docker kill -s TERM "$id" >/dev/null
  timeout "$kStopTimeout_s" docker wait "$id" >/dev/null ||
    fail "bank still running $kStopTimeout_s s after SIGTERM"
  echo "bank stopped $((SECONDS - signalled_s)) s after SIGTERM"
  check_exit_zero bank
  check_passed
}

main() {
  mkdir -p "$kStateDir"
  trap teardown EXIT
  trap 'exit 130' INT TERM
  export BANK_IMAGE_TAG="$kImageTag"
  use_engine
  step "clean up what an earlier run left"
  timeout "$kDownTimeout_s" "${compose[@]}" down --volumes --remove-orphans \
    --timeout 10 >/dev/null 2>&1 || true
  BANK_PORT="$(free_port)"
  BANK_PROMETHEUS_PORT="$(free_port "$BANK_PORT")"
  export BANK_PORT BANK_PROMETHEUS_PORT
  build_images
  check_bank_up
  check_load_pass
  check_durable
  check_metrics
  if [[ $kRunUnsafe == 1 ]]; then check_load_violation; fi
  check_sigterm
  finish_step
}

main "$@"
