"""``fgrad.scipy.signal``: N-dimensional convolution and correlation, differentiable in both
inputs (``convolve``, ``correlate``, ``fftconvolve``, ``convolve2d``, ``correlate2d``), and
``detrend``.

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


def fftconvolve(in1, in2, mode: str = "full", axes=None):
    """``scipy.signal.fftconvolve``: the same values as :func:`convolve` (computed directly).

    Parameters
    ----------
    in1, in2
        Arrays of equal rank.
    mode
        ``"full"``, ``"valid"`` or ``"same"``.
    axes
        Axes to convolve over (default all); the others must match and are mapped over.

    Returns
    -------
    array
    """
    a, b = fnp.asarray(in1), fnp.asarray(in2)
    if axes is None:
        return convolve(a, b, mode)
    conv = sorted({x % a.ndim for x in np.atleast_1d(axes)})
    other = [i for i in range(a.ndim) if i not in conv]
    out = convolve(a, b, mode, axes=(conv, conv), dot_axes=((), ()))
    # convolve puts a's other axes, then b's, then the convolved ones: keep the diagonal
    n = len(other)
    out = fnp.diagonal(out, axis1=0, axis2=n) if n == 1 else out
    if n > 1:
        raise NotImplementedError("fftconvolve: at most one axis outside `axes`")
    order = list(range(out.ndim))
    batch = order.pop(-1) if n else None
    result = fnp.moveaxis(out, batch, other[0]) if n else out
    return result


def correlate(in1, in2, mode: str = "full", method: str = "auto"):
    """Cross-correlate ``in1`` with ``in2`` (``scipy.signal.correlate``).

    ``convolve(in1, conj(in2) reversed along every axis, mode)``.

    Parameters
    ----------
    in1, in2
        Arrays of equal rank.
    mode
        ``"full"``, ``"valid"`` or ``"same"``.
    method
        Accepted for SciPy's signature; the values do not depend on it.

    Returns
    -------
    array
    """
    b = fnp.asarray(in2)
    if b.dtype.kind == "c":
        b = fnp.conj(b)
    return convolve(in1, fnp.flip(b), mode)


def _two_d(name: str, a, b, boundary: str, fillvalue) -> None:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{name}: inputs must be 2-D, got shapes {a.shape} and {b.shape}")
    if boundary != "fill" or fillvalue != 0:
        raise NotImplementedError(
            f"{name}: only boundary='fill' with fillvalue=0 is supported (as in JAX); pad "
            "the input with fnp.pad(..., mode='wrap' or 'symmetric') first"
        )


def convolve2d(in1, in2, mode: str = "full", boundary: str = "fill", fillvalue=0):
    """Two-dimensional convolution (``scipy.signal.convolve2d``, zero boundary).

    Parameters
    ----------
    in1, in2
        2-D arrays.
    mode
        ``"full"``, ``"valid"`` or ``"same"``.
    boundary, fillvalue
        Only ``"fill"`` with 0, as in JAX.

    Returns
    -------
    array
    """
    a, b = fnp.asarray(in1), fnp.asarray(in2)
    _two_d("convolve2d", a, b, boundary, fillvalue)
    return convolve(a, b, mode)


def correlate2d(in1, in2, mode: str = "full", boundary: str = "fill", fillvalue=0):
    """Two-dimensional cross-correlation (``scipy.signal.correlate2d``, zero boundary).

    Parameters
    ----------
    in1, in2
        2-D arrays.
    mode
        ``"full"``, ``"valid"`` or ``"same"``.
    boundary, fillvalue
        Only ``"fill"`` with 0, as in JAX.

    Returns
    -------
    array
    """
    a, b = fnp.asarray(in1), fnp.asarray(in2)
    _two_d("correlate2d", a, b, boundary, fillvalue)
    if mode != "same":
        return correlate(a, b, mode)
    # SciPy centres correlate2d's "same" window at k // 2 (correlate's at (k - 1) // 2)
    (r, c), (n, m) = (k // 2 for k in b.shape), a.shape
    return correlate(a, b, "full")[r : r + n, c : c + m]


def detrend(data, axis: int = -1, type: str = "linear", bp=0, overwrite_data=None):  # noqa: A002
    """Remove the mean (``type="constant"``) or the least-squares line (``"linear"``).

    Parameters
    ----------
    data
        The array.
    axis
        The axis along which to detrend.
    type
        ``"linear"`` or ``"constant"``.
    bp
        Breakpoints: only 0 (one segment) is supported.
    overwrite_data
        Ignored (arrays are not modified).

    Returns
    -------
    array
    """
    x = fnp.asarray(data)
    if type not in ("linear", "constant"):
        raise ValueError(f"detrend: type must be 'linear' or 'constant', got {type!r}")
    if not (np.isscalar(bp) and bp == 0):
        raise NotImplementedError("detrend: breakpoints (bp) are not supported")
    x = fnp.moveaxis(x, axis, -1)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    centred = x - fnp.mean(x, axis=-1, keepdims=True)
    if type == "linear":
        n = x.shape[-1]
        t = np.arange(n, dtype=x.dtype) - (n - 1) / 2
        slope = fnp.sum(centred * t, axis=-1, keepdims=True) / max(float(np.sum(t * t)), 1.0)
        centred = centred - slope * t
    return fnp.moveaxis(centred, -1, axis)


__all__ = ["convolve", "convolve2d", "correlate", "correlate2d", "detrend", "fftconvolve"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
