"""Worker functions for tests/test_hogwild.py (module level, so spawned workers can import them)."""
from __future__ import annotations

import graphc
from graphc import nn, optim
from graphc.multiprocessing import barrier, shard_loader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 128), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def make_step(net, backend="llvm"):
    """The seed training step (Adam, lr 1e-3) on `net`."""
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=1e-3)

    @graphc.compile(backend=backend)
    def step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss
    return step


def train(net, worker, n_workers, x, y, epochs, batch_size=64):
    """A Hogwild worker: its shard of each epoch, updates written into the shared weights."""
    import os
    step = make_step(net)
    loader = shard_loader((x, y), batch_size, worker, n_workers, seed=0)
    xb, yb = x[:batch_size], y[:batch_size]
    step(xb, yb), step(xb, yb)            # both traces compiled (Adam's state appears lazily)
    barrier()                             # then all workers train at the same time
    n = 0
    for _ in range(epochs):
        for xb, yb in loader:
            step(xb, yb)
            n += 1
    return {"steps": n, "pid": os.getpid(), "threads": os.environ.get("GRAPHC_NUM_THREADS")}


def fail(net, worker, n_workers):
    """Worker 1 raises; worker 0 would run for a minute."""
    import time
    if worker == 1:
        raise ValueError("worker 1 fails on purpose")
    time.sleep(60)


def vanish(net, worker, n_workers):
    """Worker 0 ends its process at once with status 0 (no result); worker 1 segfaults-like."""
    import os
    os._exit(0 if worker == 0 else 11)
