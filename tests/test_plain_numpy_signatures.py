"""fgrad.numpy's functions take NumPy's parameters in NumPy's positional order.

Plain NumPy code passes arguments positionally (``np.var(x, 0, None, None, 1)`` puts
``ddof`` fifth, after ``out``), and NumPy's ``__array_function__`` hands them on as given, so
a function whose parameters sit elsewhere silently computes something else. The check runs
over every function fgrad.numpy, fgrad.numpy.linalg and fgrad.numpy.fft share with NumPy.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)

#: NumPy parameters fgrad.numpy does not take yet (a call passing them raises TypeError,
#: never a wrong answer). ``like`` is NumPy's creation-dispatch hook; ``weights`` of the
#: quantiles and ``nanvar``/``nanstd``'s ``where``/``mean`` are not implemented.
KNOWN_MISSING = {
    "numpy.array": {"order", "subok", "ndmax", "like"},
    "numpy.asanyarray": {"order", "copy", "like"},
    "numpy.asarray": {"order", "like"},
    "numpy.asarray_chkfinite": {"order"},
    "numpy.ascontiguousarray": {"like"},
    "numpy.asfortranarray": {"like"},
    "numpy.require": {"like"},
    "numpy.nanstd": {"where", "mean"},
    "numpy.nanvar": {"where", "mean"},
    "numpy.percentile": {"weights"},
    "numpy.quantile": {"weights"},
    "numpy.nanpercentile": {"weights"},
    "numpy.nanquantile": {"weights"},
}

#: fgrad functions taking ``*args``/``**kwargs`` and forwarding them to NumPy's own
#: (printing, windows): their positional order is NumPy's by construction.
FORWARDING = {
    "numpy.arange",  # forwards its arguments to the backend's arange (start= etc. by keyword too)
    "numpy.array2string", "numpy.array_repr", "numpy.array_str", "numpy.kaiser",
}


def _shared_functions():
    for ours, theirs in ((fnp, np), (fnp.linalg, np.linalg), (fnp.fft, np.fft)):
        for name in sorted(dir(ours)):
            f, g = getattr(ours, name), getattr(theirs, name, None)
            if name.startswith("_") or g is None or f is g or not callable(f):
                continue
            if isinstance(g, (type, np.ufunc)):
                continue
            try:
                yield f"{theirs.__name__}.{name}", inspect.signature(f), inspect.signature(g)
            except (TypeError, ValueError):  # builtins without a signature
                continue


SHARED = list(_shared_functions())


def test_the_check_covers_the_reductions_and_joins():
    names = {name for name, _, _ in SHARED}
    assert len(SHARED) > 200
    for must in ("numpy.var", "numpy.std", "numpy.sum", "numpy.max", "numpy.concatenate",
                 "numpy.argmax", "numpy.zeros_like", "numpy.linalg.norm", "numpy.fft.fftfreq"):
        assert must in names


@pytest.mark.parametrize("name, ours, theirs", SHARED, ids=[n for n, _, _ in SHARED])
def test_numpy_positional_parameters_are_a_prefix_of_ours(name, ours, theirs):
    if name in FORWARDING:
        return
    mine = [p.name for p in ours.parameters.values() if p.kind in _POSITIONAL]
    numpys = [p.name for p in theirs.parameters.values() if p.kind in _POSITIONAL]
    if name in KNOWN_MISSING:
        numpys = [p for p in numpys if p not in KNOWN_MISSING[name]]
        mine = mine[: len(numpys)]
    assert mine[: len(numpys)] == numpys, (
        f"{name}: NumPy's positional parameters are {numpys}, fgrad's begin {mine}"
    )


def test_every_numpy_parameter_is_accepted_except_the_listed_ones():
    missing = {}
    for name, ours, theirs in SHARED:
        if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in ours.parameters.values()):
            continue
        lacking = {
            p for p, param in theirs.parameters.items()
            if p not in ours.parameters and param.kind not in _VARIADIC
        }
        if lacking:
            missing[name] = lacking
    # exact: a newly missing parameter fails, and so does one added without updating the list
    assert missing == KNOWN_MISSING


# -- the parameters that moved: out before ddof and keepdims ---------------------------------

X = np.array([[0.3, -1.2, 2.0, 0.7], [1.1, 0.4, -0.5, 2.5], [-0.8, 1.9, 0.2, 0.0]])


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_var_std_take_ddof_fifth_as_numpy_does(fn, ddof):
    want = getattr(np, fn)(X, 1, None, None, ddof)
    np.testing.assert_allclose(getattr(fnp, fn)(X, 1, None, None, ddof), want, rtol=1e-13)
    # the plain NumPy call on a traced value reaches the same parameters
    got = fgrad.jit(lambda x: getattr(np, fn)(x, 1, None, None, ddof))(X)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_var_gradient_with_positional_ddof_is_the_closed_form():
    # d/dx sum_i var(x_i, ddof=1) = 2 (x - mean) / (n - 1) along each row
    g = fgrad.grad(lambda x: np.sum(np.var(x, 1, None, None, 1)))(X)
    want = 2 * (X - X.mean(axis=1, keepdims=True)) / (X.shape[1] - 1)
    np.testing.assert_allclose(g, want, rtol=1e-12)


@pytest.mark.parametrize(
    "fn, args",
    [
        ("sum", (0, None, None, True)),
        ("mean", (0, None, None, True)),
        ("max", (1, None, True)),
        ("min", (1, None, True)),
        ("prod", (0, None, None, True)),
        ("argmax", (1, None)),
        ("argmin", (0, None)),
        ("nansum", (1, None, None, True)),
        ("nanvar", (0, None, None, 1, True)),
    ],
)
def test_reductions_take_numpys_positional_arguments(fn, args):
    want = getattr(np, fn)(X, *args)
    got = getattr(fnp, fn)(X, *args)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert np.shape(got) == np.shape(want)
    traced = fgrad.jit(lambda x: getattr(np, fn)(x, *args))(X)
    np.testing.assert_allclose(traced, want, rtol=1e-13)


def test_methods_take_ndarrays_positional_arguments():
    # ndarray.var(axis, dtype, out, ddof, keepdims), ndarray.argmax(axis, out)
    got = fgrad.jit(lambda x: (x.var(0, None, None, 1, True), x.argmax(1, None)))(X)
    np.testing.assert_allclose(got[0], X.var(0, None, None, 1, True), rtol=1e-13)
    np.testing.assert_array_equal(got[1], X.argmax(1, None))


@pytest.mark.parametrize(
    "call",
    [
        lambda x, o: fnp.var(x, 0, None, o),
        lambda x, o: fnp.std(x, 0, None, o),
        lambda x, o: fnp.sum(x, 0, None, o),
        lambda x, o: fnp.mean(x, 0, None, o),
        lambda x, o: fnp.max(x, 0, o),
        lambda x, o: fnp.argmin(x, 0, o),
        lambda x, o: fnp.nanmax(x, 0, o),
        lambda x, o: fnp.nanargmax(x, 0, o),
        lambda x, o: fnp.nanvar(x, 0, None, o),
        lambda x, o: fnp.nancumsum(x, 0, None, o),
        lambda x, o: fnp.concatenate([x, x], 0, o),
        lambda x, o: fnp.stack([x, x], 0, o),
        lambda x, o: fnp.dot(x, x.T, o),
        lambda x, o: fnp.outer(x, x, o),
        lambda x, o: fnp.clip(x, 0, 1, o),
        lambda x, o: fnp.round(x, 1, o),
        lambda x, o: fnp.fix(x, o),
        lambda x, o: fnp.isposinf(x, o),
    ],
)
def test_an_out_array_is_refused_not_ignored(call):
    with pytest.raises(TypeError, match="immutable"):
        call(X, np.empty(4))


# -- the creation and shape functions' NumPy parameters --------------------------------------


def test_like_functions_take_order_and_subok_before_shape():
    z = fnp.zeros_like(X, None, "K", True, (2, 2))
    assert z.shape == (2, 2) and z.dtype == X.dtype
    f = fnp.full_like(X, 3.0, np.float32, "C", True, (5,))
    np.testing.assert_array_equal(f, np.full_like(X, 3.0, np.float32, "C", True, (5,)))
    assert fnp.empty_like(prototype=X).shape == X.shape


def test_ravel_in_column_major_order_is_numpys():
    np.testing.assert_array_equal(fnp.ravel(X, "F"), np.ravel(X, "F"))
    # and its derivative is the same permutation
    w = np.arange(X.size, dtype=float)
    g = fgrad.grad(lambda x: np.ravel(x, order="F") @ w)(X)
    np.testing.assert_array_equal(g, np.reshape(w, X.shape[::-1]).T)


def test_fftfreq_takes_the_device_third():
    np.testing.assert_allclose(fnp.fft.fftfreq(6, 0.5, None), np.fft.fftfreq(6, 0.5, None))


def test_window_parameters_pass_by_keyword():
    np.testing.assert_array_equal(fnp.kaiser(7, beta=4.0), np.kaiser(7, 4.0))
