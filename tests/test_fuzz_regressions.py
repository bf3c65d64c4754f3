"""Bugs the differential fuzzer (``tests/fuzz``) found, each tested as a class.

1. NumPy functions that read a traced argument's value where they need only
   its shape, its device or a selection by ``where``, and so failed under
   ``jit``, ``vmap`` and ``make_jaxpr`` where JAX works: ``convolve`` and
   ``correlate`` (every mode; the value chose the device of a constant),
   ``bincount`` and ``histogram`` with traced weights (same), ``piecewise``
   (its conditions: now combined with ``where`` as traced booleans) and
   ``gradient`` with a traced spacing (its ``ndim``). Each function, mode and
   form, under every staging transform, ``vmap`` and the gradient compositions.
   ``nanmedian``/``nanquantile``/``nanpercentile`` read where the NaNs are;
   where that is unknown they now sort each slice (NaN last) and interpolate
   at ``q * (count - 1)``, as JAX does.
2. ``apply_along_axis`` on a 1-D array (one slice, no outer axes) raised; NumPy
   calls the function once. Same transforms.
3. Python numbers given to a transform lost their weak type (NEP 50): under ``jit``
   Python's arithmetic on them (``c * 3``) was recorded as a float64 array, and ``grad``,
   ``jvp`` and ``make_jaxpr`` made them 0-d arrays, so ``c * 3 + x32`` and ``c * x32``
   gave float64 where NumPy, eager fgrad and JAX give float32; NumPy's ``float64``
   (a subclass of ``float``) was taken for a weak scalar under ``jit``. Every kind of
   Python number with every array dtype, eagerly, under ``jit`` (both tiers),
   ``make_jaxpr``, ``vmap``, ``grad`` and ``jvp``, against NumPy's own dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import jit_run, numerical_grad

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

RNG = np.random.default_rng(13)
A = RNG.normal(size=5)
V = np.array([1.0, -2.0, 0.5])
BATCH = RNG.normal(size=(3, 5))
BINS_OF = np.array([0, 2, 2, 1, 4])
DATA = np.array([0.1, 0.7, 0.3, 0.9, 0.5])

# (name, fgrad function of one float array of shape (5,), NumPy's)
LIKE_TRACED = [
    *[
        (
            f"convolve-{mode}",
            lambda a, m=mode: fnp.convolve(a, V, mode=m),
            lambda a, m=mode: np.convolve(a, V, mode=m),
        )
        for mode in ("full", "same", "valid")
    ],
    *[
        (
            f"convolve-kernel-{mode}",
            lambda a, m=mode: fnp.convolve(V, a, mode=m),
            lambda a, m=mode: np.convolve(V, a, mode=m),
        )
        for mode in ("full", "same", "valid")
    ],
    *[
        (
            f"correlate-{mode}",
            lambda a, m=mode: fnp.correlate(a, V, mode=m),
            lambda a, m=mode: np.correlate(a, V, mode=m),
        )
        for mode in ("full", "same", "valid")
    ],
    (
        "bincount-weights",
        lambda w: fnp.bincount(BINS_OF, weights=w),
        lambda w: np.bincount(BINS_OF, weights=w),
    ),
    (
        "histogram-weights",
        lambda w: fnp.histogram(DATA, bins=3, weights=w)[0],
        lambda w: np.histogram(DATA, bins=3, weights=w)[0],
    ),
    (
        "histogram-density",
        lambda w: fnp.histogram(DATA, bins=2, weights=w, density=True)[0],
        lambda w: np.histogram(DATA, bins=2, weights=w, density=True)[0],
    ),
    (
        "piecewise-otherwise",
        lambda a: fnp.piecewise(a, [a < -0.5, a > 0.5], [lambda v: v * v, fnp.sin, lambda v: -v]),
        lambda a: np.piecewise(a, [a < -0.5, a > 0.5], [lambda v: v * v, np.sin, lambda v: -v]),
    ),
    (
        "piecewise-no-otherwise",
        lambda a: fnp.piecewise(a, [a < 0, a >= 0], [lambda v: v**3, lambda v: 2.0 * v]),
        lambda a: np.piecewise(a, [a < 0, a >= 0], [lambda v: v**3, lambda v: 2.0 * v]),
    ),
    (
        "piecewise-constants",
        lambda a: a * fnp.piecewise(a, a > 0, [1.5, -0.5]),
        lambda a: a * np.piecewise(a, a > 0, [1.5, -0.5]),
    ),
    (
        "gradient-spacing",
        lambda a: fnp.gradient(fnp.sin(V[0] * a), 0.5 * fnp.sum(a * a)),
        lambda a: np.gradient(np.sin(V[0] * a), 0.5 * np.sum(a * a)),
    ),
    (
        "gradient-spacing-edge-order-2",
        lambda a: fnp.gradient(fnp.sin(a), 1.0 + a[0] ** 2, edge_order=2),
        lambda a: np.gradient(np.sin(a), 1.0 + a[0] ** 2, edge_order=2),
    ),
    (
        "apply_along_axis-1d",
        lambda a: fnp.apply_along_axis(lambda r: fnp.sum(r * r), 0, a),
        lambda a: np.apply_along_axis(lambda r: np.sum(r * r), 0, a),
    ),
    (
        "apply_along_axis-1d-vector",
        lambda a: fnp.apply_along_axis(lambda r: fnp.stack([r[0], fnp.sum(r)]), -1, a),
        lambda a: np.apply_along_axis(lambda r: np.stack([r[0], np.sum(r)]), -1, a),
    ),
]
IDS = [case[0] for case in LIKE_TRACED]


def _staged(f):
    def run(a):
        closed = fgrad.make_jaxpr(f)(a)
        return fgrad.eval_jaxpr(closed.jaxpr, closed.consts, a)[0]

    return run


@pytest.mark.parametrize("name, f, ref", LIKE_TRACED, ids=IDS)
@pytest.mark.parametrize("transform", ["eager", "jit", "make_jaxpr"])
def test_values_under_staging_transforms(name, f, ref, transform):
    run = {"eager": f, "jit": fgrad.jit(f), "make_jaxpr": _staged(f)}[transform]
    np.testing.assert_allclose(run(A), ref(A), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, f, ref", LIKE_TRACED, ids=IDS)
@pytest.mark.parametrize("jitted", [False, True])
def test_vmap_is_a_loop(name, f, ref, jitted):
    mapped = fgrad.vmap(f)
    got = (fgrad.jit(mapped) if jitted else mapped)(BATCH)
    np.testing.assert_allclose(got, np.stack([ref(row) for row in BATCH]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, f, ref", LIKE_TRACED, ids=IDS)
@pytest.mark.parametrize("composition", ["grad", "jit(grad)", "grad(jit)", "vmap(grad)"])
def test_gradients_match_finite_differences(name, f, ref, composition):
    w = np.linspace(0.5, 1.5, np.size(ref(A)))

    def scalar(a):
        return fnp.sum(fnp.ravel(f(a)) * w)

    def reference(a):
        return float(np.sum(np.ravel(ref(a)) * w))

    g = fgrad.grad(scalar)
    run = {
        "grad": g,
        "jit(grad)": fgrad.jit(g),
        "grad(jit)": fgrad.grad(fgrad.jit(scalar)),
        "vmap(grad)": lambda a: fgrad.vmap(g)(np.stack([a, a]))[1],
    }[composition]
    np.testing.assert_allclose(run(A), numerical_grad(reference, A), rtol=1e-6, atol=1e-8)


WITH_NAN = RNG.normal(size=(3, 5))
WITH_NAN[0, 1] = WITH_NAN[1, 3] = np.nan
WITH_NAN[2, :] = np.nan  # a slice with nothing left: NaN
NAN_QUANTILES = [
    ("nanmedian", lambda a, **kw: fnp.nanmedian(a, **kw), lambda a, **kw: np.nanmedian(a, **kw)),
    *[
        (
            f"nanquantile-{q}",
            lambda a, q=q, **kw: fnp.nanquantile(a, q, **kw),
            lambda a, q=q, **kw: np.nanquantile(a, q, **kw),
        )
        for q in (0.0, 0.3, 1.0, (0.1, 0.9))
    ],
    (
        "nanpercentile",
        lambda a, **kw: fnp.nanpercentile(a, [10.0, 75.0], **kw),
        lambda a, **kw: np.nanpercentile(a, [10.0, 75.0], **kw),
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's all-NaN slice warning
@pytest.mark.parametrize("name, f, ref", NAN_QUANTILES, ids=[c[0] for c in NAN_QUANTILES])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_nan_quantiles_where_the_nans_are_unknown(name, f, ref, axis, keepdims):
    want = ref(WITH_NAN, axis=axis, keepdims=keepdims)
    g = lambda a: f(a, axis=axis, keepdims=keepdims)  # noqa: E731
    for run in (fgrad.jit(g), _staged(g)):
        got = run(WITH_NAN)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    if axis is not None and not keepdims:
        # mapping over one axis of a matrix reduces each slice along the other
        rows = fgrad.vmap(lambda r: f(r, axis=-1), in_axes=axis)(WITH_NAN)
        want = ref(WITH_NAN, axis=1 - axis % 2)
        np.testing.assert_allclose(rows, np.moveaxis(want, -1, 0), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name, f, ref", NAN_QUANTILES, ids=[c[0] for c in NAN_QUANTILES])
@pytest.mark.parametrize("row", [0, 1])
def test_nan_quantile_gradients_under_jit_and_vmap(name, f, ref, row):
    w = np.linspace(0.5, 1.5, np.size(ref(WITH_NAN[row])))
    x = WITH_NAN[row]

    def scalar(a):
        return fnp.sum(fnp.ravel(f(a)) * w)

    g = fgrad.grad(scalar)
    want = numerical_grad(lambda a: float(np.sum(np.ravel(ref(a)) * w)), x)
    want[np.isnan(x)] = 0.0
    for got in (g(x), fgrad.jit(g)(x), fgrad.vmap(g)(WITH_NAN[:2])[row]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def _loop_then_square(x):
    """A while_loop whose results nothing uses, then a differentiable result."""
    _ = lax.while_loop(lambda s: fnp.sum(s[1]) < 10.0, lambda s: (s[0] + 1, s[1] * 2.0), (0, x))
    return fnp.sum(x * x)


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: fgrad.jit(fgrad.grad(f)),
        lambda f: fgrad.grad(fgrad.jit(f)),
        lambda f: fgrad.jit(fgrad.jacrev(f)),
        lambda f: lambda x: _replay(fgrad.make_jaxpr(fgrad.grad(f))(x), x),
    ],
    ids=["jit(grad)", "grad(jit)", "jit(jacrev)", "make_jaxpr(grad)"],
)
def test_an_unused_staged_while_loop_does_not_block_reverse_mode(transform):
    """JAX drops a dead loop; fgrad records it with a backward rule that only refuses when a
    cotangent reaches it, so the gradient is 2x (found by the differential fuzzer)."""
    x = np.array([1.0, 2.5, 0.5])  # the loop doubles x until its sum reaches 10
    np.testing.assert_allclose(transform(_loop_then_square)(x), 2 * x, rtol=0, atol=0)


def test_a_staged_while_loop_on_the_gradient_path_still_refuses_reverse_mode():
    def f(x):
        def body(s):
            return s[0] + 1, s[1] * 2.0

        _, y = lax.while_loop(lambda s: fnp.sum(s[1]) < 10.0, body, (0, x))
        return fnp.sum(y)

    with pytest.raises(fgrad.TransformError, match="reverse-mode differentiation"):
        fgrad.jit(fgrad.grad(f))(np.ones(3))


def _replay(closed, x):
    (out,) = fgrad.eval_jaxpr(closed.jaxpr, closed.consts, x)
    return out


# -- 3. Python numbers keep their weak type under every transform -----------------------

PYTHON_NUMBERS = [True, 3, 2.5, 1.5 - 0.5j]
ARRAY_DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float32", "float64", "complex64"]


def _uses_of_a_number(xp):
    """Functions of a Python number ``c`` and an array ``a`` of shape (2,), on namespace
    ``xp``: Python's arithmetic on ``c`` first (a Python number eagerly), a NumPy
    function of it (a strongly typed NumPy scalar), ``c`` with the array and with one of
    its elements (a NumPy scalar)."""
    return {
        "c*3+a": lambda c, a: c * 3 + a,
        "-c*c+a[0]": lambda c, a: -c * c + a[0],
        "a*c": lambda c, a: a * c,
        "(c+1)**2*a": lambda c, a: (c + 1) ** 2 * a,
        "multiply(c,2)+a": lambda c, a: xp.multiply(c, 2) + a,
        "c>1 and a": lambda c, a: (abs(c) > 1) + a,
    }


NUMBER_USES = list(_uses_of_a_number(np))
WEAK_ARITHMETIC = ["c*3+a", "-c*c+a[0]", "(c+1)**2*a"]


def _number_case(use, c, dtype):
    """fgrad's function, its array, and NumPy's answer (or the error NumPy raises)."""
    a = np.array([1, 0], dtype=dtype)
    try:
        with np.errstate(all="ignore"):
            want = np.asarray(_uses_of_a_number(np)[use](c, a))
    except OverflowError as e:  # -9 + uint8: a Python int that the dtype cannot hold
        want = e
    return _uses_of_a_number(fnp)[use], a, want


def _under_mode(mode, f):
    if mode == "jit":
        return fgrad.jit(f)
    if mode == "jit-fused":
        return lambda c, a: jit_run(f, (c, a), "force")
    if mode == "make_jaxpr":
        return lambda c, a: fgrad.eval_jaxpr(
            (closed := fgrad.make_jaxpr(f)(c, a)).jaxpr, closed.consts, c, a
        )[0]
    if mode == "vmap":  # the number unmapped, the array mapped
        return lambda c, a: fgrad.vmap(f, in_axes=(None, 0))(c, a[None])[0]
    if mode == "jvp":
        return lambda c, a: fgrad.jvp(lambda c: f(c, a), (c,), (c,))[0]
    return f


# jvp takes the number as its primal, which must be a float or a complex
NUMBER_MODES = [
    (c, mode)
    for c in PYTHON_NUMBERS
    for mode in ("eager", "jit", "jit-fused", "make_jaxpr", "vmap", "jvp")
    if mode != "jvp" or type(c) in (float, complex)
]


@pytest.mark.parametrize("dtype", ARRAY_DTYPES)
@pytest.mark.parametrize(
    ("c", "mode"), NUMBER_MODES, ids=[f"{type(c).__name__}-{m}" for c, m in NUMBER_MODES]
)
def test_a_python_number_promotes_as_in_numpy(c, dtype, mode):
    if mode == "jit-fused":
        pytest.importorskip("numba")
    # the fused tier compiles a kernel per use (seconds): the uses with Python arithmetic
    uses = WEAK_ARITHMETIC if mode == "jit-fused" else NUMBER_USES
    for use in uses:
        f, a, want = _number_case(use, c, dtype)
        if isinstance(want, OverflowError):
            with pytest.raises(OverflowError, match="out of bounds"):
                _under_mode(mode, f)(c, a)
            continue
        with np.errstate(all="ignore"):
            got = np.asarray(_under_mode(mode, f)(c, a))
        assert got.dtype == want.dtype, f"{use}: {got.dtype}, NumPy gives {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=use)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
@pytest.mark.parametrize("c", [2.5, 1.5 - 0.5j], ids=["float", "complex"])
@pytest.mark.parametrize("jitted", [False, True], ids=["grad", "jit(grad)"])
def test_gradients_with_respect_to_a_python_number(c, dtype, jitted):
    """The value keeps NumPy's dtype; the derivative has the number's own (float64 or
    complex128, as in JAX), and the finite-difference value."""
    a = np.array([0.5, -1.5], dtype=dtype)
    for use in ("c*3+a", "-c*c+a[0]", "a*c", "(c+1)**2*a"):
        f, _, want = _number_case(use, c, dtype)

        def loss(c, f=f):
            return fnp.sum(fnp.real(f(c, a)))

        if type(c) is complex:  # a real function of the real and imaginary parts

            def loss(re, im, f=f):
                return fnp.sum(fnp.real(f(re + 1j * im, a)))

            args = (c.real, c.imag)
        else:
            args = (c,)
        argnums = tuple(range(len(args)))
        g, vg = fgrad.grad(loss, argnums), fgrad.value_and_grad(loss, argnums)
        if jitted:
            g, vg = fgrad.jit(g), fgrad.jit(vg)
        value, _ = vg(*args)
        assert np.asarray(value).dtype == np.sum(np.real(want)).dtype, use
        got = g(*args)
        for k, gk in enumerate(got if isinstance(got, tuple) else (got,)):
            assert np.asarray(gk).dtype == np.float64, use
            # the losses are quadratic in c: central differences are exact but for rounding
            step = np.eye(len(args))[k] * 1e-3
            plus = float(loss(*np.add(args, step).tolist()))
            minus = float(loss(*np.subtract(args, step).tolist()))
            want_k = (plus - minus) / 2e-3
            tol = 1e-3 if dtype != "float64" else 1e-9
            np.testing.assert_allclose(gk, want_k, rtol=tol, err_msg=use)


def test_numpy_float64_is_strongly_typed_under_jit():
    """``float64`` subclasses ``float``; NumPy promotes it as an array, and so does ``jit``,
    and its program is not the Python float's (the cache tells them apart)."""
    y = np.ones(2, np.float32)
    f = fgrad.jit(lambda c, y: c * 3 + y)
    assert f(np.float64(2.0), y).dtype == np.float64
    assert f(2.0, y).dtype == np.float32
    assert f(np.float64(2.0), y).dtype == np.float64
    assert fgrad.eval_shape(lambda c: c + y, np.float64(1.0)).dtype == np.float64


def test_an_int8_array_with_a_python_int_wraps_and_refuses_as_numpy():
    a = np.array([100, 1], np.int8)
    for mode in ("eager", "jit", "jit-fused"):
        f = _under_mode(mode, lambda c, a: a + c * 1)
        np.testing.assert_array_equal(f(100, a), np.array([-56, 101], np.int8))
        assert f(100, a).dtype == np.int8
        with pytest.raises(OverflowError, match="out of bounds for int8"):
            f(300, a)


def test_python_numbers_agree_with_jax():
    """JAX's weak types, for the uses where JAX follows NEP 50 as NumPy does (float and
    complex arrays; fgrad's strongly typed ``multiply(c, 2)`` is NumPy's, left out):
    ``jit`` of every use at once, and ``value_and_grad`` with respect to the number."""
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    ours, theirs = _uses_of_a_number(fnp), _uses_of_a_number(jnp)

    def both(uses, c, a):
        return [uses[use](c, a) for use in WEAK_ARITHMETIC + ["a*c"]]

    def loss(uses, xp, c, a):
        return sum(xp.sum(xp.real(u)) for u in both(uses, c, a))

    for dtype in ("float32", "complex64"):  # where a float64 result would show
        a = np.array([1.0, 0.5], dtype=dtype)
        runs = [
            (fgrad.jit(lambda c, a: both(ours, c, a)), jax.jit(lambda c, a: both(theirs, c, a)))
        ]
        runs.append(
            (
                fgrad.jit(fgrad.value_and_grad(lambda c, a: loss(ours, fnp, c, a))),
                jax.jit(jax.value_and_grad(lambda c, a: loss(theirs, jnp, c, a))),
            )
        )
        for c in (2.5, 3):
            for k, (f, g) in enumerate(runs):
                if k == 1 and type(c) is int:
                    continue  # no derivative with respect to an int
                got, want = fgrad.tree_leaves(f(c, a)), jax.tree_util.tree_leaves(g(c, a))
                for x, y in zip(got, want, strict=True):
                    assert np.asarray(x).dtype == np.asarray(y).dtype, (c, dtype)
                    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)
