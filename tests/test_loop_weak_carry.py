"""Loop carries that start as Python numbers take the dtype the body gives them, as in JAX.

``fori_loop(0, n, lambda i, c: c + x32.sum(), 0.0)`` carries float32: a weakly typed
initial value (a Python ``int``, ``float`` or ``complex``) is cast to the body's dtype
where NumPy's promotion of that dtype with such a number gives that dtype. A strong
mismatch (``np.float64(0.0)`` for a float32 body) and a weak value the body's dtype
cannot hold (``0.0`` for an integer body, ``0j`` for a real one) stay errors that name
the leaf. Checked for every loop (``fori_loop``, ``scan``, ``while_loop``), eagerly,
under ``jit``, ``vmap`` and ``grad``, against the loop run from the cast value, and
against JAX (with 64-bit types) where installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

PYTHON_NUMBERS = [0, 0.0, 0j, 2, 1.5, 1 + 2j]
DTYPES = [np.float32, np.float64, np.float16, np.complex64, np.complex128, np.int32, np.int8]


def _loops(dtype, fixed: bool):
    """The three loops adding ``dtype`` values to the carry; with ``fixed``, the body
    converts its result to ``dtype`` (so a carry of a wider kind cannot fit)."""
    x = np.ones(3, dtype)

    def out(v):
        if not fixed:
            return v
        return (v if np.dtype(dtype).kind == "c" else fnp.real(v)).astype(dtype)

    def fori(c0):
        return lax.fori_loop(0, 3, lambda i, c: out(c + x.sum(dtype=x.dtype)), c0)

    def scan(c0):
        return lax.scan(lambda c, xi: (out(c + xi), xi * 2), c0, x)[0]

    def while_(c0):
        def body(s):
            k, c = s
            return k + 1, out(c + x[0])

        return lax.while_loop(lambda s: s[0] < 3, body, (0, c0))[1]

    return {"fori_loop": fori, "scan": scan, "while_loop": while_}


@pytest.mark.parametrize("number", PYTHON_NUMBERS, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("loop", ["fori_loop", "scan", "while_loop"])
def test_weak_initial_carry_takes_the_body_dtype(number, dtype, loop):
    """The body's dtype is NumPy's promotion of the array dtype with the Python number."""
    f = _loops(dtype, fixed=False)[loop]
    want = np.result_type(dtype, type(number)(0))
    expected = f(np.asarray(number, want))  # the loop from the cast value: no weak types
    assert expected.dtype == want
    for g in (f, fgrad.jit(f)):
        out = g(number)
        assert np.asarray(out).dtype == want  # eagerly a Python complex may stay one
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("number", PYTHON_NUMBERS, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("loop", ["fori_loop", "scan", "while_loop"])
def test_a_body_of_fixed_dtype_accepts_the_numbers_that_dtype_holds(number, dtype, loop):
    """int into a float body, float into a complex one: cast; float into an integer body,
    complex into a real one: the dtype error that names the leaf (as JAX)."""
    f = _loops(dtype, fixed=True)[loop]
    if np.result_type(dtype, type(number)(0)) != np.dtype(dtype):
        for g in (f, fgrad.jit(f)):
            with pytest.raises(TypeError, match=f"{loop}: leaf .* same dtype"):
                g(number)
        return
    expected = f(np.asarray(number, dtype))
    for g in (f, fgrad.jit(f)):
        out = g(number)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("loop", ["fori_loop", "scan", "while_loop"])
def test_strong_mismatch_still_errors(loop):
    f = _loops(np.float32, fixed=True)[loop]
    for g in (f, fgrad.jit(f)):
        with pytest.raises(TypeError, match="f32.*f64.*same dtype"):
            g(np.float64(0.0))
        with pytest.raises(TypeError, match="same dtype"):
            g(np.zeros((), np.float64))


def test_weak_leaves_inside_pytrees_and_mixed_with_strong_ones():
    x = np.arange(4, dtype=np.float32)

    def body(i, carry):
        total, count, label = carry
        return total + fnp.take(x, i), count + 1, label

    total, count, label = lax.fori_loop(0, 4, body, (0.0, 0, np.int8(7)))
    assert total.dtype == np.float32 and total == 6.0
    assert np.asarray(count).dtype == np.int64 and count == 4  # int + int stays int64
    assert np.asarray(label).dtype == np.int8
    jitted = fgrad.jit(lambda: lax.fori_loop(0, 4, body, (0.0, 0, np.int8(7))))()
    assert jitted[0].dtype == np.float32 and jitted[0] == 6.0


def test_weak_carry_under_vmap_and_grad():
    x = np.array([0.5, 1.5, 2.0], np.float32)

    def f(w):
        return lax.fori_loop(0, 3, lambda i, c: c + w * x[i] ** 2, 0.0)

    out = f(np.float32(2.0))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 2.0 * np.sum(x**2), rtol=1e-6)
    g = fgrad.grad(f)(np.float32(2.0))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.sum(x**2), rtol=1e-6)
    batched = fgrad.vmap(f)(np.array([1.0, 2.0], np.float32))
    assert batched.dtype == np.float32
    np.testing.assert_allclose(batched, [np.sum(x**2), 2 * np.sum(x**2)], rtol=1e-6)

    def scan_mean(xs):
        return lax.scan(lambda c, v: (c + v / 3, None), 0.0, xs)[0]

    np.testing.assert_allclose(fgrad.jit(fgrad.grad(scan_mean))(x), np.full(3, 1 / 3), rtol=1e-6)


def test_float64_bodies_are_unchanged():
    """fgrad's default: a float carry with a float64 body needs no cast at all."""
    out = lax.fori_loop(0, 5, lambda i, c: c + 0.5 * i, 0.0)
    assert out == 5.0 and np.asarray(out).dtype == np.float64


@pytest.mark.parametrize("number", PYTHON_NUMBERS, ids=repr)
@pytest.mark.parametrize(
    "dtype", [np.float32, np.complex64, np.int32], ids=lambda d: np.dtype(d).name
)
def test_acceptance_and_dtype_match_jax(number, dtype):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = np.ones(3, dtype)
    try:
        theirs = jax.lax.fori_loop(0, 3, lambda i, c: c + x.sum(), number)
    except TypeError:
        theirs = None
    try:
        ours = lax.fori_loop(0, 3, lambda i, c: c + x.sum(), number)
    except TypeError:
        ours = None
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        np.testing.assert_array_equal(ours, np.asarray(theirs))
