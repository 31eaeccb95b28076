"""nn.Embedding / nn.EmbeddingBag and F.embedding / F.embedding_bag vs PyTorch: values, weight
gradients, max_norm's in-place renormalisation, SGD steps compiled on both backends, reprs,
from_pretrained and errors (graphc/nn/sparse.py)."""

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}
ROWS, DIM = 7, 3


def _weights(dt=np.float32, seed=0, n=ROWS, d=DIM):
    """Rows of varied norms (some over the max_norm values the tests use, some under)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.2, 1.5, (n, 1))).astype(dt)


def _pair(w):
    """The same weights as a graphc and a torch Parameter."""
    return nn.Parameter(w.copy()), tnn.Parameter(torch.tensor(w.copy()))


def _close(got, want, dt, msg=""):
    if isinstance(want, torch.Tensor) and want.layout == torch.sparse_coo:
        want = want.to_dense()          # graphc's gradient is always dense
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), err_msg=msg, **TOL[dt])


INDICES = {
    "1d": np.array([1, 3, 1, 0, 6, 3, 3]),
    "2d": np.array([[1, 2, 6], [6, 0, 1]]),
    "3d": np.array([[[0, 6], [2, 2]], [[5, 6], [6, 1]]]),
    "0d": np.array(4),
}
OPTIONS = [
    {},
    {"padding_idx": 1},
    {"padding_idx": -1},
    {"scale_grad_by_freq": True},
    {"scale_grad_by_freq": True, "padding_idx": 6},
    {"max_norm": 1.0},
    {"max_norm": 0.7, "norm_type": 1.0, "padding_idx": 0},
    {"max_norm": 1.2, "norm_type": 3.0, "scale_grad_by_freq": True},
    {"sparse": True},
]


# ---- F.embedding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", OPTIONS, ids=str)
@pytest.mark.parametrize("shape", list(INDICES))
@pytest.mark.parametrize("idt", [np.int64, np.int32])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_embedding_matches_torch(kw, shape, idt, dt):
    """Values, weight gradient and (max_norm) the renormalised weight, eagerly."""
    idx = INDICES[shape].astype(idt)
    w, tw = _pair(_weights(dt))
    out = F.embedding(graphc.tensor(idx), w, **kw)
    tout = TF.embedding(torch.tensor(idx), tw, **kw)
    assert out.shape == tuple(tout.shape) and out.dtype.np == dt
    _close(out.detach().numpy(), tout.detach().numpy(), dt, str(kw))
    _close(w.detach().numpy(), tw.detach().numpy(), dt, f"renorm {kw}")
    g = np.random.default_rng(1).standard_normal(tout.shape).astype(dt)
    (out * graphc.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(w.grad.numpy(), tw.grad, dt, f"grad {kw}")


def test_padding_row_gets_no_gradient_and_renorm_skips_unread_rows():
    w = nn.Parameter(np.full((4, 2), 3.0, np.float32))
    out = F.embedding(graphc.tensor([[0, 2], [2, 2]]), w, padding_idx=2, max_norm=1.0)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[2], [0, 0])
    np.testing.assert_array_equal(w.grad.numpy()[0], [1, 1])
    assert np.all(w.numpy()[[1, 3]] == 3.0)          # rows not looked up keep their norm
    np.testing.assert_allclose(np.linalg.norm(w.numpy()[[0, 2]], axis=1), 1.0, rtol=1e-6)


def test_two_max_norm_lookups_share_a_backward():
    """torch's embedding backward does not save weight, so renormalising it for a second lookup
    does not invalidate the first one's gradient."""
    w, tw = _pair(_weights())
    a, b = np.array([1, 2]), np.array([2, 5, 6])
    loss = (F.embedding(graphc.tensor(a), w, max_norm=0.5) * 2).sum() + \
        F.embedding(graphc.tensor(b), w, max_norm=0.5).sum()
    tloss = (TF.embedding(torch.tensor(a), tw, max_norm=0.5) * 2).sum() + \
        TF.embedding(torch.tensor(b), tw, max_norm=0.5).sum()
    loss.backward()
    tloss.backward()
    _close(w.grad.numpy(), tw.grad.numpy(), np.float32)
    _close(w.detach().numpy(), tw.detach().numpy(), np.float32)


# ---- nn.Embedding compiled: SGD steps vs torch ---------------------------------------------------

COMPILED = [
    {"padding_idx": 2},
    {"padding_idx": -1, "scale_grad_by_freq": True},
    {"max_norm": 1.0},
    {"max_norm": 0.8, "norm_type": 1.0, "padding_idx": 0},
]


@pytest.mark.parametrize("kw", COMPILED, ids=str)
@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_embedding_sgd_steps_compiled(kw, backend, dt):
    w0 = _weights(dt)
    emb = nn.Embedding.from_pretrained(graphc.tensor(w0.copy()), freeze=False, **kw)
    temb = tnn.Embedding.from_pretrained(torch.tensor(w0.copy()), freeze=False, **kw)
    opt = optim.SGD(emb.parameters(), lr=0.25)
    topt = torch.optim.SGD(temb.parameters(), lr=0.25)
    mult = np.random.default_rng(2).standard_normal((2, 3, DIM)).astype(dt)
    gm, tm = graphc.tensor(mult), torch.tensor(mult)

    @graphc.compile(backend=backend)
    def step(idx):
        opt.zero_grad()
        loss = (emb(idx) * gm).sum()
        loss.backward()
        opt.step()
        return loss

    batches = [np.array([[1, 2, 1], [0, 6, 2]]), np.array([[6, 6, 3], [2, 5, 0]]),
               np.array([[4, 4, 4], [1, 2, 6]])]
    for k, idx in enumerate(batches):
        loss = step(idx)
        topt.zero_grad()
        tloss = (temb(torch.tensor(idx)) * tm).sum()
        tloss.backward()
        topt.step()
        _close(loss, tloss.detach().numpy(), dt, f"loss, step {k}")
        _close(emb.weight.detach().numpy(), temb.weight.detach().numpy(), dt, f"weight {k}")
        _close(emb.weight.grad.numpy(), temb.weight.grad.numpy(), dt, f"grad {k}")


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_bad_index_leaves_weight_untouched(backend):
    emb = nn.Embedding(5, 2, max_norm=0.1)
    opt = optim.SGD(emb.parameters(), lr=0.5)

    @graphc.compile(backend=backend)
    def step(idx):
        opt.zero_grad()
        loss = emb(idx).sum()
        loss.backward()
        opt.step()
        return loss

    step(np.array([0, 1]))
    before = emb.weight.numpy().copy()
    for bad in (np.array([1, 5]), np.array([-1, 2])):
        with pytest.raises(graphc.GraphcError, match="out of"):
            step(bad)
        np.testing.assert_array_equal(emb.weight.numpy(), before)


def test_plain_tensor_weight_renormalised_in_a_compiled_function():
    """A requires-grad tensor the step reads is graph state: max_norm updates it in place."""
    w0 = _weights()
    w, tw = graphc.tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy())
    f = graphc.compile(lambda i: F.embedding(i, w, max_norm=0.6))
    out = f(np.array([3, 0, 3]))
    tout = TF.embedding(torch.tensor([3, 0, 3]), tw, max_norm=0.6)
    _close(out, tout.numpy(), np.float32)
    _close(w.detach().numpy(), tw.numpy(), np.float32)


def test_changing_padding_idx_retraces():
    emb = nn.Embedding(4, 2, padding_idx=0)
    f = graphc.compile(lambda i: emb(i).sum().backward())
    f(np.array([0, 1]))
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:2], [[0, 0], [1, 1]])
    emb.padding_idx = 1
    emb.weight.grad = None
    f(np.array([0, 1]))
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:2], [[1, 1], [0, 0]])


# ---- modules: init, from_pretrained, reprs -------------------------------------------------------

def test_embedding_init_and_dtype():
    graphc.manual_seed(0)
    emb = nn.Embedding(200, 8, padding_idx=-3)
    w = emb.weight.numpy()
    assert emb.padding_idx == 197 and w.shape == (200, 8) and w.dtype == np.float32
    assert np.all(w[197] == 0) and emb.weight.requires_grad
    assert abs(w.mean()) < 0.1 and abs(w.std() - 1) < 0.1          # N(0, 1)
    assert nn.Embedding(3, 2, dtype=graphc.float64).weight.dtype == graphc.float64
    assert not nn.Embedding(3, 2, _freeze=True).weight.requires_grad
    bag = nn.EmbeddingBag(5, 2, padding_idx=-1)
    assert bag.padding_idx == 4 and np.all(bag.weight.numpy()[4] == 0)


@pytest.mark.parametrize("freeze", [True, False])
@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
def test_from_pretrained(freeze, cls):
    w0 = _weights(np.float64)
    src = graphc.tensor(w0.copy())
    m = getattr(nn, cls).from_pretrained(src, freeze=freeze)
    tm = getattr(tnn, cls).from_pretrained(torch.tensor(w0), freeze=freeze)
    assert m.weight.requires_grad == tm.weight.requires_grad == (not freeze)
    assert m.weight.dtype == graphc.float64 and m.num_embeddings == ROWS
    idx = np.array([[1, 2], [3, 3]])
    _close(m(graphc.tensor(idx)).detach().numpy(), tm(torch.tensor(idx)).detach().numpy(),
           np.float64)
    with graphc.no_grad():
        m.weight.mul_(2)                     # torch's shares memory with `embeddings`, as here
    np.testing.assert_array_equal(src.numpy(), 2 * w0)
    with pytest.raises(graphc.GraphcError, match="2-dimensional"):
        getattr(nn, cls).from_pretrained(graphc.tensor(w0[0]))


REPRS = [
    ("Embedding", (10, 3), {}),
    ("Embedding", (10, 3), {"padding_idx": -1, "max_norm": 1.5, "norm_type": 1,
                            "scale_grad_by_freq": True, "sparse": True}),
    ("Embedding", (4, 2), {"max_norm": 2, "norm_type": 3.0}),
    ("Embedding", (4, 2), {"norm_type": 2.0, "padding_idx": 0}),
    ("EmbeddingBag", (10, 3), {}),
    ("EmbeddingBag", (10, 3), {"padding_idx": -1, "max_norm": 1.5, "norm_type": 1,
                               "scale_grad_by_freq": True, "sparse": True, "mode": "sum"}),
    ("EmbeddingBag", (4, 2), {"mode": "max", "include_last_offset": True, "max_norm": 2.0}),
]


@pytest.mark.parametrize("cls,args,kw", REPRS, ids=str)
def test_reprs(cls, args, kw):
    assert repr(getattr(nn, cls)(*args, **kw)) == repr(getattr(tnn, cls)(*args, **kw))


# ---- errors --------------------------------------------------------------------------------------

def test_embedding_errors_leave_weight_untouched():
    w = nn.Parameter(_weights())
    before = w.numpy().copy()
    cases = [
        (graphc.tensor([1.0, 2.0]), {}, "int64 or int32"),
        (graphc.tensor([1, 2], dtype=graphc.int8), {}, "int64 or int32"),
        (graphc.tensor([1, 7]), {"max_norm": 0.1}, "out of range"),
        (graphc.tensor([[-1, 2]]), {"max_norm": 0.1}, "out of range"),
        (graphc.tensor([1]), {"padding_idx": 7}, "Padding_idx must be within"),
        (graphc.tensor([1]), {"padding_idx": -8}, "Padding_idx must be within"),
    ]
    for idx, kw, msg in cases:
        with pytest.raises(graphc.GraphcError, match=msg):
            F.embedding(idx, w, **kw)
    np.testing.assert_array_equal(w.numpy(), before)
    with pytest.raises(graphc.GraphcError, match="must be 2-D"):
        F.embedding(graphc.tensor([0]), w[0])
    with pytest.raises(graphc.GraphcError, match="Padding_idx must be within"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(graphc.GraphcError, match="Shape of weight does not match"):
        nn.Embedding(3, 2, _weight=graphc.zeros(2, 3))


# ---- F.embedding_bag -----------------------------------------------------------------------------

FLAT = np.array([1, 2, 1, 0, 6, 2, 2, 5, 4])
BAGS = {   # name: (input, offsets, include_last_offset)
    "offsets": (FLAT, np.array([0, 3, 3, 5]), False),        # an empty bag in the middle
    "last_empty": (FLAT, np.array([0, 4, 9]), False),         # ... and at the end
    "include_last": (FLAT, np.array([0, 2, 2, 6, 9]), True),
    "one_bag": (FLAT, np.array([0]), False),
    "2d": (FLAT.reshape(3, 3), None, False),
}
BAG_OPTIONS = [
    {"mode": "sum"},
    {"mode": "mean"},
    {"mode": "max"},
    {"mode": "sum", "padding_idx": 2},
    {"mode": "mean", "padding_idx": -2},       # row 5
    {"mode": "max", "padding_idx": 1},
    {"mode": "mean", "max_norm": 1.0},
    {"mode": "max", "max_norm": 0.8, "norm_type": 1.0},
    {"mode": "sum", "per_sample_weights": True},
    {"mode": "sum", "per_sample_weights": True, "padding_idx": 2},
    {"mode": "sum", "sparse": True},
]


def _run_bag(inp, off, last, kw, dt, idt=np.int64, compiled=None):
    """embedding_bag in graphc (eager, or compiled with the offsets a closure constant) and in
    torch from the same weights: (outputs, weights, weight grads, per_sample_weights grads)."""
    kw = dict(kw)
    use_psw = kw.pop("per_sample_weights", False)
    w, tw = _pair(_weights(dt))
    rng = np.random.default_rng(3)
    p = rng.uniform(0.5, 2, inp.shape).astype(dt)
    gp, tp = (graphc.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)) \
        if use_psw else (None, None)
    tout = TF.embedding_bag(torch.tensor(inp.astype(idt)), tw,
                            None if off is None else torch.tensor(off), per_sample_weights=tp,
                            include_last_offset=last, **kw)
    g = rng.standard_normal(tuple(tout.shape)).astype(dt)
    (tout * torch.tensor(g)).sum().backward()
    goff = None if off is None else graphc.tensor(off)

    def run(i, gg, psw):
        out = F.embedding_bag(i, w, goff, per_sample_weights=psw, include_last_offset=last, **kw)
        (out * gg).sum().backward()
        return out

    fn = run if compiled is None else graphc.compile(run, backend=compiled)
    out = fn(graphc.tensor(inp.astype(idt)), graphc.tensor(g), gp)
    return ((out.detach().numpy(), tout.detach().numpy()), (w.detach().numpy(), tw.detach()),
            (w.grad.numpy(), tw.grad),
            None if gp is None else (gp.grad.numpy(), tp.grad.numpy()))


@pytest.mark.parametrize("kw", BAG_OPTIONS, ids=str)
@pytest.mark.parametrize("bags", list(BAGS))
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_embedding_bag_matches_torch(kw, bags, dt):
    inp, off, last = BAGS[bags]
    res = _run_bag(inp, off, last, kw, dt, idt=np.int32 if dt == np.float64 else np.int64)
    for what, pair in zip(("out", "weight", "grad", "psw grad"), res):
        if pair is not None:
            _close(*pair, dt, f"{what} {kw}")


@pytest.mark.parametrize("kw", [{"mode": "sum", "padding_idx": 2}, {"mode": "mean"},
                                {"mode": "max", "max_norm": 1.0},
                                {"mode": "sum", "per_sample_weights": True}], ids=str)
@pytest.mark.parametrize("bags", ["offsets", "include_last", "2d"])
@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_embedding_bag_compiled_with_constant_offsets(kw, bags, backend):
    inp, off, last = BAGS[bags]
    res = _run_bag(inp, off, last, kw, np.float32, compiled=backend)
    for what, pair in zip(("out", "weight", "grad", "psw grad"), res):
        if pair is not None:
            _close(*pair, np.float32, f"{what} {kw}")


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_embedding_bag_module_sgd_compiled(backend):
    w0 = _weights()
    bag = nn.EmbeddingBag.from_pretrained(graphc.tensor(w0.copy()), freeze=False, mode="mean",
                                          padding_idx=0, max_norm=1.1)
    tbag = tnn.EmbeddingBag.from_pretrained(torch.tensor(w0.copy()), freeze=False, mode="mean",
                                            padding_idx=0, max_norm=1.1)
    opt, topt = optim.SGD(bag.parameters(), lr=0.5), torch.optim.SGD(tbag.parameters(), lr=0.5)
    off = np.array([0, 2, 2, 5])
    mult = np.arange(4 * DIM, dtype=np.float32).reshape(4, DIM) / 7

    @graphc.compile(backend=backend)
    def step(idx):
        opt.zero_grad()
        loss = (bag(idx, off) * graphc.tensor(mult)).sum()
        loss.backward()
        opt.step()
        return loss

    for idx in (np.array([1, 0, 3, 4, 4, 6, 0]), np.array([6, 6, 0, 0, 2, 3, 1])):
        loss = step(idx)
        topt.zero_grad()
        tloss = (tbag(torch.tensor(idx), torch.tensor(off)) * torch.tensor(mult)).sum()
        tloss.backward()
        topt.step()
        _close(loss, tloss.detach().numpy(), np.float32)
        _close(bag.weight.detach().numpy(), tbag.weight.detach().numpy(), np.float32)


def test_bag_max_ties_and_nan_follow_torch():
    """torch's max loop: ties go to the first entry, a NaN counts only as a bag's first one."""
    w0 = np.array([[1, 2], [1, 3], [np.nan, 0], [0, np.nan], [2, 2]], np.float32)
    idx, off = np.array([0, 1, 1, 0, 2, 0, 0, 3, 4, 4, 3]), np.array([0, 4, 8, 8])
    w, tw = _pair(w0)
    out = F.embedding_bag(graphc.tensor(idx), w, graphc.tensor(off), mode="max")
    tout = TF.embedding_bag(torch.tensor(idx), tw, torch.tensor(off), mode="max")
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())


def test_bag_scale_grad_by_freq():
    """Each row's gradient divided by its index's count in the whole input, as torch's
    F.embedding: here the oracle is torch's embedding + per-bag sums (torch 2.13's CPU
    embedding_bag backward divides the k-th distinct index's gradient by the count of the k-th
    smallest index instead, a bug; it agrees when those counts coincide, checked too)."""
    w, tw = _pair(_weights())
    idx, off = FLAT, np.array([0, 3, 3, 5])
    out = F.embedding_bag(graphc.tensor(idx), w, graphc.tensor(off), mode="sum",
                          scale_grad_by_freq=True, padding_idx=6)
    rows = TF.embedding(torch.tensor(idx), tw, scale_grad_by_freq=True, padding_idx=6)
    rows = rows * torch.tensor(idx != 6)[:, None]           # a bag leaves padding entries out
    tout = torch.stack([rows[s:e].sum(0) for s, e in zip(off, [3, 3, 5, 9])])
    g = np.random.default_rng(4).standard_normal(tout.shape).astype(np.float32)
    (out * graphc.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(out.detach().numpy(), tout.detach().numpy(), np.float32)
    _close(w.grad.numpy(), tw.grad.numpy(), np.float32)
    res = _run_bag(np.array([3, 3, 1, 0, 0, 1]), np.array([0, 2, 5]), False,
                   {"mode": "mean", "scale_grad_by_freq": True}, np.float32)
    _close(*res[2], np.float32)


def test_bag_trailing_entries_after_last_offset_are_in_no_bag():
    """include_last_offset with offsets[-1] < len(input): the entries after it are left out
    (torch's sum; its mean still divides by the count up to the input's end, its max reduces to
    the end: graphc follows the documented extents in every mode)."""
    w, tw = _pair(_weights())
    idx, off = FLAT, np.array([0, 3, 5])
    out = F.embedding_bag(graphc.tensor(idx), w, graphc.tensor(off), mode="sum",
                          include_last_offset=True)
    tout = TF.embedding_bag(torch.tensor(idx), tw, torch.tensor(off), mode="sum",
                            include_last_offset=True)
    _close(out.detach().numpy(), tout.detach().numpy(), np.float32)
    mean = F.embedding_bag(graphc.tensor(idx), w, graphc.tensor(off), include_last_offset=True)
    _close(mean.detach().numpy(), out.detach().numpy() / np.array([[3], [2]]), np.float32)


def test_bag_empty_and_all_padding_bags_are_zero():
    w = nn.Parameter(_weights())
    for mode in ("sum", "mean", "max"):
        out = F.embedding_bag(graphc.tensor([3, 3, 1]), w, graphc.tensor([0, 0, 2, 2]),
                              mode=mode, padding_idx=3)
        np.testing.assert_array_equal(out.detach().numpy()[:3], 0)
        out.sum().backward()
        np.testing.assert_array_equal(w.grad.numpy()[3], 0)
        w.grad = None
    none = F.embedding_bag(graphc.tensor([1, 2]), w, graphc.tensor([0]), include_last_offset=True)
    assert none.shape == (0, DIM)


def test_traced_offsets_are_a_trace_error():
    bag = nn.EmbeddingBag(5, 2, mode="sum")
    f = graphc.compile(lambda i, o: bag(i, o))
    with pytest.raises(graphc.errors.TraceError, match="offsets are a traced tensor"):
        f(np.array([1, 2, 3]), np.array([0, 2]))
    g = graphc.compile(lambda i: bag(i, [0, 1]))           # known offsets compile
    tw = torch.tensor(bag.weight.numpy())
    _close(g(np.array([1, 2, 3])),
           TF.embedding_bag(torch.tensor([1, 2, 3]), tw, torch.tensor([0, 1]), mode="sum"),
           np.float32)


BAG_ERRORS = [
    (FLAT, [1, 3], {}, "offsets\\[0\\] has to be 0"),
    (FLAT, [0, 10], {}, "can not be greater than input's length"),
    (FLAT, [0, 4, 2], {}, "non-decreasing"),
    (FLAT, [0, 2.0], {}, "offsets of dtype"),
    (FLAT, None, {}, "offsets has to be a 1D Tensor but got None"),
    (FLAT, [[0, 2]], {}, "offsets has to be a 1D Tensor"),
    (FLAT.reshape(3, 3), [0, 1], {}, "if input is 2D, then offsets has to be None"),
    (FLAT.reshape(1, 3, 3), None, {}, "input has to be 1D or 2D"),
    (FLAT.astype(np.float32), [0], {}, "int64 or int32"),
    (FLAT, [0], {"mode": "min"}, "mode has to be one of sum, mean or max"),
    (FLAT, [0], {"mode": "max", "scale_grad_by_freq": True}, "max mode does not support"),
    (FLAT, [0], {"mode": "max", "sparse": True}, "max mode does not support sparse"),
    (FLAT, [0], {"mode": "mean", "per_sample_weights": np.ones(9, np.float32)},
     "only supported for mode='sum'"),
    (FLAT, [0], {"mode": "sum", "per_sample_weights": np.ones(8, np.float32)},
     "must have the same shape as the input"),
    (FLAT, [0], {"mode": "sum", "per_sample_weights": np.ones(9)}, "must have the dtype"),
    (FLAT, [0], {"padding_idx": 7}, "padding_idx must be within the number of embeddings"),
    (np.array([1, 7]), [0], {"max_norm": 0.1}, "out of range"),
    (np.array([-1, 2]), [0], {"max_norm": 0.1}, "out of range"),
]


@pytest.mark.parametrize("inp,off,kw,msg", BAG_ERRORS, ids=lambda v: str(v)[:30])
def test_embedding_bag_errors(inp, off, kw, msg):
    w = nn.Parameter(_weights())
    before = w.numpy().copy()
    kw = dict(kw)
    if "per_sample_weights" in kw:
        kw["per_sample_weights"] = graphc.tensor(kw["per_sample_weights"])
    with pytest.raises(graphc.GraphcError, match=msg):
        F.embedding_bag(graphc.tensor(inp), w, None if off is None else np.array(off), **kw)
    np.testing.assert_array_equal(w.numpy(), before)


@pytest.mark.parametrize("compiled", [False, True])
def test_sparse_embedding_with_sparse_adam(compiled):
    """sparse=True: graphc's dense gradient has zero rows where torch's sparse one has none, which
    SparseAdam leaves untouched as torch's does."""
    w0 = _weights()
    emb = nn.Embedding.from_pretrained(graphc.tensor(w0.copy()), freeze=False, sparse=True)
    temb = tnn.Embedding.from_pretrained(torch.tensor(w0.copy()), freeze=False, sparse=True)
    opt = optim.SparseAdam(emb.parameters(), lr=0.1)
    topt = torch.optim.SparseAdam(temb.parameters(), lr=0.1)

    def step(idx):
        opt.zero_grad()
        loss = (emb(idx) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    step = graphc.compile(step) if compiled else step
    for idx in (np.array([1, 2, 2]), np.array([0, 6, 1]), np.array([5, 5, 5])):
        step(graphc.tensor(idx))
        topt.zero_grad()
        (temb(torch.tensor(idx)) ** 2).sum().backward()
        topt.step()
        _close(emb.weight.detach().numpy(), temb.weight.detach().numpy(), np.float32)
