#!/usr/bin/env bash
# install-deps.sh: installs, from the distribution's packages, whatever the
# build, tests and demo need and this machine lacks. Debian 12 (bookworm) is
# what we build and test on. Safe to run again: it installs nothing when all
# is present.
#
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the plot tools)
set -euo pipefail

packages=(
  cmake g++ make pkg-config          # the build
  libgrpc++-dev libprotobuf-dev      # gRPC and Protobuf libraries
  protobuf-compiler protobuf-compiler-grpc  # protoc + grpc_cpp_plugin
  grpc-proto                         # health/reflection .proto files
  libabsl-dev                        # Abseil: Status, Mutex, flags, hash map
  libcivetweb-dev                    # HTTP server for /metrics (Prometheus)
  librocksdb-dev                     # durable balances (--data_dir)
  libgtest-dev libgmock-dev          # GoogleTest
  libbenchmark-dev                   # Google Benchmark
  clang libclang-rt-14-dev           # -Wthread-safety, sanitizers, libFuzzer
  python3                            # JSON checks in tests and scripts
  openssl                            # throwaway CA and certificates in the TLS tests
  chromium                           # renders bank_loadgen --html in a test
  libpq-dev                          # libpq: the postgres engine's client
  postgresql-15                      # PostgreSQL server for the postgres tests
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(gnuplot-nox util-linux procps)
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || {
    echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2
    exit 1
  }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
