"""The type check every staged control-flow construct shares: branches and loop carries
must keep their pytree structure, shapes and dtypes, as in JAX."""

from __future__ import annotations

from fgrad.core.abstract import get_aval
from fgrad.core.pytree import tree_flatten


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
            raise TypeError(
                f"{what}: leaf {k} of {got_name} is {ga.str_short()}, but {want_name} has "
                f"{wa.str_short()} there; they must have the same dtype (give the initial "
                "value the dtype the function returns, e.g. np.float32(0.0), or convert "
                "inside the function with .astype)"
            )
