"""``fgrad.distributed`` across processes: scripts run by ``mpiexec -n 2`` through
``subprocess``, with timeouts, each rank's results compared with the same function under
``fgrad.vmap(axis_name=...)`` in this process; the data-parallel example against its
single-process run; a rank that raises and ranks that disagree on shapes end every rank
with the error, within seconds. Skipped when mpi4py or ``mpiexec`` is missing (the
``mpi`` extra installs both: ``pip install -e ".[test,mpi]"``, as ``.ci/run`` does).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import fgrad
from fgrad import distributed, lax
from fgrad.primitives.collectives import set_process_axis

ROOT = Path(__file__).resolve().parents[1]
# on PATH, or beside this Python (a virtual environment used without activating it)
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=str(Path(sys.executable).parent))
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None, reason="mpiexec is not installed (pip install -e '.[mpi]')"
)


def _mpirun(tmp_path: Path, source: str, *args: str, ranks: int = 2, timeout: float = 120):
    """Run ``source`` as a script on ``ranks`` MPI processes; the finished process."""
    pytest.importorskip("mpi4py")
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    command = [MPIEXEC, "-n", str(ranks), sys.executable, str(script), *args]
    return _run(command, tmp_path, timeout)


def _run(command: list, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """``command`` in a session of its own (mpiexec's clean-up signals stay there), with
    the whole session killed if it outlives ``timeout`` (no rank is left behind)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


# the functions each rank runs on its own x (rank r: BASE * (r + 1)), and the vmap reference
BASE = np.arange(12.0).reshape(2, 6) - 3.0
FUNCTIONS = """
import numpy as np
import fgrad
import fgrad.numpy as fnp
from fgrad import lax

RING = [(0, 1), (1, 0)]


def functions(x):
    return {
        "psum": lax.psum(x, "data"),
        "pmean_tree": lax.pmean({"a": x, "b": [x[0] * 2, fnp.sum(x)]}, "data"),
        "pmax": lax.pmax(x, "data"),
        "pmin": lax.pmin(-x, "data"),
        "all_gather": lax.all_gather(x, "data", axis=1),
        "all_gather_tiled": lax.all_gather(x, "data", tiled=True),
        "psum_scatter": lax.psum_scatter(x, "data"),
        "psum_scatter_tiled": lax.psum_scatter(x, "data", scatter_dimension=1, tiled=True),
        "ppermute": lax.ppermute(x, "data", RING),
        "ppermute_partial": lax.ppermute(x, "data", [(0, 1)]),
        "axis_index": lax.axis_index("data"),
        "psum_int": lax.psum(1, "data"),
        "grad": fgrad.grad(lambda v: fnp.sum(fnp.sin(lax.psum(v * v, "data")) * v))(x),
        "grad_gather": fgrad.grad(
            lambda v: fnp.sum(fnp.cos(lax.all_gather(v, "data")) * fnp.arange(12.0).reshape(2, 6))
        )(x),
    }
"""


def _stack_reference():
    namespace: dict = {}
    exec(FUNCTIONS, namespace)  # noqa: S102 - the same source the ranks run
    xs = np.stack([BASE * (r + 1) for r in range(2)])
    return fgrad.vmap(namespace["functions"], axis_name="data")(xs)


@needs_mpi
def test_collectives_on_two_ranks_equal_vmap(tmp_path):
    source = (
        FUNCTIONS
        + """
import sys
from fgrad import distributed
from fgrad.tree_util import tree_flatten
rank = distributed.process_index()
x = np.arange(12.0).reshape(2, 6) - 3.0
x = x * (rank + 1)
eager = distributed.spmd(functions, axis_name="data")(x)
jitted = distributed.spmd(fgrad.jit(functions), axis_name="data")(x)
outer = fgrad.jit(distributed.spmd(functions, axis_name="data"))
outer(x)
again = outer(x)  # the cached program runs its collectives again
for name, tree in (("eager", eager), ("jitted", jitted), ("again", again)):
    np.savez(f"{name}{rank}.npz", *tree_flatten(tree)[0])
open(f"info{rank}.txt", "w").write(f"rank {rank} of {distributed.process_count()}")
"""
    )
    run = _mpirun(tmp_path, source)
    assert run.returncode == 0, run.stderr
    for rank in range(2):
        assert (tmp_path / f"info{rank}.txt").read_text() == f"rank {rank} of 2"
    want = fgrad.tree_util.tree_leaves(_stack_reference())
    for name in ("eager", "jitted", "again"):
        for rank in range(2):
            got = np.load(tmp_path / f"{name}{rank}.npz")
            assert len(got.files) == len(want)
            for k, w in enumerate(want):
                assert got[f"arr_{k}"].shape == w[rank].shape, f"{name} {k}"
                np.testing.assert_allclose(
                    got[f"arr_{k}"], w[rank], rtol=1e-14, atol=1e-14, err_msg=f"{name} {k}"
                )


@needs_mpi
def test_shard_and_broadcast_from(tmp_path):
    source = """
import numpy as np
from fgrad import distributed
rank = distributed.process_index()
params = {"w": np.full((2, 3), float(rank)), "n": np.arange(3) + 10 * rank}
got = distributed.broadcast_from(1, params)
assert np.array_equal(got["w"], np.ones((2, 3))) and np.array_equal(got["n"], [10, 11, 12])
assert np.array_equal(distributed.replicate(params)["n"], [0, 1, 2])
batch = (np.arange(10).reshape(5, 2), np.arange(5))
xb, yb = distributed.shard(batch)
columns = distributed.shard(np.arange(12).reshape(3, 4), axis=1).tolist()
open(f"shard{rank}.txt", "w").write(f"{rank} {xb.shape} {yb.tolist()} {columns}")
"""
    run = _mpirun(tmp_path, source)
    assert run.returncode == 0, run.stderr
    lines = [(tmp_path / f"shard{rank}.txt").read_text() for rank in range(2)]
    assert lines == [
        "0 (3, 2) [0, 1, 2] [[0, 1], [4, 5], [8, 9]]",
        "1 (2, 2) [3, 4] [[2, 3], [6, 7], [10, 11]]",
    ]


@needs_mpi
@pytest.mark.parametrize("options", [[], ["--zero1"]], ids=["pmean", "zero1"])
def test_data_parallel_training_equals_one_process(options):
    pytest.importorskip("sklearn")
    pytest.importorskip("mpi4py")
    script = [sys.executable, "examples/train_digits_dp.py", "--steps", "30", *options]
    run = _run([MPIEXEC, "-n", "2", *script], ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "split over 2 process(es)" in run.stdout
    assert "largest difference between the ranks' parameters: 0.0e+00" in run.stdout
    assert "(equal to 1e-12)" in run.stdout


@needs_mpi
def test_a_rank_that_raises_ends_every_rank(tmp_path):
    source = """
import time
import numpy as np
from fgrad import distributed, lax
step = distributed.spmd(lambda x: lax.psum(x, "data"))
for i in range(1000):
    if distributed.process_index() == 1 and i == 3:
        raise RuntimeError("rank 1 fails at step 3")
    step(np.ones(3))
    time.sleep(0.01)
"""
    start = time.monotonic()
    run = _mpirun(tmp_path, source, timeout=60)
    assert time.monotonic() - start < 60
    assert run.returncode != 0
    assert "RuntimeError: rank 1 fails at step 3" in run.stderr
    assert "rank 1 of 2 raised RuntimeError; aborting all ranks" in run.stderr


@needs_mpi
def test_ranks_that_disagree_on_shapes_get_a_clear_error(tmp_path):
    source = """
import numpy as np
from fgrad import distributed, lax
rank = distributed.process_index()
distributed.spmd(lambda x: lax.psum(x, "data"))(np.ones((2, 3 + rank)))
"""
    run = _mpirun(tmp_path, source, timeout=60)
    assert run.returncode != 0
    assert "ShapeError" in run.stderr
    assert "rank 0: psum of float64[2, 3]; rank 1: psum of float64[2, 4]" in run.stderr


def test_one_process_without_mpiexec():
    # this process was not started by an MPI launcher: one process, collectives identities
    assert distributed.process_count() == 1 and distributed.process_index() == 0
    assert fgrad.process_count() == 1 and fgrad.process_index() == 0  # JAX's spelling
    x = {"w": np.arange(3.0)}
    try:
        step = distributed.spmd(lambda t: lax.pmean(t, "solo"), axis_name="solo")
        np.testing.assert_array_equal(step(x)["w"], x["w"])
        np.testing.assert_array_equal(distributed.shard(np.arange(5)), np.arange(5))
        np.testing.assert_array_equal(distributed.broadcast_from(0, x)["w"], x["w"])
        gathered = distributed.spmd(lambda t: lax.all_gather(t, "solo"), axis_name="solo")(x)
        np.testing.assert_array_equal(gathered["w"], x["w"][None])
    finally:
        set_process_axis("solo", None)
    with pytest.raises(ValueError, match="root 1 is not a rank of 1"):
        distributed.broadcast_from(1, x)


def test_import_fgrad_does_not_import_mpi4py():
    code = "import fgrad, fgrad.lax, sys; print('mpi4py' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr
