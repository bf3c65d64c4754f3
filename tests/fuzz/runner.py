"""Running one program under every combination and judging the answers.

For each combination :func:`check` runs the program on fgrad, on finite
differences (:data:`~fuzz.backends.FINITE_DIFFERENCES`) and, where installed,
on JAX in float64. An answer equal to JAX's (``rtol=1e-6``; ``2e-3`` for
float32 programs) passes. Where they differ, finite differences decide
(``rtol=2e-3``): fgrad outside that tolerance is ``"wrong"``, JAX outside it is
``"jax-differs"`` (recorded, not fgrad's bug). Where JAX refuses the combination
(``grad`` through ``while_loop``) fgrad must match finite differences. For the
combinations without derivatives (``PRIMAL``) the reference is fgrad's own eager
run, compared exactly (dtype included), and a difference with JAX there is
``"values-differ"``.
A combination fgrad refuses while JAX computes it is a ``"crash"``; a warning
raised while fgrad runs is a ``"warning"``.
"""

from __future__ import annotations

import dataclasses
import traceback
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from .backends import FGRAD, FINITE_DIFFERENCES, jax_backend
from .combinations import COMBINATIONS, Data
from .programs import Op, Program, build, sample_inputs

EXACT = {"float64": {"rtol": 1e-6, "atol": 1e-8}, "float32": {"rtol": 2e-3, "atol": 1e-4}}
FINITE_DIFFERENCE = {"rtol": 2e-3, "atol": 2e-4}
# combinations without derivatives: their reference is fgrad's eager run (exact)
PRIMAL = {
    "eager",
    "jit",
    "jit_static",
    "jit_scalar",
    "jit_twice",
    "vmap",
    "vmap_both",
    "vmap_last_axis",
    "vmap_jit",
    "staged",
    "jit_fused",
    "jit_fused_vmap",
    "jit_fused_scalar",
    "jit_python_numbers",
    "vmap_python_number",
}


@dataclasses.dataclass
class Finding:
    """One combination of one program where fgrad is wrong, refuses, or warns.

    ``kind`` is ``"wrong"`` (fgrad differs from the reference), ``"crash"``
    (fgrad raises where JAX or the reference computes), ``"warning"``, or
    ``"jax-differs"`` (fgrad matches finite differences and JAX does not: not
    fgrad's bug, listed for the record).
    """

    program: Program
    combination: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.combination}: {self.detail}\n{self.program}"


@dataclasses.dataclass
class _Outcome:
    value: object = None
    error: BaseException | None = None
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _run(combo: Callable, backend, f: Callable, data: Data, record_warnings: bool) -> _Outcome:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if record_warnings else "ignore")
        try:
            value = combo(backend, f, data.on(backend))
            leaves = [np.asarray(v) for v in _flat(value)]
        except Exception as e:  # every failure is an outcome to judge
            return _Outcome(error=e, warnings=list(caught))
    return _Outcome(leaves, warnings=list(caught))


def _flat(tree) -> list:
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _flat(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _flat(tree[k])]
    return [tree]


def compare(got: list, want: list, rtol: float, atol: float) -> str | None:
    """None where the leaves agree; otherwise what differs."""
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if np.shape(g) != np.shape(w):
            return f"output {k}: shape {np.shape(g)}, expected {np.shape(w)}"
        g64 = np.asarray(g, dtype=np.complex128 if np.iscomplexobj(g) else np.float64)
        w64 = np.asarray(w, dtype=np.complex128 if np.iscomplexobj(w) else np.float64)
        scale = 1.0 + (float(np.max(np.abs(w64))) if w64.size else 0.0)
        if not np.allclose(g64, w64, rtol=rtol, atol=atol * scale, equal_nan=True):
            bad = np.argmax(np.abs(g64 - w64)) if g64.size else 0
            return (
                f"output {k}: got {np.ravel(g64)[bad]!r}, expected {np.ravel(w64)[bad]!r} "
                f"(max |diff| {float(np.max(np.abs(g64 - w64))):.3g}, shape {np.shape(g)})"
            )
    return None


def _dtype_difference(got: list, want: list) -> str | None:
    for k, (g, w) in enumerate(zip(got, want)):
        if np.asarray(g).dtype != np.asarray(w).dtype:
            return f"output {k}: dtype {np.asarray(g).dtype}, expected {np.asarray(w).dtype}"
    return None


def _error(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    where = next(
        (
            f"{fr.filename.split('fgrad/')[-1]}:{fr.lineno}"
            for fr in reversed(frames)
            if "/fgrad/" in fr.filename
        ),
        "?",
    )
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''} (at {where})"


def _judge(name: str, got, theirs, reference, ours: str | None, exact: dict) -> tuple[str, str]:
    """The kind of a disagreement between fgrad and JAX, and what differs."""
    difference = compare(got.value, theirs.value, **exact)
    if name in PRIMAL:  # the reference is fgrad's own eager run: only JAX can judge values
        return "values-differ", difference
    if ours is not None:
        return "wrong", ours if reference.ok else f"no reference; against JAX: {difference}"
    if compare(theirs.value, reference.value, **FINITE_DIFFERENCE) is not None:
        return "jax-differs", difference
    return "wrong", f"differs from JAX, both within finite-difference tolerance: {difference}"


def check(
    program: Program,
    combinations: Iterable[str] = COMBINATIONS,
    jax: str = "all",
) -> list[Finding]:
    """Run ``program`` under each named combination; return what is wrong in fgrad.

    Parameters
    ----------
    program
        From :func:`~fuzz.programs.generate`.
    combinations
        Names among :data:`~fuzz.combinations.COMBINATIONS`.
    jax
        ``"all"``: every combination also runs on JAX, which must agree to
        ``EXACT``. ``"tiebreak"``: JAX runs the eager program (its values) and
        every combination where fgrad refuses or disagrees with the
        finite-difference reference (about ten times faster). ``"none"``:
        finite differences only; a refusal is then reported as ``"refused"``,
        since there is nothing to tell a bug from a documented limit.
    """
    jax_b = jax_backend() if jax != "none" else None
    x, y = sample_inputs(program, program.seed)
    f_fgrad = build(program, FGRAD)
    data = Data.draw(x, y, np.shape(f_fgrad(x, y)), program.seed)
    f_reference = build(program, FINITE_DIFFERENCES)
    f_jax = build(program, jax_b) if jax_b else None
    exact = EXACT[program.dtype]
    findings = []

    def finding(name, kind, detail):
        findings.append(Finding(program, name, kind, detail))

    for name in combinations:
        combo = COMBINATIONS[name]
        got = _run(combo, FGRAD, f_fgrad, data, record_warnings=True)
        for w in got.warnings:
            finding(
                name, "warning", f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
            )
        reference = _run(combo, FINITE_DIFFERENCES, f_reference, data, False)
        tolerance = exact if name in PRIMAL else FINITE_DIFFERENCE
        ours = compare(got.value, reference.value, **tolerance) if got.ok and reference.ok else "?"
        if got.ok and reference.ok and name in PRIMAL:
            dtype = _dtype_difference(got.value, reference.value)
            if dtype:
                finding(name, "wrong", f"{dtype} (eager)")
        theirs = None
        if jax_b and (jax == "all" or name == "eager" or ours is not None):
            theirs = _run(combo, jax_b, f_jax, data, False)
        if not got.ok:
            if theirs is not None and theirs.ok:
                finding(name, "crash", _error(got.error))
            elif theirs is None and reference.ok:
                finding(name, "refused", _error(got.error))
        elif theirs is None or not theirs.ok:
            if ours is not None and reference.ok:
                finding(name, "wrong", f"(against finite differences) {ours}")
        elif compare(got.value, theirs.value, **exact) is not None:
            finding(name, *_judge(name, got, theirs, reference, ours, exact))
    return findings


# -- shrinking ---------------------------------------------------------------


def _needed(program: Program) -> list[int]:
    """Indices of the operations the program's result depends on."""
    needed = {1 + len(program.ops)}
    for k in range(len(program.ops) - 1, -1, -1):
        if 2 + k in needed:
            needed.update(program.ops[k].args)
    return [k for k in range(len(program.ops)) if 2 + k in needed]


def unused(program: Program) -> list[Op]:
    """The operations whose values the program's result does not depend on."""
    keep = set(_needed(program))
    return [op for k, op in enumerate(program.ops) if k not in keep]


def live(program: Program) -> Program:
    """The program without the operations its result does not depend on."""
    keep = _needed(program)
    renumber = {0: 0, 1: 1} | {2 + k: 2 + j for j, k in enumerate(keep)}
    ops = tuple(
        Op(op.name, tuple(renumber[a] for a in op.args), op.params)
        for op in (program.ops[k] for k in keep)
    )
    return dataclasses.replace(program, ops=ops)


def shrink(finding: Finding, jax: str = "all") -> Finding:
    """A smaller program with a finding of the same kind in the same combination.

    Tries every prefix of the program (its result then being the prefix's last
    value), shortest first, without the operations that result does not need.
    """
    program = finding.program
    for k in range(1, len(program.ops) + 1):
        candidate = live(dataclasses.replace(program, ops=program.ops[:k]))
        for f in check(candidate, [finding.combination], jax):
            if f.kind == finding.kind:
                return f
    return finding
