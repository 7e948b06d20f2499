#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# docs.sh - checks the documentation against the source tree.
#
#   tests/docs.sh ROOT            check; exit 1 and say what differs
#   tests/docs.sh ROOT --update   rewrite docs/kernels.md's ABI tables
#
# 1. docs/kernels.md's ABI tables, between <!-- abi:FAMILY --> and <!-- /abi -->,
#    are what include/auegen_abi.h declares: a small C program includes the
#    header, expands each family's X-macro lists (offsets by offsetof) and
#    prints the tables; a block that differs fails and the expected block is printed.
# 2. Every repository path that docs/*.md and README.md mention (gen/x.c,
#    include/x.h, templates/x.comp, tests/x, scripts/x, bench/x, specs/x,
#    docs/x.md, ...), every relative Markdown link and every bare NAME.md exists
#    in the source tree; machine paths (/work/, /root/, /tmp/, ../shared) are not
#    mentioned at all.
set -u
root=${1:?usage: docs.sh ROOT [--update]}
update=${2:-}
cd "$root" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

# --- 1. ABI tables ------------------------------------------------------------------
cat >"$tmp/abi_tables.c" <<'EOF'
/* Prints the ABI tables of docs/kernels.md from include/auegen_abi.h (tests/docs.sh). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "auegen_abi.h"

/* Markdown-safe: a | in a description would split the cell. */
static void cell(const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            putchar('\\');
        putchar(*s);
    }
}

#define PUSH_ROW(type, n, doc) printf("| `%s` | %s | %zu | ", #n, #type, offsetof(S, n)), cell(doc), puts(" |");
#define BINDING_ROW(n, doc) printf("| %d | `%s` | ", i++, #n), cell(doc), puts(" |");
#define FLAG_ROW(n, value, doc) printf("| `%s` | %u | ", #n, (unsigned)(value)), cell(doc), puts(" |"), flags++;

#define FAMILY_PRINTER(NAME, name, prefix)                                                          \
    static void print_##name(void)                                                                  \
    {                                                                                               \
        typedef auegen_##name##_push S;                                                             \
        int i = 0, flags = 0;                                                                       \
        printf("Push constants: `auegen_%s_push`, %zu words, %zu bytes.\n\n", #name,                \
               sizeof(S) / 4, sizeof(S));                                                           \
        puts("| field | type | offset | meaning |");                                                \
        puts("| --- | --- | ---: | --- |");                                                        \
        prefix##_PUSH(PUSH_ROW)                                                                     \
        printf("\nBindings, set 0 (C: `%s_BINDING_<name>`, GLSL: `BINDING_<name>`):\n\n", #prefix); \
        puts("| binding | name | meaning |");                                                      \
        puts("| ---: | --- | --- |");                                                              \
        prefix##_BINDINGS(BINDING_ROW)                                                              \
        (void)i;                                                                                    \
        static const char *flag_rows[] = {"" prefix##_FLAGS(FLAG_NAME) };                           \
        if (sizeof flag_rows / sizeof *flag_rows > 1) {                                             \
            puts("\nFlags (the `flags` field; GLSL: `const uint NAME`):\n");                       \
            puts("| flag | value | meaning |");                                                     \
            puts("| --- | ---: | --- |");                                                          \
        }                                                                                           \
        prefix##_FLAGS(FLAG_ROW)                                                                    \
        (void)flags;                                                                                \
    }
#define FLAG_NAME(n, value, doc) , #n
AUEGEN_FAMILIES(FAMILY_PRINTER)

int main(int argc, char **argv)
{
#define FAMILY_CASE(NAME, name, prefix)                  \
    if (argc < 2)                                        \
        puts(#name);                                     \
    else if (strcmp(argv[1], #name) == 0) {              \
        print_##name();                                  \
        return 0;                                        \
    }
    AUEGEN_FAMILIES(FAMILY_CASE)
    return argc < 2 ? 0 : 1;
}
EOF
if ! ${CC:-cc} -std=c11 -Wall -Werror -I include -o "$tmp/abi_tables" "$tmp/abi_tables.c" 2>"$tmp/cc.log"; then
    echo "docs: cannot compile the ABI table printer against include/auegen_abi.h:"
    cat "$tmp/cc.log"
    exit 1
fi

kernels=docs/kernels.md
families=$("$tmp/abi_tables")
for f in $families; do
    "$tmp/abi_tables" "$f" >"$tmp/want.$f" || { echo "docs: no ABI table for family $f"; exit 1; }
done

# The blocks as the doc has them, one file each (a family's block named twice: an error).
awk -v dir="$tmp" '
    /^<!-- abi:[a-z0-9_]+ -->$/ { name = substr($0, 10); sub(/ -->$/, "", name);
                               if (name in seen) { print "docs: docs/kernels.md has two <!-- abi:" name " --> blocks"; bad = 1 }
                               seen[name] = 1; file = dir "/have." name; printf "" > file; next }
    /^<!-- \/abi -->$/ { if (file == "") { print "docs: docs/kernels.md: <!-- /abi --> without an opening marker"; bad = 1 }
                         close(file); file = ""; next }
    file != "" { print > file }
    END { if (file != "") { print "docs: docs/kernels.md: a <!-- abi: --> block is not closed"; bad = 1 }
          exit bad }' "$kernels" || status=1

for f in $families; do
    if [ ! -f "$tmp/have.$f" ]; then
        echo "docs: $kernels has no ABI table for the $f family (<!-- abi:$f --> ... <!-- /abi -->)"
        status=1
        continue
    fi
    # The block is the generated table with one blank line on each side.
    { echo; cat "$tmp/want.$f"; echo; } >"$tmp/wantblock.$f"
    if ! cmp -s "$tmp/have.$f" "$tmp/wantblock.$f"; then
        if [ "$update" = --update ]; then
            echo "docs: updating the $f ABI table in $kernels"
        else
            echo "docs: $kernels: the $f ABI table differs from include/auegen_abi.h; expected (tests/docs.sh ROOT --update writes it):"
            echo "<!-- abi:$f -->"
            cat "$tmp/wantblock.$f"
            echo "<!-- /abi -->"
            diff "$tmp/wantblock.$f" "$tmp/have.$f" | sed 's/^/    /'
            status=1
        fi
    fi
done
for h in "$tmp"/have.*; do
    [ -e "$h" ] || continue
    f=${h##*/have.}
    case " $(echo $families) " in
    *" $f "*) ;;
    *) echo "docs: $kernels has an ABI table for '$f', which include/auegen_abi.h does not declare"; status=1 ;;
    esac
done

if [ "$update" = --update ]; then
    awk -v dir="$tmp" '
        /^<!-- abi:[a-z0-9_]+ -->$/ { print; name = substr($0, 10); sub(/ -->$/, "", name);
                                   skip = 1; f = dir "/wantblock." name;
                                   while ((getline line < f) > 0) print line; close(f); next }
        /^<!-- \/abi -->$/ { skip = 0 }
        !skip { print }' "$kernels" >"$tmp/kernels.md" && cat "$tmp/kernels.md" >"$kernels"
    exit 0
fi

# --- 2. paths the docs mention ------------------------------------------------------
docs=(README.md docs/*.md)
top='(gen|include|runtime|templates|tests|scripts|bench|specs|docs|cmake|generated)'
missing=()

# One level of {a,b} in a path: prints each expansion.
expand_braces() {
    local p=$1
    if [[ $p =~ ^([^{]*)\{([^}]*)\}(.*)$ ]]; then
        local pre=${BASH_REMATCH[1]} alts=${BASH_REMATCH[2]} post=${BASH_REMATCH[3]} a
        IFS=, read -ra parts <<<"$alts"
        for a in "${parts[@]}"; do expand_braces "$pre$a$post"; done
    else
        printf '%s\n' "$p"
    fi
}

exists() {
    local p=$1
    if [[ $p == *'*'* ]]; then
        compgen -G "$p" >/dev/null
    else
        [ -e "$p" ]
    fi
}

for doc in "${docs[@]}"; do
    [ -f "$doc" ] || continue
    # Repository paths, not preceded by a path character (so build/tests/x and
    # $OUT/docs/x are not taken for tests/x and docs/x).
    while IFS= read -r p; do
        p=${p#?}                     # the character before the path
        p=${p%%[.,:;]}               # sentence punctuation
        p=${p%%[.,:;]}
        while IFS= read -r q; do
            exists "$q" || missing+=("$doc: $q")
        done < <(expand_braces "$p")
    done < <(sed 's/^/ /' "$doc" | grep -oE "[^A-Za-z0-9_./\$~{-]$top/([A-Za-z0-9_.*-]|\{[A-Za-z0-9_.,-]*\}|/)+")
    # Relative Markdown links: [text](file.md#anchor) from the doc's folder.
    while IFS= read -r l; do
        l=${l#](}; l=${l%)}; l=${l%%#*}
        [ -n "$l" ] || continue
        case $l in http://* | https://* | mailto:*) continue ;; esac
        [ -e "$(dirname "$doc")/$l" ] || missing+=("$doc: link $l")
    done < <(grep -oE '\]\([^)[:space:]]+\)' "$doc")
    # Bare NAME.md (DESIGN.md, STYLE.md): must be a file at the top, in docs/ or beside the doc.
    while IFS= read -r m; do
        m=${m#?}
        [ -e "$m" ] || [ -e "docs/$m" ] || [ -e "$(dirname "$doc")/$m" ] || missing+=("$doc: $m")
    done < <(sed 's/^/ /' "$doc" | grep -oE '[^A-Za-z0-9_./-][A-Za-z0-9_-]+\.md\b')
    # Paths of a particular machine.
    while IFS= read -r hit; do
        missing+=("$doc: machine path: $hit")
    done < <(grep -nE '(^|[^A-Za-z0-9_.~-])/(work|root|tmp)/|\.\./shared' "$doc")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "docs: these are mentioned but not in the source tree:"
    printf '  %s\n' "${missing[@]}" | sort -u
    status=1
fi
# The API reference: generated from the public headers' comments, so it must be current.
python3 scripts/api_reference.py . || status=1

[ $status -eq 0 ] && echo "docs: ABI tables of $(echo $families | wc -w) families match include/auegen_abi.h; every path the docs mention exists"
exit $status
