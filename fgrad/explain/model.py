"""The data of a picture of a computation: nodes, edges and the user's calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from fgrad.core.abstract import ShapedArray
from fgrad.core.source_info import SourceInfo
from fgrad.explain.recording import Call


@dataclass
class Node:
    """A node of the picture: an input, a constant, an operation or an output."""

    #: the DOT identifier (``in0``, ``c0``, ``op3``, ``out0``)
    id: str
    #: ``"input"``, ``"const"``, ``"op"`` or ``"output"``
    kind: str
    #: the input's name, the constant's name, the primitive's name, ``output``
    title: str
    #: the abstract value of the node's value (the first one for a multi-result op)
    aval: ShapedArray
    #: the value: an array, or a list of them for an operation with several results
    value: object
    #: the gradient of the final output with respect to the value (``grads=True``)
    grad: object = None
    #: the cotangents summed into ``grad``, one per use of the value (two or more: the
    #: value is used several times and its gradient accumulates, ``+=``)
    grad_terms: list = field(default_factory=list)
    #: for an operation, the user's calls it was made in (outermost first); else ()
    calls: tuple[int, ...] = ()
    #: for an operation, the user's line that wrote it
    source: SourceInfo | None = None
    #: for an operation, its literal arguments and parameters, written out
    detail: str = ""


@dataclass
class Edge:
    """A use of a value: ``src``'s value is argument ``position`` of ``dst``."""

    src: str
    dst: str
    position: int
    #: the cotangent this use sends back to ``src`` (``grads=True``), None if none
    grad: object = None


@dataclass
class GraphData:
    """A computational graph with values (and gradients).

    Attributes
    ----------
    name
        The function's name.
    nodes
        :class:`Node` by id, inputs first, then constants, operations, outputs.
    edges
        :class:`Edge` list, in the order of the operations that use the values.
    calls
        The user's function calls (:class:`~fgrad.explain.recording.Call`), indexed by
        :attr:`Node.calls`.
    grads
        Whether gradients were computed.
    """

    name: str
    nodes: dict[str, Node]
    edges: list[Edge]
    calls: list[Call]
    grads: bool

    def find(self, title: str) -> list[Node]:
        """The nodes with this title (an input's name, a primitive's name, ``output``)."""
        return [n for n in self.nodes.values() if n.title == title]
