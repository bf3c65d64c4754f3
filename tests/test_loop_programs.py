"""The loop programs of ``benchmarks/loops.py`` at tiny sizes: right, and the same in every mode.

The stiff-ODE gradient (``scan`` of backward-Euler steps, each a ``fori_loop`` of Newton
iterations with a ``jacfwd`` Jacobian) is checked against central differences of an independent
NumPy forward pass; the HMC chain (``scan`` of transitions, ``fori_loop`` leapfrog, ``grad`` of
the log density, accept by ``where``) against the same chain in NumPy with the hand-written
gradient. Eager, ``jit(grad)`` and ``grad(jit)`` must agree to rounding.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import import_file, numerical_grad

import fgrad

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_loops():
    # loops.py imports its siblings (harness, frameworks) by name, as the benchmark scripts do.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        module = import_file(BENCHMARKS / "loops.py", "benchmark_loops")
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


loops = _load_loops()
FGRAD = loops.fgrad_lib()
ODE = loops.OdeSize(steps=5, newton=2)
HMC = loops.HmcSize(steps=5, leapfrog=2, step_size=0.3)
"""Step size 0.3: three of the five proposals are accepted, so both sides of ``where`` count."""


def _ode_grad(mode: str):
    loss = functools.partial(loops.ode_loss, FGRAD, size=ODE)
    return {
        "grad": fgrad.grad(loss),
        "jit(grad)": fgrad.jit(fgrad.grad(loss)),
        "grad(jit)": fgrad.grad(fgrad.jit(loss)),
    }[mode]


@pytest.mark.parametrize("mode", ["grad", "jit(grad)", "grad(jit)"])
def test_ode_gradient_matches_finite_differences(mode):
    data = loops.ode_data(ODE)
    got = _ode_grad(mode)(*data)
    numpy_loss = functools.partial(loops.numpy_ode_loss, size=ODE)
    expected = numerical_grad(numpy_loss, *data, eps=1e-5)
    assert np.all(np.abs(expected) > 1e-3)  # every rate matters: no vacuous comparison
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("mode", ["jit(grad)", "grad(jit)"])
def test_ode_gradient_compiled_equals_eager(mode):
    data = loops.ode_data(ODE)
    np.testing.assert_allclose(_ode_grad(mode)(*data), _ode_grad("grad")(*data), rtol=1e-12)


@pytest.mark.parametrize("jit", [False, True])
def test_ode_trajectory_matches_numpy(jit):
    log_k, y0, _, _ = loops.ode_data(ODE)
    trajectory = functools.partial(loops.ode_trajectory, FGRAD, size=ODE)
    got = (fgrad.jit(trajectory) if jit else trajectory)(log_k, y0)
    expected = loops.numpy_ode_trajectory(log_k, y0, ODE)
    assert got.shape == (ODE.steps, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-20)


@pytest.mark.parametrize("jit", [False, True])
def test_hmc_chain_matches_numpy(jit):
    data = loops.hmc_data(HMC)
    chain = functools.partial(loops.hmc_chain, FGRAD, size=HMC)
    samples, rate = (fgrad.jit(chain) if jit else chain)(*data)
    expected_samples, expected_rate = loops.numpy_hmc_chain(*data, HMC)
    assert 0.0 < expected_rate < 1.0
    assert float(rate) == expected_rate
    assert samples.shape == (HMC.steps, HMC.features)
    np.testing.assert_allclose(samples, expected_samples, rtol=1e-12, atol=1e-14)


def test_hmc_jit_equals_eager():
    data = loops.hmc_data(HMC)
    chain = functools.partial(loops.hmc_chain, FGRAD, size=HMC)
    for got, want in zip(fgrad.jit(chain)(*data), chain(*data)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_relative_difference_is_per_leaf_and_catches_small_errors():
    want = (np.array([1.0, -2.0]), np.array([1e-6, 0.0]))
    assert loops.relative_difference(want, want) == 0.0
    assert loops.relative_difference((want[0], np.array([1.1e-6, 0.0])), want) == pytest.approx(0.1)
    assert loops.relative_difference((np.ones(3), want[1]), want) == float("inf")
    assert loops.relative_difference(want[:1], want) == float("inf")
    assert loops.relative_difference((want[0], np.array([np.nan, 0.0])), want) == float("inf")


def test_fgrad_rows_run_and_agree():
    programs = [loops.ode_program(ODE), loops.hmc_program(HMC)]
    for program in programs:
        rows, lines = loops.run_program(program, ["fgrad"], repeat=1, first_repeat=1)
        assert [(r.label, r.status) for r in rows] == [("fgrad", "ok"), ("fgrad (jit)", "ok")]
        assert all(r.first > 0 and r.steady > 0 for r in rows)
        assert "fgrad (jit) vs fgrad: " in "\n".join(lines)


def test_cli_quick_fgrad_only_writes_markdown(tmp_path):
    path = tmp_path / "loops.md"
    args = ["--quick", "--framework", "fgrad", "--repeat", "1", "--system-malloc"]
    assert loops.main([*args, "--markdown", str(path)]) == 0
    text = path.read_text()
    assert "## ode" in text and "## hmc" in text and "| fgrad (jit) |" in text


def test_against_jax():
    jax = pytest.importorskip("jax")
    x64 = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", True)
        jax_lib = loops.jax_lib()
        for program in (loops.ode_program(ODE), loops.hmc_program(HMC)):
            ours = program.build(FGRAD)(*program.args)
            theirs = jax_lib.jit(program.build(jax_lib))(*map(jax_lib.asarray, program.args))
            assert loops.relative_difference(theirs, ours) <= 1e-12
    finally:
        jax.config.update("jax_enable_x64", x64)
