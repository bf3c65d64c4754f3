"""JAX's initialiser factories (``jax.nn.initializers``), drawing from a ``fgrad.random`` key.

Each factory returns ``init(key, shape, dtype=...) -> array``::

    init = fgrad.nn.initializers.he_normal()
    W = init(fgrad.random.key(0), (784, 512))

Draws are pure functions of the key, so an initialiser runs the same eagerly,
under ``jit`` and under ``vmap`` (an ensemble from a batch of keys). Fans follow
JAX: ``shape[in_axis]`` and ``shape[out_axis]`` times the receptive field (the
product of the other dimensions that are not ``batch_axis``). The default dtype
is float64 (fgrad's default; JAX's is float32). The older functions taking a
``numpy.random.Generator`` (``fgrad.nn.he_normal(rng, shape)``) are in
:mod:`fgrad.nn.generator_init`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

import numpy as np

import fgrad.numpy as fnp
from fgrad import random
from fgrad.random.distributions import float_dtype
from fgrad.random.prng import shape_tuple

__all__ = [
    "Initializer",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

_MODULE = "fgrad.nn.initializers"

Initializer = Callable[..., np.ndarray]
"""``init(key, shape, dtype=...) -> array``."""

# the standard deviation of a standard normal truncated to [-2, 2]
_TRUNCATED_STD = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def _axes(axis: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    return tuple(operator.index(a) % ndim for a in axes)


def _fans(shape: tuple[int, ...], in_axis, out_axis, batch_axis) -> tuple[float, float]:
    if len(shape) < 2:
        raise ValueError(
            f"fgrad.nn.initializers.variance_scaling: shape {shape} has no fan-in and fan-out; "
            "it needs at least two dimensions (use normal(stddev) or zeros for biases)"
        )
    ins, outs = _axes(in_axis, len(shape)), _axes(out_axis, len(shape))
    batch = _axes(batch_axis, len(shape))
    fan_in = math.prod(shape[a] for a in ins)
    fan_out = math.prod(shape[a] for a in outs)
    field = math.prod(d for a, d in enumerate(shape) if a not in ins + outs + batch)
    return fan_in * field, fan_out * field


def variance_scaling(
    scale: float,
    mode: str,
    distribution: str,
    in_axis: int | Sequence[int] = -2,
    out_axis: int | Sequence[int] = -1,
    batch_axis: Sequence[int] = (),
    dtype=np.float64,
) -> Initializer:
    """Draws with variance ``scale / fan`` (``jax.nn.initializers.variance_scaling``).

    Parameters
    ----------
    scale : float
        Target variance times the fan.
    mode : {'fan_in', 'fan_out', 'fan_avg', 'fan_geo'}
        The fan: in, out, their mean or their geometric mean.
    distribution : {'truncated_normal', 'normal', 'uniform'}
        ``truncated_normal`` is a normal truncated at two standard deviations,
        rescaled so that the variance is still ``scale / fan`` (see
        :func:`fgrad.random.truncated_normal`); ``uniform`` is ``U(-l, l)`` with
        ``l = sqrt(3 scale / fan)``.
    in_axis, out_axis : int or sequence of ints
        The input and output dimensions of the weight; the others (except
        ``batch_axis``) form the receptive field, which multiplies both fans.
    batch_axis : sequence of ints
        Dimensions that are not part of the fans (a stack of weights).
    dtype : floating dtype
        Default dtype of the initialiser.

    Returns
    -------
    callable
        ``init(key, shape, dtype=dtype) -> array``.

    Examples
    --------
    >>> init = variance_scaling(2.0, "fan_in", "truncated_normal")  # he_normal
    >>> W = init(fgrad.random.key(0), (784, 512))
    """
    if mode not in _MODES:
        raise ValueError(
            f"fgrad.nn.initializers.variance_scaling: mode must be one of {_MODES}, got {mode!r}"
        )
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"fgrad.nn.initializers.variance_scaling: distribution must be one of "
            f"{_DISTRIBUTIONS}, got {distribution!r}"
        )
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        shape = shape_tuple(shape, "variance_scaling", _MODULE)
        dtype = float_dtype(dtype, "variance_scaling", _MODULE)
        fan_in, fan_out = _fans(shape, in_axis, out_axis, batch_axis)
        fan = {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2,
            "fan_geo": math.sqrt(fan_in * fan_out),
        }[mode]
        variance = scale / max(fan, 1)
        if distribution == "truncated_normal":
            std = math.sqrt(variance) / _TRUNCATED_STD
            return std * random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        if distribution == "normal":
            return math.sqrt(variance) * random.normal(key, shape, dtype)
        limit = math.sqrt(3 * variance)
        return random.uniform(key, shape, dtype, -limit, limit)

    return init


def _preset(name: str, scale: float, mode: str, distribution: str, doc: str):
    def factory(
        in_axis: int | Sequence[int] = -2,
        out_axis: int | Sequence[int] = -1,
        batch_axis: Sequence[int] = (),
        dtype=np.float64,
    ) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"""{doc} (``jax.nn.initializers.{name}``).

    ``variance_scaling({scale}, {mode!r}, {distribution!r}, ...)``: see
    :func:`variance_scaling` for the parameters. Returns ``init(key, shape, dtype)``.
    """
    return factory


glorot_uniform = _preset(
    "glorot_uniform", 1.0, "fan_avg", "uniform", "Glorot/Xavier uniform, variance 2/(in+out)"
)
glorot_normal = _preset(
    "glorot_normal", 1.0, "fan_avg", "truncated_normal", "Glorot/Xavier truncated normal"
)
lecun_uniform = _preset("lecun_uniform", 1.0, "fan_in", "uniform", "LeCun uniform, variance 1/in")
lecun_normal = _preset(
    "lecun_normal", 1.0, "fan_in", "truncated_normal", "LeCun truncated normal, variance 1/in"
)
he_uniform = _preset("he_uniform", 2.0, "fan_in", "uniform", "He/Kaiming uniform, variance 2/in")
he_normal = _preset(
    "he_normal", 2.0, "fan_in", "truncated_normal", "He/Kaiming truncated normal, variance 2/in"
)
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype=np.float64) -> Initializer:
    """Orthogonal matrices (``jax.nn.initializers.orthogonal``), times ``scale``.

    The ``Q`` of a Gaussian matrix's QR factorisation with the signs of ``R``'s
    diagonal moved into it, which makes it uniform (Haar) over the orthogonal
    matrices. The shape is read as a matrix with ``shape[column_axis]`` columns
    and the product of the other dimensions as rows; the rows are orthonormal if
    there are fewer of them, otherwise the columns are.

    Parameters
    ----------
    scale : float
    column_axis : int
    dtype : floating dtype

    Returns
    -------
    callable
        ``init(key, shape, dtype=dtype) -> array``.
    """
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        shape = shape_tuple(shape, "orthogonal", _MODULE)
        dtype = float_dtype(dtype, "orthogonal", _MODULE)
        if len(shape) < 2:
            raise ValueError(
                f"fgrad.nn.initializers.orthogonal: shape {shape} needs at least two dimensions"
            )
        axis = column_axis % len(shape)
        n_cols = shape[axis]
        n_rows = math.prod(shape) // max(n_cols, 1)
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q, r = fnp.linalg.qr(random.normal(key, tall, dtype))
        q = q * fnp.sign(fnp.diagonal(r))
        if n_rows < n_cols:
            q = q.T
        rest = shape[:axis] + shape[axis + 1 :]
        return scale * fnp.moveaxis(fnp.reshape(q, rest + (n_cols,)), -1, axis)

    return init


def normal(stddev: float = 1e-2, dtype=np.float64) -> Initializer:
    """``N(0, stddev**2)`` draws (``jax.nn.initializers.normal``)."""
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        return stddev * random.normal(key, shape, dtype)  # random checks the dtype

    return init


def truncated_normal(
    stddev: float = 1e-2, dtype=np.float64, lower: float = -2.0, upper: float = 2.0
) -> Initializer:
    """``stddev`` times a standard normal truncated to ``[lower, upper]`` (not rescaled)."""
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        return stddev * random.truncated_normal(key, lower, upper, shape, dtype)

    return init


def uniform(scale: float = 1e-2, dtype=np.float64) -> Initializer:
    """``U[0, scale)`` draws (``jax.nn.initializers.uniform``; note: not centred)."""
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        return random.uniform(key, shape, dtype, 0.0, scale)

    return init


def constant(value, dtype=np.float64) -> Initializer:
    """An initialiser filling the shape with ``value`` (``jax.nn.initializers.constant``)."""
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        return fnp.full(shape_tuple(shape, "constant", _MODULE), value, dtype)

    return init


def zeros(key, shape, dtype=np.float64) -> np.ndarray:
    """Zeros (``jax.nn.initializers.zeros``, an initialiser itself: ``zeros(key, shape)``)."""
    return np.zeros(shape_tuple(shape, "zeros", _MODULE), dtype)


def ones(key, shape, dtype=np.float64) -> np.ndarray:
    """Ones (``jax.nn.initializers.ones``, an initialiser itself: ``ones(key, shape)``)."""
    return np.ones(shape_tuple(shape, "ones", _MODULE), dtype)
