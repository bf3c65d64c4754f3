"""The optimiser interface: a pair of pure functions, and how to combine them.

An optimiser is a :class:`GradientTransformation`: ``init(params) -> state``
builds its state (a pytree of arrays) and ``update(updates, state, params)``
turns gradients into updates and returns the next state. Nothing is mutated;
the caller owns the state and passes it back on the next step::

    opt = fgrad.optim.adam(1e-3)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = fgrad.optim.apply_updates(params, updates)

An optimiser is a :func:`chain` of small transformations (``scale_by_adam``
then ``scale_by_learning_rate``), so a variant is a different chain rather than
a new class.

Hyperparameters and learning rates are turned into Python floats before they
touch a leaf. NumPy 2 promotes ``float32_array * np.float64(0.1)`` to float64,
whereas a Python float is a "weak" scalar that keeps the array's dtype; this is
how float32 parameters get float32 updates and states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import fgrad.numpy as fnp
from fgrad.core import backend
from fgrad.core.errors import OptimizerStateError
from fgrad.core.pytree import tree_leaves, tree_map

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "ScalarOrSchedule",
    "Schedule",
    "apply_updates",
    "as_schedule",
    "chain",
    "identity",
    "scale",
]

PyTree = Any
OptState = Any
"""A transformation's state: a pytree (NamedTuples and tuples of arrays)."""

Schedule = Callable[[Any], Any]
"""``schedule(count) -> value``: maps a step count (an int or an integer array)
to a value (a float, or a float array for an array of counts)."""

ScalarOrSchedule = float | Schedule
"""A hyperparameter given either as a fixed number or as a :data:`Schedule`."""


class GradientTransformation(NamedTuple):
    """A gradient transformation: two pure functions that share a state.

    Attributes
    ----------
    init : callable
        ``init(params) -> state``. ``state`` is a pytree that survives
        ``tree_flatten``/``tree_unflatten`` and ``copy.deepcopy``.
    update : callable
        ``update(updates, state, params=None) -> (new_updates, new_state)``.
        ``updates`` has the structure of ``params`` (gradients, for the first
        transformation of a chain). ``params`` is needed only by
        transformations that read the parameters (``add_decayed_weights``).
        Arguments are never modified.
    """

    init: Callable[[PyTree], OptState]
    update: Callable[..., tuple[PyTree, OptState]]


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none (an empty pytree)."""


def python_scalar(x: Any) -> Any:
    """``x`` as a Python number if it is a NumPy scalar or 0-d array, else ``x`` itself.

    Python numbers combine with arrays without changing their dtype; traced
    values (a learning rate being differentiated) are passed through untouched.
    """
    if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0):
        return x.item()
    return x


def scalar_like(x: Any, like: Any) -> Any:
    """``x``, ready to combine with the array ``like`` without changing ``like``'s dtype.

    A NumPy scalar becomes a Python number (see :func:`python_scalar`); a traced one (a
    step size or bias correction computed from the step count under ``jit``) or one on
    another device is cast to ``like``'s floating dtype, which is what the Python number
    does implicitly.
    """
    x = python_scalar(x)
    if hasattr(x, "dtype") and x.dtype != like.dtype and like.dtype.kind in "fc":
        return fnp.astype(x, like.dtype)
    return x


def as_schedule(value: float | Schedule) -> Schedule:
    """``value`` as a schedule: callables are returned as they are, numbers become constant.

    Parameters
    ----------
    value : float or Schedule

    Returns
    -------
    Schedule
        ``value`` itself if it is callable, else ``lambda count: value``.
    """
    if callable(value):
        return value
    constant = python_scalar(value)
    return lambda count: constant


def check_state(state: Any, expected: type, name: str) -> None:
    """Refuse a ``state`` that ``name``'s ``init`` did not make (another optimiser's, say).

    Parameters
    ----------
    state : Any
        The state passed to ``update``.
    expected : type
        The state class the transformation's ``init`` returns.
    name : str
        The transformation, for the message.

    Raises
    ------
    OptimizerStateError
        If ``state`` is not an ``expected`` (a ``TypeError`` and a ``ValueError``).
    """
    if not isinstance(state, expected):
        raise OptimizerStateError(
            f"{name}.update: the state is {describe_state(state)}, but {name} keeps a "
            f"{expected.__name__}. Pass the state returned by this optimiser's own init (or "
            "by its previous update); a state made by another optimiser does not fit."
        )


def describe_state(state: Any) -> str:
    """The classes a state is made of, ``(TraceState, EmptyState)``, for error messages."""
    if type(state) in (tuple, list):
        return "(" + ", ".join(describe_state(s) for s in state) + ")"
    return type(state).__name__


def identity() -> GradientTransformation:
    """The transformation that returns updates unchanged and keeps no state.

    Returns
    -------
    GradientTransformation
        ``update(u, state) == (u, EmptyState())``.
    """

    def init(params: PyTree) -> EmptyState:
        return EmptyState()

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        check_state(state, EmptyState, "identity")
        return updates, state

    return GradientTransformation(init, update)


def scale(step_size: Any) -> GradientTransformation:
    """Multiply every update by a fixed ``step_size``.

    Parameters
    ----------
    step_size : float
        The factor; a NumPy scalar is converted to a Python float so that it
        keeps each update's dtype. A traced value is used as it is (so a
        gradient with respect to it can be taken).

    Returns
    -------
    GradientTransformation
        ``u -> step_size * u``, with an :class:`EmptyState`.
    """
    step_size = python_scalar(step_size)

    def init(params: PyTree) -> EmptyState:
        return EmptyState()

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        check_state(state, EmptyState, "scale")
        return tree_map(lambda u: u * step_size, updates), state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` one after the other, as one transformation.

    Parameters
    ----------
    *transforms : GradientTransformation
        Applied left to right: the updates returned by one are the input of
        the next. Every one receives the same ``params``.

    Returns
    -------
    GradientTransformation
        Its state is a tuple with the state of each transformation, in order.
    """
    transforms = tuple(transforms)

    def init(params: PyTree) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates: PyTree, state: tuple, params: PyTree = None):
        if type(state) is not tuple or len(state) != len(transforms):
            raise OptimizerStateError(
                f"chain.update: the state is {describe_state(state)}, but this chain of "
                f"{len(transforms)} transformations keeps a tuple of {len(transforms)} states. "
                "Pass the state returned by this optimiser's own init (or by its previous "
                "update); a state made by another optimiser does not fit."
            )
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """``params + updates`` leaf by leaf, each result cast to its parameter's dtype.

    Parameters
    ----------
    params : pytree
        The current parameters; not modified.
    updates : pytree
        Of the same structure, e.g. from an optimiser's ``update``. Updates
        already include the sign (a descent step is negative).

    Returns
    -------
    pytree
        New parameters. A float32 parameter stays float32 even when its update
        was promoted (e.g. by a float64 learning rate being differentiated).
    """

    def add(p, u):
        p = fnp.asarray(p)
        new = p + u
        return new if new.dtype == p.dtype else fnp.astype(new, p.dtype)

    return tree_map(add, params, updates)


def increment_count(count: Any) -> np.ndarray:
    """``count + 1`` as a 0-d int32 array, saturating instead of overflowing.

    Written with array operations, so that a step count traced by ``jit`` works too.
    """
    return fnp.asarray(fnp.minimum(count, np.iinfo(np.int32).max - 1) + 1, dtype=np.int32)


def zero_count(params: Any = None) -> np.ndarray:
    """The step count of a fresh state: a 0-d int32 array holding 0, on the device of
    ``params``' arrays (so that a jitted step's arguments share one device)."""
    leaves = [x for x in tree_leaves(params) if hasattr(x, "dtype")]
    return backend.zeros((), np.int32, like=leaves[0] if leaves else None)
