#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plot.py - a PNG of `aule bench --json` results: TFLOP/s (or GB/s for
decode) against the sequence length, one line per kernel and kind.

    build/aule bench --spec specs/llama3.lua --seq 512,1024,2048 --json > bench.jsonl
    bench/plot.py bench.jsonl bench.png

Needs matplotlib (Debian: apt-get install python3-matplotlib; run it with
/usr/bin/python3 where another Python comes first on the PATH).
"""
import json
import sys


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"plot.py: matplotlib is missing ({e}): apt-get install python3-matplotlib", file=sys.stderr)
        return 1
    rows = []
    with open(argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    print(f"plot.py: {argv[1]}:{n}: not a JSON line ({e})", file=sys.stderr)
                    return 1
    if not rows:
        print(f"plot.py: {argv[1]} has no rows", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, 2 if any(r["kind"] == "decode" for r in rows) else 1, figsize=(11, 4.5),
                             squeeze=False)
    series = {}
    for r in rows:
        key = (r["kernel"], r["kind"])
        x = r["Sk"] if r["kind"] == "decode" else r["Sq"]
        y = r["gbs"] if r["kind"] == "decode" else r["tflops"]
        if y is not None:
            series.setdefault(key, []).append((x, y))
    for (kernel, kind), pts in sorted(series.items()):
        ax = axes[0][1] if kind == "decode" and axes.shape[1] > 1 else axes[0][0]
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{kernel} ({kind})")
    axes[0][0].set_xlabel("sequence length")
    axes[0][0].set_ylabel("TFLOP/s")
    axes[0][0].set_xscale("log", base=2)
    if axes.shape[1] > 1:
        axes[0][1].set_xlabel("KV length")
        axes[0][1].set_ylabel("GB/s of K/V")
        axes[0][1].set_xscale("log", base=2)
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"aule bench on {rows[0]['device']}")
    fig.tight_layout()
    fig.savefig(argv[2], dpi=110)
    print(f"plot.py: {len(rows)} rows, {len(series)} series -> {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
