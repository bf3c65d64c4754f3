"""``fgrad.tree``: the pytree functions under JAX's short names (``jax.tree``).

``fgrad.tree.map(f, tree)`` is ``fgrad.tree_util.tree_map(f, tree)``, and so on for
``leaves``, ``structure``, ``flatten``, ``unflatten``, ``transpose``, ``reduce``,
``reduce_associative``, ``broadcast``, ``all``, ``static`` (a static dataclass field),
and the key-path versions ``map_with_path``, ``leaves_with_path`` and
``flatten_with_path``; same arguments, same results.
"""

from fgrad.tree_util import static
from fgrad.tree_util import tree_all as all  # noqa: A004 - JAX's name
from fgrad.tree_util import tree_broadcast as broadcast
from fgrad.tree_util import tree_flatten as flatten
from fgrad.tree_util import tree_flatten_with_path as flatten_with_path
from fgrad.tree_util import tree_leaves as leaves
from fgrad.tree_util import tree_leaves_with_path as leaves_with_path
from fgrad.tree_util import tree_map as map  # noqa: A004 - JAX's name
from fgrad.tree_util import tree_map_with_path as map_with_path
from fgrad.tree_util import tree_reduce as reduce
from fgrad.tree_util import tree_reduce_associative as reduce_associative
from fgrad.tree_util import tree_structure as structure
from fgrad.tree_util import tree_transpose as transpose
from fgrad.tree_util import tree_unflatten as unflatten

__all__ = [
    "all",
    "broadcast",
    "flatten",
    "flatten_with_path",
    "leaves",
    "leaves_with_path",
    "map",
    "map_with_path",
    "reduce",
    "reduce_associative",
    "static",
    "structure",
    "transpose",
    "unflatten",
]
