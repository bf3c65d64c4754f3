"""``dot_general``: every contraction (matmul, dot, tensordot, batched products) in one primitive.

``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``
names the axes of ``x`` and ``y`` that are summed over pairwise and those that
are batched over. The result's axes are, in order: the batch axes, ``x``'s
remaining axes, ``y``'s remaining axes (JAX's convention). One primitive keeps
the rules in one place; the impl routes the common cases straight to
``matmul`` so BLAS does the work.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives.structural import move_axis, past_batch, transpose

DimensionNumbers = tuple[
    tuple[tuple[int, ...], tuple[int, ...]], tuple[tuple[int, ...], tuple[int, ...]]
]


def _free_axes(ndim: int, contract: tuple[int, ...], batch: tuple[int, ...]) -> list[int]:
    return [i for i in range(ndim) if i not in contract and i not in batch]


def matmul_form(
    x_ndim: int, y_ndim: int, dimension_numbers: DimensionNumbers
) -> tuple[bool, bool] | None:
    """Whether the product is one ``np.matmul`` of ``x`` and ``y``, each transposed or not
    (``.T``, a view BLAS reads as it is): ``(transpose x, transpose y)``, or None.

    So are products of vectors and matrices contracting one axis, and a stack of rows
    times a matrix (a vmapped ``x @ W``). The impl computes them so, and ``jit``'s replay
    writes the same call in place of the impl's (``fgrad.transforms.codegen``).
    """
    (xc, yc), (xb, _) = dimension_numbers
    if xb or len(xc) != 1:
        return None
    if x_ndim <= 2 and y_ndim <= 2:
        return xc[0] != x_ndim - 1, yc[0] != 0
    if xc[0] == x_ndim - 1 and y_ndim == 2:
        return False, yc[0] != 0
    return None


def _dot_general_impl(x, y, dimension_numbers: DimensionNumbers):
    form = matmul_form(x.ndim, y.ndim, dimension_numbers)
    if form is not None:
        return np.matmul(x.T if form[0] else x, y.T if form[1] else y)
    (xc, yc), (xb, yb) = dimension_numbers
    if not xb:
        return np.tensordot(x, y, (xc, yc))
    # batched: move axes to (batch, free, contract) x (batch, contract, free), then matmul
    xf, yf = _free_axes(x.ndim, xc, xb), _free_axes(y.ndim, yc, yb)
    bshape = [x.shape[i] for i in xb]
    xfs, yfs = [x.shape[i] for i in xf], [y.shape[i] for i in yf]
    # explicit sizes, not -1: reshape cannot infer a dimension when the array is empty
    k = int(np.prod([x.shape[i] for i in xc], dtype=np.int64))
    nb = int(np.prod(bshape, dtype=np.int64))
    m, n = int(np.prod(xfs, dtype=np.int64)), int(np.prod(yfs, dtype=np.int64))
    a = np.transpose(x, list(xb) + xf + list(xc)).reshape(nb, m, k)
    b = np.transpose(y, list(yb) + list(yc) + yf).reshape(nb, k, n)
    return np.matmul(a, b).reshape(bshape + xfs + yfs)


def _dot_general_abstract_eval(
    x: ShapedArray, y: ShapedArray, *, dimension_numbers: DimensionNumbers
) -> ShapedArray:
    (xc, yc), (xb, yb) = dimension_numbers

    def fail(why: str):
        raise ShapeError(
            f"dot_general: cannot contract {x.str_short()} with {y.str_short()} "
            f"(contracting axes {xc} with {yc}, batch axes {xb} with {yb}): {why}"
        )

    if len(xc) != len(yc) or len(xb) != len(yb):
        fail("the axis lists must pair up")
    for axes, a in ((xc + xb, x), (yc + yb, y)):
        if any(not 0 <= i < a.ndim for i in axes) or len(set(axes)) != len(axes):
            fail(f"axes {axes} are invalid for shape {a.shape}")
    if any(x.shape[i] != y.shape[j] for i, j in zip(xc, yc)):
        fail(
            f"contracted dimensions differ ({[x.shape[i] for i in xc]} vs "
            f"{[y.shape[j] for j in yc]})"
        )
    if any(x.shape[i] != y.shape[j] for i, j in zip(xb, yb)):
        fail("batch dimensions differ")
    shape = (
        tuple(x.shape[i] for i in xb)
        + tuple(x.shape[i] for i in _free_axes(x.ndim, xc, xb))
        + tuple(y.shape[i] for i in _free_axes(y.ndim, yc, yb))
    )
    dtype = np.result_type(x.dtype, y.dtype)
    return ShapedArray(shape, dtype)


dot_general_p = Primitive("dot_general", _dot_general_impl, _dot_general_abstract_eval)


def dot_general(x, y, dimension_numbers: DimensionNumbers):
    """Contract ``x`` and ``y`` over paired axes, batching over others (see the module doc)."""
    (xc, yc), (xb, yb) = dimension_numbers
    dims = ((tuple(xc), tuple(yc)), (tuple(xb), tuple(yb)))
    return bind(dot_general_p, x, y, dimension_numbers=dims)


def _to_order(r, axes: list[int]):
    """``r`` transposed so that its axis ``axes[i]`` comes ``i``-th (no-op if in order).

    The permutation is an argsort in pure Python: NumPy's costs microseconds on lists
    this short, on every matmul's backward pass.
    """
    perm = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return r if perm == tuple(range(len(perm))) else transpose(r, perm)


def _transpose_lhs(g, x_ndim: int, y, dimension_numbers: DimensionNumbers):
    """Cotangent of ``x``: contract ``g`` with ``y`` over ``y``'s free axes, then reorder."""
    (xc, yc), (xb, yb) = dimension_numbers
    x_free = _free_axes(x_ndim, xc, xb)
    y_free = _free_axes(y.ndim, yc, yb)
    nb = len(xb)
    g_y_free = tuple(range(nb + len(x_free), g.ndim))
    r = dot_general(g, y, ((g_y_free, tuple(y_free)), (tuple(range(nb)), tuple(yb))))
    # r's axes: batch, x's free axes, then y's contracted axes in increasing order,
    # each of which stands for the x axis it was paired with.
    y_rest = sorted(yc)
    r_axes_in_x = list(xb) + x_free + [xc[yc.index(d)] for d in y_rest]
    return _to_order(r, r_axes_in_x)


def _transpose_rhs(g, x, y_ndim: int, dimension_numbers: DimensionNumbers):
    """Cotangent of ``y``: contract ``x`` with ``g`` over ``x``'s free axes, then reorder.

    Contracting in this order (rather than swapping operands and reusing the lhs
    rule) gives ``x.T @ g`` for a matmul, a result already in ``y``'s memory
    order: a transposed view would slow down every elementwise use of the
    gradient, such as the optimiser's update.
    """
    (xc, yc), (xb, yb) = dimension_numbers
    x_free = _free_axes(x.ndim, xc, xb)
    y_free = _free_axes(y_ndim, yc, yb)
    nb = len(xb)
    g_x_free = tuple(range(nb, nb + len(x_free)))
    r = dot_general(x, g, ((tuple(x_free), g_x_free), (tuple(xb), tuple(range(nb)))))
    # r's axes: batch, x's contracted axes in increasing order (each standing for the
    # y axis it was paired with), then y's free axes.
    x_rest = sorted(xc)
    r_axes_in_y = list(yb) + [yc[xc.index(d)] for d in x_rest] + y_free
    return _to_order(r, r_axes_in_y)


defjvp(
    dot_general_p,
    lambda t, ans, x, y, dimension_numbers: dot_general(t, y, dimension_numbers),
    lambda t, ans, x, y, dimension_numbers: dot_general(x, t, dimension_numbers),
)
defvjp(
    dot_general_p,
    lambda g, ans, x, y, dimension_numbers: _transpose_lhs(g, x.ndim, y, dimension_numbers),
    lambda g, ans, x, y, dimension_numbers: _transpose_rhs(g, x, y.ndim, dimension_numbers),
    reads=("y", "x"),
)


def _dot_general_batch(size, vals, dims, *, dimension_numbers: DimensionNumbers):
    """Both batched: the batch axis becomes one more batch dimension of the contraction.
    One batched: it is one more free axis of that operand, found again in the result."""
    (xc, yc), (xb, yb) = dimension_numbers
    (x, y), (dx, dy) = vals, dims

    if dx is not None and dy is not None:
        x, y = move_axis(x, dx, 0), move_axis(y, dy, 0)
        dn = (
            (past_batch(xc, 0), past_batch(yc, 0)),
            ((0,) + past_batch(xb, 0), (0,) + past_batch(yb, 0)),
        )
        return dot_general(x, y, dn), 0
    if dx is not None:
        xc, xb = past_batch(xc, dx), past_batch(xb, dx)
        out_dim = len(xb) + _free_axes(x.ndim, xc, xb).index(dx)
    else:
        yc, yb = past_batch(yc, dy), past_batch(yb, dy)
        n_x_free = x.ndim - len(xc) - len(xb)
        out_dim = len(xb) + n_x_free + _free_axes(y.ndim, yc, yb).index(dy)
    return dot_general(x, y, ((xc, yc), (xb, yb))), out_dim


defbatch(dot_general_p, _dot_general_batch)
