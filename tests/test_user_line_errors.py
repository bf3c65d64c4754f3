"""fgrad's errors under a transform start at the user's line: fgrad's own frames are taken
out of the traceback (``jax_traceback_filtering``, on unless ``"off"``) and a note names
the line; and the messages a new user meets first say what to do (``has_aux``, shapes
inside ``vmap``, a traced size under ``jit``)."""

from __future__ import annotations

import os
import traceback

import helpers
import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core.errors import ConcretizationError, ShapeError, TransformError
from fgrad.core.source_info import FGRAD_DIR

HERE = os.path.abspath(__file__)


def line_of(marker: str) -> int:
    return helpers.line_of(__file__, marker)


@pytest.fixture(autouse=True)
def _filtering_on():
    yield
    fgrad.config.update("jax_traceback_filtering", "auto")


def bad_matmul(a, b):
    return fnp.sum(a @ b)  # SHAPE-ERROR


def frames(err: BaseException) -> list[tuple[str, int]]:
    tb = traceback.extract_tb(err.__traceback__)
    return [(os.path.abspath(f.filename), f.lineno) for f in tb]


A, B = np.ones((3, 4)), np.ones((3, 4))


@pytest.mark.parametrize(
    "call",
    [
        lambda: fgrad.grad(bad_matmul)(A, B),
        lambda: fgrad.value_and_grad(bad_matmul)(A, B),
        lambda: fgrad.jit(bad_matmul)(A, B),
        lambda: fgrad.grad(fgrad.jit(bad_matmul))(A, B),
        lambda: fgrad.jit(fgrad.grad(bad_matmul))(A, B),
    ],
    ids=["grad", "value_and_grad", "jit", "grad-jit", "jit-grad"],
)
def test_the_traceback_ends_at_the_users_line(call):
    with pytest.raises(ShapeError) as info:
        call()
    tb = frames(info.value)
    assert tb[-1] == (HERE, line_of("SHAPE-ERROR"))
    # of fgrad's frames only the boundary that re-raised is left, one per transform at most
    inside = [f for f, _ in tb if f.startswith(FGRAD_DIR)]
    assert all(f.endswith("source_info.py") for f in inside) and len(inside) <= 2
    assert f"raised at test_user_line_errors.py:{line_of('SHAPE-ERROR')} (bad_matmul)" in (
        info.value.__notes__
    )


def test_filtering_off_shows_fgrads_frames():
    fgrad.config.update("jax_traceback_filtering", "off")
    with pytest.raises(ShapeError) as info:
        fgrad.grad(bad_matmul)(A, B)
    tb = frames(info.value)
    assert tb[-1][0].startswith(FGRAD_DIR)  # the abstract-eval rule that raised it
    assert (HERE, line_of("SHAPE-ERROR")) in tb
    assert not getattr(info.value, "__notes__", [])
    with pytest.raises(Exception, match="jax_traceback_filtering takes one of"):
        fgrad.config.update("jax_traceback_filtering", "sometimes")


def test_the_error_is_the_same_error_with_or_without_filtering():
    messages = []
    for setting in ("auto", "off"):
        fgrad.config.update("jax_traceback_filtering", setting)
        with pytest.raises(ShapeError) as info:
            fgrad.vmap(bad_matmul)(np.ones((2, 3, 4)), np.ones((2, 3, 4)))
        messages.append(str(info.value))
    assert messages[0] == messages[1]


# -- the messages ----------------------------------------------------------------------


def test_forgetting_has_aux_says_has_aux():
    def loss_and_stats(w):
        return fnp.sum(w**2), {"norm": fnp.sqrt(fnp.sum(w**2))}

    w = np.array([3.0, 4.0])
    for transform in (fgrad.grad, fgrad.value_and_grad):
        with pytest.raises(TransformError) as info:
            transform(loss_and_stats)(w)
        message = str(info.value)
        assert "returned a tuple of 2 (f64[], dict)" in message
        assert "has_aux=True" in message
        assert "object[" not in message
    # and with has_aux the same function differentiates: d/dw |w|^2 = 2w
    g, aux = fgrad.grad(loss_and_stats, has_aux=True)(w)
    np.testing.assert_allclose(g, [6.0, 8.0])
    np.testing.assert_allclose(aux["norm"], 5.0)


@pytest.mark.parametrize(
    "fun, a, b, per_example",
    [
        (lambda a, b: a @ b, (7, 3, 4), (7, 3, 4), "cannot contract f64[3,4] with f64[3,4]"),
        (lambda a, b: a + b, (7, 3), (7, 4), "operands of shapes f64[3] and f64[4]"),
    ],
    ids=["matmul", "add"],
)
def test_a_shape_error_inside_vmap_speaks_of_one_example(fun, a, b, per_example):
    with pytest.raises(ShapeError) as info:
        fgrad.vmap(fun)(np.ones(a), np.ones(b))
    message = str(info.value)
    assert message.startswith("inside vmap (over 7 examples)"), message
    assert per_example in message
    assert "[7," not in message  # the batched shapes the user never wrote


def test_a_shape_error_inside_vmap_with_a_moved_axis_and_under_jit():
    f = fgrad.jit(fgrad.vmap(lambda a, b: a @ b, in_axes=(1, 0)))
    with pytest.raises(ShapeError, match=r"over 5 examples.*cannot contract f64\[3,4\] with"):
        f(np.ones((3, 5, 4)), np.ones((5, 3, 4)))


@pytest.mark.parametrize(
    "make",
    [
        lambda n: fnp.zeros(n),
        lambda n: fnp.ones((2, n)),
        lambda n: fnp.empty(n),
        lambda n: fnp.full(n, 1.5),
        lambda n: fnp.arange(n),
        lambda n: fnp.eye(n),
        lambda n: fnp.identity(n),
    ],
    ids=["zeros", "ones", "empty", "full", "arange", "eye", "identity"],
)
def test_a_traced_size_under_jit_points_to_static_argnums(make):
    with pytest.raises(ConcretizationError) as info:
        fgrad.jit(make)(3)
    message = str(info.value)
    assert "traced i64[]" in message and "static_argnums" in message
    assert isinstance(info.value, TypeError)  # what NumPy raised, as before
    # and the advice works: static, the size is a Python int
    out = fgrad.jit(make, static_argnums=0)(3)
    np.testing.assert_array_equal(out, make(3))
