"""``fgrad.numpy`` follows NumPy: values, dtypes, promotion, indexing and functional updates.

Outside transforms every function must return what NumPy returns. Inside
transforms the same dtypes must hold, and derivatives of indexing must agree
with finite differences and with closed forms built from ``numpy.add.at``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import assert_tree_allclose, numerical_grad, numerical_jvp

import fgrad
import fgrad.numpy as fnp
from fgrad.core.tracer import Tracer

RNG = np.random.default_rng(7)

A = RNG.normal(size=(3, 4))
A2 = RNG.normal(size=(3, 4))
B = RNG.normal(size=(4, 5))
C = RNG.normal(size=(2, 3, 4))
D = RNG.normal(size=(2, 1, 3, 4))
V = RNG.normal(size=4)
W = RNG.normal(size=3)
P = RNG.uniform(0.5, 2.0, size=(3, 4))
I = np.arange(12).reshape(3, 4)  # noqa: E741 - an int array
I32 = np.arange(6, dtype=np.int32)
F32 = RNG.normal(size=(3, 4)).astype(np.float32)
S1 = RNG.normal(size=(1, 3, 1))


# Each case is applied to both modules, ``case(np)`` and ``case(fnp)``.
SURFACE = {
    # creation
    "array": lambda m: m.array([[1, 2], [3, 4]]),
    "array-float": lambda m: m.array([1.0, 2.5]),
    "array-dtype": lambda m: m.array([1, 2], dtype=np.float32),
    "array-ndmin": lambda m: m.array([1.0, 2.0], ndmin=3),
    "asarray": lambda m: m.asarray([1.0, 2.0]),
    "asarray-dtype": lambda m: m.asarray(I, dtype=np.float32),
    "asarray-array": lambda m: m.asarray(A),
    "zeros": lambda m: m.zeros((2, 3)),
    "zeros-int": lambda m: m.zeros(4, dtype=np.int32),
    "ones": lambda m: m.ones((3,)),
    "ones-bool": lambda m: m.ones((2, 2), dtype=bool),
    "zeros_like": lambda m: m.zeros_like(F32),
    "zeros_like-dtype": lambda m: m.zeros_like(A, dtype=np.int64),
    "ones_like": lambda m: m.ones_like(I),
    "full_like": lambda m: m.full_like(A, 7),
    "full_like-int": lambda m: m.full_like(I, 2.5),
    "full": lambda m: m.full((2, 3), 1.5),
    "full-int": lambda m: m.full(3, 4),
    "full-dtype": lambda m: m.full((2,), 3, dtype=np.float32),
    "arange": lambda m: m.arange(5),
    "arange-float": lambda m: m.arange(0.0, 1.0, 0.25),
    "arange-start-stop": lambda m: m.arange(2, 9, 3),
    "linspace": lambda m: m.linspace(0.0, 1.0, 7),
    "linspace-noendpoint": lambda m: m.linspace(-1, 1, 4, endpoint=False),
    "eye": lambda m: m.eye(3),
    "eye-rect-k": lambda m: m.eye(3, 4, k=1),
    # reductions
    "sum": lambda m: m.sum(A),
    "sum-axis0": lambda m: m.sum(A, axis=0),
    "sum-axis-neg": lambda m: m.sum(C, axis=-1),
    "sum-axis-tuple": lambda m: m.sum(C, axis=(0, 2)),
    "sum-keepdims": lambda m: m.sum(C, axis=1, keepdims=True),
    "sum-int": lambda m: m.sum(I),
    "sum-int32": lambda m: m.sum(I32),
    "sum-f32": lambda m: m.sum(F32, axis=1),
    "mean": lambda m: m.mean(A),
    "mean-axis": lambda m: m.mean(C, axis=(1, 2), keepdims=True),
    "mean-int": lambda m: m.mean(I, axis=0),
    "mean-f32": lambda m: m.mean(F32),
    "var": lambda m: m.var(A),
    "var-axis": lambda m: m.var(C, axis=1),
    "var-ddof": lambda m: m.var(A, axis=0, ddof=1),
    "var-keepdims": lambda m: m.var(A, axis=-1, keepdims=True),
    "std": lambda m: m.std(A),
    "std-axis-ddof": lambda m: m.std(C, axis=(0, 2), ddof=1),
    "max": lambda m: m.max(A),
    "max-axis": lambda m: m.max(C, axis=1),
    "max-keepdims": lambda m: m.max(A, axis=0, keepdims=True),
    "max-int": lambda m: m.max(I, axis=-1),
    "min": lambda m: m.min(A),
    "min-axis": lambda m: m.min(C, axis=(0, 1)),
    "min-keepdims": lambda m: m.min(A, axis=1, keepdims=True),
    # elementwise
    "exp": lambda m: m.exp(A),
    "exp-int": lambda m: m.exp(I),
    "exp-f32": lambda m: m.exp(F32),
    "exp-scalar": lambda m: m.exp(0.5),
    "log": lambda m: m.log(P),
    "log-int": lambda m: m.log(I + 1),
    "logaddexp": lambda m: m.logaddexp(A, A2),
    "logaddexp-broadcast": lambda m: m.logaddexp(C, V),
    "logaddexp-large": lambda m: m.logaddexp(np.array([1000.0, -1000.0]), 999.0),
    "logaddexp-inf": lambda m: m.logaddexp(np.array([-np.inf, 1.0]), np.array([0.5, -np.inf])),
    "sqrt": lambda m: m.sqrt(P),
    "sqrt-f32": lambda m: m.sqrt(np.abs(F32)),
    "tanh": lambda m: m.tanh(A),
    "sin": lambda m: m.sin(C),
    "cos": lambda m: m.cos(A),
    "abs": lambda m: m.abs(A),
    "abs-int": lambda m: m.abs(I - 5),
    "maximum": lambda m: m.maximum(A, A2),
    "maximum-broadcast-scalar": lambda m: m.maximum(A, 0.0),
    "maximum-int-float": lambda m: m.maximum(I, 2.5),
    "minimum": lambda m: m.minimum(C, V),
    "minimum-int": lambda m: m.minimum(I, 3),
    "where": lambda m: m.where(A > 0, A, A2),
    "where-scalars": lambda m: m.where(A > 0, 1.0, -1.0),
    "where-broadcast": lambda m: m.where(V > 0, C, 0.0),
    "where-int": lambda m: m.where(I > 4, I, 0),
    "clip": lambda m: m.clip(A, -0.5, 0.5),
    "clip-lower": lambda m: m.clip(A, 0.0, None),
    "clip-upper": lambda m: m.clip(A, None, 0.1),
    "clip-int": lambda m: m.clip(I, 2, 9),
    "clip-f32": lambda m: m.clip(F32, -0.5, 0.5),
    # products
    "dot-2d": lambda m: m.dot(A, B),
    "dot-1d": lambda m: m.dot(V, V),
    "dot-2d-1d": lambda m: m.dot(A, V),
    "dot-1d-2d": lambda m: m.dot(W, A),
    "dot-nd": lambda m: m.dot(C, B),
    "dot-scalar": lambda m: m.dot(2.0, A),
    "dot-int": lambda m: m.dot(I, np.arange(4)),
    "matmul-2d": lambda m: m.matmul(A, B),
    "matmul-1d-1d": lambda m: m.matmul(V, V),
    "matmul-1d-2d": lambda m: m.matmul(W, A),
    "matmul-2d-1d": lambda m: m.matmul(A, V),
    "matmul-batched-2d": lambda m: m.matmul(C, B),
    "matmul-2d-batched": lambda m: m.matmul(B.T, np.transpose(C, (0, 2, 1))),
    "matmul-batched-1d": lambda m: m.matmul(C, V),
    "matmul-1d-batched": lambda m: m.matmul(W, C),
    "matmul-broadcast-batch": lambda m: m.matmul(D, RNG_FIXED_BATCH),
    "matmul-f32": lambda m: m.matmul(F32, B.astype(np.float32)),
    "matmul-mixed": lambda m: m.matmul(F32, B),
    "outer": lambda m: m.outer(W, V),
    "outer-2d": lambda m: m.outer(A, W),
    "outer-int": lambda m: m.outer(np.arange(3), np.arange(2)),
    # shapes
    "reshape": lambda m: m.reshape(A, (4, 3)),
    "reshape-minus1": lambda m: m.reshape(C, (-1, 4)),
    "reshape-int-minus1": lambda m: m.reshape(C, -1),
    "reshape-minus1-middle": lambda m: m.reshape(C, (2, -1, 2)),
    "transpose": lambda m: m.transpose(A),
    "transpose-axes": lambda m: m.transpose(C, (1, 2, 0)),
    "transpose-neg-axes": lambda m: m.transpose(C, (-1, 0, 1)),
    "concatenate": lambda m: m.concatenate([A, A2]),
    "concatenate-axis1": lambda m: m.concatenate([A, A2, A], axis=1),
    "concatenate-axis-neg": lambda m: m.concatenate([C, C], axis=-2),
    "concatenate-none": lambda m: m.concatenate([A, C], axis=None),
    "concatenate-promote": lambda m: m.concatenate([I, A]),
    "stack": lambda m: m.stack([A, A2]),
    "stack-axis1": lambda m: m.stack([A, A2], axis=1),
    "stack-axis-neg": lambda m: m.stack([V, V, V], axis=-1),
    "squeeze": lambda m: m.squeeze(S1),
    "squeeze-axis": lambda m: m.squeeze(S1, axis=0),
    "squeeze-axis-tuple": lambda m: m.squeeze(S1, axis=(0, -1)),
    "expand_dims": lambda m: m.expand_dims(A, 0),
    "expand_dims-neg": lambda m: m.expand_dims(A, -1),
    "expand_dims-tuple": lambda m: m.expand_dims(V, (0, 2)),
}

RNG_FIXED_BATCH = RNG.normal(size=(5, 4, 2))


def _check_like_numpy(got, want):
    assert not isinstance(got, Tracer)
    assert isinstance(got, (np.ndarray, np.generic)), type(got)
    assert np.ndim(got) == np.ndim(want)
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype, (
        f"dtype {np.asarray(got).dtype} != NumPy's {np.asarray(want).dtype}"
    )
    if np.asarray(want).dtype.kind in "fc":
        rtol = 1e-5 if np.asarray(want).dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_plain_arrays_in_plain_arrays_out_like_numpy(name):
    case = SURFACE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = case(np)
    got = case(fnp)
    _check_like_numpy(got, want)


def test_linspace_retstep_like_numpy():
    got, step = fnp.linspace(0.0, 2.0, 5, retstep=True)
    want, want_step = np.linspace(0.0, 2.0, 5, retstep=True)
    np.testing.assert_array_equal(got, want)
    assert step == want_step


def test_functions_on_plain_arrays_do_not_modify_inputs():
    a = A.copy()
    fnp.at(a)[0].set(100.0)
    fnp.at(a)[np.array([1, 1])].add(5.0)
    fnp.reshape(a, -1)
    fnp.transpose(a)
    np.testing.assert_array_equal(a, A)


def test_logaddexp_of_minus_infinities_is_silent_like_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.logaddexp(-np.inf, -np.inf) == -np.inf
        assert fnp.logaddexp(-np.inf, -np.inf) == -np.inf


# -- NumPy 2 promotion ------------------------------------------------------------------

PROMOTION = [
    # (name, function of (module, operand), operand, expected dtype); applied to np and fnp
    ("f32*pyfloat", lambda m, x: m.multiply(x, 2.5), np.ones(3, np.float32), np.float32),
    ("pyfloat*f32", lambda m, x: m.multiply(2.5, x), np.ones(3, np.float32), np.float32),
    ("f32/pyint", lambda m, x: m.divide(x, 3), np.ones(3, np.float32), np.float32),
    ("f32+f64array", lambda m, x: m.add(x, np.ones(3)), np.ones(3, np.float32), np.float64),
    (
        "f32*np.float64",
        lambda m, x: m.multiply(x, np.float64(2)),
        np.ones(3, np.float32),
        np.float64,
    ),
    ("f32*0d-f64", lambda m, x: m.multiply(x, np.asarray(2.0)), np.ones(3, np.float32), np.float64),
    ("int/int", lambda m, x: m.divide(x, 2), np.arange(3), np.float64),
    ("int32*pyint", lambda m, x: m.multiply(x, 2), np.arange(3, dtype=np.int32), np.int32),
    ("int32+pyfloat", lambda m, x: m.add(x, 0.5), np.arange(3, dtype=np.int32), np.float64),
    ("int32 sqrt", lambda m, x: m.sqrt(x), np.arange(3, dtype=np.int32), np.float64),
    ("int32 mean", lambda m, x: m.mean(x), np.arange(3, dtype=np.int32), np.float64),
    ("f64*pyfloat", lambda m, x: m.multiply(x, 2.5), np.ones(3), np.float64),
    ("f32 where", lambda m, x: m.where(x > 0, x, 0.5), np.ones(3, np.float32), np.float32),
    ("f32 maximum", lambda m, x: m.maximum(x, 0), np.ones(3, np.float32), np.float32),
    ("f32 clip", lambda m, x: m.clip(x, 0.0, 0.5), np.ones(3, np.float32), np.float32),
    (
        "f32 matmul f64",
        lambda m, x: m.matmul(x, np.ones((3, 2))),
        np.ones(3, np.float32),
        np.float64,
    ),
    ("f32 sum", lambda m, x: m.sum(x), np.ones(3, np.float32), np.float32),
    ("f32 var", lambda m, x: m.var(x), np.ones(3, np.float32), np.float32),
    ("f32 exp", lambda m, x: m.exp(x), np.ones(3, np.float32), np.float32),
    ("f32 logaddexp", lambda m, x: m.logaddexp(x, 0.0), np.ones(3, np.float32), np.float32),
]
PROMOTION_IDS = [p[0] for p in PROMOTION]
FLOAT_PROMOTION = [p for p in PROMOTION if p[2].dtype.kind == "f"]


@pytest.mark.parametrize("name, fn, x, dtype", PROMOTION, ids=PROMOTION_IDS)
def test_promotion_eager_matches_numpy(name, fn, x, dtype):
    assert np.asarray(fn(np, x)).dtype == dtype  # the test's own expectation is NumPy's
    got = fn(fnp, x)
    assert isinstance(got, (np.ndarray, np.generic))
    assert got.dtype == dtype


@pytest.mark.parametrize("name, fn, x, dtype", PROMOTION, ids=PROMOTION_IDS)
def test_promotion_under_make_jaxpr(name, fn, x, dtype):
    closed = fgrad.make_jaxpr(lambda x: fn(fnp, x))(x)
    (outvar,) = closed.jaxpr.outvars
    assert outvar.aval.dtype == dtype
    assert np.asarray(closed(x)).dtype == dtype


@pytest.mark.parametrize("name, fn, x, dtype", FLOAT_PROMOTION, ids=[p[0] for p in FLOAT_PROMOTION])
def test_promotion_of_traced_values_under_grad_and_jvp(name, fn, x, dtype):
    def f(x):
        y = fn(fnp, x)
        return fnp.sum(y).astype(np.float64), y.dtype

    g, seen = fgrad.grad(f, has_aux=True)(x)
    assert seen == dtype
    assert g.dtype == x.dtype  # the gradient always has the input's dtype
    out, t = fgrad.jvp(lambda x: fn(fnp, x), (x,), (np.ones_like(x),))
    assert out.dtype == dtype
    if name != "f32+f64array":  # see test_jvp_tangent_dtype_follows_the_primal_output
        assert t.dtype == dtype


MIXED_PRECISION = {
    "add": lambda x: x + np.ones(3),
    "sub": lambda x: np.ones(3) - x,
    "maximum": lambda x: fnp.maximum(x, np.zeros(3)),
    "where": lambda x: fnp.where(x > 0, x, np.zeros(3)),
    "at-set": lambda x: fnp.at(np.zeros(3))[0].set(x[0]),
}


@pytest.mark.parametrize("name", sorted(MIXED_PRECISION))
def test_jvp_tangent_dtype_follows_the_primal_output(name):
    x = np.array([0.5, 1.0, 2.0], np.float32)
    out, t = fgrad.jvp(MIXED_PRECISION[name], (x,), (np.ones_like(x),))
    assert out.dtype == np.float64
    assert t.dtype == out.dtype


OPERATORS = [
    ("x*2.5", lambda x: x * 2.5, np.float32),
    ("2.5*x", lambda x: 2.5 * x, np.float32),
    ("x/3", lambda x: x / 3, np.float32),
    ("1-x", lambda x: 1 - x, np.float32),
    ("x**2", lambda x: x**2, np.float32),
    ("x+f64array", lambda x: x + np.ones(3), np.float64),
    ("f64array*x", lambda x: np.ones(3) * x, np.float64),
    ("x@f64", lambda x: x @ np.ones((3, 2)), np.float64),
    ("x*np.float64", lambda x: x * np.float64(2.0), np.float64),
    ("x*np.float32", lambda x: x * np.float32(2.0), np.float32),
]


@pytest.mark.parametrize("name, fn, dtype", OPERATORS, ids=[o[0] for o in OPERATORS])
def test_operators_on_traced_float32(name, fn, dtype):
    x = np.array([0.5, 1.0, 2.0], np.float32)
    assert fn(x).dtype == dtype  # NumPy's own answer on the plain array
    _, seen = fgrad.grad(lambda x: (fnp.sum(fn(x)).astype(np.float64), fn(x).dtype), has_aux=True)(
        x
    )
    assert seen == dtype
    assert fgrad.make_jaxpr(fn)(x).jaxpr.outvars[0].aval.dtype == dtype


def test_python_floats_are_float64_by_default():
    assert fnp.asarray(1.5).dtype == np.float64
    assert fnp.array([1.0, 2.0]).dtype == np.float64
    assert fnp.zeros(2).dtype == np.float64
    assert fnp.exp(1.0).dtype == np.float64

    def f(x):
        return x * 3.0, (x.dtype, (x * 3.0).dtype, fnp.asarray(0.5).dtype)

    g, dtypes = fgrad.grad(f, has_aux=True)(2.0)
    assert dtypes == (np.float64,) * 3
    assert np.asarray(g).dtype == np.float64
    assert fgrad.make_jaxpr(lambda x: x * 3.0)(2.0).jaxpr.invars[0].aval.dtype == np.float64


def test_dtypes_of_intermediates_inside_grad():
    i = np.arange(4)

    def f(x):
        a = x * 2.5
        b = x + np.ones(3)
        c = i / 2
        d = fnp.sum(a) * fnp.sum(b)
        return d.astype(np.float64), {"a": a.aval, "b": b.dtype, "c": c.dtype, "d": d.dtype}

    _, info = fgrad.grad(f, has_aux=True)(np.ones(3, np.float32))
    assert info["a"].dtype == np.float32 and info["a"].shape == (3,)
    assert info["b"] == np.float64
    assert info["c"] == np.float64
    assert info["d"] == np.float64


# -- indexing on traced values ---------------------------------------------------------------

X = RNG.normal(size=(3, 4))

INDICES = {
    "int": (1,),
    "neg-int": (-1, 2),
    "slice": (slice(None), slice(1, 3)),
    "slice-step": (slice(None, None, 2),),
    "neg-step": (slice(None, None, -1), slice(None, None, -2)),
    "neg-step-bounds": (slice(2, 0, -1), slice(3, None, -3)),
    "newaxis-ellipsis": (None, Ellipsis, 1),
    "ellipsis-newaxis": (Ellipsis, None),
    "int-array-repeats": (np.array([0, 0, 2, 0]),),
    "neg-int-array-repeats": (slice(None), np.array([-1, -1, 0])),
    "two-int-arrays": (np.array([0, 2, 2]), np.array([1, 1, 3])),
    "int-array-2d": (np.array([[0, 1], [1, 1]]),),
    "list": ([2, 2, 1],),
    "bool-mask-2d": (X > 0,),
    "bool-mask-rows": (np.array([True, False, True]),),
    "bool-mask-cols": (slice(None), np.array([False, True, True, False])),
    "empty-slice": (slice(5, None),),
}


def _unpack(idx):
    return idx[0] if len(idx) == 1 else idx


@pytest.mark.parametrize("name", sorted(INDICES))
def test_indexing_values_and_gradients(name):
    idx = _unpack(INDICES[name])
    want = X[idx]
    weights = RNG.normal(size=np.shape(want))

    def f(x):
        return fnp.sum(fnp.sin(x[idx]) * weights)

    # value inside the transform equals NumPy's indexing
    _, seen = fgrad.grad(lambda x: (f(x), x[idx]), has_aux=True)(X)
    np.testing.assert_array_equal(seen, want)
    g = fgrad.grad(f)(X)
    assert g.shape == X.shape and g.dtype == X.dtype
    # closed form: the transpose of a gather is a scatter-add (numpy.add.at accumulates)
    expected = np.zeros_like(X)
    np.add.at(expected, idx, np.cos(want) * weights)
    np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-15)
    assert_tree_allclose(g, numerical_grad(f, X), rtol=1e-6, atol=1e-9)


def test_repeated_indices_accumulate_in_the_gradient():
    g = fgrad.grad(lambda x: fnp.sum(x[np.array([1, 1, 1, 0])]))(np.zeros(3))
    np.testing.assert_array_equal(g, [1.0, 3.0, 0.0])


def test_boolean_mask_computed_from_traced_values_under_grad():
    x = np.array([-1.0, 2.0, 0.5, 3.0])
    g = fgrad.grad(lambda x: fnp.sum(x[x > 1.0] ** 2))(x)
    np.testing.assert_array_equal(g, [0.0, 4.0, 0.0, 6.0])


def test_indexing_under_jvp_and_make_jaxpr():
    idx = (np.array([0, 0, 2]), slice(None, None, -1))
    t = RNG.normal(size=X.shape)
    out, tangent = fgrad.jvp(lambda x: x[idx] ** 2, (X,), (t,))
    np.testing.assert_allclose(out, X[idx] ** 2)
    np.testing.assert_allclose(tangent, 2 * X[idx] * t[idx], rtol=1e-14)
    closed = fgrad.make_jaxpr(lambda x: x[idx])(X)
    assert "getitem" in str(closed) and "f64[3,4]" in str(closed)
    np.testing.assert_array_equal(closed(X), X[idx])


# -- functional updates: .at[...].set / .add ------------------------------------------------

UPDATES = {
    "int": ((1,), RNG.normal(size=4)),
    "slice": ((slice(None), slice(1, 3)), RNG.normal(size=(3, 2))),
    "neg-step": ((slice(None, None, -2),), RNG.normal(size=(2, 4))),
    "broadcast-row": ((slice(0, 2),), RNG.normal(size=4)),
    "scalar": ((0, 3), np.array(1.7)),
    "int-array": ((np.array([2, 0]),), RNG.normal(size=(2, 4))),
    "point-arrays": ((np.array([0, 2]), np.array([3, 1])), RNG.normal(size=2)),
    "mask": ((X > 0.5,), np.array(0.25)),
}


def _numpy_update(x, idx, v, how):
    out = x.copy()
    if how == "set":
        out[idx] = v
    else:
        np.add.at(out, idx, v)
    return out


@pytest.mark.parametrize("how", ["set", "add"])
@pytest.mark.parametrize("name", sorted(UPDATES))
def test_at_update_values_and_gradients(name, how):
    idx, v = UPDATES[name]
    idx = _unpack(idx)
    weights = RNG.normal(size=X.shape)

    def update(x, v):
        ref = fnp.at(x)[idx]
        return ref.set(v) if how == "set" else ref.add(v)

    def f(x, v):
        return fnp.sum(fnp.sin(update(x, v)) * weights)

    # values: inside a transform, and eagerly through fnp.at on plain arrays
    expected = _numpy_update(X, idx, v, how)
    _, seen = fgrad.grad(lambda x: (f(x, v), update(x, v)), has_aux=True)(X)
    np.testing.assert_allclose(seen, expected, rtol=1e-15)
    eager = getattr(fnp.at(X)[idx], how)(v)
    assert isinstance(eager, np.ndarray)
    np.testing.assert_allclose(eager, expected, rtol=1e-15)
    # gradients w.r.t. the array and the values
    gx, gv = fgrad.grad(f, argnums=(0, 1))(X, v)
    assert gx.shape == X.shape and np.shape(gv) == np.shape(v)
    assert_tree_allclose(gx, numerical_grad(f, X, v, argnums=0), rtol=1e-6, atol=1e-9)
    assert_tree_allclose(gv, numerical_grad(f, X, v, argnums=1), rtol=1e-6, atol=1e-9)


def test_at_add_with_repeated_indices_accumulates():
    x = np.zeros(4)
    idx = np.array([1, 1, 3, 1])
    v = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(fnp.at(x)[idx].add(v), [0.0, 7.0, 0.0, 3.0])
    gx, gv = fgrad.grad(lambda x, v: fnp.sum(x.at[idx].add(v) ** 2), argnums=(0, 1))(x, v)
    y = np.array([0.0, 7.0, 0.0, 3.0])
    np.testing.assert_allclose(gx, 2 * y)
    np.testing.assert_allclose(gv, 2 * y[idx])


def test_at_set_closed_form_gradients():
    x = np.arange(5.0)
    v = np.array([10.0, 20.0])
    idx = np.array([0, 3])

    def f(x, v):
        return fnp.sum(x.at[idx].set(v) * np.arange(1.0, 6.0))

    gx, gv = fgrad.grad(f, argnums=(0, 1))(x, v)
    np.testing.assert_array_equal(gx, [0.0, 2.0, 3.0, 0.0, 5.0])  # overwritten entries get 0
    np.testing.assert_array_equal(gv, [1.0, 4.0])


def test_at_set_with_repeated_indices_value_is_numpy_last_write_wins():
    x = np.ones(3)
    idx = np.array([0, 0])
    v = np.array([1.0, 2.0])
    expected = x.copy()
    expected[idx] = v
    np.testing.assert_array_equal(fnp.at(x)[idx].set(v), expected)
    _, seen = fgrad.grad(lambda x: (fnp.sum(x), x.at[idx].set(v)), has_aux=True)(x)
    np.testing.assert_array_equal(seen, expected)


def test_at_set_with_repeated_indices_gradient_wrt_values():
    x = np.ones(3)
    idx = np.array([0, 0])
    weights = np.array([1.0, 2.0, 3.0])

    def f(v):
        return fnp.sum(fnp.at(x)[idx].set(v) * weights)

    v = np.array([1.0, 2.0])
    # the first write is overwritten (NumPy keeps the last), so only v[1] matters
    assert_tree_allclose(numerical_grad(f, v), np.array([0.0, 1.0]), atol=1e-9)
    np.testing.assert_allclose(fgrad.grad(f)(v), [0.0, 1.0])
    # forward and reverse mode agree (dot-product identity)
    u, tv = np.array([0.3, -1.2, 2.0]), np.array([1.5, -0.5])
    _, jv = fgrad.jvp(lambda v: fnp.at(x)[idx].set(v), (v,), (tv,))
    _, pullback = fgrad.vjp(lambda v: fnp.at(x)[idx].set(v), v)
    np.testing.assert_allclose(np.dot(u, jv), np.dot(pullback(u)[0], tv), rtol=1e-14)


def test_at_update_of_a_constant_array_with_traced_values():
    weights = np.array([1.0, 5.0, 9.0])
    g = fgrad.grad(lambda v: fnp.sum(fnp.at(np.zeros(3))[1].set(v) * weights))(2.0)
    np.testing.assert_allclose(g, 5.0)
    g = fgrad.grad(lambda v: fnp.sum(fnp.at(np.zeros(3))[:].add(v) * weights))(2.0)
    np.testing.assert_allclose(g, 15.0)


def test_at_get_is_indexing():
    g = fgrad.grad(lambda x: fnp.sum(x.at[1:].get() ** 2))(np.arange(4.0))
    np.testing.assert_array_equal(g, [0.0, 2.0, 4.0, 6.0])


def test_at_update_under_jvp_matches_finite_differences():
    idx = (slice(None), np.array([0, 2]))
    v = RNG.normal(size=(3, 2))
    tx, tv = RNG.normal(size=X.shape), RNG.normal(size=v.shape)

    def f(x, v):
        return fnp.sin(fnp.at(x)[idx].add(v)) * fnp.at(x)[idx].set(v)

    _, t = fgrad.jvp(f, (X, v), (tx, tv))
    np.testing.assert_allclose(t, numerical_jvp(f, (X, v), (tx, tv)), rtol=1e-6, atol=1e-9)


# -- tracer attributes and methods inside grad ------------------------------------------------


def test_tracer_attributes_inside_grad():
    def f(x):
        info = {
            "shape": x.shape,
            "ndim": x.ndim,
            "dtype": x.dtype,
            "size": x.size,
            "len": len(x),
            "T.shape": x.T.shape,
            "row.shape": x[0].shape,
        }
        return fnp.sum(x), info

    _, info = fgrad.grad(f, has_aux=True)(C)
    assert info == {
        "shape": (2, 3, 4),
        "ndim": 3,
        "dtype": np.float64,
        "size": 24,
        "len": 2,
        "T.shape": (4, 3, 2),
        "row.shape": (3, 4),
    }


def test_tracer_attributes_under_make_jaxpr_and_jvp():
    seen = {}

    def f(x):
        seen[len(seen)] = (x.shape, x.ndim, x.dtype, x.size, len(x), x.T.shape)
        return x

    fgrad.make_jaxpr(f)(F32)
    fgrad.jvp(f, (F32,), (F32,))
    expected = ((3, 4), 2, np.float32, 12, 3, (4, 3))
    assert seen == {0: expected, 1: expected}


METHODS = {
    "reshape-tuple": lambda x: fnp.sum(fnp.sin(x.reshape((4, 3))) * np.arange(12.0).reshape(4, 3)),
    "reshape-args": lambda x: fnp.sum(x.reshape(2, 6)[1] ** 2),
    "reshape-minus1": lambda x: fnp.sum(x.reshape(-1)[::5] ** 3),
    "sum": lambda x: x.sum() ** 2,
    "sum-axis": lambda x: fnp.sum(x.sum(axis=1, keepdims=True) ** 2),
    "mean": lambda x: x.mean() * x.mean(axis=0)[1],
    "max": lambda x: x.max() + fnp.sum(x.max(axis=1)),
    "min": lambda x: x.min() + fnp.sum(x.min(axis=0, keepdims=True) ** 2),
    "astype-f32": lambda x: fnp.sum(x.astype(np.float32) ** 2).astype(np.float64),
    "astype-int": lambda x: fnp.sum(x.astype(np.int64) * x),
    "transpose": lambda x: fnp.sum(x.transpose() * np.arange(12.0).reshape(4, 3)),
    "transpose-axes": lambda x: fnp.sum(x.transpose(1, 0)[2] ** 2),
    "transpose-tuple": lambda x: fnp.sum(x.transpose((1, 0))[0] * x[:, 1]),
    "T": lambda x: fnp.sum(x.T @ x),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_tracer_methods_inside_grad(name):
    f = METHODS[name]
    x = RNG.normal(size=(3, 4)) * 3.0  # distinct values, no ties
    np.testing.assert_allclose(f(fnp.asarray(x)), _numpy_reference(name, x), rtol=1e-6)
    g = fgrad.grad(f)(x)
    assert g.shape == x.shape and g.dtype == x.dtype
    if name == "astype-f32":  # float32 inside: finite differences are too coarse
        np.testing.assert_allclose(g, 2 * x.astype(np.float32), rtol=1e-6)
    else:
        assert_tree_allclose(g, numerical_grad(f, x), rtol=1e-6, atol=1e-6)


def _numpy_reference(name, x):
    """The same expressions as METHODS, written with NumPy only."""
    ref = {
        "reshape-tuple": lambda: np.sum(np.sin(x.reshape(4, 3)) * np.arange(12.0).reshape(4, 3)),
        "reshape-args": lambda: np.sum(x.reshape(2, 6)[1] ** 2),
        "reshape-minus1": lambda: np.sum(x.reshape(-1)[::5] ** 3),
        "sum": lambda: x.sum() ** 2,
        "sum-axis": lambda: np.sum(x.sum(axis=1, keepdims=True) ** 2),
        "mean": lambda: x.mean() * x.mean(axis=0)[1],
        "max": lambda: x.max() + np.sum(x.max(axis=1)),
        "min": lambda: x.min() + np.sum(x.min(axis=0, keepdims=True) ** 2),
        "astype-f32": lambda: np.float64(np.sum(x.astype(np.float32) ** 2)),
        "astype-int": lambda: np.sum(x.astype(np.int64) * x),
        "transpose": lambda: np.sum(x.transpose() * np.arange(12.0).reshape(4, 3)),
        "transpose-axes": lambda: np.sum(x.transpose(1, 0)[2] ** 2),
        "transpose-tuple": lambda: np.sum(x.transpose((1, 0))[0] * x[:, 1]),
        "T": lambda: np.sum(x.T @ x),
    }
    return ref[name]()


def test_max_ties_share_the_gradient():
    g = fgrad.grad(lambda x: x.max())(np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_allclose(g, [0.0, 0.5, 0.5, 0.0])
