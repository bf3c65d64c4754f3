"""``einsum`` with NumPy's subscripts, as a sequence of ``dot_general`` contractions.

Each operand is first reduced on its own: repeated labels (``'ii'``) become a
diagonal, and labels no other operand or the output needs are summed. Operands
are then contracted pairwise, left to right, each pair in one ``dot_general``
whose batch axes are the labels both share and something later still needs,
and whose contracted axes are the shared labels nothing later needs. A
matmul-like einsum is therefore exactly one ``dot_general`` (BLAS), and einsum
needs no derivative rules of its own. The result is summed over leftover labels
and transposed to the output's order.
"""

from __future__ import annotations

import string

import numpy as np

from fgrad.numpy.conversion import as_array
from fgrad.numpy.manipulation import broadcast_to, diagonal, transpose
from fgrad.primitives.dot_general import dot_general
from fgrad.primitives.structural import reduce_sum

_LETTERS = string.ascii_letters


def einsum(*operands, out=None, optimize=False, dtype=None, casting="safe"):
    """Evaluate Einstein summation ``subscripts`` on ``operands`` (``numpy.einsum``).

    Supports explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``) outputs,
    ellipses (``'...ij,...jk->...ik'``) with broadcasting, repeated labels in one
    operand (``'ii->i'``), and the interleaved form ``einsum(a, [0, 1], b, [1, 2])``.
    ``optimize`` is accepted; contractions always run pairwise from left to right.
    """
    if out is not None:
        raise TypeError("einsum(out=...) is not supported: fgrad arrays are immutable")
    subscripts, arrays = _parse_operands(operands)
    arrays = [as_array(a) for a in arrays]
    if dtype is not None:
        arrays = [a.astype(dtype) for a in arrays]
    inputs, output = _parse_subscripts(subscripts, arrays)
    sizes = _label_sizes(subscripts, inputs, arrays)
    terms = [
        _reduce_alone(a, labels, inputs, k, output)
        for k, (a, labels) in enumerate(zip(arrays, inputs))
    ]
    array, labels = terms[0]
    for k in range(1, len(terms)):
        needed_later = set(output).union(*[inputs[j] for j in range(k + 1, len(inputs))])
        array, labels = _contract(array, labels, *terms[k], needed_later, sizes)
    leftover = tuple(i for i, c in enumerate(labels) if c not in output)
    if leftover:
        array = reduce_sum(array, leftover)
        labels = "".join(c for c in labels if c in output)
    if labels != output:
        array = transpose(array, [labels.index(c) for c in output])
    return array[()] if type(array) is np.ndarray and array.ndim == 0 else array


def _parse_operands(operands) -> tuple[str, list]:
    """The subscripts string and the arrays, from either calling convention."""
    if operands and isinstance(operands[0], str):
        return operands[0].replace(" ", ""), list(operands[1:])
    arrays, parts = [], []
    ops = list(operands)
    while len(ops) >= 2:
        arrays.append(ops.pop(0))
        parts.append(_labels_of(ops.pop(0)))
    subscripts = ",".join(parts)
    if ops:
        subscripts += "->" + _labels_of(ops[0])
    return subscripts, arrays


def _labels_of(sublist) -> str:
    return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sublist)


def _parse_subscripts(subscripts: str, arrays: list) -> tuple[list[str], str]:
    lhs, arrow, rhs = subscripts.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(arrays):
        raise ValueError(
            f"einsum: the subscripts {subscripts!r} name {len(inputs)} operands but "
            f"{len(arrays)} were given"
        )
    for part in inputs + ([rhs] if arrow else []):
        bad = set(part.replace("...", "")) - set(_LETTERS)
        if bad or part.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {subscripts!r} (at {part!r})")
    # ellipses become fresh labels, aligned from the right as broadcasting does
    unused = [c for c in _LETTERS[::-1] if c not in subscripts]
    n_ell = max(
        (a.ndim - len(p.replace("...", "")) for p, a in zip(inputs, arrays) if "..." in p),
        default=0,
    )
    ell = "".join(unused[:n_ell])[::-1]
    expanded = []
    for part, a in zip(inputs, arrays):
        if "..." in part:
            k = a.ndim - len(part.replace("...", ""))
            part = part.replace("...", ell[n_ell - k :] if k else "")
        if len(part) != a.ndim:
            raise ValueError(
                f"einsum: operand {len(expanded)} has {a.ndim} dimensions (shape {a.shape}) "
                f"but its subscripts {part!r} name {len(part)}"
            )
        expanded.append(part)
    if arrow:
        output = rhs.replace("...", ell)
        missing = set(output) - set("".join(expanded))
        if missing or len(set(output)) != len(output):
            raise ValueError(
                f"einsum: output subscripts {rhs!r} must be distinct labels that appear in "
                f"the inputs of {subscripts!r}"
            )
    else:  # implicit: the ellipsis axes, then labels appearing once, alphabetically
        counts = "".join(expanded)
        output = ell + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ell)
        )
    return expanded, output


def _label_sizes(subscripts: str, inputs: list[str], arrays: list) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for labels, a in zip(inputs, arrays):
        for c, n in zip(labels, a.shape):
            if c in sizes and sizes[c] != n and 1 not in (sizes[c], n):
                raise ValueError(
                    f"einsum: label {c!r} of {subscripts!r} has size {sizes[c]} in one operand "
                    f"and {n} in another (shapes {[x.shape for x in arrays]})"
                )
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]  # 1 broadcasts, even to 0
    return sizes


def _reduce_alone(a, labels: str, inputs: list[str], k: int, output: str):
    """Take diagonals of repeated labels and sum labels used nowhere else."""
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        i = labels.index(c)
        j = labels.index(c, i + 1)
        a = diagonal(a, 0, i, j)  # the diagonal axis goes last
        labels = "".join(x for n, x in enumerate(labels) if n not in (i, j)) + c
    others = set(output).union(*[inputs[j] for j in range(len(inputs)) if j != k])
    alone = tuple(i for i, c in enumerate(labels) if c not in others)
    if alone:
        a = reduce_sum(a, alone)
        labels = "".join(c for c in labels if c in others)
    return a, labels


def _contract(a, la: str, b, lb: str, needed_later: set, sizes: dict):
    """One ``dot_general`` of two reduced operands; returns the result and its labels."""
    shared = [c for c in la if c in lb]
    a = _broadcast_labels(a, la, shared, sizes)
    b = _broadcast_labels(b, lb, shared, sizes)
    batch = [c for c in shared if c in needed_later]
    contract = [c for c in shared if c not in needed_later]
    dims = (
        (tuple(la.index(c) for c in contract), tuple(lb.index(c) for c in contract)),
        (tuple(la.index(c) for c in batch), tuple(lb.index(c) for c in batch)),
    )
    labels = (
        "".join(batch)
        + "".join(c for c in la if c not in shared)
        + "".join(c for c in lb if c not in shared)
    )
    return dot_general(a, b, dims), labels


def _broadcast_labels(x, labels: str, shared: list, sizes: dict):
    """Broadcast size-1 axes of shared labels to the label's full size (ellipsis broadcasting)."""
    shape = tuple(sizes[c] if c in shared else n for c, n in zip(labels, x.shape))
    return x if shape == x.shape else broadcast_to(x, shape)


__all__ = ["einsum"]
