"""The fused tier (``fgrad.transforms.fusion``) runs NumPy programs only.

numba's kernels read NumPy arrays; a program on another backend (CuPy; here the strict
stand-in of ``tests/strict_backend.py``, which refuses any implicit conversion to NumPy)
keeps its NumPy replay, which calls that backend's functions. Checked for every way a
program reaches the tier: ``jit`` of arrays, of NumPy scalars under another default device,
``grad``/``jvp``/``vmap`` of a jitted function (their compiled forward and backward
programs), constants of the other backend folded into the program (a gradient's
broadcast of a constant), under each ``fgrad_fuse`` mode that fuses; and
``jit(f).lower(...).as_text()``, which shows the replay alone for such arguments. The
results equal the unfused CPU program's, bit for bit, with no warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import fusing

import fgrad
import fgrad.numpy as fnp
from fgrad.core import backend
from fgrad.transforms import fusion
from fgrad.transforms.optimize import optimize

pytest.importorskip("numba")

from strict_backend import BACKEND as STRICT  # noqa: E402
from strict_backend import StrictArray  # noqa: E402
from strict_backend import registered as strict_registered  # noqa: E402

MODES = [("force", "sync"), ("auto", "sync"), ("auto", "background")]
CALLS = fusion.CALLS_BEFORE_FUSING + 3  # past the switch of "auto"


@pytest.fixture(autouse=True)
def _strict_device(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    with strict_registered():
        yield


@pytest.fixture(params=MODES, ids=["-".join(m) for m in MODES])
def mode(request):
    before = fgrad.config.fgrad_fuse, fgrad.config.fgrad_fuse_compile
    fgrad.config.update("fgrad_fuse", request.param[0])
    fgrad.config.update("fgrad_fuse_compile", request.param[1])
    yield request.param
    fgrad.config.update("fgrad_fuse", before[0])
    fgrad.config.update("fgrad_fuse_compile", before[1])


def _loss(w, x):
    """A mean (its gradient broadcasts a constant scalar) of an elementwise chain."""
    return fnp.mean(fnp.tanh(x @ w) ** 2 * 0.5 + 0.1 * fnp.sum(w * w))


RNG = np.random.default_rng(0)
W = RNG.normal(size=(5, 4))
X = RNG.normal(size=(6, 5))


def _strict(tree):
    return fgrad.device_put(tree, "strict")


def _calls(f, *args) -> list:
    """``CALLS`` results of ``f(*args)``, any warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return [f(*args) for _ in range(CALLS)]


def _same_on_strict(results: list, expected) -> None:
    for out in results:
        for got, want in zip(
            fgrad.tree_util.tree_leaves(out), fgrad.tree_util.tree_leaves(expected)
        ):
            assert type(got) is StrictArray
            np.testing.assert_array_equal(fgrad.device_get(got), want)


@pytest.mark.parametrize(
    "transform",
    ["jit", "value_and_grad", "grad_of_jit", "jvp_of_jit", "vmap_of_jit"],
)
def test_programs_on_another_backend_keep_the_replay(mode, transform):
    loss = fgrad.jit(_loss)
    builds = {
        "jit": lambda: (fgrad.jit(_loss), (W, X)),
        "value_and_grad": lambda: (fgrad.jit(fgrad.value_and_grad(_loss)), (W, X)),
        "grad_of_jit": lambda: (fgrad.grad(loss), (W, X)),
        "jvp_of_jit": lambda: (
            lambda w, x: fgrad.jvp(lambda v: loss(v, x), (w,), (fnp.ones_like(w),)),
            (W, X),
        ),
        "vmap_of_jit": lambda: (
            fgrad.vmap(loss, in_axes=(None, 0)),
            (W, np.stack([X, 2.0 * X, -X])),
        ),
    }
    f, args = builds[transform]()
    with fusing("off"):
        expected = f(*args)
    _same_on_strict(_calls(f, *_strict(args)), expected)
    # on NumPy arrays the same function may fuse: the same numbers, to rounding
    for got, want in zip(
        fgrad.tree_util.tree_leaves(_calls(f, *args)[-1]),
        fgrad.tree_util.tree_leaves(expected),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_a_program_built_for_another_backend_never_fuses(mode):
    """The tier itself: its switch call (and the background compile's probe) see the
    other backend's arrays and keep the replay for good; its constants are that
    backend's too (a gradient's broadcast constant), which fusion leaves alone."""
    with backend.on_device(STRICT):
        closed = optimize(fgrad.make_jaxpr(fgrad.grad(_loss))(*_strict((W, X))))
    assert any(type(c) is StrictArray for c in closed.consts)
    assert fusion.fuse(closed) is None
    prog = fusion.program(closed, "grad")
    assert isinstance(prog, fusion.TieredProgram)
    with backend.on_device(STRICT):
        results = _calls(prog, _strict([W, X]))
    assert prog.fused is None
    with fusing("off"):
        expected = fgrad.grad(_loss)(W, X)
    _same_on_strict([r[0] for r in results], expected)


def test_numpy_scalars_under_another_default_device_keep_the_replay(mode):
    """Arrays made inside from NumPy scalars go to the default device: the arguments
    are NumPy's, but the program computes on the other backend."""

    def f(s):
        return fnp.sum(fnp.exp(fnp.ones(3) * s) + s)

    jf = fgrad.jit(f)
    s = np.float64(0.3)
    with backend.on_device(STRICT):
        results = _calls(jf, s)
    with fusing("off"):
        expected = fgrad.jit(f)(s)
    _same_on_strict(results, expected)
    assert float(_calls(jf, s)[-1]) == pytest.approx(float(expected), rel=1e-12)


def test_lowered_text_of_another_backends_arguments_is_the_replay():
    jf = fgrad.jit(fgrad.value_and_grad(_loss))
    assert "def kernel(" in jf.lower(W, X).as_text()
    text = jf.lower(*_strict((W, X))).as_text()
    assert "def kernel(" not in text and "fused" not in text
