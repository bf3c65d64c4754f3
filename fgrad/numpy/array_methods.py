"""The array interface of traced values: operators and methods, attached to ``Tracer``.

A tracer behaves like a NumPy array: ``x + y``, ``x @ W``, ``x[i]``, ``x.T``,
``x.sum(axis=0)``, ``x.at[i].set(v)``... Each entry below binds a primitive or
calls the matching ``fgrad.numpy`` function. This module runs once, when
``fgrad.numpy`` is imported, which ``import fgrad`` does.

Plain NumPy calls reach ``fgrad.numpy`` too: ``numpy.sin(tracer)`` and
``numpy.sum(tracer)`` go through NumPy's override protocols (``__array_ufunc__``,
``__array_function__``), attached by :func:`attach_protocols` once the namespace
is assembled (docs/plain_numpy.md).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from fgrad.core.abstract import PYTHON_SCALARS
from fgrad.core.primitive import bind
from fgrad.core.tracer import Tracer
from fgrad.numpy import complex_numbers, indexing, products, reductions
from fgrad.numpy import manipulation as man
from fgrad.numpy import ufuncs as uf
from fgrad.numpy.conversion import as_operand, astype
from fgrad.numpy.indexing import IndexUpdateHelper, take_index
from fgrad.primitives import elementwise as ew
from fgrad.primitives.elementwise import convert_element_type, weakly_typed


def _is_weak(x) -> bool:
    """Is ``x`` a Python number, or a tracer standing for one (not NumPy's ``float64``)?"""
    return type(x) in PYTHON_SCALARS or (isinstance(x, Tracer) and x.is_weakly_typed())


def _as_python_int(x):
    """A Python bool as Python's arithmetic takes it: an int (``True + True == 2``)."""
    if type(x) is bool:
        return int(x)
    if isinstance(x, Tracer) and x.dtype == np.bool_:
        return _weak(convert_element_type(x, np.int64))
    return x


def _python_arithmetic(prim, a, b):
    """``a op b`` for two Python numbers (traced or not), as Python computes it: bools as
    ints, and a Python number as the result, so that NEP 50 promotes it afterwards as it
    does untraced (``c * 3 + x32`` stays float32 under ``jit`` and ``grad`` of ``c``)."""
    if prim not in _LOGICAL:
        a, b = _as_python_int(a), _as_python_int(b)
    return _weak(bind(prim, a, b))


def _weak(out):
    """``out`` made weakly typed where it is traced; a concrete value (a comparison under
    ``grad``, which is not recorded) stays the NumPy scalar, with an array's methods."""
    return weakly_typed(out) if isinstance(out, Tracer) else out


def _binary_operator(prim, reflected: bool = False):
    def op(self, other):
        a, b = (other, self) if reflected else (self, other)
        if _is_weak(other) and self.is_weakly_typed():
            return _python_arithmetic(prim, a, b)
        return bind(prim, as_operand(a), as_operand(b))

    return op


def _unary_operator(prim):
    def op(self):
        if self.is_weakly_typed():
            return _weak(bind(prim, _as_python_int(self)))
        return bind(prim, self)

    return op


def _comparison(prim):
    def op(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented
        if _is_weak(other) and self.is_weakly_typed():
            return _weak(bind(prim, self, other))
        return bind(prim, self, as_operand(other))

    return op


def _shape_args(args):
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both mean shape (2, 3)."""
    return args[0] if len(args) == 1 and not isinstance(args[0], PYTHON_SCALARS) else args


# Python's binary operators, their primitives and the NumPy ufunc behind each (None: not
# taken by ``__array_ufunc__``'s fast path); each gives ``__op__`` and ``__rop__``.
# The bit operators are NumPy's (on booleans they are the logical operations).
_OPERATORS = {
    "add": (ew.add_p, np.add),
    "sub": (ew.sub_p, np.subtract),
    "mul": (ew.mul_p, np.multiply),
    "truediv": (ew.div_p, np.true_divide),
    "mod": (ew.remainder_p, np.remainder),
    "floordiv": (ew.floor_divide_p, np.floor_divide),
    "pow": (ew.pow_p, np.power),
    "and": (ew.bitwise_and_p, None),
    "or": (ew.bitwise_or_p, None),
    "xor": (ew.bitwise_xor_p, None),
    "lshift": (ew.left_shift_p, None),
    "rshift": (ew.right_shift_p, None),
}

# the operators that keep Python's bools bools (on them Python's are the logical operations)
_LOGICAL = {ew.bitwise_and_p, ew.bitwise_or_p, ew.bitwise_xor_p}

# Python's comparisons, their primitives and the NumPy ufunc behind each
_COMPARISONS = {
    "eq": (ew.eq_p, np.equal),
    "ne": (ew.ne_p, np.not_equal),
    "lt": (ew.lt_p, np.less),
    "le": (ew.le_p, np.less_equal),
    "gt": (ew.gt_p, np.greater),
    "ge": (ew.ge_p, np.greater_equal),
}


def _ufunc_operator(prim):
    def op(a, b):
        return bind(prim, as_operand(a), as_operand(b))

    return op


#: the ufuncs behind Python's operators and comparisons: NumPy calls ``__array_ufunc__``
#: for ``numpy_value * tracer``, which then runs what ``__rmul__`` would have
_OPERATOR_UFUNCS = {
    **{
        ufunc: _ufunc_operator(prim)
        for prim, ufunc in (*_OPERATORS.values(), *_COMPARISONS.values())
        if ufunc is not None
    },
    np.matmul: products.matmul,
}

_METHODS = {
    **{f"__{op}__": _binary_operator(prim) for op, (prim, _) in _OPERATORS.items()},
    **{
        f"__r{op}__": _binary_operator(prim, reflected=True)
        for op, (prim, _) in _OPERATORS.items()
    },
    "__divmod__": lambda self, other: (self // other, self % other),
    "__rdivmod__": lambda self, other: (other // self, other % self),
    "__matmul__": lambda self, other: products.matmul(self, other),
    "__rmatmul__": lambda self, other: products.matmul(other, self),
    "__neg__": _unary_operator(ew.neg_p),
    "__pos__": lambda self: self,
    "__abs__": _unary_operator(ew.abs_p),
    "__invert__": _unary_operator(ew.invert_p),
    **{f"__{op}__": _comparison(prim) for op, (prim, _) in _COMPARISONS.items()},
    "__getitem__": take_index,
    "T": property(lambda self: man.transpose(self)),
    "at": property(IndexUpdateHelper),
    "reshape": lambda self, *shape, order="C": man.reshape(self, _shape_args(shape), order),
    "transpose": lambda self, *axes: man.transpose(self, _shape_args(axes) if axes else None),
    "swapaxes": man.swapaxes,
    "squeeze": man.squeeze,
    "ravel": man.ravel,
    "flatten": man.ravel,
    "sum": reductions.sum,
    "mean": reductions.mean,
    "var": reductions.var,
    "std": reductions.std,
    "max": reductions.max,
    "min": reductions.min,
    "argmax": reductions.argmax,
    "argmin": reductions.argmin,
    "prod": reductions.prod,
    "cumsum": reductions.cumsum,
    "cumprod": reductions.cumprod,
    "all": reductions.all,
    "any": reductions.any,
    "round": lambda self, decimals=0, out=None: uf.round(self, decimals),
    "trace": reductions.trace,
    "diagonal": man.diagonal,
    "repeat": man.repeat,
    "take": indexing.take,
    "nonzero": uf.nonzero,
    "real": property(complex_numbers.real),
    "imag": property(complex_numbers.imag),
    "conj": complex_numbers.conjugate,
    "conjugate": complex_numbers.conjugate,
    "astype": astype,
    "dot": products.dot,
    "clip": uf.clip,
    "copy": lambda self: self,
    # the array API's device attribute: None, "wherever the transform runs", which every
    # fgrad.numpy function's ``device=`` accepts
    "device": property(lambda self: None),
}

for _name, _method in _METHODS.items():
    setattr(Tracer, _name, _method)


# -- NumPy's override protocols --------------------------------------------------------------

#: ``ufunc.reduce`` and ``ufunc.accumulate`` as the fgrad.numpy function computing them
_REDUCTIONS = {
    "add": reductions.sum,
    "multiply": reductions.prod,
    "maximum": reductions.max,
    "minimum": reductions.min,
    "logical_and": reductions.all,
    "logical_or": reductions.any,
}
_ACCUMULATIONS = {"add": reductions.cumsum, "multiply": reductions.cumprod}


def _refuse_out(what: str, out) -> None:
    if any(o is not None for o in (out if isinstance(out, tuple) else (out,))):
        raise TypeError(
            f"{what}(..., out=...) cannot write into a traced array: fgrad arrays are "
            "immutable. Use the return value instead (y = f(x)), or a functional update "
            "y = x.at[index].set(values)."
        )


def _ufunc_method(ufunc: np.ufunc, method: str, fn, inputs, kwargs):
    name = f"numpy.{ufunc.__name__}.{method}"
    if method == "reduce":
        if ufunc.__name__ not in _REDUCTIONS:
            raise NotImplementedError(
                f"{name} is not supported on traced arrays; fgrad reduces with "
                f"{', '.join(f'{k}.reduce' for k in _REDUCTIONS)}. Write the reduction "
                "with fgrad.lax.scan or a Python loop instead."
            )
        (array,) = inputs
        return _REDUCTIONS[ufunc.__name__](array, **{"axis": 0, **kwargs})
    if method == "accumulate":
        if ufunc.__name__ not in _ACCUMULATIONS:
            raise NotImplementedError(
                f"{name} is not supported on traced arrays (fgrad accumulates with "
                "numpy.add.accumulate and numpy.multiply.accumulate, i.e. cumsum and "
                "cumprod); write it with fgrad.lax.scan instead."
            )
        (array,) = inputs
        return _ACCUMULATIONS[ufunc.__name__](array, **{"axis": 0, **kwargs})
    if method == "outer":
        a, b = (as_operand(x) for x in inputs)
        return fn(man.reshape(a, a.shape + (1,) * b.ndim), b, **kwargs)
    if method == "at":
        verb = _AT_VERBS.get(ufunc.__name__, "set(new values)")
        raise TypeError(
            f"{name} writes into its first argument in place, and traced arrays are "
            f"immutable. Use the functional form x = x.at[indices].{verb}, which returns "
            "the updated array and is differentiable."
        )
    raise NotImplementedError(
        f"{name} is not supported on traced arrays; call numpy.{ufunc.__name__} itself, "
        "or build the result from supported functions."
    )


_AT_VERBS = {
    "add": "add(values)",
    "multiply": "multiply(values)",
    "divide": "divide(values)",
    "power": "power(values)",
    "maximum": "max(values)",
    "minimum": "min(values)",
}


def _missing_function(qualname: str) -> Exception:
    return NotImplementedError(
        f"{qualname} was called on a traced array, and fgrad.numpy has no {qualname}. "
        "docs/numpy_support.md lists every NumPy function with its support status. Build "
        "it from supported functions, or compute it outside the transformed function if it "
        "needs no derivative."
    )


def attach_protocols(namespaces: dict[str, ModuleType]) -> None:
    """Give ``Tracer`` NumPy's ``__array_ufunc__``, ``__array_function__`` and
    ``__array_namespace__``, dispatching to the function of the same name in ``namespaces``.

    Parameters
    ----------
    namespaces
        NumPy module name (``"numpy"``, ``"numpy.linalg"``, ``"numpy.fft"``) to the
        fgrad.numpy module implementing it; ``"numpy"`` is also the array API namespace.
    """
    numpy_namespace = namespaces["numpy"]

    def lookup(module: str, name: str, qualname: str):
        namespace = namespaces.get(module)
        fn = getattr(namespace, name, None) if namespace is not None else None
        if fn is None:
            raise _missing_function(qualname) from None
        return fn

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if method == "__call__" and out is None and not kwargs and len(inputs) == 2:
            op = _OPERATOR_UFUNCS.get(ufunc)
            if op is not None:  # an operator with a NumPy value on the left: ``c * x``
                return op(*inputs)
        _refuse_out(f"numpy.{ufunc.__name__}", out)
        fn = lookup("numpy", ufunc.__name__, f"numpy.{ufunc.__name__}")
        if method == "__call__":
            return fn(*inputs, **kwargs)
        return _ufunc_method(ufunc, method, fn, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        qualname = f"{func.__module__}.{func.__name__}"
        _refuse_out(qualname, kwargs.get("out"))
        kwargs = {k: v for k, v in kwargs.items() if k != "out"}
        fn = lookup(func.__module__, func.__name__, qualname)
        if fn is func:  # fgrad.numpy re-exports NumPy's own (result_type, shape helpers...)
            return func._implementation(*args, **kwargs)
        return fn(*args, **kwargs)

    def __array_namespace__(self, *, api_version: str | None = None):
        return numpy_namespace

    Tracer.__array_ufunc__ = __array_ufunc__
    Tracer.__array_function__ = __array_function__
    Tracer.__array_namespace__ = __array_namespace__
