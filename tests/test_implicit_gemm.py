"""Implicit-GEMM convolution: where a convolution's im2col columns (`unfold`) are read only as B of
matmuls (the forward product W @ cols, and in training the weight gradient g @ cols^T too), the
fuser puts a copy of the unfold in each matmul's kernel and the LLVM kernel packs B's panels
straight from the image (a masked load per output row at stride 1, a masked gather otherwise;
the weight gradient's panels through 8 x 8 register transposes). The values packed are the
columns', so the results must be the same bits as the materialised path's (that path is forced
here by turning the fusion off), on 1 and 2 threads, and agree with torch."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from thread_runs import outputs_per_thread_count

import graphc
from graphc import nn as gnn
from graphc.ir import fusion_of
from graphc.ir.ops import Fusion

fuse_pass = importlib.import_module("passes.fuse")
matmul_kernel = importlib.import_module("graphc.backend.llvm.kernels.matmul")

# (C, O, kernel, stride, padding, dilation, (H, W), N, dtype): the stride-1 path (one masked
# load per output row) with vectors spanning two and three output rows and images, the gather
# path (stride 2), dilation, zero padding on every side, none (no bounds tests), padding on one
# side of an axis only, a ragged last panel, float64, one input channel
CASES = [
    (3, 20, 3, 1, 1, 1, (9, 11), 2, "float32"),
    (2, 7, (2, 3), 2, (1, 0), (1, 2), (8, 13), 3, "float32"),
    (8, 12, 3, 1, 0, 1, (26, 26), 3, "float32"),
    (1, 6, 5, 1, 2, 1, (20, 24), 2, "float32"),
    (16, 16, 3, 1, 1, 1, (32, 32), 2, "float32"),
    (4, 5, 3, 1, 1, 2, (17, 19), 2, "float64"),
    (3, 16, 4, 1, "same", 1, (10, 12), 2, "float32"),   # padding 1 before, 2 after
]


def _net(case):
    c, o, k, s, p, d, hw, n, dt = case
    graphc.manual_seed(0)
    conv = gnn.Conv2d(c, o, k, stride=s, padding=p, dilation=d).eval()
    if dt == "float64":
        conv = conv.double()
    x = np.random.default_rng(1).standard_normal((n, c, *hw)).astype(dt)
    return conv, x


def _run(conv, x, packed: bool, monkeypatch):
    with monkeypatch.context() as m:
        if not packed:
            m.setattr(fuse_pass.Fuser, "_packed_by_matmul", lambda self, n: False)
        f = graphc.compile(lambda t: graphc.relu(conv(t)), backend="llvm")
        out = f(x)
    kernels = [n for n in f.graph.nodes if fusion_of(n) is Fusion.KERNEL]
    inside = any(m.op == "unfold" for k in kernels for m in k.attrs["body"].nodes)
    assert inside == packed, "the unfold should be in the matmul's kernel exactly when packed"
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{c[1]}k{c[2]}s{c[3]}{c[-1][-2:]}")
def test_implicit_gemm_is_bit_identical_to_the_materialised_columns(case, monkeypatch):
    conv, x = _net(case)
    implicit = _run(conv, x, True, monkeypatch)
    explicit = _run(conv, x, False, monkeypatch)
    np.testing.assert_array_equal(implicit, explicit)
    torch = pytest.importorskip("torch")
    tconv = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                            conv.padding, conv.dilation).to(getattr(torch, case[-1]))
    tconv.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                           for k, v in conv.state_dict().items()})
    with torch.no_grad():
        ref = torch.relu(tconv(torch.from_numpy(x))).numpy()
    tol = 1e-5 if case[-1] == "float32" else 1e-12
    np.testing.assert_allclose(implicit, ref, rtol=tol, atol=tol)


def test_implicit_gemm_results_do_not_depend_on_the_thread_count(tmp_path):
    script = (
        "import numpy as np, graphc, sys\n"
        "from graphc import nn\n"
        "graphc.manual_seed(0)\n"
        "conv = nn.Conv2d(8, 24, 3, padding=1).eval()\n"
        "x = np.random.default_rng(0).standard_normal((4, 8, 30, 30)).astype(np.float32)\n"
        "np.save(sys.argv[1], graphc.compile(conv)(x))\n")
    np.testing.assert_array_equal(*outputs_per_thread_count(script, tmp_path))


# training geometries besides CASES: K = N*Ho*Wo not a multiple of 8 (the element-by-element
# last rows), K below the 8 x 8 transposes' minimum, a K long enough for the k-block sweep
TRAIN_CASES = CASES + [
    (3, 16, 3, 1, 0, 1, (7, 9), 3, "float32"),
    (2, 16, 3, 1, 1, 1, (3, 5), 2, "float32"),
    (5, 32, 3, 1, 1, 1, (60, 62), 3, "float32"),
    # CASES with fewer output channels than PACK_T_MIN_ROWS read materialised columns in the
    # weight gradient: the same geometries again with 16 (the gather path, dilation, float64)
    (2, 16, (2, 3), 2, (1, 0), (1, 2), (8, 13), 3, "float32"),
    (1, 16, 5, 1, 2, 1, (20, 24), 2, "float32"),
    (4, 16, 3, 1, 1, 2, (17, 19), 2, "float64"),
]


def _train(case, packed: bool, monkeypatch, steps: int = 2):
    """The weights and losses after `steps` SGD steps of a conv + ReLU + squared mean, the
    columns packed by both matmuls (forward and weight gradient), or materialised."""
    conv, x = _net(case)
    conv.train()
    opt = graphc.optim.SGD(conv.parameters(), lr=0.1)

    def step(t):
        opt.zero_grad()
        loss = graphc.relu(conv(t)).square().mean()
        loss.backward()
        opt.step()
        return loss
    with monkeypatch.context() as m:
        if not packed:
            m.setattr(fuse_pass.Fuser, "_packed_by_matmul", lambda self, n: False)
            m.setattr(fuse_pass, "one_pack_per_reader", lambda g: g)
        f = graphc.compile(step, backend="llvm")
        losses = [float(f(x)) for _ in range(steps)]
    kernels = [n for n in f.graph.nodes if fusion_of(n) is Fusion.KERNEL]
    inside = sum(m.op == "unfold" for k in kernels for m in k.attrs["body"].nodes)
    # a weight gradient of fewer output channels than the tile's rows reads materialised columns
    both = packed and conv.out_channels >= fuse_pass.PACK_T_MIN_ROWS
    assert inside == (2 if both else 0), "both matmuls should pack the columns exactly when packed"
    assert both != any(n.op == "unfold" for n in f.graph.nodes)
    return conv, x, losses, [p.numpy().copy() for p in conv.parameters()]


@pytest.mark.parametrize("case", TRAIN_CASES,
                         ids=lambda c: f"{c[0]}x{c[1]}k{c[2]}s{c[3]}_{c[6][0]}x{c[6][1]}"
                                       f"{c[-1][-2:]}")
def test_training_packs_the_columns_in_both_matmuls_bit_identically(case, monkeypatch):
    """In a train step the columns have two readers, the forward matmul and the weight
    gradient's (g @ cols^T): each packs them from the image, with the same bits as the
    materialised columns, and the same weights as torch after the steps."""
    conv, x, losses, weights = _train(case, True, monkeypatch)
    _, _, ref_losses, ref_weights = _train(case, False, monkeypatch)
    # the same bits where the materialised weight gradient also takes the broadcast form (a
    # computed B^T always does: below these sizes the materialised one runs the dot form, whose
    # sums are in another order)
    K = x.shape[0] * np.prod(conv(graphc.tensor(x)).shape[2:])
    if conv.out_channels >= matmul_kernel.PACK_MIN_M_T8 and K >= matmul_kernel.TRANSPOSE_MIN_K:
        assert losses == ref_losses
        for a, e in zip(weights, ref_weights):
            np.testing.assert_array_equal(a, e)
    torch = pytest.importorskip("torch")
    t, _ = _net(case)
    tconv = torch.nn.Conv2d(t.in_channels, t.out_channels, t.kernel_size, t.stride,
                            t.padding, t.dilation).to(getattr(torch, case[-1]))
    tconv.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                           for k, v in t.state_dict().items()})
    topt = torch.optim.SGD(tconv.parameters(), lr=0.1)
    tx = torch.from_numpy(x)
    for want in losses:
        topt.zero_grad()
        loss = torch.relu(tconv(tx)).square().mean()
        loss.backward()
        topt.step()
        np.testing.assert_allclose(want, loss.item(), rtol=1e-5 if case[-1] == "float32" else 1e-12)
    tol = 1e-5 if case[-1] == "float32" else 1e-12
    for a, p in zip(weights, tconv.parameters()):
        np.testing.assert_allclose(a, p.detach().numpy(), rtol=tol, atol=tol)


def test_implicit_weight_gradient_does_not_depend_on_the_thread_count(tmp_path):
    script = (
        "import numpy as np, graphc, sys\n"
        "from graphc import nn\n"
        "graphc.manual_seed(0)\n"
        "conv = nn.Conv2d(8, 24, 3, padding=1)\n"
        "opt = graphc.optim.SGD(conv.parameters(), lr=0.1)\n"
        "def step(x):\n"
        "    opt.zero_grad(); loss = conv(x).square().mean(); loss.backward(); opt.step()\n"
        "    return loss\n"
        "x = np.random.default_rng(0).standard_normal((4, 8, 30, 30)).astype(np.float32)\n"
        "f = graphc.compile(step)\n"
        "f(x); f(x)\n"
        "np.save(sys.argv[1], conv.weight.numpy())\n")
    np.testing.assert_array_equal(*outputs_per_thread_count(script, tmp_path))
