"""How long ``jit``'s fused tier takes to compile, and what the first calls cost.

    python benchmarks/compile_times.py [--only erm_epoch] [--epochs 4]

For each workload, in fresh processes and a fresh ``FGRAD_CACHE_DIR``:

* ``first``: ``fgrad_fuse="force"``, the first call (trace, compile every kernel, run),
  wall and CPU seconds, the numba functions compiled and their type inference and LLVM
  seconds (numba's compile events); then the same in a second process, which loads the
  kernels from the disk cache;
* ``calls``: ``fgrad_fuse="auto"`` with each ``fgrad_fuse_compile`` mode, the wall time
  of each of the first ``--epochs`` epochs (``erm_epoch``: 23 calls of the jitted SGD step;
  ``digits``: ``examples/train_digits.py``'s Adam step over its 23 batches) from a cold
  cache; where the 9th call waits for a compile shows in the first epoch.

Timings on a shared machine are noisy: compare CPU seconds, and rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORKLOADS = ("erm_epoch", "mlp_large", "hessian", "ode")
EPOCH_WORKLOADS = ("erm_epoch", "digits")


def _step(name: str):
    """A no-argument callable running the workload's jitted step once."""
    import fgrad

    sys.path.insert(0, str(HERE))
    if name == "ode":
        import loops

        prog = loops.ode_program(loops.ODE_SIZES["full"])
        fun = fgrad.jit(prog.build(loops.fgrad_lib()))
        return lambda: fun(*prog.args)
    if name == "digits":
        sys.path.insert(0, str(HERE.parent / "examples"))
        import train_digits

        from fgrad import nn, optim

        raw, _, y, _ = train_digits.load_data(0)
        x = train_digits.standardiser(raw)(raw)
        params = nn.mlp_init(np.random.default_rng(0), [64, 128, 128, 10])
        opt = optim.adam(1e-3)
        step = train_digits.make_step(opt, 1e-4)
        state = [params, opt.init(params)]

        def epoch():
            for i in range(0, len(x), 64):
                state[0], state[1], _ = step(state[0], state[1], x[i : i + 64], y[i : i + 64])

        return epoch
    import importlib

    import frameworks

    return frameworks.fgrad_jit(importlib.import_module(name).WORKLOAD.make_problem()).step


def first(name: str) -> dict:
    """The first call under ``force``, with numba's compile events."""
    import fgrad

    fgrad.config.update("fgrad_fuse", "force")
    import numba  # noqa: F401  (its import is not a compile)
    from numba.core import event

    compiles, llvm, stack = [], [0.0], []

    class Compiles(event.Listener):
        def on_start(self, ev):
            stack.append([time.perf_counter(), 0.0])

        def on_end(self, ev):
            start, inner = stack.pop()
            took = time.perf_counter() - start
            compiles.append(took - inner)
            if stack:
                stack[-1][1] += took

    class Llvm(event.Listener):
        def on_start(self, ev):
            self.start = time.perf_counter()

        def on_end(self, ev):
            llvm[0] += time.perf_counter() - self.start

    event.register("numba:compile", Compiles())
    event.register("numba:llvm_lock", Llvm())
    step = _step(name)
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    from fgrad.transforms import numba_lowering

    return {
        "wall": wall,
        "cpu": cpu,
        "kernels": len(numba_lowering._loaded),
        "functions_compiled": len(compiles),
        "compile_s": sum(compiles),
        "llvm_s": llvm[0],
    }


def calls(name: str, mode: str, epochs: int) -> dict:
    """Wall seconds of each of the first epochs under ``auto`` and ``mode``."""
    import fgrad

    fgrad.config.update("fgrad_fuse", "auto")
    if mode != "default":  # "default": a version of fgrad without the flag
        fgrad.config.update("fgrad_fuse_compile", mode)
    step = _step(name)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"epochs": times}


def _child(args: list[str], cache: str) -> dict:
    env = {**os.environ, "FGRAD_CACHE_DIR": cache}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True
    )
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--modes", default="sync,background,async")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, name, *rest = args.child
        result = first(name) if kind == "first" else calls(name, rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    for name in args.only or WORKLOADS + ("digits",):
        if name in WORKLOADS:
            with tempfile.TemporaryDirectory() as cache:
                cold = _child(["first", name], cache)
                warm = _child(["first", name], cache)
            print(name, "first call, cold cache:", json.dumps(cold))
            print(name, "first call, second process:", json.dumps(warm))
        if name in EPOCH_WORKLOADS:
            for mode in args.modes.split(","):
                with tempfile.TemporaryDirectory() as cache:
                    got = _child(["calls", name, mode, str(args.epochs)], cache)
                print(name, f"auto/{mode}, epochs (s):", json.dumps(got))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
