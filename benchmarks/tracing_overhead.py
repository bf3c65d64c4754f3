"""What recording each equation's source line costs: tracing time with it on and off.

``make_jaxpr`` and a first ``jit`` call record the user's file and line per equation
(``fgrad_source_info``, on by default). This times ``make_jaxpr`` of the ``op_chain``
gradient (about 1,200 equations) and of the ``mlp_small`` loss and gradient with the
recording on and off, and the eager gradient of both (which records nothing either
way: it is the control). Run ``python benchmarks/tracing_overhead.py``.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlp  # noqa: E402
import numpy as np  # noqa: E402
import op_chain  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402


def paired(fn, repeat: int = 15) -> dict[bool, float]:
    """The fastest timing of ``fn`` with the recording on and off, in microseconds.

    The two settings alternate, so that a machine busy with other work slows both alike.
    """
    number = max(1, int(0.05 / timeit.timeit(fn, number=1)))
    best = {True: float("inf"), False: float("inf")}
    for _ in range(repeat):
        for on in (True, False):
            fgrad.config.update("fgrad_source_info", on)
            best[on] = min(best[on], timeit.timeit(fn, number=number) / number * 1e6)
    fgrad.config.update("fgrad_source_info", True)
    return best


def main() -> None:
    x = np.random.default_rng(0).uniform(-1.0, 1.0, op_chain.SIZE)
    chain_grad = fgrad.grad(lambda v: op_chain.chain(fnp, v))
    params = mlp.init_params((2, 32, 32, 1), np.float64, np.random.default_rng(0))
    xb, yb = np.ones((16, 2)), np.ones((16, 1))
    mlp_grad = fgrad.value_and_grad(lambda p: mlp.mse_loss(fnp, p, xb, yb))
    cases = {
        "op_chain: make_jaxpr(grad)": lambda: fgrad.make_jaxpr(chain_grad)(x),
        "mlp_small: make_jaxpr(value_and_grad)": lambda: fgrad.make_jaxpr(mlp_grad)(params),
        "op_chain: eager grad": lambda: chain_grad(x),
        "mlp_small: eager value_and_grad": lambda: mlp_grad(params),
    }
    print(f"{'case':40} {'source on':>12} {'source off':>12} {'ratio':>7}")
    for name, fn in cases.items():
        times = paired(fn)
        ratio = times[True] / times[False]
        print(f"{name:40} {times[True]:10.0f}us {times[False]:10.0f}us {ratio:7.3f}")
    eqns = len(fgrad.make_jaxpr(chain_grad)(x).eqns)
    print(f"(op_chain's gradient jaxpr has {eqns} equations)")


if __name__ == "__main__":
    main()
