"""Pytrees: nested containers whose array leaves transforms act on.

Transforms such as ``grad`` and ``vjp`` work on flat lists of arrays, but users
write functions of dicts of parameters, lists of layers, dataclasses of weights
and so on. A *pytree* is any such nesting. :func:`tree_flatten` splits a pytree
into its leaves (the arrays, in a deterministic order) and a :class:`PyTreeDef`
describing the containers; :func:`tree_unflatten` puts new leaves back into the
same containers. Transforms flatten their inputs, work on the leaves, and
unflatten the results, so that gradients come back in the shape of the
parameters.

The semantics follow JAX's so that code and habits carry over:

* ``dict`` children are visited in *sorted* key order, so that two dicts with
  the same keys built in a different order have the same structure (and the
  same leaf order). When the keys cannot be sorted against each other, the
  insertion order is used instead.
* ``list``, ``tuple``, namedtuples, :class:`collections.OrderedDict` (insertion
  order kept, since the order is part of its meaning) and
  :class:`collections.defaultdict` (sorted keys, ``default_factory`` kept) are
  containers.
* ``None`` is a container with no children, *not* a leaf: ``[None, x]`` has one
  leaf. That lets ``None`` stand for "nothing here" (a missing bias, no
  auxiliary output) without a transform trying to differentiate it.
* Types are matched exactly, as in JAX: a subclass of ``dict`` or ``list`` is a
  leaf unless it is registered itself.
* Dataclass instances are containers too, even unregistered (all ``init=True``
  fields are children), because users pass parameter dataclasses to ``grad``
  and expect them to work. :func:`register_dataclass` lets a dataclass declare
  static (meta) fields that belong to the structure rather than the leaves.
* Everything else -- arrays, Python scalars, tracers, arbitrary objects -- is a
  leaf. Leaves are never inspected, compared or converted here.

Further container types are added with :func:`register_pytree_node`.

Implementation notes. A :class:`PyTreeDef` stores its nodes in a flat tuple in
pre-order rather than as nested objects: equality and hashing are then a single
tuple comparison (it is used as a cache key by ``jit``-like code), and
flattening, unflattening and printing are loops over an explicit stack, so deep
trees never hit Python's recursion limit. What to do with a container is one
row of a table (:class:`NodeType`: flatten, unflatten, print, name the children
in key paths), one row per built-in container type, per dataclass and per
registered type; one walk serves them all. Rows are found by a dict lookup on
``type(x)``; the slower namedtuple/dataclass checks run once per type and their
result is cached.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "PyTreeDef",
    "register_dataclass",
    "register_pytree_node",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_structure",
    "tree_unflatten",
]

PyTree = Any
"""Any pytree: a leaf or a (registered or built-in) container of pytrees."""

T = TypeVar("T", bound=type)


# --------------------------------------------------------------------------------------
# the node table
# --------------------------------------------------------------------------------------
class NodeType(NamedTuple):
    """One row of the node table: how one kind of container comes apart and back.

    ``nodetype`` is passed to the functions so that one row can serve many classes
    (all namedtuples, for instance).
    """

    #: ``flatten(x) -> (children, aux)``, ``children`` a list or tuple
    flatten: Callable[[Any], tuple[Sequence[Any], Any]]
    #: ``unflatten(nodetype, aux, children) -> x``; ``children`` is a fresh list it may keep
    unflatten: Callable[[type, Any, list[Any]], Any]
    #: ``fmt(nodetype, aux, child_strs) -> str``: the node in ``PyTreeDef.__repr__``
    fmt: Callable[[type, Any, list[str]], str]
    #: ``child_names(x, nodetype, aux, n)``: what the ``n`` children are called in key
    #: paths (:mod:`fgrad.core.key_paths`): positions, dict keys, field names, ...
    child_names: Callable[[Any, type, Any, int], Sequence[Any]]
    #: the key class that wraps each name in a path (``"SequenceKey"``, ``"DictKey"``,
    #: ``"GetAttrKey"``, ``"FlattenedIndexKey"``), or None when the names are keys already
    key_type: str | None
    #: what the entries of a tuple aux are (static dataclass fields), for errors
    aux_names: tuple[str, ...] | None = None


def _fmt_items(keys: Iterable[Any], child_strs: list[str]) -> str:
    return ", ".join(f"{k!r}: {s}" for k, s in zip(keys, child_strs))


def _fmt_fields(names: Iterable[str], child_strs: Iterable[str]) -> str:
    return ", ".join(f"{n}={s}" for n, s in zip(names, child_strs))


def _type_name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


def _positions(x: Any, nodetype: type, aux: Any, n: int) -> range:
    return range(n)


def _aux_keys(x: Any, nodetype: type, keys: tuple, n: int) -> tuple:
    return keys


def _dict_flatten(x: dict) -> tuple[list, tuple]:
    """The values in sorted key order (JAX's), or insertion order if the keys cannot be
    sorted; the keys are the aux data."""
    try:
        keys = tuple(sorted(x))
    except TypeError:  # e.g. {1: a, "x": b}: no order between int and str
        keys = tuple(x)
    return [x[k] for k in keys], keys


def _odict_flatten(x: collections.OrderedDict) -> tuple[list, tuple]:
    keys = tuple(x)
    return [x[k] for k in keys], keys


def _ddict_flatten(x: collections.defaultdict) -> tuple[list, tuple]:
    children, keys = _dict_flatten(x)
    return children, (x.default_factory, keys)


# The built-in containers. The aux data of the dict family is its keys (for a
# defaultdict: its factory and keys), so that it takes part in structure equality.
_BUILTIN_NODES: dict[type, NodeType] = {
    tuple: NodeType(
        flatten=lambda x: (x, None),
        unflatten=lambda nodetype, aux, children: tuple(children),
        fmt=lambda nodetype, aux, s: f"({s[0]},)" if len(s) == 1 else f"({', '.join(s)})",
        child_names=_positions,
        key_type="SequenceKey",
    ),
    list: NodeType(
        flatten=lambda x: (x, None),
        unflatten=lambda nodetype, aux, children: children,
        fmt=lambda nodetype, aux, s: f"[{', '.join(s)}]",
        child_names=_positions,
        key_type="SequenceKey",
    ),
    type(None): NodeType(
        flatten=lambda x: ((), None),
        unflatten=lambda nodetype, aux, children: None,
        fmt=lambda nodetype, aux, s: "None",
        child_names=_positions,
        key_type="SequenceKey",
    ),
    dict: NodeType(
        flatten=_dict_flatten,
        unflatten=lambda nodetype, keys, children: dict(zip(keys, children)),
        fmt=lambda nodetype, keys, s: f"{{{_fmt_items(keys, s)}}}",
        child_names=_aux_keys,
        key_type="DictKey",
    ),
    collections.OrderedDict: NodeType(
        flatten=_odict_flatten,
        unflatten=lambda nodetype, keys, children: collections.OrderedDict(zip(keys, children)),
        fmt=lambda nodetype, keys, s: f"OrderedDict({{{_fmt_items(keys, s)}}})",
        child_names=_aux_keys,
        key_type="DictKey",
    ),
    collections.defaultdict: NodeType(
        flatten=_ddict_flatten,
        unflatten=lambda nodetype, aux, children: collections.defaultdict(
            aux[0], zip(aux[1], children)
        ),
        fmt=lambda nodetype, aux, s: (
            f"defaultdict({_type_name(aux[0])}, {{{_fmt_items(aux[1], s)}}})"
        ),
        child_names=lambda x, nodetype, aux, n: aux[1],
        key_type="DictKey",
    ),
}

# Every namedtuple class (found by duck-typing when first seen, not registered).
_NAMEDTUPLE = NodeType(
    flatten=lambda x: (x, None),
    unflatten=lambda nodetype, aux, children: nodetype(*children),
    fmt=lambda nodetype, aux, s: f"{nodetype.__name__}({_fmt_fields(nodetype._fields, s)})",
    child_names=lambda x, nodetype, aux, n: nodetype._fields,
    key_type="GetAttrKey",
)


def _dataclass_node(data_fields: tuple[str, ...], meta_fields: tuple[str, ...]) -> NodeType:
    """The row of a dataclass whose ``data_fields`` are children and ``meta_fields`` aux data.

    Rebuilding calls the class with keyword arguments (so ``__post_init__`` and
    frozen dataclasses work as the user wrote them), which is why every
    ``init=True`` field must be either data or meta.
    """

    def unflatten(nodetype: type, aux: tuple, children: list) -> Any:
        kwargs = dict(zip(data_fields, children))
        kwargs.update(zip(meta_fields, aux))
        return nodetype(**kwargs)

    def fmt(nodetype: type, aux: tuple, child_strs: list[str]) -> str:
        statics = [repr(v) for v in aux]
        fields = _fmt_fields(data_fields + meta_fields, child_strs + statics)
        return f"{nodetype.__name__}({fields})"

    return NodeType(
        flatten=lambda x: (
            [getattr(x, n) for n in data_fields],
            tuple(getattr(x, n) for n in meta_fields),
        ),
        unflatten=unflatten,
        fmt=fmt,
        child_names=lambda x, nodetype, aux, n: data_fields,
        key_type="GetAttrKey",
        aux_names=meta_fields,
    )


def _is_static_field(f: dataclasses.Field) -> bool:
    # JAX's convention for marking a dataclass field static: field(metadata={"static": True}).
    return bool(f.metadata.get("static", False))


def _custom_node(
    nodetype: type,
    flatten_fn: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten_fn: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys_fn: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]] | None,
) -> NodeType:
    """The row of a type registered with :func:`register_pytree_node`."""
    name = _type_name(nodetype)

    def flatten(x: Any) -> tuple[list, Any]:
        result = flatten_fn(x)
        try:
            children, aux = result
        except (TypeError, ValueError):
            raise TypeError(
                f"the flatten_fn registered for {name} must return a pair "
                f"(children, aux_data), but returned {result!r}"
            ) from None
        return list(children), aux

    def given_keys(x: Any, nodetype: type, aux: Any, n: int) -> list[Any]:
        named = [k for k, _ in flatten_with_keys_fn(x)[0]]
        if len(named) != n:
            raise ValueError(
                f"the flatten_with_keys registered for {nodetype.__qualname__} gives "
                f"{len(named)} children but its flatten_func gives {n}; both must list the "
                "same children"
            )
        return named

    return NodeType(
        flatten=flatten,
        unflatten=lambda nodetype, aux, children: unflatten_fn(aux, tuple(children)),
        fmt=lambda nodetype, aux, s: f"CustomNode({name}[{aux!r}], [{', '.join(s)}])",
        child_names=_positions if flatten_with_keys_fn is None else given_keys,
        key_type="FlattenedIndexKey" if flatten_with_keys_fn is None else None,
    )


# registry and dispatch ----------------------------------------------------------------
_REGISTRY: dict[type, NodeType] = dict(_BUILTIN_NODES)

# type -> row, or None for "this type is a leaf". Seeded from the registry and
# filled lazily by _resolve; cleared whenever the registry changes.
_DISPATCH: dict[type, NodeType | None] = dict(_REGISTRY)
_UNRESOLVED = object()


def _resolve(tp: type) -> NodeType | None:
    """Find (and cache) the row of a type that is not in the dispatch cache yet."""
    node_type = _REGISTRY.get(tp)
    if node_type is None:
        if issubclass(tp, tuple) and hasattr(tp, "_fields"):
            node_type = _NAMEDTUPLE
        elif dataclasses.is_dataclass(tp):
            fields = [f for f in dataclasses.fields(tp) if f.init]
            node_type = _dataclass_node(
                tuple(f.name for f in fields if not _is_static_field(f)),
                tuple(f.name for f in fields if _is_static_field(f)),
            )
    _DISPATCH[tp] = node_type
    return node_type


def _register(nodetype: type, node_type: NodeType) -> None:
    if not isinstance(nodetype, type):
        raise TypeError(f"pytree node types must be classes, got {nodetype!r}")
    if nodetype in _REGISTRY:
        raise ValueError(
            f"{_type_name(nodetype)} is already registered as a pytree node; a type can be "
            "registered only once, so that its flattening cannot change under existing code"
        )
    _REGISTRY[nodetype] = node_type
    # Cached decisions (e.g. "leaf", or an automatic dataclass row) may be stale now.
    _DISPATCH.clear()
    _DISPATCH.update(_REGISTRY)


# --------------------------------------------------------------------------------------
# PyTreeDef
# --------------------------------------------------------------------------------------
class PyTreeDef:
    """The structure of a pytree: everything but its leaves.

    Obtain one from :func:`tree_flatten` or :func:`tree_structure` rather than
    constructing it. It is immutable, hashable and compared by value, so it can
    key caches of traced functions: two trees have equal treedefs exactly when
    they have the same container types, the same aux data (dict keys, static
    dataclass fields, ...) and the same nesting. Aux data that holds dicts, lists or
    sets (a custom node's ``aux_data`` dict, say) is hashed by content.

    Internally the nodes are kept in pre-order in one flat tuple; a leaf is
    ``None`` and a container is ``(type, number_of_children, aux_data)``. The
    node table's rows used to rebuild containers sit in a parallel tuple that takes no
    part in equality, so registering an unrelated type does not change how
    existing treedefs compare.
    """

    __slots__ = ("_nodes", "_node_types", "_num_leaves", "_hash")

    _nodes: tuple[tuple[type, int, Any] | None, ...]
    _node_types: tuple[NodeType | None, ...]
    _num_leaves: int
    _hash: int | None

    def __init__(
        self,
        nodes: tuple[tuple[type, int, Any] | None, ...],
        node_types: tuple[NodeType | None, ...],
        num_leaves: int,
    ) -> None:
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_node_types", node_types)
        object.__setattr__(self, "_num_leaves", num_leaves)
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("PyTreeDef is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PyTreeDef is immutable")

    def __copy__(self) -> PyTreeDef:
        return self

    def __deepcopy__(self, memo: dict) -> PyTreeDef:
        return self

    @property
    def num_leaves(self) -> int:
        """Number of leaves a tree of this structure has (and ``unflatten`` needs)."""
        return self._num_leaves

    @property
    def num_nodes(self) -> int:
        """Number of nodes, leaves and containers together."""
        return len(self._nodes)

    def unflatten(self, leaves: Iterable[Any]) -> PyTree:
        """Same as ``tree_unflatten(self, leaves)``."""
        return tree_unflatten(self, leaves)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        if self is other:
            return True
        if self._num_leaves != other._num_leaves:
            return False
        try:
            return self._nodes == other._nodes
        except (TypeError, ValueError) as e:  # e.g. an aux value that is a NumPy array
            raise TypeError(
                "comparing PyTreeDefs failed because some node's aux data (dict keys, "
                "static dataclass fields, a custom node's aux_data) cannot be compared with "
                "`==` to a bool. Aux data must be hashable and comparable; make such fields "
                f"data fields instead. Original error: {e}"
            ) from e

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            try:
                h = hash((self._num_leaves, self._nodes))
            except TypeError:  # aux data holding dicts, lists or sets: hash their contents
                h = hash((self._num_leaves, tuple(map(self._node_key, range(len(self._nodes))))))
            object.__setattr__(self, "_hash", h)
        return h

    def _node_key(self, i: int) -> Any:
        """A hashable stand-in for node ``i``, equal wherever the nodes are equal."""
        node = self._nodes[i]
        if node is None:
            return None
        nodetype, n, aux = node
        try:
            return nodetype, n, _content_key(aux)
        except TypeError as e:
            node_type = self._node_types[i]
            raise TypeError(
                f"this PyTreeDef is not hashable (so it cannot key jit's cache) because the "
                f"aux data of a {_type_name(nodetype)} node is not: "
                f"{_unhashable_part(aux, node_type.aux_names)} is a {e.args[0]}. Aux data "
                "(static dataclass fields, a custom node's aux_data) must be hashable, or "
                "dicts, lists, tuples and sets of hashable values; make array-valued fields "
                "data fields (children) instead"
            ) from None

    def __repr__(self) -> str:
        # Build the strings bottom-up by walking the pre-order nodes backwards; see
        # tree_unflatten for why the stack then holds children in the right order.
        strs: list[str] = []
        for node, node_type in zip(reversed(self._nodes), reversed(self._node_types)):
            if node is None:
                strs.append("*")
                continue
            nodetype, n, aux = node
            if n:
                children = strs[-n:]
                del strs[-n:]
                children.reverse()
            else:
                children = []
            strs.append(node_type.fmt(nodetype, aux, children))
        return f"PyTreeDef({strs[0]})"


_DICT, _LIST, _SET = object(), object(), object()  # tags: a dict never equals a tuple


def _content_key(aux: Any) -> Any:
    """``aux`` with its dicts, lists and sets replaced by hashable equivalents, compared
    by content (a dict's entries in any order); raises TypeError naming the type of the
    first value that is still unhashable."""
    if isinstance(aux, dict):
        return _DICT, frozenset((k, _content_key(v)) for k, v in aux.items())
    if isinstance(aux, list):
        return _LIST, tuple(map(_content_key, aux))
    if isinstance(aux, (set, frozenset)):
        return _SET, frozenset(map(_content_key, aux))
    if isinstance(aux, tuple):
        return tuple(map(_content_key, aux))
    try:
        hash(aux)
    except TypeError:
        raise TypeError(f"{type(aux).__name__} ({aux!r:.60})") from None
    return aux


def _unhashable_part(aux: Any, names: tuple[str, ...] | None) -> str:
    """Where in ``aux`` the first unhashable value sits, e.g. ``field 'table'`` or
    ``aux_data['scale']``; ``names`` are a dataclass's static field names."""
    path = "aux_data"
    while True:
        if isinstance(aux, dict):
            items = list(aux.items())
        elif isinstance(aux, (tuple, list)):
            items = list(enumerate(aux))
        else:
            return path
        for k, v in items:
            try:
                _content_key(v)
            except TypeError:
                if names is not None and path == "aux_data":
                    path = f"static field {names[k]!r}"
                else:
                    path = f"{path}[{k!r}]"
                names, aux = None, v
                break
        else:
            return path


#: the structure of a tree that is a single leaf
_LEAF = PyTreeDef((None,), (None,), 1)


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------
def tree_flatten(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Any], PyTreeDef]:
    """Split a pytree into its leaves and its structure.

    Transforms work on flat lists of arrays; this is how they get one from the
    user's nested arguments, and the returned :class:`PyTreeDef` is how they give
    results back in the same shape (see :func:`tree_unflatten`).

    Parameters
    ----------
    tree : pytree
        Any nesting of containers (dict, list, tuple, namedtuple, OrderedDict,
        defaultdict, None, dataclasses, registered types) and leaves.
    is_leaf : callable, optional
        Called on every subtree, the root included, before it is taken apart;
        when it returns true the subtree is kept whole as a leaf. Use it to stop
        at a container you want to treat as a unit, e.g. ``(w, b)`` pairs.

    Returns
    -------
    leaves : list
        The leaves, left to right (dict entries in sorted key order). ``None``
        contributes no leaf.
    treedef : PyTreeDef
        The structure, enough to rebuild the tree from new leaves.

    Examples
    --------
    >>> tree_flatten({"b": [1, 2], "a": 3})
    ([3, 1, 2], PyTreeDef({'a': *, 'b': [*, *]}))
    """
    dispatch = _DISPATCH
    if is_leaf is None and dispatch.get(type(tree), _UNRESOLVED) is None:
        return [tree], _LEAF  # one array: the common case of outputs and cotangents
    leaves: list[Any] = []
    nodes: list[tuple[type, int, Any] | None] = []
    node_types: list[NodeType | None] = []
    stack = [tree]
    # Explicit stack rather than recursion: deep trees never hit the recursion limit.
    # Children are pushed reversed so that they are popped (visited) left to right.
    while stack:
        x = stack.pop()
        if is_leaf is not None and is_leaf(x):
            node_type = None
        else:
            tp = type(x)
            node_type = dispatch.get(tp, _UNRESOLVED)
            if node_type is _UNRESOLVED:
                node_type = _resolve(tp)
        if node_type is None:
            leaves.append(x)
            nodes.append(None)
            node_types.append(None)
            continue
        children, aux = node_type.flatten(x)
        nodes.append((tp, len(children), aux))
        node_types.append(node_type)
        if children:
            stack.extend(reversed(children))
    return leaves, PyTreeDef(tuple(nodes), tuple(node_types), len(leaves))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> PyTree:
    """Rebuild a pytree of structure ``treedef`` from ``leaves``.

    The inverse of :func:`tree_flatten`: ``tree_unflatten(*reversed(tree_flatten(t)))``
    equals ``t`` (with dicts in sorted key order). Containers are rebuilt fresh,
    so the result shares no container with the tree that was flattened.

    Parameters
    ----------
    treedef : PyTreeDef
        A structure from :func:`tree_flatten` or :func:`tree_structure`.
    leaves : iterable
        Exactly ``treedef.num_leaves`` values, in the order ``tree_flatten``
        returns leaves.

    Returns
    -------
    pytree
        The tree with the new leaves in place.

    Raises
    ------
    ValueError
        If the number of leaves does not match; silently truncating or padding
        would put gradients on the wrong parameters.
    TypeError
        If ``treedef`` is not a :class:`PyTreeDef` (a common slip is passing the
        arguments in the order ``tree_flatten`` returns them).
    """
    if not isinstance(treedef, PyTreeDef):
        raise TypeError(
            f"tree_unflatten(treedef, leaves) expects a PyTreeDef as its first argument, got "
            f"{type(treedef).__name__}; note the order is (treedef, leaves), the reverse "
            "of what tree_flatten returns"
        )
    leaves = leaves if isinstance(leaves, list) else list(leaves)
    if len(leaves) != treedef._num_leaves:
        raise ValueError(
            f"tree_unflatten: the structure {treedef!r} expects {treedef._num_leaves} "
            f"leaves, but got {len(leaves)}"
        )
    # Walk the pre-order nodes backwards. A node's children then come right after it
    # in the original order, so when we reach the node they have all been rebuilt and
    # sit on top of the stack, first child topmost. Leaves are used from the end.
    values: list[Any] = []
    i = len(leaves)
    for node, node_type in zip(reversed(treedef._nodes), reversed(treedef._node_types)):
        if node is None:
            i -= 1
            values.append(leaves[i])
            continue
        nodetype, n, aux = node
        if n:
            children = values[-n:]
            del values[-n:]
            children.reverse()
        else:
            children = []
        values.append(node_type.unflatten(nodetype, aux, children))
    return values[0]


def tree_leaves(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree``, in :func:`tree_flatten` order.

    Parameters
    ----------
    tree : pytree
    is_leaf : callable, optional
        As in :func:`tree_flatten`.

    Returns
    -------
    list
        E.g. ``tree_leaves([None, 1]) == [1]``: ``None`` is an empty container.
    """
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The :class:`PyTreeDef` of ``tree``, e.g. to compare or cache on structure.

    Parameters
    ----------
    tree : pytree
    is_leaf : callable, optional
        As in :func:`tree_flatten`.

    Returns
    -------
    PyTreeDef
    """
    return tree_flatten(tree, is_leaf)[1]


def tree_map(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: Callable[[Any], bool] | None = None,
) -> PyTree:
    """Apply ``f`` leaf-wise to one or more trees of the same structure.

    This is how whole parameter trees are updated at once, e.g.
    ``tree_map(lambda p, g: p - lr * g, params, grads)``.

    Parameters
    ----------
    f : callable
        Called as ``f(leaf, *rest_leaves)`` once per leaf position.
    tree : pytree
        Gives the structure of the result.
    *rest : pytree
        Further trees, each with the structure of ``tree`` or a deeper one that has
        ``tree``'s structure as a prefix (as in JAX): what sits at each leaf position of
        ``tree`` (a leaf, or a whole subtree) is passed to ``f`` as an extra argument.
        Any other mismatch is an error.
    is_leaf : callable, optional
        As in :func:`tree_flatten`; applied to every tree.

    Returns
    -------
    pytree
        A tree of the structure of ``tree`` holding the results of ``f``.

    Raises
    ------
    ValueError
        If a tree in ``rest`` does not have ``tree``'s structure as a prefix; the
        message shows both structures.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return tree_unflatten(treedef, [f(x) for x in leaves])
    all_leaves = [leaves, *leaves_like(treedef, rest, is_leaf, "tree_map")]
    return tree_unflatten(treedef, [f(*xs) for xs in zip(*all_leaves)])


def leaves_like(
    treedef: PyTreeDef, rest: Iterable[Any], is_leaf: Callable[[Any], bool] | None, caller: str
) -> list[list[Any]]:
    """What sits at each leaf position of ``treedef`` in each tree of ``rest``, which
    must have ``treedef`` as a prefix of its structure: a leaf, or a whole subtree.

    The check of the extra trees of :func:`tree_map` and ``tree_map_with_path``.

    Parameters
    ----------
    treedef : PyTreeDef
        The structure of the first tree.
    rest : iterable of pytrees
    is_leaf : callable, optional
        As in :func:`tree_flatten`.
    caller : str
        The function named in the error.

    Returns
    -------
    list of lists
        One list per tree of ``rest``, ``treedef.num_leaves`` long.

    Raises
    ------
    ValueError
        If a tree does not have ``treedef`` as a prefix; the message shows both.
    """
    columns = []
    for pos, other in enumerate(rest, start=1):
        other_leaves, other_def = tree_flatten(other, is_leaf)
        if other_def != treedef:
            other_leaves = _subtrees_at_leaves(treedef, other, is_leaf)
        if other_leaves is None:
            raise ValueError(
                f"{caller}: tree argument {pos} after the first must have the structure of "
                f"the first tree, {treedef!r}, or one with it as a prefix, but has "
                f"structure {other_def!r}"
            )
        columns.append(other_leaves)
    return columns


def _subtrees_at_leaves(
    treedef: PyTreeDef, tree: PyTree, is_leaf: Callable[[Any], bool] | None
) -> list[Any] | None:
    """The subtrees of ``tree`` at ``treedef``'s leaf positions, or ``None`` where
    ``treedef`` is not a prefix of ``tree``'s structure (another container type, child
    count or aux data at some node)."""
    out: list[Any] = []
    stack = [tree]
    for node in treedef._nodes:
        x = stack.pop()
        if node is None:
            out.append(x)
            continue
        if is_leaf is not None and is_leaf(x):
            return None
        node_type = _DISPATCH.get(type(x), _UNRESOLVED)
        if node_type is _UNRESOLVED:
            node_type = _resolve(type(x))
        if node_type is None or type(x) is not node[0]:
            return None
        children, aux = node_type.flatten(x)
        try:
            same = len(children) == node[1] and bool(aux == node[2])
        except (TypeError, ValueError):  # aux data that does not compare to a bool
            same = False
        if not same:
            return None
        stack.extend(reversed(children))
    return out


def flatten_with_paths(
    tree: PyTree,
    is_leaf: Callable[[Any], bool] | None,
    key_types: Mapping[str, Callable[[Any], Any]],
) -> tuple[list[tuple[Any, ...]], list[Any], PyTreeDef]:
    """The key path of every leaf, the leaves and the structure, in one walk of ``tree``.

    What :mod:`fgrad.core.key_paths` builds its functions on.

    Parameters
    ----------
    tree : pytree
    is_leaf : callable or None
        As in :func:`tree_flatten`.
    key_types : mapping
        The key class of each :attr:`NodeType.key_type` name, e.g.
        ``{"DictKey": DictKey, ...}``; a key is ``key_types[row.key_type](name)``.

    Returns
    -------
    paths : list of tuples of keys
        The key path of each leaf, in :func:`tree_flatten` order.
    leaves : list
        As :func:`tree_flatten` returns them.
    treedef : PyTreeDef
    """
    # tree_flatten's walk asks is_leaf about every node in pre-order, the order of
    # treedef._nodes: noting the nodes there pairs each container with its row and aux
    # data, which is what names its children. The hot tree_flatten loop stays as it is.
    seen: list[Any] = []

    def note(x: Any) -> Any:
        seen.append(x)
        return is_leaf is not None and is_leaf(x)

    leaves, treedef = tree_flatten(tree, note)
    # A node's path is on top of the stack when it is reached (pre-order again), and a
    # container pushes its children's paths, first child topmost.
    paths: list[tuple[Any, ...]] = []
    pending: list[tuple[Any, ...]] = [()]
    for x, node, node_type in zip(seen, treedef._nodes, treedef._node_types):
        path = pending.pop()
        if node is None:
            paths.append(path)
            continue
        nodetype, n, aux = node
        names = node_type.child_names(x, nodetype, aux, n)
        if node_type.key_type is not None:
            key_type = key_types[node_type.key_type]
            names = [key_type(name) for name in names]
        pending.extend([path + (k,) for k in reversed(names)])
    return paths, leaves, treedef


def register_pytree_node(
    nodetype: type,
    flatten_fn: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten_fn: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys_func: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]] | None = None,
) -> None:
    """Make instances of ``nodetype`` containers rather than leaves.

    The signatures are JAX's, so registrations written for JAX work unchanged.

    Parameters
    ----------
    nodetype : type
        The class to register. Matching is by exact type; subclasses are not
        covered.
    flatten_fn : callable
        ``flatten_fn(x) -> (children, aux_data)``. ``children`` is an iterable of
        subtrees (flattened further); ``aux_data`` is anything else needed to
        rebuild ``x``. It becomes part of the :class:`PyTreeDef`, so it must be
        hashable and comparable with ``==`` -- two trees are only "the same
        structure" when their aux data are equal.
    unflatten_fn : callable
        ``unflatten_fn(aux_data, children) -> x``; ``children`` is a tuple. It may
        receive leaves that are not arrays (tracers, ``None`` placeholders, ...),
        so it should store them without validating them.
    flatten_with_keys_func : callable, optional
        ``flatten_with_keys_func(x) -> (((key, child), ...), aux_data)``: names
        for the children in key paths (see
        :func:`~fgrad.core.key_paths.register_pytree_with_keys`). Without it they
        are ``FlattenedIndexKey(i)``.

    Raises
    ------
    ValueError
        If ``nodetype`` is already registered (built-in containers included).
    TypeError
        If ``nodetype`` is not a class or the functions are not callable.
    """
    if not callable(flatten_fn) or not callable(unflatten_fn):
        raise TypeError("register_pytree_node: flatten_fn and unflatten_fn must be callable")
    if flatten_with_keys_func is not None and not callable(flatten_with_keys_func):
        raise TypeError("register_pytree_node: flatten_with_keys_func must be callable")
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node: nodetype must be a class, got {nodetype!r}")
    _register(nodetype, _custom_node(nodetype, flatten_fn, unflatten_fn, flatten_with_keys_func))


def _field_names(value: Sequence[str] | None, arg: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(
            f"register_dataclass: {arg} must be a sequence of field names, got the string "
            f"{value!r}; write ({value!r},) for a single field"
        )
    names = tuple(value)
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"register_dataclass: {arg} must contain field names, got {n!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"register_dataclass: {arg} lists a field twice: {names!r}")
    return names


def register_dataclass(
    cls: T | None = None,
    *,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] = (),
) -> T | Callable[[T], T]:
    """Register a dataclass as a pytree node, with some fields static.

    Unregistered dataclasses are already containers whose every field is a
    child. Registering is for fields that are *configuration*, not parameters
    (an activation name, a layer count): as meta fields they become part of the
    :class:`PyTreeDef` instead of leaves, so transforms neither differentiate
    them nor see them as arrays, and changing them changes the structure.

    Usable as ``@register_dataclass``, as
    ``@register_dataclass(meta_fields=("act",))``, or called directly.

    Parameters
    ----------
    cls : type, optional
        The class. Omit it to get a decorator.
    data_fields : sequence of str, optional
        Fields that are children, in this order. By default every ``init=True``
        field that is not a meta field.
    meta_fields : sequence of str, optional
        Static fields, stored in the aux data: they must be hashable and
        comparable. Fields declared with ``field(metadata={"static": True})``
        (JAX's convention) are meta fields too when ``data_fields`` is omitted.

    Returns
    -------
    type or callable
        ``cls`` itself (so it works as a decorator), or a decorator.

    Raises
    ------
    ValueError
        If a field is listed as both data and meta, or, for a dataclass, names a
        field that is not an ``init=True`` field or leaves one out: the class is
        rebuilt by calling ``cls(**fields)``, so every init argument is needed.
    TypeError
        If ``cls`` is not a dataclass and ``data_fields`` is not given.
    """
    data_names = _field_names(data_fields, "data_fields")
    meta_names = _field_names(meta_fields, "meta_fields")
    assert meta_names is not None

    def register(cls: T) -> T:
        if not isinstance(cls, type):
            raise TypeError(f"register_dataclass: expected a class, got {cls!r}")
        name = _type_name(cls)
        is_dc = dataclasses.is_dataclass(cls)
        if data_names is None and not is_dc:
            raise TypeError(
                f"register_dataclass: {name} is not a dataclass, so its fields cannot be "
                "inferred; decorate it with @dataclasses.dataclass first or pass data_fields"
            )
        meta = meta_names
        if data_names is None:
            init_fields = [f for f in dataclasses.fields(cls) if f.init]
            meta += tuple(f.name for f in init_fields if _is_static_field(f) and f.name not in meta)
            data = tuple(f.name for f in init_fields if f.name not in meta)
        else:
            data = data_names
        both = set(data) & set(meta)
        if both:
            raise ValueError(
                f"register_dataclass: {name} fields {sorted(both)} are listed as both data "
                "and meta fields"
            )
        if is_dc:
            init_names = {f.name for f in dataclasses.fields(cls) if f.init}
            unknown = [n for n in data + meta if n not in init_names]
            if unknown:
                raise ValueError(
                    f"register_dataclass: {unknown} are not init=True fields of {name} "
                    f"(those are {sorted(init_names)}); it is rebuilt by calling {name}(**fields)"
                )
            missing = sorted(init_names - set(data) - set(meta))
            if missing:
                raise ValueError(
                    f"register_dataclass: init fields {missing} of {name} are neither data nor "
                    f"meta fields; {name} is rebuilt by calling {name}(**fields), so each must "
                    "be one or the other"
                )
        _register(cls, _dataclass_node(data, meta))
        return cls

    if cls is None:
        return register
    return register(cls)
