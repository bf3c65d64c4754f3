"""Key paths: where each leaf of a pytree sits, as JAX's ``tree_util`` names it.

A key path is a tuple of keys, one per container on the way from the root to a
leaf: ``DictKey('params')`` for a dict entry, ``SequenceKey(0)`` for a list or
tuple element, ``GetAttrKey('mu')`` for a namedtuple or dataclass field, and
``FlattenedIndexKey(i)`` for the ``i``-th child of a node registered with
:func:`~fgrad.core.pytree.register_pytree_node` (which says nothing about what
its children are called). :func:`keystr` turns a path into a string such as
``"['params'][0].w"``; :mod:`fgrad.io` names checkpoint entries by it.

This module is the vocabulary of paths. Each row of the node table in
:mod:`fgrad.core.pytree` says which of these keys its children get, and the
functions that find paths (``tree_flatten_with_path``, ``tree_map_with_path``,
``register_pytree_with_keys``, ...) live there, next to the walk they share.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "KeyPath",
    "SequenceKey",
    "keystr",
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
