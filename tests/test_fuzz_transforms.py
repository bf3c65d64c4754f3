"""A fixed-seed sample of the differential fuzzer (``tests/fuzz``) in the test suite.

Random programs over the NumPy API that fgrad and JAX share run under every
transform combination of ``fuzz.COMBINATIONS`` (eager, jit, vmap, grad and their
compositions, jvp, vjp, linearize, jacobians, hessian, make_jaxpr + eval_jaxpr).
Always: each answer against the same combination on central finite differences
(and vmap against a Python loop, jit and make_jaxpr against eager, exactly).
With JAX installed: against JAX in float64, finite differences deciding where
they differ. The longer run is ``python -m tests.fuzz --programs 400``.
"""

from __future__ import annotations

import pytest
from fuzz import COMBINATIONS, check, generate
from fuzz.known import known_open


def _sample(seeds: range) -> list:
    programs = [generate(seed) for seed in seeds]
    kept = [p for p in programs if not known_open(p)]
    assert len(kept) >= 0.7 * len(programs)  # the exclusions stay narrow
    return kept


# the fused tier compiles numba kernels for each program (seconds each): a sample of its own
UNFUSED = [name for name in COMBINATIONS if "fused" not in name]
FUSED = [name for name in COMBINATIONS if "fused" in name]


def _failures(findings) -> list[str]:
    return [str(f) for f in findings if f.kind not in ("refused", "jax-differs")]


@pytest.mark.parametrize("block", range(4))
def test_fgrad_transforms_agree_with_finite_differences(block):
    failures = []
    for program in _sample(range(1000 + 8 * block, 1008 + 8 * block)):
        failures += _failures(check(program, UNFUSED, jax="none"))
    assert not failures, "\n\n".join(failures)


def test_fgrad_transforms_agree_with_jax():
    pytest.importorskip("jax")
    failures = []
    for program in _sample(range(2000, 2006)):
        failures += _failures(check(program, UNFUSED, jax="tiebreak"))
    assert not failures, "\n\n".join(failures)


def test_the_fused_tier_agrees_with_eager_and_finite_differences():
    """jit on the fused tier (numba kernels from the first call; the replay without
    numba): values and dtypes exactly as eager, gradients as finite differences."""
    failures = []
    for program in _sample(range(3000, 3001)):
        failures += _failures(check(program, FUSED, jax="none"))
    assert not failures, "\n\n".join(failures)


def test_the_vocabulary_is_exercised():
    """The sample reaches the control flow and the broad API, not only arithmetic."""
    names = set()
    for seed in range(1000, 1032):
        names |= generate(seed).names()
    assert {"cond", "switch", "scan", "api", "getitem", "at"} <= names
    assert names & {"fori_loop", "fori_loop_pair", "while_loop", "while_value"}
    assert len(names) >= 40
