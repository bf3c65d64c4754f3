"""fgrad's own SVG writer (``fgrad.explain.svg``, what ``Graph.save("g.svg")`` draws
without graphviz): the boxes of the user's calls as the DOT text has them, collapsed
calls as single nodes, the values and gradients of the notes' examples (closed forms),
the ``+=`` of a value used twice, and a layout where no box holds a node that is not
its call's and no long edge runs through a node."""

from __future__ import annotations

import re
import shutil
import subprocess
from xml.etree import ElementTree

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.explain.dot import number, summary
from fgrad.explain.svg import to_svg

NS = "{http://www.w3.org/2000/svg}"


def sigmoid(t):
    return 1.0 / (1.0 + fnp.exp(-t))


def neg_log_sigmoid(x, w):
    return -fnp.log(sigmoid(w * x**2))


def loss(x, w):
    return neg_log_sigmoid(x, w)


def reused(x):
    a = x**2
    return -((5 * a) * fnp.log(a))


RNG = np.random.default_rng(0)
W1, W2 = RNG.normal(size=(5, 3)), RNG.normal(size=(3, 5))
X3, DELTA = RNG.normal(size=3), RNG.normal(size=3)


def skip(x):
    return fnp.vdot(DELTA, W2 @ fnp.maximum(W1 @ x, 0.0) + x)


class Picture:
    """The parts of an SVG the writer draws: node boxes with their lines of text, call
    boxes with their labels, edges as point lists, edge labels."""

    def __init__(self, text: str):
        root = ElementTree.fromstring(text)
        self.width = float(root.get("width"))
        self.nodes: list[tuple[tuple[float, float, float, float], list[str]]] = []
        self.calls: list[tuple[tuple[float, float, float, float], list[str]]] = []
        self.edges: list[list[tuple[float, float]]] = []
        self.edge_labels: list[tuple[float, str, str]] = []
        children = list(root)
        for child in children[3:]:  # after the defs, the background and the title
            tag = child.tag[len(NS) :]
            if tag == "g":
                rect, *texts = list(child)
                self.calls.append((_rect(rect), [t.text for t in texts]))
            elif tag == "polyline":
                pts = [tuple(map(float, p.split(","))) for p in child.get("points").split()]
                self.edges.append(pts)
            elif tag == "rect":
                self.nodes.append((_rect(child), []))
            elif tag == "text" and child.get("stroke") == "white":
                label = (float(child.get("x")), child.get("text-anchor"), child.text)
                self.edge_labels.append(label)
            elif tag == "text" and self.nodes:
                self.nodes[-1][1].append(child.text)

    def node(self, title: str) -> tuple[tuple[float, float, float, float], list[str]]:
        (found,) = [n for n in self.nodes if n[1][0] == title]
        return found


def _rect(e) -> tuple[float, float, float, float]:
    x, y = float(e.get("x")), float(e.get("y"))
    return x, y, x + float(e.get("width")), y + float(e.get("height"))


def _inside(inner, outer) -> bool:
    return outer[0] <= inner[0] and inner[2] <= outer[2] and outer[1] <= inner[1] and (
        inner[3] <= outer[3]
    )


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _sig(b: float) -> float:
    return 1.0 / (1.0 + np.exp(-b))


@pytest.fixture(scope="module")
def nls():
    return fgrad.explain.graph(loss, 1.5, 0.8, grads=True)


def test_each_call_is_a_box_labelled_with_its_function_as_in_the_dot_text(nls):
    pic = Picture(to_svg(nls))
    dot = nls.to_dot()
    assert len(pic.calls) == dot.count("subgraph cluster_call") == 2
    names = sorted(label[0] for _, label in pic.calls)
    assert names == ["neg_log_sigmoid()", "sigmoid()"]
    for _, label in pic.calls:  # and where the function is, as the DOT label says
        assert re.fullmatch(r"test_explain_svg\.py:\d+", label[1])
        assert label[1] in dot


def test_the_boxes_hold_their_calls_operations_and_nothing_else(nls):
    pic = Picture(to_svg(nls))
    boxes = {label[0][:-2]: rect for rect, label in pic.calls}
    assert _inside(boxes["sigmoid"], boxes["neg_log_sigmoid"])
    ops = [n for n in nls.nodes.values() if n.kind == "op"]
    drawn = pic.nodes
    assert len(drawn) == len(nls.nodes) == 2 + len(ops) + 1
    for node, (rect, lines) in zip(nls.nodes.values(), drawn):
        assert lines[0].split(" ")[0] == node.title
        for c, call in enumerate(nls.calls):
            box = boxes[call.function]
            if c in node.calls:
                assert _inside(rect, box), (node.title, call.function)
            else:
                assert not _overlap(rect, box), (node.title, call.function)


def test_values_and_gradients_are_the_closed_forms(nls):
    # L = -log s(b), b = w x^2: dL/db = -(1 - s(b)); dL/dx = dL/db * 2 w x; dL/dw = dL/db x^2
    x, w = 1.5, 0.8
    b = w * x**2
    dldb = -(1.0 - _sig(b))
    pic = Picture(to_svg(nls))
    assert pic.node("x")[1][1:] == ["f64[] = 1.5", f"grad = {number(dldb * 2 * w * x)}"]
    assert pic.node("w")[1][1:] == ["f64[] = 0.8", f"grad = {number(dldb * x**2)}"]
    assert pic.node("div (1.0, ·)")[1][1:3] == [
        f"f64[] = {number(_sig(b))}",
        f"grad = {number(-1.0 / _sig(b))}",
    ]
    assert pic.node("output")[1][1:] == [f"f64[] = {number(-np.log(_sig(b)))}", "grad = 1.0"]
    assert number(dldb * 2 * w * x) == "-0.340443"  # the notes' number
    # each edge carries the gradient of its source, printed beside it
    texts = [t for _, _, t in pic.edge_labels]
    assert number(dldb) in texts and number(dldb * 2 * w * x) in texts


def test_a_collapsed_call_is_one_node_with_its_value_and_gradient(nls):
    b = 0.8 * 1.5**2
    pic = Picture(to_svg(nls, collapse=["sigmoid"]))
    assert [label[0] for _, label in pic.calls] == ["neg_log_sigmoid()"]
    rect, lines = pic.node("sigmoid()")
    assert lines[1:] == ["4 operations", f"f64[] = {number(_sig(b))}",
                         f"grad = {number(-1.0 / _sig(b))}"]
    assert _inside(rect, pic.calls[0][0])
    assert len(pic.nodes) == len(nls.nodes) - 3  # four operations drawn as one node
    # the edges into and out of it, nothing inside it
    assert len(pic.edges) == len(nls.edges) - 3
    # and the whole function collapsed: one node between the inputs and the output
    whole = Picture(to_svg(nls, collapse=True))
    assert not whole.calls
    assert [lines[0] for _, lines in whole.nodes] == ["x", "w", "neg_log_sigmoid()", "output"]
    assert whole.node("neg_log_sigmoid()")[1][1] == "8 operations"


def test_a_value_used_twice_shows_its_gradient_as_a_sum():
    g = fgrad.explain.graph(reused, 1.9, grads=True)
    pic = Picture(to_svg(g))
    a = 1.9**2
    from_b, from_c = -5.0 * np.log(a), -5.0 * a / a  # d(-(5a) log a)/da, term by term
    _, lines = pic.node("pow (·, 2)")
    assert lines[2] == f"grad = {number(from_b)} + {number(from_c)} = {number(from_b + from_c)}"
    texts = sorted(t for _, _, t in pic.edge_labels if t.startswith("+="))
    assert texts == sorted([f"+= {number(from_b)}", f"+= {number(from_c)}"])


def test_the_skip_connections_gradient_and_its_long_edge():
    g = fgrad.explain.graph(skip, X3, grads=True)
    pic = Picture(to_svg(g))
    # dL/dx = W1^T R W2^T delta + delta: the block's term and the skip's, summed on x
    relu = (W1 @ X3 > 0).astype(float)
    block, direct = W1.T @ (relu * (W2.T @ DELTA)), DELTA
    _, lines = pic.node("x")
    assert lines[2:5] == [f"grad = {summary(block)}", f"+ {summary(direct)}",
                          f"= {summary(block + direct)}"]
    assert sorted(t for _, _, t in pic.edge_labels if t.startswith("+=")) == sorted(
        [f"+= {summary(block)}", f"+= {summary(direct)}"]
    )
    # x -> add skips three rows: it runs down a lane that crosses no node
    long_edges = [e for e in pic.edges if len(e) > 2]
    assert len(long_edges) == 1
    (lane,) = long_edges
    (_, ya), (xl, _), (_, yb) = lane[0], lane[1], lane[2]
    assert lane[1][0] == lane[2][0]  # vertical
    for rect, lines in pic.nodes:
        if rect[1] < lane[2][1] and lane[1][1] < rect[3]:  # a node in the rows it passes
            assert not rect[0] <= xl <= rect[2], lines[0]
    assert ya < yb


def test_every_label_fits_in_the_picture():
    for g in (
        fgrad.explain.graph(loss, 1.5, 0.8, grads=True),
        fgrad.explain.graph(skip, X3, grads=True),
    ):
        pic = Picture(to_svg(g))
        for x, anchor, text in pic.edge_labels:
            right = x + len(text) * 5.6 if anchor == "start" else x
            left = x if anchor == "start" else x - len(text) * 5.6
            assert 0 <= left and right <= pic.width, text
        for rect, _ in pic.nodes + pic.calls:
            assert 0 <= rect[0] and rect[2] <= pic.width


def test_save_without_graphviz_writes_the_boxes(tmp_path, monkeypatch, nls):
    monkeypatch.setattr("shutil.which", lambda name: None)
    text = nls.save(tmp_path / "g.svg", collapse=["sigmoid"]).read_text()
    assert text == to_svg(nls, collapse=["sigmoid"])
    assert text.count('<g class="call">') == 1


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert not installed")
def test_an_svg_renderer_reads_it(tmp_path, nls):
    svg = tmp_path / "g.svg"
    svg.write_text(to_svg(nls))
    png = tmp_path / "g.png"
    subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
