"""Window functions (``hanning``, ``hamming``, ``blackman``, ``bartlett``, ``kaiser``).

They depend only on integer sizes (and Kaiser's ``beta``), so they are NumPy's own
values, created on the current transform's device like every other constant.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend


def _window(np_fn):
    def window(M: int, *args, **kwargs):
        return backend.asarray(np_fn(M, *args, **kwargs))

    window.__name__ = window.__qualname__ = np_fn.__name__
    window.__doc__ = f"``numpy.{np_fn.__name__}``, on the current device (no derivative)."
    return window


bartlett, blackman = _window(np.bartlett), _window(np.blackman)
hamming, hanning, kaiser = _window(np.hamming), _window(np.hanning), _window(np.kaiser)

__all__ = ["bartlett", "blackman", "hamming", "hanning", "kaiser"]
