"""Keys and random bits: the threefry-2x32 counter-based generator in ``fgrad.numpy`` ops.

A key is a ``uint32`` array of shape ``(2,)`` (JAX's raw keys). Every random
word is ``threefry2x32(key, counter)``, a 20-round hash of a 64-bit counter under
a 64-bit key (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
2011), so a draw is a pure function of the key. The hash is written with
``+``, ``^``, ``<<``, ``>>`` on ``uint32`` arrays, which wrap modulo 2**32 as
in NumPy: it traces under ``jit`` and batches under ``vmap`` like any other
code, with no rule of its own. The second counter word separates the uses of a
key, so that the words of a draw, the keys of ``split`` and the keys of
``fold_in`` never coincide: ``0`` for random bits, ``1`` for ``split``, ``2``
for ``fold_in``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.tracer import Tracer

__all__ = ["PRNGKey", "bits", "fold_in", "key", "key_data", "split", "wrap_key_data"]

_U32 = np.uint32
_MASK = 0xFFFFFFFF
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = _U32(0x1BD11BDA)
_BITS, _SPLIT, _FOLD = _U32(0), _U32(1), _U32(2)

Shape = int | tuple[int, ...]


def _rotl(x, d: int):
    return (x << _U32(d)) | (x >> _U32(32 - d))


def threefry2x32(k0, k1, x0, x1):
    """The threefry-2x32 hash (20 rounds) of counter words ``(x0, x1)`` under key ``(k0, k1)``.

    All four are ``uint32`` arrays (or tracers) that broadcast together; returns
    the two hashed words. Checked against the known-answer vectors of the
    Random123 reference in ``tests/test_random.py``.
    """
    keys = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + k0, x1 + k1
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + keys[(i + 1) % 3]
        x1 = x1 + keys[(i + 2) % 3] + _U32(i + 1)
    return x0, x1


def check_key(k: Any, fn: str) -> Any:
    """``k`` itself if it is a key (``uint32[2]``), else a TypeError naming ``fn``.

    Parameters
    ----------
    k : array
        What the caller was given as its key (a tracer is fine).
    fn : str
        The ``fgrad.random`` function to name in the error.

    Returns
    -------
    array
        ``k``, unchanged.
    """
    dtype = getattr(k, "dtype", None)
    shape = getattr(k, "shape", None)
    if dtype != np.uint32 or shape != (2,):
        got = f"{type(k).__name__}" if shape is None else f"an array of shape {shape}, {dtype}"
        hint = (
            " (a batch of keys: map over it with fgrad.vmap)"
            if dtype == np.uint32 and shape and shape[-1] == 2
            else ""
        )
        raise TypeError(
            f"fgrad.random.{fn}: key must be a uint32 array of shape (2,), got {got}{hint}; "
            "make one with fgrad.random.key(seed) and new ones with split or fold_in"
        )
    return k


def key(seed) -> np.ndarray:
    """A key from an integer seed (``jax.random.key``/``PRNGKey``): ``uint32[2]``.

    Parameters
    ----------
    seed : int or integer scalar array (traced values allowed)
        Seeds below ``2**64`` give distinct keys: the high 32 bits go to the first
        word, the low 32 bits to the second.

    Returns
    -------
    numpy.ndarray
        ``uint32`` array of shape ``(2,)`` (a traced one for a traced seed). Unlike
        JAX's ``key``, which returns a typed key array, both names return raw keys.

    Examples
    --------
    >>> k = fgrad.random.key(0)
    >>> k1, k2 = fgrad.random.split(k)
    """
    if isinstance(seed, Tracer) or (isinstance(seed, np.ndarray) and seed.ndim == 0):
        if not np.issubdtype(seed.dtype, np.integer):
            raise TypeError(f"fgrad.random.key: seed must be an integer, got dtype {seed.dtype}")
        if seed.shape != ():
            raise TypeError(f"fgrad.random.key: seed must be a scalar, got shape {seed.shape}")
        wide = seed.astype(np.int64).astype(np.uint64)
        hi = (wide >> np.uint64(32)).astype(_U32)
        return fnp.stack([hi, wide.astype(_U32)])
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(
            f"fgrad.random.key: seed must be an integer, got {type(seed).__name__}"
        ) from None
    seed &= (1 << 64) - 1  # negative seeds wrap, as NumPy's uint64 conversion does
    return np.array([seed >> 32, seed & _MASK], dtype=_U32)


PRNGKey = key


def key_data(k) -> np.ndarray:
    """The raw ``uint32[2]`` words of a key (``jax.random.key_data``): the key itself here."""
    return check_key(k, "key_data")


def wrap_key_data(data) -> np.ndarray:
    """A key from raw ``uint32[2]`` words (``jax.random.wrap_key_data``): checked, unchanged."""
    return check_key(data, "wrap_key_data")


def _counters(k, n: int, domain):
    """``n`` words ``threefry(key, (i, domain))``: both hash outputs of ``ceil(n/2)`` counters."""
    half = (n + 1) // 2
    y0, y1 = threefry2x32(k[0], k[1], fnp.arange(half, dtype=_U32, like=k), domain)
    return fnp.concatenate([y0, y1])[:n]


def split(k, num: int | tuple[int, ...] = 2) -> np.ndarray:
    """``num`` new independent keys from ``k`` (``jax.random.split``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    num : int or tuple of ints
        How many keys, or the shape of the array of keys.

    Returns
    -------
    numpy.ndarray
        ``uint32`` array of shape ``(num, 2)`` (``num + (2,)`` for a tuple); unpack
        it (``k1, k2 = split(k)``) or index it. Never use ``k`` itself again once split.
    """
    k = check_key(k, "split")
    shape = shape_tuple(num, "split")
    y0, y1 = threefry2x32(k[0], k[1], fnp.arange(math.prod(shape), dtype=_U32, like=k), _SPLIT)
    return fnp.reshape(fnp.stack([y0, y1], axis=-1), shape + (2,))


def fold_in(k, data) -> np.ndarray:
    """A new key from ``k`` and an integer (``jax.random.fold_in``), e.g. a step number.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    data : int or integer scalar array (traced values allowed)
        Only its low 32 bits are used, as in JAX.

    Returns
    -------
    numpy.ndarray
        A ``uint32`` key of shape ``(2,)``, distinct for each ``data`` and from
        the keys :func:`split` makes.
    """
    k = check_key(k, "fold_in")
    if isinstance(data, Tracer | np.ndarray | np.generic):
        if not np.issubdtype(data.dtype, np.integer) or data.shape != ():
            raise TypeError(
                f"fgrad.random.fold_in: data must be an integer scalar, got {data.dtype} "
                f"of shape {data.shape}"
            )
    if isinstance(data, Tracer):
        word = fnp.reshape(data.astype(np.int64).astype(np.uint64).astype(_U32), (1,))
    else:  # a host number: the word is made on the key's device
        word = fnp.full((1,), operator.index(data) & _MASK, _U32, like=k)
    # a (1,)-array, not a scalar: NumPy warns on the wrap-around of scalar arithmetic
    y0, y1 = threefry2x32(k[0], k[1], word, _FOLD)
    return fnp.concatenate([y0, y1])


def shape_tuple(shape: Shape, fn: str, module: str = "fgrad.random") -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints, or an error naming ``module.fn``."""
    dims = (shape,) if not isinstance(shape, (tuple, list)) else tuple(shape)
    if any(isinstance(d, Tracer) for d in dims):
        raise TypeError(
            f"{module}.{fn}: shape must be concrete, got the traced {shape!r}; under jit "
            "mark the argument that holds it static (jit(f, static_argnums=...))"
        )
    try:
        dims = tuple(operator.index(d) for d in dims)
    except TypeError:
        raise TypeError(
            f"{module}.{fn}: shape must be an int or a tuple of ints, got {shape!r}"
        ) from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{module}.{fn}: negative dimension in shape {dims}")
    return dims


def bits(k, shape: Shape = (), dtype=np.uint32, *, _fn: str = "bits"):
    """Uniformly random unsigned integers (``jax.random.bits``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    shape : int or tuple of ints
    dtype : numpy.uint32 or numpy.uint64

    Returns
    -------
    numpy.ndarray
        ``shape`` words of ``dtype``; a ``uint64`` word is two ``uint32`` words.
    """
    k = check_key(k, _fn)
    shape = shape_tuple(shape, _fn)
    dtype = np.dtype(dtype)
    if dtype not in (np.uint32, np.uint64):
        raise TypeError(f"fgrad.random.{_fn}: dtype must be uint32 or uint64, got {dtype}")
    n = math.prod(shape)
    if dtype == np.uint32:
        return fnp.reshape(_counters(k, n, _BITS), shape)
    words = _counters(k, 2 * n, _BITS).astype(np.uint64)
    return fnp.reshape((words[:n] << np.uint64(32)) | words[n:], shape)
