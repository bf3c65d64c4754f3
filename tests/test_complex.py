"""Complex numbers: NumPy's values for the complex functions, and derivatives under JAX's
convention (shared by HIPS autograd), checked against closed forms and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(7)
Z = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))
X = RNG.standard_normal((2, 3))


FUNCTIONS = ["real", "imag", "conj", "conjugate", "angle", "iscomplex", "isreal"]


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("x", [Z, Z.astype(np.complex64), X, X.astype(np.float32), 1.5, 2 - 1j])
def test_values_and_dtypes_like_numpy(name, x):
    got, want = getattr(fnp, name)(x), getattr(np, name)(x)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


def test_angle_in_degrees_and_object_tests():
    np.testing.assert_allclose(fnp.angle(Z, deg=True), np.angle(Z, deg=True), rtol=1e-15)
    assert fnp.iscomplexobj(Z) and not fnp.iscomplexobj(X)
    assert fnp.isrealobj(X) and not fnp.isrealobj(Z)
    assert fnp.real_if_close(X + 1e-20j).dtype == np.float64
    assert fnp.real_if_close(Z).dtype == np.complex128


def test_complex_var_and_std_are_real_like_numpy():
    for fn in (fnp.var, fnp.std):
        for axis in (None, 0, 1):
            got, want = fn(Z, axis=axis), getattr(np, fn.__name__)(Z, axis=axis)
            assert got.dtype == want.dtype == np.float64
            np.testing.assert_allclose(got, want, rtol=1e-14)


def test_gradient_of_a_real_function_is_the_conjugate_of_steepest_ascent():
    # f(z) = |z|^2 = x^2 + y^2: steepest ascent 2x + 2iy = 2z, so grad = conj(2z)
    g = fgrad.grad(lambda z: fnp.sum(fnp.abs(z) ** 2))(Z)
    np.testing.assert_allclose(g, 2 * np.conj(Z), rtol=1e-14)
    # f(z) = Re(z) * Im(z) = x y: steepest ascent y + ix
    g = fgrad.grad(lambda z: fnp.sum(fnp.real(z) * fnp.imag(z)))(Z)
    np.testing.assert_allclose(g, np.conj(Z.imag + 1j * Z.real), rtol=1e-14)


def test_abs_of_complex_has_gradient_conj_z_over_abs_z():
    g = fgrad.grad(lambda z: fnp.sum(fnp.abs(z)))(Z)
    np.testing.assert_allclose(g, np.conj(Z) / np.abs(Z), rtol=1e-14)
    assert not np.any(np.isnan(fgrad.grad(lambda z: fnp.abs(z))(0j)))


@pytest.mark.parametrize(
    "f, df",
    [(fnp.sin, np.cos), (fnp.exp, np.exp), (lambda z: z**3, lambda z: 3 * z**2)],
    ids=["sin", "exp", "cube"],
)
def test_holomorphic_grad_is_the_complex_derivative(f, df):
    z = 0.3 - 0.8j
    np.testing.assert_allclose(fgrad.grad(f, holomorphic=True)(z), df(z), rtol=1e-14)
    # u = Re f has steepest ascent u_x + i u_y = conj(f'(z)) (Cauchy-Riemann), and grad
    # returns the conjugate of that: f'(z) itself
    np.testing.assert_allclose(fgrad.grad(lambda z: fnp.real(f(z)))(z), df(z), rtol=1e-14)
    # jvp is multiplication by f'(z) in every direction
    v = 0.6 + 0.2j
    np.testing.assert_allclose(fgrad.jvp(f, (z,), (v,))[1], df(z) * v, rtol=1e-14)


def test_real_input_gets_a_real_cotangent_through_complex_intermediates():
    # f(x) = Re(exp(i x) (2 + i)) = 2 cos x - sin x
    def f(x):
        return fnp.sum(fnp.real(fnp.exp(1j * x) * (2 + 1j)))

    g = fgrad.grad(f)(X)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, -2 * np.sin(X) - np.cos(X), rtol=1e-13)


@pytest.mark.parametrize(
    "f",
    [
        lambda z: fnp.abs(z) * fnp.angle(z) + fnp.real(z * fnp.conj(z) * fnp.exp(z)),
        lambda z: fnp.sin(z) * z**2 / (1 + z),
        lambda z: fnp.sum(fnp.conj(z) @ z.T) * fnp.imag(z),
        lambda z: fnp.sqrt(z) + fnp.log(z) - fnp.tanh(z),
        lambda z: fnp.std(z, axis=0) + fnp.mean(z, axis=1, keepdims=True),
    ],
    ids=["nonholomorphic-mix", "rational", "matmul-imag", "sqrt-log-tanh", "std-mean"],
)
def test_check_grads_on_complex_functions(f):
    check_grads(f, [Z], order=2)


def test_mixed_real_and_complex_arguments():
    check_grads(lambda x, z: fnp.abs(x * z + fnp.conj(z) / (1 + x**2)), [X, Z], order=2)


def test_complex_output_needs_holomorphic_and_holomorphic_needs_complex_input():
    with pytest.raises(fgrad.TransformError, match="holomorphic=True"):
        fgrad.grad(fnp.sin)(1 + 1j)
    with pytest.raises(fgrad.DtypeError, match="complex inputs"):
        fgrad.grad(fnp.sin, holomorphic=True)(1.0)


def test_jacobians_of_holomorphic_functions_and_refusals():
    def f(z):
        return fnp.sin(z) * z[::-1]

    z = Z[0]
    jf = fgrad.jacfwd(f, holomorphic=True)(z)
    jr = fgrad.jacrev(f, holomorphic=True)(z)
    want = np.diag(np.cos(z) * z[::-1]) + np.sin(z)[:, None] * np.eye(3)[::-1]
    np.testing.assert_allclose(jf, want, rtol=1e-13)
    np.testing.assert_allclose(jr, want, rtol=1e-13)
    # a real-basis Jacobian would silently miss the imaginary directions: refused
    with pytest.raises(fgrad.DtypeError, match="holomorphic=True"):
        fgrad.jacfwd(lambda z: fnp.abs(z))(z)
    with pytest.raises(fgrad.DtypeError, match="holomorphic=True"):
        fgrad.jacrev(f)(z)
    # jacrev of a real function of complex inputs: each row is grad's gradient
    rows = fgrad.jacrev(lambda z: fnp.abs(z) ** 2)(z)
    np.testing.assert_allclose(rows, np.diag(2 * np.conj(z)), rtol=1e-13)
