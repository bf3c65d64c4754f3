"""``jit``'s second tier: clusters of elementwise equations run as fused numba kernels.

The replay (:mod:`fgrad.transforms.codegen`) calls one NumPy function per equation, so
a program of many small operations costs NumPy's per-call floor (about half a
microsecond) per equation and an array per intermediate. Here the optimised jaxpr is
partitioned into clusters, each computed by one kernel
(:mod:`fgrad.transforms.numba_lowering`): one loop over the cluster's shape, all its
intermediates in registers.

**Partition.** First, equations made of elementwise parts (``tie_weights``) are rewritten
into those parts (:mod:`fgrad.transforms.fusible_forms`), so they can join clusters.
One pass in program order keeps up to :data:`MAX_OPEN` open clusters, none
reading another's values. An equation a kernel can compute (``numba_lowering.kind``:
elementwise arithmetic, transcendental functions, comparisons, ``select``, float/bool
conversions, and sums, maxima and minima over axes) joins the cluster whose values it
reads, else the oldest one, when its shape broadcasts to the cluster's or the cluster's
to its; a cluster whose reduction it reads (a value that exists only after the loop), or
whose values it reads without joining it, is closed first; where none admits it, a new
one is opened. So the work on one shape interleaved with work on others (an optimiser
updating each parameter in turn) is one kernel. Any other equation (``dot_general``,
indexing, linalg, integer arithmetic, ...) stays a NumPy call; it closes the open clusters
whose values it reads, so a chain of elementwise work interrupted by an independent
matrix product is still one kernel, emitted after the product. A cluster becomes a kernel
only where a rough cost model says one kernel call beats its NumPy calls (at least two
equations; NumPy's SIMD transcendental functions beat numba's scalar ones on large
arrays). Each cluster becomes one equation of a multi-output pseudo-primitive,
:class:`FusedKernel`, so the same code generator writes the fused replay.

**When.** ``fgrad.config.update("fgrad_fuse", ...)``: ``"auto"`` (the default) runs the
NumPy replay for the first :data:`CALLS_BEFORE_FUSING` calls of a program, then runs the
fused replay; ``"force"`` fuses at the first call; ``"off"`` never. Without numba
installed, ``"auto"`` is ``"off"``: ``jit`` is exactly the NumPy replay. A kernel that
fails to compile leaves that program on the NumPy replay, with a warning. Kernels read
NumPy arrays: a program that computes on another backend (:func:`on_numpy`) keeps its
replay.

**When kernels compile.** Under ``"auto"`` the switching call (call
``CALLS_BEFORE_FUSING + 1``) compiles the kernels, or loads them from the disk cache
(``fgrad_fuse_compile="sync"``, the default). With ``"background"``, at call
:data:`COMPILE_FROM_CALL` a program builds its fused replay and runs it once with each
kernel computed by NumPy (its result is dropped), which records the types of every
kernel's arguments; a subprocess (:mod:`fgrad.transforms.kernel_worker`) then compiles
the kernels into the disk cache while the calls go on on the NumPy replay, and the
switching call loads them (waiting for what is left), so two runs of a script still
compute the same bits. Kernels already in the cache are not compiled again. ``"async"``
switches instead at the first call after the compile ended, so no call waits, but which
call that is (so the last bits of the results) varies between runs. A worker
that fails keeps the program on NumPy, with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from fgrad.core import backend
from fgrad.core.config import flags
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Literal, Var
from fgrad.core.optional import installed
from fgrad.core.pytree import tree_leaves
from fgrad.transforms.codegen import Replay
from fgrad.transforms.fused_blocks import join_blocks
from fgrad.transforms.fusible_forms import expand
from fgrad.transforms.fusion_loops import FusedLoop, fused_loop
from fgrad.transforms.kernel_worker import CompileJob, describe, pump, submit
from fgrad.transforms.make_jaxpr import make_jaxpr
from fgrad.transforms.numba_lowering import compile_kernel, is_cached, kernel_source, kind
from fgrad.transforms.optimize import optimize

#: calls of a program on the NumPy replay before ``"auto"`` switches to its kernels
CALLS_BEFORE_FUSING = 8
#: the call at which ``"auto"`` starts compiling a program's kernels in the background
COMPILE_FROM_CALL = 2
#: the most clusters the partition keeps open at once (of different loop shapes)
MAX_OPEN = 8


def program(
    closed: ClosedJaxpr, name: str = "replay", n_fresh: int | None = None
) -> Replay | TieredProgram:
    """What ``jit`` runs for ``closed``: the NumPy replay, or with fusion on (see the module
    docstring) a :class:`TieredProgram` that moves to fused kernels. ``n_fresh`` is
    :class:`~fgrad.transforms.codegen.Replay`'s."""
    replay = Replay(closed, name, n_fresh)
    if flags.fuse == "off" or not installed("numba"):
        return replay
    return TieredProgram(replay, name, n_fresh)


#: the values a kernel takes (numba reads NumPy arrays and scalars, and Python numbers)
_NUMPY_VALUES = (np.ndarray, np.generic, bool, int, float, complex)


def on_numpy(values: list) -> bool:
    """Whether a program run on ``values`` computes with NumPy, so its kernels can run: all
    are NumPy arrays or scalars or Python numbers, and the default device (where arrays
    made from Python numbers go) is the CPU. Another backend's programs (CuPy's) keep
    their NumPy replay, which calls that backend's functions."""
    return backend.default_backend() is backend.CPU and all(
        isinstance(x, _NUMPY_VALUES) for x in values
    )


class TieredProgram:
    """A program that runs its NumPy replay, then its fused replay (see the module docstring).

    Attributes
    ----------
    closed
        The optimised jaxpr (as :class:`~fgrad.transforms.codegen.Replay`'s).
    replay
        The NumPy replay.
    fused
        The fused replay, once built (None before, and for ever if no cluster or
        kernel came out of it).
    """

    __slots__ = ("closed", "replay", "fused", "name", "_n_fresh", "_calls", "_run", "_prepared")

    def __init__(self, replay: Replay, name: str, n_fresh: int | None = None):
        self.closed = replay.closed
        self.replay = replay
        self.fused: Replay | None = None
        self.name = name
        self._n_fresh = n_fresh
        self._calls = 0
        self._run: Callable = self._counting
        # the fused program and its background compile, from call COMPILE_FROM_CALL
        self._prepared: tuple[ClosedJaxpr | None, CompileJob | None] | None = None

    def __call__(self, flat: list) -> list:
        return self._run(flat)

    def _counting(self, flat: list) -> list:
        self._calls += 1
        if self._due():
            return self._switch(flat)
        out = self.replay(flat)
        if self._prepared is not None:
            pump()  # starts the next queued compile once a worker is free
        elif (
            self._calls == COMPILE_FROM_CALL
            and flags.fuse == "auto"
            and flags.fuse_compile != "sync"
            and on_numpy(flat)
        ):
            self._prepared = _prepare(self.closed, self.name, self._n_fresh, flat)
        return out

    def _due(self) -> bool:
        """Whether this call switches to the fused replay (see the module docstring)."""
        if flags.fuse != "auto":
            return flags.fuse == "force"
        job = None if self._prepared is None else self._prepared[1]
        if job is None or flags.fuse_compile != "async":
            return self._calls > CALLS_BEFORE_FUSING
        return job.poll()

    def _switch(self, flat: list) -> list:
        """Build the fused replay and run it once (loading its kernels from the cache the
        background compile filled, else compiling them); on a failure to compile, stay on
        the NumPy replay."""
        self._run = self.replay
        if not on_numpy(flat):  # another backend's program: kernels compute on NumPy only
            return self.replay(flat)
        prepared, self._prepared = self._prepared, None
        fused, job = prepared if prepared is not None else (fuse(self.closed), None)
        if fused is None:
            return self.replay(flat)
        status = "unavailable" if job is None else job.wait()
        if status not in ("done", "unavailable"):  # "unavailable": compiled here instead
            warnings.warn(
                f"jit: the fused kernels of {self.name} did not compile ({status[:300]}); "
                "it keeps running on NumPy",
                RuntimeWarning,
                stacklevel=4,
            )
            return self.replay(flat)
        replay = Replay(fused, self.name, self._n_fresh)
        try:
            out = replay(flat)
        except Exception as err:
            warnings.warn(
                f"jit: the fused kernels of {self.name} did not compile or run "
                f"({type(err).__name__}: {str(err)[:300]}); it keeps running on NumPy",
                RuntimeWarning,
                stacklevel=4,
            )
            return self.replay(flat)
        # generated again: its kernels are compiled now, and called without the method
        # that compiled them (see FusedKernel._compile)
        self.fused = Replay(fused, self.name, self._n_fresh)
        self._run = self.fused
        return out

    def as_text(self) -> str:
        """The program's source: the fused replay and each kernel's (once fused), else the
        NumPy replay and the kernels fusion would build."""
        fused = self.fused
        if fused is None:
            closed = fuse(self.closed)
            fused = None if closed is None else Replay(closed, self.name, self._n_fresh)
        if fused is None:
            return self.replay.source
        kernels = [e.prim for e in fused.closed.jaxpr.eqns if isinstance(e.prim, _KERNELS)]
        return "\n".join([fused.source] + [f"# {k.name}\n{k.source}" for k in kernels])


def lowered_text(
    fun: Callable, *args, static_argnums: int | tuple[int, ...] = (), **kwargs
) -> str:
    """What ``jit(fun)`` runs on these arguments once fused: the replay's source, then each
    kernel's (the NumPy replay alone where nothing fuses). Needs no numba.
    ``jit(fun).lower(*args).as_text()`` gives the same.

    Examples
    --------
    >>> print(lowered_text(lambda x: fnp.sum(fnp.tanh(fnp.sin(x) * 2.0)), np.ones(3)))
    """
    name = getattr(fun, "__name__", "f")
    closed = make_jaxpr(fun, static_argnums)(*args, **kwargs)
    replay = Replay(optimize(closed), name)
    static = {static_argnums} if isinstance(static_argnums, int) else set(static_argnums)
    dynamic = [a for i, a in enumerate(args) if i not in static]
    if not on_numpy(tree_leaves((dynamic, kwargs))):
        return replay.source  # what jit runs on another backend's arrays
    return TieredProgram(replay, name).as_text()


class FusedKernel:
    """The pseudo-primitive of one cluster: its kernel, called with the cluster's inputs,
    returns the cluster's outputs (arrays, and NumPy scalars for shape ``()``).

    Not a :class:`~fgrad.core.primitive.Primitive` (nothing registers or differentiates
    it): it has just what the code generator reads.
    """

    multiple_results = True
    returns_views = False
    effectful = False

    def __init__(
        self,
        name: str,
        source: str,
        outputs: list[Var],
        members: list[Equation],
        inputs: list[Var],
        consts: dict[Var, object] | None = None,
    ):
        self.name = name
        self.source = source
        self.kernel_text = source  # what compile_kernel compiles
        self._boxes = [_box(v.aval) for v in outputs]
        self._call: Callable = self._compile
        # the equations it computes, read by numpy_outputs
        self._members = (members, inputs, consts or {}, outputs)

    def impl(self, *args):
        return self._call(*args)

    def kernel_args(self, args: tuple) -> tuple:
        """The arguments its numba kernel is called with."""
        return args

    def numpy_outputs(self, *args) -> list:
        """Its outputs computed by its equations' NumPy impls (no kernel compiled)."""
        members, inputs, consts, outputs = self._members
        env = {**consts, **dict(zip(inputs, args))}
        for e in members:
            vals = [v.val if type(v) is Literal else env[v] for v in e.invars]
            if isinstance(e.prim, FusedKernel):
                outs = e.prim.numpy_outputs(*vals)
            else:
                outs = e.prim.impl(*vals, **e.params)
                outs = outs if e.prim.multiple_results else [outs]
            env.update(zip(e.outvars, outs))
        return [env[v] for v in outputs]

    def _compile(self, *args):
        self._call = _boxed(compile_kernel(self.source), self._boxes)
        self.impl = self._call  # what a replay generated from now on calls: one frame less
        return self._call(*args)

    def __repr__(self) -> str:
        return self.name


#: the pseudo-primitives of kernels (FusedLoop: the loop kernels of fusion_loops)
_KERNELS = (FusedKernel, FusedLoop)

#: a weakly typed result is a Python number, as the replay's conversion makes it
_PYTHON_NUMBER = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def _box(aval) -> Callable | None:
    """What makes a kernel's 0-d result the replay's: a NumPy scalar, or a Python number
    where it is weakly typed (Python's arithmetic on traced Python numbers)."""
    if aval.ndim:
        return None
    return _PYTHON_NUMBER[aval.dtype.kind] if aval.weak_type else np.dtype(aval.dtype).type


def _boxed(kernel: Callable, boxes: list) -> Callable:
    """``kernel`` returning NumPy scalars where it returns Python ones (as NumPy's ops do);
    specialised once, as this runs on every call."""
    if not any(boxes):
        return kernel
    if len(boxes) == 1:
        (box,) = boxes

        def one(*args):
            (out,) = kernel(*args)
            return (box(out),)

        return one

    boxed = [(k, box) for k, box in enumerate(boxes) if box is not None]

    def each(*args):
        outs = list(kernel(*args))
        for k, box in boxed:
            outs[k] = box(outs[k])
        return outs

    return each


def _prepare(
    closed: ClosedJaxpr, name: str, n_fresh: int | None, flat: list
) -> tuple[ClosedJaxpr | None, CompileJob | None]:
    """``closed`` fused, and the background job compiling its kernels (None where nothing
    fused, or the kernels' argument types could not be read: the switch compiles them)."""
    fused = fuse(closed)
    if fused is None:
        return None, None
    texts = [e.prim.kernel_text for e in fused.jaxpr.eqns if isinstance(e.prim, _KERNELS)]
    if all(is_cached(text) for text in texts) or _effectful(fused.jaxpr):
        return fused, None  # in the cache already; or a probe would repeat a print, a collective
    try:
        kernels = _probe(fused, name, n_fresh, flat)
    except Exception:  # a NumPy run the replay did not fail: leave it to the switch
        return fused, None
    kernels = [k for k in kernels if not is_cached(k[0])]
    return fused, submit(kernels) if kernels else None


def _probe(fused: ClosedJaxpr, name: str, n_fresh: int | None, flat: list) -> list:
    """Each kernel's source and the :func:`~fgrad.transforms.kernel_worker.describe` of its
    arguments, read from a run of ``fused`` on ``flat`` with each kernel computed by NumPy
    and its results made what the kernel returns (fresh C-ordered arrays, NumPy scalars)."""
    found: dict[str, tuple[str, list]] = {}
    kernels = [e for e in fused.jaxpr.eqns if isinstance(e.prim, _KERNELS)]

    def recorder(eqn: Equation) -> Callable:
        prim, outvars = eqn.prim, eqn.outvars

        def record(*args) -> list:
            specs = [describe(x) for x in prim.kernel_args(args)]
            if None not in specs:
                found.setdefault(prim.kernel_text + repr(specs), (prim.kernel_text, specs))
            outs = prim.numpy_outputs(*args)
            return [
                np.dtype(v.aval.dtype).type(x) if v.aval.ndim == 0 else np.ascontiguousarray(x)
                for x, v in zip(outs, outvars)
            ]

        return record

    for eqn in kernels:
        eqn.prim.impl = recorder(eqn)  # read by the Replay built next, and by it alone
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the replay of this call warned already
            Replay(fused, name, n_fresh)(flat)
    finally:
        for eqn in kernels:
            vars(eqn.prim).pop("impl", None)
    return list(found.values())


def _effectful(jaxpr: Jaxpr) -> bool:
    """Whether ``jaxpr``, or a body an equation of it holds, has an effectful equation."""
    for eqn in jaxpr.eqns:
        if eqn.prim.effectful:
            return True
        params = list(eqn.params.values())
        while params:
            p = params.pop()
            if isinstance(p, (list, tuple)):
                params.extend(p)
            inner = p if isinstance(p, Jaxpr) else getattr(p, "jaxpr", None)
            if isinstance(inner, Jaxpr) and _effectful(inner):
                return True
    return False


def fuse(closed: ClosedJaxpr) -> ClosedJaxpr | None:
    """``closed`` with its clusters replaced by :class:`FusedKernel` equations (see the
    module docstring), then runs of them and the products and reshapes between them by
    blocks (:mod:`fgrad.transforms.fused_blocks`); None where nothing fused, or where its
    constants are another backend's arrays (see :func:`on_numpy`)."""
    if not all(isinstance(c, _NUMPY_VALUES) for c in closed.consts):
        return None  # constants of another backend: see on_numpy
    closed = expand(closed)  # e.g. tie_weights as the elementwise equations it is made of
    jaxpr = closed.jaxpr
    consumers = jaxpr.readers()
    returned = {v for v in jaxpr.outvars if type(v) is Var}
    consts = dict(zip(jaxpr.constvars, closed.consts))
    eqns: list[Equation] = []
    # the open clusters, oldest first; none reads another's values, so each can be closed
    # (emitted) at any point
    clusters: list[_Cluster] = []
    n_kernels = 0

    def close(cluster: _Cluster) -> None:
        nonlocal n_kernels
        clusters.remove(cluster)
        if len(cluster.members) > 1 and cluster.pays_off():
            eqns.append(cluster.equation(f"fused{n_kernels}", consumers, returned, consts))
            n_kernels += 1
        else:
            eqns.extend(e for _, e in cluster.members)

    for k, eqn in enumerate(jaxpr.eqns):
        how = kind(eqn)
        reads = {v for v in eqn.invars if type(v) is Var}
        if how is None:
            for cluster in [c for c in clusters if reads & c.made]:
                close(cluster)
            loop = fused_loop(eqn, f"fused{n_kernels}")  # fusion_loops: a loop as one kernel
            n_kernels += loop is not None
            eqns.append(eqn if loop is None else loop)
            continue
        for cluster in [c for c in clusters if reads & c.late]:
            close(cluster)
        read = [c for c in clusters if reads & c.made]
        target = next((c for c in read + clusters if c.admits(eqn, how)), None)
        for cluster in read:
            if cluster is not target:
                close(cluster)
        if target is None:
            if len(clusters) == MAX_OPEN:
                close(clusters[0])
            target = _Cluster()
            clusters.append(target)
        target.add(k, eqn, how)
    while clusters:
        close(clusters[0])
    fused = Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)
    fused = ClosedJaxpr(fused, closed.consts, closed.in_tree, closed.out_tree)
    blocked = join_blocks(fused, FusedKernel)  # products and reshapes join the kernels
    return blocked if blocked is not None else (fused if n_kernels else None)


# A rough cost model, in nanoseconds, from timing both on this project's 2-core x86 machine:
# a NumPy call costs about 0.6 us plus, per element, ~1 ns (~2 ns for a transcendental
# function, which NumPy runs in SIMD); a kernel call ~1.5 us plus 0.1 us per argument, and
# per element and equation ~0.3 ns, but ~12 ns for a transcendental function (numba calls
# the C library's scalar routine). So long chains on small arrays and arithmetic on any
# size fuse; a lone tanh of a large batch stays NumPy's.
_NUMPY_CALL_NS = 600.0
_NUMPY_OP_NS = 1.0
_NUMPY_LIBM_NS = 2.0
_KERNEL_CALL_NS = 1500.0
_KERNEL_ARG_NS = 100.0
_KERNEL_OP_NS = 0.3
_KERNEL_LIBM_NS = 12.0
_LIBM = frozenset(
    "exp log log1p expm1 sin cos tan tanh arcsin arccos arctan sinh cosh arcsinh arccosh "
    "arctanh arctan2 hypot pow".split()
)


class _Cluster:
    """The open cluster of :func:`fuse`: its equations, loop shape, and values."""

    def __init__(self) -> None:
        self.members: list[tuple[int, Equation]] = []
        self.loop: tuple[int, ...] = ()
        self.locked = False  # a reduction fixes the loop shape
        self.made: set[Var] = set()
        self.late: set[Var] = set()  # reductions' results: known only after the loop

    def admits(self, eqn: Equation, how: str) -> bool:
        if not self.members:
            return True
        shape = eqn.invars[0].aval.shape if how == "reduce" else eqn.outvars[0].aval.shape
        joint = _broadcast(self.loop, shape)
        if joint is None or joint not in (self.loop, shape):
            return False
        if how == "reduce":
            return shape == joint and (not self.locked or joint == self.loop)
        return not self.locked or joint == self.loop

    def add(self, k: int, eqn: Equation, how: str) -> None:
        shape = eqn.invars[0].aval.shape if how == "reduce" else eqn.outvars[0].aval.shape
        self.loop = _broadcast(self.loop, shape) if self.members else shape
        self.members.append((k, eqn))
        if how == "reduce":
            self.locked = True
            self.late.update(eqn.outvars)
        self.made.update(eqn.outvars)

    def pays_off(self) -> bool:
        """Whether one kernel call is estimated faster than the members' NumPy calls (see
        the constants above :class:`_Cluster`)."""
        n_loop = math.prod(self.loop)
        inputs = {v for _, e in self.members for v in e.invars if type(v) is Var} - self.made
        kernel_ns = _KERNEL_CALL_NS + _KERNEL_ARG_NS * len(inputs)
        numpy_ns = 0.0
        for _, e in self.members:
            slow = e.prim.name in _LIBM
            size = math.prod(e.outvars[0].aval.shape)
            scalar = all(type(v) is not Var or v.aval.ndim == 0 for v in e.invars)
            numpy_ns += _NUMPY_CALL_NS + size * (_NUMPY_LIBM_NS if slow else _NUMPY_OP_NS)
            per = _KERNEL_LIBM_NS if slow else _KERNEL_OP_NS
            kernel_ns += per * (1 if scalar else n_loop)
        return kernel_ns < numpy_ns

    def equation(
        self,
        name: str,
        consumers: dict[Var, set[int]],
        returned: set[Var],
        consts: dict[Var, object],
    ) -> Equation:
        indices = {k for k, _ in self.members}
        members = [e for _, e in self.members]
        inputs: list[Var] = []
        scalars: dict[Var, object] = {}
        for e in members:
            for v in e.invars:
                if type(v) is not Var or v in self.made:
                    continue
                if v in consts and _inlinable(consts[v]):
                    scalars[v] = np.asarray(consts[v]).flat[0]
                elif v not in inputs:
                    inputs.append(v)
        outputs = [
            v
            for e in members
            for v in e.outvars
            if v in returned or consumers.get(v, set()) - indices
        ]
        source = kernel_source(members, inputs, outputs, self.loop, scalars)
        kernel = FusedKernel(name, source, outputs, members, inputs, scalars)
        return Equation(kernel, list(inputs), outputs, {})


def _inlinable(value) -> bool:
    """Whether a constant (a NumPy value: see :func:`fuse`) is a float or bool scalar, or an
    array of one value (a gradient's ``broadcast_to`` of a constant, strided or folded into
    a filled array; equal bits, so ``-0.0`` and ``0.0`` differ), written into a kernel's
    source as that scalar instead of read from memory at every element."""
    array = np.asarray(value)
    if array.dtype.kind not in "fb" or array.size == 0 or array.dtype.itemsize not in _BITS:
        return False
    if all(s == 0 for s in array.strides):
        return True
    bits = array.reshape(-1).view(_BITS[array.dtype.itemsize])
    return bool(np.all(bits == bits[0]))


#: unsigned integers of a float's or bool's size, to compare values bit for bit
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None
