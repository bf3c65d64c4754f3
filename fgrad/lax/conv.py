"""``fgrad.lax`` convolutions with JAX's signatures: layouts, padding kinds, dilations, groups.

Every layout is transposed to the channels-last form of
``fgrad.primitives.conv.conv_general_dilated`` (im2col and one matmul) and back; a
transpose that would not move anything is skipped, so ``('NHWC', 'HWIO', 'NHWC')``
costs nothing extra. See ``docs/conv.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import NamedTuple

import numpy as np

from fgrad import numpy as fnp
from fgrad.numpy.conversion import as_array
from fgrad.primitives import conv as _conv
from fgrad.primitives import window_geometry as _geometry
from fgrad.primitives.elementwise import convert_element_type
from fgrad.primitives.structural import transpose

Padding = str | Sequence[tuple[int, int]]


class ConvDimensionNumbers(NamedTuple):
    """Axis numbers of each operand: ``lhs_spec`` is ``(N, C, *spatial)``, ``rhs_spec``
    ``(O, I, *spatial)`` and ``out_spec`` ``(N, C, *spatial)``, as in JAX."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


#: what ``dimension_numbers=`` accepts (``jax.lax``'s name, for annotations)
ConvGeneralDilatedDimensionNumbers = ConvDimensionNumbers | tuple[str, str, str] | None


def padtype_to_pads(in_shape, window_shape, window_strides, padding) -> list[tuple[int, int]]:
    """The ``(lo, hi)`` pairs a padding kind gives (``jax.lax.padtype_to_pads``).

    Parameters
    ----------
    in_shape, window_shape, window_strides : sequence of int
        The windowed axes' sizes, the window's and the steps.
    padding : str or sequence of (int, int)
        ``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or explicit pairs (returned as they are).
    """
    pairs = _geometry.padding_pairs(
        padding,
        tuple(int(n) for n in in_shape),
        tuple(int(k) for k in window_shape),
        tuple(int(s) for s in window_strides),
        "lax.padtype_to_pads",
    )
    return [tuple(p) for p in pairs]


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers) -> ConvDimensionNumbers:
    """``dimension_numbers`` (``None``, three layout strings such as
    ``('NHWC', 'HWIO', 'NHWC')``, or a :class:`ConvDimensionNumbers`) as axis numbers.

    ``None`` means ``('NC...', 'OI...', 'NC...')``. In strings, every letter but N, C
    (O, I for the kernel) names a spatial axis; spatial axes pair up by letter and come
    in the kernel string's order.
    """
    nd = len(lhs_shape)
    if len(rhs_shape) != nd:
        raise ValueError(
            f"conv_general_dilated: lhs {tuple(lhs_shape)} and rhs {tuple(rhs_shape)} need "
            "the same number of axes"
        )
    if dimension_numbers is None:
        default = (0, 1, *range(2, nd))
        return ConvDimensionNumbers(default, default, default)
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return dimension_numbers
    if len(dimension_numbers) == 3 and all(isinstance(s, str) for s in dimension_numbers):
        return _from_strings(nd, *dimension_numbers)
    specs = tuple(tuple(int(a) for a in s) for s in dimension_numbers)
    return ConvDimensionNumbers(*specs)


def _from_strings(nd: int, lhs: str, rhs: str, out: str) -> ConvDimensionNumbers:
    pairs = (("N", "C"), ("O", "I"), ("N", "C"))
    for spec, (a, b), what in zip((lhs, rhs, out), pairs, ("lhs", "rhs", "out")):
        if len(spec) != nd or spec.count(a) != 1 or spec.count(b) != 1 or len(set(spec)) != nd:
            raise ValueError(
                f"conv_general_dilated: the {what} layout {spec!r} must have {nd} distinct "
                f"letters, including {a!r} and {b!r} once each"
            )
    spatial = [c for c in rhs if c not in "OI"]
    if {c for c in lhs if c not in "NC"} != set(spatial) or {
        c for c in out if c not in "NC"
    } != set(spatial):
        raise ValueError(
            f"conv_general_dilated: the layouts {(lhs, rhs, out)} must name the same spatial axes"
        )

    def axes(spec: str, a: str, b: str) -> tuple[int, ...]:
        return (spec.index(a), spec.index(b), *(spec.index(c) for c in spatial))

    return ConvDimensionNumbers(axes(lhs, "N", "C"), axes(rhs, "O", "I"), axes(out, "N", "C"))


def _transpose(x, perm: tuple[int, ...]):
    return x if perm == tuple(range(len(perm))) else transpose(x, perm)


def _ints(v, n: int, name: str, default: int = 1) -> tuple[int, ...]:
    if v is None:
        return (default,) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError(f"conv_general_dilated: {name} {v} needs one entry per spatial axis ({n})")
    return v


def conv_general_dilated(
    lhs,
    rhs,
    window_strides: Sequence[int],
    padding: Padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
):
    """General N-d convolution (cross-correlation), as ``jax.lax.conv_general_dilated``.

    Parameters
    ----------
    lhs, rhs : array
        Input and kernel, laid out as ``dimension_numbers`` says.
    window_strides : sequence of int
        Step between windows, per spatial axis.
    padding : str or sequence of (int, int)
        ``'VALID'``, ``'SAME'`` (output ``ceil(n / stride)``, the odd pad element at
        the end), ``'SAME_LOWER'`` (at the start) or one ``(lo, hi)`` pair per spatial
        axis (negative values crop).
    lhs_dilation, rhs_dilation : sequence of int, optional
        Input dilation (``s - 1`` zeros between inputs: a transposed convolution) and
        kernel dilation (atrous convolution). Default 1.
    dimension_numbers : None, (str, str, str) or ConvDimensionNumbers
        Layouts, e.g. ``('NCHW', 'OIHW', 'NCHW')`` (the default) or
        ``('NHWC', 'HWIO', 'NHWC')``; see :func:`conv_dimension_numbers`.
    feature_group_count : int
        Grouped convolution: ``C = G * I``, output features ``O = G * O_g``;
        ``G = C`` with ``I = 1`` is a depthwise convolution.
    batch_group_count : int
        Only 1 is supported.
    precision : ignored
        Accepted for JAX compatibility (NumPy computes at the inputs' precision).
    preferred_element_type : dtype, optional
        The result's dtype (default: the inputs' common dtype).

    Returns
    -------
    array
        The output in ``dimension_numbers``' output layout.
    """
    if batch_group_count != 1:
        raise NotImplementedError(
            "conv_general_dilated: batch_group_count other than 1 is not supported; "
            "split the batch and use feature_group_count"
        )
    lhs, rhs = as_array(lhs), as_array(rhs)
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nsp = lhs.ndim - 2
    if nsp < 1:
        raise ValueError(
            f"conv_general_dilated: needs at least one spatial axis, got lhs {lhs.shape}"
        )
    strides = _ints(window_strides, nsp, "window_strides")
    lhs_dil = _ints(lhs_dilation, nsp, "lhs_dilation")
    rhs_dil = _ints(rhs_dilation, nsp, "rhs_dilation")
    # channels-last: lhs (N, *spatial, C), rhs (*window, I, O)
    x = _transpose(lhs, (dn.lhs_spec[0], *dn.lhs_spec[2:], dn.lhs_spec[1]))
    w = _transpose(rhs, (*dn.rhs_spec[2:], dn.rhs_spec[1], dn.rhs_spec[0]))
    in_sp = tuple(_geometry.dilate_shape(n, d) for n, d in zip(x.shape[1:-1], lhs_dil))
    window = tuple(_geometry.dilate_shape(k, d) for k, d in zip(w.shape[:-2], rhs_dil))
    if isinstance(padding, str) and any(d != 1 for d in lhs_dil):
        raise ValueError(
            f"conv_general_dilated: padding {padding!r} is ambiguous with lhs_dilation "
            f"{lhs_dil} (a transposed convolution): give (lo, hi) pairs, as JAX requires"
        )
    pads = _geometry.padding_pairs(padding, in_sp, window, strides, "conv_general_dilated")
    y = _conv.conv_general_dilated(x, w, strides, pads, lhs_dil, rhs_dil, feature_group_count)
    # y is (N, *spatial, C); out_spec[j] is where y's axis of role j goes
    roles = (0, nsp + 1, *range(1, nsp + 1))
    perm = [0] * (nsp + 2)
    for j, axis in enumerate(dn.out_spec):
        perm[axis] = roles[j]
    y = _transpose(y, tuple(perm))
    if preferred_element_type is not None and np.dtype(preferred_element_type) != y.dtype:
        y = convert_element_type(y, np.dtype(preferred_element_type))
    return y


def conv(
    lhs,
    rhs,
    window_strides: Sequence[int],
    padding: Padding,
    precision=None,
    preferred_element_type=None,
):
    """Convolution of ``lhs`` ``(N, C, *spatial)`` with ``rhs`` ``(O, I, *window)``
    (``jax.lax.conv``); see :func:`conv_general_dilated`."""
    return conv_general_dilated(
        lhs, rhs, window_strides, padding, preferred_element_type=preferred_element_type
    )


def conv_with_general_padding(
    lhs,
    rhs,
    window_strides: Sequence[int],
    padding: Padding,
    lhs_dilation: Sequence[int] | None,
    rhs_dilation: Sequence[int] | None,
    precision=None,
    preferred_element_type=None,
):
    """:func:`conv` with dilations (``jax.lax.conv_with_general_padding``), NC... layout."""
    return conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        preferred_element_type=preferred_element_type,
    )


def conv_general_dilated_patches(
    lhs,
    filter_shape: Sequence[int],
    window_strides: Sequence[int],
    padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    precision=None,
    preferred_element_type=None,
):
    """Every window of ``lhs`` as a feature vector (``jax.lax.conv_general_dilated_patches``).

    The output's feature axis holds, for each input channel ``c`` and window position
    ``s`` (row-major over ``filter_shape``), the entry ``c * prod(filter_shape) + s``;
    the other arguments are those of :func:`conv_general_dilated` (the kernel string
    of ``dimension_numbers`` only names the spatial axes' order). It is that
    convolution with a one-hot kernel per channel, so its derivatives are the
    convolution's.
    """
    lhs = as_array(lhs)
    filter_shape = tuple(int(k) for k in filter_shape)
    dn = conv_dimension_numbers(lhs.shape, (1, 1, *filter_shape), dimension_numbers)
    channels, size = lhs.shape[dn.lhs_spec[1]], prod(filter_shape)
    dtype = lhs.dtype if preferred_element_type is None else np.dtype(preferred_element_type)
    one_hot = fnp.eye(size, dtype=dtype, like=lhs).reshape((size, 1, *filter_shape))
    kernel = fnp.tile(one_hot, (channels,) + (1,) * (1 + len(filter_shape)))
    return conv_general_dilated(
        lhs.astype(dtype),
        kernel,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        ConvDimensionNumbers(dn.lhs_spec, tuple(range(2 + len(filter_shape))), dn.out_spec),
        feature_group_count=channels,
        precision=precision,
    )


__all__ = [
    "ConvDimensionNumbers",
    "ConvGeneralDilatedDimensionNumbers",
    "conv",
    "conv_dimension_numbers",
    "conv_general_dilated",
    "conv_general_dilated_patches",
    "conv_with_general_padding",
    "padtype_to_pads",
]
