"""``cnn``: one SGD step of a small CNN on 8x8 digit-sized images (float32, batch 128).

conv 3x3 1->16 (SAME) + bias, ReLU, conv 3x3 16->32 (SAME) + bias, ReLU, 2x2 max pool,
dense 512->10, softmax cross-entropy; NHWC / HWIO layouts. The convolutions and the
pool are ``lax.conv_general_dilated`` and ``lax.reduce_window`` in fgrad and JAX; the
reference is a hand-written NumPy forward and backward pass (im2col, matmuls, col2im).
PyTorch runs the same network with ``torch.nn.functional.conv2d``/``max_pool2d``
(NCHW inside, the same NHWC parameters and data outside); autograd has no convolution,
so its rows are absent.
"""

from __future__ import annotations

from typing import Any

import frameworks
import numpy as np
from harness import BASELINE_NUMPY, Problem, Target, Workload

BATCH = 128
CHANNELS = (1, 16, 32)
CLASSES = 10
LR = 0.05
LAYOUT = ("NHWC", "HWIO", "NHWC")


def _lax(xp: Any) -> tuple[Any, Any]:
    """The framework's ``lax`` module and the max its ``reduce_window`` takes."""
    name = getattr(xp, "__name__", "")
    if name.startswith("jax"):
        import jax

        return jax.lax, jax.lax.max
    import fgrad

    return fgrad.lax, fgrad.numpy.maximum


def loss(xp: Any, params: dict, x: Any, onehot: Any) -> Any:
    """Mean softmax cross-entropy of the CNN (see the module docstring)."""
    if getattr(xp, "__name__", "") == "torch":
        flat = _torch_features(params, x)
    else:
        lax, max_op = _lax(xp)
        h = x
        for k in ("1", "2"):
            z = lax.conv_general_dilated(
                h, params["w" + k], (1, 1), "SAME", dimension_numbers=LAYOUT
            )
            h = xp.maximum(z + params["b" + k], 0.0)
        h = lax.reduce_window(h, -np.inf, max_op, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        flat = xp.reshape(h, (h.shape[0], -1))
    logits = flat @ params["w3"] + params["b3"]
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_probs = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.mean(xp.sum(onehot * log_probs, axis=1))


def _torch_features(params: dict, x: Any) -> Any:
    """The two convolutions, ReLUs and the pool in PyTorch, flattened in NHWC order."""
    import torch
    import torch.nn.functional as F

    h = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
    for k in ("1", "2"):
        w = params["w" + k].permute(3, 2, 0, 1)  # HWIO -> OIHW
        h = torch.relu(F.conv2d(h, w, params["b" + k], padding=1))
    h = F.max_pool2d(h, 2)
    return h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)


# -- the hand-written reference ---------------------------------------------------------------


def _im2col(h: np.ndarray) -> np.ndarray:
    """3x3 SAME windows of NHWC ``h`` as rows ``(N*H*W, 9*C)``, window-major then channel."""
    n, hh, ww, c = h.shape
    p = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(1, 2))
    return cols.transpose(0, 1, 2, 4, 5, 3).reshape(n * hh * ww, 9 * c)


def _col2im(d: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The transpose of :func:`_im2col`: every window's rows added back to its pixels."""
    n, hh, ww, c = shape
    d = d.reshape(n, hh, ww, 3, 3, c)
    p = np.zeros((n, hh + 2, ww + 2, c), d.dtype)
    for i in range(3):
        for j in range(3):
            p[:, i : i + hh, j : j + ww] += d[:, :, :, i, j]
    return p[:, 1:-1, 1:-1]


def hand_value_and_grad(params: dict, x: np.ndarray, onehot: np.ndarray) -> tuple[Any, dict]:
    """Forward and backward by hand; the pool's cotangent is shared between tied maxima."""
    n = x.shape[0]
    cols1 = _im2col(x)
    h1 = np.maximum(cols1 @ params["w1"].reshape(-1, CHANNELS[1]) + params["b1"], 0)
    h1 = h1.reshape(n, 8, 8, CHANNELS[1])
    cols2 = _im2col(h1)
    h2 = np.maximum(cols2 @ params["w2"].reshape(-1, CHANNELS[2]) + params["b2"], 0)
    h2 = h2.reshape(n, 8, 8, CHANNELS[2])
    blocks = h2.reshape(n, 4, 2, 4, 2, CHANNELS[2])
    pooled = blocks.max(axis=(2, 4))
    flat = pooled.reshape(n, -1)
    logits = flat @ params["w3"] + params["b3"]
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    value = -np.mean(np.sum(onehot * log_probs, axis=1))
    dlogits = (np.exp(log_probs) - onehot) / n
    grads = {"w3": flat.T @ dlogits, "b3": dlogits.sum(axis=0)}
    dpooled = (dlogits @ params["w3"].T).reshape(pooled.shape)
    winners = blocks == pooled[:, :, None, :, None]
    share = dpooled / winners.sum(axis=(2, 4)).astype(x.dtype)
    dblocks = winners * share[:, :, None, :, None]
    dz2 = dblocks.reshape(h2.shape) * (h2 > 0)
    dz2 = dz2.reshape(-1, CHANNELS[2])
    grads["w2"] = (cols2.T @ dz2).reshape(params["w2"].shape)
    grads["b2"] = dz2.sum(axis=0)
    dh1 = _col2im(dz2 @ params["w2"].reshape(-1, CHANNELS[2]).T, h1.shape)
    dz1 = (dh1 * (h1 > 0)).reshape(-1, CHANNELS[1])
    grads["w1"] = (cols1.T @ dz1).reshape(params["w1"].shape)
    grads["b1"] = dz1.sum(axis=0)
    return value, {k: grads[k] for k in params}


def make_problem() -> Problem:
    """He-normal kernels, small random biases, standard-normal images, random labels."""
    rng = np.random.default_rng(0)
    c0, c1, c2 = CHANNELS
    params = {
        "w1": rng.standard_normal((3, 3, c0, c1)) * np.sqrt(2 / (9 * c0)),
        "b1": 0.1 * rng.standard_normal(c1),
        "w2": rng.standard_normal((3, 3, c1, c2)) * np.sqrt(2 / (9 * c1)),
        "b2": 0.1 * rng.standard_normal(c2),
        "w3": rng.standard_normal((16 * c2, CLASSES)) / np.sqrt(16 * c2),
        "b3": 0.1 * rng.standard_normal(CLASSES),
    }
    params = {k: params[k].astype(np.float32) for k in sorted(params)}  # frameworks sort keys
    x = rng.standard_normal((BATCH, 8, 8, c0)).astype(np.float32)
    onehot = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, BATCH)]
    return Problem(loss, params, (x, onehot), hand_value_and_grad, lr=LR, check_rows=16)


FACTORIES = {
    label: frameworks.FACTORIES[label]
    for label in (
        BASELINE_NUMPY, "fgrad", "fgrad (jit)", "jax (eager)", "jax (jit)", "torch (eager)",
        frameworks.TORCH_FUNC,
    )
}

WORKLOAD = Workload(
    name="cnn",
    summary=f"CNN conv3x3 {CHANNELS[0]}->{CHANNELS[1]}, conv3x3 ->{CHANNELS[2]}, 2x2 max pool, "
    f"dense ->{CLASSES} on 8x8 inputs, batch {BATCH}, float32; one step = loss + grads + SGD",
    make_problem=make_problem,
    factories=FACTORIES,
    targets=(
        Target(
            "fgrad (jit) step <= 1.5x the faster of jax (jit) and torch (eager) (issue 15)",
            "fgrad (jit)",
            ("jax (jit)", "torch (eager)"),
            1.5,
        ),
        Target(
            "fgrad step <= 1.5x the faster of jax (jit) and torch (eager)",
            "fgrad",
            ("jax (jit)", "torch (eager)"),
            1.5,
        ),
    ),
)
