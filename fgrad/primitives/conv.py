"""``conv_general_dilated``: N-d convolution (cross-correlation, as in deep learning).

The convolution works in one channels-last layout: ``lhs`` is ``(N, *spatial, C)``,
``rhs`` is ``(*window, I, O)`` and the result ``(N, *out_spatial, O)``; ``fgrad.lax``
transposes other layouts (``dimension_numbers``) to it. Static parameters, one entry per
spatial axis: ``window_strides``, ``padding`` (``(lo, hi)`` pairs, negative values
crop), ``lhs_dilation`` (zeros inserted between input elements: the transposed
convolution), ``rhs_dilation`` (holes in the window: atrous convolution) and
``feature_group_count`` (``C = G * I`` and ``O = G * O_g``: group ``g`` sees its own
``I`` input features).

It is not a primitive of its own but im2col and one matmul, written with primitives:
``window_patches`` (every window of the padded, dilated input as a strided view), a
transpose and a reshape that copy the windows once into the patches matrix
``(N * out_positions, window * C)`` (window-major, features contiguous; per group
``(G, N * out_positions, window * I)``), and ``dot_general`` with the kernel. Without
groups ``window_patches`` is asked to materialize the windows: with numba it copies
them itself, in that layout, and the reshape is a view. Every
rule follows from theirs, and the patches matrix is computed once: ``dot_general``'s
vjp w.r.t. the kernel reads it (``patches^T @ g``, every output position of every
example summed in one product), so the weight gradient does not take the windows
again (``grad`` keeps it on its tape; under ``jit`` it is the forward pass's value).
The vjp w.r.t. ``lhs`` is ``g @ w^T`` (each window's share of every input it read)
added back to those inputs by ``window_patches_transpose`` (col2im): the transposed
convolution, without the zeros a strided one would multiply. Under ``vmap`` the windows
get one more axis and the matmuls a batch axis. See ``docs/conv.md``.
"""

from __future__ import annotations

from math import prod

from fgrad.core.abstract import get_aval
from fgrad.core.errors import ShapeError
from fgrad.primitives.dot_general import dot_general
from fgrad.primitives.structural import reshape, transpose
from fgrad.primitives.window_geometry import Pairs
from fgrad.primitives.windows import window_patches


def _check(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, groups) -> None:
    def fail(why: str):
        raise ShapeError(
            f"conv_general_dilated: cannot convolve {get_aval(lhs).str_short()} (N, *spatial, C) "
            f"with {get_aval(rhs).str_short()} (*window, I, O): {why}"
        )

    nsp = lhs.ndim - 2
    if nsp < 1 or rhs.ndim != lhs.ndim:
        fail("both need the same number of axes, at least 3 (one spatial axis)")
    for name, v in (
        ("window_strides", window_strides),
        ("padding", padding),
        ("lhs_dilation", lhs_dilation),
        ("rhs_dilation", rhs_dilation),
    ):
        if len(v) != nsp:
            fail(f"{name} {v} needs one entry per spatial axis ({nsp})")
    if any(v < 1 for v in window_strides + lhs_dilation + rhs_dilation):
        fail("strides and dilations must be positive")
    c, (i, o) = lhs.shape[-1], rhs.shape[-2:]
    if groups < 1 or c != i * groups or o % groups:
        fail(
            f"with feature_group_count={groups}, the input features ({c}) must be "
            f"{groups} x the kernel's I ({i}) and O ({o}) a multiple of {groups}"
        )


def conv_general_dilated(
    lhs,
    rhs,
    window_strides: tuple[int, ...],
    padding: Pairs,
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int = 1,
):
    """The convolution, channels-last (``lhs`` ``(N, *spatial, C)``, ``rhs``
    ``(*window, I, O)``) with explicit padding pairs; ``fgrad.lax.conv_general_dilated``
    is the public form (see the module docstring)."""
    strides = tuple(int(s) for s in window_strides)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    lhs_dil = tuple(int(d) for d in lhs_dilation)
    rhs_dil = tuple(int(d) for d in rhs_dilation)
    groups = int(feature_group_count)
    _check(lhs, rhs, strides, pads, lhs_dil, rhs_dil, groups)
    nsp = lhs.ndim - 2
    window, (i, o) = tuple(rhs.shape[:nsp]), rhs.shape[-2:]
    n, og = lhs.shape[0], o // groups
    windows = window_patches(
        lhs,
        (1, *window, 1),
        (1, *strides, 1),
        ((0, 0), *pads, (0, 0)),
        (1, *lhs_dil, 1),
        (1, *rhs_dil, 1),
        fill=0,
        materialize=groups == 1,  # then the reshape below is a view of the copy
    )
    out = tuple(windows.shape[1 : 1 + nsp])
    m, k = n * prod(out), prod(window)
    # (N, *out, C, 1, *window, 1), C = (G, I) -> (G, N, *out, 1, *window, 1, I): the
    # reshape to a matrix copies (im2col), moving runs of I contiguous features
    windows = reshape(windows, (n, *out, groups, i, 1, *window, 1))
    order = (nsp + 1, *range(nsp + 1), *range(nsp + 3, 2 * nsp + 5), nsp + 2)
    patches = transpose(windows, order)
    if groups == 1:
        patches = reshape(patches, (m, k * i))
        y = dot_general(patches, reshape(rhs, (k * i, o)), (((1,), (0,)), ((), ())))
    else:
        patches = reshape(patches, (groups, m, k * i))
        w = reshape(transpose(reshape(rhs, (k, i, groups, og)), (2, 0, 1, 3)), (groups, k * i, og))
        y = dot_general(patches, w, (((2,), (1,)), ((0,), (0,))))  # (G, M, O_g)
        y = reshape(transpose(y, (1, 0, 2)), (m, o))
    return reshape(y, (n, *out, o))
