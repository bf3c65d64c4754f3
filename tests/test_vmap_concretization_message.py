"""vmap's concretization message names only what really cannot be batched."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

XS = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0]])


def _message() -> str:
    with pytest.raises(fgrad.ConcretizationError) as err:
        fgrad.vmap(lambda x: float(x[0]))(XS)
    return str(err.value)


@pytest.mark.parametrize(
    "f",
    [fnp.unique, fnp.nonzero, lambda x: x[x > 0]],
    ids=["unique", "nonzero", "boolean-mask"],
)
def test_the_functions_it_names_fail_under_vmap(f):
    assert re.search(r"\(unique, nonzero, boolean masks\)", _message())
    with pytest.raises(fgrad.ConcretizationError, match="vmap"):
        fgrad.vmap(f)(XS)


@pytest.mark.parametrize(
    ("f", "reference"),
    [(fnp.sort, np.sort), (fnp.argsort, np.argsort), (fnp.median, np.median)],
    ids=["sort", "argsort", "median"],
)
def test_sorting_batches_and_is_not_named(f, reference):
    assert "sort" not in _message() and "median" not in _message()
    np.testing.assert_array_equal(fgrad.vmap(f)(XS), [reference(row) for row in XS])
