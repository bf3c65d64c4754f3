"""jit's background compile of fused kernels (``fgrad_fuse_compile``).

Under ``fgrad_fuse="auto"`` a program reads its kernels' argument types at call
``COMPILE_FROM_CALL`` and a subprocess compiles them into the disk cache; the program
switches to them at call ``CALLS_BEFORE_FUSING + 1`` whatever the compile's speed
(``"background"``), or at the first call after it ended (``"async"``). Checked here: the
switching call, that the switch loads every kernel from the cache (nothing is compiled in
the user's process), the same bits as a compile in the process, the fallbacks (a failing
or killed worker, no subprocess), reuse of the cache by a second process, and that a
worker neither outlives its interpreter nor delays its exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.core.config import flags
from fgrad.transforms import fusion, kernel_worker, numba_lowering
from fgrad.transforms.codegen import Replay
from fgrad.transforms.optimize import optimize

numba = pytest.importorskip("numba")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def background(monkeypatch, tmp_path):
    """``auto`` fusion compiling in the background, into a fresh cache folder."""
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(flags, "fuse", "auto")
    monkeypatch.setattr(flags, "fuse_compile", "background")
    return tmp_path


def _chain(c: float):
    """An elementwise chain whose kernel source is unique to ``c`` (so no other test's
    kernel, loaded in this process, is reused)."""

    def f(x):
        return fnp.sum(fnp.tanh(fnp.sin(x) * c + 1.0))

    return f


def _mlp(c: float):
    def loss(w1, w2, x):
        h = fnp.tanh(x @ w1 + c)
        return fnp.mean((h @ w2) ** 2)

    return fgrad.value_and_grad(loss, argnums=(0, 1))


def _loop(c: float):
    def f(x):
        return fgrad.lax.fori_loop(0, 20, lambda i, y: y - 0.1 * fnp.sin(y * c), x)

    return f


def _programs(c: float):
    rng = np.random.default_rng(0)
    w1, w2, x = rng.normal(size=(5, 8)), rng.normal(size=(8, 3)), rng.normal(size=(4, 5))
    return [
        ("chain", _chain(c), [np.linspace(0.0, 1.0, 7)]),
        ("mlp", _mlp(c), [w1, w2, x]),
        ("loop", _loop(c), [np.linspace(0.1, 0.9, 3)]),
    ]


def _program(fun, args):
    closed = optimize(fgrad.make_jaxpr(fun)(*args))
    flat = fgrad.tree_util.tree_leaves(args)
    return fusion.program(closed, "f"), flat


def _kernels(prog) -> list:
    kinds = (fusion.FusedKernel, fusion.FusedLoop)
    return [e.prim for e in prog.fused.closed.jaxpr.eqns if isinstance(e.prim, kinds)]


def _dispatchers(prog) -> list:
    return [numba_lowering.compile_kernel(k.kernel_text) for k in _kernels(prog)]


@pytest.mark.parametrize("which", ["chain", "mlp", "loop"])
def test_the_switch_is_at_the_ninth_call_and_loads_every_kernel_from_the_cache(
    background, which
):
    c = 1.0 + np.random.default_rng().random()
    name, fun, args = next(p for p in _programs(c) if p[0] == which)
    prog, flat = _program(fun, args)
    want = Replay(prog.closed)(flat)
    for call in range(1, fusion.CALLS_BEFORE_FUSING + 1):
        assert [np.asarray(x).tobytes() for x in prog(flat)] == [
            np.asarray(x).tobytes() for x in want
        ]
        assert prog.fused is None
        assert (prog._prepared is not None) == (call >= fusion.COMPILE_FROM_CALL)
    job = prog._prepared[1]
    assert job is not None and job.kernels
    got = prog(flat)  # the switch: waits for the worker, then loads
    assert prog.fused is not None and job.wait() == "done"
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    for kernel in _dispatchers(prog):
        # every signature the fused replay called with was compiled by the worker
        assert sum(kernel.stats.cache_misses.values()) == 0
        assert sum(kernel.stats.cache_hits.values()) >= 1


def test_background_and_sync_compiles_give_the_same_bits(background, monkeypatch):
    c = 1.0 + np.random.default_rng().random()
    outs = {}
    for mode in ("sync", "background"):
        monkeypatch.setenv("FGRAD_CACHE_DIR", str(background / mode))
        monkeypatch.setattr(flags, "fuse_compile", mode)
        _, fun, args = _programs(c)[1]
        prog, flat = _program(fun, args)
        for _ in range(fusion.CALLS_BEFORE_FUSING + 2):
            out = prog(flat)
        assert prog.fused is not None
        outs[mode] = [np.asarray(x).tobytes() for x in out]
    assert outs["sync"] == outs["background"]


def test_async_switches_at_the_first_call_after_the_compile(background, monkeypatch):
    monkeypatch.setattr(flags, "fuse_compile", "async")
    prog, flat = _program(_chain(1.0 + np.random.default_rng().random()), [np.ones(6)])
    prog(flat)
    prog(flat)
    assert prog._prepared[1].wait() == "done"
    assert prog.fused is None
    prog(flat)  # call 3, long before CALLS_BEFORE_FUSING
    assert prog.fused is not None


def test_a_failing_worker_leaves_the_program_on_numpy(background, monkeypatch):
    broken = [("def kernel(:\n", [])]  # a worker compiling this exits with an error
    monkeypatch.setattr(fusion, "_probe", lambda *args: broken)
    prog, flat = _program(_chain(1.5), [np.linspace(0.0, 1.0, 5)])
    want = Replay(prog.closed)(flat)
    for _ in range(fusion.CALLS_BEFORE_FUSING):
        prog(flat)
    with pytest.warns(RuntimeWarning, match="did not compile.*SyntaxError"):
        got = prog(flat)
    assert prog.fused is None and got == want
    assert prog(flat) == want


def test_a_killed_worker_leaves_the_program_on_numpy(background):
    prog, flat = _program(_chain(1.0 + np.random.default_rng().random()), [np.ones(5)])
    prog(flat)
    prog(flat)
    job = prog._prepared[1]
    job._proc.kill()
    for _ in range(fusion.CALLS_BEFORE_FUSING - 2):
        prog(flat)
    with pytest.warns(RuntimeWarning, match="exited with -9"):
        prog(flat)
    assert prog.fused is None and job._proc.returncode == -9
    assert not list(background.glob("job_*"))  # its job and log files are removed


def test_without_subprocesses_the_switching_call_compiles(background, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no subprocesses here")

    monkeypatch.setattr(kernel_worker.subprocess, "Popen", refuse)
    prog, flat = _program(_chain(1.0 + np.random.default_rng().random()), [np.ones(5)])
    for _ in range(fusion.CALLS_BEFORE_FUSING + 1):
        prog(flat)
    assert prog.fused is not None
    (kernel,) = _dispatchers(prog)
    assert sum(kernel.stats.cache_misses.values()) == 1  # compiled here


def test_kernels_in_the_cache_are_not_compiled_again(background):
    fun, args = _chain(1.0 + np.random.default_rng().random()), [np.ones(5)]
    first, flat = _program(fun, args)
    for _ in range(fusion.CALLS_BEFORE_FUSING + 1):
        first(flat)
    second, _ = _program(fun, args)
    second(flat)
    second(flat)
    assert second._prepared[0] is not None and second._prepared[1] is None


@pytest.mark.parametrize(
    "value",
    [
        np.ones((3, 4)),
        np.asfortranarray(np.ones((3, 4), np.float32)),
        np.ones((4, 6))[:, ::2],
        np.broadcast_to(np.ones(3), (2, 3)),
        np.ones(()),
        np.ones(5, np.bool_),
        np.arange(4),
        np.float32(1.5),
        np.float64(2.5),
        np.bool_(True),
        1.5,
        3,
        True,
    ],
    ids=repr,
)
def test_described_types_are_numbas_types(value):
    assert kernel_worker._signature([kernel_worker.describe(value)]) == (numba.typeof(value),)


def test_the_compile_flag_takes_three_values():
    before = fgrad.config.fgrad_fuse_compile
    with pytest.raises(fgrad.core.config.ConfigError, match="'background'"):
        fgrad.config.update("fgrad_fuse_compile", "thread")
    for value in ("sync", "async", "background", before):
        fgrad.config.update("fgrad_fuse_compile", value)
        assert flags.fuse_compile == value


def _run(script: str, cache, timeout: float = 120.0) -> list[str]:
    env = {**os.environ, "FGRAD_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_second_process_switches_with_the_first_ones_kernels(tmp_path):
    script = """
        import numpy as np, fgrad, fgrad.numpy as fnp
        fgrad.config.update("fgrad_fuse_compile", "background")
        from fgrad.transforms import fusion, numba_lowering
        f = lambda x: fnp.sum(fnp.tanh(fnp.sin(x) * 2.0 + 1.0))
        x = np.linspace(0.0, 1.0, 5)
        prog = fusion.program(fusion.optimize(fgrad.make_jaxpr(f)(x)), "f")
        for _ in range(fusion.CALLS_BEFORE_FUSING + 1):
            (out,) = prog([x])
        (kernel,) = numba_lowering._loaded.values()
        print(prog._prepared is None, prog.fused is not None, out.hex() if hasattr(out, "hex")
              else float(out).hex(), sum(kernel.stats.cache_misses.values()))
    """
    first, second = _run(script, tmp_path), _run(script, tmp_path)
    assert first[1] == second[1] == "True"  # both switched at call 9
    assert first[2] == second[2]  # the same bits
    assert first[3] == second[3] == "0"  # neither compiled in the user's process


def test_a_worker_is_stopped_when_the_interpreter_exits(tmp_path):
    script = """
        import numpy as np, fgrad, fgrad.numpy as fnp
        fgrad.config.update("fgrad_fuse_compile", "background")
        from fgrad.transforms import fusion
        f = lambda x: fnp.sum(fnp.tanh(fnp.sin(x) * 3.0 + 1.0))
        x = np.linspace(0.0, 1.0, 5)
        prog = fusion.program(fusion.optimize(fgrad.make_jaxpr(f)(x)), "f")
        prog([x]); prog([x])
        print(prog._prepared[1]._proc.pid)
    """
    start = time.monotonic()
    (pid,) = _run(script, tmp_path)
    assert time.monotonic() - start < 60  # the exit did not wait for the compile
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc to look the worker up in")
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")
    assert not list(tmp_path.glob("job_*"))


def test_a_program_with_effects_is_not_run_a_second_time(background, capsys):
    def f(x):
        fgrad.debug.print("sum {s}", s=fnp.sum(x))
        return fnp.tanh(fnp.sin(x) * 1.25 + 1.0) * 2.0

    prog, flat = _program(f, [np.ones(4)])
    prog(flat)
    prog(flat)
    assert capsys.readouterr().out.count("sum 4.0") == 2  # once per call, no probe run
    fused, job = prog._prepared
    assert fused is not None and job is None  # the 9th call compiles them
    for _ in range(fusion.CALLS_BEFORE_FUSING - 1):
        prog(flat)
    assert prog.fused is not None
    assert capsys.readouterr().out.count("sum 4.0") == fusion.CALLS_BEFORE_FUSING - 1
