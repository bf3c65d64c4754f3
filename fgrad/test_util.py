"""``check_grads``: test a function's derivatives against finite differences, to any order.

For users writing their own functions, custom rules or primitives, and used
throughout fgrad's own tests. Forward mode is checked against central finite
differences; reverse mode against forward mode through the dot-product identity
``<u, J v> == <J^T u, v>``. Higher orders apply the same checks to the
derivative functions themselves.

Complex arguments and outputs are checked with JAX's convention for complex
derivatives: random directions are complex, and the pairing is
``Re(sum(u * w))`` without conjugation, for which the identity above holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.pytree import tree_flatten, tree_map
from fgrad.transforms.forward_mode import jvp
from fgrad.transforms.reverse_mode import vjp

#: (eps, atol, rtol) for finite differences by dtype. In float64 a central difference with
#: step 1e-6 is off by about eps**2 * |f'''| / 6 (1e-13) from truncation and by about
#: ulp(f) / eps (2e-10 * |f|) from rounding, so 1e-7 relative leaves a margin of ~500
#: while catching a rule off by a millionth (the old 1e-5 let 5e-6 through).
_TOLERANCES = {
    np.dtype(np.float64): (1e-6, 1e-8, 1e-7),
    np.dtype(np.float32): (1e-3, 2e-2, 2e-2),
    np.dtype(np.float16): (1e-1, 1e-1, 1e-1),
}
_TOLERANCES[np.dtype(np.complex128)] = _TOLERANCES[np.dtype(np.float64)]
_TOLERANCES[np.dtype(np.complex64)] = _TOLERANCES[np.dtype(np.float32)]


def _tolerances(leaves, eps, atol, rtol):
    worst = max(
        (
            _TOLERANCES.get(np.dtype(get_aval(x).dtype), _TOLERANCES[np.dtype(np.float32)])
            for x in leaves
        ),
        key=lambda t: t[0],
        default=_TOLERANCES[np.dtype(np.float64)],
    )
    return (eps or worst[0], worst[1] if atol is None else atol, worst[2] if rtol is None else rtol)


def _random_like(rng, tree):
    def draw(x):
        dtype = get_aval(x).dtype
        v = rng.standard_normal(np.shape(x))
        if dtype.kind == "c":
            v = v + 1j * rng.standard_normal(np.shape(x))
        return v.astype(dtype)

    return tree_map(draw, tree)


def _wide(x) -> np.ndarray:
    """``x`` in float64, or complex128 if it is complex: the precision of the checks."""
    return np.asarray(x, np.complex128 if np.iscomplexobj(x) else np.float64)


def _vdot(a, b) -> float:
    la, lb = tree_flatten(a)[0], tree_flatten(b)[0]
    return float(sum(np.real(np.sum(_wide(x) * _wide(y))) for x, y in zip(la, lb)))


def _axpy(alpha, x, y):
    return tree_map(
        lambda a, b: (np.asarray(b) + alpha * np.asarray(a)).astype(get_aval(b).dtype), x, y
    )


def _close(name: str, got, want, atol: float, rtol: float) -> None:
    got_l, want_l = tree_flatten(got)[0], tree_flatten(want)[0]
    for g, w in zip(got_l, want_l):
        g, w = _wide(g), _wide(w)
        if not np.allclose(g, w, atol=atol, rtol=rtol):
            err = np.max(np.abs(g - w)) if g.size else 0.0
            raise AssertionError(
                f"check_grads: {name} mismatch (max abs error {err:.3g}, atol={atol}, "
                f"rtol={rtol})\n got: {g}\nwant: {w}"
            )


def check_jvp(f: Callable, args: tuple, eps=None, atol=None, rtol=None, seed: int = 0) -> None:
    """``jvp(f)`` along a random direction equals central finite differences."""
    rng = np.random.default_rng(seed)
    eps, atol, rtol = _tolerances(tree_flatten(args)[0], eps, atol, rtol)
    v = _random_like(rng, args)
    _, t_out = jvp(f, args, v)
    plus, minus = f(*_axpy(eps, v, args)), f(*_axpy(-eps, v, args))
    fd = tree_map(
        lambda p, m: (_wide(p) - _wide(m)) / (2 * eps),
        plus,
        minus,
    )
    _close("jvp vs finite differences", t_out, fd, atol, rtol)


def check_vjp(f: Callable, args: tuple, eps=None, atol=None, rtol=None, seed: int = 0) -> None:
    """``vjp(f)`` is the adjoint of the derivative: ``<J^T u, v> == <u, J v>`` for random u, v.

    ``J v`` is taken both from central finite differences and from ``jvp``: the
    finite differences make the check independent of fgrad's own rules (forward
    mode of a ``custom_vjp`` function is derived from its ``bwd``, so the jvp
    alone could not catch a wrong ``bwd``).
    """
    rng = np.random.default_rng(seed + 1)
    eps, atol, rtol = _tolerances(tree_flatten(args)[0], eps, atol, rtol)
    v = _random_like(rng, args)
    out, t_out = jvp(f, args, v)
    u = _random_like(rng, out)
    _, pullback = vjp(f, *args)
    adjoint = _vdot(pullback(u), v)
    plus, minus = f(*_axpy(eps, v, args)), f(*_axpy(-eps, v, args))
    fd = _vdot(u, plus) / (2 * eps) - _vdot(u, minus) / (2 * eps)
    for name, ref in (("finite differences", fd), ("jvp", _vdot(u, t_out))):
        if abs(adjoint - ref) > atol * max(1.0, abs(ref)) + rtol * abs(ref):
            raise AssertionError(
                f"check_grads: vjp inconsistent with {name}: <J^T u, v> = {adjoint!r} "
                f"but <u, J v> = {ref!r}"
            )


def check_grads(
    f: Callable,
    args: Sequence,
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    atol: float | None = None,
    rtol: float | None = None,
    eps: float | None = None,
) -> None:
    """Check ``f``'s derivatives up to ``order`` in the given modes; raise AssertionError if off.

    Parameters
    ----------
    f
        A function of the positional arguments ``args`` (pytrees of float arrays).
    args
        The point at which to check.
    order
        Highest order of derivative checked: order 2 also checks the derivatives
        of the jvp and vjp functions themselves.
    modes
        ``"fwd"`` checks jvp against central finite differences, ``"rev"``
        checks vjp against jvp by the dot-product identity.
    atol, rtol, eps
        Override the tolerances and the finite-difference step, which otherwise
        follow the arguments' dtype: float64 and complex128 ``eps=1e-6``,
        ``atol=1e-8``, ``rtol=1e-7`` (what central differences in float64 support:
        truncation error ~1e-13, rounding error ~2e-10 relative); float32 and
        complex64 ``eps=1e-3``, ``atol=rtol=2e-2``; float16 ``1e-1`` throughout.
        The widest step of all the arguments' dtypes is used.
    """
    args = tuple(args)
    bad = set(modes) - {"fwd", "rev"}
    if bad:
        raise ValueError(f"check_grads: unknown modes {sorted(bad)}; use 'fwd' and/or 'rev'")
    if "fwd" in modes:
        check_jvp(f, args, eps, atol, rtol)
    if "rev" in modes:
        check_vjp(f, args, eps, atol, rtol)
    if order <= 1:
        return
    rng = np.random.default_rng(order)
    if "fwd" in modes:
        v = _random_like(rng, args)

        def f_jvp(*xs):
            return jvp(f, xs, v)[1]

        check_grads(f_jvp, args, order - 1, modes, atol, rtol, eps)
    if "rev" in modes:
        u = _random_like(rng, f(*args))

        def f_vjp(*xs):
            return vjp(f, *xs)[1](u)

        check_grads(f_vjp, args, order - 1, modes, atol, rtol, eps)


__all__ = ["check_grads", "check_jvp", "check_vjp"]
