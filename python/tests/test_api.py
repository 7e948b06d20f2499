# SPDX-License-Identifier: MIT
"""test_api.py - bad inputs raise clear errors, the ctypes structs match the C ABI, the
library loads once, a thousand calls grow neither memory nor Vulkan objects, two threads
call at once."""
import ctypes
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import aule
from aule import _lib
import reference as ref


def _qkv(dtype=np.float32, H=2, Hkv=2, S=8, D=16):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((1, H, S, D)).astype(dtype), rng.standard_normal((1, Hkv, S, D)).astype(dtype),
            rng.standard_normal((1, Hkv, S, D)).astype(dtype))


def test_abi_sizes():
    """Sizes and offsets of include/aule.h's structs on LP64 Linux (x86-64, aarch64)."""
    sizes = {_lib.TensorDesc: 72, _lib.ContextDesc: 40, _lib.ForwardArgs: 80, _lib.BackwardArgs: 120,
             _lib.DecodeArgs: 88, _lib.AppendArgs: 64, _lib.ContextStats: 48, _lib.GenError: 236, _lib.Diag: 4728}
    for cls, size in sizes.items():
        assert ctypes.sizeof(cls) == size, cls.__name__
    assert (_lib.ForwardArgs.scale.offset, _lib.ForwardArgs.sinks.offset) == (64, 72)
    assert (_lib.BackwardArgs.scale.offset, _lib.BackwardArgs.dsinks.offset) == (96, 112)
    assert (_lib.DecodeArgs.scale.offset, _lib.DecodeArgs.num_splits.offset, _lib.DecodeArgs.sinks.offset) == (72, 76, 80)
    assert (_lib.ContextDesc.log.offset, _lib.Diag.errors.offset, _lib.TensorDesc.strides.offset) == (24, 8, 40)


@pytest.mark.parametrize("call,exc,match", [
    (lambda q, k, v: aule.attention(q[0], k, v), ValueError, "q must have 4 dimensions"),
    (lambda q, k, v: aule.attention(q, k[0], v), ValueError, "k must have 4 dimensions"),
    (lambda q, k, v: aule.attention(q.astype(np.float64), k, v), TypeError, "q has dtype float64"),
    (lambda q, k, v: aule.attention(q, k.astype(np.float16), v), TypeError, "k has dtype f16; q has f32"),
    (lambda q, k, v: aule.attention(q.transpose(0, 2, 1, 3), k, v), ValueError, "q is not C-contiguous"),
    (lambda q, k, v: aule.attention(q, k[:, :, ::2], v), ValueError, "k is not C-contiguous"),
    (lambda q, k, v: aule.attention(np.zeros((1, 3, 8, 16), np.float32), k, v), ValueError,
     "q has 3 heads and k 2"),
    (lambda q, k, v: aule.attention(q, k, v[:, :, :4].copy()), ValueError, "must agree"),
    (lambda q, k, v: aule.attention(q, k[..., :8].copy(), v), ValueError, "k has head dim 8; q has 16"),
    (lambda q, k, v: aule.attention(q.tolist(), k, v), TypeError, "q must be a NumPy array or an aule.Tensor"),
    (lambda q, k, v: aule.attention(q, k, v, window=(-3, 0)), ValueError, "window left must be >= 0 or -1"),
    (lambda q, k, v: aule.attention(q, k, v, window=5), TypeError, "window must be a pair"),
    (lambda q, k, v: aule.attention(q, k, v, sinks=np.zeros(3)), ValueError, r"sinks must have shape \(2,\)"),
    (lambda q, k, v: aule.attention(q, k, v, layout="sbhd"), ValueError, "layout must be"),
    (lambda q, k, v: aule.attention(q, k, v, scale=-1.0), ValueError, "scale must be a positive"),
    (lambda q, k, v: aule.attention(q[0], k[0], v[0], cu_seqlens_q=[0, 4, 8], cu_seqlens_k=[0, 5]), ValueError,
     "one length"),
])
def test_bad_inputs(call, exc, match):
    q, k, v = _qkv()
    with pytest.raises(exc, match=match):
        call(q, k, v)


def test_c_errors_surface():
    with pytest.raises(aule.Error) as e:
        aule.Spec.from_string('attention { name = "x", head_dim = 300 }', display_name="bad.lua")
    assert "bad.lua:1: head_dim must be" in str(e.value)
    q, k, v = _qkv()
    spec = aule.Spec.from_string('attention { name = "x", head_dim = 32, dtype = "f32" }')
    with pytest.raises(aule.Error) as e:            # a spec of another head dim: libaule says so
        aule.attention(q, k, v, spec=spec)
    assert e.value.status == "AULE_ERROR_INVALID_ARGUMENT" and e.value.message


def test_library_loaded_once_and_missing_library_message():
    assert os.path.exists(aule.library_path())
    env = dict(os.environ, AULE_LIBRARY="/nonexistent/libaule.so")
    code = "import aule\ntry:\n    aule.attention\n    aule.library_path()\nexcept ImportError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.join(os.path.dirname(__file__), "..")).stdout
    assert "cannot load libaule" in out and "/nonexistent/libaule.so" in out and "AULE_LIBRARY" in out


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_thousand_calls_no_growth():
    """1000 calls on one shape: no new staging tensors, exactly the input bytes to the device and
    the output bytes back per call, and the process RSS flat once warm."""
    ctx = aule.default_context()
    q, k, v = _qkv(np.float16, H=4, Hkv=2, S=32, D=32)
    for _ in range(50):
        aule.attention(q, k, v, causal=True)
    before, rss0 = ctx.stats(), _rss_kib()
    for _ in range(1000):
        o = aule.attention(q, k, v, causal=True)
    after, rss1 = ctx.stats(), _rss_kib()
    assert after["staging_created"] == before["staging_created"]
    assert after["live_tensors"] == before["live_tensors"]
    assert after["jit_compiles"] == before["jit_compiles"]
    assert after["bytes_to_device"] - before["bytes_to_device"] == 1000 * (q.nbytes + k.nbytes + v.nbytes)
    assert after["bytes_from_device"] - before["bytes_from_device"] == 1000 * o.nbytes
    assert after["dispatches"] - before["dispatches"] >= 1000
    growth = rss1 - rss0
    print(f"\nRSS over 1000 calls: {rss0} KiB -> {rss1} KiB ({growth:+d} KiB); "
          f"staging tensors {after['staging_tensors']}, created {after['staging_created'] - before['staging_created']}")
    assert growth < 2048, f"RSS grew by {growth} KiB over 1000 calls"


def test_two_threads():
    errors, results = [], {}

    def work(i):
        try:
            rng = np.random.default_rng(i)
            q, k, v = ref.random_inputs(rng, 1, 2, 2, 16 + 8 * i, 16 + 8 * i, 32, 32, "f32")
            for _ in range(50):
                o = aule.attention(q, k, v, causal=True)
            results[i] = (o, q, k, v)
        except Exception as e:          # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for o, q, k, v in results.values():
        ref.check_rule(o.astype(np.float64), q, k, v, "f32", window=(-1, 0))


def test_own_context_closes():
    with aule.Context() as ctx:
        q, k, v = _qkv()
        t = aule.Tensor.from_numpy(q, layout="bhsd", context=ctx)
        o = aule.attention(q, k, v, context=ctx)
        assert o.shape == q.shape and ctx.stats()["live_tensors"] >= 1
    with pytest.raises(ValueError, match="closed"):
        t.read()
