"""Image resampling as ``jax.image``: separable kernels, one contraction per resized axis.

Along each resized axis, output sample ``j`` sits at input coordinate
``(j + 0.5 - translation) / scale - 0.5``. Its value is the input weighted by a
kernel (triangle for linear, Keys' cubic with ``a = -0.5``, Lanczos with 3 or 5
lobes) of the distance to each input pixel; the weights of a sample are normalised
to sum to one, and samples outside the input get none. When downsampling with
``antialias`` the kernel is widened by ``1 / scale``, so that it averages over every
input pixel the output pixel covers. Each axis is then one ``tensordot`` with that
``(in, out)`` weight matrix, so gradients flow to the image (and, in
``scale_and_translate``, to a traced scale or translation). ``nearest`` picks the
input pixel ``floor((j + 0.5) * in / out)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

import numpy as np

import fgrad.numpy as fnp


class ResizeMethod(enum.Enum):
    """The resampling kernels, by ``jax.image.ResizeMethod``'s names."""

    NEAREST = 0
    LINEAR = 1
    LANCZOS3 = 2
    LANCZOS5 = 3
    CUBIC = 4

    @staticmethod
    def from_string(name: str) -> ResizeMethod:
        """The method named ``name`` (``"bilinear"``, ``"cubic"``, ``"lanczos3"``, ...)."""
        aliases = {
            "nearest": ResizeMethod.NEAREST,
            "linear": ResizeMethod.LINEAR,
            "bilinear": ResizeMethod.LINEAR,
            "trilinear": ResizeMethod.LINEAR,
            "triangle": ResizeMethod.LINEAR,
            "lanczos3": ResizeMethod.LANCZOS3,
            "lanczos5": ResizeMethod.LANCZOS5,
            "cubic": ResizeMethod.CUBIC,
            "bicubic": ResizeMethod.CUBIC,
            "tricubic": ResizeMethod.CUBIC,
        }
        try:
            return aliases[name.lower()]
        except KeyError:
            raise ValueError(
                f"unknown resize method {name!r}; choose from {sorted(aliases)}"
            ) from None


def _method(method: str | ResizeMethod) -> ResizeMethod:
    return method if isinstance(method, ResizeMethod) else ResizeMethod.from_string(method)


def _triangle(x):
    return fnp.maximum(0.0, 1.0 - fnp.abs(x))


def _keys_cubic(x):
    x = fnp.abs(x)
    near = ((1.5 * x - 2.5) * x) * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return fnp.where(x >= 2.0, 0.0, fnp.where(x >= 1.0, far, near))


def _lanczos(radius: int) -> Callable:
    def kernel(x):
        x = fnp.abs(x)
        safe = fnp.where(x > 1e-3, x, 1.0)
        y = radius * fnp.sin(np.pi * safe) * fnp.sin(np.pi * safe / radius) / (np.pi**2 * safe**2)
        return fnp.where(x > radius, 0.0, fnp.where(x > 1e-3, y, 1.0))

    return kernel


_KERNELS = {
    ResizeMethod.LINEAR: _triangle,
    ResizeMethod.CUBIC: _keys_cubic,
    ResizeMethod.LANCZOS3: _lanczos(3),
    ResizeMethod.LANCZOS5: _lanczos(5),
}


def _weights(n_in: int, n_out: int, scale, translation, kernel: Callable, antialias: bool,
             dtype):
    """The ``(n_in, n_out)`` matrix of one axis (see the module docstring)."""
    scale = fnp.asarray(scale, dtype)
    inv_scale = 1.0 / scale
    sample = (np.arange(n_out, dtype=dtype) + 0.5 - translation) * inv_scale - 0.5
    width = fnp.maximum(inv_scale, 1.0) if antialias else fnp.ones((), dtype)
    distance = (sample[None, :] - np.arange(n_in, dtype=dtype)[:, None]) / width
    w = kernel(distance)
    total = fnp.sum(w, axis=0, keepdims=True)
    tiny = 1000 * np.finfo(dtype).eps
    usable = fnp.abs(total) > tiny
    w = fnp.where(usable, w / fnp.where(usable, total, 1.0), 0.0)
    inside = (sample >= -0.5) & (sample <= n_in - 0.5)
    return fnp.where(inside[None, :], w, 0.0).astype(dtype)


def _compute_dtype(x) -> np.dtype:
    """The dtype kernels compute in and return: the image's if it is inexact, else float32."""
    return x.dtype if np.issubdtype(x.dtype, np.inexact) else np.dtype(np.float32)


def _contract(x, axis: int, w):
    return fnp.moveaxis(fnp.tensordot(x, w, axes=([axis], [0])), -1, axis)


def _nearest(x, shape: tuple[int, ...]):
    for axis, (n_in, n_out) in enumerate(zip(x.shape, shape)):
        if n_in != n_out:
            index = (2 * np.arange(n_out) + 1) * n_in // (2 * n_out)
            x = fnp.take(x, index, axis=axis)
    return x


def resize(
    image,
    shape: Sequence[int],
    method: str | ResizeMethod,
    antialias: bool = True,
    precision=None,
):
    """Resample ``image`` to ``shape`` (every axis may change), as ``jax.image.resize``.

    Parameters
    ----------
    image
        An array of any rank (``[H, W, C]``, ``[N, H, W, C]``, ...).
    shape
        The output shape, one entry per axis of ``image``.
    method
        ``"nearest"``, ``"linear"`` (``"bilinear"``, ``"trilinear"``), ``"cubic"``
        (``"bicubic"``), ``"lanczos3"``, ``"lanczos5"``, or a :class:`ResizeMethod`.
    antialias
        When downsampling with a kernel method, widen the kernel to average over each
        output pixel's footprint (JAX's default).
    precision
        Accepted for JAX's signature; ignored.

    Returns
    -------
    array
        Shape ``shape``; ``image``'s dtype if it is a float one (``nearest`` keeps any
        dtype), else float32, as in JAX; differentiable in ``image``.
    """
    x = fnp.asarray(image)
    shape = tuple(int(n) for n in shape)
    if len(shape) != x.ndim:
        raise ValueError(
            f"resize: shape {shape} must have one entry per axis of the image {x.shape}"
        )
    method = _method(method)
    if method is ResizeMethod.NEAREST:
        return _nearest(x, shape)
    dtype = _compute_dtype(x)
    out = x.astype(dtype)
    for axis, (n_in, n_out) in enumerate(zip(x.shape, shape)):
        if n_in != n_out:
            w = _weights(n_in, n_out, n_out / n_in, 0.0, _KERNELS[method], antialias, dtype)
            out = _contract(out, axis, w)
    return out


def scale_and_translate(
    image,
    shape: Sequence[int],
    spatial_dims: Sequence[int],
    scale,
    translation,
    method: str | ResizeMethod,
    antialias: bool = True,
    precision=None,
):
    """Resample ``image`` with a scale and a translation per spatial axis.

    Output pixel ``j`` of spatial axis ``d`` samples the input at
    ``(j + 0.5 - translation[d]) / scale[d] - 0.5``, as ``jax.image.scale_and_translate``.

    Parameters
    ----------
    image
        An array.
    shape
        The output shape (full, one entry per axis of ``image``).
    spatial_dims
        The axes that are resampled; the others must keep their size.
    scale, translation
        One value per spatial axis (arrays, possibly traced: both are differentiable).
    method
        A kernel method (not ``"nearest"``), as in :func:`resize`.
    antialias
        Widen the kernel when downsampling (``scale < 1``).
    precision
        Accepted for JAX's signature; ignored.

    Returns
    -------
    array
    """
    x = fnp.asarray(image)
    shape = tuple(int(n) for n in shape)
    method = _method(method)
    if method is ResizeMethod.NEAREST:
        raise ValueError(
            "scale_and_translate: the nearest method is not supported (as in JAX); use a "
            "kernel method or resize(..., 'nearest')"
        )
    spatial = [d % x.ndim for d in spatial_dims]
    for axis in range(x.ndim):
        if axis not in spatial and shape[axis] != x.shape[axis]:
            raise ValueError(
                f"scale_and_translate: axis {axis} is not spatial, so it must keep its size "
                f"{x.shape[axis]}, got {shape[axis]}"
            )
    dtype = _compute_dtype(x)
    scale, translation = fnp.asarray(scale, dtype), fnp.asarray(translation, dtype)
    out = x.astype(dtype)
    for i, axis in enumerate(spatial):
        w = _weights(x.shape[axis], shape[axis], scale[i], translation[i],
                     _KERNELS[method], antialias, dtype)
        out = _contract(out, axis, w)
    return out


__all__ = ["ResizeMethod", "resize", "scale_and_translate"]
