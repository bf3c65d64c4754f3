"""Taylor mode against nested ``grad``: the k-th derivative, k = 1..12, of the ``nested``
workload's function ``g(x) = sin(x) exp(x/3) + x**3 / (1 + x**2)`` at ``x = 0.7`` (float64).

Rows, each timed at every order k (median of repeated calls, after a warm-up call):

* ``nested grad``: ``grad`` nested k times, eager (its cost grows about 3x per order, so
  orders above ``--max-nested`` are left out);
* ``jet``: ``fgrad.jet(g, (x,), ([1, 0, ..., 0],))``, all k derivatives in one pass, eager;
* ``jit(jet)``: the same under ``fgrad.jit`` (compiled once per order, then replayed;
  ``--fuse off`` measures the replay without the fused numba kernels, as without the
  ``fast`` extra);
* ``jax jet`` and ``jax.jit(jet)``: ``jax.experimental.jet.jet``, when JAX is installed
  (each call waits for its result with ``block_until_ready``; converting each term to a
  Python float, as this benchmark did before, added about 5 us per term to JAX's time).

Every result is checked before it is timed: jet against nested ``grad`` (rtol 1e-9) where
that runs, and against JAX's jet at every order. The summary gives the growth of jet's
cost in k (the exponent of a power law fitted from k = 4 to 12; Taylor mode is O(k^2) per
primitive) and the ratios the issue sets targets for.

    PYTHONPATH=. python benchmarks/taylor.py [--max-order 12] [--max-nested 9] [--repeat 7]
                                             [--fuse auto|force|off]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
from nested import X0, g

import fgrad
import fgrad.numpy as fnp


def timed(fn: Callable, repeat: int, budget: float = 0.5) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` samples (each of as many calls as
    fit in ``budget / repeat`` seconds, at least one)."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(budget / repeat / once))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def unit_series(k: int) -> tuple:
    return ([1.0] + [0.0] * (k - 1),)


def nested_grad(k: int) -> Callable:
    f = lambda x: g(fnp, x)  # noqa: E731
    for _ in range(k):
        f = fgrad.grad(f)
    return f


def jax_rows(max_order: int):
    """JAX's eager and jitted jet per order (each call waits for its result, as fgrad's
    calls return computed arrays), with a function giving the values for the checks; or
    None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
        from jax.experimental.jet import jet
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    x = jnp.float64(X0)

    def make(k):
        def run(x):
            return jet(lambda x: g(jnp, x), (x,), unit_series(k))[1]

        return run

    orders = range(1, max_order + 1)
    eager = {k: (lambda k=k: jax.block_until_ready(make(k)(x))) for k in orders}
    jitted = {}
    for k in orders:
        compiled = jax.jit(make(k))
        jitted[k] = lambda c=compiled: jax.block_until_ready(c(x))

    def values(k):
        return [float(v) for v in eager[k]()]

    return eager, jitted, values


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def growth(times: dict[int, float], lo: int = 4) -> float:
    """Exponent p of a least-squares fit ``t ~ k^p`` over ``k >= lo``."""
    ks = [k for k in times if k >= lo]
    if len(ks) < 2:
        return float("nan")
    p, _ = np.polyfit(np.log(ks), np.log([times[k] for k in ks]), 1)
    return float(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-order", type=int, default=12)
    parser.add_argument("--max-nested", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--fuse", choices=("auto", "force", "off"), default="auto",
                        help="fgrad's fgrad_fuse flag (jit's fused numba kernels)")
    args = parser.parse_args()
    fgrad.config.update("fgrad_fuse", args.fuse)
    x = np.float64(X0)
    f = lambda x: g(fnp, x)  # noqa: E731
    orders = range(1, args.max_order + 1)
    rows: dict[str, dict[int, float]] = {
        "nested grad": {}, "jet": {}, "jit(jet)": {}, "jax jet": {}, "jax.jit(jet)": {}
    }
    jax = jax_rows(args.max_order)
    for k in orders:
        series = unit_series(k)
        got = [float(v) for v in fgrad.jet(f, (x,), series)[1]]
        jitted = fgrad.jit(lambda x, s=series: fgrad.jet(f, (x,), s)[1])
        assert np.allclose([float(v) for v in jitted(x)], got, rtol=1e-12, atol=0), k
        if k <= args.max_nested:
            nested = nested_grad(k)
            want = float(nested(x))
            assert math.isclose(got[-1], want, rel_tol=1e-9, abs_tol=1e-9), (k, got[-1], want)
            rows["nested grad"][k] = timed(lambda n=nested: n(x), args.repeat)
        rows["jet"][k] = timed(lambda s=series: fgrad.jet(f, (x,), s), args.repeat)
        rows["jit(jet)"][k] = timed(lambda j=jitted: j(x), args.repeat)
        if jax is not None:
            eager, compiled, values = jax
            theirs = values(k)
            assert np.allclose(theirs, got, rtol=1e-9, atol=1e-9), (k, theirs, got)
            rows["jax jet"][k] = timed(eager[k], args.repeat)
            rows["jax.jit(jet)"][k] = timed(compiled[k], args.repeat)
        print(f"k={k:2d} done", flush=True)

    names = [n for n, r in rows.items() if r]
    print()
    print("| k | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for k in orders:
        print(f"| {k} | " + " | ".join(fmt(rows[n].get(k)) for n in names) + " |")
    print()
    jet_t, jit_t = rows["jet"], rows["jit(jet)"]
    print(f"growth of jet's cost in k (t ~ k^p, k >= 4): p = {growth(jet_t):.2f} eager, "
          f"{growth(jit_t):.2f} jitted")
    if 8 in rows["nested grad"] and 8 in jet_t:
        print(f"order 8, eager: nested grad / jet = {rows['nested grad'][8] / jet_t[8]:.0f}x")
    for k in (8, 12):
        if k in rows["jax jet"]:
            print(f"order {k}: jet / jax jet (eager) = {jet_t[k] / rows['jax jet'][k]:.2f}, "
                  f"jit(jet) / jax.jit(jet) = {jit_t[k] / rows['jax.jit(jet)'][k]:.2f}")


if __name__ == "__main__":
    main()
