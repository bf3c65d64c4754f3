"""``fgrad.scipy.linalg.expm``, ``lu``, ``lu_factor`` and ``lu_solve``.

Values against SciPy (and closed forms: the exponential of a diagonal or nilpotent
matrix, ``P @ L @ U = a``), derivatives against SciPy's Fréchet derivative and central
finite differences in float64, eager / ``jit`` / ``vmap`` agreement, JAX where
installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.scipy import linalg as fla

sla = pytest.importorskip("scipy.linalg")
rng = np.random.default_rng(3)


# ---- expm -----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.0, 1e-3, 0.5, 3.0, 40.0, 300.0])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_expm_matches_scipy(scale, n):
    a = scale * rng.normal(size=(n, n))
    expected = sla.expm(a)
    out = fla.expm(a)
    np.testing.assert_allclose(out, expected, rtol=1e-11 * max(1, scale), atol=1e-13)
    np.testing.assert_allclose(fgrad.jit(fla.expm)(a), out, rtol=1e-13, atol=1e-300)


def test_expm_closed_forms_complex_and_batches():
    d = np.array([0.5, -2.0, 3.0])
    np.testing.assert_allclose(fla.expm(np.diag(d)), np.diag(np.exp(d)), rtol=1e-14)
    nilpotent = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    expected = np.eye(3) + nilpotent + nilpotent @ nilpotent / 2
    np.testing.assert_allclose(fla.expm(nilpotent), expected, rtol=1e-14)
    theta = 0.7  # a rotation generator
    rot = fla.expm(np.array([[0.0, -theta], [theta, 0.0]]))
    np.testing.assert_allclose(
        rot, [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], rtol=1e-14
    )
    c = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    np.testing.assert_allclose(fla.expm(c), sla.expm(c), rtol=1e-12)
    batch = rng.normal(size=(5, 3, 3)) * np.array([0.01, 0.3, 1.0, 10.0, 100.0])[:, None, None]
    expected = np.stack([sla.expm(m) for m in batch])
    np.testing.assert_allclose(fla.expm(batch), expected, rtol=1e-11)
    np.testing.assert_allclose(fgrad.vmap(fla.expm)(batch), expected, rtol=1e-11)
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(fla.expm))(batch), expected, rtol=1e-11)
    assert fla.expm(np.eye(2, dtype=np.float32)).dtype == np.float32
    assert np.isnan(fla.expm(1e9 * np.ones((2, 2)))).all()  # beyond 16 squarings, as JAX


@pytest.mark.parametrize("scale", [0.1, 1.0, 8.0])
def test_expm_derivative_is_the_frechet_derivative(scale):
    a = scale * rng.normal(size=(4, 4))
    e = rng.normal(size=(4, 4))
    _, expected = sla.expm_frechet(a, e)
    _, tangent = fgrad.jvp(fla.expm, (a,), (e,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-9, atol=1e-12)
    # reverse mode: <W, L(A, E)> = <L(A^T, W), E>, the adjoint of the Fréchet derivative
    w = rng.normal(size=(4, 4))
    g = fgrad.grad(lambda m: fnp.sum(fla.expm(m) * w))(a)
    np.testing.assert_allclose(np.sum(g * e), np.sum(w * expected), rtol=1e-9)
    _, adjoint = sla.expm_frechet(a.T, w)
    np.testing.assert_allclose(g, adjoint, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        fgrad.jit(fgrad.grad(lambda m: fnp.sum(fla.expm(m) * w)))(a), g, rtol=1e-12
    )


def test_expm_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = 2.0 * rng.normal(size=(5, 5))
    np.testing.assert_allclose(fla.expm(a), np.asarray(jax.scipy.linalg.expm(a)), rtol=1e-11)
    w = rng.normal(size=(5, 5))
    g_jax = jax.grad(lambda m: (jax.scipy.linalg.expm(m) * w).sum())(a)
    g = fgrad.grad(lambda m: fnp.sum(fla.expm(m) * w))(a)
    np.testing.assert_allclose(g, np.asarray(g_jax), rtol=1e-9)


# ---- LU -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (7, 7), (3, 5), (6, 2)])
def test_lu_matches_scipy(shape):
    a = rng.normal(size=shape)
    p, l, u = fla.lu(a)
    p2, l2, u2 = sla.lu(a)
    np.testing.assert_array_equal(p, p2)
    np.testing.assert_allclose(l, l2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(u, u2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p @ l @ u, a, rtol=1e-12, atol=1e-14)
    pl, u3 = fla.lu(a, permute_l=True)
    np.testing.assert_allclose(pl @ u3, a, rtol=1e-12, atol=1e-14)
    if shape[0] == shape[1]:
        lu_, piv = fla.lu_factor(a)
        lu2, piv2 = sla.lu_factor(a)
        np.testing.assert_allclose(lu_, lu2, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(piv, piv2)
        assert piv.dtype == np.int32


@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("b_shape", [(5,), (5, 3)])
def test_lu_solve_matches_scipy_real_and_complex(trans, b_shape):
    a = rng.normal(size=(5, 5))
    b = rng.normal(size=b_shape)
    expected = sla.lu_solve(sla.lu_factor(a), b, trans=trans)
    np.testing.assert_allclose(fla.lu_solve(fla.lu_factor(a), b, trans=trans), expected, rtol=1e-11)
    c = a + 1j * rng.normal(size=(5, 5))
    expected = sla.lu_solve(sla.lu_factor(c), b, trans=trans)
    np.testing.assert_allclose(fla.lu_solve(fla.lu_factor(c), b, trans=trans), expected, rtol=1e-11)


def test_lu_with_zero_pivot_columns_and_batches():
    singular = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 4.0], [0.0, 5.0, 6.0]])
    p, l, u = fla.lu(singular)
    np.testing.assert_allclose(p @ l @ u, singular, atol=1e-14)
    assert np.all(np.isfinite(l)) and np.all(np.isfinite(u))
    batch = rng.normal(size=(4, 3, 3))
    p, l, u = fla.lu(batch)
    for k in range(4):
        for ours, theirs in zip((p[k], l[k], u[k]), sla.lu(batch[k])):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    jp, jl, ju = fgrad.jit(fgrad.vmap(fla.lu))(batch)
    np.testing.assert_allclose(jl, l, rtol=1e-14)
    np.testing.assert_array_equal(jp, p)


def test_lu_solve_and_factors_are_differentiable():
    a = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    b = rng.normal(size=(4, 2))
    w = rng.normal(size=(4, 2))

    def via_lu(m, rhs):
        return fnp.sum(fla.lu_solve(fla.lu_factor(m), rhs) * w)

    def via_solve(m, rhs):
        return fnp.sum(fnp.linalg.solve(m, rhs) * w)

    g = fgrad.grad(via_lu, argnums=(0, 1))(a, b)
    g_ref = fgrad.grad(via_solve, argnums=(0, 1))(a, b)
    for x, y in zip(g, g_ref):
        np.testing.assert_allclose(x, y, rtol=1e-10)
    g_jit = fgrad.jit(fgrad.grad(via_lu, argnums=(0, 1)))(a, b)
    for x, y in zip(g_jit, g):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    # the factors themselves, for fixed pivots: central differences
    wl, wu = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))

    def loss(m):
        _, l, u = fla.lu(m)
        return fnp.sum(l * wl) + fnp.sum(u * wu)

    d = rng.normal(size=(4, 4))
    h = 1e-6
    fd = (loss(a + h * d) - loss(a - h * d)) / (2 * h)
    np.testing.assert_allclose(np.sum(fgrad.grad(loss)(a) * d), fd, rtol=1e-7)


def test_lu_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = rng.normal(size=(6, 6))
    for ours, theirs in zip(fla.lu(a), jax.scipy.linalg.lu(a)):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-14)
    lu_, piv = fla.lu_factor(a)
    jlu, jpiv = jax.scipy.linalg.lu_factor(a)
    np.testing.assert_allclose(lu_, np.asarray(jlu), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(piv, np.asarray(jpiv))
