"""Optimisers: ready-made chains of the building blocks in :mod:`fgrad.optim.transforms`.

Each optimiser is nothing but a :func:`~fgrad.optim.base.chain`; its docstring
gives the chain and the resulting update for a gradient ``g`` and parameters
``p``. ``learning_rate`` may be a float or a schedule ``count -> rate``
evaluated at the number of updates made so far. Updates include the minus
sign: ``params = apply_updates(params, updates)`` descends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fgrad.optim.base import GradientTransformation, ScalarOrSchedule, chain, identity
from fgrad.optim.transforms import (
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    trace,
)

__all__ = ["adagrad", "adam", "adamw", "rmsprop", "sgd"]


def _momentum(momentum: float | None, nesterov: bool) -> GradientTransformation:
    # identity() rather than nothing, so that the state has the same structure
    # whether or not momentum is used.
    return identity() if momentum is None else trace(momentum, nesterov)


def sgd(
    learning_rate: ScalarOrSchedule, momentum: float | None = None, nesterov: bool = False
) -> GradientTransformation:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    ``chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))``::

        no momentum:  update = -lr * g
        momentum:     m_k = g + momentum * m_{k-1};  update = -lr * m_k
        nesterov:     m_k as above;  update = -lr * (g + momentum * m_k)

    Parameters
    ----------
    learning_rate : float or Schedule
    momentum : float, optional
        Momentum coefficient; ``None`` (the default) for plain SGD.
    nesterov : bool, optional
        Nesterov momentum (only with ``momentum``).

    Returns
    -------
    GradientTransformation
    """
    return chain(_momentum(momentum, nesterov), scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """Adam (Kingma & Ba, 2015).

    ``chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))``::

        mu_k = b1 * mu_{k-1} + (1 - b1) * g
        nu_k = b2 * nu_{k-1} + (1 - b2) * g**2
        update = -lr * (mu_k / (1 - b1**k)) / (sqrt(nu_k / (1 - b2**k)) + eps)

    Parameters
    ----------
    learning_rate : float or Schedule
    b1, b2 : float, optional
        Decay rates of the first and second moment estimates.
    eps : float, optional
        Added to the denominator.

    Returns
    -------
    GradientTransformation
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    ``chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``: the decay is not part of the
    gradient (so it is not rescaled by Adam) but is multiplied by the learning
    rate::

        update = -lr * (adam_direction_k + weight_decay * p)

    with ``adam_direction_k`` the bias-corrected Adam step of :func:`adam`.

    Parameters
    ----------
    learning_rate : float or Schedule
    b1, b2, eps : float, optional
        As in :func:`adam`.
    weight_decay : float, optional
        The decay coefficient.
    mask : pytree of bool or callable, optional
        Which parameters to decay (see :func:`add_decayed_weights`).

    Returns
    -------
    GradientTransformation
        Its ``update`` needs ``params``.
    """
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    momentum: float | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    """RMSProp (Tieleman & Hinton, 2012), optionally with momentum.

    ``chain(scale_by_rms(decay, eps), scale_by_learning_rate(learning_rate),
    trace(momentum, nesterov))``::

        nu_k = decay * nu_{k-1} + (1 - decay) * g**2      (nu_0 = 0)
        step = -lr * g / sqrt(nu_k + eps)
        update = step                                     (no momentum)
        m_k = step + momentum * m_{k-1};  update = m_k    (momentum)

    ``eps`` sits under the square root, as in optax; use
    ``chain(scale_by_rms(decay, eps, eps_in_sqrt=False), ...)`` for PyTorch's form.

    Parameters
    ----------
    learning_rate : float or Schedule
    decay : float, optional
        Decay of the running mean of squared gradients.
    eps : float, optional
        Added under the square root.
    momentum : float, optional
        Momentum coefficient, applied to the scaled steps; ``None`` for none.
    nesterov : bool, optional
        Nesterov momentum (only with ``momentum``).

    Returns
    -------
    GradientTransformation
    """
    return chain(
        scale_by_rms(decay, eps),
        scale_by_learning_rate(learning_rate),
        _momentum(momentum, nesterov),
    )


def adagrad(
    learning_rate: ScalarOrSchedule, initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """Adagrad (Duchi, Hazan & Singer, 2011).

    ``chain(scale_by_rss(initial_accumulator_value, eps),
    scale_by_learning_rate(learning_rate))``::

        s_k = s_{k-1} + g**2          (s_0 = initial_accumulator_value)
        update = -lr * g / sqrt(s_k + eps)

    Parameters
    ----------
    learning_rate : float or Schedule
    initial_accumulator_value : float, optional
        Starting value of the sum of squares.
    eps : float, optional
        Added under the square root.

    Returns
    -------
    GradientTransformation
    """
    return chain(
        scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )
