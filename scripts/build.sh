#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# build.sh: configures and builds aule into build/ (or $AULE_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AULE_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${AULE_BUILD_TYPE:-RelWithDebInfo} ${AULE_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"${AULE_JOBS:-$(nproc)}"
