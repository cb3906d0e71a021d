#!/usr/bin/env bash
# smoke-postgres.sh: runs docker/docker-compose.postgres.yml end to end and
# checks what the replicated deployment promises:
#   1. both images build (bank: the service; bank-postgres: Debian's
#      postgresql-15 on our local base);
#   2. postgres turns healthy (pg_isready), then the three bank replicas do
#      (gRPC health SERVING, which needs the database);
#   3. a load spread over the three replicas runs while one replica is
#      killed (`docker kill`, SIGKILL) in the middle of it, and the load
#      generator still exits 0 with an exact "Invariant: PASS": no
#      acknowledged money lost and none applied twice. RPCs in flight to the
#      dead replica are retried with their request ids on the others, which
#      find in the database (bank_request_ids) whether they applied, so the
#      verdict must rest on 0 indeterminate operations and the total must
#      equal its single expected value (no range).
# Every step is bounded; everything it started (containers, the volume, the
# podman service) is torn down on exit, also on failure. .ci/run runs it
# after docker/smoke.sh (same image tag, so the bank image comes from cache).
#
# Uses the Docker engine when one answers `docker info`; otherwise podman
# (docker/podman-engine.sh, needs root). Run from anywhere:
#   bash docker/smoke-postgres.sh
# Environment: BANK_SMOKE_STATE_DIR (/tmp/bank-smoke-postgres),
# BANK_SMOKE_LOAD_S (load duration, 30), BANK_SMOKE_KILL_AFTER_S (10).
set -euo pipefail

kDockerDir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly kDockerDir
readonly kComposeFile="$kDockerDir/docker-compose.postgres.yml"
readonly kProject=bank-smoke-postgres
readonly kStateDir="${BANK_SMOKE_STATE_DIR:-/tmp/bank-smoke-postgres}"
readonly kLoad_s="${BANK_SMOKE_LOAD_S:-30}"
readonly kKillAfter_s="${BANK_SMOKE_KILL_AFTER_S:-10}"
readonly kEngineSetupTimeout_s=600
readonly kBuildTimeout_s=1500
readonly kUpTimeout_s=240
readonly kLoadTimeout_s=$((kLoad_s + 180))
readonly kDownTimeout_s=120
readonly kReplicas=(bank1 bank2 bank3)
readonly kVictim=bank2

started_s=$SECONDS
podman_started=0
compose=()

say() { printf '\n==== smoke-postgres: %s\n' "$*"; }
fail() {
  printf '\n==== smoke-postgres: FAILED: %s\n' "$*" >&2
  exit 1
}

teardown() {
  local status=$?
  set +e
  say "teardown"
  if ((${#compose[@]} > 0)); then
    if ((status != 0)); then
      timeout 60 "${compose[@]}" logs --tail=30 2>&1 | tail -120
    fi
    timeout "$kDownTimeout_s" "${compose[@]}" down --volumes --remove-orphans \
      --timeout 10 >/dev/null 2>&1 || echo "warning: compose down failed"
  fi
  if ((podman_started)); then
    bash "$kDockerDir/podman-engine.sh" stop "$kStateDir"
  fi
  if ((status == 0)); then
    say "PASS in $((SECONDS - started_s)) s"
  else
    say "FAIL (exit $status) after $((SECONDS - started_s)) s" >&2
  fi
  exit "$status"
}

use_engine() {
  say "container engine"
  if timeout 20 docker info >/dev/null 2>&1; then
    echo "using the Docker engine at ${DOCKER_HOST:-the default socket}"
  else
    local docker_host
    podman_started=1
    docker_host="$(timeout "$kEngineSetupTimeout_s" \
      bash "$kDockerDir/podman-engine.sh" start "$kStateDir")" ||
      fail "podman setup failed"
    export DOCKER_HOST="$docker_host"
    timeout 20 docker info >/dev/null 2>&1 || fail "podman does not answer"
    echo "using podman at $DOCKER_HOST"
  fi
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  else
    fail "neither 'docker compose' nor 'docker-compose' is installed"
  fi
  compose+=(-f "$kComposeFile" -p "$kProject")
}

container_id() { "${compose[@]}" ps -a -q "$1" 2>/dev/null | head -n 1; }

# wait_healthy SERVICE...: each service's container turns healthy in time.
wait_healthy() {
  local service id status deadline=$((SECONDS + kUpTimeout_s))
  for service in "$@"; do
    id="$(container_id "$service")"
    [[ -n $id ]] || fail "no $service container"
    while true; do
      status="$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || true)"
      [[ $status == healthy ]] && break
      [[ "$(docker inspect -f '{{.State.Running}}' "$id")" == true ]] ||
        fail "$service exited before it was healthy"
      ((SECONDS < deadline)) || fail "$service not healthy (status '$status')"
      sleep 1
    done
    echo "$service is healthy"
  done
}

main() {
  mkdir -p "$kStateDir"
  trap teardown EXIT
  trap 'exit 130' INT TERM
  export BANK_IMAGE_TAG="${BANK_IMAGE_TAG:-smoke}"
  use_engine
  timeout "$kDownTimeout_s" "${compose[@]}" down --volumes --remove-orphans \
    --timeout 10 >/dev/null 2>&1 || true

  say "build the images"
  timeout "$kBuildTimeout_s" "${compose[@]}" build postgres bank1 ||
    fail "image build failed (or took over $kBuildTimeout_s s)"

  say "start postgres and three replicas; wait until healthy"
  timeout "$kUpTimeout_s" "${compose[@]}" up -d --no-build postgres \
    "${kReplicas[@]}" || fail "compose up failed"
  wait_healthy postgres "${kReplicas[@]}"

  say "load over three replicas for ${kLoad_s}s; kill $kVictim after ${kKillAfter_s}s"
  local log="$kStateDir/load.log" status=0
  timeout "$kLoadTimeout_s" "${compose[@]}" run --rm --no-deps loadgen \
    --target=bank1:50051,bank2:50051,bank3:50051 --concurrency=50 \
    --accounts=100 --duration="${kLoad_s}s" >"$log" 2>&1 &
  local load_pid=$!
  # Scheduling the fault mid-load, not synchronisation: the verdict comes
  # from the invariant check at the end whatever the timing.
  sleep "$kKillAfter_s"
  docker kill "$(container_id "$kVictim")" >/dev/null ||
    fail "docker kill $kVictim failed"
  echo "killed $kVictim"
  wait "$load_pid" || status=$?
  cat "$log"
  ((status == 0)) || fail "the load generator exited $status"
  grep -q "Invariant: PASS" "$log" || fail "no 'Invariant: PASS'"
  grep -Eq '^Invariant: PASS \(.*, 0 indeterminate\)' "$log" ||
    fail "the verdict rests on indeterminate operations (not exact)"
  grep -Eq '^  total ([0-9]+), expected \1$' "$log" ||
    fail "the total was checked against a range, not one exact value"
  [[ "$(docker inspect -f '{{.State.Running}}' "$(container_id "$kVictim")")" \
    == false ]] || fail "$kVictim is still running"
  echo "invariant held exactly with $kVictim killed mid-load"
}

main "$@"
