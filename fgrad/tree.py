"""``fgrad.tree``: the pytree functions under JAX's short names (``jax.tree``).

``fgrad.tree.map(f, tree)`` is ``fgrad.tree_util.tree_map(f, tree)``, and so on for
``leaves``, ``structure``, ``flatten``, ``unflatten``, ``transpose``, ``reduce`` and
``all``; same arguments, same results.
"""

from fgrad.tree_util import tree_all as all  # noqa: A004 - JAX's name
from fgrad.tree_util import tree_flatten as flatten
from fgrad.tree_util import tree_leaves as leaves
from fgrad.tree_util import tree_map as map  # noqa: A004 - JAX's name
from fgrad.tree_util import tree_reduce as reduce
from fgrad.tree_util import tree_structure as structure
from fgrad.tree_util import tree_transpose as transpose
from fgrad.tree_util import tree_unflatten as unflatten

__all__ = ["all", "flatten", "leaves", "map", "reduce", "structure", "transpose", "unflatten"]
