"""Torch's types and small APIs, so that `import graphc as torch` is a mechanical swap: Tensor
bookkeeping methods, graphc.utils.data against torch.utils.data on the same data, save/load round
trips, zero-copy NumPy views, devices, factories' dtype=/device= keywords, and what a compiled
function returns. Comparisons with PyTorch run when it is installed."""
from __future__ import annotations

import collections
import io
import pickle

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.utils import data as gdata

try:
    import torch
    import torch.utils.data as tdata
except ImportError:  # pragma: no cover
    torch = tdata = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is the oracle here")


def tdtype(t) -> str:
    """torch's name of a graphc tensor's dtype ('torch.float32')."""
    return "torch." + t.dtype.torch_name


def same(g, t) -> None:
    """A graphc result equals a torch result: value, shape and dtype (recursively)."""
    if isinstance(t, torch.Tensor):
        assert isinstance(g, graphc.Tensor), type(g)
        assert tuple(g.shape) == tuple(t.shape)
        assert tdtype(g) == str(t.dtype), (g.dtype, t.dtype)
        np.testing.assert_array_equal(g.numpy(), t.numpy())
    elif isinstance(t, dict):
        assert type(g) is type(t) and list(g) == list(t)
        for k in t:
            same(g[k], t[k])
    elif isinstance(t, (list, tuple)):
        assert type(g).__name__ == type(t).__name__ and len(g) == len(t), (type(g), type(t))
        for a, b in zip(g, t):
            same(a, b)
    else:
        assert g == t


# ---- Tensor methods ------------------------------------------------------------------------------

@needs_torch
def test_bookkeeping_methods_match_torch():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    g, t = graphc.tensor(a), torch.tensor(a)
    assert g.size() == tuple(t.size()) and g.size(1) == t.size(1) and g.size(-1) == t.size(-1)
    assert g.shape == tuple(t.shape)
    assert g.view(-1).shape == tuple(t.view(-1).shape) and g.view(4, 3).shape == (4, 3)
    assert len(g) == len(t) and g.dim() == t.dim() and g.numel() == t.numel()
    assert g.element_size() == t.element_size() == 4
    assert graphc.tensor(a, dtype=graphc.int64).element_size() == 8
    assert g.tolist() == t.tolist()
    assert [r.tolist() for r in g] == [r.tolist() for r in t]      # __iter__ over dim 0
    assert g[1, 2].item() == t[1, 2].item() and isinstance(g[1, 2].item(), float)
    assert graphc.tensor(3).item() == 3 and isinstance(graphc.tensor(3).item(), int)
    np.testing.assert_array_equal(g.detach().numpy(), t.detach().numpy())
    assert g.is_cuda is t.is_cuda is False
    assert str(g.device) == str(t.device) == "cpu" and repr(g.device) == repr(t.device)
    assert g.device == graphc.device("cpu") and g.device == "cpu"
    assert g.nelement() == 12 and g.ndimension() == 2 and g.is_floating_point()
    c = g.clone()
    c.add_(1.0)
    assert g[0, 0].item() == 0.0 and c[0, 0].item() == 1.0
    assert g.contiguous().tolist() == g.tolist()


@needs_torch
@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "int32", "int8", "uint8", "bool"])
def test_type_string_and_type_conversion(dt):
    a = np.array([0, 1, 2])
    g = graphc.tensor(a).to(getattr(graphc, dt if dt != "bool" else "bool_"))
    t = torch.tensor(a).to(getattr(torch, dt))
    assert g.type() == t.type().replace("torch.", "graphc.")      # 'graphc.FloatTensor'
    assert tdtype(g.type(graphc.float)) == str(t.type(torch.float).dtype) == "torch.float32"
    assert g.type("torch.DoubleTensor").dtype is graphc.float64
    assert g.type(graphc.int64).tolist() == t.type(torch.int64).tolist()


def test_type_is_still_the_tensor_type_for_graphc_code():
    g = graphc.ones(2, 3)
    assert str(g.type) == "f32[2,3]" and g.type.shape == (2, 3) and g.type.dtype is graphc.float32
    from graphc.ir.graph import TensorType
    assert g.type == TensorType((2, 3), graphc.float32) and TensorType((2, 3), graphc.float32) == g.type


@needs_torch
def test_to_overloads_match_torch():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    g, t = graphc.tensor(a), torch.tensor(a)
    for args, kw in [(("cpu",), {}), ((), {"device": "cpu"}), (("cpu",), {"non_blocking": True}),
                     ((graphc.device("cpu"),), {})]:
        targs = tuple(torch.device("cpu") if isinstance(x, graphc.device) else x for x in args)
        assert g.to(*args, **kw) is g and t.to(*targs, **kw) is t    # no change: the tensor itself
    assert g.cpu() is g and t.cpu() is t
    assert g.to(graphc.float64).dtype is graphc.float64 and t.to(torch.float64).dtype == torch.float64
    assert g.to("cpu", graphc.int64).tolist() == t.to("cpu", torch.int64).tolist()
    assert g.to(dtype=graphc.int32).dtype is graphc.int32
    assert g.to(graphc.tensor([1])).dtype is graphc.int64                # to(other): its dtype
    assert g.to("cpu", copy=True) is not g
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        g.cuda()
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        g.to("cuda")
    with pytest.raises(graphc.GraphcError):
        g.to(graphc.device("cuda", 0))


@needs_torch
def test_accuracy_idiom_matches_torch():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((20, 5)).astype(np.float32), rng.integers(0, 5, 20)
    gp, tp = graphc.tensor(logits), torch.tensor(logits)
    got = (gp.argmax(1) == graphc.tensor(y)).type(graphc.float).sum().item()
    want = (tp.argmax(1) == torch.tensor(y)).type(torch.float).sum().item()
    assert got == want and isinstance(got, float)


@needs_torch
@pytest.mark.parametrize("spec", ["", ">7f", ".3f", "e", ">10.4g", "8.2%", "+.1f"])
def test_format_of_a_0d_tensor_matches_torch(spec):
    g, t = graphc.tensor(0.123456), torch.tensor(0.123456)
    assert format(g, spec) == format(t, spec)
    assert f"loss: {graphc.tensor(2.5).sum():>7f}" == f"loss: {torch.tensor(2.5).sum():>7f}"
    assert format(graphc.tensor(7), "d") == format(torch.tensor(7), "d") == "7"


@needs_torch
def test_format_of_a_1d_tensor_with_a_spec_raises_as_torch():
    with pytest.raises(TypeError):
        format(torch.tensor([1.0, 2.0]), ".2f")
    with pytest.raises(TypeError):
        format(graphc.tensor([1.0, 2.0]), ".2f")
    assert format(graphc.tensor([1.0]), "") == str(graphc.tensor([1.0]))


@needs_torch
def test_new_factories_match_torch():
    g, t = graphc.tensor([1.0, 2.0], dtype=graphc.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)
    same(g.new_zeros(2, 3), t.new_zeros(2, 3))
    same(g.new_ones((2,)), t.new_ones((2,)))
    same(g.new_full((2, 2), 7.0), t.new_full((2, 2), 7.0))
    same(g.new_tensor([1, 2]), t.new_tensor([1, 2]))
    same(g.new_zeros(3, dtype=graphc.int64), t.new_zeros(3, dtype=torch.int64))
    assert g.new_empty(4).shape == (4,)


# ---- factories, default dtype, conversions --------------------------------------------------------

@needs_torch
def test_factories_take_dtype_and_device_as_torch():
    cases = [
        (lambda m, **k: m.zeros(2, 3, **k), {}), (lambda m, **k: m.ones((4,), **k), {}),
        (lambda m, **k: m.full((2,), 1.5, **k), {}), (lambda m, **k: m.full((2,), 3, **k), {}),
        (lambda m, **k: m.arange(5, **k), {}), (lambda m, **k: m.arange(0, 1, 0.25, **k), {}),
        (lambda m, **k: m.eye(3, **k), {}), (lambda m, **k: m.eye(2, 4, **k), {}),
        (lambda m, **k: m.linspace(0, 1, 5, **k), {}), (lambda m, **k: m.linspace(-2, 3, 7, **k), {}),
        (lambda m, **k: m.logspace(0, 2, 3, **k), {}), (lambda m, **k: m.tensor([1.5, 2], **k), {}),
    ]
    for make, _ in cases:
        for gk, tk in [({}, {}), ({"device": "cpu"}, {"device": "cpu"}),
                       ({"dtype": graphc.float64}, {"dtype": torch.float64}),
                       ({"dtype": graphc.int64, "device": graphc.device("cpu")},
                        {"dtype": torch.int64, "device": torch.device("cpu")})]:
            try:
                t = make(torch, **tk)
            except (RuntimeError, ValueError):   # e.g. arange(0, 1, 0.25, dtype=int64): step 0
                continue
            g = make(graphc, **gk)
            assert tdtype(g) == str(t.dtype) and g.shape == tuple(t.shape)
            np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-6)
    assert graphc.empty(2, 3).shape == (2, 3) and graphc.empty(2, dtype=graphc.int64).dtype is graphc.int64
    x = graphc.ones(2, 2, dtype=graphc.int32)
    for name in ("zeros_like", "ones_like", "empty_like"):
        g = getattr(graphc, name)(x, dtype=graphc.float64, device="cpu")
        t = getattr(torch, name)(torch.ones(2, 2, dtype=torch.int32), dtype=torch.float64, device="cpu")
        assert tdtype(g) == str(t.dtype) and g.shape == tuple(t.shape)
        assert getattr(graphc, name)(x).dtype is graphc.int32
    same(graphc.full_like(x, 5), torch.full_like(torch.ones(2, 2, dtype=torch.int32), 5))
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        graphc.zeros(2, device="cuda")
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        graphc.tensor([1.0], device="cuda:0")


@needs_torch
def test_default_dtype():
    assert graphc.get_default_dtype() is graphc.float32
    assert str(torch.get_default_dtype()) == "torch.float32"
    graphc.set_default_dtype(graphc.float64)
    try:
        assert graphc.get_default_dtype() is graphc.float64
        assert graphc.tensor([1.5]).dtype is graphc.float64 and graphc.zeros(2).dtype is graphc.float64
        assert graphc.tensor([1, 2]).dtype is graphc.int64
        assert graphc.arange(0.0, 1.0, 0.5).dtype is graphc.float64
        with pytest.raises(TypeError):
            graphc.set_default_dtype(graphc.int64)
    finally:
        graphc.set_default_dtype(graphc.float32)
    assert graphc.zeros(1).dtype is graphc.float32


@needs_torch
def test_is_tensor_numel_requires_grad_keywords():
    assert graphc.is_tensor(graphc.ones(1)) and not graphc.is_tensor(np.ones(1))
    assert graphc.numel(graphc.ones(2, 3)) == torch.numel(torch.ones(2, 3)) == 6
    assert graphc.zeros(2, requires_grad=True).requires_grad
    assert graphc.tensor([1.0], requires_grad=True).requires_grad


def test_inference_mode_and_variable():
    assert graphc.is_grad_enabled()
    with graphc.inference_mode():
        assert not graphc.is_grad_enabled() and graphc.is_inference_mode_enabled()
    with graphc.inference_mode(False):
        assert graphc.is_grad_enabled()
    assert graphc.is_grad_enabled()

    @graphc.inference_mode()
    def f():
        return graphc.is_grad_enabled()

    @graphc.inference_mode
    def h():
        return graphc.is_grad_enabled()
    assert f() is False and h() is False and graphc.is_grad_enabled()
    t = graphc.ones(2)
    assert graphc.autograd.Variable(t) is t
    v = graphc.autograd.Variable(np.ones(2, np.float32), requires_grad=True)
    assert isinstance(v, graphc.Tensor) and v.requires_grad


# ---- zero copy ------------------------------------------------------------------------------------

def test_tensors_are_views_of_numpy_memory():
    a = np.arange(6, dtype=np.float32)
    t = graphc.from_numpy(a)
    assert np.shares_memory(np.asarray(t), a) and np.shares_memory(t.numpy(), a)
    a[0] = 42.0
    assert t[0].item() == 42.0                      # writes to the array show in the tensor
    assert np.shares_memory(t.detach().numpy(), a)
    assert np.shares_memory(graphc.as_tensor(a).numpy(), a)
    assert graphc.as_tensor(t) is t
    assert not np.shares_memory(graphc.as_tensor(a, dtype=graphc.float64).numpy(), a)
    c = graphc.tensor(a)                            # torch.tensor copies
    assert not np.shares_memory(c.numpy(), a)
    assert not np.shares_memory(graphc.tensor(t).numpy(), a)
    with pytest.raises(TypeError):
        graphc.from_numpy([1, 2])
    ds = gdata.TensorDataset(a, np.arange(6))
    assert np.shares_memory(ds.tensors[0].numpy(), a)


@needs_torch
def test_zero_copy_matches_torch():
    a = np.arange(4, dtype=np.float64)
    assert np.shares_memory(torch.from_numpy(a).numpy(), a) and np.shares_memory(graphc.from_numpy(a).numpy(), a)
    assert not np.shares_memory(torch.tensor(a).numpy(), a) and not np.shares_memory(graphc.tensor(a).numpy(), a)
    assert np.shares_memory(torch.as_tensor(a).numpy(), a) and np.shares_memory(graphc.as_tensor(a).numpy(), a)
    assert str(torch.from_numpy(a).dtype) == tdtype(graphc.from_numpy(a))


def test_compiled_call_takes_tensors_without_copies():
    from graphc.driver.compile import flatten
    a = np.ones((4, 3), np.float32)
    t = graphc.from_numpy(a)
    leaves, paths = [], []
    flatten({"x": t, "y": [t]}, "", leaves, paths)       # the general path
    assert len(leaves) == 2 and all(np.shares_memory(leaf, a) for leaf in leaves)
    f = graphc.compile(lambda x: x * 2.0, backend="interpreter")
    f(t)                                                   # traces
    entry, seen = f._last, []
    run = entry.runner

    def spy(leaves):
        seen.append(leaves)
        return run(leaves)
    entry.runner = spy
    out = f(t)                                             # the fast path
    assert len(seen) == 1 and np.shares_memory(seen[0][0], a)
    assert isinstance(out, graphc.Tensor)
    f(x=t)                                                 # keywords: the general path
    assert len(seen) == 2 and np.shares_memory(seen[1][0], a)


# ---- what a compiled function returns -------------------------------------------------------------

@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_returns_tensors_for_tensors_and_arrays_for_arrays(backend):
    def step(x, y):
        return {"scaled": x * 2.0, "total": (x + y).sum(), "pair": (x.sum(1), 3)}

    f = graphc.compile(step, backend=backend)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out_a = f(a, a)
    assert isinstance(out_a["scaled"], np.ndarray) and isinstance(out_a["total"], np.generic)
    for _ in range(2):                              # first call traces, then the fast path
        out_t = f(graphc.from_numpy(a), graphc.from_numpy(a))
        assert isinstance(out_t["scaled"], graphc.Tensor) and isinstance(out_t["total"], graphc.Tensor)
        assert out_t["total"].shape == () and out_t["total"].item() == pytest.approx(30.0)
        assert isinstance(out_t["pair"], tuple) and isinstance(out_t["pair"][0], graphc.Tensor)
        assert out_t["pair"][1] == 3
        np.testing.assert_array_equal(out_t["scaled"].numpy(), out_a["scaled"])
    out_kw = f(a, y=graphc.from_numpy(a))           # one Tensor anywhere: Tensors out
    assert isinstance(out_kw["scaled"], graphc.Tensor)
    assert f"{out_t['total']:.1f}" == "30.0"


def test_compiled_module_on_loader_batches_returns_tensors():
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32), np.arange(10) % 2
    loader = gdata.DataLoader(gdata.TensorDataset(x, y), batch_size=5)
    infer = graphc.compile(net, backend="interpreter")
    correct = 0.0
    for xb, yb in loader:
        assert isinstance(xb, graphc.Tensor) and xb.device == graphc.device("cpu")
        xb, yb = xb.to("cpu", non_blocking=True), yb.to("cpu")
        pred = infer(xb)
        assert isinstance(pred, graphc.Tensor) and pred.shape == (5, 2)
        correct += (pred.argmax(1) == yb).type(graphc.float).sum().item()
    assert 0 <= correct <= 10


# ---- devices and backends ---------------------------------------------------------------------------

@needs_torch
def test_device_objects_match_torch():
    for spec in ["cpu", "cuda", "cuda:1", "mps"]:
        g, t = graphc.device(spec), torch.device(spec)
        assert str(g) == str(t) and repr(g) == repr(t) and g.type == t.type and g.index == t.index
    assert graphc.device("cuda", 0) == "cuda:0" and graphc.device("cpu") != graphc.device("cuda")
    assert {graphc.device("cpu"): 1}[graphc.device("cpu")] == 1
    assert pickle.loads(pickle.dumps(graphc.device("cpu"))) == graphc.device("cpu")
    with pytest.raises(graphc.GraphcError):
        graphc.device("tpu")
    assert graphc.cuda.is_available() is False and graphc.cuda.device_count() == 0
    assert graphc.backends.mps.is_available() is False
    assert graphc.accelerator.is_available() is False and graphc.accelerator.current_accelerator() is None
    dev = graphc.device("cuda" if graphc.cuda.is_available() else "cpu")
    assert graphc.ones(2).to(dev).device == dev
    graphc.backends.cudnn.deterministic = True        # torch programs set these flags
    graphc.backends.cuda.matmul.allow_tf32 = True
    assert graphc.backends.cuda.is_built() is False and graphc.backends.mps.is_built() is False
    graphc.cuda.manual_seed_all(0)
    with pytest.raises(graphc.GraphcError):
        graphc.cuda.current_device()


@needs_torch
def test_module_to_device_and_dtype_as_torch():
    graphc.manual_seed(0)
    g = nn.Linear(3, 2)
    t = torch.nn.Linear(3, 2)
    assert g.to("cpu") is g and t.to("cpu") is t
    assert g.to(graphc.device("cpu")) is g
    g.to(graphc.float64)
    t.to(torch.float64)
    assert tdtype(g.weight) == str(t.weight.dtype) and tdtype(g.bias) == str(t.bias.dtype)
    g.to("cpu", graphc.float32)
    assert g.weight.dtype is graphc.float32
    g.to(torch_like := graphc.zeros(1, dtype=graphc.float64))
    assert g.weight.dtype is graphc.float64 and torch_like.dtype is graphc.float64
    with pytest.raises(TypeError):
        t.to(torch.int64)
    with pytest.raises(TypeError):
        g.to(graphc.int64)
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        g.to("cuda")
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        g.cuda()
    assert g.cpu() is g


# ---- graphc.utils.data against torch.utils.data -----------------------------------------------------

def _xy(n=10):
    return np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n, dtype=np.int64)


@needs_torch
@pytest.mark.parametrize("bs,drop_last", [(1, False), (3, False), (3, True), (4, False), (10, True),
                                          (12, False), (12, True)])
def test_dataloader_batches_match_torch(bs, drop_last):
    x, y = _xy()
    g = gdata.DataLoader(gdata.TensorDataset(x, y), batch_size=bs, drop_last=drop_last)
    t = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=bs,
                         drop_last=drop_last)
    assert len(g) == len(t)
    gb, tb = list(g), list(t)
    assert len(gb) == len(tb)
    for a, b in zip(gb, tb):
        same(a, b)                                  # a list [x, y], as torch


@needs_torch
def test_dataloader_over_generic_datasets_matches_torch():
    Point = collections.namedtuple("Point", "x y")

    class Items:
        def __init__(self, kind):
            self.kind = kind

        def __len__(self):
            return 7

        def __getitem__(self, i):
            if self.kind == "dict":
                return {"a": np.full(2, i, np.float32), "b": i, "c": float(i) / 2, "s": f"s{i}"}
            if self.kind == "namedtuple":
                return Point(np.array([i, i + 1]), np.float64(i))
            if self.kind == "list":
                return [i, np.int32(i), True]
            return (np.ones((2, 2), np.float64) * i, i)

    for kind in ("dict", "namedtuple", "list", "tuple"):
        for bs in (None, 1, 3):
            g = list(gdata.DataLoader(Items(kind), batch_size=bs))
            t = list(tdata.DataLoader(Items(kind), batch_size=bs))
            assert len(g) == len(t)
            for a, b in zip(g, t):
                same(a, b)


@needs_torch
def test_default_collate_and_convert_match_torch():
    Pair = collections.namedtuple("Pair", "u v")
    batches = [
        [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
        [np.float32(1.5), np.float32(2.5)],
        [np.int64(3), np.int64(4)],
        [1.5, 2.5], [1, 2], [True, False], ["a", "b"],
        [{"x": 1, "y": [1.0, 2.0]}, {"x": 2, "y": [3.0, 4.0]}],
        [Pair(1, np.zeros(2, np.int32)), Pair(2, np.ones(2, np.int32))],
        [(1, 2.0), (3, 4.0)],
        [[1, 2], [3, 4]],
    ]
    for b in batches:
        same(gdata.default_collate(b), tdata.default_collate(b))
    gt = [graphc.tensor([1.0, 2.0]), graphc.tensor([3.0, 4.0])]
    same(gdata.default_collate(gt), tdata.default_collate([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]))
    for d in [np.arange(3), {"k": np.float64(2.0)}, (np.ones(2), 3), Pair(np.ones(1), 2), "str", [1, 2]]:
        same(gdata.default_convert(d), tdata.default_convert(d))
    with pytest.raises(RuntimeError, match="equal size"):
        gdata.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError):
        gdata.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError):
        tdata.default_collate([np.array(["a"]), np.array(["b"])])


@needs_torch
def test_samplers_match_torch():
    ds = list(range(10))
    assert list(gdata.SequentialSampler(ds)) == list(tdata.SequentialSampler(ds))
    for bs, dl in [(3, False), (3, True), (5, True), (11, False)]:
        g = gdata.BatchSampler(gdata.SequentialSampler(ds), bs, dl)
        t = tdata.BatchSampler(tdata.SequentialSampler(ds), bs, dl)
        assert list(g) == list(t) and len(g) == len(t)
    g = list(gdata.DataLoader(gdata.TensorDataset(*_xy()), batch_sampler=gdata.BatchSampler(
        gdata.SequentialSampler(ds), 4, False)))
    t = list(tdata.DataLoader(tdata.TensorDataset(*map(torch.tensor, _xy())), batch_sampler=tdata.BatchSampler(
        tdata.SequentialSampler(ds), 4, False)))
    for a, b in zip(g, t):
        same(a, b)
    g = list(gdata.DataLoader(gdata.TensorDataset(*_xy()), sampler=[9, 0, 5], batch_size=2))
    t = list(tdata.DataLoader(tdata.TensorDataset(*map(torch.tensor, _xy())), sampler=[9, 0, 5], batch_size=2))
    for a, b in zip(g, t):
        same(a, b)
    for bad in [0, -1, 1.5, True]:
        with pytest.raises(ValueError):
            gdata.BatchSampler(ds, bad, False)
        with pytest.raises(ValueError):
            tdata.BatchSampler(ds, bad, False)


def _is_perm(order, n):
    return sorted(order) == list(range(n))


def test_random_samplers_permute_and_reproduce():
    ds = list(range(50))
    gen = graphc.Generator().manual_seed(3) if hasattr(graphc, "Generator") else np.random.default_rng(3)
    s = gdata.RandomSampler(ds, generator=gen)
    e1, e2 = list(s), list(s)
    assert _is_perm(e1, 50) and _is_perm(e2, 50) and e1 != e2 and e1 != ds
    graphc.manual_seed(7)
    a = list(gdata.RandomSampler(ds))
    graphc.manual_seed(7)
    b = list(gdata.RandomSampler(ds))
    assert a == b and _is_perm(a, 50)               # manual_seed makes shuffling reproducible
    r = list(gdata.RandomSampler(ds, replacement=True, num_samples=200))
    assert len(r) == 200 and all(0 <= i < 50 for i in r)
    more = list(gdata.RandomSampler(ds, num_samples=120))
    assert len(more) == 120 and _is_perm(more[:50], 50) and _is_perm(more[50:100], 50)
    sub = list(gdata.SubsetRandomSampler([3, 5, 7, 9]))
    assert sorted(sub) == [3, 5, 7, 9]
    w = list(gdata.WeightedRandomSampler([0.0, 1.0, 0.0], 10))
    assert w == [1] * 10
    counts = np.bincount(list(gdata.WeightedRandomSampler([1.0, 3.0], 4000)), minlength=2)
    assert 800 < counts[0] < 1200 and counts.sum() == 4000
    assert sorted(gdata.WeightedRandomSampler([1, 1, 0, 2], 3, replacement=False)) == [0, 1, 3]
    s = gdata.RandomSampler(ds, replacement=True, num_samples=30, generator=gen)
    assert list(s) != list(s)                       # a generator's stream moves on per epoch


def test_shuffled_loader_rows_stay_paired_and_reproduce():
    x, y = _xy(40)
    graphc.manual_seed(1)
    e1 = [b for b in gdata.DataLoader(gdata.TensorDataset(x, y), batch_size=8, shuffle=True)]
    graphc.manual_seed(1)
    e2 = [b for b in gdata.DataLoader(gdata.TensorDataset(x, y), batch_size=8, shuffle=True)]
    o1 = np.concatenate([yb.numpy() for _, yb in e1])
    assert _is_perm(o1.tolist(), 40) and not np.array_equal(o1, np.arange(40))
    np.testing.assert_array_equal(o1, np.concatenate([yb.numpy() for _, yb in e2]))
    for xb, yb in e1:
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
    gen = graphc.Generator().manual_seed(5) if hasattr(graphc, "Generator") else np.random.default_rng(5)
    dl = gdata.DataLoader(gdata.TensorDataset(x, y), batch_size=8, shuffle=True, generator=gen)
    assert _is_perm(np.concatenate([yb.numpy() for _, yb in dl]).tolist(), 40)


@needs_torch
def test_loader_argument_conflicts_raise_as_torch():
    ds = list(range(6))
    bad = [dict(sampler=[0, 1], shuffle=True),
           dict(batch_sampler=[[0, 1]], batch_size=2),
           dict(batch_sampler=[[0, 1]], drop_last=True),
           dict(batch_sampler=[[0, 1]], shuffle=True),
           dict(batch_size=None, drop_last=True),
           dict(num_workers=-1),
           dict(prefetch_factor=2),
           dict(persistent_workers=True)]
    for kw in bad:
        with pytest.raises(ValueError):
            tdata.DataLoader(ds, **kw)
        with pytest.raises(ValueError):
            gdata.DataLoader(ds, **kw)


@needs_torch
def test_workers_and_pin_memory_are_accepted():
    x, y = _xy(9)
    g = gdata.DataLoader(gdata.TensorDataset(x, y), batch_size=4, num_workers=2, pin_memory=True,
                         persistent_workers=True, prefetch_factor=2, worker_init_fn=lambda i: None)
    same(list(g)[-1], list(tdata.DataLoader(tdata.TensorDataset(*map(torch.tensor, (x, y))),
                                            batch_size=4))[-1])
    assert gdata.get_worker_info() is None


@needs_torch
def test_iterable_dataset_matches_torch():
    def make(base):
        class Stream(base.IterableDataset):
            def __iter__(self):
                return iter([np.float32(i) for i in range(7)])
        return Stream()

    for bs, dl in [(3, False), (3, True), (None, False)]:
        g = list(gdata.DataLoader(make(gdata), batch_size=bs, drop_last=dl))
        t = list(tdata.DataLoader(make(tdata), batch_size=bs, drop_last=dl))
        assert len(g) == len(t)
        for a, b in zip(g, t):
            same(a, b)
    with pytest.raises(ValueError):
        gdata.DataLoader(make(gdata), shuffle=True)
    chained = list(gdata.ChainDataset([make(gdata), make(gdata)]))
    assert len(chained) == 14


@needs_torch
def test_subset_concat_and_random_split_match_torch():
    x, y = _xy(10)
    gds, tds = gdata.TensorDataset(x, y), tdata.TensorDataset(torch.tensor(x), torch.tensor(y))
    same(list(gdata.Subset(gds, [4, 1])[1]), list(tdata.Subset(tds, [4, 1])[1]))
    gc, tc = gdata.ConcatDataset([gds, gds]), tdata.ConcatDataset([tds, tds])
    assert len(gc) == len(tc) == 20 and gc.cumulative_sizes == tc.cumulative_sizes
    for i in (0, 9, 10, 19, -1, -20):
        same(list(gc[i]), list(tc[i]))
    assert len(gds + gds) == 20
    same(list(gdata.DataLoader(gc, batch_size=7))[1], list(tdata.DataLoader(tc, batch_size=7))[1])
    for lengths in ([3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.33, 0.33, 0.34], [1 / 3] * 3):
        gs = gdata.random_split(gds, lengths)
        ts = tdata.random_split(tds, lengths)
        assert [len(s) for s in gs] == [len(s) for s in ts]
        idx = sorted(i for s in gs for i in s.indices)
        assert idx == list(range(10))                 # disjoint, covering
    with pytest.raises(ValueError):
        gdata.random_split(gds, [3, 3])
    gen = (lambda s: graphc.Generator().manual_seed(s)) if hasattr(graphc, "Generator") else \
        (lambda s: np.random.default_rng(s))
    a = [s.indices for s in gdata.random_split(gds, [5, 5], generator=gen(0))]
    b = [s.indices for s in gdata.random_split(gds, [5, 5], generator=gen(0))]
    assert a == b
    same(list(gdata.DataLoader(gdata.Subset(gds, [2, 8, 5]), batch_size=3))[0],
         list(tdata.DataLoader(tdata.Subset(tds, [2, 8, 5]), batch_size=3))[0])
    nested_g = gdata.Subset(gdata.Subset(gds, [9, 8, 7, 6, 5, 4]), [5, 0, 2])
    nested_t = tdata.Subset(tdata.Subset(tds, [9, 8, 7, 6, 5, 4]), [5, 0, 2])
    same(list(gdata.DataLoader(nested_g, batch_size=2))[0], list(tdata.DataLoader(nested_t, batch_size=2))[0])
    g_split, t_split = gdata.random_split(gds, [0.8, 0.2]), tdata.random_split(tds, [0.8, 0.2])
    for gs, ts in zip(g_split, t_split):            # same rows as the torch loader over our indices
        same(list(gdata.DataLoader(gs, batch_size=4))[0],
             list(tdata.DataLoader(tdata.Subset(tds, gs.indices), batch_size=4))[0])


def test_graphc_data_alias_and_old_seed_keyword():
    import graphc.data
    assert graphc.data.DataLoader is gdata.DataLoader and graphc.data.random_split is gdata.random_split
    x, y = _xy(20)
    a = [yb.tolist() for _, yb in graphc.data.DataLoader((x, y), batch_size=5, shuffle=True, seed=4)]
    b = [yb.tolist() for _, yb in graphc.data.DataLoader((x, y), batch_size=5, shuffle=True, seed=4)]
    assert a == b and _is_perm(sum(a, []), 20)


def test_custom_collate_fn_and_dataset_subclass():
    class Squares(gdata.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return i * i

    out = list(gdata.DataLoader(Squares(), batch_size=2, collate_fn=lambda b: sum(b)))
    assert out == [1, 13, 16]
    assert list(gdata.DataLoader(Squares(), batch_size=5))[0].tolist() == [0, 1, 4, 9, 16]


# ---- save / load ----------------------------------------------------------------------------------

def _model():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_save_load_state_dict_round_trip(tmp_path):
    m = _model()
    path = tmp_path / "model.pth"
    graphc.save(m.state_dict(), path)
    sd = graphc.load(path)
    assert list(sd) == list(m.state_dict())
    m2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    m2.load_state_dict(sd)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(np.asarray(m(x)), np.asarray(m2(x)))
    assert graphc.load(str(path), map_location="cpu") is not None
    assert graphc.load(path, map_location=graphc.device("cpu"), weights_only=True) is not None
    assert graphc.load(path, map_location=lambda s, loc: s) is not None
    with pytest.raises(graphc.GraphcError, match="CPU only"):
        graphc.load(path, map_location="cuda:0")


def test_save_load_optimizer_state_after_training_steps():
    m = _model()
    opt = optim.Adam(m.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    @graphc.compile(backend="interpreter")
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.integers(0, 2, 8)
    for _ in range(3):
        step(x, y)
    buf = io.BytesIO()
    graphc.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, buf)
    buf.seek(0)
    ck = graphc.load(buf)
    assert ck["epoch"] == 3
    m2 = _model()
    opt2 = optim.Adam(m2.parameters(), lr=0.01)
    m2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    sd1, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd1["param_groups"] == sd2["param_groups"]
    for k in sd1["state"]:
        for name in sd1["state"][k]:
            np.testing.assert_array_equal(np.asarray(sd1["state"][k][name]),
                                          np.asarray(sd2["state"][k][name]))


def test_save_load_tensors_and_nested_objects():
    t = graphc.tensor([[1.0, 2.0]], requires_grad=True)
    obj = {"t": t, "ints": graphc.arange(5), "b": graphc.tensor([True, False]),
           "nested": [(graphc.ones(2, dtype=graphc.float64), "name", 3.5, None)],
           "od": collections.OrderedDict(a=np.arange(3)), "dev": graphc.device("cpu"),
           "dt": graphc.int32, "zero_d": graphc.tensor(2.5)}
    buf = io.BytesIO()
    graphc.save(obj, buf)
    back = graphc.load(io.BytesIO(buf.getvalue()))
    assert isinstance(back["t"], graphc.Tensor) and back["t"].requires_grad
    assert back["t"].tolist() == [[1.0, 2.0]] and back["ints"].dtype is graphc.int64
    assert back["b"].dtype is graphc.bool_ and back["nested"][0][1:] == ("name", 3.5, None)
    assert back["nested"][0][0].dtype is graphc.float64
    assert isinstance(back["od"], collections.OrderedDict)
    np.testing.assert_array_equal(back["od"]["a"], np.arange(3))
    assert back["dev"] == graphc.device("cpu") and back["dt"] is graphc.int32
    assert back["zero_d"].shape == () and back["zero_d"].item() == 2.5
    assert not np.shares_memory(back["t"].numpy(), t.numpy())
    back["t"].numpy()[0, 0] = 9.0                  # loaded arrays are writeable
    p = nn.Parameter(graphc.ones(2))
    q = graphc.load(_roundtrip(p))
    assert isinstance(q, nn.Parameter) and q.requires_grad


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    graphc.save(obj, buf, **kw)
    buf.seek(0)
    return buf


def test_whole_module_needs_weights_only_false():
    m = _model()
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        graphc.load(_roundtrip(m))
    m2 = graphc.load(_roundtrip(m), weights_only=False)
    assert isinstance(m2, nn.Sequential)
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(np.asarray(m(x)), np.asarray(m2(x)))


def test_load_rejects_other_files():
    with pytest.raises(pickle.UnpicklingError, match="graphc.save"):
        graphc.load(io.BytesIO(pickle.dumps({"a": 1})))


@needs_torch
def test_save_load_state_dict_values_match_a_torch_model():
    m = _model()
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    sd = graphc.load(_roundtrip(m.state_dict()))
    tm.load_state_dict({k: torch.from_numpy(np.asarray(v).copy()) for k, v in sd.items()})
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(m(x)), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


@needs_torch
def test_floor_divide_and_remainder_match_torch():
    for a, b in [([7, -7, 5], 2), ([7.5, -7.5], 2), ([7, -7], -2), ([7, -7], 2.5), ([9, -3], [2, 4])]:
        g, t = graphc.tensor(a), torch.tensor(a)
        gb, tb = (graphc.tensor(b), torch.tensor(b)) if isinstance(b, list) else (b, b)
        same(g // gb, t // tb)
        same(g % gb, t % tb)
    same(7 // graphc.tensor([2, 3]), 7 // torch.tensor([2, 3]))
    f = graphc.compile(lambda x: (x // 3, x % 3), backend="interpreter")
    q, r = f(graphc.arange(7))
    same(q, torch.arange(7) // 3)
    same(r, torch.arange(7) % 3)


@needs_torch
def test_a_list_of_arrays_is_a_list_of_samples_as_torch():
    samples = [np.full(3, i, np.float32) for i in range(5)]
    same(list(gdata.DataLoader(samples, batch_size=2)), list(tdata.DataLoader(samples, batch_size=2)))


def test_nn_modules_layout_matches_torch():
    """Every graphc.nn Module class torch defines in torch.nn.modules.<file> is importable from
    graphc.nn.modules.<file> as well, the same class; private bases programs subclass too."""
    torch = pytest.importorskip("torch")
    import importlib
    from graphc.nn.module import Module
    for name, cls in vars(graphc.nn).items():
        t = getattr(torch.nn, name, None)
        if not (isinstance(cls, type) and issubclass(cls, Module)) or t is None:
            continue
        where = t.__module__.rsplit(".", 1)[-1]
        mod = importlib.import_module(f"graphc.nn.modules.{where}")
        assert getattr(mod, name, None) is cls, f"graphc.nn.modules.{where}.{name}"
        assert getattr(graphc.nn.modules, name) is cls
    from graphc.nn.modules.loss import _Loss, _WeightedLoss
    from graphc.nn.modules.utils import _ntuple, _pair, _quadruple, _single, _triple
    assert issubclass(_WeightedLoss, _Loss) and issubclass(graphc.nn.MSELoss, _Loss)
    assert _pair(3) == (3, 3) and _single([4]) == (4,) and _triple(1) == (1, 1, 1)
    assert _quadruple((1, 2)) == (1, 2) and _ntuple(5)(0) == (0,) * 5
