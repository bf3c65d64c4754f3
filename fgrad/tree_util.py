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

import dataclasses
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


def tree_reduce_associative(
    operation: Callable[[Any, Any], Any],
    tree: Any,
    *,
    identity: Any = _NO_INITIAL,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Combine the leaves of ``tree`` pairwise with the associative ``operation``.

    The leaves are split in two halves (the first ``n // 2``), each reduced the same
    way, and the two results combined: a balanced tree of ``operation`` calls in
    ``jax.tree_util.tree_reduce_associative``'s order. For an associative
    ``operation`` it equals :func:`tree_reduce`. ``identity`` is returned for a tree
    without leaves (an error without it).
    """
    leaves = tree_leaves(tree, is_leaf=is_leaf)
    if not leaves:
        if identity is _NO_INITIAL:
            raise TypeError(
                "tree_reduce_associative: the tree has no leaves; pass identity= for that case"
            )
        return identity

    def reduce(part: list) -> Any:
        if len(part) == 1:
            return part[0]
        half = len(part) // 2
        return operation(reduce(part[:half]), reduce(part[half:]))

    return reduce(leaves)


def tree_broadcast(
    prefix_tree: Any, full_tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> Any:
    """``full_tree``'s structure with each leaf replaced by the leaf of ``prefix_tree`` above it.

    ``prefix_tree`` must be a prefix of ``full_tree`` (its leaves stand for whole subtrees
    of ``full_tree``), as in ``jax.tree.broadcast``.

    Examples
    --------
    >>> tree_broadcast([1, {"a": 2}], [[3, 4], {"a": (5, 6)}])
    [[1, 1], {'a': (2, 2)}]
    """
    prefix = tree_flatten_with_path(prefix_tree, is_leaf=is_leaf)[0]
    full, treedef = tree_flatten_with_path(full_tree, is_leaf=is_leaf)
    owners = [
        [i for i, (p, _) in enumerate(prefix) if tuple(path[: len(p)]) == tuple(p)]
        for path, _ in full
    ]
    used = {i for owner in owners for i in owner}
    if any(len(owner) != 1 for owner in owners) or len(used) != len(prefix):
        raise ValueError(
            f"tree_broadcast: {tree_structure(prefix_tree)!r} is not a prefix of {treedef!r}"
        )
    return tree_unflatten(treedef, [prefix[owner[0]][1] for owner in owners])


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """Whether ``treedef`` is the structure of a single leaf (or of ``None``)."""
    return treedef.num_nodes == 1


def all_leaves(iterable: Any, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """Whether every element of ``iterable`` is a leaf (a pytree of one node)."""
    if is_leaf is None:
        return all(treedef_is_leaf(tree_structure(x)) for x in iterable)
    return all(tree_leaves(x, is_leaf=is_leaf) == [x] for x in iterable)


def treedef_tuple(treedefs: Any) -> PyTreeDef:
    """The structure of a tuple whose elements have the structures ``treedefs``."""
    marker = object()
    return tree_structure(tuple(t.unflatten([marker] * t.num_leaves) for t in treedefs))


def register_static(cls: T) -> T:
    """Register ``cls`` as a pytree with no leaves: its instances are static structure.

    The instances must be hashable and comparable (they key ``jit``'s cache).
    Usable as a class decorator.
    """
    register_pytree_node(cls, lambda x: ((), x), lambda aux, _: aux)
    return cls


def static(**kwargs) -> Any:
    """A dataclass field marked static (``metadata={"static": True}``), for
    :func:`register_dataclass`: part of the structure, not a leaf. Takes
    ``dataclasses.field``'s arguments."""
    metadata = {**kwargs.pop("metadata", {}), "static": True}
    return dataclasses.field(metadata=metadata, **kwargs)


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
    "all_leaves",
    "register_static",
    "static",
    "tree_broadcast",
    "tree_reduce_associative",
    "treedef_is_leaf",
    "treedef_tuple",
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
