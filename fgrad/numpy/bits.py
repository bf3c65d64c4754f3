"""Integer and bit operations: ``bitwise_and``, ``left_shift``, ``gcd``, ... and the
operators ``&``, ``|``, ``^``, ``~``, ``<<``, ``>>`` on traced arrays.

They are NumPy's ufuncs as non-differentiable primitives (integer in, integer out;
``&``, ``|``, ``~`` on booleans are the logical operations, as in NumPy), so they
trace under ``jit`` and batch under ``vmap`` like every other primitive, and give
NumPy's dtypes and errors (a float operand is a ``DtypeError`` naming the dtypes).
``spacing``, float in and float out but with no derivative, is here for the same
reason.
"""

from __future__ import annotations

from fgrad.numpy.ufuncs import binary, unary
from fgrad.primitives import elementwise as ew

_BINARY = {
    "bitwise_and": (ew.bitwise_and_p, "Elementwise bit and, ``x1 & x2``."),
    "bitwise_or": (ew.bitwise_or_p, "Elementwise bit or, ``x1 | x2``."),
    "bitwise_xor": (ew.bitwise_xor_p, "Elementwise bit xor, ``x1 ^ x2``."),
    "left_shift": (ew.left_shift_p, "Elementwise ``x1 << x2``."),
    "right_shift": (ew.right_shift_p, "Elementwise ``x1 >> x2``."),
    "gcd": (ew.gcd_p, "Elementwise greatest common divisor of integers."),
    "lcm": (ew.lcm_p, "Elementwise least common multiple of integers."),
}
_UNARY = {
    "invert": (ew.invert_p, "Elementwise bit inversion ``~x`` (not, on booleans)."),
    "bitwise_count": (ew.bitwise_count_p, "Number of 1 bits in ``abs(x)``."),
    "spacing": (ew.spacing_p, "Distance to the next float away from zero."),
}
globals().update({name: binary(prim, doc, name) for name, (prim, doc) in _BINARY.items()})
globals().update({name: unary(prim, doc, name) for name, (prim, doc) in _UNARY.items()})
# NumPy 2's array-API names for the same functions
_ALIASES = {
    "bitwise_left_shift": "left_shift",
    "bitwise_right_shift": "right_shift",
    "bitwise_not": "invert",
    "bitwise_invert": "invert",
}
globals().update({alias: globals()[name] for alias, name in _ALIASES.items()})

__all__ = [*_BINARY, *_UNARY, *_ALIASES]
