"""fgrad.experimental.checkify: checks returned as values under jit, vmap and grad."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.experimental import checkify


def positive_log(x):
    checkify.check(fnp.all(x > 0), "x must be positive, got {}", x)
    return fnp.log(x)


def take(x, i):
    checkify.check(i >= 0, "index needs to be non-negative, got {i}", i=i)
    return fnp.sin(fnp.take(x, i))


COMPOSITIONS = {
    "eager": lambda f: checkify.checkify(f),
    "jit(checkify)": lambda f: fgrad.jit(checkify.checkify(f)),
    "checkify(jit)": lambda f: checkify.checkify(fgrad.jit(f)),
    "jit(checkify(jit))": lambda f: fgrad.jit(checkify.checkify(fgrad.jit(f))),
}


@pytest.mark.parametrize("how", COMPOSITIONS)
def test_a_failing_user_check_is_returned_with_its_values(how):
    checked = COMPOSITIONS[how](take)
    err, out = checked(np.arange(5.0), -2)
    assert err.get() == "index needs to be non-negative, got -2 (`check` failed)"
    np.testing.assert_allclose(out, np.sin(3.0))  # take wraps -2 as NumPy does
    err, out = checked(np.arange(5.0), 2)
    assert err.get() is None
    np.testing.assert_allclose(out, np.sin(2.0))
    err.throw()  # no error: nothing raised


def test_throw_raises_the_message():
    err, _ = checkify.checkify(positive_log)(-1.5)
    with pytest.raises(checkify.JaxRuntimeError, match=r"x must be positive, got -1.5"):
        err.throw()
    assert isinstance(err.get_exception(), checkify.JaxRuntimeError)
    assert str(err) == "Error(x must be positive, got -1.5 (`check` failed))"
    assert str(checkify.checkify(positive_log)(1.5)[0]) == "Error(None)"  # as JAX prints


def test_the_first_failing_check_in_program_order_wins():
    def f(x):
        checkify.check(x < 10, "first: {}", x)
        checkify.check(x < 5, "second: {}", x)
        return x

    checked = fgrad.jit(checkify.checkify(f))
    assert checked(7.0)[0].get() == "second: 7.0 (`check` failed)"
    assert checked(12.0)[0].get() == "first: 12.0 (`check` failed)"
    assert checked(1.0)[0].get() is None


def test_vmap_of_checkify_reports_each_failing_example():
    err, out = fgrad.vmap(checkify.checkify(take), (None, 0))(
        np.arange(5.0), np.array([1, -2, 3, -4])
    )
    assert err.get() == (
        "at mapped index 1: index needs to be non-negative, got -2 (`check` failed)\n"
        "at mapped index 3: index needs to be non-negative, got -4 (`check` failed)"
    )
    np.testing.assert_allclose(out, np.sin(np.arange(5.0)[[1, -2, 3, -4]]))


@pytest.mark.parametrize("outer_jit", [False, True])
def test_checkify_of_vmap_reports_the_first_failing_example(outer_jit):
    checked = checkify.checkify(fgrad.vmap(take, (None, 0)))
    checked = fgrad.jit(checked) if outer_jit else checked
    err, _ = checked(np.arange(5.0), np.array([1, 2, -3, -4]))
    assert err.get() == "index needs to be non-negative, got -3 (`check` failed)"
    assert checked(np.arange(5.0), np.array([1, 2]))[0].get() is None


@pytest.mark.parametrize("outer_jit", [False, True])
def test_checks_inside_grad_are_checked_on_the_primal_values(outer_jit):
    checked = checkify.checkify(fgrad.grad(positive_log))
    checked = fgrad.jit(checked) if outer_jit else checked
    err, g = checked(-2.0)
    assert err.get() == "x must be positive, got -2.0 (`check` failed)"
    err, g = checked(4.0)
    assert err.get() is None and g == pytest.approx(0.25)


def test_grad_and_vmap_through_a_checkified_function_match_the_plain_one():
    def value(x):
        return fnp.sum(checkify.checkify(positive_log)(x)[1])

    x = np.array([0.5, 2.0, 3.0])
    np.testing.assert_allclose(fgrad.grad(value)(x), 1 / x)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(value))(x), 1 / x)
    h = 1e-6
    fd = (value(x + h * np.eye(3)[1]) - value(x - h * np.eye(3)[1])) / (2 * h)
    assert fgrad.grad(value)(x)[1] == pytest.approx(fd, rel=1e-7)


def test_a_check_outside_checkify_raises_eagerly_and_when_jitted_code_runs():
    with pytest.raises(checkify.JaxRuntimeError, match="got -1.0"):
        positive_log(-1.0)
    jitted = fgrad.jit(positive_log)
    assert jitted(2.0) == pytest.approx(np.log(2.0))
    with pytest.raises(checkify.JaxRuntimeError, match="got -3.0"):
        jitted(-3.0)
    with pytest.raises(checkify.JaxRuntimeError, match="got -1.0"):
        fgrad.vmap(positive_log)(np.array([1.0, -1.0]))


def test_debug_check_is_a_no_op_outside_checkify_and_check_error_reraises():
    def f(x):
        checkify.debug_check(x > 0, "debug: {}", x)
        return x

    assert f(-1.0) == -1.0
    err, _ = checkify.checkify(f)(-1.0)
    assert err.get() == "debug: -1.0 (`check` failed)"

    def g(x):
        checkify.check_error(err)
        return x

    assert checkify.checkify(g)(0.0)[0].get() == "debug: -1.0 (`check` failed)"
    with pytest.raises(checkify.JaxRuntimeError, match="debug: -1.0"):
        g(0.0)


def automatic(x, i):
    return fnp.log(x[i]) + (i // (i - 1))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize(
    ("x", "i", "message", "value"),
    [
        (np.ones(5), 5, "out-of-bounds indexing for array of shape (5,): index 5 is out of "
         "bounds for axis 0 with size 5. ", 1.0),
        (-np.ones(5), 2, "nan generated by primitive: log.", np.nan),
        (np.ones(5), 1, "division by zero", 0.0),
        (np.ones(5), 0, None, 0.0),
    ],
)
def test_automatic_checks(jit, x, i, message, value):
    checked = checkify.checkify(automatic, errors=checkify.all_checks)
    checked = fgrad.jit(checked) if jit else checked
    with np.errstate(all="ignore"):
        err, out = checked(x, i)
    assert err.get() == message
    np.testing.assert_allclose(out, value)


def test_only_the_selected_kinds_are_checked():
    def f(x):
        checkify.check(x > 0, "user")
        return fnp.log(x)

    with np.errstate(invalid="ignore"):
        assert checkify.checkify(f, errors=checkify.nan_checks)(-1.0)[0].get().startswith(
            "nan generated by primitive: log"
        )
        user = checkify.checkify(f, errors=checkify.user_checks)(-1.0)[0]
        assert user.get() == "user (`check` failed)"
        assert checkify.checkify(f, errors=checkify.div_checks)(-1.0)[0].get() is None
        # a NaN passed in is not "generated"
        assert checkify.checkify(fnp.sin, errors=checkify.nan_checks)(np.nan)[0].get() is None
    with pytest.raises(ValueError, match="unknown kinds of checks"):
        checkify.checkify(f, errors={"nans"})


def test_float32_stays_float32_and_the_error_is_a_pytree():
    err, out = fgrad.jit(checkify.checkify(positive_log))(np.float32(2.0))
    assert out.dtype == np.float32
    leaves = fgrad.tree_leaves(err)
    assert len(leaves) == 2 and leaves[0].dtype == bool  # failed flag and the payload


def test_messages_match_jax():
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify as jax_checkify

    def jax_take(x, i):
        jax_checkify.check(i >= 0, "index needs to be non-negative, got {i}", i=i)
        return jax.numpy.sin(x[i])

    jerr, _ = jax.jit(jax_checkify.checkify(jax_take))(jax.numpy.arange(5.0), -2)
    ferr, _ = fgrad.jit(checkify.checkify(take))(np.arange(5.0), -2)
    assert ferr.get() == jerr.get()


def test_automatic_messages_match_jax():
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify as jax_checkify

    def jax_automatic(x, i):
        return jax.numpy.log(x[i])

    for x, i in [(np.ones(5), 5), (-np.ones(5), 2), (np.ones(5), 1)]:
        jerr, jout = jax_checkify.checkify(jax_automatic, errors=jax_checkify.all_checks)(
            jax.numpy.asarray(x), i
        )
        with np.errstate(invalid="ignore"):
            ferr, fout = checkify.checkify(
                lambda x, i: fnp.log(x[i]), errors=checkify.all_checks
            )(x, i)
        assert ferr.get() == jerr.get()
        np.testing.assert_allclose(fout, np.asarray(jout), rtol=1e-6)


def scan_check(x):
    def body(carry, xi):
        checkify.check(xi > 0, "neg {}", xi)
        return carry + xi, None

    return fgrad.lax.scan(body, 0.0, x)[0]


def while_check(v):
    def cond(v):
        checkify.check(v < 6, "value needs to be less than 6!")
        return v < 5

    return fgrad.lax.while_loop(cond, lambda v: v + 1, v)


def cond_check(x):
    def negative(x):
        checkify.check(x > -5, "too negative: {}", x)
        return x

    return fgrad.lax.cond(x > 0, lambda x: x, negative, x)


@pytest.mark.parametrize("how", ["eager", "jit(checkify)", "checkify(jit)", "checkify(jit) again"])
def test_checks_inside_control_flow_are_returned(how):
    wrap = {
        "eager": lambda f: checkify.checkify(f),
        "jit(checkify)": lambda f: fgrad.jit(checkify.checkify(f)),
        "checkify(jit)": lambda f: checkify.checkify(fgrad.jit(f)),
        "checkify(jit) again": lambda f: checkify.checkify(fgrad.jit(f)),
    }[how]
    for f, bad, good, message in [
        (scan_check, np.array([1.0, -2.0, 3.0]), np.array([1.0, 2.0]), "neg -2.0"),
        (while_check, 7, 0, "value needs to be less than 6!"),
        (cond_check, -7.0, 3.0, "too negative: -7.0"),
    ]:
        checked = wrap(f)
        if how == "checkify(jit) again":  # the inner jitted program comes from the cache
            checked(good)
        err, _ = checked(bad)
        assert err.get() == message + " (`check` failed)"
        err, out = checked(good)
        assert err.get() is None
        np.testing.assert_allclose(out, f(good))
    with pytest.raises(checkify.JaxRuntimeError, match="neg -9.0"):
        fgrad.jit(scan_check)(np.array([1.0, -9.0]))


def test_control_flow_checks_under_vmap_grad_and_in_program_order():
    err, out = fgrad.vmap(checkify.checkify(scan_check))(
        np.array([[1.0, -2.0, 3.0], [1.0, 2.0, 3.0], [4.0, 5.0, -6.0]])
    )
    assert err.get() == (
        "at mapped index 0: neg -2.0 (`check` failed)\nat mapped index 2: neg -6.0 (`check` failed)"
    )
    np.testing.assert_allclose(out, [2.0, 6.0, 3.0])
    err, g = fgrad.jit(checkify.checkify(fgrad.grad(scan_check)))(np.array([1.0, -2.0]))
    assert err.get() == "neg -2.0 (`check` failed)"
    np.testing.assert_allclose(g, [1.0, 1.0])

    def both(x):
        checkify.check(x[0] < 100, "first: {}", x[0])
        return scan_check(x)

    checked = fgrad.jit(checkify.checkify(both))
    assert checked(np.array([200.0, -1.0]))[0].get() == "first: 200.0 (`check` failed)"
    assert checked(np.array([2.0, -1.0]))[0].get() == "neg -1.0 (`check` failed)"


def test_control_flow_checks_match_jax():
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify as jax_checkify

    def jax_while(v):
        def cond(v):
            jax_checkify.check(v < 6, "value needs to be less than 6!")
            return v < 5

        return jax.lax.while_loop(cond, lambda v: v + 1, v)

    for v in (0, 7):
        jerr, jout = jax.jit(jax_checkify.checkify(jax_while))(v)
        ferr, fout = fgrad.jit(checkify.checkify(while_check))(v)
        assert ferr.get() == jerr.get() and int(fout) == int(jout)
