# SPDX-License-Identifier: MIT
"""test_numpy.py - aule.attention, aule.Tensor, aule.Spec and aule.KVCache on NumPy arrays,
against the float64 reference by FlashAttention's rule."""
import os

import numpy as np
import pytest

import aule
import reference as ref

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


@pytest.mark.parametrize("dtype,B,H,Hkv,Sq,Sk,D,kw", [
    ("f32", 1, 2, 2, 17, 17, 32, {}),
    ("f16", 2, 4, 2, 33, 33, 64, {"causal": True}),
    ("bf16", 1, 4, 1, 16, 40, 32, {"causal": True}),
    ("f16", 1, 2, 2, 40, 24, 16, {"causal": True}),                      # Sq > Sk: empty rows
    ("f16", 1, 2, 1, 48, 48, 32, {"window": (8, 0), "softcap": 20.0}),
    ("f32", 1, 3, 3, 9, 30, 24, {"window": (4, 3), "scale": 0.3}),
])
def test_forward(dtype, B, H, Hkv, Sq, Sk, D, kw):
    rng = np.random.default_rng(1)
    q, k, v = ref.random_inputs(rng, B, H, Hkv, Sq, Sk, D, D, dtype)
    o, lse = aule.attention(q, k, v, return_lse=True, **kw)
    assert o.dtype == q.dtype and o.shape == (B, H, Sq, D)
    assert lse.dtype == np.float32 and lse.shape == (B, H, Sq)
    rkw = {"window": (kw.get("window", (-1, -1))[0], 0 if kw.get("causal") else kw.get("window", (-1, -1))[1]),
           "softcap": kw.get("softcap", 0.0), "scale": kw.get("scale")}
    f = [ref.to_float(x, dtype) for x in (q, k, v)]
    ref.check_rule(ref.to_float(o, dtype), *f, dtype, **rkw)
    _, rlse = ref.attention(*f, **rkw)
    fin = np.isfinite(rlse)
    assert np.array_equal(fin, np.isfinite(lse))
    assert np.abs(lse[fin] - rlse[fin]).max() < 1e-4


def test_sinks_and_bshd():
    rng = np.random.default_rng(2)
    q, k, v = ref.random_inputs(rng, 2, 4, 2, 20, 20, 32, 32, "f16")
    sinks = rng.standard_normal(4).astype(np.float32)
    o = aule.attention(q, k, v, causal=True, sinks=sinks)
    f = [ref.to_float(x, "f16") for x in (q, k, v)]
    ref.check_rule(o.astype(np.float64), *f, "f16", window=(-1, 0), sinks=sinks)
    # the same call on [B][S][H][D] data gives the same numbers, transposed
    t = [np.ascontiguousarray(x.transpose(0, 2, 1, 3)) for x in (q, k, v)]
    ob = aule.attention(*t, causal=True, sinks=sinks, layout="bshd")
    assert ob.shape == (2, 20, 4, 32)
    np.testing.assert_array_equal(ob.transpose(0, 2, 1, 3), o)


def test_varlen():
    rng = np.random.default_rng(3)
    lq, lk = [5, 0, 12], [7, 3, 12]
    cq, ck = np.cumsum([0] + lq).astype(np.int32), np.cumsum([0] + lk).astype(np.int32)
    H, Hkv, D = 4, 2, 32
    q = rng.standard_normal((cq[-1], H, D)).astype(np.float16)
    k = rng.standard_normal((ck[-1], Hkv, D)).astype(np.float16)
    v = rng.standard_normal((ck[-1], Hkv, D)).astype(np.float16)
    o, lse = aule.attention(q, k, v, causal=True, cu_seqlens_q=cq, cu_seqlens_k=ck, return_lse=True)
    assert o.shape == q.shape and lse.shape == (H, cq[-1])
    for b in range(3):
        if lq[b] == 0:
            continue
        sl = lambda x, c: x[c[b]:c[b + 1]].transpose(1, 0, 2)[None].astype(np.float64)  # noqa: E731
        ref.check_rule(sl(o, cq), sl(q, cq), sl(k, ck), sl(v, ck), "f16", window=(-1, 0))


def test_tensors_persist():
    rng = np.random.default_rng(4)
    q, k, v = ref.random_inputs(rng, 1, 2, 2, 16, 16, 32, 32, "f32")
    tq, tk, tv = (aule.Tensor.from_numpy(x, layout="bhsd") for x in (q, k, v))
    assert tq.shape == q.shape and tq.nbytes == q.nbytes
    to = aule.attention(tq, tk, tv)
    assert isinstance(to, aule.Tensor)
    o1 = np.asarray(to)
    np.testing.assert_array_equal(o1, aule.attention(q, k, v))
    aule.attention(tq, tk, tv, out=to)           # into the same tensor again
    np.testing.assert_array_equal(to.numpy(), o1)
    tq.write(np.zeros_like(q))
    # q = 0: every key weighs the same, so each row is the mean of v
    np.testing.assert_allclose(np.asarray(aule.attention(tq, tk, tv)),
                               np.broadcast_to(v.mean(axis=2, keepdims=True), o1.shape), atol=1e-5)


def test_bf16_ml_dtypes_or_bits():
    rng = np.random.default_rng(5)
    q, k, v = ref.random_inputs(rng, 1, 2, 2, 8, 8, 16, 16, "bf16")
    o = aule.attention(q, k, v)
    assert o.dtype == np.uint16            # bits in, bits out
    try:
        import ml_dtypes
    except ImportError:
        return
    ob = aule.attention(*(x.view(ml_dtypes.bfloat16) for x in (q, k, v)))
    np.testing.assert_array_equal(ob.view(np.uint16), o)


def test_spec_from_file(tmp_path):
    p = tmp_path / "model.lua"
    p.write_text('attention { name = "m", head_dim = 32, gqa = 2, causal = true, dtype = "f16" }\n')
    spec = aule.Spec.from_file(p)
    assert "head_dim=32" in spec.canonical and "gqa=2" in spec.canonical
    rng = np.random.default_rng(6)
    q, k, v = ref.random_inputs(rng, 1, 4, 2, 12, 12, 32, 32, "f16")
    np.testing.assert_array_equal(aule.attention(q, k, v, spec=spec), aule.attention(q, k, v, causal=True))
    llama = aule.Spec.from_file(os.path.join(ROOT, "specs", "llama3.lua"), "llama3_8b_prefill")
    assert "gqa=4" in llama.canonical


def test_decode_paged():
    rng = np.random.default_rng(7)
    B, H, Hkv, D = 2, 4, 2, 32
    cache = aule.KVCache(batch=B, heads=H, kv_heads=Hkv, head_dim=D, max_seq=64, page_size=16, dtype="f16")
    ks, vs = [], []
    for n in (20, 1, 3):                     # a prompt, then tokens one and three at a time
        kn = rng.standard_normal((B, Hkv, n, D)).astype(np.float16)
        vn = rng.standard_normal((B, Hkv, n, D)).astype(np.float16)
        cache.append(kn, vn)
        ks.append(kn)
        vs.append(vn)
        q = rng.standard_normal((B, H, min(n, 3), D)).astype(np.float16)
        o, lse = cache.decode(q, return_lse=True)
        kk, vv = np.concatenate(ks, axis=2), np.concatenate(vs, axis=2)
        ref.check_rule(o.astype(np.float64), q.astype(np.float64), kk.astype(np.float64), vv.astype(np.float64),
                       "f16", window=(-1, 0))
    assert cache.lengths.tolist() == [24, 24]
    with pytest.raises(ValueError, match="max_seq"):
        cache.append(np.zeros((B, Hkv, 41, D), np.float16), np.zeros((B, Hkv, 41, D), np.float16))


def test_decode_sinks_f32():
    rng = np.random.default_rng(8)
    B, H, Hkv, D = 1, 2, 1, 16
    cache = aule.KVCache(batch=B, heads=H, kv_heads=Hkv, head_dim=D, max_seq=40, page_size=16, dtype="f32",
                         sinks=True)
    kn = rng.standard_normal((B, Hkv, 35, D)).astype(np.float32)
    vn = rng.standard_normal((B, Hkv, 35, D)).astype(np.float32)
    cache.append(kn, vn)
    q = rng.standard_normal((B, H, 2, D)).astype(np.float32)
    sinks = np.array([0.5, -1.0], np.float32)
    o = cache.decode(q, sinks=sinks, num_splits=2)
    ref.check_rule(o, q, kn, vn, "f32", window=(-1, 0), sinks=sinks)
    with pytest.raises(ValueError, match="sinks"):
        cache.decode(q)
