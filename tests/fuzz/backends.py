"""The libraries a fuzzed program runs on, behind one interface.

A :class:`Backend` gives a program its array namespace (``np``), its control
flow (``lax``), functional updates (``at``) and the transforms the
combinations in :mod:`fuzz.combinations` compose (``grad``, ``jit``, ``vmap``,
``jvp``, ``vjp``, ``hessian``, ``jacfwd``, ``jacrev``, ``linearize`` and
``staged``: ``make_jaxpr`` followed by ``eval_jaxpr``).

* :data:`FGRAD`: fgrad itself.
* :func:`jax_backend`: JAX with ``jax_enable_x64`` (None where JAX is not installed).
* :data:`FINITE_DIFFERENCES`: fgrad's eager NumPy functions with every derivative
  transform replaced by central finite differences, ``jit`` and ``staged`` by
  the plain function and ``vmap`` by a Python loop. Running a combination on it
  gives a reference that shares no transform code with fgrad.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import fgrad
import fgrad.lax
import fgrad.numpy as fnp


@dataclasses.dataclass(frozen=True)
class Backend:
    name: str
    np: Any
    lax: Any
    at: Callable
    asarray: Callable
    grad: Callable
    value_and_grad: Callable
    jit: Callable
    vmap: Callable
    jvp: Callable
    vjp: Callable
    hessian: Callable
    jacfwd: Callable
    jacrev: Callable
    linearize: Callable
    staged: Callable
    jit_fused: Callable  # jit on fgrad's fused tier (numba kernels from the first call)
    custom_jvp: Callable
    custom_vjp: Callable
    checkpoint: Callable


def _fgrad_staged(f: Callable) -> Callable:
    def run(*args):
        closed = fgrad.make_jaxpr(f)(*args)
        return fgrad.eval_jaxpr(closed.jaxpr, closed.consts, *fgrad.tree_leaves(args))

    return run


# Backend fields that fgrad and JAX both provide under the same top-level name.
_SAME_NAMED = (
    "grad", "value_and_grad", "jit", "vmap", "jvp", "vjp", "hessian", "jacfwd", "jacrev",
    "linearize", "custom_jvp", "custom_vjp", "checkpoint",
)  # fmt: skip


def _same_named(library: Any) -> dict[str, Callable]:
    return {field: getattr(library, field) for field in _SAME_NAMED}


def _fgrad_jit_fused(f: Callable, **kw) -> Callable:
    """``fgrad.jit(f)`` with ``fgrad_fuse="force"`` while it traces and runs: the fused
    tier from the first call (numba kernels; the NumPy replay where numba is missing)."""
    jitted = fgrad.jit(f, **kw)

    def run(*args):
        old = fgrad.config.fgrad_fuse
        fgrad.config.update("fgrad_fuse", "force")
        try:
            return jitted(*args)
        finally:
            fgrad.config.update("fgrad_fuse", old)

    return run


FGRAD = Backend(
    name="fgrad",
    np=fnp,
    lax=fgrad.lax,
    at=fnp.at,
    asarray=lambda x: x,
    staged=_fgrad_staged,
    jit_fused=_fgrad_jit_fused,
    **_same_named(fgrad),
)


@functools.cache
def jax_backend() -> Backend | None:
    """JAX in float64, or None where it is not installed."""
    try:
        import jax
        import jax.numpy as jnp
        from jax.extend.core import jaxpr_as_fun
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def staged(f: Callable) -> Callable:
        def run(*args):
            closed = jax.make_jaxpr(f)(*args)
            return jaxpr_as_fun(closed)(*jax.tree_util.tree_leaves(args))

        return run

    return Backend(
        name="jax",
        np=jnp,
        lax=jax.lax,
        at=lambda a: jnp.asarray(a).at,
        asarray=jnp.asarray,
        staged=staged,
        jit_fused=jax.jit,
        **_same_named(jax),
    )


# -- finite differences -----------------------------------------------------

EPS = 1e-4  # Richardson-extrapolated central differences: truncation ~EPS**4


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(leaf, dtype=np.float64) for leaf in fgrad.tree_leaves(tree)]


def _tree_axpy(a: float, xs, ys):
    return fgrad.tree_map(lambda x, y: np.asarray(x, dtype=np.float64) + a * y, xs, ys)


def _central(f: Callable, primals: tuple, tangents: tuple, eps: float):
    plus = f(*_tree_axpy(eps, primals, tangents))
    minus = f(*_tree_axpy(-eps, primals, tangents))
    return fgrad.tree_map(
        lambda p, m: (np.asarray(p, np.float64) - np.asarray(m, np.float64)) / (2 * eps),
        plus,
        minus,
    )


def _directional(f: Callable, primals: tuple, tangents: tuple):
    """Derivative of ``f`` (pytree output) along ``tangents``: central differences at
    steps EPS and EPS / 2, extrapolated (their O(EPS**2) errors cancel)."""
    coarse = _central(f, primals, tangents, EPS)
    fine = _central(f, primals, tangents, EPS / 2)
    return fgrad.tree_map(lambda c, f: (4.0 * f - c) / 3.0, coarse, fine)


def _jacobian_wrt(f: Callable, args: tuple, k: int) -> np.ndarray:
    """``d f / d args[k]`` with shape ``out.shape + args[k].shape`` (array output)."""
    x = np.asarray(args[k], dtype=np.float64)
    out_shape = np.shape(f(*args))
    jac = np.zeros(out_shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = 1.0
        tangents = tuple(e if j == k else np.zeros(np.shape(a)) for j, a in enumerate(args))
        jac[(Ellipsis,) + idx] = _directional(f, args, tangents)
    return jac


def _per_argnum(argnums, rule):
    if isinstance(argnums, int):
        return rule(argnums)
    return tuple(rule(k) for k in argnums)


def _fd_grad(f: Callable, argnums=0) -> Callable:
    def g(*args):
        return _per_argnum(argnums, lambda k: _jacobian_wrt(f, args, k))

    return g


def _fd_value_and_grad(f: Callable, argnums=0) -> Callable:
    return lambda *args: (f(*args), _fd_grad(f, argnums)(*args))


def _fd_jac(f: Callable, argnums=0) -> Callable:
    return _fd_grad(f, argnums)


def _fd_jvp(f: Callable, primals: tuple, tangents: tuple):
    return f(*primals), _directional(f, tuple(primals), tuple(tangents))


def _fd_vjp(f: Callable, *primals):
    def pullback(ct):
        def inner(*args):
            return sum(float(np.sum(o * c)) for o, c in zip(_leaves(f(*args)), _leaves(ct)))

        return _fd_grad(inner, tuple(range(len(primals))))(*primals)

    return f(*primals), pullback


def _fd_hessian(f: Callable, argnums=0) -> Callable:
    return _fd_jac(_fd_jac(f, argnums), argnums)


def _fd_vmap(f: Callable, in_axes=0) -> Callable:
    def mapped(*args):
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        n = next(np.shape(a)[0] for a, ax in zip(args, axes) if ax is not None)
        rows = [
            f(*[a if ax is None else np.asarray(a)[i] for a, ax in zip(args, axes)])
            for i in range(n)
        ]
        return fgrad.tree_map(lambda *r: np.stack([np.asarray(v) for v in r]), *rows)

    return mapped


def _fd_linearize(f: Callable, *primals):
    return f(*primals), lambda *tangents: _directional(f, primals, tangents)


def _identity_jit(f: Callable, static_argnums=()) -> Callable:
    return f


def _fd_staged(f: Callable) -> Callable:
    return lambda *args: fgrad.tree_leaves(f(*args))


# fgrad's eager functions; custom_jvp, custom_vjp and checkpoint run eagerly, where only
# the primal function is used
FINITE_DIFFERENCES = dataclasses.replace(
    FGRAD,
    name="finite differences",
    grad=_fd_grad,
    value_and_grad=_fd_value_and_grad,
    jit=_identity_jit,
    jit_fused=_identity_jit,
    vmap=_fd_vmap,
    jvp=_fd_jvp,
    vjp=_fd_vjp,
    hessian=_fd_hessian,
    jacfwd=_fd_jac,
    jacrev=_fd_jac,
    linearize=_fd_linearize,
    staged=_fd_staged,
)
