"""Loop programs: the first call and the steady state of two programs built on ``lax`` loops.

    python benchmarks/loops.py [--quick] [--only NAME] [--framework SUBSTR] [--repeat N]
                               [--first-repeat N] [--markdown PATH] [--system-malloc]
                               [--fuse auto|force|off]

Two programs, each written once against a :class:`Lib` (``numpy``, ``lax``, ``grad``,
``jacfwd``) and run with fgrad's and with JAX's, float64:

* ``ode``: the gradient of a trajectory loss w.r.t. the three log rate constants of
  Robertson's stiff chemical kinetics, integrated by backward Euler (``lax.scan`` over the
  steps), each step's implicit equation solved by a fixed number of Newton iterations
  (``lax.fori_loop``; Jacobian by ``jacfwd`` of the residual, then ``linalg.solve``);
* ``hmc``: a Hamiltonian Monte Carlo chain for Bayesian logistic regression (``lax.scan``
  over the transitions, leapfrog in ``lax.fori_loop``, the log density's gradient by
  ``grad``, accept/reject by ``where``; momenta and uniforms drawn beforehand with a seeded
  NumPy generator and passed in as ``xs``).

Unlike ``run.py``'s workloads, what is measured here is mostly compilation: each row reports
the **first call** (for ``jit``: trace, compile and run, on a fresh ``jit`` object) and the
**steady state** (the median of later calls). Every output is checked before it is timed
further: against an independent NumPy reference, and every row against eager fgrad to
:data:`AGREEMENT` relative.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import frameworks
import numpy as np
from harness import Skip, format_seconds, tree_flatten, tune_allocator

AGREEMENT = 1e-8
"""Largest accepted ``max|a - b| / max|b|`` between two libraries' (or modes') outputs."""


# --------------------------------------------------------------------------------------------
# The libraries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lib:
    """What the programs use of a library, under the names fgrad and JAX share."""

    name: str
    np: Any
    lax: Any
    grad: Callable[..., Callable[..., Any]]
    jacfwd: Callable[..., Callable[..., Any]]
    jit: Callable[[Callable[..., Any]], Callable[..., Any]]
    asarray: Callable[[np.ndarray], Any]
    block: Callable[[Any], Any]
    """Waits until an output is computed (JAX dispatches asynchronously)."""


def fgrad_lib() -> Lib:
    """fgrad: ``fgrad.numpy``, ``fgrad.lax`` and its transforms (this checkout)."""
    fgrad = frameworks._load("fgrad")
    return Lib(
        name="fgrad",
        np=frameworks._load("fgrad.numpy"),
        lax=frameworks._load("fgrad.lax"),
        grad=fgrad.grad,
        jacfwd=fgrad.jacfwd,
        jit=fgrad.jit,
        asarray=lambda a: a,
        block=lambda out: out,
    )


def jax_lib() -> Lib:
    """JAX with 64-bit floats enabled; raises :class:`harness.Skip` when it is not installed."""
    jax = frameworks._load("jax")
    jnp = frameworks._load("jax.numpy")
    return Lib(
        name="jax",
        np=jnp,
        lax=frameworks._load("jax.lax"),
        grad=jax.grad,
        jacfwd=jax.jacfwd,
        jit=jax.jit,
        asarray=jnp.asarray,
        block=jax.block_until_ready,
    )


# --------------------------------------------------------------------------------------------
# Program 1: a stiff ODE (Robertson's kinetics) by backward Euler with Newton iterations
# --------------------------------------------------------------------------------------------

ROBERTSON_RATES = (0.04, 3e7, 1e4)
"""Robertson's rate constants: the fast ``3e7`` reaction against the slow ``0.04`` one makes
the system stiff (explicit Euler needs ``dt`` below ~1e-3 here)."""
ODE_PERTURBATION = (0.1, -0.2, 0.15)
"""Where the gradient is taken: the true log rates plus these."""


@dataclass(frozen=True)
class OdeSize:
    steps: int
    newton: int
    dt: float = 0.01
    """With ``y0 = (1, 0, 0)`` and ``dt = 0.01``, 8 Newton iterations solve every step's
    implicit equation to a residual of ~1e-16 (the first, from the initial transient, 1e-13)."""


def robertson_rhs(xp: Any, y: Any, k: Any) -> Any:
    """``dy/dt`` of Robertson's kinetics: ``A -> B`` (k0), ``2B -> B + C`` (k1), ``B + C -> A + C``
    (k2)."""
    r0, r1, r2 = k[0] * y[0], k[1] * y[1] ** 2, k[2] * y[1] * y[2]
    return xp.stack([-r0 + r2, r0 - r1 - r2, r1])


def ode_trajectory(lib: Lib, log_k: Any, y0: Any, size: OdeSize) -> Any:
    """The backward-Euler states ``y_1 .. y_steps``, shape ``(steps, 3)``.

    Step ``n`` solves ``z - y_n - dt f(z) = 0`` for ``y_{n+1} = z`` by ``size.newton`` Newton
    iterations started at ``y_n``, each solving with the residual's Jacobian (``jacfwd``).
    """
    xp, dt = lib.np, size.dt
    k = xp.exp(log_k)

    def residual(z: Any, y: Any) -> Any:
        return z - y - dt * robertson_rhs(xp, z, k)

    jacobian = lib.jacfwd(residual)

    def step(y: Any, _: Any) -> tuple[Any, Any]:
        def newton(i: Any, z: Any) -> Any:
            return z - xp.linalg.solve(jacobian(z, y), residual(z, y))

        z = lib.lax.fori_loop(0, size.newton, newton, y)
        return z, z

    return lib.lax.scan(step, y0, None, length=size.steps)[1]


def ode_loss(lib: Lib, log_k: Any, y0: Any, y_ref: Any, scale: Any, size: OdeSize) -> Any:
    """Mean squared error of the trajectory against ``y_ref``, each species divided by
    ``scale`` (its largest reference value: B is ~1e-5 of A)."""
    ys = ode_trajectory(lib, log_k, y0, size)
    return lib.np.mean(lib.np.sum(((ys - y_ref) / scale) ** 2, axis=1))


def numpy_ode_trajectory(log_k: np.ndarray, y0: np.ndarray, size: OdeSize) -> np.ndarray:
    """:func:`ode_trajectory` in plain NumPy with the hand-written Jacobian (the reference)."""
    k, dt = np.exp(log_k), size.dt
    y, out = y0, []
    for _ in range(size.steps):
        z = y
        for _ in range(size.newton):
            jac = np.array(
                [
                    [-k[0], k[2] * z[2], k[2] * z[1]],
                    [k[0], -2 * k[1] * z[1] - k[2] * z[2], -k[2] * z[1]],
                    [0.0, 2 * k[1] * z[1], 0.0],
                ]
            )
            g = z - y - dt * robertson_rhs(np, z, k)
            z = z - np.linalg.solve(np.eye(3) - dt * jac, g)
        y = z
        out.append(z)
    return np.array(out)


def ode_data(size: OdeSize) -> tuple[np.ndarray, ...]:
    """``(log_k, y0, y_ref, scale)``: the reference trajectory is the NumPy one at the true
    rates; ``log_k`` is perturbed by :data:`ODE_PERTURBATION`."""
    true_log_k = np.log(ROBERTSON_RATES)
    y0 = np.array([1.0, 0.0, 0.0])
    y_ref = numpy_ode_trajectory(true_log_k, y0, size)
    scale = np.max(np.abs(y_ref), axis=0)
    return true_log_k + np.array(ODE_PERTURBATION), y0, y_ref, scale


def numpy_ode_loss(
    log_k: np.ndarray, y0: np.ndarray, y_ref: np.ndarray, scale: np.ndarray, size: OdeSize
) -> float:
    """:func:`ode_loss` of the NumPy trajectory."""
    ys = numpy_ode_trajectory(log_k, y0, size)
    return float(np.mean(np.sum(((ys - y_ref) / scale) ** 2, axis=1)))


def ode_fd_gradient(data: tuple[np.ndarray, ...], size: OdeSize, h: float = 1e-5) -> np.ndarray:
    """4th-order central differences of the NumPy loss in each log rate (accurate to ~1e-9
    relative; the reference the gradients are checked against)."""
    log_k, *rest = data
    loss = functools.partial(numpy_ode_loss, size=size)
    out = np.zeros_like(log_k)
    for i in range(len(log_k)):
        e = np.zeros_like(log_k)
        e[i] = h
        f = [loss(log_k + s * e, *rest) for s in (-2, -1, 1, 2)]
        out[i] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
    return out


# --------------------------------------------------------------------------------------------
# Program 2: Hamiltonian Monte Carlo for Bayesian logistic regression
# --------------------------------------------------------------------------------------------

PRIOR_VARIANCE = 1.0


@dataclass(frozen=True)
class HmcSize:
    steps: int
    leapfrog: int
    step_size: float = 0.2
    """About 77% of the proposals are accepted at both benchmark sizes, so both sides of the
    ``where`` matter."""
    rows: int = 200
    features: int = 5


def log_density(xp: Any, w: Any, x: Any, y: Any) -> Any:
    """Log posterior (up to a constant): Bernoulli likelihood of ``y`` given ``sigmoid(x @ w)``,
    Gaussian prior on ``w``."""
    logits = x @ w
    return xp.sum(y * logits - xp.logaddexp(0.0, logits)) - 0.5 * xp.sum(w * w) / PRIOR_VARIANCE


def hmc_chain(
    lib: Lib, w0: Any, x: Any, y: Any, momenta: Any, log_u: Any, size: HmcSize
) -> tuple[Any, Any]:
    """``(samples, acceptance rate)``: ``size.steps`` HMC transitions from ``w0``.

    Transition ``n`` starts from momentum ``momenta[n]``, runs ``size.leapfrog`` leapfrog
    steps and accepts the proposal when ``log_u[n] < H(start) - H(proposal)``.
    """
    xp, eps = lib.np, size.step_size

    def potential(w: Any) -> Any:
        return -log_density(xp, w, x, y)

    grad_potential = lib.grad(potential)

    def leapfrog(i: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        w, p = state
        p = p - 0.5 * eps * grad_potential(w)
        w = w + eps * p
        return w, p - 0.5 * eps * grad_potential(w)

    def transition(w: Any, noise: tuple[Any, Any]) -> tuple[Any, tuple[Any, Any]]:
        p0, log_u = noise
        w1, p1 = lib.lax.fori_loop(0, size.leapfrog, leapfrog, (w, p0))
        energy0 = potential(w) + 0.5 * xp.sum(p0 * p0)
        energy1 = potential(w1) + 0.5 * xp.sum(p1 * p1)
        accept = log_u < energy0 - energy1
        w = xp.where(accept, w1, w)
        return w, (w, xp.where(accept, 1.0, 0.0))

    samples, accepted = lib.lax.scan(transition, w0, (momenta, log_u))[1]
    return samples, xp.mean(accepted)


def hmc_data(size: HmcSize, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(w0, x, y, momenta, log_u)`` from ``default_rng(seed)``: standard normal features,
    labels drawn from the model at a random true ``w``, a zero start."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size.rows, size.features))
    w_true = rng.standard_normal(size.features)
    y = (rng.uniform(size=size.rows) < 1 / (1 + np.exp(-x @ w_true))).astype(np.float64)
    momenta = rng.standard_normal((size.steps, size.features))
    log_u = np.log(rng.uniform(size=size.steps))
    return np.zeros(size.features), x, y, momenta, log_u


def numpy_hmc_chain(
    w0: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    momenta: np.ndarray,
    log_u: np.ndarray,
    size: HmcSize,
) -> tuple[np.ndarray, float]:
    """:func:`hmc_chain` in plain NumPy with the hand-written gradient (the reference)."""
    eps = size.step_size

    def potential(w: np.ndarray) -> float:
        return -float(log_density(np, w, x, y))

    def grad_potential(w: np.ndarray) -> np.ndarray:
        return -(x.T @ (y - 1 / (1 + np.exp(-x @ w))) - w / PRIOR_VARIANCE)

    w, samples, accepted = w0, [], []
    for p0, u in zip(momenta, log_u):
        w1, p1 = w, p0
        for _ in range(size.leapfrog):
            p1 = p1 - 0.5 * eps * grad_potential(w1)
            w1 = w1 + eps * p1
            p1 = p1 - 0.5 * eps * grad_potential(w1)
        energy0 = potential(w) + 0.5 * np.sum(p0 * p0)
        energy1 = potential(w1) + 0.5 * np.sum(p1 * p1)
        accept = u < energy0 - energy1
        w = w1 if accept else w
        samples.append(w)
        accepted.append(1.0 if accept else 0.0)
    return np.array(samples), float(np.mean(accepted))


# --------------------------------------------------------------------------------------------
# The programs as benchmarks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """One timed program: how each library builds it, its inputs and its reference output."""

    name: str
    summary: str
    build: Callable[[Lib], Callable[..., Any]]
    args: tuple[np.ndarray, ...]
    reference: Any
    reference_what: str
    reference_tolerance: float
    """``max|out - reference| / max|reference|`` accepted (the reference may be approximate)."""


ODE_SIZES = {"full": OdeSize(steps=500, newton=8), "quick": OdeSize(steps=25, newton=4)}
HMC_SIZES = {"full": HmcSize(steps=300, leapfrog=10), "quick": HmcSize(steps=25, leapfrog=4)}


def ode_program(size: OdeSize) -> Program:
    data = ode_data(size)
    return Program(
        name="ode",
        summary=f"grad of a trajectory loss w.r.t. 3 log rates: Robertson's stiff kinetics, "
        f"backward Euler, {size.steps} scan steps x {size.newton} Newton iterations "
        "(fori_loop; jacfwd + linalg.solve), float64",
        build=lambda lib: lib.grad(functools.partial(ode_loss, lib, size=size)),
        args=data,
        reference=ode_fd_gradient(data, size),
        reference_what="4th-order central differences of a NumPy forward pass",
        reference_tolerance=1e-6,
    )


def hmc_program(size: HmcSize) -> Program:
    data = hmc_data(size)
    return Program(
        name="hmc",
        summary=f"HMC for Bayesian logistic regression ({size.rows}x{size.features} data): "
        f"{size.steps} transitions (scan) x {size.leapfrog} leapfrog steps (fori_loop) with "
        "grad of the log density, accept by where; samples and acceptance rate, float64",
        build=lambda lib: functools.partial(hmc_chain, lib, size=size),
        args=data,
        reference=numpy_hmc_chain(*data, size),
        reference_what="the same chain in NumPy with the hand-written gradient",
        reference_tolerance=AGREEMENT,
    )


PROGRAMS: dict[str, Callable[[bool], Program]] = {
    "ode": lambda quick: ode_program(ODE_SIZES["quick" if quick else "full"]),
    "hmc": lambda quick: hmc_program(HMC_SIZES["quick" if quick else "full"]),
}


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """A row: a library, with or without ``jit``."""

    label: str
    make_lib: Callable[[], Lib]
    jit: bool
    steady: bool
    """Whether later calls are timed too; fgrad's eager calls all cost the same (no compile
    step, nothing cached), so its first call *is* its steady state."""


MODES = (
    Mode("fgrad", fgrad_lib, jit=False, steady=False),
    Mode("fgrad (jit)", fgrad_lib, jit=True, steady=True),
    Mode("jax (jit)", jax_lib, jit=True, steady=True),
    Mode("jax (eager)", jax_lib, jit=False, steady=True),
)
"""In run order: JAX's jit row runs before its eager row, whose compiled loop primitives
(JAX compiles ``scan`` even outside ``jit``) it must not find in a cache."""


@dataclass
class Row:
    """One row's outcome: its first-call and steady-state seconds and its first output."""

    label: str
    status: str  # "ok" | "skipped" | "FAILED" | "error"
    note: str = ""
    first: float | None = None
    first_cpu: float | None = None
    steady: float | None = None
    steady_cpu: float | None = None
    output: Any = None


def relative_difference(got: Any, want: Any) -> float:
    """``max |got - want| / max |want|`` over all leaves (each leaf's own scale); infinite when
    the structures or shapes differ or ``got`` is not finite."""
    got_leaves, want_leaves = tree_flatten(got)[0], tree_flatten(want)[0]
    if len(got_leaves) != len(want_leaves):
        return float("inf")
    worst = 0.0
    for g, w in zip(got_leaves, want_leaves):
        g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        if g.shape != w.shape or not np.all(np.isfinite(g)):
            return float("inf")
        scale = max(float(np.max(np.abs(w))), 1e-300)
        worst = max(worst, float(np.max(np.abs(g - w))) / scale)
    return worst


@dataclass(frozen=True)
class Call:
    """One timed call: wall-clock and process CPU seconds, and its output."""

    wall: float
    cpu: float
    """All threads of this process; close to ``wall`` on an idle machine for single-threaded
    work, and much less affected than ``wall`` when other processes share the cores."""
    output: Any


def timed_call(fn: Callable[..., Any], args: Sequence[Any], lib: Lib) -> Call:
    """Time ``fn(*args)`` until its output is computed."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    out = lib.block(fn(*args))
    return Call(time.perf_counter() - wall, time.process_time() - cpu, out)


def warm_up(lib: Lib) -> None:
    """One tiny ``jit`` and ``grad``, so no row pays for a library's one-off initialisation."""
    lib.block(lib.jit(lib.grad(lambda v: lib.np.sum(v * v)))(lib.asarray(np.ones(3))))


def run_mode(program: Program, mode: Mode, repeat: int, first_repeat: int) -> Row:
    """Check and time one row: ``first_repeat`` first calls (a fresh ``jit`` each), then the
    median of ``repeat`` further calls on the last one."""
    try:
        lib = mode.make_lib()
    except Skip as exc:
        return Row(mode.label, "skipped", str(exc))
    args = [lib.asarray(a) for a in program.args]
    warm_up(lib)
    firsts: list[Call] = []
    for _ in range(first_repeat if mode.jit else 1):
        fn = lib.jit(program.build(lib)) if mode.jit else program.build(lib)
        firsts.append(timed_call(fn, args, lib))
    out = firsts[-1].output
    row = Row(
        mode.label,
        "ok",
        first=statistics.median(c.wall for c in firsts),
        first_cpu=statistics.median(c.cpu for c in firsts),
        output=out,
    )
    error = relative_difference(out, program.reference)
    if error > program.reference_tolerance:
        row.status = "FAILED"
        row.note = f"differs from the reference by {error:.1e} relative; not timed further"
        return row
    if not mode.steady:
        row.steady, row.steady_cpu = row.first, row.first_cpu
        row.note = "one call: eager has no compile step"
        return row
    calls = [timed_call(fn, args, lib) for _ in range(repeat)]
    row.steady = statistics.median(c.wall for c in calls)
    row.steady_cpu = statistics.median(c.cpu for c in calls)
    first_note = f"median of {first_repeat} fresh jit" if mode.jit and first_repeat > 1 else ""
    row.note = ", ".join(filter(None, [first_note, f"steady: median of {repeat}"]))
    return row


def run_program(
    program: Program, frameworks_only: Sequence[str] | None, repeat: int, first_repeat: int
) -> tuple[list[Row], list[str]]:
    """All rows of one program, and the lines reporting how their outputs agree."""
    print(f"\n=== {program.name}: {program.summary}", flush=True)
    rows = []
    for mode in MODES:
        if frameworks_only and not any(f.lower() in mode.label.lower() for f in frameworks_only):
            continue
        print(f"  {mode.label:<12} ", end="", flush=True)
        try:
            row = run_mode(program, mode, repeat, first_repeat)
        except Exception as exc:  # noqa: BLE001 - a failing library becomes a reported row
            row = Row(mode.label, "error", f"{type(exc).__name__}: {exc}")
        times = f"first {_cell(row.first)} (CPU {_cell(row.first_cpu)}), steady {_cell(row.steady)}"
        print(f"{row.status}: {times}; {row.note}", flush=True)
        rows.append(row)
    return rows, agreement_lines(program, rows)


def agreement_lines(program: Program, rows: list[Row]) -> list[str]:
    """How each checked row's output compares with the reference and with eager fgrad's;
    a row further than :data:`AGREEMENT` from eager fgrad is marked ``FAILED``."""
    done = [r for r in rows if r.output is not None]
    lines = [
        f"{r.label} vs reference ({program.reference_what}): "
        f"{relative_difference(r.output, program.reference):.1e}"
        for r in done
    ]
    base = next((r for r in done if r.label == "fgrad"), None)
    for r in done:
        if base is None or r is base:
            continue
        error = relative_difference(r.output, base.output)
        lines.append(f"{r.label} vs fgrad: {error:.1e} (must be <= {AGREEMENT:g})")
        if error > AGREEMENT and r.status == "ok":
            r.status, r.note = "FAILED", f"differs from eager fgrad by {error:.1e} relative"
    return lines


def _cell(seconds: float | None) -> str:
    return format_seconds(seconds) if seconds is not None else "-"


def table(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of one program's table (see ``benchmarks/README.md`` for the columns)."""
    header = [
        "framework",
        "first call",
        "first call CPU",
        "steady state",
        "steady CPU",
        "first / steady",
        "note",
    ]
    cells = []
    for r in rows:
        timed = r.status == "ok"
        ratio = f"{r.first / r.steady:.1f}x" if timed and r.steady else "-"
        first = _cell(r.first) if r.first is not None else r.status
        steady, steady_cpu = (_cell(r.steady), _cell(r.steady_cpu)) if timed else ("-", "-")
        cells.append([r.label, first, _cell(r.first_cpu), steady, steady_cpu, ratio, r.note])
    return header, cells


def print_table(rows: Sequence[Row], lines: Sequence[str]) -> None:
    header, cells = table(rows)
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header) - 1)]
    print()
    for c in [header, *cells]:
        print("  " + "  ".join(s.ljust(w) for s, w in zip(c, widths)) + "  " + c[-1])
    for line in lines:
        print("  agreement: " + line)


def versions() -> dict[str, str]:
    """NumPy's, this checkout's fgrad's and the installed JAX's versions (JAX not imported)."""
    try:
        jax_version = importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        jax_version = "not installed"
    fgrad_version = frameworks._load("fgrad").__version__
    return {"numpy": np.__version__, "fgrad": fgrad_version, "jax": jax_version}


def markdown(
    results: Sequence[tuple[Program, list[Row], list[str]]], header_lines: Sequence[str]
) -> str:
    out = ["# fgrad loop programs", "", *[f"- {line}" for line in header_lines]]
    for program, rows, lines in results:
        header, cells = table(rows)
        out += ["", f"## {program.name}", "", program.summary, ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        out += [""] + [f"- agreement: {line}" for line in lines]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point. Exit status 1 if any row failed a check or raised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few samples (smoke test)"
    )
    parser.add_argument("--only", action="append", choices=sorted(PROGRAMS), metavar="NAME")
    parser.add_argument("--framework", action="append", metavar="SUBSTR")
    parser.add_argument("--repeat", type=int, help="steady-state calls per row (default 5)")
    parser.add_argument(
        "--first-repeat", type=int, default=1, help="first calls per jit row, each a fresh jit"
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="keep glibc's adaptive malloc thresholds (see harness.tune_allocator)",
    )
    parser.add_argument(
        "--fuse",
        choices=("auto", "force", "off"),
        help="fgrad's fgrad_fuse flag for the run (force: jit's loop kernels from the first "
        "call, which then includes compiling them unless the disk cache has them)",
    )
    args = parser.parse_args(argv)
    if args.fuse:
        frameworks._load("fgrad").config.update("fgrad_fuse", args.fuse)
    repeat = args.repeat or (2 if args.quick else 5)

    header_lines = [
        "allocator: system default (--system-malloc)" if args.system_malloc else tune_allocator(),
        f"machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        "libraries: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"sizes: {'quick' if args.quick else 'full'}; first call: one call on a fresh jit "
        f"object (median of {args.first_repeat}); steady state: median of {repeat} calls",
        f"fgrad_fuse: {args.fuse or 'default (auto)'}",
    ]
    print("\n".join(header_lines))
    results = []
    for name in args.only or PROGRAMS:
        program = PROGRAMS[name](args.quick)
        rows, lines = run_program(program, args.framework, repeat, max(1, args.first_repeat))
        print_table(rows, lines)
        results.append((program, rows, lines))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(markdown(results, header_lines))
        print(f"\nwrote {args.markdown}")
    failures = [
        f"{p.name}/{r.label}"
        for p, rows, _ in results
        for r in rows
        if r.status in ("FAILED", "error")
    ]
    if failures:
        print(f"\n{len(failures)} failure(s): {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
