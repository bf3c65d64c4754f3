"""The type check every staged control-flow construct shares: branches and loop carries
must keep their pytree structure, shapes and dtypes, as in JAX; and the one exception,
also JAX's: a loop carry that starts as a Python number takes the dtype the loop body
gives it (:func:`promoting_weak_carry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.primitives.elementwise import convert_element_type

_PYTHON_NUMBER = {"i": 0, "u": 0, "f": 0.0, "c": 0j}


class CarryDtypeError(TypeError):
    """A result whose dtypes differ from the carry's (or the other branches'); it keeps
    both sides' abstract values, so a loop can retry with weak initial values cast."""

    def __init__(self, message: str, got: list[ShapedArray], want: list[ShapedArray]):
        super().__init__(message)
        self.got, self.want = got, want


def check_same_types(what: str, got, want, got_name: str, want_name: str) -> None:
    """Raise a TypeError unless ``got`` has ``want``'s pytree structure, shapes and dtypes."""
    got_flat, got_tree = tree_flatten(got)
    want_flat, want_tree = tree_flatten(want)
    if got_tree != want_tree:
        raise TypeError(
            f"{what}: {got_name} has structure {got_tree}, but {want_name} has {want_tree}; "
            "they must match"
        )
    for k, (g, w) in enumerate(zip(got_flat, want_flat)):
        ga, wa = get_aval(g), get_aval(w)
        if ga.shape != wa.shape:
            raise TypeError(
                f"{what}: leaf {k} of {got_name} is {ga.str_short()}, but {want_name} has "
                f"{wa.str_short()} there; they must have the same shape"
            )
        if ga.dtype != wa.dtype:
            raise CarryDtypeError(
                f"{what}: leaf {k} of {got_name} is {ga.str_short()}, but {want_name} has "
                f"{wa.str_short()} there; they must have the same dtype (give the initial "
                "value the dtype the function returns, e.g. np.float32(0.0), or convert "
                "inside the function with .astype)",
                [get_aval(g) for g in got_flat],
                [get_aval(w) for w in want_flat],
            )


def _weak_cast(init, err: CarryDtypeError):
    """``init`` with its weakly typed leaves cast to the dtypes ``err`` found the body
    returning, or None where that does not account for every mismatch."""
    flat, tree = tree_flatten(init)
    have = [get_aval(leaf) for leaf in flat]
    if len(have) != len(err.want) or any(
        (h.shape, h.dtype) != (w.shape, w.dtype) for h, w in zip(have, err.want)
    ):
        return None  # the mismatch is another loop's (one nested in the body)
    changed = False
    for k, (h, g) in enumerate(zip(have, err.got)):
        if h.dtype == g.dtype:
            continue
        number = _PYTHON_NUMBER.get(h.dtype.kind)
        if not h.weak_type or number is None or np.result_type(g.dtype, number) != g.dtype:
            return None
        flat[k] = convert_element_type(flat[k], g.dtype)
        changed = True
    return tree_unflatten(tree, flat) if changed else None


def promoting_weak_carry(run: Callable[[Any], Any], init) -> Any:
    """``run(init)``, retried once with the weakly typed leaves of ``init`` (Python
    ``int``, ``float``, ``complex``) cast to the dtypes the loop body returned for them,
    when that is the only mismatch and NumPy's promotion of that dtype with such a
    Python number gives that dtype.

    So ``fori_loop(0, n, lambda i, c: c + x32.sum(), 0.0)`` carries float32, as in JAX
    (whose weak initial values take the body's dtype), while a strong mismatch
    (``np.float64(0.0)`` for a float32 body) or a weak value the body's dtype cannot
    hold (``0.0`` for an integer body) stays the error naming the leaf. Loops that
    type-check run once, as before; the retry repeats the first iteration (eagerly)
    or the trace (staged), and only where the first attempt failed.
    """
    try:
        return run(init)
    except CarryDtypeError as err:
        cast = _weak_cast(init, err)
        if cast is None:
            raise
    return run(cast)
