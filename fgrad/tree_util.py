"""``fgrad.tree_util``: the pytree functions under the module name JAX users reach for.

``fgrad.tree_map`` and the others are importable from ``fgrad`` itself; this module
gathers them as ``jax.tree_util`` does, so that ``from jax.tree_util import
tree_map`` ports to ``from fgrad.tree_util import tree_map``. It adds the three
helpers such code often uses: :func:`tree_reduce`, :func:`tree_all` and the class
decorator :func:`register_pytree_node_class`, and JAX's key paths (``keystr``,
``tree_map_with_path``, ...; :mod:`fgrad.core.key_paths`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from fgrad.core.key_paths import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    KeyPath,
    SequenceKey,
    keystr,
    register_pytree_with_keys,
    register_pytree_with_keys_class,
    tree_flatten_with_path,
    tree_leaves_with_path,
    tree_map_with_path,
)
from fgrad.core.pytree import (
    PyTreeDef,
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

T = TypeVar("T", bound=type)

_NO_INITIAL = object()


def tree_reduce(
    function: Callable[[Any, Any], Any],
    tree: Any,
    initializer: Any = _NO_INITIAL,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Fold ``function`` over the leaves of ``tree`` (``functools.reduce`` on its leaves).

    Examples
    --------
    >>> tree_reduce(lambda a, b: a + fnp.sum(b**2), grads, 0.0)   # squared norm
    """
    leaves = tree_leaves(tree, is_leaf=is_leaf)
    if initializer is _NO_INITIAL:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree: Any) -> bool:
    """Whether every leaf of ``tree`` is true (``all`` over the leaves)."""
    return all(tree_leaves(tree))


def register_pytree_node_class(cls: T) -> T:
    """Class decorator: register ``cls`` through its ``tree_flatten`` method and its
    ``tree_unflatten(aux_data, children)`` classmethod, as JAX's decorator does."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "KeyPath",
    "PyTreeDef",
    "SequenceKey",
    "keystr",
    "register_pytree_with_keys",
    "register_pytree_with_keys_class",
    "tree_flatten_with_path",
    "tree_leaves_with_path",
    "tree_map_with_path",
    "register_dataclass",
    "register_pytree_node",
    "register_pytree_node_class",
    "tree_all",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_reduce",
    "tree_structure",
    "tree_unflatten",
]
