"""``fgrad.scipy``: differentiable counterparts of parts of SciPy.

``special`` (error, gamma and Bessel functions, ``logsumexp``, ``softmax``, ...),
``stats`` (``norm``, ``t``, ``gamma``, ``beta``, ``chi2``, ``poisson``, ``binom``,
``dirichlet``, ``multivariate_normal``, ..., ``gaussian_kde``, ``rankdata``), ``linalg``,
``signal`` (``convolve``, ``correlate``, the 2-d forms, ``detrend``), ``integrate``
(``odeint``, ``trapezoid``), ``optimize.minimize`` (BFGS), ``ndimage.map_coordinates``
and ``fft`` (``dct``, ``idct``, ``dctn``, ``idctn``). SciPy itself is imported
only when a function that needs it first runs, never by ``import fgrad``.
"""

import importlib

_SUBMODULES = (
    "special", "stats", "linalg", "signal", "integrate", "misc", "optimize", "ndimage", "fft"
)


def __getattr__(name: str):
    # submodules load on first use, so that SciPy is imported only when it is needed
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fgrad.scipy' has no attribute '{name}'")


__all__ = list(_SUBMODULES)
