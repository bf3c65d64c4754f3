"""Compiling a program's numba kernels in a subprocess, into the disk cache.

numba compiles with Python's GIL held, so compiling in a thread would stall the user's
calls; a subprocess compiles on another core instead. It is handed each kernel's source
and the types of its arguments (:func:`describe`, read from a NumPy run of the fused
program: :mod:`fgrad.transforms.fusion`), compiles them with numba's disk cache
(:func:`fgrad.transforms.numba_lowering.compile_kernel`, under the same
``$FGRAD_CACHE_DIR``), and exits; the program then loads the machine code from the cache,
which costs a fraction of compiling it.

At most :data:`MAX_WORKERS` subprocesses run at a time; later jobs wait in a queue,
started as earlier ones finish (checked on each call of a program still on its NumPy
replay) or when their program needs them, and dropped with their program. A worker runs
in its own session (a Ctrl-C at the terminal does not reach it), is reaped when it ends,
and is terminated when the interpreter exits, so it never outlives nor delays the
program.

Run as ``python -m fgrad.transforms.kernel_worker JOB.json``.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path

import numpy as np

from fgrad.transforms.numba_lowering import cache_dir, compile_kernel

#: compile subprocesses running at once (each a core while it compiles)
MAX_WORKERS = 1

#: seconds a program's switch waits for its worker before giving up on it
WAIT_LIMIT_S = 900.0

#: the folder holding the ``fgrad`` package the worker imports
_ROOT = Path(__file__).resolve().parents[2]

#: seconds the interpreter's exit waits for a terminated worker before killing it
_EXIT_GRACE_S = 2.0


def describe(x) -> list | None:
    """What numba types ``x`` as, in JSON: ``["array", dtype, ndim, layout, readonly]``
    (layout as numba's ``typeof``: ``C``, ``F`` or ``A``), ``["scalar", dtype]`` for a
    NumPy scalar, ``["python", "bool" | "int" | "float" | "complex"]``; None for anything
    else (its kernel is then compiled where it is first called)."""
    if type(x) is np.ndarray:
        flags = x.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        return ["array", x.dtype.str, x.ndim, layout, not flags.writeable]
    if isinstance(x, np.generic):
        return ["scalar", x.dtype.str]
    if type(x) in (bool, int, float, complex):
        return ["python", type(x).__name__]
    return None


class CompileJob:
    """The kernels of one program, compiled by a worker subprocess (see the module
    docstring). ``wait`` blocks until they are in the disk cache."""

    def __init__(self, kernels: list[tuple[str, list]]):
        self.kernels = kernels
        self._proc: subprocess.Popen | None = None
        self._files: list[Path] = []
        self._status: str | None = None  # "done", "unavailable" or the failure's text

    def wait(self) -> str:
        """``"done"`` once every kernel is compiled into the cache; ``"unavailable"`` where no
        subprocess could be started (compile in this process instead); else what went wrong
        (the worker's last lines of output)."""
        if self._status is None:
            if self._proc is None:
                self._start()
            if self._proc is not None:
                try:
                    self._proc.wait(WAIT_LIMIT_S)
                except subprocess.TimeoutExpired:
                    self._stop()  # a worker that hangs: its program stays on NumPy
                self._finish()
        return self._status

    def poll(self) -> bool:
        """Whether the job has ended (reaping its worker if it has)."""
        if self._status is None and self._proc is not None and self._proc.poll() is not None:
            self._finish()
        return self._status is not None

    def _start(self) -> None:
        if not sys.executable or getattr(sys, "frozen", False):  # no Python to run it with
            self._status = "unavailable"
            return
        try:
            folder = cache_dir().resolve()
            folder.mkdir(parents=True, exist_ok=True)
            fd, job = tempfile.mkstemp(dir=folder, prefix="job_", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(self.kernels, f)
            log = Path(job).with_suffix(".log")
            self._files = [Path(job), log]
            root = str(_ROOT)
            path = os.environ.get("PYTHONPATH")
            env = {
                **os.environ,
                "FGRAD_CACHE_DIR": str(folder),
                "PYTHONPATH": root if not path else root + os.pathsep + path,
            }
            with open(log, "wb") as out:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", __name__, job],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=root,  # so that ``-m`` finds this fgrad before any in the user's folder
                    start_new_session=True,
                )
        except OSError:
            self._status = "unavailable"
            self._remove_files()
            return
        _running.append(self)

    def _finish(self) -> None:
        code = self._proc.returncode
        if code == 0:
            self._status = "done"
        else:
            try:
                tail = self._files[1].read_text(errors="replace").strip().splitlines()[-3:]
            except OSError:
                tail = []
            self._status = f"the compile worker exited with {code}: " + " | ".join(tail)
        self._remove_files()
        if self in _running:
            _running.remove(self)
        pump()

    def _remove_files(self) -> None:
        for f in self._files:
            f.unlink(missing_ok=True)

    def _stop(self) -> None:
        """Terminate the worker (at the interpreter's exit, or when it hangs)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._remove_files()


_running: list[CompileJob] = []
_queue: list[weakref.ref[CompileJob]] = []  # a job whose program is gone is never started


def submit(kernels: list[tuple[str, list]]) -> CompileJob:
    """A job compiling ``kernels`` (pairs of a kernel's source, as
    :func:`~fgrad.transforms.numba_lowering.compile_kernel` takes it, and the
    :func:`describe` of its arguments), started now or queued (see the module docstring)."""
    job = CompileJob(kernels)
    _queue.append(weakref.ref(job))
    pump()
    return job


def pump() -> None:
    """Reap ended workers and start queued jobs while fewer than :data:`MAX_WORKERS` run."""
    for job in list(_running):
        job.poll()
    while _queue and len(_running) < MAX_WORKERS:
        job = _queue.pop(0)()
        if job is not None and job._status is None and job._proc is None:
            job._start()


def _stop_all() -> None:
    _queue.clear()
    for job in list(_running):
        job._stop()
    _running.clear()


atexit.register(_stop_all)


def _signature(specs: list) -> tuple:
    """numba's types of :func:`describe`'s descriptions."""
    import numba  # the optional dependency; only the worker and compiled kernels import it

    types = []
    for spec in specs:
        if spec[0] == "array":
            _, dtype, ndim, layout, readonly = spec
            base = numba.from_dtype(np.dtype(dtype))
            types.append(numba.types.Array(base, ndim, layout, readonly=readonly))
        elif spec[0] == "scalar":
            types.append(numba.from_dtype(np.dtype(spec[1])))
        else:
            types.append(numba.typeof({"bool": True, "int": 0, "float": 0.0}.get(spec[1], 0j)))
    return tuple(types)


def main(argv: list[str]) -> int:
    """Compile the kernels of the job file ``argv[0]`` into the disk cache; 0 when all
    compiled."""
    with open(argv[0]) as f:
        kernels = json.load(f)
    for source, specs in kernels:
        compile_kernel(source).compile(_signature(specs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
