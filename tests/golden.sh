#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# golden.sh: regenerates generated/ into a temporary folder and byte-compares.
# generated/ is made with the toolchain named in generated/TOOLCHAIN. With
# another glslang the SPIR-V (and so every key) differs, but the GLSL does not:
# then the portable kernels' .comp files are regenerated and compared without
# their first line (which names the key), and the test says what it skipped.
#   golden.sh AUEGEN SOURCE_DIR
set -u
auegen=$1
src=$2
have=$("$auegen" --version)
want=$(cat "$src/generated/TOOLCHAIN")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$have" != "$want" ]; then
    mkdir -p "$tmp/glsl"
    for spec in "$src"/specs/*.lua; do
        (cd "$src" && "$auegen" --spec "specs/$(basename "$spec")" --target portable --emit glsl \
            --out "$tmp/glsl" >/dev/null) || exit 1
    done
    n=0
    for f in "$tmp"/glsl/*.comp; do
        g="$src/generated/$(basename "$f")"
        [ -f "$g" ] || { echo "FAIL: $(basename "$f") is not in generated/"; exit 1; }
        if ! diff <(tail -n +2 "$f") <(tail -n +2 "$g") >/dev/null; then
            echo "FAIL: generated/$(basename "$f") differs from what this auegen writes"
            diff <(tail -n +2 "$g") <(tail -n +2 "$f") | head -20
            exit 1
        fi
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { echo "FAIL: no portable kernels generated"; exit 1; }
    echo "generated/ was made by '$want'; this build is '$have':"
    echo "compared the GLSL of $n portable kernels (byte-identical past the key line); SPIR-V, stubs and the other targets not compared"
    exit 0
fi
AUEGEN=$auegen "$src/scripts/regen-generated.sh" "$tmp/generated" || exit 1
if ! diff -r "$src/generated" "$tmp/generated"; then
    echo "FAIL: generated/ is stale: run scripts/regen-generated.sh and commit the result"
    exit 1
fi
echo "generated/: $(ls "$tmp/generated" | wc -l) files regenerated, byte-identical"
