"""What the error boundaries of the public functions cost on the happy path.

``fgrad.numpy``'s functions (and ``fgrad.lax``'s, ``fgrad.nn``'s, ...) are wrapped by a
boundary that hides fgrad's frames from the errors leaving them (``public_api`` in
``fgrad/core/source_info.py``). This times the eager ``op_chain`` gradient and the eager
``mlp_small`` step, and the ``op_chain`` forward pass alone (nothing but ``fgrad.numpy``
calls: the worst case), once through ``fgrad.numpy`` and once through the same functions
unwrapped, alternating so that a busy machine slows both alike. Run
``python benchmarks/boundary_overhead.py``.
"""

from __future__ import annotations

import statistics
import sys
import timeit
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness  # noqa: E402
import mlp  # noqa: E402
import numpy as np  # noqa: E402
import op_chain  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402


def unwrapped(module: types.ModuleType) -> types.SimpleNamespace:
    """``module``'s names, with each boundary replaced by the function it wraps."""
    names = dict(vars(module))
    for name, value in names.items():
        code = getattr(value, "__code__", None)
        if code is not None and code.co_filename.endswith("<api boundary>"):
            names[name] = value.__wrapped__
    return types.SimpleNamespace(**names)


def paired(make, rounds: int = 21) -> tuple[float, float, float]:
    """Median time in microseconds of ``make(fnp)`` and of ``make(unwrapped fnp)``, and the
    median of the per-round ratios; each round times both, in alternating order."""
    fns = {"wrapped": make(fnp), "plain": make(unwrapped(fnp))}
    number = max(1, int(0.05 / timeit.timeit(fns["plain"], number=1)))
    times: dict[str, list[float]] = {"wrapped": [], "plain": []}
    ratios = []
    for k in range(rounds):
        order = ("wrapped", "plain") if k % 2 else ("plain", "wrapped")
        now = {}
        for name in order:
            now[name] = min(timeit.repeat(fns[name], number=number, repeat=3)) / number * 1e6
            times[name].append(now[name])
        ratios.append(now["wrapped"] / now["plain"])
    return (
        statistics.median(times["wrapped"]),
        statistics.median(times["plain"]),
        statistics.median(ratios),
    )


def main() -> None:
    x = np.random.default_rng(0).uniform(-1.0, 1.0, op_chain.SIZE)
    problem = mlp.make_problem((2, 32, 32, 1), 16, np.float64, "mse", lr=0.1)

    def mlp_step(xp):
        value_and_grad = fgrad.value_and_grad(lambda p, *d: problem.loss(xp, p, *d))

        def step():
            value, grads = value_and_grad(problem.params, *problem.data)
            return value, harness.sgd(problem.params, grads, problem.lr)

        return step

    cases = {
        "op_chain: eager forward (fnp calls only)": lambda xp: lambda: op_chain.chain(xp, x),
        "op_chain: eager grad": lambda xp: (
            lambda g: lambda: g(x)
        )(fgrad.grad(lambda v: op_chain.chain(xp, v))),
        "mlp_small: eager step": mlp_step,
    }
    header = f"{'boundary':>10} {'none':>10} {'ratio of medians':>17} {'median ratio':>13}"
    print(f"{'case':42} {header}")
    for name, make in cases.items():
        wrapped, plain, ratio = paired(make)
        print(f"{name:42} {wrapped:8.1f}us {plain:8.1f}us {wrapped / plain:17.3f} {ratio:13.3f}")


if __name__ == "__main__":
    main()
