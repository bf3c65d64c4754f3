"""Initialisers drawing from a NumPy ``Generator``: ``fgrad.nn.glorot_uniform(rng, shape)``, ...

The functions :func:`fgrad.nn.mlp_init` uses by default. JAX's initialiser
factories, which take a ``fgrad.random`` key, are in :mod:`fgrad.nn.initializers`.
Randomness comes only from the ``numpy.random.Generator`` passed in, so the
same seed gives the same parameters, and no global state is touched. Values
are drawn in float64 and then cast, so float32 parameters are the float64 ones
rounded (same seed, same network, whatever the dtype).

Fans follow Keras and JAX: for a shape ``(fan_in, fan_out)`` they are the two
dimensions; for more dimensions (convolution kernels ``(..., in, out)``) the
leading dimensions form the receptive field, which multiplies both; a 1-d shape
``(n,)`` has ``fan_in = fan_out = n``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import TypeVar

import numpy as np

__all__ = ["glorot_uniform", "he_normal", "zeros"]

Shape = int | tuple[int, ...]
_Init = TypeVar("_Init", bound=Callable[..., np.ndarray])


def check_rng(rng: object, fn: str) -> None:
    """Raise a TypeError naming ``fn`` unless ``rng`` is a ``numpy.random.Generator``.

    Parameters
    ----------
    rng : object
        What the caller was given as its generator.
    fn : str
        The public function to name in the error.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{fn}: rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "create one with rng = np.random.default_rng(seed)"
        )


def _shape(shape: Shape, fn: str) -> tuple[int, ...]:
    dims = (shape,) if not isinstance(shape, (tuple, list)) else tuple(shape)
    try:
        dims = tuple(operator.index(d) for d in dims)
    except TypeError:
        raise TypeError(f"{fn}: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{fn}: negative dimension in shape {dims}")
    return dims


def _float_dtype(dtype, fn: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{fn}: dtype must be a floating-point dtype, got {dtype}")
    return dtype


def _fans(shape: tuple[int, ...], fn: str) -> tuple[int, int]:
    if len(shape) == 0:
        raise ValueError(f"{fn}: a scalar shape () has no fan-in or fan-out")
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _checked(
    rng: object, shape: Shape, dtype, fn: str
) -> tuple[tuple[int, ...], np.dtype, tuple[int, int]]:
    """The validated shape and dtype of a draw, and its ``(fan_in, fan_out)``."""
    check_rng(rng, fn)
    shape, dtype = _shape(shape, fn), _float_dtype(dtype, fn)
    return shape, dtype, _fans(shape, fn)


# The Parameters/Returns/Raises sections common to the random initialisers.
_DRAW_DOC_SECTIONS = """

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness (``np.random.default_rng(seed)``).
    shape : int or tuple of ints
        ``(fan_in, fan_out)`` for a dense layer.
    dtype : floating dtype

    Returns
    -------
    numpy.ndarray
        A new array of ``shape`` and ``dtype``.

    Raises
    ------
    TypeError
        If ``rng`` is not a ``numpy.random.Generator`` or ``dtype`` is not a float.
"""


def _with_draw_doc(fn: _Init) -> _Init:
    fn.__doc__ = fn.__doc__.rstrip(" ") + _DRAW_DOC_SECTIONS
    return fn


@_with_draw_doc
def glorot_uniform(rng: np.random.Generator, shape: Shape, dtype=np.float64) -> np.ndarray:
    """Glorot (Xavier) uniform: ``U(-limit, limit)`` with ``limit = sqrt(6 / (fan_in + fan_out))``.

    Keeps the variance of activations and of gradients roughly constant
    across layers with tanh-like activations (Glorot and Bengio, 2010). The
    default weight initialiser of :func:`fgrad.nn.mlp_init`.
    """
    shape, dtype, (fan_in, fan_out) = _checked(rng, shape, dtype, "glorot_uniform")
    limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


@_with_draw_doc
def he_normal(rng: np.random.Generator, shape: Shape, dtype=np.float64) -> np.ndarray:
    """He (Kaiming) normal: ``N(0, std**2)`` with ``std = sqrt(2 / fan_in)``.

    Keeps the variance of activations roughly constant across layers with
    ReLU activations (He et al., 2015). The normal is not truncated (Keras and
    JAX truncate at two standard deviations and rescale).
    """
    shape, dtype, (fan_in, _) = _checked(rng, shape, dtype, "he_normal")
    std = math.sqrt(2.0 / max(1, fan_in))
    return (std * rng.standard_normal(size=shape)).astype(dtype)


def zeros(shape: Shape, dtype=np.float64) -> np.ndarray:
    """An array of zeros, the usual initialisation of biases.

    Parameters
    ----------
    shape : int or tuple of ints
    dtype : dtype

    Returns
    -------
    numpy.ndarray
        A new array, not a view of shared memory.
    """
    return np.zeros(_shape(shape, "zeros"), dtype)
