"""A differential fuzzer of fgrad's transforms against JAX and finite differences.

Random straight-line programs (:mod:`fuzz.programs`) over the part of the NumPy
API that ``fgrad.numpy`` and ``jax.numpy`` share, plus ``fgrad.lax`` /
``jax.lax`` control flow (``cond``, ``switch``, ``fori_loop``, ``while_loop``,
``scan``, ``map``), are run under some twenty transform combinations
(:mod:`fuzz.combinations`: eager, ``jit``, ``vmap``, ``grad``, ``jit(grad)``,
``grad(jit)``, ``vmap(grad)``, ``grad(vmap)``, ``jvp``, ``vjp``, ``linearize``,
``jacfwd``, ``jacrev``, ``hessian``, ``grad(grad)``, ``make_jaxpr`` then
``eval_jaxpr``, ...). :mod:`fuzz.runner` compares each answer with JAX's in
float64 and, where they differ or JAX refuses, with the same combination run on
central finite differences, which decide who is wrong. Without JAX, every
answer is compared with finite differences (and ``vmap`` with a Python loop),
so fgrad's modes are checked against each other.

Run from the repository root::

    python -m tests.fuzz --programs 400            # seeds 0..399, against JAX
    python -m tests.fuzz --programs 400 --jax tiebreak  # JAX only to judge disagreements
    python -m tests.fuzz --programs 50 --jax none   # finite differences only
    python -m tests.fuzz --seeds 17 --verbose      # one program, printed, every finding

It prints each finding, shrunk to the shortest prefix of its program that still
shows it, and exits with status 1 if there was any. ``tests/test_fuzz_transforms.py``
runs a small fixed sample as part of the test suite.
"""

from .combinations import COMBINATIONS
from .programs import OPS, Program, build, generate
from .runner import Finding, check, shrink

__all__ = ["COMBINATIONS", "OPS", "Finding", "Program", "build", "check", "generate", "shrink"]
