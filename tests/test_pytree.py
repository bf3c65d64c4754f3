"""Tests of fgrad.core.pytree: flattening, rebuilding, mapping and registering containers."""

from __future__ import annotations

import collections
import copy
import dataclasses
import sys
from typing import Any, NamedTuple

import numpy as np
import pytest

import fgrad
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

Point = collections.namedtuple("Point", ["x", "y"])


class Pair(NamedTuple):
    first: Any
    second: Any


@dataclasses.dataclass
class AutoParams:
    w: Any
    b: Any


@dataclasses.dataclass(frozen=True)
class FrozenAuto:
    a: Any
    b: Any = 0
    derived: Any = dataclasses.field(init=False, default=None)


@register_dataclass(meta_fields=("act",))
@dataclasses.dataclass
class Layer:
    w: Any
    b: Any
    act: str = "relu"


@register_dataclass
@dataclasses.dataclass
class BareRegistered:
    z: Any
    a: Any


@dataclasses.dataclass
class StaticMeta:
    w: Any
    n: int = dataclasses.field(default=3, metadata={"static": True})


register_dataclass(StaticMeta)


class Box:
    """A custom container registered with register_pytree_node."""

    def __init__(self, items: list, label: str) -> None:
        self.items = items
        self.label = label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and self.items == other.items and self.label == other.label


register_pytree_node(Box, lambda b: (b.items, b.label), lambda label, ch: Box(list(ch), label))


def roundtrip(tree: Any) -> Any:
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, leaves)


# --------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tree",
    [
        1.5,
        None,
        [],
        (),
        {},
        [1, 2, 3],
        (1, (2, 3), [4]),
        {"a": 1, "b": [2, (3, 4)], "c": {"d": 5}},
        [None, 1, (None,), {"x": None}],
        Point(1, [2, 3]),
        Pair({"k": 1}, (2,)),
        collections.OrderedDict([("z", 1), ("a", [2, 3])]),
        {"outer": Point(x=None, y=(1, 2))},
    ],
)
def test_roundtrip_builtin_containers(tree: Any) -> None:
    out = roundtrip(tree)
    assert out == tree
    assert type(out) is type(tree)


def test_roundtrip_preserves_container_types_deeply() -> None:
    tree = {"p": Point(1, 2), "t": (1,), "l": [1], "n": None, "o": collections.OrderedDict(a=1)}
    out = roundtrip(tree)
    assert type(out["p"]) is Point
    assert type(out["t"]) is tuple
    assert type(out["l"]) is list
    assert out["n"] is None
    assert type(out["o"]) is collections.OrderedDict


def test_roundtrip_numpy_leaves_are_the_same_objects() -> None:
    a, b = np.ones(3), np.zeros((2, 2))
    leaves, treedef = tree_flatten({"a": a, "b": [b]})
    assert leaves[0] is a and leaves[1] is b
    out = tree_unflatten(treedef, leaves)
    assert out["a"] is a and out["b"][0] is b


def test_unflatten_builds_fresh_containers() -> None:
    inner = [1, 2]
    tree = {"a": inner}
    out = roundtrip(tree)
    assert out == tree
    assert out is not tree and out["a"] is not inner


def test_ordereddict_keeps_insertion_order() -> None:
    od = collections.OrderedDict([("z", 1), ("a", 2), ("m", 3)])
    leaves, treedef = tree_flatten(od)
    assert leaves == [1, 2, 3]
    out = tree_unflatten(treedef, ["Z", "A", "M"])
    assert list(out.items()) == [("z", "Z"), ("a", "A"), ("m", "M")]


def test_ordereddict_order_is_part_of_structure() -> None:
    a = collections.OrderedDict([("x", 1), ("y", 2)])
    b = collections.OrderedDict([("y", 2), ("x", 1)])
    assert tree_structure(a) != tree_structure(b)


def test_defaultdict_sorted_and_factory_kept() -> None:
    dd = collections.defaultdict(list, {"b": 1, "a": 2})
    leaves, treedef = tree_flatten(dd)
    assert leaves == [2, 1]
    out = tree_unflatten(treedef, [20, 10])
    assert type(out) is collections.defaultdict
    assert out.default_factory is list
    assert dict(out) == {"a": 20, "b": 10}
    assert out["missing"] == []  # factory really works
    other = collections.defaultdict(dict, {"b": 1, "a": 2})
    assert tree_structure(dd) != tree_structure(other)


def test_dict_key_order_is_sorted_in_leaves() -> None:
    tree = {"c": 3, "a": 1, "b": 2}
    assert tree_leaves(tree) == [1, 2, 3]
    assert tree_leaves({2: "two", 10: "ten", 1: "one"}) == ["one", "two", "ten"]
    # The structure does not depend on insertion order either.
    assert tree_structure({"a": 0, "b": 0}) == tree_structure({"b": 0, "a": 0})
    out = roundtrip(tree)
    assert list(out) == ["a", "b", "c"]


def test_dict_with_unsortable_keys_uses_insertion_order() -> None:
    tree = {1: "int", "x": "str", (2,): "tuple"}
    leaves, treedef = tree_flatten(tree)
    assert leaves == ["int", "str", "tuple"]
    assert tree_unflatten(treedef, leaves) == tree


def test_nested_leaf_order_is_depth_first_left_to_right() -> None:
    tree = [1, {"b": (3, 4), "a": 2}, [[5], 6], Point(7, 8)]
    assert tree_leaves(tree) == [1, 2, 3, 4, 5, 6, 7, 8]


# --------------------------------------------------------------------------------------
# None
# --------------------------------------------------------------------------------------
def test_none_is_an_empty_node_not_a_leaf() -> None:
    assert tree_leaves([None, 1]) == [1]
    assert tree_leaves(None) == []
    leaves, treedef = tree_flatten(None)
    assert leaves == [] and treedef.num_leaves == 0
    assert tree_unflatten(treedef, []) is None
    assert tree_map(lambda x: x * 10, {"a": None, "b": 2}) == {"a": None, "b": 20}


def test_none_versus_leaf_is_a_structure_difference() -> None:
    assert tree_structure([None]) != tree_structure([1])
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, [None], [1])


def test_is_leaf_can_make_none_a_leaf() -> None:
    assert tree_leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]


# --------------------------------------------------------------------------------------
# dataclasses
# --------------------------------------------------------------------------------------
def test_unregistered_dataclass_is_a_node() -> None:
    p = AutoParams(w=np.ones(2), b={"y": 2, "x": 1})
    leaves, treedef = tree_flatten(p)
    assert len(leaves) == 3
    assert leaves[0] is p.w and leaves[1:] == [1, 2]
    out = tree_unflatten(treedef, [10, 20, 30])
    assert out == AutoParams(w=10, b={"x": 20, "y": 30})
    assert treedef.num_leaves == 3


def test_unregistered_frozen_dataclass_skips_init_false_fields() -> None:
    f = FrozenAuto(a=1, b=[2, 3])
    leaves, treedef = tree_flatten(f)
    assert leaves == [1, 2, 3]
    out = tree_unflatten(treedef, [4, 5, 6])
    assert out == FrozenAuto(a=4, b=[5, 6])
    assert type(out) is FrozenAuto


def test_registered_dataclass_meta_fields_are_in_treedef() -> None:
    layer = Layer(w=1.0, b=2.0, act="tanh")
    leaves, treedef = tree_flatten(layer)
    assert leaves == [1.0, 2.0]  # the static field is not a leaf
    out = tree_unflatten(treedef, [3.0, 4.0])
    assert out == Layer(w=3.0, b=4.0, act="tanh")
    # The meta value is part of the structure.
    assert treedef == tree_structure(Layer(w=0, b=0, act="tanh"))
    assert treedef != tree_structure(Layer(w=0, b=0, act="relu"))
    assert "act='tanh'" in repr(treedef)


def test_register_dataclass_bare_decorator_uses_declaration_order() -> None:
    leaves, treedef = tree_flatten(BareRegistered(z=1, a=2))
    assert leaves == [1, 2]
    assert tree_unflatten(treedef, [5, 6]) == BareRegistered(z=5, a=6)


def test_register_dataclass_honours_static_metadata() -> None:
    leaves, treedef = tree_flatten(StaticMeta(w=1.0, n=5))
    assert leaves == [1.0]
    assert tree_unflatten(treedef, [2.0]) == StaticMeta(w=2.0, n=5)


def test_register_dataclass_explicit_data_fields_order() -> None:
    @dataclasses.dataclass
    class C:
        a: Any
        b: Any
        tag: str

    register_dataclass(C, data_fields=["b", "a"], meta_fields=["tag"])
    leaves, treedef = tree_flatten(C(a=1, b=2, tag="t"))
    assert leaves == [2, 1]
    assert tree_unflatten(treedef, [20, 10]) == C(a=10, b=20, tag="t")


def test_register_dataclass_errors() -> None:
    @dataclasses.dataclass
    class D:
        a: Any
        b: Any

    with pytest.raises(ValueError, match="both"):
        register_dataclass(D, data_fields=["a", "b"], meta_fields=["b"])
    with pytest.raises(ValueError, match="neither"):
        register_dataclass(D, data_fields=["a"])
    with pytest.raises(ValueError, match="not init=True"):
        register_dataclass(D, data_fields=["a", "b", "c"])
    with pytest.raises(TypeError, match="single field"):
        register_dataclass(D, meta_fields="b")

    class NotADataclass:
        pass

    with pytest.raises(TypeError, match="not a dataclass"):
        register_dataclass(NotADataclass)

    register_dataclass(D)
    with pytest.raises(ValueError, match="already registered"):
        register_dataclass(D)


def test_register_dataclass_on_non_dataclass_with_data_fields() -> None:
    class Plain:
        def __init__(self, x: Any, scale: float) -> None:
            self.x = x
            self.scale = scale

    register_dataclass(Plain, data_fields=("x",), meta_fields=("scale",))
    leaves, treedef = tree_flatten(Plain([1, 2], 0.5))
    assert leaves == [1, 2]
    out = tree_unflatten(treedef, [3, 4])
    assert isinstance(out, Plain) and out.x == [3, 4] and out.scale == 0.5


def test_registering_overrides_automatic_dataclass_handling() -> None:
    @dataclasses.dataclass
    class E:
        w: Any
        k: int

    assert tree_leaves(E(w=1, k=2)) == [1, 2]  # automatic: every field a child (now cached)
    register_dataclass(E, meta_fields=("k",))
    assert tree_leaves(E(w=1, k=2)) == [1]


# --------------------------------------------------------------------------------------
# tree_map
# --------------------------------------------------------------------------------------
def test_tree_map_single_tree() -> None:
    tree = {"a": [1, 2], "b": (3, None), "c": Point(4, 5)}
    out = tree_map(lambda x: x + 1, tree)
    assert out == {"a": [2, 3], "b": (4, None), "c": Point(5, 6)}
    assert type(out["c"]) is Point


def test_tree_map_multiple_trees() -> None:
    params = {"w": np.array([1.0, 2.0]), "b": [np.float64(3.0)]}
    grads = {"b": [np.float64(1.0)], "w": np.array([0.5, 0.5])}  # other insertion order
    scale = {"w": 2.0, "b": [10.0]}
    out = tree_map(lambda p, g, s: p - s * g, params, grads, scale)
    np.testing.assert_allclose(out["w"], [0.0, 1.0])
    assert out["b"][0] == pytest.approx(-7.0)


def test_tree_map_over_dataclasses_and_custom_nodes() -> None:
    a = [Layer(1.0, 2.0, "tanh"), Box([1, 2], "L")]
    b = [Layer(10.0, 20.0, "tanh"), Box([3, 4], "L")]
    out = tree_map(lambda x, y: x + y, a, b)
    assert out == [Layer(11.0, 22.0, "tanh"), Box([4, 6], "L")]


def test_tree_map_structure_mismatch_errors_name_both_structures() -> None:
    with pytest.raises(ValueError) as info:
        tree_map(lambda a, b: a + b, {"a": 1, "b": 2}, {"a": 1, "c": 2})
    msg = str(info.value)
    assert "PyTreeDef({'a': *, 'b': *})" in msg
    assert "PyTreeDef({'a': *, 'c': *})" in msg
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, [1, 2], (1, 2))  # list vs tuple
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, [1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, [1, [2]], [1, 2])
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, Layer(1, 2, "relu"), Layer(1, 2, "tanh"))  # meta differs
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, Point(1, 2), (1, 2))  # namedtuple vs tuple


def test_tree_map_is_leaf() -> None:
    tree = [(1, 2), (3, 4)]
    out = tree_map(lambda t: t[0] * t[1], tree, is_leaf=lambda x: isinstance(x, tuple))
    assert out == [2, 12]
    # is_leaf applies to the root too.
    assert tree_map(len, tree, is_leaf=lambda x: isinstance(x, list)) == 2


# --------------------------------------------------------------------------------------
# is_leaf
# --------------------------------------------------------------------------------------
def test_is_leaf_stops_flattening() -> None:
    tree = {"a": (1, 2), "b": [3, (4, 5)]}
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), 3, (4, 5)]
    assert treedef.num_leaves == 3
    assert tree_unflatten(treedef, leaves) == tree
    assert tree_structure(tree, is_leaf=lambda x: isinstance(x, tuple)) == treedef


# --------------------------------------------------------------------------------------
# register_pytree_node
# --------------------------------------------------------------------------------------
def test_register_pytree_node_custom_class() -> None:
    box = Box([1, {"b": 3, "a": 2}], "hello")
    leaves, treedef = tree_flatten(box)
    assert leaves == [1, 2, 3]
    out = tree_unflatten(treedef, [10, 20, 30])
    assert out == Box([10, {"a": 20, "b": 30}], "hello")
    assert treedef != tree_structure(Box([1, {"b": 3, "a": 2}], "other"))  # aux differs
    assert "CustomNode(Box['hello']" in repr(treedef)


def test_register_pytree_node_generator_children_and_tuple_arg() -> None:
    seen = []

    class Gen:
        def __init__(self, *xs: Any) -> None:
            self.xs = xs

    def unflatten(aux: Any, children: Any) -> Gen:
        seen.append(type(children))
        return Gen(*children)

    register_pytree_node(Gen, lambda g: ((x for x in g.xs), None), unflatten)
    leaves, treedef = tree_flatten(Gen(1, 2, 3))
    assert leaves == [1, 2, 3]
    assert tree_unflatten(treedef, [4, 5, 6]).xs == (4, 5, 6)
    assert seen == [tuple]


def test_register_same_type_twice_raises() -> None:
    class Once:
        pass

    register_pytree_node(Once, lambda o: ((), None), lambda aux, ch: Once())
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(Once, lambda o: ((), None), lambda aux, ch: Once())
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(dict, lambda d: ((), None), lambda aux, ch: {})


def test_register_pytree_node_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        register_pytree_node("notatype", lambda x: ((), None), lambda a, c: None)  # type: ignore[arg-type]

    class Bad:
        pass

    register_pytree_node(Bad, lambda b: [1, 2, 3], lambda a, c: Bad())
    with pytest.raises(TypeError, match="must return a pair"):
        tree_flatten(Bad())


def test_registering_a_type_after_it_was_seen_as_leaf() -> None:
    class Late:
        def __init__(self, v: Any) -> None:
            self.v = v

    assert tree_leaves([Late(1)])[0].v == 1  # a leaf, and cached as one
    register_pytree_node(Late, lambda x: ((x.v,), None), lambda aux, ch: Late(*ch))
    assert tree_leaves([Late(1)]) == [1]


def test_subclasses_of_builtin_containers_are_leaves() -> None:
    class MyDict(dict):
        pass

    d = MyDict(a=1)
    assert tree_leaves(d) == [d]


# --------------------------------------------------------------------------------------
# PyTreeDef
# --------------------------------------------------------------------------------------
def test_treedef_equality_and_hash() -> None:
    s1 = tree_structure({"a": [1, 2], "b": (3,)})
    s2 = tree_structure({"b": ("x",), "a": [np.ones(3), "y"]})
    assert s1 == s2
    assert hash(s1) == hash(s2)
    assert len({s1, s2}) == 1
    cache = {s1: "hit"}
    assert cache[s2] == "hit"

    different = [
        tree_structure({"a": [1, 2], "b": [3]}),  # tuple -> list
        tree_structure({"a": [1, 2, 3], "b": (3,)}),  # more leaves
        tree_structure({"a": [1, 2], "c": (3,)}),  # other key
        tree_structure({"a": [1, None], "b": (3,)}),  # None is not a leaf
        tree_structure([1, 2, 3]),
        tree_structure(1),
    ]
    for d in different:
        assert d != s1
        assert not (d == s1)
    assert len({s1, *different}) == len(different) + 1
    assert s1 != "PyTreeDef({'a': [*, *], 'b': (*,)})"


def test_treedef_distinguishes_namedtuple_classes() -> None:
    assert tree_structure(Point(1, 2)) != tree_structure(Pair(1, 2))
    assert tree_structure(Point(1, 2)) == tree_structure(Point("a", "b"))


def test_treedef_is_immutable_and_copies_to_itself() -> None:
    s = tree_structure([1, 2])
    with pytest.raises(AttributeError):
        s.num_leaves = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s._nodes = ()  # type: ignore[misc]
    assert copy.copy(s) is s and copy.deepcopy(s) is s


def test_num_leaves_and_num_nodes() -> None:
    assert tree_structure(1).num_leaves == 1
    assert tree_structure([]).num_leaves == 0
    assert tree_structure(None).num_leaves == 0
    s = tree_structure({"a": [1, 2], "b": (3, None), "c": Layer(1, 2)})
    assert s.num_leaves == 5
    # dict, list, 2 leaves, tuple, leaf, None, Layer, 2 leaves
    assert s.num_nodes == 10


def test_treedef_repr() -> None:
    assert repr(tree_structure({"b": [1, 2], "a": 3})) == "PyTreeDef({'a': *, 'b': [*, *]})"
    assert repr(tree_structure(1)) == "PyTreeDef(*)"
    assert repr(tree_structure(None)) == "PyTreeDef(None)"
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure(((), []))) == "PyTreeDef(((), []))"
    assert repr(tree_structure(Point(1, (2, 3)))) == "PyTreeDef(Point(x=*, y=(*, *)))"
    assert repr(tree_structure(Layer(1, 2, "tanh"))) == "PyTreeDef(Layer(w=*, b=*, act='tanh'))"
    od = collections.OrderedDict(b=1, a=2)
    assert repr(tree_structure(od)) == "PyTreeDef(OrderedDict({'b': *, 'a': *}))"
    dd = collections.defaultdict(list, {"k": 1})
    assert repr(tree_structure(dd)) == "PyTreeDef(defaultdict(list, {'k': *}))"


def test_treedef_unflatten_method() -> None:
    s = tree_structure([1, (2, 3)])
    assert isinstance(s, PyTreeDef)
    assert s.unflatten(iter("abc")) == ["a", ("b", "c")]


# --------------------------------------------------------------------------------------
# tree_unflatten errors
# --------------------------------------------------------------------------------------
def test_unflatten_wrong_leaf_count() -> None:
    s = tree_structure({"a": 1, "b": [2, 3]})
    with pytest.raises(ValueError, match="expects 3 leaves, but got 2"):
        tree_unflatten(s, [1, 2])
    with pytest.raises(ValueError, match="expects 3 leaves, but got 4"):
        tree_unflatten(s, [1, 2, 3, 4])


def test_unflatten_swapped_arguments() -> None:
    leaves, treedef = tree_flatten([1, 2])
    with pytest.raises(TypeError, match="PyTreeDef"):
        tree_unflatten(leaves, treedef)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# robustness
# --------------------------------------------------------------------------------------
def test_deep_nesting_beyond_recursion_limit() -> None:
    depth = sys.getrecursionlimit() + 500
    tree: Any = 0
    for i in range(1, depth):
        tree = [tree, i]
    leaves, treedef = tree_flatten(tree)
    assert leaves == list(range(depth))
    assert treedef.num_leaves == depth
    rebuilt = tree_unflatten(treedef, leaves)
    assert tree_leaves(rebuilt) == leaves
    assert tree_structure(rebuilt) == treedef
    assert repr(treedef).startswith("PyTreeDef([[[")
    out = tree_map(lambda x: -x, tree)
    assert tree_leaves(out)[-1] == -(depth - 1)


def test_leaves_are_never_compared_or_converted() -> None:
    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("leaves must not be compared")

        __hash__ = None  # type: ignore[assignment]

        def __bool__(self) -> bool:
            raise AssertionError("leaves must not be converted to bool")

    h = Hostile()
    leaves, treedef = tree_flatten({"a": [h, h]})
    assert leaves[0] is h and leaves[1] is h
    assert tree_structure({"a": [h, h]}) == treedef
    hash(treedef)
    assert tree_unflatten(treedef, leaves)["a"][0] is h


def test_unhashable_aux_data_gives_clear_error() -> None:
    @dataclasses.dataclass
    class WithListMeta:
        w: Any
        sizes: list

    register_dataclass(WithListMeta, meta_fields=("sizes",))
    s1 = tree_structure(WithListMeta(1, [1, 2]))
    s2 = tree_structure(WithListMeta(1, [1, 2]))
    assert s1 == s2 and hash(s1) == hash(s2)  # a list is hashed by its contents
    assert s1 != tree_structure(WithListMeta(1, [2, 1]))
    with pytest.raises(TypeError, match="not hashable .* static field 'sizes' is a ndarray"):
        hash(tree_structure(WithListMeta(1, np.arange(2))))


# -- fgrad.tree_util, JAX's module name ------------------------------------------------------


def test_tree_util_module_has_jax_names():
    from fgrad import tree_util

    assert tree_util.tree_map is fgrad.tree_map
    grads = {"w": np.array([3.0, 4.0]), "b": [np.array(12.0)]}
    squared = tree_util.tree_reduce(lambda acc, g: acc + np.sum(g**2), grads, 0.0)
    assert squared == 169.0
    assert tree_util.tree_reduce(max, [3, 7, 5]) == 7
    assert tree_util.tree_all({"a": True, "b": [1, np.True_]})
    assert not tree_util.tree_all([True, 0])


def test_register_pytree_node_class_works_under_grad():
    from fgrad.tree_util import register_pytree_node_class

    @register_pytree_node_class
    class Affine:
        def __init__(self, w, b, name="layer"):
            self.w, self.b, self.name = w, b, name

        def tree_flatten(self):
            return (self.w, self.b), self.name

        @classmethod
        def tree_unflatten(cls, name, children):
            return cls(*children, name=name)

    layer = Affine(np.array([1.0, 2.0]), np.array(0.5))
    x = np.array([3.0, -1.0])
    g = fgrad.grad(lambda p: (p.w @ x + p.b) ** 2)(layer)
    assert isinstance(g, Affine) and g.name == "layer"
    residual = 2 * (layer.w @ x + layer.b)  # d/dw (w.x + b)^2 = 2 (w.x + b) x
    np.testing.assert_allclose(g.w, residual * x)
    np.testing.assert_allclose(g.b, residual)


def test_tree_map_passes_the_subtrees_under_a_prefix() -> None:
    # As in JAX: a later tree may be deeper, with the first tree's structure as a prefix;
    # f gets whatever sits at each leaf position of the first tree.
    mask = {"w": True, "opt": False}
    params = {"w": [1.0, 2.0], "opt": {"m": 3.0, "v": None}}
    got = tree_map(lambda m, x: (m, x), mask, params)
    assert got == {"w": (True, [1.0, 2.0]), "opt": (False, {"m": 3.0, "v": None})}
    assert tree_map(lambda a, b, c: a + len(b) + c, [1, 2], [[0, 0], (0,)], [10, 20]) == [13, 23]
    # A leaf position holding None (a node with no children) in the deeper tree.
    assert tree_map(lambda a, b: b, {"a": 1}, {"a": None}) == {"a": None}
    # Mismatches above the first tree's leaves stay errors, with both structures shown.
    with pytest.raises(ValueError, match=r"prefix.*PyTreeDef\(\[\*, \(\*, \*, \*\)\]\)"):
        tree_map(lambda a, b: a, [1, (2, 3)], [1, (2, 3, 4)])
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, {"a": 1}, {"b": [1, 2]})


def test_tree_map_prefix_matches_jax() -> None:
    jax = pytest.importorskip("jax")
    first = {"a": 1, "b": (2, 3)}
    second = {"a": [4, {"c": 5}], "b": ({"d": 6}, [7, 8])}

    def f(x, y):
        return (x, len(tree_leaves(y)))

    ours = tree_map(f, first, second)
    theirs = jax.tree_util.tree_map(f, first, second)
    assert ours == theirs
