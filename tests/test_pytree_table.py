"""The node table of fgrad.core.pytree: every row flattens, rebuilds and names its children
consistently, key paths come from one walk, and register_pytree_node takes JAX's
optional flatten_with_keys_func."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, NamedTuple

import numpy as np
import pytest

from fgrad import tree_util as tu


class Pair(NamedTuple):
    a: Any
    b: Any


@dataclasses.dataclass
class Auto:
    w: Any
    b: Any
    name: str = dataclasses.field(default="layer", metadata={"static": True})


@tu.register_dataclass
@dataclasses.dataclass(frozen=True)
class Registered:
    w: Any
    act: str = dataclasses.field(default="relu", metadata={"static": True})


class Box:
    def __init__(self, left: Any, right: Any) -> None:
        self.left, self.right = left, right


tu.register_pytree_node(Box, lambda x: ((x.left, x.right), None), lambda aux, c: Box(*c))


class Named:
    def __init__(self, left: Any, right: Any) -> None:
        self.left, self.right = left, right


tu.register_pytree_node(
    Named,
    lambda x: ((x.left, x.right), "aux"),
    lambda aux, c: Named(*c),
    lambda x: (((tu.GetAttrKey("left"), x.left), (tu.GetAttrKey("right"), x.right)), "aux"),
)


def _leaf(i: int) -> np.ndarray:
    return np.full(2, float(i))


def _zoo() -> dict[str, Any]:
    """One tree per row of the node table (and the dict fallback for unsortable keys)."""
    dd = collections.defaultdict(list)
    dd["z"], dd["a"] = _leaf(1), [_leaf(2)]
    return {
        "tuple": (_leaf(0), (_leaf(1),)),
        "list": [_leaf(0), [], [_leaf(1), None]],
        "none": [None, _leaf(0)],
        "dict": {"b": _leaf(0), "a": {"y": _leaf(1), "x": _leaf(2)}},
        "unsortable dict": {1: _leaf(0), "x": _leaf(1)},
        "OrderedDict": collections.OrderedDict([("b", _leaf(0)), ("a", _leaf(1))]),
        "defaultdict": dd,
        "namedtuple": Pair(_leaf(0), [_leaf(1)]),
        "dataclass": Auto(_leaf(0), _leaf(1)),
        "register_dataclass": Registered(_leaf(0)),
        "register_pytree_node": Box(_leaf(0), {"k": _leaf(1)}),
        "flatten_with_keys_func": Named(_leaf(0), _leaf(1)),
    }


def _follow(tree: Any, path: tuple) -> Any:
    """The subtree at ``path``, found by indexing the containers themselves."""
    for key in path:
        if isinstance(key, tu.DictKey):
            tree = tree[key.key]
        elif isinstance(key, tu.SequenceKey):
            tree = tree[key.idx]
        elif isinstance(key, tu.GetAttrKey):
            tree = getattr(tree, key.name)
        else:  # FlattenedIndexKey: the i-th child of a registered node
            tree = tu.tree_flatten(tree, is_leaf=lambda x, t=tree: x is not t)[0][key.key]
    return tree


@pytest.mark.parametrize("name", list(_zoo()))
def test_paths_lead_to_their_leaves(name: str) -> None:
    tree = _zoo()[name]
    pairs, treedef = tu.tree_flatten_with_path(tree)
    leaves, expected_def = tu.tree_flatten(tree)
    assert treedef == expected_def
    assert len(pairs) == len(leaves)
    assert all(leaf is x for (_, leaf), x in zip(pairs, leaves))
    assert len({p for p, _ in pairs}) == len(pairs)
    for path, leaf in pairs:
        assert _follow(tree, path) is leaf


@pytest.mark.parametrize("name", list(_zoo()))
def test_every_row_round_trips(name: str) -> None:
    tree = _zoo()[name]
    leaves, treedef = tu.tree_flatten(tree)
    doubled = tu.tree_unflatten(treedef, [2 * x for x in leaves])
    assert tu.tree_structure(doubled) == treedef
    for x, y in zip(leaves, tu.tree_leaves(doubled)):
        np.testing.assert_array_equal(y, 2 * x)
    assert type(doubled) is type(tree)


def test_exact_paths_of_a_mixed_tree() -> None:
    tree = {"p": [Pair(1, 2), Auto(3, None)], "o": collections.OrderedDict(z=4, a=5)}
    got = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    assert got == ["['o']['z']", "['o']['a']", "['p'][0].a", "['p'][0].b", "['p'][1].w"]
    assert tu.tree_leaves(tree) == [4, 5, 1, 2, 3]


def test_flatten_with_keys_func_names_the_children() -> None:
    paths = [p for p, _ in tu.tree_leaves_with_path([Named(1, 2), Box(3, 4)])]
    assert paths == [
        (tu.SequenceKey(0), tu.GetAttrKey("left")),
        (tu.SequenceKey(0), tu.GetAttrKey("right")),
        (tu.SequenceKey(1), tu.FlattenedIndexKey(0)),
        (tu.SequenceKey(1), tu.FlattenedIndexKey(1)),
    ]
    # the keys change nothing else: structure, repr and rebuilding are register_pytree_node's
    leaves, treedef = tu.tree_flatten(Named(1, 2))
    assert leaves == [1, 2]
    assert repr(treedef) == "PyTreeDef(CustomNode(Named['aux'], [*, *]))"
    rebuilt = tu.tree_unflatten(treedef, [5, 6])
    assert (rebuilt.left, rebuilt.right) == (5, 6)


def test_flatten_with_keys_func_must_be_callable() -> None:
    class Late:
        pass

    with pytest.raises(TypeError, match="flatten_with_keys_func must be callable"):
        tu.register_pytree_node(Late, lambda x: ((), None), lambda a, c: Late(), 3)
    # the failed call registered nothing, so registering now succeeds
    tu.register_pytree_node(Late, lambda x: ((), None), lambda a, c: Late())


def test_key_paths_take_one_walk() -> None:
    calls = collections.Counter()

    class Counted:
        def __init__(self, x: Any) -> None:
            self.x = x

    def flatten(c: Counted) -> tuple[tuple, None]:
        calls["flatten"] += 1
        return (c.x,), None

    tu.register_pytree_node(Counted, flatten, lambda aux, c: Counted(*c))

    def is_leaf(x: Any) -> bool:
        calls["is_leaf"] += 1
        return False

    tree = {"a": [Counted(1), Counted((2, 3))], "b": None}
    pairs, treedef = tu.tree_flatten_with_path(tree, is_leaf=is_leaf)
    assert calls == {"is_leaf": treedef.num_nodes, "flatten": 2}
    assert [v for _, v in pairs] == [1, 2, 3]
    calls.clear()
    out = tu.tree_map_with_path(lambda p, x, y: len(p) * x + y, tree, tree, is_leaf=is_leaf)
    # one walk for the first tree, one tree_flatten for the second
    assert calls == {"is_leaf": 2 * treedef.num_nodes, "flatten": 4}
    assert tu.tree_leaves(out) == [3 + 1, 4 * 2 + 2, 4 * 3 + 3]


def test_is_leaf_stops_the_path_walk_where_tree_flatten_stops() -> None:
    tree = {"layers": [(1, 2), (3, 4)], "scale": 5}
    pairs, treedef = tu.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert [tu.keystr(p) for p, _ in pairs] == ["['layers'][0]", "['layers'][1]", "['scale']"]
    assert [v for _, v in pairs] == [(1, 2), (3, 4), 5]
    assert treedef == tu.tree_structure(tree, is_leaf=lambda x: isinstance(x, tuple))


def test_key_count_mismatch_is_reported() -> None:
    class Short:
        def __init__(self, a: Any, b: Any) -> None:
            self.a, self.b = a, b

    tu.register_pytree_with_keys(
        Short,
        lambda s: (((tu.GetAttrKey("a"), s.a),), None),
        lambda aux, c: Short(*c),
        lambda s: ((s.a, s.b), None),
    )
    assert tu.tree_leaves(Short(1, 2)) == [1, 2]
    with pytest.raises(ValueError, match="gives 1 children but its flatten_func gives 2"):
        tu.tree_flatten_with_path(Short(1, 2))
