#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# build_wheel.sh: builds a wheel of the aule package with libaule bundled into dist/.
#   python/build_wheel.sh [path/to/libaule.so]     (default: build/libaule.so; scripts/build.sh first)
# Offline: Debian's python3-pip, -setuptools and -wheel, no build isolation. The
# wheel is tagged py3-none-<platform>; libaule still needs liblua5.4.so.0 and a
# Vulkan loader on the machine that installs it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$root/build/libaule.so}
[ -f "$lib" ] || { echo "build_wheel: $lib not found (run scripts/build.sh)" >&2; exit 1; }
py=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a copy of the package, so the source tree gets no build/ or egg-info
cp -r "$root/python/setup.py" "$root/python/aule" "$work/"
find "$work" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$root/dist"
AULE_LIBRARY=$(realpath "$lib") "$py" -m pip wheel --no-deps --no-build-isolation --no-index -q -w "$root/dist" "$work"
ls "$root"/dist/aule-*.whl
