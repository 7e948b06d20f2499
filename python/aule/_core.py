# SPDX-License-Identifier: MIT
"""_core.py - contexts, device tensors, specs, attention and the paged KV cache.

Shape letters: B batch, H query heads, Hkv KV heads, Sq, Sk, D, Dv (include/aule.h).
A call on NumPy arrays writes them into device tensors the context keeps per
(role, shape, dtype) and reuses across calls, runs the kernel, and reads the
output into a new NumPy array: one copy host to device per input, one back.
"""
import atexit
import collections
import ctypes
import math
import threading
import weakref

import numpy as np

from . import _lib

try:                                    # bf16 as a real NumPy dtype where installed
    import ml_dtypes as _ml_dtypes
    _BF16_NP = np.dtype(_ml_dtypes.bfloat16)
except ImportError:                     # else bf16 travels as its bits in uint16
    _ml_dtypes = None
    _BF16_NP = None

_C_DTYPE = {"f32": _lib.DTYPE_F32, "f16": _lib.DTYPE_F16, "bf16": _lib.DTYPE_BF16,
            "i32": _lib.DTYPE_I32, "i8": _lib.DTYPE_I8}
_ITEMSIZE = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i8": 1}
FLOAT_DTYPES = ("f32", "f16", "bf16")
LAYOUTS = ("bhsd", "bshd")


class Error(RuntimeError):
    """A libaule call failed: status (the aule_status name) and libaule's message."""

    def __init__(self, status, message):
        self.status = _lib.STATUS_NAMES[status] if 0 <= status < len(_lib.STATUS_NAMES) else str(status)
        self.code = status
        self.message = message
        super().__init__(f"{self.status}: {message}")


def _check(status, ctx_handle, what):
    if status != 0:
        msg = _lib.lib().aule_context_last_error(ctx_handle)
        raise Error(status, f"{what}: {msg.decode(errors='replace') if msg else ''}")


def dtype_of(arr, name="array"):
    """The aule dtype name of a NumPy array ('f32', 'f16', 'bf16' for ml_dtypes.bfloat16 or uint16 bits)."""
    dt = arr.dtype
    if dt == np.float32:
        return "f32"
    if dt == np.float16:
        return "f16"
    if dt == np.uint16 or (_BF16_NP is not None and dt == _BF16_NP):
        return "bf16"
    if dt == np.int32:
        return "i32"
    if dt == np.int8:
        return "i8"
    raise TypeError(f"{name} has dtype {dt}; aule takes float32, float16, bfloat16 "
                    f"(ml_dtypes.bfloat16 or its bits as uint16), int32 or int8")


def numpy_dtype(dtype):
    return {"f32": np.dtype(np.float32), "f16": np.dtype(np.float16),
            "bf16": _BF16_NP if _BF16_NP is not None else np.dtype(np.uint16),
            "i32": np.dtype(np.int32), "i8": np.dtype(np.int8)}[dtype]


def _view(shape, layout):
    """The logical [B][H][S][D] shape and element strides libaule gets for a buffer of this
    NumPy shape and layout: bhsd as is; bshd [B][S][H][D] and thd [T][H][D] (varlen) as
    strided views, so no transposing copy is made; plain: as is."""
    if layout == "bshd":
        b, s, h, d = shape
        return (b, h, s, d), (s * h * d, d, h * d, 1)
    if layout == "thd":
        t, h, d = shape
        return (1, h, t, d), (t * h * d, d, h * d, 1)
    return tuple(shape), None


# --- context --------------------------------------------------------------------------

class Context:
    """One Vulkan device (aule_context). Thread-safe: calls on one context are serialized
    by its lock. Keeps the device tensors that NumPy calls stage through, one per
    (role, shape, dtype), reused across calls (at most `staging_limit`, least recently used
    first out)."""

    def __init__(self, device=None, *, cache_dir=None, disable_jit=False, disable_disk_cache=False,
                 staging_limit=64):
        L = _lib.lib()
        desc = _lib.ContextDesc()
        desc.device = device.encode() if device is not None else None
        desc.cache_dir = cache_dir.encode() if cache_dir is not None else None
        desc.disable_jit = bool(disable_jit)
        desc.disable_disk_cache = bool(disable_disk_cache)
        h = ctypes.c_void_p()
        st = L.aule_context_create(ctypes.byref(desc), ctypes.byref(h))
        if st != 0:
            msg = L.aule_context_last_error(None)
            raise Error(st, "creating a context: " + (msg.decode(errors="replace") if msg else ""))
        self._h = h
        self.lock = threading.RLock()
        self._staging = collections.OrderedDict()
        self._staging_limit = staging_limit
        self._tensors = weakref.WeakSet()
        self._plans = {}                # attention() on NumPy: arguments -> checked call, reused
        self.staging_created = 0        # device tensors made for staging (constant once warm)
        self.bytes_to_device = 0        # bytes copied host -> device by this binding
        self.bytes_from_device = 0      # bytes copied device -> host

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("the aule.Context is closed")
        return self._h

    def stats(self):
        """libaule's counters (aule_context_get_stats) and the binding's staging counters."""
        s = _lib.ContextStats()
        _lib.lib().aule_context_get_stats(self.handle, ctypes.byref(s))
        out = {name: getattr(s, name) for name, _ in _lib.ContextStats._fields_}
        out.update(staging_tensors=len(self._staging), staging_created=self.staging_created,
                   live_tensors=len(self._tensors), bytes_to_device=self.bytes_to_device,
                   bytes_from_device=self.bytes_from_device)
        return out

    def staged(self, role, shape, dtype, layout="plain"):
        """The device tensor this context stages `role` through for this shape (made once)."""
        key = (role, tuple(shape), dtype, layout)
        t = self._staging.get(key)
        if t is not None:
            self._staging.move_to_end(key)
            return t
        t = Tensor(shape, dtype, layout=layout, context=self)
        self.staging_created += 1
        self._staging[key] = t
        while len(self._staging) > self._staging_limit:
            _, old = self._staging.popitem(last=False)
            old.close()
        return t

    def close(self):
        """Destroys every tensor of this context, then the context. Idempotent."""
        with self.lock:
            if self._h is None:
                return
            for t in list(self._tensors):
                t.close()
            self._staging.clear()
            self._plans.clear()
            _lib.lib().aule_context_destroy(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_default = None
_default_lock = threading.Lock()


def default_context():
    """The process's context, created on first use (thread-safe)."""
    global _default
    ctx = _default
    if ctx is None:
        with _default_lock:
            if _default is None:
                _default = Context()
            ctx = _default
    return ctx


@atexit.register
def _close_default():
    global _default
    if _default is not None:
        _default.close()
        _default = None


# --- tensors ----------------------------------------------------------------------------

class Tensor:
    """A device tensor that lives across calls. shape is the NumPy shape; layout says how
    it maps onto libaule's logical [B][H][S][D]: "bhsd", "bshd", "thd" (varlen [T][H][D])
    or "plain" (as is: caches, tables, sinks)."""

    def __init__(self, shape, dtype="f32", *, layout="plain", context=None):
        if dtype not in _C_DTYPE:
            raise ValueError(f"dtype must be one of {', '.join(_C_DTYPE)} (got {dtype!r})")
        shape = tuple(int(s) for s in shape)
        if not 1 <= len(shape) <= _lib.MAX_DIMS or any(s < 0 for s in shape):
            raise ValueError(f"a tensor has 1..4 non-negative dimensions (got shape {shape})")
        self.context = context or default_context()
        self.shape, self.dtype, self.layout = shape, dtype, layout
        cshape, cstrides = _view(shape, layout)
        desc = _lib.TensorDesc()
        desc.dtype = _C_DTYPE[dtype]
        desc.ndim = len(cshape)
        for i, s in enumerate(cshape):
            desc.shape[i] = s
            desc.strides[i] = cstrides[i] if cstrides else 0
        h = ctypes.c_void_p()
        ctx = self.context
        _check(_lib.lib().aule_tensor_create(ctx.handle, ctypes.byref(desc), ctypes.byref(h)), ctx.handle,
               f"creating a {dtype} tensor of shape {shape}")
        self._h = h
        self.nbytes = _lib.lib().aule_tensor_bytes(h)
        ctx._tensors.add(self)

    @classmethod
    def from_numpy(cls, array, *, layout="plain", context=None, dtype=None):
        array = np.asarray(array)
        t = cls(array.shape, dtype or dtype_of(array), layout=layout, context=context)
        t.write(array)
        return t

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("the aule.Tensor is closed")
        return self._h

    @property
    def numpy_dtype(self):
        return numpy_dtype(self.dtype)

    def write(self, array, name="array"):
        """Copies a C-contiguous NumPy array of this shape and dtype to the device."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array (got {type(array).__name__})")
        if array.shape != self.shape:
            raise ValueError(f"{name} has shape {array.shape}; the tensor is {self.shape}")
        if dtype_of(array, name) != self.dtype:
            raise TypeError(f"{name} has dtype {array.dtype}; the tensor is {self.dtype}")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name} is not C-contiguous; pass np.ascontiguousarray({name})")
        ctx = self.context
        _check(_lib.lib().aule_tensor_write(self.handle, array.ctypes.data, array.nbytes), ctx.handle,
               f"writing {name}")
        ctx.bytes_to_device += array.nbytes

    def read(self, out=None):
        """Copies the tensor into `out` (or a new array) and returns it."""
        if out is None:
            out = np.empty(self.shape, self.numpy_dtype)
        elif out.shape != self.shape or out.nbytes != self.nbytes or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous array of shape {self.shape} and {self.nbytes} bytes")
        ctx = self.context
        _check(_lib.lib().aule_tensor_read(self.handle, out.ctypes.data, out.nbytes), ctx.handle, "reading a tensor")
        ctx.bytes_from_device += out.nbytes
        return out

    numpy = read

    def __array__(self, dtype=None, copy=None):
        a = self.read()
        return a if dtype is None else a.astype(dtype)

    def close(self):
        if self._h is not None:
            _lib.lib().aule_tensor_destroy(self._h)
            self._h = None
            self.context._tensors.discard(self)

    def __del__(self):
        try:
            if self._h is not None and self.context._h is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self):
        return f"aule.Tensor(shape={self.shape}, dtype={self.dtype!r}, layout={self.layout!r})"


# --- specs ------------------------------------------------------------------------------

class Spec:
    """A validated kernel spec. Built from attention()'s arguments and cached (the runtime
    JITs and caches its kernel), or loaded explicitly: Spec.from_file("model.lua", "name")."""

    def __init__(self, file_handle, ptr, source):
        self._file, self._ptr, self.source = file_handle, ptr, source

    @staticmethod
    def _load(status, fh, source):
        L = _lib.lib()
        if status != 0:
            msgs = []
            if fh.value:
                diag = L.auegen_spec_file_diag(fh)
                name = L.auegen_spec_file_name(fh)
                buf = ctypes.create_string_buffer(512)
                for i in range(diag.contents.count):
                    L.auegen_error_format(ctypes.byref(diag.contents.errors[i]), name, buf, len(buf))
                    msgs.append(buf.value.decode(errors="replace"))
                L.auegen_spec_file_destroy(fh)
            raise Error(_lib.STATUS_NAMES.index("AULE_ERROR_GENERATOR"),
                        f"{source}: {L.auegen_status_string(status).decode()}" +
                        ("".join("\n  " + m for m in msgs)))
        return fh

    @classmethod
    def _from_file_handle(cls, fh, name, source):
        L = _lib.lib()
        ptr = L.auegen_spec_file_find(fh, name.encode()) if name else (
            L.auegen_spec_file_get(fh, 0) if L.auegen_spec_file_count(fh) > 0 else None)
        if not ptr:
            count = L.auegen_spec_file_count(fh)
            L.auegen_spec_file_destroy(fh)
            raise ValueError(f"{source}: no kernel named {name!r}" if name else f"{source}: declares no kernel"
                             f" ({count} declared)")
        return cls(fh, ptr, source)

    @classmethod
    def from_file(cls, path, name=None):
        """The kernel `name` (default: the first) of a Lua spec file."""
        fh = ctypes.c_void_p()
        st = _lib.lib().auegen_spec_file_load(str(path).encode(), None, ctypes.byref(fh))
        return cls._from_file_handle(cls._load(st, fh, str(path)), name, str(path))

    @classmethod
    def from_string(cls, text, name=None, display_name="<string>"):
        data = text.encode()
        fh = ctypes.c_void_p()
        st = _lib.lib().auegen_spec_file_load_string(data, len(data), display_name.encode(), ctypes.byref(fh))
        return cls._from_file_handle(cls._load(st, fh, display_name), name, display_name)

    @property
    def canonical(self):
        buf = ctypes.create_string_buffer(512)
        _lib.lib().auegen_spec_canonical(self._ptr, buf, len(buf))
        return buf.value.decode()

    def __repr__(self):
        return f"aule.Spec({self.canonical!r})"

    def __del__(self):
        try:
            if self._file is not None:
                _lib.lib().auegen_spec_file_destroy(self._file)
                self._file = None
        except Exception:
            pass


_specs = {}
_specs_lock = threading.Lock()


def spec_for(*, head_dim, head_dim_v=None, gqa=1, window=(-1, -1), softcap=0.0, dtype="f16", sinks=False,
             backward=False, kind="forward", page_size=0):
    """The spec for these arguments, written as Lua, validated once and cached."""
    key = (kind, head_dim, head_dim_v or head_dim, gqa, tuple(window), float(softcap or 0), dtype, bool(sinks),
           bool(backward), page_size)
    s = _specs.get(key)
    if s is not None:
        return s
    left, right = window
    fields = [f'name = "py_{kind}"', f'kind = "{kind}"', f"head_dim = {head_dim}",
              f"head_dim_v = {head_dim_v or head_dim}", f"gqa = {gqa}", f'dtype = "{dtype}"']
    if left != -1 or right != -1:
        fields.append(f"window = {{ left = {left}, right = {right} }}")
    if softcap:
        fields.append(f"softcap = {float(softcap)!r}")
    if sinks:
        fields.append("sinks = true")
    if backward:
        fields.append("backward = true")
    if page_size:
        fields.append(f"page_size = {page_size}")
    if dtype == "f32":
        fields.append('coopmat = "none"')
    text = "attention { " + ", ".join(fields) + " }\n"
    s = Spec.from_string(text, display_name="aule.attention")
    with _specs_lock:
        return _specs.setdefault(key, s)


# --- argument checks --------------------------------------------------------------------

def _as_input(x, name):
    if isinstance(x, Tensor):
        return x
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array or an aule.Tensor (got {type(x).__name__})")
    dt = dtype_of(x, name)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {x.dtype}; attention takes float32, float16 or bfloat16")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name} is not C-contiguous; pass np.ascontiguousarray({name}) "
                         f"(or layout='bshd' for [B][S][H][D] data)")
    return x


def _dt(x, name):
    return x.dtype if isinstance(x, Tensor) else dtype_of(x, name)


def _window(causal, window):
    if window is None:
        left, right = -1, -1
    else:
        try:
            left, right = (int(w) for w in window)
        except (TypeError, ValueError):
            raise TypeError(f"window must be a pair (left, right) of ints, -1 for unbounded (got {window!r})")
        for side, w in (("left", left), ("right", right)):
            if w < -1:
                raise ValueError(f"window {side} must be >= 0 or -1 for unbounded (got {w})")
    if causal:
        right = 0
    return left, right


def _f32_vector(x, n, name):
    if isinstance(x, Tensor):
        if x.shape != (n,) or x.dtype != "f32":
            raise ValueError(f"{name} must be a float32 tensor of shape ({n},) (got {x.dtype} {x.shape})")
        return x
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one value per query head (got {a.shape})")
    return a


def _cu_seqlens(x, name):
    a = np.asarray(x)
    if a.ndim != 1 or a.shape[0] < 2 or a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D integer array [B+1] (got {a.dtype} {a.shape})")
    a = np.ascontiguousarray(a, dtype=np.int32)
    if a[0] != 0 or np.any(np.diff(a) < 0):
        raise ValueError(f"{name} must start at 0 and not decrease (got {a.tolist()})")
    return a


def _stage(ctx, role, x, layout):
    """x itself when it is a Tensor, else the context's staging tensor for it, written."""
    if isinstance(x, Tensor):
        return x
    t = ctx.staged(role, x.shape, dtype_of(x, role), layout)
    t.write(x, role)
    return t


# --- attention --------------------------------------------------------------------------

def attention(q, k, v, *, causal=False, scale=None, window=None, softcap=None, sinks=None, return_lse=False,
              layout="bhsd", cu_seqlens_q=None, cu_seqlens_k=None, max_seqlen_q=None, max_seqlen_k=None,
              spec=None, context=None, out=None):
    """Attention on NumPy arrays (returning NumPy arrays) or aule.Tensors (returning aule.Tensors).

    q [B][H][Sq][D], k [B][Hkv][Sk][D], v [B][Hkv][Sk][Dv] (layout="bhsd"), or [B][S][H][D]
    (layout="bshd"); H a multiple of Hkv (GQA by shape). With cu_seqlens_q/cu_seqlens_k
    (int32 [B+1]) the batch is packed as in flash_attn_varlen_func: q [total_q][H][D].
    causal is bottom-right aligned; window=(left, right) as FlashAttention writes it, -1
    unbounded; softcap > 0 caps the scores; sinks: fp32 [H] logits (gpt-oss); scale
    defaults to 1/sqrt(D). Returns O, or (O, LSE) with return_lse: LSE fp32 [B][H][Sq]
    ([H][total_q] for varlen). spec: an explicit aule.Spec instead of the one built
    from these arguments."""
    key = None
    if (sinks is None and cu_seqlens_q is None and cu_seqlens_k is None and spec is None and out is None
            and context is None and type(q) is np.ndarray and type(k) is np.ndarray and type(v) is np.ndarray):
        try:
            key = (q.shape, k.shape, v.shape, q.dtype, k.dtype, v.dtype, bool(causal), scale,
                   None if window is None else tuple(window), softcap, bool(return_lse), layout)
            hash(key)
        except TypeError:
            key = None
        if key is not None and q.flags.c_contiguous and k.flags.c_contiguous and v.flags.c_contiguous:
            ctx = _default or default_context()
            plan = ctx._plans.get(key)
            if plan is not None:
                res = _run_plan(ctx, plan, q, k, v)
                if res is not None:
                    return res
    varlen = cu_seqlens_q is not None or cu_seqlens_k is not None
    if varlen and (cu_seqlens_q is None or cu_seqlens_k is None):
        raise ValueError("varlen needs both cu_seqlens_q and cu_seqlens_k")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'bhsd' or 'bshd' (got {layout!r})")
    q, k, v = _as_input(q, "q"), _as_input(k, "k"), _as_input(v, "v")
    tensors = isinstance(q, Tensor)
    if any(isinstance(x, Tensor) != tensors for x in (k, v)):
        raise TypeError("q, k and v must all be NumPy arrays or all aule.Tensors")
    lay = "thd" if varlen else layout
    rank = 3 if varlen else 4
    names = "[total][H][D]" if varlen else ("[B][H][S][D]" if layout == "bhsd" else "[B][S][H][D]")
    for x, n in ((q, "q"), (k, "k"), (v, "v")):
        if len(x.shape) != rank:
            raise ValueError(f"{n} must have {rank} dimensions {names}{' (varlen)' if varlen else ''}"
                             f" (got shape {tuple(x.shape)})")
        if tensors and x.layout != lay:
            raise ValueError(f"{n} is an aule.Tensor of layout {x.layout!r}; this call needs {lay!r}")
    dt = _dt(q, "q")
    for x, n in ((k, "k"), (v, "v")):
        if _dt(x, n) != dt:
            raise TypeError(f"{n} has dtype {_dt(x, n)}; q has {dt}: q, k and v must have one dtype")
    (B, H, Sq, D), _ = _view(q.shape, lay)
    (Bk, Hkv, Sk, Dk), _ = _view(k.shape, lay)
    (Bv, Hv, Sv, Dv), _ = _view(v.shape, lay)
    if Bk != B or (Bv, Hv, Sv) != (Bk, Hkv, Sk):
        raise ValueError(f"k {tuple(k.shape)} and v {tuple(v.shape)} must agree with q {tuple(q.shape)} "
                         f"on batch, and with each other on heads and keys")
    if Dk != D:
        raise ValueError(f"k has head dim {Dk}; q has {D}")
    if Hkv == 0 or H % Hkv != 0:
        raise ValueError(f"q has {H} heads and k {Hkv}: the query heads must be a multiple of the KV heads")
    if not (1 <= D <= 256 and 1 <= Dv <= 256):
        raise ValueError(f"head dims must be 1..256 (q/k {D}, v {Dv})")
    left, right = _window(causal, window)
    if scale is not None:
        scale = float(scale)
        if not scale > 0 or not math.isfinite(scale):
            raise ValueError(f"scale must be a positive number (got {scale})")
    if softcap is not None and softcap < 0:
        raise ValueError(f"softcap must be >= 0 (got {softcap})")
    if sinks is not None:
        sinks = _f32_vector(sinks, H, "sinks")
    if spec is None:
        spec = spec_for(head_dim=D, head_dim_v=Dv, gqa=H // Hkv, window=(left, right), softcap=softcap or 0,
                        dtype=dt, sinks=sinks is not None)
    elif not isinstance(spec, Spec):
        raise TypeError(f"spec must be an aule.Spec (got {type(spec).__name__})")
    ctx = context or (q.context if tensors else default_context())
    if varlen:
        cq, ck = _cu_seqlens(cu_seqlens_q, "cu_seqlens_q"), _cu_seqlens(cu_seqlens_k, "cu_seqlens_k")
        if cq.shape != ck.shape:
            raise ValueError(f"cu_seqlens_q {cq.shape} and cu_seqlens_k {ck.shape} must have one length")
        if cq[-1] != Sq or ck[-1] != Sk:
            raise ValueError(f"cu_seqlens_q ends at {cq[-1]} and cu_seqlens_k at {ck[-1]}; "
                             f"q has {Sq} rows and k {Sk}")
        if max_seqlen_q is None:
            max_seqlen_q = int(np.diff(cq).max())
        if max_seqlen_k is None:
            max_seqlen_k = int(np.diff(ck).max())
    o_shape = tuple(q.shape[:-1]) + (Dv,)
    lse_shape = (H, Sq) if varlen else (B, H, Sq)
    with ctx.lock:
        args = _lib.ForwardArgs()
        args.q = _stage(ctx, "q", q, lay).handle
        args.k = _stage(ctx, "k", k, lay).handle
        args.v = _stage(ctx, "v", v, lay).handle
        if tensors:
            o = out if out is not None else Tensor(o_shape, dt, layout=lay, context=ctx)
            if o.shape != o_shape or o.dtype != dt or o.layout != lay:
                raise ValueError(f"out must be a {dt} aule.Tensor of shape {o_shape}, layout {lay!r}")
        else:
            o = ctx.staged("o", o_shape, dt, lay)
        args.o = o.handle
        lse = None
        if return_lse:
            lse = (Tensor((1,) + lse_shape if varlen else lse_shape, "f32", context=ctx) if tensors
                   else ctx.staged("lse", (1,) + lse_shape if varlen else lse_shape, "f32"))
            args.lse = lse.handle
        if varlen:
            args.cu_seqlens_q = _stage(ctx, "cu_seqlens_q", cq, "plain").handle
            args.cu_seqlens_k = _stage(ctx, "cu_seqlens_k", ck, "plain").handle
            args.max_seqlen_q, args.max_seqlen_k = int(max_seqlen_q), int(max_seqlen_k)
        if sinks is not None:
            args.sinks = _stage(ctx, "sinks", sinks, "plain").handle
        args.scale = scale or 0.0
        _check(_lib.lib().aule_attention_forward(ctx.handle, spec._ptr, ctypes.byref(args)), ctx.handle,
               "aule.attention")
        if tensors:
            return (o, lse) if return_lse else o
        if key is not None and ctx is _default:
            if len(ctx._plans) >= 256:
                ctx._plans.clear()
            ctx._plans[key] = (spec, tuple(ctx.staged(r, x.shape, dtype_of(x, r), lay) for r, x in
                                           (("q", q), ("k", k), ("v", v))), o, lse, args, o_shape, lse_shape)
        res = o.read(np.empty(o_shape, q.dtype) if out is None else out)
        if not return_lse:
            return res
        return res, lse.read().reshape(lse_shape)


def attention_backward(dout, q, k, v, o, lse, *, causal=False, scale=None, window=None, softcap=None, sinks=None,
                       layout="bhsd", spec=None, context=None):
    """Gradients of attention (FlashAttention-2's backward on the device) on NumPy arrays:
    dout, q, k, v, o as for attention() (o its output), lse its fp32 [B][H][Sq] log-sum-exp.
    Returns (dq, dk, dv), or (dq, dk, dv, dsinks) with sinks. scale must be the forward's."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'bhsd' or 'bshd' (got {layout!r})")
    arrs = {}
    for x, n in ((dout, "dout"), (q, "q"), (k, "k"), (v, "v"), (o, "o")):
        x = _as_input(x, n)
        if isinstance(x, Tensor):
            raise TypeError(f"{n}: attention_backward takes NumPy arrays")
        if x.ndim != 4:
            raise ValueError(f"{n} must have 4 dimensions (got shape {x.shape})")
        arrs[n] = x
    dt = dtype_of(q, "q")
    for n, x in arrs.items():
        if dtype_of(x, n) != dt:
            raise TypeError(f"{n} has dtype {x.dtype}; q has {q.dtype}: one dtype for all")
    (B, H, Sq, D), _ = _view(q.shape, layout)
    (_, Hkv, Sk, _), _ = _view(k.shape, layout)
    Dv = v.shape[-1]
    if o.shape != dout.shape or o.shape != q.shape[:-1] + (Dv,):
        raise ValueError(f"o {o.shape} and dout {dout.shape} must be {q.shape[:-1] + (Dv,)}")
    if Hkv == 0 or H % Hkv != 0:
        raise ValueError(f"q has {H} heads and k {Hkv}: the query heads must be a multiple of the KV heads")
    lse = np.ascontiguousarray(lse, dtype=np.float32)
    if lse.shape != (B, H, Sq):
        raise ValueError(f"lse must be [B][H][Sq] = {(B, H, Sq)} (got {lse.shape})")
    left, right = _window(causal, window)
    if sinks is not None:
        sinks = _f32_vector(sinks, H, "sinks")
    if spec is None:
        spec = spec_for(head_dim=D, head_dim_v=Dv, gqa=H // Hkv, window=(left, right), softcap=softcap or 0,
                        dtype=dt, sinks=sinks is not None, backward=True)
    ctx = context or default_context()
    with ctx.lock:
        a = _lib.BackwardArgs()
        a.q = _stage(ctx, "q", q, layout).handle
        a.k = _stage(ctx, "k", k, layout).handle
        a.v = _stage(ctx, "v", v, layout).handle
        a.o = _stage(ctx, "o", o, layout).handle
        a.dout = _stage(ctx, "dout", dout, layout).handle
        a.lse = _stage(ctx, "lse", lse, "plain").handle
        dq = ctx.staged("dq", q.shape, dt, layout)
        dk = ctx.staged("dk", k.shape, dt, layout)
        dv = ctx.staged("dv", v.shape, dt, layout)
        a.dq, a.dk, a.dv = dq.handle, dk.handle, dv.handle
        ds = None
        if sinks is not None:
            a.sinks = _stage(ctx, "sinks", sinks, "plain").handle
            ds = ctx.staged("dsinks", (H,), "f32")
            a.dsinks = ds.handle
        a.scale = float(scale) if scale else 0.0
        _check(_lib.lib().aule_attention_backward(ctx.handle, spec._ptr, ctypes.byref(a)), ctx.handle,
               "aule.attention_backward")
        res = (dq.read(np.empty(q.shape, q.dtype)), dk.read(np.empty(k.shape, k.dtype)),
               dv.read(np.empty(v.shape, v.dtype)))
        return res + (ds.read(),) if ds is not None else res


def _run_plan(ctx, plan, q, k, v):
    """attention() again with arguments already checked: write, run, read. None when a staged
    tensor was evicted meanwhile (the caller then takes the full path)."""
    spec, ins, o, lse, args, o_shape, lse_shape = plan
    L = _lib.lib()
    with ctx.lock:
        if o._h is None or (lse is not None and lse._h is None) or any(t._h is None for t in ins):
            return None
        h = ctx._h
        for t, x, name in zip(ins, (q, k, v), ("q", "k", "v")):
            _check(L.aule_tensor_write(t._h, x.ctypes.data, x.nbytes), h, f"writing {name}")
            ctx.bytes_to_device += x.nbytes
        _check(L.aule_attention_forward(h, spec._ptr, ctypes.byref(args)), h, "aule.attention")
        res = o.read(np.empty(o_shape, q.dtype))
        return (res, lse.read().reshape(lse_shape)) if lse is not None else res


# --- decode over a paged KV cache ------------------------------------------------------

class KVCache:
    """A paged KV cache (vLLM's layout: [pages][page_size][Hkv][D]) for `batch` sequences
    of up to `max_seq` tokens each, with its block table and lengths.

        cache = aule.KVCache(batch=2, heads=8, kv_heads=2, head_dim=64, max_seq=256)
        cache.append(k_new, v_new)      # [B][Hkv][n][D] at each sequence's current length
        o = cache.decode(q)             # q [B][H][Sq][D], Sq 1..16: the last Sq tokens' queries
    """

    def __init__(self, batch, heads, kv_heads, head_dim, max_seq, *, head_dim_v=None, dtype="f16", page_size=16,
                 causal=True, window=None, softcap=None, sinks=False, context=None):
        if dtype not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be 'f32', 'f16' or 'bf16' (got {dtype!r})")
        if kv_heads <= 0 or heads % kv_heads:
            raise ValueError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
        if page_size not in (16, 32, 64, 128, 256):
            raise ValueError(f"page_size must be a power of two in 16..256 (got {page_size})")
        self.context = context or default_context()
        self.batch, self.heads, self.kv_heads, self.head_dim = batch, heads, kv_heads, head_dim
        self.head_dim_v = head_dim_v or head_dim
        self.dtype, self.page_size, self.max_seq = dtype, page_size, max_seq
        self.spec = spec_for(kind="decode", head_dim=head_dim, head_dim_v=self.head_dim_v, gqa=heads // kv_heads,
                             window=_window(causal, window), softcap=softcap or 0, dtype=dtype, sinks=sinks,
                             page_size=page_size)
        self.sinks = sinks
        pages_per_seq = -(-max_seq // page_size)
        pages = batch * pages_per_seq
        ctx = self.context
        self.k_cache = Tensor((pages, page_size, kv_heads, head_dim), dtype, context=ctx)
        self.v_cache = Tensor((pages, page_size, kv_heads, self.head_dim_v), dtype, context=ctx)
        self.block_table = Tensor.from_numpy(
            np.arange(pages, dtype=np.int32).reshape(batch, pages_per_seq), context=ctx)
        self.lengths = np.zeros(batch, np.int32)
        self._lens = Tensor((batch,), "i32", context=ctx)

    def reset(self):
        self.lengths[:] = 0

    def append(self, k_new, v_new):
        """Writes n new tokens per sequence (k_new [B][Hkv][n][D], v_new [B][Hkv][n][Dv])."""
        k_new, v_new = _as_input(k_new, "k_new"), _as_input(v_new, "v_new")
        for x, n, d in ((k_new, "k_new", self.head_dim), (v_new, "v_new", self.head_dim_v)):
            if len(x.shape) != 4 or x.shape[0] != self.batch or x.shape[1] != self.kv_heads or x.shape[3] != d:
                raise ValueError(f"{n} must be [{self.batch}][{self.kv_heads}][n][{d}] (got {tuple(x.shape)})")
            if _dt(x, n) != self.dtype:
                raise TypeError(f"{n} has dtype {_dt(x, n)}; the cache is {self.dtype}")
        n = k_new.shape[2]
        if v_new.shape[2] != n:
            raise ValueError(f"k_new has {n} tokens and v_new {v_new.shape[2]}")
        if int(self.lengths.max()) + n > self.max_seq:
            raise ValueError(f"appending {n} tokens passes max_seq = {self.max_seq} "
                             f"(lengths {self.lengths.tolist()})")
        ctx = self.context
        with ctx.lock:
            a = _lib.AppendArgs()
            a.k_new = _stage(ctx, "k_new", k_new, "plain").handle
            a.v_new = _stage(ctx, "v_new", v_new, "plain").handle
            a.k_cache, a.v_cache = self.k_cache.handle, self.v_cache.handle
            a.block_table = self.block_table.handle
            self._lens.write(self.lengths, "positions")
            a.positions = self._lens.handle
            _check(_lib.lib().aule_kv_append(ctx.handle, self.spec._ptr, ctypes.byref(a)), ctx.handle,
                   "KVCache.append")
            self.lengths += n

    def decode(self, q, *, scale=None, sinks=None, return_lse=False, num_splits=0):
        """Attention of q [B][H][Sq][D] (Sq 1..16, the queries of each sequence's last Sq
        tokens) against the cache. Returns O [B][H][Sq][Dv] (and LSE [B][H][Sq])."""
        q = _as_input(q, "q")
        if len(q.shape) != 4 or q.shape[0] != self.batch or q.shape[1] != self.heads or q.shape[3] != self.head_dim:
            raise ValueError(f"q must be [{self.batch}][{self.heads}][Sq][{self.head_dim}] (got {tuple(q.shape)})")
        if _dt(q, "q") != self.dtype:
            raise TypeError(f"q has dtype {_dt(q, 'q')}; the cache is {self.dtype}")
        if (sinks is not None) != bool(self.sinks):
            raise ValueError("sinks must be given exactly when the cache was made with sinks=True")
        ctx = self.context
        B, H, Sq, _ = q.shape
        tensors = isinstance(q, Tensor)
        with ctx.lock:
            a = _lib.DecodeArgs()
            a.q = _stage(ctx, "q", q, "plain").handle
            a.k_cache, a.v_cache = self.k_cache.handle, self.v_cache.handle
            a.block_table = self.block_table.handle
            self._lens.write(self.lengths, "seq_lens")
            a.seq_lens = self._lens.handle
            shape = (B, H, Sq, self.head_dim_v)
            o = Tensor(shape, self.dtype, context=ctx) if tensors else ctx.staged("o", shape, self.dtype)
            a.o = o.handle
            lse = None
            if return_lse:
                lse = Tensor((B, H, Sq), "f32", context=ctx) if tensors else ctx.staged("lse", (B, H, Sq), "f32")
                a.lse = lse.handle
            if sinks is not None:
                a.sinks = _stage(ctx, "sinks", _f32_vector(sinks, H, "sinks"), "plain").handle
            a.scale = float(scale) if scale else 0.0
            a.num_splits = int(num_splits)
            _check(_lib.lib().aule_attention_decode(ctx.handle, self.spec._ptr, ctypes.byref(a)), ctx.handle,
                   "KVCache.decode")
            if tensors:
                return (o, lse) if return_lse else o
            res = o.read(np.empty(shape, q.dtype))
            return (res, lse.read()) if return_lse else res
