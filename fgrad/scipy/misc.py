"""``fgrad.scipy.misc``: ``logsumexp``, where older SciPy kept it."""

from fgrad.core.source_info import public_api
from fgrad.scipy.special import logsumexp

__all__ = ["logsumexp"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
