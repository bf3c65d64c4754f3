"""``fgrad.explain.graph``: a function's computational graph with its values and gradients,
drawn as lecture notes on backpropagation draw it.

The function is traced as ``make_jaxpr`` traces it (:mod:`fgrad.explain.recording`),
then run on the arguments one equation at a time to get every intermediate value,
and, with ``grads=True``, backwards from the output to get the cotangent each use of
a value sends back to it (:mod:`fgrad.explain.values`). The graph has a node per
input, per closed-over constant, per primitive application and per output; an edge per
use of a value. The gradient of a value used twice is the sum of what its two uses
send back, which the picture shows as ``a + b = total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.errors import TransformError
from fgrad.core.jaxpr import Literal, Var
from fgrad.core.pytree import tree_flatten
from fgrad.explain import dot, svg
from fgrad.explain.model import Edge, GraphData, Node
from fgrad.explain.recording import record
from fgrad.explain.values import edge_cotangents, forward_values


class Graph(GraphData):
    """A computational graph with values (and gradients): what :func:`graph` returns.

    Its data (:class:`~fgrad.explain.model.GraphData`): ``name``, ``nodes`` by id,
    ``edges``, the user's ``calls`` and whether ``grads`` were computed.
    """

    def to_dot(self, collapse: bool | Iterable[str] = False) -> str:
        """The graph in graphviz's DOT language.

        Parameters
        ----------
        collapse
            ``False``: every operation is drawn, the calls of the user's functions as
            boxes around theirs. ``True``: each call at the top level is one node.
            Function names (``["sigmoid"]``): the calls of those functions are.
        """
        return dot.to_dot(self, collapse)

    def save(self, path: str | Path, collapse: bool | Iterable[str] = False) -> Path:
        """Write the picture to ``path``: ``.dot`` (or ``.gv``) writes the DOT text,
        ``.svg``, ``.png`` and ``.pdf`` run graphviz's ``dot`` program. Without graphviz,
        a ``.svg`` is drawn by fgrad's own writer (:mod:`fgrad.explain.svg`: the same
        nodes, boxes and labels in a simpler layout), the others are an error saying
        what to install. ``collapse`` as in :meth:`to_dot`. Returns the path."""
        path = Path(path)
        if path.suffix.lower() == ".svg" and dot.dot_program() is None:
            path.write_text(svg.to_svg(self, collapse))
            return path
        return dot.save(self.to_dot(collapse), path)

    def _repr_svg_(self) -> str:  # Jupyter shows the picture
        return dot.render_svg(self.to_dot()) or svg.to_svg(self)

    def __repr__(self) -> str:
        ops = sum(n.kind == "op" for n in self.nodes.values())
        return f"<fgrad.explain.Graph of {self.name}: {ops} operations, {len(self.edges)} edges>"


def graph(fun: Callable, *args, grads: bool = False) -> Graph:
    """The computational graph of ``fun(*args)``, with every intermediate value.

    Parameters
    ----------
    fun
        A function of pytrees of arrays written with ``fgrad.numpy``.
    *args
        The arguments to trace and evaluate it on.
    grads
        Also run the backward pass: each node gets the gradient of the output with
        respect to its value, each edge the cotangent it carries back. ``fun`` must
        then return one value with a single element (a loss).

    Returns
    -------
    Graph
        ``.to_dot()`` for the DOT text, ``.save("g.svg")`` for a picture.

    Examples
    --------
    >>> g = fgrad.explain.graph(lambda x, w: -fnp.log(1 / (1 + fnp.exp(-w * x**2))),
    ...                         1.5, 0.8, grads=True)
    >>> g.save("loss.svg")
    """
    rec = record(fun, args)
    jaxpr = rec.closed.jaxpr
    # as traced: Python numbers became arrays of their (strong) type
    flat = [np.asarray(x, v.aval.dtype) for x, v in zip(tree_flatten(args)[0], jaxpr.invars)]
    env = forward_values(jaxpr, rec.closed.consts, flat)
    seed = None
    totals: dict[Var, object] = {}
    edge_cts: dict[tuple[int, int], object] = {}
    if grads:
        seed_var = _scalar_output(jaxpr.outvars, fun)
        seed = np.ones_like(np.asarray(env[seed_var]))
        totals, edge_cts = edge_cotangents(jaxpr, env, {seed_var: seed})

    nodes: list[Node] = []
    producer: dict[Var, Node] = {}  # where each variable's value comes from

    def add(node: Node, var: Var | None = None) -> None:
        nodes.append(node)
        if var is not None:
            producer[var] = node
            node.grad = totals.get(var)

    for k, (v, name) in enumerate(zip(jaxpr.invars, rec.input_names)):
        add(Node(f"in{k}", "input", name, v.aval, env[v]), v)
    for k, (v, name) in enumerate(zip(jaxpr.constvars, rec.const_names)):
        add(Node(f"c{k}", "const", name or "const", v.aval, env[v]), v)
    edges: list[Edge] = []
    for k, eqn in enumerate(jaxpr.eqns):
        values = [env[v] for v in eqn.outvars]
        node = Node(
            f"op{k}",
            "op",
            eqn.prim.name,
            eqn.outvars[0].aval if eqn.outvars else get_aval(0.0),
            values if eqn.prim.multiple_results else values[0] if values else None,
            calls=rec.stacks[k],
            source=eqn.source,
            detail=_detail(eqn.invars, eqn.params),
        )
        if eqn.prim.multiple_results:  # one node for all results, no gradient shown
            add(node)
            producer.update(dict.fromkeys(eqn.outvars, node))
        else:
            add(node, eqn.outvars[0] if eqn.outvars else None)
        for i, v in enumerate(eqn.invars):
            if type(v) is Var:
                edges.append(Edge(producer[v].id, node.id, i, edge_cts.get((k, i))))
    for k, v in enumerate(jaxpr.outvars):
        value = v.val if type(v) is Literal else env[v]
        title = "output" if len(jaxpr.outvars) == 1 else f"output[{k}]"
        out = Node(f"out{k}", "output", title, v.aval, value)
        if grads:  # the seed of the backward pass: d output / d output
            out.grad, out.grad_terms = seed, [seed]
        add(out)
        if type(v) is Var:
            edges.append(Edge(producer[v].id, out.id, 0, seed if grads else None))
    by_id = {n.id: n for n in nodes}
    for e in edges:
        if e.grad is not None:
            by_id[e.src].grad_terms.append(e.grad)
    return Graph(getattr(fun, "__name__", "f"), {n.id: n for n in nodes}, edges, rec.calls, grads)


def _scalar_output(outvars: list, fun: Callable) -> Var:
    name = getattr(fun, "__name__", "the function")
    if len(outvars) != 1 or type(outvars[0]) is not Var or outvars[0].aval.size != 1:
        shapes = ", ".join(v.aval.str_short() for v in outvars)
        raise TransformError(
            f"explain.graph(grads=True): {name} must return one value of one element (a "
            f"loss) to show the gradients flowing back from it, but it returned ({shapes}). "
            "Sum or index the output to the scalar whose gradient you want to see, or pass "
            "grads=False."
        )
    return outvars[0]


def _detail(invars: list, params: dict) -> str:
    """The literal arguments (``·`` for the others) and the parameters, when there are any."""
    parts = []
    if any(type(v) is Literal for v in invars):
        parts.append(
            "(" + ", ".join(dot.number(v.val) if type(v) is Literal else "·" for v in invars) + ")"
        )
    shown = [f"{k}={_short(p)}" for k, p in params.items() if not callable(p)]
    parts.extend(text for text in shown if len(text) <= _PARAM_WIDTH)
    return " ".join(parts)


#: parameters written longer than this are left out of a picture (dot_general's
#: dimension numbers): the jaxpr has them
_PARAM_WIDTH = 24


def _short(p) -> str:
    if isinstance(p, np.ndarray):
        return f"<{p.dtype}{list(p.shape)}>"
    return str(p)
