# SPDX-License-Identifier: MIT
"""PyTorch SDPA on the same shapes as `aule bench`, in the same run: the peer figures.

Prints CSV: backend,dtype,B,H,Hkv,S,D,causal,ms,tflops (median of CUDA-event timed calls;
FLOPs 4*B*H*S*S*D, halved when causal, as FlashAttention counts them).
Usage: python3 bench/sdpa_peer.py B H HKV D S[,S...] [--dtype f16|bf16] [--backends flash,cudnn] [--decode]
--decode: one query token against S keys; prints GB/s of K and V read instead of TFLOP/s.
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}


def median_ms(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end))
    out.sort()
    return out[len(out) // 2]


def main(argv):
    b, h, hkv, d = (int(x) for x in argv[1:5])
    seqs = [int(x) for x in argv[5].split(",")]
    dtype = torch.bfloat16 if "--dtype" in argv and argv[argv.index("--dtype") + 1] == "bf16" else torch.float16
    names = argv[argv.index("--backends") + 1].split(",") if "--backends" in argv else ["flash", "cudnn"]
    if "--decode" in argv:
        print("backend,dtype,B,H,Hkv,S,D,ms,kv_gbs")
        for s in seqs:
            q = torch.randn(b, h, 1, d, device="cuda", dtype=dtype)
            k = torch.randn(b, hkv, s, d, device="cuda", dtype=dtype)
            v = torch.randn(b, hkv, s, d, device="cuda", dtype=dtype)
            kv_bytes = 2.0 * b * hkv * s * d * q.element_size()
            for name in names:
                try:
                    with sdpa_kernel(BACKENDS[name]):
                        ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=h != hkv))
                    print(f"{name},{str(dtype)[6:]},{b},{h},{hkv},{s},{d},{ms:.4f},{kv_bytes / ms / 1e6:.1f}", flush=True)
                except Exception as e:
                    print(f"{name},{str(dtype)[6:]},{b},{h},{hkv},{s},{d},,{type(e).__name__}")
            del q, k, v
            torch.cuda.empty_cache()
        return
    print("backend,dtype,B,H,Hkv,S,D,causal,ms,tflops")
    for s in seqs:
        for causal in (False, True):
            q = torch.randn(b, h, s, d, device="cuda", dtype=dtype)
            k = torch.randn(b, hkv, s, d, device="cuda", dtype=dtype)
            v = torch.randn(b, hkv, s, d, device="cuda", dtype=dtype)
            flops = 4.0 * b * h * s * s * d / (2 if causal else 1)
            for name in names:
                try:
                    with sdpa_kernel(BACKENDS[name]):
                        ms = median_ms(lambda: F.scaled_dot_product_attention(
                            q, k, v, is_causal=causal, enable_gqa=h != hkv))
                    print(f"{name},{str(dtype)[6:]},{b},{h},{hkv},{s},{d},{int(causal)},{ms:.4f},"
                          f"{flops / ms / 1e9:.1f}", flush=True)
                except Exception as e:  # a backend that refuses a shape is a result too
                    print(f"{name},{str(dtype)[6:]},{b},{h},{hkv},{s},{d},{int(causal)},,,{type(e).__name__}")
            del q, k, v
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main(sys.argv)
