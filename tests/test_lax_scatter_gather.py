"""``fgrad.lax.gather`` and the scatter family with XLA's dimension numbers.

Checked against NumPy's indexing and ``ufunc.at`` (closed forms), against JAX's own
``lax.gather``/``lax.scatter*`` where installed (the index semantics: clamping,
dropped windows, batching axes), eagerly / under ``jit`` / under ``vmap``, and the
derivatives against central finite differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.lax import GatherDimensionNumbers as GDN
from fgrad.lax import ScatterDimensionNumbers as SDN

rng = np.random.default_rng(0)
X = rng.normal(size=(5, 6, 7))

# (operand, indices, dimension numbers, slice sizes): the forms JAX programs produce
GATHERS = {
    "rows": (X, np.array([[1], [4], [0], [3]]), GDN((1, 2), (0,), (0,)), (1, 6, 7)),
    "points": (
        X,
        np.array([[[0, 1, 2], [4, 5, 6]], [[1, 1, 1], [2, 0, 3]]]),
        GDN((), (0, 1, 2), (0, 1, 2)),
        (1, 1, 1),
    ),
    "windows": (X, np.array([[0, 2], [3, 1]]), GDN((1, 2, 3), (), (0, 2)), (2, 6, 3)),
    "middle_axis": (X, np.array([[5], [2]]), GDN((0, 2), (1,), (1,)), (5, 1, 7)),
    "offset_first": (X, np.array([[2], [0], [1]]), GDN((0, 1), (0,), (0,)), (1, 6, 7)),
    "take_along_axis": (
        X,
        np.stack(np.broadcast_arrays(rng.integers(0, 7, size=(5, 6, 4))), -1),
        GDN((), (2,), (2,), operand_batching_dims=(0, 1), start_indices_batching_dims=(0, 1)),
        (1, 1, 1),
    ),
    "out_of_range": (
        X,
        np.array([[9, 0], [-3, 2], [4, 5]]),
        GDN((1,), (0, 1), (0, 1)),
        (1, 1, 7),
    ),
}


def _numpy_rows():
    return X[[1, 4, 0, 3]]


def test_gather_closed_forms():
    op, idx, dn, sizes = GATHERS["rows"]
    np.testing.assert_array_equal(lax.gather(op, idx, dn, sizes), _numpy_rows())
    op, idx, dn, sizes = GATHERS["points"]
    expected = X[idx[..., 0], idx[..., 1], idx[..., 2]]
    np.testing.assert_array_equal(lax.gather(op, idx, dn, sizes), expected)
    op, idx, dn, sizes = GATHERS["take_along_axis"]
    expected = np.take_along_axis(X, idx[..., 0], axis=2)
    np.testing.assert_array_equal(lax.gather(op, idx, dn, sizes), expected)
    op, idx, dn, sizes = GATHERS["windows"]
    out = lax.gather(op, idx, dn, sizes)
    assert out.shape == (2, 2, 6, 3)
    np.testing.assert_array_equal(out[1], X[3:5, :, 1:4])
    # clamped: start 9 of axis 0 reads row 4, -3 reads row 0
    op, idx, dn, sizes = GATHERS["out_of_range"]
    out = lax.gather(op, idx, dn, sizes)
    np.testing.assert_array_equal(out, np.stack([X[4, 0], X[0, 2], X[4, 5]]))
    filled = lax.gather(op, idx, dn, sizes, mode="fill", fill_value=-1.0)
    np.testing.assert_array_equal(filled, np.stack([np.full(7, -1.0), np.full(7, -1.0), X[4, 5]]))
    assert np.isnan(lax.gather(op, idx, dn, sizes, mode="fill")[0]).all()


@pytest.mark.parametrize("name", sorted(GATHERS))
@pytest.mark.parametrize("mode", [None, "clip", "fill"])
def test_gather_matches_jax(name, mode):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    op, idx, dn, sizes = GATHERS[name]
    jdn = jax.lax.GatherDimensionNumbers(*dn)
    expected = np.asarray(jax.lax.gather(op, idx, jdn, sizes, mode=mode))
    np.testing.assert_array_equal(lax.gather(op, idx, dn, sizes, mode=mode), expected)


@pytest.mark.parametrize("name", sorted(GATHERS))
def test_gather_jit_vmap_and_gradient(name):
    op, idx, dn, sizes = GATHERS[name]
    f = lambda x, i: lax.gather(x, i, dn, sizes)  # noqa: E731
    eager = f(op, idx)
    np.testing.assert_array_equal(fgrad.jit(f)(op, idx), eager)
    ops = np.stack([op, 2 * op])
    np.testing.assert_array_equal(fgrad.vmap(f, (0, None))(ops, idx), np.stack([eager, 2 * eager]))
    idxs = np.stack([idx, idx[::-1]])
    np.testing.assert_array_equal(
        fgrad.vmap(f, (None, 0))(op, idxs), np.stack([f(op, i) for i in idxs])
    )
    np.testing.assert_array_equal(
        fgrad.jit(fgrad.vmap(f, (None, 0)))(op, idxs), np.stack([f(op, i) for i in idxs])
    )
    # vjp: the cotangent lands on the read elements (a scatter-add of it)
    w = rng.normal(size=eager.shape)
    g = fgrad.grad(lambda x: fnp.sum(f(x, idx) * w))(op)
    direction = rng.normal(size=op.shape)
    h = 1e-6
    fd = (np.sum(f(op + h * direction, idx) * w) - np.sum(f(op - h * direction, idx) * w)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * direction), fd, rtol=1e-7)


def _scatter_cases():
    base = rng.normal(size=(6, 4))
    rows = SDN((1,), (0,), (0,))
    points = SDN((), (0, 1), (0, 1))
    return {
        "rows_repeated": (base, np.array([[1], [3], [1], [0]]), rng.normal(size=(4, 4)), rows),
        "points": (
            base,
            np.array([[0, 0], [5, 3], [0, 0], [2, 1]]),
            rng.normal(size=4),
            points,
        ),
        "window": (base, np.array([[2, 1]]), rng.normal(size=(1, 3, 2)), SDN((1, 2), (), (0, 1))),
        "out_of_range": (
            base,
            np.array([[7], [-1], [2]]),
            rng.normal(size=(3, 4)),
            rows,
        ),
        "batched": (
            base,
            np.array([[3], [0], [3], [1], [1], [2]]),
            rng.normal(size=6),
            SDN((), (1,), (1,), operand_batching_dims=(0,), scatter_indices_batching_dims=(0,)),
        ),
    }


SCATTERS = _scatter_cases()
FNS = ["scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max"]
UFUNC = {
    "scatter_add": np.add,
    "scatter_mul": np.multiply,
    "scatter_min": np.minimum,
    "scatter_max": np.maximum,
}


@pytest.mark.parametrize("fn", sorted(UFUNC))
def test_scatter_combines_repeated_rows_as_ufunc_at(fn):
    op, idx, upd, dn = SCATTERS["rows_repeated"]
    expected = op.copy()
    UFUNC[fn].at(expected, idx[:, 0], upd)
    np.testing.assert_allclose(getattr(lax, fn)(op, idx, upd, dn), expected, rtol=1e-15)
    # traced positions (under jit) take the comparison path: the same numbers
    jitted = fgrad.jit(lambda o, i, u: getattr(lax, fn)(o, i, u, dn))
    np.testing.assert_allclose(jitted(op, idx, upd), expected, rtol=1e-15)


def test_scatter_drops_windows_out_of_range_unless_clipped():
    op, idx, upd, dn = SCATTERS["out_of_range"]
    expected = op.copy()
    expected[2] += upd[2]  # rows 7 and -1 do not exist: dropped
    np.testing.assert_array_equal(lax.scatter_add(op, idx, upd, dn), expected)
    clipped = op.copy()
    clipped[5] += upd[0]
    clipped[0] += upd[1]
    clipped[2] += upd[2]
    np.testing.assert_array_equal(lax.scatter_add(op, idx, upd, dn, mode="clip"), clipped)
    set_ = op.copy()
    set_[2] = upd[2]
    np.testing.assert_array_equal(lax.scatter(op, idx, upd, dn), set_)
    sub = op.copy()
    sub[2] -= upd[2]
    np.testing.assert_array_equal(lax.scatter_sub(op, idx, upd, dn), sub)


def _repeats_a_target(name: str) -> bool:
    idx = SCATTERS[name][1]
    rows = idx.reshape(-1, idx.shape[-1])
    return len({tuple(i) for i in rows}) < len(rows)


# a plain scatter that writes one place twice is left out: XLA leaves which write wins open
JAX_SCATTER_CASES = [
    (name, fn)
    for name in sorted(SCATTERS)
    for fn in FNS
    if not (fn == "scatter" and _repeats_a_target(name))
]


@pytest.mark.parametrize(("name", "fn"), JAX_SCATTER_CASES)
@pytest.mark.parametrize("mode", [None, "clip"])
def test_scatter_matches_jax(name, fn, mode):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    op, idx, upd, dn = SCATTERS[name]
    jdn = jax.lax.ScatterDimensionNumbers(*dn)
    expected = np.asarray(getattr(jax.lax, fn)(op, idx, upd, jdn, mode=mode))
    np.testing.assert_allclose(getattr(lax, fn)(op, idx, upd, dn, mode=mode), expected, rtol=1e-15)


@pytest.mark.parametrize("name", sorted(SCATTERS))
@pytest.mark.parametrize("fn", ["scatter_add", "scatter", "scatter_mul"])
def test_scatter_jit_vmap_and_gradients(name, fn):
    op, idx, upd, dn = SCATTERS[name]
    f = lambda o, u, i: getattr(lax, fn)(o, i, u, dn)  # noqa: E731
    if fn == "scatter" and name in ("rows_repeated", "points", "batched"):
        idx = np.unique(idx.reshape(-1, idx.shape[-1]), axis=0)[: idx.shape[0]]
        if len(idx) < upd.shape[0]:
            return
    eager = f(op, upd, idx)
    np.testing.assert_allclose(fgrad.jit(f)(op, upd, idx), eager, rtol=1e-15)
    ops, upds = np.stack([op, op + 1]), np.stack([upd, 2 * upd])
    np.testing.assert_allclose(
        fgrad.vmap(f, (0, 0, None))(ops, upds, idx),
        np.stack([f(o, u, idx) for o, u in zip(ops, upds)]),
        rtol=1e-15,
    )
    w = rng.normal(size=op.shape)
    loss = lambda o, u: fnp.sum(f(o, u, idx) * w)  # noqa: E731
    g_op, g_upd = fgrad.grad(loss, argnums=(0, 1))(op, upd)
    d_op, d_upd = rng.normal(size=op.shape), rng.normal(size=upd.shape)
    h = 1e-6
    fd = (loss(op + h * d_op, upd + h * d_upd) - loss(op - h * d_op, upd - h * d_upd)) / (2 * h)
    np.testing.assert_allclose(np.sum(g_op * d_op) + np.sum(g_upd * d_upd), fd, rtol=1e-6)


def test_segment_sum_under_jit_with_traced_segment_ids():
    data = rng.normal(size=(10, 3))
    ids = np.array([0, 2, 2, 1, 0, 3, 3, 3, 1, 0])
    dn = SDN((1,), (0,), (0,))

    @fgrad.jit
    def segment_sum(d, i):
        return lax.scatter_add(fnp.zeros((4, 3)), i[:, None], d, dn)

    expected = np.zeros((4, 3))
    np.add.at(expected, ids, data)
    np.testing.assert_allclose(segment_sum(data, ids), expected, rtol=1e-15)


def test_bad_dimension_numbers_are_explained():
    with pytest.raises(ValueError, match="window size 1"):
        lax.gather(X, np.array([[1]]), GDN((1, 2), (0,), (0,)), (2, 6, 7))
    with pytest.raises(ValueError, match="offset_dims"):
        lax.gather(X, np.array([[1]]), GDN((1,), (0,), (0,)), (1, 6, 7))
    with pytest.raises(ValueError, match="index map"):
        lax.gather(X, np.array([[1, 2]]), GDN((1, 2), (0,), (0,)), (1, 6, 7))
    with pytest.raises(ValueError, match="batch shape"):
        lax.scatter_add(X, np.array([[1], [2]]), np.ones((3, 6, 7)), SDN((1, 2), (0,), (0,)))
    with pytest.raises(ValueError, match="unknown mode"):
        lax.gather(X, np.array([[1]]), GDN((1, 2), (0,), (0,)), (1, 6, 7), mode="wrap")


@pytest.mark.parametrize("fn", sorted(UFUNC))
def test_scatter_with_indices_mapped_by_vmap(fn):
    """Indices that differ per example (traced under vmap) give each example's result."""
    dn = SDN((), (0,), (0,))
    ids = np.array([[0, 2, 2, 1], [1, 1, 0, 3], [3, 3, 3, 3]])
    data = rng.normal(size=4)
    out = fgrad.vmap(lambda i: getattr(lax, fn)(np.ones(4), i[:, None], data, dn))(ids)
    for i, row in zip(ids, out):
        expected = np.ones(4)
        UFUNC[fn].at(expected, i, data)
        np.testing.assert_allclose(row, expected, rtol=1e-15)
