"""Writing a :class:`~fgrad.explain.graph.Graph` in graphviz's DOT language, and rendering
it with graphviz's ``dot`` program when that is installed.

Values are written in black on the nodes, gradients in red: on each node the gradient
of the output with respect to its value (``a + b = total`` where the value is used
twice, the ``+=`` of a hand-written backward pass), on each edge the part of it that
this use sends back. The calls of the user's functions are boxes around their
operations, or single nodes where collapsed.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fgrad.core.errors import FgradError
from fgrad.explain.model import Edge, GraphData, Node

GRAD_COLOR = "#c0392b"
FILL = {"input": "#d6eaf8", "const": "#eeeeee", "op": "#ffffff", "output": "#d5f5e3"}
CALL_FILL = "#fdebd0"  # a collapsed call
CALL_BORDER = "#7f8c8d"  # the dashed box around a call's operations
_SHAPE = {"input": "box", "const": "box", "op": "ellipse", "output": "box"}


def number(v, digits: int = 6) -> str:
    """A scalar written in full (``digits`` significant digits)."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (complex, np.complexfloating)):
        return f"{complex(v):.{digits}g}"
    text = f"{float(v):.{digits}g}"
    return text if any(c in text for c in ".enai") else text + ".0"  # a float looks like one


def summary(x) -> str:
    """A value in a few characters: a scalar in full, up to four elements listed, a larger
    array by its mean and range (three digits)."""
    a = np.asarray(x)
    if a.size == 1:
        return number(a.reshape(()).item())
    if a.size == 0:
        return "[]"
    if a.ndim == 1 and a.size <= 4:
        return "[" + ", ".join(number(v, 3) for v in a.tolist()) + "]"
    if a.dtype.kind in "biu":
        return f"in [{number(a.min())}, {number(a.max())}]"
    if a.dtype.kind == "c":
        return f"|max| {number(np.abs(a).max(), 3)}"
    return f"mean {number(a.mean(), 3)} in [{number(a.min(), 3)}, {number(a.max(), 3)}]"


def _grad_lines(node: Node) -> list[tuple[str, str]]:
    """The gradient's line, or lines: ``a + b = total`` where the value is used twice
    (each term on a line of its own for arrays)."""
    if node.grad is None:
        return []
    total = summary(node.grad)
    if len(node.grad_terms) < 2:
        return [(f"grad = {total}", "grad")]
    terms = [summary(t) for t in node.grad_terms]
    if np.size(node.grad) == 1:
        return [(f"grad = {' + '.join(terms)} = {total}", "grad")]
    lines = [(f"grad = {terms[0]}", "grad")]
    lines += [(f"+ {t}", "grad") for t in terms[1:]]
    return lines + [(f"= {total}", "grad")]


def edge_text(graph: GraphData, edge: Edge) -> str:
    """The gradient an edge carries back, ``+= g`` where its source is used several times
    (its gradient is the sum over the uses); empty without gradients."""
    if edge.grad is None:
        return ""
    accumulates = len(graph.nodes[edge.src].grad_terms) > 1
    return ("+= " if accumulates else "") + summary(edge.grad)


def _label(lines: list[tuple[str, str]]) -> str:
    """An HTML-like graphviz label: a ``(text, style)`` per line (``b``, ``grad``, ``small``)."""
    out = []
    for text, style in lines:
        text = html.escape(text)
        if style == "b":
            text = f"<b>{text}</b>"
        elif style == "grad":
            text = f'<font color="{GRAD_COLOR}">{text}</font>'
        elif style == "small":
            text = f'<font point-size="9" color="#555555">{text}</font>'
        out.append(text)
    return "<" + "<br/>".join(out) + ">"


def node_lines(node: Node) -> list[tuple[str, str]]:
    title = node.title + (" " + node.detail if node.detail else "")
    lines = [(title, "b")]
    values = node.value if isinstance(node.value, list) else [node.value]
    avals = [node.aval] if not isinstance(node.value, list) else [None] * len(values)
    for aval, v in zip(avals, values):
        shape = (aval.str_short() if aval is not None else _short_type(v)) + " = "
        lines.append((shape + summary(v), ""))
    lines += _grad_lines(node)
    if node.source is not None:
        lines.append((str(node.source), "small"))
    return lines


def _short_type(v) -> str:
    a = np.asarray(v)
    return f"{a.dtype.name}{list(a.shape)}"


def _collapsed_calls(graph: GraphData, collapse: bool | Iterable[str]) -> set[int]:
    """The calls drawn as single nodes: outermost first, none inside another."""
    if collapse is False:
        return set()
    names = None if collapse is True else set(collapse)
    chosen: set[int] = set()
    for c, call in enumerate(graph.calls):
        wanted = call.parent is None if names is None else call.function in names
        if wanted and not _inside(graph, c, chosen):
            chosen.add(c)
    return chosen


def _inside(graph: GraphData, c: int, chosen: set[int]) -> bool:
    parent = graph.calls[c].parent
    while parent is not None:
        if parent in chosen:
            return True
        parent = graph.calls[parent].parent
    return False


@dataclass
class Drawing:
    """What a picture draws of a graph, some calls collapsed (shared by the DOT and the
    SVG writers)."""

    #: the calls drawn as single nodes (``call<c>``)
    collapsed: set[int]
    #: node id -> the id drawn for it (its own, or the collapsed call's it is inside)
    where: dict[str, str]
    #: call (None: the top level) -> the ids drawn directly inside its box
    members: dict[int | None, list[str]]
    #: collapsed call -> the operations it hides
    inner_ops: dict[int, list[Node]]

    def boxed(self, graph: GraphData, call: int | None) -> list[int]:
        """The calls drawn as boxes directly inside ``call`` (None: the top level)."""
        return [
            c
            for c, sub in enumerate(graph.calls)
            if sub.parent == call
            and c not in self.collapsed
            and _has_members(graph, c, self.members)
        ]


def drawing(graph: GraphData, collapse: bool | Iterable[str] = False) -> Drawing:
    """What to draw of ``graph`` with the calls ``collapse`` names collapsed."""
    collapsed = _collapsed_calls(graph, collapse)
    where: dict[str, str] = {}
    members: dict[int | None, list[str]] = {}
    inner_ops: dict[int, list[Node]] = {c: [] for c in collapsed}
    for node in graph.nodes.values():
        hidden = next((c for c in node.calls if c in collapsed), None)
        if hidden is not None:
            where[node.id] = f"call{hidden}"
            inner_ops[hidden].append(node)
            continue
        where[node.id] = node.id
        members.setdefault(node.calls[-1] if node.calls else None, []).append(node.id)
    for c in collapsed:
        parent = graph.calls[c].parent
        members.setdefault(parent, []).append(f"call{c}")
    return Drawing(collapsed, where, members, inner_ops)


def call_label(graph: GraphData, c: int) -> list[tuple[str, str]]:
    """The label of the box around call ``c``: the function's name and where it is."""
    call = graph.calls[c]
    return [(f"{call.function}()", "b"), (f"{os.path.basename(call.file)}:{call.line}", "small")]


def to_dot(graph: GraphData, collapse: bool | Iterable[str] = False) -> str:
    """The DOT text of ``graph`` (see :meth:`fgrad.explain.graph.Graph.to_dot`)."""
    drawn = drawing(graph, collapse)
    where, members, inner_ops = drawn.where, drawn.members, drawn.inner_ops

    # a chain reads left to right as in the notes; a larger program fits better downwards
    ops = sum(n.kind == "op" for n in graph.nodes.values())
    lines = [
        "digraph fgrad {",
        f"  rankdir={'LR' if ops <= 12 else 'TB'}; newrank=true; nodesep=0.3; ranksep=0.45;",
        '  node [fontname="Helvetica", fontsize=11, style=filled, margin="0.12,0.06"];',
        f'  edge [fontname="Helvetica", fontsize=10, fontcolor="{GRAD_COLOR}", color="#555555"];',
        f"  label={_title(graph)}; labelloc=t; fontname=\"Helvetica\";",
    ]
    drawn_nodes = {n.id: n for n in graph.nodes.values()}

    def emit(call: int | None, indent: str) -> None:
        for ident in members.get(call, []):
            if ident in drawn_nodes:
                node = drawn_nodes[ident]
                extra = ", peripheries=2" if node.kind == "output" else ""
                extra += ", style=\"filled,dashed\"" if node.kind == "const" else ""
                lines.append(
                    f'{indent}{ident} [shape={_SHAPE[node.kind]}, fillcolor="{FILL[node.kind]}", '
                    f"label={_label(node_lines(node))}{extra}];"
                )
            else:
                c = int(ident[4:])
                lines.append(
                    f'{indent}{ident} [shape=box, style="rounded,filled", '
                    f'fillcolor="{CALL_FILL}", '
                    f"label={_label(collapsed_lines(graph, c, inner_ops[c]))}];"
                )
        for c in drawn.boxed(graph, call):
            lines.append(f"{indent}subgraph cluster_call{c} {{")
            label = _label(call_label(graph, c))
            lines.append(
                f'{indent}  label={label}; style="rounded,dashed"; color="{CALL_BORDER}"; '
                "labeljust=l;"
            )
            emit(c, indent + "  ")
            lines.append(f"{indent}}}")

    emit(None, "  ")
    for e in graph.edges:
        src, dst = where[e.src], where[e.dst]
        if src == dst:
            continue  # inside a collapsed call
        text = edge_text(graph, e)
        label = f" [label={_label([(text, '')])}]" if text else ""
        lines.append(f"  {src} -> {dst}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _has_members(graph: GraphData, c: int, members: dict) -> bool:
    if members.get(c):
        return True
    return any(sub.parent == c and _has_members(graph, k, members)
               for k, sub in enumerate(graph.calls))


def _title(graph: GraphData) -> str:
    lines = [(graph.name, "b")]
    if graph.grads:
        lines.append(("values forward (black), gradients of the output backward (red)", "small"))
    return _label(lines)


def collapsed_lines(graph: GraphData, c: int, ops: list[Node]) -> list[tuple[str, str]]:
    """A collapsed call's label: its name, size, and the values it hands out."""
    call = graph.calls[c]
    lines = [(f"{call.function}()", "b"), (f"{len(ops)} operations", "small")]
    inside = {n.id for n in ops}
    leaving = [n for n in ops if any(e.src == n.id and e.dst not in inside for e in graph.edges)]
    for node in leaving:
        lines.append((f"{node.aval.str_short()} = {summary(node.value)}", ""))
        lines += _grad_lines(node)
    return lines


def dot_program() -> str | None:
    """The path of graphviz's ``dot``, or None where it is not installed."""
    return shutil.which("dot")


def save(text: str, path: Path) -> Path:
    """Write DOT ``text`` to ``path``, rendered by ``dot`` unless the suffix is .dot/.gv."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt in ("dot", "gv"):
        path.write_text(text)
        return path
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(
            f"explain: cannot save {path.name!r}: the suffix must be .dot, .gv, .svg, .png or .pdf"
        )
    program = dot_program()
    if program is None:
        raise FgradError(
            f"explain: saving {path.name!r} needs graphviz's `dot` program, which is not "
            "installed (apt install graphviz, brew install graphviz, conda install graphviz). "
            f"Save as {path.with_suffix('.dot').name!r} instead and render it elsewhere "
            "(`dot -Tsvg`, or an online graphviz viewer), or as .svg: fgrad's own, simpler "
            "writer draws it."
        )
    subprocess.run([program, f"-T{fmt}", "-o", str(path)], input=text.encode(), check=True)
    return path


def render_svg(text: str) -> str | None:
    """The SVG of DOT ``text``, or None without graphviz."""
    program = dot_program()
    if program is None:
        return None
    done = subprocess.run([program, "-Tsvg"], input=text.encode(), capture_output=True, check=True)
    return done.stdout.decode()
