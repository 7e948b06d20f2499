#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh: sets up, builds and runs the whole test suite with ctest; then the
# same suite built with AddressSanitizer + UndefinedBehaviorSanitizer (leak
# checking on); then the thread test built with ThreadSanitizer; then each
# libFuzzer target for a bounded time with ASan+UBSan (clang). Exits non-zero
# when any of them fails.
#   scripts/test.sh [--no-sanitize]
#   AULE_FUZZ_SECONDS   time per fuzz target (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
(cd "$root/build" && ctest --output-on-failure -j2)
if [ "${1:-}" != "--no-sanitize" ]; then
    AULE_BUILD_DIR=$root/build-asan AULE_BUILD_TYPE=Debug AULE_CMAKE_ARGS=-DAULE_SANITIZE=ON \
        "$root/scripts/build.sh"
    (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j2)

    # ThreadSanitizer: only the thread test is built and run. Reports from
    # inside the Vulkan driver and its LLVM are suppressed (tests/tsan.supp says why).
    echo "test.sh: ThreadSanitizer build (build-tsan), thread test"
    cmake -S "$root" -B "$root/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAULE_TSAN=ON >/dev/null
    cmake --build "$root/build-tsan" -j"$(nproc)" --target test_threads
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$root/tests/tsan.supp" \
        "$root/build-tsan/tests/test_threads" 16 12

    # libFuzzer targets, each for a bounded time, from the corpora in tests/fuzz/corpus
    # (new inputs go to a scratch folder, not into the repository).
    echo "test.sh: fuzz smoke (build-fuzz, clang, ASan+UBSan)"
    CC=clang CXX=clang++ cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DAULE_FUZZ=ON >/dev/null
    cmake --build "$root/build-fuzz" -j"$(nproc)" --target fuzz_spec fuzz_npy fuzz_disk_cache fuzz_api
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    # fuzz_api runs twice: on the Vulkan device (lavapipe) and on the native CPU backend.
    for run in spec npy disk_cache api:vulkan api:cpu; do
        t=${run%%:*} device=${run#*:} label=" ($device)"
        [ "$device" = "$run" ] && device=vulkan label=""
        mkdir -p "$scratch/$run"
        AULE_DEVICE=$device ASAN_OPTIONS=detect_leaks=1 "$root/build-fuzz/tests/fuzz_$t" \
            -max_total_time="${AULE_FUZZ_SECONDS:-30}" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$scratch/crash-$t-$device-" "$scratch/$run" "$root/tests/fuzz/corpus/$t" \
            >"$scratch/$run.log" 2>&1 || { tail -n 60 "$scratch/$run.log"; echo "test.sh: fuzz_$t$label failed"; exit 1; }
        echo "fuzz_$t$label: $(grep -E '^stat::number_of_executed_units' "$scratch/$run.log" | awk '{print $2}')" \
            "executions, $(grep -E '^stat::average_exec_per_sec' "$scratch/$run.log" | awk '{print $2}')/s, no crash"
    done
fi
