"""NumPy's order of adding up a float sum, which fused kernels follow to the last bit.

``np.sum`` (``np.add.reduce``) of a C-contiguous array (the replay's values are fresh
arrays) walks it in C order, after dropping axes of length 1 and merging neighbouring axes
that are both summed or both kept. Each output element starts at 0 (so a sum of negative
zeros is ``+0.0``) and, in the output's dtype (float32 sums stay float32):

* where the merged last axis is summed, the contiguous *run* along it is added up by
  ``pairwise_sum`` and that sum is added to the output element: below 8 terms in sequence
  from 0; up to 128 terms in 8 interleaved partial sums ``r0 .. r7`` (``rj`` adds terms
  ``j, j + 8, ...``), combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``,
  then the terms left over (fewer than 8) in sequence; above 128 terms the two halves (the
  first ``n // 2`` rounded down to a multiple of 8) are summed so and added;
* where the merged last axis is kept, each element is added to its output element in turn.

:func:`trailing_run` finds the run's axes; :data:`PAIRWISE_SOURCE` is ``pairwise_sum`` as
numba functions (every kernel file defines them) and :func:`pairwise_text` writes it out
as one expression over named terms (for sums held in scalar locals).
"""

from __future__ import annotations

from collections.abc import Callable

#: ``_pairwise(a, lo, n, zero)``: NumPy's ``pairwise_sum`` of ``a[lo:lo + n]`` (a 1-D
#: array), ``zero`` of the sum's dtype; the recursion above 128 terms is an explicit stack,
#: since numba's disk cache cannot hold a recursive function
PAIRWISE_SOURCE = """
@njit
def _pairwise_block(a, lo, n, zero):
    # indexing a view from 0 with range loops (not a while loop from lo) lets numba drop its
    # negative-index checks, so LLVM vectorises the eight partial sums: twice as fast
    v = a[lo : lo + n]
    if n < 8:
        r = zero
        for i in range(n):
            r += v[i]
        return r
    r0, r1, r2, r3 = v[0], v[1], v[2], v[3]
    r4, r5, r6, r7 = v[4], v[5], v[6], v[7]
    whole = n - n % 8
    for i in range(8, whole, 8):
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
    r = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(whole, n):
        r += v[i]
    return r


@njit
def _pairwise(a, lo, n, zero):
    # one call of the block sum (numba compiles each call site): the stack's rows are
    # (first term, terms, left half done), lefts[k] the sum of row k's left half
    stack = np.empty((64, 3), np.int64)
    lefts = np.empty(64, a.dtype)
    stack[0, 0], stack[0, 1], stack[0, 2], top = lo, n, 0, 0
    while True:
        m = stack[top, 1]
        if m > 128:
            half = m // 2
            half -= half % 8
            stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = stack[top, 0], half, 0
            top += 1
            continue
        value = _pairwise_block(a, stack[top, 0], m, zero)
        top -= 1
        while top >= 0 and stack[top, 2] == 1:
            value = lefts[top] + value
            top -= 1
        if top < 0:
            return value
        lefts[top] = value
        stack[top, 2] = 1
        half = stack[top, 1] // 2
        half -= half % 8
        row = stack[top, 0] + half, stack[top, 1] - half, 0
        stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = row
        top += 1

"""


def trailing_run(shape: tuple[int, ...], axes) -> tuple[int, ...]:
    """The axes of ``shape`` whose elements NumPy adds pairwise, as one contiguous run,
    when it sums over ``axes``: the last axes longer than 1, as long as they are summed.
    Empty where the last axis longer than 1 is kept (or none is longer than 1)."""
    summed = {a % len(shape) for a in axes} if shape else set()
    run: list[int] = []
    for k in range(len(shape) - 1, -1, -1):
        if shape[k] == 1:
            continue
        if k not in summed:
            break
        run.append(k)
    return tuple(reversed(run))


def pairwise_tree(lo: int, n: int, leaf: Callable[[int, int], str]) -> str:
    """NumPy's pairwise sum of terms ``lo .. lo + n - 1`` as one expression: above 128
    terms the halves' sums added, ``leaf(lo, m)`` the text of a block's sum (at most 128)."""
    if n <= 128:
        return leaf(lo, n)
    half = n // 2
    half -= half % 8
    return f"({pairwise_tree(lo, half, leaf)} + {pairwise_tree(lo + half, n - half, leaf)})"


def pairwise_text(terms: list[str], zero: str) -> str:
    """NumPy's ``pairwise_sum`` of ``terms`` (source texts) as one expression."""

    def block(lo: int, n: int) -> str:
        run = terms[lo : lo + n]
        if n < 8:
            expr = zero
            for t in run:
                expr = f"({expr} + {t})"
            return expr
        partial = list(run[:8])
        i = 8
        while i < n - n % 8:
            partial = [f"({p} + {run[i + j]})" for j, p in enumerate(partial)]
            i += 8
        r = partial
        left = f"(({r[0]} + {r[1]}) + ({r[2]} + {r[3]}))"
        expr = f"({left} + (({r[4]} + {r[5]}) + ({r[6]} + {r[7]})))"
        for t in run[i:]:
            expr = f"({expr} + {t})"
        return expr

    return pairwise_tree(0, len(terms), block)


def pairwise_call(buffer: str, n: int, zero: str) -> str:
    """NumPy's pairwise sum of the 1-D array ``buffer`` of ``n`` elements, as a call of
    :data:`PAIRWISE_SOURCE`'s helpers (the block sum alone up to 128 terms: numba compiles
    it in a fraction of the stack's time)."""
    helper = "_pairwise_block" if n <= 128 else "_pairwise"
    return f"{helper}({buffer}, 0, {n}, {zero})"
