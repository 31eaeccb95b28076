"""A custom activation two ways: by composition, and as an autograd.Function with its own backward.

Swish/SiLU, x * sigmoid(x), written as graphc ops gets its gradient from the autodiff pass for free.
The same function as a `graphc.autograd.Function` supplies a hand-written backward (saving x with
ctx.save_for_backward), exactly as with torch.autograd.Function. Two identical MLPs, one per
version, are trained side by side in compiled steps: their losses and weights must agree.

    python examples/custom_activation.py             # 200 steps
    python examples/custom_activation.py --small     # a few steps (the test runs this)
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc
from graphc import nn, optim


class Swish(nn.Module):
    """By composition: autodiff derives d/dx from sigmoid's and mul's gradient rules."""

    def forward(self, x):
        return x * graphc.sigmoid(x)


class SwishFunction(graphc.autograd.Function):
    """The same function with a hand-written backward: d/dx = s + x s (1 - s), s = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * graphc.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = graphc.sigmoid(x)
        return grad_output * (s + x * s * (1 - s))


class SwishCustom(nn.Module):
    def forward(self, x):
        return SwishFunction.apply(x)


def mlp(act: nn.Module, seed: int) -> nn.Module:
    graphc.manual_seed(seed)   # the same seed: both nets start from the same weights
    return nn.Sequential(nn.Linear(8, 32), act, nn.Linear(32, 32), act, nn.Linear(32, 1))


def make_step(net, backend):
    criterion = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)

    @graphc.compile(backend=backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss
    return train_step


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--backend", default="llvm")
    ap.add_argument("--small", action="store_true", help="a few steps, for a quick check")
    args = ap.parse_args(argv)
    steps = 10 if args.small else args.steps

    rng = np.random.default_rng(0)   # a smooth regression target: y = sin(x . w)
    w = rng.standard_normal((8, 1)).astype(np.float32) / np.sqrt(8)
    x = rng.standard_normal((steps * args.batch_size, 8)).astype(np.float32)
    y = np.sin(2 * x @ w).astype(np.float32)

    composed, custom = mlp(Swish(), seed=1), mlp(SwishCustom(), seed=1)
    step_a, step_b = make_step(composed, args.backend), make_step(custom, args.backend)
    for i in range(steps):
        b = slice(i * args.batch_size, (i + 1) * args.batch_size)
        la, lb = float(step_a(x[b], y[b])), float(step_b(x[b], y[b]))
        if i == 0:
            first = la
        if i % max(1, steps // 5) == 0 or i == steps - 1:
            print(f"step {i:4d}  loss composed {la:.5f}  custom Function {lb:.5f}")

    traced = step_b.ir("traced")
    print("custom Function in the traced graph:",
          next(line.split("#")[0].strip() for line in traced.splitlines() if "custom_vjp" in line))
    for name, step in (("composed", step_a), ("custom Function", step_b)):
        print(f"{name}: {len(step.ir('traced').splitlines()) - 2} traced ops, "
              f"{len(step.ir('autodiff').splitlines()) - 2} after autodiff, "
              f"{len(step.graph.nodes)} nodes (kernels) after fusion")
    diff = max(float(np.abs(pa.numpy() - pb.numpy()).max())
               for pa, pb in zip(composed.parameters(), custom.parameters()))
    print(f"max |parameter difference| after {steps} steps: {diff:.2e} "
          + ("(the two agree)" if diff < 1e-4 else "(MISMATCH)"))
    print(f"loss {first:.4f} -> {la:.4f}: " + ("decreased" if la < first else "NOT DECREASED"))
    return {"first": first, "last": la, "last_custom": lb, "param_diff": diff}


if __name__ == "__main__":
    main()
