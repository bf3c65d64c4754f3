"""The keys of key paths: what a container calls each of its children.

A key path (:mod:`fgrad.core.key_paths`) is a tuple of these, one per container on the
way from the root of a pytree to a leaf. Each row of the node table in
:mod:`fgrad.core.pytree` says which keys its children get: ``DictKey`` for dict
entries, ``SequenceKey`` for list and tuple elements, ``GetAttrKey`` for namedtuple
and dataclass fields, ``FlattenedIndexKey`` for the children of a node registered
without names for them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DictKey", "FlattenedIndexKey", "GetAttrKey", "KeyPath", "SequenceKey"]


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
