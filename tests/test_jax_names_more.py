"""JAX names added for programs ported by renaming: typing, dtypes, custom_gradient, the
annotations, nn.dot_product_attention, scipy.integrate.trapezoid, scipy.signal's 2-d and
correlation functions, the discrete scipy.stats distributions, fgrad.image.resize."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import dtypes, nn
from fgrad.typing import ArrayLike, DTypeLike


def central_difference(f, x, h=1e-6):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# -- typing and dtypes -------------------------------------------------------------------


def test_typing_aliases_accept_arrays_numbers_and_traced_values():
    def f(x: ArrayLike, dtype: DTypeLike = np.float32) -> ArrayLike:
        return fnp.asarray(x, dtype)

    assert f(1, np.float32).dtype == np.float32
    for value in (np.ones(2), 1.0, 3, True, np.float32(1)):
        assert isinstance(value, ArrayLike)
    fgrad.grad(lambda x: (isinstance(x, ArrayLike) or 1 / 0) and x * 2.0)(1.0)


def test_dtypes_follow_numpy_and_keep_python_numbers_weak():
    x32 = np.ones(2, np.float32)
    assert dtypes.result_type(x32, 1.0) == np.float32
    assert dtypes.result_type(x32, np.float64(1.0)) == np.float64
    assert dtypes.result_type(np.int32(1), 2) == np.int32
    assert dtypes.result_type(1.0, 2, return_weak_type_flag=True) == (np.float64, True)
    assert dtypes.result_type(x32, return_weak_type_flag=True) == (np.float32, False)

    @fgrad.jit
    def traced(x, w):
        assert dtypes.result_type(x, w) == np.float32  # a traced Python number stays weak
        assert dtypes.result_type(x, np.float64) == np.float64
        return x * w

    traced(x32, 2.0)
    assert dtypes.canonicalize_dtype("float64") == np.float64
    assert dtypes.canonicalize_dtype(np.int64) == np.int64  # 64 bits stay: x64 always on
    assert dtypes.issubdtype(np.float32, np.floating) and not dtypes.issubdtype(np.int8, float)
    assert dtypes.finfo(np.float32).eps == np.finfo(np.float32).eps
    assert dtypes.iinfo(np.int8).max == 127
    assert [dtypes.scalar_type_of(v) for v in (True, np.int8(1), x32, 1j)] == [
        bool, int, float, complex
    ]
    assert dtypes.itemsize_bits(np.float16) == 16
    assert fgrad.float0 is dtypes.float0 and dtypes.float0.itemsize == 0
    with pytest.raises(AttributeError, match="bfloat16"):
        dtypes.bfloat16  # noqa: B018


def test_dtypes_match_jax():
    jax = pytest.importorskip("jax")
    assert dtypes.float0 == jax.dtypes.float0
    # integer with float differs on purpose: NumPy's float64 where JAX's lattice says float32
    assert dtypes.result_type(np.int32, np.float32) == np.float64
    for a, b in [(np.float32, np.float16), (np.int8, np.uint8), (np.int16, np.int8)]:
        assert dtypes.result_type(a, b) == jax.dtypes.result_type(a, b)
        assert dtypes.issubdtype(a, np.integer) == jax.dtypes.issubdtype(a, np.integer)


# -- custom_gradient and the annotations -----------------------------------------------


@fgrad.custom_gradient
def clipped_square(x, y):
    value = x**2 * y

    def vjp(g):  # the true gradient, clipped to [-1, 1]
        return fnp.clip(g * 2 * x * y, -1, 1), fnp.clip(g * x**2, -1, 1)

    return value, vjp


def test_custom_gradient_under_grad_jit_and_vmap():
    assert clipped_square(3.0, 0.1) == pytest.approx(0.9)
    g = fgrad.grad(clipped_square, (0, 1))(0.3, 0.5)
    np.testing.assert_allclose(g, (0.3, 0.09))
    np.testing.assert_allclose(fgrad.grad(clipped_square, (0, 1))(3.0, 2.0), (1.0, 1.0))
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(clipped_square, (0, 1)))(3.0, 2.0), (1, 1))
    xs = np.array([0.3, 3.0])
    np.testing.assert_allclose(
        fgrad.vmap(fgrad.grad(clipped_square))(xs, np.array([0.5, 2.0])), [0.3, 1.0]
    )


def test_custom_gradient_single_argument_and_keywords():
    @fgrad.custom_gradient
    def f(x, *, k=2.0):
        return fnp.sin(x) * k, lambda g: g * fnp.cos(x) * k  # one cotangent, no tuple

    assert fgrad.grad(f)(0.5) == pytest.approx(2 * np.cos(0.5))
    assert fgrad.grad(lambda x: f(x, k=3.0))(0.5) == pytest.approx(3 * np.cos(0.5))

    @fgrad.custom_gradient
    def bad(x, y):
        return x * y, lambda g: (g,)

    with pytest.raises(TypeError, match="returned 1 cotangents for 2 positional arguments"):
        fgrad.grad(bad)(1.0, 2.0)


def test_custom_gradient_matches_jax():
    jax = pytest.importorskip("jax")

    @jax.custom_gradient
    def jf(x, y):
        return x**2 * y, lambda g: (jax.numpy.clip(g * 2 * x * y, -1, 1),
                                    jax.numpy.clip(g * x**2, -1, 1))

    for args in [(0.3, 0.5), (3.0, 2.0), (-2.0, 0.1)]:
        np.testing.assert_allclose(
            fgrad.grad(clipped_square, (0, 1))(*args), jax.grad(jf, (0, 1))(*args), rtol=1e-6
        )


def test_annotations_change_nothing():
    @fgrad.named_scope("block")
    def f(x):
        with fgrad.named_scope("inner"):
            return fnp.sin(x) * 2

    @fgrad.jit
    def g(x):
        with fgrad.ensure_compile_time_eval():
            table = fnp.arange(4.0) ** 2  # concrete: usable as a Python value
            n = int(table[2])
        return fgrad.named_call(f, name="f")(x) + n

    assert g(0.5) == pytest.approx(2 * np.sin(0.5) + 4)
    assert fgrad.grad(g)(0.5) == pytest.approx(2 * np.cos(0.5))
    with pytest.raises(TypeError, match="must be a string"):
        fgrad.named_scope(3)
    assert fgrad.local_devices() == [fgrad.default_backend()]
    assert fgrad.device_put(np.ones(2), fgrad.local_devices()[0]).sum() == 2


# -- dot_product_attention ------------------------------------------------------------


def reference_attention(q, k, v, bias=None, mask=None, scale=None, causal=False):
    b, t, n, h = q.shape
    s, heads = k.shape[1], k.shape[2]
    k = np.repeat(k, n // heads, axis=2)
    v = np.repeat(v, n // heads, axis=2)
    out = np.zeros_like(q)
    scale = 1 / np.sqrt(h) if scale is None else scale
    for bi in range(b):
        for ni in range(n):
            logits = q[bi, :, ni] @ k[bi, :, ni].T * scale
            if bias is not None:
                logits = logits + np.broadcast_to(bias, (b, n, t, s))[bi, ni]
            keep = np.ones((t, s), bool)
            if mask is not None:
                keep &= np.broadcast_to(mask, (b, n, t, s))[bi, ni]
            if causal:
                keep &= np.tril(np.ones((t, s), bool))
            logits = np.where(keep, logits, -0.7 * np.finfo(logits.dtype).max)
            w = np.exp(logits - logits.max(-1, keepdims=True))
            out[bi, :, ni] = (w / w.sum(-1, keepdims=True)) @ v[bi, :, ni]
    return out


@pytest.fixture
def qkv():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(2, 4, 4, 3)), rng.normal(size=(2, 5, 2, 3)),
            rng.normal(size=(2, 5, 2, 3)))


def test_attention_matches_a_numpy_reference(qkv):
    q, k, v = qkv
    rng = np.random.default_rng(1)
    bias = rng.normal(size=(1, 4, 4, 5))
    mask = rng.random((2, 1, 4, 5)) > 0.3
    np.testing.assert_allclose(nn.dot_product_attention(q, k, v), reference_attention(q, k, v))
    np.testing.assert_allclose(
        nn.dot_product_attention(q, k, v, bias, mask, scale=0.3),
        reference_attention(q, k, v, bias, mask, scale=0.3),
    )
    k5, v5 = k[:, :4], v[:, :4]
    np.testing.assert_allclose(
        nn.dot_product_attention(q, k5, v5, is_causal=True),
        reference_attention(q, k5, v5, causal=True),
    )
    np.testing.assert_allclose(nn.dot_product_attention(q[0], k[0], v[0]),
                               reference_attention(q[:1], k[:1], v[:1])[0])


def test_attention_is_differentiable_and_keeps_float32(qkv):
    q, k, v = qkv
    mask = np.random.default_rng(2).random((2, 1, 4, 5)) > 0.3

    def loss(q, k, v):
        return fnp.sum(nn.dot_product_attention(q, k, v, mask=mask, is_causal=False) ** 2)

    for argnum, x in enumerate((q, k, v)):
        args = [q, k, v]

        def f(x, argnum=argnum, args=args):
            a = list(args)
            a[argnum] = x
            return loss(*a)

        np.testing.assert_allclose(fgrad.grad(f)(x), central_difference(f, x), rtol=1e-6,
                                   atol=1e-8)
    np.testing.assert_allclose(fgrad.jit(loss)(q, k, v), loss(q, k, v), rtol=1e-12)
    per_example = fgrad.vmap(lambda q, k, v: nn.dot_product_attention(q, k, v))(q, k, v)
    np.testing.assert_allclose(per_example, nn.dot_product_attention(q, k, v), rtol=1e-12)
    out32 = nn.dot_product_attention(*(x.astype(np.float32) for x in qkv), is_causal=True)
    assert out32.dtype == np.float32


def test_attention_options_match_jax(qkv):
    jax = pytest.importorskip("jax")
    q, k, v = (x.astype(np.float32) for x in qkv)
    lengths = np.array([3, 5], np.int32), np.array([2, 4], np.int32)  # JAX wants int32
    cases = [
        {},
        {"is_causal": True},
        {"bias": np.ones((1, 4, 4, 5), np.float32), "scale": 0.5},
        {"mask": np.tril(np.ones((4, 5), bool))[None, None]},
        {"key_value_seq_lengths": lengths[0], "query_seq_lengths": lengths[1]},
        {"local_window_size": (1, 0)},
    ]
    for kw in cases:
        np.testing.assert_allclose(
            nn.dot_product_attention(q, k, v, **kw),
            jax.nn.dot_product_attention(q, k, v, **kw), rtol=2e-5, atol=2e-6,
        )


# -- scipy.integrate.trapezoid and scipy.signal ----------------------------------------


def test_trapezoid_matches_numpy_with_gradients():
    from fgrad.scipy.integrate import trapezoid

    rng = np.random.default_rng(0)
    y, x = rng.normal(size=(3, 5)), np.cumsum(rng.random(5))
    np.testing.assert_allclose(trapezoid(y, x), np.trapezoid(y, x))
    np.testing.assert_allclose(trapezoid(y, dx=0.5, axis=0), np.trapezoid(y, dx=0.5, axis=0))
    f = lambda y: trapezoid(y, x).sum()  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(y), central_difference(f, y), rtol=1e-7)
    assert trapezoid(y.astype(np.float32)).dtype == np.float32


SIGNAL_CASES = [((5, 6), (3, 2)), ((4, 4), (4, 4)), ((3, 7), (2, 5))]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("sa", "sb"), SIGNAL_CASES)
def test_signal_functions_match_scipy(mode, sa, sb):
    scipy_signal = pytest.importorskip("scipy.signal")
    from fgrad.scipy import signal

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    if mode == "valid" and not all(x >= y for x, y in zip(sa, sb)):
        b = b[: sa[0], : sa[1]]
    for name in ("convolve2d", "correlate2d", "correlate", "fftconvolve"):
        np.testing.assert_allclose(
            getattr(signal, name)(a, b, mode), getattr(scipy_signal, name)(a, b, mode),
            atol=1e-12, err_msg=name,
        )


def test_signal_gradients_detrend_and_dtypes():
    scipy_signal = pytest.importorskip("scipy.signal")
    from fgrad.scipy import signal

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(2, 3))
    f = lambda a: fnp.sum(signal.correlate2d(a, b, "same") ** 2)  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(a), central_difference(f, a), rtol=1e-6)
    g = lambda b: fnp.sum(fnp.sin(signal.convolve2d(a, b)))  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(g)(b), central_difference(g, b), rtol=1e-6)
    assert signal.convolve2d(a.astype(np.float32), b.astype(np.float32)).dtype == np.float32
    for kind in ("linear", "constant"):
        for axis in (0, -1):
            np.testing.assert_allclose(
                signal.detrend(a, axis, kind), scipy_signal.detrend(a, axis, kind), atol=1e-12
            )
    np.testing.assert_allclose(
        signal.fftconvolve(a, b[:1].repeat(4, 0)[:, :3], "same", axes=1),
        scipy_signal.fftconvolve(a, b[:1].repeat(4, 0)[:, :3], "same", axes=1),
    )
    with pytest.raises(NotImplementedError, match="boundary='fill'"):
        signal.convolve2d(a, b, boundary="wrap")


# -- discrete scipy.stats distributions -------------------------------------------------


def test_discrete_distributions_match_scipy_with_parameter_gradients():
    scipy_stats = pytest.importorskip("scipy.stats")
    from fgrad.scipy import stats

    k = np.array([-1, 0, 1, 2, 3, 2.5, 7])
    cases = [
        ("bernoulli", (0.3,), ("logpmf", "pmf", "cdf")),
        ("geom", (0.3,), ("logpmf", "pmf", "cdf")),
        ("binom", (6, 0.3), ("logpmf", "pmf")),
    ]
    for name, params, methods in cases:
        for method in methods:
            with np.errstate(divide="ignore"):
                np.testing.assert_allclose(
                    getattr(getattr(stats, name), method)(k, *params),
                    getattr(getattr(scipy_stats, name), method)(k, *params),
                    rtol=1e-12, atol=1e-300, err_msg=f"{name}.{method}",
                )
        f = lambda p, name=name, params=params: fnp.sum(  # noqa: E731
            getattr(stats, name).pmf(np.array([0, 1, 2, 3]), *params[:-1], p)
        )
        np.testing.assert_allclose(fgrad.grad(f)(0.3), central_difference(f, 0.3), rtol=1e-7,
                                   atol=1e-9)
    np.testing.assert_allclose(
        stats.bernoulli.ppf(np.array([0.1, 0.8]), 0.3), scipy_stats.bernoulli.ppf([0.1, 0.8], 0.3)
    )
    f32 = np.float32
    assert stats.binom.logpmf(f32(2), f32(6), f32(0.3)).dtype == np.float32


# -- scipy.ndimage.map_coordinates ------------------------------------------------------


def test_map_coordinates_closed_forms_and_gradients():
    from fgrad.scipy.ndimage import map_coordinates

    x = np.arange(12.0).reshape(3, 4) ** 2
    rows, cols = np.array([0, 2, 1]), np.array([3, 0, 2])
    for order in (0, 1):
        np.testing.assert_array_equal(map_coordinates(x, [rows, cols], order), x[rows, cols])
    # linear: the mean of the four neighbours at a cell centre
    np.testing.assert_allclose(map_coordinates(x, [[0.5], [1.5]], 1), [x[:2, 1:3].mean()])
    # order 0 rounds halves away from zero
    np.testing.assert_array_equal(map_coordinates(x, [[0.5, 1.49], [2.5, 0.0]], 0),
                                  [x[1, 3], x[1, 0]])
    np.testing.assert_allclose(map_coordinates(x, [[-1.0, 5.0], [0.0, 0.0]], 1, cval=-7.0),
                               [-7.0, -7.0])
    np.testing.assert_allclose(
        map_coordinates(x, [[-1.0, 3.0], [5.0, 4.0]], 0, mode="wrap"), [x[2, 1], x[0, 0]]
    )
    np.testing.assert_allclose(
        map_coordinates(x, [[-1.0, 3.0], [5.0, 4.0]], 0, mode="nearest"), [x[0, 3], x[2, 3]]
    )
    coords = np.array([[0.3, 1.7], [2.2, 0.6]])
    f = lambda c: fnp.sum(map_coordinates(x, [c[0], c[1]], 1) ** 2)  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(coords), central_difference(f, coords), rtol=1e-6)
    g = lambda x: fnp.sum(fnp.sin(map_coordinates(x, [coords[0], coords[1]], 1)))  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(g)(x), central_difference(g, x), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(fgrad.jit(f)(coords), f(coords), rtol=1e-12)
    batched = fgrad.vmap(lambda c: map_coordinates(x, [c[0], c[1]], 1), in_axes=1)(coords)
    np.testing.assert_allclose(batched, map_coordinates(x, [coords[0], coords[1]], 1))
    assert map_coordinates(x.astype(np.float32), [rows, cols], 1).dtype == np.float32


@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_matches_jax(order, mode):
    jax = pytest.importorskip("jax")
    from jax.scipy.ndimage import map_coordinates as jax_map

    from fgrad.scipy.ndimage import map_coordinates

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    c = [rng.uniform(-4, 9, size=(4, 3)).astype(np.float32) for _ in range(2)]
    c[0][0, 0], c[1][0, 0] = 1.5, -2.5
    np.testing.assert_allclose(
        map_coordinates(x, c, order, mode, cval=0.5),
        jax_map(jax.numpy.asarray(x), c, order, mode, cval=0.5), atol=3e-7,
    )


# -- scipy.special additions -------------------------------------------------------------


def test_new_special_functions_match_scipy():
    scipy_special = pytest.importorskip("scipy.special")
    from fgrad.scipy import special

    x = np.array([0.3, 1.2, 2.5, 7.0])
    for name in ("erfcx", "dawsn", "exp1", "expi", "spence", "loggamma"):
        np.testing.assert_allclose(getattr(special, name)(x), getattr(scipy_special, name)(x),
                                   rtol=1e-13, err_msg=name)
        assert getattr(special, name)(x.astype(np.float32)).dtype == np.float32, name
    np.testing.assert_allclose(special.expn(np.array([0, 1, 2, 3]), x),
                               scipy_special.expn([0, 1, 2, 3], x), rtol=1e-13)
    np.testing.assert_allclose(special.hyp1f1(1.5, 2.5, x), scipy_special.hyp1f1(1.5, 2.5, x))
    np.testing.assert_allclose(special.hyp2f1(0.5, 1.5, 2.5, x / 8),
                               scipy_special.hyp2f1(0.5, 1.5, 2.5, x / 8))
    np.testing.assert_allclose(special.owens_t(0.7, x), scipy_special.owens_t(0.7, x))
    exact = [1, -1 / 2, 1 / 6, 0, -1 / 30, 0, 1 / 42, 0, -1 / 30]
    np.testing.assert_allclose(special.bernoulli(8), exact, rtol=1e-15)
    np.testing.assert_allclose(special.bernoulli(8), scipy_special.bernoulli(8), rtol=1e-11)
    k = np.array([-1, 0, 2, 5, 6])
    np.testing.assert_allclose(special.comb(5, k), scipy_special.comb(5, k), rtol=1e-12)
    np.testing.assert_allclose(special.comb(5, 2, repetition=True), 15.0)
    lam = np.array([0.0, 0.5, -1.0, 2.0])
    np.testing.assert_allclose(special.boxcox(x, lam), scipy_special.boxcox(x, lam))
    np.testing.assert_allclose(special.boxcox1p(x, lam), scipy_special.boxcox1p(x, lam))
    np.testing.assert_allclose(special.bessel_jn(x, v=3),
                               np.stack([scipy_special.jv(n, x) for n in range(4)]))
    for name in ("sici", "fresnel"):
        for ours, theirs in zip(getattr(special, name)(x), getattr(scipy_special, name)(x)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-13, err_msg=name)


def test_new_special_functions_differentiate():
    from fgrad.scipy import special

    x = np.array([0.3, 1.2, 2.5])
    cases = {
        "expn": lambda x: fnp.sum(special.expn(np.array([0, 1, 2]), x)),
        "comb": lambda x: fnp.sum(special.comb(x + 4.0, 2.5)),
        "boxcox": lambda x: fnp.sum(special.boxcox(x, np.array([0.0, 0.5, -1.0]))),
        "boxcox1p": lambda x: fnp.sum(special.boxcox1p(x, 0.3)),
        "bessel_jn": lambda x: fnp.sum(special.bessel_jn(x, v=2) ** 2),
        "spence": lambda x: fnp.sum(special.spence(x + 0.7)),  # through z = 1
        "hyp1f1": lambda x: fnp.sum(special.hyp1f1(1.5, 2.5, x)),
        "owens_t": lambda x: fnp.sum(special.owens_t(0.7, x)),
        "sici": lambda x: fnp.sum(fnp.stack(special.sici(x)) ** 2),
        "fresnel": lambda x: fnp.sum(fnp.stack(special.fresnel(x)) ** 2),
    }
    for name, f in cases.items():
        np.testing.assert_allclose(fgrad.grad(f)(x), central_difference(f, x), rtol=1e-6,
                                   err_msg=name)
        np.testing.assert_allclose(fgrad.jit(fgrad.grad(f))(x), fgrad.grad(f)(x), rtol=1e-12)


# -- more scipy.stats distributions, summaries and gaussian_kde ---------------------------

X = np.array([-4.0, -1.0, 0.5, 1.0, 1.5, 3.0, 7.0, 30.0])
K = np.array([-1, 0, 1, 2, 3, 2.5, 7])
Q = np.array([0.1, 0.5, 0.9])

STATS_CASES = [
    ("nbinom", ("logpmf", "pmf"), (3.5, 0.4), K),
    ("betabinom", ("logpmf", "pmf"), (6, 1.5, 2.5), K),
    ("gennorm", ("logpdf", "pdf", "cdf"), (1.5,), X),
    ("pareto", ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"), (2.5, 0.2, 0.5), X),
    ("pareto", ("ppf",), (2.5, 0.2, 0.5), Q),
    ("gumbel_r", ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"), (0.3, 1.5), X),
    ("gumbel_l", ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"), (0.3, 1.5), X),
    ("gumbel_r", ("ppf",), (0.3, 1.5), Q),
    ("gumbel_l", ("ppf",), (0.3, 1.5), Q),
    ("truncnorm", ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"), (-0.5, 2.0, 0.2, 1.3), X),
    ("truncnorm", ("logpdf", "cdf", "logsf"), (5.0, 8.0), X),  # far in the right tail
    ("vonmises", ("logpdf", "pdf"), (2.0,), X),
    ("wrapcauchy", ("logpdf", "pdf"), (0.5,), X),
]


@pytest.mark.parametrize(("name", "methods", "params", "points"), STATS_CASES,
                         ids=[f"{c[0]}-{c[1][0]}" for c in STATS_CASES])
def test_more_distributions_match_scipy(name, methods, params, points):
    scipy_stats = pytest.importorskip("scipy.stats")
    from fgrad.scipy import stats

    for method in methods:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ours = getattr(getattr(stats, name), method)(points, *params)
            theirs = getattr(getattr(scipy_stats, name), method)(points, *params)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-300,
                                   err_msg=f"{name}.{method}")


@pytest.mark.parametrize(("name", "methods", "params", "points"), STATS_CASES,
                         ids=[f"{c[0]}-{c[1][0]}" for c in STATS_CASES])
def test_more_distributions_keep_float32(name, methods, params, points):
    from fgrad.scipy import stats

    f32 = [np.float32(p) if isinstance(p, float) else p for p in params]
    for method in methods:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = getattr(getattr(stats, name), method)(points.astype(np.float32), *f32)
        assert out.dtype == np.float32, f"{name}.{method}"


def test_multinomial_matches_scipy_and_refuses_wrong_totals():
    scipy_stats = pytest.importorskip("scipy.stats")
    from fgrad.scipy import stats

    x, p = np.array([[1, 2, 3], [2, 2, 2], [0, 0, 6]]), np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(stats.multinomial.logpmf(x, 6, p),
                               scipy_stats.multinomial.logpmf(x, 6, p), rtol=1e-12)
    assert stats.multinomial.logpmf(np.array([1, 1, 1]), 6, p) == -np.inf
    np.testing.assert_allclose(stats.multinomial.pmf(x, 6, p).sum(),
                               scipy_stats.multinomial.pmf(x, 6, p).sum())


def test_more_distributions_differentiate_in_data_and_parameters():
    from fgrad.scipy import stats

    x = np.array([1.2, 1.8, 2.9])
    cases = {
        "nbinom.n": (lambda n: fnp.sum(stats.nbinom.logpmf(np.array([0, 2, 5]), n[0], 0.4)),
                     np.array([3.5])),
        "betabinom.a": (lambda a: fnp.sum(stats.betabinom.logpmf(np.array([0, 2, 5]), 6, a[0],
                                                                 2.5)), np.array([1.5])),
        "gennorm.x": (lambda x: fnp.sum(stats.gennorm.logpdf(x, 1.5)), x - 2),
        "gennorm.cdf": (lambda x: fnp.sum(stats.gennorm.cdf(x, 1.5)), x - 2),
        "pareto.b": (lambda b: fnp.sum(stats.pareto.logpdf(x, b[0])), np.array([2.5])),
        "gumbel_r.x": (lambda x: fnp.sum(stats.gumbel_r.logcdf(x, 0.3, 1.5)), x),
        "truncnorm.x": (lambda x: fnp.sum(stats.truncnorm.logcdf(x, -0.5, 3.0)), x - 1),
        "vonmises.kappa": (lambda k: fnp.sum(stats.vonmises.logpdf(x, k[0])), np.array([2.0])),
        "wrapcauchy.c": (lambda c: fnp.sum(stats.wrapcauchy.logpdf(x, c[0])), np.array([0.5])),
        "multinomial.p": (lambda p: stats.multinomial.logpmf(np.array([1, 2, 3]), 6, p),
                          np.array([0.2, 0.3, 0.5])),
    }
    for name, (f, at) in cases.items():
        np.testing.assert_allclose(fgrad.grad(f)(at), central_difference(f, at), rtol=1e-6,
                                   err_msg=name)


def test_summaries_match_scipy_under_jit_and_vmap():
    scipy_stats = pytest.importorskip("scipy.stats")
    from fgrad.scipy import stats

    a = np.random.default_rng(0).integers(0, 4, size=(3, 7)).astype(float)
    for method in ("average", "min", "max", "dense", "ordinal"):
        for axis in (None, 0, 1):
            ours = stats.rankdata(a, method, axis=axis)
            theirs = scipy_stats.rankdata(a, method, axis=axis)
            np.testing.assert_array_equal(ours, theirs)
            assert ours.dtype == theirs.dtype
    for axis in (None, 0, 1):
        for keepdims in (False, True):
            ours = stats.mode(a, axis=axis, keepdims=keepdims)
            theirs = scipy_stats.mode(a, axis=axis, keepdims=keepdims)
            np.testing.assert_array_equal(ours.mode, theirs.mode)
            np.testing.assert_array_equal(ours.count, theirs.count)
        np.testing.assert_allclose(stats.sem(a, axis=axis), scipy_stats.sem(a, axis=axis))
    np.testing.assert_array_equal(fgrad.jit(stats.rankdata)(a[0]), scipy_stats.rankdata(a[0]))
    np.testing.assert_array_equal(fgrad.vmap(lambda r: stats.mode(r).mode)(a),
                                  scipy_stats.mode(a, axis=1).mode)
    f = lambda a: stats.sem(a, axis=None)  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(a), central_difference(f, a), rtol=1e-6,
                               atol=1e-10)


def test_gaussian_kde_matches_scipy_and_differentiates():
    scipy_stats = pytest.importorskip("scipy.stats")
    from fgrad.scipy import stats

    rng = np.random.default_rng(0)
    data, points, weights = rng.normal(size=(2, 30)), rng.normal(size=(2, 5)), rng.random(30)
    for bw in (None, "silverman", 0.3):
        ours, theirs = stats.gaussian_kde(data, bw, weights), scipy_stats.gaussian_kde(
            data, bw, weights)
        np.testing.assert_allclose(ours(points), theirs(points), rtol=1e-12)
        np.testing.assert_allclose(ours.logpdf(points), theirs.logpdf(points), rtol=1e-12)
        np.testing.assert_allclose(ours.covariance, theirs.covariance, rtol=1e-12)
    one = stats.gaussian_kde(data[0])
    np.testing.assert_allclose(one.integrate_box_1d(-0.5, 1.0),
                               scipy_stats.gaussian_kde(data[0]).integrate_box_1d(-0.5, 1.0))
    p = np.array([0.1, 0.5])
    np.testing.assert_allclose(fgrad.jit(lambda k, p: k.logpdf(p))(one, p), one.logpdf(p))
    f = lambda p: fnp.sum(one.logpdf(p))  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(p), central_difference(f, p), rtol=1e-6)
    g = lambda d: fnp.sum(stats.gaussian_kde(d).logpdf(p))  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(g)(data[0]), central_difference(g, data[0]),
                               rtol=1e-5, atol=1e-8)
    draws = one.resample(fgrad.random.key(0), (4000,))
    assert draws.shape == (1, 4000)
    # the mixture's mean is the data mean; its variance the data's plus the kernel's
    assert abs(draws.mean() - data[0].mean()) < 4 * np.sqrt(one.covariance[0, 0] + 1) / 63


# -- scipy.fft's discrete cosine transforms -----------------------------------------------


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_dct_matches_scipy_inverts_and_differentiates(norm):
    scipy_fft = pytest.importorskip("scipy.fft")
    from fgrad.scipy import fft

    x = np.random.default_rng(0).normal(size=(4, 6))
    for name in ("dct", "idct"):
        np.testing.assert_allclose(getattr(fft, name)(x, norm=norm),
                                   getattr(scipy_fft, name)(x, norm=norm), atol=1e-12)
        np.testing.assert_allclose(getattr(fft, name)(x, n=8, axis=0, norm=norm),
                                   getattr(scipy_fft, name)(x, n=8, axis=0, norm=norm),
                                   atol=1e-12)
    for name in ("dctn", "idctn"):
        np.testing.assert_allclose(getattr(fft, name)(x, s=(3, 7), norm=norm),
                                   getattr(scipy_fft, name)(x, s=(3, 7), norm=norm),
                                   atol=1e-12)
    np.testing.assert_allclose(fft.idctn(fft.dctn(x, norm=norm), norm=norm), x, atol=1e-12)
    w = np.random.default_rng(1).normal(size=(4, 6))
    f = lambda x: fnp.sum(fft.dctn(x, norm=norm) * w)  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(x), central_difference(f, x), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(fgrad.vmap(lambda r: fft.dct(r, norm=norm))(x),
                               fft.dct(x, norm=norm), atol=1e-12)
    assert fft.dct(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(NotImplementedError, match="type=2"):
        fft.dct(x, type=3)


# -- tree_util extras ---------------------------------------------------------------------


def test_tree_util_extras():
    import dataclasses

    from fgrad import tree, tree_util

    assert tree.broadcast([1, {"a": 2}], [[3, 4], {"a": (5, 6)}]) == [[1, 1], {"a": (2, 2)}]
    with pytest.raises(ValueError, match="not a prefix"):
        tree.broadcast([1, 2], [3])
    calls = []

    def add(a, b):
        calls.append((a, b))
        return a + b

    assert tree.reduce_associative(add, [1, 2, 3, 4, 5]) == 15
    assert calls == [(1, 2), (4, 5), (3, 9), (3, 12)]  # halves, not a left fold
    assert tree.reduce_associative(add, [], identity=0) == 0
    assert tree_util.all_leaves([1, np.ones(2), None]) and not tree_util.all_leaves([[1]])
    assert tree_util.treedef_is_leaf(tree.structure(3))
    assert not tree_util.treedef_is_leaf(tree.structure((3,)))
    pair = tree_util.treedef_tuple([tree.structure([0, 0]), tree.structure({"a": 0})])
    assert pair == tree.structure(([0, 0], {"a": 0}))

    @tree_util.register_static
    @dataclasses.dataclass(frozen=True)
    class Config:
        width: int

    assert tree.leaves({"c": Config(3), "x": 1.0}) == [1.0]
    out = fgrad.jit(lambda c, x: x * c.width)(Config(3), 2.0)
    assert out == 6.0

    @fgrad.register_dataclass
    @dataclasses.dataclass
    class Op:
        x: np.ndarray
        name: str = tree.static(default="add")

    assert tree.leaves(Op(np.ones(2))) == [pytest.approx(np.ones(2))]
    assert tree.structure(Op(np.ones(2))) != tree.structure(Op(np.ones(2), "mul"))


def test_tree_util_extras_match_jax():
    jax = pytest.importorskip("jax")
    from fgrad import tree

    prefix, full = [1, {"a": 2}], [[3, (4, 5)], {"a": {"b": 6, "c": [7]}}]
    assert tree.broadcast(prefix, full) == jax.tree.broadcast(prefix, full)
    assert tree.reduce_associative(lambda a, b: a * 10 + b, list(range(6))) == (
        jax.tree_util.tree_reduce_associative(lambda a, b: a * 10 + b, list(range(6)))
    )


# -- fgrad.errors and the remaining jax.nn functions ------------------------------------


def test_errors_are_the_exceptions_fgrad_raises():
    from fgrad import errors

    with pytest.raises(errors.TracerBoolConversionError):
        fgrad.jit(lambda x: 1.0 if x > 0 else 2.0)(1.0)
    with pytest.raises(errors.TracerIntegerConversionError):
        fgrad.jit(lambda n: fnp.zeros(range(n)))(3)
    with pytest.raises(errors.TracerArrayConversionError):
        fgrad.jit(lambda x: np.asarray(x))(3.0)
    assert issubclass(errors.ConcretizationTypeError, TypeError)
    from fgrad.experimental import checkify

    assert checkify.JaxRuntimeError is errors.JaxRuntimeError


def test_log1mexp_logmeanexp_and_sparse_activations():
    x = np.array([1e-8, 0.3, 0.5, 5.0, 50.0])
    series = -sum(np.exp(-k * x) / k for k in range(1, 30))  # log(1 - u) for u = e^-x
    exact = np.where(x > 1, series, np.log(-np.expm1(-x)))
    np.testing.assert_allclose(nn.log1mexp(x), exact, rtol=1e-14)
    for v in (1e-3, 0.6, 0.8, 3.0):
        assert fgrad.grad(nn.log1mexp)(v) == pytest.approx(1 / np.expm1(v), rel=1e-10)
    y = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -np.inf]])
    np.testing.assert_allclose(nn.logmeanexp(y[0]), np.log(np.mean(np.exp(y[0]))))
    np.testing.assert_allclose(nn.logmeanexp(y, axis=1), [np.log(np.mean(np.exp(y[0]))),
                                                         1000 + np.log(2 / 3)])
    mask = np.array([True, True, False])
    np.testing.assert_allclose(nn.logmeanexp(y[0], where=mask), np.log(np.mean(np.exp(y[0, :2]))))
    z = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(nn.sparse_plus(z), [0, 0, 1 / 16, 0.25, 9 / 16, 1, 3])
    np.testing.assert_allclose(nn.sparse_sigmoid(z), [0, 0, 0.25, 0.5, 0.75, 1, 1])
    # sparse_sigmoid is sparse_plus's derivative
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(nn.sparse_plus))(z[[0, 2, 3, 4, 6]]),
                               nn.sparse_sigmoid(z[[0, 2, 3, 4, 6]]))
    assert nn.log1mexp(x.astype(np.float32)).dtype == np.float32


def test_nn_extras_match_jax():
    jax = pytest.importorskip("jax")
    x = np.array([1e-4, 0.3, 0.5, 5.0, 20.0], np.float32)
    np.testing.assert_allclose(nn.log1mexp(x), jax.nn.log1mexp(x), rtol=1e-5)
    z = np.linspace(-2, 2, 9).astype(np.float32)
    np.testing.assert_allclose(nn.sparse_plus(z), jax.nn.sparse_plus(z), rtol=1e-6)
    np.testing.assert_allclose(nn.sparse_sigmoid(z), jax.nn.sparse_sigmoid(z), rtol=1e-6)
    y = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(nn.logmeanexp(y, axis=1), jax.nn.logmeanexp(y, axis=1),
                               rtol=1e-5)


# -- scipy.linalg: structured matrices, polar, expm_frechet, eigh_tridiagonal ------------


def test_structured_matrices_match_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    from fgrad.scipy import linalg

    rng = np.random.default_rng(0)
    c, r = rng.normal(size=4), rng.normal(size=5)
    cases = [
        ("toeplitz", (c, r)), ("toeplitz", (c,)), ("toeplitz", (c + 1j * r[:4],)),
        ("hankel", (c, r)), ("hankel", (c,)), ("circulant", (c,)), ("companion", (r,)),
        ("leslie", (c, r[:3])), ("fiedler", (c,)), ("hilbert", (5,)), ("invhilbert", (6,)),
        ("dft", (5,)), ("dft", (5, "n")), ("dft", (5, "sqrtn")), ("hadamard", (8,)),
        ("helmert", (5,)), ("helmert", (5, True)),
        *[("pascal", (5, k)) for k in ("symmetric", "lower", "upper")],
        *[("invpascal", (5, k)) for k in ("symmetric", "lower", "upper")],
        *[("convolution_matrix", (c, n, mode)) for n in (3, 6)
          for mode in ("full", "same", "valid")],
    ]
    for name, args in cases:
        ours, theirs = getattr(linalg, name)(*args), getattr(scipy_linalg, name)(*args)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=name)
    v = rng.normal(size=6)
    np.testing.assert_allclose(linalg.convolution_matrix(c, 6, "same") @ v,
                               np.convolve(c, v, "same"))
    np.testing.assert_allclose(linalg.hilbert(6) @ linalg.invhilbert(6), np.eye(6), atol=1e-6)
    np.testing.assert_array_equal(linalg.pascal(6) @ linalg.invpascal(6), np.eye(6))


def test_structured_matrices_differentiate_in_their_vectors():
    from fgrad.scipy import linalg

    rng = np.random.default_rng(1)
    c, w = rng.normal(size=4), rng.normal(size=(4, 4))
    for name in ("toeplitz", "hankel", "circulant", "fiedler"):
        f = lambda c, name=name: fnp.sum(getattr(linalg, name)(c) * w)  # noqa: E731
        np.testing.assert_allclose(fgrad.grad(f)(c), central_difference(f, c), rtol=1e-6,
                                   err_msg=name)
        np.testing.assert_allclose(fgrad.jit(getattr(linalg, name))(c),
                                   getattr(linalg, name)(c), err_msg=name)
    f = lambda a: fnp.sum(linalg.companion(a) * w[:3, :3])  # noqa: E731
    a = rng.normal(size=4) + np.array([3.0, 0, 0, 0])
    np.testing.assert_allclose(fgrad.grad(f)(a), central_difference(f, a), rtol=1e-6)


def test_polar_expm_frechet_and_eigh_tridiagonal():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    from fgrad.scipy import linalg

    rng = np.random.default_rng(2)
    a, e = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    for side in ("right", "left"):
        for ours, theirs in zip(linalg.polar(a, side), scipy_linalg.polar(a, side)):
            np.testing.assert_allclose(ours, theirs, atol=1e-12)
    u, p = linalg.polar(a)
    np.testing.assert_allclose(u @ p, a, atol=1e-12)
    for ours, theirs in zip(linalg.expm_frechet(0.3 * a, e),
                            scipy_linalg.expm_frechet(0.3 * a, e)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    # the Fréchet derivative is the directional derivative of expm
    _, tangent = fgrad.jvp(linalg.expm, (0.3 * a,), (e,))
    np.testing.assert_allclose(linalg.expm_frechet(0.3 * a, e, compute_expm=False), tangent,
                               rtol=1e-8, atol=1e-10)
    d, off = rng.normal(size=5), rng.normal(size=4)
    np.testing.assert_allclose(linalg.eigh_tridiagonal(d, off, eigvals_only=True),
                               scipy_linalg.eigh_tridiagonal(d, off, eigvals_only=True))
    w, v = linalg.eigh_tridiagonal(d, off)
    t = np.diag(d) + np.diag(off, 1) + np.diag(off, -1)
    np.testing.assert_allclose(t @ v, v * w, atol=1e-12)
    f = lambda d: linalg.eigh_tridiagonal(d, off, eigvals_only=True)[0]  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(d), central_difference(f, d), rtol=1e-6,
                               atol=1e-9)


# -- the methods the older distributions lacked ------------------------------------------


def test_filled_in_methods_match_scipy_in_both_tails():
    scipy_stats = pytest.importorskip("scipy.stats")
    from fgrad.scipy import stats

    unit = np.array([0.05, 0.3, 0.7, 0.95])
    positive = np.array([0.1, 0.5, 3.0, 1e3])
    line = np.array([-40.0, -1.0, 0.5, 3.0, 1e3])
    q = np.array([1e-10, 0.2, 0.5, 0.9])
    cases = [
        ("beta", ("sf", "logcdf", "logsf"), unit, (2.0, 3.0)),
        ("chi2", ("sf", "logcdf", "logsf"), positive, (3.0,)),
        ("gamma", ("sf", "logsf", "logcdf"), positive, (2.5,)),
        ("cauchy", ("logcdf", "logsf"), line, (0.2, 1.5)),
        ("expon", ("logcdf", "logsf"), positive, (0.2, 1.5)),
        ("cauchy", ("isf",), q, (0.2, 1.5)),
        ("logistic", ("isf",), q, (0.2, 1.5)),
    ]
    for name, methods, points, params in cases:
        for method in methods:
            with np.errstate(divide="ignore"):
                np.testing.assert_allclose(
                    getattr(getattr(stats, name), method)(points, *params),
                    getattr(getattr(scipy_stats, name), method)(points, *params),
                    rtol=1e-10, err_msg=f"{name}.{method}",
                )
    for name, f, at in [
        ("gamma.logcdf", lambda x: fnp.sum(stats.gamma.logcdf(x, 2.5)), positive[:3]),
        ("expon.logcdf", lambda x: fnp.sum(stats.expon.logcdf(x, 0.2, 1.5)), positive[1:3]),
        ("cauchy.logsf", lambda x: fnp.sum(stats.cauchy.logsf(x)), line[:4]),
        ("beta.sf", lambda x: fnp.sum(stats.beta.sf(x, 2.0, 3.0)), unit),
    ]:
        np.testing.assert_allclose(fgrad.grad(f)(at), central_difference(f, at), rtol=1e-6,
                                   err_msg=name)
