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
    Factory,
    Impl,
    Problem,
    Skip,
    sgd,
    tree_flatten,
    tree_map,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def _generic_impl(
    problem: Problem,
    *,
    xp: Any,
    value_and_grad: Callable[[Callable[..., Any]], Callable[..., tuple[Any, Any]]],
    grad: Callable[[Callable[..., Any]], Callable[..., Any]],
    convert: Callable[[np.ndarray], Any] = lambda a: a,
    convert_params: Callable[[np.ndarray], Any] | None = None,
    update: Callable[[Any, Any, float], Any] = sgd,
    sync: Callable[[Any], Any] = lambda out: out,
) -> Impl:
    """The common shape of every autodiff framework's step (see :class:`harness.Impl`)."""
    params = tree_map(convert_params or convert, problem.params)
    data = tuple(convert(d) for d in problem.data)
    loss = functools.partial(problem.loss, xp)
    vg_fn, grad_fn = value_and_grad(loss), grad(loss)

    def check() -> tuple[Any, Any]:
        return sync(vg_fn(params, *data))

    if problem.lr is None:

        def step() -> Any:
            return sync(grad_fn(params, *data))

    else:
        lr = problem.lr

        def step() -> Any:
            value, grads = vg_fn(params, *data)
            return sync((value, update(params, grads, lr)))

    return Impl(check, step)


# ---------------------------------------------------------------------------------------------
# The factories
# ---------------------------------------------------------------------------------------------


def numpy_hand(problem: Problem) -> Impl:
    """The hand-written NumPy forward + backward: the speed-of-light and correctness reference."""
    hand, params, data = problem.hand_value_and_grad, problem.params, problem.data

    def check() -> tuple[Any, Any]:
        return hand(params, *data)

    if problem.lr is None:

        def step() -> Any:
            return hand(params, *data)[1]

    else:
        lr = problem.lr

        def step() -> Any:
            value, grads = hand(params, *data)
            return value, sgd(params, grads, lr)

    return Impl(check, step)


def fgrad_eager(problem: Problem) -> Impl:
    """fgrad, the library under test: ``fgrad.value_and_grad`` / ``fgrad.grad``."""
    fgrad = _load("fgrad")
    fnp = _load("fgrad.numpy")
    return _generic_impl(problem, xp=fnp, value_and_grad=fgrad.value_and_grad, grad=fgrad.grad)


def autograd_eager(problem: Problem) -> Impl:
    """HIPS autograd, the design fgrad's eager tracing is measured against."""
    autograd = _load("autograd")
    anp = _load("autograd.numpy")
    return _generic_impl(
        problem, xp=anp, value_and_grad=autograd.value_and_grad, grad=autograd.grad
    )


def _jax_parts() -> tuple[Any, Any]:
    jax = _load("jax")
    return jax, _load("jax.numpy")


def jax_eager(problem: Problem) -> Impl:
    """JAX without ``jit``: op-by-op dispatch, the fair comparison for an eager library."""
    jax, jnp = _jax_parts()
    return _generic_impl(
        problem,
        xp=jnp,
        value_and_grad=jax.value_and_grad,
        grad=jax.grad,
        convert=jnp.asarray,
        sync=jax.block_until_ready,
    )


def jax_jit(problem: Problem) -> Impl:
    """JAX with the whole step under ``jax.jit`` (labelled as such; not an eager number)."""
    jax, jnp = _jax_parts()

    def jitted(transform: Callable[..., Any]) -> Callable[..., Any]:
        return lambda f: jax.jit(transform(f))

    if problem.lr is None:
        return _generic_impl(
            problem,
            xp=jnp,
            value_and_grad=jitted(jax.value_and_grad),
            grad=jitted(jax.grad),
            convert=jnp.asarray,
            sync=jax.block_until_ready,
        )
    lr = problem.lr
    loss = functools.partial(problem.loss, jnp)
    vg = jax.value_and_grad(loss)

    def whole_step(params: Any, *data: Any) -> tuple[Any, Any]:
        value, grads = vg(params, *data)
        return value, sgd(params, grads, lr)

    step_fn, vg_fn = jax.jit(whole_step), jax.jit(vg)
    params = tree_map(jnp.asarray, problem.params)
    data = tuple(jnp.asarray(d) for d in problem.data)
    return Impl(
        lambda: jax.block_until_ready(vg_fn(params, *data)),
        lambda: jax.block_until_ready(step_fn(params, *data)),
    )


def _torch_namespace(torch: Any) -> types.SimpleNamespace:
    """The few NumPy-style functions the workloads use, mapped onto torch (axis -> dim)."""

    def reduction(fn: Callable[..., Any]) -> Callable[..., Any]:
        def reduce(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
            return fn(x) if axis is None else fn(x, dim=axis, keepdim=keepdims)

        return reduce

    return types.SimpleNamespace(
        sin=torch.sin,
        cos=torch.cos,
        tanh=torch.tanh,
        exp=torch.exp,
        log=torch.log,
        sum=reduction(torch.sum),
        mean=reduction(torch.mean),
        max=reduction(torch.amax),
    )


def _torch_update(torch: Any) -> Callable[[Any, Any, float], Any]:
    def update(params: Any, grads: Any, lr: float) -> Any:
        with torch.no_grad():
            return sgd(params, grads, lr)

    return update


def torch_backward(problem: Problem) -> Impl:
    """PyTorch CPU, eager, classic tape: ``torch.autograd.grad`` on ``requires_grad`` leaves."""
    torch = _load("torch")

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
        update=_torch_update(torch),
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
        convert=torch.tensor,
        update=_torch_update(torch),
    )


FACTORIES: dict[str, Factory] = {
    BASELINE_NUMPY: numpy_hand,
    "fgrad": fgrad_eager,
    BASELINE_AUTOGRAD: autograd_eager,
    "jax (eager)": jax_eager,
    "jax (jit)": jax_jit,
    "torch (eager)": torch_backward,
    "torch.func (eager)": torch_func,
}
"""Framework label -> factory, in table order; workloads use this dict as is."""
