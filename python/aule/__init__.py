# SPDX-License-Identifier: MIT
"""aule: exact attention on any Vulkan device, from Python.

    import numpy as np, aule
    q = np.random.randn(1, 8, 128, 64).astype(np.float16); k = q.copy(); v = q.copy()
    o = aule.attention(q, k, v, causal=True)

libaule is loaded once per process ($AULE_LIBRARY, next to the package, the
source tree's build/, or the system's); one default aule.Context (one Vulkan
device) is made on first use. aule.torch adds autograd and a drop-in
scaled_dot_product_attention. docs/python.md describes it all.
"""
from ._core import (Context, Error, KVCache, Spec, Tensor, attention, attention_backward,
                    default_context, spec_for)  # noqa: F401
from . import _lib

__version__ = "0.1.0"
__all__ = ["Context", "Error", "KVCache", "Spec", "Tensor", "attention", "attention_backward", "default_context", "library_path"]


def library_path():
    """The path of the libaule this process loaded (loading it if needed)."""
    return _lib.path()
