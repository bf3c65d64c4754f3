"""Held-out style check of the NaN/inf checker: NaNs and infs planted at known lines of a
user's file (written by the test) in many programs, forward and backward, eagerly, under
``jit``, ``vmap`` and ``grad``, and inside ``lax.scan`` and ``lax.cond`` bodies, for the
primitives that make them in practice (``log``, ``sqrt``, division, ``pow``, ``arcsin``,
a naive logsumexp or softmax, a matmul meeting an inf). Each report must name the
primitive and the planted line, and the error's traceback must end at a line of the
user's file."""

from __future__ import annotations

import os
import textwrap
import traceback

import numpy as np
import pytest
from helpers import import_file

import fgrad
import fgrad.lax as lax
import fgrad.numpy as fnp
from fgrad.core.source_info import FGRAD_DIR

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own warnings

USER_CODE = textwrap.dedent(
    """
    import numpy as np

    import fgrad.numpy as fnp

    A = np.array([[np.inf, 1.0], [1.0, 1.0]])


    # -- made in the forward pass --------------------------------------------------------
    def f_log(x):
        y = fnp.log(x - 2.0)  # F-LOG
        return y


    def f_sqrt(x):
        return fnp.sqrt(x - 2.0) + 1.0  # F-SQRT


    def f_div(x):
        d = x - 1.0
        return fnp.divide(d, d)  # F-DIV


    def f_pow(x):
        return fnp.power(x - 2.0, 0.5)  # F-POW


    def f_arcsin(x):
        return fnp.arcsin(x - 1.0)  # F-ARCSIN


    def f_softmax(x):
        e = fnp.exp(x)  # F-EXP
        return fnp.divide(e, fnp.sum(e))  # F-SOFTMAX


    def f_matmul(x):
        return fnp.matmul(A, x - 2.0)  # F-MATMUL


    # -- made in the backward pass (the forward pass has no NaN) -------------------------
    def b_sqrt(x):
        y = fnp.sqrt(x - 2.0)  # B-SQRT
        return fnp.sum(y * 0.0) + fnp.sum(x)


    def b_log(x):
        return fnp.sum(fnp.where(x > 2.0, fnp.log(x - 2.0), 0.0))  # B-LOG


    def b_div(x):
        safe = fnp.where(x > 2.0, 1.0 / (x - 2.0), 0.0)  # B-DIV
        return fnp.sum(safe)


    def b_pow(x):
        return fnp.sum(fnp.where(x > 2.0, (x - 2.0) ** 0.5, 0.0))  # B-POW


    def b_arcsin(x):
        return fnp.sum(fnp.where(x < 3.0, fnp.arcsin(x - 2.0), 0.0))  # B-ARCSIN


    def b_logsumexp(x):
        e = fnp.exp(500.0 * (x - 2.0))  # B-LSE
        return fnp.log(fnp.sum(e))


    def operator_div(x):
        d = x - 1.0
        z = d / d  # OPERATOR-DIV
        return fnp.exp(z)  # AFTER-OPERATOR


    def operator_pow(x):
        r = (x - 2.0) ** 0.5  # OPERATOR-POW
        return fnp.sum(r)


    def operator_overflow(x):
        big = np.exp(x * 1000.0)  # OPERATOR-EXP
        return fnp.sum(big)


    def b_matmul(x):
        y = fnp.matmul(A, x - 2.0)  # B-MATMUL
        return fnp.sum(fnp.where(fnp.isfinite(y), y, 0.0))
    """
)

#: the inputs: each plant goes wrong at its first element and is finite at the others
X = np.array([2.0, 3.5, 2.5])  # the backward plants: x - 2 = 0 at the first
X_FORWARD = np.array([1.5, 3.5, 2.5])  # x - 2 < 0 at the first
X_MATMUL = np.array([2.0, 3.0])  # A @ (x - 2) = [inf * 0 + 1, ...]: NaN
X_SOFTMAX = np.array([1000.0, 0.0, 1.0])
X_BACKWARD = {"b_arcsin": np.array([3.0, 2.5, 2.2]), "b_matmul": np.array([3.0, 3.0])}


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    path = tmp_path_factory.mktemp("nans") / "planted.py"
    path.write_text(USER_CODE)
    module = import_file(path, "planted")
    module.PATH = os.path.abspath(path)
    return module


@pytest.fixture(autouse=True)
def _flags_off():
    yield
    fgrad.config.update("jax_debug_nans", False)
    fgrad.config.update("jax_debug_infs", False)


def line_of(marker: str) -> int:
    lines = USER_CODE.splitlines()
    (found,) = [k for k, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    return found


def reported(call, kind: str = "nans") -> FloatingPointError:
    flag = fgrad.debug_nans() if kind == "nans" else fgrad.debug_infs()
    with flag, pytest.raises(FloatingPointError) as info:
        call()
    # wherever it was found, the traceback holds none of fgrad's frames
    tb = traceback.extract_tb(info.value.__traceback__)
    assert not [f for f in tb if os.path.abspath(f.filename).startswith(FGRAD_DIR)], tb
    return info.value


def last_frame(err: BaseException) -> tuple[str, int]:
    last = traceback.extract_tb(err.__traceback__)[-1]
    return os.path.abspath(last.filename), last.lineno


def summed(f):
    return lambda x: fnp.sum(f(x))


# the ways a forward plant is run: each takes the plant and its input
FORWARD_CONTEXTS = {
    "eager": lambda f, x: f(x),
    "jit": lambda f, x: fgrad.jit(f)(x),
    "vmap": lambda f, x: fgrad.vmap(f)(np.stack([x[::-1], x])),
    "jit-vmap": lambda f, x: fgrad.jit(fgrad.vmap(f))(np.stack([x[::-1], x])),
    "grad": lambda f, x: fgrad.grad(summed(f))(x),
    "scan": lambda f, x: lax.scan(lambda c, r: (c, f(r)), 0.0, np.stack([x[::-1], x])),
    "jit-scan": lambda f, x: fgrad.jit(
        lambda xs: lax.scan(lambda c, r: (c, f(r)), 0.0, xs)
    )(np.stack([x[::-1], x])),
    "cond": lambda f, x: lax.cond(True, f, lambda r: r, x),
    "jit-cond": lambda f, x: fgrad.jit(lambda p, r: lax.cond(p, f, lambda s: s, r))(True, x),
    "vmap-cond": lambda f, x: fgrad.vmap(lambda p, r: lax.cond(p, f, lambda s: s, r))(
        np.array([True, True]), np.stack([x[::-1], x])
    ),
    "while": lambda f, x: lax.while_loop(lambda c: c[0] < 1, lambda c: (c[0] + 1, f(c[1])), (0, x)),
    "jit-while": lambda f, x: fgrad.jit(
        lambda r: lax.while_loop(lambda c: c[0] < 1, lambda c: (c[0] + 1, f(c[1])), (0, r))
    )(x),
    "fori": lambda f, x: lax.fori_loop(0, 1, lambda i, c: f(c), x),
    "jit-fori": lambda f, x: fgrad.jit(lambda r: lax.fori_loop(0, 1, lambda i, c: f(c), r))(x),
    "custom_jvp": lambda f, x: with_custom_jvp(f)(x),
    "grad-custom_jvp": lambda f, x: fgrad.grad(summed(with_custom_jvp(f)))(x),
}


def with_custom_jvp(f):
    """``f`` as a ``custom_jvp`` function (its primal runs the plant)."""
    wrapped = fgrad.custom_jvp(f)
    wrapped.defjvp(lambda primals, tangents: (wrapped(*primals), tangents[0]))
    return wrapped

FORWARD_PLANTS = [
    ("f_log", "log", "F-LOG", X_FORWARD),
    ("f_sqrt", "sqrt", "F-SQRT", X_FORWARD),
    ("f_div", "div", "F-DIV", np.array([1.0, 3.0, 2.0])),
    ("f_pow", "pow", "F-POW", X_FORWARD),
    ("f_arcsin", "arcsin", "F-ARCSIN", np.array([3.5, 1.5, 1.0])),
    ("f_softmax", "div", "F-SOFTMAX", X_SOFTMAX),
    ("f_matmul", "dot_general", "F-MATMUL", X_MATMUL),
]


@pytest.mark.parametrize("context", list(FORWARD_CONTEXTS))
@pytest.mark.parametrize(
    "plant, prim, marker, x", FORWARD_PLANTS, ids=[p[0] for p in FORWARD_PLANTS]
)
def test_a_forward_nan_is_named_at_its_primitive_and_line(user, plant, prim, marker, x, context):
    f = getattr(user, plant)
    with np.errstate(all="ignore"):
        assert np.isnan(np.asarray(f(x))).any()  # planted: the NaN is really there
    err = reported(lambda: FORWARD_CONTEXTS[context](f, x))
    assert last_frame(err) == (user.PATH, line_of(marker))  # raised where it was made
    message = str(err)
    assert message.startswith(f"`{prim}` produced NaN at planted.py:{line_of(marker)} ({plant})"), (
        message
    )
    assert "nan" in message.split("result:")[1].split("\n")[0]


def test_debug_infs_names_the_exp_that_overflowed_first(user):
    # with infs looked for, the first bad value is exp(1000), before the division's NaN
    for context in ("eager", "jit", "vmap", "grad", "scan"):
        run = FORWARD_CONTEXTS[context]
        err = reported(lambda run=run: run(user.f_softmax, X_SOFTMAX), "infs")
        assert str(err).startswith(f"`exp` produced inf at planted.py:{line_of('F-EXP')}"), (
            context,
            str(err),
        )


BACKWARD_CONTEXTS = {
    "grad": lambda f, x: fgrad.grad(f)(x),
    "jit-grad": lambda f, x: fgrad.jit(fgrad.grad(f))(x),
    "grad-jit": lambda f, x: fgrad.grad(fgrad.jit(f))(x),
    "vjp": lambda f, x: fgrad.vjp(f, x)[1](1.0),
    "vmap-grad": lambda f, x: fgrad.vmap(fgrad.grad(f))(np.stack([x[::-1], x])),
    "grad-vmap": lambda f, x: fgrad.grad(lambda xs: fgrad.vmap(f)(xs).sum())(
        np.stack([x[::-1], x])
    ),
    "grad-scan": lambda f, x: fgrad.grad(
        lambda xs: lax.scan(lambda c, r: (c + f(r), None), 0.0, xs)[0]
    )(np.stack([x[::-1], x])),
    "grad-jit-scan": lambda f, x: fgrad.grad(
        fgrad.jit(lambda xs: lax.scan(lambda c, r: (c + f(r), None), 0.0, xs)[0])
    )(np.stack([x[::-1], x])),
    "grad-cond": lambda f, x: fgrad.grad(lambda r: lax.cond(True, f, fnp.sum, r))(x),
    "grad-jit-cond": lambda f, x: fgrad.grad(
        fgrad.jit(lambda p, r: lax.cond(p, f, fnp.sum, r)), argnums=1
    )(True, x),
}

BACKWARD_PLANTS = [
    ("b_sqrt", "sqrt", "B-SQRT"),
    ("b_log", "log", "B-LOG"),
    ("b_div", "div", "B-DIV"),
    ("b_pow", "pow", "B-POW"),
    ("b_arcsin", "arcsin", "B-ARCSIN"),
    ("b_logsumexp", "exp", "B-LSE"),
    ("b_matmul", "dot_general", "B-MATMUL"),
]


@pytest.mark.parametrize("context", list(BACKWARD_CONTEXTS))
@pytest.mark.parametrize(
    "plant, prim, marker", BACKWARD_PLANTS, ids=[p[0] for p in BACKWARD_PLANTS]
)
def test_a_backward_nan_is_named_at_the_forward_equation_and_line(
    user, plant, prim, marker, context
):
    f = getattr(user, plant)
    x = X_BACKWARD.get(plant, X)
    with np.errstate(all="ignore"):
        assert not np.isnan(f(x))  # planted: the forward pass has no NaN ...
        assert np.isnan(fgrad.grad(f)(x)).any()  # ... and the gradient is not
    err = reported(lambda: BACKWARD_CONTEXTS[context](f, x))
    # found after the user's function returned: raised at the line that asked for the
    # gradient (here, this file's), and the message names the forward equation
    assert last_frame(err)[0] == os.path.abspath(__file__)
    message = str(err)
    assert message.startswith(f"the derivative of `{prim}`"), message
    assert "in the backward pass" in message
    assert f"planted.py:{line_of(marker)} ({plant})" in message, message


def test_the_reported_values_are_the_planted_ones(user):
    """The message's numbers: the forward input at the planted element, the cotangent
    that met it, and sqrt's derivative there."""
    err = reported(lambda: fgrad.grad(user.b_sqrt)(X))
    message = str(err)
    # y = sqrt(x - 2) at x = [2, 3.5, 2.5]: input [0, 1.5, 0.5], cotangent 0 (y * 0.0)
    assert "forward input 0: f64[3] = [0.  1.5 0.5]" in message, message
    assert "incoming cotangent: f64[3] = [0. 0. 0.]" in message
    assert "the rule returned: f64[3] = [nan  0.  0.]" in message
    # the checker changes nothing when nothing is NaN: d/dx of sum(x) is 1 everywhere
    with fgrad.debug_nans():
        np.testing.assert_array_equal(fgrad.grad(user.b_sqrt)(X[1:]), [1.0, 1.0])


def test_a_nan_made_by_numpy_outside_any_transform_is_explained(user):
    """Outside a transform the arrays are NumPy's and ``d / d`` is NumPy's own operator,
    which the checker does not see: the first fgrad operation the NaN reaches is named,
    with why the NaN was there already. Under a transform ``/`` is fgrad's ``div``."""
    x = np.array([1.0, 2.0])
    with np.errstate(all="ignore"):
        message = str(reported(lambda: user.operator_div(x)))
    assert message.startswith(f"`exp` produced NaN at planted.py:{line_of('AFTER-OPERATOR')}")
    assert "input 0 already held NaN, so it was made before this line" in message
    assert "operator between two NumPy arrays" in message
    for transformed in (fgrad.grad(summed(user.operator_div)), fgrad.vmap(user.operator_div)):
        message = str(reported(lambda t=transformed: t(x)))
        assert message.startswith(f"`div` produced NaN at planted.py:{line_of('OPERATOR-DIV')}")
        assert "already held" not in message


@pytest.mark.parametrize(
    "plant, prim, marker, kind",
    [
        ("operator_div", "div", "OPERATOR-DIV", "nans"),
        ("operator_pow", "sqrt", "OPERATOR-POW", "nans"),  # NumPy computes ** 0.5 as sqrt
        ("operator_overflow", "exp", "OPERATOR-EXP", "infs"),
    ],
)
def test_under_jit_numpys_own_operations_are_named_at_their_line(user, plant, prim, marker, kind):
    """``jit``'s checked run is op by op on NumPy arrays, where ``d / d`` is NumPy's: the
    checker has NumPy raise there and names the operation as fgrad's primitive (traced,
    it would have been one) and the user's line."""
    x = np.array([1.0, 2.0])
    f = fgrad.jit(getattr(user, plant))
    err = reported(lambda: f(x), kind)
    word = "NaN" if kind == "nans" else "inf"
    at = f"planted.py:{line_of(marker)} ({plant})"
    assert str(err).startswith(f"`{prim}` produced {word} at {at}"), str(err)
    assert last_frame(err) == (user.PATH, line_of(marker))
    # and nothing changes for the jitted function without the flag, or for NumPy after it
    with np.errstate(all="ignore"):
        assert not np.isfinite(f(x)).all()
        assert np.isnan(np.float64(0.0) / np.float64(0.0))
