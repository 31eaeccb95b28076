"""Convolutions: the unfold/fold primitives' oracles (merged into test_ops' and test_autodiff's
tables), F.conv1d/conv2d/conv_transpose1d/2d/unfold/fold and the nn modules against torch,
forward and backward, float32 and float64, eager and compiled."""
from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
import graphc.nn.functional as GF
from graphc import nn as gnn

# ---- oracles of the primitives (test_ops.NUMPY_ORACLE, the torch tables) ----------------------


def np_unfold(x, kernel, dilation, stride, pad_lo, pad_hi, batch_last=False):
    """Element by element: cols[n, c*K + i*kw + j, oh*Wo + ow] = x at the tap, or 0 (batch_last:
    cols[c*K + i*kw + j, n*L + oh*Wo + ow])."""
    n, c, h, w = x.shape
    (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
    ho = (h + pad_lo[0] + pad_hi[0] - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pad_lo[1] + pad_hi[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c * kh * kw, ho * wo), x.dtype)
    for b, ch, i, j, oh, ow in itertools.product(range(n), range(c), range(kh), range(kw),
                                                 range(ho), range(wo)):
        ih, iw = oh * sh + i * dh - pad_lo[0], ow * sw + j * dw - pad_lo[1]
        if 0 <= ih < h and 0 <= iw < w:
            out[b, (ch * kh + i) * kw + j, oh * wo + ow] = x[b, ch, ih, iw]
    return np.concatenate(list(out), axis=1) if batch_last else out


def np_fold(cols, output_size, kernel, dilation, stride, pad_lo, pad_hi, batch_last=False,
            batch=None):
    """Element by element, in float64: every column entry added at its tap."""
    (h, w), (kh, kw), (dh, dw), (sh, sw) = output_size, kernel, dilation, stride
    if batch_last:
        cols = np.stack(np.split(cols, batch, axis=1))
    n, ck, _ = cols.shape
    c = ck // (kh * kw)
    wo = (w + pad_lo[1] + pad_hi[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c, h, w), np.float64)
    for b, ch, i, j, l in itertools.product(range(n), range(c), range(kh), range(kw),
                                            range(cols.shape[2])):
        ih, iw = (l // wo) * sh + i * dh - pad_lo[0], (l % wo) * sw + j * dw - pad_lo[1]
        if 0 <= ih < h and 0 <= iw < w:
            out[b, ch, ih, iw] += cols[b, (ch * kh + i) * kw + j, l]
    return out.astype(cols.dtype)


NUMPY = {"unfold": np_unfold, "fold": np_fold}


def torch_table(torch):
    """op name -> the torch expression: F.unfold/F.fold of an explicitly padded input (graphc's
    padding may differ before and after), in float64 for integer operands."""
    F = torch.nn.functional

    def unfold(x, kernel, dilation, stride, pad_lo, pad_hi, batch_last=False):
        xp = F.pad(x if x.is_floating_point() else x.double(),
                   (pad_lo[1], pad_hi[1], pad_lo[0], pad_hi[0]))
        cols = F.unfold(xp, kernel, dilation=dilation, stride=stride).to(x.dtype)
        return torch.cat(list(cols), 1) if batch_last else cols

    def fold(cols, output_size, kernel, dilation, stride, pad_lo, pad_hi, batch_last=False,
             batch=None):
        if batch_last:
            cols = torch.stack(torch.chunk(cols, batch, 1))
        (h, w), (a, b) = output_size, pad_lo
        full = (h + a + pad_hi[0], w + b + pad_hi[1])
        y = F.fold(cols if cols.is_floating_point() else cols.double(), full, kernel,
                   dilation=dilation, stride=stride)
        return y[:, :, a:a + h, b:b + w].to(cols.dtype)
    return {"unfold": unfold, "fold": fold}


# ---- functions vs torch, forward and backward, eager and compiled -------------------------------

torch = pytest.importorskip("torch")

# (function, input shape, weight shape, bias?, keyword arguments)
CONFIGS = [
    ("conv2d", (2, 3, 7, 8), (4, 3, 3, 3), True, {}),
    ("conv2d", (2, 3, 7, 8), (4, 3, 3, 2), True, {"stride": 2, "padding": 1}),
    ("conv2d", (1, 4, 9, 7), (6, 2, 3, 3), True, {"groups": 2, "padding": (1, 0),
                                                  "dilation": (2, 1)}),
    ("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), True, {"groups": 4, "padding": "same"}),   # depthwise
    ("conv2d", (2, 4, 6, 7), (8, 1, 3, 3), False, {"groups": 4, "stride": (1, 2)}),
    ("conv2d", (2, 3, 6, 7), (5, 3, 2, 4), True, {"padding": "same", "dilation": (1, 2)}),
    ("conv2d", (1, 5, 5, 5), (3, 5, 1, 1), False, {}),                                 # 1x1
    ("conv2d", (1, 5, 5, 6), (3, 5, 1, 1), True, {"stride": 2}),
    ("conv2d", (2, 3, 9, 9), (2, 3, 7, 7), True, {"padding": 3}),                     # 7x7
    ("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), True, {"padding": "valid", "stride": (3, 2)}),
    ("conv2d", (3, 6, 6), (2, 3, 3, 3), True, {"padding": 1}),                         # unbatched
    ("conv2d", (1, 1, 4, 4), (1, 1, 4, 4), True, {}),                        # kernel = input
    ("conv1d", (2, 3, 10), (4, 3, 3), True, {}),
    ("conv1d", (1, 4, 11), (6, 2, 4), True, {"groups": 2, "padding": "same", "dilation": 2}),
    ("conv1d", (2, 3, 12), (5, 3, 3), False, {"stride": 3, "padding": 2}),
    ("conv1d", (3, 9), (2, 3, 5), True, {}),
    ("conv1d", (2, 4, 9), (4, 1, 3), True, {"groups": 4, "padding": 1}),
    ("conv_transpose2d", (2, 3, 5, 6), (3, 4, 3, 3), True, {}),
    ("conv_transpose2d", (2, 4, 4, 5), (4, 3, 3, 2), True,
     {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ("conv_transpose2d", (1, 3, 4, 4), (3, 2, 3, 3), False,
     {"stride": (2, 3), "padding": (0, 1), "dilation": (1, 2), "output_padding": (1, 0)}),
    ("conv_transpose2d", (1, 2, 3, 3), (2, 2, 2, 2), True, {"dilation": 3, "output_padding": 2}),
    ("conv_transpose2d", (1, 2, 5, 5), (2, 3, 1, 1), True, {}),
    ("conv_transpose2d", (3, 4, 4), (3, 2, 3, 3), True, {"stride": 2}),
    ("conv_transpose1d", (2, 3, 7), (3, 4, 3), True, {"stride": 2, "padding": 1,
                                                      "output_padding": 1}),
    ("conv_transpose1d", (1, 4, 6), (4, 1, 5), True, {"groups": 4, "dilation": 2}),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CONFIGS)]


def _arrays(cfg, dtype, seed):
    fn, xs, ws, bias, kw = cfg
    rng = np.random.default_rng(seed)
    out_c = ws[1] * kw.get("groups", 1) if "transpose" in fn else ws[0]
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(out_c).astype(dtype) if bias else None
    return x, w, b


def _torch_run(cfg, x, w, b):
    fn, kw = cfg[0], cfg[4]
    ts = [torch.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    y = getattr(torch.nn.functional, fn)(*ts, **kw)
    ct = torch.tensor(np.random.default_rng(7).standard_normal(tuple(y.shape)).astype(x.dtype))
    (y * ct).sum().backward()
    return [y.detach().numpy(), ct.numpy()] + [t.grad.numpy() for t in ts if t is not None]


def _tol(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_function_matches_torch_eagerly(cfg, dtype):
    x, w, b = _arrays(cfg, dtype, 1)
    want_y, ct, *want_g = _torch_run(cfg, x, w, b)
    ts = [graphc.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    y = getattr(GF, cfg[0])(*ts, **cfg[4])
    assert y.shape == want_y.shape and y.dtype.np == dtype
    (y * graphc.tensor(ct)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), want_y, **_tol(dtype))
    for t, g in zip([t for t in ts if t is not None], want_g):
        np.testing.assert_allclose(t.grad.numpy(), g, **_tol(dtype))


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_every_config_compiled_in_one_step_matches_torch(dtype, backend):
    """One compiled function computes every configuration's output and its input, weight and
    bias gradients (the parameters are state; the cotangents are inputs)."""
    if backend == "interpreter" and dtype == np.float32:
        pytest.skip("the interpreter runs the same refs as eager mode (checked above)")
    cases = []
    for i, cfg in enumerate(CONFIGS):
        x, w, b = _arrays(cfg, dtype, 100 + i)
        want = _torch_run(cfg, x, w, b)
        params = [graphc.tensor(a.copy(), requires_grad=True) for a in (x, w, b) if a is not None]
        cases.append((cfg, params, want))

    def step(*cts):
        outs = []
        for (cfg, params, _), ct in zip(cases, cts):
            for p in params:
                p.grad = None
            args = params if cfg[3] else params + [None]
            y = getattr(GF, cfg[0])(*args, **cfg[4])
            (y * ct).sum().backward()
            outs += [y] + [p.grad for p in params]
        return tuple(outs)
    got = graphc.compile(step, backend=backend)(*[c[2][1] for c in cases])
    k = 0
    for cfg, params, (y, _, *grads) in cases:
        for want, what in zip([y] + grads, ["output", "input grad", "weight grad", "bias grad"]):
            np.testing.assert_allclose(np.asarray(got[k]), want, **_tol(dtype),
                                       err_msg=f"{cfg}: {what}")
            k += 1


UNFOLDS = [((2, 3, 6, 7), {"kernel_size": 3}),
           ((1, 2, 7, 8), {"kernel_size": (2, 3), "dilation": (2, 1), "padding": 1,
                           "stride": (2, 3)}),
           ((3, 5, 5), {"kernel_size": 2, "stride": 2, "padding": (0, 1)})]


@pytest.mark.parametrize("shape, kw", UNFOLDS)
@pytest.mark.parametrize("compiled", [False, True])
def test_unfold_and_fold_match_torch(shape, kw, compiled):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    size = shape[-2:]

    def both(xt, F):
        cols = F.unfold(xt, **kw)
        return cols, F.fold(cols * 2.0, size, **kw)
    want = [t.numpy() for t in both(torch.tensor(x), torch.nn.functional)]
    fn = graphc.compile(lambda a: both(a, GF)) if compiled else \
        (lambda a: [t.numpy() for t in both(graphc.tensor(a), GF)])
    for g, w in zip(fn(x), want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-6, atol=1e-6)
    cols = want[0]
    assert repr(gnn.Unfold(**kw)) == repr(torch.nn.Unfold(**kw))
    np.testing.assert_allclose(gnn.Fold(size, **kw)(graphc.tensor(cols)).numpy(),
                               torch.nn.Fold(size, **kw)(torch.tensor(cols)).numpy(), rtol=1e-6,
                               atol=1e-6)


# ---- modules ------------------------------------------------------------------------------------

MODULES = [
    ("Conv2d", (3, 8, 3), {}),
    ("Conv2d", (4, 6, (2, 3)), {"stride": 2, "padding": 1, "groups": 2, "bias": False}),
    ("Conv2d", (4, 4, 3), {"padding": "same", "dilation": 2, "groups": 4,
                           "padding_mode": "reflect"}),
    ("Conv2d", (2, 5, 4), {"padding": "same", "padding_mode": "circular"}),
    ("Conv2d", (3, 2, 3), {"padding": (1, 2), "padding_mode": "replicate"}),
    ("Conv2d", (3, 2, 1), {"padding": "valid"}),
    ("Conv1d", (3, 5, 3), {"padding": 2, "padding_mode": "reflect"}),
    ("Conv1d", (4, 4, 5), {"padding": "same", "groups": 2}),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "output_padding": 1, "groups": 2}),
    ("ConvTranspose2d", (3, 2, (2, 3)), {"padding": 1, "dilation": 2, "bias": False}),
    ("ConvTranspose1d", (3, 5, 4), {"stride": 3, "padding": 1, "output_padding": 2}),
]


def _input_for(name, args, rng, batch=2):
    shape = (batch, args[0]) + ((9,) if name.endswith("1d") else (7, 8))
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name, args, kw", MODULES, ids=[f"{m[0]}-{i}" for i, m in
                                                           enumerate(MODULES)])
def test_module_matches_torch(name, args, kw):
    """Parameter names and shapes, repr, attributes, and (with torch's weights copied in) the
    output and every gradient, eagerly and compiled."""
    tm, gm = getattr(torch.nn, name)(*args, **kw), getattr(gnn, name)(*args, **kw)
    assert repr(gm) == repr(tm)
    assert [(n, tuple(p.shape)) for n, p in gm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "transposed", "output_padding", "groups", "padding_mode",
                 "_reversed_padding_repeated_twice"):
        assert getattr(gm, attr) == getattr(tm, attr), attr
    gm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    x = _input_for(name, args, np.random.default_rng(5))
    xt = torch.tensor(x, requires_grad=True)
    y = tm(xt)
    y.square().sum().backward()
    want = [y.detach().numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in tm.parameters()]
    xg = graphc.tensor(x, requires_grad=True)

    def step():
        xg.grad = None
        gm.zero_grad()
        out = gm(xg)
        out.square().sum().backward()
        return (out, xg.grad) + tuple(p.grad for p in gm.parameters())
    for got in (step(), graphc.compile(step)()):
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, args", [("Conv2d", (16, 32, 3)), ("Conv1d", (6, 9, 5)),
                                        ("ConvTranspose2d", (24, 8, (3, 2))),
                                        ("Conv2d", (12, 12, 3, 1, 1, 1, 4))])
def test_default_init_has_torchs_distribution(name, args):
    """kaiming_uniform_(a=sqrt(5)) weights and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias, with
    torch's fan_in (dim 1 times the kernel: out/groups for a transposed convolution)."""
    graphc.manual_seed(0)
    gm, tm = getattr(gnn, name)(*args), getattr(torch.nn, name)(*args)
    w, b = gm.weight.detach().numpy(), gm.bias.detach().numpy()
    assert w.shape == tuple(tm.weight.shape) and w.dtype == np.float32
    bound = 1 / math.sqrt(math.prod(tm.weight.shape[1:]))
    for a, n in ((w, w.size), (b, b.size)):
        assert np.abs(a).max() <= bound
        assert np.abs(a).max() > bound * (1 - 8 / n)           # fills the whole range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
    assert gnn.Conv2d(2, 3, 3, dtype=graphc.float64).weight.dtype == graphc.float64


def test_transposed_output_size_and_errors():
    tm, gm = torch.nn.ConvTranspose2d(2, 3, 3, stride=2), gnn.ConvTranspose2d(2, 3, 3, stride=2)
    gm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5)).astype(np.float32)
    for size in ([10, 11], (1, 3, 9, 12)):
        want = tm(torch.tensor(x), output_size=size).detach().numpy()
        np.testing.assert_allclose(gm(graphc.tensor(x), output_size=size).numpy(), want,
                                   rtol=1e-5, atol=1e-5)
    with pytest.raises(graphc.GraphcError, match="valid sizes range from"):
        gm(graphc.tensor(x), output_size=[12, 11])


@pytest.mark.parametrize("make, match", [
    (lambda: gnn.Conv2d(3, 4, 3, groups=2), "in_channels must be divisible by groups"),
    (lambda: gnn.Conv2d(4, 3, 3, groups=2), "out_channels must be divisible by groups"),
    (lambda: gnn.Conv2d(4, 4, 3, groups=0), "groups must be a positive integer"),
    (lambda: gnn.Conv2d(4, 4, 3, padding="full"), "Invalid padding string"),
    (lambda: gnn.Conv2d(4, 4, 3, stride=2, padding="same"), "not supported for strided"),
    (lambda: gnn.Conv2d(4, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: gnn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"), 'Only "zeros"'),
    (lambda: gnn.Conv2d(4, 4, (3, 3, 3)), "kernel_size must be an int or a tuple of 2"),
])
def test_constructor_errors_as_torch(make, match):
    with pytest.raises(graphc.GraphcError, match=match):
        make()


def _t(shape, dtype=np.float32):
    return graphc.tensor(np.ones(shape, dtype))


@pytest.mark.parametrize("call, match", [
    (lambda: GF.conv2d(_t((1, 3, 5, 5)), _t((4, 2, 3, 3))), "to have 2 channels, but got 3"),
    (lambda: GF.conv2d(_t((1, 3, 2, 2)), _t((4, 3, 3, 3))), "Kernel size can't be greater"),
    (lambda: GF.conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3), np.float64)), "should be the same"),
    (lambda: GF.conv2d(_t((3, 5)), _t((4, 3, 3, 3))), "Expected 3D \\(unbatched\\) or 4D"),
    (lambda: GF.conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), _t((3,))), "bias of size \\[3\\]"),
    (lambda: GF.conv1d(_t((1, 3, 5)), _t((4, 3, 3)), stride=2, padding="same"), "strided"),
    (lambda: GF.conv_transpose2d(_t((1, 2, 3, 3)), _t((2, 2, 3, 3)), output_padding=1),
     "output padding must be smaller"),
    (lambda: GF.conv_transpose2d(_t((1, 3, 3, 3)), _t((2, 2, 3, 3))), "to have 2 channels"),
    (lambda: GF.fold(_t((1, 12, 5)), (4, 4), 2), "blocks"),
])
def test_function_errors_name_the_problem(call, match):
    with pytest.raises(graphc.GraphcError, match=match):
        call()


def test_small_cnn_trains_as_torch_compiled():
    """Conv2d -> ReLU -> Conv2d(groups) -> flatten -> Linear with SGD: five compiled steps from
    torch's weights follow torch's losses and parameters."""
    def build(nn):
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(6 * 3 * 3, 5))
    torch.manual_seed(0)
    tnet, gnet = build(torch.nn), build(gnn)
    gnet.load_state_dict({k: v.detach().numpy().copy() for k, v in tnet.state_dict().items()})
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
    gopt = graphc.optim.SGD(gnet.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 8)

    @graphc.compile
    def step(x, y):
        gopt.zero_grad()
        loss = GF.cross_entropy(gnet(x), y)
        loss.backward()
        gopt.step()
        return loss
    for _ in range(5):
        topt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        topt.step()
        np.testing.assert_allclose(float(step(x, y)), tl.item(), rtol=1e-5)
    for (n, p), q in zip(gnet.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=n)


@pytest.mark.parametrize("kw", [{"kernel_size": 3, "padding": 1},
                                {"kernel_size": (2, 3), "stride": (2, 1), "dilation": (1, 2)}])
def test_large_unfold_and_fold_split_over_the_pool_give_the_interpreters_bits(kw):
    """Sizes that the kernels split into blocks of planes over the thread pool: the LLVM results
    equal the interpreter's bit for bit (fold sums each pixel in the same order)."""
    x = np.random.default_rng(4).standard_normal((4, 16, 33, 32)).astype(np.float32)

    def f(a):
        cols = GF.unfold(a, **kw)
        return cols, GF.fold(cols * 1.7, (33, 32), **kw)
    got = graphc.compile(f)(x)
    want = graphc.compile(f, backend="interpreter")(x)
    assert got[0].size >= 2 << 16     # two tasks or more
    for g, w in zip(got, want):
        assert np.asarray(g).tobytes() == np.asarray(w).tobytes()


THREADS_STEP = r"""
import sys, numpy as np, graphc, graphc.nn.functional as F
rng = np.random.default_rng(0)
x = graphc.tensor(rng.standard_normal((8, 16, 20, 20)).astype(np.float32), requires_grad=True)
w = graphc.tensor(rng.standard_normal((32, 16, 3, 3)).astype(np.float32), requires_grad=True)
b = graphc.tensor(rng.standard_normal(32).astype(np.float32), requires_grad=True)
def step(ct):
    x.grad = w.grad = b.grad = None
    y = F.conv_transpose2d(F.conv2d(x, w, b, padding=1), w, stride=2)
    (y * ct).sum().backward()
    return y, x.grad, w.grad, b.grad
ct = rng.standard_normal((8, 16, 41, 41)).astype(np.float32)
np.savez(sys.argv[1], *[np.asarray(r) for r in graphc.compile(step)(ct)])
"""


def test_one_and_two_threads_give_the_same_bits(tmp_path):
    """A convolution's and a transposed convolution's forward and backward, big enough that
    the matmuls and unfold/fold split over the pool, in processes with 1 and 2 threads."""
    outs = []
    for threads in ("1", "2"):
        path = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", THREADS_STEP, str(path)], check=True, timeout=300,
                       env=dict(os.environ, GRAPHC_NUM_THREADS=threads))
        with np.load(path) as z:
            outs.append([z[k] for k in sorted(z.files)])
    for a, b in zip(*outs):
        assert a.tobytes() == b.tobytes()
