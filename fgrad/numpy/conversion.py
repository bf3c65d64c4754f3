"""How ``fgrad.numpy`` reads its arguments: values as arrays, axes as tuples, ``out=``
refused, index values on the host; and 0-d results as NumPy's scalars.

Every other file of ``fgrad.numpy`` builds on this one, which builds on the kernel
and the primitives only. ``asarray`` and ``astype`` are NumPy's public functions;
the other names are the conversions the files of the package share.
"""

from __future__ import annotations

import operator

import numpy as np

from fgrad.core import backend
from fgrad.core.tracer import Tracer, concrete
from fgrad.primitives.elementwise import convert_element_type, stop_gradient
from fgrad.primitives.indexing import concatenate
from fgrad.primitives.structural import reshape

_SEQUENCES = (list, tuple)


def contains_tracer(obj) -> bool:
    """Is ``obj`` a tracer, or a (nested) list or tuple holding one?"""
    if isinstance(obj, Tracer):
        return True
    if type(obj) in _SEQUENCES:
        return any(contains_tracer(o) for o in obj)
    return False


def _stack_nested(obj):
    """``asarray`` of a (nested) list holding tracers: the leaves stacked along new leading
    axes, one per level."""
    if type(obj) not in _SEQUENCES:
        return asarray(obj)
    parts = [_stack_nested(o) for o in obj]
    shapes = {p.shape for p in parts}
    if len(shapes) != 1:
        raise ValueError(
            "asarray: a nested sequence holding traced values must be rectangular; one "
            f"level holds elements of shapes {sorted(shapes)}"
        )
    rows = [reshape(p, (1,) + p.shape) for p in parts]
    return rows[0] if len(rows) == 1 else concatenate(rows, 0)


def astype(x, dtype, /, *, copy: bool = True, device=None):
    """``x`` converted to ``dtype``; conversion to integers or bool carries no derivative.

    NumPy's and the array API's ``astype``: ``copy=False`` may return ``x`` itself when it
    already has ``dtype``; a traced value is immutable, so it is always returned as it is
    then. ``device`` moves the result as :func:`asarray` does.
    """
    if device is not None:
        x = asarray(x, device=device)
    dtype = np.dtype(dtype)
    array = as_array(x)  # Python scalars, traced by jit or not, become (strongly typed) arrays
    if array.dtype == dtype:
        return array.copy() if copy and array is x and not isinstance(x, Tracer) else array
    x = array
    if dtype.kind not in "fc":
        x = stop_gradient(x)
    return convert_element_type(x, dtype)


def asarray(a, dtype=None, *, device=None, copy: bool | None = None):
    """Convert ``a`` to an array (NumPy's ``asarray``); traced values stay traced.

    Arrays stay on their device unless ``device`` names another one (an explicit
    copy, like :func:`fgrad.device_put`); lists and scalars go to ``device``, or
    to the current transform's device. ``copy`` (the array API's) applies to plain
    arrays; traced values are immutable, so sharing one is as good as a copy.
    """
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, dtype)
    if contains_tracer(a):
        out = _stack_nested(a)
        return out if dtype is None else astype(out, dtype)
    is_array = hasattr(a, "shape") and hasattr(a, "dtype")
    if device is not None:
        return backend.device_put(backend.asarray(a, dtype, like=a if is_array else None), device)
    if is_array:  # an array of some backend: keep it there
        copying = {} if copy is None else {"copy": copy}  # not every backend's asarray has it
        return backend.backend_of(a).xp.asarray(a, dtype=dtype, **copying)
    return backend.asarray(a, dtype)


def in_dtype(x, dtype):
    """``x`` in ``dtype``, where it lives: a Python or NumPy scalar becomes a NumPy scalar
    (which combines with the arrays of every device, where a 0-d NumPy array would tie
    the computation to the host); arrays stay on their device, traced values traced."""
    if isinstance(x, (int, float, complex, bool, np.generic)):
        return np.asarray(x).astype(dtype)[()]
    return asarray(x, dtype)


def as_operand(x):
    """Operands of elementwise functions: Python scalars stay weak, sequences become arrays."""
    return asarray(x) if type(x) in _SEQUENCES else x


def as_array(x):
    """Arguments that need ``.shape``/``.ndim``: arrays and tracers pass, the rest is converted.

    A weakly typed tracer (a Python scalar traced by ``jit``) is converted too, as the
    scalar itself would be, so that every primitive but the elementwise ones sees arrays.
    """
    if isinstance(x, Tracer):
        return convert_element_type(x, x.dtype) if x.is_weakly_typed() else x
    if isinstance(x, np.ndarray):
        return x
    return asarray(x)


def normalize_axes(axis, ndim: int, fn: str) -> tuple[int, ...]:
    """NumPy's ``axis`` (None, int or tuple, negatives allowed) as sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(
                f"{fn}: axis {a} is out of bounds for an array of dimension {ndim}"
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: duplicate value in 'axis': {axis}")
    return tuple(sorted(out))


def check_no_out(out, fn: str) -> None:
    """Refuse NumPy's ``out=`` argument of ``fn``: fgrad arrays are never written into."""
    if out is not None:
        raise TypeError(
            f"{fn}: the 'out' argument is not supported: fgrad arrays are immutable; use the "
            "returned array instead"
        )


def numpy_scalar(out):
    """A concrete 0-d result as the NumPy scalar NumPy's reductions return."""
    return out[()] if type(out) is np.ndarray and out.ndim == 0 else out


def host_index(i):
    """Index values on the host: they are static parameters (CuPy accepts host indices)."""
    i = concrete(i)
    return backend.device_get(i) if hasattr(i, "shape") else i


__all__ = ["asarray", "astype"]
