#!/usr/bin/env bash
# podman-engine.sh: a Docker-compatible engine made from Debian's podman, for
# machines that have the Docker client but no Docker engine and cannot reach
# a container registry (our CI machines). docker/smoke.sh calls it only when
# `docker info` gets no answer, so on a machine with real Docker it is never
# used and the smoke test runs unchanged.
#
#   podman-engine.sh start STATE_DIR   # prints the DOCKER_HOST to use
#   podman-engine.sh stop  STATE_DIR
#
# start (idempotent; needs root):
#   1. installs podman, runc, the dnsname network plugin, docker-compose and
#      debootstrap from Debian's packages when missing (about a minute);
#   2. writes /etc/containers/containers.conf: runc instead of crun (crun
#      cannot set the default rlimits here and refuses the hybrid cgroup
#      layout) and no default ulimits;
#   3. makes the base images locally, since no registry answers: a minbase
#      bookworm from debootstrap, imported as docker.io/library/debian:bookworm
#      and tagged debian:bookworm-slim too (only when not already present);
#   4. starts `podman system service` on STATE_DIR/podman.sock (pid in
#      STATE_DIR/podman.pid);
#   5. starts a health ticker (pid in STATE_DIR/health.pid): podman runs
#      HEALTHCHECKs from systemd timers, and there is no systemd here, so
#      without it a container would stay "starting" forever and compose's
#      `condition: service_healthy` would never be met.
# stop ends those two processes by their own pids; containers and images
# stay (the caller tears down its own containers first).
set -euo pipefail

readonly kPackages=(podman runc golang-github-containernetworking-plugin-dnsname
                    docker-compose debootstrap)
readonly kContainersConf=/etc/containers/containers.conf
readonly kConfMarker="# Written by bank docker/podman-engine.sh"
readonly kBaseImage=docker.io/library/debian:bookworm
readonly kSlimImage=docker.io/library/debian:bookworm-slim
# The Debian mirror debootstrap uses (and the images then keep): the first
# one the host's own apt sources name, unless BANK_DEBIAN_MIRROR says;
# empty means debootstrap's default.
host_debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
            /etc/apt/sources.list.d/*.sources | head -n 1)
  fi
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(sed -n 's/^deb[[:space:]]\+\([^[:space:]]*\/debian\)[[:space:]].*/\1/p' \
            /etc/apt/sources.list | head -n 1)
  fi
  echo "$uri"
}
readonly kDebianMirror="${BANK_DEBIAN_MIRROR:-$(host_debian_mirror)}"
readonly kSocketWait_s=30
readonly kHealthTick_s=2
readonly kStopWait_s=10
kSelf="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
readonly kSelf

log() { printf '[podman-engine] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
  local missing=()
  for package in "${kPackages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then return; fi
  log "installing ${missing[*]}"
  apt-get update -qq
  # With recommends, as verified on this machine kind (they bring netavark
  # and aardvark-dns; docker-compose's brings docker.io, whose daemon is
  # not started without systemd, so `docker info` still finds no engine).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    >/dev/null
}

write_containers_conf() {
  if [[ -f $kContainersConf ]] && ! grep -qF "$kConfMarker" "$kContainersConf"; then
    # Someone else's file: keep it when it already has what we need.
    if grep -q '^ *runtime *= *"runc"' "$kContainersConf" &&
       grep -q '^ *default_ulimits *= *\[\]' "$kContainersConf"; then
      return
    fi
    die "$kContainersConf exists without runtime = \"runc\" under [engine]" \
        "and default_ulimits = [] under [containers]; add them and re-run"
  fi
  mkdir -p "$(dirname "$kContainersConf")"
  cat >"$kContainersConf" <<EOF
$kConfMarker: crun cannot set the default
# rlimits on this machine kind and refuses its hybrid cgroup layout.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
}

make_base_image() {
  if ! podman image exists "$kBaseImage"; then
    local root
    root="$(mktemp -d /var/tmp/bank-debootstrap.XXXXXX)"
    log "debootstrap --variant=minbase bookworm (1.5 to 4 minutes)"
    local started_s=$SECONDS
    if ! debootstrap --variant=minbase bookworm "$root" ${kDebianMirror:+"$kDebianMirror"} \
         >"$root.log" 2>&1; then
      tail -20 "$root.log" >&2
      rm -rf "$root" "$root.log"
      die "debootstrap failed"
    fi
    # Slim it the way the official image is: no apt lists, no caches.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
    tar -C "$root" -c . | podman import --quiet - "$kBaseImage" >/dev/null
    rm -rf "$root" "$root.log"
    log "base image made in $((SECONDS - started_s)) s"
  fi
  podman image exists "$kSlimImage" || podman tag "$kBaseImage" "$kSlimImage"
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE is running and its command
# line holds PATTERN (so a recycled pid is never mistaken for ours).
pid_alive() {
  local pid
  [[ -f $1 ]] || return 1
  pid="$(cat "$1")"
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

start_service() {
  local state_dir=$1 socket="$1/podman.sock"
  if pid_alive "$state_dir/podman.pid" "$socket"; then
    log "podman service already running (pid $(cat "$state_dir/podman.pid"))"
    return
  fi
  rm -f "$socket"
  setsid podman system service --time=0 "unix://$socket" \
    >"$state_dir/podman.log" 2>&1 </dev/null &
  echo $! >"$state_dir/podman.pid"
  local waited_s=0
  until DOCKER_HOST="unix://$socket" docker version >/dev/null 2>&1; do
    ((waited_s++ < kSocketWait_s)) || die "podman service did not answer on $socket"
    sleep 1
  done
  log "podman service on $socket (pid $(cat "$state_dir/podman.pid"))"
}

# health_ticker: runs each running container's HEALTHCHECK every
# kHealthTick_s, which is what systemd timers would do. It ends by itself
# when the podman service it serves is gone, so it never outlives it.
health_ticker() {
  local state_dir=$1
  while pid_alive "$state_dir/podman.pid" "$state_dir/podman.sock"; do
    for id in $(podman ps -q --filter status=running 2>/dev/null); do
      podman healthcheck run "$id" >/dev/null 2>&1 || true
    done
    sleep "$kHealthTick_s"
  done
}

start_health_ticker() {
  local state_dir=$1
  if pid_alive "$state_dir/health.pid" "health-ticker $state_dir"; then return; fi
  setsid bash "$kSelf" health-ticker "$state_dir" >/dev/null 2>&1 </dev/null &
  echo $! >"$state_dir/health.pid"
}

stop_pid() {
  local pidfile=$1 pattern=$2 pid
  if pid_alive "$pidfile" "$pattern"; then
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for ((waited_s = 0; waited_s < kStopWait_s; waited_s++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

main() {
  (($# == 2)) || die "usage: $0 start|stop STATE_DIR"
  local command=$1 state_dir=$2
  case "$command" in
    start)
      ((EUID == 0)) || die "needs root (apt-get, /etc/containers, podman)"
      mkdir -p "$state_dir"
      state_dir="$(cd "$state_dir" && pwd)"
      install_packages
      write_containers_conf
      make_base_image
      start_service "$state_dir"
      start_health_ticker "$state_dir"
      echo "unix://$state_dir/podman.sock"
      ;;
    stop)
      [[ -d $state_dir ]] || return 0
      state_dir="$(cd "$state_dir" && pwd)"
      stop_pid "$state_dir/health.pid" "health-ticker $state_dir"
      stop_pid "$state_dir/podman.pid" "$state_dir/podman.sock"
      rm -f "$state_dir/podman.sock"
      ;;
    health-ticker) health_ticker "$state_dir" ;;
    *) die "unknown command '$command'" ;;
  esac
}

main "$@"
