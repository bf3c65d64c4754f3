"""``fgrad.explain``: see what a computation does.

* :func:`graph`: the computational graph of a function with every value, and with
  ``grads=True`` the gradients flowing back, as DOT text or a picture.
* :func:`saved_residuals`: the values a ``vjp`` keeps for its backward pass, their
  sizes, and the line of the user's code that made each.

Loaded on first use (``fgrad.explain``); ``import fgrad`` does not import it.
"""

from fgrad.explain import svg
from fgrad.explain.graph import Graph, graph
from fgrad.explain.residuals import Residual, Residuals, saved_residuals

__all__ = ["Graph", "Residual", "Residuals", "graph", "saved_residuals", "svg"]
