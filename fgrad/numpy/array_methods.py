"""The array interface of traced values: operators and methods, attached to ``Tracer``.

A tracer behaves like a NumPy array: ``x + y``, ``x @ W``, ``x[i]``, ``x.T``,
``x.sum(axis=0)``, ``x.at[i].set(v)``... Each entry below binds a primitive or
calls the matching ``fgrad.numpy`` function. This module runs once, when
``fgrad.numpy`` is imported, which ``import fgrad`` does.
"""

from __future__ import annotations

from fgrad.core.abstract import PYTHON_SCALARS
from fgrad.core.primitive import bind
from fgrad.core.tracer import Tracer
from fgrad.numpy import complex_numbers, indexing, products, reductions
from fgrad.numpy import manipulation as man
from fgrad.numpy import ufuncs as uf
from fgrad.numpy.conversion import as_operand, astype
from fgrad.numpy.indexing import IndexUpdateHelper, take_index
from fgrad.primitives import elementwise as ew


def _binary_operator(prim, reflected: bool = False):
    if reflected:

        def op(self, other):
            return bind(prim, as_operand(other), self)
    else:

        def op(self, other):
            return bind(prim, self, as_operand(other))

    return op


def _comparison(prim):
    def op(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented
        return bind(prim, self, as_operand(other))

    return op


def _refusing_out(fn):
    """A method that accepts NumPy's ``out=None`` (``numpy.sum(tracer)`` passes it) and
    refuses any other ``out``: traced arrays cannot be written into."""

    def method(self, *args, out=None, **kwargs):
        if out is not None:
            raise TypeError(
                f"{fn.__name__}(out=...) is not supported on traced arrays, which are "
                "immutable; use the return value instead"
            )
        return fn(self, *args, **kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _shape_args(args):
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both mean shape (2, 3)."""
    return args[0] if len(args) == 1 and not isinstance(args[0], PYTHON_SCALARS) else args


# Python's binary operators and their primitives; each gives ``__op__`` and ``__rop__``.
# The bit operators are NumPy's (on booleans they are the logical operations).
_OPERATORS = {
    "add": ew.add_p,
    "sub": ew.sub_p,
    "mul": ew.mul_p,
    "truediv": ew.div_p,
    "mod": ew.remainder_p,
    "floordiv": ew.floor_divide_p,
    "pow": ew.pow_p,
    "and": ew.bitwise_and_p,
    "or": ew.bitwise_or_p,
    "xor": ew.bitwise_xor_p,
    "lshift": ew.left_shift_p,
    "rshift": ew.right_shift_p,
}

_METHODS = {
    **{f"__{op}__": _binary_operator(prim) for op, prim in _OPERATORS.items()},
    **{f"__r{op}__": _binary_operator(prim, reflected=True) for op, prim in _OPERATORS.items()},
    "__divmod__": lambda self, other: (self // other, self % other),
    "__rdivmod__": lambda self, other: (other // self, other % self),
    "__matmul__": lambda self, other: products.matmul(self, other),
    "__rmatmul__": lambda self, other: products.matmul(other, self),
    "__neg__": lambda self: bind(ew.neg_p, self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: bind(ew.abs_p, self),
    "__invert__": lambda self: bind(ew.invert_p, self),
    "__eq__": _comparison(ew.eq_p),
    "__ne__": _comparison(ew.ne_p),
    "__lt__": _comparison(ew.lt_p),
    "__le__": _comparison(ew.le_p),
    "__gt__": _comparison(ew.gt_p),
    "__ge__": _comparison(ew.ge_p),
    "__getitem__": take_index,
    "T": property(lambda self: man.transpose(self)),
    "at": property(IndexUpdateHelper),
    "reshape": lambda self, *shape, order="C": man.reshape(self, _shape_args(shape), order),
    "transpose": lambda self, *axes: man.transpose(self, _shape_args(axes) if axes else None),
    "swapaxes": man.swapaxes,
    "squeeze": man.squeeze,
    "ravel": man.ravel,
    "flatten": man.ravel,
    "sum": _refusing_out(reductions.sum),
    "mean": _refusing_out(reductions.mean),
    "var": _refusing_out(reductions.var),
    "std": _refusing_out(reductions.std),
    "max": _refusing_out(reductions.max),
    "min": _refusing_out(reductions.min),
    "argmax": _refusing_out(reductions.argmax),
    "argmin": _refusing_out(reductions.argmin),
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
}

for _name, _method in _METHODS.items():
    setattr(Tracer, _name, _method)
