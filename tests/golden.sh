#!/usr/bin/env bash
# golden.sh: regenerates generated/ into a temporary folder and byte-compares.
# generated/ is made with the toolchain named in generated/TOOLCHAIN; with
# another glslang the SPIR-V differs, so the test is skipped (77) and says so.
#   golden.sh AUEGEN SOURCE_DIR
set -u
auegen=$1
src=$2
have=$("$auegen" --version)
want=$(cat "$src/generated/TOOLCHAIN")
if [ "$have" != "$want" ]; then
    echo "skip: generated/ was made by '$want'; this build is '$have'"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
AUEGEN=$auegen "$src/scripts/regen-generated.sh" "$tmp/generated" || exit 1
if ! diff -r "$src/generated" "$tmp/generated"; then
    echo "FAIL: generated/ is stale: run scripts/regen-generated.sh and commit the result"
    exit 1
fi
echo "generated/: $(ls "$tmp/generated" | wc -l) files regenerated, byte-identical"
