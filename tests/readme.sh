#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readme.sh: every ```sh block of README.md runs as written (each as one bash
# script with -e, in a scratch folder whose build/, specs/, bench/ and python/
# are this tree's), except the first: the set-up and test commands, which are
# what runs this test.
#   readme.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for d in specs bench python scripts; do ln -s "$src/$d" "$tmp/$d"; done
ln -s "$build" "$tmp/build"
export AULE_CACHE_DIR=$build/test-cache
awk -v dir="$tmp" '
    /^```sh$/ { n++; inblock = 1; file = sprintf("%s/block%02d.sh", dir, n); next }
    /^```/ && inblock { inblock = 0; close(file); next }
    inblock { print > file }
' "$src/README.md"
blocks=$(ls "$tmp"/block*.sh 2>/dev/null | sort)
[ -n "$blocks" ] || fail "no sh blocks in README.md"
ran=0
for b in $blocks; do
    [ "$(basename "$b")" = block01.sh ] && continue     # scripts/run.sh, scripts/test.sh
    (cd "$tmp" && bash -e "$b") >"$b.log" 2>&1 || { cat "$b.log" | tail -20; fail "README block $(basename "$b" .sh): $(head -1 "$b")"; }
    ran=$((ran + 1))
    echo "ok   $(head -1 "$b" | cut -c1-90)"
done
echo "readme: $ran command blocks of README.md ran as written"
