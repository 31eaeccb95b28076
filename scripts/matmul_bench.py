"""GFLOP/s of graphc's matmul kernels on the seed training step's shapes, against NumPy (OpenBLAS).

    python scripts/matmul_bench.py                         # batch 1024, all shapes
    GRAPHC_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/matmul_bench.py fwd1 dW1
    M=64 python scripts/matmul_bench.py                    # another batch
    GRAPHC_AVX512=0 python scripts/matmul_bench.py         # the 6 x 16 ymm tile
    GRAPHC_AVX512=0 OPENBLAS_CORETYPE=Haswell python scripts/matmul_bench.py sgemm
                                                           # both on AVX2 only (an AVX2 CPU's
                                                           # kernels on an AVX-512 host)

Each line: graphc's best time (best of 7 rounds of 20 calls, whole compiled call) and GFLOP/s,
NumPy's, the ratio graphc / NumPy, and graphc's largest error relative to the largest |C|.
Arguments pick shapes by name. The VM is noisy: run it twice and read the ratios. OpenBLAS
picks its kernel from the CPU (threadpoolctl.threadpool_info() names it: SkylakeX on an
AVX-512 Xeon, Haswell or Zen on AVX2 CPUs) unless OPENBLAS_CORETYPE names one.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import graphc


def best(fn, n: int = 20, rounds: int = 7) -> float:
    """Seconds per call, best of `rounds` rounds of `n` calls, after a warm-up."""
    for _ in range(3):
        fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        ts.append((time.perf_counter() - t0) / n)
    return min(ts)


def main(only: list[str]) -> None:
    M = int(os.environ.get("M", "1024"))
    rng = np.random.default_rng(0)

    def arr(*s):
        return rng.standard_normal(s).astype(np.float32)
    cases = {
        "fwd1 x@W1^T": (lambda p, q: p @ q.T, arr(M, 784), arr(128, 784), M * 784 * 128),
        "dW1 g^T@x": (lambda p, q: p.T @ q, arr(M, 128), arr(M, 784), M * 784 * 128),
        "dh g@W2": (lambda p, q: p @ q, arr(M, 10), arr(10, 128), M * 10 * 128),
        "fwd2 h@W2^T": (lambda p, q: p @ q.T, arr(M, 128), arr(10, 128), M * 10 * 128),
        "sgemm 512": (lambda p, q: p @ q, arr(512, 512), arr(512, 512), 512 ** 3),
        "sgemm 1024": (lambda p, q: p @ q, arr(1024, 1024), arr(1024, 1024), 1024 ** 3),
    }
    for name, (f, a, b, macs) in cases.items():
        if only and not any(o in name for o in only):
            continue
        c = graphc.compile(f)
        ref = f(a, b)
        err = float(np.abs(c(a, b) - ref).max() / np.abs(ref).max())
        tg = best(lambda c=c, f=f, a=a, b=b: c(a, b))
        tn = best(lambda f=f, a=a, b=b: f(a, b))
        print(f"{name:14s} graphc {tg * 1e6:9.1f} us {2 * macs / tg / 1e9:6.1f} GF/s | numpy "
              f"{tn * 1e6:9.1f} us {2 * macs / tn / 1e9:6.1f} GF/s | ratio {tg / tn:4.2f} "
              f"err {err:.1e}")


if __name__ == "__main__":
    main(sys.argv[1:])
