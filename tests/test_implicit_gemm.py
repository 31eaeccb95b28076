"""Implicit-GEMM convolution: where a convolution's im2col columns (`unfold`) are read only by its
matmul (inference), the fuser puts the unfold in the matmul's kernel and the LLVM kernel packs
B's panels straight from the image (two masked loads per vector at stride 1, a masked gather
otherwise). The values packed are the columns', so the results must be the same bits as the
materialised path's (that path is forced here by turning the fusion off), on 1 and 2 threads,
and agree with torch."""
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

# (C, O, kernel, stride, padding, dilation, (H, W), N, dtype): the stride-1 two-run path with
# vectors spanning output rows and images, the gather path (Wo below the vector width, stride
# 2, dilation), zero padding on every side, a ragged last panel, float64, one input channel
CASES = [
    (3, 20, 3, 1, 1, 1, (9, 11), 2, "float32"),
    (2, 7, (2, 3), 2, (1, 0), (1, 2), (8, 13), 3, "float32"),
    (8, 12, 3, 1, 0, 1, (26, 26), 3, "float32"),
    (1, 6, 5, 1, 2, 1, (20, 24), 2, "float32"),
    (16, 16, 3, 1, 1, 1, (32, 32), 2, "float32"),
    (4, 5, 3, 1, 1, 2, (17, 19), 2, "float64"),
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


def test_training_keeps_the_columns_for_the_weight_gradient():
    """In a train step the columns have two readers (the forward matmul and the weight
    gradient's), so they are materialised once, not packed twice."""
    graphc.manual_seed(0)
    conv = gnn.Conv2d(3, 4, 3)
    opt = graphc.optim.SGD(conv.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = conv(x).square().mean()
        loss.backward()
        opt.step()
        return loss
    f = graphc.compile(step, backend="llvm")
    f(np.ones((2, 3, 8, 8), np.float32))
    assert any(n.op == "unfold" for n in f.graph.nodes), "the columns should be a kernel's output"
