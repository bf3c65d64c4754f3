"""``conv_transpose``: JAX's transposed ("deconvolution") convolution.

A convolution of the input dilated by ``strides`` (``lhs_dilation``), with the
padding that makes the output the size a forward convolution with these strides
would have come from, as ``jax.lax.conv_transpose`` computes it; with
``transpose_kernel=True`` the kernel is flipped in space and its in/out channels
swapped, which makes it the exact gradient of ``conv_general_dilated`` with
respect to its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fgrad import numpy as fnp
from fgrad.lax.conv import Padding, conv_dimension_numbers, conv_general_dilated

__all__ = ["conv_transpose"]

_DEFAULT_LAYOUTS = {
    2: ("NC", "IO", "NC"),
    3: ("NHC", "HIO", "NHC"),
    4: ("NHWC", "HWIO", "NHWC"),
    5: ("NHWDC", "HWDIO", "NHWDC"),
}


def _padding(k: int, s: int, padding) -> tuple[int, int]:
    """Before/after padding of one spatial axis (``k``: the dilated kernel size)."""
    if padding == "SAME":
        total = k + s - 2
        before = k - 1 if s > k - 1 else math.ceil(total / 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        before = k - 1
    else:
        lo, hi = (int(p) for p in padding)
        before, total = k - lo - 1, (k - lo - 1) + (k - hi - 1)
    return before, total - before


def conv_transpose(
    lhs,
    rhs,
    strides: Sequence[int],
    padding: Padding,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    transpose_kernel: bool = False,
    precision=None,
    preferred_element_type=None,
    use_consistent_padding: bool = False,
):
    """Transposed convolution (``jax.lax.conv_transpose``).

    Parameters
    ----------
    lhs : array
        The input, channels-last by default (``'NHWC'`` for 2-d).
    rhs : array
        The kernel, ``'HWIO'`` by default.
    strides : sequence of int
        The strides of the forward convolution this transposes: the input is
        dilated by them.
    padding : 'SAME', 'VALID' or sequence of (int, int)
        The forward convolution's padding; ``'SAME'`` gives ``in * stride`` outputs.
        Explicit pairs are the forward padding (turned into ``k - p - 1``) when
        ``use_consistent_padding`` is true, else used as they are (JAX's rule).
    rhs_dilation : sequence of int, optional
    dimension_numbers : optional
        Layout strings or :class:`fgrad.lax.ConvDimensionNumbers`; default
        ``('NHWC', 'HWIO', 'NHWC')`` and the like for 1-d and 3-d.
    transpose_kernel : bool
        Flip the kernel's spatial axes and swap its in/out channels, so that the
        result is the gradient of the forward convolution with respect to its input.
    precision, preferred_element_type
        As in :func:`fgrad.lax.conv_general_dilated`.
    use_consistent_padding : bool
        Treat explicit padding as the forward convolution's (see ``padding``).

    Returns
    -------
    array
    """
    lhs = fnp.asarray(lhs)
    rhs = fnp.asarray(rhs)
    if dimension_numbers is None:
        if lhs.ndim not in _DEFAULT_LAYOUTS:
            raise ValueError(
                f"lax.conv_transpose: no default layout for {lhs.ndim}-d operands; pass "
                "dimension_numbers"
            )
        dimension_numbers = _DEFAULT_LAYOUTS[lhs.ndim]
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    n_spatial = lhs.ndim - 2
    strides = tuple(int(s) for s in strides)
    dilation = (1,) * n_spatial if rhs_dilation is None else tuple(int(d) for d in rhs_dilation)
    sizes = [rhs.shape[a] for a in dn.rhs_spec[2:]]
    dilated = [(k - 1) * d + 1 for k, d in zip(sizes, dilation)]
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise ValueError(
                f"lax.conv_transpose: padding must be 'SAME', 'VALID' or (lo, hi) pairs, "
                f"got {padding!r}"
            )
        pads = [_padding(k, s, padding) for k, s in zip(dilated, strides)]
    elif use_consistent_padding:
        pads = [_padding(k, s, tuple(p)) for k, s, p in zip(dilated, strides, padding)]
    else:
        pads = [tuple(int(v) for v in p) for p in padding]
    if transpose_kernel:
        rhs = fnp.flip(rhs, axis=tuple(dn.rhs_spec[2:]))
        rhs = fnp.swapaxes(rhs, dn.rhs_spec[0], dn.rhs_spec[1])
    return conv_general_dilated(
        lhs,
        rhs,
        (1,) * n_spatial,
        pads,
        lhs_dilation=strides,
        rhs_dilation=dilation,
        dimension_numbers=dn,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
