"""fgrad: functional, JAX-style automatic differentiation for NumPy.

Write pure functions with ``fgrad.numpy`` (``import fgrad.numpy as fnp``) and
transform them::

    grads = fgrad.grad(loss)(params, x, y)
    value, grads = fgrad.value_and_grad(loss)(params, x, y)
    out, tangent = fgrad.jvp(f, (x,), (v,))
    out, pullback = fgrad.vjp(f, x)
    print(fgrad.make_jaxpr(loss)(params, x, y))

Transforms compose to any depth (``grad(grad(f))``) and work on pytrees
(dicts, lists, tuples, namedtuples, dataclasses) of arrays. On top of them:
``jacfwd``, ``jacrev``, ``hessian``, ``hvp``, ``linearize``; ``vmap`` to map a
function over a batch axis (per-example gradients); ``jit`` to trace once and
replay an optimised program; custom rules with
``custom_jvp`` and ``custom_vjp``; ``checkpoint`` for rematerialisation; ``jet``
(Taylor mode: all derivatives up to order k in one pass), ``taylor_derivatives``,
``directional_derivative``.
Submodules: ``fgrad.lax`` (``cond``, ``scan``, ``while_loop``, ...),
``fgrad.tree_util``, ``fgrad.random``, ``fgrad.debug.print``, ``fgrad.test_util.check_grads``,
``fgrad.flatten_util.ravel_pytree``, ``fgrad.io`` (checkpoints), ``fgrad.explain``
(pictures of a computation with its values and gradients, the residuals a vjp keeps),
``fgrad.ops`` (segment sums), ``fgrad.experimental`` (``io_callback``, ``checkify``),
``fgrad.image`` (``resize``), ``fgrad.typing``, ``fgrad.dtypes``, ``fgrad.errors`` and
``fgrad.example_libraries`` (JAX's ``optimizers`` and ``stax``).
"""

from __future__ import annotations

import importlib as _importlib

from fgrad import numpy as numpy
from fgrad import primitives as _primitives  # noqa: F401 - registers the primitives
from fgrad.annotations import ensure_compile_time_eval, named_call, named_scope
from fgrad.callbacks import pure_callback
from fgrad.core import missing_names as _missing_names
from fgrad.core.array_type import Array
from fgrad.core.backend import (
    block_until_ready,
    device_count,
    device_get,
    device_put,
    devices,
    local_devices,
)
from fgrad.core.backend import platform as default_backend
from fgrad.core.config import config, debug_infs, debug_nans, default_device, disable_jit
from fgrad.core.errors import (
    ConcretizationError,
    DtypeError,
    EscapedTracerError,
    FgradError,
    ImmutableArrayError,
    OptimizerStateError,
    RetraceWarning,
    ShapeError,
    TracerArrayConversionError,
    TransformError,
)
from fgrad.core.jaxpr import ClosedJaxpr, Jaxpr, eval_jaxpr
from fgrad.core.pytree import (
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)
from fgrad.core.source_info import public_api as _public_api
from fgrad.dtypes import float0
from fgrad.primitives.elementwise import stop_gradient
from fgrad.transforms import checkpoint_policies
from fgrad.transforms.checkpoint import checkpoint, remat
from fgrad.transforms.custom_derivatives import custom_jvp, custom_vjp
from fgrad.transforms.custom_gradient import custom_gradient
from fgrad.transforms.eval_shape import ShapeDtypeStruct, eval_shape, typeof
from fgrad.transforms.forward_mode import jvp
from fgrad.transforms.jacobians import hessian, hvp, jacfwd, jacobian, jacrev
from fgrad.transforms.jet import directional_derivative, jet, taylor_derivatives
from fgrad.transforms.jit import jit
from fgrad.transforms.linear_transpose import linear_transpose
from fgrad.transforms.linearize import linearize
from fgrad.transforms.make_jaxpr import make_jaxpr
from fgrad.transforms.reverse_mode import grad, value_and_grad, vjp
from fgrad.transforms.vmap import vmap

_SUBMODULES = (
    "optim",
    "nn",
    "data",
    "test_util",
    "flatten_util",
    "scipy",
    "lax",
    "tree_util",
    "tree",
    "ad_checkpoint",
    "debug",
    "random",
    "io",
    "explain",
    "dtypes",
    "errors",
    "typing",
    "image",
    "distributed",
    "experimental",
    "example_libraries",
    "ops",
    "extend",
    "interpreters",
)


def __getattr__(name: str):
    # submodules load on first use, so ``import fgrad`` stays light
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name in ("process_count", "process_index"):  # JAX's names, from fgrad.distributed
        return getattr(__getattr__("distributed"), name)
    raise _missing_names.missing("fgrad", name, _missing_names.FGRAD)


local_device_count = device_count

__version__ = "0.1.0"

__all__ = [
    "Array",
    "ClosedJaxpr",
    "ConcretizationError",
    "DtypeError",
    "EscapedTracerError",
    "FgradError",
    "ImmutableArrayError",
    "Jaxpr",
    "OptimizerStateError",
    "RetraceWarning",
    "ShapeDtypeStruct",
    "ShapeError",
    "TracerArrayConversionError",
    "TransformError",
    "block_until_ready",
    "checkpoint",
    "checkpoint_policies",
    "config",
    "custom_gradient",
    "custom_jvp",
    "custom_vjp",
    "debug_infs",
    "debug_nans",
    "default_backend",
    "default_device",
    "device_count",
    "directional_derivative",
    "device_get",
    "device_put",
    "devices",
    "disable_jit",
    "ensure_compile_time_eval",
    "eval_jaxpr",
    "eval_shape",
    "float0",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jet",
    "jit",
    "jvp",
    "linear_transpose",
    "linearize",
    "local_device_count",
    "local_devices",
    "make_jaxpr",
    "named_call",
    "named_scope",
    "pure_callback",
    "numpy",
    "register_dataclass",
    "register_pytree_node",
    "remat",
    "stop_gradient",
    "taylor_derivatives",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_structure",
    "tree_unflatten",
    "typeof",
    "value_and_grad",
    "vmap",
    "vjp",
]

_public_api(globals(), __all__)  # errors from eager calls start at the user's line
