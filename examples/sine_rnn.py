"""A recurrent network written with ``fgrad.lax.scan``, trained under ``fgrad.jit``.

The task: read a noisy sine wave of random frequency and phase one sample at a
time and predict the next sample. A 1-32-1 tanh RNN carries a hidden state
through ``lax.scan`` over time (all sequences of a batch at once); the whole
training step, the scan (one loop primitive) and its gradient, is one compiled
program. The test error is compared with the naive forecast "the next sample
equals this one", which an RNN that learned nothing cannot beat.

    python examples/sine_rnn.py [--steps 400] [--no-jit]
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
from fgrad import lax, optim
from fgrad import numpy as fnp

LENGTH, BATCH, HIDDEN = 40, 32, 32


def sine_batch(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, targets)`` of shape ``(LENGTH, batch, 1)``: targets are the inputs one
    step ahead (before the input noise)."""
    freq = rng.uniform(0.1, 0.4, size=(1, batch, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(1, batch, 1))
    t = np.arange(LENGTH + 1).reshape(-1, 1, 1)
    wave = np.sin(freq * t + phase)
    noisy = wave[:-1] + 0.05 * rng.standard_normal((LENGTH, batch, 1))
    return noisy, wave[1:]


def init(rng: np.random.Generator) -> dict:
    return {
        "w_in": rng.normal(0, 1.0, (1, HIDDEN)),
        "w_h": rng.normal(0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, HIDDEN)),
        "b": np.zeros(HIDDEN),
        "w_out": rng.normal(0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, 1)),
        "b_out": np.zeros(1),
    }


def predict(params: dict, xs):
    """The one-step-ahead predictions for every time step, ``(LENGTH, batch, 1)``."""

    def step(h, x):
        h = fnp.tanh(x @ params["w_in"] + h @ params["w_h"] + params["b"])
        return h, h @ params["w_out"] + params["b_out"]

    h0 = fnp.zeros((xs.shape[1], HIDDEN))
    _, ys = lax.scan(step, h0, xs)
    return ys


def loss(params: dict, xs, targets):
    """Mean squared error, after a warm-up of 5 steps in which the state fills."""
    return fnp.mean((predict(params, xs)[5:] - targets[5:]) ** 2)


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--no-jit", action="store_true", help="run the step eagerly")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    params = init(rng)
    opt = optim.adam(optim.cosine_decay(1e-2, args.steps))
    state = opt.init(params)

    def train_step(params, state, xs, targets):
        value, grads = fgrad.value_and_grad(loss)(params, xs, targets)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, value

    step = train_step if args.no_jit else fgrad.jit(train_step)
    start = time.perf_counter()
    for i in range(args.steps):
        params, state, value = step(params, state, *sine_batch(rng, BATCH))
        if i % max(1, args.steps // 5) == 0:
            print(f"step {i:4d}  train mse {float(value):.5f}")
    seconds = time.perf_counter() - start

    xs, targets = sine_batch(np.random.default_rng(1), 256)
    test_mse = float(loss(params, xs, targets))
    naive_mse = float(np.mean((xs[5:] - targets[5:]) ** 2))
    print(
        f"test mse {test_mse:.5f} (naive forecast {naive_mse:.5f}) after {args.steps} steps "
        f"in {seconds:.1f} s"
    )
    return test_mse, naive_mse


if __name__ == "__main__":
    main()
