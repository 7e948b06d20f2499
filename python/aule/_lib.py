# SPDX-License-Identifier: MIT
"""_lib.py - loads libaule once per process and declares its C API for ctypes.

Every struct the binding passes to libaule is declared here, once, in the
order of include/aule.h and include/auegen.h (tests/test_abi.py checks the
sizes and offsets against the C ABI of x86-64 and aarch64 Linux).
The library is looked for, in order: $AULE_LIBRARY, next to this package
(aule/lib/, where a wheel bundles it), the build/ directory of the source tree
this package sits in, and the system's (ldconfig, LD_LIBRARY_PATH).
"""
import ctypes
import ctypes.util
import os
import threading

c_p = ctypes.c_void_p
c_i64 = ctypes.c_int64

MAX_DIMS = 4

# aule_status
STATUS_NAMES = ["AULE_OK", "AULE_ERROR_INVALID_ARGUMENT", "AULE_ERROR_NO_DEVICE", "AULE_ERROR_UNSUPPORTED",
                "AULE_ERROR_OUT_OF_MEMORY", "AULE_ERROR_DEVICE_MEMORY", "AULE_ERROR_VULKAN",
                "AULE_ERROR_DEVICE_LOST", "AULE_ERROR_GENERATOR", "AULE_ERROR_IO"]

# aule_dtype
DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I32, DTYPE_I8 = 1, 2, 3, 16, 17


class TensorDesc(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", c_i64 * MAX_DIMS), ("strides", c_i64 * MAX_DIMS)]


LOG_FN = ctypes.CFUNCTYPE(None, c_p, ctypes.c_int, ctypes.c_char_p)


class ContextDesc(ctypes.Structure):
    _fields_ = [("device", ctypes.c_char_p), ("cache_dir", ctypes.c_char_p),
                ("disable_disk_cache", ctypes.c_bool), ("disable_jit", ctypes.c_bool),
                ("disable_builtin", ctypes.c_bool), ("profile", ctypes.c_bool),
                ("emulate_coopmat", ctypes.c_bool), ("log", c_p), ("log_user", c_p)]


class ForwardArgs(ctypes.Structure):
    _fields_ = [("q", c_p), ("k", c_p), ("v", c_p), ("o", c_p), ("lse", c_p),
                ("cu_seqlens_q", c_p), ("cu_seqlens_k", c_p),
                ("max_seqlen_q", ctypes.c_int), ("max_seqlen_k", ctypes.c_int),
                ("scale", ctypes.c_float), ("sinks", c_p)]


class BackwardArgs(ctypes.Structure):
    _fields_ = [("q", c_p), ("k", c_p), ("v", c_p), ("o", c_p), ("dout", c_p), ("lse", c_p),
                ("dq", c_p), ("dk", c_p), ("dv", c_p),
                ("cu_seqlens_q", c_p), ("cu_seqlens_k", c_p),
                ("max_seqlen_q", ctypes.c_int), ("max_seqlen_k", ctypes.c_int),
                ("scale", ctypes.c_float), ("sinks", c_p), ("dsinks", c_p)]


class DecodeArgs(ctypes.Structure):
    _fields_ = [("q", c_p), ("k_cache", c_p), ("v_cache", c_p), ("block_table", c_p), ("seq_lens", c_p),
                ("k_scale", c_p), ("v_scale", c_p), ("o", c_p), ("lse", c_p),
                ("scale", ctypes.c_float), ("num_splits", ctypes.c_int), ("sinks", c_p)]


class AppendArgs(ctypes.Structure):
    _fields_ = [("k_new", c_p), ("v_new", c_p), ("k_cache", c_p), ("v_cache", c_p),
                ("block_table", c_p), ("positions", c_p), ("k_scale", c_p), ("v_scale", c_p)]


class ContextStats(ctypes.Structure):
    _fields_ = [("memory_hits", ctypes.c_uint64), ("builtin_hits", ctypes.c_uint64),
                ("disk_hits", ctypes.c_uint64), ("jit_compiles", ctypes.c_uint64),
                ("disk_stores", ctypes.c_uint64), ("dispatches", ctypes.c_uint64)]


class GenError(ctypes.Structure):          # auegen_error
    _fields_ = [("field", ctypes.c_char * 32), ("line", ctypes.c_int), ("message", ctypes.c_char * 200)]


class Diag(ctypes.Structure):              # auegen_diag
    _fields_ = [("count", ctypes.c_int), ("truncated", ctypes.c_bool), ("errors", GenError * 20)]


# (name, restype, argtypes)
_PROTOTYPES = [
    ("aule_status_string", ctypes.c_char_p, [ctypes.c_int]),
    ("aule_dtype_size", ctypes.c_size_t, [ctypes.c_int]),
    ("aule_context_create", ctypes.c_int, [ctypes.POINTER(ContextDesc), ctypes.POINTER(c_p)]),
    ("aule_context_destroy", None, [c_p]),
    ("aule_context_last_error", ctypes.c_char_p, [c_p]),
    ("aule_context_get_stats", None, [c_p, ctypes.POINTER(ContextStats)]),
    ("aule_tensor_create", ctypes.c_int, [c_p, ctypes.POINTER(TensorDesc), ctypes.POINTER(c_p)]),
    ("aule_tensor_destroy", None, [c_p]),
    ("aule_tensor_bytes", ctypes.c_size_t, [c_p]),
    ("aule_tensor_write", ctypes.c_int, [c_p, c_p, ctypes.c_size_t]),
    ("aule_tensor_read", ctypes.c_int, [c_p, c_p, ctypes.c_size_t]),
    ("aule_attention_forward", ctypes.c_int, [c_p, c_p, ctypes.POINTER(ForwardArgs)]),
    ("aule_attention_backward", ctypes.c_int, [c_p, c_p, ctypes.POINTER(BackwardArgs)]),
    ("aule_attention_decode", ctypes.c_int, [c_p, c_p, ctypes.POINTER(DecodeArgs)]),
    ("aule_kv_append", ctypes.c_int, [c_p, c_p, ctypes.POINTER(AppendArgs)]),
    ("aule_empty_dispatch", ctypes.c_int, [c_p, ctypes.c_int]),
    ("auegen_spec_file_load", ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(c_p)]),
    ("auegen_spec_file_load_string", ctypes.c_int,
     [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.POINTER(c_p)]),
    ("auegen_spec_file_destroy", None, [c_p]),
    ("auegen_spec_file_count", ctypes.c_int, [c_p]),
    ("auegen_spec_file_get", c_p, [c_p, ctypes.c_int]),
    ("auegen_spec_file_find", c_p, [c_p, ctypes.c_char_p]),
    ("auegen_spec_file_diag", ctypes.POINTER(Diag), [c_p]),
    ("auegen_spec_file_name", ctypes.c_char_p, [c_p]),
    ("auegen_error_format", None, [ctypes.POINTER(GenError), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("auegen_spec_canonical", ctypes.c_int, [c_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("auegen_status_string", ctypes.c_char_p, [ctypes.c_int]),
]

_lock = threading.Lock()
_lib = None
_path = None


def candidates():
    """The paths tried, in order (for the error message and aule.library_path)."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    env = os.environ.get("AULE_LIBRARY")
    if env:
        out.append(env)
    out.append(os.path.join(here, "lib", "libaule.so"))
    out.append(os.path.join(os.path.dirname(os.path.dirname(here)), "build", "libaule.so"))
    found = ctypes.util.find_library("aule")
    out.append(found or "libaule.so")
    return out


def lib():
    """The loaded libaule (loaded on first use, once per process)."""
    global _lib, _path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for i, path in enumerate(candidates()):
            explicit = i == 0 and os.environ.get("AULE_LIBRARY")
            if os.sep in path and not os.path.exists(path):
                tried.append(f"{path} (not found)")
                if explicit:
                    break
                continue
            try:
                handle = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{path} ({e})")
                if explicit:
                    break
                continue
            for name, res, args in _PROTOTYPES:
                fn = getattr(handle, name)
                fn.restype = res
                fn.argtypes = args
            _lib, _path = handle, path
            return _lib
        raise ImportError("aule: cannot load libaule; tried: " + "; ".join(tried) +
                          ". Build it (scripts/build.sh) or set AULE_LIBRARY to the path of libaule.so")


def path():
    lib()
    return _path
