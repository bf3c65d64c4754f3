"""Traced values as arrays (``fgrad.Array``, ``fnp.ndarray``, ``fgrad.core.Tracer``), NumPy's
scalar types converting traced values, and the symmetric-input convention of ``cholesky``
and ``eigh`` (JAX's): closed forms, finite differences along symmetric directions, every
transform, and JAX / HIPS autograd in optional tests."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

import fgrad
import fgrad.core
import fgrad.numpy as fnp
import fgrad.numpy.linalg as fla

RNG = np.random.default_rng(5)


def spd(n, *batch):
    m = RNG.standard_normal((*batch, n, n))
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


# -- fgrad.Array and fnp.ndarray -------------------------------------------------------------


def _seen_inside(transform):
    """What ``isinstance`` answers for the value a function receives under ``transform``."""
    seen = {}

    def f(x):
        seen["ndarray"] = isinstance(x, fnp.ndarray)
        seen["Array"] = isinstance(x, fgrad.Array)
        seen["Tracer"] = isinstance(x, fgrad.core.Tracer)
        seen["np.ndarray"] = isinstance(x, np.ndarray)
        seen["subclass"] = issubclass(type(x), fnp.ndarray)
        return fnp.sum(x * x)

    transform(f)(np.arange(3.0))
    return seen


TRANSFORMS = {
    "grad": fgrad.grad,
    "jit": fgrad.jit,
    "vmap": fgrad.vmap,
    "jvp": lambda f: lambda x: fgrad.jvp(f, (x,), (np.ones_like(x),)),
    "vjp": lambda f: lambda x: fgrad.vjp(f, x),
    "make_jaxpr": fgrad.make_jaxpr,
    "hessian": fgrad.hessian,
    "jit-of-grad": lambda f: fgrad.jit(fgrad.grad(f)),
    "vmap-of-grad": lambda f: fgrad.vmap(fgrad.grad(lambda r: f(r))),
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_traced_values_are_arrays_under_every_transform(name):
    seen = _seen_inside(TRANSFORMS[name])
    assert seen == {
        "ndarray": True,
        "Array": True,
        "Tracer": True,
        "np.ndarray": False,  # NumPy's own class is left untouched
        "subclass": True,
    }


def test_concrete_values_and_non_arrays():
    assert fgrad.Array is fnp.ndarray and fnp.ndarray is not np.ndarray
    x = np.ones((2, 3))
    assert isinstance(x, fnp.ndarray) and isinstance(x, fgrad.Array)
    assert not isinstance(x, fgrad.core.Tracer)
    for not_array in (np.float64(1.0), 1.0, [1.0, 2.0], (1,), None, "x"):
        assert not isinstance(not_array, fnp.ndarray)
    assert issubclass(np.ndarray, fnp.ndarray) and not issubclass(float, fnp.ndarray)
    assert not issubclass(np.float64, fgrad.Array)
    # usable in annotations, generic like numpy.ndarray, and constructs as numpy.ndarray does
    assert fnp.ndarray[Any, np.dtype[np.float64]].__origin__ is fnp.ndarray
    made = fnp.ndarray((2, 3), dtype=np.float32)
    assert type(made) is np.ndarray and made.shape == (2, 3) and made.dtype == np.float32


def test_library_branch_on_array_type_gives_the_same_gradient_traced_or_not():
    def scale(x):  # a library that accepts arrays or lists
        x = x if isinstance(x, fnp.ndarray) else fnp.asarray(x)
        return fnp.sum(fnp.sin(x) * 3.0)

    x = np.array([0.1, 0.7, -1.2])
    np.testing.assert_allclose(fgrad.grad(scale)(x), 3.0 * np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(fgrad.jit(scale)(x), 3.0 * np.sum(np.sin(x)), rtol=1e-14)
    assert scale([0.0, 0.0]) == 0.0


# -- NumPy's scalar types -----------------------------------------------------------------------

SCALAR_NAMES = [
    *("bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    *("uint64", "float16", "float32", "float64", "complex64", "complex128", "half"),
    *("single", "double", "longdouble", "csingle", "cdouble", "clongdouble", "intp"),
    *("uintp", "int_", "uint", "intc", "uintc", "byte", "ubyte", "short", "ushort"),
    *("longlong", "ulonglong"),
]
VALUES = np.array([0.0, 1.0, 2.75, 7.0])  # representable in every target, non-negative


@pytest.mark.parametrize("name", SCALAR_NAMES)
def test_scalar_type_is_still_numpys_dtype(name):
    ours, numpys = getattr(fnp, name), getattr(np, name)
    assert np.dtype(ours) == np.dtype(numpys) and ours.dtype == np.dtype(numpys)
    assert ours == numpys and numpys == ours and hash(ours) == hash(numpys)
    assert issubclass(ours, numpys) and issubclass(numpys, ours)
    assert fnp.zeros(3, ours).dtype == np.dtype(numpys)
    assert np.zeros(3, ours).dtype == np.dtype(numpys)
    assert VALUES.astype(ours).dtype == np.dtype(numpys)
    assert fnp.asarray(VALUES).astype(ours).dtype == np.dtype(numpys)
    assert np.issubdtype(ours, numpys) and np.issubdtype(numpys, ours)
    # on plain values it is NumPy's call, with NumPy's result
    got, want = ours(3), numpys(3)
    assert type(got) is type(want) and got == want
    assert isinstance(want, ours) and not isinstance(3, ours)
    assert pickle.loads(pickle.dumps(ours)) is ours


@pytest.mark.parametrize("name", SCALAR_NAMES)
def test_scalar_type_converts_traced_values_like_astype(name):
    ours = getattr(fnp, name)
    want = VALUES.astype(getattr(np, name))

    def convert(x):
        return ours(x)

    for transform in (fgrad.jit, fgrad.vmap, lambda f: fgrad.jit(fgrad.vmap(f))):
        got = transform(convert)(VALUES)
        assert type(got) is np.ndarray and got.dtype == want.dtype, (transform, got.dtype)
        np.testing.assert_array_equal(got, want)
    _, tangent = fgrad.jvp(convert, (VALUES,), (np.ones(4),))
    kind = want.dtype.kind
    if kind in "fc":  # differentiable as astype is: the tangent is converted too
        np.testing.assert_array_equal(tangent, np.ones(4, want.dtype))
    else:  # integers and bool carry no derivative
        assert not np.any(tangent)


def test_float_scalar_types_differentiate_under_grad_and_jit():
    def f(x):
        return fnp.sum(fnp.float32(x) ** 2) + fnp.sum(fnp.real(fnp.complex128(x)) * 3.0)

    x = np.array([0.5, -2.0, 3.0])
    want = 2 * x.astype(np.float32).astype(np.float64) + 3.0
    np.testing.assert_allclose(fgrad.grad(f)(x), want, rtol=1e-6)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(f))(x), want, rtol=1e-6)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(f))(x[None])[0], want, rtol=1e-6)
    # an integer conversion inside a differentiable function contributes no derivative
    h = fgrad.grad(lambda x: fnp.sum(x * fnp.int64(x)))
    np.testing.assert_allclose(h(np.array([1.5, 2.5])), [1.0, 2.0])


def test_abstract_types_are_numpys():
    for name in ("generic", "number", "integer", "inexact", "floating", "complexfloating"):
        assert getattr(fnp, name) is getattr(np, name)
    assert isinstance(np.float32(1.0), fnp.floating) and issubclass(fnp.float32, fnp.floating)
    assert not isinstance(np.int8(1), fnp.floating) and issubclass(fnp.int8, fnp.signedinteger)
    assert fnp.issubdtype(fnp.float32, fnp.floating) and not fnp.issubdtype(fnp.int8, fnp.inexact)
    assert fnp.finfo(fnp.float32).eps == np.finfo(np.float32).eps
    assert fnp.iinfo(fnp.int16).max == 32767


def test_numpys_own_scalar_type_on_a_traced_value_is_a_clear_error():
    # documented pitfall: numpy.float32 is NumPy's class; fnp.float32 is the one that traces
    with pytest.raises(fgrad.TracerArrayConversionError, match="fgrad.numpy"):
        fgrad.grad(lambda x: np.float32(x) * 1.0)(1.0)


# -- symmetric-input convention of cholesky and eigh -----------------------------------------


def sym(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


A = spd(4)
W = RNG.standard_normal((4, 4))


def chol_weighted(a):
    return fnp.sum(fla.cholesky(a) * W)


def eigh_weighted(a, uplo="L"):
    w, v = fla.eigh(a, uplo)
    return fnp.sum(w * W[0]) + fnp.sum(v * v * W)  # v * v: independent of eigenvector signs


def eigvalsh_weighted(a):
    return fnp.sum(fla.eigvalsh(a) * W[1])


FUNCTIONS = {"cholesky": chol_weighted, "eigh": eigh_weighted, "eigvalsh": eigvalsh_weighted}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradient_is_symmetric_and_matches_symmetric_finite_differences(name):
    f = FUNCTIONS[name]
    g = fgrad.grad(f)(A)
    np.testing.assert_array_equal(g, g.T)  # exactly: a gradient step keeps A symmetric
    step = A - 0.01 * g
    np.testing.assert_array_equal(step, step.T)
    eps = 1e-6
    for k in range(3):
        s = sym(np.random.default_rng(k).standard_normal((4, 4)))
        fd = (f(A + eps * s) - f(A - eps * s)) / (2 * eps)
        np.testing.assert_allclose(np.sum(g * s), fd, rtol=1e-6, atol=1e-9)
        _, t = fgrad.jvp(f, (A,), (s,))
        np.testing.assert_allclose(t, fd, rtol=1e-6, atol=1e-9)
    # a non-symmetric tangent enters through its symmetric part
    n = np.random.default_rng(9).standard_normal((4, 4))
    _, t_n = fgrad.jvp(f, (A,), (n,))
    _, t_s = fgrad.jvp(f, (A,), (sym(n),))
    np.testing.assert_allclose(t_n, t_s, rtol=1e-12)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradient_agrees_across_transforms(name):
    f = FUNCTIONS[name]
    batch = np.stack([A, spd(4)])
    want = np.stack([fgrad.grad(f)(a) for a in batch])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(f))(batch), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(f))(A), want[0], rtol=1e-10, atol=1e-12)
    jac_rev, jac_fwd = fgrad.jacrev(f)(A), fgrad.jacfwd(f)(A)
    np.testing.assert_allclose(jac_fwd, jac_rev, rtol=1e-10, atol=1e-12)
    hess = fgrad.hessian(f)(A)  # second derivatives are symmetric in both index pairs too
    np.testing.assert_allclose(hess, np.swapaxes(hess, 0, 1), atol=1e-10)
    np.testing.assert_allclose(hess, np.swapaxes(hess, 2, 3), atol=1e-10)


def test_closed_forms():
    # d/dA of log det(A) / 2 = sum(log(diag(L))) is inv(A) / 2, in full
    g = fgrad.grad(lambda a: fnp.sum(fnp.log(fnp.diagonal(fla.cholesky(a)))))(A)
    np.testing.assert_allclose(g, np.linalg.inv(A) / 2, rtol=1e-10)
    # d w_k / dA = v_k v_k^T for either triangle read
    w, v = np.linalg.eigh(A)
    for uplo in "LU":
        g = fgrad.grad(lambda a, uplo=uplo: fla.eigh(a, uplo)[0][1])(A)
        np.testing.assert_allclose(g, np.outer(v[:, 1], v[:, 1]), atol=1e-12)


def test_the_unread_triangle_changes_neither_value_nor_gradient():
    noisy = A + np.triu(W, 1)  # cholesky and eigh('L') never read the strict upper triangle
    for f in (chol_weighted, eigh_weighted):
        assert f(noisy) == pytest.approx(f(A), rel=1e-12)
        np.testing.assert_allclose(fgrad.grad(f)(noisy), fgrad.grad(f)(A), rtol=1e-9, atol=1e-12)
    noisy_u = A + np.tril(W, -1)
    np.testing.assert_allclose(
        fgrad.grad(lambda a: eigh_weighted(a, "U"))(noisy_u), fgrad.grad(eigh_weighted)(A),
        rtol=1e-9, atol=1e-12,
    )


def test_composition_through_b_bt_is_unchanged_and_the_old_convention_is_a_reparametrisation():
    b = RNG.standard_normal((4, 4)) + 2 * np.eye(4)

    def through_b(b):
        return chol_weighted(b @ b.T)

    g_b = fgrad.grad(through_b)(b)
    eps = 1e-6
    for k in range(3):  # every direction of B: B B^T is symmetric whatever B does
        d = np.random.default_rng(20 + k).standard_normal((4, 4))
        fd = (through_b(b + eps * d) - through_b(b - eps * d)) / (2 * eps)
        np.testing.assert_allclose(np.sum(g_b * d), fd, rtol=1e-6)
    # by the chain rule from the symmetric gradient G at A = B B^T: dB = (G + G^T) B = 2 G B
    g_a = fgrad.grad(chol_weighted)(b @ b.T)
    np.testing.assert_allclose(g_b, 2 * g_a @ b, rtol=1e-10)
    # the one-triangle gradient (fgrad's former convention, autograd's eigh): differentiate
    # with respect to the lower triangle that is read; it is the symmetric gradient folded
    def lower_only(a):
        return chol_weighted(fnp.tril(a) + fnp.tril(a, -1).T)

    g_tri = fgrad.grad(lower_only)(A)
    g = fgrad.grad(chol_weighted)(A)
    np.testing.assert_allclose(g_tri, np.tril(2 * g, -1) + np.diag(np.diag(g)), rtol=1e-12)


def test_complex_hermitian_gradient_is_hermitian():
    m = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
    h = m @ m.conj().T + 3 * np.eye(3)
    wc = RNG.standard_normal((3, 3))
    for f in (
        lambda a: fnp.sum(fnp.abs(fla.cholesky(a)) ** 2 * wc),
        lambda a: fnp.sum(fla.eigvalsh(a) * wc[0]),
    ):
        g = fgrad.grad(f)(h)
        np.testing.assert_allclose(g, g.conj().T, atol=1e-14)
        eps = 1e-6
        n = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
        s = 0.5 * (n + n.conj().T)  # a Hermitian direction
        fd = (f(h + eps * s) - f(h - eps * s)) / (2 * eps)
        _, t = fgrad.jvp(f, (h,), (s,))
        np.testing.assert_allclose(t, fd, rtol=1e-6)


def test_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    jax_functions = {
        "cholesky": lambda a: jnp.sum(jnp.linalg.cholesky(a) * W),
        "eigh": lambda a: jnp.sum(jnp.linalg.eigh(a)[0] * W[0])
        + jnp.sum(jnp.linalg.eigh(a)[1] ** 2 * W),
        "eigvalsh": lambda a: jnp.sum(jnp.linalg.eigvalsh(a) * W[1]),
    }
    for name, f in FUNCTIONS.items():
        want = np.asarray(jax.grad(jax_functions[name])(A))
        np.testing.assert_allclose(fgrad.grad(f)(A), want, rtol=1e-9, atol=1e-12, err_msg=name)


def test_gradients_match_hips_autograd():
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    want = autograd.grad(lambda a: anp.sum(anp.linalg.cholesky(a) * W))(A)
    np.testing.assert_allclose(fgrad.grad(chol_weighted)(A), want, rtol=1e-10, atol=1e-12)
    # autograd's eigh keeps the one-triangle gradient: ours folded onto the lower triangle
    want_tri = autograd.grad(lambda a: anp.sum(anp.linalg.eigh(a)[0] * W[0]))(A)
    g = fgrad.grad(lambda a: fnp.sum(fla.eigh(a)[0] * W[0]))(A)
    np.testing.assert_allclose(np.tril(2 * g, -1) + np.diag(np.diag(g)), want_tri, atol=1e-12)
