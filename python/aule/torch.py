# SPDX-License-Identifier: MIT
"""aule.torch - aule attention for PyTorch: autograd and a drop-in scaled_dot_product_attention.

    from aule.torch import attention, scaled_dot_product_attention
    o = attention(q, k, v, causal=True)          # differentiable; q [B][H][Sq][D]
    o = scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

Nothing here is compiled against torch. The forward and backward are libaule's
kernels (the backward from a spec with backward = true). Where the installed
torch has torch.library.custom_op (2.4+) they are registered as the custom ops
aule::attention_fwd / aule::attention_bwd with an autograd formula (so
torch.compile sees them as opaque ops); otherwise a torch.autograd.Function
runs them. CPU tensors are staged through the Vulkan device (one host copy
each way); CUDA tensors go through the host until zero-copy interop exists.

Causal masks: torch's is_causal is aligned top-left (query i sees keys <= i)
and aule's bottom-right (i + Sk - Sq); scaled_dot_product_attention converts:
Sq > Sk becomes the window (-1, Sq - Sk), Sq < Sk keeps the first Sq keys
(the others are masked for every query).
"""
import math
import threading
import warnings
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import _core

__all__ = ["attention", "scaled_dot_product_attention", "HAS_CUSTOM_OP"]

_DT = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def _to_np(t):
    """A torch tensor as a C-contiguous NumPy array in storage form (bf16: its bits as uint16)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()                     # staged through the host until zero-copy interop exists
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def _to_torch(a, dtype, device):
    t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16) if dtype == torch.bfloat16 else torch.from_numpy(a)
    return t if device.type == "cpu" else t.to(device)


def _forward(q, k, v, sinks, scale, left, right, softcap, layout):
    o, lse = _core.attention(_to_np(q), _to_np(k), _to_np(v), window=(left, right), softcap=softcap or None,
                             scale=scale or None, sinks=None if sinks is None else _to_np(sinks.float()),
                             return_lse=True, layout=layout)
    return _to_torch(o, q.dtype, q.device), _to_torch(lse, torch.float32, q.device)


def _backward(do, q, k, v, o, lse, sinks, scale, left, right, softcap, layout):
    g = _core.attention_backward(_to_np(do.to(q.dtype)), _to_np(q), _to_np(k), _to_np(v), _to_np(o), _to_np(lse),
                                 window=(left, right), softcap=softcap or None, scale=scale or None,
                                 sinks=None if sinks is None else _to_np(sinks.float()), layout=layout)
    dq, dk, dv = (_to_torch(x, q.dtype, q.device) for x in g[:3])
    ds = _to_torch(g[3], torch.float32, q.device).to(sinks.dtype) if sinks is not None else None
    return dq, dk, dv, ds


class _AttentionFunction(torch.autograd.Function):
    """The plain autograd path (any torch)."""

    @staticmethod
    def forward(ctx, q, k, v, sinks, scale, left, right, softcap, layout):
        o, lse = _forward(q, k, v, sinks, scale, left, right, softcap, layout)
        ctx.save_for_backward(q, k, v, o, lse, sinks)
        ctx.params = (scale, left, right, softcap, layout)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse, sinks = ctx.saved_tensors
        dq, dk, dv, ds = _backward(do, q, k, v, o, lse, sinks, *ctx.params)
        return dq, dk, dv, ds, None, None, None, None, None


HAS_CUSTOM_OP = hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_fake")

if HAS_CUSTOM_OP:                                                   # torch 2.4+
    @torch.library.custom_op("aule::attention_fwd", mutates_args=())
    def _op_fwd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sinks: Optional[torch.Tensor], scale: float,
                left: int, right: int, softcap: float, layout: str) -> Tuple[torch.Tensor, torch.Tensor]:
        return _forward(q, k, v, sinks, scale, left, right, softcap, layout)

    @_op_fwd.register_fake
    def _op_fwd_fake(q, k, v, sinks, scale, left, right, softcap, layout):
        o = q.new_empty(q.shape[:-1] + (v.shape[-1],))
        if layout == "bshd":
            lse = q.new_empty((q.shape[0], q.shape[2], q.shape[1]), dtype=torch.float32)
        else:
            lse = q.new_empty(q.shape[:-1], dtype=torch.float32)
        return o, lse

    @torch.library.custom_op("aule::attention_bwd", mutates_args=())
    def _op_bwd(do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor,
                lse: torch.Tensor, sinks: Optional[torch.Tensor], scale: float, left: int, right: int,
                softcap: float, layout: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        dq, dk, dv, ds = _backward(do, q, k, v, o, lse, sinks, scale, left, right, softcap, layout)
        return dq, dk, dv, ds if ds is not None else q.new_empty((0,), dtype=torch.float32)

    @_op_bwd.register_fake
    def _op_bwd_fake(do, q, k, v, o, lse, sinks, scale, left, right, softcap, layout):
        ds = sinks.new_empty(sinks.shape) if sinks is not None else q.new_empty((0,), dtype=torch.float32)
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v), ds

    def _op_setup(ctx, inputs, output):
        q, k, v, sinks, scale, left, right, softcap, layout = inputs
        o, lse = output
        ctx.save_for_backward(q, k, v, o, lse, sinks)
        ctx.params = (scale, left, right, softcap, layout)

    def _op_backward(ctx, do, dlse):
        q, k, v, o, lse, sinks = ctx.saved_tensors
        dq, dk, dv, ds = _op_bwd(do, q, k, v, o, lse, sinks, *ctx.params)
        return dq, dk, dv, (ds if sinks is not None else None), None, None, None, None, None

    _op_fwd.register_autograd(_op_backward, setup_context=_op_setup)


def _check(q, k, v, layout):
    for x, n in ((q, "q"), (k, "k"), (v, "v")):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{n} must be a torch.Tensor (got {type(x).__name__})")
        if x.dim() != 4:
            raise ValueError(f"{n} must have 4 dimensions (got shape {tuple(x.shape)})")
        if x.dtype not in _DT:
            raise TypeError(f"{n} has dtype {x.dtype}; aule takes float32, float16 or bfloat16")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must have one dtype (got {q.dtype}, {k.dtype}, {v.dtype})")
    h = 2 if layout == "bshd" else 1
    if q.shape[h] % k.shape[h]:
        raise ValueError(f"q has {q.shape[h]} heads and k {k.shape[h]}: the query heads must be a multiple "
                         f"of the KV heads")


def attention(q, k, v, *, causal=False, scale=None, window=None, softcap=None, sinks=None, layout="bhsd"):
    """Differentiable aule attention on torch tensors: as aule.attention (bottom-right causal,
    window (left, right), softcap, sinks fp32 [H] with its gradient), returning O."""
    _check(q, k, v, layout)
    left, right = _core._window(causal, window)
    args = (q, k, v, sinks, float(scale or 0.0), left, right, float(softcap or 0.0), layout)
    if HAS_CUSTOM_OP:
        return _op_fwd(*args)[0]
    return _AttentionFunction.apply(*args)


# --- scaled_dot_product_attention ---------------------------------------------------------

_warned = set()
_warn_lock = threading.Lock()


def _fallback(reason, *args, **kw):
    with _warn_lock:
        first = reason not in _warned
        _warned.add(reason)
    if first:
        warnings.warn(f"aule.torch.scaled_dot_product_attention: {reason}; using torch's own (warned once)",
                      RuntimeWarning, stacklevel=3)
    return torch_sdpa(*args, **kw)


def math_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """torch's math SDPA (the reference code of torch's documentation), for torches without
    F.scaled_dot_product_attention or its newer arguments."""
    L, S = query.size(-2), key.size(-2)
    scale_factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    attn_bias = torch.zeros(L, S, dtype=query.dtype, device=query.device)
    if is_causal:
        temp_mask = torch.ones(L, S, dtype=torch.bool, device=query.device).tril(diagonal=0)
        attn_bias = attn_bias.masked_fill(temp_mask.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            attn_bias = attn_mask + attn_bias
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    attn_weight = query @ key.transpose(-2, -1) * scale_factor
    attn_weight = attn_weight + attn_bias
    attn_weight = torch.softmax(attn_weight, dim=-1)
    if dropout_p > 0:
        attn_weight = torch.dropout(attn_weight, dropout_p, train=True)
    return attn_weight @ value


def torch_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """torch's own scaled_dot_product_attention where it has one (with these arguments), else math_sdpa."""
    fn = getattr(F, "scaled_dot_product_attention", None)
    if fn is not None:
        kw = {}
        if scale is not None:
            kw["scale"] = scale
        if enable_gqa:
            kw["enable_gqa"] = True
        try:
            return fn(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, **kw)
        except TypeError:
            pass                          # an older torch without scale / enable_gqa
    return math_sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """A drop-in for torch.nn.functional.scaled_dot_product_attention: aule's kernels for
    [B][H][S][D] float32/float16/bfloat16 tensors without a mask or dropout (GQA with
    enable_gqa), torch's own for the rest, with a one-time warning per reason."""
    args = (query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    if attn_mask is not None:
        return _fallback("attn_mask is not supported", *args)
    if dropout_p:
        return _fallback("dropout_p > 0 is not supported", *args)
    if not all(isinstance(x, torch.Tensor) and x.dim() == 4 for x in (query, key, value)):
        return _fallback("only 4-D [B][H][S][D] tensors are supported", *args)
    if query.dtype not in _DT or not (query.dtype == key.dtype == value.dtype):
        return _fallback(f"dtype {query.dtype} is not supported", *args)
    if query.device.type not in ("cpu", "cuda") or not (query.device == key.device == value.device):
        return _fallback(f"device {query.device} is not supported", *args)
    B, H, Sq, D = query.shape
    Bk, Hkv, Sk, Dk = key.shape
    if key.shape[:3] != value.shape[:3] or Bk != B or Dk != D:
        return torch_sdpa(*args)          # torch's own message for mismatched shapes
    if not (1 <= D <= 256 and 1 <= value.shape[3] <= 256) or Sk == 0 or Sq == 0:
        return _fallback("head dims outside 1..256 or empty sequences are not supported", *args)
    if Hkv != H and not (enable_gqa and H % Hkv == 0):
        return torch_sdpa(*args)          # torch raises (or broadcasts) as it would
    if is_causal and Sq < Sk:
        # top-left: query i sees keys 0..i < Sq; the keys past Sq are masked for all
        key, value = key[:, :, :Sq], value[:, :, :Sq]
        return attention(query, key, value, causal=True, scale=scale)
    if is_causal and Sq > Sk:
        return attention(query, key, value, window=(-1, Sq - Sk), scale=scale)
    return attention(query, key, value, causal=is_causal, scale=scale)
