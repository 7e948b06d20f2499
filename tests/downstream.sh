#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# downstream.sh: aule as another project takes it. Installs the build tree
# into a temporary prefix and checks it (files, exported symbols), then builds
# examples/downstream and runs it (JIT off, on the default Vulkan device) four
# ways: find_package against the prefix, pkg-config (its Makefile, auegen run
# from the prefix), add_subdirectory of the source tree (static libaule) and
# FetchContent of an archive of the source tree (shared). With find_package it
# also checks that a rebuild with nothing changed runs no auegen, and that
# touching the spec runs it once. The example's kernels include the host's
# CPU profiles (cpu-host): with find_package and pkg-config it also runs on
# AULE_DEVICE=cpu and checks that its specs run their generated CPU kernels
# and pass (add_subdirectory and FetchContent skip CPU profiles: no auegen at
# configure time).
#   tests/downstream.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aule-downstream.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
jobs=2
fail() { echo "downstream.sh: FAIL: $*" >&2; exit 1; }
# Which libaule a program loads: "static" when none.
libaule_of() { ldd "$1" | awk '/libaule\.so/ {print $3; found=1} END {if (!found) print "static"}'; }
step() { echo; echo "== $*"; }
# The program on AULE_DEVICE=cpu: its specs run the CPU kernels generated for them, and pass.
cpu_generated() {
    local out
    out=$(AULE_DEVICE=cpu "$1") || { echo "$out"; fail "$2: the program fails on AULE_DEVICE=cpu"; }
    echo "$out" | grep '^cpu kernels' || fail "$2: no 'cpu kernels' line on AULE_DEVICE=cpu"
    echo "$out" | grep -Eq '^cpu kernels \([a-z0-9-]+\): example_prefill generated, example_decode generated$' \
        || fail "$2: the program's specs do not run their generated CPU kernels"
    echo "$out" | tail -1
}
host=$(uname -m)

# The same glslang + SPIRV-Tools as this build (no second dependency build).
glslang=$(sed -n 's/^AULE_GLSLANG_PREFIX:PATH=//p' "$build/CMakeCache.txt")
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
common=(-DCMAKE_BUILD_TYPE="${build_type:-RelWithDebInfo}")
with_aule=("${common[@]}" -DAULE_GLSLANG_PREFIX="$glslang")

step "install the build tree into a temporary prefix"
prefix=$tmp/prefix
cmake --build "$build" --target libaule auegen aule_cli -j$jobs >/dev/null
cmake --install "$build" --prefix "$prefix" >/dev/null
(cd "$prefix" && find . \( -type f -o -type l \) -printf '%-48p %10s bytes\n' | sort)
echo "installed: $(du -sk "$prefix" | cut -f1) KiB"
so=$(find "$prefix" -name 'libaule.so.*.*.*' | head -1)
[ -n "$so" ] || fail "no libaule.so.X.Y.Z installed"
for f in include/aule.h include/auegen.h include/auegen_abi.h include/auegen_spec_fields.h include/aule_export.h \
         include/aule_reference.h include/aule_check.h include/aule/cpu/cpu_kernel.h include/aule/cpu/cpu_internal.h \
         bin/auegen bin/aule lib/cmake/aule/auleConfig.cmake \
         lib/cmake/aule/auleConfigVersion.cmake lib/cmake/aule/AuleKernels.cmake lib/pkgconfig/aule.pc; do
    [ -e "$prefix/$f" ] || fail "missing $f"
done
readelf -d "$so" | grep -q 'SONAME.*libaule\.so\.' || fail "libaule has no versioned soname"

step "exported symbols (nm -D --defined-only)"
symbols=$(nm -D --defined-only "$so" | awk '{print $3}')
count=$(echo "$symbols" | grep -c .)
others=$(echo "$symbols" | grep -Ev '^(aule|auegen)_' || true)
echo "libaule exports $count symbols, all aule_*/auegen_*: $([ -z "$others" ] && echo yes || echo no)"
[ -z "$others" ] || fail "exported beyond the public API: $(echo "$others" | head -20 | tr '\n' ' ')"
echo "$symbols" | grep -q '^aule_register_kernels$' || fail "aule_register_kernels is not exported"
echo "$symbols" | grep -q '^aule_register_cpu_kernels$' || fail "aule_register_cpu_kernels is not exported"
if echo "$symbols" | grep -Eq '^(aule__|auegen__|vk[A-Z]|volk|lua|XXH)'; then fail "an internal symbol is exported"; fi

cp -r "$root/examples/downstream" "$tmp/src"
rm -rf "$tmp/src/kernels"

step "find_package(aule) against the prefix"
cmake -S "$tmp/src" -B "$tmp/find" "${common[@]}" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/find" -j$jobs > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "find_package build"; }
[ "$(grep -c 'auegen: kernels of model.lua' "$tmp/log")" = 1 ] || fail "the first build did not run auegen once"
"$tmp/find/downstream"
case "$(libaule_of "$tmp/find/downstream")" in "$prefix"/*) ;; *) fail "not linked to the installed libaule" ;; esac
if [ "$host" = x86_64 ] || [ "$host" = aarch64 ]; then
    step "find_package: AULE_DEVICE=cpu runs the program's generated CPU kernels"
    cpu_generated "$tmp/find/downstream" find_package
fi

step "rebuild, nothing changed"
cmake --build "$tmp/find" -j$jobs 2>&1 | tee "$tmp/log"
runs=$(grep -c 'auegen: kernels of' "$tmp/log" || true)
echo "auegen runs: $runs"
[ "$runs" = 0 ] || fail "auegen ran on a rebuild with nothing changed"
! grep -Eq 'Building|Linking' "$tmp/log" || fail "a rebuild with nothing changed compiled or linked"

step "rebuild after touching model.lua"
sleep 1
touch "$tmp/src/model.lua"
cmake --build "$tmp/find" -j$jobs 2>&1 | tee "$tmp/log"
runs=$(grep -c 'auegen: kernels of' "$tmp/log" || true)
echo "auegen runs: $runs"
[ "$runs" = 1 ] || fail "touching the spec ran auegen $runs times, not once"
cmake --build "$tmp/find" -j$jobs > "$tmp/log" 2>&1
! grep -q 'auegen: kernels of' "$tmp/log" || fail "auegen ran again on the build after"
"$tmp/find/downstream" | tail -1

step "pkg-config: the example's Makefile, auegen from the prefix"
cp -r "$tmp/src" "$tmp/pc"
rm -rf "$tmp/pc/kernels"
echo "pkg-config --cflags --libs aule: $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs aule)"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -C "$tmp/pc" -j$jobs >/dev/null
again=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -C "$tmp/pc")
case "$again" in *"is up to date"*) ;; *) echo "$again"; fail "make ran again with nothing changed" ;; esac
"$tmp/pc/downstream"
case "$(libaule_of "$tmp/pc/downstream")" in "$prefix"/*) ;; *) fail "not linked to the installed libaule" ;; esac
if [ "$host" = x86_64 ]; then
    step "pkg-config: AULE_DEVICE=cpu runs the program's generated CPU kernels"
    cpu_generated "$tmp/pc/downstream" pkg-config
fi

step "add_subdirectory of the source tree (AULE_BUILD_SHARED=OFF: static libaule)"
cmake -S "$tmp/src" -B "$tmp/sub" "${with_aule[@]}" -DAULE_SOURCE_DIR="$root" -DAULE_BUILD_SHARED=OFF >/dev/null
cmake --build "$tmp/sub" -j$jobs > "$tmp/log" 2>&1 || { tail -50 "$tmp/log"; fail "add_subdirectory build"; }
"$tmp/sub/downstream"
[ "$(libaule_of "$tmp/sub/downstream")" = static ] || fail "add_subdirectory with AULE_BUILD_SHARED=OFF loads a shared libaule"

step "FetchContent of an archive of the source tree (shared libaule)"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$root" && git ls-files -co --exclude-standard -z | tar -czf "$tmp/aule-src.tar.gz" --null -T -)
    fetch=file://$tmp/aule-src.tar.gz
else
    fetch=$root
fi
cmake -S "$tmp/src" -B "$tmp/fetch" "${with_aule[@]}" -DAULE_FETCH_SOURCE="$fetch" >/dev/null
cmake --build "$tmp/fetch" -j$jobs > "$tmp/log" 2>&1 || { tail -50 "$tmp/log"; fail "FetchContent build"; }
"$tmp/fetch/downstream"
case "$(libaule_of "$tmp/fetch/downstream")" in "$tmp/fetch"/*) ;; *) fail "not linked to the libaule FetchContent built" ;; esac

echo
echo "downstream: all four ways pass"
