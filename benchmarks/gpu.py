"""GPU benchmark: fgrad on CuPy against hand-written CuPy, NumPy on the CPU and PyTorch CUDA.

    python benchmarks/gpu.py              # needs CuPy and a CUDA GPU
    python benchmarks/gpu.py --dry-run    # the same code path on a CPU stand-in, to check it

Workloads (float32, softmax cross-entropy, one step = loss + grads + SGD update):

* ``mlp_large``: 784-512-512-10 tanh MLP, batch 256;
* ``mlp_xl``: 784-2048-2048-10 tanh MLP, batch 4096.

Rows: hand-written NumPy on the CPU, fgrad on the CPU, hand-written CuPy (the
hand-written backward pass of ``mlp.py`` runs unchanged on CuPy arrays through
NumPy's dispatch), fgrad on CuPy, PyTorch CUDA (``loss.backward()``) when
installed. Every GPU row is checked against hand-written CuPy before it is
timed; GPU timings synchronise the device. Target: fgrad's GPU step within 1.5x
of hand-written CuPy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mlp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fgrad  # noqa: E402
from fgrad import numpy as fnp  # noqa: E402

WORKLOADS = {"mlp_large": ((784, 512, 512, 10), 256), "mlp_xl": ((784, 2048, 2048, 10), 4096)}
LR = 0.01


def sgd(params, grads):
    return [{k: p[k] - LR * g[k] for k in p} for p, g in zip(params, grads)]


def hand_step(params, x, y):
    loss, grads = mlp.hand_softmax_cross_entropy(params, x, y)
    return sgd(params, grads), loss


def fgrad_step(params, x, y):
    loss, grads = fgrad.value_and_grad(lambda p: mlp.softmax_cross_entropy_loss(fnp, p, x, y))(
        params
    )
    return sgd(params, grads), loss


fgrad_jit_step = fgrad.jit(fgrad_step)


def torch_step_factory(params, x, y):
    import torch

    tp = [
        {k: torch.tensor(v, device="cuda", requires_grad=True) for k, v in p.items()}
        for p in params
    ]
    tx, ty = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")

    def step():
        logits = mlp.forward(torch, tp, tx)
        z = logits - logits.max(dim=1, keepdim=True).values
        loss = -(ty * (z - torch.log(torch.exp(z).sum(dim=1, keepdim=True)))).sum(dim=1).mean()
        for p in tp:
            for v in p.values():
                v.grad = None
        loss.backward()
        with torch.no_grad():
            for p in tp:
                for v in p.values():
                    v -= LR * v.grad
        torch.cuda.synchronize()
        return loss

    return step


def median_seconds(fn: Callable[[], object], sync: Callable[[], None], repeat: int) -> float:
    fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def check(got, want, what: str) -> None:
    got_leaves, want_leaves = fgrad.tree_leaves(fgrad.device_get(got)), fgrad.tree_leaves(want)
    for g, w in zip(got_leaves, want_leaves):
        scale = max(float(np.max(np.abs(w))), 1e-30)
        if g.dtype != w.dtype or not np.allclose(g, w, rtol=1e-3, atol=1e-5 * scale):
            raise SystemExit(f"{what}: result differs from hand-written CuPy; not timing it")


def run(name: str, device: str, sync: Callable[[], None], repeat: int) -> list[tuple[str, float]]:
    sizes, batch = WORKLOADS[name]
    problem = mlp.make_problem(sizes, batch, np.float32, "softmax_xent", LR)
    params, x, y = problem.params, *problem.data
    x, y = x.astype(np.float32), y.astype(np.float32)
    dparams, dx, dy = fgrad.device_put((params, x, y), device)

    want = fgrad.device_get(hand_step(dparams, dx, dy))
    check(fgrad_step(dparams, dx, dy), want, f"{name} fgrad on {device}")
    check(fgrad_jit_step(dparams, dx, dy), want, f"{name} fgrad.jit on {device}")
    rows = [
        (
            "numpy (hand, CPU)",
            median_seconds(lambda: hand_step(params, x, y), lambda: None, repeat),
        ),
        ("fgrad (CPU)", median_seconds(lambda: fgrad_step(params, x, y), lambda: None, repeat)),
        (
            f"hand-written ({device})",
            median_seconds(lambda: hand_step(dparams, dx, dy), sync, repeat),
        ),
        (f"fgrad ({device})", median_seconds(lambda: fgrad_step(dparams, dx, dy), sync, repeat)),
        (
            f"fgrad jit ({device})",
            median_seconds(lambda: fgrad_jit_step(dparams, dx, dy), sync, repeat),
        ),
    ]
    if device == "gpu":
        try:
            step = torch_step_factory(params, x, y)
            rows.append(("torch (CUDA)", median_seconds(step, lambda: None, repeat)))
        except ImportError:
            print("  torch: skipped (not installed)")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run on the strict CPU stand-in for CuPy (tests/strict_backend.py)",
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", choices=sorted(WORKLOADS))
    args = parser.parse_args(argv)

    if args.dry_run:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from strict_backend import BACKEND

        from fgrad.core.backend import register_backend

        register_backend(BACKEND)
        device, sync = "strict", lambda: None
    elif "gpu" not in fgrad.devices():
        raise SystemExit("no GPU: this benchmark needs CuPy and a CUDA device (try --dry-run)")
    else:
        import cupy

        device, sync = "gpu", cupy.cuda.Device().synchronize

    for name in [args.only] if args.only else WORKLOADS:
        sizes, batch = WORKLOADS[name]
        print(f"\n=== {name}: {'-'.join(map(str, sizes))} tanh MLP, batch {batch}, float32")
        rows = run(name, device, sync, args.repeat)
        hand_gpu = rows[2][1]
        for label, seconds in rows:
            print(
                f"  {label:22s} {seconds * 1e3:9.3f} ms   {seconds / hand_gpu:6.2f}x hand {device}"
            )
        for label, seconds in rows[3:5]:
            ratio = seconds / hand_gpu
            verdict = "met" if ratio <= 1.5 else "NOT met"
            print(f"  target: {label} <= 1.5x hand-written -> {ratio:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
