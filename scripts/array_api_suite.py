"""Run the array API standard's test suite (data-apis/array-api-tests) against fgrad.numpy.

fgrad's functions return plain NumPy arrays outside transforms, so the suite run on
``fgrad.numpy`` itself checks the namespace's values on ndarrays only. The ``jit`` and
``vmap`` modes check what traced code sees: every fgrad function of the namespace is
wrapped so that its array arguments become traced values (under ``fgrad.jit``, or under
``fgrad.vmap`` over a batch of two copies, of which the first result is returned), its
other arguments (axes, dtypes, Python scalars) stay static. The array object's operators
and methods in the suite's results are then NumPy's (its arrays are ndarrays); the
functions are fgrad's, traced. docs/array_api.md records the counts and the departures.

    python scripts/array_api_suite.py SUITE_CHECKOUT [--mode eager|jit|vmap]
        [--max-examples 20] [array_api_tests/test_x.py ...] [pytest options, e.g. -n 2]

``SUITE_CHECKOUT`` is a checkout of array-api-tests with its ``array-api`` submodule
(the spec) filled in; the suite needs ``hypothesis``, ``ndindex`` and
``pytest-json-report``. The script prints the pass/fail/skip counts per test file.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import subprocess
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODES = ("eager", "jit", "vmap")
INFO = "__array_namespace_info__"


def _traced_call(fn, mode: str):
    """``fn`` with its ndarray arguments traced by ``mode`` and everything else static."""
    import fgrad

    @functools.wraps(fn)
    def call(*args, **kwargs):
        leaves, tree = fgrad.tree_flatten((args, kwargs), is_leaf=lambda v: v is None)
        slots = [i for i, v in enumerate(leaves) if isinstance(v, np.ndarray)]
        if not slots:
            return fn(*args, **kwargs)

        def on_arrays(*arrays):
            filled = list(leaves)
            for i, a in zip(slots, arrays):
                filled[i] = a
            a, kw = fgrad.tree_unflatten(tree, filled)
            return fn(*a, **kw)

        arrays = [leaves[i] for i in slots]
        if mode == "jit":
            return fgrad.jit(on_arrays)(*arrays)
        batched = fgrad.vmap(on_arrays)(*(np.stack([a, a]) for a in arrays))
        return fgrad.tree_map(lambda out: out[0], batched)

    return call


def _wrap_module(module: types.ModuleType, mode: str, name: str) -> types.ModuleType:
    wrapped = types.ModuleType(name)
    for attr in dir(module):
        if attr.startswith("__") and attr not in ("__array_api_version__", INFO):
            continue
        try:
            value = getattr(module, attr)
        except AttributeError:  # fgrad.numpy's names that raise a helpful error
            continue
        if inspect.isfunction(value) and value.__module__.startswith("fgrad"):
            value = _traced_call(value, mode)
        setattr(wrapped, attr, value)
    return wrapped


def namespace(mode: str) -> types.ModuleType:
    """``fgrad.numpy`` (``mode="eager"``) or a copy whose functions run traced (``"jit"``,
    ``"vmap"``), with ``linalg`` and ``fft`` wrapped alike."""
    import fgrad.numpy as fnp

    if mode == "eager":
        return fnp
    ns = _wrap_module(fnp, mode, f"fgrad.numpy[{mode}]")
    ns.linalg = _wrap_module(fnp.linalg, mode, f"fgrad.numpy.linalg[{mode}]")
    ns.fft = _wrap_module(fnp.fft, mode, f"fgrad.numpy.fft[{mode}]")
    return ns


def summarise(report: dict) -> dict[str, Counter]:
    """Outcome counts per test file from pytest-json-report's report."""
    counts: dict[str, Counter] = {}
    for test in report.get("tests", []):
        file = test["nodeid"].split("::")[0].rsplit("/", 1)[-1]
        counts.setdefault(file, Counter())[test["outcome"]] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="a checkout of data-apis/array-api-tests")
    parser.add_argument("--mode", choices=MODES, default="eager")
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the per-test report here")
    args, pytest_args = parser.parse_known_args(argv)  # the rest goes to pytest
    pytest_args = [a for a in pytest_args if a != "--"]
    # test files or ids of the suite, if named, replace the whole suite
    targets = [a for a in pytest_args if a.startswith("array_api_tests")] or ["array_api_tests/"]
    pytest_args = [a for a in pytest_args if a not in targets]

    setup = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); "
        f"sys.path.insert(0, {str(ROOT)!r}); "
        f"from array_api_suite import namespace; xp = namespace({args.mode!r})"
    )
    env = {
        **os.environ,
        "ARRAY_API_TESTS_MODULE": f"exec('{setup}')",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        command = [
            sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider",
            "-p", "no:warnings", "--disable-deadline", "--derandomize",
            "--max-examples", str(args.max_examples),
            "--json-report", f"--json-report-file={report_path}", *pytest_args,
        ]  # fmt: skip
        subprocess.run(command, cwd=args.suite, env=env, check=False)
        report = json.loads(report_path.read_text())
    if args.json:
        args.json.write_text(json.dumps(report["tests"], indent=1))
    counts = summarise(report)
    total = Counter()
    for file, c in sorted(counts.items()):
        total.update(c)
        print(f"{file:48s} " + "  ".join(f"{k} {v}" for k, v in sorted(c.items())))
    print(f"{'total (' + args.mode + ')':48s} " + "  ".join(f"{k} {v}" for k, v in total.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
