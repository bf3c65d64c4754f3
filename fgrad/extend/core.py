"""``jax.extend.core``: the primitive and jaxpr types, for code written against JAX's
API for new primitives.

``Primitive(name)`` is fgrad's own :class:`~fgrad.core.primitive.Primitive` made with
its name alone; ``def_impl``, ``def_abstract_eval``, ``bind`` and the rule tables of
:mod:`fgrad.interpreters` complete it (see ``docs/custom_primitives.md``).
"""

from fgrad.core.abstract import ShapedArray
from fgrad.core.jaxpr import ClosedJaxpr, Jaxpr, Literal, Var
from fgrad.core.primitive import Primitive

__all__ = ["ClosedJaxpr", "Jaxpr", "Literal", "Primitive", "ShapedArray", "Var"]
