"""Tracers behave like arrays: no ndarray method or attribute is hidden by an internal one.

``JaxprTracer`` once kept its jaxpr variable in a slot named ``var``, so ``x.var()`` under
``jit`` and ``make_jaxpr`` called a ``Var`` object (``TypeError: 'Var' object is not
callable``). Every public name of ``numpy.ndarray`` is checked here against every tracer
class, statically (no slot or subclass attribute takes an ndarray name, except properties
that give the same answer faster) and by use (the methods give NumPy's values under every
transform).
"""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

import fgrad
import fgrad.lax  # noqa: F401 - every module that may define a tracer class
import fgrad.nn  # noqa: F401
import fgrad.optim  # noqa: F401
from fgrad.core.tracer import Tracer

NDARRAY_NAMES = sorted(n for n in dir(np.ndarray) if not n.startswith("_"))
MISSING = object()


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


TRACER_CLASSES = sorted(set(_subclasses(Tracer)), key=lambda c: c.__qualname__)


def test_every_tracer_class_is_checked():
    names = {c.__name__ for c in TRACER_CLASSES}
    assert {"JaxprTracer", "GradTracer", "JVPTracer", "BatchTracer"} <= names, names


@pytest.mark.parametrize("cls", TRACER_CLASSES, ids=lambda c: c.__name__)
def test_no_slot_takes_an_ndarray_name(cls):
    slots = {s for k in cls.__mro__ for s in getattr(k, "__slots__", ())}
    taken = slots & set(dir(np.ndarray))
    assert not taken, f"{cls.__name__} keeps internal state under ndarray names {taken}"


@pytest.mark.parametrize("cls", TRACER_CLASSES, ids=lambda c: c.__name__)
def test_ndarray_names_mean_the_array_interface(cls):
    """A public ndarray name on a tracer class is the shared array interface of ``Tracer``,
    or a property (a faster ``shape``/``dtype``), whose values are checked below."""
    for name in NDARRAY_NAMES:
        ours = inspect.getattr_static(cls, name, MISSING)
        if ours is MISSING or ours is inspect.getattr_static(Tracer, name, MISSING):
            continue
        assert not isinstance(ours, types.MemberDescriptorType), f"{cls.__name__}.{name}: slot"
        assert isinstance(ours, property), f"{cls.__name__}.{name} is {ours!r}"


X = np.array([[0.5, -1.25, 2.0], [3.0, 0.75, -0.5]])
X_BATCH = np.stack([X, 2.0 * X - 1.0])

# every zero-argument ndarray method fgrad's tracers support, with NumPy's values
METHODS = [
    "all", "any", "argmax", "argmin", "conj", "conjugate", "copy", "cumprod", "cumsum",
    "flatten", "max", "mean", "min", "prod", "ravel", "round", "squeeze", "std", "sum",
    "trace", "transpose", "var",
]  # fmt: skip
ATTRIBUTES = ["shape", "dtype", "ndim", "size"]


def test_the_method_list_is_what_tracers_offer():
    callables = {n for n in NDARRAY_NAMES if callable(inspect.getattr_static(Tracer, n, None))}
    assert set(METHODS) <= callables


def _ours(name: str):
    return lambda x: getattr(x, name)()


def _theirs(name: str, x):
    return np.asarray(getattr(x, name)())


@pytest.mark.parametrize("name", METHODS)
def test_methods_under_every_transform(name):
    want = _theirs(name, X)
    f = _ours(name)
    results = {
        "jit": fgrad.jit(f)(X),
        "make_jaxpr": fgrad.eval_jaxpr(
            fgrad.make_jaxpr(f)(X).jaxpr, fgrad.make_jaxpr(f)(X).consts, X
        )[0],
        "jvp": fgrad.jvp(f, (X,), (np.ones_like(X),))[0],
        "vjp": fgrad.vjp(f, X)[0],
    }
    for label, got in results.items():
        got = np.asarray(got)
        assert got.dtype == want.dtype, (label, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-15, err_msg=f"{name} under {label}")
    rows = np.stack([_theirs(name, x) for x in X_BATCH])
    np.testing.assert_allclose(fgrad.vmap(f)(X_BATCH), rows, rtol=1e-15, err_msg="vmap")


@pytest.mark.parametrize("name", ["T", "real", "imag"])
def test_array_valued_attributes_under_every_transform(name):
    def f(x):
        return getattr(x, name)

    want = getattr(X, name)
    for label, got in [
        ("jit", fgrad.jit(f)(X)),
        ("jvp", fgrad.jvp(f, (X,), (np.ones_like(X),))[0]),
        ("vjp", fgrad.vjp(f, X)[0]),
    ]:
        np.testing.assert_array_equal(got, want, err_msg=f"{name} under {label}")
    np.testing.assert_array_equal(
        fgrad.vmap(f)(X_BATCH), np.stack([getattr(x, name) for x in X_BATCH])
    )


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_attributes_under_every_transform(name):
    seen = {}

    def record(label):
        def f(x):
            seen[label] = getattr(x, name)
            return x

        return f

    fgrad.jit(record("jit"))(X)
    fgrad.make_jaxpr(record("make_jaxpr"))(X)
    fgrad.jvp(record("jvp"), (X,), (np.ones_like(X),))
    fgrad.vjp(record("vjp"), X)
    fgrad.vmap(record("vmap"))(X_BATCH)
    assert seen == dict.fromkeys(seen, getattr(X, name)), seen


def test_var_reproducer_and_its_derivative():
    """``x.var()`` under ``jit``/``make_jaxpr`` raised ``'Var' object is not callable``."""
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert fgrad.jit(lambda x: x.var())(x) == np.var(x)
    closed = fgrad.make_jaxpr(lambda x: x.var(ddof=1))(x)
    np.testing.assert_allclose(
        fgrad.eval_jaxpr(closed.jaxpr, closed.consts, x)[0], np.var(x, ddof=1)
    )
    np.testing.assert_allclose(fgrad.jit(lambda x: x.var(ddof=1))(x), np.var(x, ddof=1))
    want = 2 * (x - x.mean()) / x.size  # d var / dx
    for label, g in [
        ("grad", fgrad.grad(lambda x: x.var())),
        ("jit(grad)", fgrad.jit(fgrad.grad(lambda x: x.var()))),
        ("grad(jit)", fgrad.grad(fgrad.jit(lambda x: x.var()))),
    ]:
        np.testing.assert_allclose(g(x), want, rtol=1e-14, err_msg=label)
