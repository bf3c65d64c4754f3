"""The NaN/inf checker (``jax_debug_nans``, ``fgrad.debug_nans()``): a planted NaN, forward
or backward, eager, under ``jit``, ``vmap`` and their compositions with ``grad``, is
reported at the primitive that made it and at the line of this file that applied it."""

from __future__ import annotations

import re

import helpers
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core.config import flags
from fgrad.transforms.reverse_mode import GradTrace, vjp_on

HERE = "test_debug_nans.py"
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own NaN warnings


def line_of(marker: str) -> int:
    return helpers.line_of(__file__, marker)


@pytest.fixture(autouse=True)
def _flags_off():
    yield
    fgrad.config.update("jax_debug_nans", False)
    fgrad.config.update("jax_debug_infs", False)


# -- planted programs ------------------------------------------------------------------


def log_of_negative(x):
    y = x * 2.0
    z = fnp.log(y - 1.0)  # PLANT-FORWARD
    return fnp.sum(z)


def sqrt_at_zero(x):
    y = fnp.sqrt(x)  # PLANT-BACKWARD
    return fnp.sum(y * 0.0) + fnp.sum(x)  # the zero cotangent meets sqrt's 1/0 at x = 0


def scalar_sqrt_at_zero(x):
    y = fnp.sqrt(x)  # PLANT-SCALAR
    return y * 0.0


def forward_error(call) -> str:
    with fgrad.debug_nans(), pytest.raises(FloatingPointError) as info:
        call()
    return str(info.value)


def assert_forward(message: str) -> None:
    assert message.startswith("`log` produced NaN at "), message
    assert f"{HERE}:{line_of('PLANT-FORWARD')} (log_of_negative)" in message
    assert "`z = fnp.log(y - 1.0)  # PLANT-FORWARD`" in message


def assert_backward(message: str) -> None:
    assert message.startswith("the derivative of `sqrt`"), message
    assert "in the backward pass" in message
    assert f"{HERE}:{line_of('PLANT-BACKWARD')} (sqrt_at_zero)" in message
    assert "`y = fnp.sqrt(x)  # PLANT-BACKWARD`" in message


X = np.array([0.25, 1.0, 2.0])  # 2x - 1 = -0.5 at the first: log of a negative
ZERO_AT_0 = np.array([0.0, 1.0, 4.0])


# -- the forward pass ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: log_of_negative(X),
        lambda: fgrad.jit(log_of_negative)(X),
        lambda: fgrad.grad(log_of_negative)(X),
        lambda: fgrad.grad(fgrad.jit(log_of_negative))(X),
        lambda: fgrad.jit(fgrad.grad(log_of_negative))(X),
        lambda: fgrad.vmap(log_of_negative)(np.stack([X + 1.0, X])),
        lambda: fgrad.grad(lambda b: fgrad.vmap(log_of_negative)(b).sum())(np.stack([X, X])),
        lambda: fgrad.vmap(fgrad.grad(log_of_negative))(np.stack([X, X])),
        lambda: fgrad.jvp(log_of_negative, (X,), (np.ones(3),)),
    ],
    ids=["eager", "jit", "grad", "grad-jit", "jit-grad", "vmap", "grad-vmap", "vmap-grad", "jvp"],
)
def test_a_forward_nan_names_the_primitive_and_the_planting_line(call):
    assert_forward(forward_error(call))


def test_the_forward_message_summarises_the_inputs_and_the_result():
    message = forward_error(lambda: log_of_negative(X))
    # log's input is y - 1 = 2x - 1, printed in full (three values), its result has the NaN
    assert re.search(r"input 0: f64\[3\] = \[-0\.5\s+1\.\s+3\.\s*\]", message), message
    assert re.search(r"result: f64\[3\] = \[\s*nan\s+0\.\s+1\.0986\s*\]", message), message
    assert "jax_debug_nans is on" in message


def test_a_large_input_is_summarised_by_range_and_counts():
    x = np.linspace(-2.0, 2.0, 100)
    x[0] = np.inf  # now 49 negative values: 49 NaNs out of log, and log(inf) = inf
    message = forward_error(lambda: fnp.log(x))
    assert "input 0: f64[100] in [-1.96, 2] where finite, 0 NaN, 1 inf" in message
    # the smallest positive input is 2/99: log(2/99) = -3.902
    assert "result: f64[100] in [-3.902, 0.6931] where finite, 49 NaN, 1 inf" in message


# -- the backward pass -----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: fgrad.grad(sqrt_at_zero)(ZERO_AT_0),
        lambda: fgrad.grad(fgrad.jit(sqrt_at_zero))(ZERO_AT_0),
        lambda: fgrad.jit(fgrad.grad(sqrt_at_zero))(ZERO_AT_0),
        lambda: fgrad.vjp(sqrt_at_zero, ZERO_AT_0)[1](1.0),
        lambda: fgrad.grad(lambda b: fgrad.vmap(sqrt_at_zero)(b).sum())(np.stack([X, ZERO_AT_0])),
        lambda: fgrad.vmap(fgrad.grad(sqrt_at_zero))(np.stack([X, ZERO_AT_0])),
        lambda: fgrad.jit(fgrad.vmap(fgrad.grad(sqrt_at_zero)))(np.stack([X, ZERO_AT_0])),
    ],
    ids=["grad", "grad-jit", "jit-grad", "vjp", "grad-vmap", "vmap-grad", "jit-vmap-grad"],
)
def test_a_backward_nan_names_the_forward_equation_and_its_line(call):
    # the forward pass is finite: sqrt(0) = 0, and 0 * 0 = 0
    np.testing.assert_array_equal(sqrt_at_zero(ZERO_AT_0), 5.0)
    assert_backward(forward_error(call))


def test_the_backward_message_gives_the_point_and_the_cotangent():
    message = forward_error(lambda: fgrad.grad(scalar_sqrt_at_zero)(0.0))
    assert message.startswith("the derivative of `sqrt` at 0.0 produced NaN"), message
    assert f"{HERE}:{line_of('PLANT-SCALAR')} (scalar_sqrt_at_zero)" in message
    assert "incoming cotangent: f64[] = 0.0" in message
    assert "the rule returned: f64[] = nan" in message


def test_debug_infs_finds_the_infinite_derivative_of_sqrt_at_zero():
    # d sqrt(x)/dx = 1 / (2 sqrt(x)) = inf at 0: no NaN anywhere, so only debug_infs sees it
    def f(x):
        return fnp.sqrt(x)  # PLANT-INF

    with fgrad.debug_nans():
        assert fgrad.grad(f)(0.0) == np.inf
    with fgrad.debug_infs(), pytest.raises(FloatingPointError) as info:
        fgrad.grad(f)(0.0)
    message = str(info.value)
    assert message.startswith("the derivative of `sqrt` at 0.0 produced inf"), message
    assert f"{HERE}:{line_of('PLANT-INF')} (f)" in message
    assert "jax_debug_infs is on" in message


def test_a_custom_vjp_rule_that_makes_a_nan_is_named_at_the_call():
    @fgrad.custom_vjp
    def clip_grad(x):
        return x

    clip_grad.defvjp(lambda x: (x, None), lambda _, g: (g * np.nan,))

    def f(x):
        return clip_grad(x) * 3.0  # PLANT-CUSTOM

    message = forward_error(lambda: fgrad.grad(f)(1.0))
    assert message.startswith("the derivative of `custom_call`"), message
    assert f"{HERE}:{line_of('PLANT-CUSTOM')} (f)" in message


def test_a_nan_in_a_scan_body_is_named_in_the_body():
    def body(carry, x):
        return carry + x, fnp.log(x)  # PLANT-SCAN

    xs = np.array([1.0, 2.0, -1.0])
    message = forward_error(lambda: fgrad.lax.scan(body, 0.0, xs))
    assert message.startswith(f"`log` produced NaN at {HERE}:{line_of('PLANT-SCAN')} (body)")
    assert "input 0: f64[] = -1.0" in message  # the third step, not the first two


# -- off by default, and nothing changes when nothing is NaN ------------------------------


def test_off_by_default_the_nans_flow_through():
    assert not flags.debug_nans and not flags.debug_infs
    assert np.isnan(log_of_negative(X))
    g = fgrad.grad(sqrt_at_zero)(ZERO_AT_0)
    assert np.isnan(g[0]) and g[1] == pytest.approx(1.0) and g[2] == pytest.approx(1.0)


def test_the_context_manager_restores_the_flag_after_an_error():
    with pytest.raises(FloatingPointError), fgrad.debug_nans():
        assert flags.debug_nans
        log_of_negative(X)
    assert not flags.debug_nans
    with fgrad.debug_nans(False):
        assert not flags.debug_nans
    fgrad.config.update("jax_debug_nans", True)
    with fgrad.debug_nans(False):
        assert not flags.debug_nans
    assert flags.debug_nans


def test_finite_gradients_are_unchanged_by_the_checker():
    def f(w):
        return fnp.sum(fnp.tanh(w @ w.T)) * fnp.sum(fnp.sqrt(w * w + 1.0))

    w = np.random.default_rng(0).normal(size=(3, 4))
    plain = fgrad.grad(f)(w)
    with fgrad.debug_nans(), fgrad.debug_infs():
        checked = fgrad.grad(f)(w)
        batched = fgrad.vmap(fgrad.grad(f))(np.stack([w, w]))
    np.testing.assert_array_equal(checked, plain)
    np.testing.assert_array_equal(batched[1], plain)
    # and the gradient itself is right: central differences in float64
    eps, e = 1e-6, np.zeros_like(w)
    e[1, 2] = eps
    assert plain[1, 2] == pytest.approx((f(w + e) - f(w - e)) / (2 * eps), rel=1e-7)


def test_the_tape_records_source_lines_only_while_a_flag_is_on():
    trace = GradTrace()
    vjp_on(trace, sqrt_at_zero, X)
    assert trace.sources == {}
    trace = GradTrace()
    with fgrad.debug_nans():
        vjp_on(trace, sqrt_at_zero, X)
    lines = {s.line for s in trace.sources.values()}
    assert line_of("PLANT-BACKWARD") in lines
