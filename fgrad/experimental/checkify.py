"""``checkify``: run-time checks returned as values, under ``jit``, ``vmap`` and ``grad``.

``checkify(f)`` returns a function giving ``(err, out)``: ``out`` is ``f``'s result and
``err`` an :class:`Error`, a pytree of arrays that says whether a check failed, which
one first (in program order) and with which values. ``err.get()`` is its message (or
None) and ``err.throw()`` raises it, outside the transformed function.

* User checks: ``check(pred, "x must be positive, got {x}", x=x)`` inside ``f``.
  Under ``checkify``, a failing check is recorded, not raised. Outside ``checkify`` a
  failing check raises :class:`JaxRuntimeError` when its values are known: eagerly,
  or when a jitted function runs (the check stays in the compiled program).
* Automatic checks (``errors=`` ``nan_checks``, ``div_checks``, ``index_checks``, or
  the unions ``float_checks``, ``automatic_checks``, ``all_checks``): ``f`` is traced
  to a jaxpr (``make_jaxpr``) and replayed equation by equation, each followed by its
  check: a NaN produced from NaN-free inputs, an integer division or remainder by
  zero, a traced index out of range (the index is then clamped, as JAX does, so the
  function still returns). The replay binds the primitives, so outer transforms see
  the computation as usual; ``custom_jvp``/``custom_vjp`` rules inside ``f`` are not
  kept by the trace, so ``f`` is then differentiated through its plain code.

A check's values are recorded at the level of the ``checkify`` call. One made inside a
``vmap`` within ``f`` reports its first failing example; one inside a function staged
separately within ``f`` (a ``lax.cond``/``scan``/``while_loop`` body, a nested ``jit``)
is an effect that records into the running call's frame when it runs (see below).
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.errors import ConcretizationError
from fgrad.core.primitive import Primitive, bind, stage_constant_effect
from fgrad.core.pytree import PyTreeDef, register_pytree_node, tree_flatten, tree_unflatten
from fgrad.core.rules import defbatch
from fgrad.core.source_info import public_api
from fgrad.core.trace_stack import active_traces, innermost_staging
from fgrad.core.tracer import Tracer
from fgrad.errors import JaxRuntimeError
from fgrad.primitives.indexing import OPERAND
from fgrad.primitives.structural import batch_to_front
from fgrad.transforms.make_jaxpr import make_jaxpr

#: the kinds of checks ``errors=`` selects, as JAX's sets
user_checks: frozenset = frozenset({"user"})
nan_checks: frozenset = frozenset({"nan"})
div_checks: frozenset = frozenset({"div"})
index_checks: frozenset = frozenset({"index"})
float_checks: frozenset = nan_checks | div_checks
automatic_checks: frozenset = float_checks | index_checks
all_checks: frozenset = automatic_checks | user_checks

_KINDS = all_checks

#: what JAX appends to a user check's message
_USER_SUFFIX = " (`check` failed)"


class Error:
    """The outcome of the checks of one ``checkify`` call (a pytree of arrays).

    Each recorded check contributes a boolean array ``failed`` (a scalar, or one entry
    per example when ``checkify`` runs under ``vmap``) and the values its message is
    formatted with. The first check that failed, in program order, is the error.
    """

    def __init__(self, failed: tuple, payloads: tuple, messages: tuple, trees: tuple):
        self._failed, self._payloads = tuple(failed), tuple(payloads)
        self._messages, self._trees = tuple(messages), tuple(trees)

    def _concrete(self) -> list[np.ndarray]:
        out = []
        for f in self._failed:
            if isinstance(f, Tracer):
                raise ConcretizationError(
                    "checkify: err.get() and err.throw() need the values: call them on the "
                    "error a jitted or vmapped checkified function returned, outside it"
                )
            out.append(np.asarray(f, bool))
        return out

    def _message(self, i: int, index: tuple) -> str:
        leaves = [np.asarray(v)[index] if np.ndim(v) >= len(index) else v
                  for v in self._payloads[i]]
        args, kwargs = tree_unflatten(self._trees[i], leaves)
        return self._messages[i].format(*args, **kwargs)

    def get(self) -> str | None:
        """The failed check's message, or None if every check passed.

        Under ``vmap`` (a batched error) the message lists each failing example as
        ``at mapped index i: ...``.
        """
        failed = self._concrete()
        if not failed:
            return None
        shape = np.broadcast_shapes(*[f.shape for f in failed])
        lines = []
        for index in np.ndindex(shape):
            for i, f in enumerate(failed):
                if np.broadcast_to(f, shape)[index]:
                    message = self._message(i, index)
                    lines.append(f"at mapped index {', '.join(map(str, index))}: {message}"
                                 if shape else message)
                    break
        return "\n".join(lines) if lines else None

    def get_exception(self) -> JaxRuntimeError | None:
        """The :class:`JaxRuntimeError` :meth:`throw` would raise, or None."""
        message = self.get()
        return None if message is None else JaxRuntimeError(message)

    def throw(self) -> None:
        """Raise :class:`JaxRuntimeError` with the message if a check failed."""
        exc = self.get_exception()
        if exc is not None:
            raise exc

    def __str__(self) -> str:
        try:
            message = self.get()
        except ConcretizationError:
            return "Error(traced)"
        return f"Error({message})"  # JAX's str: "Error(None)" when nothing failed

    __repr__ = __str__


#: the error of a computation in which nothing has failed yet (JAX's ``init_error``)
init_error = Error((), (), (), ())


def _flatten_error(err: Error):
    return (err._failed, err._payloads), (err._messages, err._trees)


def _unflatten_error(aux, children) -> Error:
    return Error(children[0], children[1], *aux)


register_pytree_node(Error, _flatten_error, _unflatten_error)


# -- where checks are collected ------------------------------------------------------

_local = threading.local()


class _Collector:
    """The checks of one running ``checkify`` call, at the trace level it runs at."""

    def __init__(self, errors: frozenset):
        traces = active_traces()
        self.level = traces[-1].level if traces else -1
        self.errors = errors
        self.failed: list = []
        self.payloads: list = []
        self.messages: list[str] = []
        self.trees: list[PyTreeDef] = []
        self.deferred: list[tuple] = []

    def record(self, failed, payload: list, message: str, tree: PyTreeDef) -> None:
        self.failed.append(failed)
        self.payloads.append(tuple(payload))
        self.messages.append(message)
        self.trees.append(tree)

    def defer(self, site: int, avals: list, message: str, tree: PyTreeDef) -> None:
        """Keep a place, in program order, for a check whose values come when it runs."""
        self.deferred.append((site, len(self.failed), tuple(avals)))
        self.record(None, [None] * len(avals), message, tree)

    def fill(self, outcomes: dict) -> None:
        """Put each deferred site's ``(failed, payload)`` in its place."""
        for site, index, avals in self.deferred:
            failed, payload = outcomes.get(
                site, (np.asarray(False), [np.zeros(a.shape, a.dtype) for a in avals])
            )
            self.failed[index], self.payloads[index] = failed, tuple(payload)

    def error(self) -> Error:
        return Error(self.failed, self.payloads, self.messages, self.trees)

    def __enter__(self) -> _Collector:
        _stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack().pop()


def _stack() -> list[_Collector]:
    stack = getattr(_local, "collectors", None)
    if stack is None:
        stack = _local.collectors = []
    return stack


def _active() -> _Collector | None:
    stack = _stack()
    return stack[-1] if stack else None


def _level(values) -> int:
    return max((v._trace.level for v in values if isinstance(v, Tracer)), default=-1)


# -- the check primitives: a check made inside a transform nested in the checked function --


def _checked_impl(pred, *payload, message: str, tree: PyTreeDef):
    return (np.asarray(np.logical_not(np.all(pred))), *payload)


def _checked_abstract_eval(pred, *payload, message: str, tree: PyTreeDef):
    return (ShapedArray((), np.dtype(bool)), *payload)


#: a check's outcome as a value, ``(failed, *payload)``: bound where the check's
#: arguments belong to a transform inside the checked function, whose rules bring the
#: outcome down to the ``checkify`` call's level (a batch reduces to its first failure)
checked_p = Primitive(
    "checked", _checked_impl, _checked_abstract_eval,
    differentiable=False, multiple_results=True,
)
checked_p.custom_rules = lambda *leaves, **params: bind(checked_p, *leaves, **params)


def _checked_batch(size: int, vals: list, dims: list, message: str, tree: PyTreeDef):
    """The batch's check as one: failed if any example fails, with the first failing
    example's values."""
    pred, *payload = [
        v if d is None else batch_to_front(v, d, size) for v, d in zip(vals, dims)
    ]
    if dims[0] is None:
        failed_each = fnp.broadcast_to(fnp.logical_not(fnp.all(pred)), (size,))
    else:
        failed_each = fnp.logical_not(fnp.all(fnp.reshape(pred, (size, -1)), axis=1))
    first = fnp.argmax(failed_each)
    payload = [v if d is None else v[first] for v, d in zip(payload, dims[1:])]
    pred = fnp.logical_not(fnp.any(failed_each))
    return bind(checked_p, pred, *payload, message=message, tree=tree), None


defbatch(checked_p, _checked_batch)


def _check_impl(pred, *payload, message: str, tree: PyTreeDef, site: int | None = None):
    if not np.all(pred):
        frames = _frames()
        if frames and site is not None:  # inside a running checkify call: keep the first
            frames[-1].setdefault(site, (list(payload), message, tree))
        else:
            args, kwargs = tree_unflatten(tree, list(payload))
            raise JaxRuntimeError(message.format(*args, **kwargs))
    return ()


def _no_results(*avals, **params) -> tuple:
    return ()


#: a check as an effect, kept by ``jit``: when it runs and fails, it records into the
#: running ``checkify`` call's frame (``site`` names it there), or raises
check_p = Primitive(
    "check", _check_impl, _no_results,
    differentiable=False, multiple_results=True, effectful=True,
)
check_p.custom_rules = lambda *leaves, **params: bind(check_p, *leaves, **params)


def _check_batch(size: int, vals: list, dims: list, message: str, tree: PyTreeDef,
                 site: int | None = None):
    failed, *payload = _checked_batch(size, vals, dims, message, tree)[0]
    bind(check_p, fnp.logical_not(failed), *payload, message=message, tree=tree, site=site)
    return (), None


defbatch(check_p, _check_batch)


def _emit_check(pred, leaves: list, msg: str, tree: PyTreeDef, site: int | None = None) -> None:
    """Bind the effectful check, even on constants under a staging trace."""
    params = {"message": msg, "tree": tree, "site": site}
    if stage_constant_effect(check_p, [pred, *leaves], params) is None:
        bind(check_p, pred, *leaves, **params)


# -- checks that run inside programs staged within the checked function -------------------
#
# A check in a loop body or a nested jitted function cannot hand its values to the
# checkify call's trace. It runs as the `check` effect, which records into the innermost
# frame of this thread's stack of running checkify calls. Where the checkify call runs
# eagerly (no staging trace below it), Python pushes and pops its frame around the call;
# under jit, the `checkify_arm` and `checkify_collect` effects do it when the compiled
# program runs, `collect` returning each deferred site's outcome as values.

_runtime = threading.local()
_sites = itertools.count()


def _frames() -> list[dict]:
    frames = getattr(_runtime, "frames", None)
    if frames is None:
        frames = _runtime.frames = []
    return frames


def _arm_impl() -> tuple:
    frames = _frames()
    frames.append({})
    return (np.asarray(len(frames), np.int32),)


def _arm_abstract_eval() -> tuple:
    return (ShapedArray((), np.dtype(np.int32)),)


arm_p = Primitive(
    "checkify_arm", _arm_impl, _arm_abstract_eval,
    differentiable=False, multiple_results=True, effectful=True,
)
arm_p.custom_rules = lambda *leaves, **params: bind(arm_p, *leaves, **params)


def _pop_frame(depth) -> dict:
    frames = _frames()
    frame = frames[int(depth) - 1] if 0 < int(depth) <= len(frames) else {}
    del frames[max(int(depth) - 1, 0):]
    return frame


def _collect_impl(depth, *, sites: tuple, avals: tuple) -> tuple:
    frame = _pop_frame(depth)
    out = []
    for site, site_avals in zip(sites, avals):
        found = frame.pop(site, None)
        if found is None:
            out += [np.asarray(False)] + [np.zeros(a.shape, a.dtype) for a in site_avals]
        else:
            out += [np.asarray(True)] + [np.asarray(v, a.dtype) for v, a in
                                         zip(found[0], site_avals)]
    for payload, message, tree in frame.values():  # a site this trace did not see
        args, kwargs = tree_unflatten(tree, payload)
        raise JaxRuntimeError(message.format(*args, **kwargs))
    return tuple(out)


def _collect_abstract_eval(depth, *, sites: tuple, avals: tuple) -> tuple:
    out = []
    for site_avals in avals:
        out += [ShapedArray((), np.dtype(bool)), *site_avals]
    return tuple(out)


collect_p = Primitive(
    "checkify_collect", _collect_impl, _collect_abstract_eval,
    differentiable=False, multiple_results=True, effectful=True,
)
collect_p.custom_rules = lambda *leaves, **params: bind(collect_p, *leaves, **params)


def check(pred, msg: str, *fmt_args, **fmt_kwargs) -> None:
    """Check that ``pred`` holds everywhere; if not, the error is ``msg`` formatted.

    Parameters
    ----------
    pred
        A boolean array (or one traced); the check fails if any entry is false.
    msg
        A ``str.format`` template for the error message.
    *fmt_args, **fmt_kwargs
        Pytrees of arrays to format ``msg`` with (their values where the check ran).

    Notes
    -----
    Under :func:`checkify` a failure is recorded in the returned :class:`Error`.
    Elsewhere it raises :class:`JaxRuntimeError` once the values are known (eagerly,
    or when a jitted function containing the check runs).
    """
    leaves, tree = tree_flatten((fmt_args, fmt_kwargs))
    collector = _active()
    if collector is not None and "user" in collector.errors:
        msg += _USER_SUFFIX
        if _level([pred, *leaves]) <= collector.level:
            collector.record(fnp.logical_not(fnp.all(pred)), leaves, msg, tree)
            return
        failed, *payload = bind(checked_p, pred, *leaves, message=msg, tree=tree)
        if _level([failed, *payload]) <= collector.level:
            collector.record(failed, payload, msg, tree)
        else:  # staged inside f (a nested jit, a loop body): recorded when it runs
            site = next(_sites)
            collector.defer(site, [get_aval(v) for v in payload], msg, tree)
            _emit_check(fnp.logical_not(failed), payload, msg, tree, site)
        return
    if collector is not None:  # user checks not selected: a no-op, as in JAX
        return
    _emit_check(pred, leaves, msg, tree)


def debug_check(pred, msg: str, *fmt_args, **fmt_kwargs) -> None:
    """A :func:`check` that does nothing outside :func:`checkify` (JAX's ``debug_check``)."""
    if _active() is not None:
        check(pred, msg, *fmt_args, **fmt_kwargs)


def check_error(error: Error) -> None:
    """Raise ``error`` inside a function as checks do: recorded under :func:`checkify`."""
    for failed, payload, message, tree in zip(
        error._failed, error._payloads, error._messages, error._trees
    ):
        args, kwargs = tree_unflatten(tree, list(payload))
        check(fnp.logical_not(fnp.any(failed)), message.removesuffix(_USER_SUFFIX), *args,
              **kwargs)


# -- the automatic checks: a replay of the traced function, equation by equation ----------

_DIVISIONS = ("floor_divide", "remainder", "div", "fmod")


def _any_nan(values: list):
    floats = [v for v in values if np.issubdtype(fnp.result_type(v), np.inexact)]
    if not floats:
        return False
    return functools.reduce(fnp.logical_or, [fnp.any(fnp.isnan(v)) for v in floats])


def _index_bounds(collector: _Collector, eqn, x, operands: list) -> list:
    """Record a check per traced index of ``x[index]`` and clamp it into range."""
    index = eqn.params["index"]
    if any(i is Ellipsis for i in index):
        return operands
    axis, k, out = 0, 0, list(operands)
    for entry in index:
        if entry is None:
            continue
        if entry is OPERAND:
            n = x.shape[axis]
            i = operands[k]
            bad = fnp.logical_or(i < -n, i >= n)
            collector.record(
                fnp.any(bad),
                [_first_bad(i, bad), axis, n],
                _literal(f"out-of-bounds indexing for array of shape {x.shape}: ")
                + "index {} is out of bounds for axis {} with size {}. ",
                _INDEX_TREE,
            )
            out[k] = fnp.clip(i, -n, max(n - 1, 0))
            k += 1
        axis += np.ndim(entry) if isinstance(entry, np.ndarray) and entry.dtype == bool else 1
    return out


_INDEX_TREE = tree_flatten(((0, 0, 0), {}))[1]


def _first_bad(i, bad):
    """The first out-of-range entry of the index array ``i`` (any entry if none is)."""
    flat_i, flat_bad = fnp.ravel(i), fnp.ravel(bad)
    return flat_i[fnp.argmax(flat_bad)] if flat_i.shape[0] else fnp.zeros((), flat_i.dtype)


def _replay(collector: _Collector, closed, args: list) -> list:
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, args))

    def read(v):
        return env[v] if v in env else v.val

    kinds = collector.errors
    for eqn in jaxpr.eqns:
        prim = eqn.prim
        invals = [read(v) for v in eqn.invars]
        if prim is check_p:
            if "user" in kinds:
                pred, *payload = invals
                collector.record(
                    fnp.logical_not(fnp.all(pred)), payload,
                    eqn.params["message"] + _USER_SUFFIX, eqn.params["tree"],
                )
            continue
        if "index" in kinds and prim.name == "getitem" and len(invals) > 1:
            invals = [invals[0], *_index_bounds(collector, eqn, invals[0], invals[1:])]
        if "div" in kinds and prim.name in _DIVISIONS and len(invals) == 2:
            divisor = invals[1]
            if np.issubdtype(fnp.result_type(divisor), np.integer):
                collector.record(
                    fnp.any(divisor == 0), [],
                    "division by zero",
                    _EMPTY_TREE,
                )
        if prim.multiple_results:
            outs = list(prim.custom_rules(*invals, **eqn.params))
        else:
            outs = [bind(prim, *invals, **eqn.params)]
        if "nan" in kinds:
            made = _any_nan(outs)
            if made is not False:
                before = _any_nan(invals)
                if before is not False:
                    made = fnp.logical_and(made, fnp.logical_not(before))
                collector.record(
                    made, [], _literal(f"nan generated by primitive: {prim.name}."),
                    _EMPTY_TREE,
                )
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


_EMPTY_TREE = tree_flatten(((), {}))[1]


def _literal(text: str) -> str:
    """``text`` as a ``str.format`` template that formats to itself."""
    return text.replace("{", "{{").replace("}", "}}")


def _run_eagerly(fun: Callable, args: tuple, kwargs: dict, errors: frozenset):
    """``fun`` under a collector and a frame that Python pushes and pops."""
    frames = _frames()
    frames.append({})
    depth = len(frames)
    try:
        with _Collector(errors) as collector:
            out = fun(*args, **kwargs)
    finally:
        frame = _pop_frame(depth)
    known = {site for site, _, _ in collector.deferred}
    collector.fill({site: (np.asarray(True), found[0]) for site, found in frame.items()})
    for site, (payload, message, tree) in frame.items():
        if site not in known:  # from a cached program traced in another checkify call
            collector.record(np.asarray(True), payload, message, tree)
    return collector.error(), out


def _run_staged(fun: Callable, args: tuple, kwargs: dict, errors: frozenset):
    """``fun`` under a collector, between the arm and collect effects of its program."""
    (depth,) = stage_constant_effect(arm_p, [], {})
    with _Collector(errors) as collector:
        out = fun(*args, **kwargs)
    sites = tuple(site for site, _, _ in collector.deferred)
    avals = tuple(a for _, _, a in collector.deferred)
    flat = bind(collect_p, depth, sites=sites, avals=avals)
    outcomes, k = {}, 0
    for site, site_avals in zip(sites, avals):
        outcomes[site] = (flat[k], flat[k + 1 : k + 1 + len(site_avals)])
        k += 1 + len(site_avals)
    collector.fill(outcomes)
    return collector.error(), out


def checkify(fun: Callable, errors: frozenset = user_checks) -> Callable:
    """Make ``fun`` return ``(err, out)``, its checks' :class:`Error` beside its result.

    Parameters
    ----------
    fun
        The function to check.
    errors
        Which checks to make: a union of ``user_checks`` (the default), ``nan_checks``,
        ``div_checks``, ``index_checks``; or ``float_checks``, ``automatic_checks``,
        ``all_checks``.

    Returns
    -------
    Callable
        ``checked(*args, **kwargs) -> (Error, out)``; it can be jitted, vmapped and
        differentiated (``has_aux``-style: take the gradient of ``out`` with
        ``lambda *a: checked(*a)[1]``).

    Examples
    --------
    >>> def f(x):
    ...     check(x > 0, "x must be positive, got {}", x)
    ...     return fnp.log(x)
    >>> err, y = fgrad.jit(checkify(f))(-1.0)
    >>> err.get()
    'x must be positive, got -1.0'
    """
    errors = frozenset(errors)
    unknown = errors - _KINDS
    if unknown:
        raise ValueError(
            f"checkify: unknown kinds of checks {sorted(unknown)}; use user_checks, "
            "nan_checks, div_checks, index_checks or their unions"
        )
    automatic = bool(errors - user_checks)

    @functools.wraps(fun)
    def checked(*args, **kwargs):
        if not automatic:
            if innermost_staging() is None:
                return _run_eagerly(fun, args, kwargs, errors)
            return _run_staged(fun, args, kwargs, errors)
        # traced outside the collector, so that user checks stay `check` equations,
        # which the replay records like the automatic ones
        closed = make_jaxpr(lambda a, k: fun(*a, **k))(args, kwargs)
        with _Collector(errors) as collector:
            flat = tree_flatten((args, kwargs))[0]
            out = tree_unflatten(closed.out_tree, _replay(collector, closed, flat))
        return collector.error(), out

    return checked


__all__ = [
    "Error",
    "JaxRuntimeError",
    "all_checks",
    "automatic_checks",
    "check",
    "check_error",
    "arm_p",
    "check_p",
    "checked_p",
    "collect_p",
    "checkify",
    "debug_check",
    "div_checks",
    "float_checks",
    "index_checks",
    "init_error",
    "nan_checks",
    "user_checks",
]

public_api(globals(), [n for n in __all__ if n in ("check", "checkify", "debug_check")])
