"""Errors start at the user's line wherever they leave fgrad: eager calls of
``fgrad.numpy``, ``fgrad.numpy.linalg``, ``fgrad.lax``, ``fgrad.nn``, ``fgrad.scipy``
with no transform around them, and every transform that runs the user's function (``vjp`` and its
pullback, ``jvp``, ``linearize`` and its ``f_jvp``, ``jacfwd``, ``jacrev``, ``hessian``,
``jet``, ``checkpoint``, ``custom_jvp``/``custom_vjp`` functions, ``lax.cond``/``scan``/
``while_loop``/``fori_loop``, ``eval_shape``, ``make_jaxpr``).

Each case plants an error at a known line of a file the test writes (the user's
code); the traceback must end at that line with none of fgrad's frames in it, a note
must name the line, and ``jax_traceback_filtering='off'`` must give fgrad's frames back.
"""

from __future__ import annotations

import os
import textwrap
import traceback

import numpy as np
import pytest
from helpers import import_file

import fgrad
from fgrad.core.errors import DtypeError, ShapeError, TransformError
from fgrad.core.source_info import FGRAD_DIR

USER_CODE = textwrap.dedent(
    """
    import numpy as np

    import fgrad
    import fgrad.lax as lax
    import fgrad.numpy as fnp

    W = np.ones((4, 2))


    def bad(x):
        return fnp.sum(fnp.matmul(x, W))  # BAD


    # -- eager, no transform ----------------------------------------------------------
    def eager_matmul():
        a = fnp.ones((2, 3))
        return fnp.matmul(a, fnp.ones((4, 5)))  # EAGER-MATMUL


    def eager_reshape():
        return fnp.reshape(fnp.arange(6.0), (4, 2))  # EAGER-RESHAPE


    def eager_dtype():
        return fnp.bitwise_and(fnp.ones(3), 2)  # EAGER-DTYPE


    def eager_lax():
        return lax.dynamic_slice(fnp.ones((3, 3)), (0,), (2, 2))  # EAGER-LAX


    def eager_linalg():
        return fnp.linalg.solve(fnp.eye(3), fnp.ones(4))  # EAGER-LINALG


    def eager_nn():
        return fgrad.nn.softmax(fnp.ones(3), axis=4)  # EAGER-NN


    def eager_scipy():
        import fgrad.scipy.stats.norm as norm

        return norm.logpdf(fnp.ones(3), fnp.ones(4))  # EAGER-SCIPY


    def eager_nested():
        return helper(fnp.ones(3))


    def helper(x):
        return fnp.concatenate([x, fnp.ones((2, 2))])  # EAGER-NESTED


    # -- transforms that run the user's function --------------------------------------
    def run_vjp():
        return fgrad.vjp(bad, np.ones(3))


    def run_pullback():
        _, pullback = fgrad.vjp(fnp.sin, np.ones(3))
        return pullback(np.ones(4))  # PULLBACK


    def run_jvp():
        return fgrad.jvp(bad, (np.ones(3),), (np.ones(3),))


    def run_linearize():
        return fgrad.linearize(bad, np.ones(3))


    def run_f_jvp():
        _, f_jvp = fgrad.linearize(fnp.sin, np.ones(3))
        return f_jvp(np.ones(4))  # F-JVP


    def run_jacfwd():
        return fgrad.jacfwd(bad)(np.ones(3))


    def run_jacrev():
        return fgrad.jacrev(bad)(np.ones(3))


    def run_hessian():
        return fgrad.hessian(bad)(np.ones(3))


    def run_jet():
        return fgrad.jet(bad, (np.ones(3),), ((np.ones(3),),))


    def run_checkpoint():
        return fgrad.checkpoint(bad)(np.ones(3))


    def run_grad_checkpoint():
        return fgrad.grad(fgrad.checkpoint(bad))(np.ones(3))


    @fgrad.custom_jvp
    def custom_j(x):
        return fnp.matmul(x, W)  # CUSTOM-JVP


    @custom_j.defjvp
    def custom_j_jvp(primals, tangents):
        return custom_j(primals[0]), tangents[0]


    def run_custom_jvp():
        return custom_j(np.ones(3))


    def run_grad_custom_jvp():
        return fgrad.grad(lambda x: fnp.sum(custom_j(x)))(np.ones(3))


    @fgrad.custom_vjp
    def custom_v(x):
        return fnp.sin(x)


    def custom_v_fwd(x):
        return fnp.sin(x), x


    def custom_v_bwd(x, ct):
        return (fnp.matmul(ct, W),)  # CUSTOM-VJP-BWD


    custom_v.defvjp(custom_v_fwd, custom_v_bwd)


    def run_custom_vjp_bwd():
        return fgrad.grad(lambda x: fnp.sum(custom_v(x)))(np.ones(3))


    def run_cond():
        return lax.cond(True, bad, fnp.sum, np.ones(3))


    def run_jit_cond():
        return fgrad.jit(lambda p, x: lax.cond(p, bad, fnp.sum, x))(True, np.ones(3))


    def run_scan():
        return lax.scan(lambda c, x: (c + bad(x), x), 0.0, np.ones((2, 3)))


    def run_jit_scan():
        step = lambda c, x: (c + bad(x), x)  # noqa: E731
        return fgrad.jit(lambda xs: lax.scan(step, 0.0, xs))(np.ones((2, 3)))


    def run_while_loop():
        return lax.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, bad(c[1])), (0, np.ones(3)))


    def run_fori_loop():
        return lax.fori_loop(0, 2, lambda i, x: x + bad(x), np.ones(3))


    def run_eval_shape():
        return fgrad.eval_shape(bad, np.ones(3))


    def run_make_jaxpr():
        return fgrad.make_jaxpr(bad)(np.ones(3))
    """
)


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "user_model.py"
    path.write_text(USER_CODE)
    module = import_file(path, "user_model")
    module.PATH = os.path.abspath(path)
    return module


@pytest.fixture(autouse=True)
def _filtering_restored():
    yield
    fgrad.config.update("jax_traceback_filtering", "auto")


def line_of(marker: str) -> int:
    lines = USER_CODE.splitlines()
    (found,) = [k for k, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    return found


def frames(err: BaseException) -> list[tuple[str, int, str]]:
    return [
        (os.path.abspath(f.filename), f.lineno, f.name)
        for f in traceback.extract_tb(err.__traceback__)
    ]


def check_starts_at(user, call: str, error: type, marker: str, function: str):
    """Calling ``user.<call>()`` raises ``error``, whose traceback ends at the line marked
    ``marker`` (in ``function``), holds none of fgrad's frames, and whose note names it."""
    with pytest.raises(error) as info:
        getattr(user, call)()
    tb = frames(info.value)
    assert tb[-1] == (user.PATH, line_of(marker), function), tb
    assert not [f for f in tb if f[0].startswith(FGRAD_DIR)], tb
    assert call in [name for _, _, name in tb]  # the user's call chain is all there
    notes = info.value.__notes__
    assert f"raised at user_model.py:{line_of(marker)} ({function})" in notes
    assert sum(n.startswith("raised at") for n in notes) == 1
    # the note is printed after the message, where the user reads
    printed = "".join(traceback.format_exception(info.value))
    assert f"user_model.py:{line_of(marker)}" in printed.splitlines()[-2]
    return info.value


EAGER = [
    ("eager_matmul", ShapeError, "EAGER-MATMUL"),
    ("eager_reshape", ShapeError, "EAGER-RESHAPE"),
    ("eager_dtype", DtypeError, "EAGER-DTYPE"),
    ("eager_lax", ShapeError, "EAGER-LAX"),
    ("eager_linalg", ValueError, "EAGER-LINALG"),
    ("eager_nn", ValueError, "EAGER-NN"),
    ("eager_scipy", ValueError, "EAGER-SCIPY"),
]


@pytest.mark.parametrize("call, error, marker", EAGER, ids=[c for c, _, _ in EAGER])
def test_an_eager_error_starts_at_the_users_line(user, call, error, marker):
    err = check_starts_at(user, call, error, marker, call)
    if isinstance(err, ShapeError):  # fgrad's message, not NumPy's context behind it
        assert err.__suppress_context__


def test_an_eager_error_in_a_helper_names_the_helpers_line(user):
    err = check_starts_at(user, "eager_nested", ShapeError, "EAGER-NESTED", "helper")
    tb = frames(err)
    assert [name for _, _, name in tb[-2:]] == ["eager_nested", "helper"]


def test_filtering_off_gives_the_full_eager_traceback(user):
    fgrad.config.update("jax_traceback_filtering", "off")
    with pytest.raises(ShapeError) as info:
        user.eager_reshape()
    tb = frames(info.value)
    assert tb[-1][0].startswith(FGRAD_DIR)  # the abstract-eval rule that raised it
    assert (user.PATH, line_of("EAGER-RESHAPE"), "eager_reshape") in tb
    assert any(f.endswith("<api boundary>") for f, _, _ in tb)  # the boundary, shown
    assert not getattr(info.value, "__notes__", [])


def test_an_error_caught_and_raised_again_is_filtered_once(user):
    """A user who catches the error and calls fgrad again gets one note per error."""
    errors = []
    for _ in range(2):
        with pytest.raises(ShapeError) as info:
            user.eager_reshape()
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert [len(e.__notes__) for e in errors] == [2, 2]


def test_the_happy_path_is_unchanged(user):
    """The boundaries keep signatures, defaults, names, docs and results."""
    import inspect

    import fgrad.numpy as fnp
    from fgrad.numpy import manipulation, reductions

    assert fnp.sum.__wrapped__ is reductions.sum
    assert inspect.signature(fnp.sum) == inspect.signature(reductions.sum)
    assert fnp.reshape.__name__ == "reshape" and fnp.reshape.__doc__ == manipulation.reshape.__doc__
    x = np.arange(6.0)
    np.testing.assert_array_equal(fnp.reshape(x, newshape=(2, 3)), x.reshape(2, 3))
    np.testing.assert_array_equal(fnp.sum(x.reshape(2, 3), 1, keepdims=True), [[3.0], [12.0]])
    np.testing.assert_array_equal(fnp.concatenate((x, x), axis=0), np.concatenate((x, x)))
    assert fnp.add(1.0, 2.0) == 3.0
    with pytest.raises(TypeError, match="out="):  # keywords still reach the function
        fnp.sin(x, out=x)


TRANSFORMS = [
    ("run_vjp", ShapeError, "BAD", "bad"),
    ("run_pullback", TransformError, "PULLBACK", "run_pullback"),
    ("run_jvp", ShapeError, "BAD", "bad"),
    ("run_linearize", ShapeError, "BAD", "bad"),
    ("run_f_jvp", TypeError, "F-JVP", "run_f_jvp"),
    ("run_jacfwd", ShapeError, "BAD", "bad"),
    ("run_jacrev", ShapeError, "BAD", "bad"),
    ("run_hessian", ShapeError, "BAD", "bad"),
    ("run_jet", ShapeError, "BAD", "bad"),
    ("run_checkpoint", ShapeError, "BAD", "bad"),
    ("run_grad_checkpoint", ShapeError, "BAD", "bad"),
    ("run_custom_jvp", ShapeError, "CUSTOM-JVP", "custom_j"),
    ("run_grad_custom_jvp", ShapeError, "CUSTOM-JVP", "custom_j"),
    ("run_custom_vjp_bwd", ShapeError, "CUSTOM-VJP-BWD", "custom_v_bwd"),
    ("run_cond", ShapeError, "BAD", "bad"),
    ("run_jit_cond", ShapeError, "BAD", "bad"),
    ("run_scan", ShapeError, "BAD", "bad"),
    ("run_jit_scan", ShapeError, "BAD", "bad"),
    ("run_while_loop", ShapeError, "BAD", "bad"),
    ("run_fori_loop", ShapeError, "BAD", "bad"),
    ("run_eval_shape", ShapeError, "BAD", "bad"),
    ("run_make_jaxpr", ShapeError, "BAD", "bad"),
]


@pytest.mark.parametrize(
    "call, error, marker, function", TRANSFORMS, ids=[c[4:] for c, *_ in TRANSFORMS]
)
def test_an_error_under_a_transform_starts_at_the_users_line(user, call, error, marker, function):
    check_starts_at(user, call, error, marker, function)
