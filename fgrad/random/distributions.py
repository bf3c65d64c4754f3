"""Distributions drawn by transforming uniform words: ``uniform``, ``normal``, ``randint``, ...

Each is a pure function of the key, written in ``fgrad.numpy`` ops on the words
of :func:`fgrad.random.prng.bits`, so it is the same eagerly, under ``jit`` and
under ``vmap``, and differentiable in its float parameters wherever the
transformation is (``minval``/``maxval`` of ``uniform``, ``lower``/``upper`` of
``truncated_normal``, ``mean``/``cov`` of ``multivariate_normal``).
The rejection samplers (``gamma``, ``poisson``, ...) are in
:mod:`fgrad.random.rejection`.
"""

from __future__ import annotations

import math
import operator

import numpy as np

import fgrad.numpy as fnp
from fgrad.numpy.conversion import in_dtype
from fgrad.random.normal_cdf import ndtr, ndtri
from fgrad.random.prng import Shape, bits, check_key, shape_tuple

__all__ = [
    "bernoulli",
    "categorical",
    "cauchy",
    "choice",
    "exponential",
    "gumbel",
    "laplace",
    "logistic",
    "multivariate_normal",
    "normal",
    "permutation",
    "rademacher",
    "randint",
    "truncated_normal",
    "uniform",
]


def float_dtype(dtype, fn: str, module: str = "fgrad.random") -> np.dtype:
    """``dtype`` (``None``: float64, fgrad's default) if it is a float dtype, else a
    ``TypeError`` naming ``module.fn``."""
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"{module}.{fn}: dtype must be a floating-point dtype, got {dtype}")
    return dtype


def as_dtype(x, dtype, like=None):
    """``x`` in ``dtype``; a tracer stays a tracer (and differentiable), an array stays on
    its device. A scalar is a NumPy scalar, or with ``like`` (the key) a 0-d array on
    ``like``'s device, for the parameters whose arrays a sampler builds on."""
    out = in_dtype(x, dtype)
    if like is not None and isinstance(out, np.generic):
        return fnp.full((), out, dtype, like=like)
    return out


def param_shape(shape, fn: str, *params) -> tuple[int, ...]:
    """``shape`` as a tuple, or the broadcast shape of the parameters when it is ``None``.

    A given ``shape`` must hold the parameters' broadcast shape (as in JAX): the
    parameters never silently enlarge the result.
    """
    shapes = [tuple(np.shape(p)) for p in params]
    if shape is None:
        return tuple(np.broadcast_shapes(*shapes))
    shape = shape_tuple(shape, fn)
    try:
        fits = np.broadcast_shapes(shape, *shapes) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"fgrad.random.{fn}: parameters of shapes {shapes} do not broadcast to shape {shape}"
        )
    return shape


def unit_uniform(k, shape: tuple[int, ...], dtype: np.dtype, open_: bool = False, *, fn: str):
    """Uniform on ``[0, 1)`` with every mantissa bit random (``(0, 1)`` when ``open_``)."""
    n_bits = np.finfo(dtype).nmant + 1
    if n_bits <= 32:
        words = bits(k, shape, _fn=fn) >> np.uint32(32 - n_bits)
    else:
        words = bits(k, shape, np.uint64, _fn=fn) >> np.uint64(64 - n_bits)
    u = words.astype(dtype) * dtype.type(2.0**-n_bits)
    return u + dtype.type(2.0 ** -(n_bits + 1)) if open_ else u


def uniform(k, shape: Shape = (), dtype=None, minval=0.0, maxval=1.0):
    """Uniform on ``[minval, maxval)`` (``jax.random.uniform``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
        The key (:func:`fgrad.random.key`).
    shape : int or tuple of ints
        Output shape; ``minval`` and ``maxval`` broadcast to it.
    dtype : floating dtype, optional
        Default float64 (fgrad is float64 by default; JAX's default is float32).
    minval, maxval : float or array
        Bounds; the draw is differentiable in both (``minval + (maxval - minval) * u``).

    Returns
    -------
    numpy.ndarray
        Array of ``shape`` and ``dtype``.
    """
    dtype = float_dtype(dtype, "uniform")
    u = unit_uniform(k, param_shape(shape, "uniform", minval, maxval), dtype, fn="uniform")
    lo, hi = as_dtype(minval, dtype), as_dtype(maxval, dtype)
    return fnp.maximum(lo, lo + (hi - lo) * u)


def normal(k, shape: Shape = (), dtype=None):
    """Standard normal draws (``jax.random.normal``), by the Box-Muller transform.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    shape : int or tuple of ints
    dtype : floating dtype, optional
        Default float64. For mean ``m`` and scale ``s`` use ``m + s * normal(k, shape)``
        (differentiable in ``m`` and ``s``).

    Returns
    -------
    numpy.ndarray
    """
    dtype = float_dtype(dtype, "normal")
    shape = shape_tuple(shape, "normal")
    n = math.prod(shape)
    half = (n + 1) // 2
    u = unit_uniform(k, (2, half), dtype, fn="normal")
    radius = fnp.sqrt(dtype.type(-2.0) * fnp.log1p(-u[0]))
    angle = dtype.type(2 * math.pi) * u[1]
    z = fnp.concatenate([radius * fnp.cos(angle), radius * fnp.sin(angle)])[:n]
    return fnp.reshape(z, shape)


def truncated_normal(k, lower, upper, shape: Shape | None = None, dtype=None):
    """Standard normal restricted to ``[lower, upper]`` (``jax.random.truncated_normal``).

    Drawn by inverting the normal CDF (written in fgrad ops in
    :mod:`fgrad.random.normal_cdf`, no SciPy needed), which makes the draw
    differentiable in ``lower`` and ``upper`` as in JAX. Bounds above zero are
    reflected to the lower tail, where the CDF keeps its precision.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    lower, upper : float or array
        Bounds (``-inf``/``inf`` allowed), broadcast to ``shape``.
    shape : tuple of ints, optional
        Default: the broadcast shape of ``lower`` and ``upper``.
    dtype : floating dtype, optional
        Default float64; computed in float64 and then cast.

    Returns
    -------
    numpy.ndarray
        Values in ``[lower, upper]``.
    """
    dtype = float_dtype(dtype, "truncated_normal")
    shape = param_shape(shape, "truncated_normal", lower, upper)
    lo, hi = as_dtype(lower, np.float64, k), as_dtype(upper, np.float64, k)
    flip = lo > 0
    a, b = fnp.where(flip, -hi, lo), fnp.where(flip, -lo, hi)
    p_a, p_b = ndtr(a), ndtr(b)
    u = unit_uniform(k, shape, np.dtype(np.float64), open_=True, fn="truncated_normal")
    x = fnp.clip(ndtri(p_a + u * (p_b - p_a)), a, b)
    return fnp.where(flip, -x, x).astype(dtype)


def exponential(k, shape: Shape = (), dtype=None):
    """Exponential draws with rate 1 (``jax.random.exponential``): ``-log(1 - u)``."""
    dtype = float_dtype(dtype, "exponential")
    return -fnp.log1p(-unit_uniform(k, shape_tuple(shape, "exponential"), dtype, fn="exponential"))


def gumbel(k, shape: Shape = (), dtype=None):
    """Standard Gumbel draws (``jax.random.gumbel``): ``-log(-log(u))``, ``u`` in ``(0, 1)``."""
    dtype = float_dtype(dtype, "gumbel")
    u = unit_uniform(k, shape_tuple(shape, "gumbel"), dtype, open_=True, fn="gumbel")
    return -fnp.log(-fnp.log(u))


def laplace(k, shape: Shape = (), dtype=None):
    """Standard Laplace draws, density ``exp(-|x|) / 2`` (``jax.random.laplace``)."""
    dtype = float_dtype(dtype, "laplace")
    u = unit_uniform(k, shape_tuple(shape, "laplace"), dtype, open_=True, fn="laplace")
    v = dtype.type(2) * u - dtype.type(1)
    return -fnp.sign(v) * fnp.log1p(-fnp.abs(v))


def logistic(k, shape: Shape = (), dtype=None):
    """Standard logistic draws (``jax.random.logistic``): ``log(u / (1 - u))``."""
    dtype = float_dtype(dtype, "logistic")
    u = unit_uniform(k, shape_tuple(shape, "logistic"), dtype, open_=True, fn="logistic")
    return fnp.log(u) - fnp.log1p(-u)


def cauchy(k, shape: Shape = (), dtype=None):
    """Standard Cauchy draws (``jax.random.cauchy``): ``tan(pi (u - 1/2))``, ``u`` in ``(0, 1)``."""
    dtype = float_dtype(dtype, "cauchy")
    u = unit_uniform(k, shape_tuple(shape, "cauchy"), dtype, open_=True, fn="cauchy")
    return fnp.tan(dtype.type(math.pi) * (u - dtype.type(0.5)))


def rademacher(k, shape: Shape = (), dtype=np.int64):
    """-1 or +1 with probability 1/2 each (``jax.random.rademacher``)."""
    shape = shape_tuple(shape, "rademacher")
    sign_bit = bits(k, shape, _fn="rademacher") >> np.uint32(31)
    return (2 * sign_bit.astype(np.int64) - 1).astype(dtype)


def bernoulli(k, p=0.5, shape: Shape | None = None):
    """Booleans, true with probability ``p`` (``jax.random.bernoulli``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    p : float or array
        Probability of ``True``, broadcast to ``shape``.
    shape : tuple of ints, optional
        Default: ``p``'s shape.

    Returns
    -------
    numpy.ndarray of bool
    """
    shape = param_shape(shape, "bernoulli", p)
    # one 32-bit word per draw, compared exactly in float64: P(True) = ceil(p 2**32) / 2**32
    return bits(k, shape, _fn="bernoulli") < as_dtype(p, np.float64) * 2.0**32


def randint(k, shape: Shape, minval, maxval, dtype=np.int64):
    """Integers uniform on ``[minval, maxval)`` (``jax.random.randint``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    shape : int or tuple of ints
    minval, maxval : int or integer array (traced values allowed)
        Bounds, broadcast to ``shape``; where ``maxval <= minval`` the result is ``minval``.
    dtype : integer dtype
        Default int64 (NumPy's default integer; JAX's is int32).

    Returns
    -------
    numpy.ndarray

    Notes
    -----
    A 64-bit random word is reduced modulo the range size: the bias is below
    ``range / 2**64``, far below anything a test can see.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"fgrad.random.randint: dtype must be an integer dtype, got {dtype}")
    shape = param_shape(shape, "randint", minval, maxval)
    lo, hi = as_dtype(minval, np.int64), as_dtype(maxval, np.int64)
    span = fnp.maximum(hi - lo, 1).astype(np.uint64)
    offset = bits(k, shape, np.uint64, _fn="randint") % span
    return (lo + offset.astype(np.int64)).astype(dtype)


def categorical(k, logits, axis: int = -1, shape: Shape | None = None):
    """Indices drawn with probabilities ``softmax(logits)`` (``jax.random.categorical``).

    By the Gumbel-max trick: ``argmax(logits + gumbel)``.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    logits : array
        Unnormalised log-probabilities (``-inf`` excludes a category).
    axis : int
        The category axis.
    shape : tuple of ints, optional
        Output shape; it must end with the shape of ``logits`` without ``axis``
        (the batch shape), which is also the default.

    Returns
    -------
    numpy.ndarray of int64
    """
    logits = fnp.asarray(logits)
    if logits.ndim == 0:
        raise ValueError("fgrad.random.categorical: logits must have at least one dimension")
    axis = operator.index(axis) % logits.ndim
    logits = fnp.moveaxis(logits, axis, -1)
    batch = tuple(logits.shape[:-1])
    shape = batch if shape is None else shape_tuple(shape, "categorical")
    if shape[len(shape) - len(batch) :] != batch:
        raise ValueError(
            f"fgrad.random.categorical: shape {shape} must end with the batch shape {batch} "
            f"of logits {tuple(logits.shape)} without axis {axis}"
        )
    dtype = logits.dtype if logits.dtype.kind == "f" else np.dtype(np.float64)
    noise = gumbel(k, shape + (logits.shape[-1],), dtype)
    return fnp.argmax(logits + noise, axis=-1)


def _sort_keys(k, shape: tuple[int, ...], fn: str):
    # 64-bit words: ties (which would favour the earlier index) are negligible
    return bits(k, shape, np.uint64, _fn=fn)


def permutation(k, x, axis: int = 0, independent: bool = False):
    """A random permutation of ``arange(x)`` (``jax.random.permutation``).

    Permutes ``x`` along ``axis`` when ``x`` is an array.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    x : int or array
    axis : int
    independent : bool
        Permute each one-dimensional slice along ``axis`` independently, instead
        of applying one permutation to the whole array.

    Returns
    -------
    numpy.ndarray
    """
    check_key(k, "permutation")
    if isinstance(x, int | np.integer):
        n = operator.index(x)
        return fnp.argsort(_sort_keys(k, (n,), "permutation"), stable=True)
    x = fnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("fgrad.random.permutation: x must be an int or an array of ndim >= 1")
    axis = operator.index(axis) % x.ndim
    if independent:
        order = fnp.argsort(_sort_keys(k, tuple(x.shape), "permutation"), axis=axis, stable=True)
        return fnp.take_along_axis(x, order, axis=axis)
    order = fnp.argsort(_sort_keys(k, (x.shape[axis],), "permutation"), stable=True)
    return fnp.take(x, order, axis=axis)


def choice(k, a, shape: Shape = (), replace: bool = True, p=None, axis: int = 0):
    """Draws from ``arange(a)`` or from ``a`` along ``axis`` (``jax.random.choice``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    a : int or array
    shape : int or tuple of ints
    replace : bool
        With replacement (independent draws) or without (distinct entries:
        ``prod(shape) <= n``).
    p : array, optional
        Probabilities of the ``n`` entries (default uniform). Without
        replacement, drawn by the Gumbel top-k trick (successive draws, each
        proportional to ``p`` among those left).
    axis : int
        The axis of ``a`` to draw along.

    Returns
    -------
    numpy.ndarray
        ``a.shape[:axis] + shape + a.shape[axis + 1:]`` (``shape`` for an int ``a``).
    """
    shape = shape_tuple(shape, "choice")
    from_int = isinstance(a, int | np.integer)
    if not from_int:
        a = fnp.asarray(a)
        if a.ndim == 0:
            raise ValueError("fgrad.random.choice: a must be an int or an array of ndim >= 1")
        axis = operator.index(axis) % a.ndim
    n = operator.index(a) if from_int else a.shape[axis]
    count = math.prod(shape)
    if not replace and count > n:
        raise ValueError(
            f"fgrad.random.choice: cannot take {count} entries out of {n} without replacement; "
            "pass replace=True or a smaller shape"
        )
    if p is not None and np.shape(p) != (n,):
        raise ValueError(f"fgrad.random.choice: p must have shape ({n},), got {np.shape(p)}")
    if replace:
        if p is None:
            idx = randint(k, shape, 0, n)
        else:
            idx = categorical(k, fnp.log(as_dtype(p, np.float64)), shape=shape)
    else:
        if p is None:
            order = permutation(k, n)
        else:
            scores = fnp.log(as_dtype(p, np.float64)) + gumbel(k, (n,))
            order = fnp.argsort(-scores, stable=True)
        idx = fnp.reshape(order[:count], shape)
    return idx if from_int else fnp.take(a, idx, axis=axis)


def multivariate_normal(
    k, mean, cov, shape: Shape | None = None, dtype=None, method: str = "cholesky"
):
    """Multivariate normal draws (``jax.random.multivariate_normal``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    mean : array of shape (..., n)
    cov : array of shape (..., n, n)
        Symmetric positive (semi-)definite covariance.
    shape : tuple of ints, optional
        Batch shape of the draws; default the broadcast of ``mean.shape[:-1]``
        and ``cov.shape[:-2]``. The result has shape ``shape + (n,)``.
    dtype : floating dtype, optional
        Default float64.
    method : {'cholesky', 'eigh', 'svd'}
        How ``cov`` is factorised as ``L L^T``; ``eigh``/``svd`` accept singular ``cov``.

    Returns
    -------
    numpy.ndarray
        ``mean + L @ z`` with ``z`` standard normal: differentiable in ``mean`` and ``cov``.
    """
    dtype = float_dtype(dtype, "multivariate_normal")
    mean, cov = as_dtype(mean, dtype), as_dtype(cov, dtype)
    if mean.ndim < 1 or cov.ndim < 2 or cov.shape[-2:] != (mean.shape[-1],) * 2:
        raise ValueError(
            f"fgrad.random.multivariate_normal: mean must be (..., n) and cov (..., n, n), got "
            f"{tuple(mean.shape)} and {tuple(cov.shape)}"
        )
    if method == "cholesky":
        factor = fnp.linalg.cholesky(cov)
    elif method == "eigh":
        w, v = fnp.linalg.eigh(cov)
        factor = v * fnp.sqrt(fnp.maximum(w, 0))[..., None, :]
    elif method == "svd":
        u, s, _ = fnp.linalg.svd(cov)
        factor = u * fnp.sqrt(s)[..., None, :]
    else:
        raise ValueError(
            "fgrad.random.multivariate_normal: method must be 'cholesky', 'eigh' or 'svd', "
            f"got {method!r}"
        )
    if shape is None:
        shape = np.broadcast_shapes(tuple(mean.shape[:-1]), tuple(cov.shape[:-2]))
    shape = shape_tuple(shape, "multivariate_normal")
    z = normal(k, shape + (mean.shape[-1],), dtype)
    return mean + fnp.einsum("...ij,...j->...i", factor, z)
