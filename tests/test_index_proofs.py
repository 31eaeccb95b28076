"""Which index ops can stop a native call part way: a graph whose index operands are all graph
inputs (checked before the call), constants in range, or max pooling's own index runs without a
copy of its state; an index computed from data (or a constant out of range) keeps the copy, so
a bad index still leaves the parameters untouched."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.driver.compile import index_checks, unchecked_indices
from graphc.nn import functional as F


def _graph(step, *args):
    f = graphc.compile(step)
    f(*args)
    return f.graph


def test_pooling_positions_and_class_labels_need_no_state_copy():
    graphc.manual_seed(0)
    conv, emb, pos = nn.Conv2d(1, 4, 3), nn.Embedding(10, 4), nn.Embedding(6, 4)
    params = list(conv.parameters()) + list(emb.parameters()) + list(pos.parameters())
    opt = graphc.optim.SGD(params, lr=0.1)

    def step(x, tok, y):
        opt.zero_grad()
        h = F.max_pool2d(F.relu(conv(x)), 2).flatten(1)               # max_pool_index -> gather
        e = (emb(tok) + pos(graphc.arange(tok.shape[1]))).mean(1)    # input and constant indices
        loss = F.cross_entropy(h[:, :4] + e, y.reshape(-1))          # labels through a reshape
        loss.backward()
        opt.step()
        return loss
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    tok = np.array([[1, 2, 3, 4, 5, 6]] * 3)
    g = _graph(step, x, tok, np.array([[0], [1], [3]]))
    assert not unchecked_indices(g)
    checked = {what.split(" at ")[0] for *_, what in index_checks(g)}
    assert {"take", "take_class"} <= checked, checked


def test_a_computed_index_keeps_the_copy_and_the_parameters():
    graphc.manual_seed(0)
    emb = nn.Embedding(5, 2)
    opt = graphc.optim.SGD(emb.parameters(), lr=0.1)

    def step(tok):
        opt.zero_grad()
        loss = emb(tok + 1).sum()
        loss.backward()
        opt.step()
        return loss
    f = graphc.compile(step)
    f(np.array([0, 1, 2]))
    assert unchecked_indices(f.graph)
    before = emb.weight.numpy().copy()
    with pytest.raises(graphc.GraphcError):
        f(np.array([0, 4, 2]))   # 4 + 1 is out of range inside the native call
    np.testing.assert_array_equal(emb.weight.numpy(), before)


def test_a_constant_index_out_of_range_is_not_trusted():
    from graphc.ir import Builder, Graph
    from graphc.ir.graph import tensor_type
    for value, trusted in (([0, 3], True), ([0, 4], False), ([-1, 2], False)):
        g = Graph("g")
        x = g.add_input("x", tensor_type((4, 2), np.float32))
        b = Builder(g)
        g.outputs = [b.gather(x, b.const(np.array(value), "i64"), axis=0)]
        assert unchecked_indices(g) is not trusted


def test_an_index_inside_a_loop_body_is_not_trusted():
    """A scan body's inputs are no graph inputs: an embedding inside the loop keeps the copy."""
    emb = nn.Embedding(5, 3)

    def f(tok):
        h, _ = graphc.scan(lambda h, t: (h + emb(t), None), graphc.zeros(3), tok)
        return h
    g = _graph(f, np.array([1, 2, 3]))
    assert unchecked_indices(g)
