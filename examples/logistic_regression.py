"""Logistic regression on scikit-learn's breast-cancer data, two ways.

* default: full-batch Adam from ``fgrad.optim``;
* ``--scipy``: ``scipy.optimize.minimize(method="L-BFGS-B")`` fed with
  ``fgrad.value_and_grad`` through ``fgrad.flatten_util.ravel_pytree``.

    python examples/logistic_regression.py [--scipy] [--steps 500]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

try:
    import fgrad
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fgrad
from fgrad import nn, optim
from fgrad import numpy as fnp
from fgrad.flatten_util import ravel_pytree


def load_data(seed: int):
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return (x_train - mean) / std, (x_test - mean) / std, y_train.astype(float), y_test


def loss(params: dict, x: np.ndarray, y: np.ndarray, l2: float = 1e-3):
    """Mean binary cross-entropy of the logits ``x @ w + b`` plus an L2 penalty on ``w``."""
    logits = x @ params["w"] + params["b"]
    return nn.sigmoid_binary_cross_entropy(logits, y) + l2 * fnp.sum(params["w"] ** 2)


def accuracy(params: dict, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(((x @ params["w"] + params["b"]) > 0) == y))


def fit_adam(params: dict, x, y, steps: int, lr: float) -> dict:
    opt = optim.adam(lr)
    state = opt.init(params)
    value_and_grad = fgrad.value_and_grad(loss)
    for i in range(steps):
        value, grads = value_and_grad(params, x, y)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        if i % max(1, steps // 5) == 0:
            print(f"  step {i:4d}  loss {float(value):.5f}")
    return params


def fit_scipy(params: dict, x, y) -> dict:
    from scipy.optimize import minimize

    flat, unravel = ravel_pytree(params)
    value_and_grad = fgrad.value_and_grad(lambda v: loss(unravel(v), x, y))
    result = minimize(
        lambda v: tuple(np.asarray(a, float) for a in value_and_grad(v)),
        flat,
        jac=True,
        method="L-BFGS-B",
    )
    print(f"  L-BFGS-B: {result.nit} iterations, loss {result.fun:.5f}, {result.message}")
    return unravel(result.x)


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scipy", action="store_true", help="use scipy.optimize.minimize")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_train, x_test, y_train, y_test = load_data(args.seed)
    params = {"w": np.zeros(x_train.shape[1]), "b": np.zeros(())}
    print(f"breast cancer: {len(x_train)} training, {len(x_test)} test examples")
    if args.scipy:
        params = fit_scipy(params, x_train, y_train)
    else:
        params = fit_adam(params, x_train, y_train, args.steps, args.lr)
    train_acc, test_acc = accuracy(params, x_train, y_train), accuracy(params, x_test, y_test)
    print(f"train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")
    return train_acc, test_acc


if __name__ == "__main__":
    main()
