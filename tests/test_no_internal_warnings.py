"""No warning leaks out of fgrad: every primitive, every ``fgrad.numpy`` function, the
functions of ``fgrad.numpy.fft``, ``fgrad.numpy.linalg``, ``fgrad.scipy.special`` and
``fgrad.nn``, and ``fgrad.lax``'s control flow, called on ordinary inputs under ``grad``,
``jvp``, ``vjp``, ``vmap``, ``jit`` and their compositions, with every warning turned into
an error (as ``python -W error`` does).

"Ordinary" means inputs on which the plain NumPy/SciPy function itself is silent: a warning
that NumPy gives the user for their own input (``log`` of a negative number) is theirs,
but one raised while fgrad differentiates, batches or compiles (a cast that drops an
imaginary part, a division in a rule where the value is masked out) is fgrad's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special
from test_numpy_sweep import CALLS
from test_primitive_rules import CASES, KINKS, REFUSING, closed_over

import fgrad
import fgrad.numpy as fnp
from fgrad import lax, nn
from fgrad.core.abstract import get_aval
from fgrad.scipy import special

TRANSFORMS = ["jvp", "vjp", "grad", "jit", "jit_grad", "vmap", "vmap_grad", "grad_grad"]


def _scalar(out):
    """A real scalar from every inexact leaf of ``out`` (real parts of complex ones)."""
    total = 0.0
    for leaf in fgrad.tree_leaves(out):
        if not hasattr(leaf, "dtype"):
            continue
        if get_aval(leaf).dtype.kind == "c":
            leaf = fnp.real(leaf)
        if get_aval(leaf).dtype.kind == "f":
            total = total + fnp.sum(leaf)
    return total


def _run(transform: str, f, xs: list):
    """``transform`` applied to ``f`` (a function of the arrays ``xs``), evaluated."""
    nums = tuple(range(len(xs)))

    def scalar(*ys):
        return _scalar(f(*ys))

    if transform == "jvp":
        return fgrad.jvp(f, tuple(xs), tuple(np.ones_like(x) for x in xs))
    if transform == "vjp":
        out, pullback = fgrad.vjp(f, *xs)
        return pullback(fgrad.tree_map(lambda o: np.ones(o.shape, o.dtype), out))
    if transform == "grad":
        return fgrad.grad(scalar, nums)(*xs)
    if transform == "jit":
        return fgrad.jit(f)(*xs)
    if transform == "jit_grad":
        return fgrad.jit(fgrad.grad(scalar, nums))(*xs)
    if transform == "vmap":
        return fgrad.vmap(f)(*[np.stack([x, x]) for x in xs])
    if transform == "vmap_grad":
        return fgrad.vmap(fgrad.grad(scalar, nums))(*[np.stack([x, x]) for x in xs])
    assert transform == "grad_grad"
    return fgrad.grad(lambda *ys: _scalar(fgrad.grad(scalar, nums)(*ys)), nums)(*xs)


def _warning_of(transform: str, f, xs: list, refusals=(Exception,)) -> str | None:
    """The warning ``transform`` of ``f`` raises, if any; ``refusals`` are errors that only
    mean the call is not supported under this transform (then there is nothing to check)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            _run(transform, f, xs)
        except Warning as w:
            return f"{type(w).__name__}: {w}"
        except refusals:
            return None
    return None


def _assert_no_warning(transform: str, calls: list, refusals=(Exception,)) -> None:
    """Run every ``(what, f, xs)`` of ``calls`` under ``transform``; fail listing all
    that warned."""
    found = []
    for what, f, xs in calls:
        w = _warning_of(transform, f, xs, refusals)
        if w:
            found.append(f"{what}: {w}")
    assert not found, "\n".join(found)


def _silent(f, *args) -> bool:
    """Does ``f(*args)`` (the NumPy/SciPy reference) run without error and warning, to a
    finite result? (SciPy's ufuncs return NaN outside their domain without a warning.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = f(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        except Exception:  # noqa: BLE001 - including warnings: not an ordinary input
            return False
    leaves = [np.asarray(x) for x in fgrad.tree_leaves(out) if hasattr(x, "dtype")]
    return all(np.isfinite(x).all() for x in leaves if x.dtype.kind in "fc")


# -- every primitive, through the rule-check harness's cases ----------------------------------

_KINK_IDS = {c.id for c in KINKS}
_REFUSING_IDS = {c.id for c in REFUSING}  # their rules raise NotImplementedError


def _primitive_calls() -> list:
    calls = []
    for c in CASES:
        if c.id in _KINK_IDS | _REFUSING_IDS or any(
            isinstance(a, tuple) and a[1] == "special" for a in c.args
        ):  # inf, nan, and points where the derivative does not exist
            continue
        args, diff = c.materialize()
        if not any(diff) or not _silent(closed_over(c, args, [False] * len(args))):
            continue
        calls.append((c.id, closed_over(c, args, diff), [a for a, d in zip(args, diff) if d]))
    return calls


PRIMITIVE_CALLS = _primitive_calls()


def test_the_primitive_sweep_covers_the_harness():
    assert len(PRIMITIVE_CALLS) >= 400, len(PRIMITIVE_CALLS)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_primitive_rules_raise_no_warning(transform):
    # the harness's cases all run under every transform: an error is a failure too
    _assert_no_warning(transform, PRIMITIVE_CALLS, refusals=())


# -- every fgrad.numpy function the NumPy sweep calls -----------------------------------------


def _of_inexact(fn, args: tuple, diff: list[int]):
    """``fn`` as a function of its arguments at positions ``diff`` (the others fixed)."""

    def f(*xs):
        full = list(args)
        for i, x in zip(diff, xs):
            full[i] = x
        return fn(*full)

    return f


def _numpy_calls() -> list:
    calls = []
    for name, cases in CALLS.items():
        for what, args, _ in cases:
            if not _silent(getattr(np, name), *args):
                continue
            diff = [i for i, a in enumerate(args) if a.dtype.kind in "fc"]
            if not diff:
                continue

            calls.append(
                (what, _of_inexact(getattr(fnp, name), args, diff), [args[i] for i in diff])
            )
    return calls


NUMPY_CALLS = _numpy_calls()


def test_the_numpy_sweep_covers_the_namespace():
    assert len({what.split("(")[0] for what, _, _ in NUMPY_CALLS}) >= 150


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_numpy_functions_raise_no_warning(transform):
    # refusals (a function that needs concrete values under jit, an integer output under
    # grad) are tested elsewhere; here only warnings count
    _assert_no_warning(transform, NUMPY_CALLS)


# -- submodules: fft, linalg, scipy.special, nn -------------------------------------------------

_RNG = np.random.default_rng(13)
_REAL = _RNG.standard_normal(8)
_COMPLEX = _RNG.standard_normal(8) + 1j * _RNG.standard_normal(8)
_SPD = np.eye(3) * 3 + 0.3 * _RNG.standard_normal((3, 3))
_SPD = _SPD @ _SPD.T
_POSITIVE = _RNG.uniform(0.5, 2.0, (3, 4))
_UNIT = _RNG.uniform(0.1, 0.9, (3, 4))
_NORMAL = _RNG.standard_normal((3, 4))


def _submodule_calls() -> list:
    calls = []
    for name in fnp.fft.__all__:
        if name.endswith("freq"):
            continue
        for kind, x in (("real", _REAL), ("complex", _COMPLEX)):
            if _silent(getattr(np.fft, name), x):
                calls.append((f"fft.{name}({kind})", getattr(fnp.fft, name), [x]))
    for name in fnp.linalg.__all__:
        ours, theirs = getattr(fnp.linalg, name), getattr(np.linalg, name, None)
        if not callable(theirs) or isinstance(theirs, type):
            continue
        for args in ([_SPD], [_SPD, _SPD[0]], [_SPD, _SPD]):
            if _silent(theirs, *args):
                calls.append((f"linalg.{name}({len(args)} args)", ours, args))
                break
    for name in special.__all__:
        theirs = getattr(scipy.special, name, None)
        for args in ([_POSITIVE], [_UNIT], [_POSITIVE, _POSITIVE[::-1]]):
            if theirs is not None and _silent(theirs, *args):
                calls.append((f"scipy.special.{name}", getattr(special, name), args))
                break
    for name in ["gelu", "log_sigmoid", "log_softmax", "logsumexp", "relu", "sigmoid", "silu"]:
        calls.append((f"nn.{name}", getattr(nn, name), [_NORMAL]))
    calls.append(("nn.softplus", nn.softplus, [_NORMAL]))
    calls.append(("nn.softmax", nn.softmax, [_NORMAL]))
    labels = np.array([0, 3, 1])
    calls.append(
        ("nn.softmax_cross_entropy", lambda x: nn.softmax_cross_entropy(x, labels), [_NORMAL])
    )
    signs = np.where(_NORMAL > 0, 1, 0)
    calls.append(("nn.hinge", lambda x: nn.hinge(x, signs), [_NORMAL]))
    calls.append(
        (
            "nn.sigmoid_binary_cross_entropy",
            lambda x: nn.sigmoid_binary_cross_entropy(x, signs),
            [_NORMAL],
        )
    )
    calls.append(("nn.mean_squared_error", nn.mean_squared_error, [_NORMAL, _POSITIVE]))
    return calls


SUBMODULE_CALLS = _submodule_calls()


def test_the_submodule_sweep_covers_them():
    names = {what.split("(")[0].split(".")[0] for what, _, _ in SUBMODULE_CALLS}
    assert names == {"fft", "linalg", "scipy", "nn"}
    assert len(SUBMODULE_CALLS) >= 80, len(SUBMODULE_CALLS)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_submodule_functions_raise_no_warning(transform):
    _assert_no_warning(transform, SUBMODULE_CALLS)


# -- control flow: fgrad.lax --------------------------------------------------------------------

_X3 = np.array([0.3, -0.7, 1.2])
LAX_CALLS = {
    "cond": lambda x: lax.cond(fnp.sum(x) > 0, fnp.sin, fnp.cos, x),
    "switch": lambda x: lax.switch(1, [fnp.sin, fnp.cos, fnp.tanh], x),
    "fori_loop": lambda x: lax.fori_loop(0, 3, lambda i, c: 0.5 * c + fnp.sin(c), x),
    "scan": lambda x: lax.scan(lambda c, xi: (c + xi, c * xi), 0.0, x),
    "while_loop": lambda x: lax.while_loop(
        lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 1.1), (0, x)
    )[1],
    "map": lambda x: lax.map(fnp.sin, x),
}


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name", sorted(LAX_CALLS))
def test_control_flow_raises_no_warning(name, transform):
    assert _warning_of(transform, LAX_CALLS[name], [_X3], refusals=()) is None


@pytest.mark.parametrize("transform", ["jit", "vmap", "jit_grad", "vmap_grad"])
def test_cond_branch_not_taken_raises_no_warning(transform):
    def f(x):  # sum(x) > 0: the sqrt branch is not taken
        return lax.cond(fnp.sum(x) < 0, fnp.sqrt, lambda x: -x, x)

    assert _warning_of(transform, f, [_X3], refusals=()) is None


def test_grad_of_irfft_is_real_and_silent():
    """The reproducer: ``grad`` through ``irfft`` of a real input emitted ComplexWarning."""
    x = np.array([1.0, 2.0, 3.0, 4.0])
    w = np.arange(6.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = fgrad.grad(lambda x: fnp.sum(fnp.fft.irfft(x) * w))(x)
    eps = 1e-6
    fd = [
        np.sum((np.fft.irfft(x + eps * e) - np.fft.irfft(x - eps * e)) * w) / (2 * eps)
        for e in np.eye(4)
    ]
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, fd, rtol=1e-7)
