"""Peak memory of a gradient, as a multiple of its input's size (``tracemalloc``).

Each program is differentiated with respect to its parameters by eager ``fgrad.grad`` and
by ``fgrad.jit(fgrad.grad(...))``. The figure is the peak of the memory Python and NumPy
allocate during one call (the input already exists; ``jit`` has compiled on an earlier
call), divided by the size of the input array ``x``. The gradient itself, the size of the
input for ``chain8`` and ``tanh8``, is part of it.

Programs, on a float64 ``x`` of ``--mb`` megabytes (100 by default):

* ``chain8``: ``sum(x * c * c * ... * c)``, eight multiplications by the constant
  ``c = 1.01``. No rule needs an intermediate value: the tape keeps none of them.
* ``tanh8``: ``sum(y)`` after eight steps ``y = tanh(0.9 * y)`` from ``y = x``. ``tanh``'s
  rule needs its result, so eight results stay until the backward pass; the products
  ``0.9 * y`` do not.
* ``mlp``: a 3-layer tanh network ``sum(tanh(tanh(x @ W1) @ W2) @ w3)`` on a batch ``x``
  of shape ``(n, 512)`` (``W1``, ``W2``: 512 x 512; ``w3``: 512), differentiated with
  respect to the weights. The rules of ``@`` read the layer inputs and ``tanh``'s its
  results; the products before each ``tanh`` are not kept.

Run ``python benchmarks/memory.py`` (``--mb 20`` for a quicker run, ``--only chain8``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's fgrad

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402

WIDTH = 512


def chain8(x):
    y = x
    for _ in range(8):
        y = y * 1.01
    return fnp.sum(y)


def tanh8(x):
    y = x
    for _ in range(8):
        y = fnp.tanh(0.9 * y)
    return fnp.sum(y)


def mlp(params, x):
    w1, w2, w3 = params
    return fnp.sum(fnp.tanh(fnp.tanh(x @ w1) @ w2) @ w3)


def _programs(mb: float) -> dict:
    rng = np.random.default_rng(0)
    n = int(mb * 2**20 / 8)
    x = rng.standard_normal(n)
    rows = max(1, n // WIDTH)
    batch = rng.standard_normal((rows, WIDTH))
    weights = (
        rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH),
        rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH),
        rng.standard_normal(WIDTH) / np.sqrt(WIDTH),
    )
    return {
        "chain8": (chain8, (x,), x),
        "tanh8": (tanh8, (x,), x),
        "mlp": (mlp, (weights, batch), batch),
    }


def peak_ratio(fn, args: tuple, x: np.ndarray) -> float:
    """Peak traced allocation of ``fn(*args)`` over ``x.nbytes`` (after one warm-up call)."""
    fn(*args)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / x.nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="size of the input x in MB")
    parser.add_argument("--only", action="append", help="run only this program (repeatable)")
    args = parser.parse_args()
    programs = _programs(args.mb)
    print(f"peak memory / input size, input {args.mb:g} MB float64")
    print("| program | grad (eager) | jit(grad) |")
    print("|---|---|---|")
    for name, (fn, fn_args, x) in programs.items():
        if args.only and name not in args.only:
            continue
        eager = peak_ratio(fgrad.grad(fn), fn_args, x)
        compiled = peak_ratio(fgrad.jit(fgrad.grad(fn)), fn_args, x)
        print(f"| {name} | {eager:.2f}x | {compiled:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
