"""Optimisers as JAX's ``jax.example_libraries.optimizers`` defines them: each is a triple
``(opt_init, opt_update, get_params)``.

``opt_init(params)`` makes the state for a pytree of parameters,
``opt_update(step, grads, state)`` returns the next state and ``get_params(state)`` the
parameters it holds. The state is a pytree (an :class:`OptimizerState`), so a jitted
training step takes and returns it. The step size is a number or a schedule, a function
of the step index (``exponential_decay(...)``, ...).

Each optimiser is written for one array (``init(x) -> per-leaf state``,
``update(i, g, state) -> state``, ``get(state) -> x``) and lifted to pytrees by
:func:`optimizer`, as in JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.pytree import (
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_unflatten,
)

Schedule = Callable[[Any], Any]


class Optimizer(NamedTuple):
    """The triple an optimiser returns."""

    init_fn: Callable
    update_fn: Callable
    params_fn: Callable


class OptimizerState:
    """The state of an optimiser over a pytree of parameters: one tuple of arrays per
    parameter leaf (``states``), and the parameters' structure (``tree``)."""

    __slots__ = ("states", "tree")

    def __init__(self, states: tuple, tree: Any):
        self.states = states
        self.tree = tree

    def __repr__(self) -> str:
        return f"OptimizerState({len(self.states)} leaves, {self.tree})"


register_pytree_node(
    OptimizerState,
    lambda s: (s.states, s.tree),
    lambda tree, states: OptimizerState(tuple(states), tree),
)


def optimizer(opt_maker: Callable[..., tuple[Callable, Callable, Callable]]) -> Callable:
    """Lift a maker of one-array optimisers to one of pytree optimisers (JAX's decorator).

    ``opt_maker(*args)`` returns ``(init, update, get_params)`` for a single array, with
    ``init(x)`` returning a tuple of arrays (or one array). The decorated maker returns an
    :class:`Optimizer` whose functions take pytrees and an :class:`OptimizerState`.
    """

    @functools.wraps(opt_maker)
    def tree_opt_maker(*args, **kwargs) -> Optimizer:
        init, update, get_params = opt_maker(*args, **kwargs)

        def as_tuple(s):
            return s if isinstance(s, tuple) else (s,)

        def from_tuple(s):
            return s if len(s) > 1 else s[0]

        def tree_init(x0_tree):
            leaves, tree = tree_flatten(x0_tree)
            return OptimizerState(tuple(as_tuple(init(x0)) for x0 in leaves), tree)

        def tree_update(i, grad_tree, opt_state: OptimizerState):
            grads, tree = tree_flatten(grad_tree)
            if tree != opt_state.tree:
                raise TypeError(
                    "optimizer update: the gradient's structure differs from the "
                    f"parameters' the state was made for: got {tree}, expected "
                    f"{opt_state.tree}"
                )
            states = tuple(
                as_tuple(update(i, g, from_tuple(s))) for g, s in zip(grads, opt_state.states)
            )
            return OptimizerState(states, tree)

        def tree_get_params(opt_state: OptimizerState):
            params = [get_params(from_tuple(s)) for s in opt_state.states]
            return tree_unflatten(opt_state.tree, params)

        return Optimizer(tree_init, tree_update, tree_get_params)

    return tree_opt_maker


# ---------------------------------------------------------------- the optimisers


@optimizer
def sgd(step_size: float | Schedule):
    """Gradient descent: ``x - step_size(i) * g``."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0

    def update(i, g, x):
        return x - step_size(i) * g

    return init, update, _identity


@optimizer
def momentum(step_size: float | Schedule, mass: float):
    """Heavy-ball momentum: ``v = mass * v + g``, ``x - step_size(i) * v``."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * velocity, velocity

    return init, update, _first


@optimizer
def nesterov(step_size: float | Schedule, mass: float):
    """Nesterov momentum: ``v = mass * v + g``, ``x - step_size(i) * (mass * v + g)``."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * (mass * velocity + g), velocity

    return init, update, _first


@optimizer
def adagrad(step_size: float | Schedule, momentum: float = 0.9):
    """Adagrad (with momentum): steps scaled by the root of the summed squared gradients."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0), fnp.zeros_like(x0)

    def update(i, g, state):
        x, g_sq, m = state
        g_sq = g_sq + fnp.square(g)
        g_sq_inv_sqrt = fnp.where(g_sq > 0, 1.0 / fnp.sqrt(fnp.where(g_sq > 0, g_sq, 1.0)), 0.0)
        m = (1.0 - momentum) * (g * g_sq_inv_sqrt) + momentum * m
        return x - step_size(i) * m, g_sq, m

    return init, update, _first


@optimizer
def rmsprop(step_size: float | Schedule, gamma: float = 0.9, eps: float = 1e-8):
    """RMSProp: steps scaled by a running root mean square of the gradients."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0)

    def update(i, g, state):
        x, avg_sq_grad = state
        avg_sq_grad = avg_sq_grad * gamma + fnp.square(g) * (1.0 - gamma)
        return x - step_size(i) * g / fnp.sqrt(avg_sq_grad + eps), avg_sq_grad

    return init, update, _first


@optimizer
def rmsprop_momentum(
    step_size: float | Schedule, gamma: float = 0.9, eps: float = 1e-8, momentum: float = 0.9
):
    """RMSProp with momentum on the scaled steps."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0), fnp.zeros_like(x0)

    def update(i, g, state):
        x, avg_sq_grad, mom = state
        avg_sq_grad = avg_sq_grad * gamma + fnp.square(g) * (1.0 - gamma)
        mom = momentum * mom + step_size(i) * g / fnp.sqrt(avg_sq_grad + eps)
        return x - mom, avg_sq_grad, mom

    return init, update, _first


@optimizer
def adam(step_size: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam (Kingma and Ba): bias-corrected first and second moment estimates."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0), fnp.zeros_like(x0)

    def update(i, g, state):
        x, m, v = state
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * fnp.square(g) + b2 * v
        t = fnp.asarray(i, dtype=_dtype_of(x)) + 1
        mhat = m / (1 - fnp.asarray(b1, dtype=_dtype_of(x)) ** t)
        vhat = v / (1 - fnp.asarray(b2, dtype=_dtype_of(x)) ** t)
        return x - step_size(i) * mhat / (fnp.sqrt(vhat) + eps), m, v

    return init, update, _first


@optimizer
def adamax(step_size: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """AdaMax: Adam with the infinity norm in place of the second moment."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, fnp.zeros_like(x0), fnp.zeros_like(x0)

    def update(i, g, state):
        x, m, u = state
        m = (1 - b1) * g + b1 * m
        u = fnp.maximum(b2 * u, fnp.abs(g))
        t = fnp.asarray(i, dtype=_dtype_of(x)) + 1
        correction = step_size(i) / (1 - fnp.asarray(b1, dtype=_dtype_of(x)) ** t)
        return x - correction * m / (u + eps), m, u

    return init, update, _first


def _identity(x):
    return x


def _first(state):
    return state[0]


def _dtype_of(x) -> Any:
    """The floating dtype steps are computed in for a parameter ``x``."""
    dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.dtype(np.float64)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


# ---------------------------------------------------------------- step-size schedules


def constant(step_size: float) -> Schedule:
    """The same step size at every step."""

    def schedule(i):
        return step_size

    return schedule


def exponential_decay(step_size: float, decay_steps: float, decay_rate: float) -> Schedule:
    """``step_size * decay_rate ** (i / decay_steps)``."""

    def schedule(i):
        return step_size * decay_rate ** (i / decay_steps)

    return schedule


def inverse_time_decay(
    step_size: float, decay_steps: float, decay_rate: float, staircase: bool = False
) -> Schedule:
    """``step_size / (1 + decay_rate * i / decay_steps)`` (the ratio floored if
    ``staircase``)."""

    def schedule(i):
        ratio = fnp.floor(i / decay_steps) if staircase else i / decay_steps
        return step_size / (1 + decay_rate * ratio)

    return schedule


def polynomial_decay(
    step_size: float, decay_steps: int, final_step_size: float, power: float = 1.0
) -> Schedule:
    """From ``step_size`` to ``final_step_size`` over ``decay_steps`` steps, along
    ``(1 - i / decay_steps) ** power``; constant after."""

    def schedule(i):
        fraction = fnp.minimum(i, decay_steps) / decay_steps
        return (1 - fraction) ** power * (step_size - final_step_size) + final_step_size

    return schedule


def piecewise_constant(boundaries: Sequence[float], values: Sequence[float]) -> Schedule:
    """``values[k]`` for steps after ``k`` of the ``boundaries`` (one value more than
    boundaries)."""
    boundaries, values = np.asarray(boundaries), np.asarray(values)
    if values.shape[0] != boundaries.shape[0] + 1:
        raise ValueError(
            "piecewise_constant: values must have one more entry than boundaries, got "
            f"{values.shape[0]} values for {boundaries.shape[0]} boundaries"
        )

    def schedule(i):
        return fnp.take(values, fnp.sum(i > boundaries))

    return schedule


def make_schedule(scalar_or_schedule: float | Schedule) -> Schedule:
    """A schedule as it is, a number as the :func:`constant` schedule."""
    if callable(scalar_or_schedule):
        return scalar_or_schedule
    if np.ndim(scalar_or_schedule) == 0:
        return constant(scalar_or_schedule)
    raise TypeError(
        f"step size must be a number or a function of the step, got {type(scalar_or_schedule)}"
    )


# ---------------------------------------------------------------- utilities


def l2_norm(tree: Any) -> Any:
    """The Euclidean norm of all the leaves of ``tree`` together."""
    return fnp.sqrt(sum(fnp.vdot(x, x) for x in tree_leaves(tree)))


def clip_grads(grad_tree: Any, max_norm: float) -> Any:
    """``grad_tree`` scaled down to norm ``max_norm`` if its :func:`l2_norm` exceeds it."""
    norm = l2_norm(grad_tree)
    factor = fnp.where(norm < max_norm, 1.0, max_norm / fnp.where(norm < max_norm, 1.0, norm))
    return tree_map(lambda g: g * factor, grad_tree)


class JoinPoint:
    """A leaf of :func:`unpack_optimizer_state`'s tree: one parameter's state tuple."""

    __slots__ = ("subtree",)

    def __init__(self, subtree: tuple):
        self.subtree = subtree

    def __iter__(self):
        return iter(self.subtree)


def unpack_optimizer_state(opt_state: OptimizerState) -> Any:
    """The state as the parameters' pytree with a :class:`JoinPoint` (the leaf's state
    arrays) at each leaf: a plain structure to save."""
    return tree_unflatten(opt_state.tree, [JoinPoint(s) for s in opt_state.states])


def pack_optimizer_state(marked_pytree: Any) -> OptimizerState:
    """The inverse of :func:`unpack_optimizer_state`."""
    leaves, tree = tree_flatten(marked_pytree, is_leaf=lambda x: isinstance(x, JoinPoint))
    return OptimizerState(tuple(tuple(leaf.subtree) for leaf in leaves), tree)


__all__ = [
    "JoinPoint",
    "Optimizer",
    "OptimizerState",
    "adagrad",
    "adam",
    "adamax",
    "clip_grads",
    "constant",
    "exponential_decay",
    "inverse_time_decay",
    "l2_norm",
    "make_schedule",
    "momentum",
    "nesterov",
    "optimizer",
    "pack_optimizer_state",
    "piecewise_constant",
    "polynomial_decay",
    "rmsprop",
    "rmsprop_momentum",
    "sgd",
    "unpack_optimizer_state",
]
