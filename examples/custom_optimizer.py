"""Your own optimizer, written the PyTorch way, compiled into the training step; an lr schedule.

`MomentumSGD` subclasses graphc.optim.Optimizer as you would torch.optim.Optimizer: a loop over
param_groups, state buffers created lazily on the first step, in-place updates. Inside the compiled
step these become graph ops and the buffers become graph state kept in NumPy arrays. group["lr"] is
a runtime input, so the cosine schedule changes it every step without retracing: the step is traced
twice (the first step creates the momentum buffers), then reused. It is checked against optim.SGD.

    python examples/custom_optimizer.py              # 200 steps
    python examples/custom_optimizer.py --small      # a few steps (the test runs this)
"""
from __future__ import annotations

import argparse
import functools
import math

import numpy as np

import graphc
from graphc import nn, optim


class MomentumSGD(optim.Optimizer):
    """SGD with heavy-ball momentum and L2 weight decay (PyTorch's SGD formulas)."""

    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @graphc.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if group["weight_decay"] != 0:
                    d_p = d_p.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:           # created lazily, as in PyTorch
                    state["momentum_buffer"] = d_p.clone().detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(d_p)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])


def cosine_lr(step: int, total: int, base: float, warmup: int = 5) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(make_optimizer, x, y, steps, batch_size, lr, backend):
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 3))
    criterion = nn.CrossEntropyLoss()
    optimizer = make_optimizer(net.parameters())

    @graphc.compile(backend=backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    losses = []
    for i in range(steps):
        for group in optimizer.param_groups:          # the schedule: a new lr every step
            group["lr"] = cosine_lr(i, steps, lr)
        b = slice(i * batch_size, (i + 1) * batch_size)
        losses.append(float(train_step(x[b], y[b])))
    return net, optimizer, train_step, losses


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--backend", default="llvm")
    ap.add_argument("--small", action="store_true", help="a few steps, for a quick check")
    args = ap.parse_args(argv)
    steps = 12 if args.small else args.steps

    rng = np.random.default_rng(0)      # 3 classes split by two random hyperplanes
    x = rng.standard_normal((steps * args.batch_size, 16)).astype(np.float32)
    w = rng.standard_normal((16, 2))
    y = ((x @ w > 0) @ np.array([1, 2]) % 3).astype(np.int64)

    mine = functools.partial(MomentumSGD, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    builtin = functools.partial(optim.SGD, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    net, opt, step, losses = train(mine, x, y, steps, args.batch_size, args.lr, args.backend)
    ref_net, _, _, ref_losses = train(builtin, x, y, steps, args.batch_size, args.lr, args.backend)

    for i in range(0, steps, max(1, steps // 6)):
        print(f"step {i:4d}  lr {cosine_lr(i, steps, args.lr):.4f}  loss {losses[i]:.4f}")
    n_lr = len({cosine_lr(i, steps, args.lr) for i in range(steps)})
    print(f"{steps} steps with {n_lr} different learning rates, traced {len(step._cache)} times "
          "(once to create the momentum buffers, once for every later step)")
    print("graph inputs:", ", ".join(f"%{v.name}: {v.type}" for v in step.graph.inputs),
          "(group['lr'] is read at every call)")
    print(f"optimizer state: {len(opt.state)} momentum buffers, shapes "
          + ", ".join(str(tuple(st["momentum_buffer"].shape)) for st in opt.state.values()))
    diff = max(float(np.abs(a.numpy() - b.numpy()).max())
               for a, b in zip(net.parameters(), ref_net.parameters()))
    print(f"max |parameter difference| vs optim.SGD: {diff:.2e} "
          + ("(identical updates)" if diff < 1e-5 else "(MISMATCH)"))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    print(f"loss {first:.4f} -> {last:.4f}: " + ("decreased" if last < first else "NOT DECREASED"))
    return {"first": first, "last": last, "traces": len(step._cache), "param_diff": diff,
            "ref_losses": ref_losses}


if __name__ == "__main__":
    main()
