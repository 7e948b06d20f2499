# SPDX-License-Identifier: MIT
"""reference.py - float64 NumPy attention and FlashAttention's correctness rule for the tests.

    max|out - ref| <= 2 * max|naive - ref| + 1e-6     (gradients: 3x, floor 1e-5)

ref: float64 throughout on the inputs as stored; naive: the same inputs in fp32,
P rounded to the storage dtype before P.V, the output rounded to it too.
Layout [B][H][S][D]; query head h reads KV head h // (H // Hkv); masks bottom-right.
"""
import numpy as np


def bf16_round(x):
    """float -> nearest bfloat16 (ties to even), returned as float32."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def bf16_bits(x):
    return (bf16_round(x).view(np.uint32) >> 16).astype(np.uint16)


def bf16_from_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def to_float(a, dtype):
    """The values of an array of storage dtype ('f32', 'f16', 'bf16' as uint16 bits) as float64."""
    return (bf16_from_bits(a) if dtype == "bf16" else a.astype(np.float32)).astype(np.float64)


def round_to(x, dtype):
    if dtype == "f32":
        return np.asarray(x, np.float32)
    if dtype == "f16":
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)
    return bf16_round(x)


def random_inputs(rng, B, H, Hkv, Sq, Sk, D, Dv, dtype):
    """q, k, v in storage form (uint16 bits for bf16)."""
    def make(shape):
        x = rng.standard_normal(shape).astype(np.float32)
        return {"f32": x, "f16": x.astype(np.float16), "bf16": bf16_bits(x)}[dtype]
    return make((B, H, Sq, D)), make((B, Hkv, Sk, D)), make((B, Hkv, Sk, Dv))


def mask(Sq, Sk, left=-1, right=-1):
    i = np.arange(Sq)[:, None] + Sk - Sq
    j = np.arange(Sk)[None, :]
    ok = np.ones((Sq, Sk), bool)
    if left >= 0:
        ok &= j >= i - left
    if right >= 0:
        ok &= j <= i + right
    return ok


def attention(q, k, v, *, window=(-1, -1), softcap=0.0, scale=None, sinks=None, p_dtype=None, work=np.float64):
    """q [B][H][Sq][D], k/v [B][Hkv][Sk][D] as floats; returns O, LSE in `work` precision."""
    q, k, v = (np.asarray(x, work) for x in (q, k, v))
    B, H, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    g = H // Hkv
    k = np.repeat(k, g, axis=1)
    v = np.repeat(v, g, axis=1)
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    s = np.einsum("bhqd,bhkd->bhqk", q, k) * work(scale)
    if softcap:
        s = work(softcap) * np.tanh(s / work(softcap))
    ok = mask(Sq, Sk, *window)
    s = np.where(ok, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    if sinks is not None:
        m = np.maximum(m, np.asarray(sinks, work).reshape(1, H, 1, 1))
    m_safe = np.where(np.isfinite(m), m, 0)
    e = np.exp(s - m_safe)
    den = e.sum(axis=-1, keepdims=True)
    if sinks is not None:
        den = den + np.exp(np.asarray(sinks, work).reshape(1, H, 1, 1) - m_safe)
    p = np.where(den > 0, e / np.where(den > 0, den, 1), 0)
    if p_dtype is not None:
        p = round_to(p, p_dtype).astype(work)
    o = np.einsum("bhqk,bhkd->bhqd", p, v)
    with np.errstate(divide="ignore"):
        lse = (np.log(den) + m_safe)[..., 0]
    lse = np.where(den[..., 0] > 0, lse, -np.inf)
    return o, lse


def check_rule(out, q, k, v, dtype, factor=2.0, floor=1e-6, **kw):
    """Asserts FlashAttention's rule for out (floats) against ref and the same-precision naive."""
    ref, _ = attention(q, k, v, **kw)
    naive, _ = attention(q, k, v, p_dtype=dtype, work=np.float32, **kw)
    naive = round_to(naive, dtype).astype(np.float64)
    err = np.abs(np.asarray(out, np.float64) - ref).max()
    bound = factor * np.abs(naive - ref).max() + floor
    assert err <= bound, f"max|out - ref| = {err:.3g} > {factor} * max|naive - ref| + {floor} = {bound:.3g}"
    return err, bound


def attention_backward(q, k, v, do, *, window=(-1, -1), softcap=0.0, scale=None, sinks=None, dtype=None,
                       work=np.float64):
    """dq, dk, dv (and dsinks) of attention. dtype set: the same-precision naive backward
    (fp32; P, dP and dS rounded to the storage dtype, as FlashAttention's reference holds them)."""
    q, k, v, do = (np.asarray(x, work) for x in (q, k, v, do))
    rnd = (lambda x: round_to(x, dtype).astype(work)) if dtype else (lambda x: x)
    B, H, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    g = H // Hkv
    kr, vr = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
    scale = work(1.0 / np.sqrt(D) if scale is None else scale)
    s = np.einsum("bhqd,bhkd->bhqk", q, kr) * scale
    t = None
    if softcap:
        t = np.tanh(s / work(softcap))
        s = work(softcap) * t
    s = np.where(mask(Sq, Sk, *window), s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    sk = None if sinks is None else np.asarray(sinks, work).reshape(1, H, 1, 1)
    if sk is not None:
        m = np.maximum(m, sk)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(s - m)
    den = e.sum(axis=-1, keepdims=True) + (np.exp(sk - m) if sk is not None else 0)
    safe = np.where(den > 0, den, 1)
    p = rnd(np.where(den > 0, e / safe, 0))
    o = rnd(np.einsum("bhqk,bhkd->bhqd", p, vr))
    dvr = np.einsum("bhqk,bhqd->bhkd", p, do)
    dp = rnd(np.einsum("bhqd,bhkd->bhqk", do, vr))
    Dr = (do * o).sum(axis=-1, keepdims=True)
    ds = rnd(p * (dp - Dr))
    if t is not None:
        ds = ds * (1 - t * t)
    dq = np.einsum("bhqk,bhkd->bhqd", ds, kr) * scale
    dkr = np.einsum("bhqk,bhqd->bhkd", ds, q) * scale
    dk = dkr.reshape(B, Hkv, g, Sk, D).sum(axis=2)
    dv = dvr.reshape(B, Hkv, g, Sk, v.shape[3]).sum(axis=2)
    out = [rnd(dq), rnd(dk), rnd(dv)]
    if sk is not None:
        psink = np.where(den > 0, np.exp(sk - m) / safe, 0)
        out.append(-(psink * Dr).sum(axis=(0, 2, 3)))
    return out


def check_grad_rule(got, ref_g, naive_g, name, factor=3.0, floor=1e-5):
    err = np.abs(np.asarray(got, np.float64) - ref_g).max()
    bound = factor * np.abs(np.asarray(naive_g, np.float64) - ref_g).max() + floor
    assert err <= bound, f"{name}: max|got - ref| = {err:.3g} > {factor} * max|naive - ref| + {floor} = {bound:.3g}"
