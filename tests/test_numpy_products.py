"""einsum, kron and cross: NumPy's values and dtypes, derivatives in both modes, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(5)


def R(*shape):
    return RNG.standard_normal(shape)


EINSUMS = [
    ("ij,jk->ik", (2, 3), (3, 4)),
    ("ij,jk", (2, 3), (3, 4)),
    ("ii->i", (3, 3)),
    ("ii", (3, 3)),
    ("ij->", (2, 3)),
    ("ij->ji", (2, 3)),
    ("i,i", (3,), (3,)),
    ("i,j->ij", (2,), (3,)),
    ("...ij,...jk->...ik", (5, 2, 3), (5, 3, 4)),
    ("...ij,...jk->...ik", (1, 2, 3), (5, 3, 4)),
    ("...ij,...jk", (2, 3), (4, 3, 2)),
    ("ijk,jil->kl", (3, 4, 5), (4, 3, 2)),
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 5)),
    ("ij,ij,ij->", (2, 3), (2, 3), (2, 3)),
    ("...", (2, 3)),
    ("i...->...", (2, 3, 4)),
    ("...i,...i", (3, 4), (4,)),
    ("ijj->i", (2, 3, 3)),
    ("iij->j", (3, 3, 2)),
    ("bij,bjk->bik", (4, 2, 3), (4, 3, 2)),
    ("ij,ij->i", (3, 2), (3, 2)),
    ("ab,cd->", (2, 2), (3, 3)),
    ("ij,kj->ik", (0, 3), (4, 3)),
    ("...ij,...jk->...ik", (0, 2, 3), (0, 3, 4)),
    ("...ij,...jk->...ik", (1, 2, 3), (0, 3, 4)),
]


@pytest.mark.parametrize("spec", EINSUMS, ids=[s[0] for s in EINSUMS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_einsum_like_numpy(spec, dtype):
    subscripts, *shapes = spec
    ops = [(R(*s) * 3).astype(dtype) for s in shapes]
    got, want = fnp.einsum(subscripts, *ops), np.einsum(subscripts, *ops)
    assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("spec", EINSUMS, ids=[s[0] for s in EINSUMS])
def test_einsum_gradients(spec):
    subscripts, *shapes = spec
    check_grads(lambda *ops: fnp.einsum(subscripts, *ops), [R(*s) for s in shapes], order=2)


def test_einsum_closed_forms_and_calling_conventions():
    a, b, m = R(2, 3), R(3, 4), R(3, 3)
    np.testing.assert_allclose(fnp.einsum("ij,jk->ik", a, b), a @ b)
    assert fnp.einsum("ii", m) == pytest.approx(np.trace(m))
    # d trace(A B) / dA = B^T
    b2 = R(3, 2)
    g = fgrad.grad(lambda a: fnp.einsum("ij,ji->", a, b2))(a)
    np.testing.assert_allclose(g, b2.T)
    np.testing.assert_allclose(fnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    np.testing.assert_allclose(fnp.einsum(a, [0, Ellipsis], [Ellipsis]), a.sum(0))
    for optimize in (True, "greedy", "optimal", False):
        np.testing.assert_allclose(
            fnp.einsum("ij,jk,kl", a, b, R(4, 2) * 0 + 1, optimize=optimize),
            a @ b @ np.ones((4, 2)),
        )
    # matmul-like subscripts are a single dot_general
    jaxpr = str(fgrad.make_jaxpr(lambda a, b: fnp.einsum("ij,jk->ik", a, b))(a, b))
    assert jaxpr.count("dot_general") == 1


@pytest.mark.parametrize(
    "args, match",
    [
        (("ij,jk->ik", R(2, 3), R(4, 5)), "label 'j'"),
        (("ij,jk->ik", R(2, 3)), "2 operands"),
        (("ijk->i", R(2, 3)), "2 dimensions"),
        (("ij->k", R(2, 3)), "output subscripts"),
        (("i2->i", R(2, 3)), "invalid subscripts"),
    ],
)
def test_einsum_errors_name_the_subscripts_and_shapes(args, match):
    with pytest.raises(ValueError, match=match):
        fnp.einsum(*args)


@pytest.mark.parametrize(
    "sa, sb", [((2, 3), (4, 5)), ((3,), (2, 2)), ((2, 1, 3), (4,)), ((), (2,)), ((2, 2), (2, 2))]
)
def test_kron_like_numpy_and_differentiable(sa, sb):
    a, b = R(*sa), R(*sb)
    got, want = fnp.kron(a, b), np.kron(a, b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-14)
    check_grads(fnp.kron, (a, b), order=2)
    ints = np.arange(4).reshape(2, 2)
    assert fnp.kron(ints, ints).dtype == np.kron(ints, ints).dtype


@pytest.mark.parametrize(
    "sa, sb, kwargs",
    [
        ((3,), (3,), {}),
        ((4, 3), (3,), {}),
        ((2,), (3,), {}),
        ((3,), (2,), {}),
        ((5, 2), (5, 2), {}),
        ((3, 4), (4, 3), {"axisa": 0, "axisb": 1, "axisc": 0}),
        ((3, 4), (3, 4), {"axis": 0}),
    ],
)
def test_cross_like_numpy_and_differentiable(sa, sb, kwargs):
    a, b = R(*sa), R(*sb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2 deprecates 2-vectors
        want = np.cross(a, b, **kwargs)
        got = fnp.cross(a, b, **kwargs)
        np.testing.assert_allclose(got, want, rtol=1e-14)
        assert got.shape == want.shape
        check_grads(lambda a, b: fnp.cross(a, b, **kwargs), (a, b), order=2)
    with pytest.raises(ValueError, match="dimension must be 2 or 3"):
        fnp.cross(R(4), R(4))


def test_cross_product_is_orthogonal_and_antisymmetric():
    a, b = R(3), R(3)
    c = fnp.cross(a, b)
    assert abs(np.dot(c, a)) < 1e-12 and abs(np.dot(c, b)) < 1e-12
    np.testing.assert_allclose(fnp.cross(b, a), -c)
    # d/da (c . (a x b)) = b x c
    np.testing.assert_allclose(fgrad.grad(lambda a: fnp.dot(c, fnp.cross(a, b)))(a), np.cross(b, c))
