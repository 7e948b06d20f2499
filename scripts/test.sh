#!/usr/bin/env bash
# test.sh: sets up, builds and runs the whole test suite with ctest; then the
# same suite built with AddressSanitizer + UndefinedBehaviorSanitizer (leak
# checking on). Exits non-zero when any test fails.
#   scripts/test.sh [--no-sanitize]
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
fi
