"""``fgrad.scipy.signal.convolve``: N-dimensional convolution, differentiable in both inputs.

Each convolved axis pair is a contraction with a constant 0/1 tensor
``T[p, q, r] = (r == p + q + offset)``, so the whole convolution is one
``einsum`` over the inputs and those tensors, with no derivative rules of its
own. Beyond SciPy's ``mode``, HIPS autograd's extension is supported: ``axes``
pairs which axes of ``in1`` and ``in2`` are convolved (default: all, in order),
``dot_axes`` pairs axes that are summed over (an inner product); the output has
``in1``'s other axes, then ``in2``'s, then the convolved ones.
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import backend
from fgrad.core.source_info import public_api


def _window(la: int, lb: int, mode: str, like, dtype):
    """The 0/1 tensor of one convolved axis pair, shape ``(la, lb, out)``."""
    full = la + lb - 1
    if mode == "full":
        start, length = 0, full
    elif mode == "valid":
        start, length = min(la, lb) - 1, abs(la - lb) + 1
    else:  # "same": as long as in1, centred on the full output (SciPy's convention)
        start, length = (full - la) // 2, la
    p, q = np.arange(la)[:, None], np.arange(lb)[None, :]
    r = p + q - start
    t = np.zeros((la, lb, length), dtype)
    keep = (r >= 0) & (r < length)
    t[np.broadcast_to(p, r.shape)[keep], np.broadcast_to(q, r.shape)[keep], r[keep]] = 1.0
    return backend.asarray(t, like=like)


def convolve(in1, in2, mode: str = "full", method: str = "auto", *, axes=None, dot_axes=None):
    """Convolve ``in1`` with ``in2`` (``scipy.signal.convolve``); see the module docstring."""
    a, b = fnp.asarray(in1), fnp.asarray(in2)
    if mode not in ("full", "valid", "same"):
        raise ValueError(f"convolve: mode must be 'full', 'valid' or 'same', got {mode!r}")
    if axes is None:
        if a.ndim != b.ndim:
            raise ValueError(
                f"convolve: in1 and in2 should have the same dimensionality, got shapes "
                f"{a.shape} and {b.shape}"
            )
        axes = (list(range(a.ndim)), list(range(b.ndim)))
    dot_axes = ((), ()) if dot_axes is None else dot_axes
    ca, cb = [x % a.ndim for x in axes[0]], [x % b.ndim for x in axes[1]]
    da, db = [x % a.ndim for x in dot_axes[0]], [x % b.ndim for x in dot_axes[1]]
    if mode == "valid":
        shapes = [(a.shape[i], b.shape[j]) for i, j in zip(ca, cb)]
        if not (all(x >= y for x, y in shapes) or all(x <= y for x, y in shapes)):
            raise ValueError(
                "convolve: for 'valid' mode, one input must be at least as large as the "
                f"other in every convolved dimension, got {a.shape} and {b.shape}"
            )
    label = iter(range(52))
    la = [next(label) for _ in range(a.ndim)]
    lb = [next(label) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        lb[j] = la[i]
    operands, out_conv = [a, la], []
    for i, j in zip(ca, cb):
        r = next(label)
        t = _window(a.shape[i], b.shape[j], mode, like=a, dtype=np.result_type(a.dtype, b.dtype))
        operands += [t, [la[i], lb[j], r]]
        out_conv.append(r)
    operands += [b, lb]
    keep_a = [la[i] for i in range(a.ndim) if i not in ca and i not in da]
    keep_b = [lb[j] for j in range(b.ndim) if j not in cb and j not in db]
    return fnp.einsum(*operands, keep_a + keep_b + out_conv)


__all__ = ["convolve"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
