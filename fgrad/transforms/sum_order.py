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

#: ``_pairwise(a, lo, n, zero)``: NumPy's ``pairwise_sum`` of ``a[lo:lo + n]`` (a 1-D
#: array), ``zero`` of the sum's dtype; the recursion above 128 terms is an explicit stack,
#: since numba's disk cache cannot hold a recursive function
PAIRWISE_SOURCE = """
@njit
def _pairwise_block(a, lo, n, zero):
    if n < 8:
        r = zero
        for i in range(lo, lo + n):
            r += a[i]
        return r
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    r = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        r += a[lo + i]
        i += 1
    return r


@njit
def _pairwise(a, lo, n, zero):
    if n <= 128:
        return _pairwise_block(a, lo, n, zero)
    los = np.empty(64, np.int64)
    ns = np.empty(64, np.int64)
    lefts = np.empty(64, a.dtype)
    waiting = np.zeros(64, np.bool_)  # the left half is done, the right one is on top
    los[0], ns[0], top = lo, n, 0
    while True:
        m = ns[top]
        if m > 128:
            half = m // 2
            half -= half % 8
            los[top + 1], ns[top + 1] = los[top], half
            waiting[top] = False
            top += 1
            continue
        value = _pairwise_block(a, los[top], m, zero)
        top -= 1
        while top >= 0 and waiting[top]:
            value = lefts[top] + value
            top -= 1
        if top < 0:
            return value
        lefts[top] = value
        waiting[top] = True
        half = ns[top] // 2
        half -= half % 8
        los[top + 1], ns[top + 1] = los[top] + half, ns[top] - half
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


def pairwise_text(terms: list[str], zero: str) -> str:
    """NumPy's ``pairwise_sum`` of ``terms`` (source texts) as one expression."""
    n = len(terms)
    if n < 8:
        expr = zero
        for t in terms:
            expr = f"({expr} + {t})"
        return expr
    if n <= 128:
        partial = list(terms[:8])
        i = 8
        while i < n - n % 8:
            partial = [f"({p} + {terms[i + j]})" for j, p in enumerate(partial)]
            i += 8
        r = partial
        expr = (
            f"((({r[0]} + {r[1]}) + ({r[2]} + {r[3]})) + (({r[4]} + {r[5]}) + ({r[6]} + {r[7]})))"
        )
        for t in terms[i:]:
            expr = f"({expr} + {t})"
        return expr
    half = n // 2
    half -= half % 8
    return f"({pairwise_text(terms[:half], zero)} + {pairwise_text(terms[half:], zero)})"
