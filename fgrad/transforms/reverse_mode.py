"""Reverse mode: ``vjp``, ``grad`` and ``value_and_grad``, run eagerly on a tape.

Under ``vjp`` the function runs once with :class:`GradTracer` values. Each one
holds its concrete value, so Python control flow, ``float(x)`` and ``print``
work inside the function, and an index into the trace's *tape*. Each primitive
applied to them appends one entry to the tape, ``(prim, params, vals, links,
idx, ans)``: the primitive, its static parameters, its input values, which
inputs are tracers of this trace (``links``: pairs of argument position and tape
index), the index of its result and the result itself. The tape is the jaxpr of
this call, with the values the backward pass needs.

Only those values: a vjp rule declares which values it reads (``reads`` in
:func:`defvjp`), and the tape keeps the inputs the rules of the traced arguments
read, and the result only if one of them reads it. The other inputs become
:class:`~fgrad.core.abstract.ShapedArray` placeholders (rules still see their
shapes and dtypes) and the result ``None``, so a chain of operations on a large
array does not hold every intermediate until the backward pass. Arrays up to
``SMALL_VALUE_BYTES`` are kept all the same, and a tape starts dropping only at
its first larger result: for small arrays a placeholder would cost more time
than the array costs memory.

:func:`backward_pass` walks the tape in reverse, applies each primitive's vjp
rule to the cotangent of its result, and accumulates cotangents of values used
more than once with ``+``. The rules bind primitives themselves, so when an outer
transform is active it records the backward pass too: that is all higher-order
differentiation needs. Entries are tuples rather than objects because recording
one is the per-operation cost every user pays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import PYTHON_SCALARS, ShapedArray, array_aval, get_aval, is_floating
from fgrad.core.config import flags
from fgrad.core.errors import DtypeError, TransformError
from fgrad.core.nan_check import check_finite, derivative_error, nonfinite_kind
from fgrad.core.primitive import Primitive, bind, explain_failure
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.rules import grad_call_rules, single_plans, tape_plan, vjp_rules
from fgrad.core.source_info import api_boundary, user_source
from fgrad.core.trace_stack import Trace, new_trace
from fgrad.core.tracer import Tracer
from fgrad.primitives.elementwise import real
from fgrad.transforms.argnums import replace_at, split_args


class GradTracer(Tracer):
    """A value recorded on a reverse-mode tape: its concrete value and tape index."""

    __slots__ = ("val", "idx")

    def __init__(self, trace: GradTrace, val, idx: int):
        self._trace = trace
        self.val = val
        self.idx = idx

    @property
    def aval(self) -> ShapedArray:
        return get_aval(self.val)

    @property
    def shape(self) -> tuple[int, ...]:
        try:
            return self.val.shape
        except AttributeError:  # a Python number (weakly typed)
            return ()

    @property
    def dtype(self):
        try:
            return self.val.dtype
        except AttributeError:
            return get_aval(self.val).dtype

    def value_below(self):
        return self.val

    def concrete_value(self):
        v = self.val
        return v.concrete_value() if isinstance(v, Tracer) else v

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}> under {self._trace.name}, value={self.val!r}"

    __str__ = __repr__


class GradTrace(Trace):
    """Records primitives applied to its tracers on a tape, computing values eagerly."""

    __slots__ = ("tape", "count", "dropping", "closures", "sources")
    name = "grad/vjp"
    call_rules = grad_call_rules

    def __init__(self) -> None:
        super().__init__()
        self.tape: list[tuple] = []
        self.count = 0
        self.dropping = False  # whether the tape keeps only what the rules read
        # whether an entry's rule is a closure (see record_custom), which may return an
        # array from outside the backward pass, an input among them
        self.closures = False
        # the user's line of each entry, by tape index: recorded only while
        # jax_debug_nans/infs is on, for the backward pass's error (nan_check)
        self.sources: dict = {}

    def unwrap(self, flat: list) -> tuple[list, list]:
        """The values of ``flat`` one level down, and ``links`` for the tape: pairs of a
        position in ``flat`` holding one of this trace's tracers and its tape index."""
        vals, links = [], []
        for i, x in enumerate(flat):
            if x.__class__ is GradTracer and x._trace is self:
                links.append((i, x.idx))
                x = x.val
            vals.append(x)
        return vals, links

    def new_input(self, val) -> GradTracer:
        idx = self.count
        self.count = idx + 1
        return GradTracer(self, val, idx)

    def process(self, prim: Primitive, args: tuple, params: dict):
        vals = list(args)
        links = []
        nested = False  # does any value belong to an enclosing transform?
        weak = False  # is a traced value a Python number (see below)?
        for i, x in enumerate(args):
            if isinstance(x, Tracer):
                if x._trace is self:
                    links.append((i, x.idx))
                    x = vals[i] = x.val
                    weak = weak or x.__class__ in PYTHON_SCALARS
                nested = nested or isinstance(x, Tracer)
        if nested:
            ans = bind(prim, *vals, **params)
            if flags.debug_nans or flags.debug_infs:
                self.sources[self.count] = user_source()
        else:  # ``evaluate``, inlined: this is the cost of every recorded operation
            try:
                ans = prim.impl(*vals, **params)
            except Exception as err:
                explain_failure(prim, vals, params, err)
                raise
            if flags.debug_nans or flags.debug_infs:
                check_finite(prim, vals, ans)
                self.sources[self.count] = user_source()
        if not prim.differentiable:
            return ans
        if weak:  # the impl saw the Python number (NEP 50); the rules see a 0-d array
            for i, _ in links:
                if vals[i].__class__ in PYTHON_SCALARS:
                    vals[i] = backend.asarray(vals[i])
        idx = self.count
        self.count = idx + 1
        if nested or not self.dropping:  # see SMALL_VALUE_BYTES
            try:
                keep_all = nested or ans.nbytes <= SMALL_VALUE_BYTES
            except AttributeError:  # an impl returning a Python scalar
                keep_all = True
            if keep_all:
                self.tape.append((prim, params, vals, links, idx, ans))
                return GradTracer(self, ans, idx)
            self.dropping = True
        single = single_plans.get(prim)
        if single is None:
            self.tape.append((prim, params, vals, links, idx, ans))
            return GradTracer(self, ans, idx)
        if len(links) == 1:
            try:
                drops, keep_ans = single[links[0][0]]
            except IndexError:  # a variadic rule
                drops, keep_ans = tape_plan(prim, links, len(vals))
        else:
            drops, keep_ans = tape_plan(prim, links, len(vals))
        for i in drops:
            v = vals[i]
            if v.__class__ is _ndarray:
                if v.nbytes > SMALL_VALUE_BYTES:
                    vals[i] = array_aval(v)
            elif v.__class__ not in _SCALAR_TYPES:
                vals[i] = _placeholder(v)
        self.tape.append((prim, params, vals, links, idx, ans if keep_ans else None))
        return GradTracer(self, ans, idx)


#: Values up to this size stay on the tape even where no rule reads them: a placeholder
#: costs more time than they cost memory. A tape keeps every value until the first
#: result larger than this (so that small-array programs pay nothing for the
#: declarations), and only what the rules read from then on. Tapes of nested
#: transforms (values that are tracers of an enclosing one) keep every value.
SMALL_VALUE_BYTES = 4096

_ndarray = np.ndarray
_SCALAR_TYPES = frozenset(PYTHON_SCALARS) | {np.float64, np.float32, np.complex128}


def _placeholder(x):
    """What the tape keeps of a value no rule reads: its shape and dtype (see ``process``)."""
    return x if isinstance(x, (np.generic, *PYTHON_SCALARS)) else get_aval(x)


class _CustomCall:
    """Tape entries whose backward rule is a closure: custom_jvp, custom_vjp, checkpoint.

    Not a primitive (it is never bound); it only keys their vjp rule.
    """

    name = "custom_call"

    def __repr__(self) -> str:
        return self.name


custom_call = _CustomCall()


def _custom_call_vjp(ct, ans, vals, wanted, bwd):
    cts = bwd(ct)
    return [cts[i] for i in wanted]


vjp_rules[custom_call] = _custom_call_vjp


def record_custom(trace: GradTrace, vals: list, links: list, ans, bwd: Callable) -> GradTracer:
    """Put ``ans`` on ``trace``'s tape with backward rule ``bwd(ct) -> cotangent per value``.

    ``links`` pairs positions in ``vals`` with the tape indices of the traced
    inputs, as in :meth:`GradTrace.process`.
    """
    idx = trace.count
    trace.count = idx + 1
    trace.closures = True
    if flags.debug_nans or flags.debug_infs:
        trace.sources[idx] = user_source()
    if getattr(ans, "nbytes", 0) > SMALL_VALUE_BYTES:  # as process does at its first large
        trace.dropping = True  # result: later entries keep only what their rules read
    # ``bwd`` holds what it needs; the backward pass only asks the inputs' dtypes
    shapes = [_placeholder(v) for v in vals]
    trace.tape.append((custom_call, {"bwd": bwd}, shapes, links, idx, None))
    return GradTracer(trace, ans, idx)


class Cotangents:
    """The cotangents that reached some outputs of one joint tape entry, by output
    position; the tape sums two of them (one per use of an output) with ``+``."""

    __slots__ = ("by_output",)

    def __init__(self, by_output: dict):
        self.by_output = by_output

    def __add__(self, other: Cotangents) -> Cotangents:
        merged = dict(self.by_output)
        for k, ct in other.by_output.items():
            merged[k] = ct if k not in merged else merged[k] + ct
        return Cotangents(merged)


def record_joint(trace: GradTrace, vals: list, links: list, outs: list, bwd: Callable) -> list:
    """Put the floating-point ``outs`` of one call on ``trace``'s tape with ONE backward
    rule for all of them, ``bwd({output position: cotangent}) -> cotangent per value``
    (``None`` for zero).

    ``bwd`` runs once per backward pass and sees the cotangents of exactly the outputs
    the pass reached; the others are symbolic zeros, never materialised, so an infinite
    derivative towards an unused output cannot meet a zero (``0 * inf``), and a call with
    k used outputs is pulled back once, not k times. A hidden entry collects the outputs'
    cotangents (each output's entry passes its own on as :class:`Cotangents`; being
    recorded first, the hidden entry is reached last); a lone floating-point output
    needs none and is recorded directly. Outputs that are not floating point have no
    derivative and stay plain values, as for non-differentiable primitives. ``links``
    pairs positions in ``vals`` with tape indices, as in
    :meth:`~fgrad.transforms.reverse_mode.GradTrace.process`.
    """
    floats = [k for k, o in enumerate(outs) if get_aval(o).dtype.kind in "fc"]
    if len(floats) <= 1:  # the common case needs no hidden entry
        outs = list(outs)
        for k in floats:
            outs[k] = record_custom(trace, vals, links, outs[k], lambda ct, k=k: bwd({k: ct}))
        return outs

    def joint_bwd(ct: Cotangents) -> list:
        cts = bwd(ct.by_output)
        return [c if c is None else _real_if_input_real(c, v) for c, v in zip(cts, vals)]

    joint = record_custom(trace, vals, links, None, joint_bwd)
    return [
        record_custom(trace, [None], [(0, joint.idx)], o, functools.partial(_to_joint, k))
        if k in floats
        else o
        for k, o in enumerate(outs)
    ]


def pull_back_reached(call: Callable, vals: list, traced: list[int], cts: dict) -> list:
    """The cotangents of ``vals`` (``None`` where not in ``traced``) given ``cts``, those of
    some outputs of ``call(vals) -> list``: the vjp of just those outputs, at ``vals``, in
    ``vals[traced]``. The backward rule of a joint entry that runs its function again
    (``checkpoint``, a staged loop in a linear jaxpr); the other outputs are symbolic
    zeros, never met."""
    reached = sorted(cts)

    def reached_outputs(*xs):
        outs = call(replace_at(vals, traced, xs))
        return [outs[k] for k in reached]

    _, pullback = vjp(reached_outputs, *[vals[p] for p in traced])
    return replace_at([None] * len(vals), traced, list(pullback([cts[k] for k in reached])))


def _to_joint(k: int, ct) -> list:
    return [Cotangents({k: ct})]


def backward_pass(
    tape: list[tuple], cts: dict[int, object], sources: dict | None = None
) -> dict[int, object]:
    """Propagate cotangents from tape results back to tape inputs.

    ``cts`` maps tape indices of outputs to their cotangents; it is updated in
    place and returned holding the cotangents of the inputs (and of any value
    no recorded primitive produced). ``sources`` maps tape indices to the user's
    lines (:attr:`GradTrace.sources`), named when ``jax_debug_nans``/``infs`` finds a
    NaN (inf) in a cotangent a rule returned.
    """
    checking = flags.debug_nans or flags.debug_infs
    c = None
    try:
        for prim, params, vals, links, idx, ans in reversed(tape):
            ct = cts.pop(idx, None)
            if ct is None:
                continue
            rules = vjp_rules.get(prim)
            if rules is None:
                raise NotImplementedError(
                    f"primitive `{prim.name}` has no reverse-mode (vjp) rule"
                )
            complex_ct = getattr(ct, "dtype", None) in _COMPLEX_DTYPES
            if type(rules) is tuple:
                for i, j in links:
                    try:
                        rule = rules[i]
                    except IndexError:  # index arrays have no rules
                        continue
                    if rule is None:
                        continue
                    c = rule(ct, ans, *vals, **params)
                    if complex_ct:
                        c = _real_if_input_real(c, vals[i])
                    if checking and nonfinite_kind(c) is not None:
                        raise derivative_error(
                            prim, vals, ans, ct, c, (sources or {}).get(idx)
                        )
                    prev = cts.get(j)
                    cts[j] = c if prev is None else prev + c
            else:
                wanted = [i for i, _ in links]
                for (i, j), c in zip(links, rules(ct, ans, vals, wanted, **params)):
                    if c is not None:
                        if complex_ct:
                            c = _real_if_input_real(c, vals[i])
                        if checking and nonfinite_kind(c) is not None:
                            raise derivative_error(
                                prim, vals, ans, ct, c, (sources or {}).get(idx)
                            )
                        prev = cts.get(j)
                        cts[j] = c if prev is None else prev + c
    except FloatingPointError as err:
        # a primitive inside a rule found it (the rule bound it on tracers of an
        # outer transform): name the forward equation whose rule that was
        if not checking or str(err).startswith("the derivative of"):
            raise
        raise derivative_error(
            prim, vals, ans, ct, None, (sources or {}).get(idx), cause=err
        ) from err
    return cts


_COMPLEX_DTYPES = frozenset(np.dtype(t) for t in (np.complex64, np.complex128, np.clongdouble))


def _is_complex(x) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and dtype.kind == "c"


def _real_if_input_real(ct, x):
    """A real input's cotangent is the real part of a complex one (JAX's convention)."""
    if _is_complex(ct) and not _is_complex(x):
        return real(ct)
    return ct


# -- user-facing transforms ---------------------------------------------------


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """Evaluate ``fun(*primals)`` and return its vector-Jacobian product function.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.
    *primals
        Points at which to evaluate ``fun``; pytrees of floating-point arrays.
    has_aux
        If true, ``fun`` returns ``(out, aux)`` and ``aux`` is returned as a third
        value, not differentiated.

    Returns
    -------
    out, pullback[, aux]
        ``out`` is ``fun(*primals)``. ``pullback(ct)`` takes a cotangent with the
        structure, shapes and dtypes of ``out`` and returns a tuple with one
        cotangent per primal, each shaped like it. It may be called many times.

    Examples
    --------
    >>> out, pullback = fgrad.vjp(fnp.sin, 0.5)
    >>> pullback(1.0)        # (cos(0.5),)
    """
    return _vjp(fun, primals, has_aux, "vjp")


def vjp_on(trace: GradTrace, fun: Callable, *primals):
    """``vjp(fun, *primals)`` recorded on ``trace``, a fresh :class:`GradTrace` (or a
    subclass): for tools that read the tape afterwards (``fgrad.explain``)."""
    return _vjp(fun, primals, False, "vjp", trace)


def _vjp(fun: Callable, primals: tuple, has_aux: bool, transform: str, trace=None):
    """``vjp``, naming ``transform`` (the function the user called) in its errors."""
    flat, in_tree = tree_flatten(primals)
    flat = [differentiable_input(x, transform) for x in flat]
    trace = GradTrace() if trace is None else trace
    with backend.default_device_of(flat), new_trace(trace):
        inputs = [trace.new_input(x) for x in flat]
        out = fun(*tree_unflatten(in_tree, inputs))
        if has_aux:
            out, aux = split_aux(out, transform)
            aux = tree_map(functools.partial(_unwrap, trace), aux)
        out_flat, out_tree = tree_flatten(out)
        out_ids = [_own_idx(trace, x) for x in out_flat]
        out_vals = [_unwrap(trace, x) for x in out_flat]
    in_ids = [t.idx for t in inputs]
    out_avals = [get_aval(v) for v in out_vals]

    @api_boundary
    def pullback(ct):
        ct_flat, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise TransformError(
                f"vjp pullback: the cotangent must have the structure of the function's "
                f"output, {out_tree}, but got {ct_tree}"
            )
        cts: dict[int, object] = {}
        for j, c, aval, like in zip(out_ids, ct_flat, out_avals, out_vals):
            c = _check_cotangent(c, aval, like)
            if j is not None:
                prev = cts.get(j)
                cts[j] = c if prev is None else prev + c
        cts = backward_pass(trace.tape, cts, trace.sources)
        grads = [_input_cotangent(cts.get(i), x) for i, x in zip(in_ids, flat)]
        # the primitives' rules return arrays made from the cotangents given: only a
        # closure's can be an input
        others = flat + ct_flat if trace.closures else ct_flat
        return tree_unflatten(in_tree, unaliased(grads, others))

    out = tree_unflatten(out_tree, out_vals)
    return (out, pullback, aux) if has_aux else (out, pullback)


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Return a function computing ``fun``'s value and its gradient.

    Parameters
    ----------
    fun
        Function with a real scalar output, written with ``fgrad.numpy``.
    argnums
        Which positional argument(s) to differentiate with respect to: an int,
        or a tuple of ints (the gradient is then a tuple).
    has_aux
        If true, ``fun`` returns ``(value, aux)``; the result is then
        ``((value, aux), grad)``.
    holomorphic
        If true, ``fun`` is a holomorphic function of complex inputs with a
        complex scalar output, and the result is its complex derivative ``f'(z)``.

    Returns
    -------
    Callable
        ``f(*args, **kwargs) -> (value, grad)``, where ``grad`` has the pytree
        structure, shapes and dtypes of the differentiated argument(s).
    """

    @api_boundary
    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):
        dyn, rebuild = split_args(args, argnums, "grad")

        def f_dyn(*dyn_args):
            return fun(*rebuild(dyn_args), **kwargs)

        if holomorphic:
            _check_holomorphic_inputs(dyn)
        res = _vjp(f_dyn, dyn, has_aux, "grad")
        out, pullback = res[0], res[1]
        aval = _check_scalar_output(out, fun, holomorphic, has_aux)
        grads = pullback(backend.ones(aval.shape, aval.dtype, like=out))
        if isinstance(argnums, int):
            grads = grads[0]
        return ((out, res[2]), grads) if has_aux else (out, grads)

    return value_and_grad_f


def grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Return a function computing the gradient of scalar-valued ``fun``.

    Parameters
    ----------
    fun
        Function with a real scalar output, written with ``fgrad.numpy``.
    argnums
        Which positional argument(s) to differentiate with respect to: an int,
        or a tuple of ints (the gradient is then a tuple).
    has_aux
        If true, ``fun`` returns ``(value, aux)`` and the result is ``(grad, aux)``.
    holomorphic
        If true, ``fun`` is holomorphic in its complex inputs with a complex scalar
        output, and the result is the complex derivative: ``grad(fnp.sin,
        holomorphic=True)(z) == fnp.cos(z)``.

    Returns
    -------
    Callable
        ``f(*args, **kwargs) -> grad`` with the pytree structure, shapes and
        dtypes of the differentiated argument(s).

    Examples
    --------
    >>> fgrad.grad(fnp.sin)(0.0)
    1.0
    >>> fgrad.grad(fgrad.grad(fnp.sin))(0.0)      # derivatives nest to any order
    -0.0
    """
    value_and_grad_f = value_and_grad(fun, argnums, has_aux, holomorphic)

    @api_boundary
    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        (out, grads) = value_and_grad_f(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return grad_f


# -- helpers ------------------------------------------------------------------


def _own_idx(trace: GradTrace, x) -> int | None:
    return x.idx if x.__class__ is GradTracer and x._trace is trace else None


def _unwrap(trace: GradTrace, x):
    return x.val if x.__class__ is GradTracer and x._trace is trace else x


def split_aux(out, transform: str):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TransformError(
            f"{transform} with has_aux=True expects the function to return a pair "
            f"(output, aux), but it returned {_describe_output(out)}"
        )
    return out[0], out[1]


def _describe_output(out) -> str:
    if isinstance(out, Tracer):
        return f"a single array ({out.aval.str_short()})"
    return type(out).__name__


def differentiable_input(x, transform: str):
    """Check that ``x`` can be differentiated: a floating-point array, scalar or tracer.
    A Python number stays one (weakly typed, as untransformed: NEP 50)."""
    if type(x) in PYTHON_SCALARS:
        dtype = get_aval(x).dtype
        if dtype.kind != "c" and not is_floating(dtype):
            raise DtypeError(_not_float(transform, dtype, ()))
        return x
    if not isinstance(x, Tracer) and not hasattr(x, "dtype"):
        x = np.asarray(x)
    dtype = np.dtype(x.dtype)
    if dtype.kind != "c" and not is_floating(dtype):
        raise DtypeError(_not_float(transform, dtype, tuple(x.shape)))
    return x


def _not_float(transform: str, dtype: np.dtype, shape: tuple) -> str:
    return (
        f"{transform} can only differentiate with respect to floating-point inputs, "
        f"but got an input of dtype {dtype.name} (shape {shape}). Pass floats "
        "instead, e.g. `3.0` rather than `3`, or `x.astype(float)`; to leave an integer "
        "argument undifferentiated, exclude it with `argnums`."
    )


def _check_holomorphic_inputs(dyn: tuple) -> None:
    for x in tree_flatten(dyn)[0]:
        dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
        if dtype.kind != "c":
            raise DtypeError(
                "grad(..., holomorphic=True) needs complex inputs, got an input of dtype "
                f"{dtype.name}; convert it with x.astype(complex)"
            )


def _check_scalar_output(
    out, fun: Callable, holomorphic: bool = False, has_aux: bool = False
) -> ShapedArray:
    """The output's aval, if it is one real number (complex with ``holomorphic``).

    Any shape holding a single element is accepted (``(1,)``, ``(1, 1)``), as in
    HIPS autograd: the gradient is that of its one entry.
    """
    name = getattr(fun, "__name__", "the function")
    if isinstance(out, (tuple, list)) and not has_aux:
        parts = ", ".join(_short(x) for x in out)
        raise TransformError(
            f"grad requires a function with a real scalar output, but {name} returned a "
            f"{type(out).__name__} of {len(out)} ({parts}). If the first is the value to "
            "differentiate and the rest are extra outputs, pass has_aux=True: "
            "fgrad.grad(f, has_aux=True)(x) returns (gradient, aux) and "
            "fgrad.value_and_grad(f, has_aux=True)(x) returns ((value, aux), gradient). "
            "To differentiate all of them, use fgrad.vjp(f, x) (a vector-Jacobian product)."
        )
    try:
        aval = get_aval(out)
    except Exception:  # noqa: BLE001
        aval = None
    if aval is not None and aval.size == 1 and aval.dtype.kind == "c" and not holomorphic:
        raise TransformError(
            f"grad requires a real scalar output, but {name} returned the complex "
            f"{aval.str_short()}. For a holomorphic function use "
            "fgrad.grad(f, holomorphic=True); otherwise differentiate a real quantity "
            "such as fgrad.numpy.abs(out) ** 2 or fgrad.numpy.real(out)."
        )
    kind_ok = aval is not None and (
        aval.dtype.kind == "c" if holomorphic else is_floating(aval.dtype)
    )
    if not kind_ok or aval.size != 1:
        got = aval.str_short() if aval is not None else type(out).__name__
        raise TransformError(
            f"grad requires a function with a real scalar output, but {name} returned "
            f"{got}. For non-scalar outputs use fgrad.vjp(f, x) and call the pullback "
            "with a cotangent of the output's shape (a vector-Jacobian product), or "
            "reduce the output to a scalar first (e.g. fgrad.numpy.sum)."
            + (
                " For integer outputs, compute in floating point."
                if aval and aval.shape == ()
                else ""
            )
        )
    return aval


def _short(x) -> str:
    """``f64[3]`` for an array, the type's name for anything else (an error's summary)."""
    if isinstance(x, Tracer) or hasattr(x, "dtype") or type(x) in PYTHON_SCALARS:
        return get_aval(x).str_short()
    return type(x).__name__


def _check_cotangent(ct, aval: ShapedArray, like):
    if not isinstance(ct, Tracer) and not hasattr(ct, "dtype"):
        ct = backend.asarray(ct, dtype=aval.dtype, like=like)
    if tuple(ct.shape) != aval.shape:
        raise TransformError(
            f"vjp pullback: the cotangent must have the output's shape {aval.shape}, "
            f"got shape {tuple(ct.shape)}"
        )
    if aval.dtype.kind == "c" and ct.dtype.kind != "c":  # a real cotangent of a complex output
        ct = ct.astype(aval.dtype)
    return ct


def unaliased(leaves: list, others: Sequence) -> list:
    """``leaves`` as NumPy arrays of their own: writeable, sharing no memory with each
    other or with ``others`` (arrays the caller holds: cotangents given, inputs).

    Rules pass cotangents on without copying (``x + y`` gives both the same one) and
    return views (``sum``'s is a read-only broadcast), so each array leaf that is
    read-only, a view, or an array already met (a leaf before it, one of ``others``
    or the base of one of them) is replaced by a copy. What remains owns its memory,
    and an array that owns its memory shares it only with its views. Leaves that
    are not NumPy arrays (scalars, tracers) are returned as they are.
    """
    seen = set(map(id, others))
    for x in others:
        base = getattr(x, "base", None)
        if base is not None:
            seen.add(id(base))
    out = []
    for g in leaves:
        if g.__class__ is _ndarray or isinstance(g, np.ndarray):
            if g.base is not None or id(g) in seen or not g.flags.writeable:
                g = g.copy()
            seen.add(id(g))
        out.append(g)
    return out


def _input_cotangent(ct, x):
    if type(x) in PYTHON_SCALARS:
        x = backend.asarray(x)  # a Python number's cotangent: a 0-d array of its dtype
    if ct is None:
        return backend.zeros(x.shape, x.dtype, like=x)
    dtype = x.dtype
    if ct.dtype is not dtype and ct.dtype != dtype:  # NumPy's own dtypes are singletons
        ct = ct.astype(dtype)
    return ct


__all__ = [
    "vjp",
    "grad",
    "value_and_grad",
    "unaliased",
]
