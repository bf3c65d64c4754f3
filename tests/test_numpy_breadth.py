"""Assembly (append, insert, delete, r_, c_, block, ...), differences and integrals, searching
and partial sorting, NaN statistics and covariances, polynomials and 1-D signals, traced
linspace: values like NumPy's, derivatives against finite differences in both modes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(41)


def R(*shape):
    return RNG.standard_normal(shape)


A = R(3, 4)
X3 = R(2, 3, 4)
P = R(4)


def same(got, want):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
        return
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)


# (name, args, kwargs, differentiable argument positions)
CALLS = [
    ("append", (A, A[:1]), {"axis": 0}, (0, 1)),
    ("append", (A, [1.0, 2.0]), {}, (0,)),
    ("insert", (A, 1, 7.0), {"axis": 1}, (0,)),
    ("insert", (A, [0, 2, 2], R(3)), {}, (0, 2)),
    ("insert", (A, slice(0, 4, 2), R(3, 1)), {"axis": 1}, (0, 2)),
    ("delete", (A, [0, 2]), {"axis": 1}, (0,)),
    ("delete", (A, slice(1, 3)), {}, (0,)),
    ("resize", (A, (5, 3)), {}, (0,)),
    ("rollaxis", (X3, 2, 0), {}, (0,)),
    ("rollaxis", (X3, 0, 3), {}, (0,)),
    ("dsplit", (X3, 2), {}, (0,)),
    ("unstack", (A,), {"axis": 1}, (0,)),
    ("matrix_transpose", (X3,), {}, (0,)),
    ("permute_dims", (X3, (2, 0, 1)), {}, (0,)),
    ("concat", ([A, A],), {"axis": 1}, ()),
    ("diagflat", (R(2, 2), 1), {}, (0,)),
    ("trim_zeros", (np.array([0.0, 0.0, 1.5, 2.0, 0.0]),), {}, ()),
    ("diff", (A,), {"n": 2, "axis": 1}, (0,)),
    ("diff", (A,), {"prepend": 0.0, "append": A[:, :1]}, (0,)),
    ("ediff1d", (A,), {"to_begin": 3.0, "to_end": [1.0, 2.0]}, (0,)),
    ("gradient", (A,), {}, (0,)),
    ("gradient", (A, 0.5), {"axis": 1, "edge_order": 2}, (0,)),
    ("gradient", (A, np.array([0.0, 0.3, 1.0, 1.2])), {"axis": 1}, (0, 1)),
    ("trapezoid", (A, np.array([0.0, 0.3, 1.0, 1.2])), {}, (0, 1)),
    ("trapezoid", (A,), {"dx": 0.3, "axis": 0}, (0,)),
    ("cumulative_sum", (A,), {"axis": 1, "include_initial": True}, (0,)),
    ("cumulative_prod", (P,), {}, (0,)),
    ("unwrap", (np.cumsum(R(2, 12), axis=1),), {}, (0,)),
    ("partition", (A, 2), {}, ()),
    ("unique", (np.array([3.0, 1.0, 2.0, 3.0, 1.0]),), {"return_counts": True}, ()),
    ("cov", (A,), {}, (0,)),
    ("cov", (A,), {"rowvar": False, "aweights": RNG.uniform(1, 2, 3)}, (0, "aweights")),
    ("corrcoef", (A,), {}, (0,)),
    ("nanmax", (A,), {"axis": 1}, (0,)),
    ("nanvar", (A,), {"axis": 0, "ddof": 1}, (0,)),
    ("nanstd", (A,), {}, (0,)),
    ("nanmedian", (A,), {"axis": 1}, ()),
    ("nanprod", (A,), {"axis": 0}, (0,)),
    ("nancumsum", (A,), {"axis": 1}, (0,)),
    ("polyval", (P, A), {}, (0, 1)),
    ("polyadd", (P, R(2)), {}, (0, 1)),
    ("polysub", (R(2), P), {}, (0, 1)),
    ("polymul", (P, R(3)), {}, (0, 1)),
    ("polyder", (P, 2), {}, (0,)),
    ("polyint", (P, 1, 2.0), {}, (0,)),
    ("vander", (P,), {"N": 3}, (0,)),
    ("polyfit", (np.linspace(0, 1, 8), R(8), 2), {}, (0, 1)),
    ("poly", (np.array([1.0, -2.0, 0.5]),), {}, (0,)),
    ("convolve", (R(5), R(3)), {"mode": "same"}, (0, 1)),
    ("correlate", (R(5), R(3)), {"mode": "full"}, (0, 1)),
    ("interp", (np.array([-1.0, 0.2, 1.5, 2.7, 4.0]), np.array([0.0, 1.0, 3.0]), R(3)), {}, (0, 2)),
    ("vecdot", (A, P), {}, (0, 1)),
    ("matvec", (A, P), {}, (0, 1)),
    ("vecmat", (R(3), A), {}, (0, 1)),
    ("linspace", (np.array([0.0, 1.0]), np.array([2.0, 5.0]), 5), {"axis": 1}, ()),
]


@pytest.mark.parametrize(
    "name, args, kwargs, diff", CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)]
)
def test_values_like_numpy(name, args, kwargs, diff):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(getattr(fnp, name)(*args, **kwargs), getattr(np, name)(*args, **kwargs))


DIFFERENTIABLE = [c for c in CALLS if c[3]]


@pytest.mark.parametrize(
    "name, args, kwargs, diff",
    DIFFERENTIABLE,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(DIFFERENTIABLE)],
)
def test_derivatives(name, args, kwargs, diff):
    positions = [d for d in diff if isinstance(d, int)]
    keywords = [d for d in diff if isinstance(d, str)]

    def f(*xs):
        full = list(args)
        for p, x in zip(positions, xs):
            full[p] = x
        kw = dict(kwargs)
        for k, x in zip(keywords, xs[len(positions) :]):
            kw[k] = x
        out = getattr(fnp, name)(*full, **kw)
        return tuple(out) if isinstance(out, list) else out

    primals = [np.asarray(args[p], dtype=float) for p in positions] + [kwargs[k] for k in keywords]
    check_grads(f, primals, order=2 if name not in ("interp", "gradient") else 1)


def test_r_and_c_index_tricks_are_differentiable():
    a, b = R(2), R(3)
    same(fnp.r_[a, 3.0, b], np.r_[a, 3.0, b])
    same(fnp.r_[1:4, 0:1:3j], np.r_[1:4, 0:1:3j])
    same(fnp.r_["0,2", a, a], np.r_["0,2", a, a])
    same(fnp.c_[a, a], np.c_[a, a])
    same(fnp.c_[A, A], np.c_[A, A])
    g = fgrad.grad(lambda a: fnp.sum(fnp.r_[a, 2 * a, 1.0] ** 2))(a)
    np.testing.assert_allclose(g, 2 * a + 8 * a)


def test_block_and_copy():
    blocks = [[np.eye(2), np.zeros((2, 1))], [np.ones((1, 2)), np.ones((1, 1))]]
    same(fnp.block(blocks), np.block(blocks))
    same(fnp.block([P, 3.0]), np.block([P, 3.0]))
    g = fgrad.grad(lambda a: fnp.sum(fnp.block([[a, a], [a, a]])))(np.eye(2))
    np.testing.assert_array_equal(g, 4 * np.ones((2, 2)))
    c = fnp.copy(A)
    assert c is not A and np.array_equal(c, A)


def test_partition_puts_kth_values_where_numpy_does():
    for k in (0, 2, 3):
        np.testing.assert_array_equal(fnp.partition(A, k)[:, k], np.partition(A, k)[:, k])
        order = fnp.argpartition(A, k)
        np.testing.assert_array_equal(
            np.take_along_axis(A, order, -1)[:, k], np.partition(A, k)[:, k]
        )


def test_searching_and_counting_like_numpy():
    x = np.array([3, 1, 2, 3, 1])
    same(fnp.unique(x, True, True, True), np.unique(x, True, True, True))
    same(
        fnp.searchsorted([1.0, 2.0, 3.0], [2.5, 0.0]), np.searchsorted([1.0, 2.0, 3.0], [2.5, 0.0])
    )
    same(fnp.digitize([0.5, 2.5], [0, 1, 2]), np.digitize([0.5, 2.5], [0, 1, 2]))
    same(fnp.isin([1, 5], [5]), np.isin([1, 5], [5]))
    same(fnp.argwhere(A > 0), np.argwhere(A > 0))
    same(fnp.flatnonzero(A > 0), np.flatnonzero(A > 0))
    w = RNG.uniform(size=4)
    same(fnp.bincount([0, 1, 1, 3], w, minlength=6), np.bincount([0, 1, 1, 3], w, minlength=6))
    g = fgrad.grad(lambda w: fnp.sum(fnp.bincount(np.array([0, 1, 1, 3]), w) ** 2))(w)
    counts = np.bincount([0, 1, 1, 3], w)
    np.testing.assert_allclose(g, 2 * counts[[0, 1, 1, 3]])
    for name in ("tril_indices", "triu_indices"):
        same(getattr(fnp, name)(3, 1), getattr(np, name)(3, 1))
        same(getattr(fnp, name + "_from")(A), getattr(np, name + "_from")(A))
    same(fnp.diag_indices_from(np.eye(3)), np.diag_indices_from(np.eye(3)))


def test_nan_statistics_ignore_nans_in_values_and_gradients():
    a = A.copy()
    a[0, 1] = np.nan
    for name in ("nanmax", "nanmin", "nanprod", "nanvar", "nanstd", "nanmedian"):
        for axis in (None, 0, 1):
            same(getattr(fnp, name)(a, axis=axis), getattr(np, name)(a, axis=axis))
    same(fnp.nanpercentile(a, [10, 90], axis=0), np.nanpercentile(a, [10, 90], axis=0))
    same(fnp.nanargmax(a, axis=1), np.nanargmax(a, axis=1))
    g = fgrad.grad(lambda a: fnp.nanvar(a))(a)
    assert g[0, 1] == 0 and np.all(np.isfinite(g))
    mask = ~np.isnan(a)
    np.testing.assert_allclose(g[mask], 2 * (a[mask] - a[mask].mean()) / mask.sum())


def test_nan_extremes_and_their_indices_trace_and_batch():
    a = A.copy()
    a[0, 1] = a[1, 0] = np.nan
    for name in ("nanmax", "nanmin", "nanargmax", "nanargmin", "nanprod", "nanvar", "nanstd"):
        for axis in (None, 0, 1):
            want = getattr(np, name)(a, axis=axis)
            got = fgrad.jit(lambda x, name=name, axis=axis: getattr(fnp, name)(x, axis=axis))(a)
            np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=f"{name}, axis {axis}")
        want = [getattr(np, name)(row) for row in a]
        np.testing.assert_allclose(fgrad.vmap(getattr(fnp, name))(a), want, rtol=1e-14)
    with pytest.raises(ValueError, match="All-NaN slice"):
        fnp.nanargmin(np.full((2, 2), np.nan), axis=0)


def test_linspace_is_differentiable_in_its_bounds():
    for num in (0, 1, 5):
        for endpoint in (True, False):

            def f(lo, hi, num=num, endpoint=endpoint):
                return fnp.linspace(lo, hi, num, endpoint=endpoint)

            same(f(1.2, 3.4), np.linspace(1.2, 3.4, num, endpoint=endpoint))
            if num:
                check_grads(f, (1.2, 3.4))
                check_grads(f, (1.2, 1.2))
    # d/dstop of linspace(0, stop, 5) is [0, 1/4, 1/2, 3/4, 1]
    t = fgrad.jvp(lambda s: fnp.linspace(0.0, s, 5), (2.0,), (1.0,))[1]
    np.testing.assert_allclose(t, np.linspace(0, 1, 5))
    check_grads(lambda a: fnp.geomspace(a, 8.0, 4), (1.5,))
    check_grads(lambda a: fnp.logspace(a, 2.0, 4), (0.5,))


def test_traced_geomspace_computes_as_numpy_does():
    """In the bounds' promoted dtype (float32 bounds, float64 steps), negative progressions
    negated, zero refused: the traced path (jit, grad) agrees with NumPy's."""
    lo32 = np.array([0.3, 2.0, -1.0], dtype=np.float32)
    for lo, hi in [(lo32, np.array([7.0, 0.5, -50.0])), (-2.0, -54.0)]:
        want = np.geomspace(lo, hi, 4)
        got = fgrad.jit(lambda a, b: fnp.geomspace(a, b, 4))(lo, hi)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-14)
    # -2 * 3**k: d/dstart of sum over k of start^(1 - k/3) stop^(k/3)
    start, stop = -2.0, -54.0
    g = fgrad.grad(lambda s: fnp.sum(fnp.geomspace(s, stop, 4)))(start)
    r = stop / start
    want = sum((1 - k / 3) * r ** (k / 3) for k in range(4))
    np.testing.assert_allclose(g, want, rtol=1e-13)
    check_grads(lambda a: fnp.geomspace(a, -8.0, 4), (-1.5,))
    with pytest.raises(ValueError, match="cannot include zero"):
        fgrad.grad(lambda s: fnp.sum(fnp.geomspace(s, 0.0, 3)))(1.0)


def test_roots_are_differentiable_in_the_coefficients():
    p = np.array([1.0, -3.0, 2.0])  # roots 2 and 1
    np.testing.assert_allclose(np.sort(fnp.roots(p)), [1.0, 2.0])
    # a simple root r of p moves by -p_k r^(n-k) / p'(r) when p_k moves
    jac = fgrad.jacrev(lambda p: fnp.real(fnp.roots(p)))(p)
    for i, r in enumerate(np.roots(p)):
        dp = np.polyval(np.polyder(p), r)
        np.testing.assert_allclose(jac[i], -(r ** np.arange(2, -1, -1)) / dp, rtol=1e-10)


def test_interp_is_exact_at_the_knots():
    xp, fp = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 0.0])
    np.testing.assert_array_equal(fnp.interp(xp, xp, fp), fp)
    same(
        fnp.interp([-1.0, 5.0], xp, fp, left=-5.0, right=5.0),
        np.interp([-1.0, 5.0], xp, fp, -5.0, 5.0),
    )


@pytest.mark.parametrize("data_dtype", [np.float64, np.float32])
def test_quantile_dtypes_follow_numpy_and_q_may_be_traced(data_dtype):
    x = RNG.normal(size=(3, 4)).astype(data_dtype)
    rtol = 1e-12 if data_dtype == np.float64 else 1e-5
    qs = [0.3, [0.1, 0.5, 1.0], np.array([[0.2], [0.9]]), np.float32(0.4), np.float64(0.3), [0, 1]]
    for q in qs:
        for axis in (None, 1):
            for fn, scale in (("quantile", 1), ("percentile", 100)):
                qq = np.asarray(q) * scale if scale != 1 else q
                got = getattr(fnp, fn)(x, qq, axis=axis)
                want = getattr(np, fn)(x, qq, axis=axis)
                assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
                np.testing.assert_allclose(got, want, rtol=rtol)
                traced = fgrad.jit(lambda x, q, fn=fn, axis=axis: getattr(fnp, fn)(x, q, axis=axis))
                np.testing.assert_allclose(traced(x, np.asarray(qq)), want, rtol=rtol)
    # the quantile moves along the sorted values: d/dq = (n - 1) (x_hi - x_lo)
    assert fgrad.grad(lambda q: fnp.quantile(np.array([0.0, 1.0, 4.0]), q))(0.75) == 6.0


def test_searchsorted_digitize_and_interp_trace_batch_and_differentiate():
    a = np.array([-1.0, 0.0, 0.0, 0.5, 2.0])
    v = np.array([-3.0, 0.0, 0.25, 2.0, 9.0])
    for side in ("left", "right"):
        want = np.searchsorted(a, v, side=side)
        same(fgrad.jit(lambda a, v, side=side: fnp.searchsorted(a, v, side=side))(a, v), want)
        stacked = fgrad.vmap(lambda a, side=side: fnp.searchsorted(a, v, side=side))(
            np.stack([a, a - 1.0])
        )
        same(stacked, np.stack([want, np.searchsorted(a - 1.0, v, side=side)]))
    for bins in (np.array([0.0, 1.0, 2.5]), np.array([2.5, 1.0, 0.0])):  # up and down
        for right in (False, True):
            want = np.digitize(v, bins, right=right)
            same(fgrad.jit(lambda x, b, r=right: fnp.digitize(x, b, right=r))(v, bins), want)
    xp, fp, x = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 0.0]), np.array([0.5, 2.0, 4.0])
    same(fgrad.jit(fnp.interp)(x, xp, fp), np.interp(x, xp, fp))
    # d/dxp of the line through (xp0, fp0), (xp1, fp1) at x = 0.5: -(1 - t) (fp1 - fp0) / h
    g = fgrad.grad(lambda xp: fnp.interp(0.5, xp, fp))(xp)
    np.testing.assert_allclose(g, [-0.5, -0.5, 0.0], rtol=1e-14)
    check_grads(lambda x, xp, fp: fnp.interp(x, xp, fp), (x[:2], xp, fp), order=1)


def test_errors():
    with pytest.raises(ValueError, match="dsplit"):
        fnp.dsplit(A, 2)
    with pytest.raises(ValueError, match="order must be non-negative"):
        fnp.diff(A, -1)
    with pytest.raises(ValueError, match="too small"):
        fnp.gradient(np.ones(1))
    with pytest.raises(ValueError, match="1-D"):
        fnp.convolve(A, P)
