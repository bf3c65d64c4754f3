"""``fgrad.tree_util``: the pytree functions under the module name JAX users reach for.

``fgrad.tree_map`` and the others are importable from ``fgrad`` itself; this module
gathers them as ``jax.tree_util`` does, so that ``from jax.tree_util import
tree_map`` ports to ``from fgrad.tree_util import tree_map``. It adds the
helpers such code often uses: :func:`tree_reduce`, :func:`tree_all`,
:func:`tree_transpose`, the class decorator :func:`register_pytree_node_class`,
:class:`Partial` (a ``functools.partial`` that is a pytree) and JAX's key paths
(``keystr``, ``tree_map_with_path``, ...; :mod:`fgrad.core.key_paths`).
``fgrad.tree`` gives the same functions JAX's shorter names (``fgrad.tree.map``, ...).
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
from fgrad.core.source_info import public_api

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


def tree_all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """Whether every leaf of ``tree`` is true (``all`` over the leaves)."""
    return all(tree_leaves(tree, is_leaf=is_leaf))


def tree_transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef, pytree_to_transpose: Any
) -> Any:
    """Turn a tree of structure ``outer`` of trees of structure ``inner`` inside out.

    Parameters
    ----------
    outer_treedef, inner_treedef
        The two structures; ``pytree_to_transpose`` must be ``outer`` with an
        ``inner``-shaped tree at each of its leaves.
    pytree_to_transpose
        The tree to transpose.

    Returns
    -------
    pytree
        ``inner`` with an ``outer``-shaped tree at each leaf: the leaf at inner position
        ``i`` of outer position ``j`` moves to outer position ``j`` of inner position ``i``.

    Raises
    ------
    ValueError
        If the tree is not ``outer`` composed with ``inner``.

    Examples
    --------
    >>> outer = tree_structure([0, 0]); inner = tree_structure({"w": 0, "b": 0})
    >>> tree_transpose(outer, inner, [{"w": 1, "b": 2}, {"w": 3, "b": 4}])
    {'b': [2, 4], 'w': [1, 3]}
    """
    leaves, treedef = tree_flatten(pytree_to_transpose)
    n_in, n_out = inner_treedef.num_leaves, outer_treedef.num_leaves
    groups = [leaves[j * n_in : (j + 1) * n_in] for j in range(n_out)]
    expected = None
    if len(leaves) == n_in * n_out:
        expected = tree_structure(
            tree_unflatten(outer_treedef, [tree_unflatten(inner_treedef, g) for g in groups])
        )
    if expected != treedef:
        raise ValueError(
            f"tree_transpose: the tree has structure {treedef!r}, which is not the outer "
            f"structure {outer_treedef!r} with the inner structure {inner_treedef!r} at "
            "each of its leaves"
        )
    return tree_unflatten(
        inner_treedef,
        [tree_unflatten(outer_treedef, [g[i] for g in groups]) for i in range(n_in)],
    )


class Partial(functools.partial):
    """``functools.partial`` as a pytree: the bound arguments are its children (leaves),
    the function its static part.

    So a function with bound arrays can be passed to, and returned from, ``jit``,
    ``grad`` and ``vmap`` like any pytree: the arrays are traced and differentiated,
    the function keys the compilation cache (it must be hashable, as functions are).

    Examples
    --------
    >>> scale = Partial(fnp.multiply, np.array(2.0))
    >>> fgrad.jit(lambda f, x: f(x))(scale, np.ones(3))
    array([2., 2., 2.])
    """


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, children: Partial(func, *children[0], **children[1]),
)


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
    "Partial",
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
    "tree_transpose",
    "tree_unflatten",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
