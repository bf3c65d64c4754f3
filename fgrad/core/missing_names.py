"""JAX names fgrad does not have, and what to use instead.

A JAX program ported by renaming ``jax`` to ``fgrad`` reaches for these. The
modules ``fgrad``, ``fgrad.lax``, ``fgrad.numpy``, ``fgrad.nn``, ``fgrad.debug``,
``fgrad.dtypes`` and ``fgrad.experimental`` call
:func:`missing` from their ``__getattr__``, so such a name is an
``AttributeError`` that says so and points to the replacement, instead of a bare
"has no attribute". Only data lives here: ``import fgrad`` stays light.
"""

from __future__ import annotations

import sys
from opcode import opmap

_IMPORT_FROM = opmap["IMPORT_FROM"]

_ONE_DEVICE = (
    "fgrad computes on one device and has no sharding or meshes: use fgrad.jit and drop the "
    "sharding annotations (in_shardings/out_shardings/PartitionSpec)"
)
_COLLECTIVES = (
    "fgrad's collectives are psum, pmean, pmax, pmin, all_gather, psum_scatter, ppermute and "
    "axis_index (fgrad.lax), over an axis named by fgrad.vmap(..., axis_name=...) or "
    "fgrad.distributed.spmd; build the others from them"
)
_NO_XLA = (
    "fgrad does not compile to XLA; fgrad.make_jaxpr(f)(*args) shows the program fgrad traces "
    "and fgrad.jit compiles it to Python"
)
_CONFIG_CONTEXT = (
    "set the flag with fgrad.config.update('jax_{name}', value) (see docs/config.md); "
    "fgrad.disable_jit(), fgrad.debug_nans(), fgrad.debug_infs() and fgrad.default_device(d) "
    "are the context managers fgrad has"
)

#: ``fgrad.<name>``
FGRAD: dict[str, str] = {
    "pmap": (
        "fgrad runs on one device per process: use fgrad.vmap (same in_axes, out_axes and "
        "axis_name) in one process, fgrad.distributed.spmd across MPI processes"
    ),
    "pjit": _ONE_DEVICE,
    **{
        name: _ONE_DEVICE
        for name in (
            "Shard",
            "make_array_from_callback",
            "make_array_from_single_device_arrays",
            "make_array_from_process_local_data",
        )
    },
    "dlpack": "fgrad's arrays are NumPy arrays: use numpy.from_dlpack",
    "copy_to_host_async": "fgrad's arrays are on the host already (fgrad.device_get for CuPy)",
    "effects_barrier": "not needed: fgrad runs effects (debug.print, callbacks) in order",
    "custom_batching": (
        "fgrad has no custom_vmap: vmap uses the batch rules of the operations inside; "
        "a custom_jvp/custom_vjp function keeps its rules under vmap"
    ),
    "shard_map": _ONE_DEVICE,
    "smap": _ONE_DEVICE,
    "sharding": _ONE_DEVICE,
    "NamedSharding": _ONE_DEVICE,
    "make_mesh": _ONE_DEVICE,
    "set_mesh": _ONE_DEVICE,
    "reshard": _ONE_DEVICE,
    "P": _ONE_DEVICE,
    "xla_computation": _NO_XLA,
    "stages": _NO_XLA,
    "export": _NO_XLA,
    "ffi": (
        "fgrad calls NumPy, not XLA custom calls: call your C code through NumPy (ctypes, "
        "Cython) and give it derivatives with fgrad.custom_vjp"
    ),
    "profiler": "fgrad runs NumPy from Python: profile it with cProfile or a Python profiler",
    "host_count": "use fgrad.distributed.process_count()",
    "host_id": "use fgrad.distributed.process_index()",
    "Device": "fgrad names devices by strings ('cpu', 'gpu'), see fgrad.devices()",
    "closure_convert": (
        "not needed: fgrad.custom_vjp functions may close over arrays; pass the ones that "
        "need gradients as arguments"
    ),
    "clear_caches": (
        "each fgrad.jit function keeps its own cache (bounded by its cache_size): create "
        "the jitted function again to start afresh"
    ),
    **{
        name: (
            "fgrad has no mutable array references: thread the state through the function "
            "(return the new value, x = x.at[i].set(v)), or carry it in fgrad.lax.scan / "
            "fori_loop"
        )
        for name in ("new_ref", "empty_ref", "freeze", "Ref")
    },
    "fwd_and_bwd": (
        "use fgrad.vjp: out, pullback = fgrad.vjp(f, *args); the pullback is a function, "
        "to call inside the same jit or outside it"
    ),
    "live_arrays": "fgrad's arrays are NumPy arrays: Python's gc module can find them",
    "transfer_guard": "fgrad never copies between host and device implicitly: mixing is an error",
    "lib": "JAX's internals have no fgrad counterpart; fgrad's own are in fgrad.core",
    "ad": "JAX's internals have no fgrad counterpart; fgrad's own are in fgrad.core",
    "api_util": "JAX's internals have no fgrad counterpart; fgrad's own are in fgrad.core",
    **{
        name: _CONFIG_CONTEXT.format(name=name)
        for name in (
            "enable_x64",
            "log_compiles",
            "default_matmul_precision",
            "numpy_rank_promotion",
            "numpy_dtype_promotion",
            "check_tracer_leaks",
            "checking_leaks",
            "enable_checks",
        )
    },
}

#: ``fgrad.experimental.<name>``: the rest of ``jax.experimental``
EXPERIMENTAL: dict[str, str] = {
    "ode": (
        "use fgrad.scipy.integrate.odeint(func, y0, t, args=(...)): SciPy's signature, "
        "the extra arguments in args= where jax.experimental.ode.odeint takes them "
        "positionally; differentiable in y0, t and args"
    ),
    "optimizers": "use fgrad.optim (optax's init/update style: sgd, adam, ...)",
    "stax": "use fgrad.nn (layers are functions of params; initializers in fgrad.nn.initializers)",
    "jet": "use fgrad.jet (Taylor mode) from the top-level module",
    "host_callback": (
        "use fgrad.experimental.io_callback, fgrad.pure_callback or fgrad.debug.callback"
    ),
    "enable_x64": "fgrad is float64 by default: nothing to enable",
    "disable_x64": "fgrad follows NumPy's dtypes: pass float32 arrays to compute in float32",
    "sparse": (
        "fgrad has no sparse arrays: use dense arrays (or scipy.sparse through pure_callback)"
    ),
    "pallas": "fgrad has no kernel language: jit fuses elementwise chains with numba (docs/jit.md)",
    "mesh_utils": _ONE_DEVICE,
    "multihost_utils": "across processes, use fgrad.distributed (docs/distributed.md)",
    "shard_map": _ONE_DEVICE,
    "pjit": _ONE_DEVICE,
    "maps": _ONE_DEVICE,
    "jax2tf": _NO_XLA,
    "compilation_cache": "fgrad has no compilation cache on disk: jit traces again in each process",
    "custom_partitioning": _ONE_DEVICE,
}

#: ``fgrad.debug.<name>``
DEBUG: dict[str, str] = {
    "breakpoint": (
        "stop at the values with fgrad.debug.callback(lambda *xs: breakpoint(), x), or run "
        "the function under fgrad.disable_jit() and use pdb as in plain Python"
    ),
    "visualize_array_sharding": _ONE_DEVICE,
    "visualize_sharding": _ONE_DEVICE,
    "inspect_array_sharding": _ONE_DEVICE,
    "log": "use fgrad.debug.callback with a logging function",
}

#: ``fgrad.dtypes.<name>``
DTYPES: dict[str, str] = {
    "bfloat16": "NumPy has no bfloat16, and fgrad computes with NumPy's dtypes: use float32",
    "prng_key": (
        "fgrad's random keys are plain uint32 arrays of shape (..., 2): test "
        "key.dtype == numpy.uint32"
    ),
    "extended": "fgrad has no extended dtypes: its arrays have NumPy's dtypes",
}

#: ``fgrad.lax.<name>``; names that ``fgrad.numpy`` has are pointed there by :func:`missing`
LAX: dict[str, str] = {
    **{
        name: _COLLECTIVES
        for name in (
            "all_to_all",
            "pshuffle",
            "pswapaxes",
        )
    },
    "custom_root": "write the solver and its implicit derivative with fgrad.custom_vjp",
    "custom_linear_solve": "write the solver and its derivative with fgrad.custom_vjp",
    "with_sharding_constraint": _ONE_DEVICE,
    "betainc": "use fgrad.lax.regularized_incomplete_beta (or fgrad.scipy.special.betainc)",
    **{
        name: (
            "fgrad has no XLA tokens: its effects (fgrad.debug.callback, io_callback) run in "
            "program order without them; drop the token"
        )
        for name in ("create_token", "after_all", "dce_sink")
    },
    **{
        name: "draw random numbers with fgrad.random (keys as in jax.random)"
        for name in ("rng_uniform", "rng_bit_generator", "RandomAlgorithm")
    },
    **{
        name: "fgrad's dot_general computes in the operands' dtype; precision= takes Precision"
        for name in ("DotAlgorithm", "DotAlgorithmPreset", "AccuracyMode", "Tolerance")
    },
    **{
        name: (
            "fgrad has no ragged or scaled products: pad the groups to one size and use "
            "fgrad.lax.dot_general, or loop over them"
        )
        for name in (
            "ragged_dot",
            "ragged_dot_general",
            "ragged_all_to_all",
            "RaggedDotDimensionNumbers",
            "scaled_dot",
        )
    },
    **{name: _COLLECTIVES for name in ("psend", "precv", "pcast", "pbroadcast")},
    "FftType": "use fgrad.numpy.fft (fft, ifft, rfft, irfft and their n-d forms)",
    "igamma_grad_a": "fgrad differentiates igamma in x only; the derivative in a is missing",
    "random_gamma_grad": (
        "fgrad.random.gamma differentiates its draws in the shape parameter itself: use "
        "fgrad.grad through fgrad.random.gamma"
    ),
    "index_take": "use fgrad.numpy.take or indexing (x[idx])",
    "scatter_apply": "use x.at[idx].apply(func), or gather, func and scatter",
    "shape_as_value": "shapes are static in fgrad: use fnp.asarray(x.shape)",
    "stage": "fgrad has no pipeline stages: call the function directly",
    "conv_general_dilated_local": (
        "fgrad has no unshared convolution: take the patches with fgrad.lax.conv_general_dilated "
        "on an identity kernel and contract them with fgrad.numpy.einsum"
    ),
    **{
        name: "use fgrad.eval_shape on the operation to get its output shape"
        for name in (
            "conv_shape_tuple",
            "conv_general_shape_tuple",
            "conv_transpose_shape_tuple",
            "reduce_window_shape_tuple",
            "conv_general_permutations",
        )
    },
}

#: ``fgrad.numpy.<name>``: only names jax.numpy has and NumPy lacks
NUMPY: dict[str, str] = {
    **{
        name: (
            f"NumPy has no {name}, and fgrad computes with NumPy's dtypes: use float32 (or float16)"
        )
        for name in (
            "bfloat16",
            "float8_e4m3fn",
            "float8_e5m2",
            "float8_e4m3fnuz",
            "float8_e5m2fnuz",
            "float8_e4m3b11fnuz",
            "float8_e3m4",
            "float8_e4m3",
            "float8_e8m0fnu",
            "float4_e2m1fn",
            "float6_e2m3fn",
            "float6_e3m2fn",
        )
    },
    **{
        name: f"NumPy has no {name}, and fgrad computes with NumPy's dtypes: use int8 / uint8"
        for name in ("int1", "int2", "int4", "uint1", "uint2", "uint4")
    },
    "float_": "NumPy 2 removed float_: use fgrad.numpy.float64",
    "complex_": "NumPy 2 removed complex_: use fgrad.numpy.complex128",
    "ComplexWarning": "NumPy 2 moved it: numpy.exceptions.ComplexWarning",
    "DeviceArray": "fgrad's results are numpy.ndarray (fgrad.numpy.ndarray)",
}

#: ``fgrad.nn.<name>``: activations and helpers fgrad.nn does not define, written out
NN: dict[str, str] = {
    **{
        name: (
            "fgrad has no block-scaled low-precision (fp8/mxfp) matrix products: use "
            "fgrad.numpy.matmul in float32"
        )
        for name in ("scaled_matmul", "scaled_dot_general", "get_scaled_dot_general_config")
    },
}


def missing(
    module: str, name: str, table: dict[str, str], numpy_module=None
) -> AttributeError | ImportError:
    """The ``AttributeError`` for ``module.name``: what to use instead, where known.

    Called from ``from module import name`` (the way JAX programs import ``pmap``), it
    is an ``ImportError`` with the same advice: Python replaces any ``AttributeError``
    from a module's ``__getattr__`` there by a bare "cannot import name".

    Parameters
    ----------
    module
        The module's public name (``"fgrad.lax"``).
    name
        The attribute asked for.
    table
        The module's table of JAX names fgrad lacks.
    numpy_module
        For ``fgrad.lax``: ``fgrad.numpy``, to point a lax function with a NumPy
        namesake there.
    """
    advice = table.get(name)
    if advice is None and numpy_module is not None and not name.startswith("_"):
        if name.endswith("_p"):
            advice = "fgrad's primitives live in fgrad.primitives, under their own names"
        elif name in getattr(numpy_module, "__all__", ()):
            advice = (
                f"use fgrad.numpy.{name} (NumPy's semantics: it broadcasts and promotes "
                "dtypes, where lax would ask for equal shapes and dtypes)"
            )
    if advice is None:
        return AttributeError(f"module '{module}' has no attribute '{name}'")
    message = f"{module} has no {name}: {advice}."
    if _importing_from(sys._getframe(2)):  # missing <- the module's __getattr__ <- caller
        return ImportError(message, name=module)
    return AttributeError(message)


def _importing_from(frame) -> bool:
    """Whether ``frame`` is running a ``from ... import`` statement's lookup."""
    try:
        return frame.f_code.co_code[frame.f_lasti] == _IMPORT_FROM
    except (AttributeError, IndexError):  # an interpreter without these frame details
        return False
