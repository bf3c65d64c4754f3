"""``fgrad.checkpoint_policies``: which intermediate values a checkpointed function keeps.

A policy is JAX's kind of function, ``policy(prim, *avals, **params) -> bool``: true
for an equation whose result may be saved for the backward pass instead of being
recomputed. Names come from :func:`fgrad.ad_checkpoint.checkpoint_name`, which tags a
value as the ``name`` equation (``params["name"]``).

fgrad honours two policies exactly: :data:`everything_saveable` (no
rematerialisation: the function is differentiated as if not checkpointed) and
:data:`nothing_saveable` (the default: everything is recomputed in the backward pass).
Every other policy, these below included, is accepted and run as
:data:`nothing_saveable`: values and gradients are the same, the memory is the smallest
and the backward pass recomputes all of the function, where JAX would keep the values
the policy saves. See ``docs/higher_order.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Policy = Callable[..., bool]


def everything_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
    """Save every value: no rematerialisation."""
    return True


def nothing_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
    """Save nothing: recompute the whole function in the backward pass (the default)."""
    return False


def dots_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
    """Save the results of matrix products (``dot_general``)."""
    return getattr(prim, "name", prim) == "dot_general"


checkpoint_dots = dots_saveable


def dots_with_no_batch_dims_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
    """Save the results of matrix products without batch dimensions."""
    if getattr(prim, "name", prim) != "dot_general":
        return False
    (_, _), (lhs_batch, _) = params["dimension_numbers"]
    return not lhs_batch


checkpoint_dots_with_no_batch_dims = dots_with_no_batch_dims_saveable


def save_only_these_names(*names: str) -> Policy:
    """A policy saving exactly the values tagged with one of ``names``."""
    chosen = frozenset(names)

    def policy(prim: Any, *avals: Any, **params: Any) -> bool:
        return getattr(prim, "name", prim) == "name" and params.get("name") in chosen

    return policy


def save_any_names_but_these(*names: str) -> Policy:
    """A policy saving every tagged value except those tagged with one of ``names``."""
    excluded = frozenset(names)

    def policy(prim: Any, *avals: Any, **params: Any) -> bool:
        return getattr(prim, "name", prim) == "name" and params.get("name") not in excluded

    return policy


def save_anything_except_these_names(*names: str) -> Policy:
    """A policy saving every value, tagged or not, except those tagged with one of ``names``."""
    excluded = frozenset(names)

    def policy(prim: Any, *avals: Any, **params: Any) -> bool:
        return getattr(prim, "name", prim) != "name" or params.get("name") not in excluded

    return policy


def save_and_offload_only_these_names(
    *,
    names_which_can_be_saved: Sequence[str] = (),
    names_which_can_be_offloaded: Sequence[str] = (),
    offload_src: str = "device",
    offload_dst: str = "pinned_host",
) -> Policy:
    """A policy saving the values tagged with a name of either list: fgrad has one
    memory (the host's), so what JAX would offload to it is simply saved."""
    del offload_src, offload_dst
    return save_only_these_names(*names_which_can_be_saved, *names_which_can_be_offloaded)


def save_from_both_policies(policy_1: Policy, policy_2: Policy) -> Policy:
    """A policy saving what either policy saves."""

    def policy(prim: Any, *avals: Any, **params: Any) -> bool:
        return policy_1(prim, *avals, **params) or policy_2(prim, *avals, **params)

    return policy


__all__ = [
    "checkpoint_dots",
    "checkpoint_dots_with_no_batch_dims",
    "dots_saveable",
    "dots_with_no_batch_dims_saveable",
    "everything_saveable",
    "nothing_saveable",
    "save_and_offload_only_these_names",
    "save_any_names_but_these",
    "save_anything_except_these_names",
    "save_from_both_policies",
    "save_only_these_names",
]
