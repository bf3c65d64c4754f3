"""Functions without derivatives: the integer and bit operations (primitives that trace),
those computed on concrete values (lexsort, packbits, histograms), and the one derivative
among them: histogram counts in the weights."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.numpy import bits
from fgrad.numpy.no_derivative import _NAMES
from fgrad.test_util import check_grads

RNG = np.random.default_rng(3)
I1 = RNG.integers(1, 60, size=(3, 4))
I2 = RNG.integers(1, 6, size=(4,))
U8 = RNG.integers(0, 256, size=(2, 8)).astype(np.uint8)
F = RNG.standard_normal(7)

CALLS = {
    "gcd": (I1, I2),
    "lcm": (I1, I2),
    "bitwise_and": (I1, I2),
    "bitwise_or": (I1, I2),
    "bitwise_xor": (I1, I2),
    "bitwise_not": (I1,),
    "bitwise_invert": (I1,),
    "invert": (U8,),
    "bitwise_left_shift": (I1, I2),
    "bitwise_right_shift": (I1, I2),
    "left_shift": (I1, I2),
    "right_shift": (I1, I2),
    "bitwise_count": (I1,),
    "lexsort": ((I1[0], I1[1]),),
    "packbits": (U8 > 100,),
    "unpackbits": (U8,),
    "spacing": (F,),
    "einsum_path": ("ij,jk->ik", F[:6].reshape(2, 3), F[:6].reshape(3, 2)),
    "isnat": (np.array(["2026-11-23", "NaT"], dtype="datetime64[D]"),),
}


def test_every_function_has_a_call():
    assert set(CALLS) == set(_NAMES) | set(bits.__all__)


@pytest.mark.parametrize("name", sorted(bits.__all__))
def test_bit_operations_trace_and_batch(name):
    args = CALLS[name]
    want = getattr(np, name)(*args)
    fn = getattr(fnp, name)
    in_axes = (0, None)[: len(args)]  # a second operand (broadcast along rows) is shared
    for got in (fgrad.jit(fn)(*args), fgrad.vmap(fn, in_axes=in_axes)(*args)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_bit_operators_on_traced_integers_are_numpys():
    x, b = np.arange(-3, 9), np.arange(12) % 3 == 0
    ops = {
        "&": lambda x: x & 6,
        "|": lambda x: 8 | x,
        "^": lambda x: x ^ 5,
        "~": lambda x: ~x,
        "<<": lambda x: x << 2,
        ">>": lambda x: 256 >> (x + 3),
    }
    for what, op in ops.items():
        for f in (fgrad.jit(op), fgrad.vmap(op)):
            got = f(x)
            assert got.dtype == op(x).dtype, what
            np.testing.assert_array_equal(got, op(x), err_msg=what)
    # on booleans they are the logical operations, as in NumPy
    np.testing.assert_array_equal(fgrad.jit(lambda b: ~b & (b | ~b))(b), ~b)
    with pytest.raises(fgrad.DtypeError, match=r"bitwise_and is not defined for dtypes"):
        fgrad.jit(lambda v: v & 1)(np.ones(3))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_values_like_numpy_and_inside_grad(name):
    args = CALLS[name]
    want = getattr(np, name)(*args)
    got = getattr(fnp, name)(*args)
    if name == "einsum_path":  # (path, printable report)
        assert got == want
    else:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)

    # inside grad, a traced float argument is read for its value only
    def f(x):
        mask = fnp.bitwise_and(I2, 1) if name != "spacing" else fnp.spacing(x) > 0
        return fnp.sum(x * mask)

    x = np.abs(RNG.standard_normal(4)) + 1.0
    expected = (I2 & 1) if name != "spacing" else np.ones(4)
    np.testing.assert_array_equal(fgrad.grad(f)(x), expected)


def test_traced_argument_is_used_by_value_and_make_jaxpr_refuses():
    x = np.array([1.5, -0.2, 3.0])
    edges = fgrad.grad(lambda x: fnp.sum(x) + 0 * fnp.histogram_bin_edges(x, 3)[0])(x)
    np.testing.assert_array_equal(edges, np.ones(3))
    with pytest.raises(fgrad.ConcretizationError):
        fgrad.make_jaxpr(lambda x: fnp.histogram_bin_edges(x, 3))(x)


@pytest.mark.parametrize("density", [False, True])
@pytest.mark.parametrize("bins", [5, [-2.0, -0.5, 0.0, 0.7, 3.0]])
def test_histogram_like_numpy_and_differentiable_in_weights(density, bins):
    a = RNG.standard_normal(40)
    a[0] = 3.0  # exactly on the last edge: counted in the last bin, as NumPy does
    w = RNG.uniform(0.5, 2.0, size=40)
    for weights in (None, w):
        got, got_edges = fnp.histogram(a, bins, density=density, weights=weights)
        want, want_edges = np.histogram(a, bins, density=density, weights=weights)
        np.testing.assert_allclose(got, want, rtol=1e-14)
        np.testing.assert_array_equal(got_edges, want_edges)

    def counts(w):
        return fnp.histogram(a, bins, density=density, weights=w)[0]

    np.testing.assert_allclose(counts(w), np.histogram(a, bins, density=density, weights=w)[0])
    check_grads(counts, [w], order=2)
    if not density:  # d count_k / d w_i is 1 exactly when a_i falls in bin k
        jac = fgrad.jacrev(counts)(w)
        edges = np.histogram_bin_edges(a, bins)
        k = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, len(edges) - 2)
        inside = (a >= edges[0]) & (a <= edges[-1])
        want = np.zeros_like(jac)
        want[k[inside], np.flatnonzero(inside)] = 1.0
        np.testing.assert_array_equal(jac, want)


def test_evenly_spaced_edges_move_with_the_extremes():
    a = RNG.standard_normal(30)
    np.testing.assert_array_equal(fnp.histogram_bin_edges(a, 5), np.histogram_bin_edges(a, 5))
    # edge k is min + k (max - min) / n: d edge_k / d a = (1 - k/n) e_argmin + (k/n) e_argmax
    jac = fgrad.jacrev(lambda a: fnp.histogram_bin_edges(a, 4))(a)
    k = np.arange(5)[:, None] / 4
    want = np.zeros((5, 30))
    want[:, [np.argmin(a)]] += 1 - k
    want[:, [np.argmax(a)]] += k
    np.testing.assert_allclose(jac, want, atol=1e-12)
    check_grads(lambda a: fnp.histogram(a, 5, density=True)[0], (a,))
    # explicit edges are constants
    assert not np.any(fgrad.grad(lambda a: fnp.sum(fnp.histogram_bin_edges(a, [0.0, 1.0])))(a))


def test_histogram2d_and_dd_like_numpy():
    x, y = RNG.standard_normal(30), RNG.standard_normal(30)
    for got, want in zip(fnp.histogram2d(x, y, 4), np.histogram2d(x, y, 4)):
        np.testing.assert_array_equal(got, want)
    sample = np.stack([x, y], axis=1)
    got, want = fnp.histogramdd(sample, 3), np.histogramdd(sample, 3)
    np.testing.assert_array_equal(got[0], want[0])
    with pytest.raises(NotImplementedError, match="histogram2d"):
        fgrad.grad(lambda w: fnp.sum(fnp.histogram2d(x, y, 4, weights=w)[0]))(np.ones(30))
