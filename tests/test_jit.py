"""``jit``: same results as eager execution, one trace per signature, composition with the
other transforms, the jaxpr optimisations, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import nn, optim
from fgrad.transforms.codegen import Replay
from fgrad.transforms.optimize import optimize

RNG = np.random.default_rng(0)


def assert_trees_equal(got, want, rtol=1e-13):
    assert fgrad.tree_structure(got) == fgrad.tree_structure(want)
    for g, w in zip(fgrad.tree_leaves(got), fgrad.tree_leaves(want)):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-15)


def mlp_loss(params, x, y):
    logits = nn.mlp_apply(params, x, activation=fnp.tanh)
    return nn.softmax_cross_entropy(logits, y) + 1e-3 * nn.l2_penalty(params)


PARAMS = nn.mlp_init(RNG, [4, 8, 3])
X, Y = RNG.normal(size=(10, 4)), RNG.integers(0, 3, size=10)

FUNCTIONS = {
    "value_and_grad of an MLP": (fgrad.value_and_grad(mlp_loss), (PARAMS, X, Y)),
    "hessian": (fgrad.hessian(lambda v: fnp.sum(fnp.exp(v) * v[::-1]) ** 2), (X[0],)),
    "per-example gradients": (
        fgrad.vmap(fgrad.grad(mlp_loss), in_axes=(None, 0, 0)),
        (PARAMS, X[:, None], Y[:, None]),
    ),
    "indexing, sorting, where": (
        lambda a, i: fnp.at(fnp.where(a > 0, fnp.sort(a, axis=1), a[i] * 2.0))[0].add(1.0),
        (X, np.array([1, 0, 2, 3, 4, 5, 6, 7, 8, 9])),
    ),
    "einsum, concatenate, reductions": (
        lambda a: fnp.concatenate([fnp.einsum("ij,kj->ik", a, a), a @ a.T], axis=0).std(0),
        (X,),
    ),
    "a constant output and a literal": (lambda a: (np.arange(3.0), 2.0, a), (X,)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jit_gives_the_eager_results(name):
    f, args = FUNCTIONS[name]
    jitted = fgrad.jit(f)
    want = f(*args)
    assert_trees_equal(jitted(*args), want)  # the tracing call
    assert_trees_equal(jitted(*args), want)  # a replay


def test_one_trace_per_signature():
    calls = []

    def f(x, s):
        calls.append(1)
        return fnp.sin(x) * s

    jf = fgrad.jit(f)
    x = np.ones(3)
    jf(x, 2.0)
    jf(x + 1, 3.0)  # new values, same types: replayed
    assert len(calls) == 1
    jf(np.ones(4), 2.0)  # new shape
    jf(np.ones(3, np.float32), 2.0)  # new dtype
    jf(x, 2)  # an int scalar instead of a float one
    jf([x], 2.0)  # a new pytree structure
    assert len(calls) == 5
    np.testing.assert_allclose(jf(x + 1, 3.0), np.sin(x + 1) * 3.0)


def test_python_scalars_stay_weakly_typed():
    x = np.ones(3, np.float32)
    out = fgrad.jit(lambda a, s: a * s)(x, 2.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x * 2.5)


@pytest.mark.parametrize(
    "f",
    [
        lambda s, x: fnp.dot(s, x),
        lambda s, x: fnp.reshape(s, (1,)) + x,
        lambda s, x: fnp.stack([s, s]) @ x[:2],
        lambda s, x: fnp.sum(s) * x,
        lambda s, x: fnp.astype(s, np.float32) * x,
        lambda s, x: fnp.where(x > 1, s, x),
    ],
)
def test_python_scalar_arguments_reach_every_kind_of_primitive(f):
    x = np.arange(3.0, dtype=np.float32)
    assert_trees_equal(fgrad.jit(f)(2.0, x), f(2.0, x))
    assert_trees_equal(fgrad.jit(f)(3.0, x), f(3.0, x))


def test_static_argnums_choose_shapes_and_control_flow():
    calls = []

    def f(x, n, mode):
        calls.append(1)
        y = fnp.tile(x, n)
        return fnp.sum(y) if mode == "sum" else fnp.max(y)

    jf = fgrad.jit(f, static_argnums=(1, -1))
    x = np.arange(3.0)
    assert jf(x, 2, "sum") == 6.0
    assert jf(x, 2, "max") == 2.0
    assert jf(x + 1, 2, "max") == 3.0
    assert len(calls) == 2
    with pytest.raises(fgrad.TransformError, match="hashable"):
        fgrad.jit(lambda x, shape: x, static_argnums=1)(x, [3])
    with pytest.raises(fgrad.TransformError, match="static_argnums"):
        fgrad.jit(lambda x: x, static_argnums=3)(x)


def test_static_argnames_by_keyword_or_position():
    calls = []

    def f(x, n, *, mode="sum"):
        calls.append(1)
        y = fnp.tile(x, n)
        return fnp.sum(y) if mode == "sum" else fnp.max(y)

    jf = fgrad.jit(f, static_argnames=("n", "mode"))
    x = np.arange(3.0)
    assert jf(x, n=2) == 6.0
    assert jf(x, 2) == 6.0  # a name also makes its parameter static when passed by position
    assert jf(x, 3, mode="max") == 2.0
    assert jf(x + 1, 3, mode="max") == 3.0  # the same static values: a replay
    assert len(calls) == 3  # (n=2 by keyword), (n=2 by position), (n=3, max)
    # a number also makes its parameter static when it is passed by keyword
    assert fgrad.jit(f, static_argnums=1)(x, n=2) == 6.0
    with pytest.raises(fgrad.TransformError, match=r"\['size'\].*\['x', 'n', 'mode'\]"):
        fgrad.jit(f, static_argnames="size")
    with pytest.raises(fgrad.TransformError, match="hashable"):
        jf(x, n=[2])
    # with **kwargs any name can be static
    g = fgrad.jit(lambda x, **kw: x * len(kw["shape"]), static_argnames="shape")
    np.testing.assert_array_equal(g(x, shape=(1, 2)), 2 * x)


def test_static_argnames_keep_grad_of_jit_working():
    def f(x, scale):
        return fnp.sum(fnp.sin(x)) * (2.0 if scale == "double" else 1.0)

    jf = fgrad.jit(f, static_argnames="scale")
    x = RNG.normal(size=4)
    np.testing.assert_allclose(fgrad.grad(jf)(x, scale="double"), 2 * np.cos(x), rtol=1e-14)


def test_arguments_that_are_not_arrays_must_be_static():
    def f(x, how):
        return x * 2 if how == "double" else x

    with pytest.raises(fgrad.TransformError, match="str.*static_argnums"):
        fgrad.jit(f)(np.ones(2), "double")
    np.testing.assert_array_equal(fgrad.jit(f, static_argnums=1)(np.ones(2), "double"), [2, 2])


def test_results_that_are_not_arrays_are_a_clear_error():
    with pytest.raises(fgrad.TransformError, match=r"jit: .*leaf of type str \('hi'\)"):
        fgrad.jit(lambda x: (x, "hi"))(np.ones(2))
    with pytest.raises(fgrad.TransformError, match=r"make_jaxpr: .*leaf of type object"):
        fgrad.make_jaxpr(lambda x: object())(1.0)
    with pytest.raises(fgrad.TransformError, match=r"jit: .*leaf of type str \('info'\)"):
        fgrad.grad(fgrad.jit(lambda x: (fnp.sum(x), "info")), has_aux=True)(np.ones(2))
    out = fgrad.jit(lambda x: {"a": x, "b": None})(np.ones(2))  # None is an empty subtree
    assert out["b"] is None


def test_control_flow_on_values_says_how_to_fix_it():
    def f(x):
        return x if fnp.sum(x) > 0 else -x

    with pytest.raises(fgrad.ConcretizationError, match=r"jit.*static_argnums"):
        fgrad.jit(f)(np.ones(3))


def test_jit_composes_with_the_other_transforms():
    x = RNG.normal(size=(5, 3))

    def f(a):
        return fnp.sum(fnp.tanh(a @ a.T) ** 2)

    jf = fgrad.jit(f)
    assert_trees_equal(fgrad.grad(jf)(x), fgrad.grad(f)(x), rtol=1e-12)
    assert_trees_equal(fgrad.jit(fgrad.grad(f))(x), fgrad.grad(f)(x), rtol=1e-12)
    assert_trees_equal(fgrad.hessian(jf)(x[0]), fgrad.hessian(f)(x[0]), rtol=1e-12)
    assert_trees_equal(fgrad.vmap(jf)(x[:, None]), fgrad.vmap(f)(x[:, None]), rtol=1e-12)
    v = RNG.normal(size=x.shape)
    assert_trees_equal(fgrad.jvp(jf, (x,), (v,)), fgrad.jvp(f, (x,), (v,)), rtol=1e-12)
    assert_trees_equal(fgrad.jit(jf)(x), f(x), rtol=1e-12)


def test_custom_rules_survive_a_transform_of_a_jitted_function():
    @fgrad.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))

    def f(x):
        return fnp.sum(clip_gradient(x) * 10.0)

    x = np.ones(3)
    np.testing.assert_array_equal(fgrad.grad(f)(x), np.ones(3))  # clipped, not 10
    np.testing.assert_array_equal(fgrad.grad(fgrad.jit(f))(x), np.ones(3))
    np.testing.assert_array_equal(fgrad.jit(fgrad.grad(f))(x), np.ones(3))


def _counting(f):
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return f(*args, **kwargs)

    return counted, calls


def test_transforms_of_a_jitted_function_are_compiled_once():
    """grad, jvp and vmap of jit(f) trace f once per signature, then replay; the results
    are those of the transforms of f."""

    def f(w, x):
        return fnp.sum(fnp.tanh(x @ w) ** 2) + fnp.sum(w**3)

    w, x = RNG.normal(size=(3, 2)), RNG.normal(size=(4, 3))
    for transform in (
        fgrad.grad,
        lambda g: fgrad.value_and_grad(g, argnums=(0, 1)),
        lambda g: lambda w, x: fgrad.jvp(g, (w, x), (np.ones_like(w), np.zeros_like(x))),
        lambda g: fgrad.vmap(g, in_axes=(None, 0)),
        fgrad.jacrev,  # its backward pass runs under vmap: the backward jaxpr is bound
    ):
        counted, calls = _counting(f)
        compiled, eager = transform(fgrad.jit(counted)), transform(f)
        for scale in (1.0, 2.0, 3.0):
            assert_trees_equal(compiled(w * scale, x), eager(w * scale, x), rtol=1e-12)
        assert len(calls) == 1


def test_grad_of_jit_splits_forward_and_backward_without_recomputing():
    from fgrad.transforms.jit_rules import CompiledVJP

    def f(w):
        return fnp.sum(fnp.exp(fnp.sin(w) * 2.0))

    compiled = CompiledVJP(lambda leaves: f(leaves[0]), [np.ones(3)], [0])
    fwd = [e.prim.name for e in compiled.forward.closed.eqns]
    bwd = [e.prim.name for e in compiled.backward((0,), [np.ones(3)]).replay.closed.eqns]
    assert fwd.count("sin") == 1 and fwd.count("exp") == 1
    assert "sin" not in bwd and "exp" not in bwd  # the backward reads them as residuals
    # what does not depend on the cotangent (cos w) is computed forward, as in JAX's
    # partial evaluation; the backward pass is products with the cotangent
    assert "cos" in fwd and set(bwd) <= {"mul", "reshape", "broadcast_to"}
    w = RNG.normal(size=3)
    g = fgrad.grad(fgrad.jit(f))(w)
    np.testing.assert_allclose(g, np.exp(2 * np.sin(w)) * 2 * np.cos(w), rtol=1e-14)


def test_nested_and_integer_cases_run_the_function():
    def f(w):
        return fnp.sum(w**4)

    w = RNG.normal(size=3)
    jf = fgrad.jit(f)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(lambda w: jf(w)))(w[0]), 12 * w[0] ** 2)
    assert_trees_equal(fgrad.hessian(jf)(w), np.diag(12 * w**2), rtol=1e-12)

    def with_count(w):  # an integer output: grad runs the function itself
        return fnp.sum(w**2), fnp.sum(w > 0)

    g, count = fgrad.grad(fgrad.jit(with_count), has_aux=True)(w)
    np.testing.assert_allclose(g, 2 * w, rtol=1e-15)
    assert count == np.sum(w > 0)


def test_transforms_of_jit_run_the_function_where_it_needs_values():
    def f(x):  # Python control flow on a value: jit alone cannot trace it
        return fnp.sum(x**2) if fnp.sum(x) > 0 else fnp.sum(x**3)

    jf, x = fgrad.jit(f), np.array([1.0, -0.5, 2.0])
    with pytest.raises(fgrad.ConcretizationError):
        jf(x)
    for _ in range(2):  # under grad and jvp the values are known, so f runs there, as before
        np.testing.assert_allclose(fgrad.grad(jf)(x), 2 * x)
        np.testing.assert_allclose(fgrad.grad(jf)(-x), 3 * x**2)
        np.testing.assert_allclose(fgrad.jvp(jf, (x,), (np.ones(3),))[1], np.sum(2 * x))


def test_keyword_arguments_are_traced_too():
    jf = fgrad.jit(lambda x, *, scale: x * scale)
    np.testing.assert_array_equal(jf(np.ones(2), scale=np.array(3.0)), [3.0, 3.0])
    np.testing.assert_array_equal(jf(np.ones(2), scale=np.array(4.0)), [4.0, 4.0])


def test_returned_constants_are_fresh_copies():
    jf = fgrad.jit(lambda x: (x, fnp.zeros(3)))
    _, z = jf(np.ones(1))
    z += 5.0
    np.testing.assert_array_equal(jf(np.ones(1))[1], np.zeros(3))


def test_a_failing_primitive_is_explained_like_in_eager_mode():
    jf = fgrad.jit(lambda a, b: fnp.linalg.solve(a, b))
    with pytest.raises(np.linalg.LinAlgError):
        jf(np.zeros((2, 2)), np.ones(2))


OPTIMISERS = {
    "sgd": optim.sgd(0.1),
    "momentum with exponential decay": optim.sgd(
        optim.exponential_decay(0.1, 2, 0.5, staircase=True), momentum=0.9, nesterov=True
    ),
    "adam with warm-up and cosine decay": optim.adam(optim.warmup_cosine_decay(0.0, 0.1, 2, 5)),
    "adamw": optim.adamw(optim.linear_schedule(0.1, 0.01, 3), weight_decay=1e-2),
    "rmsprop": optim.rmsprop(0.01, momentum=0.5),
    "adagrad": optim.adagrad(0.1),
    "clipped adam": optim.chain(optim.clip_by_global_norm(0.5), optim.adam(0.05)),
}


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_whole_training_steps_with_optimisers_compile(name):
    """Step counts, schedules and bias corrections are array operations, so the optimiser
    update runs under jit with the gradient; float32 parameters stay float32."""
    opt = OPTIMISERS[name]
    params = fgrad.tree_map(lambda p: p.astype(np.float32), PARAMS)

    def step(params, state, x, y):
        grads = fgrad.grad(mlp_loss)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    eager, compiled = (params, opt.init(params)), (params, opt.init(params))
    jitted = fgrad.jit(step)
    for _ in range(4):
        eager = step(*eager, X, Y)
        compiled = jitted(*compiled, X, Y)
    assert_trees_equal(compiled, eager, rtol=1e-5)
    assert all(p.dtype == np.float32 for p in fgrad.tree_leaves(compiled[0]))


# -- the optimisations -----------------------------------------------------------------------


def names(closed) -> list[str]:
    return [e.prim.name for e in closed.eqns]


def test_dead_code_is_removed():
    closed = fgrad.make_jaxpr(lambda x: (fnp.exp(x), x * 2.0)[1])(np.ones(3))
    assert "exp" in names(closed)
    opt = optimize(closed)
    assert names(opt) == ["mul"]
    np.testing.assert_array_equal(opt(np.arange(3.0)), np.arange(3.0) * 2)


def test_common_subexpressions_are_computed_once():
    closed = fgrad.make_jaxpr(lambda x: fnp.sin(x) * fnp.sin(x) + fnp.sin(x[::-1]))(np.ones(3))
    assert names(closed).count("sin") == 3
    opt = optimize(closed)
    assert names(opt).count("sin") == 2  # sin(x) once; sin of the reversed x is different
    x = RNG.normal(size=3)
    np.testing.assert_array_equal(opt(x), np.sin(x) * np.sin(x) + np.sin(x[::-1]))


def test_constants_are_folded_and_no_ops_dropped():
    w = RNG.normal(size=(3, 4))

    def f(x):
        y = fnp.reshape(x, (3,)) @ fnp.transpose(w.T)  # w.T.T: two transposes of a constant
        return fnp.astype(y, np.float64) + fnp.sum(w**2)

    closed = fgrad.make_jaxpr(f)(np.ones(3))
    opt = optimize(closed)
    assert names(opt) == ["dot_general", "add"]
    x = RNG.normal(size=3)
    np.testing.assert_allclose(opt(x), x @ w + np.sum(w**2), rtol=1e-14)


def test_weakly_typed_inputs_keep_their_conversion():
    def f(s, a):
        return fnp.astype(s, np.float64) * a

    want = f(2.0, np.ones(2, np.float32))
    assert want.dtype == np.float64  # NumPy 2: a converted scalar is strongly typed
    assert fgrad.jit(f)(2.0, np.ones(2, np.float32)).dtype == np.float64


# -- the generated replay --------------------------------------------------------------------


def test_replay_is_one_line_per_equation_and_frees_values_after_last_use():
    w = RNG.normal(size=(3, 2))

    def f(x, y):
        h = fnp.tanh(x @ w)
        s = fnp.linalg.svd(x, full_matrices=False)[1]  # a multi-output equation, two unused
        return h * 2.0, s, y, w

    x = RNG.normal(size=(4, 3))
    replay = Replay(optimize(fgrad.make_jaxpr(f)(x, 1.5)))
    lines = replay.source.splitlines()
    assert lines[0] == "def replay(a0, a1):"
    assert "    v0 = np_matmul(a0, c0)" in lines  # a plain product: the impl's matmul call
    assert "    del v0" in lines  # tanh was its last use
    assert "    _, v2, _ = linalg_svd(a0)" in lines
    assert "    del a0, _" in lines
    # an argument and a constant are handed out copied; fresh results as they are
    assert lines[-1] == "    return [v3, v2, copy(a1), copy(c0)]"
    h, s, y, w_out = replay([x, 1.5])
    np.testing.assert_array_equal(h, np.tanh(x @ w) * 2.0)
    np.testing.assert_allclose(s, np.linalg.svd(x, compute_uv=False), rtol=1e-14)
    assert y == 1.5 and w_out is not w and np.array_equal(w_out, w)


def test_replay_names_primitives_that_are_python_keywords():
    replay = Replay(optimize(fgrad.make_jaxpr(lambda a, b: fnp.logical_and(a, b))(True, False)))
    assert "and_(" in replay.source
    assert replay([np.array(True), np.array(True)]) == [True]
