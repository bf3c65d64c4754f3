"""``fgrad.scipy.misc``: ``logsumexp``, where older SciPy kept it."""

from fgrad.scipy.special import logsumexp

__all__ = ["logsumexp"]
