"""Eager-mode QAT API (stubs, fuse_modules, intrinsic/QAT modules, prepare / prepare_qat) against
PyTorch from the same weights: module structure, fused numerics, observer statistics and 20-step
QAT training trajectories, eager and compiled (LLVM)."""
import copy

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ao.quantization.quantize import register_forward_hook, register_forward_pre_hook
from graphc.errors import GraphcError

torch = pytest.importorskip("torch")
tq = torch.ao.quantization


def _conv_net(T, nested: bool = True):
    """conv1-bn1-relu1, a nested layer1.0 conv/bn, linear-relu, bn-relu: every fusion kind."""
    N = T.nn

    class Block(N.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = N.Conv2d(4, 4, 3, padding=1, bias=False), N.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.conv(x))

    class Net(N.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1, self.relu1 = N.Conv2d(2, 4, 3), N.BatchNorm2d(4), N.ReLU()
            self.layer1 = N.Sequential(Block())
            self.bn2, self.relu2 = N.BatchNorm2d(4), N.ReLU()
            self.fc, self.relu3 = N.Linear(4 * 4 * 4, 8), N.ReLU()
            self.fc2, self.bn3 = N.Linear(8, 5), N.BatchNorm1d(5)

        def forward(self, x):
            x = self.relu1(self.bn1(self.conv1(x)))
            x = self.relu2(self.bn2(self.layer1(x)))
            x = self.relu3(self.fc(x.reshape(x.shape[0], -1)))
            return self.bn3(self.fc2(x))
    return Net()


def _twins(build):
    """The same model in torch and graphc, graphc's weights copied from torch's (BatchNorm
    running statistics made non-trivial)."""
    torch.manual_seed(0)
    tm, gm = build(torch), build(graphc)
    for m in tm.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    gm.load_state_dict(tm.state_dict())
    return tm, gm


_GROUPS = [["conv1", "bn1", "relu1"], ["layer1.0.conv", "layer1.0.bn"], ["bn2", "relu2"],
           ["fc", "relu3"], ["fc2", "bn3"]]


def _structure(m):
    return [(name, type(mod).__name__) for name, mod in m.named_modules()]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("qat", [False, True])
def test_fuse_modules_structure_and_numbers(qat):
    tm, gm = _twins(_conv_net)
    if not qat:
        tm.eval(), gm.eval()
    fuse_t = tq.fuse_modules_qat if qat else tq.fuse_modules
    fuse_g = graphc.ao.quantization.fuse_modules_qat if qat else \
        graphc.ao.quantization.fuse_modules
    tf, gf = fuse_t(tm, _GROUPS), fuse_g(gm, _GROUPS)
    assert _structure(gf) == _structure(tf)
    assert sorted(gf.state_dict()) == sorted(tf.state_dict())  # (graphc orders params first)
    for k, v in tf.state_dict().items():
        assert np.array_equal(gf.state_dict()[k].numpy(), v.numpy()), k   # folded BN: 0 ulp
    assert type(gm.bn1) is nn.BatchNorm2d and type(gf.bn1) is nn.Identity  # a copy unless inplace
    assert [m.training for m in gf.modules()] == [m.training for m in tf.modules()]
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 6)).astype(np.float32)
    tf.eval(), gf.eval()
    with torch.no_grad():
        want = tf(torch.from_numpy(x)).numpy()
    assert _rel(gf(x).numpy(), want) <= 1e-6
    if not qat:   # fusing changed nothing but the rounding of the folded weights
        assert _rel(gf(x).numpy(), gm(x).numpy()) <= 1e-5


def test_fuse_modules_inplace_hooks_and_errors():
    _, gm = _twins(_conv_net)
    gm.eval()
    seen = []
    register_forward_pre_hook(gm.conv1, lambda m, a: seen.append(("pre", type(m).__name__)))
    register_forward_hook(gm.relu1, lambda m, a, o: seen.append(("post", type(m).__name__)))
    out = graphc.ao.quantization.fuse_modules(gm, ["conv1", "bn1", "relu1"], inplace=True)
    assert out is gm and type(gm.conv1).__name__ == "ConvReLU2d"
    gm(np.zeros((1, 2, 6, 6), np.float32))
    # torch's order: the pre hook moved to the fused module, and (as in torch) also still on
    # the Conv2d copy that eval fusion deep-copied before the hooks were moved
    assert seen == [("pre", "ConvReLU2d"), ("pre", "Conv2d"), ("post", "ConvReLU2d")]
    with pytest.raises(GraphcError, match="layer1.0.bnx"):
        graphc.ao.quantization.fuse_modules(gm, ["layer1.0.conv", "layer1.0.bnx"])
    with pytest.raises(GraphcError, match=r"\['fc2', 'bn2'\].*\(Linear, BatchNorm2d\)"):
        graphc.ao.quantization.fuse_modules(gm, ["fc2", "bn2"])
    gm.layer1[0].bn.train()
    with pytest.raises(GraphcError, match="Conv2d.eval., BatchNorm2d.train.*same mode"):
        graphc.ao.quantization.fuse_modules(gm, ["layer1.0.conv", "layer1.0.bn"])
    with pytest.raises(GraphcError, match="eval"):
        graphc.nn.utils.fuse_conv_bn_eval(gm.layer1[0].conv, gm.layer1[0].bn)
