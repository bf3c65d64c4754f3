"""A differential fuzzer of fgrad's transforms against JAX and finite differences.

Random straight-line programs (:mod:`fuzz.programs`) over the part of the NumPy
API that ``fgrad.numpy`` and ``jax.numpy`` share (elementwise math in safe
domains, broadcasting, reductions, shapes, indexing and ``.at`` updates,
products, linear algebra, FFTs, complex intermediates, some eighty further
``numpy`` functions), plus ``fgrad.lax`` / ``jax.lax`` control flow (``cond``,
``switch``, ``fori_loop``, ``while_loop``, ``scan``, ``map``), with integers,
booleans, size-0 axes and Python numbers among the values, in float64 and
float32, are run under thirty-eight transform combinations
(:mod:`fuzz.combinations`: eager, ``jit`` (static and Python-scalar
arguments, replays), ``jit`` on the fused tier (``fgrad_fuse="force"``: numba
kernels, alone and with ``grad``, ``vmap`` and Python numbers), Python numbers
as traced arguments of ``jit``, ``vmap``, ``grad`` and ``jvp`` (weakly typed,
as NumPy and JAX take them), ``vmap`` (axes first and last), ``grad``, ``jit(grad)``,
``grad(jit)``, ``vmap(grad)``, ``grad(vmap)``, ``jvp``, ``vjp``,
``linearize``, ``jacfwd``, ``jacrev``, ``hessian``, ``grad(grad)``,
``make_jaxpr`` then ``eval_jaxpr``, ...). :mod:`fuzz.runner` compares each
answer with the same combination run on central finite differences (``vmap``
as a Python loop, ``jit`` as the plain function) and with JAX in float64;
finite differences decide who is wrong where fgrad and JAX differ.
:mod:`fuzz.known` lists the open bugs it keeps finding, to leave out while
looking for new ones, and the differences from JAX that are NumPy's on purpose.

Run from the repository root::

    python -m tests.fuzz --programs 400            # seeds 0..399, against JAX
    python -m tests.fuzz --programs 400 --jax tiebreak  # JAX only to judge disagreements
    python -m tests.fuzz --programs 50 --jax none   # finite differences only
    python -m tests.fuzz --seeds 17 --verbose      # one program, printed, every finding
    python -m tests.fuzz --programs 400 --skip-known  # leave out programs of fuzz.known

It prints each finding, shrunk to the shortest prefix of its program that still
shows it, and exits with status 1 if fgrad was wrong, crashed or warned.
``tests/test_fuzz_transforms.py`` runs a small fixed sample in the test suite.
"""

from .combinations import COMBINATIONS
from .programs import OPS, Program, build, generate
from .runner import Finding, check, shrink

__all__ = ["COMBINATIONS", "OPS", "Finding", "Program", "build", "check", "generate", "shrink"]
