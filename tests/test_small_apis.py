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
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(f(x, training=True)))(np.ones(2)), [2.0, 2.0]
    )


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


# --------------------------------------------------------------------------------------
# lax.select, lax.rsqrt, lax.dynamic_slice, lax.dynamic_update_slice
# --------------------------------------------------------------------------------------
def test_select_values_gradient_and_errors():
    x = np.array([-1.5, 0.0, 2.0])
    np.testing.assert_array_equal(fgrad.lax.select(x > 0, x, -x), np.abs(x))
    np.testing.assert_array_equal(fgrad.lax.select(np.True_, x, -x), x)
    # d/dx sum(select(x > 0, x**2, 3x)) = 2x where x > 0, else 3
    g = fgrad.grad(lambda x: fnp.sum(fgrad.lax.select(x > 0, x**2, 3 * x)))(x)
    np.testing.assert_allclose(g, [3.0, 3.0, 4.0])
    np.testing.assert_allclose(
        fgrad.jit(fgrad.vmap(fgrad.lax.select))(
            np.repeat(x[:, None] > 0, 2, axis=1), np.ones((3, 2)), np.zeros((3, 2))
        ),
        [[0, 0], [0, 0], [1, 1]],
    )
    with pytest.raises(fgrad.ShapeError, match="one shape"):
        fgrad.lax.select(x > 0, x, np.zeros(2))
    with pytest.raises(fgrad.DtypeError, match="one dtype"):
        fgrad.lax.select(x > 0, x, x.astype(np.float32))
    with pytest.raises(fgrad.DtypeError, match="boolean"):
        fgrad.lax.select(np.ones(3), x, x)
    with pytest.raises(fgrad.ShapeError, match="pred must be a scalar"):
        fgrad.lax.select(np.ones(2, bool), x, x)


def test_rsqrt_value_dtype_and_derivative():
    x = np.array([4.0, 0.25, 2.0])
    np.testing.assert_allclose(fgrad.lax.rsqrt(x), [0.5, 2.0, 2**-0.5], rtol=1e-15)
    assert fgrad.lax.rsqrt(x.astype(np.float32)).dtype == np.float32
    # d/dx x^(-1/2) = -x^(-3/2) / 2
    np.testing.assert_allclose(
        fgrad.vmap(fgrad.grad(fgrad.lax.rsqrt))(x), -0.5 * x**-1.5, rtol=1e-14
    )


def _clamped(starts, shape, sizes):
    # JAX's rule: a negative start counts once from the end, then clamp into range
    return [min(max(s + n if s < 0 else s, 0), n - k) for s, n, k in zip(starts, shape, sizes)]


def _numpy_dynamic_slice(x, starts, sizes):
    starts = _clamped(starts, x.shape, sizes)
    return x[tuple(slice(s, s + k) for s, k in zip(starts, sizes))]


def _numpy_dynamic_update_slice(x, u, starts):
    starts = _clamped(starts, x.shape, u.shape)
    out = x.copy()
    out[tuple(slice(s, s + k) for s, k in zip(starts, u.shape))] = u
    return out


STARTS = [(0, 0), (1, 3), (3, 4), (-2, 1), (9, -7), (2, 2), (-1, -1), (-5, -9)]


@pytest.mark.parametrize("starts", STARTS)
def test_dynamic_slice_clamps_like_numpy_eager_jit_and_vmap(starts):
    x = np.arange(20.0).reshape(4, 5)
    sizes = (2, 3)
    want = _numpy_dynamic_slice(x, starts, sizes)
    ds = fgrad.lax.dynamic_slice
    np.testing.assert_array_equal(ds(x, starts, sizes), want)
    np.testing.assert_array_equal(ds(x, np.array(starts), sizes), want)
    jitted = fgrad.jit(lambda x, i, j: ds(x, (i, j), sizes))
    np.testing.assert_array_equal(jitted(x, np.int64(starts[0]), np.int64(starts[1])), want)
    np.testing.assert_array_equal(
        fgrad.jit(lambda x, s: ds(x, s, sizes))(x, np.array(starts)), want
    )
    # vmap over the starts (and over the operand too)
    batch = np.array(STARTS)
    out = fgrad.vmap(lambda s: ds(x, s, sizes))(batch)
    np.testing.assert_array_equal(out, [_numpy_dynamic_slice(x, s, sizes) for s in STARTS])
    xs = np.stack([x, -x])
    out = fgrad.jit(fgrad.vmap(lambda x, s: ds(x, s, sizes), in_axes=(0, None)))(
        xs, np.array(starts)
    )
    np.testing.assert_array_equal(out, [want, -want])


@pytest.mark.parametrize("starts", STARTS)
def test_dynamic_update_slice_clamps_like_numpy_eager_jit_and_vmap(starts):
    x = np.arange(20.0).reshape(4, 5)
    u = -np.arange(1.0, 7.0).reshape(2, 3)
    want = _numpy_dynamic_update_slice(x, u, starts)
    dus = fgrad.lax.dynamic_update_slice
    np.testing.assert_array_equal(dus(x, u, starts), want)
    np.testing.assert_array_equal(x, np.arange(20.0).reshape(4, 5))  # not written into
    jitted = fgrad.jit(lambda x, u, s: dus(x, u, s))
    np.testing.assert_array_equal(jitted(x, u, np.array(starts)), want)
    out = fgrad.vmap(lambda s: dus(x, u, s))(np.array(STARTS))
    np.testing.assert_array_equal(out, [_numpy_dynamic_update_slice(x, u, s) for s in STARTS])


@pytest.mark.parametrize("compose", ["eager", "jit"])
def test_dynamic_slice_and_update_gradients_closed_form(compose):
    x = np.arange(20.0).reshape(4, 5) / 7
    u = np.linspace(-1, 1, 6).reshape(2, 3)
    starts = np.array([3, 1])  # the first start is clamped to 2
    wrap = fgrad.jit if compose == "jit" else (lambda f: f)

    def loss_slice(x, s):
        return fnp.sum(fnp.sin(fgrad.lax.dynamic_slice(x, s, (2, 3))))

    def loss_update(x, u, s):
        return fnp.sum(fgrad.lax.dynamic_update_slice(x, u, s) ** 3)

    window = (slice(2, 4), slice(1, 4))
    want = np.zeros_like(x)
    want[window] = np.cos(x[window])
    np.testing.assert_allclose(wrap(fgrad.grad(loss_slice))(x, starts), want, rtol=1e-14)
    gx, gu = wrap(fgrad.grad(loss_update, argnums=(0, 1)))(x, u, starts)
    want_x = 3 * x**2
    want_x[window] = 0.0  # overwritten elements do not reach the output
    np.testing.assert_allclose(gx, want_x, rtol=1e-14)
    np.testing.assert_allclose(gu, 3 * u**2, rtol=1e-14)
    # forward mode: the jvp in u is the tangent placed in the window
    v = np.ones_like(u)
    _, t = fgrad.jvp(lambda u: fgrad.lax.dynamic_update_slice(x, u, starts), (u,), (v,))
    want_t = np.zeros_like(x)
    want_t[window] = 1.0
    np.testing.assert_array_equal(t, want_t)


def test_dynamic_slice_in_dim_and_errors():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(fgrad.lax.dynamic_slice_in_dim(x, 3, 2, axis=1), x[:, 2:4])
    np.testing.assert_array_equal(
        fgrad.lax.dynamic_update_slice_in_dim(x, np.zeros((1, 4)), 5, axis=0)[2], np.zeros(4)
    )
    # a negative start counts from the end unless allow_negative_indices is off
    assert fgrad.lax.dynamic_slice(x, (-1, -2), (1, 2)).tolist() == [[10.0, 11.0]]
    no_neg = fgrad.lax.dynamic_slice(x, (-1, -2), (1, 2), allow_negative_indices=False)
    assert no_neg.tolist() == [[0.0, 1.0]]
    mixed = fgrad.jit(
        lambda s: fgrad.lax.dynamic_slice(x, s, (1, 2), allow_negative_indices=(True, False))
    )
    assert mixed(np.array([-1, -2])).tolist() == [[8.0, 9.0]]
    assert fgrad.lax.dynamic_slice_in_dim(
        x, -1, 1, axis=0, allow_negative_indices=False
    ).tolist() == [[0.0, 1.0, 2.0, 3.0]]
    with pytest.raises(fgrad.ShapeError, match="window size 5 on axis 0"):
        fgrad.lax.dynamic_slice(x, (0, 0), (5, 1))
    with pytest.raises(fgrad.ShapeError, match="needs 2 start indices"):
        fgrad.lax.dynamic_slice(x, (0,), (1, 1))
    with pytest.raises(TypeError, match="must be an integer"):
        fgrad.lax.dynamic_slice(x, (0.5, 0), (1, 1))
    with pytest.raises(fgrad.ShapeError, match="as many axes"):
        fgrad.lax.dynamic_update_slice(x, np.zeros(2), (0, 0))


# --------------------------------------------------------------------------------------
# pytree nodes whose aux data is a dict (or holds lists/sets) under jit
# --------------------------------------------------------------------------------------
class _Box:
    def __init__(self, x, meta):
        self.x, self.meta = x, meta


fgrad.register_pytree_node(_Box, lambda b: ((b.x,), b.meta), lambda m, c: _Box(c[0], m))


def test_dict_aux_data_hashes_by_content_and_works_under_jit():
    traces = []

    @fgrad.jit
    def f(box):
        traces.append(box.meta["scale"])
        return box.x * box.meta["scale"] + len(box.meta["names"])

    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(f(_Box(x, {"scale": 3.0, "names": ["a", "b"]})), [5.0, 8.0])
    # the same content in another order is the same signature: replayed, not retraced
    np.testing.assert_allclose(f(_Box(2 * x, {"names": ["a", "b"], "scale": 3.0})), [8.0, 14.0])
    assert traces == [3.0]
    np.testing.assert_allclose(f(_Box(x, {"scale": 0.5, "names": ["a"]})), [1.5, 2.0])
    assert traces == [3.0, 0.5]
    a = fgrad.tree.structure(_Box(x, {"k": {1, 2}, "v": [1, (2, 3)]}))
    b = fgrad.tree.structure(_Box(x, {"v": [1, (2, 3)], "k": {2, 1}}))
    assert a == b and hash(a) == hash(b)
    c = fgrad.tree.structure(_Box(x, {"v": (1, (2, 3)), "k": {2, 1}}))  # tuple, not list
    assert a != c
    g = fgrad.grad(lambda b: fnp.sum(f(b)))(_Box(x, {"scale": 3.0, "names": ["a", "b"]}))
    np.testing.assert_allclose(g.x, [3.0, 3.0])


def test_unhashable_aux_data_error_names_node_and_field():
    import dataclasses

    f = fgrad.jit(lambda b: b.x)
    with pytest.raises(
        fgrad.TransformError, match=r"_Box node .* aux_data\['scale'\] is a ndarray"
    ):
        f(_Box(np.ones(2), {"scale": np.ones(2)}))

    @fgrad.register_dataclass
    @dataclasses.dataclass
    class Layer:
        w: object
        table: object = dataclasses.field(metadata={"static": True})

    with pytest.raises(fgrad.TransformError, match="Layer node .* static field 'table'"):
        fgrad.jit(lambda p: p.w)(Layer(np.ones(2), np.ones(3)))
    with pytest.raises(TypeError, match=r"aux_data\[1\]\['t'\] is a ndarray"):
        hash(fgrad.tree.structure(_Box(1.0, (0, {"t": np.ones(1)}))))


# --------------------------------------------------------------------------------------
# eval_shape and ShapeDtypeStruct
# --------------------------------------------------------------------------------------
def _mlp(params, x):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    return {"logits": h @ params["w2"], "norm": fnp.sum(h**2, axis=-1)}


def test_eval_shape_matches_the_computed_result():
    rng = np.random.default_rng(0)
    params = {
        "w1": rng.normal(size=(5, 4)).astype(np.float32),
        "b1": np.zeros(4, np.float32),
        "w2": rng.normal(size=(4, 3)).astype(np.float32),
    }
    x = rng.normal(size=(7, 5)).astype(np.float32)
    out = fgrad.eval_shape(_mlp, params, x)
    real = _mlp(params, x)
    assert fgrad.tree.structure(out) == fgrad.tree.structure(real)
    for s, r in zip(fgrad.tree.leaves(out), fgrad.tree.leaves(real)):
        assert isinstance(s, fgrad.ShapeDtypeStruct)
        assert (s.shape, s.dtype) == (r.shape, r.dtype)
    # ShapeDtypeStruct inputs, mixed with arrays and Python numbers, kwargs too
    specs = fgrad.tree.map(lambda a: fgrad.ShapeDtypeStruct(a.shape, a.dtype), params)
    assert fgrad.eval_shape(_mlp, specs, x) == out
    assert fgrad.eval_shape(lambda x, *, k: x * k, np.ones(2, np.float32), k=2.0) == (
        fgrad.ShapeDtypeStruct((2,), np.float32)
    )
    grads = fgrad.eval_shape(fgrad.grad(lambda p, x: fnp.sum(_mlp(p, x)["norm"])), specs, x)
    assert grads == specs


def test_eval_shape_computes_nothing():
    calls = []

    def f(x):
        calls.append(type(x).__name__)
        return fnp.sum(fnp.exp(x), axis=0)

    # 10^12 elements: allocating or computing any of them would fail
    huge = fgrad.ShapeDtypeStruct((10**6, 10**6), "float32")
    assert fgrad.eval_shape(f, huge) == fgrad.ShapeDtypeStruct((10**6,), np.float32)
    assert calls == ["JaxprTracer"]
    assert repr(huge) == "ShapeDtypeStruct(shape=(1000000, 1000000), dtype=float32)"
    with pytest.raises(fgrad.ShapeError, match=r"f64\[3\] and f64\[4\]"):
        fgrad.eval_shape(fnp.add, fgrad.ShapeDtypeStruct((3,), "f8"), np.ones(4))


# --------------------------------------------------------------------------------------
# debug.callback
# --------------------------------------------------------------------------------------
def test_debug_callback_gets_concrete_values_eager_jit_grad_vmap():
    seen = []

    def record(total, *, w):
        assert type(w) is np.ndarray  # concrete NumPy values, never tracers
        seen.append((float(total), w.tolist()))

    def f(w):
        fgrad.debug.callback(record, fnp.sum(w), w=w)
        return fnp.sum(w**2)

    w = np.array([1.0, 2.0])
    f(w)
    step = fgrad.jit(f)
    step(w)
    step(w + 1)  # every call of the compiled program calls back, with its values
    assert fgrad.grad(f)(w).tolist() == [2.0, 4.0]
    assert seen == [(3.0, [1, 2]), (3.0, [1, 2]), (5.0, [2, 3]), (3.0, [1, 2])]
    seen.clear()
    ws = np.array([[1.0, 0.0], [0.0, 3.0]])
    fgrad.vmap(f)(ws)
    fgrad.jit(fgrad.vmap(f))(ws)
    assert seen == [(1.0, [1, 0]), (3.0, [0, 3])] * 2  # once per example, in order
    seen.clear()
    fgrad.jit(lambda w: f(np.array([4.0, 5.0])) + w)(1.0)  # constants only: still each call
    assert seen == [(9.0, [4, 5])]
    assert "debug_callback" in str(fgrad.make_jaxpr(f)(w))


# --------------------------------------------------------------------------------------
# pure_callback
# --------------------------------------------------------------------------------------
def _host_log1p_sq(x, *, scale):
    assert type(x) is np.ndarray  # the callback sees NumPy, never tracers
    return {"y": np.log1p(x**2) * scale, "n": np.asarray(x.size, np.int64)}


def _log1p_sq(x, method=None):
    spec = {
        "y": fgrad.ShapeDtypeStruct(np.shape(x), x.dtype),
        "n": fgrad.ShapeDtypeStruct((), np.int64),
    }
    return fgrad.pure_callback(_host_log1p_sq, spec, x, scale=2.0, vmap_method=method)


def test_pure_callback_eager_and_jit_against_numpy():
    x = np.linspace(-2, 2, 5)
    want = 2 * np.log1p(x**2)
    for f in (_log1p_sq, fgrad.jit(_log1p_sq)):
        out = f(x)
        np.testing.assert_allclose(out["y"], want, rtol=1e-15)
        assert out["n"] == 5 and out["n"].dtype == np.int64
    # float32 in, float32 declared: the float64 the host returns is cast
    out32 = fgrad.jit(_log1p_sq)(x.astype(np.float32))
    assert out32["y"].dtype == np.float32
    np.testing.assert_allclose(out32["y"], want, rtol=1e-6)
    # composes with traced code around it
    f = fgrad.jit(lambda x: fnp.sum(_log1p_sq(fnp.sin(x))["y"]) * 3.0)
    np.testing.assert_allclose(f(x), 6 * np.sum(np.log1p(np.sin(x) ** 2)), rtol=1e-14)


@pytest.mark.parametrize("method", [None, "sequential", "expand_dims", "broadcast_all"])
def test_pure_callback_vmap_methods(method):
    calls = []

    def host(a, b):
        calls.append((a.shape, b.shape))
        return a * b + 1.0

    def f(a, b):
        spec = fgrad.ShapeDtypeStruct(np.broadcast_shapes(a.shape, b.shape), a.dtype)
        return fgrad.pure_callback(host, spec, a, b, vmap_method=method)

    a = np.arange(6.0).reshape(2, 3)  # mapped over axis 1: a batch of 3 vectors of 2
    b = np.array([10.0, 20.0])
    want = a.T * b + 1.0
    for g in (fgrad.vmap(f, in_axes=(1, None)), fgrad.jit(fgrad.vmap(f, in_axes=(1, None)))):
        np.testing.assert_allclose(g(a, b), want)
    per_call = {
        None: [((2,), (2,))] * 3,
        "sequential": [((2,), (2,))] * 3,
        "expand_dims": [((3, 2), (1, 2))],
        "broadcast_all": [((3, 2), (3, 2))],
    }[method]
    assert calls == per_call * 2
    # nested vmap (in jit too): entry [j, i] pairs row i of a2 with row j of b2
    a2, b2 = np.arange(6.0).reshape(3, 2), np.array([[1.0, -1.0], [2.0, 5.0]])
    nested = fgrad.vmap(fgrad.vmap(f, in_axes=(0, None)), in_axes=(None, 0))
    want = a2[None, :, :] * b2[:, None, :] + 1.0
    np.testing.assert_allclose(nested(a2, b2), want)
    np.testing.assert_allclose(fgrad.jit(nested)(a2, b2), want)


def test_pure_callback_under_grad_is_an_error_and_custom_vjp_makes_it_differentiable():
    x = np.array([0.5, -1.0])
    with pytest.raises(fgrad.TransformError, match="custom_jvp or fgrad.custom_vjp"):
        fgrad.grad(lambda x: fnp.sum(_log1p_sq(x)["y"]))(x)
    with pytest.raises(fgrad.TransformError, match="cannot differentiate"):
        fgrad.jit(fgrad.jacfwd(lambda x: _log1p_sq(x)["y"]))(x)

    @fgrad.custom_vjp
    def host_sin(x):
        return fgrad.pure_callback(np.sin, fgrad.ShapeDtypeStruct(x.shape, x.dtype), x)

    def fwd(x):
        return host_sin(x), x

    def bwd(x, g):
        return (g * fgrad.pure_callback(np.cos, fgrad.ShapeDtypeStruct(x.shape, x.dtype), x),)

    host_sin.defvjp(fwd, bwd)
    for grad in (fgrad.grad, lambda f: fgrad.jit(fgrad.grad(f))):
        np.testing.assert_allclose(
            grad(lambda x: fnp.sum(host_sin(x) ** 2))(x), np.sin(2 * x), rtol=1e-15
        )
    # grad of a function whose callback sees only constants is fine
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(x * _log1p_sq(np.ones(2))["y"]))(x), 2 * np.log(2)
    )


def test_pure_callback_checks_what_the_host_returns():
    spec = fgrad.ShapeDtypeStruct((3,), np.float64)
    with pytest.raises(
        fgrad.ShapeError, match=r"shape \(2,\) for result 0, declared with shape \(3,\)"
    ):
        fgrad.jit(lambda x: fgrad.pure_callback(lambda x: x[:2], spec, x))(np.ones(3))
    with pytest.raises(fgrad.DtypeError, match="complex128"):
        fgrad.pure_callback(lambda x: x + 1j, spec, np.ones(3))
    with pytest.raises(TypeError, match="structure"):
        fgrad.pure_callback(lambda x: (x, x), spec, np.ones(3))
    with pytest.raises(ValueError, match="vmap_method must be one of"):
        fgrad.pure_callback(np.sin, spec, np.ones(3), vmap_method="vectorized")


# --------------------------------------------------------------------------------------
# checkpoint policies, checkpoint_name, remat
# --------------------------------------------------------------------------------------
POLICIES = fgrad.checkpoint_policies
W_CKPT = np.array([[0.3, -0.2], [0.5, 0.1]])


def _block(x, calls):
    calls.append(1)
    h = fgrad.ad_checkpoint.checkpoint_name(fnp.tanh(x @ W_CKPT), "hidden")
    return fnp.sin(h) + x


@pytest.mark.parametrize(
    "policy, runs",
    [
        (None, 2),
        (POLICIES.nothing_saveable, 2),
        (POLICIES.everything_saveable, 1),  # no rematerialisation: the function runs once
        (POLICIES.dots_saveable, 2),  # the others run as nothing_saveable (documented)
        (POLICIES.dots_with_no_batch_dims_saveable, 2),
        (POLICIES.save_only_these_names("hidden"), 2),
        (POLICIES.save_any_names_but_these("hidden"), 2),
    ],
)
def test_checkpoint_policies_same_gradient_and_how_often_the_function_runs(policy, runs):
    x = np.array([0.7, -1.2])

    def loss(x, wrap, calls):
        block = wrap(lambda x: _block(x, calls))
        return fnp.sum(block(block(x)) ** 2)

    want = fgrad.grad(loss)(x, lambda f: f, [])
    calls = []
    got = fgrad.grad(loss)(x, lambda f: fgrad.checkpoint(f, policy=policy), calls)
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert len(calls) == 2 * runs  # two blocks
    calls = []
    jitted = fgrad.jit(
        fgrad.grad(lambda x: loss(x, lambda f: fgrad.remat(f, policy=policy), calls))
    )
    np.testing.assert_allclose(jitted(x), want, rtol=1e-14)
    # central differences, float64
    eps, e = 1e-6, np.eye(2)
    fd = [
        (loss(x + eps * e[i], lambda f: f, []) - loss(x - eps * e[i], lambda f: f, [])) / (2 * eps)
        for i in range(2)
    ]
    np.testing.assert_allclose(want, fd, rtol=1e-7)


def test_checkpoint_decorator_forms_static_argnums_and_name():
    @functools.partial(fgrad.checkpoint, static_argnums=(1,))
    def power(x, n):
        assert isinstance(n, int)  # static: never traced
        return x**n

    @fgrad.checkpoint(policy=POLICIES.dots_saveable)
    def cube(x):
        return x**3

    assert fgrad.grad(power)(2.0, 3) == 12.0
    assert fgrad.grad(cube)(2.0) == 12.0
    assert fgrad.jit(fgrad.grad(power), static_argnums=1)(2.0, 4) == 32.0
    assert fgrad.ad_checkpoint.checkpoint is fgrad.checkpoint
    x = np.arange(3.0)
    assert fgrad.ad_checkpoint.checkpoint_name(x, "a") is x
    np.testing.assert_allclose(
        fgrad.jit(fgrad.grad(lambda x: fnp.sum(fgrad.ad_checkpoint.checkpoint_name(x**2, "sq"))))(
            x
        ),
        2 * x,
    )
    with pytest.raises(TypeError, match="policy must be a function"):
        fgrad.checkpoint(cube, policy="dots")


def test_checkpoint_policy_predicates():
    from fgrad.primitives.dot_general import dot_general_p
    from fgrad.primitives.elementwise import sin_p

    plain = {"dimension_numbers": (((1,), (0,)), ((), ()))}
    batched = {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))}
    assert POLICIES.dots_saveable(dot_general_p, **plain) and POLICIES.dots_saveable(
        dot_general_p, **batched
    )
    assert not POLICIES.dots_saveable(sin_p)
    assert POLICIES.dots_with_no_batch_dims_saveable(dot_general_p, **plain)
    assert not POLICIES.dots_with_no_batch_dims_saveable(dot_general_p, **batched)
    keep_a = POLICIES.save_only_these_names("a")
    assert keep_a("name", name="a") and not keep_a("name", name="b") and not keep_a(sin_p)
    but_a = POLICIES.save_any_names_but_these("a")
    assert but_a("name", name="b") and not but_a("name", name="a")
    both = POLICIES.save_from_both_policies(keep_a, POLICIES.dots_saveable)
    assert both("name", name="a") and both(dot_general_p, **plain) and not both(sin_p)
    assert POLICIES.everything_saveable(sin_p) and not POLICIES.nothing_saveable(dot_general_p)


# --------------------------------------------------------------------------------------
# scipy.optimize.minimize (BFGS)
# --------------------------------------------------------------------------------------
def _rosen(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosen_hessian_at_ones(n):
    # the Hessian of the Rosenbrock function at its minimum (1, ..., 1), in closed form
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 802.0
        h[i + 1, i + 1] += 200.0
        h[i, i + 1] = h[i + 1, i] = -400.0
    return h


@pytest.mark.parametrize("compose", ["eager", "jit"])
@pytest.mark.parametrize("x0", [[-1.2, 1.0], [1.3, 0.7, 0.8, 1.9, 1.2]])
def test_minimize_bfgs_rosenbrock(compose, x0):
    from fgrad.scipy.optimize import minimize

    x0 = np.array(x0)
    run = (
        (lambda x0: minimize(_rosen, x0, method="BFGS"))
        if compose == "eager"
        else fgrad.jit(lambda x0: minimize(_rosen, x0, method="BFGS"))
    )
    res = run(x0)
    assert bool(res.success) and int(res.status) == 0
    np.testing.assert_allclose(res.x, np.ones_like(x0), atol=1e-5)
    assert float(res.fun) < 1e-10
    assert np.max(np.abs(res.jac)) <= 1e-5
    np.testing.assert_allclose(res.jac, fgrad.grad(_rosen)(res.x), rtol=1e-12, atol=1e-14)
    assert 0 < int(res.nit) <= 200 * x0.size and int(res.nfev) >= int(res.nit) + 1
    assert int(res.njev) == int(res.nfev)
    # the BFGS matrix approaches the inverse Hessian at the minimum
    np.testing.assert_allclose(
        res.hess_inv, np.linalg.inv(_rosen_hessian_at_ones(x0.size)), rtol=0.1, atol=0.05
    )
    scipy_optimize = pytest.importorskip("scipy.optimize")
    ref = scipy_optimize.minimize(
        lambda x: float(_rosen(x)), x0, method="BFGS", jac=lambda x: fgrad.grad(_rosen)(x)
    )
    np.testing.assert_allclose(res.x, ref.x, atol=2e-5)


def test_minimize_quadratic_args_tol_vmap_and_status():
    from fgrad.scipy.optimize import minimize

    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    a = m @ m.T + 5 * np.eye(5)
    b = rng.normal(size=5)

    def quad(x, a, b):
        return 0.5 * x @ a @ x - b @ x

    x_star = np.linalg.solve(a, b)
    res = minimize(quad, np.zeros(5), args=(a, b), method="BFGS", tol=1e-10)
    assert bool(res.success)
    # |x - x*| <= |A^-1| |grad| with |grad| below the tolerance
    np.testing.assert_allclose(res.x, x_star, atol=1e-9)
    np.testing.assert_allclose(res.fun, -0.5 * b @ x_star, rtol=1e-12)
    # a batch of starting points, and of right-hand sides
    starts = rng.normal(size=(3, 5))
    xs = fgrad.vmap(lambda x0: minimize(quad, x0, args=(a, b), tol=1e-10).x)(starts)
    np.testing.assert_allclose(xs, np.tile(x_star, (3, 1)), atol=1e-8)
    bs = rng.normal(size=(4, 5))
    xs = fgrad.jit(fgrad.vmap(lambda b: minimize(quad, np.zeros(5), args=(a, b), tol=1e-10).x))(bs)
    np.testing.assert_allclose(xs, np.linalg.solve(a, bs.T).T, atol=1e-8)
    # maxiter reached: status 1, not success
    short = minimize(_rosen, np.array([-1.2, 1.0]), method="bfgs", options={"maxiter": 3})
    assert int(short.status) == 1 and not bool(short.success) and int(short.nit) == 3
    # already at the minimum: no iteration
    done = minimize(_rosen, np.ones(3), method="BFGS")
    assert int(done.nit) == 0 and bool(done.success) and int(done.nfev) == 1


def test_minimize_errors():
    from fgrad.scipy.optimize import minimize

    with pytest.raises(ValueError, match="method must be 'BFGS'"):
        minimize(_rosen, np.zeros(2), method="Nelder-Mead")
    with pytest.raises(fgrad.ShapeError, match="1-D"):
        minimize(_rosen, np.zeros((2, 2)), method="BFGS")
    with pytest.raises(ValueError, match="unknown options"):
        minimize(_rosen, np.zeros(2), method="BFGS", options={"disp": True})


# --------------------------------------------------------------------------------------
# against JAX (optional)
# --------------------------------------------------------------------------------------
@pytest.fixture
def jax64():
    jax = pytest.importorskip("jax")
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", x64)


def test_against_jax_dynamic_slices_select_transpose_minimize(jax64):
    jax = jax64
    x = np.arange(20.0).reshape(4, 5)
    u = -np.arange(1.0, 7.0).reshape(2, 3)
    for starts in STARTS:
        np.testing.assert_array_equal(
            fgrad.lax.dynamic_slice(x, starts, (2, 3)), jax.lax.dynamic_slice(x, starts, (2, 3))
        )
        np.testing.assert_array_equal(
            fgrad.lax.dynamic_update_slice(x, u, starts), jax.lax.dynamic_update_slice(x, u, starts)
        )
    pred = np.array([[True, False, True, False, True]] * 4)
    np.testing.assert_array_equal(fgrad.lax.select(pred, x, -x), jax.lax.select(pred, x, -x))
    tree = [{"w": 1, "b": (2, 3)}, {"w": 4, "b": (5, 6)}]
    outer, inner = jax.tree.structure([0, 0]), jax.tree.structure({"w": 0, "b": (0, 0)})
    want = jax.tree_util.tree_transpose(outer, inner, tree)
    got = fgrad.tree.transpose(
        fgrad.tree.structure([0, 0]), fgrad.tree.structure({"w": 0, "b": (0, 0)}), tree
    )
    assert got == want
    from jax.scipy.optimize import minimize as jax_minimize

    from fgrad.scipy.optimize import minimize

    x0 = np.array([2.0, 2.0])  # from (-1.2, 1) JAX 0.10's zoom line search gives up (status 3)
    ref = jax_minimize(
        lambda x: jax.numpy.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2),
        x0,
        method="BFGS",
    )
    res = minimize(_rosen, x0, method="BFGS")
    assert bool(ref.success) == bool(res.success)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    np.testing.assert_allclose(res.fun, ref.fun, atol=1e-10)
    specs = jax.eval_shape(
        lambda a, b: (a @ b, a.sum()),
        jax.ShapeDtypeStruct((3, 4), "float32"),
        np.ones(4, np.float32),
    )
    ours = fgrad.eval_shape(
        lambda a, b: (a @ b, a.sum()),
        fgrad.ShapeDtypeStruct((3, 4), "float32"),
        np.ones(4, np.float32),
    )
    assert [(s.shape, s.dtype) for s in ours] == [(s.shape, s.dtype) for s in specs]
