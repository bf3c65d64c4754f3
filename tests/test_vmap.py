"""``vmap``: its semantics against Python loops, composition with the other transforms,
custom rules and per-example indices under it, and its errors.

Every primitive's batch rule is checked by the rule harness (tests/test_primitive_rules.py);
here are the user-level contracts.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import nn
from fgrad.numpy import linalg as la

RNG = np.random.default_rng(0)


def loop(f, *args, in_axes=0):
    """``stack([f(*example) for example in batch])``: what vmap must compute."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    size = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = [
        f(*[a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, axes)])
        for b in range(size)
    ]
    return fgrad.tree_map(lambda *leaves: np.stack(leaves), *outs)


def assert_trees_close(got, want, rtol=1e-12, atol=1e-13):
    assert fgrad.tree_structure(got) == fgrad.tree_structure(want)
    for g, w in zip(fgrad.tree_leaves(got), fgrad.tree_leaves(want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# -- semantics ------------------------------------------------------------------------------


def mixed(x, w):
    return fnp.tanh(x @ w) * fnp.sum(x**2) + fnp.max(x)


@pytest.mark.parametrize(
    "in_axes, x_shape",
    [(0, (5, 3)), ((0, None), (5, 3)), ((1, None), (3, 5)), ((-1, None), (3, 5))],
)
def test_in_axes_against_a_loop(in_axes, x_shape):
    x, w = RNG.normal(size=x_shape), RNG.normal(size=(3, 4))
    if in_axes == 0:  # both mapped: a different w for every example
        w = RNG.normal(size=(5, 3, 4))
    got = fgrad.vmap(mixed, in_axes=in_axes)(x, w)
    assert_trees_close(got, loop(mixed, x, w, in_axes=in_axes))


def test_pytree_prefixes_kwargs_and_out_axes():
    params = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(4, 2))}
    x = RNG.normal(size=(4, 3))

    def f(p, x, *, scale):
        y = x @ p["w"] + p["b"]
        return {"y": y * scale, "norm": fnp.sum(p["w"] ** 2)}

    scale = np.arange(4.0)
    out = fgrad.vmap(f, in_axes=({"w": None, "b": 0}, 0), out_axes={"y": 1, "norm": None})(
        params, x, scale=scale
    )
    want_y = np.stack([(x[i] @ params["w"] + params["b"][i]) * scale[i] for i in range(4)], 1)
    np.testing.assert_allclose(out["y"], want_y, rtol=1e-12)
    np.testing.assert_allclose(out["norm"], np.sum(params["w"] ** 2), rtol=1e-12)


def test_unmapped_outputs_are_broadcast_and_axis_size_maps_nothing():
    x = RNG.normal(size=(3, 2))
    out = fgrad.vmap(lambda x, c: (x * 2, c), in_axes=(0, None))(x, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out[1], np.array([[1.0, 2.0]] * 3))
    ones = fgrad.vmap(lambda: fnp.ones(2), axis_size=4)()
    np.testing.assert_array_equal(ones, np.ones((4, 2)))


def test_nested_vmap_is_an_outer_product_of_loops():
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(5, 3))
    dist = fgrad.vmap(
        fgrad.vmap(lambda a, b: fnp.sqrt(fnp.sum((a - b) ** 2)), (None, 0)), (0, None)
    )
    want = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(dist(x, y), want, rtol=1e-12)


def test_shape_heavy_functions_against_a_loop():
    x = RNG.normal(size=(3, 4, 5))

    def f(a):
        b = fnp.concatenate([a, a[::-1] * 2], axis=0)
        c = fnp.einsum("ij,kj->ik", b, a) + fnp.swapaxes(b, 0, 1)[:, :4].T.sum()
        d = fnp.where(c > 0, c, -c).reshape(-1)[np.array([0, 5, 7])]
        return fnp.cumsum(d) + fnp.argmax(a) + fnp.sort(np.array([3.0, 1.0]))[0]

    assert_trees_close(fgrad.vmap(f)(x), loop(f, x))


def test_linalg_and_fft_against_a_loop():
    a = RNG.normal(size=(4, 3, 3))
    spd = a @ np.swapaxes(a, 1, 2) + 3 * np.eye(3)

    def f(m):
        w, v = la.eigh(m)
        return (
            w,
            fnp.abs(v),
            la.det(m),
            la.slogdet(m)[1],
            la.solve(m, fnp.ones(3)),
            la.cholesky(m),
            la.svd(m, compute_uv=False),
            fnp.abs(fnp.fft.fft(m[0])),
        )

    assert_trees_close(fgrad.vmap(f)(spd), loop(f, spd), rtol=1e-10, atol=1e-12)


# -- composition ------------------------------------------------------------------------------


def example_loss(params, x, y):
    logits = nn.mlp_apply(params, x, activation=fnp.tanh)
    return nn.logsumexp(logits) - logits[y]


def test_per_example_gradients_index_with_batched_labels():
    params = nn.mlp_init(RNG, [4, 6, 3])
    x, y = RNG.normal(size=(7, 4)), RNG.integers(0, 3, size=7)
    got = fgrad.vmap(fgrad.grad(example_loss), in_axes=(None, 0, 0))(params, x, y)
    want = loop(lambda xi, yi: fgrad.grad(example_loss)(params, xi, yi), x, y)
    assert_trees_close(got, want)
    # their mean is the gradient of the mean loss
    mean_grad = fgrad.grad(lambda p: fnp.mean(fgrad.vmap(example_loss, (None, 0, 0))(p, x, y)))(
        params
    )
    assert_trees_close(fgrad.tree_map(lambda g: g.mean(0), got), mean_grad)


def test_grad_of_vmap_equals_grad_of_the_loop():
    x = RNG.normal(size=(5, 3))
    w = RNG.normal(size=(3,))

    def total(w):
        return fnp.sum(fgrad.vmap(lambda xi: fnp.sin(xi @ w) ** 2)(x))

    want = sum(2 * np.sin(x[i] @ w) * np.cos(x[i] @ w) * x[i] for i in range(5))
    np.testing.assert_allclose(fgrad.grad(total)(w), want, rtol=1e-12)


def test_jacobians_hessians_and_jvp_vjp_of_and_under_vmap():
    x = RNG.normal(size=(4, 3))

    def f(v):
        return fnp.sin(v) * fnp.sum(v**2)

    def scalar(v):
        return fnp.sum(fnp.exp(v) * v[::-1])

    jac = fgrad.vmap(fgrad.jacrev(f))(x)
    assert_trees_close(jac, loop(fgrad.jacfwd(f), x))
    hess = fgrad.vmap(fgrad.hessian(scalar))(x)
    assert_trees_close(hess, loop(fgrad.hessian(scalar), x))
    # the Jacobian of the batched map is block diagonal, with the per-example blocks
    big = fgrad.jacfwd(fgrad.vmap(f))(x)
    assert_trees_close(np.einsum("iaib->iab", big), jac)
    assert_trees_close(fgrad.jacrev(fgrad.vmap(f))(x), big)
    # dot-product identity through vmap
    v, u = RNG.normal(size=x.shape), RNG.normal(size=x.shape)
    _, t = fgrad.jvp(fgrad.vmap(f), (x,), (v,))
    (ct,) = fgrad.vjp(fgrad.vmap(f), x)[1](u)
    np.testing.assert_allclose(np.sum(u * t), np.sum(ct * v), rtol=1e-12)


def test_jacrev_of_a_vector_function_is_one_batched_pullback():
    w = RNG.normal(size=(6, 6))

    def f(x):
        return fnp.tanh(w @ x) * x

    x = RNG.normal(size=6)
    want = (1 - np.tanh(w @ x) ** 2)[:, None] * w * x[:, None] + np.diag(np.tanh(w @ x))
    np.testing.assert_allclose(fgrad.jacrev(f)(x), want, rtol=1e-12)
    np.testing.assert_allclose(fgrad.jacfwd(f)(x), want, rtol=1e-12)


def test_make_jaxpr_of_vmap_stages_whole_batch_operations():
    jaxpr = fgrad.make_jaxpr(fgrad.vmap(lambda x, w: fnp.tanh(x @ w), (0, None)))(
        np.ones((8, 3)), np.ones((3, 2))
    )
    text = str(jaxpr)
    assert "dot_general" in text and "f64[8,2]" in text
    assert text.count("dot_general") == 1  # one matmul for the batch, not one per row


# -- custom rules under vmap --------------------------------------------------------------------


@fgrad.custom_jvp
def damped_identity(x):
    return x


@damped_identity.defjvp
def _damped_identity_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return x, t * 0.25  # a deliberately different derivative, to see that the rule is used


@fgrad.custom_vjp
def scaled_backward(x, s):
    return x * s


scaled_backward.defvjp(lambda x, s: (x * s, s), lambda s, g: (3 * g * s, None))


def test_custom_jvp_rule_applies_under_vmap():
    x = RNG.normal(size=(4, 3))
    g = fgrad.vmap(fgrad.grad(lambda v: fnp.sum(damped_identity(v) * 2.0)))(x)
    np.testing.assert_array_equal(g, np.full(x.shape, 0.5))  # the rule's, not the identity's 2.0
    g = fgrad.grad(lambda v: fnp.sum(fgrad.vmap(damped_identity)(v) * 2.0))(x)
    np.testing.assert_array_equal(g, np.full(x.shape, 0.5))
    _, t = fgrad.jvp(fgrad.vmap(damped_identity), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(t, np.full(x.shape, 0.25))


def test_custom_vjp_rule_applies_under_vmap_and_shared_arguments_sum():
    x, s = RNG.normal(size=(4, 3)), np.array([1.0, 2.0, 3.0])
    out = fgrad.vmap(scaled_backward, (0, None))(x, s)
    np.testing.assert_allclose(out, x * s)
    g = fgrad.grad(lambda v: fnp.sum(fgrad.vmap(scaled_backward, (0, None))(v, s)))(x)
    np.testing.assert_allclose(g, np.broadcast_to(3 * s, x.shape))


def test_vectorized_linalg_rules_under_vmap():
    a = RNG.normal(size=(5, 3, 3))

    def top(m):
        return la.eigh(m + m.T)[0][-1] + la.svd(m, compute_uv=False)[0]

    assert_trees_close(fgrad.vmap(fgrad.grad(top))(a), loop(fgrad.grad(top), a), rtol=1e-9)


def test_checkpoint_under_vmap():
    x = RNG.normal(size=(3, 4))
    block = fgrad.checkpoint(lambda v: fnp.tanh(v) * v)
    g = fgrad.grad(lambda v: fnp.sum(fgrad.vmap(block)(v)))(x)
    np.testing.assert_allclose(g, np.tanh(x) + x * (1 - np.tanh(x) ** 2), rtol=1e-12)


def test_jacrev_falls_back_to_a_loop_for_a_bwd_that_needs_values():
    @fgrad.custom_vjp
    def f(x):
        return x * 2.0

    f.defvjp(lambda x: (x * 2.0, None), lambda _, g: (g * (2.0 if float(g.sum()) >= 0 else 2.0),))
    np.testing.assert_array_equal(fgrad.jacrev(f)(np.ones(3)), 2 * np.eye(3))


def test_sorting_and_quantiles_under_vmap_and_make_jaxpr():
    x = RNG.normal(size=(4, 7))
    functions = [
        fnp.sort,
        fnp.argsort,
        fnp.median,
        lambda a: fnp.quantile(a, [0.25, 0.9]),
        lambda a: fnp.partition(a, 3)[3],
    ]
    for f in functions:
        assert_trees_close(fgrad.vmap(f)(x), loop(f, x))
    grad_median = fgrad.grad(lambda a: fnp.median(a) ** 2)
    assert_trees_close(fgrad.vmap(grad_median)(x), loop(grad_median, x))
    jaxpr = fgrad.make_jaxpr(fnp.sort)(x[0])
    assert "argsort" in str(jaxpr)
    (out,) = fgrad.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x[1])
    np.testing.assert_array_equal(out, np.sort(x[1]))


# -- per-example indices ----------------------------------------------------------------------


GATHERS = {
    "one array": lambda a, i, j: a[i],
    "two arrays": lambda a, i, j: a[i, j],
    "slice first": lambda a, i, j: a[:, j],
    "split by slice": lambda a, i, j: a[i[:1], :, j[0]],
    "int and array": lambda a, i, j: a[1, j],
    "int split": lambda a, i, j: a[1, :, j],
    "take": lambda a, i, j: fnp.take(a, j, axis=1),
    "take wrap": lambda a, i, j: fnp.take(a, j + 6, axis=1, mode="wrap"),
    "take_along_axis": lambda a, i, j: fnp.take_along_axis(a, (fnp.abs(i) % 3)[:, None, None], 0),
}


@pytest.mark.parametrize("name", sorted(GATHERS))
def test_batched_indices_gather_like_a_loop(name):
    f = GATHERS[name]
    x = RNG.normal(size=(4, 3, 5, 6))
    i = RNG.integers(-3, 3, size=(4, 2))
    j = RNG.integers(0, 5, size=(4, 2))
    assert_trees_close(fgrad.vmap(f)(x, i, j), loop(f, x, i, j))

    def g(a, i, j):
        return fgrad.grad(lambda a: fnp.sum(f(a, i, j) ** 2))(a)

    assert_trees_close(fgrad.vmap(g)(x, i, j), loop(g, x, i, j))


def test_a_shared_table_read_with_per_example_indices():
    table = RNG.normal(size=(10, 4))
    ids = RNG.integers(0, 10, size=(5, 3))
    np.testing.assert_array_equal(fgrad.vmap(lambda i: fnp.take(table, i, axis=0))(ids), table[ids])
    rows, cols = ids % 10, ids % 4
    got = fgrad.vmap(lambda r, c: fnp.at(table)[r, c].get())(rows, cols)
    np.testing.assert_array_equal(got, table[rows, cols])
    # the gradient with respect to the table accumulates over examples and repeats
    g = fgrad.grad(lambda t: fnp.sum(fgrad.vmap(lambda i: fnp.take(t, i, axis=0))(ids)))(table)
    np.testing.assert_array_equal(g, np.bincount(ids.ravel(), minlength=10)[:, None] * np.ones(4))


def test_batched_indices_scatter_like_a_loop():
    y = RNG.integers(0, 4, size=6)
    v = RNG.normal(size=(6,))

    def one_hot(label, value):
        return fnp.at(fnp.at(fnp.zeros(4))[label].set(value))[label].add(1.0)

    assert_trees_close(fgrad.vmap(one_hot)(y, v), loop(one_hot, y, v))
    got = fgrad.vmap(fgrad.grad(lambda value, label: fnp.sum(one_hot(label, value) ** 2)))(v, y)
    np.testing.assert_allclose(got, 2 * (v + 1.0))
    x = RNG.normal(size=(6, 2, 3, 4))
    rows = RNG.integers(0, 4, size=(6, 2))

    def split(a, r):
        return fnp.at(a)[1, :, r].add(1.0)

    assert_trees_close(fgrad.vmap(split)(x, rows), loop(split, x, rows))


def test_make_jaxpr_stages_an_index_it_cannot_see():
    jaxpr = fgrad.make_jaxpr(lambda x, i: x[i] * 2.0)(np.arange(4.0), np.int64(2))
    assert "getitem" in str(jaxpr)
    (out,) = fgrad.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, np.arange(4.0), np.int64(3))
    assert out == 6.0


# -- errors ----------------------------------------------------------------------------------


def test_errors_say_what_to_do():
    x = np.ones((3, 2))
    with pytest.raises(fgrad.TransformError, match=r"same size.*size 3.*size 4"):
        fgrad.vmap(lambda a, b: a + b)(x, np.ones((4, 2)))
    with pytest.raises(fgrad.TransformError, match="2 entries.*3 positional"):
        fgrad.vmap(lambda a, b, c: a, in_axes=(0, 0))(x, x, x)
    with pytest.raises(fgrad.TransformError, match="axis 2 of an argument of shape"):
        fgrad.vmap(fnp.sin, in_axes=2)(x)
    with pytest.raises(fgrad.TransformError, match="in_axes=None to share it"):
        fgrad.vmap(lambda a, b: a * b)(x, 2.0)
    with pytest.raises(fgrad.TransformError, match="axis_size"):
        fgrad.vmap(fnp.sin, in_axes=None)(x)
    with pytest.raises(fgrad.TransformError, match="out_axes is None"):
        fgrad.vmap(fnp.sin, out_axes=None)(x)
    with pytest.raises(fgrad.TransformError, match="prefix"):
        fgrad.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": x})
    with pytest.raises(fgrad.ConcretizationError, match="vmap.*fgrad.numpy.where"):
        fgrad.vmap(lambda a: a if a.sum() > 0 else -a)(x)
    with pytest.raises(fgrad.ConcretizationError, match="boolean masks"):
        fgrad.vmap(lambda a: a[a > 0])(x)
    with pytest.raises(fgrad.TransformError, match="multiply.*set or .add"):
        fgrad.vmap(lambda a, i: a.at[i].multiply(2.0))(x, np.array([0, 1, 0]))


def test_positional_axis_name_then_axis_size_as_in_jax():
    # vmap(fun, in_axes, out_axes, axis_name, axis_size): a name then a size, JAX's order.
    total = fgrad.vmap(lambda x: fgrad.lax.psum(x, "i"), 0, 0, "i")(np.arange(4.0))
    np.testing.assert_array_equal(total, [6.0, 6.0, 6.0, 6.0])
    ones = fgrad.vmap(lambda: fnp.ones(2), 0, 0, None, 3)()
    assert ones.shape == (3, 2)
    jax = pytest.importorskip("jax")
    ours = list(inspect.signature(fgrad.vmap).parameters)
    theirs = list(inspect.signature(jax.vmap).parameters)
    assert ours == theirs[: len(ours)]
