"""Run by tests/test_distributed.py under `mpiexec -n 2 python -m mpi4py`; rank 0 writes a JSON
report to argv[1]. Checks, inside the job: shards, broadcasts, checkpoints, and that 2 ranks of
`data_parallel=True` follow one process on the full batch for 10 steps (each backend)."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

import graphc
import graphc.distributed as dist
from graphc import nn, optim

STEPS, BATCH = 10, 64


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 128), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def make(backend, data_parallel):
    graphc.manual_seed(0)
    net, criterion = Net(), nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=1e-3)

    @graphc.compile(backend=backend, data_parallel=data_parallel)
    def step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss
    return net, optimizer, step


def batches():
    rng = np.random.default_rng(1)
    for _ in range(STEPS):
        yield (rng.standard_normal((BATCH, 784)).astype(np.float32),
               rng.integers(0, 10, BATCH))


def gather(obj):
    return dist.communicator().allgather(obj)


def check_equivalence(backend, mode, report):
    """Max |2 ranks - 1 process| over every parameter and gradient, after each of 10 steps."""
    os.environ["GRAPHC_ALLREDUCE"] = mode
    r, w = dist.rank(), dist.world_size()
    net, _, step = make(backend, True)
    ref = make(backend, False) if r == 0 else None
    worst, losses = 0.0, []
    for x, y in batches():
        half = BATCH // w
        loss = step(x[r * half:(r + 1) * half], y[r * half:(r + 1) * half])
        losses.append(dist.allreduce_mean(float(loss)))
        if ref is not None:
            ref_loss = ref[2](x, y)
            worst = max(worst, abs(losses[-1] - float(ref_loss)))
            for p, q in zip(net.parameters(), ref[0].parameters()):
                worst = max(worst, float(np.abs(p.data - q.data).max()),
                            float(np.abs(p.grad.numpy() - q.grad.numpy()).max()))
    same = gather(float(sum(np.abs(p.data).sum() for p in net.parameters())))
    ops = step.graph.op_counts()
    report[f"{backend}-{mode}"] = {"max_diff": worst, "ranks_equal": len(set(same)) == 1,
                                   "allreduce_nodes": ops.get("allreduce", 0),
                                   "first_loss": losses[0], "last_loss": losses[-1]}


def check_float64() -> float:
    """A float64 model (the all-reduce in MPI_DOUBLE) with SGD + momentum, 2 ranks vs 1."""
    def build(dp):
        graphc.manual_seed(2)
        net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)).double()
        opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

        @graphc.compile(backend="llvm", data_parallel=dp)
        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return loss
        return net, step
    r = dist.rank()
    (net, step), (ref, ref_step) = build(True), build(False)
    rng = np.random.default_rng(4)
    worst = 0.0
    for _ in range(5):
        x, y = rng.standard_normal((16, 8)), rng.integers(0, 3, 16)
        step(x[r * 8:(r + 1) * 8], y[r * 8:(r + 1) * 8])
        ref_step(x, y)
        worst = max(worst, max(float(np.abs(p.data - q.data).max())
                               for p, q in zip(net.parameters(), ref.parameters())))
    return worst


def main():
    out_path = sys.argv[1]
    dist.init()
    report: dict = {"world": dist.world_size(), "rank_threads": os.environ["GRAPHC_NUM_THREADS"],
                    "is_initialized": dist.is_initialized()}
    for n, drop_last in ((100, False), (103, False), (103, True)):
        s = dist.DistributedSampler(n, shuffle=True, seed=3, drop_last=drop_last)
        s.set_epoch(2)
        shards = gather(s.indices().tolist())
        flat = [i for sh in shards for i in sh]
        report[f"sampler-{n}-{drop_last}"] = {
            "lengths": [len(sh) for sh in shards], "distinct": len(set(flat)),
            "disjoint": len(set(shards[0]) & set(shards[1])) == 0, "total": len(flat)}
    loader = dist.DistributedDataLoader((np.arange(40.0), np.arange(40)), batch_size=4, seed=0)
    epochs = [sorted(int(v) for _, yb in loader for v in yb) for _ in range(2)]
    everyone = gather(epochs)
    report["loader"] = {"epoch_cover": [sorted(everyone[0][e] + everyone[1][e]) == list(range(40))
                                        for e in range(2)],
                        "epochs_differ": everyone[0][0] != everyone[0][1]}
    graphc.manual_seed(dist.rank())          # different weights on each rank ...
    net = Net()
    dist.broadcast_parameters(net)           # ... until rank 0's are broadcast
    report["broadcast_equal"] = len(set(gather(float(net.fc1.weight.data.sum())))) == 1
    for backend, mode in (("interpreter", "native"), ("llvm", "native"), ("llvm", "python")):
        check_equivalence(backend, mode, report)
    report["float64"] = check_float64()
    net, opt, step = make("llvm", True)
    step(np.ones((32, 784), np.float32), np.zeros(32, np.int64))
    ck = out_path + ".ckpt"
    dist.save_checkpoint(ck, net, opt, epoch=7)
    net2, opt2, _ = make("llvm", True)
    extra = dist.load_checkpoint(ck, net2, opt2)
    report["checkpoint"] = {"extra": extra, "params_equal": all(
        np.array_equal(p.data, q.data) for p, q in zip(net.parameters(), net2.parameters())),
        "optimizer_keys": sorted(opt2.state_dict())}
    if dist.rank() == 0:
        with open(out_path, "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
