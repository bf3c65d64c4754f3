"""A sweep over the whole ``fgrad.numpy`` namespace: every function NumPy can call on one
random array (and on a pair of them) gives NumPy's value, type, dtype and shape in fgrad.

The per-function tests check semantics in depth; this one catches any function whose
plain call drifted from NumPy, including ones added later without a dedicated test.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

RNG = np.random.default_rng(2024)
INPUTS = {
    "normal": RNG.standard_normal((3, 4)),
    "positive": RNG.uniform(0.5, 2.0, (3, 4)),
    "unit": RNG.uniform(-0.9, 0.9, (3, 4)),
    "int": RNG.integers(1, 9, (3, 4)),
    "float32": RNG.standard_normal((3, 4)).astype(np.float32),
    "complex": RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4)),
}
# NumPy functions whose plain call on an array is not a computation to compare
NOT_COMPARABLE = {
    "empty_like",  # uninitialised memory
    "printoptions",  # a context manager
    "iterable",
    "random",
}
# deliberate departures from NumPy, documented in docs/architecture.md
DEPARTURES = {("reciprocal", "int")}  # NumPy's integer reciprocal truncates 1 / x to 0


def _functions():
    for name in sorted(fnp.__all__):
        ours, theirs = getattr(fnp, name, None), getattr(np, name, None)
        if name in NOT_COMPARABLE or not callable(ours) or not callable(theirs):
            continue
        if inspect.isclass(theirs) and not isinstance(theirs, np.ufunc):
            continue
        yield name


def _same(got, want, what):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), what
        for g, w in zip(got, want):
            _same(g, w, what)
        return
    if isinstance(want, (str, bool, int)) or want is None:
        assert got == want, what
        return
    assert type(got) is type(want), f"{what}: {type(got).__name__}, NumPy {type(want).__name__}"
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, NumPy {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, NumPy {want.shape}"
    if want.dtype.kind in "fc":
        tol = 1e-5 if want.dtype.itemsize <= 4 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _arities(fn) -> tuple[int, ...]:
    """1 and/or 2 positional arrays, as the NumPy function takes them (never ``out``)."""
    if isinstance(fn, np.ufunc):
        return (fn.nin,)
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return (1,)
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return (len(required),) if len(required) in (1, 2) else ()


def _calls(name):
    """The sweep's calls that NumPy accepts, with NumPy's results."""
    calls = []
    for kind, x in INPUTS.items():
        if (name, kind) in DEPARTURES:
            continue
        other = INPUTS["positive"] if kind != "int" else x[::-1]
        for args in [(x, other)[:n] for n in _arities(getattr(np, name))]:
            args = tuple(a.copy() for a in args)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    want = getattr(np, name)(*args)
                except Exception:  # noqa: BLE001 - NumPy refuses this call: nothing to compare
                    continue
            calls.append((f"{name}({kind}, {len(args)} args)", args, want))
    return calls


CALLS = {name: calls for name in _functions() if (calls := _calls(name))}


def test_the_sweep_covers_most_of_the_namespace():
    assert len(CALLS) >= 150, sorted(CALLS)


#: names the sweep has no call for: NumPy refuses a plain call on one (3, 4) array or a
#: pair of them (they need shapes, indices, scalars, callables or ``*args``), so their
#: dedicated tests cover them. Listed so that a name silently dropped later fails below.
UNCOVERED = frozenset(
    {
        'apply_along_axis', 'apply_over_axes', 'arange', 'argpartition', 'array_split',
        'astype', 'atleast_1d', 'atleast_2d', 'atleast_3d', 'bartlett', 'base_repr',
        'binary_repr', 'bincount', 'blackman', 'broadcast_arrays', 'broadcast_shapes',
        'broadcast_to', 'can_cast', 'choose', 'common_type', 'compress', 'convolve',
        'correlate', 'cross', 'cumulative_prod', 'cumulative_sum', 'diag_indices',
        'diag_indices_from', 'digitize', 'dot', 'dsplit', 'einsum', 'einsum_path', 'empty',
        'expand_dims', 'eye', 'format_float_positional', 'format_float_scientific',
        'fromfunction', 'full', 'get_printoptions', 'geterr', 'hamming', 'hanning',
        'histogram2d', 'hsplit', 'identity', 'indices', 'insert', 'interp', 'isdtype',
        'isnat', 'issubdtype', 'ix_', 'kaiser', 'mask_indices', 'matmul', 'meshgrid',
        'moveaxis', 'nanquantile', 'ones', 'pad', 'partition', 'piecewise', 'poly',
        'polyder', 'polyfit', 'polyint', 'polymul', 'promote_types', 'quantile',
        'ravel_multi_index', 'repeat', 'reshape', 'resize', 'result_type', 'roll',
        'rollaxis', 'roots', 'searchsorted', 'select', 'set_printoptions', 'seterr',
        'split', 'swapaxes', 'take_along_axis', 'tile', 'tri', 'tril_indices',
        'triu_indices', 'typename', 'unpackbits', 'unravel_index', 'vander', 'vecmat',
        'vsplit', 'zeros'
    }
)


def test_names_without_a_sweep_case_are_the_expected_ones():
    missing = set(_functions()) - set(CALLS)
    assert not missing - UNCOVERED, (
        f"the sweep silently dropped {sorted(missing - UNCOVERED)}: NumPy refuses every "
        "plain call to them; give them a case, or add them to UNCOVERED with their test"
    )
    assert not UNCOVERED - missing, (
        f"{sorted(UNCOVERED - missing)} now have sweep cases (or left fgrad.numpy): "
        "remove them from UNCOVERED"
    )


@pytest.mark.parametrize("name", sorted(CALLS))
def test_plain_calls_match_numpy(name):
    for what, args, want in CALLS[name]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = getattr(fnp, name)(*args)
        _same(got, want, what)


# -- the same calls under jit and vmap ---------------------------------------------------------

# Functions whose results depend on values in ways an abstract or batched value cannot give:
# data-dependent shapes (nonzero, unique, set operations, boolean extraction), Python
# results (array_equal, allclose, printing), bins chosen from the data, and a few computed
# by NumPy on concrete values. Under jit and vmap they must raise fgrad's explanation, not
# compute something else; the test fails when one of them starts to work (then drop it).
NEEDS_VALUES = {
    "allclose", "argwhere", "array2string", "array_equal", "array_equiv", "array_repr",
    "array_str", "asarray_chkfinite", "delete", "extract", "flatnonzero",
    "histogram", "histogram_bin_edges", "histogramdd", "intersect1d",
    "lexsort", "min_scalar_type", "mintypecode", "nanmedian", "nanpercentile",
    "nonzero", "packbits", "real_if_close", "setdiff1d", "setxor1d",
    "sort_complex", "trim_zeros", "union1d", "unique", "unique_all", "unique_counts",
    "unique_inverse", "unique_values", "where",
}  # fmt: skip


def _leaves_close(got, want, what: str) -> None:
    got, want = fgrad.tree_leaves(got), fgrad.tree_leaves(want)
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert (g.shape, g.dtype) == (w.shape, w.dtype), f"{what}: {g.dtype}{g.shape} {w.dtype}"
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=what)


def _transformed(name: str, transform: str):
    fn = getattr(fnp, name)
    if transform == "jit":
        return fn, fgrad.jit(fn), lambda args: args

    def stack(args):  # vmap over two examples: the arguments and their reversed copies
        return [np.stack([a, a[::-1] if a.ndim else a]) for a in args]

    def loop(*stacked):
        rows = [fn(*[s[i] for s in stacked]) for i in range(2)]
        return fgrad.tree_map(lambda *r: np.stack(r), *rows)

    return loop, fgrad.vmap(fn), stack


@pytest.mark.parametrize("transform", ["jit", "vmap"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_calls_under_jit_and_vmap(name, transform):
    want_fn, fn, prepare = _transformed(name, transform)
    refused = 0
    for what, args, _ in CALLS[name]:
        args = prepare(args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = want_fn(*args)
            try:
                got = fn(*args)
            except (
                fgrad.ConcretizationError,
                fgrad.TracerArrayConversionError,
                fgrad.TransformError,  # jit of a function returning a string
            ):
                assert name in NEEDS_VALUES, f"{what} under {transform}: refused"
                refused += 1
                continue
        if isinstance(want, (bool, int, str)):
            assert got == want, what
        else:
            _leaves_close(got, want, f"{what} under {transform}")
    if name in NEEDS_VALUES:
        assert refused, f"{name} now works under {transform}: remove it from NEEDS_VALUES"
