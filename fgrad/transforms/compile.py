"""Compiling a function for ``jit``: its signature, its abstract trace, its replay.

:func:`signature` is what a compiled program is specialised to; :func:`compile_replay`
traces a function on abstract values (as ``make_jaxpr`` does, weak types kept),
optimises the jaxpr (:mod:`fgrad.transforms.optimize`) and generates its replay
(:mod:`fgrad.transforms.codegen`, fused by :mod:`fgrad.transforms.fusion` where numba
is installed). ``jit`` compiles the function it wraps this way,
and, under another transform, that transform of it (:mod:`fgrad.transforms.jit_rules`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.errors import TransformError
from fgrad.core.pytree import PyTreeDef, tree_unflatten
from fgrad.transforms.codegen import Replay
from fgrad.transforms.fusion import TieredProgram, program
from fgrad.transforms.make_jaxpr import JitTrace, is_traceable, stage
from fgrad.transforms.numpy_random_guard import warn_on_numpy_draws
from fgrad.transforms.optimize import optimize


def signature(flat: list) -> tuple[tuple, backend.Backend]:
    """What a compiled program is specialised to, per argument leaf (shape, dtype, weak
    type), and the device of the leaves; a leaf that is not an array or number is an error."""
    if all(type(x) is np.ndarray for x in flat):  # the common case, checked quickly
        return tuple((x.shape, x.dtype, False) for x in flat), backend.CPU
    for x in flat:
        if not is_traceable(x):
            raise TransformError(
                f"jit: an argument leaf of type {type(x).__name__} ({x!r:.60}) is not an "
                "array or a number, so it cannot be traced; make it static (static_argnums "
                "or static_argnames), or close over it"
            )
    device = backend.common_backend(flat, "the arguments of a jit-compiled function")
    avals = [get_aval(x) for x in flat]
    return tuple((a.shape, a.dtype, a.weak_type) for a in avals), device


def compile_replay(
    call: Callable, flat: list, in_tree: PyTreeDef, name: str, user_fun: Callable | None = None
) -> Replay | TieredProgram | None:
    """The optimised replay of ``call(tree)``, ``tree`` being ``in_tree`` with abstract
    values of ``flat`` (with numba, one that fuses its elementwise clusters once it is
    called repeatedly: :mod:`fgrad.transforms.fusion`); None where it closes over tracers
    of enclosing transforms (such a trace could not be reused). ``user_fun`` is the
    function named in warnings."""
    trace = JitTrace()
    with warn_on_numpy_draws(user_fun or call):
        closed = stage(trace, call, flat, [get_aval(x) for x in flat], in_tree)
    if trace.closes_over_tracers:
        return None
    with backend.on_device(trace.device):  # constants folded now land with the inputs
        return program(optimize(closed), name)


def run_replay(replay: Replay | TieredProgram, flat: list):
    """``replay``'s outputs on the leaves ``flat``, as the pytree its function returned."""
    return tree_unflatten(replay.closed.out_tree, replay(flat))
