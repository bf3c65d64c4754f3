"""A plain SVG drawing of a :class:`~fgrad.explain.model.GraphData`, without graphviz.

Graphviz lays pictures out better; this writer is what ``Graph.save("g.svg")`` falls
back to where graphviz's ``dot`` is not installed. It draws what the DOT text holds
(:func:`fgrad.explain.dot.drawing`): the nodes with their values and gradients, the
calls of the user's functions as dashed boxes labelled with the function's name and
line, or as single nodes where collapsed. The layout is layered, top to bottom: each
node one row below the lowest of its arguments (inputs and constants one row above
their first use). Each box is a block of columns of its own, packed left to right
with the nodes and boxes beside it, so that no other node falls inside it; a node
sits under its arguments where the row leaves room. Edges are straight, each
labelled in red with the gradient it carries back.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field

from fgrad.explain.dot import (
    CALL_BORDER,
    CALL_FILL,
    FILL,
    GRAD_COLOR,
    call_label,
    collapsed_lines,
    drawing,
    edge_text,
    node_lines,
)
from fgrad.explain.model import GraphData

_CHAR = 6.6  # pixels per character at font size 11 (Helvetica-like), generous
_LINE = 15
_PAD = 10
_ROW_GAP = 56
_COL_GAP = 28
_BOX_PAD = 12  # between a box and what it holds
_BOX_HEAD = 34  # a box's label above its first row: the name and the file:line
_BOX_FOOT = 10
_LABEL_CHAR = 5.6  # pixels per character of an edge's label (font size 10)


@dataclass
class _Block:
    """A call's box (or the whole picture, ``call`` None) being laid out."""

    call: int | None
    items: list[str]
    children: list[_Block]
    first: int = 0  # the rows it spans
    last: int = 0
    width: float = 0.0
    left: float = 0.0  # where it is drawn, once placed
    x: dict[str, float] = field(default_factory=dict)  # item -> centre, within the block
    #: every item drawn in it, in boxes inside too -> centre, within the block
    inside: dict[str, float] = field(default_factory=dict)
    head: int = 1  # boxes (itself and inside) whose labels stack above its first row
    foot: int = 1


def to_svg(graph: GraphData, collapse: bool | Iterable[str] = False) -> str:
    """The SVG text of ``graph``, the calls ``collapse`` names drawn as single nodes (as
    :meth:`fgrad.explain.graph.Graph.to_dot` takes it)."""
    drawn = drawing(graph, collapse)
    ids = _in_order(graph, drawn)
    lines = {
        i: node_lines(graph.nodes[i])
        if i in graph.nodes
        else collapsed_lines(graph, int(i[4:]), drawn.inner_ops[int(i[4:])])
        for i in ids
    }
    edges = [
        (drawn.where[e.src], drawn.where[e.dst], edge_text(graph, e))
        for e in graph.edges
        if drawn.where[e.src] != drawn.where[e.dst]
    ]
    args: dict[str, list[str]] = {i: [] for i in ids}
    users: dict[str, list[str]] = {i: [] for i in ids}
    for src, dst, _ in edges:
        args[dst].append(src)
        users[src].append(dst)
    row: dict[str, int] = {}
    for i in ids:  # arguments precede their uses in ids
        row[i] = 1 + max((row[a] for a in args[i]), default=-1)
    for i in ids:  # an input or a constant sits just above its first use
        if not args[i] and users[i]:
            row[i] = max(0, min(row[u] for u in users[i]) - 1)
    size = {i: _box(lines[i]) for i in ids}

    def block(call: int | None) -> _Block:
        b = _Block(call, drawn.members.get(call, []), [block(c) for c in drawn.boxed(graph, call)])
        spans = [(row[i], row[i]) for i in b.items] + [(c.first, c.last) for c in b.children]
        b.first, b.last = min(s for s, _ in spans), max(t for _, t in spans)
        b.head = 1 + max((c.head for c in b.children if c.first == b.first), default=0)
        b.foot = 1 + max((c.foot for c in b.children if c.last == b.last), default=0)
        _pack(b, row, size, (args, users), ids)
        if call is not None:
            label = max(len(text) for text, _ in call_label(graph, call)) * _CHAR
            b.width = max(b.width + 2 * _BOX_PAD, label + 2 * _BOX_PAD)
        return b

    root = block(None)
    x: dict[str, float] = {}
    boxes: list[_Block] = []

    def place(b: _Block, left: float) -> None:
        b.left = left
        inner = left + (_BOX_PAD if b.call is not None else 0.0)
        for i in b.items:
            x[i] = inner + b.x[i]
        for c in b.children:
            place(c, inner + c.left)
            boxes.append(c)

    place(root, _PAD)
    width = root.width + 2 * _PAD

    # rows top to bottom, with room above a row for the labels of the boxes it opens and
    # below for the bottoms of those it closes
    n_rows = 1 + max(row.values(), default=0)
    opens = [0] * (n_rows + 1)
    closes = [0] * (n_rows + 1)
    for b in boxes:
        opens[b.first] = max(opens[b.first], b.head)
        closes[b.last] = max(closes[b.last], b.foot)
    top: list[float] = []
    bottom: list[float] = []
    y = 44.0
    for r in range(n_rows):
        y += opens[r] * _BOX_HEAD
        top.append(y)
        y += max((size[i][1] for i in ids if row[i] == r), default=0.0)
        bottom.append(y)
        y += closes[r] * _BOX_FOOT + _ROW_GAP
    height = y - _ROW_GAP + _PAD

    # an edge to the next row is straight; a longer one leaves its row, runs down a lane
    # beside the rows it passes (right of them, or left where that is nearer and there is
    # room for its label) and enters its row from above
    extent: dict[int, tuple[float, float]] = {}
    for i in ids:
        lo, hi = extent.get(row[i], (float("inf"), -float("inf")))
        extent[row[i]] = (min(lo, x[i] - size[i][0] / 2), max(hi, x[i] + size[i][0] / 2))
    lanes: list[tuple[float, int, int]] = []
    routes = []
    labels = []  # drawn last, over the nodes and edges they might touch
    for src, dst, text in edges:
        x1, y1 = x[src], top[row[src]] + size[src][1]
        x2, y2 = x[dst], top[row[dst]]
        passed = [extent[r] for r in range(row[src] + 1, row[dst]) if r in extent]
        if not passed:
            routes.append([(x1, y1), (x2, y2)])
            if text:
                labels.append(_edge_label((x1 + x2) / 2 + 5, (y1 + y2) / 2 + 4, text, "start"))
            continue
        room = len(text) * _LABEL_CHAR + 8
        right = max(hi for _, hi in passed) + 18
        left = min(lo for lo, _ in passed) - 18
        side = 1
        if left - room >= _PAD and abs(left - (x1 + x2) / 2) < abs(right - (x1 + x2) / 2):
            side = -1
        lane = right if side == 1 else left
        beside = [
            other for other, first, last in lanes if not (last <= row[src] or first >= row[dst])
        ]
        while any(abs(lane - other) < 12 for other in beside):
            lane += 14 * side
        lanes.append((lane, row[src], row[dst]))
        width = max(width, lane + room + _PAD)
        ya, yb = bottom[row[src]] + 22, top[row[dst]] - 22
        routes.append([(x1, y1), (lane, ya), (lane, yb), (x2, y2)])
        if text:  # beside the lane, away from the rows; below the labels of lanes beside it
            anchor = "start" if side == 1 else "end"
            labels.append(
                _edge_label(lane + 5 * side, (ya + yb) / 2 + 14 * len(beside), text, anchor)
            )

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
    if graph.grads:
        out.append(
            f'<text x="{width / 2:.0f}" y="34" text-anchor="middle" font-size="9" '
            'fill="#555555">values forward (black), gradients of the output backward (red)'
            "</text>"
        )
    for b in boxes:
        y0 = top[b.first] - b.head * _BOX_HEAD + 4
        y1 = bottom[b.last] + b.foot * _BOX_FOOT
        out.append(
            f'<g class="call"><rect x="{b.left:.1f}" y="{y0:.1f}" width="{b.width:.1f}" '
            f'height="{y1 - y0:.1f}" rx="8" fill="none" stroke="{CALL_BORDER}" '
            'stroke-dasharray="5,3"/>'
        )
        name, place_line = call_label(graph, b.call)
        out.append(
            f'<text x="{b.left + 8:.1f}" y="{y0 + 14:.1f}" font-weight="bold">'
            f"{html.escape(name[0])}</text>"
            f'<text x="{b.left + 8:.1f}" y="{y0 + 26:.1f}" font-size="9" fill="#555555">'
            f"{html.escape(place_line[0])}</text></g>"
        )
    for points in routes:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="#555555" marker-end="url(#arrow)"/>'
        )
    for i in ids:
        kind = graph.nodes[i].kind if i in graph.nodes else "call"
        w, h = size[i]
        left, y0 = x[i] - w / 2, top[row[i]]
        rounded = ' rx="12"' if kind in ("op", "call") else ""
        dashed = ' stroke-dasharray="4,3"' if kind == "const" else ""
        border = 2 if kind == "output" else 1
        fill = CALL_FILL if kind == "call" else FILL[kind]
        out.append(
            f'<rect x="{left:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}"{rounded} '
            f'fill="{fill}" stroke="black" stroke-width="{border}"{dashed}/>'
        )
        for k, (text, style) in enumerate(lines[i]):
            attrs = {
                "b": ' font-weight="bold"',
                "grad": f' fill="{GRAD_COLOR}"',
                "small": ' font-size="9" fill="#555555"',
            }.get(style, "")
            out.append(
                f'<text x="{x[i]:.1f}" y="{y0 + _PAD + 10 + k * _LINE:.1f}" '
                f'text-anchor="middle"{attrs}>{html.escape(text)}</text>'
            )
    out.extend(labels)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge_label(x: float, y: float, text: str, anchor: str) -> str:
    """The gradient an edge carries, in red on a white halo."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{GRAD_COLOR}" '
        f'font-size="10" stroke="white" stroke-width="3" paint-order="stroke">'
        f"{html.escape(text)}</text>"
    )


def _in_order(graph: GraphData, drawn) -> list[str]:
    """The ids drawn, each after its arguments: a collapsed call where its last hidden
    operation was (the values it takes from outside are all made before that)."""
    last = {drawn.where[n]: n for n in graph.nodes}
    return [drawn.where[n] for n in graph.nodes if last[drawn.where[n]] == n]


def _pack(b: _Block, row: dict, size: dict, links: tuple[dict, dict], ids: list[str]) -> None:
    """Place ``b``'s nodes and boxes left to right: each at the leftmost place free in
    every row it spans, a node under the middle of its arguments placed so far in this
    block if that is further right, and then an input or constant over the middle of its
    uses where its row leaves room; sets ``b.x``, ``b.inside``, the children's ``left``
    (within ``b``) and ``b.width``. ``links``: the arguments and the uses of each node."""
    args, users = links
    order = {i: k for k, i in enumerate(ids)}
    units: list[tuple[int, int, object]] = [(row[i], order[i], i) for i in b.items]
    for c in b.children:
        units.append((c.first, min(order[i] for i in _all_items(c)), c))
    reach: dict[int, float] = {}  # row -> the right edge of what is placed in it
    lefts: dict[int, list[float]] = {}  # row -> the left edges of what is placed in it
    for _, _, unit in sorted(units, key=lambda u: u[:2]):
        if isinstance(unit, _Block):
            rows, w = range(unit.first, unit.last + 1), unit.width
        else:
            rows, w = (row[unit],), size[unit][0]
        left = max((reach[r] + _COL_GAP for r in rows if r in reach), default=0.0)
        if isinstance(unit, _Block):
            unit.left = left
            for i, centre in unit.inside.items():
                b.inside[i] = left + _BOX_PAD + centre
        else:
            known = [b.inside[a] for a in args[unit] if a in b.inside]
            if known:
                left = max(left, sum(known) / len(known) - w / 2)
            b.x[unit] = b.inside[unit] = left + w / 2
        for r in rows:
            reach[r] = left + w
            lefts.setdefault(r, []).append(left)
    b.width = max(reach.values(), default=0.0)
    for i in b.items:
        uses = [b.inside[u] for u in users[i] if u in b.inside]
        if args[i] or not uses:
            continue
        w = size[i][0]
        left = b.x[i] - w / 2
        room = min((x for x in lefts[row[i]] if x > left), default=b.width + _COL_GAP)
        left = min(max(left, sum(uses) / len(uses) - w / 2), room - _COL_GAP - w)
        b.x[i] = b.inside[i] = left + w / 2


def _all_items(b: _Block) -> list[str]:
    return b.items + [i for c in b.children for i in _all_items(c)]


def _box(lines: list[tuple[str, str]]) -> tuple[float, float]:
    width = max(len(text) for text, _ in lines) * _CHAR + 2 * _PAD
    return width, len(lines) * _LINE + 2 * _PAD - 4
