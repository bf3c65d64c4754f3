"""Loops under ``jit`` as single numba kernels (``fgrad.transforms.fusion_loops``).

Every loop kind (``fori_loop`` and ``scan``, forwards and reversed, ``while_loop``, a
``fori_loop`` with a traced bound), with pytree carries, zero trips, nesting, and loops made
by ``grad``, ``jvp`` and ``vmap`` inside ``jit``, runs fused and on the NumPy replay; the
results agree to rtol 1e-12 in float64 and a few ulp in float32, with the same dtypes and
types, and the fused program has a loop kernel where one is expected (and none where a body
has an equation no kernel computes, which then runs exactly as the replay). Both kernel
forms are exercised: values in scalar locals (small) and whole arrays (large).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import jit_run

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.transforms import fusion, fusion_loops
from fgrad.transforms.optimize import optimize

numba = pytest.importorskip("numba")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import loops as loop_programs  # noqa: E402  (the benchmark's programs, run small)


@pytest.fixture(autouse=True)
def _kernel_cache(tmp_path_factory, monkeypatch):
    """This module's kernels in one folder of the test session."""
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))


def _loop_kernels(fn, args) -> list[fusion_loops.FusedLoop]:
    """The loop kernels of ``jit(fn)``'s fused program, and no loop left unfused."""
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(fn)(*args)))
    if closed is None:
        return []
    return [e.prim for e in closed.jaxpr.eqns if isinstance(e.prim, fusion_loops.FusedLoop)]


def _unfused_loops(fn, args) -> int:
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(fn)(*args)))
    jaxpr = (closed or optimize(fgrad.make_jaxpr(fn)(*args))).jaxpr
    return sum(e.prim.name in fusion_loops.LOOPS for e in jaxpr.eqns)


def _same(fused, replay, ulps: int | None = 4) -> None:
    """Dtypes, shapes and array types exactly; float64 to rtol 1e-12, float32 to ``ulps``
    ulp (None: rtol 1e-5 of the largest value, for chains of transcendental functions whose
    last-bit differences, NumPy's SIMD routines against the C library's, compound);
    integers and booleans exactly; NaN where NaN."""
    flat_f, tree_f = fgrad.tree_util.tree_flatten(fused)
    flat_r, tree_r = fgrad.tree_util.tree_flatten(replay)
    assert tree_f == tree_r
    for a, b in zip(flat_f, flat_r):
        if np.ndim(b):
            assert type(a) is type(b) is np.ndarray
        else:
            assert isinstance(a, np.ndarray | np.generic), type(a)
        assert np.asarray(a).dtype == np.asarray(b).dtype, (np.asarray(a).dtype, b)
        assert np.shape(a) == np.shape(b)
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, b)
        elif a.dtype == np.float32 and ulps is None:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.max(np.abs(b)))
        elif a.dtype == np.float32:
            finite = np.isfinite(b)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(a[~finite & ~np.isnan(b)], b[~finite & ~np.isnan(b)])
            spacing = np.spacing(np.abs(b[finite]).astype(np.float32))
            assert np.all(np.abs(a[finite] - b[finite]) <= ulps * spacing)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)


def _check(fn, *args, kernels: int = 1, ulps: int | None = 4):
    """``jit(fn)`` fused against its replay; ``kernels`` loop kernels and no unfused loop."""
    assert len(_loop_kernels(fn, args)) == kernels
    if kernels:
        assert _unfused_loops(fn, args) == 0
    fused = jit_run(fn, args, "force")
    _same(fused, jit_run(fn, args, "off"), ulps)
    return fused


RNG = np.random.default_rng(0)
X3 = RNG.standard_normal(3)
X100 = RNG.standard_normal(100)


# -- each loop kind --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x", [X3, X100], ids=["scalars", "arrays"])
def test_fori_loop_with_a_pytree_carry(dtype, x):
    def f(x):
        def body(i, c):
            a, b = c["a"], c["b"]
            i = fnp.asarray(i).astype(a.dtype)
            return {"a": a * 0.9 + fnp.sin(b[1]) * i, "b": (b[0] - 0.1 * a, fnp.tanh(b[1]) + a)}

        return lax.fori_loop(0, 7, body, {"a": x, "b": (2 * x, x - 1)})

    out = _check(f, x.astype(dtype), ulps=None)
    assert out["a"].dtype == dtype


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [3, 100], ids=["scalars", "arrays"])
def test_scan_with_xs_and_ys(reverse, dtype, n):
    xs = RNG.standard_normal((6, n)).astype(dtype)
    ws = RNG.standard_normal(6).astype(dtype)

    def f(c0, xs, ws):
        def step(c, x):
            x, w = x
            new = fnp.maximum(c * w, x) - fnp.exp(-fnp.abs(x)) / 3.0
            return new, (new.sum(), c * 2.0)

        return lax.scan(step, c0, (xs, ws), reverse=reverse)

    c, (sums, cs) = _check(f, xs[0] * 0.5, xs, ws, ulps=None)
    assert c.dtype == sums.dtype == cs.dtype == dtype and sums.shape == (6,)


def test_while_loop_runs_its_predicate_inside_the_kernel():
    def newton_sqrt(a):
        def cond(c):
            x, k = c
            return (fnp.max(fnp.abs(x * x - a)) > 1e-13) & (k < 50)

        return lax.while_loop(cond, lambda c: (0.5 * (c[0] + a / c[0]), c[1] + 1), (a, 0))

    x, k = _check(newton_sqrt, np.array([2.0, 9.0, 0.25]))
    np.testing.assert_allclose(x, np.sqrt([2.0, 9.0, 0.25]), rtol=1e-15)
    assert 3 < int(k) < 50


def test_fori_loop_with_a_traced_bound_is_a_fused_while_loop():
    def f(x, n):
        return lax.fori_loop(0, n, lambda i, c: c * 1.5 - fnp.cos(c) + i, x)

    assert "while True:" in _loop_kernels(f, (X3, np.int64(5)))[0].source
    out = _check(f, X3, np.int64(5))
    ref = X3
    for i in range(5):
        ref = ref * 1.5 - np.cos(ref) + i
    np.testing.assert_allclose(out, ref, rtol=1e-14)


@pytest.mark.parametrize("n", [3, 100], ids=["scalars", "arrays"])
def test_zero_trip_loops_return_their_initial_carry_fresh(n):
    x = RNG.standard_normal(n)

    def f(x, xs, n):
        a = lax.fori_loop(0, 0, lambda i, c: c * 2.0, x)
        b, ys = lax.scan(lambda c, r: (c + r, c * r), x, xs)
        w = lax.while_loop(lambda c: fnp.sum(c) > 1e9, lambda c: c - 1.0, x)
        v = lax.fori_loop(0, n, lambda i, c: c + 1.0, x)
        return a, b, ys, w, v

    a, b, ys, w, v = _check(f, x, np.zeros((0, n)), np.int64(0), kernels=4)
    for out in (a, b, w, v):
        np.testing.assert_array_equal(out, x)
    assert ys.shape == (0, n)
    a[0] = 99.0  # results own their memory: the argument is untouched
    assert x[0] != 99.0


# -- nesting and transforms ----------------------------------------------------------------


def test_nested_loops_are_one_kernel():
    def f(y0, xs):
        def step(y, x):
            z = lax.fori_loop(0, 4, lambda i, z: z - 0.1 * (z * z - x), y)
            w = lax.while_loop(lambda w: fnp.max(fnp.abs(w - z)) > 1e-3, lambda w: (w + z) / 2, x)
            return w, fnp.stack([z.sum(), w.sum()])

        return lax.scan(step, y0, xs)

    kernel = _loop_kernels(f, (X3, RNG.standard_normal((5, 3))))[0]
    assert kernel.source.count("for ") == 2 and "while True:" in kernel.source
    _check(f, X3, RNG.standard_normal((5, 3)))


def _trajectory_loss(k, y0, xs):
    def step(y, x):
        z = lax.fori_loop(0, 3, lambda i, z: z - 0.2 * (fnp.tanh(z) * k - x), y)
        return z, fnp.sum(z * z)

    _, ys = lax.scan(step, y0, xs)
    return fnp.sum(ys * fnp.arange(1.0, ys.shape[0] + 1))


def test_grad_of_loops_inside_jit_is_fused_forward_and_backward():
    args = (np.array([0.7, 1.1, 0.9]), X3, RNG.standard_normal((6, 3)))
    g = fgrad.grad(_trajectory_loss)
    assert len(_loop_kernels(g, args)) == 2  # the forward scan, the reverse one
    grad = _check(g, *args, kernels=2)
    h = 1e-6
    for i in range(3):  # and the gradient is the loss's: central differences
        e = np.eye(3)[i] * h
        fd = _trajectory_loss(args[0] + e, *args[1:]) - _trajectory_loss(args[0] - e, *args[1:])
        np.testing.assert_allclose(grad[i], fd / (2 * h), rtol=1e-6)


def test_jvp_and_vmap_of_loops_inside_jit():
    args = (np.array([0.7, 1.1, 0.9]), X3, RNG.standard_normal((6, 3)))

    def tangent(k, y0, xs):
        return fgrad.jvp(lambda k: _trajectory_loss(k, y0, xs), (k,), (fnp.ones(3),))

    _check(tangent, *args)
    batched = fgrad.vmap(_trajectory_loss, in_axes=(0, None, None))
    _check(batched, np.stack([args[0], args[0] * 0.5]), *args[1:])


def test_vmap_of_a_while_loop_masks_finished_examples_in_the_kernel():
    def count(x):
        return lax.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * 1.7 + 0.1, c[1] + 1), (x, 0))

    x, n = _check(fgrad.vmap(count), np.array([0.5, 3.0, 9.0, 20.0]))
    np.testing.assert_array_equal(n, [6, 3, 1, 0])


# -- bodies with linear algebra, indexing, reductions ------------------------------------


def test_the_stiff_ode_benchmark_gradient_matches_the_replay():
    size = loop_programs.OdeSize(steps=30, newton=4)
    data = loop_programs.ode_data(size)
    fn = loop_programs.ode_program(size).build(loop_programs.fgrad_lib())
    kernels = _loop_kernels(fn, data)
    assert len(kernels) == 2 and all("_solve_in_place" in k.source for k in kernels)
    grad = _check(fn, *data, kernels=2)
    fd = loop_programs.ode_fd_gradient(data, size)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_the_hmc_benchmark_chain_matches_the_replay():
    program = loop_programs.hmc_program(loop_programs.HmcSize(steps=8, leapfrog=3, rows=40))
    fn = program.build(loop_programs.fgrad_lib())
    _check(fn, *program.args)


@pytest.mark.parametrize("n", [3, 8, 20, 200])
def test_sums_add_in_numpy_order(n):
    m = RNG.standard_normal((2, n)) * 10.0 ** RNG.integers(-6, 6, (2, n))

    def f(m):
        def step(c, _):
            return c * 1.0000001, (c.sum(), c.sum(axis=1), c.sum(axis=0), fnp.max(c))

        return lax.scan(step, m, None, length=3)[1]

    fused = jit_run(f, (m,), "force")
    replay = jit_run(f, (m,), "off")
    for a, b in zip(fused, replay):  # bit for bit where NumPy's order is reproduced
        np.testing.assert_array_equal(a, b)


def test_dot_and_solve_in_a_body():
    a = RNG.standard_normal((4, 4)) + 4 * np.eye(4)
    b = RNG.standard_normal((4, 2))

    def f(a, b):
        def body(i, c):
            x = fnp.linalg.solve(a + 0.1 * i, c)
            return 0.5 * (c + a @ x) + fnp.outer(x[:, 0], x[:, 0]) @ x

        return lax.fori_loop(0, 5, body, b)

    assert "_solve_in_place" in _loop_kernels(f, (a, b))[0].source
    _check(f, a, b)


def test_indexing_updates_and_concatenation_in_a_body():
    def f(x):
        def body(i, c):
            c = c.at[1].add(c[0] * 2.0).at[::2].set(c[1:3] - 1.0)
            return fnp.concatenate([c[2:], c[:2][::-1]]) * 0.5 + c.reshape(2, 2).T.ravel()

        return lax.fori_loop(0, 6, body, x)

    _check(f, np.array([0.5, -1.0, 2.0, 0.25]))


def test_nan_and_inf_propagate_as_in_numpy():
    def f(x):
        def step(c, _):
            return fnp.maximum(c, 0.5) * 2.0 - fnp.minimum(c, 1.0), (fnp.isnan(c), fnp.log(c))

        return lax.scan(step, x, None, length=3)

    with np.errstate(all="ignore"):
        _check(f, np.array([np.nan, np.inf, -np.inf, -0.0, 1.0]))


# -- what is not fused ---------------------------------------------------------------------


def test_a_body_with_an_unfusible_equation_runs_the_replay_unchanged():
    def f(x):
        return lax.fori_loop(0, 3, lambda i, c: fnp.sort(c) * 1.5 + c[::-1], x)

    assert _loop_kernels(f, (X3,)) == []
    _same(jit_run(f, (X3,), "force"), jit_run(f, (X3,), "off"))


def test_the_lowered_text_shows_the_loop_kernel():
    def f(x):
        return lax.fori_loop(0, 3, lambda i, c: c * fnp.sin(c), x)

    text = fgrad.jit(f).lower(X3).as_text()
    assert "def kernel(" in text and "for n" in text and "scan(" not in text


def test_the_array_form_is_used_for_large_values_and_scalars_for_small():
    def f(x):
        return lax.fori_loop(0, 3, lambda i, c: c * fnp.sin(c), x)

    (small,) = _loop_kernels(f, (X3,))
    (large,) = _loop_kernels(f, (X100,))
    assert "np.sin(c" in small.source and ".copy()" not in small.source.split("for ")[0]
    assert "np.empty" not in large.source.split("for ")[1]
    assert small.source.count("np.sin") == 3 and large.source.count("np.sin") == 1


def test_a_second_process_loads_loop_kernels_with_their_helpers_from_the_disk_cache(tmp_path):
    """Both kernel forms and every helper (the solve, the product, NumPy-order sums of
    more than 128 terms) compile in one process and load from the cache in the next."""
    script = textwrap.dedent(
        """
        import numpy as np, fgrad, fgrad.numpy as fnp
        from fgrad import lax
        from fgrad.transforms import numba_lowering
        fgrad.config.update("fgrad_fuse", "force")
        a = np.eye(3) * 4.0 + 0.5

        def f(x, big):
            small = lax.fori_loop(0, 4, lambda i, c: fnp.linalg.solve(a, c) + a @ c, x)
            sums = lax.scan(lambda c, _: (c * 0.5, (c.sum(), c @ big[0])), big, None, length=3)
            return small, sums[1]

        out = fgrad.jit(f)(np.arange(3.0), np.linspace(0.0, 1.0, 300).reshape(50, 6))
        print(repr([np.asarray(o).tolist() for o in fgrad.tree_util.tree_flatten(out)[0]]))
        hits = sum(sum(k.stats.cache_hits.values()) for k in numba_lowering._loaded.values())
        misses = sum(sum(k.stats.cache_misses.values()) for k in numba_lowering._loaded.values())
        print(hits, misses)
        """
    )
    env = {**os.environ, "FGRAD_CACHE_DIR": str(tmp_path)}

    def run():
        lines = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=Path(__file__).parent.parent,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        values, counts = lines.strip().splitlines()
        return values, tuple(int(c) for c in counts.split())

    first, second = run(), run()
    assert first[1] == (0, 2) and second[1] == (2, 0)
    assert first[0] == second[0]


def test_a_singular_matrix_raises_numpys_error_from_a_fused_loop():
    def f(a, b):
        return lax.fori_loop(0, 3, lambda i, c: fnp.linalg.solve(a, c) + c, b)

    old = fgrad.config.fgrad_fuse
    fgrad.config.update("fgrad_fuse", "force")
    try:
        jitted = fgrad.jit(f)
        np.testing.assert_array_equal(jitted(np.eye(3) * 2.0, np.ones((3, 1))), 3.375)
        with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
            jitted(np.zeros((3, 3)), np.ones((3, 1)))
    finally:
        fgrad.config.update("fgrad_fuse", old)
