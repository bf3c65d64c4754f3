"""``Tracer.is_weakly_typed``: every kind of tracer answers as its abstract value does, and
``fgrad.numpy``'s ``as_array`` makes a weakly typed tracer strong, whatever the transform."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.numpy.conversion import as_array


def _seen(run):
    """Run ``run(probe)``; return what ``probe`` saw of its traced argument."""
    seen = []

    def probe(x):
        converted = as_array(x)
        seen.append((x.is_weakly_typed(), x.aval.weak_type, converted.is_weakly_typed()))
        return converted.aval.weak_type, converted.dtype, x * 1.0

    run(lambda x: probe(x)[2])
    return seen


# (composition, is the traced argument a weakly typed value?)
COMPOSITIONS = {
    "jit of a Python float": (lambda p: fgrad.jit(p)(2.0), True),
    "jit of an array": (lambda p: fgrad.jit(p)(np.ones(3)), False),
    "grad inside jit": (lambda p: fgrad.jit(fgrad.grad(p))(2.0), True),
    "jvp inside jit": (lambda p: fgrad.jit(lambda s: fgrad.jvp(p, (s,), (1.0,)))(2.0), True),
    "vjp inside jit": (lambda p: fgrad.jit(lambda s: fgrad.vjp(p, s)[0])(2.0), True),
    "vmap inside jit": (lambda p: fgrad.jit(fgrad.vmap(p))(np.ones(3)), False),
    "grad": (lambda p: fgrad.grad(p)(2.0), True),
    "jvp": (lambda p: fgrad.jvp(p, (2.0,), (1.0,)), True),
    "vmap": (lambda p: fgrad.vmap(p)(np.ones(3)), False),
    "make_jaxpr": (lambda p: fgrad.make_jaxpr(p)(2.0), True),
    "grad of jit": (lambda p: fgrad.grad(fgrad.jit(p))(2.0), True),
    "vmap of grad": (lambda p: fgrad.vmap(fgrad.grad(p))(np.ones(3)), False),
}


@pytest.mark.parametrize("name", sorted(COMPOSITIONS))
def test_answer_agrees_with_the_abstract_value(name):
    run, weak = COMPOSITIONS[name]
    seen = _seen(run)
    assert seen, "the probe was not traced"
    for is_weak, aval_weak, converted_weak in seen:
        assert is_weak == aval_weak == weak
        assert not converted_weak  # as_array hands the primitives strongly typed arrays


@pytest.mark.parametrize("name", ["grad inside jit", "jvp inside jit", "vjp inside jit"])
def test_as_array_of_a_weak_tracer_keeps_dtype_and_values(name):
    """The conversion changes the weak type only: dtype and derivative stay."""
    run, _ = COMPOSITIONS[name]
    dtypes = []

    def f(x):
        y = as_array(x)
        dtypes.append(y.dtype)
        return fnp.sum(fnp.reshape(y, (1,)) * np.array([3.0]))

    np.testing.assert_array_equal(fgrad.jit(fgrad.grad(f))(2.0), 3.0)
    run(f)
    assert dtypes and all(d == np.float64 for d in dtypes)


def test_eager_and_jit_promote_alike_after_as_array():
    """A Python scalar made an array by fgrad.numpy (here by reshape) promotes as an
    array, eagerly and as a weakly typed jit input, also under grad inside jit."""
    a32 = np.ones(3, np.float32)

    def f(s):
        return fnp.sum(fnp.reshape(s, (1,)) * a32)

    eager = np.asarray(f(2.0)).dtype
    assert eager == np.float64
    assert np.asarray(fgrad.jit(f)(2.0)).dtype == eager
    assert np.asarray(fgrad.jit(fgrad.grad(f))(2.0)).dtype == np.asarray(fgrad.grad(f)(2.0)).dtype
