"""``fgrad.lax``: JAX's structured control flow, for code written against ``jax.lax``.

* :func:`cond`, :func:`switch`: branch on a scalar; with an index unknown while
  tracing, one ``cond`` primitive that runs only the chosen branch under ``jit``
  (for a ``vmap`` batch of indices every branch runs and each example is selected).
* :func:`fori_loop`, :func:`scan`, :func:`map`: loops with a trip count known
  while tracing, run in Python where values are known; under ``jit`` one ``scan``
  primitive whose body is traced once (:mod:`fgrad.lax.scan`), differentiable and
  batchable there too. A ``fori_loop`` bound known only at run time makes it a
  ``while_loop``.
* :func:`while_loop`: a loop whose trip count may depend on traced values; under
  ``jit`` it is one ``while_loop`` primitive.
* :func:`conv_general_dilated`, :func:`conv`, :func:`conv_with_general_padding`:
  N-d convolutions (strides, padding kinds, dilations, layouts, feature groups);
  :func:`reduce_window`: max, min or sum over sliding windows. See ``docs/conv.md``.
* :func:`dynamic_slice`, :func:`dynamic_update_slice`: windows at start indices that
  may be traced (clamped into range); :func:`select`, :func:`rsqrt`.
* :func:`gather`, :func:`scatter`, :func:`scatter_add` (``_sub``, ``_mul``, ``_min``,
  ``_max``) with XLA's dimension numbers (:class:`GatherDimensionNumbers`,
  :class:`ScatterDimensionNumbers`) and modes; :func:`sort` (several operands,
  ``num_keys``), :func:`sort_key_val`, :func:`top_k`; :func:`associative_scan`,
  :func:`cumsum`, :func:`cumprod`, :func:`cummax`, :func:`cummin`,
  :func:`cumlogsumexp`; :func:`reduce`; :func:`select_n`, :func:`clamp`,
  :func:`population_count`; :func:`conv_transpose`; the special functions
  (:func:`lgamma`, :func:`digamma`, :func:`erf_inv`, :func:`igamma`, ...).
* :func:`split`, :func:`stack`, :func:`unstack`, :func:`tile`, :func:`collapse`,
  :func:`broadcast_to_rank`, :func:`broadcast_like`; :func:`approx_max_k`,
  :func:`approx_min_k` (exact); :func:`clz`, :func:`mulhi`,
  :func:`bitcast_convert_type`, :func:`reduce_precision`; ``reduce_window`` with a
  product or any computation; :func:`optimization_barrier`, :func:`composite`,
  :func:`platform_dependent`, which fgrad carries out directly.

* :func:`psum`, :func:`pmean`, :func:`pmax`, :func:`pmin`, :func:`all_gather`,
  :func:`psum_scatter`, :func:`ppermute`, :func:`axis_index`, :func:`axis_size`:
  collectives over an axis named by ``vmap(..., axis_name=...)`` or
  ``fgrad.distributed.spmd`` (MPI ranks). See ``docs/distributed.md``.

``stop_gradient`` is here too, under JAX's name. See ``docs/lax.md``.
"""

from fgrad import numpy as _numpy
from fgrad.core import missing_names as _missing_names
from fgrad.core.source_info import public_api as _public_api
from fgrad.lax import arithmetic as _arithmetic
from fgrad.lax import compiler_hints as _compiler_hints
from fgrad.lax import conv as _conv
from fgrad.lax import cumulative as _cumulative
from fgrad.lax import dot as _dot
from fgrad.lax import float_bits as _float_bits
from fgrad.lax import gather_scatter as _gather_scatter
from fgrad.lax import jet_rules as _jet_rules  # noqa: F401 - Taylor mode through loops
from fgrad.lax import reduction as _reduction
from fgrad.lax import shape_ops as _shape_ops
from fgrad.lax import sorting as _sorting
from fgrad.lax import special as _special
from fgrad.lax import structural as _structural
from fgrad.lax.arithmetic import (
    RoundingMethod,
    abs,
    acos,
    acosh,
    add,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cbrt,
    ceil,
    complex,
    conj,
    cos,
    cosh,
    div,
    eq,
    exp,
    exp2,
    expm1,
    floor,
    ge,
    gt,
    imag,
    integer_pow,
    is_finite,
    le,
    log,
    log1p,
    logistic,
    lt,
    max,
    min,
    mul,
    ne,
    neg,
    nextafter,
    pow,
    real,
    reciprocal,
    rem,
    round,
    rsqrt,
    shift_left,
    shift_right_arithmetic,
    shift_right_logical,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    sub,
    tan,
    tanh,
)
from fgrad.lax.collectives import (
    all_gather,
    axis_index,
    axis_size,
    pmax,
    pmean,
    pmin,
    ppermute,
    psum,
    psum_scatter,
)
from fgrad.lax.compiler_hints import composite, optimization_barrier, platform_dependent
from fgrad.lax.cond import cond, switch
from fgrad.lax.conv import (
    ConvDimensionNumbers,
    ConvGeneralDilatedDimensionNumbers,
    conv,
    conv_dimension_numbers,
    conv_general_dilated,
    conv_general_dilated_patches,
    conv_with_general_padding,
    padtype_to_pads,
)
from fgrad.lax.conv_transpose import conv_transpose
from fgrad.lax.cumulative import (
    associative_scan,
    cumlogsumexp,
    cummax,
    cummin,
    cumprod,
    cumsum,
)
from fgrad.lax.dot import (
    DotDimensionNumbers,
    Precision,
    PrecisionLike,
    batch_matmul,
    dot,
    dot_general,
)
from fgrad.lax.elementwise import clamp, clz, mulhi, population_count, select, select_n
from fgrad.lax.float_bits import bitcast_convert_type, reduce_precision
from fgrad.lax.gather_scatter import (
    GatherDimensionNumbers,
    GatherScatterMode,
    ScatterDimensionNumbers,
    gather,
    scatter,
    scatter_add,
    scatter_max,
    scatter_min,
    scatter_mul,
    scatter_sub,
)
from fgrad.lax.loops import fori_loop, map, scan
from fgrad.lax.reduction import (
    argmax,
    argmin,
    reduce,
    reduce_and,
    reduce_max,
    reduce_min,
    reduce_or,
    reduce_prod,
    reduce_sum,
    reduce_xor,
)
from fgrad.lax.shape_ops import (
    broadcast_like,
    broadcast_to_rank,
    collapse,
    split,
    stack,
    tile,
    unstack,
)
from fgrad.lax.slicing import (
    dynamic_slice,
    dynamic_slice_in_dim,
    dynamic_update_slice,
    dynamic_update_slice_in_dim,
)
from fgrad.lax.sorting import approx_max_k, approx_min_k, sort, sort_key_val, top_k
from fgrad.lax.special import (
    bessel_i0e,
    bessel_i1e,
    digamma,
    erf,
    erf_inv,
    erfc,
    igamma,
    igammac,
    lgamma,
    polygamma,
    regularized_incomplete_beta,
    zeta,
)
from fgrad.lax.structural import (
    broadcast,
    broadcast_in_dim,
    broadcasted_iota,
    concatenate,
    convert_element_type,
    dtype,
    dynamic_index_in_dim,
    dynamic_update_index_in_dim,
    empty,
    expand_dims,
    full,
    full_like,
    index_in_dim,
    iota,
    pad,
    reshape,
    rev,
    slice,
    slice_in_dim,
    squeeze,
    transpose,
)
from fgrad.lax.while_loop import while_loop
from fgrad.lax.windows import reduce_window
from fgrad.primitives.elementwise import stop_gradient

__all__ = [
    "all_gather",
    "axis_index",
    "axis_size",
    "clamp",
    "clz",
    "cond",
    "conv_transpose",
    "dynamic_slice",
    "dynamic_slice_in_dim",
    "dynamic_update_slice",
    "dynamic_update_slice_in_dim",
    "fori_loop",
    "map",
    "mulhi",
    "pmax",
    "pmean",
    "pmin",
    "population_count",
    "ppermute",
    "psum",
    "psum_scatter",
    "reduce_window",
    "scan",
    "select",
    "select_n",
    "stop_gradient",
    "switch",
    "while_loop",
    *_arithmetic.__all__,
    *_structural.__all__,
    *_reduction.__all__,
    *_dot.__all__,
    *_gather_scatter.__all__,
    *_special.__all__,
    *_cumulative.__all__,
    *_sorting.__all__,
    *_conv.__all__,
    *_shape_ops.__all__,
    *_compiler_hints.__all__,
    *_float_bits.__all__,
]


def __getattr__(name: str):
    raise _missing_names.missing("fgrad.lax", name, _missing_names.LAX, _numpy)


_public_api(globals(), __all__)  # errors from eager calls start at the user's line
