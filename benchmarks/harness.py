"""Timing, correctness checking and reporting shared by every benchmark workload.

A workload module only describes *what* is differentiated (a :class:`Problem`: a loss written
against a NumPy-like namespace ``xp`` plus a hand-written NumPy backward pass); the framework
factories in ``frameworks.py`` turn a problem into a timed step for each library.  This module
checks every step against the hand-written reference *before* timing it, times it, and prints
the table, so a wrong gradient can never show up as a (fast) timing.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import math
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Tree = Any
"""A pytree: a leaf (array or scalar) or a dict / list / tuple of pytrees."""

BASELINE_NUMPY = "numpy (hand)"
BASELINE_AUTOGRAD = "autograd"


# --------------------------------------------------------------------------------------------
# Pytree helpers.  The benchmarks must not depend on any one framework's tree utilities (fgrad
# may not import yet, autograd has none), so these tiny ones cover dict / list / tuple trees.
# --------------------------------------------------------------------------------------------


def tree_flatten(tree: Tree) -> tuple[list[Any], Callable[[Iterable[Any]], Tree]]:
    """Return the leaves of ``tree`` (dicts in key order) and a function rebuilding the tree."""
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [tree_flatten(tree[k]) for k in keys]
    elif isinstance(tree, (list, tuple)):
        keys = None
        parts = [tree_flatten(v) for v in tree]
    else:
        return [tree], lambda leaves: next(iter(leaves))

    leaves = [leaf for part_leaves, _ in parts for leaf in part_leaves]
    sizes = [len(part_leaves) for part_leaves, _ in parts]
    kind = type(tree)

    def rebuild(new_leaves: Iterable[Any]) -> Tree:
        it = iter(new_leaves)
        children = [unflat([next(it) for _ in range(n)]) for (_, unflat), n in zip(parts, sizes)]
        if keys is not None:
            return dict(zip(keys, children))
        return kind(children)

    return leaves, rebuild


def tree_map(fn: Callable[..., Any], tree: Tree, *others: Tree) -> Tree:
    """Apply ``fn`` leaf-wise over ``tree`` and trees of the same structure."""
    leaves, rebuild = tree_flatten(tree)
    other_leaves = [tree_flatten(o)[0] for o in others]
    return rebuild(fn(*args) for args in zip(leaves, *other_leaves))


def tree_paths(tree: Tree, prefix: str = "") -> list[str]:
    """Human-readable path of every leaf, in :func:`tree_flatten` order (for error messages)."""
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in tree_paths(v, f"{prefix}[{k!r}]")]
    if isinstance(tree, (list, tuple)):
        return [p for i, v in enumerate(tree) for p in tree_paths(v, f"{prefix}[{i}]")]
    return [prefix or "<leaf>"]


def sgd(params: Tree, grads: Tree, lr: float) -> Tree:
    """Plain SGD update ``p - lr * g`` returning new params (functional, nothing mutated)."""
    return tree_map(lambda p, g: p - lr * g, params, grads)


def minibatches(data: Sequence[Any], batch_size: int) -> list[tuple[Any, ...]]:
    """Consecutive ``batch_size``-row slices of every data array (the last may be shorter)."""
    n = len(data[0])
    return [tuple(d[i : i + batch_size] for d in data) for i in range(0, n, batch_size)]


def sgd_epoch(
    value_and_grad: Callable[..., tuple[Any, Tree]],
    update: Callable[[Tree, Tree, float], Tree],
    params: Tree,
    batches: Sequence[tuple[Any, ...]],
    lr: float,
) -> tuple[Any, Tree]:
    """One epoch of SGD steps over ``batches`` in order: ``(mean batch loss, new params)``."""
    values = []
    for batch in batches:
        value, grads = value_and_grad(params, *batch)
        values.append(value)
        params = update(params, grads, lr)
    return sum(values) / len(values), params


def to_numpy(x: Any) -> np.ndarray:
    """Convert a framework array (NumPy, JAX, torch tensor, ...) to a NumPy array for checks."""
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------------------------
# Workload description
# --------------------------------------------------------------------------------------------


DERIVATIVE_KINDS = ("hessian", "nested_grad", "hvp", "per_example")


@dataclass(frozen=True)
class Derivative:
    """What one step computes when it is a higher-order derivative, not a gradient.

    Each framework builds it from its own transforms (``frameworks._derivative_fn``), always
    w.r.t. ``Problem.params`` with the data passed through:

    - ``"hessian"``: the full Hessian of the loss (``params`` is one array of shape ``s``,
      the result has shape ``s + s``);
    - ``"nested_grad"``: ``grad`` applied ``order`` times (``params`` is a scalar);
    - ``"hvp"``: the Hessian-vector product ``H @ tangent``, shaped like ``params``;
    - ``"per_example"``: the gradient of the loss on each row of the data alone (a batch of
      one), stacked: ``params``' structure, each leaf with a leading axis of the batch size.
    """

    kind: str
    reference: Callable[[], Tree]
    """The expected output from an independent method (closed form, or finite differences of
    the hand-written gradient); it is also what the ``numpy (hand)`` row times."""
    order: int = 1
    """``nested_grad`` only: how many times ``grad`` is applied."""
    tangent: Tree = None
    """``hvp`` only: the direction ``v``, a NumPy pytree shaped like ``params``."""
    tolerance: tuple[float, float] | None = None
    """``(rtol, atol relative to max|ref|)`` when ``reference`` is only approximate (finite
    differences).  The frameworks are then also checked against each other's leaf-wise median
    at the default, tight tolerance, so the loose bound cannot hide a small error."""

    def __post_init__(self) -> None:
        if self.kind not in DERIVATIVE_KINDS:
            raise ValueError(f"unknown derivative kind {self.kind!r}: {DERIVATIVE_KINDS}")
        if (self.kind == "hvp") != (self.tangent is not None):
            raise ValueError("a tangent is required for (and only for) kind 'hvp'")


@dataclass(frozen=True)
class Problem:
    """One concrete instance of a workload: what every framework differentiates.

    ``loss(xp, params, *data)`` must only use names that exist in NumPy, ``autograd.numpy``,
    ``jax.numpy``, ``fgrad.numpy`` and the small torch adapter in ``frameworks.py``; that is
    what lets one definition serve every framework.  Gradients are taken w.r.t. ``params``.
    """

    loss: Callable[..., Any]
    params: Tree
    data: tuple[np.ndarray, ...]
    hand_value_and_grad: Callable[..., tuple[Any, Tree]]
    """Hand-written NumPy forward + backward: ``(params, *data) -> (loss, grads)``."""
    lr: float | None = None
    """``None``: a step is one gradient evaluation; otherwise loss + grads + SGD update."""
    derivative: Derivative | None = None
    """If set (with ``lr=None``), a step computes this higher-order derivative instead."""
    batch_size: int | None = None
    """If set (with ``lr``), a step is a whole SGD epoch (:func:`sgd_epoch`) over consecutive
    mini-batches of ``batch_size`` rows of ``data`` (already in the epoch's fixed order),
    returning ``(mean batch loss, new params)``; the (loss, grads) check uses all of ``data``."""
    check_rows: int | None = None
    """If set, the finite-difference check of the hand-written reference uses only the first
    ``check_rows`` rows of ``data``: a ReLU network's many kinks make a 1e-6 step over a large
    batch cross some of them (see :func:`check_reference`)."""

    def __post_init__(self) -> None:
        if self.derivative is not None and self.lr is not None:
            raise ValueError("a Problem has either a learning rate or a derivative, not both")
        if self.batch_size is not None and self.lr is None:
            raise ValueError("a Problem with a batch_size (an epoch) needs a learning rate")

    def reference_step(self) -> tuple[Any, Any]:
        """(value, grads) and the expected output of one step, from the hand-written code."""
        value, grads = self.hand_value_and_grad(self.params, *self.data)
        if self.derivative is not None:
            return (value, grads), self.derivative.reference()
        if self.lr is None:
            return (value, grads), grads
        if self.batch_size is not None:
            batches = minibatches(self.data, self.batch_size)
            epoch = sgd_epoch(self.hand_value_and_grad, sgd, self.params, batches, self.lr)
            return (value, grads), epoch
        return (value, grads), (value, sgd(self.params, grads, self.lr))


@dataclass(frozen=True)
class Impl:
    """A framework's version of a problem, with inputs already converted to its arrays."""

    value_and_grad: Callable[[], tuple[Any, Tree]]
    """Returns (loss, grads); used for the correctness check only."""
    step: Callable[[], Any]
    """The timed call: grads (``lr is None``), ``(loss, new_params)``, or the problem's
    :class:`Derivative`; must block until done."""


Factory = Callable[[Problem], Impl]
"""Builds an :class:`Impl`; raises :class:`Skip` when the framework is unavailable."""


class Skip(Exception):
    """Raised by a factory when its framework cannot run here (e.g. not installed)."""


@dataclass(frozen=True)
class Target:
    """A performance goal the project reports against (printed, never asserted)."""

    text: str
    framework: str
    baseline: str | tuple[str, ...]
    """One framework's label, or several: the fastest of them that has a timing."""
    max_ratio: float


@dataclass(frozen=True)
class Workload:
    """A named benchmark: a problem builder, the frameworks to run it on, and its targets."""

    name: str
    summary: str
    make_problem: Callable[[], Problem]
    """May raise :class:`Skip` (e.g. its data set's library is missing): every row is skipped."""
    factories: Mapping[str, Factory]
    unit: tuple[str, int] | None = None
    """E.g. ``("op", 300)``: also report the time per op (time / 300) in µs."""
    targets: tuple[Target, ...] = ()
    time_label: str = "time/step"


# --------------------------------------------------------------------------------------------
# Correctness checking
# --------------------------------------------------------------------------------------------

# (rtol, atol relative to the largest |reference| entry of the leaf).  Measured disagreement
# between correct frameworks: ~1e-14 relative in float64; in float32 ~1e-6 of the largest
# entry and ~3e-4 relative on individual entries, because the BLAS kernels sum 784/512-long dot
# products in different orders.  Both bounds leave >10x headroom yet catch a 1% error.
TOLERANCES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float64): (1e-9, 1e-12),
    np.dtype(np.float32): (1e-3, 1e-5),
}


class CheckFailed(Exception):
    """A framework's output disagrees with the hand-written NumPy reference."""


def _tolerance(dtype: np.dtype) -> tuple[float, float]:
    return TOLERANCES.get(np.dtype(dtype), TOLERANCES[np.dtype(np.float64)])


def compare_trees(
    what: str,
    got: Tree,
    ref: Tree,
    check_dtype: bool = True,
    tolerance: tuple[float, float] | None = None,
) -> None:
    """Raise :class:`CheckFailed` unless ``got`` matches ``ref`` leaf by leaf (and dtype).

    ``tolerance`` overrides the dtype's default ``(rtol, atol relative to max|ref|)``."""
    got_leaves, _ = tree_flatten(got)
    ref_leaves, _ = tree_flatten(ref)
    paths = tree_paths(ref)
    if len(got_leaves) != len(ref_leaves):
        raise CheckFailed(
            f"{what}: structure differs ({len(got_leaves)} leaves, reference has "
            f"{len(ref_leaves)}: {paths})"
        )
    for path, g, r in zip(paths, got_leaves, ref_leaves):
        g, r = to_numpy(g), np.asarray(r)
        if g.shape != r.shape:
            raise CheckFailed(f"{what}{path}: shape {g.shape}, reference {r.shape}")
        if check_dtype and g.dtype != r.dtype:
            raise CheckFailed(f"{what}{path}: dtype {g.dtype}, reference {r.dtype}")
        rtol, atol = tolerance or _tolerance(r.dtype)
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        if not np.all(np.isfinite(g)):
            raise CheckFailed(f"{what}{path}: non-finite values")
        if not np.allclose(g, r, rtol=rtol, atol=atol * max(scale, 1e-30)):
            err = float(np.max(np.abs(g.astype(np.float64) - r)))
            raise CheckFailed(
                f"{what}{path}: max |diff| {err:.3e} exceeds rtol={rtol:g}, "
                f"atol={atol:g}*max|ref|={atol * scale:.3e}"
            )


def check_impl(impl: Impl, problem: Problem) -> Tree:
    """Compare a framework's (loss, grads) and its timed step's output with the reference.

    Returns the step's output (for :func:`cross_check`)."""
    (ref_value, ref_grads), ref_step = problem.reference_step()
    value, grads = impl.value_and_grad()
    compare_trees("loss", value, np.asarray(ref_value), check_dtype=False)
    compare_trees("grads", grads, ref_grads)
    out = impl.step()
    deriv = problem.derivative
    if deriv is not None:
        compare_trees(f"step {deriv.kind}", out, ref_step, tolerance=deriv.tolerance)
    elif problem.lr is None:
        compare_trees("step grads", out, ref_step)
    else:
        compare_trees("step loss", out[0], np.asarray(ref_step[0]), check_dtype=False)
        compare_trees("step new params", out[1], ref_step[1])
    return out


def cross_check(outputs: Sequence[tuple[str, Tree]]) -> dict[str, str]:
    """Check step outputs against their leaf-wise median at the default (tight) tolerance.

    Used when the reference is only approximate (see :attr:`Derivative.tolerance`): each
    framework must then also agree with the others.  Returns ``{name: failure}``; with two
    frameworks the median is their mean, so a disagreement fails both (neither is trusted).
    """
    if len(outputs) < 2:
        return {}
    trees = [tree_map(to_numpy, out) for _, out in outputs]
    median = tree_map(lambda *leaves: np.median(np.stack(leaves), axis=0), *trees)
    failures = {}
    for (name, _), tree in zip(outputs, trees):
        try:
            compare_trees("step vs the frameworks' median", tree, median, check_dtype=False)
        except CheckFailed as exc:
            failures[name] = str(exc)
    return failures


def central_difference(
    fn: Callable[[Tree], Tree], params: Tree, direction: Tree, eps: float, order: int = 2
) -> Tree:
    """Directional derivative of a (pytree-valued) ``fn`` at ``params`` along ``direction``
    by a central finite difference with error ``O(eps**order)``, ``order`` 2 or 4."""
    weights = {2: ((1, 1 / 2),), 4: ((1, 2 / 3), (2, -1 / 12))}[order]

    def at(t: float) -> tuple[list[Any], Callable[[Iterable[Any]], Tree]]:
        return tree_flatten(fn(tree_map(lambda a, v: a + t * v, params, direction)))

    total: list[Any] = []
    for k, w in weights:
        (plus, rebuild), (minus, _) = at(k * eps), at(-k * eps)
        term = [w * (p - m) / eps for p, m in zip(plus, minus)]
        total = [a + b for a, b in zip(total, term)] if total else term
    return rebuild(total)


def check_reference(problem: Problem, eps: float = 1e-6, seed: int = 0) -> None:
    """Guard the hand-written reference itself with central finite differences.

    Done in float64 along one random direction, so it is cheap and works for any workload
    (including float32 ones) even when no comparison library is installed: the directional
    derivative of the loss must match the hand-written gradient, and a closed-form higher
    derivative (see :func:`_check_derivative_reference`) must match differences of that
    gradient.
    """
    rng = np.random.default_rng(seed)
    p64 = tree_map(lambda a: np.asarray(a, dtype=np.float64), problem.params)
    d64 = tuple(np.asarray(d, dtype=np.float64) for d in problem.data)
    if problem.batch_size is not None:
        # An epoch differentiates mini-batches: check on the first one.  (On a whole training
        # set a ReLU network has so many kinks near zero that a 1e-6 step crosses enough of
        # them to miss the 1e-5 bound: 4e-5 on ``erm_epoch``'s 1,437 rows, 3e-11 on 64.)
        d64 = minibatches(d64, problem.batch_size)[0]
    if problem.check_rows is not None:
        d64 = tuple(d[: problem.check_rows] for d in d64)
    direction = tree_map(lambda a: rng.standard_normal(np.shape(a)), p64)
    _, grads = problem.hand_value_and_grad(p64, *d64)
    analytic = sum(
        float(np.sum(g * v)) for g, v in zip(tree_flatten(grads)[0], tree_flatten(direction)[0])
    )
    numeric = float(
        central_difference(lambda p: problem.hand_value_and_grad(p, *d64)[0], p64, direction, eps)
    )
    if not math.isclose(analytic, numeric, rel_tol=1e-5, abs_tol=1e-8):
        raise CheckFailed(
            f"hand-written reference fails a finite-difference check: directional derivative "
            f"{analytic!r} vs numeric {numeric!r}"
        )
    if not any(np.any(g != 0) for g in tree_flatten(grads)[0]):
        raise CheckFailed("hand-written reference gradient is identically zero")
    if problem.derivative is not None:
        _check_derivative_reference(problem, p64, d64, direction)


def _check_derivative_reference(
    problem: Problem, p64: Tree, d64: tuple[np.ndarray, ...], direction: Tree
) -> None:
    """Guard a :class:`Derivative` reference with differences of the (checked) hand gradient.

    ``hessian``: ``H @ direction`` against a 4th-order central difference of the gradient
    along ``direction``.  ``nested_grad``: the ``order``-th derivative against the
    ``(order - 1)``-th central difference of the first derivative (step 1e-3; for order 4
    truncation and rounding errors are ~1e-5 and ~1e-6 relative, checked to 1e-3).
    ``per_example``: their mean is the whole batch's gradient (for losses that are means over
    rows).  ``hvp``: the reference *is* such a difference (approximate, so the frameworks are
    also cross-checked); nothing more to do.
    """
    deriv = problem.derivative
    assert deriv is not None
    ref = deriv.reference()
    if not any(np.any(to_numpy(r) != 0) for r in tree_flatten(ref)[0]):
        raise CheckFailed(f"{deriv.kind} reference is identically zero")

    def grad_at(p: Tree) -> Tree:
        return problem.hand_value_and_grad(p, *d64)[1]

    if deriv.kind == "hessian":
        analytic = np.tensordot(ref, direction, axes=np.ndim(direction))
        numeric = central_difference(grad_at, p64, direction, 1e-4, order=4)
        what, tolerance = "H @ v ", (1e-7, 1e-10)  # measured agreement: ~1e-12 of max|H @ v|
    elif deriv.kind == "nested_grad":
        n, h, x = deriv.order - 1, 1e-3, float(p64)
        analytic = np.asarray(ref, dtype=np.float64)
        numeric = np.asarray(
            sum((-1) ** k * math.comb(n, k) * grad_at(x + (n / 2 - k) * h) for k in range(n + 1))
            / h**n
        )
        what, tolerance = f"derivative {deriv.order} ", (1e-3, 1e-6)
    elif deriv.kind == "per_example":
        analytic = tree_map(lambda g: np.mean(g, axis=0), ref)
        numeric = grad_at(p64)
        what, tolerance = "mean of the per-example gradients ", None
    else:
        return
    try:
        compare_trees(what, numeric, analytic, check_dtype=False, tolerance=tolerance)
    except CheckFailed as exc:
        raise CheckFailed(
            f"{deriv.kind} reference fails a finite-difference check of the hand gradient: {exc}"
        ) from None


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median over samples and the interquartile range."""

    median: float
    q1: float
    q3: float
    inner: int
    samples: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclass(frozen=True)
class Settings:
    """How hard to time: ``--quick`` lowers every knob for a smoke run."""

    repeat: int = 15
    warmup: int = 10
    """Past fgrad's switch to its fused kernels (a ``jit`` program's 9th call), so no kernel
    compiles while another framework is timed."""
    min_sample_s: float = 0.02


def calibrate(fn: Callable[[], Any], settings: Settings) -> int:
    """Warm up ``fn`` (caches, JIT compilation), then pick the number of calls per sample so
    one sample lasts >= ``min_sample_s``: timer resolution and jitter then don't matter."""
    for _ in range(settings.warmup):
        fn()
    inner = 1
    while True:
        elapsed = sample(fn, inner) * inner
        if elapsed >= settings.min_sample_s:
            return inner
        grow = settings.min_sample_s / max(elapsed, 1e-9) * 1.2
        inner = max(inner * 2, math.ceil(inner * grow))


def sample(fn: Callable[[], Any], inner: int) -> float:
    """Seconds per call, averaged over ``inner`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def summarize(per_call: Sequence[float], inner: int) -> Timing:
    """Median and quartiles of per-call sample times."""
    if len(per_call) >= 2:
        q1, _, q3 = statistics.quantiles(per_call, n=4, method="inclusive")
    else:
        q1 = q3 = per_call[0]
    return Timing(statistics.median(per_call), q1, q3, inner, len(per_call))


def measure(fn: Callable[[], Any], settings: Settings) -> Timing:
    """Time ``fn`` on its own: calibrate, then ``repeat`` samples (handy in ad-hoc scripts)."""
    inner = calibrate(fn, settings)
    return summarize([sample(fn, inner) for _ in range(settings.repeat)], inner)


def tune_allocator() -> str:
    """Fix glibc malloc's mmap and trim thresholds; returns a line for the report header.

    By default glibc adapts both thresholds at run time, so whether the MLPs' 0.5-1.6 MB
    temporaries are recycled from the heap or freshly mmapped (about 1,700 page faults per
    ``mlp_large`` step) depends on what happened earlier in the process: merely importing
    autograd, JAX, torch or fgrad made the *hand-written NumPy* step 1.7x slower.  Pinning the
    thresholds (mmap: 32 MiB, glibc's maximum; trim: 1 GiB) makes every row run in the same,
    fault-free regime, independent of import and run order.
    """
    if not sys.platform.startswith("linux"):
        return "allocator: system default (not Linux)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to pin
        ok = False
    if not ok:
        return "allocator: system default (mallopt unavailable)"
    return "allocator: glibc mmap threshold 32 MiB, trim threshold 1 GiB (see --system-malloc)"


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """The outcome for one framework on one workload."""

    framework: str
    status: str  # "ok" | "skipped" | "FAILED" | "error"
    note: str = ""
    timing: Timing | None = None


@dataclass
class Result:
    """All rows of one workload, in factory order."""

    workload: Workload
    rows: list[Row] = field(default_factory=list)

    def median(self, framework: str) -> float | None:
        for row in self.rows:
            if row.framework == framework and row.timing is not None:
                return row.timing.median
        return None


ROUNDS = 5
"""Samples are taken in this many round-robin rounds over the frameworks (see run_workload)."""


def _error_row(name: str, exc: Exception) -> Row:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return Row(name, "error", f"{type(exc).__name__}: {exc}{where}")


def run_workload(
    workload: Workload, settings: Settings, frameworks: Sequence[str] | None = None
) -> Result:
    """Check every framework on ``workload``, then time those that passed.

    Timed samples are taken in :data:`ROUNDS` round-robin rounds over the frameworks, so slow
    drifts of the machine (other load, frequency changes) hit every row alike and the ratios
    stay fair; each framework's turn starts with one unrecorded sample, so thread pools still
    spinning from the previous framework (OpenMP, XLA, OpenBLAS) do not bleed into its numbers.
    Failures become rows, never crashes.
    """
    print(f"\n=== {workload.name}: {workload.summary}", flush=True)
    result = Result(workload)
    try:
        problem = workload.make_problem()
    except Skip as exc:
        print(f"  skipped: {exc}")
        result.rows.append(Row("all frameworks", "skipped", str(exc)))
        return result
    try:
        check_reference(problem)
    except CheckFailed as exc:
        print(f"  reference FAILED: {exc}")
        result.rows.append(Row(BASELINE_NUMPY, "FAILED", str(exc)))
        return result
    checked: list[tuple[Row, Callable[[], Any]]] = []
    outputs: list[tuple[str, Tree]] = []  # step outputs of the autodiff rows, for cross_check
    for name, factory in workload.factories.items():
        if frameworks and not any(f.lower() in name.lower() for f in frameworks):
            continue
        print(f"  {name:<20} ", end="", flush=True)
        try:
            impl = factory(problem)
            out = check_impl(impl, problem)
        except Skip as exc:
            row = Row(name, "skipped", str(exc))
        except CheckFailed as exc:
            row = Row(name, "FAILED", f"gradient check failed, not timed: {exc}")
        except Exception as exc:  # noqa: BLE001 - any framework error becomes a reported row
            row = _error_row(name, exc)
        else:
            row = Row(name, "ok", "checked")
            checked.append((row, impl.step))
            if name != BASELINE_NUMPY:
                outputs.append((name, out))
        result.rows.append(row)
        print(f"{row.status}: {row.note}", flush=True)
    if problem.derivative is not None and problem.derivative.tolerance is not None:
        checked = _apply_cross_check(checked, outputs)

    # Everything alive now (imported libraries, other frameworks' setup) goes to the permanent
    # GC generation: a framework's samples then pay only for collecting its *own* garbage, not
    # for traversing JAX's and torch's module objects (which made full collections stall).
    gc.collect()
    gc.freeze()
    try:
        _time_rounds(checked, settings)
    finally:
        gc.unfreeze()
    return result


def _apply_cross_check(
    checked: list[tuple[Row, Callable[[], Any]]], outputs: Sequence[tuple[str, Tree]]
) -> list[tuple[Row, Callable[[], Any]]]:
    """Fail (and drop from timing) the rows that disagree with the others (:func:`cross_check`)."""
    if len(outputs) < 2:
        print("  cross-check: skipped (fewer than two frameworks to compare)", flush=True)
        return checked
    failures = cross_check(outputs)
    for row, _ in checked:
        if row.framework in failures:
            row.status = "FAILED"
            row.note = f"cross-check failed, not timed: {failures[row.framework]}"
    print(
        f"  cross-check: {len(outputs) - len(failures)} of {len(outputs)} framework(s) agree "
        "with their median at the default tolerance",
        flush=True,
    )
    return [(row, step) for row, step in checked if row.status == "ok"]


def _time_rounds(checked: Sequence[tuple[Row, Callable[[], Any]]], settings: Settings) -> None:
    """Calibrate each checked step, then sample them in round-robin rounds; fills ``timing``."""
    timed: list[tuple[Row, Callable[[], Any], int, list[float]]] = []
    for row, step in checked:
        try:
            timed.append((row, step, calibrate(step, settings), []))
        except Exception as exc:  # noqa: BLE001
            failed = _error_row(row.framework, exc)
            row.status, row.note = failed.status, failed.note
    rounds = min(settings.repeat, ROUNDS)
    print(
        f"  timing {len(timed)} framework(s): {settings.repeat} samples each, "
        f"interleaved in {rounds} rounds ...",
        flush=True,
    )
    for r in range(rounds):
        count = settings.repeat // rounds + (r < settings.repeat % rounds)
        for row, step, inner, samples in timed:
            if row.status != "ok":
                continue
            try:
                sample(step, inner)  # not recorded: lets the previous framework's threads idle
                samples += [sample(step, inner) for _ in range(count)]
            except Exception as exc:  # noqa: BLE001
                failed = _error_row(row.framework, exc)
                row.status, row.note = failed.status, failed.note
    for row, _, inner, samples in timed:
        if row.status == "ok":
            row.timing = summarize(samples, inner)


def format_seconds(seconds: float) -> str:
    """Format a duration with a unit that keeps 3-4 significant digits readable."""
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} µs"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0:
        return "-"
    return f"{value / base:.2f}x"


def table(result: Result) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the results table for one workload."""
    wl = result.workload
    header = ["framework", f"median {wl.time_label}", "IQR"]
    if wl.unit:
        header.append(f"µs/{wl.unit[0]}")
    header += ["vs numpy (hand)", "vs autograd", "note"]
    base_np = result.median(BASELINE_NUMPY)
    base_ag = result.median(BASELINE_AUTOGRAD)
    rows = []
    for row in result.rows:
        t = row.timing
        cells = [
            row.framework,
            format_seconds(t.median) if t else row.status,
            format_seconds(t.iqr) if t else "-",
        ]
        if wl.unit:
            cells.append(f"{t.median / wl.unit[1] * 1e6:.3f}" if t else "-")
        med = t.median if t else None
        note = f"{t.samples}x{t.inner} calls" if t else row.note
        cells += [_ratio(med, base_np), _ratio(med, base_ag), note]
        rows.append(cells)
    return header, rows


def target_lines(result: Result) -> list[str]:
    """One line per target: the measured ratio and whether it is met (information only)."""
    lines = []
    for tg in result.workload.targets:
        names = (tg.baseline,) if isinstance(tg.baseline, str) else tg.baseline
        timed = [(m, name) for name in names if (m := result.median(name)) is not None]
        value = result.median(tg.framework)
        if value is None or not timed:
            missing = tg.framework if value is None else " / ".join(names)
            lines.append(f"target: {tg.text} -> not measured ({missing} has no timing)")
            continue
        base, fastest = min(timed)
        ratio = value / base
        verdict = "met" if ratio <= tg.max_ratio else "NOT met"
        versus = f" (vs {fastest}, the faster)" if len(names) > 1 else ""
        lines.append(f"target: {tg.text} -> {ratio:.2f}x{versus} ({verdict})")
    return lines


def print_result(result: Result) -> None:
    header, rows = table(result)
    # Notes can be long error messages: keep them out of the column-width computation.
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    print()
    for cells in [header, *rows]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
    for line in target_lines(result):
        print("  " + line)


def markdown(
    results: Sequence[Result], settings: Settings, versions: Mapping[str, str], allocator: str
) -> str:
    """The results of a whole run as a Markdown document (for ``--markdown PATH``)."""
    out = ["# fgrad benchmark results", ""]
    out.append(
        f"- machine: {platform.machine()}, {platform.system()}, "
        f"{_cpu_count()} CPU core(s), Python {platform.python_version()}"
    )
    out.append("- libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    out.append(
        f"- timing: median over {settings.repeat} samples of >= "
        f"{settings.min_sample_s * 1e3:g} ms each, after {settings.warmup} warmup calls"
    )
    out.append(f"- {allocator}")
    for res in results:
        header, rows = table(res)
        out += ["", f"## {res.workload.name}", "", res.workload.summary, ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        lines = target_lines(res)
        if lines:
            out += [""] + [f"- {line}" for line in lines]
    return "\n".join(out) + "\n"


def _cpu_count() -> int:
    return os.cpu_count() or 1


def parse_args(argv: Sequence[str] | None, workloads: Sequence[Workload]) -> argparse.Namespace:
    names = [w.name for w in workloads]
    parser = argparse.ArgumentParser(description="fgrad vs NumPy/autograd/JAX/torch benchmarks.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: few short samples (checks still run in full)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--framework",
        action="append",
        metavar="SUBSTR",
        help="run only frameworks whose name contains SUBSTR (repeatable)",
    )
    parser.add_argument("--repeat", type=int, help="timed samples per framework")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="keep glibc's adaptive malloc thresholds (see tune_allocator)",
    )
    return parser.parse_args(argv)


def main(
    workloads: Sequence[Workload],
    versions: Callable[[], dict[str, str]],
    argv: Sequence[str] | None = None,
) -> int:
    """CLI entry point. Exit status 1 if any framework failed its check or raised."""
    args = parse_args(argv, workloads)
    settings = Settings(repeat=3, warmup=1, min_sample_s=0.005) if args.quick else Settings()
    if args.repeat is not None:
        settings = Settings(
            repeat=max(1, args.repeat), warmup=settings.warmup, min_sample_s=settings.min_sample_s
        )
    allocator = (
        "allocator: system default (--system-malloc)" if args.system_malloc else tune_allocator()
    )  # before any framework import allocates anything
    vers = versions()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{_cpu_count()} core(s); " + ", ".join(f"{k} {v}" for k, v in vers.items())
    )
    print(
        f"timing: {settings.repeat} samples of >= {settings.min_sample_s * 1e3:g} ms "
        f"after {settings.warmup} warmup call(s); every framework is checked before timing"
    )
    print(allocator)
    selected = [w for w in workloads if not args.only or w.name in args.only]
    results = []
    for wl in selected:
        res = run_workload(wl, settings, args.framework)
        print_result(res)
        results.append(res)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(markdown(results, settings, vers, allocator))
        print(f"\nwrote {args.markdown}")
    bad = [
        f"{r.workload.name}/{row.framework}"
        for r in results
        for row in r.rows
        if row.status in ("FAILED", "error")
    ]
    if bad:
        print(f"\n{len(bad)} failure(s): {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0
