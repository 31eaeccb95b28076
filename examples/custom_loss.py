"""A custom loss, written as a Python function of graphc ops and as an nn.Module (focal loss).

graphc differentiates whatever the loss is made of, so a new loss needs no gradient code: the
focal loss below is log_softmax, gather, exp and pow, and the autodiff pass derives its backward.
It trains a small MLP on an imbalanced synthetic 4-class problem and checks that the gradients
flow (the loss falls, every parameter gets a nonzero gradient) and that gamma=0 is cross-entropy.

    python examples/custom_loss.py                  # 300 steps
    python examples/custom_loss.py --small          # a few steps (the test runs this)
    python examples/custom_loss.py --gamma 0 --backend interpreter
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc
import graphc.nn.functional as F
from graphc import nn, optim


def focal_loss(logits, target, gamma: float = 2.0, reduction: str = "mean"):
    """Cross-entropy scaled by (1 - p_t)^gamma, so easy examples count less (Lin et al., 2017)."""
    logp = F.log_softmax(logits, dim=1)
    logp_t = logp.gather(1, target.unsqueeze(1)).squeeze(1)   # log p of the true class
    p_t = logp_t.exp()
    loss = -((1 - p_t) ** gamma) * logp_t
    return loss.mean() if reduction == "mean" else loss.sum()


class FocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0, reduction: str = "mean"):
        super().__init__()
        self.gamma, self.reduction = gamma, reduction

    def forward(self, logits, target):
        return focal_loss(logits, target, self.gamma, self.reduction)


def make_data(n: int, features: int = 20, classes: int = 4, seed: int = 0):
    """Gaussian blobs with imbalanced classes (class c has weight 2^-c): where focal loss helps."""
    centers = np.random.default_rng(0).standard_normal((classes, features)) * 0.4  # same task
    rng = np.random.default_rng(seed)
    prior = 0.5 ** np.arange(classes)
    y = rng.choice(classes, size=n, p=prior / prior.sum())
    x = centers[y] + rng.standard_normal((n, features))
    return x.astype(np.float32), y.astype(np.int64)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--gamma", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--backend", default="llvm")
    ap.add_argument("--small", action="store_true", help="a few steps, for a quick check")
    args = ap.parse_args(argv)
    steps = 20 if args.small else args.steps

    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    criterion = FocalLoss(gamma=args.gamma)
    optimizer = optim.Adam(net.parameters(), lr=args.lr)

    @graphc.compile(backend=args.backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    # the function form, compiled on its own: with gamma=0 it must equal cross-entropy
    x, y = make_data(args.batch_size, seed=1)
    @graphc.compile(backend=args.backend)
    def both_losses(x, y):
        logits = net(x)
        return focal_loss(logits, y, gamma=0.0), F.cross_entropy(logits, y)

    fl0, ce = both_losses(x, y)
    print(f"focal_loss(gamma=0) = {float(fl0):.6f}, cross_entropy = {float(ce):.6f} "
          f"(diff {abs(float(fl0) - float(ce)):.1e})")

    x_train, y_train = make_data(steps * args.batch_size, seed=2)
    losses = []
    for i in range(steps):
        b = slice(i * args.batch_size, (i + 1) * args.batch_size)
        losses.append(float(train_step(x_train[b], y_train[b])))
        if i % max(1, steps // 5) == 0 or i == steps - 1:
            print(f"step {i:4d}  focal loss {losses[-1]:.4f}")
    grads = {name: float(np.abs(p.grad.numpy()).max()) for name, p in net.named_parameters()}
    print("max |grad| per parameter:", ", ".join(f"{k} {v:.2e}" for k, v in grads.items()))

    x_test, y_test = make_data(1000, seed=3)
    pred = graphc.compile(net, backend=args.backend)(x_test).argmax(1)
    recall = [float((pred[y_test == c] == c).mean()) for c in range(4)]
    print(f"test accuracy {100 * (pred == y_test).mean():.1f} %, recall per class "
          + " ".join(f"{r:.2f}" for r in recall))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    print(f"loss {first:.4f} -> {last:.4f}: " + ("decreased" if last < first else "NOT DECREASED"))
    return {"first": first, "last": last, "grads": grads, "gamma0_diff": abs(float(fl0 - ce))}


if __name__ == "__main__":
    main()
