#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""python_overhead.py - what the Python binding costs (a benchmark, not a test).

1. Per-call overhead on small shapes: aule.attention on NumPy arrays (write Q, K, V,
   run, read O into a new array) against the same calls made directly from C
   (bench/python_baseline.c, compiled here with cc against the built libaule), in the
   same run, alternating so both see the same machine load. Goal: under 1.2x.
2. Memory: process RSS and libaule's counters over 1000 calls.
3. A model-sized shape (Llama-3-8B heads: H 32, Hkv 8, D 128, causal, f32) on the
   default device (lavapipe without a GPU) against torch's CPU SDPA in the same run.

    /usr/bin/python3 bench/python_overhead.py [--calls N] [--seq S] [--no-model]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

import aule  # noqa: E402


def c_baseline(lib, calls, H, S, D, exe):
    out = subprocess.run([exe, str(calls), str(H), str(S), str(D)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(lib)))
    return float(out.stdout)


def py_per_call(calls, H, S, D):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, S, D)).astype(np.float16) for _ in range(3))
    for _ in range(calls // 10 + 1):
        aule.attention(q, k, v)
    t0 = time.perf_counter()
    for _ in range(calls):
        aule.attention(q, k, v)
    return (time.perf_counter() - t0) * 1e6 / calls


def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--no-model", action="store_true")
    a = ap.parse_args()
    lib = aule.library_path()
    print(f"libaule: {lib}")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "python_baseline")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "python_baseline.c"),
                        "-I", os.path.join(ROOT, "include"), os.path.realpath(lib),
                        f"-Wl,-rpath,{os.path.dirname(os.path.realpath(lib))}"], check=True)
        print("\n1. per call (us), write Q, K, V + forward + read O, f16 [1][H][S][D]; median of 3 alternating rounds")
        print(f"{'shape':>18} {'C direct':>10} {'aule.attention':>15} {'ratio':>7}")
        for H, S, D in ((1, 16, 64), (4, 64, 64), (8, 128, 64)):
            cs, ps = [], []
            calls = max(50, a.calls * 16 // (H * S))
            for _ in range(3):
                cs.append(c_baseline(lib, calls, H, S, D, exe))
                ps.append(py_per_call(calls, H, S, D))
            c, p = np.median(cs), np.median(ps)
            print(f"{f'H{H} S{S} D{D}':>18} {c:10.1f} {p:15.1f} {p / c:7.2f}x")

    print("\n2. 1000 calls of aule.attention after 500 warm-up calls, f16 [1][4][64][64]")
    ctx = aule.default_context()
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 4, 64, 64)).astype(np.float16) for _ in range(3))
    for _ in range(500):
        aule.attention(q, k, v)
    s0, r0 = ctx.stats(), rss_kib()
    for _ in range(1000):
        aule.attention(q, k, v)
    s1, r1 = ctx.stats(), rss_kib()
    after = []
    for _ in range(3):                  # and three thousand more: RSS after each thousand
        for _ in range(1000):
            aule.attention(q, k, v)
        after.append(rss_kib())
    print(f"   RSS {r0} -> {r1} KiB ({r1 - r0:+d} KiB), then {after} KiB after each further 1000; staging tensors created {s1['staging_created'] - s0['staging_created']}"
          f", live tensors {s0['live_tensors']} -> {s1['live_tensors']}; bytes to device per call "
          f"{(s1['bytes_to_device'] - s0['bytes_to_device']) // 1000} (Q+K+V = {3 * q.nbytes}), back per call "
          f"{(s1['bytes_from_device'] - s0['bytes_from_device']) // 1000} (O = {q.nbytes})")

    if a.no_model:
        return
    try:
        import torch
        from aule.torch import torch_sdpa
    except ImportError:
        print("\n3. skipped: no torch")
        return
    S = a.seq
    print(f"\n3. model-sized: B 1, H 32, Hkv 8, S {S}, D 128, causal, f32 (ms per call, best of 3)")
    q = rng.standard_normal((1, 32, S, 128)).astype(np.float32)
    k, v = (rng.standard_normal((1, 8, S, 128)).astype(np.float32) for _ in range(2))
    aule.attention(q, k, v, causal=True)
    ta = min(_timed(lambda: aule.attention(q, k, v, causal=True)) for _ in range(3))
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    tk, tv = (x.repeat_interleave(4, dim=1) for x in (tk, tv))
    torch_sdpa(tq, tk, tv, is_causal=True)
    tt = min(_timed(lambda: torch_sdpa(tq, tk, tv, is_causal=True)) for _ in range(3))
    print(f"   aule on {aule_device()}: {ta:.1f} ms;  torch {torch.__version__} CPU SDPA "
          f"({torch.get_num_threads()} threads): {tt:.1f} ms;  ratio {ta / tt:.2f}x")


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def aule_device():
    return os.environ.get("AULE_DEVICE") or "the default device"


if __name__ == "__main__":
    main()
