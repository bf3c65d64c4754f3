"""fgrad.config (JAX's flag names), the default device, block_until_ready."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from strict_backend import BACKEND as STRICT
from strict_backend import StrictArray

import fgrad
import fgrad.numpy as fnp
from fgrad.core import backend
from fgrad.core.config import ConfigError


@pytest.fixture(autouse=True)
def _restore_config():
    """Every test starts and ends with the flags at their defaults."""
    yield
    for name in ("jax_disable_jit", "jax_debug_nans", "jax_debug_infs", "jax_log_compiles"):
        fgrad.config.update(name, False)
    fgrad.config.update("jax_default_device", None)


# -- reading and setting flags ----------------------------------------------------------


def test_defaults_read_as_attributes_and_by_name():
    assert fgrad.config.jax_enable_x64 is True
    assert fgrad.config.jax_disable_jit is False
    assert fgrad.config.read("jax_numpy_rank_promotion") == "allow"
    assert "jax_debug_nans" in dir(fgrad.config)


def test_unknown_flag_lists_the_known_ones():
    with pytest.raises(ConfigError, match="no flag 'jax_enable_x46'") as err:
        fgrad.config.update("jax_enable_x46", True)
    for name in fgrad.config.flag_names():
        assert name in str(err.value)
    with pytest.raises(ConfigError, match="jax_disable_jit"):
        fgrad.config.jax_disable_jt  # noqa: B018


def test_config_attributes_are_read_only():
    with pytest.raises(AttributeError, match=r"fgrad.config.update\('jax_disable_jit'"):
        fgrad.config.jax_disable_jit = True


def test_enable_x64_true_is_accepted_false_explained():
    fgrad.config.update("jax_enable_x64", True)
    assert fnp.asarray(1.5).dtype == np.float64
    with pytest.raises(ConfigError, match="float64") as err:
        fgrad.config.update("jax_enable_x64", False)
    assert "float32" in str(err.value)
    assert fgrad.config.jax_enable_x64 is True


def test_boolean_flags_refuse_other_values():
    with pytest.raises(ConfigError, match="True or False, got 'yes'"):
        fgrad.config.update("jax_disable_jit", "yes")


def test_accepted_flags_without_effect():
    fgrad.config.update("jax_default_matmul_precision", "highest")
    assert fgrad.config.jax_default_matmul_precision == "highest"
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(fgrad.jit(fnp.matmul)(a, a.T), a @ a.T)
    fgrad.config.update("jax_default_matmul_precision", None)
    with pytest.raises(ConfigError, match="one of"):
        fgrad.config.update("jax_default_matmul_precision", "fastest-ever")


def test_unenforced_stricter_settings_warn():
    with pytest.warns(UserWarning, match="not enforced"):
        fgrad.config.update("jax_numpy_rank_promotion", "raise")
    fgrad.config.update("jax_numpy_rank_promotion", "allow")
    assert fgrad.config.jax_numpy_rank_promotion == "allow"


# -- jax_disable_jit ----------------------------------------------------------------------


def test_disable_jit_runs_the_function_each_call_with_values():
    calls = []

    @fgrad.jit
    def f(x):
        calls.append(1)
        if float(x.sum()) > 0:  # Python control flow on a value: only eagerly
            return x * 2.0
        return -x

    x = np.array([1.0, 2.0])
    with fgrad.disable_jit():
        assert fgrad.config.jax_disable_jit is True
        np.testing.assert_array_equal(f(x), 2 * x)
        np.testing.assert_array_equal(f(-x), x)
        # grad through the eager function: d/dx sum(2x) = 2
        np.testing.assert_array_equal(fgrad.grad(lambda v: f(v).sum())(x), [2.0, 2.0])
    assert len(calls) == 3
    assert fgrad.config.jax_disable_jit is False
    with pytest.raises(fgrad.ConcretizationError):
        f(x)


def test_disable_jit_gives_the_jitted_results():
    def f(w, x):
        return fnp.tanh(x @ w).sum() ** 2

    w = np.linspace(-1, 1, 6).reshape(3, 2)
    x = np.linspace(0, 2, 12).reshape(4, 3)
    jitted = fgrad.jit(fgrad.value_and_grad(f))
    v1, g1 = jitted(w, x)
    fgrad.config.update("jax_disable_jit", True)
    v2, g2 = jitted(w, x)
    np.testing.assert_allclose(v1, v2, rtol=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-13)


# -- jax_debug_nans / jax_debug_infs ------------------------------------------------------


def test_debug_nans_names_the_primitive_eagerly_under_grad_and_jit():
    x = np.array([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        assert np.isnan(fnp.log(x)[1])  # off: NumPy's NaN, no error
        fgrad.config.update("jax_debug_nans", True)
        where = r"`log` produced NaN at test_config_devices.py:\d+"
        with pytest.raises(FloatingPointError, match=where):
            fnp.log(x)
        with pytest.raises(FloatingPointError, match="`log` produced NaN"):
            fgrad.grad(lambda v: fnp.log(v).sum())(x)
        with pytest.raises(FloatingPointError, match="`sqrt` produced NaN"):
            fgrad.jit(lambda v: fnp.sqrt(v) + 1.0)(x)
    np.testing.assert_allclose(fnp.log(np.array([1.0, np.e])), [0.0, 1.0])


def test_debug_nans_says_when_an_input_already_had_one():
    fgrad.config.update("jax_debug_nans", True)
    with pytest.raises(FloatingPointError, match=r"input 0: f64\[2\] = \[ 0. nan\] \(has NaN\)"):
        fnp.sin(np.array([0.0, np.nan]))


def test_debug_infs():
    fgrad.config.update("jax_debug_infs", True)
    with np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="`div` produced"):
        fnp.divide(np.array([1.0]), np.array([0.0]))
    np.testing.assert_array_equal(fnp.divide(np.array([1.0]), np.array([4.0])), [0.25])


def test_debug_nans_ignores_integer_results():
    fgrad.config.update("jax_debug_nans", True)
    np.testing.assert_array_equal(fnp.arange(3) * 2, [0, 2, 4])


# -- jax_log_compiles ---------------------------------------------------------------------


def test_log_compiles_logs_each_trace_once(caplog):
    fgrad.config.update("jax_log_compiles", True)
    f = fgrad.jit(lambda x: x * 3.0)
    with caplog.at_level(logging.WARNING, logger="fgrad"):
        f(np.ones(2))
        f(np.ones(2))  # replay: no new trace
        f(np.ones(3))
    traced = [r.getMessage() for r in caplog.records if r.name == "fgrad"]
    assert len(traced) == 2
    assert "f64[2]" in traced[0] and "f64[3]" in traced[1]


# -- devices ------------------------------------------------------------------------------


def test_device_put_without_device_stays_on_the_cpu():
    x = np.arange(3.0)
    tree = {"a": x, "b": [np.ones(2, np.float32), 2.5]}
    out = fgrad.device_put(tree)
    assert out["a"] is x  # already there: not copied
    assert isinstance(out["b"][0], np.ndarray) and out["b"][0].dtype == np.float32
    assert out["b"][1] == 2.5
    assert fgrad.default_backend() == "cpu"
    assert fgrad.device_count() == 1 == fgrad.local_device_count()


def test_default_device_flag_moves_device_put(strict):
    fgrad.config.update("jax_default_device", "strict")
    out = fgrad.device_put(np.arange(3.0))
    assert isinstance(out, StrictArray)
    np.testing.assert_array_equal(out._data, [0.0, 1.0, 2.0])
    assert fgrad.default_backend() == "strict"
    fgrad.config.update("jax_default_device", None)
    assert isinstance(fgrad.device_put(np.ones(2)), np.ndarray)


def test_default_device_context_manager_restores(strict):
    with fgrad.default_device("strict"):
        assert isinstance(fgrad.device_put(np.ones(2)), StrictArray)
    assert isinstance(fgrad.device_put(np.ones(2)), np.ndarray)
    assert fgrad.config.jax_default_device is None


def test_platform_flags():
    fgrad.config.update("jax_platform_name", "cpu")
    assert fgrad.default_backend() == "cpu"
    with pytest.raises(ConfigError, match="no 'tpu' backend"):
        fgrad.config.update("jax_platforms", "tpu")
    if "gpu" not in fgrad.devices():
        with pytest.raises(ConfigError, match="CuPy"):
            fgrad.config.update("jax_platform_name", "gpu")
        fgrad.config.update("jax_platforms", "cuda,cpu")  # the first usable one
        assert fgrad.default_backend() == "cpu"
    fgrad.config.update("jax_platforms", None)


def test_block_until_ready_returns_the_tree_and_syncs_device_arrays(monkeypatch):
    synced = []
    counting = dataclasses.replace(STRICT, name="counting", synchronize=synced.append)
    monkeypatch.setattr(backend, "_backends", {"counting": counting})  # the only device
    a, b = StrictArray(np.ones(2)), StrictArray(np.zeros(3))
    tree = {"a": a, "rest": (b, np.ones(1), 3.0)}
    assert fgrad.block_until_ready(tree) is tree
    assert synced == [a, b]  # NumPy arrays and scalars need no wait
    x = np.arange(4.0)
    assert fgrad.block_until_ready(x) is x


def test_block_until_ready_method_on_tracers():
    def f(x):
        return (fnp.sin(x) * 2.0).block_until_ready().sum()

    x = np.array([0.1, 0.7])
    np.testing.assert_allclose(fgrad.jit(f)(x), 2 * np.sin(x).sum(), rtol=1e-15)
    np.testing.assert_allclose(fgrad.grad(f)(x), 2 * np.cos(x), rtol=1e-15)
    np.testing.assert_allclose(fgrad.vmap(f)(x[:, None]), 2 * np.sin(x), rtol=1e-15)
    assert fgrad.block_until_ready(fgrad.jit(f)(x)) == fgrad.jit(f)(x)
