"""fgrad.data.minibatches: coverage, shuffling, drop_last, reproducibility and errors."""

from __future__ import annotations

import numpy as np
import pytest

from fgrad.data import minibatches


def epoch_indices(n: int, batch_size: int, **kwargs) -> list[np.ndarray]:
    """The example indices of each batch, read back through an index array."""
    return list(minibatches(np.arange(n), batch_size, **kwargs))


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_every_example_exactly_once_and_last_partial_batch_kept(n, batch_size):
    batches = epoch_indices(n, batch_size, rng=np.random.default_rng(0))
    sizes = [len(b) for b in batches]
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))


def test_shuffled_reproducibly_and_freshly_each_epoch():
    first = np.concatenate(epoch_indices(100, 7, rng=np.random.default_rng(1)))
    again = np.concatenate(epoch_indices(100, 7, rng=np.random.default_rng(1)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, np.arange(100))
    rng = np.random.default_rng(1)
    epoch1 = np.concatenate(epoch_indices(100, 7, rng=rng))
    epoch2 = np.concatenate(epoch_indices(100, 7, rng=rng))
    np.testing.assert_array_equal(epoch1, first)
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(np.sort(epoch2), np.arange(100))


def test_order_is_drawn_when_called_not_when_iterated():
    rng = np.random.default_rng(2)
    first = minibatches(np.arange(20), 5, rng=rng)
    second = minibatches(np.arange(20), 5, rng=rng)
    ref = np.random.default_rng(2)
    want_first, want_second = ref.permutation(20), ref.permutation(20)
    np.testing.assert_array_equal(np.concatenate(list(second)), want_second)
    np.testing.assert_array_equal(np.concatenate(list(first)), want_first)


def test_without_shuffle_batches_are_in_order():
    batches = epoch_indices(10, 4, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(batches), np.arange(10))
    assert [len(b) for b in batches] == [4, 4, 2]


def test_unseeded_shuffle_still_covers_everything():
    batches = epoch_indices(30, 8)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(30))


@pytest.mark.parametrize("shuffle", [True, False])
def test_drop_last(shuffle):
    batches = epoch_indices(10, 3, rng=np.random.default_rng(3), shuffle=shuffle, drop_last=True)
    assert [len(b) for b in batches] == [3, 3, 3]
    assert len(np.unique(np.concatenate(batches))) == 9
    assert epoch_indices(2, 3, rng=np.random.default_rng(3), drop_last=True) == []
    assert len(epoch_indices(9, 3, rng=np.random.default_rng(3), drop_last=True)) == 3


def test_several_arrays_stay_aligned_and_keep_their_shapes():
    x = np.arange(24.0).reshape(12, 2)
    y = np.arange(12) * 10
    z = np.arange(12 * 3 * 2, dtype=np.float32).reshape(12, 3, 2)
    batches = list(minibatches((x, y, z), 5, rng=np.random.default_rng(4)))
    assert len(batches) == 3
    for xb, yb, zb in batches:
        assert xb.shape[1:] == (2,) and zb.shape[1:] == (3, 2) and zb.dtype == np.float32
        idx = yb // 10
        np.testing.assert_array_equal(xb, x[idx])
        np.testing.assert_array_equal(zb, z[idx])


def test_single_array_gives_arrays_and_a_list_gives_tuples():
    x = np.arange(6)
    for batch in minibatches(x, 4, rng=np.random.default_rng(5)):
        assert isinstance(batch, np.ndarray)
    for batch in minibatches([x, x], 4, rng=np.random.default_rng(5)):
        assert isinstance(batch, tuple) and len(batch) == 2
    (only,) = list(minibatches((x,), 10, rng=np.random.default_rng(5)))
    assert isinstance(only, tuple) and len(only) == 1


def test_inputs_are_not_modified_and_empty_data_gives_no_batches():
    x = np.arange(10.0)
    before = x.copy()
    for batch in minibatches(x, 3, rng=np.random.default_rng(6)):
        batch *= 0
    np.testing.assert_array_equal(x, before)
    assert list(minibatches(np.zeros((0, 3)), 4, rng=np.random.default_rng(6))) == []


def test_errors_are_raised_at_call_time():
    x, y = np.zeros((5, 2)), np.zeros(4)
    with pytest.raises(ValueError, match=r"same first dimension.*\[5, 4\]"):
        minibatches((x, y), 2)
    with pytest.raises(ValueError, match="0-d"):
        minibatches(np.float64(3.0), 2)
    with pytest.raises(ValueError, match="no arrays"):
        minibatches((), 2)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="positive"):
            minibatches(x, bad)
    with pytest.raises(TypeError, match="int"):
        minibatches(x, 2.5)
    with pytest.raises(TypeError, match="default_rng"):
        minibatches(x, 2, rng=0)
