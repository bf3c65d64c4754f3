"""The rest of ``jax.lax`` that JAX programs reach for: ``sort`` with several operands,
``sort_key_val``, ``top_k``, ``associative_scan``, ``cummax``/``cummin``/``cumsum``/
``cumprod``/``cumlogsumexp``, ``reduce``, ``select_n``, ``clamp``,
``population_count`` and ``conv_transpose``.

Closed forms and NumPy references, JAX's own results where installed, eager / ``jit``
/ ``vmap`` agreement, and derivatives against central finite differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

rng = np.random.default_rng(1)


def _fd_check(f, x, rtol=1e-6):
    """grad(sum(f * w)) against a central difference along a random direction."""
    w = rng.normal(size=np.shape(f(x)))
    loss = lambda x: fnp.sum(f(x) * w)  # noqa: E731
    g = fgrad.grad(loss)(x)
    d = rng.normal(size=np.shape(x))
    h = 1e-6
    fd = (loss(x + h * d) - loss(x - h * d)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * d), fd, rtol=rtol)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(loss))(x), g, rtol=1e-12)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# ---- sort, sort_key_val, top_k ---------------------------------------------------


def test_sort_with_several_keys_is_lexicographic_and_stable():
    a = np.array([2, 1, 2, 1, 2, 1])
    b = np.array([0.5, 0.1, 0.2, 0.1, 0.2, 0.3])
    payload = np.arange(6.0)
    sa, sb, sp = lax.sort((a, b, payload), num_keys=2)
    order = np.lexsort((b, a))  # NumPy: the last key is the primary one
    np.testing.assert_array_equal(sa, a[order])
    np.testing.assert_array_equal(sb, b[order])
    np.testing.assert_array_equal(sp, payload[order])  # ties (1, 0.1) keep 1 before 3
    sa1, sp1 = lax.sort((a, payload), num_keys=1)
    np.testing.assert_array_equal(sp1, payload[np.argsort(a, stable=True)])
    x = rng.normal(size=(3, 5))
    np.testing.assert_array_equal(lax.sort(x, dimension=0), np.sort(x, axis=0))
    keys, vals = lax.sort_key_val(x, -x, dimension=1)
    np.testing.assert_array_equal(keys, np.sort(x, axis=1))
    np.testing.assert_array_equal(vals, -keys)


def test_sort_matches_jax_and_differentiates():
    jax = _jax()
    x = rng.normal(size=(4, 6))
    k = rng.integers(0, 3, size=(4, 6))
    ours = lax.sort((k, x), dimension=1, num_keys=1)
    theirs = jax.lax.sort((k, x), dimension=1, num_keys=1)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o, np.asarray(t))
    _fd_check(lambda v: lax.sort((k, v), dimension=1)[1], x)
    _fd_check(lambda v: lax.sort(v, dimension=0), x)


def test_top_k_values_indices_ties_and_jax():
    x = np.array([[1.0, 3.0, 3.0, -2.0, 7.0], [0.0, 0.0, 0.0, 1.0, -1.0]])
    values, indices = lax.top_k(x, 3)
    np.testing.assert_array_equal(values, [[7.0, 3.0, 3.0], [1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(indices, [[4, 1, 2], [3, 0, 1]])
    ints = np.array([np.iinfo(np.int64).min, 5, -3, 5])
    np.testing.assert_array_equal(lax.top_k(ints, 4)[1], [1, 3, 2, 0])
    np.testing.assert_array_equal(lax.top_k(np.array([1, 250, 3], np.uint8), 2)[0], [250, 3])
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    y = rng.normal(size=(3, 8))
    y[1, 2] = np.nan
    for ours, theirs in zip(lax.top_k(y, 4), jax.lax.top_k(y, 4)):
        np.testing.assert_array_equal(ours, np.asarray(theirs))
    _fd_check(lambda v: lax.top_k(v, 3)[0], rng.normal(size=(2, 6)))
    batch = rng.normal(size=(4, 7))
    np.testing.assert_array_equal(
        fgrad.vmap(lambda v: lax.top_k(v, 2)[1])(batch), np.argsort(-batch, axis=1)[:, :2]
    )
    with pytest.raises(ValueError, match="k=9"):
        lax.top_k(batch, 9)


# ---- associative_scan and the cumulative reductions ------------------------------


CUMULATIVE = {
    "cumsum": (np.cumsum, None),
    "cumprod": (np.cumprod, None),
    "cummax": (np.maximum.accumulate, None),
    "cummin": (np.minimum.accumulate, None),
    "cumlogsumexp": (np.logaddexp.accumulate, None),
}


@pytest.mark.parametrize("name", sorted(CUMULATIVE))
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative_reductions_match_numpy(name, axis, reverse):
    ref, _ = CUMULATIVE[name]
    x = rng.normal(size=(9, 6))
    expected = (
        ref(x[::-1] if axis == 0 else x[:, ::-1], axis=axis) if reverse else ref(x, axis=axis)
    )
    if reverse:
        expected = expected[::-1] if axis == 0 else expected[:, ::-1]
    out = getattr(lax, name)(x, axis=axis, reverse=reverse)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    np.testing.assert_allclose(
        fgrad.jit(lambda v: getattr(lax, name)(v, axis=axis, reverse=reverse))(x), out, rtol=1e-15
    )
    assert getattr(lax, name)(x.astype(np.float32), axis=axis).dtype == np.float32


@pytest.mark.parametrize("name", sorted(CUMULATIVE))
def test_cumulative_reductions_gradients_and_jax(name):
    x = rng.normal(size=(7, 3))
    _fd_check(lambda v: getattr(lax, name)(v, axis=0), x)
    _fd_check(lambda v: getattr(lax, name)(v, axis=1, reverse=True), x)
    jax = _jax()
    np.testing.assert_allclose(
        getattr(lax, name)(x, axis=0, reverse=True),
        np.asarray(getattr(jax.lax, name)(x, axis=0, reverse=True)),
        rtol=1e-13,
    )


def _affine_compose(a, b):
    """(x -> a0 x + a1) then (x -> b0 x + b1): associative, not commutative."""
    return (a[0] * b[0], b[0] * a[1] + b[1])


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_of_a_non_commutative_operation(n, reverse):
    a0, a1 = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    acc = (np.ones(2), np.zeros(2))
    expected0, expected1 = np.empty((n, 2)), np.empty((n, 2))
    order = range(n - 1, -1, -1) if reverse else range(n)
    for i in order:
        acc = _affine_compose(acc, (a0[i], a1[i]))
        expected0[i], expected1[i] = acc
    out0, out1 = lax.associative_scan(_affine_compose, (a0, a1), reverse=reverse)
    np.testing.assert_allclose(out0, expected0, rtol=1e-12)
    np.testing.assert_allclose(out1, expected1, rtol=1e-12)
    jax = _jax()
    j0, j1 = jax.lax.associative_scan(_affine_compose, (a0, a1), reverse=reverse)
    np.testing.assert_allclose(out1, np.asarray(j1), rtol=1e-12)


def test_associative_scan_along_an_axis_under_vmap_jit_and_grad():
    x = rng.normal(size=(3, 10))
    f = lambda v: lax.associative_scan(fnp.add, v, axis=1)  # noqa: E731
    np.testing.assert_allclose(f(x), np.cumsum(x, axis=1), rtol=1e-13)
    np.testing.assert_allclose(fgrad.vmap(lambda r: lax.associative_scan(fnp.add, r))(x), f(x))
    np.testing.assert_allclose(fgrad.jit(f)(x), f(x), rtol=1e-15)
    _fd_check(lambda v: lax.associative_scan(fnp.multiply, v, axis=1), x)


# ---- reduce ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, dims", [((7,), (0,)), ((5, 6), (1,)), ((3, 4, 5), (0, 2)), ((2, 0), (1,))]
)
def test_reduce_with_monoids(shape, dims):
    x = rng.normal(size=shape)
    np.testing.assert_allclose(lax.reduce(x, 0.0, fnp.add, dims), np.sum(x, axis=dims), rtol=1e-13)
    np.testing.assert_array_equal(
        lax.reduce(x, -np.inf, fnp.maximum, dims), np.max(x, axis=dims, initial=-np.inf)
    )
    np.testing.assert_allclose(
        lax.reduce(x, 1.0, lambda a, b: a * b, dims), np.prod(x, axis=dims), rtol=1e-13
    )
    np.testing.assert_allclose(
        fgrad.jit(lambda v: lax.reduce(v, 0.0, fnp.add, dims))(x), np.sum(x, axis=dims), rtol=1e-13
    )


def test_reduce_several_operands_argmax_and_gradient():
    x = rng.normal(size=(4, 9))
    idx = np.broadcast_to(np.arange(9), x.shape)

    def argmax_pair(a, b):
        take_b = b[0] > a[0]
        return fnp.where(take_b, b[0], a[0]), fnp.where(take_b, b[1], a[1])

    vals, where = lax.reduce((x, idx), (-np.inf, 0), argmax_pair, (1,))
    np.testing.assert_array_equal(vals, x.max(1))
    np.testing.assert_array_equal(where, x.argmax(1))
    _fd_check(
        lambda v: (
            lax.reduce(v, 0.0, lambda a, b: a + b * b, (1,)) * 0
            + lax.reduce(v * v, 0.0, fnp.add, (0,)).sum()
        ),
        x,
    )
    jax = _jax()
    np.testing.assert_allclose(
        lax.reduce(x, 0.0, fnp.add, (0, 1)), jax.lax.reduce(x, 0.0, jax.lax.add, (0, 1)), rtol=1e-13
    )


# ---- select_n, clamp, population_count ---------------------------------------------


def test_select_n_clamp_population_count():
    cases = [np.full(4, 10.0), np.full(4, 20.0), np.full(4, 30.0)]
    np.testing.assert_array_equal(lax.select_n(np.array([2, 0, 1, 2]), *cases), [30, 10, 20, 30])
    np.testing.assert_array_equal(
        lax.select_n(np.array([True, False, True, False]), *cases[:2]), [20, 10, 20, 10]
    )
    np.testing.assert_array_equal(lax.select_n(np.int64(1), *cases), cases[1])
    g = fgrad.grad(lambda a, b: fnp.sum(lax.select_n(np.array([0, 1, 1, 0]), a, b)), argnums=(0, 1))
    ga, gb = g(np.ones(4), np.ones(4))
    np.testing.assert_array_equal(ga, [1, 0, 0, 1])
    np.testing.assert_array_equal(gb, [0, 1, 1, 0])
    with pytest.raises(TypeError, match="one dtype"):
        lax.select_n(True, np.ones(2), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="one shape"):
        lax.select_n(True, np.ones(2), np.ones(3))

    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_array_equal(lax.clamp(0.0, x, 1.0), [0.0, 0.5, 1.0])
    assert lax.clamp(0.0, x.astype(np.float32), 1.0).dtype == np.float32
    np.testing.assert_array_equal(
        fgrad.grad(lambda v: fnp.sum(lax.clamp(0.0, v, 1.0)))(x), [0, 1, 0]
    )
    np.testing.assert_array_equal(
        fgrad.vmap(lambda lo: lax.clamp(lo, x, 2.0))(np.array([0.0, 1.0])),
        [[0.0, 0.5, 2.0], [1.0, 1.0, 2.0]],
    )

    ints = np.array([0, 1, 7, 255, -1], np.int32)
    out = lax.population_count(ints)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [0, 1, 3, 8, 32])


# ---- conv_transpose -------------------------------------------------------------


CONV_T = [
    # (lhs shape, rhs shape, strides, padding, rhs_dilation, dimension numbers)
    ((2, 5, 5, 3), (3, 3, 3, 4), (2, 2), "SAME", None, None),
    ((2, 5, 5, 3), (3, 3, 3, 4), (2, 2), "VALID", None, None),
    ((1, 4, 6, 2), (2, 3, 2, 3), (1, 2), "SAME", (2, 1), None),
    ((1, 4, 6, 2), (4, 2, 2, 3), (3, 1), ((1, 2), (0, 1)), None, None),
    ((2, 3, 7), (2, 3, 4), (2,), "SAME", None, ("NCH", "OIH", "NCH")),
    ((2, 7, 3), (2, 3, 5), (3,), "VALID", None, None),
]


@pytest.mark.parametrize("lhs_shape, rhs_shape, strides, padding, dilation, dn", CONV_T)
@pytest.mark.parametrize("transpose_kernel", [False, True])
def test_conv_transpose_matches_jax(
    lhs_shape, rhs_shape, strides, padding, dilation, dn, transpose_kernel
):
    jax = _jax()
    lhs, rhs = rng.normal(size=lhs_shape), rng.normal(size=rhs_shape)
    if transpose_kernel:  # the in/out channels swap: the kernel's O must be lhs's C
        spec = dn[1] if dn else {3: "HIO", 4: "HWIO"}[len(rhs_shape)]
        o, i = spec.index("O"), spec.index("I")
        rhs = np.swapaxes(rhs, o, i)
    expected = jax.lax.conv_transpose(
        lhs, rhs, strides, padding, dilation, dn, transpose_kernel=transpose_kernel
    )
    out = lax.conv_transpose(
        lhs, rhs, strides, padding, dilation, dn, transpose_kernel=transpose_kernel
    )
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, np.asarray(expected), rtol=1e-12, atol=1e-12)


def test_conv_transpose_with_transposed_kernel_is_the_input_gradient_of_conv():
    x = rng.normal(size=(2, 8, 8, 3))
    w = rng.normal(size=(3, 3, 3, 5))
    dn = ("NHWC", "HWIO", "NHWC")
    conv = lambda v: lax.conv_general_dilated(v, w, (2, 2), "SAME", dimension_numbers=dn)  # noqa: E731
    y = conv(x)
    cot = rng.normal(size=y.shape)
    _, pullback = fgrad.vjp(conv, x)
    (expected,) = pullback(cot)
    out = lax.conv_transpose(cot, w, (2, 2), "SAME", dimension_numbers=dn, transpose_kernel=True)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_conv_transpose_shapes_dtypes_and_gradients():
    x = rng.normal(size=(1, 4, 4, 2))
    w = rng.normal(size=(3, 3, 2, 3))
    out = lax.conv_transpose(x, w, (2, 2), "SAME")
    assert out.shape == (1, 8, 8, 3)
    assert (
        lax.conv_transpose(x.astype(np.float32), w.astype(np.float32), (2, 2), "SAME").dtype
        == np.float32
    )
    _fd_check(lambda v: lax.conv_transpose(v, w, (2, 2), "VALID"), x)
    _fd_check(
        lambda k: lax.conv_transpose(x, k, (2, 1), "SAME", transpose_kernel=True), w.swapaxes(2, 3)
    )
    batch = rng.normal(size=(3,) + x.shape)
    np.testing.assert_allclose(
        fgrad.vmap(lambda v: lax.conv_transpose(v, w, (2, 2), "SAME"))(batch),
        np.stack([lax.conv_transpose(v, w, (2, 2), "SAME") for v in batch]),
        rtol=1e-13,
    )
    with pytest.raises(ValueError, match="padding"):
        lax.conv_transpose(x, w, (2, 2), "FULL")
