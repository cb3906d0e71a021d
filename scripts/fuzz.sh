#!/usr/bin/env bash
# fuzz.sh [SECONDS] [BUILD_DIR]: builds the libFuzzer targets (clang,
# ASan + UBSan, BANK_FUZZ=ON) and runs each for SECONDS (default 60) from
# its committed seed corpus, with new inputs kept in
# BUILD_DIR/fuzz-corpus/<target> (never in the repository). A crash stops
# the run with the reproducer's path, and this script fails. The seeds are
# committed as text, one hex-encoded input per fuzz/corpus/<target>/*.hex
# file; this script decodes them into BUILD_DIR/fuzz-seeds/<target> first.
#
#   scripts/fuzz.sh            # a minute per target
#   scripts/fuzz.sh 8          # the short run scripts/test.sh does (32 s)
#   scripts/fuzz.sh 3600       # a long run (docs/FUZZING.md)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build_dir=${2:-build/clang-asan-ubsan}
targets=(request_fuzzer flag_fuzzer recovery_fuzzer store_recovery_fuzzer)

CC=clang CXX=clang++ cmake -S . -B "$build_dir" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBANK_SANITIZE=address,undefined \
  -DBANK_BENCHMARKS=OFF -DBANK_FUZZ=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for target in "${targets[@]}"; do
  work="$build_dir/fuzz-corpus/$target"
  seeds="$build_dir/fuzz-seeds/$target"
  rm -rf "$seeds"
  mkdir -p "$work" "$seeds" "$build_dir/fuzz-artifacts"
  python3 - "fuzz/corpus/$target" "$seeds" <<'PY'
import pathlib, sys
source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for seed in sorted(source.glob("*.hex")):
    (target / seed.stem).write_bytes(bytes.fromhex(seed.read_text()))
PY
  printf '\n==== %s: %s s ====\n' "$target" "$seconds"
  "$build_dir/fuzz/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build_dir/fuzz-artifacts/$target-" \
    "$work" "$seeds" 2>&1 | tail -n 15
done
