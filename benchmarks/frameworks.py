"""One factory per framework, turning any :class:`harness.Problem` into a timed step.

Factories are generic over workloads because every workload writes its loss once against a
NumPy-like namespace ``xp``; each factory only says how its framework converts inputs,
differentiates, updates and synchronises.  Every library is imported lazily inside the factory
so a missing one turns into a "skipped: not installed" row instead of breaking the run.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from harness import (
    BASELINE_AUTOGRAD,
    BASELINE_NUMPY,
    Derivative,
    Factory,
    Impl,
    Problem,
    Skip,
    minibatches,
    sgd,
    sgd_epoch,
    tree_flatten,
    tree_map,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TORCH_FUNC = "torch.func (eager)"
"""The label of the torch.func row (a target baseline in ``hessian``)."""


@functools.cache
def _load(name: str) -> types.ModuleType:
    """Import ``name`` once, turning an ImportError into :class:`Skip`."""
    if name == "fgrad" and (REPO_ROOT / "fgrad" / "__init__.py").exists():
        # Benchmark the checkout this file lives in, installed or not.
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise Skip(f"{name} not installed ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a half-written fgrad may raise anything
        raise Skip(f"importing {name} failed: {type(exc).__name__}: {exc}") from None
    if name == "jax":
        # float64 workloads must stay float64 in JAX too (it defaults to float32).
        module.config.update("jax_enable_x64", True)
    return module


def _try_load(name: str) -> types.ModuleType | None:
    try:
        return _load(name)
    except Skip:
        return None


def versions() -> dict[str, str]:
    """Versions of every library that imports (for the report header)."""
    out = {"numpy": np.__version__}
    for name in ("fgrad", "autograd", "jax", "torch"):
        module = _try_load(name)
        if module is None:
            out[name] = "not installed"
            continue
        version = getattr(module, "__version__", None)
        if version is None:
            try:
                from importlib.metadata import version as dist_version

                version = dist_version(name)
            except Exception:  # noqa: BLE001
                version = "?"
        out[name] = str(version)
    return out


Transform = Callable[[Callable[..., Any]], Callable[..., Any]]
"""A function transformation such as ``grad``: takes the loss, returns a new function."""


def _generic_impl(
    problem: Problem,
    *,
    xp: Any,
    value_and_grad: Callable[[Callable[..., Any]], Callable[..., tuple[Any, Any]]],
    grad: Transform,
    hessian: Transform | None = None,
    hvp: Transform | None = None,
    per_example: Transform | None = None,
    convert: Callable[[np.ndarray], Any] = lambda a: a,
    convert_params: Callable[[np.ndarray], Any] | None = None,
    update: Callable[[Any, Any, float], Any] = sgd,
    sync: Callable[[Any], Any] = lambda out: out,
    compile_fn: Transform = lambda f: f,
) -> Impl:
    """The common shape of every autodiff framework's step (see :class:`harness.Impl`).

    The step is one pure function of the converted inputs, built from the framework's
    transforms and passed through ``compile_fn`` as a whole (``jax.jit``; identity when eager).
    ``hvp(loss)`` must return ``(params, tangent, *data) -> H @ tangent``;
    ``per_example(loss)`` must return ``(params, *data) -> stacked per-row gradients``.
    """
    params = tree_map(convert_params or convert, problem.params)
    data = tuple(convert(d) for d in problem.data)
    loss = functools.partial(problem.loss, xp)
    vg = value_and_grad(loss)
    args: tuple[Any, ...] = (params, *data)
    if problem.derivative is not None:
        step_fn = _derivative_fn(problem.derivative, loss, grad, hessian, hvp, per_example)
        if problem.derivative.kind == "hvp":
            args = (params, tree_map(convert, problem.derivative.tangent), *data)
    elif problem.lr is None:
        step_fn = grad(loss)
    elif problem.batch_size is not None:
        lr = problem.lr
        args = (params, minibatches(data, problem.batch_size))  # sliced once, outside the step

        def step_fn(params: Any, batches: Any) -> tuple[Any, Any]:
            return sgd_epoch(vg, update, params, batches, lr)

    else:
        lr = problem.lr

        def step_fn(params: Any, *data: Any) -> tuple[Any, Any]:
            value, grads = vg(params, *data)
            return value, update(params, grads, lr)

    check_fn, step_fn = compile_fn(vg), compile_fn(step_fn)
    return Impl(lambda: sync(check_fn(params, *data)), lambda: sync(step_fn(*args)))


def _derivative_fn(
    deriv: Derivative,
    loss: Callable[..., Any],
    grad: Transform,
    hessian: Transform | None,
    hvp: Transform | None,
    per_example: Transform | None,
) -> Callable[..., Any]:
    """The function computing ``deriv`` (see :class:`harness.Derivative`) from the transforms."""
    if deriv.kind == "nested_grad":
        fn = loss
        for _ in range(deriv.order):
            fn = grad(fn)
        return fn
    transform = {"hessian": hessian, "hvp": hvp, "per_example": per_example}[deriv.kind]
    if transform is None:
        raise Skip(f"no {deriv.kind} transform wired up for this framework")
    return transform(loss)


def _jvp_of_grad(jvp: Callable[..., Any], grad: Transform) -> Transform:
    """A forward-over-reverse ``hvp`` transform from a framework's ``jvp`` and ``grad``."""

    def hvp(f: Callable[..., Any]) -> Callable[..., Any]:
        grad_f = grad(f)

        def hvp_f(params: Any, tangent: Any, *data: Any) -> Any:
            return jvp(lambda p: grad_f(p, *data), (params,), (tangent,))[1]

        return hvp_f

    return hvp


def _one_row(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` on one row of each data array, as a batch of one."""
    return lambda params, *rows: f(params, *[r[None] for r in rows])


def _vmap_of_grad(vmap: Callable[..., Any], grad: Transform, **axes: Any) -> Transform:
    """A ``per_example`` transform: the framework's ``vmap`` over ``grad`` of one row.
    ``axes`` names the in-axes keyword (``in_axes``, or torch's ``in_dims``)."""

    def per_example(f: Callable[..., Any]) -> Callable[..., Any]:
        grad_one = grad(_one_row(f))

        def per_example_f(params: Any, *data: Any) -> Any:
            mapped = (None,) + (0,) * len(data)
            return vmap(grad_one, **{axes["name"]: mapped})(params, *data)

        return per_example_f

    return per_example


# ---------------------------------------------------------------------------------------------
# The factories
# ---------------------------------------------------------------------------------------------


def numpy_hand(problem: Problem) -> Impl:
    """The hand-written NumPy forward + backward: the speed-of-light and correctness reference."""
    hand, params, data = problem.hand_value_and_grad, problem.params, problem.data

    def check() -> tuple[Any, Any]:
        return hand(params, *data)

    if problem.derivative is not None:
        step = problem.derivative.reference  # closed form or differences of the hand gradient

    elif problem.lr is None:

        def step() -> Any:
            return hand(params, *data)[1]

    elif problem.batch_size is not None:
        lr, batches = problem.lr, minibatches(data, problem.batch_size)

        def step() -> Any:
            return sgd_epoch(hand, sgd, params, batches, lr)

    else:
        lr = problem.lr

        def step() -> Any:
            value, grads = hand(params, *data)
            return value, sgd(params, grads, lr)

    return Impl(check, step)


def fgrad_eager(problem: Problem) -> Impl:
    """fgrad, the library under test: ``fgrad.value_and_grad`` / ``fgrad.grad``."""
    return _fgrad_impl(problem, jit=False)


def fgrad_jit(problem: Problem) -> Impl:
    """fgrad with the whole step under ``fgrad.jit`` (traced once, replayed)."""
    return _fgrad_impl(problem, jit=True)


#: ``fgrad_fuse`` for the run (``run.py --fuse``); None leaves fgrad's default
FGRAD_FUSE: str | None = None


def _fgrad_impl(problem: Problem, jit: bool) -> Impl:
    fgrad = _load("fgrad")
    fnp = _load("fgrad.numpy")
    if FGRAD_FUSE is not None:
        fgrad.config.update("fgrad_fuse", FGRAD_FUSE)

    def hvp(f: Callable[..., Any]) -> Callable[..., Any]:
        def hvp_f(params: Any, tangent: Any, *data: Any) -> Any:
            return fgrad.hvp(lambda p: f(p, *data), (params,), (tangent,))

        return hvp_f

    return _generic_impl(
        problem,
        xp=fnp,
        value_and_grad=fgrad.value_and_grad,
        grad=fgrad.grad,
        hessian=fgrad.hessian,
        hvp=hvp,
        per_example=_vmap_of_grad(fgrad.vmap, fgrad.grad, name="in_axes"),
        compile_fn=fgrad.jit if jit else lambda f: f,
    )


def autograd_eager(problem: Problem) -> Impl:
    """HIPS autograd, the design fgrad's eager tracing is measured against."""
    autograd = _load("autograd")
    anp = _load("autograd.numpy")

    def hvp(f: Callable[..., Any]) -> Callable[..., Any]:
        # Forward over reverse like the other rows; autograd.make_hvp (reverse over reverse)
        # gives the same numbers ~15% slower on the hvp workload.
        jvp_of_grad = autograd.make_jvp(autograd.grad(f))

        def hvp_f(params: Any, tangent: Any, *data: Any) -> Any:
            return jvp_of_grad(params, *data)(tangent)[1]

        return hvp_f

    def per_example(f: Callable[..., Any]) -> Callable[..., Any]:
        # autograd has no vmap: its users loop over the rows
        grad_one = autograd.grad(_one_row(f))

        def per_example_f(params: Any, *data: Any) -> Any:
            grads = [grad_one(params, *rows) for rows in zip(*data)]
            return tree_map(lambda *leaves: np.stack(leaves), grads[0], *grads[1:])

        return per_example_f

    return _generic_impl(
        problem,
        xp=anp,
        value_and_grad=autograd.value_and_grad,
        grad=autograd.grad,
        hessian=autograd.hessian,
        hvp=hvp,
        per_example=per_example,
    )


def _jax_impl(problem: Problem, jit: bool) -> Impl:
    jax, jnp = _load("jax"), _load("jax.numpy")
    return _generic_impl(
        problem,
        xp=jnp,
        value_and_grad=jax.value_and_grad,
        grad=jax.grad,
        hessian=jax.hessian,
        hvp=_jvp_of_grad(jax.jvp, jax.grad),
        per_example=_vmap_of_grad(jax.vmap, jax.grad, name="in_axes"),
        convert=jnp.asarray,
        sync=jax.block_until_ready,
        compile_fn=jax.jit if jit else lambda f: f,
    )


def jax_eager(problem: Problem) -> Impl:
    """JAX without ``jit``: op-by-op dispatch, the fair comparison for an eager library."""
    return _jax_impl(problem, jit=False)


def jax_jit(problem: Problem) -> Impl:
    """JAX with the whole step under ``jax.jit`` (labelled as such; not an eager number)."""
    return _jax_impl(problem, jit=True)


def _torch_namespace(torch: Any) -> types.SimpleNamespace:
    """The few NumPy-style functions the workloads use, mapped onto torch (axis -> dim)."""

    def reduction(fn: Callable[..., Any]) -> Callable[..., Any]:
        def reduce(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
            return fn(x) if axis is None else fn(x, dim=axis, keepdim=keepdims)

        return reduce

    return types.SimpleNamespace(
        __name__="torch",
        sin=torch.sin,
        cos=torch.cos,
        tanh=torch.tanh,
        exp=torch.exp,
        log=torch.log,
        sum=reduction(torch.sum),
        mean=reduction(torch.mean),
        max=reduction(torch.amax),
        maximum=lambda x, y: torch.clamp(x, min=y) if isinstance(y, float) else torch.maximum(x, y),
    )


def _torch_update(torch: Any, requires_grad: bool = False) -> Callable[[Any, Any, float], Any]:
    """SGD outside the autograd graph; ``requires_grad``: the new params are tape leaves again
    (so an epoch's next step can differentiate w.r.t. them)."""

    def update(params: Any, grads: Any, lr: float) -> Any:
        with torch.no_grad():
            new = sgd(params, grads, lr)
        return tree_map(lambda p: p.requires_grad_(), new) if requires_grad else new

    return update


def torch_backward(problem: Problem) -> Impl:
    """PyTorch CPU, eager, classic tape: ``torch.autograd.grad`` on ``requires_grad`` leaves."""
    torch = _load("torch")
    if problem.derivative is not None:
        raise Skip("the tape API has no composable transforms; see the torch.func row")

    def value_and_grad(f: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
        def vg(params: Any, *data: Any) -> tuple[Any, Any]:
            leaves, rebuild = tree_flatten(params)
            value = f(params, *data)
            return value.detach(), rebuild(torch.autograd.grad(value, leaves))

        return vg

    def grad(f: Callable[..., Any]) -> Callable[..., Any]:
        vg = value_and_grad(f)
        return lambda *args: vg(*args)[1]

    return _generic_impl(
        problem,
        xp=_torch_namespace(torch),
        value_and_grad=value_and_grad,
        grad=grad,
        convert=torch.tensor,
        convert_params=lambda a: torch.tensor(a, requires_grad=True),
        update=_torch_update(torch, requires_grad=problem.batch_size is not None),
    )


def torch_func(problem: Problem) -> Impl:
    """PyTorch CPU, eager, functional API: ``torch.func.grad_and_value`` (JAX-like)."""
    torch = _load("torch")
    tfunc = _load("torch.func")

    def value_and_grad(f: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
        gv = tfunc.grad_and_value(f)

        def vg(*args: Any) -> tuple[Any, Any]:
            grads, value = gv(*args)
            return value, grads

        return vg

    return _generic_impl(
        problem,
        xp=_torch_namespace(torch),
        value_and_grad=value_and_grad,
        grad=tfunc.grad,
        hessian=tfunc.hessian,
        hvp=_jvp_of_grad(tfunc.jvp, tfunc.grad),
        per_example=_vmap_of_grad(tfunc.vmap, tfunc.grad, name="in_dims"),
        convert=torch.tensor,
        update=_torch_update(torch),
    )


FACTORIES: dict[str, Factory] = {
    BASELINE_NUMPY: numpy_hand,
    "fgrad": fgrad_eager,
    "fgrad (jit)": fgrad_jit,
    BASELINE_AUTOGRAD: autograd_eager,
    "jax (eager)": jax_eager,
    "jax (jit)": jax_jit,
    "torch (eager)": torch_backward,
    TORCH_FUNC: torch_func,
}
"""Framework label -> factory, in table order; workloads use this dict as is."""
