"""The transform combinations a fuzzed program is run under.

Each combination is a function ``combo(B, f, d)`` of a backend ``B`` (see
:mod:`fuzz.backends`), a program ``f(x, y)`` built for that backend and the
:class:`Data` it runs on; it returns a pytree of arrays. The same combination
run on fgrad, on JAX and on finite differences gives three answers to compare.
Scalar-valued versions of ``f`` (for ``grad`` and ``hessian``) contract its
output with fixed random weights, so no derivative cancels by symmetry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Data:
    """Inputs of one program: primals, a batch of two, tangents, a cotangent, weights."""

    x: np.ndarray
    y: np.ndarray
    xb: np.ndarray  # x stacked with a second draw, for vmap over axis 0
    yb: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    txb: np.ndarray
    ct: np.ndarray  # cotangent of f's output
    w: np.ndarray  # weights of the output, shape of f's output
    wx: np.ndarray  # weights of a gradient with respect to x

    @classmethod
    def draw(cls, x: np.ndarray, y: np.ndarray, out_shape: tuple, seed: int) -> Data:
        rng = np.random.default_rng(seed + 7919)

        def n(shape):
            return rng.normal(size=shape).astype(x.dtype)

        return cls(
            x=x,
            y=y,
            xb=np.stack([x, n(x.shape)]),
            yb=np.stack([y, n(y.shape)]),
            tx=n(x.shape),
            ty=n(y.shape),
            txb=n((2,) + x.shape),
            ct=n(out_shape),
            w=n(out_shape),
            wx=n(x.shape),
        )

    def on(self, B) -> Data:
        return Data(*[B.asarray(v) for v in dataclasses.astuple(self)])


def _scalar(B, f, d):
    return lambda x, y: B.np.sum(f(x, y) * d.w)


def eager(B, f, d):
    return f(d.x, d.y)


def jit(B, f, d):
    return B.jit(f)(d.x, d.y)


def jit_static(B, f, d):
    """A static float argument, called with two values (two cache entries)."""
    g = B.jit(lambda x, y, c: f(x, y) * c, static_argnums=2)
    return g(d.x, d.y, 2.5), g(d.x, d.y, -1.0)


def jit_scalar(B, f, d):
    """A Python float argument: weakly typed, passed as a scalar to the compiled replay."""
    return B.jit(lambda x, y, c: f(x, y) * c + c)(d.x, d.y, 0.5)


def jit_twice(B, f, d):
    """The compiled program replayed on new values of the same signature."""
    g = B.jit(f)
    first = g(d.x, d.y)
    return first, g(d.xb[1], d.yb[1])


def vmap(B, f, d):
    return B.vmap(f, in_axes=(0, None))(d.xb, d.y)


def vmap_both(B, f, d):
    return B.vmap(f, in_axes=(0, 0))(d.xb, d.yb)


def vmap_last_axis(B, f, d):
    """Batch axis last on the way in and in the middle of the output."""
    xb = B.np.moveaxis(d.xb, 0, -1)
    out = B.vmap(f, in_axes=(-1, None), out_axes=-1)(xb, d.y)
    return B.np.moveaxis(out, -1, 0)


def vmap_jit(B, f, d):
    return B.vmap(B.jit(f), in_axes=(0, None))(d.xb, d.y)


def grad(B, f, d):
    return B.grad(_scalar(B, f, d), argnums=(0, 1))(d.x, d.y)


def jit_grad(B, f, d):
    return B.jit(B.grad(_scalar(B, f, d), argnums=(0, 1)))(d.x, d.y)


def grad_jit(B, f, d):
    return B.grad(B.jit(_scalar(B, f, d)), argnums=(0, 1))(d.x, d.y)


def vmap_grad(B, f, d):
    return B.vmap(B.grad(_scalar(B, f, d), argnums=(0, 1)), in_axes=(0, None))(d.xb, d.y)


def grad_vmap(B, f, d):
    s = _scalar(B, f, d)

    def total(xb, y):
        return B.np.sum(B.vmap(s, in_axes=(0, None))(xb, y))

    return B.grad(total, argnums=(0, 1))(d.xb, d.y)


def jit_vmap_grad(B, f, d):
    g = B.grad(_scalar(B, f, d), argnums=(0, 1))
    return B.jit(B.vmap(g, in_axes=(0, None)))(d.xb, d.y)


def jvp(B, f, d):
    return B.jvp(f, (d.x, d.y), (d.tx, d.ty))


def jit_jvp(B, f, d):
    return B.jit(lambda x, y, tx, ty: B.jvp(f, (x, y), (tx, ty)))(d.x, d.y, d.tx, d.ty)


def jvp_jit(B, f, d):
    return B.jvp(B.jit(f), (d.x, d.y), (d.tx, d.ty))


def vmap_jvp(B, f, d):
    def tangent(x, tx):
        return B.jvp(f, (x, d.y), (tx, d.ty))[1]

    return B.vmap(tangent, in_axes=(0, 0))(d.xb, d.txb)


def vjp(B, f, d):
    out, pullback = B.vjp(f, d.x, d.y)
    return out, pullback(d.ct)


def jit_vjp(B, f, d):
    return B.jit(lambda x, y, ct: B.vjp(f, x, y)[1](ct))(d.x, d.y, d.ct)


def linearize(B, f, d):
    out, f_jvp = B.linearize(f, d.x, d.y)
    return out, f_jvp(d.tx, d.ty)


def jacfwd(B, f, d):
    return B.jacfwd(f, argnums=(0, 1))(d.x, d.y)


def jacrev(B, f, d):
    return B.jacrev(f, argnums=(0, 1))(d.x, d.y)


def jacrev_jit(B, f, d):
    return B.jacrev(B.jit(f), argnums=(0, 1))(d.x, d.y)


def jit_value_and_grad(B, f, d):
    return B.jit(B.value_and_grad(_scalar(B, f, d), argnums=(0, 1)))(d.x, d.y)


def hessian(B, f, d):
    return B.hessian(_scalar(B, f, d))(d.x, d.y)


def grad_grad(B, f, d):
    g = B.grad(_scalar(B, f, d))

    def inner(x, y):
        return B.np.sum(g(x, y) * d.wx)

    return B.grad(inner, argnums=(0, 1))(d.x, d.y)


def jit_fused(B, f, d):
    """fgrad's fused tier (numba kernels), called twice: the second call replays them."""
    g = B.jit_fused(f)
    return g(d.x, d.y), g(d.xb[1], d.yb[1])


def jit_fused_grad(B, f, d):
    return B.jit_fused(B.value_and_grad(_scalar(B, f, d), argnums=(0, 1)))(d.x, d.y)


def jit_fused_vmap(B, f, d):
    return B.jit_fused(B.vmap(f, in_axes=(0, None)))(d.xb, d.y)


def jit_fused_scalar(B, f, d):
    """Python numbers given to the fused tier: Python's arithmetic on them stays weak."""
    g = B.jit_fused(lambda x, y, c, k: f(x * (c * c - k + 2.75), y) * (1 - c) + k * c)
    return g(d.x, d.y, 0.5, 2)


def jit_python_numbers(B, f, d):
    """Python numbers (a float, an int, a bool) as traced arguments: each is weakly typed,
    and so is Python's arithmetic on them (NEP 50), whatever the inputs' dtype. (Here and
    below the numbers scale the inputs by 1: the program's values stay in its domain.)"""
    g = B.jit(
        lambda x, y, c, k, b: f(x * ((c * k + b) / 3.25), y + (c * c - 0.5625)) * (-c) ** k
        + (k + b) * c
    )
    return g(d.x, d.y, 0.75, 3, True)


def vmap_python_number(B, f, d):
    """A Python float left unmapped by vmap."""
    return B.vmap(lambda x, c: f(x * (c * c + 0.75), d.y) - c * c, in_axes=(0, None))(d.xb, 0.5)


def grad_python_number(B, f, d):
    """The derivative with respect to a Python float (weakly typed: float32 programs stay
    float32) and an array."""
    s = _scalar(B, f, d)
    return B.grad(lambda c, x: s(x * (c * c + 0.51) + (c - 0.7), d.y) * c, argnums=(0, 1))(0.7, d.x)


def jvp_python_number(B, f, d):
    return B.jvp(lambda c: f(d.x * (c * c + 0.51) + (c - 0.7), d.y), (0.7,), (1.0,))


def staged(B, f, d):
    return B.staged(f)(d.x, d.y)


def staged_grad(B, f, d):
    return B.staged(B.grad(_scalar(B, f, d), argnums=(0, 1)))(d.x, d.y)


COMBINATIONS: dict[str, Callable] = {
    c.__name__: c
    for c in (
        eager,
        jit,
        jit_static,
        jit_scalar,
        jit_twice,
        vmap,
        vmap_both,
        vmap_last_axis,
        vmap_jit,
        grad,
        jit_grad,
        grad_jit,
        vmap_grad,
        grad_vmap,
        jit_vmap_grad,
        jvp,
        jit_jvp,
        jvp_jit,
        vmap_jvp,
        vjp,
        jit_vjp,
        linearize,
        jacfwd,
        jacrev,
        jacrev_jit,
        jit_value_and_grad,
        hessian,
        grad_grad,
        staged,
        staged_grad,
        jit_fused,
        jit_fused_grad,
        jit_fused_vmap,
        jit_fused_scalar,
        jit_python_numbers,
        vmap_python_number,
        grad_python_number,
        jvp_python_number,
    )
}
