"""``grad(jit(f))``, ``jvp(jit(f))`` and ``vmap(jit(f))`` run their compiled programs through
the fusion tier as ``jit(f)`` does: the same ``fgrad_fuse`` modes, the same threshold, the
same numbers as the NumPy replay (float64: rtol 1e-12)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fusing

import fgrad
import fgrad.numpy as fnp
from fgrad import grad, jit, jvp, value_and_grad, vjp, vmap

pytest.importorskip("numba")

from fgrad.transforms import fusion  # noqa: E402 - only with numba


@pytest.fixture(autouse=True)
def kernels_built(tmp_path_factory, monkeypatch) -> list[str]:
    """The kernels run for the first time in the test (each source once), from a disk cache
    of this session; every cluster of two or more equations fused (the cost model aside)."""
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.setattr(fusion._Cluster, "pays_off", lambda self: True)
    built: list[str] = []
    compile_kernel = fusion.compile_kernel

    def counting(source: str):
        built.append(source)
        return compile_kernel(source)

    monkeypatch.setattr(fusion, "compile_kernel", counting)
    return built


def chain(x):
    return fnp.sum(fnp.tanh(fnp.sin(x) * 2.0 + 0.5) * fnp.exp(-(x**2)) + fnp.log1p(x * x))


def scalar(x):
    return fnp.sin(x) * fnp.exp(x / 3) + x**3 / (1 + x**2)


def two_args(w, x):
    h = fnp.tanh(x * w + 0.1)
    return fnp.sum(h * h / (1.0 + fnp.abs(w)))


def two_outputs(x):
    e = fnp.exp(-x * x)
    return fnp.sum(e * fnp.cos(x)), fnp.sum(fnp.sqrt(1.0 + e) * x)


X = np.linspace(-1.3, 1.1, 7)
W = np.linspace(0.2, 0.9, 7)

# (name, a function of a fresh jit of its f, its f): the transforms of a jitted function
# that compile (only the innermost one does: grad(grad(jit(f))) runs f)
COMPOSITIONS = {
    "grad chain": (lambda jf: grad(jf)(X), chain),
    "value_and_grad chain": (lambda jf: value_and_grad(jf)(X), chain),
    "grad scalar": (lambda jf: grad(jf)(np.float64(0.7)), scalar),
    "grad two arguments": (lambda jf: grad(jf, argnums=(0, 1))(W, X), two_args),
    "grad one of two outputs": (lambda jf: grad(lambda x: jf(x)[1])(X), two_outputs),
    "vjp both outputs": (lambda jf: vjp(jf, X)[1]((1.5, -0.5)), two_outputs),
    "jvp chain": (lambda jf: jvp(jf, (X,), (np.cos(X),)), chain),
    "jvp two arguments": (lambda jf: jvp(jf, (W, X), (X, W)), two_args),
    "vmap chain": (lambda jf: vmap(jf)(np.stack([X, 2 * X])), chain),
}


@pytest.mark.parametrize("name", list(COMPOSITIONS))
def test_forced_fusion_gives_the_replays_numbers(name, kernels_built):
    run, f = COMPOSITIONS[name]
    with fusing("off"):
        want = [run(jit(f)) for _ in range(2)][-1]
    assert not kernels_built
    with fusing("force"):
        jf = jit(f)
        for _ in range(3):  # compiled, then from the program cache
            got = run(jf)
            for g, w in zip(fgrad.tree_util.tree_leaves(got), fgrad.tree_util.tree_leaves(want)):
                assert np.asarray(g).dtype == np.asarray(w).dtype
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)
    assert kernels_built, "no kernel ran: the transform's programs were not fused"


def test_grad_fuses_its_forward_and_backward_programs(kernels_built):
    """The forward program of ``grad(jit(chain))`` has a cluster of the function's own
    work, the backward one the cotangent's: two kernels at least, in two programs."""
    with fusing("force"):
        g = grad(jit(chain))(X)
    sources = set(kernels_built)
    assert len(sources) >= 2
    assert any("tanh" in s for s in sources)
    x = X
    t = np.tanh(np.sin(x) * 2.0 + 0.5)
    e = np.exp(-(x**2))
    want = (1 - t**2) * 2 * np.cos(x) * e + t * e * (-2 * x) + 2 * x / (1 + x * x)
    np.testing.assert_allclose(g, want, rtol=1e-13)


def test_auto_fuses_after_the_same_number_of_calls_as_jit(kernels_built):
    jf = jit(chain)
    with fusing("auto"):
        for _ in range(fusion.CALLS_BEFORE_FUSING):
            g = grad(jf)(X)
        assert not kernels_built
        fused = grad(jf)(X)
        assert kernels_built
        np.testing.assert_allclose(fused, g, rtol=1e-12)


def test_off_never_fuses(kernels_built):
    jf = jit(chain)
    with fusing("off"):
        for _ in range(fusion.CALLS_BEFORE_FUSING + 3):
            grad(jf)(X)
            jvp(jf, (X,), (X,))
    assert not kernels_built


def test_float32_stays_float32_at_ulp_level(kernels_built):
    x = X.astype(np.float32)
    with fusing("off"):
        want = grad(jit(chain))(x)
    with fusing("force"):
        got = grad(jit(chain))(x)
    assert got.dtype == want.dtype == np.float32
    ulp = np.finfo(np.float32).eps * np.abs(want).max()  # the terms' size: they cancel
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(np.float32).eps, atol=4 * ulp)
    assert kernels_built


def test_results_stay_fresh_arrays(kernels_built):
    """The forward program returns its outputs as fresh arrays and its residuals as they
    are: a fused forward program too."""
    f = jit(lambda x: (x, fnp.sin(x) * fnp.cos(x) * 2.0))
    x = X.copy()
    with fusing("force"):
        (same, s), pullback = vjp(f, x)
        assert not np.shares_memory(same, x)
        same[0] = 100.0
        (g,) = pullback((np.ones_like(x), np.ones_like(x)))
    np.testing.assert_allclose(g, 1 + 2 * np.cos(2 * X), rtol=1e-13)
    np.testing.assert_allclose(s, np.sin(2 * X), rtol=1e-13)
    assert x[0] == X[0]
