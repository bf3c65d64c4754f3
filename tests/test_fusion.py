"""jit's fused numba kernels (``fgrad.transforms.fusion``) against the NumPy replay.

Every rule-harness case of a primitive a kernel can compute, random elementwise programs
with broadcasting and reductions (float64 and float32, NaN and inf), and the benchmark
programs run through both paths of ``jit``; float64 agrees to ``rtol=1e-12``, float32 to
a few ulp (transcendental functions: NumPy's SIMD routines against the C library's), with
the same dtypes (NumPy scalars or 0-d arrays for shape ``()``). Also: without numba (or with
``fgrad_fuse`` off) ``jit`` runs the plain replay, ``"auto"`` fuses after
``CALLS_BEFORE_FUSING`` calls, and a second process loads kernels from the disk cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import jit_run

import fgrad
import fgrad.numpy as fnp
from fgrad.core.primitive import bind
from fgrad.transforms import fusion
from fgrad.transforms.codegen import Replay
from fgrad.transforms.numba_lowering import FUSIBLE
from fgrad.transforms.optimize import optimize

numba = pytest.importorskip("numba")

from test_primitive_rules import CASES  # noqa: E402  (after the skip: it imports SciPy)

_PAYS_OFF = fusion._Cluster.pays_off


@pytest.fixture(autouse=True)
def _every_cluster_fused(tmp_path_factory, monkeypatch):
    """Kernels of this module in one folder of the test session (shared by its tests), and
    every cluster of two or more equations fused, whatever the cost model says: these
    tests check the kernels' numbers (the model has its own test). Clusters stay their own
    kernels, not joined into blocks (tests/test_fused_dot.py tests those)."""
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.setattr(fusion._Cluster, "pays_off", lambda self: True)
    monkeypatch.setattr(fusion, "join_blocks", lambda closed, make_kernel: None)


def _kernels(fn, args) -> int:
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(fn)(*args)))
    if closed is None:
        return 0
    return sum(isinstance(e.prim, fusion.FusedKernel) for e in closed.jaxpr.eqns)


def _same(fused, replay, ulps: int | None = 4) -> None:
    """The fused result against the replay's: dtypes and types exactly, numbers to
    rtol 1e-12 (float64) or ``ulps`` ulp (float32; None: rtol 1e-5 for chains of
    operations, whose last-bit differences compound), NaN where NaN."""
    flat_f, tree_f = fgrad.tree_util.tree_flatten(fused)
    flat_r, tree_r = fgrad.tree_util.tree_flatten(replay)
    assert tree_f == tree_r
    for a, b in zip(flat_f, flat_r):
        if np.ndim(b):
            assert type(a) is type(b), (type(a), type(b))
        else:  # NumPy itself gives a scalar or a 0-d array depending on its inputs' types
            assert isinstance(a, np.ndarray | np.generic), type(a)
        assert np.asarray(a).dtype == np.asarray(b).dtype
        assert np.shape(a) == np.shape(b)
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind == "b":
            np.testing.assert_array_equal(a, b)
        elif a.dtype == np.float32:
            finite = np.isfinite(b)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(a[~finite], b[~finite])
            if ulps is None:
                np.testing.assert_allclose(a[finite], b[finite], rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_max_ulp(a[finite], b[finite], maxulp=ulps)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True)


# -- every rule-harness case of a fusible primitive ---------------------------------------

HARNESS = [c for c in CASES if c.name in FUSIBLE]


def _harness_program(case):
    params = case.params

    def f(*args):
        # a multiplication before and after, so the case is a cluster of more than one
        # equation (a reduction ends its cluster; x * 2.0 * 0.5 keeps -0.0, inf and NaN,
        # and, unlike x * 1.0, is not removed by the optimiser)
        args = [a * 2.0 * 0.5 if np.dtype(a.dtype).kind == "f" else a for a in args]
        out = bind(case.prim, *args, **params)
        if np.dtype(out.dtype) == np.bool_:
            return out, fnp.where(out, 1.0, -1.0)
        return out, out * 1.5

    return f


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", [c.param() for c in HARNESS])
def test_every_fusible_harness_case_matches_the_replay(case, dtype):
    args, _ = case.materialize()
    args = [a.astype(dtype) if getattr(a, "dtype", None) == np.float64 else a for a in args]
    f = _harness_program(case)
    with np.errstate(all="ignore"):
        fused = jit_run(f, args, "force")
        replay = jit_run(f, args, "off")
    _same(fused, replay)
    fusible = all(np.size(a) and np.asarray(a).dtype.kind in "fb" for a in [*args, replay[0]])
    if case.name.startswith("reduce_") and not case.params["axis"]:
        fusible = False  # a copy: NumPy's
    optimized = optimize(fgrad.make_jaxpr(f)(*args))
    if case.name not in [e.prim.name for e in optimized.jaxpr.eqns]:
        return  # the optimiser removed it (a conversion to the same dtype)
    closed = fusion.fuse(optimized) or optimized
    made_by = {v: e.prim for e in closed.jaxpr.eqns for v in e.outvars}
    assert isinstance(made_by[closed.jaxpr.outvars[0]], fusion.FusedKernel) == fusible


def test_the_harness_covers_every_fusible_primitive():
    assert {c.name for c in HARNESS} == set(FUSIBLE)


SPECIAL = np.array([0.0, -0.0, -1.5, 2.0, 0.5, np.inf, -np.inf, np.nan])
UNARY = ["neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "abs",
         "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
         "floor", "ceil", "trunc", "isnan", "isinf", "isfinite"]  # fmt: skip
BINARY = ["add", "sub", "mul", "div", "pow", "max", "min", "arctan2", "hypot",
          "eq", "ne", "lt", "le", "gt", "ge"]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_inf_and_signed_zeros_as_numpy(dtype):
    from fgrad.core.primitive import registry

    x = SPECIAL.astype(dtype)
    y = x[:, None] * np.ones(len(SPECIAL), dtype)  # every pair of special values
    yt = y.T.copy()

    def f(x, y, yt):
        outs = [bind(registry[n], x) for n in UNARY]
        outs += [bind(registry[n], y, yt) for n in BINARY]
        return [fnp.where(o, 1.0, 0.0) if np.dtype(o.dtype) == np.bool_ else o + 0.0 for o in outs]

    with np.errstate(all="ignore"):
        _same(jit_run(f, (x, y, yt), "force"), jit_run(f, (x, y, yt), "off"))


# -- random programs -------------------------------------------------------------------

_OPS1 = [fnp.sin, fnp.cos, fnp.tanh, fnp.exp, fnp.log1p, fnp.abs, fnp.sqrt, lambda a: -a,
         lambda a: a * 0.5, lambda a: 2.0 - a, lambda a: a**2, lambda a: a / 3.0]  # fmt: skip
_OPS2 = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, fnp.maximum,
         fnp.minimum, lambda a, b: fnp.where(a > b, a, b * 0.5),
         lambda a, b: a / (1.0 + b * b)]  # fmt: skip
_SHAPES = [(), (7,), (1, 7), (4, 1), (4, 7), (3, 4, 7)]


def _random_program(seed: int):
    rng = np.random.default_rng(seed)
    n_ops = int(rng.integers(4, 30))
    shapes = [_SHAPES[i] for i in rng.integers(0, len(_SHAPES), size=3)]
    plan = [(int(rng.integers(0, 2)), int(rng.integers(0, 10**6))) for _ in range(n_ops)]
    reduce_axis = [None, 0, -1][int(rng.integers(0, 3))]

    def f(a, b, c):
        values = [a, b, c]
        for binary, k in plan:
            if binary:
                x, y = values[k % len(values)], values[(k // 7) % len(values)]
                values.append(fnp.tanh(_OPS2[k % len(_OPS2)](x, y)))
            else:
                values.append(_OPS1[k % len(_OPS1)](fnp.tanh(values[k % len(values)])))
        last = values[-1]
        axis = None if reduce_axis is None or fnp.ndim(last) == 0 else reduce_axis
        return values[-1], values[-2], fnp.sum(last * 1.5, axis=axis), fnp.max(last + 1.0)

    return f, shapes


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_random_programs_match_the_replay(seed, dtype):
    f, shapes = _random_program(seed)
    rng = np.random.default_rng(100 + seed)
    args = [rng.standard_normal(s).astype(dtype) for s in shapes]
    if seed % 3 == 0:
        args[0] = np.float64(0.25) if dtype == np.float64 else 0.25  # a weak Python scalar
    with np.errstate(all="ignore"):
        fused = jit_run(f, args, "force")
        replay = jit_run(f, args, "off")
    _same(fused, replay, ulps=None)


def test_value_and_grad_of_a_long_chain_is_one_kernel_and_matches():
    c = np.linspace(-1.0, 1.0, 16)

    def chain(x):
        y = x
        for _ in range(20):
            y = fnp.exp(fnp.tanh(fnp.sin(y) * x + 0.3)) * 0.6
        return fnp.sum(y)

    f = fgrad.value_and_grad(chain)
    _same(jit_run(f, (c,), "force"), jit_run(f, (c,), "off"))
    assert _kernels(f, (c,)) == 1


def test_fourth_derivative_of_a_scalar_function_is_one_kernel():
    def g(x):
        return fnp.sin(x) * fnp.exp(x / 3) + x**3 / (1 + x**2)

    f = fgrad.grad(fgrad.grad(fgrad.grad(fgrad.grad(g))))
    out = jit_run(f, (0.7,), "force")
    _same(out, jit_run(f, (0.7,), "off"))
    assert type(out) is np.float64
    assert _kernels(f, (0.7,)) == 1


def test_mlp_step_keeps_matmuls_in_numpy_and_float32_stays_float32():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((5, 8)).astype(np.float32),
              np.zeros(8, np.float32), rng.standard_normal((8, 3)).astype(np.float32)]  # fmt: skip
    x = rng.standard_normal((16, 5)).astype(np.float32)

    def loss(p, x):
        h = fnp.tanh(x @ p[0] + p[1])
        z = h @ p[2]
        return fnp.mean(fnp.sum((z - 0.5) ** 2, axis=1))

    def step(p, x):
        value, g = fgrad.value_and_grad(loss)(p, x)
        return value, [w - 0.1 * dw for w, dw in zip(p, g)]

    fused = jit_run(step, (params, x), "force")
    _same(fused, jit_run(step, (params, x), "off"), ulps=None)
    assert all(np.asarray(v).dtype == np.float32 for v in fgrad.tree_util.tree_leaves(fused))
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(step)(params, x)))
    names = [e.prim.name for e in closed.jaxpr.eqns]
    assert "dot_general" in names and any(n.startswith("fused") for n in names)


# -- when the tier is used -------------------------------------------------------------


def _chain(x):
    return fnp.sum(fnp.tanh(fnp.sin(x) * 2.0 + 1.0))


def test_auto_runs_the_numpy_replay_first_then_the_kernels(monkeypatch):
    closed = optimize(fgrad.make_jaxpr(_chain)(np.ones(4)))
    monkeypatch.setattr(fgrad.core.config.flags, "fuse", "auto")
    monkeypatch.setattr(fgrad.core.config.flags, "fuse_compile", "sync")
    prog = fusion.program(closed, "chain")
    assert isinstance(prog, fusion.TieredProgram)
    x = np.linspace(0.0, 1.0, 4)
    for _ in range(fusion.CALLS_BEFORE_FUSING):
        assert prog([x])[0] == _chain(x)
        assert prog.fused is None
    np.testing.assert_allclose(prog([x])[0], _chain(x), rtol=1e-12)
    assert prog.fused is not None
    assert "def kernel(" in prog.as_text() and "fused0(" in prog.as_text()


def test_off_and_no_numba_give_the_plain_replay(monkeypatch):
    closed = optimize(fgrad.make_jaxpr(_chain)(np.ones(4)))
    monkeypatch.setattr(fgrad.core.config.flags, "fuse", "off")
    assert type(fusion.program(closed)) is Replay
    monkeypatch.setattr(fgrad.core.config.flags, "fuse", "force")
    monkeypatch.setattr(fusion, "installed", lambda name: name != "numba")
    assert type(fusion.program(closed)) is Replay


def test_the_fuse_flag_takes_three_values():
    before = fgrad.config.fgrad_fuse
    with pytest.raises(fgrad.core.config.ConfigError, match="'auto'"):
        fgrad.config.update("fgrad_fuse", "on")
    assert fgrad.config.fgrad_fuse == before
    for value in ("off", "force", "auto", before):
        fgrad.config.update("fgrad_fuse", value)
        assert fgrad.config.fgrad_fuse == fgrad.core.config.flags.fuse == value


def test_import_fgrad_does_not_import_numba():
    code = "import sys, fgrad, fgrad.numpy; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_ROOT)


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_second_process_loads_the_kernels_from_the_disk_cache(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np, fgrad, fgrad.numpy as fnp
        from fgrad.transforms import numba_lowering
        fgrad.config.update("fgrad_fuse", "force")
        f = fgrad.jit(lambda x: fnp.sum(fnp.tanh(fnp.sin(x) * 2.0 + 1.0)))
        print(float(f(np.linspace(0.0, 1.0, 5))))
        (kernel,) = numba_lowering._loaded.values()
        print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
        """
    )
    env = {**os.environ, "FGRAD_CACHE_DIR": str(tmp_path)}

    def run():
        out = subprocess.run([sys.executable, "-c", script], env=env, cwd=_ROOT, check=True,
                             capture_output=True, text=True).stdout.split()  # fmt: skip
        return float(out[0]), int(out[1]), int(out[2])

    first, second = run(), run()
    assert first[1:] == (0, 1) and second[1:] == (1, 0)
    assert first[0] == second[0]
    x = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(first[0], np.sum(np.tanh(np.sin(x) * 2.0 + 1.0)), rtol=1e-12)


def test_lowered_text_shows_the_replay_and_the_kernels():
    text = fusion.lowered_text(lambda x: fnp.sum(fnp.tanh(fnp.sin(x) * 2.0)), np.ones(3))
    assert "fused0(a0)" in text and "def kernel(x0):" in text
    assert "math.sin(x0[i0])" in text and "for i0 in range(3):" in text
    plain = fusion.lowered_text(lambda x: x @ x, np.ones(3))
    assert "np_matmul(a0, a0)" in plain and "kernel" not in plain


def test_the_cost_model_fuses_long_chains_and_leaves_a_large_tanh_to_numpy(monkeypatch):
    monkeypatch.setattr(fusion._Cluster, "pays_off", _PAYS_OFF)

    def kernels(f, x):
        closed = fusion.fuse(optimize(fgrad.make_jaxpr(f)(x)))
        return 0 if closed is None else len(closed.jaxpr.eqns)

    def chain(x):
        return fnp.exp(fnp.tanh(fnp.sin(x) * x + 0.3)) * 0.6

    assert kernels(chain, np.ones(16)) == 1  # 6 NumPy calls on 16 elements: one kernel
    assert kernels(lambda x: fnp.tanh(x + 1.0), np.ones((512, 512))) == 0  # NumPy's SIMD
    assert kernels(lambda x: (x * 2.0 + 1.0) * x - 3.0, np.ones((512, 512))) == 1
