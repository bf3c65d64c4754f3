"""Special functions added for JAX programs: ``fgrad.scipy.special``'s ``i0e``, ``i1e``,
``zeta``, ``factorial``, ``poch``, ``rel_entr``, ``kl_div``, and ``fgrad.lax``'s special
functions under their lax names (``lgamma``, ``digamma``, ``erf_inv``, ``igamma``, ...).

Values against SciPy, derivatives against central finite differences in float64 (and
second derivatives where the rules are written with the same primitives), ``jit`` and
``vmap`` agreement, JAX's ``lax`` where installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.scipy import special as fsp

ss = pytest.importorskip("scipy.special")

X = np.array([-7.5, -3.0, -0.5, 0.0, 0.7, 5.0, 40.0])
POS = np.array([0.3, 1.0, 2.5, 7.0, 30.0])


def _central(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(
    "ours, ref, x",
    [
        (fsp.i0e, ss.i0e, X),
        (fsp.i1e, ss.i1e, X),
        (lambda q: fsp.zeta(3.0, q), lambda q: ss.zeta(3.0, q), POS),
        (lambda q: fsp.zeta(1.5, q), lambda q: ss.zeta(1.5, q), POS),
        (lambda n: fsp.factorial(n), lambda n: ss.factorial(n), POS),
        (lambda z: fsp.poch(z, 2.5), lambda z: ss.poch(z, 2.5), POS),
        (lambda x: fsp.rel_entr(x, 1.3), lambda x: ss.rel_entr(x, 1.3), POS),
        (lambda x: fsp.kl_div(x, 0.4), lambda x: ss.kl_div(x, 0.4), POS),
        (lax.lgamma, ss.gammaln, POS),
        (lax.digamma, ss.digamma, POS),
        (lambda x: lax.polygamma(2, x), lambda x: ss.polygamma(2, x), POS),
        (lax.erf, ss.erf, X / 8),
        (lax.erfc, ss.erfc, X / 8),
        (lax.erf_inv, ss.erfinv, np.array([-0.9, -0.2, 0.0, 0.5, 0.99])),
        (lambda x: lax.igamma(2.5, x), lambda x: ss.gammainc(2.5, x), POS),
        (lambda x: lax.igammac(2.5, x), lambda x: ss.gammaincc(2.5, x), POS),
        (
            lambda x: lax.regularized_incomplete_beta(2.0, 3.0, x),
            lambda x: ss.betainc(2.0, 3.0, x),
            np.array([0.1, 0.4, 0.8]),
        ),
        (lax.bessel_i0e, ss.i0e, X),
        (lax.bessel_i1e, ss.i1e, X),
        (lambda q: lax.zeta(2.0, q), lambda q: ss.zeta(2.0, q), POS),
        (lax.logistic, ss.expit, X),
    ],
)
def test_values_and_derivatives_match_scipy(ours, ref, x):
    np.testing.assert_allclose(ours(x), ref(x), rtol=1e-13, atol=1e-300)
    g = fgrad.vmap(fgrad.grad(ours))(x)
    np.testing.assert_allclose(g, _central(ref, x), rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(fgrad.grad(ours)))(x), g, rtol=1e-13)


def test_closed_forms_and_edges():
    np.testing.assert_allclose(fsp.zeta(2.0), np.pi**2 / 6, rtol=1e-15)
    np.testing.assert_allclose(fsp.zeta(4.0), np.pi**4 / 90, rtol=1e-15)
    np.testing.assert_allclose(fsp.factorial(np.array([0.0, 5.0, -2.0])), [1.0, 120.0, 0.0])
    np.testing.assert_allclose(fsp.poch(np.array([3.0, -2.5]), 2.0), [12.0, 3.75], rtol=1e-14)
    assert fsp.rel_entr(0.0, 0.0) == 0.0 and fsp.rel_entr(1.0, 0.0) == np.inf
    assert fsp.kl_div(0.0, 2.0) == 2.0 and fsp.kl_div(-1.0, 2.0) == np.inf
    np.testing.assert_allclose(lax.logistic(np.array([-800.0, 800.0])), [0.0, 1.0])
    # i1e's derivative at 0 is its limit 1/2; i0e's second derivative through the rules
    assert fgrad.grad(fsp.i1e)(0.0) == 0.5
    x = 0.8
    np.testing.assert_allclose(
        fgrad.grad(fgrad.grad(fsp.i0e))(x), _central(fgrad.grad(fsp.i0e), x), rtol=1e-6
    )
    with pytest.raises(NotImplementedError, match="exact=True"):
        fsp.factorial(3, exact=True)
    with pytest.raises(NotImplementedError, match="zeta"):
        fgrad.grad(lambda s: fsp.zeta(s, 2.0))(3.0)


def test_lax_special_functions_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for name in ["lgamma", "digamma", "bessel_i0e", "bessel_i1e", "logistic"]:
        np.testing.assert_allclose(
            getattr(lax, name)(POS), np.asarray(getattr(jax.lax, name)(POS)), rtol=1e-12
        )
    np.testing.assert_allclose(
        lax.igamma(2.5, POS), np.asarray(jax.lax.igamma(2.5, POS)), rtol=1e-12
    )
    np.testing.assert_allclose(
        lax.erf_inv(np.array([-0.5, 0.3])),
        np.asarray(jax.lax.erf_inv(np.array([-0.5, 0.3]))),
        rtol=1e-13,
    )
    g = fgrad.grad(lambda x: fnp.sum(lax.logistic(x)))(X)
    expected = np.asarray(jax.grad(lambda x: jax.lax.logistic(x).sum())(X))
    np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-16)
