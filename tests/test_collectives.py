"""Collectives over named axes (``fgrad.lax.psum``, ``pmean``, ``pmax``, ``pmin``,
``all_gather``, ``psum_scatter``, ``ppermute``, ``axis_index``) under ``vmap(axis_name=...)``.

Values against NumPy's closed forms; derivatives against central finite differences of
the whole mapped function, from outside (``grad(vmap)``) and inside (``vmap(grad)``,
which must agree: JAX's semantics); the linear collectives' transposes through the
dot-product identity; ``jit`` keeping them (a counting process axis); JAX's values
when it is installed. The multi-process runs are in tests/test_distributed.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core.errors import ShapeError, UnboundAxisNameError
from fgrad.distributed.process_axes import LocalAxis
from fgrad.primitives.collectives import set_process_axis

N = 3  # examples on the named axis
RNG = np.random.default_rng(17)
XS = RNG.standard_normal((N, 3, 6))  # per example (3, 6): scatter dim 0 has size N


def mapped(f, name="i", **kw):
    return fgrad.vmap(f, axis_name=name, **kw)


# name, collective of one example's (3, 6) array, its closed form over the stacked batch
RING = [(k, (k + 1) % N) for k in range(N)]
PARTIAL = [(0, 2), (2, 1)]


def _permuted(xs, perm):
    out = np.zeros_like(xs)
    for src, dst in perm:
        out[dst] = xs[src]
    return out


def _everywhere(v):
    return np.broadcast_to(v, (N,) + v.shape)


COLLECTIVES = [
    ("psum", lambda x: lax.psum(x, "i"), lambda xs: _everywhere(xs.sum(0))),
    ("pmean", lambda x: lax.pmean(x, "i"), lambda xs: _everywhere(xs.mean(0))),
    ("pmax", lambda x: lax.pmax(x, "i"), lambda xs: _everywhere(xs.max(0))),
    ("pmin", lambda x: lax.pmin(x, "i"), lambda xs: _everywhere(xs.min(0))),
    ("all_gather", lambda x: lax.all_gather(x, "i"), lambda xs: _everywhere(xs)),
    (
        "all_gather_axis2",
        lambda x: lax.all_gather(x, "i", axis=2),
        lambda xs: _everywhere(np.moveaxis(xs, 0, 2)),
    ),
    (
        "all_gather_tiled",
        lambda x: lax.all_gather(x, "i", axis=1, tiled=True),
        lambda xs: _everywhere(np.concatenate(list(xs), axis=1)),
    ),
    ("psum_scatter", lambda x: lax.psum_scatter(x, "i"), lambda xs: xs.sum(0)),
    (
        "psum_scatter_tiled",
        lambda x: lax.psum_scatter(x, "i", scatter_dimension=1, tiled=True),
        lambda xs: np.moveaxis(xs.sum(0).reshape(3, N, 2), 1, 0),
    ),
    ("ppermute_ring", lambda x: lax.ppermute(x, "i", RING), lambda xs: _permuted(xs, RING)),
    (
        "ppermute_partial",
        lambda x: lax.ppermute(x, "i", PARTIAL),
        lambda xs: _permuted(xs, PARTIAL),
    ),
]
IDS = [c[0] for c in COLLECTIVES]
LINEAR = [c for c in COLLECTIVES if c[0] not in ("pmax", "pmin")]


@pytest.mark.parametrize("name, f, closed", COLLECTIVES, ids=IDS)
def test_values_under_vmap(name, f, closed):
    np.testing.assert_allclose(mapped(f)(XS), closed(XS), rtol=1e-14, atol=1e-14)
    # jit inside the mapped function compiles vmap of it with the same axis name
    np.testing.assert_allclose(mapped(fgrad.jit(f))(XS), closed(XS), rtol=1e-14, atol=1e-14)
    # the batch axis elsewhere than in front
    moved = np.moveaxis(XS, 0, 2)
    np.testing.assert_allclose(mapped(f, in_axes=2)(moved), closed(XS), rtol=1e-14, atol=1e-14)


def _objective(f, weights):
    """A scalar nonlinear function of one example through the collective ``f``."""
    return lambda x: fnp.sum(fnp.sin(f(x * x)) * weights)


def _weights(f):
    shape = np.shape(mapped(f)(XS))[1:]
    return np.random.default_rng(3).standard_normal(shape)


def _central_gradient(total, xs, eps=1e-6):
    grad = np.zeros_like(xs)
    for k in np.ndindex(xs.shape):
        e = np.zeros_like(xs)
        e[k] = eps
        grad[k] = (total(xs + e) - total(xs - e)) / (2 * eps)
    return grad


@pytest.mark.parametrize("name, f, closed", COLLECTIVES, ids=IDS)
def test_gradients_against_finite_differences_both_sides(name, f, closed):
    g = _objective(f, _weights(f))

    def total(xs):  # the sum over the axis of every example's objective
        return fnp.sum(mapped(g)(xs))

    want = _central_gradient(lambda xs: float(total(xs)), XS)
    outside = fgrad.grad(total)(XS)
    inside = mapped(fgrad.grad(g))(XS)
    np.testing.assert_allclose(outside, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(inside, outside, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(mapped(fgrad.jit(fgrad.grad(g)))(XS), outside, rtol=1e-12)
    # forward mode inside, along a random direction, against the same finite differences
    ts = np.random.default_rng(5).standard_normal(XS.shape)
    tangents = mapped(lambda x, t: fgrad.jvp(g, (x,), (t,))[1])(XS, ts)
    np.testing.assert_allclose(np.sum(tangents), np.sum(want * ts), rtol=1e-6)


@pytest.mark.parametrize("name, f, closed", LINEAR, ids=[c[0] for c in LINEAR])
def test_transpose_by_the_dot_product_identity(name, f, closed):
    ys = np.random.default_rng(7).standard_normal(np.shape(mapped(f)(XS)))

    def pullback(x, y):
        return fgrad.vjp(f, x)[1](y)[0]

    lhs = np.sum(mapped(f)(XS) * ys)
    rhs = np.sum(XS * mapped(pullback)(XS, ys))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    # and the transposed map is itself the closed form's transpose, exactly
    np.testing.assert_allclose(
        mapped(pullback)(XS, ys), _closed_transpose(closed, ys), rtol=1e-12, atol=1e-13
    )


def _closed_transpose(closed, ys):
    """The transpose of the linear map ``closed`` applied to ``ys``, column by column."""
    basis = np.eye(XS.size).reshape((XS.size,) + XS.shape)
    matrix = np.stack([np.ravel(closed(b)) for b in basis], axis=1)
    return (matrix.T @ np.ravel(ys)).reshape(XS.shape)


def test_gradient_semantics_match_jax_by_closed_form():
    # psum(x) * x summed over the axis is S**2: every example's gradient is 2 * S
    xs = np.arange(1.0, 4.0)
    got = mapped(fgrad.grad(lambda x: lax.psum(x, "i") * x))(xs)
    np.testing.assert_allclose(got, np.full(3, 2 * xs.sum()))
    # the transpose of psum is psum: a per-example cotangent of 1 comes back as N
    np.testing.assert_allclose(mapped(fgrad.grad(lambda x: lax.psum(x, "i")))(xs), [3.0] * 3)


def test_pmax_ties_share_the_derivative():
    xs = np.array([2.0, 5.0, 5.0])
    got = fgrad.grad(lambda xs: fnp.sum(mapped(lambda x: lax.pmax(x, "i"))(xs)))(xs)
    np.testing.assert_allclose(got, [0.0, 1.5, 1.5])  # three outputs, two tied maxima


def test_unbatched_operands_count_every_index():
    w = np.array([1.0, 2.0])
    got = mapped(lambda x: lax.psum(w, "i") + 0 * x)(np.zeros((4, 2)))
    np.testing.assert_allclose(got, np.tile(4 * w, (4, 1)))
    np.testing.assert_array_equal(mapped(lambda x: lax.psum(1, "i"))(np.zeros(4)), [4] * 4)
    gathered = mapped(lambda x: lax.all_gather(w, "i") + 0 * x)(np.zeros((3, 2)))
    np.testing.assert_allclose(gathered, np.tile(w, (3, 3, 1)))
    # differentiated inside the map, each index's w is its own variable: the sum over the
    # axis of psum(w . x) counts w_j . x_j once per index, so its gradient is 4 x_j (JAX's)
    xs = RNG.standard_normal((4, 2))
    g = mapped(lambda x: fgrad.grad(lambda w: lax.psum(fnp.dot(w, x), "i"))(w))(xs)
    np.testing.assert_allclose(g, 4 * xs, rtol=1e-12)


def test_axis_index_and_axis_size():
    np.testing.assert_array_equal(mapped(lambda x: lax.axis_index("i"))(np.zeros(5)), range(5))
    assert mapped(lambda x: lax.axis_index("i"))(np.zeros(5)).dtype == np.int32
    assert mapped(lambda x: x * 0 + lax.axis_size("i"))(np.zeros(5)).tolist() == [5.0] * 5


def test_nested_names():
    xs = RNG.standard_normal((2, 3, 4))  # outer "i" of 2, inner "j" of 3

    def run(f):
        return fgrad.vmap(fgrad.vmap(f, axis_name="j"), axis_name="i")(xs)

    np.testing.assert_allclose(
        run(lambda x: lax.psum(x, "j")), np.broadcast_to(xs.sum(1, keepdims=True), xs.shape)
    )
    np.testing.assert_allclose(
        run(lambda x: lax.psum(x, "i")), np.broadcast_to(xs.sum(0), xs.shape)
    )
    np.testing.assert_allclose(
        run(lambda x: lax.psum(x, ("i", "j"))), np.broadcast_to(xs.sum((0, 1)), xs.shape)
    )
    np.testing.assert_allclose(
        run(lambda x: lax.pmean(x, ("j", "i"))), np.broadcast_to(xs.mean((0, 1)), xs.shape)
    )
    index = run(lambda x: lax.axis_index("i") * 10 + lax.axis_index("j"))
    np.testing.assert_array_equal(
        index[..., 0] if index.ndim == 3 else index, [[0, 1, 2], [10, 11, 12]]
    )
    # an inner vmap reusing the name shadows the outer one
    shadow = fgrad.vmap(fgrad.vmap(lambda x: lax.psum(x, "i"), axis_name="i"), axis_name="i")(xs)
    np.testing.assert_allclose(shadow, np.broadcast_to(xs.sum(1, keepdims=True), xs.shape))


def test_pytrees_of_several_dtypes():
    tree = {"a": XS, "b": [XS[:, 0, :2], np.arange(N, dtype=np.int64)], "c": XS.astype(np.float32)}
    got = mapped(lambda t: lax.psum(t, "i"))(tree)
    np.testing.assert_allclose(got["a"], _everywhere(XS.sum(0)))
    np.testing.assert_allclose(got["b"][0], _everywhere(XS[:, 0, :2].sum(0)))
    np.testing.assert_array_equal(got["b"][1], [3, 3, 3])
    assert got["b"][1].dtype == np.int64 and got["c"].dtype == np.float32
    np.testing.assert_allclose(got["c"], _everywhere(XS.astype(np.float32).sum(0)), rtol=1e-6)


def test_grad_and_jacobians_through_jit_and_scan():
    xs = np.array([0.5, -1.0, 2.0])

    def f(x):  # a scan whose body reduces over the axis, staged by jit
        def body(c, _):
            return c * fnp.tanh(lax.pmean(c, "i")), None

        return lax.scan(body, x, None, length=3)[0]

    def total(xs):
        return fnp.sum(mapped(f)(xs) ** 2)

    want = _central_gradient(lambda v: float(total(v)), xs)
    np.testing.assert_allclose(fgrad.grad(total)(xs), want, rtol=1e-6)
    np.testing.assert_allclose(mapped(fgrad.grad(lambda x: f(x) ** 2))(xs), want, rtol=1e-6)
    np.testing.assert_allclose(
        mapped(fgrad.jit(fgrad.grad(lambda x: fgrad.jit(f)(x) ** 2)))(xs), want, rtol=1e-6
    )
    jac = fgrad.jacfwd(mapped(f))(xs)
    np.testing.assert_allclose(fgrad.jacrev(mapped(f))(xs), jac, rtol=1e-12)
    np.testing.assert_allclose(2 * mapped(f)(xs) @ jac, want, rtol=1e-6)


class CountingAxis(LocalAxis):
    """A one-process axis that counts the collectives it runs."""

    def __init__(self):
        self.calls = 0

    def allreduce(self, x, op):
        self.calls += 1
        return super().allreduce(x, op)


def test_jit_keeps_every_collective():
    axis = CountingAxis()
    set_process_axis("counted", axis)
    try:
        f = fgrad.jit(
            lambda x: (lax.psum(x, "counted"), lax.psum(x, "counted"), lax.psum(2.0, "counted"))
        )
        for call in range(1, 4):
            out = f(np.ones(2))
            assert axis.calls == 3 * call  # none merged, none folded, at every call
        np.testing.assert_allclose(out[0], np.ones(2))
        jaxpr = str(fgrad.make_jaxpr(lambda x: lax.psum(x, "counted") * 0)(np.ones(2)))
        assert "psum[axes=('counted',)]" in jaxpr or "psum[axes=(counted,)]" in jaxpr
    finally:
        set_process_axis("counted", None)


def test_errors_say_what_to_do():
    with pytest.raises(
        UnboundAxisNameError, match=r"psum: unbound axis name 'nope'.*axis_name='nope'"
    ):
        lax.psum(np.ones(2), "nope")
    with pytest.raises(UnboundAxisNameError, match=r"names bound here are \['i'"):
        mapped(lambda x: lax.pmean(x, "j"))(np.ones(2))
    with pytest.raises(ShapeError, match=r"size 2 of scatter_dimension 0 .* axis size 3"):
        mapped(lambda x: lax.psum_scatter(x, "i"))(np.ones((3, 2)))
    with pytest.raises(ShapeError, match="multiple of the axis size 3"):
        mapped(lambda x: lax.psum_scatter(x, "i", tiled=True))(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"outside the axis 'i' of size 3"):
        mapped(lambda x: lax.ppermute(x, "i", [(0, 3)]))(np.ones(3))
    with pytest.raises(ValueError, match="at most once"):
        mapped(lambda x: lax.ppermute(x, "i", [(0, 1), (2, 1)]))(np.ones(3))
    with pytest.raises(NotImplementedError, match="axis_index_groups"):
        mapped(lambda x: lax.psum(x, "i", axis_index_groups=[[0], [1, 2]]))(np.ones(3))
    with pytest.raises(ValueError, match="axis_name is None"):
        fgrad.vmap(lambda x: lax.psum(x, None))(np.ones(3))
    with pytest.raises(ValueError, match="must name one axis"):
        mapped(lambda x: lax.all_gather(x, ("i", "j")))(np.ones(3))


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jlax = jax.lax
    cases = {
        "psum": (lambda x: lax.psum(x, "i"), lambda x: jlax.psum(x, "i")),
        "pmean": (lambda x: lax.pmean(x, "i"), lambda x: jlax.pmean(x, "i")),
        "all_gather": (
            lambda x: lax.all_gather(x, "i", axis=1),
            lambda x: jlax.all_gather(x, "i", axis=1),
        ),
        "all_gather_tiled": (
            lambda x: lax.all_gather(x, "i", tiled=True),
            lambda x: jlax.all_gather(x, "i", tiled=True),
        ),
        "psum_scatter": (lambda x: lax.psum_scatter(x, "i"), lambda x: jlax.psum_scatter(x, "i")),
        "psum_scatter_tiled": (
            lambda x: lax.psum_scatter(x, "i", scatter_dimension=1, tiled=True),
            lambda x: jlax.psum_scatter(x, "i", scatter_dimension=1, tiled=True),
        ),
        "ppermute": (lambda x: lax.ppermute(x, "i", RING), lambda x: jlax.ppermute(x, "i", RING)),
    }
    w = np.random.default_rng(11).standard_normal(3)
    for name, (ours, theirs) in cases.items():
        np.testing.assert_allclose(
            mapped(ours)(XS), jax.vmap(theirs, axis_name="i")(XS), rtol=1e-13, err_msg=name
        )

        def g(x, c=ours):
            return fnp.sum(fnp.sin(c(x * x)) * fnp.sum(w))

        def jg(x, c=theirs):
            return jax.numpy.sum(jax.numpy.sin(c(x * x)) * w.sum())

        np.testing.assert_allclose(
            mapped(fgrad.grad(g))(XS),
            jax.vmap(jax.grad(jg), axis_name="i")(XS),
            rtol=1e-12,
            err_msg=name,
        )


def test_control_flow_and_custom_rules_keep_the_name():
    xs = np.array([0.5, -1.0, 2.0])
    total = xs.sum()

    def in_while(x):
        return lax.while_loop(
            lambda c: c[1] < 2, lambda c: (lax.psum(c[0], "i"), c[1] + 1), (x, 0)
        )[0]

    def in_cond(x):  # a per-example predicate: both branches run on the batch
        return lax.cond(x > 0, lambda y: lax.psum(y, "i"), lambda y: lax.pmax(y, "i"), x)

    @fgrad.custom_jvp
    def shared(x):
        return lax.psum(x, "i")

    shared.defjvp(lambda p, t: (shared(p[0]), lax.psum(t[0], "i")))
    cases = [
        (in_while, np.full(3, 3 * total)),
        (in_cond, np.where(xs > 0, total, xs.max())),
        (shared, np.full(3, total)),
    ]
    for f, want in cases:
        np.testing.assert_allclose(mapped(f)(xs), want, rtol=1e-14)
        np.testing.assert_allclose(mapped(fgrad.jit(f))(xs), want, rtol=1e-14)
    # the custom rule under vmap(grad): psum's transpose, N for every example
    np.testing.assert_allclose(mapped(fgrad.grad(shared))(xs), [3.0, 3.0, 3.0])
