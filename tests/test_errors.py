"""Errors users will meet: the right exception type, and a message that says what to do.

Assertions are on key words (the primitive, the shapes, the way out), not on
whole messages, so wording can improve without breaking the tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import (
    ConcretizationError,
    DtypeError,
    EscapedTracerError,
    FgradError,
    ImmutableArrayError,
    ShapeError,
    TracerArrayConversionError,
    TransformError,
)


def _message(excinfo) -> str:
    return str(excinfo.value)


# -- grad's requirements --------------------------------------------------------------


@pytest.mark.parametrize(
    "out_fn, shape_text",
    [
        (lambda x: x * 2.0, "[3]"),
        (lambda x: fnp.stack([fnp.sum(x), fnp.sum(x)]), "[2]"),
        (lambda x: (fnp.sum(x), fnp.sum(x)), None),
    ],
)
def test_grad_of_non_scalar_output_points_to_vjp(out_fn, shape_text):
    """More than one output element: grad refuses and points to vjp (one element, of any
    shape, is accepted: see test_transforms)."""
    with pytest.raises(TransformError) as excinfo:
        fgrad.grad(out_fn)(np.ones(3))
    msg = _message(excinfo)
    assert "scalar" in msg
    assert "vjp" in msg
    if shape_text is not None:
        assert shape_text in msg


def test_grad_of_integer_output_says_scalar_and_float():
    with pytest.raises(TransformError) as excinfo:
        fgrad.grad(lambda x: fnp.argmax(x))(np.ones(3))
    msg = _message(excinfo)
    assert "scalar" in msg and "i64" in msg


@pytest.mark.parametrize(
    "value",
    [3, np.array([1, 2]), np.array(True), np.arange(3, dtype=np.int32)],
    ids=["python-int", "int64-array", "bool", "int32-array"],
)
def test_grad_of_integer_or_boolean_input_mentions_float(value):
    with pytest.raises(DtypeError) as excinfo:
        fgrad.grad(lambda x: fnp.sum(x * 1.0))(value)
    msg = _message(excinfo)
    assert "float" in msg
    assert np.asarray(value).dtype.name in msg
    assert "argnums" in msg  # the way to leave it undifferentiated
    assert isinstance(excinfo.value, TypeError)  # NumPy users can catch TypeError


def test_integer_input_is_fine_when_excluded_by_argnums():
    g = fgrad.grad(lambda x, n: x**n, argnums=0)(2.0, 3)
    np.testing.assert_allclose(g, 12.0)


def test_grad_integer_input_error_names_grad():
    with pytest.raises(DtypeError) as excinfo:
        fgrad.grad(lambda x: x * 1.0)(3)
    assert _message(excinfo).startswith("grad")


def test_vjp_rejects_integer_primals():
    with pytest.raises(DtypeError) as excinfo:
        fgrad.vjp(lambda x: x * 1.0, np.arange(3))
    assert "float" in _message(excinfo)


# -- shape errors name the primitive and the shapes -------------------------------------


def _add_mismatch(x):
    return fnp.sum(x + np.ones(4))


def _assert_add_message(msg):
    assert "add" in msg
    assert "f64[3]" in msg and "f64[4]" in msg
    assert "broadcast" in msg


def test_shape_mismatch_inside_grad():
    with pytest.raises(ShapeError) as excinfo:
        fgrad.grad(_add_mismatch)(np.ones(3))
    _assert_add_message(_message(excinfo))
    assert isinstance(excinfo.value, ValueError)


def test_shape_mismatch_inside_make_jaxpr():
    with pytest.raises(ShapeError) as excinfo:
        fgrad.make_jaxpr(_add_mismatch)(np.ones(3))
    _assert_add_message(_message(excinfo))


def test_shape_mismatch_inside_jvp_and_eagerly():
    with pytest.raises(ShapeError) as excinfo:
        fgrad.jvp(_add_mismatch, (np.ones(3),), (np.ones(3),))
    _assert_add_message(_message(excinfo))
    with pytest.raises(ShapeError) as excinfo:
        fnp.add(np.ones(3), np.ones(4))
    _assert_add_message(_message(excinfo))


@pytest.mark.parametrize("transform", ["grad", "make_jaxpr"])
def test_matmul_mismatch_names_shapes(transform):
    w = np.ones((4, 2))

    def f(x):
        return fnp.sum(x @ w)

    wrapped = fgrad.grad(f) if transform == "grad" else fgrad.make_jaxpr(f)
    with pytest.raises(ShapeError) as excinfo:
        wrapped(np.ones((2, 3)))
    msg = _message(excinfo)
    assert "dot_general" in msg or "matmul" in msg
    assert "[2,3]" in msg and "[4,2]" in msg
    assert "3" in msg and "4" in msg


def test_reshape_mismatch_names_sizes():
    with pytest.raises(ValueError) as excinfo:
        fgrad.grad(lambda x: fnp.sum(fnp.reshape(x, (4, 2))))(np.ones(6))
    msg = _message(excinfo)
    assert "reshape" in msg and "6" in msg and "(4, 2)" in msg


def test_at_set_with_wrong_value_shape():
    with pytest.raises(ShapeError) as excinfo:
        fgrad.grad(lambda x: fnp.sum(x.at[0:2].set(np.ones(3))))(np.ones(5))
    msg = _message(excinfo)
    assert "index_set" in msg and "(3,)" in msg and "(2,)" in msg


# -- immutability ---------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["grad", "make_jaxpr", "jvp"])
def test_item_assignment_on_traced_value_points_to_at_set(transform):
    def f(x):
        x[0] = 1.0
        return fnp.sum(x)

    x = np.ones(3)
    with pytest.raises(ImmutableArrayError) as excinfo:
        if transform == "grad":
            fgrad.grad(f)(x)
        elif transform == "make_jaxpr":
            fgrad.make_jaxpr(f)(x)
        else:
            fgrad.jvp(f, (x,), (x,))
    msg = _message(excinfo)
    assert ".at[" in msg and ".set(" in msg
    assert "immutable" in msg
    assert isinstance(excinfo.value, TypeError)


def test_item_assignment_message_repeats_an_integer_index():
    def f(x):
        x[2] = 0.0
        return fnp.sum(x)

    with pytest.raises(ImmutableArrayError) as excinfo:
        fgrad.grad(f)(np.ones(4))
    assert "x.at[2].set(" in _message(excinfo)


def test_item_assignment_message_repeats_a_slice_index():
    def f(x):
        x[1:, ::2] = 0.0
        return fnp.sum(x)

    with pytest.raises(ImmutableArrayError) as excinfo:
        fgrad.grad(f)(np.ones((3, 4)))
    assert "x.at[1:, ::2].set(" in _message(excinfo)


# -- plain NumPy on tracers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, arg",
    [
        (lambda x: np.asarray(x).sum(), np.ones(3)),
        (lambda x: np.array(x).sum(), np.ones(3)),
        (lambda x: np.array([x, x]).sum(), 1.0),
        (lambda x: np.ascontiguousarray(x).sum(), np.ones(3)),
    ],
    ids=["np.asarray", "np.array", "np.array-of-list", "np.ascontiguousarray"],
)
def test_numpy_conversion_of_tracer_inside_grad_points_to_fgrad_numpy(fn, arg):
    # NumPy lets no object override its converters (numpy.sin(x) dispatches: see
    # tests/test_numpy_protocols.py)
    with pytest.raises(TracerArrayConversionError) as excinfo:
        fgrad.grad(fn)(arg)
    msg = _message(excinfo)
    assert "fgrad.numpy" in msg
    assert "grad" in msg


def test_plain_numpy_on_tracer_inside_make_jaxpr():
    with pytest.raises(TracerArrayConversionError) as excinfo:
        fgrad.make_jaxpr(lambda x: np.asarray(x) + 1)(np.ones(3))
    msg = _message(excinfo)
    assert "fgrad.numpy" in msg and "make_jaxpr" in msg


# -- escaped tracers ------------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["grad", "jvp", "make_jaxpr"])
def test_escaped_tracer_used_later(transform):
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0

    if transform == "grad":
        fgrad.grad(f)(1.0)
    elif transform == "jvp":
        fgrad.jvp(f, (1.0,), (1.0,))
    else:
        fgrad.make_jaxpr(f)(1.0)
    (tracer,) = leaked
    with pytest.raises(EscapedTracerError) as excinfo:
        fnp.sin(tracer)
    msg = _message(excinfo)
    assert "sin" in msg
    assert "has_aux" in msg or "Return" in msg
    # also when used inside a later, unrelated transform
    with pytest.raises(EscapedTracerError):
        fgrad.grad(lambda y: y * tracer)(2.0)


def test_tracer_escaping_through_a_global():
    global _GLOBAL_TRACER

    def f(x):
        global _GLOBAL_TRACER
        _GLOBAL_TRACER = x
        return x * x

    fgrad.grad(f)(3.0)
    with pytest.raises(EscapedTracerError) as excinfo:
        _GLOBAL_TRACER + 1.0
    assert "add" in _message(excinfo) and "grad" in _message(excinfo)
    _GLOBAL_TRACER = None


_GLOBAL_TRACER = None


# -- abstract tracing needs concrete values ---------------------------------------------


@pytest.mark.parametrize(
    "fn, arg",
    [
        (lambda x: x if x > 0 else -x, 1.0),
        (lambda x: float(x) * 2.0, 1.0),
        (lambda x: fnp.sum(x[x > 0]), np.ones(3)),
    ],
    ids=["if", "float", "boolean-mask"],
)
def test_value_dependent_python_under_make_jaxpr(fn, arg):
    with pytest.raises(ConcretizationError) as excinfo:
        fgrad.make_jaxpr(fn)(arg)
    msg = _message(excinfo)
    assert "where" in msg
    assert "make_jaxpr" in msg
    assert "`if`" in msg


def test_if_on_tracer_under_make_jaxpr_is_a_type_error():
    with pytest.raises(TypeError):
        fgrad.make_jaxpr(lambda x: x if x > 0 else -x)(1.0)


def test_same_control_flow_works_under_grad():
    assert fgrad.grad(lambda x: x if x > 0 else -x)(-2.0) == -1.0


# -- unsupported NumPy functions ----------------------------------------------------------


@pytest.mark.parametrize("name", ["busday_count", "is_busday", "datetime_as_string"])
def test_unsupported_fnp_attribute(name):
    assert hasattr(np, name)
    with pytest.raises(AttributeError) as excinfo:
        getattr(fnp, name)
    msg = _message(excinfo)
    assert "not support" in msg and name in msg and "docs/numpy_support.md" in msg


@pytest.mark.parametrize("name", ["put", "putmask", "copyto", "fill_diagonal"])
def test_mutating_numpy_functions_point_to_functional_updates(name):
    with pytest.raises(AttributeError) as excinfo:
        getattr(fnp, name)
    msg = _message(excinfo)
    assert "immutable" in msg and ".at[index].set" in msg


def test_unknown_fnp_attribute_is_plain_attribute_error():
    with pytest.raises(AttributeError) as excinfo:
        fnp.definitely_not_a_numpy_function  # noqa: B018
    assert "definitely_not_a_numpy_function" in _message(excinfo)


# -- argnums, has_aux --------------------------------------------------------------------


@pytest.mark.parametrize("argnums", [2, -3, (0, 5), 10])
def test_argnums_out_of_range(argnums):
    with pytest.raises(TransformError) as excinfo:
        fgrad.grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)
    msg = _message(excinfo)
    assert "argnums" in msg
    assert "2 positional" in msg


def test_argnums_out_of_range_for_value_and_grad():
    with pytest.raises(TransformError):
        fgrad.value_and_grad(lambda x: x, argnums=1)(1.0)


def test_has_aux_needs_a_pair():
    with pytest.raises(TransformError) as excinfo:
        fgrad.grad(lambda x: x * x, has_aux=True)(1.0)
    msg = _message(excinfo)
    assert "has_aux" in msg and "pair" in msg


# -- cotangents and tangents that do not fit -----------------------------------------------


def test_vjp_pullback_with_wrong_shaped_cotangent():
    _, pullback = fgrad.vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(TransformError) as excinfo:
        pullback(np.ones(4))
    msg = _message(excinfo)
    assert "cotangent" in msg and "(3,)" in msg and "(4,)" in msg


def test_vjp_pullback_with_wrong_structure():
    _, pullback = fgrad.vjp(lambda x: {"a": x, "b": x}, np.ones(3))
    with pytest.raises(TransformError) as excinfo:
        pullback({"a": np.ones(3)})
    assert "structure" in _message(excinfo)


def test_jvp_mismatched_tangent_shape():
    with pytest.raises(TransformError) as excinfo:
        fgrad.jvp(fnp.sin, (np.ones(3),), (np.ones(4),))
    msg = _message(excinfo)
    assert "tangent" in msg and "f64[3]" in msg and "(4,)" in msg


def test_jvp_mismatched_tangent_dtype():
    with pytest.raises(TransformError) as excinfo:
        fgrad.jvp(fnp.sin, (np.ones(3),), (np.ones(3, np.float32),))
    msg = _message(excinfo)
    assert "dtype" in msg and "float32" in msg and "astype" in msg


def test_jvp_mismatched_structure_and_non_tuple_arguments():
    with pytest.raises(TransformError) as excinfo:
        fgrad.jvp(fnp.sin, (np.ones(3),), (np.ones(3), np.ones(3)))
    assert "structure" in _message(excinfo)
    with pytest.raises(TransformError) as excinfo:
        fgrad.jvp(fnp.sin, np.ones(3), np.ones(3))
    assert "tuple" in _message(excinfo)


def test_every_deliberate_error_is_an_fgrad_error():
    for cls in (
        ShapeError,
        DtypeError,
        TracerArrayConversionError,
        ConcretizationError,
        ImmutableArrayError,
        EscapedTracerError,
        TransformError,
    ):
        assert issubclass(cls, FgradError)
