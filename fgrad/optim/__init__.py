"""``fgrad.optim``: optimisers as pure functions, in the style of optax.

An optimiser is a :class:`GradientTransformation` ``(init, update)``::

    import fgrad, fgrad.optim as optim

    opt = optim.adamw(optim.warmup_cosine_decay(0.0, 1e-3, 100, 1000))
    state = opt.init(params)

    def step(params, state, x, y):
        loss, grads = fgrad.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, loss

States are pytrees and nothing is modified in place. Optimisers
(:mod:`~fgrad.optim.optimizers`) are chains of building blocks
(:mod:`~fgrad.optim.transforms`); learning rates may be schedules
(:mod:`~fgrad.optim.schedules`). See ``docs/optim.md``.
"""

from __future__ import annotations

from fgrad.optim.base import (
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    apply_updates,
    as_schedule,
    chain,
    identity,
    scale,
)
from fgrad.optim.optimizers import adagrad, adam, adamw, rmsprop, sgd
from fgrad.optim.schedules import (
    constant_schedule,
    cosine_decay,
    exponential_decay,
    join_schedules,
    linear_schedule,
    linear_warmup,
    warmup_cosine_decay,
)
from fgrad.optim.transforms import (
    ScaleByAdamState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByScheduleState,
    TraceState,
    add_decayed_weights,
    clip_by_global_norm,
    global_norm,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    scale_by_schedule,
    trace,
)

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "ScalarOrSchedule",
    "ScaleByAdamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "Schedule",
    "TraceState",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "as_schedule",
    "chain",
    "clip_by_global_norm",
    "constant_schedule",
    "cosine_decay",
    "exponential_decay",
    "global_norm",
    "identity",
    "join_schedules",
    "linear_schedule",
    "linear_warmup",
    "rmsprop",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "sgd",
    "trace",
    "warmup_cosine_decay",
]
