"""Dynamic int8 quantization of the seed MLP: accuracy, per-layer error and speed against fp32.

    python examples/quantization.py                 # train briefly on the MNIST sample, quantize
    python examples/quantization.py --small         # a quick run (synthetic data, no training)
    python examples/quantization.py --keep fc2      # leave fc2 in fp32

Shows `quantize_dynamic` (as torch.ao.quantization.quantize_dynamic), the summary of which layers
became int8, the per-layer error report on sample inputs, and int8 vs fp32 accuracy and speed.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc
from graphc import nn, optim
from graphc.quantization import layer_report, quantize_dynamic


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def best_us(fn, n=50, rounds=5) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small", action="store_true", help="synthetic data, no training (fast)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--keep", nargs="*", default=(), help="Linear layers to keep in fp32")
    ap.add_argument("--per-channel", action="store_true", help="one weight scale per output row")
    args = ap.parse_args(argv)

    graphc.manual_seed(0)
    net = Net()
    if args.small:
        rng = np.random.default_rng(0)
        x_test = rng.standard_normal((256, 784)).astype(np.float32)
        y_test = rng.integers(0, 10, 256)
    else:
        from graphc.data import DataLoader
        from graphc.datasets import mnist_sample
        x_train, y_train, x_test, y_test = mnist_sample()
        crit, opt = nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-3)

        @graphc.compile
        def step(x, y):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            return loss
        for _ in range(args.epochs):
            for x, y in DataLoader((x_train, y_train), batch_size=64, shuffle=True, seed=0):
                step(x, y)

    qnet = quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8, per_channel=args.per_channel,
                            keep_fp32=tuple(args.keep))
    print(qnet.quantization_summary())
    print()
    print(layer_report(net, qnet, x_test[:256]))
    print()
    fp32, int8 = graphc.compile(net), graphc.compile(qnet)
    p32, p8 = fp32(x_test).argmax(1), int8(x_test).argmax(1)
    acc32, acc8 = float((p32 == y_test).mean()), float((p8 == y_test).mean())
    agree = float((p32 == p8).mean())
    print(f"test accuracy: fp32 {100 * acc32:.2f} %, int8 {100 * acc8:.2f} % "
          f"(top-1 agreement {100 * agree:.1f} %)")
    timing = {}
    for batch in (1, 64, 1024):
        xb = np.resize(x_test, (batch, 784)).astype(np.float32)
        t32, t8 = best_us(lambda: fp32(xb)), best_us(lambda: int8(xb))
        timing[batch] = (t32, t8)
        print(f"batch {batch:5d}: fp32 {t32:9.1f} us   int8 {t8:9.1f} us   ({t32 / t8:.2f}x)")
    return {"acc_fp32": acc32, "acc_int8": acc8, "agreement": agree, "timing": timing}


if __name__ == "__main__":
    main()
