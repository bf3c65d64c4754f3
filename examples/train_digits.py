"""Train an MLP on scikit-learn's handwritten digits with fgrad: the README's main job.

The whole training step is a pure function ``(params, opt_state, x, y) ->
(params, opt_state, loss)``: parameters are a pytree (a list of dicts), the
optimiser is ``fgrad.optim.adam``, gradients come from ``fgrad.value_and_grad``,
and the whole step is compiled with ``fgrad.jit`` (``--no-jit`` runs it eagerly).
The 8x8 digit images ship with scikit-learn, so nothing is downloaded.

    python examples/train_digits.py [--epochs 40] [--hidden 128] [--plot digits_curves.png]
    python examples/train_digits.py --device gpu      # the same training on CuPy
    python examples/train_digits.py --no-jit          # the step without fgrad.jit

A progress bar runs through each epoch's batches (tqdm, when installed, and only
when the output is a terminal: a log written to a file has no bar fragments), then
one line reports the epoch's mean objective (the minimised quantity: the
cross-entropy plus the L2 penalty on the weights) and the cross-entropy and
accuracy on the training and test sets.
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
from fgrad import data, nn, optim
from fgrad import numpy as fnp


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digit images (64 pixel intensities in 0..16) split 80/20, stratified by class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=seed
    )


def standardiser(x_train: np.ndarray):
    """Scale features with the training set's mean and std (pixels constant there: std 1)."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return lambda x: (x - mean) / std


def objective(params: list, x: np.ndarray, y: np.ndarray, weight_decay: float):
    """Mean softmax cross-entropy plus an L2 penalty on the weights."""
    logits = nn.mlp_apply(params, x, activation=nn.relu)
    penalty = nn.l2_penalty([layer["W"] for layer in params])
    return nn.softmax_cross_entropy(logits, y) + weight_decay * penalty


def make_step(opt: optim.GradientTransformation, weight_decay: float, jit: bool = True):
    """The training step, a pure function of its inputs, compiled with ``fgrad.jit``
    (traced once per batch shape, then replayed) unless ``jit`` is false."""

    def step(params, opt_state, x, y):
        loss, grads = fgrad.value_and_grad(objective)(params, x, y, weight_decay)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return fgrad.jit(step) if jit else step


def accuracy(params: list, x, y) -> float:
    logits = nn.mlp_apply(params, x, activation=nn.relu)
    return float(fnp.mean(fnp.argmax(logits, axis=1) == y))


def progress(iterable, total: int, desc: str):
    """A tqdm bar over the epoch's batches when tqdm is installed and the output is a
    terminal, else the batches as they are (and ``None`` for the bar)."""
    if not sys.stdout.isatty():  # a log file or a pipe: a bar would leave fragments
        return iterable, None
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable, None
    bar = tqdm(iterable, total=total, desc=desc, leave=False, ncols=80, file=sys.stdout)
    return bar, bar


def plot_curves(history: dict[str, list[float]], path: Path) -> bool:
    """Training and test curves as a PNG; returns False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    ax_acc.plot(epochs, history["train_acc"], label="train")
    ax_acc.plot(epochs, history["test_acc"], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.85, 1.005))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("fgrad: MLP on scikit-learn digits")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=Path("digits_curves.png"))
    parser.add_argument(
        "--device", default="cpu", help="where to train: cpu (NumPy) or gpu (CuPy, if available)"
    )
    parser.add_argument(
        "--no-jit", action="store_true", help="run the training step eagerly, without fgrad.jit"
    )
    args = parser.parse_args(argv)
    if args.device not in fgrad.devices():
        print(
            f"device {args.device!r} is not available here (available: {fgrad.devices()}). "
            "Training on a GPU needs CuPy and a CUDA device: pip install 'fgrad[cuda]'."
        )
        raise SystemExit(2)

    start = time.perf_counter()
    raw_train, raw_test, y_train, y_test = load_data(args.seed)
    standardise = standardiser(raw_train)
    x_train, x_test = standardise(raw_train), standardise(raw_test)
    rng = np.random.default_rng(args.seed)
    params = nn.mlp_init(rng, [x_train.shape[1], args.hidden, args.hidden, 10])
    # the same code runs wherever the data is: move data and parameters, nothing else
    x_train, x_test, y_train, y_test, params = fgrad.device_put(
        (x_train, x_test, y_train, y_test, params), args.device
    )
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    schedule = optim.cosine_decay(args.lr, args.epochs * steps_per_epoch, alpha=0.05)
    opt = optim.adam(schedule)
    opt_state = opt.init(params)
    step = make_step(opt, args.weight_decay, jit=not args.no_jit)
    print(
        f"digits: {len(x_train)} training and {len(x_test)} test images, MLP "
        f"64-{args.hidden}-{args.hidden}-10, adam, {args.epochs} epochs of batch "
        f"{args.batch_size}, on {args.device}{'' if args.no_jit else ', step under fgrad.jit'}\n"
        f"objective: what the step minimises, the cross-entropy plus {args.weight_decay:g} "
        "times the L2 penalty on the weights (mean over the epoch's batches); loss: the "
        "cross-entropy alone"
    )

    history: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "test_loss", "train_acc", "test_acc")
    }
    for epoch in range(1, args.epochs + 1):
        batches = data.minibatches((x_train, y_train), args.batch_size, rng=rng)
        batches, bar = progress(batches, steps_per_epoch, f"epoch {epoch:3d}/{args.epochs}")
        losses = []
        for xb, yb in batches:
            params, opt_state, loss = step(params, opt_state, xb, yb)
            losses.append(float(loss))
            if bar is not None:
                bar.set_postfix(objective=f"{np.mean(losses):.4f}", refresh=False)
        history["train_loss"].append(float(objective(params, x_train, y_train, 0.0)))
        history["test_loss"].append(float(objective(params, x_test, y_test, 0.0)))
        history["train_acc"].append(accuracy(params, x_train, y_train))
        history["test_acc"].append(accuracy(params, x_test, y_test))
        last = {k: v[-1] for k, v in history.items()}
        summary = (
            f"objective {np.mean(losses):.4f}  train loss {last['train_loss']:.4f}  "
            f"test loss {last['test_loss']:.4f}  train acc {last['train_acc']:.4f}  "
            f"test acc {last['test_acc']:.4f}"
        )
        if bar is not None:
            bar.close()
        print(f"epoch {epoch:3d}/{args.epochs}  {summary}", flush=True)

    elapsed = time.perf_counter() - start
    test_acc = history["test_acc"][-1]
    print(f"\nfinal test accuracy: {test_acc:.4f} ({elapsed:.1f} s)")
    if plot_curves(history, args.plot):
        print(f"training curves written to {args.plot}")
    else:
        print("matplotlib is not installed: no plot (pip install 'fgrad[examples]')")
    return test_acc


if __name__ == "__main__":
    main()
