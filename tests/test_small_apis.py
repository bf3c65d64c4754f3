"""The small JAX APIs of issue 15 item 5: each against a closed form or NumPy, and under
the transforms where they mean something."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp


# --------------------------------------------------------------------------------------
# jit as a decorator factory
# --------------------------------------------------------------------------------------
def test_jit_decorator_factory_static_argnums():
    traces = []

    @fgrad.jit(static_argnums=1)
    def power(x, n):
        traces.append(n)
        return x**n

    assert power(2.0, 3) == 8.0
    assert power(3.0, 3) == 27.0
    assert power(2.0, 4) == 16.0
    assert traces == [3, 4]  # one trace per static value, replayed for new x


def test_jit_decorator_factory_static_argnames_and_partial():
    @fgrad.jit(static_argnames="training")
    def f(x, training):
        return x * 2.0 if training else x

    @functools.partial(fgrad.jit, static_argnames=("training",))
    def g(x, training):
        return x * 2.0 if training else x

    for h in (f, g):
        np.testing.assert_allclose(h(np.ones(3), training=True), 2 * np.ones(3))
        np.testing.assert_allclose(h(np.ones(3), training=False), np.ones(3))
    np.testing.assert_allclose(fgrad.grad(lambda x: fnp.sum(f(x, training=True)))(np.ones(2)),
                               [2.0, 2.0])


# --------------------------------------------------------------------------------------
# fgrad.tree, tree_transpose, Partial
# --------------------------------------------------------------------------------------
def test_tree_module_names_match_tree_util():
    tree = {"b": [np.arange(2.0), 3.0], "a": (4.0, None)}
    leaves, treedef = fgrad.tree.flatten(tree)
    assert [np.asarray(x).tolist() for x in leaves] == [4.0, [0.0, 1.0], 3.0]
    assert fgrad.tree.structure(tree) == treedef
    assert fgrad.tree.leaves(tree) == leaves
    assert fgrad.tree.unflatten(treedef, [1, 2, 3]) == {"b": [2, 3], "a": (1, None)}
    doubled = fgrad.tree.map(lambda x, y: x + y, tree, tree)
    np.testing.assert_array_equal(doubled["b"][0], [0.0, 2.0])
    assert doubled["a"] == (8.0, None)
    assert fgrad.tree.reduce(lambda s, x: s + fnp.sum(x), tree, 0.0) == 8.0
    assert fgrad.tree.reduce(max, [3, 9, 2]) == 9
    assert fgrad.tree.all([True, (1, 2.0)]) and not fgrad.tree.all({"x": [True, 0]})
    assert fgrad.tree.all([[0]], is_leaf=lambda x: x == [0])  # [0] kept whole: truthy


def test_tree_transpose_closed_form_and_inverse():
    outer = fgrad.tree.structure([0, 0, 0])
    inner = fgrad.tree.structure({"w": 0, "b": (0, 0)})
    tree = [{"w": 10 * j, "b": (10 * j + 1, 10 * j + 2)} for j in range(3)]
    out = fgrad.tree_util.tree_transpose(outer, inner, tree)
    assert out == {"w": [0, 10, 20], "b": ([1, 11, 21], [2, 12, 22])}
    assert fgrad.tree.transpose(inner, outer, out) == tree
    with pytest.raises(ValueError, match="not the outer structure"):
        fgrad.tree.transpose(outer, inner, [{"w": 0, "b": (1, 2)}] * 2)
    with pytest.raises(ValueError, match="not the outer structure"):
        fgrad.tree.transpose(outer, inner, [{"w": 0, "c": (1, 2)}] * 3)


def test_partial_is_a_pytree_through_jit_grad_vmap():
    from fgrad.tree_util import Partial

    def affine(w, x, *, b):
        return w * x + b

    f = Partial(affine, np.array([2.0, 3.0]), b=np.array(1.0))
    leaves, treedef = fgrad.tree.flatten(f)
    assert [x.tolist() for x in leaves] == [[2.0, 3.0], 1.0]
    g = fgrad.tree.unflatten(treedef, [np.array([5.0, 7.0]), np.array(0.5)])
    assert isinstance(g, Partial) and g.func is affine
    np.testing.assert_allclose(g(2.0), [10.5, 14.5])

    apply = fgrad.jit(lambda fn, x: fn(x))
    np.testing.assert_allclose(apply(f, np.array(4.0)), [9.0, 13.0])
    np.testing.assert_allclose(apply(g, np.array(4.0)), [20.5, 28.5])
    # the bound arrays are differentiable leaves: d/dw sum(w*x + b) = x, d/db = 2
    dfn = fgrad.grad(lambda fn, x: fnp.sum(fn(x)))(f, np.array(4.0))
    assert isinstance(dfn, Partial)
    np.testing.assert_allclose(dfn.args[0], [4.0, 4.0])
    np.testing.assert_allclose(dfn.keywords["b"], 2.0)
    # returned from jit, and mapped by vmap over the bound array
    made = fgrad.jit(lambda w: Partial(affine, w, b=np.array(0.0)))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(made(3.0), [3.0, 6.0])
    ws = np.arange(6.0).reshape(3, 2)
    batched = fgrad.vmap(lambda fn: fn(2.0))(Partial(affine, ws, b=np.zeros(3)))
    np.testing.assert_allclose(batched, 2 * ws)
