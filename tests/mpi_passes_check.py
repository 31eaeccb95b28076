"""Run by tests/test_distributed.py under `mpiexec -n 2 python -m mpi4py`; rank 0 writes a JSON
report to argv[1]. `data_parallel=True` with a custom pass list (passes=["fuse"], passes=[])
must still average the gradients: 2 ranks on half batches follow one process on the full batch
(each backend). The pipeline is composed by passes/manager.py's `pipeline`, which puts the
`allreduce` pass before the required `autodiff` it adds."""
from __future__ import annotations

import json
import sys

import numpy as np

import graphc
import graphc.distributed as dist
from graphc import nn, optim

STEPS, BATCH = 5, 32
PASS_LISTS = {"fuse": ["fuse"], "none": []}


def make(backend, data_parallel, passes):
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = optim.Adam(net.parameters(), lr=1e-2)

    @graphc.compile(backend=backend, data_parallel=data_parallel, passes=passes)
    def step(data, target):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(data), target)
        loss.backward()
        optimizer.step()
        return loss
    return net, step


def check(backend, passes) -> dict:
    """Max |2 ranks - 1 process| over losses, parameters and gradients, after each step."""
    r, w = dist.rank(), dist.world_size()
    net, step = make(backend, True, passes)
    ref_net, ref_step = make(backend, False, passes)
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(STEPS):
        x = rng.standard_normal((BATCH, 20)).astype(np.float32)
        y = rng.integers(0, 4, BATCH)
        half = BATCH // w
        loss = dist.allreduce_mean(float(step(x[r * half:(r + 1) * half],
                                              y[r * half:(r + 1) * half])))
        worst = max(worst, abs(loss - float(ref_step(x, y))))
        for p, q in zip(net.parameters(), ref_net.parameters()):
            worst = max(worst, float(np.abs(p.data - q.data).max()),
                        float(np.abs(p.grad.numpy() - q.grad.numpy()).max()))
    sums = dist.communicator().allgather(float(sum(np.abs(p.data).sum()
                                                   for p in net.parameters())))
    return {"max_diff": worst, "ranks_equal": len(set(sums)) == 1, "stages": step.stages,
            "allreduce_nodes": step.graph.op_counts().get("allreduce", 0)}


def main():
    dist.init()
    report = {"world": dist.world_size()}
    for backend in ("interpreter", "llvm"):
        for key, passes in PASS_LISTS.items():
            report[f"{backend}-{key}"] = check(backend, passes)
    if dist.rank() == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
