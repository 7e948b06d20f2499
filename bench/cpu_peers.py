# SPDX-License-Identifier: MIT
"""The CPU peers of bench_cpu, in the same run: NumPy naive attention (fp32) and PyTorch's
CPU scaled_dot_product_attention (fp32 and bf16), B=1, H=8, D=128, Sq=Sk=S.

Prints markdown rows: | peer | shape | ms | GFLOP/s | of peak | with FLOPs counted as
FlashAttention does (4*B*H*S*S*D, halved when causal), the fraction of the FMA peak given.
Usage: /usr/bin/python3 bench/cpu_peers.py PEAK_GFLOPS THREADS S[,S...]
A case whose smaller size took over 20 s is not run at the larger sizes.
"""
import sys
import time


def best_ms(fn, reps):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


def row(name, s, causal, ms, peak):
    flops = 4.0 * 8 * s * s * 128 / (2 if causal else 1)
    gf = flops / (ms * 1e-3) / 1e9
    print(f"| {name}{' causal' if causal else ''} | D128 H8 S{s} | {ms:.1f} | {gf:.1f} GFLOP/s | {gf / peak:.2f} |",
          flush=True)
    return ms


def numpy_case(s, causal, peak):
    import numpy as np
    rng = np.random.default_rng(1)
    q, k, v = (rng.uniform(-1, 1, (8, s, 128)).astype(np.float32) for _ in range(3))
    mask = np.triu(np.ones((s, s), dtype=bool), 1) if causal else None

    def run():
        for h in range(8):   # one head at a time: S x S scores of one head in memory
            x = (q[h] @ k[h].T) * np.float32(1 / np.sqrt(128))
            if mask is not None:
                x[mask] = -np.inf
            x = np.exp(x - x.max(axis=1, keepdims=True))
            x /= x.sum(axis=1, keepdims=True)
            _ = x @ v[h]
    return row("NumPy naive fp32 (%s)" % blas_name(), s, causal, best_ms(run, 2), peak)


def blas_name():
    import numpy as np
    try:
        info = np.__config__.get_info("blas_opt_info") or {}
        libs = ",".join(info.get("libraries", []))
    except Exception:
        libs = ""
    return libs or "BLAS"


def torch_case(s, causal, dtype, peak):
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.rand((1, 8, s, 128), generator=g).mul(2).sub(1).to(dtype) for _ in range(3))
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is None:   # torch 1.13: the private function, which returns (output, weights)
        fn = lambda: F._scaled_dot_product_attention(q, k, v, is_causal=causal)[0]
    else:
        fn = lambda: sdpa(q, k, v, is_causal=causal)
    fn()
    name = "PyTorch %s SDPA %s" % (torch.__version__.split("+")[0], "bf16" if dtype == torch.bfloat16 else "fp32")
    return row(name, s, causal, best_ms(fn, 2), peak)


def main():
    peak, threads = float(sys.argv[1]), int(sys.argv[2])
    sizes = [int(x) for x in sys.argv[3].split(",")]
    try:
        import torch
        torch.set_num_threads(threads)
        cases = [("torch", False, torch.float32), ("torch", True, torch.float32),
                 ("torch", False, torch.bfloat16), ("torch", True, torch.bfloat16)]
    except ImportError:
        print("| PyTorch | not installed | | | |")
        cases = []
    cases = [("numpy", False, None), ("numpy", True, None)] + cases
    slow = set()
    for s in sizes:
        for kind, causal, dtype in cases:
            key = (kind, causal, dtype)
            if key in slow:
                continue
            ms = numpy_case(s, causal, peak) if kind == "numpy" else torch_case(s, causal, dtype, peak)
            if ms > 20000:
                slow.add(key)


if __name__ == "__main__":
    main()
