"""``lax.cond`` and ``lax.switch`` under every composition of ``jit``, ``vmap``, ``grad``,
``jvp``, ``make_jaxpr``: the same values and derivatives as eager mode, for every branch
count, and no NaN from a branch that is not taken."""

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

# (branch, its value, its derivative) in closed form
BRANCHES = [
    (lambda x: x + 1.0, lambda x: x + 1.0, lambda x: 1.0),
    (lambda x: x * 10.0, lambda x: 10.0 * x, lambda x: 10.0),
    (lambda x: x**3, lambda x: x**3, lambda x: 3.0 * x**2),
    (fnp.sin, np.sin, np.cos),
    (lambda x: fnp.exp(-x), lambda x: np.exp(-x), lambda x: -np.exp(-x)),
]


def _switch(n):
    branches = [b for b, _, _ in BRANCHES[:n]]
    return lambda i, x: lax.switch(i, branches, x)


def _run(mode, f, indices, xs):
    """``f(i, x)`` for each pair, computed the way ``mode`` says."""
    indices, xs = np.asarray(indices), np.asarray(xs, dtype=float)
    if mode == "eager":
        return np.array([f(int(i), float(x)) for i, x in zip(indices, xs)])
    if mode == "jit":
        g = fgrad.jit(f)
        return np.array([g(int(i), float(x)) for i, x in zip(indices, xs)])
    if mode == "jit_array_index":
        g = fgrad.jit(f)
        return np.array([g(np.int32(i), np.float64(x)) for i, x in zip(indices, xs)])
    if mode == "vmap":
        return fgrad.vmap(f)(indices, xs)
    if mode == "jit_vmap":
        return fgrad.jit(fgrad.vmap(f))(indices, xs)
    if mode == "vmap_jit":
        return fgrad.vmap(fgrad.jit(f))(indices, xs)
    if mode == "jit_vmap_shared_index":  # one index for the batch, unknown while tracing
        g = fgrad.jit(fgrad.vmap(f, in_axes=(None, 0)))
        return np.array([g(int(i), np.array([x, x]))[0] for i, x in zip(indices, xs)])
    if mode == "make_jaxpr":
        closed = fgrad.make_jaxpr(f)(0, 0.5)
        return np.array([closed(int(i), float(x)) for i, x in zip(indices, xs)])
    raise AssertionError(mode)


MODES = [
    "eager",
    "jit",
    "jit_array_index",
    "vmap",
    "jit_vmap",
    "vmap_jit",
    "jit_vmap_shared_index",
    "make_jaxpr",
]


def _clamped_points(n: int, column: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Indices from below 0 to above ``n - 1``, points for them, and the value at each of
    ``BRANCHES[clamped index][column]`` (1: the branch in NumPy, 2: its derivative)."""
    indices = np.arange(-2, n + 2)
    xs = np.linspace(-0.9, 1.3, len(indices))
    want = [BRANCHES[int(np.clip(i, 0, n - 1))][column](x) for i, x in zip(indices, xs)]
    return indices, xs, want


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_switch_runs_the_clamped_branch_for_every_branch_count(n, mode):
    indices, xs, want = _clamped_points(n, column=1)
    got = _run(mode, _switch(n), indices, xs)
    np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_switch_derivative_is_the_clamped_branch_derivative(n, mode):
    indices, xs, want = _clamped_points(n, column=2)
    got = _run(mode, fgrad.grad(_switch(n), argnums=1), indices, xs)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    # differentiating the compiled function, not compiling the derivative
    if mode == "jit":
        g = fgrad.grad(fgrad.jit(_switch(n)), argnums=1)
        got = [g(int(i), float(x)) for i, x in zip(indices, xs)]
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_switch_with_two_branches_under_jit_is_not_cond():
    """The reproducer of issue 13, item 1."""
    f = lambda i, x: lax.switch(i, [lambda x: x + 1.0, lambda x: x * 10.0], x)  # noqa: E731
    assert f(1, 2.0) == 20.0
    assert fgrad.jit(f)(1, 2.0) == 20.0
    assert fgrad.jit(f)(0, 2.0) == 3.0
    assert fgrad.jit(fgrad.grad(f, argnums=1))(1, 2.0) == 10.0
    np.testing.assert_array_equal(fgrad.vmap(f)(np.array([1, 0]), np.array([2.0, 2.0])), [20, 3])
    assert fgrad.make_jaxpr(f)(0, 2.0)(1, 2.0) == 20.0


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pred", [False, True])
def test_cond_is_switch_on_the_predicate(mode, pred):
    def f(i, x):
        return lax.cond(i > 0, lambda v: fnp.sin(v) * 2.0, lambda v: v**2, x)

    def via_switch(i, x):
        index = fnp.asarray(i > 0).astype(np.int32)
        return lax.switch(index, [lambda v: v**2, lambda v: fnp.sin(v) * 2.0], x)

    xs = np.array([0.3, -1.2])
    idx = np.array([int(pred)] * 2)
    want = [2 * np.sin(x) if pred else x**2 for x in xs]
    np.testing.assert_allclose(_run(mode, f, idx, xs), want, rtol=1e-15)
    np.testing.assert_allclose(_run(mode, via_switch, idx, xs), want, rtol=1e-15)


# -- a branch not taken whose derivative is not finite ------------------------------------


def sqrt_or_neg(x):
    return lax.cond(x > 0, fnp.sqrt, lambda x: -x, x)


POINTS = np.array([-1.0, 0.0, 4.0])  # sqrt' is nan at -1 and inf at 0, where it is not taken


def d1(x):
    return np.where(x > 0, 0.5 / np.sqrt(np.abs(x) + (x <= 0)), -1.0)


def d2(x):
    return np.where(x > 0, -0.25 * (np.abs(x) + (x <= 0)) ** -1.5, 0.0)


def _sum_of(f):
    return lambda xs: fnp.sum(fgrad.vmap(f)(xs))


g, j, v = fgrad.grad, fgrad.jit, fgrad.vmap

# each maps the vector of points to the derivative at each point
FIRST_ORDER = {
    "grad": lambda xs: [g(sqrt_or_neg)(x) for x in xs],
    "jit(grad)": lambda xs: [j(g(sqrt_or_neg))(x) for x in xs],
    "grad(jit)": lambda xs: [g(j(sqrt_or_neg))(x) for x in xs],
    "jit(grad(jit))": lambda xs: [j(g(j(sqrt_or_neg)))(x) for x in xs],
    "vjp under jit": lambda xs: [j(lambda x: fgrad.vjp(sqrt_or_neg, x)[1](1.0)[0])(x) for x in xs],
    "jvp(jit)": lambda xs: [fgrad.jvp(j(sqrt_or_neg), (x,), (1.0,))[1] for x in xs],
    "jit(jvp)": lambda xs: [j(lambda x: fgrad.jvp(sqrt_or_neg, (x,), (1.0,))[1])(x) for x in xs],
    "grad(make_jaxpr)": lambda xs: [
        g(lambda x: fgrad.make_jaxpr(sqrt_or_neg)(1.0)(x))(x) for x in xs
    ],
    "make_jaxpr(grad)": lambda xs: [fgrad.make_jaxpr(g(sqrt_or_neg))(1.0)(x) for x in xs],
    "vmap(grad)": v(g(sqrt_or_neg)),
    "grad(vmap)": g(_sum_of(sqrt_or_neg)),
    "jit(vmap(grad))": j(v(g(sqrt_or_neg))),
    "vmap(jit(grad))": v(j(g(sqrt_or_neg))),
    "vmap(grad(jit))": v(g(j(sqrt_or_neg))),
    "jit(grad(vmap))": j(g(_sum_of(sqrt_or_neg))),
    "grad(jit(vmap))": g(lambda xs: fnp.sum(j(v(sqrt_or_neg))(xs))),
    "diag jacfwd(vmap)": lambda xs: np.diag(fgrad.jacfwd(v(sqrt_or_neg))(xs)),
    "diag jacrev(vmap)": lambda xs: np.diag(fgrad.jacrev(v(sqrt_or_neg))(xs)),
    "diag jit(jacrev(vmap))": lambda xs: np.diag(j(fgrad.jacrev(v(sqrt_or_neg)))(xs)),
    "diag jit(jacfwd(vmap))": lambda xs: np.diag(j(fgrad.jacfwd(v(sqrt_or_neg)))(xs)),
    "vmap(jvp) under jit": j(v(lambda x: fgrad.jvp(sqrt_or_neg, (x,), (1.0,))[1])),
}

SECOND_ORDER = {
    "grad(grad)": lambda xs: [g(g(sqrt_or_neg))(x) for x in xs],
    "jit(grad(grad))": lambda xs: [j(g(g(sqrt_or_neg)))(x) for x in xs],
    "grad(jit(grad))": lambda xs: [g(j(g(sqrt_or_neg)))(x) for x in xs],
    "grad(grad(jit))": lambda xs: [g(g(j(sqrt_or_neg)))(x) for x in xs],
    "jvp(grad) under jit": lambda xs: [
        j(lambda x: fgrad.jvp(g(sqrt_or_neg), (x,), (1.0,))[1])(x) for x in xs
    ],
    "hessian(jit)": lambda xs: [fgrad.hessian(j(sqrt_or_neg))(x) for x in xs],
    "jit(hessian)": lambda xs: [j(fgrad.hessian(sqrt_or_neg))(x) for x in xs],
    "vmap(grad(grad))": v(g(g(sqrt_or_neg))),
    "jit(vmap(grad(grad)))": j(v(g(g(sqrt_or_neg)))),
    "grad(vmap(grad))": g(lambda xs: fnp.sum(v(g(sqrt_or_neg))(xs))),
    "jit(grad(vmap(grad)))": j(g(lambda xs: fnp.sum(v(g(sqrt_or_neg))(xs)))),
    "vmap(grad(jit(grad)))": v(g(j(g(sqrt_or_neg)))),
    "diag hessian(vmap)": lambda xs: np.diag(fgrad.hessian(_sum_of(sqrt_or_neg))(xs)),
    "diag jit(hessian(vmap))": lambda xs: np.diag(j(fgrad.hessian(_sum_of(sqrt_or_neg)))(xs)),
    "diag jacfwd(jacrev(vmap))": lambda xs: np.diag(
        fgrad.jacfwd(fgrad.jacrev(_sum_of(sqrt_or_neg)))(xs)
    ),
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("name", list(FIRST_ORDER))
def test_untaken_branch_with_infinite_derivative_first_order(name):
    """Issue 13, item 2: the cotangent of the branch not taken never reaches the result."""
    np.testing.assert_allclose(np.asarray(FIRST_ORDER[name](POINTS), float), d1(POINTS))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_untaken_branch_with_infinite_derivative_second_order(name):
    np.testing.assert_allclose(np.asarray(SECOND_ORDER[name](POINTS), float), d2(POINTS))


@pytest.mark.filterwarnings("error")
def test_hessian_of_batched_cond_has_no_cross_terms():
    h = fgrad.jit(fgrad.hessian(_sum_of(sqrt_or_neg)))(POINTS)
    np.testing.assert_array_equal(h - np.diag(np.diag(h)), 0.0)


def test_only_the_chosen_branch_runs_under_jit(capsys):
    def f(x):
        def loud(name, fun):
            def branch(v):
                fgrad.debug.print(name + " {}", v)
                return fun(v)

            return branch

        return lax.cond(x > 0, loud("sqrt", fnp.sqrt), loud("neg", lambda v: -v), x)

    jf = fgrad.jit(f)
    capsys.readouterr()  # nothing printed while tracing the branches
    assert jf(-1.0) == 1.0 and jf(4.0) == 2.0
    assert capsys.readouterr().out.split("\n")[:2] == ["neg -1.0", "sqrt 4.0"]
    closed = fgrad.make_jaxpr(f)(1.0)
    assert str(closed).count("cond[") == 1


# -- closures, pytrees, several operands --------------------------------------------------


def _central_difference(f, x, eps=1e-6):
    x = np.asarray(x, float)
    out = np.zeros_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e.flat[k] = eps
        out.flat[k] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


def smooth(params):
    """Closes over traced values (``a``, ``w``) and returns a pytree from each branch."""
    a, x, w = params[0], params[1], params[2:]

    def branch(k):
        def b(v):
            u = {"s": fnp.sin(k * a * v) + w[0] * v**2, "t": (fnp.exp(0.3 * k * v) * w,)}
            return u

        return b

    out = lax.switch(fnp.floor(x + 1.0).astype(np.int32), [branch(k) for k in range(1, 4)], x)
    return out["s"] * 1.5 + fnp.sum(out["t"][0] ** 2)


@pytest.mark.parametrize("x", [-0.7, 0.4, 1.6, 2.5])
def test_smooth_switch_matches_finite_differences_in_every_composition(x):
    p = np.array([0.8, x, 0.5, -1.2])
    want = _central_difference(smooth, p)
    for h in [g(smooth), j(g(smooth)), g(j(smooth)), j(g(j(smooth)))]:
        np.testing.assert_allclose(h(p), want, rtol=1e-7, atol=1e-8)
    batch = np.stack([p, p + 0.01])
    want2 = np.stack([want, _central_difference(smooth, p + 0.01)])
    for h in [v(g(smooth)), j(v(g(smooth))), v(j(g(smooth)))]:
        np.testing.assert_allclose(h(batch), want2, rtol=1e-6, atol=1e-7)
    # second order: a Hessian-vector product against differences of the gradient
    t = np.array([0.3, -0.2, 0.7, 0.1])
    hvp = j(lambda p: fgrad.jvp(g(smooth), (p,), (t,))[1])(p)
    fd = (g(smooth)(p + 1e-6 * t) - g(smooth)(p - 1e-6 * t)) / 2e-6
    np.testing.assert_allclose(hvp, fd, rtol=1e-6, atol=1e-7)


def test_vjp_jvp_dot_product_identity_with_pytree_outputs():
    def f(x, y):
        return lax.switch(
            (x[0] > 0).astype(np.int32) + (y > 1).astype(np.int32),
            [
                lambda x, y: {"a": x * y, "b": fnp.sin(x).sum()},
                lambda x, y: {"a": x**2, "b": y * 3.0},
                lambda x, y: {"a": fnp.exp(x) - y, "b": (x * y).sum()},
            ],
            x,
            y,
        )

    rng = np.random.default_rng(0)
    for x0, y0 in [(-0.5, 0.3), (0.5, 0.3), (0.5, 1.5)]:
        x = np.array([x0, 0.2, -0.1])
        tx, ty = rng.normal(size=3), rng.normal()
        ca, cb = rng.normal(size=3), rng.normal()
        for h in [f, j(f)]:
            jvp_at = j(lambda x, y, tx, ty, h=h: fgrad.jvp(h, (x, y), (tx, ty)))
            _, t_out = jvp_at(x, y0, tx, ty)
            _, pullback = fgrad.vjp(h, x, y0)
            ct_x, ct_y = pullback({"a": ca, "b": cb})
            lhs = np.dot(t_out["a"], ca) + t_out["b"] * cb
            np.testing.assert_allclose(lhs, np.dot(ct_x, tx) + ct_y * ty, rtol=1e-12)
            vjp_at = j(lambda x, y, ca, cb, h=h: fgrad.vjp(h, x, y)[1]({"a": ca, "b": cb}))
            ct_jit = vjp_at(x, y0, ca, cb)
            np.testing.assert_allclose(ct_jit[0], ct_x, rtol=1e-13)
            np.testing.assert_allclose(ct_jit[1], ct_y, rtol=1e-13)


@pytest.mark.filterwarnings("error")
def test_closure_over_traced_values_gets_its_derivative():
    def f(a, x):
        return lax.cond(x > 0, lambda v: a * fnp.sqrt(v), lambda v: -a * v, x)

    for x in [-1.0, 0.0, 4.0]:
        want_a = np.sqrt(x) if x > 0 else -x
        want_x = 0.5 * 2.0 / np.sqrt(x) if x > 0 else -2.0
        for h in [g(f, (0, 1)), j(g(f, (0, 1))), g(j(f), (0, 1))]:
            np.testing.assert_allclose(h(2.0, x), (want_a, want_x))
    a = np.array([1.0, 2.0, 3.0])
    xs = np.array([-1.0, 0.0, 4.0])
    for h in [v(g(f, (0, 1))), j(v(g(f, (0, 1))))]:
        da, dx = h(a, xs)
        np.testing.assert_allclose(da, [1.0, 0.0, 2.0])
        np.testing.assert_allclose(dx, [-1.0, -2.0, 0.75])
    # the closed-over value shared by the batch: its gradient sums over the examples
    da = j(g(lambda a: fnp.sum(v(lambda x: f(a, x))(xs))))(2.0)
    np.testing.assert_allclose(da, 1.0 + 0.0 + 2.0)


def test_integer_operands_and_outputs_pass_through():
    def f(x, n):
        return lax.cond(x > 0, lambda x, n: (x * n, n + 1), lambda x, n: (-x, n * 2), x, n)

    for h in [f, j(f)]:
        out, m = h(3.0, np.int64(4))
        assert out == 12.0 and m == 5
    assert j(g(lambda x: f(x, np.int64(4))[0]))(3.0) == 4.0
    assert g(j(lambda x: f(x, np.int64(4))[0]))(-3.0) == -1.0
    outs, ms = v(f)(np.array([1.0, -1.0]), np.array([4, 4]))
    np.testing.assert_array_equal(outs, [4.0, 1.0])
    np.testing.assert_array_equal(ms, [5, 8])


@pytest.mark.filterwarnings("error")
def test_nested_cond_in_a_switch_branch():
    def f(i, x):
        inner = lambda x: lax.cond(x > 0, fnp.sqrt, lambda x: x**2, x)  # noqa: E731
        return lax.switch(i, [lambda x: -x, inner, lambda x: fnp.log(fnp.abs(x) + 1.0)], x)

    cases = [(0, -1.0, 1.0, -1.0), (1, 4.0, 2.0, 0.25), (1, -3.0, 9.0, -6.0)]
    for i, x, want, slope in cases:
        for h in [f, j(f), fgrad.make_jaxpr(f)(0, 1.0)]:
            assert h(i, x) == want
        for dh in [g(f, 1), j(g(f, 1)), g(j(f), 1)]:
            np.testing.assert_allclose(dh(i, x), slope)
    idx, xs = np.array([i for i, *_ in cases]), np.array([x for _, x, *_ in cases])
    np.testing.assert_allclose(j(v(g(f, 1)))(idx, xs), [s for *_, s in cases])
    np.testing.assert_allclose(g(lambda xs: fnp.sum(v(f)(idx, xs)))(xs), [s for *_, s in cases])


# -- errors -------------------------------------------------------------------------------


def test_branches_with_different_output_types_are_a_clear_error():
    def pick(i, x, branches):
        return lax.switch(i, branches, x)

    same = lambda x: x  # noqa: E731
    to_f32 = lambda x: x.astype(np.float32)  # noqa: E731
    pair = lambda x: (x, x)  # noqa: E731
    for transform, i, x in [(j, 1, 1.0), (v, np.array([1, 0]), np.array([1.0, 2.0]))]:
        with pytest.raises(TypeError, match=r"switch: leaf 0 of branch 2's result is f32\[\]"):
            transform(lambda i, x: pick(i, x, [same, same, to_f32]))(i, x)
        with pytest.raises(TypeError, match=r"switch: branch 1's result has structure"):
            transform(lambda i, x: pick(i, x, [same, pair]))(i, x)
    with pytest.raises(TypeError, match=r"cond: leaf 0 of false_fun's result is f64\[2\]"):
        j(lambda x: lax.cond(x > 0, lambda x: x, lambda x: fnp.stack([x, x]), x))(1.0)
    with pytest.raises(fgrad.ShapeError, match=r"cond: the predicate must be a scalar"):
        j(lambda x: lax.cond(x > 0, same, same, x))(np.ones(2))


# -- against JAX --------------------------------------------------------------------------

PROGRAMS = {
    "sqrt_or_neg": (
        lambda lx, x: lx.cond(x > 0, lambda v: lx_np(lx).sqrt(v), lambda v: -v, x),
        [-1.0, 0.0, 2.0],
    ),
    "log_or_square": (
        lambda lx, x: lx.cond(x > 0.5, lambda v: lx_np(lx).log(v), lambda v: v * v, x),
        [-2.0, 0.0, 1.5],
    ),
    "switch_two": (
        lambda lx, x: lx.switch(
            (x > 0).astype(np.int32), [lambda v: v * 3.0, lambda v: lx_np(lx).sqrt(v)], x
        ),
        [-1.0, 0.0, 4.0],
    ),
    "switch_four_clamped": (
        lambda lx, x: lx.switch(
            lx_np(lx).floor(x).astype(np.int32) + 1,
            [
                lambda v: lx_np(lx).sqrt(-v),
                lambda v: v**3,
                lambda v: lx_np(lx).arcsin(v),
                lambda v: lx_np(lx).log(v) * v,
            ],
            x,
        ),
        [-3.0, -0.5, 0.5, 1.0, 7.0],
    ),
    "nested_with_closure": (
        lambda lx, x: lx.cond(
            x < 1.0,
            lambda v: lx.cond(v > -1.0, lambda u: lx_np(lx).log1p(u) * x, lambda u: u**2, v),
            lambda v: lx_np(lx).sqrt(v - 1.0) + x,
            x,
        ),
        [-2.0, -1.0, 0.5, 1.0, 1.5, 3.0],  # 1.0: sqrt's singular point, taken
    ),
    "pytree_outputs": (
        lambda lx, x: _pytree_sum(
            lx.switch(
                (x > 0).astype(np.int32) * 2,
                [
                    lambda v: (v, {"a": lx_np(lx).arccos(v)}),
                    lambda v: (v * 0.0, {"a": v}),
                    lambda v: (lx_np(lx).log(v), {"a": v**3}),
                ],
                x,
            )
        ),
        [-0.5, 0.0, 2.0],
    ),
}


def _pytree_sum(out):
    first, rest = out
    return first + 2.0 * rest["a"]


def lx_np(lx):
    """The NumPy namespace that goes with a ``lax`` module."""
    if lx is lax:
        return fnp
    import jax.numpy as jnp

    return jnp


def _compositions(api):
    """The same compositions written against fgrad or against JAX (``api`` is the
    package)."""
    gr, jt, vm = api.grad, api.jit, api.vmap
    return {
        "f": lambda f: vm(f),
        "jit": lambda f: vm(jt(f)),
        "grad": lambda f: vm(gr(f)),
        "jit(grad)": lambda f: vm(jt(gr(f))),
        "grad(jit)": lambda f: vm(gr(jt(f))),
        "vmap(grad)": lambda f: jt(vm(gr(f))),
        "grad(vmap)": lambda f: gr(lambda xs: vm(f)(xs).sum()),
        "grad(grad)": lambda f: vm(jt(gr(gr(f)))),
        "grad(jit(grad))": lambda f: vm(gr(jt(gr(f)))),
        "hessian(vmap) diag": lambda f: (
            lambda xs: api.numpy.diag(api.hessian(lambda xs: vm(f)(xs).sum())(xs))
        ),
    }


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # JAX's own NaNs, not fgrad's
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_cond_and_switch_agree_with_jax(program):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    fun, points = PROGRAMS[program]
    xs = np.array(points)
    ours = _compositions(fgrad)
    theirs = _compositions(jax)
    for name in ours:
        got = np.asarray(ours[name](lambda x: fun(lax, x))(xs))
        want = np.asarray(theirs[name](lambda x: fun(jax.lax, x))(xs))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)


@fgrad.custom_vjp
def _clip_gradient(x):
    return x


_clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -0.5, 0.5),))


@fgrad.custom_jvp
def _square_with_rule_three(x):
    return x * x


@_square_with_rule_three.defjvp
def _(primals, tangents):
    return _square_with_rule_three(primals[0]), 3.0 * tangents[0]  # not 2x: detectable


@pytest.mark.filterwarnings("error")
def test_custom_rules_inside_branches_apply_in_every_composition():
    def f(x):
        return lax.cond(
            x > 0,
            lambda x: _clip_gradient(x) * 4.0,
            lambda x: _square_with_rule_three(x) + fgrad.checkpoint(fnp.sin)(x),
            x,
        )

    xs = np.array([1.5, -0.7])
    want = [0.5, 3.0 + np.cos(-0.7)]  # the clipped cotangent 0.5; the rule's 3 + cos
    for h in [v(g(f)), j(v(g(f))), v(j(g(f))), v(g(j(f))), g(lambda xs: fnp.sum(v(f)(xs)))]:
        np.testing.assert_allclose(h(xs), want, rtol=1e-14)
    for h in [g(f), j(g(f)), g(j(f))]:
        np.testing.assert_allclose([h(x) for x in xs], want, rtol=1e-14)
    np.testing.assert_allclose(j(g(g(f)))(-0.7), -np.sin(-0.7), rtol=1e-14)
    np.testing.assert_allclose(j(fgrad.jacrev(f))(-0.7), 3.0 + np.cos(-0.7), rtol=1e-14)


@pytest.mark.filterwarnings("error")
def test_python_scalar_branch_takes_the_other_branches_dtype():
    """``lambda x: 0.0`` beside a float32 branch gives float32, as in JAX."""

    def f(x):
        return lax.cond(x > 1, lambda x: x * x, lambda x: 0.0, x)

    x = np.float32(2.0)
    for h in [j(f), lambda x: v(f)(np.stack([x, x]))[0], fgrad.make_jaxpr(f)(x)]:
        out = h(x)
        assert out.dtype == np.float32 and out == 4.0
    for h in [j(g(f)), g(j(f)), lambda x: v(g(f))(np.stack([x, x]))[0]]:
        out = h(x)
        assert out.dtype == np.float32 and out == 4.0
    assert j(f)(np.float32(0.5)) == 0.0 and j(f)(np.float32(0.5)).dtype == np.float32
    with pytest.raises(TypeError, match=r"leaf 0 of false_fun's result is f16\[\], but true_fun"):
        j(lambda x: lax.cond(x > 0, lambda v: v, lambda v: v.astype(np.float16), x))(x)
