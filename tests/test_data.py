"""graphc.data (an alias of graphc.utils.data): TensorDataset and DataLoader over NumPy arrays;
batches are graphc Tensors, as torch's are torch Tensors."""
import numpy as np
import pytest

import graphc
from graphc.data import DataLoader, TensorDataset


def make(n=10, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return x, y


def test_tensor_dataset_items_and_len():
    x, y = make()
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == 3


@pytest.mark.parametrize("n,bs,drop_last,sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]),
    (2, 5, True, []),
    (7, 1, False, [1] * 7),
])
def test_batch_sizes_len_and_drop_last(n, bs, drop_last, sizes):
    x, y = make(n)
    dl = DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop_last)
    batches = list(dl)
    assert len(dl) == len(sizes)
    assert [len(b[0]) for b in batches] == sizes
    for xb, yb in batches:
        assert isinstance(xb, graphc.Tensor) and isinstance(yb, graphc.Tensor)
        assert xb.dtype == graphc.float32 and yb.dtype == graphc.int64
        assert xb.shape[1:] == (3,)
        assert len(xb) == len(yb)
        assert np.asarray(xb).flags.c_contiguous


def test_unshuffled_order_is_the_dataset_order():
    x, y = make(10)
    dl = DataLoader(TensorDataset(x, y), batch_size=4)
    xs = np.concatenate([b[0] for b in dl])
    ys = np.concatenate([b[1] for b in dl])
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)


def _epoch_order(dl):
    return np.concatenate([yb for _, yb in dl])


def test_shuffle_is_a_permutation_with_rows_kept_together():
    x, y = make(50)
    dl = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=0)
    for _ in range(3):
        batches = list(dl)
        order = np.concatenate([yb for _, yb in batches])
        assert sorted(order.tolist()) == list(range(50))         # every row exactly once
        assert not np.array_equal(order, np.arange(50))          # actually shuffled
        for xb, yb in batches:                                   # x and y rows stay paired
            np.testing.assert_array_equal(xb, x[yb])


def test_same_seed_gives_same_orders_and_epochs_differ():
    x, y = make(40)
    a = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, seed=123)
    b = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, seed=123)
    c = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, seed=124)
    a1, a2 = _epoch_order(a), _epoch_order(a)
    b1, b2 = _epoch_order(b), _epoch_order(b)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)             # a new permutation each epoch
    assert not np.array_equal(a1, _epoch_order(c))


def test_shuffle_with_drop_last_covers_each_row_at_most_once():
    x, y = make(23)
    dl = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, drop_last=True, seed=1)
    assert len(dl) == 4
    order = _epoch_order(dl)
    assert len(order) == 20 and len(set(order.tolist())) == 20


def test_tuple_of_arrays_is_accepted_as_a_dataset():
    x, y = make(6)
    batches = list(DataLoader((x, y), batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 2]


def test_generic_dataset_is_collated():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float32), "y": i * i}

    batches = list(DataLoader(Squares(), batch_size=2))
    assert len(batches) == 3
    np.testing.assert_array_equal(batches[0]["x"], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(batches[1]["y"], [4, 9])


def test_mismatched_lengths_raise():
    with pytest.raises(graphc.GraphcError, match="first dimension"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(graphc.GraphcError):
        TensorDataset(np.zeros((5, 2)), np.float32(1.0))     # a 0-d array has no rows
    with pytest.raises(graphc.GraphcError):
        TensorDataset()


@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_bad_batch_size_raises(bs):
    x, y = make(4)
    with pytest.raises(graphc.GraphcError, match="batch_size"):
        DataLoader(TensorDataset(x, y), batch_size=bs)


def test_batch_size_none_yields_samples():
    x, y = make(3)
    items = list(DataLoader(TensorDataset(x, y), batch_size=None))   # torch: no auto-batching
    assert len(items) == 3 and int(items[2][1]) == 2
    np.testing.assert_array_equal(items[1][0], x[1])


def test_graphc_data_is_graphc_utils_data():
    import graphc.utils.data as ud
    assert graphc.data.DataLoader is ud.DataLoader and graphc.data.TensorDataset is ud.TensorDataset


def test_loader_feeds_a_compiled_function():
    x, y = make(10)
    total = graphc.compile(lambda xb, yb: xb.sum() + yb.sum().float(), backend="interpreter")
    got = sum(float(total(xb, yb)) for xb, yb in DataLoader(TensorDataset(x, y), batch_size=5,
                                                               shuffle=True, seed=3))
    assert got == pytest.approx(float(x.sum() + y.sum()))
