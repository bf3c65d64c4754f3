"""Worked examples from the lecture notes, recomputed with fgrad.

Run ``python examples/seed_examples.py [DIRECTORY]``.  For every example the script prints
the gradient fgrad computes beside the gradient derived by hand in the notes (coded here in
plain NumPy), and the largest absolute difference between the two. It then draws each
example's computational graph with its values and gradients (``fgrad.explain.graph``) into
DIRECTORY (a new temporary directory if none is given): a ``.dot`` and an ``.svg`` file
each (the SVG by graphviz's ``dot`` where it is installed, else by fgrad's own writer),
and a ``.fgrad.svg`` drawn by fgrad's own writer.

Sources (the lecture notes fgrad grew from, by title):
    Recitation 3, "Computing Derivatives and Autograd"
    Lecture 2, "Backpropagation and Automatic Differentiation"
    "Automatic differentiation" (chain rule, forward/reverse mode)
    CS 182/282A Discussion 3 (mechanical backprop, skip connection)
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

if importlib.util.find_spec("fgrad") is None:  # running from a source checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fgrad  # noqa: E402
from fgrad import numpy as fnp  # noqa: E402

Array = np.ndarray


def report(title: str, pairs: dict[str, tuple[Any, Any]]) -> float:
    """Print fgrad's gradient next to the hand-derived one for each named quantity.

    Args:
        title: heading for the example (with its source).
        pairs: name -> (fgrad value, hand-derived value).

    Returns:
        The largest absolute difference over all pairs.
    """
    print(f"\n=== {title}")
    worst = 0.0
    for name, (auto, hand) in pairs.items():
        auto_a, hand_a = np.asarray(auto, dtype=float), np.asarray(hand, dtype=float)
        diff = float(np.max(np.abs(auto_a - hand_a))) if hand_a.size else 0.0
        worst = max(worst, diff)
        fmt = {"precision": 6, "suppress_small": True}
        print(f"  {name}:")
        print(f"    fgrad : {np.array2string(auto_a, prefix=' ' * 12, **fmt)}")
        print(f"    hand  : {np.array2string(hand_a, prefix=' ' * 12, **fmt)}")
        print(f"    max |diff| = {diff:.3e}")
    return worst


def sigmoid(xp: Any, t: Any) -> Any:
    """Logistic function written with the array namespace ``xp`` (numpy or fgrad.numpy)."""
    return 1.0 / (1.0 + xp.exp(-t))


def softmax(z: Array) -> Array:
    """Row-wise softmax in plain NumPy (the hand-derived side)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------
# scalar examples
# --------------------------------------------------------------------------------------
def chain_rule_log_squared() -> float:
    """001 "Chain Rule Example": z = log(x)^2, dz/dx = 2 log(x) / x."""
    x = np.array(2.0)
    g = fgrad.grad(lambda t: fnp.log(t) ** 2)(x)
    return report("001 chain rule: z = log(x)^2 at x = 2", {"dz/dx": (g, 2 * np.log(x) / x)})


def neg_log_sigmoid(xp: Any, x: Any, w: Any) -> Any:
    """002 "Composing the chain rule": L = -log sigma(w x^2) via a, b, c, g as in the notes."""
    a = x**2
    b = w * a
    c = sigmoid(xp, b)
    g = xp.log(c)
    return -g


def neg_log_sigmoid_example() -> float:
    """dL/dx = (-1)(1/c)(sigma(b)(1 - sigma(b)))(w)(2x), and the same with a in place of w 2x."""
    x, w = np.array(1.5), np.array(0.8)
    gx, gw = fgrad.grad(lambda s, t: neg_log_sigmoid(fnp, s, t), argnums=(0, 1))(x, w)
    a = x**2
    b = w * a
    c = 1 / (1 + np.exp(-b))
    dL_db = (-1.0) * (1 / c) * (c * (1 - c))
    _, dL_fwd = fgrad.jvp(lambda s: neg_log_sigmoid(fnp, s, w), (x,), (np.array(1.0),))
    return report(
        "002 L = -log sigmoid(w x^2) at x = 1.5, w = 0.8",
        {
            "dL/dx (reverse)": (gx, dL_db * w * 2 * x),
            "dL/dx (forward, jvp)": (dL_fwd, dL_db * w * 2 * x),
            "dL/dw": (gw, dL_db * a),
        },
    )


def reused_value_loss(x: Any) -> Any:
    """002 "Reusing values": a = x^2, b = 5a, c = log a, g = bc, L = -g."""
    a = x**2
    return -((5 * a) * fnp.log(a))


def reusing_values_example() -> float:
    """a feeds both b and c, so the hand backward pass accumulates with ``+=``."""
    x = np.array(1.9)
    g = fgrad.grad(reused_value_loss)(x)
    a = x**2
    b, c = 5 * a, np.log(a)
    grad_a = (-c) * 5  # through b = 5a
    grad_a += (-b) / a  # += through c = log a
    return report(
        "002 reusing values (gradient accumulates with +=)", {"dL/dx": (g, grad_a * 2 * x)}
    )


def group_activity_example() -> float:
    """001 "Group Activity": y = w2^T tanh(W1 x + b) with the notes' W1, x, b (w2 chosen)."""
    W1, x, b = np.array([[-1.0, 1.0], [0.5, 0.5]]), np.array([0.5, 1.0]), np.zeros(2)
    w2 = np.array([2.0, -1.0])  # not given in the notes
    g_w2, g_W1, g_b = fgrad.grad(
        lambda v, M, c: fnp.sum(v * fnp.tanh(M @ x + c)), argnums=(0, 1, 2)
    )(w2, W1, b)
    z1 = W1 @ x + b  # = [0.5, 0.75]
    dz = w2 * (1 - np.tanh(z1) ** 2)
    return report(
        "001 group activity: y = w2^T tanh(W1 x + b)",
        {"dy/dw2": (g_w2, np.tanh(z1)), "dy/dW1": (g_W1, np.outer(dz, x)), "dy/db": (g_b, dz)},
    )


def skip_connection_example() -> float:
    """004 Problem 5: y = W2 relu(W1 x) + x; dL/dx = W1^T R(W1 x) W2^T delta_y + delta_y."""
    rng = np.random.default_rng(0)
    W1, W2, x = rng.normal(size=(5, 3)), rng.normal(size=(3, 5)), rng.normal(size=3)
    delta_y = rng.normal(size=3)
    _, pullback = fgrad.vjp(lambda v: W2 @ fnp.maximum(W1 @ v, 0.0) + v, x)
    (g_x,) = pullback(delta_y)
    R = np.diag((W1 @ x > 0).astype(float))
    return report(
        "004 problem 5: skip connection y = W2 relu(W1 x) + x",
        {"dL/dx": (g_x, W1.T @ R @ W2.T @ delta_y + delta_y)},
    )


# --------------------------------------------------------------------------------------
# MLP: linear -> tanh -> [relu block + skip] -> linear -> softmax cross-entropy
# --------------------------------------------------------------------------------------
def mlp_loss(p: dict[str, Any], X: Array, Y: Array) -> Any:
    """Mean softmax cross-entropy of a small MLP with a residual ReLU block (fgrad.numpy)."""
    h = fnp.tanh(X @ p["W0"] + p["b0"])
    r = fnp.maximum(h @ p["U1"], 0.0) @ p["U2"] + h
    logits = r @ p["W3"] + p["b3"]
    m = fnp.max(logits, axis=-1, keepdims=True)
    logp = logits - m - fnp.log(fnp.sum(fnp.exp(logits - m), axis=-1, keepdims=True))
    return -fnp.sum(Y * logp) / Y.shape[0]


def mlp_hand_backward(p: dict[str, Array], X: Array, Y: Array) -> dict[str, Array]:
    """The backward pass written out by hand, one line per rule from the notes."""
    h = np.tanh(X @ p["W0"] + p["b0"])
    z1 = h @ p["U1"]
    a1 = np.maximum(z1, 0.0)
    r = a1 @ p["U2"] + h
    d_logits = (softmax(r @ p["W3"] + p["b3"]) - Y) / Y.shape[0]  # softmax - onehot
    g = {"W3": r.T @ d_logits, "b3": d_logits.sum(0)}
    d_r = d_logits @ p["W3"].T
    g["U2"] = a1.T @ d_r
    d_z1 = (z1 > 0) * (d_r @ p["U2"].T)  # R(z) * ...
    g["U1"] = h.T @ d_z1
    d_h = d_z1 @ p["U1"].T + d_r  # skip connection adds delta_y
    d_pre = d_h * (1 - h**2)  # tanh' = 1 - tanh^2
    g["W0"], g["b0"] = X.T @ d_pre, d_pre.sum(0)
    return g


def mlp_example() -> float:
    """Reverse mode vs the hand backward pass, then forward mode vs <grad, v>."""
    rng = np.random.default_rng(1)
    N, D, H, F, K = 8, 4, 5, 6, 3
    shapes = {"W0": (D, H), "b0": (H,), "U1": (H, F), "U2": (F, H), "W3": (H, K), "b3": (K,)}
    p = {k: rng.normal(size=s) / math.sqrt(s[0]) for k, s in shapes.items()}
    X, Y = rng.normal(size=(N, D)), np.eye(K)[rng.integers(K, size=N)]
    loss, g = fgrad.value_and_grad(lambda q: mlp_loss(q, X, Y))(p)
    hand = mlp_hand_backward(p, X, Y)
    print(f"\nMLP loss = {float(loss):.6f}")
    worst = report(
        "MLP backward pass (004 problems 3-5, 001 reverse mode for MLP)",
        {f"dL/d{k}": (g[k], hand[k]) for k in ("W3", "b3", "U1", "b0")},
    )
    all_diff = max(float(np.max(np.abs(np.asarray(g[k]) - hand[k]))) for k in p)
    print(f"  max |diff| over all {len(p)} parameter arrays = {all_diff:.3e}")
    worst = max(worst, all_diff)
    v = {k: rng.normal(size=a.shape) for k, a in p.items()}
    _, tangent = fgrad.jvp(lambda q: mlp_loss(q, X, Y), (p,), (v,))
    inner = sum(float(np.vdot(hand[k], v[k])) for k in p)
    return max(worst, report("MLP forward mode: jvp(v) vs <grad, v>", {"jvp": (tangent, inner)}))


def write_pictures(directory: Path) -> list[Path]:
    """Draw the examples' graphs with values and gradients into ``directory``.

    Each picture is written as DOT text and as SVG (drawn by graphviz where it is
    installed, else by fgrad's simpler writer), and as ``<name>.fgrad.svg`` by fgrad's
    own writer in any case.
    """

    def chain_rule(x: Any) -> Any:
        return fnp.log(x) ** 2

    def loss(x: Any, w: Any) -> Any:
        return neg_log_sigmoid(fnp, x, w)

    rng = np.random.default_rng(0)
    W1, W2, x = rng.normal(size=(5, 3)), rng.normal(size=(3, 5)), rng.normal(size=3)
    delta_y = rng.normal(size=3)

    def skip_connection(x: Any) -> Any:  # <delta_y, y>: its gradient is y's vjp with delta_y
        y = W2 @ fnp.maximum(W1 @ x, 0.0) + x
        return fnp.vdot(delta_y, y)

    rng = np.random.default_rng(1)
    N, D, H, F, K = 4, 3, 4, 4, 3
    shapes = {"W0": (D, H), "b0": (H,), "U1": (H, F), "U2": (F, H), "W3": (H, K), "b3": (K,)}
    p = {k: rng.normal(size=s) / math.sqrt(s[0]) for k, s in shapes.items()}
    X, Y = rng.normal(size=(N, D)), np.eye(K)[rng.integers(K, size=N)]
    graphs = {
        "chain_rule": fgrad.explain.graph(chain_rule, 2.0, grads=True),
        "neg_log_sigmoid": fgrad.explain.graph(loss, 1.5, 0.8, grads=True),
        "reused_value": fgrad.explain.graph(reused_value_loss, 1.9, grads=True),
        "skip_connection": fgrad.explain.graph(skip_connection, x, grads=True),
        "mlp": fgrad.explain.graph(mlp_loss, p, X, Y, grads=True),
    }
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, g in graphs.items():  # the .svg by graphviz, else by fgrad's own writer
        written.append(g.save(directory / f"{name}.dot"))
        written.append(g.save(directory / f"{name}.svg"))
    # -log sigmoid(w x^2) again with sigmoid's four operations as one node
    for suffix in (".dot", ".svg"):
        written.append(graphs["neg_log_sigmoid"].save(
            directory / f"neg_log_sigmoid_collapsed{suffix}", collapse=["sigmoid"]))
    own = {name: (g, False) for name, g in graphs.items()}
    own["neg_log_sigmoid_collapsed"] = (graphs["neg_log_sigmoid"], ["sigmoid"])
    for name, (g, collapse) in own.items():  # what a user without graphviz gets
        path = directory / f"{name}.fgrad.svg"
        path.write_text(fgrad.explain.svg.to_svg(g, collapse))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Run every example, show a jaxpr and a fourth derivative, summarise, and draw the
    graphs into the directory ``argv[0]`` (a new temporary one without it)."""
    worst = max(
        chain_rule_log_squared(),
        neg_log_sigmoid_example(),
        reusing_values_example(),
        group_activity_example(),
        skip_connection_example(),
        mlp_example(),
    )

    print("\n=== jaxpr of L(x, w) = -log sigmoid(w x^2)  (002)")
    print(fgrad.make_jaxpr(lambda s, t: neg_log_sigmoid(fnp, s, t))(np.array(1.5), np.array(0.8)))

    d4: Callable[[Any], Any] = fgrad.grad(fgrad.grad(fgrad.grad(fgrad.grad(fnp.sin))))
    x = np.float64(0.7)
    fourth = float(d4(x))
    print("\n=== 4th derivative of sin at 0.7 (grad nested four times)")
    print(f"  fgrad : {fourth:.15f}")
    print(f"  sin   : {math.sin(0.7):.15f}")
    print(f"  |diff| = {abs(fourth - math.sin(0.7)):.3e}")

    print(f"\nlargest |fgrad - hand| over all examples: {worst:.3e}")

    directory = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="fgrad_graphs_"))
    written = write_pictures(directory)
    print(f"\n{len(written)} pictures of the examples' graphs written to {directory}")


if __name__ == "__main__":
    main(sys.argv[1:])
