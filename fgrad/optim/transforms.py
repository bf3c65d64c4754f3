"""Building blocks: gradient transformations that optimisers are chained from.

Each function returns a :class:`~fgrad.optim.base.GradientTransformation`
whose ``update`` maps incoming updates ``u`` (gradients, for the first block
of a chain) to new updates, leaf by leaf over any pytree. The formulas in the
docstrings are exact: all operations are elementwise, hyperparameters are
Python floats, and ``k`` is the 1-based number of the current step.

Leaves are combined with NumPy operators and ``fgrad.numpy`` functions only,
so the blocks work on traced values (``fgrad.grad`` through an update step)
and keep float32 leaves float32. States are NamedTuples of pytrees shaped like
the parameters; step counts are 0-d int32 arrays, used with array operations so
that a whole training step can run under ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import fgrad.numpy as fnp
from fgrad.core.pytree import tree_leaves, tree_map
from fgrad.optim.base import (
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    check_state,
    increment_count,
    python_scalar,
    scalar_like,
    scale,
    zero_count,
)

__all__ = [
    "ScaleByAdamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "add_decayed_weights",
    "clip_by_global_norm",
    "global_norm",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "trace",
]

PyTree = Any


def _cast(x: Any, dtype: Any) -> Any:
    """``x`` in ``dtype`` (no-op when it already is)."""
    return x if x.dtype == dtype else fnp.astype(x, dtype)


# -- momentum --------------------------------------------------------------------------
class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer, shaped like the parameters."""

    trace: PyTree


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: an exponentially decaying sum of past updates.

    With the buffer ``m`` starting at zero::

        m_k = u_k + decay * m_{k-1}
        out = m_k                        (nesterov=False, heavy ball)
        out = u_k + decay * m_k          (nesterov=True)

    Parameters
    ----------
    decay : float
        The momentum coefficient, usually 0.9.
    nesterov : bool, optional
        Use Nesterov's look-ahead form (as in Sutskever et al., 2013).

    Returns
    -------
    GradientTransformation
        With a :class:`TraceState`.
    """
    decay = python_scalar(decay)

    def init(params: PyTree) -> TraceState:
        return TraceState(tree_map(fnp.zeros_like, params))

    def update(updates: PyTree, state: TraceState, params: PyTree = None):
        check_state(state, TraceState, "trace")
        new_trace = tree_map(lambda u, m: u + decay * m, updates, state.trace)
        if nesterov:
            updates = tree_map(lambda u, m: u + decay * m, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(new_trace)

    return GradientTransformation(init, update)


# -- adaptive scaling ------------------------------------------------------------------
class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and first and second moment estimates."""

    count: Any
    mu: PyTree
    nu: PyTree


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0
) -> GradientTransformation:
    """Adam's rescaling (Kingma & Ba, 2015), with bias correction.

    With ``mu`` and ``nu`` starting at zero and ``k`` the step number (1, 2, ...)::

        mu_k = b1 * mu_{k-1} + (1 - b1) * u
        nu_k = b2 * nu_{k-1} + (1 - b2) * u**2
        out  = (mu_k / (1 - b1**k)) / (sqrt(nu_k / (1 - b2**k) + eps_root) + eps)

    Parameters
    ----------
    b1 : float, optional
        Decay of the first moment (mean) estimate.
    b2 : float, optional
        Decay of the second moment (uncentred variance) estimate.
    eps : float, optional
        Added to the denominator outside the square root, for stability.
    eps_root : float, optional
        Added inside the square root; positive values keep the derivative of
        the update finite when differentiating through it.

    Returns
    -------
    GradientTransformation
        With a :class:`ScaleByAdamState`.
    """
    b1, b2, eps, eps_root = (python_scalar(v) for v in (b1, b2, eps, eps_root))

    def init(params: PyTree) -> ScaleByAdamState:
        return ScaleByAdamState(
            count=zero_count(params),
            mu=tree_map(fnp.zeros_like, params),
            nu=tree_map(fnp.zeros_like, params),
        )

    def update(updates: PyTree, state: ScaleByAdamState, params: PyTree = None):
        check_state(state, ScaleByAdamState, "scale_by_adam")
        count = increment_count(state.count)
        mu = tree_map(lambda u, m: b1 * m + (1 - b1) * u, updates, state.mu)
        nu = tree_map(lambda u, v: b2 * v + (1 - b2) * (u * u), updates, state.nu)
        c1, c2 = 1 - b1**count, 1 - b2**count

        def adam(m, v):
            m_hat, v_hat = m / scalar_like(c1, m), v / scalar_like(c2, v)
            return m_hat / (fnp.sqrt(v_hat + eps_root) + eps)

        updates = tree_map(adam, mu, nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`: the running mean of squared updates."""

    nu: PyTree


def scale_by_rms(
    decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0, eps_in_sqrt: bool = True
) -> GradientTransformation:
    """RMSProp's rescaling (Tieleman & Hinton, 2012): divide by a running RMS.

    With ``nu`` starting at ``initial_scale``::

        nu_k = decay * nu_{k-1} + (1 - decay) * u**2
        out  = u / sqrt(nu_k + eps)      (eps_in_sqrt=True, as optax)
        out  = u / (sqrt(nu_k) + eps)    (eps_in_sqrt=False, as PyTorch)

    Parameters
    ----------
    decay : float, optional
        Decay of the running mean of squares.
    eps : float, optional
        Stability term; where it is added is chosen by ``eps_in_sqrt``.
    initial_scale : float, optional
        Starting value of ``nu``.
    eps_in_sqrt : bool, optional
        Add ``eps`` under the square root rather than after it.

    Returns
    -------
    GradientTransformation
        With a :class:`ScaleByRmsState`.
    """
    decay, eps, initial_scale = (python_scalar(v) for v in (decay, eps, initial_scale))

    def init(params: PyTree) -> ScaleByRmsState:
        return ScaleByRmsState(tree_map(lambda p: fnp.full_like(p, initial_scale), params))

    def rescale(u, v):
        return u / fnp.sqrt(v + eps) if eps_in_sqrt else u / (fnp.sqrt(v) + eps)

    def update(updates: PyTree, state: ScaleByRmsState, params: PyTree = None):
        check_state(state, ScaleByRmsState, "scale_by_rms")
        nu = tree_map(lambda u, v: decay * v + (1 - decay) * (u * u), updates, state.nu)
        return tree_map(rescale, updates, nu), ScaleByRmsState(nu)

    return GradientTransformation(init, update)


class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the sum of squared updates so far."""

    sum_of_squares: PyTree


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """Adagrad's rescaling (Duchi et al., 2011): divide by the root of the sum of squares.

    With ``s`` starting at ``initial_accumulator_value``::

        s_k = s_{k-1} + u**2
        out = u / sqrt(s_k + eps)      (and 0 where s_k == 0)

    Parameters
    ----------
    initial_accumulator_value : float, optional
        Starting value of ``s``.
    eps : float, optional
        Added under the square root.

    Returns
    -------
    GradientTransformation
        With a :class:`ScaleByRssState`.
    """
    init_value, eps = python_scalar(initial_accumulator_value), python_scalar(eps)

    def init(params: PyTree) -> ScaleByRssState:
        return ScaleByRssState(tree_map(lambda p: fnp.full_like(p, init_value), params))

    def rescale(u, s):
        # Both branches of `where` are evaluated: keep the unused one finite.
        nonzero = s > 0
        return fnp.where(nonzero, u / fnp.sqrt(fnp.where(nonzero, s + eps, 1.0)), 0.0)

    def update(updates: PyTree, state: ScaleByRssState, params: PyTree = None):
        check_state(state, ScaleByRssState, "scale_by_rss")
        sum_of_squares = tree_map(lambda u, s: s + u * u, updates, state.sum_of_squares)
        return tree_map(rescale, updates, sum_of_squares), ScaleByRssState(sum_of_squares)

    return GradientTransformation(init, update)


# -- step sizes ------------------------------------------------------------------------
class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_schedule`: the number of updates made so far."""

    count: Any


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiply updates by a step size that depends on the step count.

    ``out = step_size_fn(n) * u``, where ``n`` is the number of updates made
    before this one (0 for the first update).

    Parameters
    ----------
    step_size_fn : Schedule
        ``count -> step size``; the result keeps each update's dtype (see
        :func:`fgrad.optim.base.scalar_like`).

    Returns
    -------
    GradientTransformation
        With a :class:`ScaleByScheduleState`.
    """

    def init(params: PyTree) -> ScaleByScheduleState:
        return ScaleByScheduleState(zero_count(params))

    def update(updates: PyTree, state: ScaleByScheduleState, params: PyTree = None):
        check_state(state, ScaleByScheduleState, "scale_by_schedule")
        step_size = step_size_fn(state.count)
        updates = tree_map(lambda u: u * scalar_like(step_size, u), updates)
        return updates, ScaleByScheduleState(increment_count(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, flip_sign: bool = True
) -> GradientTransformation:
    """Multiply updates by ``-learning_rate`` (a descent step) or ``learning_rate``.

    Parameters
    ----------
    learning_rate : float or Schedule
        A fixed rate (then the state is empty) or ``count -> rate`` evaluated
        at the number of updates made so far (see :func:`scale_by_schedule`).
    flip_sign : bool, optional
        Negate, so that adding the updates to the parameters descends.

    Returns
    -------
    GradientTransformation
    """
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * python_scalar(learning_rate))


# -- clipping and regularisation -------------------------------------------------------
def global_norm(tree: PyTree) -> Any:
    """The Euclidean norm of all leaves of ``tree`` taken together.

    ``sqrt(sum over leaves of sum(leaf**2))``; 0.0 for a tree without leaves.
    """
    squares = [fnp.sum(x * x) for x in tree_leaves(tree)]
    total = squares[0] if squares else 0.0
    for sq in squares[1:]:
        total = total + sq
    return fnp.sqrt(total)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale updates so that their global norm is at most ``max_norm``.

    With ``n = global_norm(u)`` over all leaves::

        out = u                      if n <= max_norm
        out = u * max_norm / n       otherwise

    The direction of the update is kept; small updates are untouched.

    Parameters
    ----------
    max_norm : float
        The largest allowed global norm; must be positive.

    Returns
    -------
    GradientTransformation
        With an :class:`~fgrad.optim.base.EmptyState`.
    """
    max_norm = python_scalar(max_norm)
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be positive, got {max_norm}")

    def init(params: PyTree) -> EmptyState:
        return EmptyState()

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        check_state(state, EmptyState, "clip_by_global_norm")
        # max_norm / max(n, max_norm) is exactly 1.0 below the threshold.
        factor = max_norm / fnp.maximum(global_norm(updates), max_norm)
        return tree_map(lambda u: u * _cast(factor, u.dtype), updates), state

    return GradientTransformation(init, update)


def add_decayed_weights(
    weight_decay: float = 0.0, mask: PyTree | Callable[[PyTree], PyTree] | None = None
) -> GradientTransformation:
    """Add ``weight_decay * params`` to the updates (L2 decay, decoupled from the loss).

    ``out = u + weight_decay * p`` where the mask is true (everywhere by
    default), ``out = u`` elsewhere. Placed before the learning rate in a chain,
    the decay is scaled by the learning rate too (AdamW).

    Parameters
    ----------
    weight_decay : float, optional
        The decay coefficient.
    mask : pytree of bool or callable, optional
        Which parameters to decay: a tree of Python booleans shaped like the
        parameters, or ``params -> such a tree`` (e.g. to skip biases).

    Returns
    -------
    GradientTransformation
        With an :class:`~fgrad.optim.base.EmptyState`. Its ``update`` needs
        ``params``.
    """
    weight_decay = python_scalar(weight_decay)

    def init(params: PyTree) -> EmptyState:
        return EmptyState()

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        check_state(state, EmptyState, "add_decayed_weights")
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the parameters: call update(grads, state, params)"
            )
        if mask is None:
            return tree_map(lambda u, p: u + weight_decay * p, updates, params), state
        flags = mask(params) if callable(mask) else mask
        return tree_map(
            lambda u, p, m: u + weight_decay * p if m else u, updates, params, flags
        ), state

    return GradientTransformation(init, update)
