"""Run by tests/test_distributed.py under mpiexec: rank 1 raises while rank 0 waits inside a
compiled data-parallel step (in MPI_Allreduce, in native code); the job must abort, not hang."""
import sys

import numpy as np

import graphc
import graphc.distributed as dist
from graphc import nn, optim

dist.init()
net = nn.Linear(8, 2)
opt = optim.SGD(net.parameters(), lr=0.1)


@graphc.compile(backend="llvm", data_parallel=True)
def step(x, y):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    return loss


x, y = np.ones((4, 8), np.float32), np.zeros(4, np.int64)
step.trace(x, y)        # compile on both ranks first
dist.barrier()
if dist.rank() == 1:
    with open(sys.argv[1], "w") as f:   # proof for the test that this is the failure it wanted
        f.write("raised")
    raise RuntimeError("rank 1 fails on purpose")
for _ in range(1000):   # rank 0: blocked in the all-reduce, waiting for rank 1 forever
    step(x, y)
