"""Compiling a function for ``jit``: its signature, its abstract trace, its replay.

:func:`signature` is what a compiled program is specialised to; :func:`compile_replay`
traces a function on abstract values (as ``make_jaxpr`` does, weak types kept),
optimises the jaxpr (:mod:`fgrad.transforms.optimize`) and generates its replay
(:mod:`fgrad.transforms.codegen`, fused by :mod:`fgrad.transforms.fusion` where numba
is installed). ``jit`` compiles the function it wraps this way,
and, under another transform, that transform of it (:mod:`fgrad.transforms.jit_rules`).
"""

from __future__ import annotations

import functools
import operator
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


#: the argument types whose abstract value the type alone decides: shape ``()``, one dtype,
#: weakly typed for Python's scalars only (NumPy's ``float64`` subclasses ``float`` but is
#: strongly typed, as in NumPy)
_SCALAR_TYPES = frozenset(
    [bool, int, float, complex, np.bool_, np.longdouble, np.clongdouble]
    + [np.dtype(c).type for c in "bBhHiIlLqQefdFD"]
)


def call_key(args: tuple) -> tuple:
    """A cheap key of top-level arguments: an array's shape and dtype, anything else's type.
    Equal to a key :func:`fast_key` accepted, it decides the arguments' signature."""
    return tuple([(x.shape, x.dtype) if type(x) is np.ndarray else type(x) for x in args])


def fast_key(args: tuple) -> tuple | None:
    """:func:`call_key` of arguments that are all NumPy arrays or scalars (so each is a
    leaf, and the key fixes its shape, dtype and weak type); None for any other."""
    key = call_key(args)
    if all(type(k) is tuple or k in _SCALAR_TYPES for k in key):
        return key
    return None


def unflattener(replay: Replay | TieredProgram) -> Callable[[list], object]:
    """What turns ``replay``'s flat outputs into its function's result, computed once."""
    out_tree = replay.closed.out_tree
    marker = object()
    if out_tree.num_leaves == 1 and tree_unflatten(out_tree, [marker]) is marker:
        return operator.itemgetter(0)
    return functools.partial(tree_unflatten, out_tree)


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
