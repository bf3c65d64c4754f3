"""Key paths: where each leaf of a pytree sits, as JAX's ``tree_util`` names it.

A key path is a tuple of keys, one per container on the way from the root to a
leaf: ``DictKey('params')`` for a dict entry, ``SequenceKey(0)`` for a list or
tuple element, ``GetAttrKey('mu')`` for a namedtuple or dataclass field, and
``FlattenedIndexKey(i)`` for the ``i``-th child of a node registered with
:func:`~fgrad.core.pytree.register_pytree_node` (which says nothing about what
its children are called). :func:`register_pytree_with_keys` registers a node
together with names for its children. :func:`keystr` turns a path into a string
such as ``"['params'][0].w"``; :mod:`fgrad.io` names checkpoint entries by it.

Paths are found by the walk of :func:`~fgrad.core.pytree.tree_flatten` itself,
once: each row of its node table says what its children are called and which
key class wraps those names, so the i-th path belongs to the i-th leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fgrad.core.pytree import (
    PyTree,
    PyTreeDef,
    flatten_with_paths,
    leaves_like,
    register_pytree_node,
)

__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "KeyPath",
    "SequenceKey",
    "keystr",
    "register_pytree_with_keys",
    "register_pytree_with_keys_class",
    "tree_flatten_with_path",
    "tree_leaves_with_path",
    "tree_map_with_path",
]


class _Key:
    """Base of the key types: compared and hashed by type and value; leaves in pytrees.

    Plain classes rather than dataclasses, because fgrad treats every dataclass as
    a pytree container, and a path inside a tree must stay a leaf, as in JAX.
    """

    __slots__ = ()
    _field: str
    _format: str  # str(key) is _format.format(value)

    def _value(self) -> Any:
        return getattr(self, self._field)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._value() == other._value()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._field}={self._value()!r})"

    def __str__(self) -> str:
        return self._format.format(self._value())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def simple_str(self) -> str:
        """The key without brackets or quotes, as ``keystr(..., simple=True)`` writes it."""
        return str(self._value())


class DictKey(_Key):
    """The key of a dict entry (also ``OrderedDict`` and ``defaultdict``); ``str`` is ``['k']``."""

    __slots__ = ("key",)
    _field = "key"
    _format = "[{!r}]"
    key: Any

    def __init__(self, key: Any) -> None:
        object.__setattr__(self, "key", key)


class SequenceKey(_Key):
    """The position of a list or tuple element; ``str`` is ``[0]``."""

    __slots__ = ("idx",)
    _field = "idx"
    _format = "[{!r}]"
    idx: int

    def __init__(self, idx: int) -> None:
        object.__setattr__(self, "idx", idx)


class GetAttrKey(_Key):
    """A namedtuple or dataclass field; ``str`` is ``.name``."""

    __slots__ = ("name",)
    _field = "name"
    _format = ".{}"
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)


class FlattenedIndexKey(_Key):
    """The ``i``-th child of a node registered without key names; ``str`` is
    ``[<flat index i>]``."""

    __slots__ = ("key",)
    _field = "key"
    _format = "[<flat index {}>]"
    key: int

    def __init__(self, key: int) -> None:
        object.__setattr__(self, "key", key)


KeyPath = tuple[Any, ...]
"""A tuple of keys from the root to one leaf; ``()`` for a tree that is one leaf."""

# what NodeType.key_type names (fgrad.core.pytree names no key class itself)
_KEY_TYPES = {k.__name__: k for k in (DictKey, SequenceKey, GetAttrKey, FlattenedIndexKey)}


def tree_flatten_with_path(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like :func:`~fgrad.core.pytree.tree_flatten`, with each leaf's key path.

    Parameters
    ----------
    tree : pytree
    is_leaf : callable, optional
        As in ``tree_flatten``.

    Returns
    -------
    pairs : list of (KeyPath, leaf)
        In ``tree_flatten``'s leaf order.
    treedef : PyTreeDef

    Examples
    --------
    >>> tree_flatten_with_path({"w": [1, 2]})[0]
    [((DictKey(key='w'), SequenceKey(idx=0)), 1), ((DictKey(key='w'), SequenceKey(idx=1)), 2)]
    """
    paths, leaves, treedef = flatten_with_paths(tree, is_leaf, _KEY_TYPES)
    return list(zip(paths, leaves)), treedef


def tree_leaves_with_path(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> list[tuple[KeyPath, Any]]:
    """The ``(key path, leaf)`` pairs of ``tree``, in ``tree_flatten`` order.

    Parameters
    ----------
    tree : pytree
    is_leaf : callable, optional
        As in ``tree_flatten``.

    Returns
    -------
    list of (KeyPath, leaf)
    """
    paths, leaves, _ = flatten_with_paths(tree, is_leaf, _KEY_TYPES)
    return list(zip(paths, leaves))


def tree_map_with_path(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: Callable[[Any], bool] | None = None,
) -> PyTree:
    """Like :func:`~fgrad.core.pytree.tree_map`, with ``f(path, leaf, *rest_leaves)``.

    Parameters
    ----------
    f : callable
        Called once per leaf position with the key path first.
    tree : pytree
        Gives the structure of the result.
    *rest : pytree
        Further trees with exactly the structure of ``tree``.
    is_leaf : callable, optional
        As in ``tree_flatten``.

    Returns
    -------
    pytree
        The structure of ``tree`` holding the results of ``f``.

    Raises
    ------
    ValueError
        If a tree in ``rest`` has a different structure.

    Examples
    --------
    >>> tree_map_with_path(lambda p, x: keystr(p), {"a": [0, 0]})
    {'a': ["['a'][0]", "['a'][1]"]}
    """
    paths, leaves, treedef = flatten_with_paths(tree, is_leaf, _KEY_TYPES)
    columns = [leaves, *leaves_like(treedef, rest, is_leaf, "tree_map_with_path")]
    return treedef.unflatten([f(p, *xs) for p, *xs in zip(paths, *columns)])


def keystr(keys: KeyPath, *, simple: bool = False, separator: str = "") -> str:
    """A key path as a string, e.g. ``"['params'][0].w"``.

    Parameters
    ----------
    keys : tuple of keys
        A key path, as :func:`tree_flatten_with_path` gives.
    simple : bool, optional
        Write each key bare (``params``, ``0``, ``w``) instead of with brackets,
        quotes and dots.
    separator : str, optional
        Put between the keys, e.g. ``"/"`` with ``simple=True`` gives ``params/0/w``.

    Returns
    -------
    str
        ``""`` for the empty path (a tree that is a single leaf).
    """
    return separator.join(k.simple_str() if simple else str(k) for k in keys)


def register_pytree_with_keys(
    nodetype: type,
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_func: Callable[[Any], tuple[Iterable[Any], Any]] | None = None,
) -> None:
    """Register a pytree node whose children have names in key paths.

    Parameters
    ----------
    nodetype : type
        The class (matched exactly, as in ``register_pytree_node``).
    flatten_with_keys : callable
        ``flatten_with_keys(x) -> (((key, child), ...), aux_data)``; the keys are
        usually :class:`GetAttrKey` or :class:`DictKey` objects.
    unflatten_func : callable
        ``unflatten_func(aux_data, children) -> x``.
    flatten_func : callable, optional
        ``flatten_func(x) -> (children, aux_data)``, used by plain flattening,
        which is then faster; by default derived from ``flatten_with_keys``.

    Raises
    ------
    ValueError
        If ``nodetype`` is already registered.
    """
    if not callable(flatten_with_keys):
        raise TypeError("register_pytree_with_keys: flatten_with_keys must be callable")
    if flatten_func is None:

        def flatten_func(x: Any) -> tuple[list[Any], Any]:
            pairs, aux = flatten_with_keys(x)
            return [c for _, c in pairs], aux

    register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_with_keys_class(cls: type) -> type:
    """Class decorator: register ``cls`` through its ``tree_flatten_with_keys`` method,
    its ``tree_unflatten(aux_data, children)`` classmethod and, if it has one, its
    ``tree_flatten`` method."""
    flatten = getattr(cls, "tree_flatten", None)
    register_pytree_with_keys(
        cls,
        lambda x: x.tree_flatten_with_keys(),
        cls.tree_unflatten,
        None if flatten is None else (lambda x: x.tree_flatten()),
    )
    return cls
