"""Choosing which positional arguments a transform differentiates (``argnums``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fgrad.core.errors import TransformError


def normalize_argnums(argnums: int | Sequence[int], nargs: int, transform: str) -> tuple[int, ...]:
    """Validate ``argnums`` against ``nargs`` positional arguments; negatives count from the end."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    if not nums:
        raise TransformError(f"{transform}: argnums must name at least one argument")
    out = []
    for n in nums:
        if not isinstance(n, int):
            raise TransformError(f"{transform}: argnums must be ints, got {n!r}")
        if not -nargs <= n < nargs:
            raise TransformError(
                f"{transform}: argnums={argnums!r} refers to positional argument {n}, but "
                f"the function was called with {nargs} positional argument(s). Keyword "
                "arguments are never differentiated; pass the value positionally."
            )
        out.append(n % nargs)
    return tuple(out)


def split_args(
    args: tuple, argnums: int | Sequence[int], transform: str
) -> tuple[tuple, Callable[[Sequence], tuple]]:
    """Split ``args`` into the differentiated ones and a function that puts them back."""
    nums = normalize_argnums(argnums, len(args), transform)
    dyn = tuple(args[n] for n in nums)

    def rebuild(new_dyn: Sequence) -> tuple:
        full = list(args)
        for n, v in zip(nums, new_dyn):
            full[n] = v
        return tuple(full)

    return dyn, rebuild
