"""Run by tests/test_multiprocessing_api.py under `mpiexec -n 2 python -m mpi4py`: torch's
DistributedDataParallel wrapper on graphc.distributed. Rank 0 writes a JSON report to argv[1]."""
from __future__ import annotations

import json
import sys

import numpy as np

import graphc
import graphc.distributed as dist
from graphc import nn, optim

dist.init()
rank, world = dist.rank(), dist.world_size()
graphc.manual_seed(100 + rank)                       # different initial weights on each rank
model = nn.parallel.DistributedDataParallel(nn.Linear(6, 3))   # broadcasts rank 0's
w0 = [np.array(p.data) for p in model.parameters()]
opt = optim.SGD(model.parameters(), lr=0.5)
crit = nn.CrossEntropyLoss()


@graphc.compile
def step(x, y):
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()
    return loss


rng = np.random.default_rng(0)
x, y = rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8)
mine = slice(rank * 4, rank * 4 + 4)                  # each rank its half of the batch
for _ in range(3):
    step(x[mine], y[mine])

# one process on the whole batch from rank 0's initial weights: what DDP must follow
ref = nn.Linear(6, 3)
for p, w in zip(ref.parameters(), w0):
    p.data = w
ref_opt = optim.SGD(ref.parameters(), lr=0.5)


@graphc.compile
def ref_step(x, y):
    ref_opt.zero_grad()
    loss = crit(ref(x), y)
    loss.backward()
    ref_opt.step()
    return loss


for _ in range(3):
    ref_step(x, y)
got = [np.array(p.data) for p in model.parameters()]
want = [np.array(p.data) for p in ref.parameters()]
all_w0 = dist.broadcast_object(w0 if rank == 1 else None, root=1)
eager_error = ""
try:
    model(graphc.tensor(x[mine]))
except graphc.GraphcError as e:
    eager_error = str(e)
with graphc.no_grad():
    evaluated = model(graphc.tensor(x[mine])).shape == (4, 3)   # evaluation is fine eagerly
report = {
    "eager_eval": bool(evaluated),
    "world": world,
    "broadcast": all(np.array_equal(a, b) for a, b in zip(w0, all_w0)),
    "max_diff": max(float(np.abs(a - b).max()) for a, b in zip(got, want)),
    "allreduce": "allreduce" in step.ir(),
    "eager_error": eager_error,
}
if rank == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(report, f)
