"""``fgrad.numpy``: NumPy's API on fgrad primitives, importable as ``import fgrad.numpy as fnp``.

On plain NumPy arrays every function returns plain NumPy arrays with NumPy's
values, dtypes and promotion rules; inside ``grad``, ``jvp``, ``vjp`` and
``make_jaxpr`` the same code is traced and differentiated. Functions are built
from primitives here and carry no derivative rules of their own.
"""

from __future__ import annotations

import sys as _sys

import numpy as _np

from fgrad.core.array_type import Array as _Array
from fgrad.core.missing_names import NUMPY as _JAX_ONLY
from fgrad.core.missing_names import missing as _missing
from fgrad.core.source_info import public_api as _public_api
from fgrad.numpy import array_methods as _array_methods  # noqa: F401 - attaches methods
from fgrad.numpy import fft, linalg
from fgrad.numpy.array_info import *  # noqa: F403
from fgrad.numpy.array_info import ArrayNamespaceInfo as _ArrayNamespaceInfo
from fgrad.numpy.assembly import *  # noqa: F403
from fgrad.numpy.bits import *  # noqa: F403
from fgrad.numpy.complex_numbers import *  # noqa: F403
from fgrad.numpy.conversion import *  # noqa: F403
from fgrad.numpy.creation import *  # noqa: F403
from fgrad.numpy.differences import *  # noqa: F403
from fgrad.numpy.einsum import *  # noqa: F403
from fgrad.numpy.functional import *  # noqa: F403
from fgrad.numpy.indexing import *  # noqa: F403
from fgrad.numpy.logic import *  # noqa: F403
from fgrad.numpy.manipulation import *  # noqa: F403
from fgrad.numpy.no_derivative import *  # noqa: F403
from fgrad.numpy.polynomials import *  # noqa: F403
from fgrad.numpy.products import *  # noqa: F403
from fgrad.numpy.ranges import *  # noqa: F403
from fgrad.numpy.reductions import *  # noqa: F403
from fgrad.numpy.scalar_types import *  # noqa: F403
from fgrad.numpy.searching import *  # noqa: F403
from fgrad.numpy.selection import *  # noqa: F403
from fgrad.numpy.sets import *  # noqa: F403
from fgrad.numpy.statistics import *  # noqa: F403
from fgrad.numpy.ufuncs import *  # noqa: F403
from fgrad.numpy.windows import *  # noqa: F403
from fgrad.primitives.elementwise import stop_gradient

# the concrete scalar types (scalar_types.py) also convert traced values; the abstract
# types, dtype helpers and constants are NumPy's own objects
generic, number, integer, inexact = _np.generic, _np.number, _np.integer, _np.inexact
floating, complexfloating = _np.floating, _np.complexfloating
signedinteger, unsignedinteger = _np.signedinteger, _np.unsignedinteger
dtype = _np.dtype
finfo, iinfo = _np.finfo, _np.iinfo
result_type, promote_types, can_cast = _np.result_type, _np.promote_types, _np.can_cast
issubdtype, isdtype, min_scalar_type = _np.issubdtype, _np.isdtype, _np.min_scalar_type
errstate, seterr, geterr = _np.errstate, _np.seterr, _np.geterr
printoptions, set_printoptions, get_printoptions = (
    _np.printoptions,
    _np.set_printoptions,
    _np.get_printoptions,
)
ndarray = _Array  # numpy.ndarray or a traced value (fgrad/core/array_type.py)
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
euler_gamma = _np.euler_gamma
__version__ = _np.__version__  # the NumPy whose semantics fgrad.numpy follows
__array_api_version__ = _np.__array_api_version__  # that NumPy's array API version
__array_namespace_info__ = _ArrayNamespaceInfo


_MUTATING = {"copyto", "place", "put", "put_along_axis", "putmask", "fill_diagonal"}


def __getattr__(name: str):
    if name in _MUTATING:
        raise AttributeError(
            f"fgrad.numpy has no {name}: it writes into an array in place, and fgrad arrays "
            f"are immutable. Use a functional update instead: y = x.at[index].set(values) "
            "(or fnp.at(x)[index].set(values) for plain arrays), or fnp.where(mask, new, x)."
        )
    if hasattr(_np, name) and not name.startswith("_"):
        raise AttributeError(
            f"fgrad.numpy does not support numpy.{name} yet. docs/numpy_support.md lists "
            "every NumPy function with its support and derivative status. Build it from "
            "supported functions, or compute it outside the transformed function if it "
            "needs no derivative."
        )
    raise _missing("fgrad.numpy", name, _JAX_ONLY)


_array_methods.attach_protocols(
    {"numpy": _sys.modules[__name__], "numpy.linalg": linalg, "numpy.fft": fft}
)

# dir() holds the submodules too; the two split off later (conversion, ranges) stay out,
# so that __all__ (and what `from fgrad.numpy import *` binds) is what it was
_NOT_EXPORTED = {"annotations", "conversion", "ranges"}
__all__ = sorted(n for n in dir() if not n.startswith("_") and n not in _NOT_EXPORTED)

_public_api(globals(), __all__)  # errors from eager calls start at the user's line
