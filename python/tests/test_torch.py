# SPDX-License-Identifier: MIT
"""test_torch.py - aule.torch on CPU tensors: the forward against the float64 reference,
gradients by torch.autograd.gradcheck (float64 in, aule's fp32 inside) and by the 3x rule
against the float64 backward, and scaled_dot_product_attention against torch's math SDPA."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import aule.torch as at  # noqa: E402
import reference as ref  # noqa: E402

TDT = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def _rand(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(TDT[dtype])


def _f64(t):
    return t.detach().double().numpy()


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_forward_rule(dtype):
    q, k, v = _rand((2, 4, 24, 32), dtype, 1), _rand((2, 2, 24, 32), dtype, 2), _rand((2, 2, 24, 32), dtype, 3)
    o = at.attention(q, k, v, causal=True)
    assert o.dtype == q.dtype and o.shape == q.shape
    ref.check_rule(_f64(o), _f64(q), _f64(k), _f64(v), dtype, window=(-1, 0))


# head_dim 16: at head_dim 8, libaule's causal backward (issue 13) does not return on lavapipe.
@pytest.mark.parametrize("kw,shape_kv,sinks", [
    ({}, (1, 2, 5, 16), False),
    ({"causal": True}, (1, 1, 5, 16), False),                 # GQA 2
    ({"causal": True}, (1, 2, 7, 16), False),                 # Sq < Sk
    ({"window": (2, 1), "softcap": 3.0}, (1, 2, 5, 16), True),
])
def test_gradcheck(kw, shape_kv, sinks):
    g = torch.Generator().manual_seed(5)
    q = torch.randn(1, 2, 5, 16, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(shape_kv, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(shape_kv, generator=g, dtype=torch.float64, requires_grad=True)
    inputs = (q, k, v)
    if sinks:
        inputs += (torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True),)

    def f(q, k, v, s=None):          # float64 in and out; aule computes in fp32 in between
        return at.attention(q.float(), k.float(), v.float(), sinks=None if s is None else s.float(), **kw).double()

    assert torch.autograd.gradcheck(f, inputs, eps=1e-3, atol=2e-3, rtol=1e-2)


@pytest.mark.parametrize("dtype,kw,sinks", [
    ("f32", {"causal": True}, False),
    ("f16", {}, False),
    ("bf16", {"causal": True}, True),
    ("f16", {"window": (6, 2), "softcap": 10.0}, False),
])
def test_grad_rule(dtype, kw, sinks):
    q = _rand((1, 4, 20, 32), dtype, 11).requires_grad_()
    k = _rand((1, 2, 28, 32), dtype, 12).requires_grad_()
    v = _rand((1, 2, 28, 32), dtype, 13).requires_grad_()
    do = _rand((1, 4, 20, 32), dtype, 14)
    s = torch.randn(4, generator=torch.Generator().manual_seed(15)).requires_grad_() if sinks else None
    o = at.attention(q, k, v, sinks=s, **kw)
    o.backward(do)
    left, right = kw.get("window", (-1, -1))
    rkw = dict(window=(left, 0 if kw.get("causal") else right), softcap=kw.get("softcap", 0.0),
               sinks=None if s is None else _f64(s))
    f = [_f64(x) for x in (q, k, v, do)]
    r = ref.attention_backward(*f, **rkw)
    n = ref.attention_backward(*f, dtype=dtype, work=np.float32, **rkw)
    for got, rg, ng, name in zip((q.grad, k.grad, v.grad) + ((s.grad,) if sinks else ()), r, n,
                                 ("dq", "dk", "dv", "dsinks")):
        assert got.dtype == (torch.float32 if name == "dsinks" else TDT[dtype])
        ref.check_grad_rule(_f64(got), rg, ng, name)


def test_reference_backward_matches_autograd():
    """The NumPy float64 backward the rule uses is torch's float64 autograd of the math."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, 6, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    do = torch.randn(1, 2, 6, 4, generator=g, dtype=torch.float64)
    at.math_sdpa(q, k, v, is_causal=True).backward(do)
    r = ref.attention_backward(*(_f64(x) for x in (q, k, v, do)), window=(-1, 0))
    for got, want in zip((q.grad, k.grad, v.grad), r):
        np.testing.assert_allclose(_f64(got), want, atol=1e-12)


@pytest.mark.parametrize("Sq,Sk,H,Hkv,causal", [
    (16, 16, 2, 2, False), (16, 16, 2, 2, True),
    (8, 20, 2, 2, True), (20, 8, 2, 2, True),            # torch's causal is top-left
    (12, 12, 4, 2, True), (10, 14, 4, 1, False),         # GQA (enable_gqa)
])
def test_sdpa_dropin(Sq, Sk, H, Hkv, causal):
    g = torch.Generator().manual_seed(Sq * 100 + Sk)
    q = torch.randn(2, H, Sq, 16, generator=g, requires_grad=True)
    k = torch.randn(2, Hkv, Sk, 16, generator=g, requires_grad=True)
    v = torch.randn(2, Hkv, Sk, 16, generator=g, requires_grad=True)
    gqa = H != Hkv
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # the supported cases never fall back
        o = at.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)
    qd, kd, vd = (x.detach().double().requires_grad_() for x in (q, k, v))
    want = at.math_sdpa(qd, kd, vd, is_causal=causal, enable_gqa=gqa)
    assert torch.allclose(o.double(), want, atol=2e-5), (o.double() - want).abs().max()
    do = torch.randn(o.shape, generator=g)
    o.backward(do)
    want.backward(do.double())
    for a, b in ((q.grad, qd.grad), (k.grad, kd.grad), (v.grad, vd.grad)):
        assert torch.allclose(a.double(), b, atol=1e-4), (a.double() - b).abs().max()


def test_sdpa_causal_convention_explicit():
    """Sq = 2, Sk = 4, causal: torch's query 0 sees key 0 only (aule alone would give it keys 0..2)."""
    q = torch.randn(1, 1, 2, 8)
    k = torch.randn(1, 1, 4, 8)
    v = torch.eye(4).reshape(1, 1, 4, 4).repeat(1, 1, 1, 2)     # o shows which keys were seen
    o = at.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(o[0, 0, 0, :4], torch.tensor([1.0, 0, 0, 0]))
    assert (o[0, 0, 1, 2:4] == 0).all() and (o[0, 0, 1, :2] > 0).all()


def test_sdpa_fallback_warns_once():
    q = torch.randn(1, 2, 4, 8)
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    at._warned.discard("attn_mask is not supported")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        o1 = at.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        at.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    assert sum("attn_mask" in str(x.message) for x in w) == 1
    assert torch.allclose(o1, at.math_sdpa(q, q, q, attn_mask=mask), atol=1e-6)
    with pytest.warns(RuntimeWarning, match="float64"):                           # float64: torch's
        o64 = at.scaled_dot_product_attention(q.double(), q.double(), q.double())
    assert o64.dtype == torch.float64


def test_bad_inputs():
    q = torch.randn(1, 2, 4, 8)
    with pytest.raises(ValueError, match="q must have 4 dimensions"):
        at.attention(q[0], q, q)
    with pytest.raises(TypeError, match="one dtype"):
        at.attention(q, q.half(), q)
    with pytest.raises(ValueError, match="multiple of the KV heads"):
        at.attention(torch.randn(1, 3, 4, 8), q, q)


def test_bshd_layout():
    q, k, v = _rand((1, 12, 4, 32), "f32", 21), _rand((1, 12, 2, 32), "f32", 22), _rand((1, 12, 2, 32), "f32", 23)
    for x in (q, k, v):
        x.requires_grad_()
    o = at.attention(q, k, v, causal=True, layout="bshd")
    t = [x.detach().transpose(1, 2).contiguous().requires_grad_() for x in (q, k, v)]
    ob = at.attention(*t, causal=True)
    assert torch.equal(o, ob.transpose(1, 2))
    o.sum().backward()
    ob.sum().backward()
    for a, b in zip((q, k, v), t):
        assert torch.allclose(a.grad, b.grad.transpose(1, 2), atol=1e-6)
