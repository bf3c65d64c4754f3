"""Neural-network layers as JAX's ``jax.example_libraries.stax`` defines them.

A layer is a pair ``(init_fun, apply_fun)``: ``init_fun(rng, input_shape)`` returns
``(output_shape, params)`` (a leading ``-1`` in a shape stands for any batch size), and
``apply_fun(params, inputs, **kwargs)`` the layer's output (``rng=key`` for
:func:`Dropout`). :func:`serial` and :func:`parallel` combine layers into layers.
Convolutions and pooling run on :func:`fgrad.lax.conv_general_dilated` and
:func:`fgrad.lax.reduce_window`; initialisers come from :mod:`fgrad.nn.initializers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad import lax, nn, random
from fgrad.nn.initializers import glorot_normal, normal, ones, zeros
from fgrad.transforms.eval_shape import ShapeDtypeStruct, eval_shape

Layer = tuple[Callable, Callable]


# ---------------------------------------------------------------- dense and convolution


def Dense(out_dim: int, W_init: Callable = glorot_normal(), b_init: Callable = normal()) -> Layer:  # noqa: B008
    """A fully connected layer: ``inputs @ W + b``."""

    def init_fun(rng, input_shape):
        k1, k2 = random.split(rng)
        W, b = W_init(k1, (input_shape[-1], out_dim)), b_init(k2, (out_dim,))
        return tuple(input_shape[:-1]) + (out_dim,), (W, b)

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        return fnp.dot(inputs, W) + b

    return init_fun, apply_fun


def _batch_free(shape: Sequence[int], batch_axis: int) -> tuple[tuple[int, ...], bool]:
    """``shape`` with a ``-1`` batch size replaced by 1, and whether it was there."""
    shape = tuple(int(n) for n in shape)
    if shape[batch_axis] == -1:
        return shape[:batch_axis] + (1,) + shape[batch_axis + 1 :], True
    return shape, False


def GeneralConv(
    dimension_numbers: tuple[str, str, str],
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
    W_init: Callable | None = None,
    b_init: Callable = normal(1e-6),  # noqa: B008
) -> Layer:
    """A convolution with the layouts ``dimension_numbers`` (``lhs, rhs, out`` strings)."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    one = (1,) * len(filter_shape)
    strides = tuple(strides or one)
    W_init = W_init or glorot_normal(rhs_spec.index("I"), rhs_spec.index("O"))

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        out = lax.conv_general_dilated(
            inputs, W, strides, padding, one, one, dimension_numbers=dimension_numbers
        )
        return out + b

    def init_fun(rng, input_shape):
        filter_it = iter(filter_shape)
        kernel_shape = tuple(
            out_chan if c == "O" else input_shape[lhs_spec.index("C")] if c == "I"
            else next(filter_it)
            for c in rhs_spec
        )
        bias_shape = tuple(out_chan if c == "C" else 1 for c in out_spec)
        k1, k2 = random.split(rng)
        W, b = W_init(k1, kernel_shape), b_init(k2, bias_shape)
        concrete, batched = _batch_free(input_shape, lhs_spec.index("N"))
        out = eval_shape(apply_fun, (W, b), ShapeDtypeStruct(concrete, np.float64)).shape
        if batched:
            n = out_spec.index("N")
            out = out[:n] + (-1,) + out[n + 1 :]
        return out, (W, b)

    return init_fun, apply_fun


Conv = functools.partial(GeneralConv, ("NHWC", "HWIO", "NHWC"))


def BatchNorm(
    axis: int | Sequence[int] = (0, 1, 2),
    epsilon: float = 1e-5,
    center: bool = True,
    scale: bool = True,
    beta_init: Callable = zeros,
    gamma_init: Callable = ones,
) -> Layer:
    """Normalise over ``axis`` with the batch's statistics, then scale and shift."""
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)

    def init_fun(rng, input_shape):
        kept = tuple(d for i, d in enumerate(input_shape) if i not in axes)
        k1, k2 = random.split(rng)
        beta = beta_init(k1, kept) if center else ()
        gamma = gamma_init(k2, kept) if scale else ()
        return tuple(input_shape), (beta, gamma)

    def apply_fun(params, x, **kwargs):
        beta, gamma = params
        ed = tuple(None if i in axes else slice(None) for i in range(np.ndim(x)))
        mean = fnp.mean(x, axis=axes, keepdims=True)
        var = fnp.var(x, axis=axes, keepdims=True)
        z = (x - mean) / fnp.sqrt(var + epsilon)
        if scale:
            z = z * gamma[ed]
        if center:
            z = z + beta[ed]
        return z

    return init_fun, apply_fun


# ---------------------------------------------------------------- elementwise layers


def elementwise(fun: Callable, **fun_kwargs: Any) -> Layer:
    """A layer applying ``fun(inputs, **fun_kwargs)``; it has no parameters."""

    def init_fun(rng, input_shape):
        return tuple(input_shape), ()

    def apply_fun(params, inputs, **kwargs):
        return fun(inputs, **fun_kwargs)

    return init_fun, apply_fun


def _elu(x, alpha=1.0):
    return fnp.where(x > 0, x, alpha * fnp.expm1(fnp.minimum(x, 0)))


def _leaky_relu(x, negative_slope=0.01):
    return fnp.where(x >= 0, x, negative_slope * x)


def _selu(x):
    return 1.0507009873554805 * _elu(x, 1.6732632423543772)


Tanh = elementwise(fnp.tanh)
Relu = elementwise(nn.relu)
Exp = elementwise(fnp.exp)
LogSoftmax = elementwise(nn.log_softmax, axis=-1)
Softmax = elementwise(nn.softmax, axis=-1)
Softplus = elementwise(nn.softplus)
Sigmoid = elementwise(nn.sigmoid)
Elu = elementwise(_elu)
LeakyRelu = elementwise(_leaky_relu)
Selu = elementwise(_selu)
Gelu = elementwise(nn.gelu)


# ---------------------------------------------------------------- pooling and reshaping


def _pooling_layer(reducer: str, init_val: float, rescale: bool) -> Callable[..., Layer]:
    def PoolingLayer(
        window_shape: Sequence[int],
        strides: Sequence[int] | None = None,
        padding: str = "VALID",
        spec: str | None = None,
    ) -> Layer:
        strides = tuple(strides or (1,) * len(window_shape))
        if spec is None:  # NHWC-like: the window covers the axes between batch and channels
            non_spatial = (0, len(window_shape) + 1)
        else:
            non_spatial = (spec.index("N"), spec.index("C"))
        batch_axis = non_spatial[0]

        def full(window: Sequence[int]) -> tuple[int, ...]:
            it = iter(window)
            return tuple(1 if i in non_spatial else next(it) for i in range(len(window) + 2))

        dims, steps = full(window_shape), full(strides)

        def apply_fun(params, inputs, **kwargs):
            out = lax.reduce_window(inputs, init_val, reducer, dims, steps, padding)
            if not rescale:
                return out
            ones_in = fnp.ones(inputs.shape, dtype=inputs.dtype)
            return out / lax.reduce_window(ones_in, 0.0, "sum", dims, steps, padding)

        def init_fun(rng, input_shape):
            concrete, batched = _batch_free(input_shape, batch_axis)
            out = eval_shape(apply_fun, (), ShapeDtypeStruct(concrete, np.float64)).shape
            if batched:
                out = out[:batch_axis] + (-1,) + out[batch_axis + 1 :]
            return out, ()

        return init_fun, apply_fun

    return PoolingLayer


MaxPool = _pooling_layer("max", -np.inf, False)
SumPool = _pooling_layer("sum", 0.0, False)
AvgPool = _pooling_layer("sum", 0.0, True)


def _flatten_init(rng, input_shape):
    return (input_shape[0], int(np.prod(input_shape[1:], dtype=np.int64))), ()


def _flatten_apply(params, inputs, **kwargs):
    return fnp.reshape(inputs, (inputs.shape[0], -1))


Flatten = (_flatten_init, _flatten_apply)


def _identity_init(rng, input_shape):
    return input_shape, ()


def _identity_apply(params, inputs, **kwargs):
    return inputs


Identity = (_identity_init, _identity_apply)


def FanOut(num: int) -> Layer:
    """A layer passing its input on ``num`` times (a list), for :func:`parallel`."""

    def init_fun(rng, input_shape):
        return [input_shape] * num, ()

    def apply_fun(params, inputs, **kwargs):
        return [inputs] * num

    return init_fun, apply_fun


def _fan_in_sum_init(rng, input_shape):
    return input_shape[0], ()


def _fan_in_sum_apply(params, inputs, **kwargs):
    return sum(inputs[1:], inputs[0])


FanInSum = (_fan_in_sum_init, _fan_in_sum_apply)


def FanInConcat(axis: int = -1) -> Layer:
    """A layer concatenating its list of inputs along ``axis``."""

    def init_fun(rng, input_shape):
        ax = axis % len(input_shape[0])
        size = sum(shape[ax] for shape in input_shape)
        return tuple(input_shape[0][:ax]) + (size,) + tuple(input_shape[0][ax + 1 :]), ()

    def apply_fun(params, inputs, **kwargs):
        return fnp.concatenate(inputs, axis)

    return init_fun, apply_fun


def Dropout(rate: float, mode: str = "train") -> Layer:
    """Keep each input with probability ``rate`` (JAX's stax: the rate *kept*), scaled by
    ``1 / rate``, in ``mode='train'``; the identity otherwise. ``apply_fun`` needs
    ``rng=key`` in training mode."""

    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        if mode != "train":
            return inputs
        rng = kwargs.get("rng")
        if rng is None:
            raise ValueError(
                "Dropout in mode='train' needs a key: call apply_fun(params, inputs, "
                "rng=key) (serial passes each layer its own split of it)"
            )
        keep = random.bernoulli(rng, rate, inputs.shape)
        return fnp.where(keep, inputs / rate, 0)

    return init_fun, apply_fun


# ---------------------------------------------------------------- combinators


def serial(*layers: Layer) -> Layer:
    """The layers one after the other; ``rng`` is split between them."""
    init_funs, apply_funs = zip(*layers) if layers else ((), ())

    def init_fun(rng, input_shape):
        params = []
        for init in init_funs:
            rng, layer_rng = random.split(rng)
            input_shape, param = init(layer_rng, input_shape)
            params.append(param)
        return input_shape, params

    def apply_fun(params, inputs, **kwargs):
        rng = kwargs.pop("rng", None)
        rngs = random.split(rng, len(apply_funs)) if rng is not None else (None,) * len(params)
        for fun, param, r in zip(apply_funs, params, rngs):
            inputs = fun(param, inputs, rng=r, **kwargs)
        return inputs

    return init_fun, apply_fun


def parallel(*layers: Layer) -> Layer:
    """The layers side by side: the ``k``-th applies to the ``k``-th of a list of inputs
    (with :func:`FanOut` before, :func:`FanInSum` or :func:`FanInConcat` after)."""
    init_funs, apply_funs = zip(*layers) if layers else ((), ())

    def init_fun(rng, input_shape):
        rngs = random.split(rng, len(init_funs))
        shapes, params = [], []
        for init, r, shape in zip(init_funs, rngs, input_shape):
            out_shape, param = init(r, shape)
            shapes.append(out_shape)
            params.append(param)
        return tuple(shapes), tuple(params)

    def apply_fun(params, inputs, **kwargs):
        rng = kwargs.pop("rng", None)
        rngs = random.split(rng, len(apply_funs)) if rng is not None else (None,) * len(params)
        return [f(p, x, rng=r, **kwargs) for f, p, x, r in zip(apply_funs, params, inputs, rngs)]

    return init_fun, apply_fun


def shape_dependent(make_layer: Callable[[Any], Layer]) -> Layer:
    """A layer built by ``make_layer(input_shape)`` once the input shape is known."""

    def init_fun(rng, input_shape):
        return make_layer(input_shape)[0](rng, input_shape)

    def apply_fun(params, inputs, **kwargs):
        return make_layer(inputs.shape)[1](params, inputs, **kwargs)

    return init_fun, apply_fun


__all__ = [
    "AvgPool",
    "BatchNorm",
    "Conv",
    "Dense",
    "Dropout",
    "Elu",
    "Exp",
    "FanInConcat",
    "FanInSum",
    "FanOut",
    "Flatten",
    "Gelu",
    "GeneralConv",
    "Identity",
    "LeakyRelu",
    "LogSoftmax",
    "MaxPool",
    "Relu",
    "Selu",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "SumPool",
    "Tanh",
    "elementwise",
    "parallel",
    "serial",
    "shape_dependent",
]
