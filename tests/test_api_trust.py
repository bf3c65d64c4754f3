"""Issue 13, the API's part: the same answer in every mode, and errors that name the argument.

* ``argnums`` naming a position twice, or not an int, is refused by every transform that
  takes it (it used to give a silent zero gradient, or ``'float' object is not iterable``).
* ``fgrad.nn`` losses compute one formula in every mode: eager == jit == vmap, and their
  gradients agree under every composition (``hinge`` mapped 0/1 labels only eagerly).
* ``custom_jvp``/``custom_vjp`` take ``nondiff_argnums`` (JAX's calling convention) and
  ``custom_jvp.defjvps``, under every transform, checked against finite differences.
* Clear errors: Python ints beyond int64, another optimiser's state, an index out of
  range under ``vmap``; and ``grad`` accepts bfloat16 as the other transforms do.

The tracer attribute check (``x.var()`` under ``jit``) is in ``test_tracer_attributes.py``,
the warning sweep in ``test_no_internal_warnings.py``.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from helpers import numerical_grad, numerical_jvp

import fgrad
import fgrad.numpy as fnp
from fgrad import nn, optim

RNG = np.random.default_rng(1313)

# -- argnums --------------------------------------------------------------------------------


def _two_args(x, y):
    return fnp.sum(fnp.sin(x) * y)


ARGNUMS_TRANSFORMS = {
    "grad": fgrad.grad,
    "value_and_grad": fgrad.value_and_grad,
    "jacfwd": fgrad.jacfwd,
    "jacrev": fgrad.jacrev,
    "jacobian": fgrad.jacobian,
    "hessian": fgrad.hessian,
}


@pytest.mark.parametrize("transform", sorted(ARGNUMS_TRANSFORMS))
@pytest.mark.parametrize("argnums", [(0, 0), (0, -2), (1, -1), (-1, 1, 0)])
def test_duplicate_argnums_are_refused(transform, argnums):
    f = ARGNUMS_TRANSFORMS[transform](_two_args, argnums)
    with pytest.raises(fgrad.TransformError, match="twice") as err:
        f(np.array([0.3, 0.4]), np.array([1.5, 2.0]))
    assert "argnums=" in str(err.value) and "Name each argument once" in str(err.value)


def test_duplicate_negative_argnums_say_which_argument_they_mean():
    with pytest.raises(fgrad.TransformError, match=r"-2 counts from the end.*it is 0"):
        fgrad.grad(_two_args, (0, -2))(0.3, 1.5)


@pytest.mark.parametrize("transform", sorted(ARGNUMS_TRANSFORMS))
@pytest.mark.parametrize("argnums", [1.0, (0, 1.0), "1", True, None, np.float64(0.0)])
def test_argnums_that_are_not_ints_are_refused_by_name(transform, argnums):
    f = ARGNUMS_TRANSFORMS[transform](_two_args, argnums)
    with pytest.raises(fgrad.TransformError, match="argnums") as err:
        f(np.array([0.3, 0.4]), np.array([1.5, 2.0]))
    assert repr(argnums) in str(err.value) or repr(1.0) in str(err.value)
    assert "not iterable" not in str(err.value)


@pytest.mark.parametrize("static", [1.0, (1.0,), "1", None])
def test_static_argnums_that_are_not_ints_are_refused_by_name(static):
    for transform in (fgrad.jit, fgrad.make_jaxpr):
        with pytest.raises(fgrad.TransformError, match="static_argnums") as err:
            transform(_two_args, static_argnums=static)(0.3, 1.5)
        assert "not iterable" not in str(err.value)


def test_numpy_integers_inside_argnums_tuples_are_positions():
    x, y = np.array([0.3, -0.7]), np.array([1.5, 2.0])
    gx, gy = fgrad.grad(_two_args, (np.int64(0), np.int32(1)))(x, y)
    np.testing.assert_allclose(gx, np.cos(x) * y, rtol=1e-14)
    np.testing.assert_allclose(gy, np.sin(x), rtol=1e-14)
    assert fgrad.jit(_two_args, static_argnums=(np.int64(1),))(x, 2.0) == np.sum(np.sin(x)) * 2
    with pytest.raises(fgrad.TransformError, match=r"argnums=int\(\.\.\.\)"):
        fgrad.grad(_two_args, np.int64(1))(x, y)  # alone, it would be taken for a tuple


def test_argnums_float_message_says_what_to_write():
    with pytest.raises(TypeError, match=r"got 1\.0 of type float; write e\.g\. argnums=1"):
        fgrad.grad(_two_args, 1.0)(0.3, 1.5)


def test_distinct_argnums_still_give_each_argument_its_gradient():
    x, y = np.array([0.3, -0.7]), np.array([1.5, 2.0])
    gy, gx = fgrad.grad(_two_args, (-1, 0))(x, y)
    np.testing.assert_allclose(gx, np.cos(x) * y, rtol=1e-14)
    np.testing.assert_allclose(gy, np.sin(x), rtol=1e-14)
    hxx = fgrad.hessian(_two_args, 0)(x, y)
    np.testing.assert_allclose(hxx, np.diag(-np.sin(x) * y), rtol=1e-14, atol=1e-15)


# -- nn losses: one formula in every mode ----------------------------------------------------

LOGITS = RNG.standard_normal((4, 3))
CLASSES = np.array([2, 0, 1, 2])
PROBS = nn.softmax(RNG.standard_normal((4, 3)))
SCORES = RNG.standard_normal((4, 3))
LABELS01 = (RNG.uniform(size=(4, 3)) > 0.5).astype(int)
SIGNS = 2 * LABELS01 - 1
TARGETS = RNG.standard_normal((4, 3))

LOSSES = {
    "softmax_cross_entropy(classes)": (nn.softmax_cross_entropy, LOGITS, CLASSES),
    "softmax_cross_entropy(probs)": (nn.softmax_cross_entropy, LOGITS, PROBS),
    "sigmoid_binary_cross_entropy": (nn.sigmoid_binary_cross_entropy, SCORES, LABELS01),
    "mean_squared_error": (nn.mean_squared_error, SCORES, TARGETS),
    "hinge(0/1)": (nn.hinge, SCORES, LABELS01),
    "hinge(-1/+1)": (nn.hinge, SCORES, SIGNS),
}


def _hinge_by_hand(scores, labels01):
    y = 2.0 * labels01 - 1.0
    return np.maximum(0.0, 1.0 - y * scores)


def test_hinge_reproducer_same_under_jit():
    """``jit(nn.hinge)`` took 0 labels as 0 (0.75) where eager mapped them to -1 (0.5)."""
    s, y = np.array([0.5, -0.5]), np.array([1, 0])
    assert nn.hinge(s, y) == 0.5
    assert fgrad.jit(nn.hinge)(s, y) == 0.5
    assert fgrad.make_jaxpr(nn.hinge)(s, y) is not None
    np.testing.assert_allclose(fgrad.vmap(nn.hinge)(s[None], y[None]), [0.5])
    g = np.array([-0.5, 0.5])  # d/ds mean(max(0, 1 - y s)) with y = (1, -1)
    np.testing.assert_array_equal(fgrad.grad(nn.hinge)(s, y), g)
    np.testing.assert_array_equal(fgrad.jit(fgrad.grad(nn.hinge))(s, y), g)
    np.testing.assert_array_equal(fgrad.grad(fgrad.jit(nn.hinge))(s, y), g)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_is_the_same_eager_jit_and_vmap(name, reduction):
    loss, pred, target = LOSSES[name]
    f = functools.partial(loss, reduction=reduction)
    eager = np.asarray(f(pred, target))
    np.testing.assert_allclose(fgrad.jit(f)(pred, target), eager, rtol=1e-14)
    rows = np.stack([f(pred[i], target[i]) for i in range(len(pred))])
    np.testing.assert_allclose(fgrad.vmap(f)(pred, target), rows, rtol=1e-14)
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(f))(pred, target), rows, rtol=1e-14)
    if name.startswith("hinge"):
        signs = np.where(np.asarray(target) == 0, -1, target)
        by_hand = np.maximum(0.0, 1.0 - signs * pred)
        want = {"mean": by_hand.mean(), "sum": by_hand.sum(), "none": by_hand}[reduction]
        np.testing.assert_allclose(eager, want, rtol=1e-14)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_is_the_same_under_every_composition(name):
    loss, pred, target = LOSSES[name]
    want = numerical_grad(lambda p: loss(p, target), pred)
    g = fgrad.grad(loss)
    np.testing.assert_allclose(g(pred, target), want, rtol=1e-6, atol=1e-9)
    for label, got in [
        ("jit(grad)", fgrad.jit(g)(pred, target)),
        ("grad(jit)", fgrad.grad(fgrad.jit(loss))(pred, target)),
    ]:
        np.testing.assert_allclose(got, g(pred, target), rtol=1e-13, atol=1e-15, err_msg=label)
    rows = np.stack([g(pred[i], target[i]) for i in range(len(pred))])
    for label, got in [
        ("vmap(grad)", fgrad.vmap(g)(pred, target)),
        ("jit(vmap(grad))", fgrad.jit(fgrad.vmap(g))(pred, target)),
        (
            "grad(sum(vmap))",
            fgrad.grad(lambda p: fnp.sum(fgrad.vmap(loss)(p, target)))(pred),
        ),
    ]:
        np.testing.assert_allclose(got, rows, rtol=1e-13, atol=1e-15, err_msg=label)


def test_out_of_range_classes_refused_where_known_nan_where_not():
    bad = np.array([0, 3, 1, 2])  # 3 classes: 3 is out of range
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 3\)"):
        nn.softmax_cross_entropy(LOGITS, bad)
    with pytest.raises(ValueError, match="class indices"):
        fgrad.grad(nn.softmax_cross_entropy)(LOGITS, bad)  # labels are concrete under grad
    assert np.isnan(fgrad.jit(nn.softmax_cross_entropy)(LOGITS, bad))
    per_example = fgrad.vmap(nn.softmax_cross_entropy)(LOGITS, bad)
    assert np.isnan(per_example[1]) and np.isfinite(per_example[[0, 2, 3]]).all()
    rows = [nn.softmax_cross_entropy(LOGITS[i], bad[i]) for i in (0, 2, 3)]
    np.testing.assert_allclose(per_example[[0, 2, 3]], rows, rtol=1e-14)


def test_hinge_label_check_where_values_are_known():
    with pytest.raises(ValueError, match="labels must be -1/\\+1"):
        nn.hinge(SCORES, LABELS01 * 2)  # {0, 2}
    with pytest.raises(ValueError, match="labels must be -1/\\+1"):
        nn.hinge(SCORES, np.where(LABELS01 == 1, -1, 0))  # {-1, 0}: neither convention


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.sgd(0.1),
        lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
        lambda: optim.adam(0.05),
        lambda: optim.adamw(0.05, weight_decay=0.1),
        lambda: optim.rmsprop(0.05),
        lambda: optim.adagrad(0.1),
        lambda: optim.chain(
            optim.clip_by_global_norm(0.5), optim.adam(optim.linear_schedule(0.1, 0.01, 3))
        ),
    ],
)
def test_optimiser_steps_are_the_same_eager_jit_and_vmap(make):
    """The audit of fgrad.optim: nothing branches on values, so a step gives the same
    numbers eagerly, under jit, and per example under vmap."""
    opt = make()
    params = {"w": RNG.standard_normal(3), "b": np.array(0.5)}

    def step(params, state, x):
        grads = fgrad.grad(lambda p: fnp.sum((x * p["w"] + p["b"]) ** 2))(params)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    xs = RNG.standard_normal((3, 3))
    eager, jitted = (params, opt.init(params)), (params, opt.init(params))
    for x in xs:
        eager = step(*eager, x)
        jitted = fgrad.jit(step)(*jitted, x)
        for a, b in zip(fgrad.tree_leaves(eager), fgrad.tree_leaves(jitted)):
            np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)
    batched = fgrad.vmap(step, (None, None, 0))(params, opt.init(params), xs)
    for i, x in enumerate(xs):
        one = step(params, opt.init(params), x)
        for a, b in zip(fgrad.tree_leaves(one), fgrad.tree_leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=1e-13, atol=1e-15)


# -- custom_jvp / custom_vjp: nondiff_argnums and defjvps -------------------------------------


@functools.partial(fgrad.custom_jvp, nondiff_argnums=(0,))
def apply_twice(f, x, y):
    """``f(f(x)) * y`` with ``f`` a function (not differentiable): its jvp rule runs ``f``'s
    own jvp."""
    return f(f(x)) * y


@apply_twice.defjvp
def _apply_twice_jvp(f, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    inner, t_inner = fgrad.jvp(f, (x,), (tx,))
    outer, t_outer = fgrad.jvp(f, (inner,), (t_inner,))
    return outer * y, t_outer * y + outer * ty


def _apply_twice_by_hand(x, y):
    return np.sin(np.sin(x)) * y


X0, Y0 = np.array([0.3, -1.1, 2.0]), np.array([1.5, -0.5, 0.25])


def _checks_against_fd(f, x, y, rtol=1e-7):
    """``f(x, y)`` a scalar: grad, jvp, vmap, jit and their compositions against FD."""
    gx = numerical_grad(f, x, y)
    gy = numerical_grad(f, x, y, argnums=1)
    results = {
        "grad": fgrad.grad(f, (0, 1))(x, y),
        "jit(grad)": fgrad.jit(fgrad.grad(f, (0, 1)))(x, y),
        "grad(jit)": fgrad.grad(fgrad.jit(f), (0, 1))(x, y),
        "jacrev": fgrad.jacrev(f, (0, 1))(x, y),
        "jacfwd": fgrad.jacfwd(f, (0, 1))(x, y),
        "jit(jacfwd)": fgrad.jit(fgrad.jacfwd(f, (0, 1)))(x, y),
    }
    for label, (got_x, got_y) in results.items():
        np.testing.assert_allclose(got_x, gx, rtol=rtol, atol=1e-9, err_msg=label)
        np.testing.assert_allclose(got_y, gy, rtol=rtol, atol=1e-9, err_msg=label)
    v = (np.array([0.7, -0.2, 0.4]), np.array([0.1, 0.9, -0.3]))
    want = numerical_jvp(f, (x, y), v)
    for label, t in [
        ("jvp", fgrad.jvp(f, (x, y), v)[1]),
        ("jit(jvp)", fgrad.jit(lambda a, b: fgrad.jvp(f, (a, b), v)[1])(x, y)),
    ]:
        np.testing.assert_allclose(t, want, rtol=rtol, atol=1e-9, err_msg=label)
    xs, ys = np.stack([x, 2 * x]), np.stack([y, y[::-1]])
    rows = [fgrad.grad(f, (0, 1))(xs[i], ys[i]) for i in range(2)]
    for label, got in [
        ("vmap(grad)", fgrad.vmap(fgrad.grad(f, (0, 1)))(xs, ys)),
        ("jit(vmap(grad))", fgrad.jit(fgrad.vmap(fgrad.grad(f, (0, 1))))(xs, ys)),
        ("grad(sum(vmap))", fgrad.grad(lambda a, b: fnp.sum(fgrad.vmap(f)(a, b)), (0, 1))(xs, ys)),
    ]:
        for k in range(2):
            np.testing.assert_allclose(
                got[k], np.stack([r[k] for r in rows]), rtol=1e-12, atol=1e-14, err_msg=label
            )
    # second order: forward over reverse against FD of the gradient
    hv = fgrad.jvp(lambda a: fgrad.grad(f)(a, y), (x,), (v[0],))[1]
    np.testing.assert_allclose(
        hv, numerical_jvp(lambda a: fgrad.grad(f)(a, y), (x,), (v[0],)), rtol=1e-6, atol=1e-8
    )


def test_custom_jvp_nondiff_function_argument_against_fd():
    def f(x, y):
        return fnp.sum(apply_twice(fnp.sin, x, y))

    np.testing.assert_allclose(f(X0, Y0), np.sum(_apply_twice_by_hand(X0, Y0)), rtol=1e-15)
    _checks_against_fd(f, X0, Y0)


def test_custom_jvp_nondiff_rule_is_the_one_used_by_every_transform():
    """A deliberately wrong rule (tangent times 3) shows through every transform: none of
    them differentiates the function's body instead."""

    @functools.partial(fgrad.custom_jvp, nondiff_argnums=(1,))
    def scaled(x, k):
        return fnp.sin(x) * k

    @scaled.defjvp
    def _(k, primals, tangents):
        (x,), (t,) = primals, tangents
        return scaled(x, k), 3.0 * fnp.cos(x) * k * t

    def f(x):
        return fnp.sum(scaled(x, 2.0))

    want = 3.0 * np.cos(X0) * 2.0
    for label, got in [
        ("grad", fgrad.grad(f)(X0)),
        ("jit(grad)", fgrad.jit(fgrad.grad(f))(X0)),
        ("grad(jit)", fgrad.grad(fgrad.jit(f))(X0)),
        ("jvp", fgrad.jacfwd(f)(X0)),
        ("vmap(grad)", fgrad.vmap(fgrad.grad(lambda x: fnp.sum(scaled(x, 2.0))))(X0)),
    ]:
        np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=label)


@functools.partial(fgrad.custom_vjp, nondiff_argnums=(2,))
def weighted_norm(x, y, p):
    """``sum(|x * y| ** p) ** (1 / p)`` with the order ``p`` (a Python float) not
    differentiated; ``bwd`` receives ``p`` first."""
    return fnp.sum(fnp.abs(x * y) ** p) ** (1.0 / p)


def _weighted_norm_fwd(x, y, p):  # fwd gets every argument, p included
    n = weighted_norm(x, y, p)
    return n, (x, y, n)


def _weighted_norm_bwd(p, res, g):
    x, y, n = res
    u = x * y
    d = g * fnp.sign(u) * fnp.abs(u) ** (p - 1) * n ** (1 - p)
    return d * y, d * x  # cotangents of x and y only


weighted_norm.defvjp(_weighted_norm_fwd, _weighted_norm_bwd)


@pytest.mark.parametrize("p", [1.5, 3.0])
def test_custom_vjp_nondiff_argument_against_fd(p):
    def f(x, y):
        return weighted_norm(x, y, p)

    np.testing.assert_allclose(f(X0, Y0), np.sum(np.abs(X0 * Y0) ** p) ** (1 / p), rtol=1e-14)
    _checks_against_fd(f, X0, Y0, rtol=1e-6)


def test_custom_vjp_batched_nondiff_array_argument():
    """A nondiff argument that varies over a vmap batch is mapped with the others."""

    @functools.partial(fgrad.custom_vjp, nondiff_argnums=(1,))
    def times(x, k):
        return x * k

    times.defvjp(lambda x, k: (x * k, None), lambda k, res, g: (g * k,))
    x, k = np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0, 5.0])
    np.testing.assert_array_equal(fgrad.vmap(times)(x, k), x * k)
    np.testing.assert_array_equal(fgrad.vmap(fgrad.grad(times))(x, k), k)
    np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(fgrad.vmap(times)(x, k)))(x), k)
    np.testing.assert_array_equal(
        fgrad.jit(fgrad.grad(lambda x: fnp.sum(fgrad.vmap(times)(x, k))))(x), k
    )
    # unbatched nondiff, batched x: k is shared by the batch
    np.testing.assert_array_equal(fgrad.vmap(fgrad.grad(times), (0, None))(x, 2.5), np.full(3, 2.5))
    t = fgrad.jvp(lambda x: fgrad.vmap(times)(x, k), (x,), (np.full(3, 0.5),))[1]
    np.testing.assert_array_equal(t, 0.5 * k)  # forward mode runs bwd transposed
    with pytest.raises(fgrad.TransformError, match="times: argument 1 is in nondiff_argnums"):
        fgrad.jvp(fgrad.vmap(times), (x, k), (np.ones(3), k))  # a tangent for k


def test_custom_jvp_batched_nondiff_array_argument():
    @functools.partial(fgrad.custom_jvp, nondiff_argnums=(0,))
    def power(n, x):
        return x**n

    power.defjvp(lambda n, p, t: (power(n, p[0]), n * p[0] ** (n - 1) * t[0]))
    n, x = np.array([2.0, 3.0, 4.0]), np.array([1.5, 0.5, -1.0])
    np.testing.assert_allclose(fgrad.vmap(power)(n, x), x**n, rtol=1e-15)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(power, 1))(n, x), n * x ** (n - 1))
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(fgrad.vmap(power)(n, x)))(x), n * x ** (n - 1)
    )
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(fgrad.grad(power, 1)))(n, x), n * x ** (n - 1))


def test_nondiff_argument_being_differentiated_is_refused():
    for transform in (fgrad.grad, lambda f: lambda x: fgrad.jvp(f, (x,), (1.0,))):
        with pytest.raises(fgrad.TransformError, match="argument 2 is in nondiff_argnums"):
            transform(lambda x: weighted_norm(x, 1.0, x))(2.0)
    with pytest.raises(fgrad.TransformError, match="stop_gradient"):
        fgrad.jit(fgrad.grad(lambda x: weighted_norm(x, 1.0, x)))(2.0)


def test_stop_gradient_lets_a_value_be_a_nondiff_argument():
    g = fgrad.grad(lambda x: weighted_norm(x, 1.0, fgrad.stop_gradient(x)))(2.0)
    np.testing.assert_allclose(g, 1.0, rtol=1e-14)  # d/dx |x * 1| at x = 2, p fixed


@pytest.mark.parametrize("nondiff", [1.0, (0, 0), -1, "0", (True,)])
def test_bad_nondiff_argnums_are_refused(nondiff):
    for decorator in (fgrad.custom_jvp, fgrad.custom_vjp):
        with pytest.raises(fgrad.TransformError, match="nondiff_argnums"):
            decorator(lambda x, y: x * y, nondiff_argnums=nondiff)


def test_nondiff_argnums_beyond_the_call_are_refused():
    f = fgrad.custom_vjp(lambda x, y: x * y, nondiff_argnums=(3,))
    f.defvjp(lambda x, y: (x * y, None), lambda *a: (None, None))
    with pytest.raises(fgrad.TransformError, match=r"nondiff_argnums=\(3,\).*2 positional"):
        f(1.0, 2.0)


def test_custom_vjp_bwd_counts_only_differentiable_arguments():
    f = fgrad.custom_vjp(lambda x, s: x * s, nondiff_argnums=(1,))
    f.defvjp(lambda x, s: (x * s, None), lambda s, res, g: (g * s, None))  # one too many
    with pytest.raises(fgrad.TransformError, match="not in nondiff_argnums: 1"):
        fgrad.grad(f)(1.0, 2.0)


@fgrad.custom_jvp
def sin_times(x, y):
    return fnp.sin(x) * y


sin_times.defjvps(
    lambda tx, ans, x, y: fnp.cos(x) * y * tx,
    lambda ty, ans, x, y: fnp.sin(x) * ty,
)


def test_defjvps_against_fd():
    def f(x, y):
        return fnp.sum(sin_times(x, y))

    _checks_against_fd(f, X0, Y0)


def test_defjvps_none_is_a_zero_contribution():
    @fgrad.custom_jvp
    def f(x, y):
        return x * y

    f.defjvps(lambda tx, ans, x, y: tx * y, None)
    gx, gy = fgrad.grad(f, (0, 1))(2.0, 3.0)
    assert (gx, gy) == (3.0, 0.0)
    assert fgrad.jvp(f, (2.0, 3.0), (1.0, 1.0))[1] == 3.0
    np.testing.assert_array_equal(
        fgrad.vmap(fgrad.grad(f, (0, 1)))(np.array([2.0, 4.0]), np.array([3.0, 5.0]))[1],
        [0.0, 0.0],
    )


def test_defjvps_with_pytree_output_sums_per_leaf():
    @fgrad.custom_jvp
    def pair(x, y):
        return {"p": x * y, "s": x + y}

    pair.defjvps(
        lambda tx, ans, x, y: {"p": tx * y, "s": tx},
        lambda ty, ans, x, y: {"p": x * ty, "s": ty},
    )
    out, t = fgrad.jvp(pair, (2.0, 3.0), (0.5, -1.0))
    assert out == {"p": 6.0, "s": 5.0}
    assert t == {"p": 0.5 * 3.0 + 2.0 * -1.0, "s": -0.5}
    assert fgrad.grad(lambda x, y: pair(x, y)["p"], (0, 1))(2.0, 3.0) == (3.0, 2.0)


def test_defjvps_errors():
    f = fgrad.custom_jvp(lambda x, y: x * y, nondiff_argnums=(1,))
    with pytest.raises(fgrad.TransformError, match="defjvps cannot be combined"):
        f.defjvps(lambda t, ans, x, y: t * y)
    g = fgrad.custom_jvp(lambda x, y: x * y)
    g.defjvps(lambda t, ans, x, y: t * y)  # one rule for two arguments
    with pytest.raises(fgrad.TransformError, match="2 positional argument.*1 rule"):
        fgrad.grad(g)(1.0, 2.0)


@pytest.fixture
def jax64():
    """JAX in float64 for one test, then its setting as it was."""
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", before)


def test_custom_rules_with_nondiff_argnums_match_jax(jax64):
    jax = jax64
    jnp = jax.numpy

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
    def jax_norm(x, y, p):
        return jnp.sum(jnp.abs(x * y) ** p) ** (1.0 / p)

    def jax_fwd(x, y, p):
        n = jax_norm(x, y, p)
        return n, (x, y, n)

    def jax_bwd(p, res, g):
        x, y, n = res
        d = g * jnp.sign(x * y) * jnp.abs(x * y) ** (p - 1) * n ** (1 - p)
        return d * y, d * x

    jax_norm.defvjp(jax_fwd, jax_bwd)

    @jax.custom_jvp
    def jax_sin_times(x, y):
        return jnp.sin(x) * y

    jax_sin_times.defjvps(
        lambda tx, ans, x, y: jnp.cos(x) * y * tx, lambda ty, ans, x, y: jnp.sin(x) * ty
    )
    for ours, theirs in [
        (lambda x, y: weighted_norm(x, y, 2.5), lambda x, y: jax_norm(x, y, 2.5)),
        (
            lambda x, y: fnp.sum(sin_times(x, y) ** 2),
            lambda x, y: jnp.sum(jax_sin_times(x, y) ** 2),
        ),
    ]:
        got = fgrad.grad(ours, (0, 1))(X0, Y0)
        want = jax.grad(theirs, (0, 1))(X0, Y0)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, np.asarray(w), rtol=1e-12)
        got = fgrad.vmap(fgrad.grad(ours, (0, 1)))(np.stack([X0, Y0]), np.stack([Y0, X0]))
        want = jax.vmap(jax.grad(theirs, (0, 1)))(np.stack([X0, Y0]), np.stack([Y0, X0]))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, np.asarray(w), rtol=1e-12)


# -- clear errors ------------------------------------------------------------------------------


def test_python_int_beyond_int64_is_a_clear_overflow_error():
    with pytest.raises(OverflowError, match=r"1180591620717411303424 does not fit in int64"):
        fnp.multiply(2**70, 2)
    with pytest.raises(OverflowError, match=r"pass it as a float \(1\.18059"):
        fnp.multiply(np.arange(3), 2**70)
    with pytest.raises(OverflowError, match="does not fit in int64"):
        fgrad.jit(lambda x: x * 2)(2**70)
    with pytest.raises(OverflowError):
        np.multiply(2**70, 2)  # what NumPy itself does


def test_python_int_beyond_int64_meeting_floats_follows_numpy():
    np.testing.assert_array_equal(fnp.multiply(np.ones(2), 2**70), np.multiply(np.ones(2), 2**70))
    assert fnp.add(2**70, 2.0) == np.add(2**70, 2.0)
    assert fgrad.grad(lambda x: x * 2**70)(1.0) == float(2**70)
    assert fgrad.jit(lambda x: x * 2.0)(2**70) == 2.0**71


OPTIMISERS = {
    "sgd": lambda: optim.sgd(0.1),
    "sgd(momentum)": lambda: optim.sgd(0.1, momentum=0.9),
    "adam": lambda: optim.adam(0.1),
    "adamw": lambda: optim.adamw(0.1),
    "rmsprop": lambda: optim.rmsprop(0.1),
    "adagrad": lambda: optim.adagrad(0.1),
    "adam(schedule)": lambda: optim.adam(optim.linear_schedule(0.1, 0.0, 10)),
}


def _kinds(state) -> str:
    """The state's structure with its NamedTuple classes, e.g. ``(TraceState(...), ...)``."""
    return str(fgrad.tree_structure(state))


@pytest.mark.parametrize("a, b", list(itertools.permutations(sorted(OPTIMISERS), 2)))
def test_update_with_another_optimisers_state_is_refused(a, b):
    params = {"w": np.ones(3)}
    opt, other_state = OPTIMISERS[a](), OPTIMISERS[b]().init(params)
    assert _kinds(opt.init(params)) != _kinds(other_state)  # every pair keeps different states
    with pytest.raises(fgrad.OptimizerStateError, match="state returned by this optimiser") as e:
        opt.update(params, other_state, params)
    assert isinstance(e.value, TypeError) and isinstance(e.value, ValueError)
    assert "State" in str(e.value) and "another optimiser" in str(e.value)


def test_wrong_state_message_names_the_block_and_the_state():
    params = {"w": np.ones(3)}
    with pytest.raises(
        TypeError, match=r"scale_by_adam\.update: the state is TraceState, but scale_by_adam"
    ):
        optim.adam(0.1).update(params, optim.sgd(0.1, momentum=0.9).init(params), params)
    with pytest.raises(ValueError, match=r"chain\.update: the state is \(EmptyState, EmptyState\)"):
        optim.adamw(0.1).update(params, optim.sgd(0.1).init(params), params)


def test_grad_accepts_bfloat16_like_the_other_transforms():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = ml_dtypes.bfloat16
    x = np.array([0.5, 1.0, 2.0], bf16)

    def f(x):
        return fnp.sum(fnp.sin(x) * x)

    want = np.sin(x.astype(np.float64)) + x.astype(np.float64) * np.cos(x.astype(np.float64))
    for label, got in [
        ("grad", fgrad.grad(f)(x)),
        ("jit(grad)", fgrad.jit(fgrad.grad(f))(x)),
        ("grad(jit)", fgrad.grad(fgrad.jit(f))(x)),
        ("vmap(grad)", fgrad.vmap(fgrad.grad(f))(x[None])[0]),
        ("jacrev", fgrad.jacrev(f)(x)),
        ("jacfwd", fgrad.jacfwd(f)(x)),
    ]:
        assert got.dtype == bf16, label
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-2, err_msg=label)
    t = fgrad.jvp(f, (x,), (np.ones(3, bf16),))[1]
    assert t.dtype == bf16
    np.testing.assert_allclose(float(t), want.sum(), rtol=2e-2)
    assert fgrad.jit(f)(x).dtype == bf16 and fgrad.vmap(fnp.sin)(x).dtype == bf16


def test_grad_refuses_ml_dtypes_integers_by_dtype():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    with pytest.raises(fgrad.DtypeError, match="floating-point inputs.*int4"):
        fgrad.grad(lambda x: fnp.sum(x))(np.array([1, 2], ml_dtypes.int4))


X23 = np.arange(6.0).reshape(2, 3)
INDEX_OUT_OF_RANGE = {
    "x[9]": lambda x: x[9],
    "x.at[9].get()": lambda x: fnp.at(x)[9].get(),
    "x.at[9].set(1)": lambda x: fnp.at(x)[9].set(1.0),
    "x.at[9].add(1)": lambda x: fnp.at(x)[9].add(1.0),
    "x.at[9].multiply(2)": lambda x: fnp.at(x)[9].multiply(2.0),
    "x.at[9].min(0)": lambda x: fnp.at(x)[9].min(0.0),
    "x.at[-4].set(1)": lambda x: fnp.at(x)[-4].set(1.0),
}


@pytest.mark.parametrize("name", sorted(INDEX_OUT_OF_RANGE))
@pytest.mark.parametrize("in_axes", [0, 1])
@pytest.mark.parametrize("jit", [False, True])
def test_index_out_of_range_under_vmap_speaks_of_the_users_shape(name, in_axes, jit):
    f = fgrad.vmap(INDEX_OUT_OF_RANGE[name], in_axes=in_axes)
    f = fgrad.jit(f) if jit else f
    with pytest.raises(IndexError) as err:
        f(X23 if in_axes == 0 else X23.T)
    message = str(err.value)
    assert "for axis 0 with size 3" in message and "shape (3,)" in message, message
    assert "(2, 3)" not in message and "(3, 2)" not in message and "axis 1" not in message
    with pytest.raises(IndexError) as one:  # the same words as for one example
        fgrad.jit(INDEX_OUT_OF_RANGE[name])(X23[0])
    assert str(one.value) == message


@pytest.mark.parametrize("update", [None, "set", "add"])
def test_batched_index_out_of_range_under_vmap_speaks_of_the_users_shape(update):
    def f(x, i):
        return x[i] if update is None else getattr(x.at[i], update)(1.0)

    with pytest.raises(IndexError) as err:
        fgrad.vmap(f)(X23, np.array([1, 9]))
    message = str(err.value)
    assert "index 9 is out of bounds for axis 0 with size 3" in message, message
    assert "shape (3,)" in message and "axis 1" not in message
    np.testing.assert_array_equal(fgrad.vmap(lambda x, i: x[i])(X23, np.array([1, -3])), [1, 3])
