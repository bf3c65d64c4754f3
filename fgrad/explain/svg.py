"""A plain SVG drawing of a :class:`~fgrad.explain.model.GraphData`, without graphviz.

Graphviz lays pictures out better (and boxes the calls of the user's functions); this
writer is what ``Graph.save("g.svg")`` falls back to where graphviz's ``dot`` is not
installed. The layout is layered, top to bottom: each node one row below the lowest
of its arguments (inputs and constants one row above their first use), nodes in a row
ordered by the mean position of their arguments, edges straight, each labelled in red
with the gradient it carries back.
"""

from __future__ import annotations

import html

from fgrad.explain.dot import GRAD_COLOR, edge_text, node_lines
from fgrad.explain.model import GraphData

_CHAR = 6.6  # pixels per character at font size 11 (Helvetica-like), generous
_LINE = 15
_PAD = 10
_ROW_GAP = 56
_COL_GAP = 28
_FILL = {"input": "#d6eaf8", "const": "#eeeeee", "op": "#ffffff", "output": "#d5f5e3"}


def to_svg(graph: GraphData) -> str:
    """The SVG text of ``graph`` (every operation drawn, no call boxes)."""
    ids = list(graph.nodes)
    args: dict[str, list[str]] = {n: [] for n in ids}
    users: dict[str, list[str]] = {n: [] for n in ids}
    for e in graph.edges:
        args[e.dst].append(e.src)
        users[e.src].append(e.dst)
    row: dict[str, int] = {}
    for n in ids:  # nodes come in an order where arguments precede their uses
        row[n] = 1 + max((row[a] for a in args[n]), default=-1)
    for n in ids:  # an input or a constant sits just above its first use
        if not args[n] and users[n]:
            row[n] = max(0, min(row[u] for u in users[n]) - 1)
    rows: dict[int, list[str]] = {}
    for n in ids:
        rows.setdefault(row[n], []).append(n)

    size = {n: _box(node_lines(graph.nodes[n])) for n in ids}
    x: dict[str, float] = {}
    for r in sorted(rows):
        members = rows[r]
        if r:
            members.sort(key=lambda n: _mean([x[a] for a in args[n] if a in x]) or 0.0)
        left = 0.0
        for n in members:
            w = size[n][0]
            x[n] = left + w / 2
            left += w + _COL_GAP
    width = max(x[n] + size[n][0] / 2 for n in ids) + 2 * _PAD if ids else 100
    for members in rows.values():  # centre each row
        row_width = x[members[-1]] + size[members[-1]][0] / 2
        shift = (width - 2 * _PAD - row_width) / 2
        for n in members:
            x[n] += shift + _PAD
    top: dict[int, float] = {}
    y = 40.0
    for r in sorted(rows):
        top[r] = y
        y += max(size[n][1] for n in rows[r]) + _ROW_GAP
    height = y - _ROW_GAP + _PAD

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/>'
        "</marker></defs>",
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-weight="bold" '
        f'font-size="14">{html.escape(graph.name)}</text>',
    ]
    for e in graph.edges:
        x1, y1 = x[e.src], top[row[e.src]] + size[e.src][1]
        x2, y2 = x[e.dst], top[row[e.dst]]
        out.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555555" '
            'marker-end="url(#arrow)"/>'
        )
        text = edge_text(graph, e)
        if text:
            out.append(
                f'<text x="{(x1 + x2) / 2 + 4:.1f}" y="{(y1 + y2) / 2:.1f}" '
                f'fill="{GRAD_COLOR}" font-size="10">{html.escape(text)}</text>'
            )
    for n in ids:
        node = graph.nodes[n]
        w, h = size[n]
        left, y0 = x[n] - w / 2, top[row[n]]
        rounded = ' rx="12"' if node.kind == "op" else ""
        dashed = ' stroke-dasharray="4,3"' if node.kind == "const" else ""
        border = 2 if node.kind == "output" else 1
        out.append(
            f'<rect x="{left:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}"{rounded} '
            f'fill="{_FILL[node.kind]}" stroke="black" stroke-width="{border}"{dashed}/>'
        )
        for k, (text, style) in enumerate(node_lines(node)):
            attrs = {
                "b": ' font-weight="bold"',
                "grad": f' fill="{GRAD_COLOR}"',
                "small": ' font-size="9" fill="#555555"',
            }.get(style, "")
            out.append(
                f'<text x="{x[n]:.1f}" y="{y0 + _PAD + 10 + k * _LINE:.1f}" '
                f'text-anchor="middle"{attrs}>{html.escape(text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _box(lines: list[tuple[str, str]]) -> tuple[float, float]:
    width = max(len(text) for text, _ in lines) * _CHAR + 2 * _PAD
    return width, len(lines) * _LINE + 2 * _PAD - 4


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
