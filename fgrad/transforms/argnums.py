"""Choosing positional arguments: those a transform differentiates (``argnums``), and
those ``make_jaxpr`` and ``jit`` pass through untraced (``static_argnums``)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

from fgrad.core.errors import TransformError


def as_positions(nums: int | Sequence[int], name: str, transform: str) -> tuple[int, ...]:
    """``nums`` (an int or a sequence of ints, as given to ``argnums``/``static_argnums``)
    as a tuple of Python ints, or a ``TransformError`` naming the parameter and the bad value.

    Integers of other types (NumPy's) are accepted inside a sequence; alone they are
    refused, because transforms tell a single position from a tuple by ``int``."""
    if isinstance(nums, int) and not isinstance(nums, bool):
        return (nums,)
    if not isinstance(nums, (tuple, list)):
        hint = f"{name}=int(...) or " if _is_integer(nums) else ""
        raise TransformError(
            f"{transform}: {name} must be an int or a tuple of ints naming positional "
            f"arguments, got {nums!r} of type {type(nums).__name__}; write e.g. "
            f"{hint}{name}=1 or {name}=(0, 1)"
        )
    for n in nums:
        if not _is_integer(n):
            raise TransformError(
                f"{transform}: {name} must contain ints naming positional arguments, got "
                f"{n!r} of type {type(n).__name__} in {name}={nums!r}"
            )
    return tuple(operator.index(n) for n in nums)


def _is_integer(n) -> bool:
    """An integer of any type (Python's, NumPy's), but not a bool."""
    return hasattr(type(n), "__index__") and not isinstance(n, bool)  # NumPy's bool has none


def normalize_argnums(argnums: int | Sequence[int], nargs: int, transform: str) -> tuple[int, ...]:
    """Validate ``argnums`` against ``nargs`` positional arguments; negatives count from the end.

    Refuses what is not an int or a sequence of ints, positions out of range, and a
    position named twice (``(0, 0)``, or ``(0, -2)`` with two arguments), which would
    otherwise split one argument's gradient between two outputs."""
    nums = as_positions(argnums, "argnums", transform)
    if not nums:
        raise TransformError(f"{transform}: argnums must name at least one argument")
    out = []
    for n in nums:
        if not -nargs <= n < nargs:
            raise TransformError(
                f"{transform}: argnums={argnums!r} refers to positional argument {n}, but "
                f"the function was called with {nargs} positional argument(s). Keyword "
                "arguments are never differentiated; pass the value positionally."
            )
        if n % nargs in out:
            alias = f" ({n} counts from the end: with {nargs} arguments it is {n % nargs})"
            raise TransformError(
                f"{transform}: argnums={argnums!r} names positional argument {n % nargs} "
                f"twice{alias if n < 0 else ''}. Name each argument once."
            )
        out.append(n % nargs)
    return tuple(out)


def replace_at(values: Sequence, positions: Sequence[int], new: Sequence) -> list:
    """``values`` as a new list with ``new[i]`` at ``positions[i]``: how a transform puts
    the arguments it works on back among the ones it leaves alone."""
    full = list(values)
    for pos, x in zip(positions, new):
        full[pos] = x
    return full


def split_args(
    args: tuple, argnums: int | Sequence[int], transform: str
) -> tuple[tuple, Callable[[Sequence], tuple]]:
    """Split ``args`` into the differentiated ones and a function that puts them back."""
    nums = normalize_argnums(argnums, len(args), transform)
    dyn = tuple(args[n] for n in nums)

    def rebuild(new_dyn: Sequence) -> tuple:
        return tuple(replace_at(args, nums, new_dyn))

    return dyn, rebuild


def split_static(
    args: tuple, static_argnums: int | Sequence[int], transform: str
) -> tuple[tuple[int, ...], tuple, Callable[[Sequence], list]]:
    """The static positions (negatives counted from the end), the other arguments, and a
    function that puts new values for the others back among the static ones."""
    nums = as_positions(static_argnums, "static_argnums", transform)
    if not nums:
        return (), tuple(args), list
    if any(not -len(args) <= n < len(args) for n in nums):
        raise TransformError(
            f"{transform}: static_argnums {nums} refer to positional arguments, but the "
            f"function was called with {len(args)}"
        )
    positions = tuple(sorted({n % len(args) for n in nums}))
    dynamic = tuple(a for i, a in enumerate(args) if i not in positions)

    def rebuild(new_dynamic: Sequence) -> list:
        it = iter(new_dynamic)
        return [a if i in positions else next(it) for i, a in enumerate(args)]

    return positions, dynamic, rebuild
