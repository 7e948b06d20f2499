#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup.sh: installs what aule's build and tests need on Debian bookworm, then
# builds glslang 15 and SPIRV-Tools 2025 once into a versioned cache directory
# (they bring GL_KHR_cooperative_matrix). Safe to run again: every step is
# skipped when already done. Needs root (apt-get).
#
#   AULE_DEPS_DIR   where the glslang/SPIRV-Tools build is cached
#                   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/aule-deps)
#   AULE_NO_GLSLANG15=1  skip that build; the project then uses bookworm's
#                   glslang 12 with the cooperative-matrix kernels switched off.
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# --- Debian packages ---------------------------------------------------------
SOURCES=/etc/apt/sources.list.d/aule.sources
if [ ! -f "$SOURCES" ]; then
    say "adding bookworm-backports (for lavapipe 25) and trixie deb-src (for glslang 15)"
    # Only a deb-src line for trixie: binary packages of another release would
    # upgrade libc. Backports are pinned at priority 100 by Debian, so only what
    # is named with -t comes from there.
    $SUDO tee "$SOURCES" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -f /tmp/aule-apt-updated
fi

PKGS="build-essential cmake pkg-config python3 ca-certificates
      liblua5.4-dev libxxhash-dev libcmocka-dev valgrind
      libvulkan-dev libvulkan-volk-dev vulkan-tools glslang-dev glslang-tools spirv-tools
      clang libclang-rt-14-dev
      python3-numpy python3-pytest python3-torch python3-pip python3-setuptools python3-wheel
      python3-matplotlib python3-venv"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
lvp_version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
if [ -n "$missing" ] || [ "${lvp_version%%.*}" != 25 ] || ! apt-cache showsrc glslang 2>/dev/null | grep -q '^Version: 15'; then
    say "apt-get update"
    $SUDO apt-get update -qq
fi
if [ -n "$missing" ]; then
    say "installing:$missing"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
if [ "${lvp_version%%.*}" != 25 ]; then
    say "installing lavapipe 25 (mesa-vulkan-drivers from bookworm-backports)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -t bookworm-backports mesa-vulkan-drivers
fi

# --- glslang 15 + SPIRV-Tools 2025 (built once, cached) ----------------------
GLSLANG_TAR=glslang_15.1.0+1.4.309.0.orig.tar.gz
GLSLANG_SHA=180f17ea51e6b71bf57b9e0fea78ba3ecd76e3ec8e4c91f0771b922eb22bf4b2
SPVTOOLS_TAR=spirv-tools_2025.1~rc1.orig.tar.gz
SPVTOOLS_SHA=6895160d5a842552eda6412440747cbadddd47005957bc43bb03926162686777
SPVHEADERS_TAR=spirv-headers_1.6.1+1.4.309.0.orig.tar.gz
SPVHEADERS_SHA=64ea06bf123c5c063a6be01dd45adec6a30cc0862000781ca18f9104693b722c

DEPS_DIR=${AULE_DEPS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aule-deps}
PREFIX=$DEPS_DIR/glslang-15.1.0-spirv-tools-2025.1-r1
if [ "${AULE_NO_GLSLANG15:-0}" = 1 ]; then
    say "AULE_NO_GLSLANG15=1: using bookworm's glslang 12 (cooperative-matrix kernels off)"
    exit 0
fi
if [ -f "$PREFIX/.complete" ]; then
    say "glslang 15 + SPIRV-Tools 2025.1 cached in $PREFIX"
    exit 0
fi

say "building glslang 15 + SPIRV-Tools 2025.1 into $PREFIX (once; about 15 minutes on 2 cores)"
mkdir -p "$DEPS_DIR/src"
cd "$DEPS_DIR/src"
have_all() {
    echo "$GLSLANG_SHA  $GLSLANG_TAR
$SPVTOOLS_SHA  $SPVTOOLS_TAR
$SPVHEADERS_SHA  $SPVHEADERS_TAR" | sha256sum --quiet -c - >/dev/null 2>&1
}
if ! have_all; then
    # The mirror may answer 404 for a .dsc and apt then exits non-zero even
    # though the .orig tarballs arrived: the checksums decide.
    apt-get source --download-only glslang/trixie spirv-tools/trixie spirv-headers/trixie \
        >download.log 2>&1 || true
fi
if ! have_all; then
    say "could not fetch the glslang 15 / SPIRV-Tools sources (see $DEPS_DIR/src/download.log);"
    say "the build falls back to bookworm's glslang 12 with cooperative-matrix kernels OFF"
    exit 0
fi

WORK=$(mktemp -d "$DEPS_DIR/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$GLSLANG_TAR" -C "$WORK"
GLSRC=$(echo "$WORK"/glslang-*)
mkdir -p "$GLSRC/External/spirv-tools/external/spirv-headers"
tar -xzf "$SPVTOOLS_TAR" -C "$GLSRC/External/spirv-tools" --strip-components=1
tar -xzf "$SPVHEADERS_TAR" -C "$GLSRC/External/spirv-tools/external/spirv-headers" --strip-components=1

cmake -S "$GLSRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX.tmp" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF \
    -DENABLE_OPT=ON -DENABLE_HLSL=OFF -DENABLE_GLSLANG_BINARIES=ON \
    -DGLSLANG_TESTS=OFF -DBUILD_TESTING=OFF -DSPIRV_SKIP_TESTS=ON \
    -DSPIRV_WERROR=OFF -DSPIRV_BUILD_FUZZER=OFF >"$DEPS_DIR/configure.log" 2>&1 \
    || { say "configure failed, see $DEPS_DIR/configure.log"; exit 1; }
cmake --build "$WORK/build" -j"$(nproc)" >"$DEPS_DIR/build.log" 2>&1 \
    || { say "build failed, see $DEPS_DIR/build.log"; exit 1; }
rm -rf "$PREFIX.tmp"
cmake --install "$WORK/build" >"$DEPS_DIR/install.log" 2>&1 \
    || { say "install failed, see $DEPS_DIR/install.log"; exit 1; }
# The CMake package files locate their prefix relative to themselves.
rm -rf "$PREFIX"
mv "$PREFIX.tmp" "$PREFIX"
touch "$PREFIX/.complete"
say "glslang 15 + SPIRV-Tools 2025.1 ready in $PREFIX"
