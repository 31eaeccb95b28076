"""The same training step on both backends: native code from LLVM vs the NumPy interpreter.

The interpreter runs the graph node by node with each op's NumPy rule; it is graphc's reference,
which the LLVM backend must match. Two copies of the seed MLP (784-128-10, Adam) start from the
same weights and train on the same batches, one per backend. The script prints how far apart their
parameters end up (float32 rounding only: vector accumulation order and vector exp/log) and how
much faster one compiled step is than one interpreted step (best of N).

    python examples/compiled_vs_interpreted.py               # batch 64, 20 steps, best of 50
    python examples/compiled_vs_interpreted.py --small       # hidden 32, a few steps (the test)
    python examples/compiled_vs_interpreted.py --batch-size 256 --repeat 100
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc
from graphc import nn, optim


def make_train_step(backend: str, hidden: int):
    graphc.manual_seed(0)            # the same initial weights for both backends
    net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=1e-3)

    @graphc.compile(backend=backend)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss
    return net, train_step


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="training steps compared")
    ap.add_argument("--repeat", type=int, default=50, help="timed calls per backend (best of)")
    ap.add_argument("--small", action="store_true", help="hidden 32, 5 steps, best of 10")
    args = ap.parse_args(argv)
    if args.small:
        args.hidden, args.steps, args.repeat = 32, 5, 10

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((args.steps, args.batch_size, 784)).astype(np.float32)
    ys = rng.integers(0, 10, (args.steps, args.batch_size))
    runs = {}
    for backend in ("llvm", "interpreter"):
        net, step = make_train_step(backend, args.hidden)
        t0 = time.perf_counter()
        losses = [float(step(x, y)) for x, y in zip(xs, ys)]
        first = time.perf_counter() - t0   # includes tracing and (for llvm) compiling twice
        runs[backend] = {"net": net, "step": step, "losses": losses, "first": first}
    a, b = runs["llvm"], runs["interpreter"]

    print(f"MLP 784-{args.hidden}-10, Adam, batch {args.batch_size}: {args.steps} steps on each "
          "backend")
    for i in range(0, args.steps, max(1, args.steps // 5)):
        print(f"step {i:3d}  loss llvm {a['losses'][i]:.6f}  interpreter {b['losses'][i]:.6f}")
    loss_diff = max(abs(p - q) for p, q in zip(a["losses"], b["losses"]))
    param_diff = max(float(np.abs(p.numpy() - q.numpy()).max())
                     for p, q in zip(a["net"].parameters(), b["net"].parameters()))
    same = param_diff < 1e-4 and loss_diff < 1e-4
    print(f"max |loss difference| {loss_diff:.2e}, max |parameter difference| {param_diff:.2e}: "
          + ("identical up to float32 rounding" if same else "RESULTS DIFFER"))

    x, y = xs[0], ys[0]
    seconds = {k: best_of(lambda step=r["step"]: step(x, y), args.repeat) for k, r in runs.items()}
    for k, r in runs.items():
        print(f"{k:12s} one step {1e3 * seconds[k]:8.3f} ms (best of {args.repeat}); "
              f"first {args.steps} steps incl. tracing/compiling {r['first']:.2f} s")
    speedup = seconds["interpreter"] / seconds["llvm"]
    print(f"compiled step is {speedup:.1f}x faster than the interpreter")
    return {"loss_diff": loss_diff, "param_diff": param_diff, "speedup": speedup}


if __name__ == "__main__":
    main()
