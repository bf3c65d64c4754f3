"""Generate ``docs/numpy_support.md``: which NumPy (and SciPy special) functions fgrad has,
and whether their derivatives work, as probed, not as declared.

Run ``python scripts/gen_numpy_support.py`` after adding functions;
``tests/test_numpy_support.py`` fails while the committed table is stale.

For every public function of ``numpy``, ``numpy.linalg``, ``numpy.fft`` and of
``scipy.special`` that ``fgrad.scipy.special`` provides, the script calls fgrad's
counterpart on small sample arguments (the first of a few argument patterns
that NumPy itself accepts, or a per-function override), then probes forward
mode (``jvp`` against central finite differences) and reverse mode (``vjp``
against ``jvp`` by the dot-product identity) in float64. Results:

* ``yes``: the derivative matches; ``zero``: it is identically zero (floor, sign);
* ``n/a``: the result is integer or boolean (nothing to differentiate);
* ``no (Error)``: the transform raised; ``wrong``: it ran but disagreed;
* ``not probed``: no sample call fits (the table says which functions).

The column ``plain numpy`` says whether NumPy's own function, called on a traced
value, reaches fgrad's (through ``__array_ufunc__`` / ``__array_function__``):
``yes``: probed, same value and forward-mode derivative as fgrad's function;
``dispatches``: NumPy dispatches it, not probed (no sample or no float input);
``not dispatched``: NumPy offers no override (see the page's header).
"""

from __future__ import annotations

import inspect
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402

OUTPUT = ROOT / "docs" / "numpy_support.md"

_rng = np.random.default_rng(0)
X = _rng.uniform(0.2, 0.8, (3, 4))  # inside every common domain (log, arcsin, ...)
Y = _rng.uniform(0.2, 0.8, (3, 4))
V = _rng.uniform(0.2, 0.8, 4)
SQ = _rng.uniform(-1, 1, (4, 4)) + 4 * np.eye(4)
SPD = SQ @ SQ.T
HALF = np.fft.rfft(_rng.standard_normal(6))

I = _rng.integers(1, 9, (3, 4))
J = _rng.integers(1, 4, (3, 4))

# argument patterns tried in order: float samples (inside every common domain, then
# above 1 for arccosh and friends), then integer arrays and sizes for functions
# without a float argument
PATTERNS = [
    (X,),
    (X, Y),
    (X, 2),
    (X, 1),
    (V,),
    (V, V),
    (SQ,),
    (SQ, SQ),
    (SQ, V),
    (X + 1.5,),
    (X + 1.5, Y + 1.5),
    (I,),
    (I, J),
    (3,),
    ((2, 3),),
    (3, 3),
    ("1.5",),
]

# functions that need particular arguments: (args, kwargs)
#: functions that differentiate as functions of a symmetric matrix (JAX's convention, see
#: docs/linalg.md): probed along symmetric directions, the only ones where that is exact
SYMMETRIC_INPUT = {("numpy.linalg", n) for n in ("cholesky", "eigh", "eigvalsh")}

OVERRIDES = {
    "numpy": {
        "clip": ((X, 0.3, 0.6), {}),
        "where": ((X > 0.5, X, Y), {}),
        "select": (([X > 0.5, X < 0.3], [X, Y]), {}),
        "piecewise": ((X, [X > 0.5], [fnp.sin, fnp.cos]), {}),
        "einsum": (("ij,kj->ik", X, Y), {}),
        "interp": ((V, np.array([0.0, 0.5, 1.0]), np.array([1.0, 2.0, 0.5])), {}),
        "pad": ((X, 1), {}),
        "insert": ((X, 1, 0.5), {}),
        "linspace": ((0.3, 0.9, 5), {}),
        "logspace": ((0.3, 0.9, 5), {}),
        "geomspace": ((0.3, 0.9, 5), {}),
        "take": ((X, [0, 2]), {}),
        "take_along_axis": ((X, np.argsort(X, axis=1)), {"axis": 1}),
        "choose": ((np.array([0, 1, 0, 1]), [V, V * 2]), {}),
        "compress": (([True, False, True], X), {"axis": 0}),
        "extract": ((X > 0.5, X), {}),
        "histogram": ((V,), {"weights": V}),
        "apply_along_axis": ((np.sum, 1, X), {}),
        "apply_over_axes": ((np.sum, X, [0]), {}),
        "vectorize": None,
        "frompyfunc": None,
        "tensordot": ((X, Y.T), {"axes": 1}),
        "kron": ((SQ[:2, :2], SQ[:2, :2]), {}),
        "cross": ((V[:3], V[1:]), {}),
        "trapezoid": ((X,), {}),
        "put_along_axis": None,
        "percentile": ((X, 30.0), {}),
        "quantile": ((X, 0.3), {}),
        "nanpercentile": ((X, 30.0), {}),
        "nanquantile": ((X, 0.3), {}),
        "tile": ((X, 2), {}),
        "repeat": ((X, 2), {}),
        "roll": ((X, 1), {}),
        "reshape": ((X, (4, 3)), {}),
        "resize": ((X, (2, 5)), {}),
        "broadcast_to": ((V, (3, 4)), {}),
        "full_like": ((X, 0.5), {}),
        "moveaxis": ((X, 0, 1), {}),
        "swapaxes": ((X, 0, 1), {}),
        "rollaxis": ((X, 1), {}),
        "expand_dims": ((X, 0), {}),
        "split": ((X, 2, 1), {}),
        "array_split": ((X, 3, 1), {}),
        "hsplit": ((X, 2), {}),
        "vsplit": ((X, 3), {}),
        "dsplit": ((X[None], 2), {}),
        "delete": ((X, 1, 1), {}),
        "diff": ((X,), {}),
        "polyval": ((V, X), {}),
        "polyfit": ((np.linspace(0, 1, 6), np.linspace(0, 1, 6) ** 2, 2), {}),
        "convolve": ((V, V[:2]), {}),
        "correlate": ((V, V[:2]), {}),
        "bincount": (([0, 1, 1, 3], V), {}),
        "roots": ((np.array([1.0, -3.0, 2.0]),), {}),
        "fill_diagonal": None,
    },
    "numpy.linalg": {
        "cholesky": ((SPD,), {}),
        "eigh": ((SPD,), {}),
        "eigvalsh": ((SPD,), {}),
        "matrix_power": ((SQ, 3), {}),
        "tensorinv": ((SQ.reshape(4, 2, 2), 1), {}),
        "multi_dot": (([SQ, SQ, SQ],), {}),
        "lstsq": ((X.T, V), {}),
        "outer": ((V, V), {}),
        "cross": ((V[:3], V[1:]), {}),
        "svd": ((X,), {"full_matrices": False}),
        "qr": ((X.T,), {}),
        "tensorsolve": ((SQ.reshape(2, 2, 2, 2), X[:2, :2]), {}),
    },
    "numpy.fft": {
        "irfft": ((HALF,), {}),
        "irfft2": ((np.fft.rfft2(X),), {}),
        "irfftn": ((np.fft.rfftn(X),), {}),
        "hfft": ((HALF,), {}),
        "fftfreq": ((5,), {}),
        "rfftfreq": ((5,), {}),
    },
    "scipy.special": {
        "polygamma": ((1, X), {}),
        "gammainc": ((1.5, X), {}),
        "gammaincc": ((1.5, X), {}),
        "betainc": ((2.0, 3.0, X), {}),
        "iv": ((1.5, X), {}),
        "ive": ((1.5, X), {}),
        "jn": ((2, X), {}),
        "jv": ((1.5, X), {}),
        "yn": ((2, X), {}),
        "yv": ((1.5, X), {}),
        "multigammaln": ((X + 3, 2), {}),
        "zeta": ((3.0, np.abs(X) + 1), {}),
        "xlogy": ((X, Y), {}),
        "xlog1py": ((X, Y), {}),
        "expn": ((2, np.abs(X) + 0.5), {}),
        "owens_t": ((0.7, X), {}),
        "hyp1f1": ((1.5, 2.5, X), {}),
        "hyp2f1": ((0.5, 1.5, 2.5, 0.5 * np.tanh(X)), {}),
    },
}


def _public_functions(module) -> list[str]:
    names = []
    for name in dir(module):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if isinstance(obj, np.ufunc) or (
            callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj)
        ):
            names.append(name)
    return sorted(names)


def _float_leaves(args):
    """Positions of the float arrays (and lists of them) among ``args``: the inputs probed."""
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


# functions with side effects (global state, files, printing) are never called
_SIDE_EFFECTS = ("set", "save", "load", "show", "test", "info", "from", "genfromtxt", "seterr")


def _sample_call(np_fn, name: str, section: str):
    if name.startswith(_SIDE_EFFECTS):
        return None
    override = OVERRIDES.get(section, {}).get(name, "default")
    if override is None:
        return None
    if override != "default":
        return override
    for args in PATTERNS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # copies: a second positional argument may be NumPy's `out`
                out = np_fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
            except Exception:  # noqa: BLE001 - NumPy refuses these arguments: try the next
                continue
        if _finite(out):
            return args, {}
    return None


def _finite(out) -> bool:
    """NaN or inf results mean the sample is outside the function's domain."""
    try:
        leaves = [np.asarray(leaf) for leaf in fgrad.tree_leaves(out)]
        return all(np.all(np.isfinite(leaf)) for leaf in leaves if leaf.dtype.kind in "fc")
    except TypeError:  # strings, types and other non-array results
        return True


def _is_numeric_array(x) -> bool:
    from fgrad.core.tracer import Tracer

    if not isinstance(x, (np.ndarray, np.generic, Tracer)):
        return False
    return np.dtype(x.dtype).kind in "fc"


def _probe(fn, args, kwargs, symmetric: bool = False) -> tuple[str, str]:
    """(forward, reverse) verdicts for ``fn`` on the first float argument (moved along a
    symmetric direction if ``symmetric``)."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    positions = _float_leaves(args)
    if not positions:
        return "n/a", "n/a"
    i = positions[0]

    def f(x):
        full = list(args)
        full[i] = x
        out = fn(*full, **kwargs)
        leaves = [leaf for leaf in fgrad.tree_leaves(out) if _is_numeric_array(leaf)]
        if not leaves:
            raise _NoFloatOutput
        return leaves[0] if len(leaves) == 1 else tuple(leaves)

    x = np.asarray(args[i], dtype=np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = f(x)
    except _NoFloatOutput:
        return "n/a", "n/a"
    except Exception as err:  # noqa: BLE001
        return f"no ({type(err).__name__})", f"no ({type(err).__name__})"
    v = np.random.default_rng(1).standard_normal(x.shape)
    if symmetric:
        v = 0.5 * (v + np.swapaxes(v, -1, -2))
    eps = 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = fgrad.tree_map(
            lambda p, m: (np.asarray(p, np.complex128) - np.asarray(m, np.complex128)) / (2 * eps),
            f(x + eps * v),
            f(x - eps * v),
        )
    forward = reverse = None
    t_out = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, t_out = fgrad.jvp(f, (x,), (v,))
        ok = all(
            np.allclose(np.asarray(t, np.complex128), d, rtol=1e-4, atol=1e-6)
            for t, d in zip(fgrad.tree_leaves(t_out), fgrad.tree_leaves(fd))
        )
        zero = all(not np.any(np.asarray(t)) for t in fgrad.tree_leaves(t_out))
        forward = ("zero" if zero else "yes") if ok else "wrong"
    except Exception as err:  # noqa: BLE001
        forward = f"no ({type(err).__name__})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, pullback = fgrad.vjp(f, x)
            u = fgrad.tree_map(
                lambda leaf: np.random.default_rng(2).standard_normal(np.shape(leaf)), y
            )
            (g,) = pullback(u)
        lhs = float(np.real(np.sum(np.asarray(g) * v)))
        rhs = sum(
            float(np.real(np.sum(np.asarray(uu) * np.asarray(d))))
            for uu, d in zip(fgrad.tree_leaves(u), fgrad.tree_leaves(fd))
        )
        ok = abs(lhs - rhs) <= 1e-4 * max(1.0, abs(rhs))
        reverse = ("zero" if not np.any(g) and forward == "zero" else "yes") if ok else "wrong"
    except Exception as err:  # noqa: BLE001
        reverse = f"no ({type(err).__name__})"
    return forward, reverse


class _NoFloatOutput(Exception):
    pass


def _dispatches(np_fn) -> bool:
    """Whether NumPy hands calls with a traced argument to the tracer's protocols."""
    return isinstance(np_fn, np.ufunc) or hasattr(np_fn, "_implementation")


def _plain_numpy(np_fn, ours, args, kwargs) -> str:
    """Does ``np_fn`` on a traced first float argument give ``ours``'s value and tangent?"""
    if not _dispatches(np_fn):
        return "not dispatched"
    positions = _float_leaves(args)
    if not positions:
        return "dispatches"
    i = positions[0]
    x = np.asarray(args[i], dtype=np.float64)
    v = np.random.default_rng(1).standard_normal(x.shape)

    def tangents(fn):
        def f(x):
            full = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            full[i] = x
            return [leaf for leaf in fgrad.tree_leaves(fn(*full, **kwargs))]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fgrad.jvp(f, (x,), (v,))

    try:
        expected = tangents(ours)
    except Exception:  # noqa: BLE001 - fgrad's own function is not forward-differentiable here
        return "dispatches"
    try:
        got = tangents(np_fn)
    except Exception as err:  # noqa: BLE001
        return f"no ({type(err).__name__})"
    same = all(_same(a, b) for a, b in zip(fgrad.tree_leaves(got), fgrad.tree_leaves(expected)))
    return "yes" if same else "wrong"


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
        return bool(np.allclose(a, b, equal_nan=True))
    return bool(np.all(a == b))


def _section(title: str, np_module, fg_module, section: str, names=None) -> tuple[list, dict]:
    names = _public_functions(np_module) if names is None else names
    rows, counts = [], {"total": 0, "supported": 0, "fwd": 0, "rev": 0, "plain": 0}
    for name in names:
        counts["total"] += 1
        ours = getattr(fg_module, name, None) if fg_module is not None else None
        if ours is None or not callable(ours):
            rows.append((name, "no", "", "", "", ""))
            continue
        counts["supported"] += 1
        np_fn = getattr(np_module, name)
        plain = "n/a" if section == "scipy.special" else None
        call = _sample_call(np_fn, name, section)
        if call is None:
            plain = plain or ("dispatches" if _dispatches(np_fn) else "not dispatched")
            counts["plain"] += plain == "dispatches"
            row = ("yes", "not probed", "not probed", plain, "needs specific arguments")
            rows.append((name, *row))
            continue
        args, kwargs = call
        forward, reverse = _probe(ours, args, kwargs, (section, name) in SYMMETRIC_INPUT)
        plain = plain or _plain_numpy(np_fn, ours, args, kwargs)
        counts["fwd"] += forward in ("yes", "zero")
        counts["rev"] += reverse in ("yes", "zero")
        counts["plain"] += plain in ("yes", "dispatches")
        note = "no derivative: no floating-point result" if forward == "n/a" else ""
        rows.append((name, "yes", forward, reverse, plain, note))
    return [f"## {title}", "", _table(rows), ""], counts


def _table(rows) -> str:
    lines = [
        "| function | supported | forward mode | reverse mode | plain numpy | notes |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| `{n}` | {s} | {f} | {r} | {p} | {note} |" for n, s, f, r, p, note in rows]
    return "\n".join(lines)


def generate() -> str:
    """The text of ``docs/numpy_support.md``."""
    import fgrad.numpy.fft
    import fgrad.numpy.linalg

    parts, summary = [], []
    sections = [
        ("`numpy`", np, fnp, "numpy", None),
        ("`numpy.linalg`", np.linalg, fgrad.numpy.linalg, "numpy.linalg", None),
        ("`numpy.fft`", np.fft, fgrad.numpy.fft, "numpy.fft", None),
    ]
    try:
        import scipy.special

        import fgrad.scipy.special as fss

        sections.append(
            (
                "`scipy.special` (what `fgrad.scipy.special` has)",
                scipy.special,
                fss,
                "scipy.special",
                [n for n in fss.__all__ if hasattr(scipy.special, n)],
            )
        )
    except ImportError:
        pass
    for title, np_module, fg_module, key, names in sections:
        lines, c = _section(title, np_module, fg_module, key, names)
        parts += lines
        summary.append(
            f"| {title} | {c['supported']} of {c['total']} | {c['fwd']} | {c['rev']} "
            f"| {c['plain'] if key != 'scipy.special' else 'n/a'} |"
        )
    header = [
        "# NumPy support in fgrad",
        "",
        f"Generated with NumPy {np.__version__}.",
        "",
        "Generated by `python scripts/gen_numpy_support.py`; `tests/test_numpy_support.py`",
        "fails when this file is stale. Every supported function is called on small float64",
        "samples and its derivatives are probed: forward mode against central finite",
        "differences, reverse mode against them through the dot-product identity.",
        "`yes`: the derivative matches; `zero`: it is identically zero (rounding, sign);",
        "`n/a`: no floating-point input or result (integers, booleans, strings, shapes);",
        "`no (Error)`: the transform raised;",
        "`not probed`: the function needs arguments the generic probe does not build",
        "(it is tested in `tests/`). The probe checks one sample point and the first",
        "floating-point argument only; `tests/` checks the rest.",
        "",
        "`plain numpy`: whether NumPy's own function, called on a traced value, reaches",
        "fgrad's (docs/plain_numpy.md): `yes`: probed, the same value and forward-mode",
        "derivative as the `fgrad.numpy` function; `dispatches`: NumPy hands the call to",
        "fgrad (a ufunc, or `__array_function__`), not probed; `not dispatched`: NumPy",
        "offers no override. Of those, the ones taking no array (`zeros`, `arange`, `eye`,",
        "windows) still work, building constants; the converters (`array`, `asarray`, ...)",
        "raise `TracerArrayConversionError` on traced values: call `fgrad.numpy`'s.",
        "",
        "| namespace | supported | forward mode works | reverse mode works "
        "| reachable from plain numpy |",
        "|---|---|---|---|---|",
        *summary,
        "",
        "Semantics that differ from NumPy on purpose are listed in",
        '`docs/architecture.md` ("Semantics worth knowing"). Unsupported names raise an',
        "`AttributeError` that points here.",
        "",
    ]
    return "\n".join(header + parts)


def main() -> None:
    OUTPUT.write_text(generate())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
