"""``erm_epoch``: one full SGD training epoch of the ``examples/train_digits.py`` MLP.

Empirical risk minimisation on scikit-learn's bundled 8x8 digits (1,797 images, nothing is
downloaded): the same 80/20 stratified split (``random_state=0``) and standardisation (the
training set's mean and std, std 1 for pixels constant there) as the example, a 64-128-128-10
ReLU MLP, mean softmax cross-entropy plus ``3e-3 * 0.5 * sum(W**2)`` (L2 on the weights only).
One step = one epoch: 23 plain-SGD steps (lr 0.05) over mini-batches of 64 rows of the
training set (1,437 rows; the last batch has 29) in a fixed order (a permutation from
``default_rng(0)``, the same for every framework), so every row computes the same parameters.
SGD instead of the example's Adam keeps every framework's update the same simple formula.

Unlike the single-step MLP workloads this times a realistic inner loop: ~23 value-and-grad
calls of a small model plus the updates, with each step's parameters feeding the next.
Skipped (not failed) when scikit-learn is not installed.
"""

from __future__ import annotations

from typing import Any

import frameworks
import mlp
import numpy as np
from harness import Problem, Skip, Workload

SIZES = (64, 128, 128, 10)
BATCH = 64
LR = 0.05
WEIGHT_DECAY = 3e-3
ACTIVATION = "relu"


def load_digits_train() -> tuple[np.ndarray, np.ndarray]:
    """``train_digits.py``'s standardised training images (float64) and integer labels."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise Skip(f"scikit-learn not installed, no digits data set ({exc})") from None
    digits = load_digits()
    x_train, _, y_train, _ = train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x_train - mean) / std, y_train


def loss(xp: Any, params: mlp.Params, x: Any, onehot: Any) -> Any:
    """Mean softmax cross-entropy of the ReLU MLP + ``WEIGHT_DECAY * 0.5 * sum(W**2)``."""
    penalty = sum(xp.sum(layer["W"] * layer["W"]) for layer in params)
    xent = mlp.softmax_cross_entropy_loss(xp, params, x, onehot, ACTIVATION)
    return xent + (WEIGHT_DECAY * 0.5) * penalty


def hand_loss(params: mlp.Params, x: np.ndarray, onehot: np.ndarray) -> tuple[Any, mlp.Params]:
    """Loss and grads of :func:`loss` by hand: the penalty adds ``WEIGHT_DECAY * W`` to dW."""
    xent, grads = mlp.hand_softmax_cross_entropy(params, x, onehot, ACTIVATION)
    penalty = sum(np.sum(layer["W"] * layer["W"]) for layer in params)
    for g, layer in zip(grads, params):
        g["W"] = g["W"] + WEIGHT_DECAY * layer["W"]
    return xent + (WEIGHT_DECAY * 0.5) * penalty, grads


def make_problem() -> Problem:
    """The digits training set in the epoch's fixed order; float64 params (mlp.init_params)."""
    x, y = load_digits_train()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    params = mlp.init_params(SIZES, np.dtype(np.float64), rng)
    onehot = np.eye(SIZES[-1])[y]
    return Problem(
        loss=loss,
        params=params,
        data=(np.ascontiguousarray(x[order]), np.ascontiguousarray(onehot[order])),
        hand_value_and_grad=hand_loss,
        lr=LR,
        batch_size=BATCH,
    )


WORKLOAD = Workload(
    name="erm_epoch",
    summary=f"one SGD epoch (lr {LR}, 23 mini-batches of {BATCH}) of the "
    f"{'-'.join(map(str, SIZES))} ReLU MLP on the sklearn digits training set (1,437 images), "
    f"float64, softmax cross-entropy + {WEIGHT_DECAY:g} L2 on the weights",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    time_label="time/epoch",
)
