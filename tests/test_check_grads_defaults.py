"""``check_grads``'s float64 defaults are as tight as central differences allow: a rule off
by a few millionths relative fails, the exact rule passes, in both modes and order 2."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads


def _sin_with_rule(scale: float):
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), fnp.cos(x) * t * scale

    return f


def _exp_with_vjp(scale: float):
    @fgrad.custom_vjp
    def f(x):
        return fnp.exp(x)

    f.defvjp(lambda x: (fnp.exp(x), fnp.exp(x)), lambda e, g: (g * e * scale,))
    return f


X = np.array([0.3, -1.2, 2.0])


def test_exact_rules_pass_in_float64():
    check_grads(_sin_with_rule(1.0), (X,), order=2)
    check_grads(_exp_with_vjp(1.0), (X,), order=1, modes=("rev",))


@pytest.mark.parametrize("off", [5e-6, -2e-6])
def test_a_jvp_rule_off_by_millionths_fails(off):
    with pytest.raises(AssertionError, match="check_grads"):
        check_grads(_sin_with_rule(1.0 + off), (X,), order=1, modes=("fwd",))


@pytest.mark.parametrize("off", [5e-6, -2e-6])
def test_a_vjp_rule_off_by_millionths_fails(off):
    with pytest.raises(AssertionError, match="check_grads"):
        check_grads(_exp_with_vjp(1.0 + off), (X,), order=1, modes=("rev",))


def test_float32_defaults_still_pass_exact_rules():
    check_grads(lambda x: fnp.tanh(x) * fnp.exp(x), (X.astype(np.float32),), order=2)
