"""Property tests over random shapes (hypothesis): broadcasting, reductions over any axes,
einsum on random valid subscripts, transposes; values against NumPy, derivatives against
finite differences and across modes."""

from __future__ import annotations

import string

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)  # same cases in CI
FLOATS = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=FLOATS)


@SETTINGS
@given(st.data(), hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_binary_broadcasting_values_and_gradients(data, shapes):
    x = data.draw(arrays(shapes.input_shapes[0]))
    y = data.draw(arrays(shapes.input_shapes[1]))
    f = lambda x, y: fnp.sin(x) * y + x / (2.5 + y)  # noqa: E731
    want = np.sin(x) * y + x / (2.5 + y)
    got = f(x, y)
    assert np.shape(got) == shapes.result_shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    # gradients have the operands' shapes (broadcasting undone) and match finite differences
    gx, gy = fgrad.grad(lambda x, y: fnp.sum(f(x, y)), argnums=(0, 1))(x, y)
    assert gx.shape == x.shape and gy.shape == y.shape
    check_grads(f, (x, y), order=1)


@st.composite
def lower_rank_with_unit_axes(draw):
    """Two broadcastable shapes, one of lower rank that also broadcasts a size-1 axis
    (``(3, 1)`` against ``(2, 3, 4)``), in either order: the pairs where summing the
    cotangent over the wrong axis shows (mutually_broadcastable_shapes rarely draws them)."""
    full = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=2, max_side=4))
    rank = draw(st.integers(1, len(full) - 1))
    unit = draw(st.lists(st.booleans(), min_size=rank, max_size=rank).filter(any))
    small = tuple(1 if u else d for u, d in zip(unit, full[len(full) - rank :]))
    return (full, small) if draw(st.booleans()) else (small, full)


def _sum_to(g, shape):
    """NumPy reference for undoing broadcasting: sum the leading axes, then the unit ones."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1), keepdims=True)


@SETTINGS
@given(st.data(), lower_rank_with_unit_axes())
def test_broadcasting_lower_rank_and_unit_axes_closed_form(data, shapes):
    x = data.draw(arrays(shapes[0]))
    y = data.draw(arrays(shapes[1]))
    w = data.draw(arrays(np.broadcast_shapes(*shapes)))  # a non-uniform cotangent

    def loss(x, y):
        return fnp.sum(w * (x * y + (x - y) + fnp.maximum(x, 2 * y)))

    gx, gy = fgrad.grad(loss, argnums=(0, 1))(x, y)
    xb, yb = np.broadcast_arrays(x, y)
    wins = np.where(xb > 2 * yb, 1.0, np.where(xb == 2 * yb, 0.5, 0.0))
    np.testing.assert_allclose(gx, _sum_to(w * (yb + 1 + wins), x.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy, _sum_to(w * (xb - 1 + 2 * (1 - wins)), y.shape),
                               rtol=1e-12, atol=1e-12)
    jx, jy = fgrad.jit(fgrad.grad(loss, argnums=(0, 1)))(x, y)
    np.testing.assert_allclose(jx, gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jy, gy, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(st.data(), hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
def test_reductions_over_random_axes(data, shape):
    x = data.draw(arrays(shape))
    axes = data.draw(st.one_of(st.none(), hnp.valid_tuple_axes(len(shape), min_size=1)))
    keepdims = data.draw(st.booleans())
    for name in ("sum", "mean", "max", "var"):
        got = getattr(fnp, name)(x, axis=axes, keepdims=keepdims)
        want = getattr(np, name)(x, axis=axes, keepdims=keepdims)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    f = lambda x: fnp.sum(x**2, axis=axes, keepdims=keepdims) + fnp.mean(x, axis=axes)  # noqa: E731
    check_grads(f, (x,), order=2)


@SETTINGS
@given(st.data())
def test_einsum_random_subscripts(data):
    letters = string.ascii_lowercase[:5]
    sizes = {c: data.draw(st.integers(1, 3)) for c in letters}
    n_ops = data.draw(st.integers(1, 3))
    subs = [
        "".join(data.draw(st.lists(st.sampled_from(letters), min_size=0, max_size=3)))
        for _ in range(n_ops)
    ]
    used = sorted(set("".join(subs)))
    out = "".join(data.draw(st.permutations(used))[: data.draw(st.integers(0, len(used)))])
    spec = ",".join(subs) + "->" + out
    ops = [data.draw(arrays(tuple(sizes[c] for c in s))) for s in subs]
    got, want = fnp.einsum(spec, *ops), np.einsum(spec, *ops)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if ops:
        check_grads(lambda *xs: fnp.einsum(spec, *xs), ops, order=1)


@SETTINGS
@given(st.data(), hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
def test_transposes_and_moveaxis(data, shape):
    x = data.draw(arrays(shape))
    perm = data.draw(st.permutations(range(len(shape))))
    np.testing.assert_array_equal(fnp.transpose(x, perm), np.transpose(x, perm))
    src = data.draw(st.integers(-len(shape), len(shape) - 1))
    dst = data.draw(st.integers(-len(shape), len(shape) - 1))
    np.testing.assert_array_equal(fnp.moveaxis(x, src, dst), np.moveaxis(x, src, dst))
    # both are permutations: the reverse-mode Jacobian is the forward one, and orthogonal
    f = lambda x: fnp.moveaxis(fnp.transpose(x, perm), src, dst)  # noqa: E731
    jf, jr = fgrad.jacfwd(f)(x), fgrad.jacrev(f)(x)
    np.testing.assert_array_equal(jf, jr)
    flat = jf.reshape(x.size, x.size)
    np.testing.assert_array_equal(flat @ flat.T, np.eye(x.size))
