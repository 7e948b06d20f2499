#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""api_reference.py - writes docs/api.md, the API reference, from the public
headers: each header's opening comment, then every declaration marked
AULE_API or AUEGEN_API with the comment right above it (or on its line), and
the public types (typedef struct/enum) with theirs. The header comments are
the documentation; this page only gathers them, so it never drifts:
tests/docs.sh regenerates it and compares.

    scripts/api_reference.py SOURCE_DIR [--check]
"""
import re
import sys

HEADERS = ["aule.h", "auegen.h", "aule_check.h", "aule_reference.h", "auegen_abi.h", "auegen_spec_fields.h",
           "aule_export.h"]


def comment_text(lines):
    """The text of a C comment block, without its markers."""
    out = []
    for line in lines:
        s = line.strip()
        s = re.sub(r"^/\*+\s?", "", s)
        s = re.sub(r"\s*\*+/$", "", s)
        s = re.sub(r"^\*\s?", "", s)
        out.append(s)
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def header_doc(path):
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    # The opening comment (after the SPDX line).
    i = 0
    while i < len(lines) and (lines[i].startswith("/* SPDX") or not lines[i].strip()):
        i += 1
    opening = []
    if i < len(lines) and lines[i].lstrip().startswith("/*"):
        while i < len(lines):
            opening.append(lines[i])
            if "*/" in lines[i]:
                break
            i += 1
    items = []
    n = len(lines)
    j = i + 1
    while j < n:
        line = lines[j]
        marked = re.match(r"\s*(AULE_API|AUEGEN_API)\b", line)
        typedef = re.match(r"typedef (struct|enum) (\w+) \{", line)
        if marked or typedef:
            # The declaration: up to the ';' (functions) or the closing '} name;' (types).
            k = j
            if typedef:
                while k < n and not re.match(r"\}\s*\w+;", lines[k]):
                    k += 1
            else:
                while k < n and ";" not in lines[k]:
                    k += 1
            decl = "\n".join(lines[j:k + 1])
            # The comment block right above (contiguous), if any.
            c = j - 1
            above = []
            if c >= 0 and lines[c].rstrip().endswith("*/"):
                end = c
                while c >= 0 and "/*" not in lines[c]:
                    c -= 1
                above = lines[c:end + 1]
            name = typedef.group(2) if typedef else re.search(r"(\w+)\s*\(", decl).group(1)
            items.append((name, decl, comment_text(above) if above else ""))
            j = k + 1
            continue
        j += 1
    return comment_text(opening), items


def render(src):
    out = ["# API reference", "",
           "Generated from the comments of the public headers in include/ by",
           "scripts/api_reference.py (tests/docs.sh checks that it is current). The",
           "headers are the source: change a comment there and run",
           "`scripts/api_reference.py . --write`.", ""]
    for h in HEADERS:
        opening, items = header_doc(f"{src}/include/{h}")
        out += [f"## {h}", ""]
        if opening:
            out += [opening, ""]
        for name, decl, doc in items:
            out += [f"### `{name}`", "", "```c", decl.strip("\n"), "```", ""]
            if doc:
                out += [doc, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = argv[1]
    text = render(src)
    path = f"{src}/docs/api.md"
    if "--write" in argv:
        open(path, "w", encoding="utf-8").write(text)
        return 0
    try:
        have = open(path, encoding="utf-8").read()
    except OSError:
        have = ""
    if have != text:
        print("docs/api.md is not what the headers say: run scripts/api_reference.py . --write", file=sys.stderr)
        return 1
    print(f"docs/api.md: {text.count(chr(10) + '### ')} declarations, current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
