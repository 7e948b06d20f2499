#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""doc_commands.py: the commands of README.md and docs/*.md run as written.

    doc_commands.py BUILD_DIR SOURCE_DIR [DOC...]

Each document's blocks run in order, in a scratch copy of the source tree
(its build/ is BUILD_DIR, its $HOME an empty folder), so a reader who follows
a page from the top gets what the test got:

  ```sh        a bash script, run with -e -o pipefail; it must exit 0
  ```python    run with Debian's python3, PYTHONPATH=python; it must exit 0
  ```console   a transcript: each `$ command` runs and must print exactly the
               lines that follow it (stdout and stderr); a command that fails
               must be followed by `$ echo $?` showing its status; a
               `$ cat NAME` of a file the tree does not have writes the
               lines it shows to NAME first (the transcript's own input)

A comment on the line before a fence changes that block:

  <!-- test: file NAME -->   the block is written to NAME (a spec a
                             transcript then uses) instead of being run
  <!-- test: skip REASON --> not run (a GPU, the network, an hour); a sh block
                             is still parsed by bash -n; listed with REASON

and `<!-- test: fresh build -->` anywhere in a document gives it no build/:
its blocks configure and build one themselves.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
MARK = re.compile(r"^<!--\s*test:\s*(\w+)\s*(.*?)\s*-->\s*$")
RUN_LANGS = ("sh", "python", "console")
SKIP_COPY = {".git", "dist", ".venv", "out"}
TIMEOUT = 900


def blocks_of(path):
    """(line, lang, marker, argument, text) for every fenced block of path."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{start + 1}: unterminated code block")
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = MARK.match(lines[k]) if k >= 0 else None
        out.append((start + 1, lang, mark.group(1) if mark else None,
                    mark.group(2) if mark else "", "\n".join(lines[start + 1:j]) + "\n"))
        i = j + 1
    return out


def scratch_tree(src, build, fresh):
    tmp = tempfile.mkdtemp(prefix="aule-doc-")
    for name in os.listdir(src):
        if name in SKIP_COPY or name.startswith("build"):
            continue
        s, d = os.path.join(src, name), os.path.join(tmp, name)
        if os.path.isdir(s) and not os.path.islink(s):
            shutil.copytree(s, d, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(s, d, follow_symlinks=False)
    if not fresh:
        os.symlink(build, os.path.join(tmp, "build"))
    os.mkdir(os.path.join(tmp, "home"))
    return tmp


def run(cmd, cwd, env, log):
    with open(log, "w") as f:
        try:
            return subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            f.write(f"\n(timed out after {TIMEOUT} s)\n")
            return 124


def tail(path, n=25):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def transcript(text):
    """[(command, expected output lines)] of a console block."""
    steps = []
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line.rstrip())
        else:
            raise ValueError(f"output before the first command: {line!r}")
    return steps


def run_console(text, cwd, env, where):
    steps = transcript(text)
    for cmd, want in steps:
        m = re.fullmatch(r"cat ([\w.-]+)", cmd.strip())
        if m and not os.path.exists(os.path.join(cwd, m.group(1))):
            with open(os.path.join(cwd, m.group(1)), "w") as f:
                f.write("\n".join(want) + "\n")
    script = []
    for i, (cmd, _) in enumerate(steps):
        # a group keeps $? for the next command (`$ echo $?`)
        script.append(f"{{ {cmd}\n}} > .out.{i} 2>&1; rc=$?; echo $rc > .rc.{i}; (exit $rc)")
    path = os.path.join(cwd, ".console.sh")
    with open(path, "w") as f:
        f.write("\n".join(script) + "\n")
    rc = run(["bash", path], cwd, env, path + ".log")
    if rc != 0:
        return f"{where}: the transcript did not run ({rc}): {tail(path + '.log')}"
    for i, (cmd, want) in enumerate(steps):
        got = [l.rstrip() for l in open(os.path.join(cwd, f".out.{i}"), errors="replace").read().split("\n")]
        while got and not got[-1]:
            got.pop()
        while want and not want[-1]:
            want = want[:-1]
        status = int(open(os.path.join(cwd, f".rc.{i}")).read())
        if got != want:
            diff = "\n".join(f"  want: {w}\n  got:  {g}" for w, g in
                             zip(want + [""] * len(got), got + [""] * len(want)) if w != g)
            return f"{where}: `$ {cmd}` printed something else:\n{diff}"
        nxt = steps[i + 1][0].strip() if i + 1 < len(steps) else ""
        if status != 0 and nxt != "echo $?":
            return f"{where}: `$ {cmd}` exited {status} and the transcript does not show it"
    return None


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    build, src = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    docs = sys.argv[3:] or (["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md")))
    ran, skipped, failures = 0, [], []
    for doc in docs:
        blocks = blocks_of(os.path.join(src, doc))
        todo = [b for b in blocks if b[1] in RUN_LANGS or b[2] == "file"]
        if not any(b[1] in RUN_LANGS for b in todo):
            continue
        fresh = "<!-- test: fresh build -->" in open(os.path.join(src, doc), encoding="utf-8").read()
        tmp = scratch_tree(src, build, fresh)
        env = dict(os.environ, HOME=os.path.join(tmp, "home"),
                   PATH=f"{build}:/usr/bin:/bin:" + os.environ.get("PATH", ""),
                   PYTHONPATH=os.path.join(tmp, "python"))
        env.setdefault("AULE_CACHE_DIR", os.path.join(build, "test-cache"))
        try:
            for n, (line, lang, mark, arg, text) in enumerate(todo):
                where = f"{doc}:{line}"
                first = next((l.strip() for l in text.split("\n") if l.strip()), "")[:80]
                if mark == "file":
                    with open(os.path.join(tmp, arg), "w") as f:
                        f.write(text)
                    continue
                if mark == "skip":
                    if lang == "sh" and subprocess.run(["bash", "-n", "-c", text]).returncode != 0:
                        failures.append(f"{where}: not valid bash")
                    skipped.append(f"{where} ({arg})")
                    print(f"not run {where}: {arg}")
                    continue
                if mark is not None:
                    failures.append(f"{where}: unknown test marker '{mark}'")
                    continue
                if lang == "console":
                    err = run_console(text, tmp, env, where)
                else:
                    ext = "sh" if lang == "sh" else "py"
                    path = os.path.join(tmp, f".block{n:02d}.{ext}")
                    with open(path, "w") as f:
                        f.write(text)
                    cmd = ["bash", "-e", "-o", "pipefail", path] if lang == "sh" else ["/usr/bin/python3", path]
                    rc = run(cmd, tmp, env, path + ".log")
                    err = None if rc == 0 else f"{where}: exited {rc}:\n{tail(path + '.log')}"
                if err:
                    failures.append(err)
                    print(f"FAIL    {where}: {first}")
                    break               # later blocks of the page depend on this one
                ran += 1
                print(f"ok      {where}: {first}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print(f"FAIL: {f}")
    print(f"doc_commands: {ran} blocks ran as written, {len(skipped)} not run, {len(failures)} failed")
    return 1 if failures or ran == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
