"""Schedules: functions from a step count to a hyperparameter value.

Every schedule here is ``schedule(count) -> value`` with a closed form, given
in its docstring. ``count`` may be a Python int, a 0-d integer array (the step
count an optimiser keeps in its state) or an integer array of counts, which is
handy for plotting a schedule; the value is a float64 NumPy scalar or array.
Optimisers call a learning-rate schedule with the number of updates made so
far, so the first update uses ``schedule(0)``.

Schedules are written with ``fgrad.numpy``: on a concrete count they compute
one NumPy number on the host, and on a count traced by ``jit`` they become part
of the compiled step. They need no derivatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.tracer import Tracer
from fgrad.optim.base import Schedule

__all__ = [
    "constant_schedule",
    "cosine_decay",
    "exponential_decay",
    "join_schedules",
    "linear_schedule",
    "linear_warmup",
    "warmup_cosine_decay",
]


def _value(x: Any) -> Any:
    """A float64 NumPy scalar for a scalar count, a float64 array for an array of counts
    (traced float64 under ``jit``)."""
    if isinstance(x, Tracer):
        return fnp.astype(x, np.float64)
    return np.asarray(x, dtype=np.float64)[()]


def constant_schedule(value: float) -> Schedule:
    """``value`` at every step.

    Parameters
    ----------
    value : float

    Returns
    -------
    Schedule
        ``count -> value`` (broadcast to the shape of ``count``).
    """
    return lambda count: _value(fnp.full(fnp.shape(count), value))


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    *,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    """Exponential decay: multiply by ``decay_rate`` every ``transition_steps`` steps.

    With ``t = max(count - transition_begin, 0)``::

        value = init_value * decay_rate ** (t / transition_steps)

    where ``t / transition_steps`` is rounded down when ``staircase`` is true.

    Parameters
    ----------
    init_value : float
        The value until ``transition_begin``.
    transition_steps : int
        Steps over which the value is multiplied by ``decay_rate``; must be
        positive.
    decay_rate : float
        Below 1 for decay, above 1 for growth.
    transition_begin : int, optional
        Steps to hold ``init_value`` before decaying.
    staircase : bool, optional
        Decay in discrete jumps every ``transition_steps`` steps.
    end_value : float, optional
        A bound the value never passes: a floor when ``decay_rate < 1``, a
        ceiling when ``decay_rate > 1``.

    Returns
    -------
    Schedule
    """
    if transition_steps <= 0:
        raise ValueError(
            f"exponential_decay: transition_steps must be positive, got {transition_steps}"
        )
    if transition_begin < 0:
        raise ValueError(
            f"exponential_decay: transition_begin must be >= 0, got {transition_begin}"
        )

    def schedule(count):
        t = fnp.maximum(fnp.asarray(count) - transition_begin, 0)
        p = t / transition_steps
        if staircase:
            p = fnp.floor(p)
        value = init_value * decay_rate**p
        if end_value is not None:
            bound = fnp.maximum if decay_rate < 1 else fnp.minimum
            value = bound(value, end_value)
        return _value(value)

    return schedule


def _cosine_between(start: float, end: float, steps: int) -> Schedule:
    """Half a cosine from ``start`` at count 0 to ``end`` at ``steps``, then ``end``."""
    if steps <= 0:
        raise ValueError(f"cosine decay: the number of decay steps must be positive, got {steps}")

    def schedule(count):
        t = fnp.minimum(fnp.asarray(count), steps)
        return _value(end + (start - end) * 0.5 * (1 + fnp.cos(np.pi * t / steps)))

    return schedule


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """Cosine decay from ``init_value`` to ``alpha * init_value`` over ``decay_steps`` steps.

    With ``t = min(count, decay_steps)``::

        value = init_value * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)

    (Loshchilov & Hutter's SGDR, without restarts.)

    Parameters
    ----------
    init_value : float
        The value at step 0.
    decay_steps : int
        Steps to reach the final value; must be positive.
    alpha : float, optional
        The final value as a fraction of ``init_value``.

    Returns
    -------
    Schedule
    """
    return _cosine_between(init_value, alpha * init_value, decay_steps)


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """Linear interpolation from ``init_value`` to ``end_value``.

    With ``t = clip(count - transition_begin, 0, transition_steps)``::

        value = init_value + (end_value - init_value) * t / transition_steps

    Parameters
    ----------
    init_value : float
        The value up to ``transition_begin``.
    end_value : float
        The value from ``transition_begin + transition_steps`` on.
    transition_steps : int
        Length of the ramp; must be positive.
    transition_begin : int, optional
        Steps to hold ``init_value`` first.

    Returns
    -------
    Schedule
    """
    if transition_steps <= 0:
        raise ValueError(
            f"linear_schedule: transition_steps must be positive, got {transition_steps}"
        )

    def schedule(count):
        t = fnp.clip(fnp.asarray(count) - transition_begin, 0, transition_steps)
        return _value(init_value + (end_value - init_value) * (t / transition_steps))

    return schedule


def linear_warmup(peak_value: float, warmup_steps: int, init_value: float = 0.0) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value``, then constant at ``peak_value``.

    ``value = init_value + (peak_value - init_value) * min(count, warmup_steps) / warmup_steps``.

    Parameters
    ----------
    peak_value : float
        The value from ``warmup_steps`` on.
    warmup_steps : int
        Length of the warm-up; must be positive.
    init_value : float, optional
        The value at step 0.

    Returns
    -------
    Schedule
    """
    return linear_schedule(init_value, peak_value, warmup_steps)


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Run ``schedules`` one after another, switching at ``boundaries``.

    ``schedules[i]`` is used for ``boundaries[i-1] <= count < boundaries[i]``
    and is called with the count *since its own start*,
    ``count - boundaries[i-1]``, so each schedule starts from its step 0.

    Parameters
    ----------
    schedules : sequence of Schedule
        One more schedule than boundaries.
    boundaries : sequence of int
        Increasing step counts at which the next schedule takes over.

    Returns
    -------
    Schedule
    """
    schedules, boundaries = tuple(schedules), tuple(boundaries)
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            f"join_schedules: needs one more schedule than boundaries, got "
            f"{len(schedules)} schedules and {len(boundaries)} boundaries"
        )
    if any(b1 > b2 for b1, b2 in zip(boundaries, boundaries[1:])):
        raise ValueError(f"join_schedules: boundaries must increase, got {boundaries}")
    starts = (0, *boundaries)

    def schedule(count):
        count = fnp.asarray(count)
        value = schedules[0](count)
        for start, s in zip(starts[1:], schedules[1:]):
            value = fnp.where(count >= start, s(fnp.maximum(count - start, 0)), value)
        return _value(value)

    return schedule


def warmup_cosine_decay(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
) -> Schedule:
    """Linear warm-up to ``peak_value``, then cosine decay to ``end_value``.

    ``decay_steps`` counts the whole schedule, warm-up included. With
    ``T = decay_steps - warmup_steps``::

        count <  warmup_steps:  init_value + (peak_value - init_value) * count / warmup_steps
        count >= warmup_steps:  end_value + (peak_value - end_value)
                                * 0.5 * (1 + cos(pi * min(count - warmup_steps, T) / T))

    Parameters
    ----------
    init_value : float
        The value at step 0.
    peak_value : float
        The value at the end of the warm-up.
    warmup_steps : int
        Length of the warm-up; 0 for none (the schedule then starts at
        ``peak_value``).
    decay_steps : int
        Step at which ``end_value`` is reached; must exceed ``warmup_steps``.
    end_value : float, optional
        The value from ``decay_steps`` on.

    Returns
    -------
    Schedule
    """
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"warmup_cosine_decay: decay_steps ({decay_steps}) includes the warm-up and must "
            f"exceed warmup_steps ({warmup_steps})"
        )
    if warmup_steps < 0:
        raise ValueError(f"warmup_cosine_decay: warmup_steps must be >= 0, got {warmup_steps}")
    decay = _cosine_between(peak_value, end_value, decay_steps - warmup_steps)
    if warmup_steps == 0:
        return decay
    return join_schedules(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            decay,
        ],
        [warmup_steps],
    )
