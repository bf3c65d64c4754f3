"""``eval_shape`` and ``ShapeDtypeStruct``: a function's output shapes and dtypes, with
nothing computed.

``eval_shape`` traces the function abstractly, as ``make_jaxpr`` does, so only the
primitives' abstract-eval rules run: shape errors surface, no array is allocated for
the inputs and no arithmetic is done. Inputs may be arrays or
:class:`ShapeDtypeStruct` (anything with ``shape`` and ``dtype``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.tracer import Tracer
from fgrad.transforms.make_jaxpr import JaxprTrace, stage


class ShapeDtypeStruct:
    """The shape and dtype of an array, standing for it where no values are needed.

    Parameters
    ----------
    shape
        A tuple of ints.
    dtype
        Anything ``numpy.dtype`` accepts.

    Examples
    --------
    >>> fgrad.eval_shape(fnp.dot, fgrad.ShapeDtypeStruct((3, 4), "float32"), np.ones(4))
    ShapeDtypeStruct(shape=(3,), dtype=float64)
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)

    @classmethod
    def like(cls, x: Any) -> ShapeDtypeStruct:
        """The shape and dtype of ``x`` (an array, a traced value, a Python scalar, or
        anything with ``shape`` and ``dtype``), as JAX's ``ShapeDtypeStruct.like``."""
        aval = get_aval(x)
        return cls(aval.shape, aval.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShapeDtypeStruct):
            return NotImplemented
        return self.shape == other.shape and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"


def typeof(x: Any) -> ShapedArray:
    """The abstract type of ``x``: its shape, dtype and weak type, as JAX's ``jax.typeof``.

    Under a transform it is the type the function sees: inside ``vmap``, that of one
    example; inside ``jit``, that of the traced argument.

    Examples
    --------
    >>> fgrad.typeof(np.ones((2, 3), np.float32))
    ShapedArray(f32[2,3])
    >>> fgrad.vmap(lambda x: print(fgrad.typeof(x)) or x)(np.ones((4, 3)))   # f64[3]
    """
    return get_aval(x)


def _stand_in(x: Any) -> tuple[Any, ShapedArray]:
    """An argument leaf for tracing (read only for its device) and its abstract value."""
    if isinstance(x, Tracer) or not isinstance(x, ShapeDtypeStruct):
        return x, get_aval(x)  # Python numbers stay weakly typed, as under jit
    return np.empty(0, x.dtype), ShapedArray(x.shape, x.dtype)


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes of ``fun(*args, **kwargs)``, found without computing it.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.
    *args, **kwargs
        Pytrees whose leaves are arrays, numbers or :class:`ShapeDtypeStruct`.

    Returns
    -------
    pytree
        ``fun``'s output structure with a :class:`ShapeDtypeStruct` at each leaf.

    Examples
    --------
    >>> params = fgrad.eval_shape(init, fgrad.ShapeDtypeStruct((784,), "float32"))
    >>> fgrad.tree.map(lambda s: s.shape, params)
    """
    flat, in_tree = tree_flatten((args, kwargs))
    pairs = [_stand_in(x) for x in flat]
    closed = stage(
        JaxprTrace(sources=False),
        lambda tree: fun(*tree[0], **tree[1]),
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        in_tree,
    )
    outs = [ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.outvars]
    return tree_unflatten(closed.out_tree, outs)
