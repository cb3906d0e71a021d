#!/usr/bin/env bash
# test.sh: the one command that runs every test, from a fresh checkout.
#
#   1. installs what is missing (scripts/install-deps.sh);
#   2. g++ release build of everything, then all tests under CTest;
#   3. clang build with AddressSanitizer + UBSan and -Wthread-safety -Werror
#      (the lock annotations are checked), then all tests again;
#      and the libFuzzer targets (fuzz/), each run for 8 s;
#   4. ThreadSanitizer build of the engines, then their tests (the engine and
#      concurrency suites), against an Abseil built with TSan from Debian's
#      own source (scripts/build-absl-tsan.sh: Debian's libabsl is not
#      instrumented, and TSan cannot see its locks). gRPC is not instrumented
#      either, so the gRPC-linked targets stay out of this build.
#
# Build trees go to build/<name>; reruns are incremental. Usage:
#   scripts/test.sh              # everything (about 7 min on 2 cores)
#   scripts/test.sh --quick      # step 2 only
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true
jobs=$(nproc)

step() { printf '\n==== %s ====\n' "$*"; }

# build_and_test NAME CTEST_ARGS -- CMAKE_ARGS...: configure, build, run ctest.
build_and_test() {
  local name=$1 ctest_args=$2
  shift 3
  step "$name: configure and build"
  cmake -S . -B "build/$name" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "build/$name" -j "$jobs"
  step "$name: tests"
  # shellcheck disable=SC2086
  ctest --test-dir "build/$name" --output-on-failure -j "$jobs" \
    --timeout 300 $ctest_args
}

step "dependencies"
scripts/install-deps.sh

build_and_test release "" --
$quick && exit 0

# halt_on_error: any sanitizer report fails the test that triggered it.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# BANK_FUZZ=ON also builds the libFuzzer targets in this tree (coverage
# instrumentation costs the tests little), so the short fuzz runs below
# need no build of their own.
CC=clang CXX=clang++ build_and_test clang-asan-ubsan "" -- \
  -DBANK_SANITIZE=address,undefined -DBANK_BENCHMARKS=OFF -DBANK_FUZZ=ON
step "fuzz: each libFuzzer target for 8 s (scripts/fuzz.sh)"
scripts/fuzz.sh 8 build/clang-asan-ubsan
step "tsan: an Abseil built with ThreadSanitizer (once)"
scripts/build-absl-tsan.sh build/absl-tsan
# The suppressions name only Abseil's own per-thread semaphore internals;
# nothing of ours is suppressed (see the file).
export TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$PWD/tests/engine/tsan_absl.supp"
build_and_test tsan "-L engine" -- \
  -DBANK_SANITIZE=thread -DBANK_ENGINE_ONLY=ON \
  -DCMAKE_PREFIX_PATH="$PWD/build/absl-tsan/install"

step "all test builds passed"
