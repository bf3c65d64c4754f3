"""``fgrad.ad_checkpoint``: rematerialisation under JAX's module name (``jax.ad_checkpoint``):
:func:`checkpoint` (also ``fgrad.checkpoint`` / ``fgrad.remat``), :func:`checkpoint_name`,
``checkpoint_policies`` and :func:`print_saved_residuals`. See
:mod:`fgrad.transforms.checkpoint`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fgrad.core.abstract import ShapedArray
from fgrad.core.source_info import public_api
from fgrad.explain.residuals import saved_residuals
from fgrad.transforms import checkpoint_policies
from fgrad.transforms.checkpoint import checkpoint, checkpoint_name, remat


def print_saved_residuals(fun: Callable, *args: Any) -> None:
    """Print, one a line, the arrays ``vjp(fun, *args)`` keeps for its backward pass.

    JAX's ``jax.ad_checkpoint.print_saved_residuals``: each line is the array's type,
    then ``from the argument <name>`` for an argument, or which operation's input or
    result it is and the user's line that made it. Only the arrays a derivative rule
    (or a ``checkpoint``) reads are listed; :func:`fgrad.explain.saved_residuals` gives
    the full table, sizes included. fgrad saves what its own rules read (``sin`` keeps
    its input, where JAX keeps ``cos`` of it), so the lines differ from JAX's while the
    memory they describe is comparable.

    Parameters
    ----------
    fun
        A function of pytrees of floating-point arrays, written with ``fgrad.numpy``.
    *args
        The arguments to run it on (every leaf is differentiated, as by ``vjp``).

    Examples
    --------
    >>> print_saved_residuals(lambda x: fnp.sum(fnp.sin(x)), np.ones(3))
    f64[3] from the argument x
    """
    for r in saved_residuals(fun, *args):
        if not r.read:
            continue
        line = ShapedArray(r.shape, r.dtype).str_short()
        if r.argument is not None:
            line += f" from the argument {r.argument}"
        else:
            line += f" {r.role} of {r.primitive}" if r.role != "closure" else f" {r.primitive}"
            if r.source is not None:
                line += f" from {r.source}"
        print(line)


__all__ = [
    "checkpoint",
    "checkpoint_name",
    "checkpoint_policies",
    "print_saved_residuals",
    "remat",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
