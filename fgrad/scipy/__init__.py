"""``fgrad.scipy``: differentiable counterparts of parts of SciPy.

``special`` (error, gamma and Bessel functions, ``logsumexp``, ``softmax``, ...),
``stats`` (``norm``, ``t``, ``gamma``, ``beta``, ``chi2``, ``poisson``,
``dirichlet``, ``multivariate_normal``), ``linalg``, ``signal.convolve``,
``integrate.odeint`` and ``optimize.minimize`` (BFGS). SciPy itself is imported
only when a function that needs it first runs, never by ``import fgrad``.
"""

import importlib

_SUBMODULES = (
    "special", "stats", "linalg", "signal", "integrate", "misc", "optimize", "ndimage"
)


def __getattr__(name: str):
    # submodules load on first use, so that SciPy is imported only when it is needed
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fgrad.scipy' has no attribute '{name}'")


__all__ = list(_SUBMODULES)
