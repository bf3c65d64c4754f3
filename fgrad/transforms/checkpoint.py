"""``checkpoint``: trade compute for memory in reverse mode (rematerialisation).

Under ``grad``/``vjp`` a checkpointed function runs without recording its
intermediate values; the tape keeps only its inputs and outputs. When the
backward pass reaches it, the function runs again under ``vjp``, restricted to the
outputs that received a cotangent, and that fresh pullback supplies the cotangents
(once per backward pass, however many outputs are used; an unused output's
derivative is never computed, so an infinite one cannot turn into NaN). Peak
memory of a deep chain of checkpointed blocks is then set by one block rather than
the whole chain. Other transforms simply call the function.

A ``policy`` (:mod:`fgrad.transforms.checkpoint_policies`) of ``everything_saveable`` turns
the rematerialisation off; any other policy recomputes everything, as
``nothing_saveable`` does (the same values and gradients as JAX's policies, with the
smallest memory). :func:`checkpoint_name` tags a value for JAX's name-based policies and
is the identity here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from fgrad.core.primitive import CallPrimitive, bind_call
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.rules import defcall
from fgrad.core.source_info import api_boundary
from fgrad.transforms.argnums import split_static
from fgrad.transforms.checkpoint_policies import Policy, everything_saveable
from fgrad.transforms.reverse_mode import GradTrace, pull_back_reached, record_joint


def checkpoint(
    fun: Callable | None = None,
    *,
    prevent_cse: bool = True,
    policy: Policy | None = None,
    static_argnums: int | Sequence[int] = (),
) -> Callable:
    """Wrap ``fun`` so that reverse mode recomputes its intermediates instead of storing them.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``. Left out,
        ``checkpoint`` returns a decorator (``@fgrad.checkpoint(policy=...)``).
    prevent_cse
        Accepted for JAX compatibility; fgrad's optimiser never merges the recomputation
        with the forward pass, since the recomputation runs only in the backward pass.
    policy
        A function of ``fgrad.checkpoint_policies``, or one of JAX's signature.
        ``everything_saveable`` saves all values (no recomputation); any other policy,
        or none, recomputes all of ``fun`` in the backward pass (``nothing_saveable``).
    static_argnums
        Positional arguments passed to ``fun`` as they are, not differentiated
        (Python values deciding shapes or control flow).

    Returns
    -------
    Callable
        A function with the same values and derivatives as ``fun``.

    Examples
    --------
    >>> block = fgrad.checkpoint(lambda x: fnp.tanh(x @ W) + x)
    >>> fgrad.grad(lambda x: fnp.sum(block(block(x))))(x0)   # same gradient, less memory
    """
    if fun is None:
        return functools.partial(
            checkpoint, prevent_cse=prevent_cse, policy=policy, static_argnums=static_argnums
        )
    if policy is not None and not callable(policy):
        raise TypeError(
            f"checkpoint: policy must be a function of fgrad.checkpoint_policies (or one "
            f"taking (prim, *avals, **params)), got {policy!r}"
        )
    if policy is everything_saveable:
        return fun

    @api_boundary
    @functools.wraps(fun)
    def checkpointed(*args):
        _, dynamic, rebuild = split_static(args, static_argnums, "checkpoint")
        return _rematerialised(lambda *dyn: fun(*rebuild(dyn)), dynamic)

    return checkpointed


remat = checkpoint


def checkpoint_name(x: Any, name: str) -> Any:
    """``x``, tagged ``name`` for the name-based checkpoint policies (the identity here:
    fgrad's checkpoint recomputes all tagged values, see the module docstring)."""
    return x


def _rematerialised(fun: Callable, args: tuple) -> Any:
    """``fun(*args)``; under reverse mode, with its intermediates recomputed."""
    flat, in_tree = tree_flatten(args)
    return bind_call(checkpoint_call, *flat, fun=fun, in_tree=in_tree)


def _run(*flat, fun: Callable, in_tree) -> Any:
    return fun(*tree_unflatten(in_tree, list(flat)))


#: a call of a checkpointed function: only reverse mode has a rule for it (the other
#: transforms, and a plain call, run the function)
checkpoint_call = CallPrimitive("checkpoint", _run)


def _grad_rule(trace: GradTrace, *flat, fun: Callable, in_tree) -> Any:
    """The outputs go on the tape with a backward rule that runs the function again."""
    vals, links = trace.unwrap(list(flat))
    out_flat, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, vals)))
    traced = [pos for pos, _ in links]

    def call(leaves: list) -> list:
        return tree_flatten(fun(*tree_unflatten(in_tree, leaves)))[0]

    def bwd(cts: dict) -> list:
        return pull_back_reached(call, vals, traced, cts)

    return tree_unflatten(out_tree, record_joint(trace, vals, links, out_flat, bwd))


defcall(checkpoint_call, grad=_grad_rule)
