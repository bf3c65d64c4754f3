"""A physics-informed network for a 1-D boundary-value problem, trained through ``fgrad.jet``.

The problem: ``u''(x) = -pi^2 sin(pi x) + u(x)^3 - sin(pi x)^3`` on ``[0, 1]`` with
``u(0) = u(1) = 0``, whose solution is ``u = sin(pi x)``. A 1-16-16-1 tanh network ``u``
is fitted to it by minimising the mean squared residual of the equation at collocation
points plus the boundary conditions. The residual needs ``u''`` at every point: one
``jet`` of order 2 of the network along the input direction gives ``u``, ``u'`` and ``u''``
at all points at once (the network acts on each point separately), and ``grad``
differentiates the loss, jet included, in the weights; ``jit`` compiles the whole step.

    python examples/pinn_bvp.py [--steps 3000] [--plot pinn_bvp.png]

The plot is written only where matplotlib is installed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import fgrad
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fgrad
from fgrad import numpy as fnp
from fgrad import optim

HIDDEN = 16


def init_params(rng: np.random.Generator) -> list[dict]:
    sizes = [1, HIDDEN, HIDDEN, 1]
    return [
        {"W": rng.standard_normal((m, n)) / np.sqrt(m), "b": np.zeros(n)}
        for m, n in zip(sizes[:-1], sizes[1:])
    ]


def network(params: list[dict], x):
    """``u(x)`` for a vector of points ``x`` (each point on its own)."""
    h = x[:, None]
    for layer in params[:-1]:
        h = fnp.tanh(h @ layer["W"] + layer["b"])
    out = h @ params[-1]["W"] + params[-1]["b"]
    return out[:, 0]


def source(x):
    s = fnp.sin(np.pi * x)
    return -(np.pi**2) * s - s**3


def loss(params: list[dict], x):
    ones, zeros = fnp.ones_like(x), fnp.zeros_like(x)
    u, (_, u_xx) = fgrad.jet(lambda x: network(params, x), (x,), ([ones, zeros],))
    residual = u_xx - u**3 - source(x)
    boundary = network(params, fnp.array([0.0, 1.0]))
    return fnp.mean(residual**2) + 10.0 * fnp.sum(boundary**2)


def train(steps: int, seed: int = 0, points: int = 64) -> tuple[list[dict], list[float]]:
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    x = np.linspace(0.0, 1.0, points)
    opt = optim.adam(optim.cosine_decay(1e-2, steps, alpha=0.01))
    state = opt.init(params)

    @fgrad.jit
    def step(params, state):
        value, grads = fgrad.value_and_grad(loss)(params, x)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, value

    history = []
    for _ in range(steps):
        params, state, value = step(params, state)
        history.append(float(value))
    return params, history


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--plot", default="pinn_bvp.png")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    params, history = train(args.steps)
    seconds = time.perf_counter() - start
    x = np.linspace(0.0, 1.0, 201)
    u = np.asarray(network(params, x))
    error = float(np.max(np.abs(u - np.sin(np.pi * x))))
    print(f"{args.steps} steps in {seconds:.1f} s: loss {history[0]:.3e} -> {history[-1]:.3e}, "
          f"max |u - sin(pi x)| = {error:.2e}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        left.plot(x, np.sin(np.pi * x), "k-", label="sin(pi x)")
        left.plot(x, u, "r--", label="network")
        left.set_xlabel("x")
        left.legend()
        right.semilogy(history)
        right.set_xlabel("step")
        right.set_ylabel("loss")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")
    return {"error": error, "loss": history}


if __name__ == "__main__":
    main()
